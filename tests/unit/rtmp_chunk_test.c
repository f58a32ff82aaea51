/* Unit tests for node/codec/rtmp_chunk.c: encoder sizes and layouts, a mixed
 * stream (encoded messages plus hand-built fmt 0/1/2/3 interleavings)
 * parsed whole, split at every byte, byte by byte and at random, and the
 * error, abort and extended timestamp corner cases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "rtmp_chunk.h"

#define MAX_MSGS 64
#define BIG_LEN 20000
#define LATE_LEN 9000

/* ---- stream builder ---- */

typedef struct {
    uint8_t *buf;
    size_t len;
    size_t cap;
} sb_t;

static void sb_init(sb_t *sb, size_t cap)
{
    sb->buf = malloc(cap);
    assert_non_null(sb->buf);
    sb->len = 0;
    sb->cap = cap;
}

static void sb_put(sb_t *sb, const void *p, size_t n)
{
    assert_true(sb->len + n <= sb->cap);
    if (n)
        memcpy(sb->buf + sb->len, p, n);
    sb->len += n;
}

static void sb_byte(sb_t *sb, uint8_t b)
{
    sb_put(sb, &b, 1);
}

static void sb_be32(sb_t *sb, uint32_t v)
{
    uint8_t b[4];
    wr_be32(b, v);
    sb_put(sb, b, 4);
}

/* Appends one message as rtmp_chunk_encode() writes it. */
static void sb_encode(sb_t *sb, uint32_t csid, uint8_t type, uint32_t sid, uint32_t ts,
                      const uint8_t *payload, uint32_t len, uint32_t chunk_size)
{
    size_t n = rtmp_chunk_encoded_size(csid, ts, len, chunk_size);
    assert_true(sb->len + n <= sb->cap);
    size_t w = rtmp_chunk_encode(sb->buf + sb->len, csid, type, sid, ts, payload, len, chunk_size);
    assert_int_equal(w, n);
    sb->len += w;
}

/* Appends a hand-built chunk header (csid < 64): fmt 0 uses every argument,
 * fmt 1 all but sid, fmt 2 only ts, fmt 3 none. */
static void sb_hdr(sb_t *sb, uint8_t fmt, uint8_t csid, uint32_t ts, uint32_t len, uint8_t type,
                   uint32_t sid)
{
    uint8_t b[12];
    b[0] = (uint8_t)(fmt << 6) | csid;
    wr_be24(b + 1, ts);
    wr_be24(b + 4, len);
    b[7] = type;
    wr_le32(b + 8, sid);
    static const size_t sizes[4] = {12, 8, 4, 1};
    sb_put(sb, b, sizes[fmt]);
}

/* ---- expected messages and parsing ---- */

typedef struct {
    uint32_t csid;
    uint8_t type;
    uint32_t sid;
    uint32_t ts;
    uint32_t len;
    const uint8_t *payload;
} want_t;

typedef struct {
    rtmp_msg_t m[MAX_MSGS];
    size_t n;
} got_t;

static void got_free(got_t *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->m[i].payload);
    g->n = 0;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 7 + seed * 13 + (i >> 8));
}

/* Feeds one piece, draining every message it completes. Applies Set Chunk
 * Size messages, as the session does. */
static void feed_piece(rtmp_chunk_parser_t *p, const uint8_t *src, size_t len, got_t *g)
{
    size_t off = 0;
    for (;;) {
        size_t used = 0;
        rtmp_msg_t m;
        const char *err = NULL;
        parse_rc_t rc = rtmp_chunk_feed(p, src + off, len - off, &used, &m, &err);
        assert_true(used <= len - off);
        off += used;
        if (rc == PARSE_NEED_MORE) {
            assert_int_equal(off, len);
            return;
        }
        assert_int_equal(rc, PARSE_OK);
        assert_null(err);
        assert_true(g->n < MAX_MSGS);
        g->m[g->n++] = m;
        if (m.type == RTMP_MSG_SET_CHUNK_SIZE && m.len == 4)
            assert_int_equal(rtmp_chunk_parser_set_chunk_size(p, rd_be32(m.payload)), 0);
    }
}

/* Parses buf cut at the sorted offsets cuts[0..ncuts). */
static void parse_cut(const uint8_t *buf, size_t len, const size_t *cuts, size_t ncuts, got_t *g)
{
    rtmp_chunk_parser_t *p = rtmp_chunk_parser_new(1 << 20, 16);
    assert_non_null(p);
    size_t start = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        assert_true(end >= start);
        feed_piece(p, buf + start, end - start, g);
        start = end;
    }
    rtmp_chunk_parser_free(p);
}

