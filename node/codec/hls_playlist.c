#include "hls_playlist.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define HLS_MSN_LIMIT (1ull << 53)
#define HLS_PART_LIMIT 1000u

/* ---- request targets ---------------------------------------------------- */

/* A decimal number of [p, end): no sign, no leading zero but "0", < limit. */
static int parse_num(const char *p, const char *end, uint64_t limit, uint64_t *out)
{
    if (p >= end || (*p == '0' && end - p > 1))
        return -1;
    uint64_t v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || v > limit / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v >= limit)
        return -1;
    *out = v;
    return 0;
}

static int copy_name(char *dst, size_t cap, const char *p, size_t n)
{
    if (n == 0 || n >= cap)
        return -1;
    memcpy(dst, p, n);
    dst[n] = '\0';
    return stream_name_valid(dst, cap) ? 0 : -1;
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* The file part of "{name}/{file}": index.fmp4.m3u8, init-{id}.mp4, {msn}.ext
 * or {msn}.{part}.ext.
 * Returns 1, 0 (not an HLS file name) or -1 (malformed). */
static int parse_file(const char *f, hls_req_t *out)
{
    size_t n = strlen(f);
    if (strcmp(f, HLS_FMP4_PLAYLIST) == 0) {
        out->kind = HLS_REQ_PLAYLIST;
        out->container = HLS_FMP4;
        return 1;
    }
    if (strncmp(f, "init-", 5) == 0 && ends_with(f, n, ".mp4")) {
        out->kind = HLS_REQ_INIT;
        out->container = HLS_FMP4;
        return parse_num(f + 5, f + n - 4, HLS_MSN_LIMIT, &out->msn) == 0 ? 1 : -1;
    }
    size_t ext;
    if (ends_with(f, n, ".ts")) {
        out->container = HLS_TS;
        ext = 3;
    } else if (ends_with(f, n, ".m4s")) {
        out->container = HLS_FMP4;
        ext = 4;
    } else {
        return 0;
    }
    const char *end = f + n - ext;
    const char *dot = memchr(f, '.', (size_t)(end - f));
    uint64_t part = 0;
    if (parse_num(f, dot ? dot : end, HLS_MSN_LIMIT, &out->msn) != 0)
        return -1;
    if (dot && parse_num(dot + 1, end, HLS_PART_LIMIT, &part) != 0)
        return -1;
    out->kind = dot ? HLS_REQ_PART : HLS_REQ_SEGMENT;
    out->part = (unsigned)part;
    return 1;
}

int hls_path_parse(const char *path, hls_req_t *out)
{
    memset(out, 0, sizeof *out);
    if (!path || path[0] != '/')
        return 0;
    const char *app = path + 1;
    const char *slash = strchr(app, '/');
    if (!slash)
        return 0;
    const char *rest = slash + 1;
    const char *slash2 = strchr(rest, '/');
    if (!slash2) {
        size_t n = strlen(rest);
        if (!ends_with(rest, n, ".m3u8"))
            return 0;
        out->kind = HLS_REQ_PLAYLIST;
        if (copy_name(out->app, sizeof out->app, app, (size_t)(slash - app)) != 0 ||
            copy_name(out->name, sizeof out->name, rest, n - 5) != 0)
            return -1;
        return 1;
    }
    if (strchr(slash2 + 1, '/'))
        return 0;
    int rc = parse_file(slash2 + 1, out);
    if (rc != 1)
        return rc;
    if (copy_name(out->app, sizeof out->app, app, (size_t)(slash - app)) != 0 ||
        copy_name(out->name, sizeof out->name, rest, (size_t)(slash2 - rest)) != 0)
        return -1;
    return 1;
}

/* ---- the playlist request's query --------------------------------------- */

static int token_valid(const char *v, size_t n)
{
    if (n == 0 || n >= HLS_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* One key=value of the query: 0, or -1 with *err. */
static int query_param(hls_query_t *q, const char *k, size_t kn, const char *v, size_t vn,
                       const char **err)
{
    uint64_t x;
#define KEY_IS(lit) (kn == sizeof(lit) - 1 && memcmp(k, lit, kn) == 0)
    if (KEY_IS("_HLS_msn")) {
        *err = "bad or repeated _HLS_msn";
        if (q->has_msn || parse_num(v, v + vn, HLS_MSN_LIMIT, &q->msn) != 0)
            return -1;
        q->has_msn = 1;
    } else if (KEY_IS("_HLS_part")) {
        *err = "bad or repeated _HLS_part";
        if (q->has_part || parse_num(v, v + vn, HLS_PART_LIMIT, &x) != 0)
            return -1;
        q->part = (unsigned)x;
        q->has_part = 1;
    } else if (KEY_IS("_HLS_skip")) {
        *err = "bad or repeated _HLS_skip (YES or v2)";
        int s = vn == 3 && memcmp(v, "YES", 3) == 0 ? 1 : vn == 2 && memcmp(v, "v2", 2) == 0 ? 2 : 0;
        if (q->skip || !s)
            return -1;
        q->skip = s;
    } else if (KEY_IS(HLS_TOKEN_PARAM)) {
        *err = "bad or repeated " HLS_TOKEN_PARAM;
        if (q->token[0] || !token_valid(v, vn))
            return -1;
        memcpy(q->token, v, vn);
        q->token[vn] = '\0';
    }
#undef KEY_IS
    return 0;
}

int hls_query_parse(const char *query, hls_query_t *q, const char **err)
{
    memset(q, 0, sizeof *q);
    *err = NULL;
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t l = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', l);
        size_t kn = eq ? (size_t)(eq - p) : l;
        const char *v = eq ? eq + 1 : p + l;
        if (query_param(q, p, kn, v, (size_t)(p + l - v), err) != 0)
            return -1;
        p = amp ? amp + 1 : NULL;
    }
    if (q->has_part && !q->has_msn) {
        *err = "_HLS_part without _HLS_msn";
        return -1;
    }
    *err = NULL;
    return 0;
}

/* ---- the media playlist ------------------------------------------------- */

typedef struct {
    char *out;
    size_t cap, len;
} text_t;

static void put(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = t->len < t->cap ? t->cap - t->len : 0;
    int n = vsnprintf(room ? t->out + t->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n;
}

unsigned hls_target_duration_s(const hls_playlist_t *pl)
{
    uint32_t max = pl->target_ms;
    for (unsigned i = 0; i < pl->nsegs; i++)
        if (pl->segs[i].dur_ms > max)
            max = pl->segs[i].dur_ms;
    unsigned s = (max + 500) / 1000;
    return s ? s : 1;
}

unsigned hls_skippable(const hls_playlist_t *pl)
{
    uint64_t until_ms = 6ull * hls_target_duration_s(pl) * 1000;
    uint64_t after = 0; /* duration of the segments after segment i */
    unsigned i = pl->nsegs;
    while (i > 0 && after < until_ms)
        after += pl->segs[--i].dur_ms;
    /* segments [0, i) start more than until_ms before the edge... */
    return after >= until_ms ? i : 0;
}

static const char *ext_of(const hls_playlist_t *pl)
{
    return pl->container == HLS_FMP4 ? "m4s" : "ts";
}

/* What comes before "{msn}..." in a URI: nothing in the stream's directory,
 * else "{name}/" ("./" first when the name has a ':', so that it is not
 * read as a URI scheme). */
typedef struct {
    char s[STREAM_NAME_MAX + 4];
} uri_pfx_t;

static uri_pfx_t uri_pfx(const hls_playlist_t *pl)
{
    uri_pfx_t p = {""};
    if (!pl->in_dir)
        snprintf(p.s, sizeof p.s, "%s%s/", strchr(pl->name, ':') ? "./" : "", pl->name);
    return p;
}

static void put_pdt(text_t *t, int64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    put(t, "#EXT-X-PROGRAM-DATE-TIME:%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\n", tm.tm_year + 1900,
        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static void put_header(text_t *t, const hls_playlist_t *pl)
{
    unsigned td = hls_target_duration_s(pl);
    int version = pl->part_target_ms || pl->skip ? 9 : pl->container == HLS_FMP4 ? 7 : 3;
    put(t, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-TARGETDURATION:%u\n", version, td);
    put(t, "#EXT-X-MEDIA-SEQUENCE:%llu\n",
        (unsigned long long)(pl->nsegs ? pl->segs[0].msn : 0));
    put(t, "#EXT-X-DISCONTINUITY-SEQUENCE:%llu\n", (unsigned long long)pl->disc_seq);
    if (pl->part_target_ms) {
        double pt = pl->part_target_ms / 1000.0;
        put(t, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%.3f,"
               "CAN-SKIP-UNTIL=%u\n",
            3 * pt, 6 * td);
        put(t, "#EXT-X-PART-INF:PART-TARGET=%.3f\n", pt);
    }
    if (pl->skip)
        put(t, "#EXT-X-SKIP:SKIPPED-SEGMENTS=%u\n", pl->skip);
}

/* One segment; map: its EXT-X-MAP is written before it (fMP4: the first
 * one listed, or a new init segment). */
static void put_segment(text_t *t, const hls_playlist_t *pl, const hls_seg_desc_t *s, int map,
                        const char *tq, const char *tok)
{
    const char *ext = ext_of(pl);
    uri_pfx_t pf = uri_pfx(pl);
    if (s->discontinuity)
        put(t, "#EXT-X-DISCONTINUITY\n");
    if (map)
        put(t, "#EXT-X-MAP:URI=\"%sinit-%llu.mp4%s%s\"\n", pf.s, (unsigned long long)s->map_id,
            tq, tok);
    if (s->pdt_ms > 0)
        put_pdt(t, s->pdt_ms);
    for (unsigned j = 0; j < s->nparts; j++)
        put(t, "#EXT-X-PART:DURATION=%.3f,URI=\"%s%llu.%u.%s%s%s\"%s\n",
            s->parts[j].dur_ms / 1000.0, pf.s, (unsigned long long)s->msn, j, ext, tq, tok,
            s->parts[j].independent ? ",INDEPENDENT=YES" : "");
    if (s->dur_ms)
        put(t, "#EXTINF:%.3f,\n%s%llu.%s%s%s\n", s->dur_ms / 1000.0, pf.s,
            (unsigned long long)s->msn, ext, tq, tok);
}

size_t hls_playlist_write(const hls_playlist_t *pl, char *out, size_t cap)
{
    text_t t = {out, cap, 0};
    if (cap)
        out[0] = '\0';
    const char *tok = pl->token && pl->token[0] ? pl->token : "";
    const char *tq = tok[0] ? "?" HLS_TOKEN_PARAM "=" : "";
    put_header(&t, pl);
    for (unsigned i = pl->skip; i < pl->nsegs; i++) {
        int map = pl->container == HLS_FMP4 &&
                  (i == pl->skip || pl->segs[i].map_id != pl->segs[i - 1].map_id);
        put_segment(&t, pl, &pl->segs[i], map, tq, tok);
    }
    if (pl->ended) {
        put(&t, "#EXT-X-ENDLIST\n");
    } else if (pl->part_target_ms && pl->nsegs) {
        const hls_seg_desc_t *last = &pl->segs[pl->nsegs - 1];
        uint64_t msn = last->dur_ms ? last->msn + 1 : last->msn;
        unsigned part = last->dur_ms ? 0 : last->nparts;
        put(&t, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"%s%llu.%u.%s%s%s\"\n", uri_pfx(pl).s,
            (unsigned long long)msn, part, ext_of(pl), tq, tok);
    }
    return t.len;
}
