/* weir-flv ts: an FLV file to MPEG-TS with the node's muxer (ts_mux.h),
 * the same bytes HTTP-TS players get. Tags the muxer refuses (another
 * codec) are skipped and counted, each codec's first refusal reported. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flv_file.h"
#include "flvtool.h"
#include "tool_util.h"
#include "ts_mux.h"

typedef struct {
    unsigned long packets, raps, skipped[2];
    int refused_told[2];
} ts_count_t;

/* One tag through the muxer into out. Returns 0 or TOOL_EXIT_LOCAL. */
static int ts_tag(ts_mux_t *mux, const flv_tag_t *t, uint64_t off, FILE *out, const char *outname,
                  ts_count_t *n)
{
    uint8_t *buf;
    size_t len;
    int rap;
    const char *err = NULL;
    int rc = ts_mux_tag(mux, t->type, t->ts, t->body, t->len, &buf, &len, &rap, &err);
    if (rc == NODE_ENOMEM) {
        fprintf(stderr, "weir-flv: out of memory\n");
        return TOOL_EXIT_LOCAL;
    }
    if (rc != 0) {
        int k = t->type == 9;
        if (!n->refused_told[k]++)
            fprintf(stderr, "weir-flv: offset %" PRIu64 ": %s tag skipped: %s\n", off,
                    k ? "video" : "audio", err);
        n->skipped[k]++;
        return 0;
    }
    if (len && fwrite(buf, 1, len, out) != len) {
        fprintf(stderr, "weir-flv: %s: %s\n", outname, strerror(errno));
        free(buf);
        return TOOL_EXIT_LOCAL;
    }
    n->packets += len / TS_PACKET_SIZE;
    n->raps += rap != 0;
    free(buf);
    return 0;
}

int flvtool_ts(const char *path, const char *outname)
{
    char err[FLV_FILE_ERR_MAX];
    flv_file_t *f = flv_file_open(path, err, sizeof err);
    if (!f) {
        fprintf(stderr, "weir-flv: %s\n", err);
        return TOOL_EXIT_LOCAL;
    }
    ts_mux_t *mux = ts_mux_new();
    FILE *out = mux ? fopen(outname, "wb") : NULL;
    int rc = 0;
    if (!out) {
        fprintf(stderr, "weir-flv: %s: %s\n", outname, mux ? strerror(errno) : "out of memory");
        rc = TOOL_EXIT_LOCAL;
    }
    ts_count_t n;
    memset(&n, 0, sizeof n);
    flv_tag_t t;
    uint64_t off;
    int r = 0;
    while (rc == 0 && (r = flv_file_next(f, &t, &off)) == 1)
        rc = ts_tag(mux, &t, off, out, outname, &n);
    if (rc == 0 && r < 0) {
        fprintf(stderr, "weir-flv: %s\n", flv_file_error(f));
        rc = TOOL_EXIT_LOCAL;
    }
    if (out && fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "weir-flv: %s: %s\n", outname, strerror(errno));
        rc = TOOL_EXIT_LOCAL;
    }
    if (rc == 0 && n.packets == 0) {
        fprintf(stderr, "weir-flv: %s: no H.264/H.265 or AAC frames after a sequence header\n",
                path);
        rc = TOOL_EXIT_LOCAL;
    }
    if (rc == 0)
        printf("%lu TS packets, %lu random access points, %lu video and %lu audio tags "
               "skipped -> %s\n",
               n.packets, n.raps, n.skipped[1], n.skipped[0], outname);
    ts_mux_free(mux);
    flv_file_close(f);
    return rc;
}