static void check_msgs(const got_t *g, const want_t *w, size_t n)
{
    assert_int_equal(g->n, n);
    for (size_t i = 0; i < n; i++) {
        const rtmp_msg_t *m = &g->m[i];
        assert_int_equal(m->csid, w[i].csid);
        assert_int_equal(m->type, w[i].type);
        assert_int_equal(m->stream_id, w[i].sid);
        assert_int_equal(m->timestamp, w[i].ts);
        assert_int_equal(m->len, w[i].len);
        if (w[i].len == 0)
            continue;
        assert_non_null(m->payload);
        assert_memory_equal(m->payload, w[i].payload, w[i].len);
    }
}

static void parse_and_check(const uint8_t *buf, size_t len, const size_t *cuts, size_t ncuts,
                            const want_t *w, size_t n)
{
    got_t g = {.n = 0};
    parse_cut(buf, len, cuts, ncuts, &g);
    check_msgs(&g, w, n);
    got_free(&g);
}

/* Whole, every two-feed split, byte by byte, and random splits. */
static void parse_all_ways(const uint8_t *buf, size_t len, const want_t *w, size_t n)
{
    parse_and_check(buf, len, NULL, 0, w, n);

    for (size_t cut = 0; cut <= len; cut++)
        parse_and_check(buf, len, &cut, 1, w, n);

    size_t *cuts = malloc(len * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i;
    parse_and_check(buf, len, cuts, len, w, n);

    uint32_t rnd = 12345;
    for (int iter = 0; iter < 300; iter++) {
        size_t nc = 0, at = 0;
        for (;;) {
            rnd = rnd * 1103515245u + 12345u;
            uint32_t r = rnd >> 8;
            /* Mostly short pieces, sometimes long ones. */
            at += (r & 1) ? (r >> 1) % 16 : (r >> 1) % 3000;
            if (at >= len)
                break;
            cuts[nc++] = at;
        }
        parse_and_check(buf, len, cuts, nc, w, n);
    }
    free(cuts);
}

/* ---- the mixed stream ---- */

static void test_mixed_stream(void **state)
{
    (void)state;
    static uint8_t p1[200], p2[300], p3[200], p4[10], p5[10], p6[10], p7[50], p8[50];
    static uint8_t p9[130], p10[130], p11[5], p12[5], p13[50], p14[140], p15[129];
    static uint8_t big[BIG_LEN], late[LATE_LEN];
    uint8_t scs[4];
    fill(p1, sizeof p1, 1);
    fill(p2, sizeof p2, 2);
    fill(p3, sizeof p3, 3);
    fill(p4, sizeof p4, 4);
    fill(p5, sizeof p5, 5);
    fill(p6, sizeof p6, 6);
    fill(p7, sizeof p7, 7);
    fill(p8, sizeof p8, 8);
    fill(p9, sizeof p9, 9);
    fill(p10, sizeof p10, 10);
    fill(p11, sizeof p11, 11);
    fill(p12, sizeof p12, 12);
    fill(p13, sizeof p13, 13);
    fill(p14, sizeof p14, 14);
    fill(p15, sizeof p15, 15);
    fill(big, sizeof big, 16);
    fill(late, sizeof late, 17);
    wr_be32(scs, 4096);

    sb_t sb;
    sb_init(&sb, 64 * 1024);
    /* Encoded: a 2-chunk command; an extended-timestamp message over 3
     * chunks. */
    sb_encode(&sb, 3, RTMP_MSG_COMMAND_AMF0, 0, 0, p1, sizeof p1, 128);
    sb_encode(&sb, 4, RTMP_MSG_AUDIO, 1, 0x01000000, p2, sizeof p2, 128);
    /* Hand-built interleaving of csid 6 (video) and 7 (audio). */
    sb_hdr(&sb, 0, 6, 1000, sizeof p3, RTMP_MSG_VIDEO, 1);
    sb_put(&sb, p3, 128);
    sb_hdr(&sb, 0, 7, 1005, sizeof p4, RTMP_MSG_AUDIO, 1);
    sb_put(&sb, p4, sizeof p4);
    sb_hdr(&sb, 3, 6, 0, 0, 0, 0); /* continuation */
    sb_put(&sb, p3 + 128, sizeof p3 - 128);
    sb_hdr(&sb, 2, 7, 20, 0, 0, 0); /* delta 20 */
    sb_put(&sb, p5, sizeof p5);
    sb_hdr(&sb, 3, 7, 0, 0, 0, 0); /* new message, delta 20 again */
    sb_put(&sb, p6, sizeof p6);
    sb_hdr(&sb, 1, 6, 33, sizeof p7, RTMP_MSG_VIDEO, 0); /* delta 33, new length */
    sb_put(&sb, p7, sizeof p7);
    sb_hdr(&sb, 3, 6, 0, 0, 0, 0); /* new message, delta 33 again */
    sb_put(&sb, p8, sizeof p8);
    /* fmt 1 with an extended delta of -1000 (wraps), over two chunks, the
     * fmt 3 chunks repeating the extended field. */
    sb_hdr(&sb, 1, 7, 0xffffff, sizeof p9, RTMP_MSG_AUDIO, 0);
    sb_be32(&sb, 0xfffffc18);
    sb_put(&sb, p9, 128);
    sb_hdr(&sb, 3, 7, 0, 0, 0, 0);
    sb_be32(&sb, 0xfffffc18);
    sb_put(&sb, p9 + 128, 2);
    sb_hdr(&sb, 3, 7, 0, 0, 0, 0); /* new message: -1000 again */
    sb_be32(&sb, 0xfffffc18);
    sb_put(&sb, p10, 128);
    sb_hdr(&sb, 3, 7, 0, 0, 0, 0);
    sb_be32(&sb, 0xfffffc18);
    sb_put(&sb, p10 + 128, 2);
    /* fmt 3 after fmt 0: the delta is the fmt 0 timestamp (spec). */
    sb_hdr(&sb, 0, 8, 40, sizeof p11, RTMP_MSG_DATA_AMF0, 1);
    sb_put(&sb, p11, sizeof p11);
    sb_hdr(&sb, 3, 8, 0, 0, 0, 0);
    sb_put(&sb, p12, sizeof p12);
    /* fmt 2 with an extended delta. */
    sb_hdr(&sb, 2, 6, 0xffffff, 0, 0, 0);
    sb_be32(&sb, 0x01000000);
    sb_put(&sb, p13, sizeof p13);
    /* Zero-length messages: fmt 0, then fmt 3 (a 1-byte message). */
    sb_encode(&sb, 9, RTMP_MSG_DATA_AMF0, 1, 7, NULL, 0, 128);
    sb_byte(&sb, 0xc0 | 9);
    /* 2- and 3-byte basic headers. */
    sb_encode(&sb, 100, RTMP_MSG_COMMAND_AMF0, 0, 3, p14, sizeof p14, 128);
    sb_encode(&sb, 1000, RTMP_MSG_COMMAND_AMF0, 5, 9, p15, sizeof p15, 128);
    /* Set Chunk Size 4096, then messages chunked at 4096. */
    sb_encode(&sb, 2, RTMP_MSG_SET_CHUNK_SIZE, 0, 0, scs, sizeof scs, 128);
    sb_encode(&sb, 5, RTMP_MSG_VIDEO, 1, 5000, big, sizeof big, 4096);
    sb_encode(&sb, 4, RTMP_MSG_AUDIO, 1, 0xfffffff0, late, sizeof late, 4096);

    const want_t w[] = {
        {3, RTMP_MSG_COMMAND_AMF0, 0, 0, sizeof p1, p1},
        {4, RTMP_MSG_AUDIO, 1, 0x01000000, sizeof p2, p2},
        {7, RTMP_MSG_AUDIO, 1, 1005, sizeof p4, p4},
        {6, RTMP_MSG_VIDEO, 1, 1000, sizeof p3, p3},
        {7, RTMP_MSG_AUDIO, 1, 1025, sizeof p5, p5},
        {7, RTMP_MSG_AUDIO, 1, 1045, sizeof p6, p6},
        {6, RTMP_MSG_VIDEO, 1, 1033, sizeof p7, p7},
        {6, RTMP_MSG_VIDEO, 1, 1066, sizeof p8, p8},
        {7, RTMP_MSG_AUDIO, 1, 45, sizeof p9, p9},
        {7, RTMP_MSG_AUDIO, 1, 0xfffffc45, sizeof p10, p10},
        {8, RTMP_MSG_DATA_AMF0, 1, 40, sizeof p11, p11},
        {8, RTMP_MSG_DATA_AMF0, 1, 80, sizeof p12, p12},
        {6, RTMP_MSG_VIDEO, 1, 0x0100042a, sizeof p13, p13},
        {9, RTMP_MSG_DATA_AMF0, 1, 7, 0, NULL},
        {9, RTMP_MSG_DATA_AMF0, 1, 14, 0, NULL},
        {100, RTMP_MSG_COMMAND_AMF0, 0, 3, sizeof p14, p14},
        {1000, RTMP_MSG_COMMAND_AMF0, 5, 9, sizeof p15, p15},
        {2, RTMP_MSG_SET_CHUNK_SIZE, 0, 0, sizeof scs, scs},
        {5, RTMP_MSG_VIDEO, 1, 5000, sizeof big, big},
        {4, RTMP_MSG_AUDIO, 1, 0xfffffff0, sizeof late, late},
    };
    parse_all_ways(sb.buf, sb.len, w, sizeof w / sizeof w[0]);
    free(sb.buf);
}

/* ---- Set Chunk Size between messages ---- */

static void test_set_chunk_size_stops_after_message(void **state)
{
    (void)state;
    static uint8_t body[5000];
    uint8_t scs[4];
    fill(body, sizeof body, 21);
    wr_be32(scs, 4096);
    sb_t sb;
    sb_init(&sb, 16 * 1024);
    sb_encode(&sb, 2, RTMP_MSG_SET_CHUNK_SIZE, 0, 0, scs, 4, 128);
    size_t first = sb.len;
    sb_encode(&sb, 6, RTMP_MSG_VIDEO, 1, 40, body, sizeof body, 4096);
    assert_int_equal(first, 16);                     /* 1 + 11 + 4 */
    assert_int_equal(sb.len - first, 5000 + 12 + 1); /* 2 chunks at 4096 */

    rtmp_chunk_parser_t *p = rtmp_chunk_parser_new(1 << 20, 8);
    assert_non_null(p);
    size_t used = 0;
    rtmp_msg_t m;
    const char *err = NULL;
    assert_int_equal(rtmp_chunk_feed(p, sb.buf, sb.len, &used, &m, &err), PARSE_OK);
    assert_int_equal(used, first); /* stopped right after the message */
    assert_int_equal(m.type, RTMP_MSG_SET_CHUNK_SIZE);
    assert_int_equal(m.len, 4);
    assert_int_equal(rd_be32(m.payload), 4096);
    assert_int_equal(rtmp_chunk_parser_set_chunk_size(p, rd_be32(m.payload)), 0);
    free(m.payload);

    assert_int_equal(rtmp_chunk_feed(p, sb.buf + used, sb.len - used, &used, &m, &err), PARSE_OK);
    assert_int_equal(used, sb.len - first);
    assert_int_equal(m.csid, 6);
    assert_int_equal(m.timestamp, 40);
    assert_int_equal(m.len, sizeof body);
    assert_memory_equal(m.payload, body, sizeof body);
    free(m.payload);
    assert_int_equal(rtmp_chunk_feed(p, NULL, 0, &used, &m, &err), PARSE_NEED_MORE);
    assert_int_equal(used, 0);
    rtmp_chunk_parser_free(p);

    /* The same stream at every split and byte by byte (the helper applies
     * the Set Chunk Size). */
    const want_t w[] = {
        {2, RTMP_MSG_SET_CHUNK_SIZE, 0, 0, 4, scs},
        {6, RTMP_MSG_VIDEO, 1, 40, sizeof body, body},
    };
    for (size_t cut = 0; cut <= sb.len; cut++)
        parse_and_check(sb.buf, sb.len, &cut, 1, w, 2);
    free(sb.buf);
}

static void test_chunk_size_bounds(void **state)
{
    (void)state;
    rtmp_chunk_parser_t *p = rtmp_chunk_parser_new(1000, 4);
    assert_non_null(p);
    assert_int_equal(rtmp_chunk_parser_set_chunk_size(p, 0), NODE_EINVAL);
    assert_int_equal(rtmp_chunk_parser_set_chunk_size(p, 0x80000000u), NODE_EINVAL);
    assert_int_equal(rtmp_chunk_parser_set_chunk_size(p, 0xffffffffu), NODE_EINVAL);
    assert_int_equal(rtmp_chunk_parser_set_chunk_size(p, RTMP_MAX_CHUNK_SIZE), 0);
    assert_int_equal(rtmp_chunk_parser_set_chunk_size(p, 1), 0);

    /* Chunk size 1: a 3-byte message is three chunks. */
    const uint8_t pl[3] = {0xaa, 0xbb, 0xcc};
    uint8_t buf[32];
    size_t n = rtmp_chunk_encode(buf, 3, RTMP_MSG_AUDIO, 1, 77, pl, 3, 1);
    assert_int_equal(n, 12 + 3 + 2);
    assert_int_equal(n, rtmp_chunk_encoded_size(3, 77, 3, 1));
    const uint8_t expect[] = {0x03, 0, 0, 77, 0, 0, 3, 8, 1, 0, 0, 0, 0xaa, 0xc3, 0xbb, 0xc3, 0xcc};
    assert_memory_equal(buf, expect, sizeof expect);
    size_t used;
    rtmp_msg_t m;
    const char *err;
    assert_int_equal(rtmp_chunk_feed(p, buf, n, &used, &m, &err), PARSE_OK);
    assert_int_equal(used, n);
    assert_int_equal(m.timestamp, 77);
    assert_memory_equal(m.payload, pl, 3);
    free(m.payload);
    rtmp_chunk_parser_free(p);
}

/* ---- errors ---- */

static void expect_error(rtmp_chunk_parser_t *p, const uint8_t *buf, size_t len, parse_rc_t want,
                         const char *want_err)
{
    size_t off = 0, used;
    rtmp_msg_t m;
    const char *err = NULL;
    parse_rc_t rc;
    while ((rc = rtmp_chunk_feed(p, buf + off, len - off, &used, &m, &err)) == PARSE_OK) {
        off += used;
        free(m.payload);
    }
    assert_int_equal(rc, want);
    assert_non_null(err);
    assert_string_equal(err, want_err);
    /* the bounds' errors are the exported strings themselves (sess_rtmp
     * counts each limit by comparing the pointer) */
    if (want_err == RTMP_CHUNK_ERR_MESSAGE_TOO_BIG ||
        want_err == RTMP_CHUNK_ERR_TOO_MANY_CHUNK_STREAMS)
        assert_ptr_equal(err, want_err);
    /* A failed parser keeps failing. */
    err = NULL;
    assert_int_equal(rtmp_chunk_feed(p, buf, len, &used, &m, &err), want);
    assert_int_equal(used, 0);
    assert_string_equal(err, want_err);
}

static void test_error_too_big(void **state)
{
    (void)state;
    static uint8_t body[1001];
    uint8_t buf[1200];
    fill(body, sizeof body, 31);

    /* Exactly max_msg is accepted. */
    rtmp_chunk_parser_t *p = rtmp_chunk_parser_new(1000, 4);
    assert_non_null(p);
    size_t n = rtmp_chunk_encode(buf, 3, RTMP_MSG_VIDEO, 1, 0, body, 1000, 128);
    size_t used;
    rtmp_msg_t m;
    const char *err;
    assert_int_equal(rtmp_chunk_feed(p, buf, n, &used, &m, &err), PARSE_OK);
    assert_int_equal(m.len, 1000);
    free(m.payload);
    rtmp_chunk_parser_free(p);

    /* One more byte fails on the header alone, before any payload. */
    p = rtmp_chunk_parser_new(1000, 4);
    assert_non_null(p);
    rtmp_chunk_encode(buf, 3, RTMP_MSG_VIDEO, 1, 0, body, 1001, 128);
    assert_int_equal(rtmp_chunk_feed(p, buf, 12, &used, &m, &err), PARSE_ERR_TOO_BIG);
    assert_string_equal(err, "message too big");
    assert_ptr_equal(err, RTMP_CHUNK_ERR_MESSAGE_TOO_BIG);
    rtmp_chunk_parser_free(p);

    /* A fmt 1 header raising the length over the limit fails too. */
    p = rtmp_chunk_parser_new(1000, 4);
    assert_non_null(p);
    sb_t sb;
    sb_init(&sb, 64);
    sb_hdr(&sb, 0, 5, 0, 2, RTMP_MSG_AUDIO, 1);
    sb_put(&sb, "ab", 2);
    sb_hdr(&sb, 1, 5, 10, 0xffffff, RTMP_MSG_AUDIO, 0);
    expect_error(p, sb.buf, sb.len, PARSE_ERR_TOO_BIG, RTMP_CHUNK_ERR_MESSAGE_TOO_BIG);
    rtmp_chunk_parser_free(p);
    free(sb.buf);
}

static void test_error_too_many_csids(void **state)
{
    (void)state;
    rtmp_chunk_parser_t *p = rtmp_chunk_parser_new(1000, 3);
    assert_non_null(p);
    sb_t sb;
    sb_init(&sb, 256);
    const uint8_t x = 0x5a;
    sb_encode(&sb, 3, RTMP_MSG_AUDIO, 1, 0, &x, 1, 128);
    sb_encode(&sb, 300, RTMP_MSG_AUDIO, 1, 0, &x, 1, 128);
    sb_encode(&sb, 5000, RTMP_MSG_AUDIO, 1, 0, &x, 1, 128);
    sb_encode(&sb, 300, RTMP_MSG_AUDIO, 1, 0, &x, 1, 128); /* known csid: fine */
    size_t ok_len = sb.len;
    sb_encode(&sb, 4, RTMP_MSG_AUDIO, 1, 0, &x, 1, 128); /* a fourth csid */

    size_t off = 0, used;
    rtmp_msg_t m;
    const char *err;
    const uint32_t csids[] = {3, 300, 5000, 300};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rtmp_chunk_feed(p, sb.buf + off, sb.len - off, &used, &m, &err), PARSE_OK);
        off += used;
        assert_int_equal(m.csid, csids[i]);
        assert_int_equal(m.payload[0], 0x5a);
        free(m.payload);
    }
    assert_int_equal(off, ok_len);
    expect_error(p, sb.buf + off, sb.len - off, PARSE_ERR_TOO_BIG,
                 RTMP_CHUNK_ERR_TOO_MANY_CHUNK_STREAMS);
    rtmp_chunk_parser_free(p);
    free(sb.buf);
}

