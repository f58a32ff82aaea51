/* flvtool: the parts of weir-flv (tools/weir_flv.c: usage, options,
 * main) in tools/flv/:
 *   info.c     info: tags, codecs, GOPs, timestamp gaps and backward jumps
 *   extract.c  extract: H.264/H.265 as Annex B, AAC as ADTS
 *   fix.c      fix: timestamps from zero and monotonic, fresh onMetaData
 *   ts.c       ts: MPEG-TS with the node's muxer (node/codec/ts_mux.h)
 *   ivl.c      the most common frame interval of a stream (info and fix)
 * Each command returns the tool's exit status (0, TOOL_EXIT_*) and reports
 * its errors on stderr.
 *
 * Ownership: a command owns the files it opens and closes them.
 * Threads: weir-flv has one thread; nothing here is thread-safe.
 */
#ifndef WEIR_TOOLS_FLVTOOL_H
#define WEIR_TOOLS_FLVTOOL_H

#include <stdint.h>

#define FLV_IVL_MAX 1000 /* frame intervals considered, ms */

/* The most common positive timestamp step of one stream (bounded memory). */
typedef struct {
    uint32_t hist[FLV_IVL_MAX + 1];
    int have;
    uint32_t last;
} flvtool_ivl_t;

/* Notes the next timestamp of the stream. */
void flvtool_ivl_add(flvtool_ivl_t *s, uint32_t ts);
/* The most common positive step so far, 0 when none. */
uint32_t flvtool_ivl_mode(const flvtool_ivl_t *s);

/* weir-flv info PATH [--json] [--tags] [--gap MS]. */
int flvtool_info(const char *path, int json, int list, uint32_t gap_ms);
/* weir-flv extract PATH [--video OUT] [--audio OUT] (vname or aname set). */
int flvtool_extract(const char *path, const char *vname, const char *aname);
/* weir-flv fix IN OUT [--gap MS] [--jitter MS]. */
int flvtool_fix(const char *in, const char *outname, uint32_t gap_ms, uint32_t jitter_ms);
/* weir-flv ts IN OUT.ts. */
int flvtool_ts(const char *path, const char *outname);

#endif
