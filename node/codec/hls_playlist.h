/* hls_playlist: the text side of HLS and Low-Latency HLS (RFC 8216bis):
 *  - the request targets of a stream's HLS resources (hls_path_parse()):
 *        /{app}/{name}.m3u8                  the MPEG-TS media playlist
 *        /{app}/{name}/index.fmp4.m3u8       the fMP4/CMAF media playlist
 *        /{app}/{name}/init-{id}.mp4         fMP4: an initialization segment
 *        /{app}/{name}/{msn}.ts | .m4s       a segment (media sequence number)
 *        /{app}/{name}/{msn}.{part}.ts|.m4s  a partial segment (LL-HLS)
 *    URIs in a playlist are relative to it ("{name}/{msn}.ts" in the TS
 *    one, "{msn}.m4s" in the fMP4 one, which sits in the stream's
 *    directory), followed by the playlist's own session query, if any;
 *  - the playlist request's query (hls_query_parse()): the blocking reload
 *    parameters _HLS_msn / _HLS_part, the delta update _HLS_skip, and the
 *    player's session token (HLS_TOKEN_PARAM);
 *  - the media playlist's text (hls_playlist_write()) from a description
 *    of its segments and parts, built by the caller.
 * Pure: no I/O, no state; callable from any thread. The caller owns every
 * buffer; nothing here allocates.
 */
#ifndef WEIR_HLS_PLAYLIST_H
#define WEIR_HLS_PLAYLIST_H

#include <stddef.h>
#include <stdint.h>

#include "stream_name.h" /* STREAM_APP_MAX, STREAM_NAME_MAX */

/* The session token parameter of HLS URLs: a player's requests carrying
 * the same token are one session (the node puts it into the URIs of the
 * playlists it serves). At most HLS_TOKEN_MAX-1 bytes of [A-Za-z0-9_-]. */
#define HLS_TOKEN_PARAM "hls_session"
/* The fMP4 playlist's file name in the stream's directory. */
#define HLS_FMP4_PLAYLIST "index.fmp4.m3u8"
#define HLS_TOKEN_MAX 33

typedef enum { HLS_TS, HLS_FMP4 } hls_container_t;

typedef enum {
    HLS_REQ_PLAYLIST, /* {app}/{name}.m3u8 (TS), {app}/{name}/index.fmp4.m3u8 (fMP4) */
    HLS_REQ_INIT,     /* {app}/{name}/init-{id}.mp4 */
    HLS_REQ_SEGMENT,  /* {app}/{name}/{msn}.ts|.m4s */
    HLS_REQ_PART      /* {app}/{name}/{msn}.{part}.ts|.m4s */
} hls_req_kind_t;

typedef struct {
    hls_req_kind_t kind;
    char app[STREAM_APP_MAX];
    char name[STREAM_NAME_MAX];
    hls_container_t container; /* PLAYLIST, SEGMENT, PART: by the name; INIT: HLS_FMP4 */
    uint64_t msn;              /* SEGMENT, PART; INIT: the init segment's id */
    unsigned part;             /* PART */
} hls_req_t;

/* Parses a request path (without its query). Returns 1 for an HLS
 * resource (*out filled, app and name valid stream names), 0 for a path
 * that is not HLS at all (no ".m3u8" and no "/{msn}." form: e.g. ".flv"),
 * -1 for an HLS-looking path that is malformed (a bad name, a number out of
 * range, an unknown extension). Numbers: decimal, no sign, no leading zero
 * (but "0"), msn < 2^53, part < 1000. */
int hls_path_parse(const char *path, hls_req_t *out);

typedef struct {
    int has_msn, has_part;
    uint64_t msn;
    unsigned part;
    int skip;                  /* _HLS_skip: 0 absent, 1 YES, 2 v2 */
    char token[HLS_TOKEN_MAX]; /* HLS_TOKEN_PARAM's value, "" when absent */
} hls_query_t;

/* Parses a playlist request's query (NULL or "" for none). Other
 * parameters are ignored (signed URLs and the app rules read them). Returns
 * 0, or -1 with *err (a static string naming the parameter) for a
 * malformed or repeated _HLS_* or token parameter, or _HLS_part without
 * _HLS_msn (RFC 8216bis 6.2.5.2: a 400). */
int hls_query_parse(const char *query, hls_query_t *q, const char **err);

/* One partial segment of a playlist. */
typedef struct {
    uint32_t dur_ms;
    int independent; /* starts with a key frame (or audio only) */
} hls_part_desc_t;

/* One segment: complete (dur_ms > 0), or the open one being cut (the
 * last, dur_ms 0, parts only). */
typedef struct {
    uint64_t msn;
    uint32_t dur_ms;
    int discontinuity;   /* EXT-X-DISCONTINUITY before it */
    int64_t pdt_ms;      /* Unix ms of its first frame (EXT-X-PROGRAM-DATE-TIME); 0: none */
    const hls_part_desc_t *parts;
    unsigned nparts;     /* parts listed (0: none; the caller keeps them only near the edge) */
    uint64_t map_id;     /* fMP4: its init segment (init-{map_id}.mp4); an EXT-X-MAP is
                            written before the first segment listed and where it changes */
} hls_seg_desc_t;

typedef struct {
    hls_container_t container;
    uint32_t target_ms;      /* the configured segment duration (hls.segment_ms) */
    uint32_t part_target_ms; /* LL-HLS part target (hls.part_ms); 0: not LL-HLS */
    uint64_t disc_seq;       /* EXT-X-DISCONTINUITY-SEQUENCE of the first listed segment */
    const hls_seg_desc_t *segs;
    unsigned nsegs;          /* oldest first; the last may be the open one (LL-HLS) */
    unsigned skip;           /* delta update: the first `skip` segments are left out */
    const char *name;        /* the stream name (URIs are "{name}/{msn}...") */
    int in_dir;              /* the playlist is in the stream's directory (index.fmp4.m3u8):
                                URIs are "{msn}..." without the name */
    const char *token;       /* the session token for the URIs ("" or NULL: none) */
    int ended;               /* EXT-X-ENDLIST (the stream ended) */
} hls_playlist_t;

/* EXT-X-TARGETDURATION (s): the longest complete segment, rounded to the
 * nearest second (RFC 8216bis 4.4.3.1), at least the configured target's. */
unsigned hls_target_duration_s(const hls_playlist_t *pl);
/* How many of the oldest segments a delta update may leave out: those
 * more than CAN-SKIP-UNTIL (6 target durations) before the live edge. */
unsigned hls_skippable(const hls_playlist_t *pl);
/* Writes the media playlist into out (cap bytes, NUL-terminated when cap
 * > 0). Returns the length the text needs (without its NUL), as snprintf:
 * a result >= cap means it was cut and a larger buffer is needed. */
size_t hls_playlist_write(const hls_playlist_t *pl, char *out, size_t cap);

#endif
