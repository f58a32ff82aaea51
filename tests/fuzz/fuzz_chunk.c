/* libFuzzer target for node/codec/rtmp_chunk.c.
 *
 * Byte 0 picks the configuration: bits 0-2 the initial chunk size, bit 3 a
 * small max_msg, bits 4-5 max_csids, bits 6-7 how the rest is cut into
 * pieces. The rest is a chunk stream. Like the session, the target applies
 * Set Chunk Size and Abort messages as they arrive.
 *
 * Checks (abort() on failure): no message longer than max_msg; payload
 * present exactly when len > 0; *used within the input; *err set exactly on
 * errors; and the same messages and final result whether the stream is fed
 * in pieces or at once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rtmp_chunk.h"

#define SMALL_MAX_MSG 64
#define LARGE_MAX_MSG (1u << 18)

static const uint32_t chunk_sizes[8] = {128, 1, 2, 3, 60, 4096, 65536, RTMP_MAX_CHUNK_SIZE};
static const unsigned max_csids[4] = {1, 3, 8, 64};

typedef struct {
    uint64_t *fp; /* one fingerprint per message */
    size_t n;
    size_t cap;
    parse_rc_t rc; /* PARSE_NEED_MORE, or the error */
    const char *err;
} run_t;

static uint64_t fingerprint(const rtmp_msg_t *m)
{
    uint64_t h = 1469598103934665603ull;
    const uint32_t f[5] = {m->csid, m->type, m->stream_id, m->timestamp, m->len};
    const uint8_t *b = (const uint8_t *)f;
    for (size_t i = 0; i < sizeof f; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    for (uint32_t i = 0; i < m->len; i++)
        h = (h ^ m->payload[i]) * 1099511628211ull;
    return h;
}

static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static size_t piece_len(uint8_t mode, size_t left, size_t total, uint32_t *rnd)
{
    switch (mode) {
    case 0: return 1;
    case 1: return 1 + next_rand(rnd) % 16;
    case 2: return 1 + next_rand(rnd) % 512;
    default: return left > total / 2 && total > 1 ? left - total / 2 : left;
    }
}

/* Handles one message; returns 0, or -1 when a check fails. */
static int on_message(rtmp_chunk_parser_t *p, rtmp_msg_t *m, uint32_t max_msg, run_t *r)
{
    if (m->len > max_msg)
        return -1;
    if ((m->len > 0) != (m->payload != NULL))
        return -1;
    if (r->n < r->cap)
        r->fp[r->n] = fingerprint(m);
    r->n++;
    if (m->type == RTMP_MSG_SET_CHUNK_SIZE && m->len >= 4) {
        uint32_t size = rd_be32(m->payload) & 0x7fffffff;
        if (size > 0 && rtmp_chunk_parser_set_chunk_size(p, size) != 0)
            return -1;
    } else if (m->type == RTMP_MSG_ABORT && m->len >= 4) {
        rtmp_chunk_parser_abort(p, rd_be32(m->payload));
    }
    free(m->payload);
    return 0;
}

/* Parses data fed in pieces (whole when split is 0) into r. */
static void run(const uint8_t *data, size_t size, uint8_t cfg, int split, run_t *r)
{
    uint32_t max_msg = (cfg & 8) ? SMALL_MAX_MSG : LARGE_MAX_MSG;
    rtmp_chunk_parser_t *p = rtmp_chunk_parser_new(max_msg, max_csids[(cfg >> 4) & 3]);
    if (!p)
        abort();
    if (rtmp_chunk_parser_set_chunk_size(p, chunk_sizes[cfg & 7]) != 0)
        abort();
    uint32_t rnd = 0x9e3779b9u ^ cfg ^ (uint32_t)size;
    size_t off = 0;
    r->rc = PARSE_NEED_MORE;
    r->err = NULL;
    do {
        size_t end = size;
        if (split) {
            size_t n = piece_len(cfg >> 6, size - off, size, &rnd);
            end = off + (n < size - off ? n : size - off);
        }
        for (;;) {
            size_t used = (size_t)-1;
            rtmp_msg_t m;
            const char *err = NULL;
            parse_rc_t rc = rtmp_chunk_feed(p, data + off, end - off, &used, &m, &err);
            if (used > end - off)
                abort();
            off += used;
            if (rc == PARSE_OK) {
                if (err || on_message(p, &m, max_msg, r) != 0)
                    abort();
                continue;
            }
            if (rc == PARSE_NEED_MORE) {
                if (err || off != end)
                    abort();
                break;
            }
            if ((rc != PARSE_ERR_PROTO && rc != PARSE_ERR_TOO_BIG) || !err)
                abort();
            r->rc = rc;
            r->err = err;
            rtmp_chunk_parser_free(p);
            return;
        }
    } while (off < size);
    rtmp_chunk_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t cfg = data[0];
    data++;
    size--;
    /* Every message takes at least one byte of input. */
    run_t a = {.cap = size + 1}, b = {.cap = size + 1};
    a.fp = malloc(a.cap * sizeof *a.fp);
    b.fp = malloc(b.cap * sizeof *b.fp);
    if (!a.fp || !b.fp) {
        free(a.fp);
        free(b.fp);
        return 0;
    }
    run(data, size, cfg, 1, &a);
    run(data, size, cfg, 0, &b);
    if (a.n != b.n || a.n > a.cap || a.rc != b.rc || a.err != b.err ||
        memcmp(a.fp, b.fp, a.n * sizeof *a.fp) != 0)
        abort();
    free(a.fp);
    free(b.fp);
    return 0;
}