static void test_error_unknown_csid(void **state)
{
    (void)state;
    for (uint8_t fmt = 1; fmt <= 3; fmt++) {
        rtmp_chunk_parser_t *p = rtmp_chunk_parser_new(1000, 8);
        assert_non_null(p);
        sb_t sb;
        sb_init(&sb, 64);
        sb_encode(&sb, 3, RTMP_MSG_AUDIO, 1, 0, (const uint8_t *)"hi", 2, 128);
        sb_hdr(&sb, fmt, 4, 10, 2, RTMP_MSG_AUDIO, 0);
        sb_put(&sb, "hi", 2);
        expect_error(p, sb.buf, sb.len, PARSE_ERR_PROTO,
                     "chunk stream starts without a type 0 header");
        rtmp_chunk_parser_free(p);
        free(sb.buf);
    }
}

static void test_error_header_inside_message(void **state)
{
    (void)state;
    rtmp_chunk_parser_t *p = rtmp_chunk_parser_new(1000, 8);
    assert_non_null(p);
    static uint8_t body[200];
    sb_t sb;
    sb_init(&sb, 512);
    sb_hdr(&sb, 0, 6, 0, sizeof body, RTMP_MSG_VIDEO, 1);
    sb_put(&sb, body, 128);
    sb_hdr(&sb, 0, 6, 0, sizeof body, RTMP_MSG_VIDEO, 1);
    expect_error(p, sb.buf, sb.len, PARSE_ERR_PROTO, "message header inside a partial message");
    rtmp_chunk_parser_free(p);
    free(sb.buf);
}

