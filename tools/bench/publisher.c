/* weir-bench, publisher.c: the in-process publisher: FLV file load,
 * real-time pacing, content hashes. Shared types and calls: bench.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"

/* AMF0 string "@setDataFrame", put before onMetaData as FFmpeg does. */
static const uint8_t SET_DATA_FRAME[] = {0x02, 0x00, 0x0d, '@', 's', 'e', 't', 'D',
                                         'a',  't',  'a',  'F', 'r', 'a', 'm', 'e'};

/* ---- publisher ---------------------------------------------------------- */

void bench_pub_free_tags(bench_t *b)
{
    for (size_t i = 0; i < b->ntags; i++)
        free(b->tags[i].body);
    free(b->tags);
    b->tags = NULL;
    b->ntags = 0;
}

static int pub_add_tag(bench_t *b, size_t *cap, const flv_tag_t *t, uint32_t first_ts)
{
    static const uint8_t on_metadata[] = {0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e',
                                          't',  'a',  'D',  'a', 't', 'a'};
    int meta = t->type == FLV_TAG_SCRIPT && t->len >= sizeof on_metadata &&
               memcmp(t->body, on_metadata, sizeof on_metadata) == 0;
    size_t extra = meta ? sizeof SET_DATA_FRAME : 0;
    if (b->ntags == *cap) {
        size_t nc = *cap ? *cap * 2 : 1024;
        pub_tag_t *nt = realloc(b->tags, nc * sizeof *nt);
        if (!nt)
            return -1;
        b->tags = nt;
        *cap = nc;
    }
    pub_tag_t *pt = &b->tags[b->ntags];
    pt->body = malloc(t->len + extra + 1);
    if (!pt->body)
        return -1;
    memcpy(pt->body, SET_DATA_FRAME, extra);
    memcpy(pt->body + extra, t->body, t->len);
    pt->type = t->type;
    pt->len = t->len + (uint32_t)extra;
    pt->rel_ms = t->ts >= first_ts ? t->ts - first_ts : 0;
    pt->hash = t->type == FLV_TAG_SCRIPT ? 0 : bench_content_hash(t->type, t->body, t->len);
    b->ntags++;
    return 0;
}

/* Loads the tags of an FLV file and works out the loop span. Returns 0,
 * or -1 with the reason on stderr. */
/* The whole file (at most BENCH_PUB_MAX_FILE bytes) in a malloc'd buffer,
 * or NULL after saying why on stderr. */
static uint8_t *read_file(const char *path, size_t *size_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "weir-bench: --publish %s: %s\n", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size > BENCH_PUB_MAX_FILE) {
        fprintf(stderr, "weir-bench: --publish %s: %s\n", path,
                errno ? strerror(errno) : "file over 1 GiB");
        fclose(f);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    size_t got = data ? fread(data, 1, size, f) : 0;
    fclose(f);
    if (!data || got != size) {
        fprintf(stderr, "weir-bench: --publish %s: %s\n", path,
                !data ? "out of memory" : "short read");
        free(data);
        return NULL;
    }
    *size_out = size;
    return data;
}

