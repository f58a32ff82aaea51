/* Fuzz target for hls_playlist (node/codec/hls_playlist.c): the request
 * target and query parsers of HLS, and the playlist writer. The input is
 * "PATH?QUERY". Checked:
 *   - a parsed path has valid stream names, numbers in range, and printed
 *     back in its own form parses to the same request;
 *   - a parsed query has a valid token, and _HLS_part only with _HLS_msn;
 *   - a playlist described from the parsed numbers writes the same text
 *     whatever the buffer size (the length needed is exact, a cut output is
 *     a NUL-terminated prefix), and names the token it was given and, unless
 *     it is in the stream's directory (fMP4), the stream. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hls_playlist.h"

#define FUZZ_TEXT_MAX 2048

static void check_path(const char *path)
{
    hls_req_t r, back;
    int rc = hls_path_parse(path, &r);
    if (rc < -1 || rc > 1)
        abort();
    if (rc != 1)
        return;
    if (!stream_name_valid(r.app, sizeof r.app) || !stream_name_valid(r.name, sizeof r.name))
        abort();
    char again[STREAM_APP_MAX + STREAM_NAME_MAX + 64];
    const char *ext = r.container == HLS_FMP4 ? "m4s" : "ts";
    switch (r.kind) {
    case HLS_REQ_PLAYLIST:
        if (r.container == HLS_FMP4)
            snprintf(again, sizeof again, "/%s/%s/" HLS_FMP4_PLAYLIST, r.app, r.name);
        else
            snprintf(again, sizeof again, "/%s/%s.m3u8", r.app, r.name);
        break;
    case HLS_REQ_INIT:
        snprintf(again, sizeof again, "/%s/%s/init-%llu.mp4", r.app, r.name,
                 (unsigned long long)r.msn);
        break;
    case HLS_REQ_SEGMENT:
        snprintf(again, sizeof again, "/%s/%s/%llu.%s", r.app, r.name,
                 (unsigned long long)r.msn, ext);
        break;
    case HLS_REQ_PART:
        if (r.part >= 1000)
            abort();
        snprintf(again, sizeof again, "/%s/%s/%llu.%u.%s", r.app, r.name,
                 (unsigned long long)r.msn, r.part, ext);
        break;
    }
    if (r.msn >= (1ull << 53) || hls_path_parse(again, &back) != 1 ||
        memcmp(&r, &back, sizeof r) != 0)
        abort();
}

static void check_playlist(const hls_query_t *q, const char *name)
{
    hls_part_desc_t parts[3] = {{(uint32_t)q->msn % 5000, 1}, {q->part, 0}, {7, 1}};
    hls_seg_desc_t segs[3] = {
        {.msn = q->msn, .dur_ms = (uint32_t)(q->msn % 100000), .pdt_ms = (int64_t)q->msn},
        {.msn = q->msn + 1, .dur_ms = q->part * 37u, .discontinuity = q->skip, .parts = parts,
         .nparts = 3},
        {.msn = q->msn + 2, .parts = parts, .nparts = q->part % 4},
    };
    hls_playlist_t pl = {.container = q->skip == 2 ? HLS_FMP4 : HLS_TS,
                         .target_ms = 1000u * (q->part % 7),
                         .part_target_ms = q->has_part ? 200 + q->part : 0,
                         .segs = segs, .nsegs = 3, .name = name, .token = q->token,
                         .in_dir = q->skip == 2};
    pl.skip = hls_skippable(&pl);
    if (pl.skip > pl.nsegs)
        abort();
    static char full[1 << 14], cut[1 << 14];
    size_t n = hls_playlist_write(&pl, full, sizeof full);
    if (n >= sizeof full || strlen(full) != n || strncmp(full, "#EXTM3U\n", 8) != 0)
        abort();
    if ((!pl.in_dir && !strstr(full, name)) || (q->token[0] && !strstr(full, q->token)))
        abort();
    size_t cap = (q->msn + q->part) % (n + 1);
    if (hls_playlist_write(&pl, cut, cap) != n)
        abort();
    if (cap && (strlen(cut) != cap - 1 || memcmp(cut, full, cap - 1) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_TEXT_MAX)
        return 0;
    char text[FUZZ_TEXT_MAX + 1];
    memcpy(text, data, size);
    text[size] = '\0';
    if (strlen(text) != size)
        return 0;
    char *qm = strchr(text, '?');
    if (qm)
        *qm = '\0';
    check_path(text);
    hls_query_t q;
    const char *err = NULL;
    if (hls_query_parse(qm ? qm + 1 : NULL, &q, &err) != 0) {
        if (!err)
            abort();
        return 0;
    }
    if (err || (q.has_part && !q.has_msn) || q.part >= 1000 || q.skip > 2)
        abort();
    if (strlen(q.token) >= HLS_TOKEN_MAX)
        abort();
    hls_req_t r;
    check_playlist(&q, hls_path_parse(text, &r) == 1 ? r.name : "cam");
    return 0;
}