/* ---- extended timestamp omitted on fmt 3 ---- */

static void test_ext_ts_omitted_on_fmt3(void **state)
{
    (void)state;
    static uint8_t a[300], b[130], c[3];
    fill(a, sizeof a, 41);
    fill(b, sizeof b, 42);
    fill(c, sizeof c, 43);
    sb_t sb;
    sb_init(&sb, 2048);
    /* 300 bytes over 3 chunks; the fmt 3 chunks leave out the extended
     * timestamp. */
    sb_hdr(&sb, 0, 4, 0xffffff, sizeof a, RTMP_MSG_VIDEO, 1);
    sb_be32(&sb, 0x01000000);
    sb_put(&sb, a, 128);
    sb_hdr(&sb, 3, 4, 0, 0, 0, 0);
    sb_put(&sb, a + 128, 128);
    sb_hdr(&sb, 3, 4, 0, 0, 0, 0);
    sb_put(&sb, a + 256, sizeof a - 256);
    /* A zero-length message on csid 9, repeated below by a 1-byte fmt 3. */
    sb_hdr(&sb, 0, 9, 5, 0, RTMP_MSG_DATA_AMF0, 1);
    /* 130 bytes whose last chunk has only 2 payload bytes: the 4 bytes
     * taken for the missing extended timestamp run into the next chunks (a
     * 1-byte fmt 3 zero-length message on csid 9, and the first byte of the
     * fmt 0 header of csid 10). */
    sb_hdr(&sb, 0, 5, 0xffffff, sizeof b, RTMP_MSG_AUDIO, 1);
    sb_be32(&sb, 0x02000000);
    sb_put(&sb, b, 128);
    sb_hdr(&sb, 3, 5, 0, 0, 0, 0);
    sb_put(&sb, b + 128, 2);
    sb_hdr(&sb, 3, 9, 0, 0, 0, 0);
    sb_hdr(&sb, 0, 10, 1, sizeof c, RTMP_MSG_AUDIO, 1);
    sb_put(&sb, c, sizeof c);
    /* A fmt 3 new message on csid 5 without the extended field; its delta
     * is the fmt 0 timestamp 0x02000000. Its last chunk's lookahead runs
     * into the next fmt 3 header and half its extended field. */
    sb_hdr(&sb, 3, 5, 0, 0, 0, 0);
    sb_put(&sb, b, 128);
    sb_hdr(&sb, 3, 5, 0, 0, 0, 0);
    sb_put(&sb, b + 128, 2);
    /* The same with the field present (the spec form). */
    sb_hdr(&sb, 3, 5, 0, 0, 0, 0);
    sb_be32(&sb, 0x02000000);
    sb_put(&sb, b, 128);
    sb_hdr(&sb, 3, 5, 0, 0, 0, 0);
    sb_be32(&sb, 0x02000000);
    sb_put(&sb, b + 128, 2);
    sb_hdr(&sb, 0, 10, 2, sizeof c, RTMP_MSG_AUDIO, 1);
    sb_put(&sb, c, sizeof c);

    const want_t w[] = {
        {4, RTMP_MSG_VIDEO, 1, 0x01000000, sizeof a, a},
        {9, RTMP_MSG_DATA_AMF0, 1, 5, 0, NULL},
        {5, RTMP_MSG_AUDIO, 1, 0x02000000, sizeof b, b},
        {9, RTMP_MSG_DATA_AMF0, 1, 10, 0, NULL},
        {10, RTMP_MSG_AUDIO, 1, 1, sizeof c, c},
        {5, RTMP_MSG_AUDIO, 1, 0x04000000, sizeof b, b},
        {5, RTMP_MSG_AUDIO, 1, 0x06000000, sizeof b, b},
        {10, RTMP_MSG_AUDIO, 1, 2, sizeof c, c},
    };
    parse_all_ways(sb.buf, sb.len, w, sizeof w / sizeof w[0]);
    free(sb.buf);
}