int bench_pub_load(bench_t *b, const char *path)
{
    size_t size = 0;
    uint8_t *data = read_file(path, &size);
    if (!data)
        return -1;
    flv_reader_t *r = flv_reader_new(BENCH_MAX_MSG);
    if (!r) {
        fprintf(stderr, "weir-bench: --publish %s: out of memory\n", path);
        free(data);
        return -1;
    }
    size_t off = 0, cap = 0, nav = 0, nvideo = 0;
    uint32_t first_ts = 0, max_rel = 0, vmin = UINT32_MAX, vmax = 0;
    int rc = 0, have_first = 0;
    while (rc == 0) {
        size_t used = 0;
        flv_tag_t t;
        const char *err = NULL;
        parse_rc_t prc = flv_reader_feed(r, data + off, size - off, &used, &t, &err);
        off += used;
        if (prc == PARSE_NEED_MORE)
            break;
        if (prc != PARSE_OK) {
            fprintf(stderr, "weir-bench: --publish %s: %s\n", path, err ? err : "bad FLV");
            rc = -1;
            break;
        }
        if (t.type != FLV_TAG_AUDIO && t.type != FLV_TAG_VIDEO && t.type != FLV_TAG_SCRIPT)
            continue;
        if (!have_first) {
            first_ts = t.ts;
            have_first = 1;
        }
        if (pub_add_tag(b, &cap, &t, first_ts) != 0) {
            fprintf(stderr, "weir-bench: --publish %s: out of memory\n", path);
            rc = -1;
            break;
        }
        const pub_tag_t *pt = &b->tags[b->ntags - 1];
        if (t.type != FLV_TAG_SCRIPT)
            nav++;
        if (pt->rel_ms > max_rel)
            max_rel = pt->rel_ms;
        if (t.type == FLV_TAG_VIDEO) {
            nvideo++;
            vmin = pt->rel_ms < vmin ? pt->rel_ms : vmin;
            vmax = pt->rel_ms > vmax ? pt->rel_ms : vmax;
        }
    }
    free(data);
    flv_reader_free(r);
    if (rc == 0 && nav == 0) {
        fprintf(stderr, "weir-bench: --publish %s: no audio or video tags\n", path);
        rc = -1;
    }
    if (rc != 0) {
        bench_pub_free_tags(b);
        return -1;
    }
    int64_t frame =
        nvideo >= 2 && vmax > vmin ? (int64_t)(vmax - vmin) / (int64_t)(nvideo - 1) : 40;
    b->loop_span_ms = (int64_t)max_rel + (frame > 0 ? frame : 1);
    int64_t dup_ms =
        b->loop_span_ms / 2 < BENCH_DUP_WINDOW_MS ? b->loop_span_ms / 2 : BENCH_DUP_WINDOW_MS;
    b->dup_window_us = dup_ms * 1000;
    return 0;
}

static void hash_put(bench_t *b, uint64_t h, int64_t now_us)
{
    hash_slot_t *s = &b->hash[h & (BENCH_HASH_SLOTS - 1)];
    if (s->hash == h && now_us - s->send_us < b->dup_window_us) {
        s->dup = 1;
    } else {
        s->hash = h;
        s->dup = 0;
    }
    s->send_us = now_us;
}

/* Send time of the next tag, or INT64_MAX when none is due (not live, or
 * waiting for the socket). */
int64_t bench_pub_next_due(const bench_t *b)
{
    const conn_t *c = &b->pub;
    if (!b->has_pub || b->pub_hold || c->state != ST_LIVE ||
        c->out_len - c->out_off > BENCH_PUB_HIGH_WATER)
        return INT64_MAX;
    const pub_tag_t *t = &b->tags[b->next_tag];
    return b->pub_start_us + ((int64_t)t->rel_ms + (int64_t)b->loops * b->loop_span_ms) * 1000;
}

/* Sends every tag that is due, at most BENCH_PUB_BURST per call. */
void bench_pub_pump(bench_t *b, int64_t now_us)
{
    conn_t *c = &b->pub;
    int sent = 0;
    for (int i = 0; i < BENCH_PUB_BURST && bench_pub_next_due(b) <= now_us; i++) {
        const pub_tag_t *t = &b->tags[b->next_tag];
        if (b->loops == 0 || t->type != FLV_TAG_SCRIPT) {
            int64_t ts = (int64_t)t->rel_ms + (int64_t)b->loops * b->loop_span_ms;
            uint32_t csid = t->type == FLV_TAG_VIDEO   ? CSID_VIDEO
                            : t->type == FLV_TAG_AUDIO ? CSID_AUDIO
                                                       : CSID_DATA;
            if (bench_rtmp_send(b, c, csid, t->type, rtmp_proto_client_stream_id(c->pc),
                                (uint32_t)ts, t->body, t->len) != 0)
                return;
            if (t->type != FLV_TAG_SCRIPT)
                hash_put(b, t->hash, now_us);
            b->pub_msgs++;
            b->pub_bytes += t->len;
            b->sec_pub_bytes += t->len;
            if (b->in_window)
                b->win_pub_bytes += t->len;
            sent = 1;
        }
        if (++b->next_tag == b->ntags) {
            b->next_tag = 0;
            b->loops++;
        }
    }
    if (sent)
        bench_conn_flush(b, c);
}