/* ---- abort ---- */

static void test_abort_then_fresh_message(void **state)
{
    (void)state;
    static uint8_t big[300], small[10], more[20];
    fill(big, sizeof big, 51);
    fill(small, sizeof small, 52);
    fill(more, sizeof more, 53);
    uint8_t buf[512];
    size_t n = rtmp_chunk_encode(buf, 4, RTMP_MSG_VIDEO, 1, 100, big, sizeof big, 128);
    assert_int_equal(n, 300 + 12 + 2);

    rtmp_chunk_parser_t *p = rtmp_chunk_parser_new(1000, 8);
    assert_non_null(p);
    size_t used;
    rtmp_msg_t m;
    const char *err;
    /* First chunk only, then the peer aborts the message. */
    assert_int_equal(rtmp_chunk_feed(p, buf, 12 + 128, &used, &m, &err), PARSE_NEED_MORE);
    assert_int_equal(used, 12 + 128);
    rtmp_chunk_parser_abort(p, 4);
    rtmp_chunk_parser_abort(p, 33); /* unknown csid: no effect */

    /* A fresh fmt 0 message on the same csid (a header inside a partial
     * message would be an error). */
    n = rtmp_chunk_encode(buf, 4, RTMP_MSG_AUDIO, 1, 200, small, sizeof small, 128);
    assert_int_equal(rtmp_chunk_feed(p, buf, n, &used, &m, &err), PARSE_OK);
    assert_int_equal(used, n);
    assert_int_equal(m.csid, 4);
    assert_int_equal(m.type, RTMP_MSG_AUDIO);
    assert_int_equal(m.timestamp, 200);
    assert_int_equal(m.len, sizeof small);
    assert_memory_equal(m.payload, small, sizeof small);
    free(m.payload);

    /* Abort in the middle of a chunk: the message is dropped when the chunk
     * ends, then a fmt 1 message follows (delta from the last header). */
    n = rtmp_chunk_encode(buf, 4, RTMP_MSG_VIDEO, 1, 300, big, sizeof big, 128);
    assert_int_equal(rtmp_chunk_feed(p, buf, 50, &used, &m, &err), PARSE_NEED_MORE);
    rtmp_chunk_parser_abort(p, 4);
    assert_int_equal(rtmp_chunk_feed(p, buf + 50, 12 + 128 - 50, &used, &m, &err), PARSE_NEED_MORE);
    sb_t sb;
    sb_init(&sb, 64);
    sb_hdr(&sb, 1, 4, 25, sizeof more, RTMP_MSG_VIDEO, 0);
    sb_put(&sb, more, sizeof more);
    assert_int_equal(rtmp_chunk_feed(p, sb.buf, sb.len, &used, &m, &err), PARSE_OK);
    assert_int_equal(used, sb.len);
    assert_int_equal(m.csid, 4);
    assert_int_equal(m.stream_id, 1);
    assert_int_equal(m.timestamp, 325);
    assert_int_equal(m.len, sizeof more);
    assert_memory_equal(m.payload, more, sizeof more);
    free(m.payload);

    /* Freeing with a partial message in flight releases it (LeakSanitizer
     * would report otherwise). */
    assert_int_equal(rtmp_chunk_feed(p, buf, 12 + 128 + 1, &used, &m, &err), PARSE_NEED_MORE);
    rtmp_chunk_parser_free(p);
    free(sb.buf);
    rtmp_chunk_parser_free(NULL);
}

/* ---- encoder ---- */

static void test_encoded_size_and_basic_headers(void **state)
{
    (void)state;
    static uint8_t body[300];
    fill(body, sizeof body, 61);
    static const struct {
        uint32_t csid;
        size_t bh;
        uint8_t hdr[3];
    } cases[] = {
        {2, 1, {0x02}},
        {63, 1, {0x3f}},
        {64, 2, {0x00, 0x00}},
        {319, 2, {0x00, 0xff}},
        {320, 3, {0x01, 0x00, 0x01}},
        {65599, 3, {0x01, 0xff, 0xff}},
    };
    uint8_t buf[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t csid = cases[i].csid;
        size_t bh = cases[i].bh;
        /* 300 bytes at 128: 3 chunks. */
        size_t want = 3 * bh + 11 + 300;
        assert_int_equal(rtmp_chunk_encoded_size(csid, 1000, 300, 128), want);
        assert_int_equal(rtmp_chunk_encode(buf, csid, 9, 1, 1000, body, 300, 128), want);
        assert_memory_equal(buf, cases[i].hdr, bh);
        /* fmt 3 basic headers carry the same csid bytes. */
        assert_int_equal(buf[bh + 11 + 128], 0xc0 | cases[i].hdr[0]);
        assert_memory_equal(buf + bh + 11 + 128 + 1, cases[i].hdr + 1, bh - 1);
        /* Extended timestamp: 4 more bytes per chunk. */
        want = 3 * (bh + 4) + 11 + 300;
        assert_int_equal(rtmp_chunk_encoded_size(csid, 0xffffff, 300, 128), want);
        assert_int_equal(rtmp_chunk_encode(buf, csid, 9, 1, 0xffffff, body, 300, 128), want);
        /* Zero length: one chunk, header only. */
        assert_int_equal(rtmp_chunk_encoded_size(csid, 0, 0, 128), bh + 11);
        assert_int_equal(rtmp_chunk_encode(buf, csid, 9, 1, 0, NULL, 0, 128), bh + 11);
        /* Exact multiple of the chunk size: no empty trailing chunk. */
        assert_int_equal(rtmp_chunk_encoded_size(csid, 0, 256, 128), 2 * bh + 11 + 256);

        /* The parser reads the csid back. */
        rtmp_chunk_parser_t *p = rtmp_chunk_parser_new(1000, 4);
        assert_non_null(p);
        size_t n = rtmp_chunk_encode(buf, csid, 9, 7, 0x12345678, body, 300, 128);
        size_t used;
        rtmp_msg_t m;
        const char *err;
        assert_int_equal(rtmp_chunk_feed(p, buf, n, &used, &m, &err), PARSE_OK);
        assert_int_equal(used, n);
        assert_int_equal(m.csid, csid);
        assert_int_equal(m.stream_id, 7);
        assert_int_equal(m.timestamp, 0x12345678);
        assert_memory_equal(m.payload, body, 300);
        free(m.payload);
        rtmp_chunk_parser_free(p);
    }
}

static void test_encode_layout(void **state)
{
    (void)state;
    uint8_t pl[5] = {1, 2, 3, 4, 5};
    uint8_t buf[64];
    /* Extended timestamp, stream id little-endian, 2 chunks of 3 + 2. */
    size_t n = rtmp_chunk_encode(buf, 6, RTMP_MSG_VIDEO, 0x01020304, 0x01000002, pl, 5, 3);
    const uint8_t expect[] = {
        0x06, 0xff, 0xff, 0xff, 0x00, 0x00, 0x05, 0x09, 0x04, 0x03, 0x02, 0x01, 0x01,
        0x00, 0x00, 0x02, 1,    2,    3,    0xc6, 0x01, 0x00, 0x00, 0x02, 4,    5,
    };
    assert_int_equal(n, sizeof expect);
    assert_memory_equal(buf, expect, sizeof expect);
    assert_int_equal(rtmp_chunk_encoded_size(6, 0x01000002, 5, 3), sizeof expect);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoded_size_and_basic_headers),
        cmocka_unit_test(test_encode_layout),
        cmocka_unit_test(test_mixed_stream),
        cmocka_unit_test(test_set_chunk_size_stops_after_message),
        cmocka_unit_test(test_chunk_size_bounds),
        cmocka_unit_test(test_error_too_big),
        cmocka_unit_test(test_error_too_many_csids),
        cmocka_unit_test(test_error_unknown_csid),
        cmocka_unit_test(test_error_header_inside_message),
        cmocka_unit_test(test_ext_ts_omitted_on_fmt3),
        cmocka_unit_test(test_abort_then_fresh_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
