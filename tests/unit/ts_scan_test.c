/* Unit tests for ts_scan (a recorded MPEG-TS file's PTS span): what
 * ts_mux writes for 3 s of H.264 and AAC spans 3 s less a frame, fed whole,
 * packet by packet and from a head and a tail window; the 33-bit wrap; an
 * earlier PTS after a later one; packets that are not PES starts, without
 * sync, with an adaptation field past the packet, or a PTS without its
 * marker bits are skipped; a trailing partial packet is ignored. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "fmp4_fixtures.h"
#include "ts_mux.h"
#include "ts_scan.h"

typedef struct {
    uint8_t *b;
    size_t len, cap;
} buf_t;

static void mux(ts_mux_t *m, buf_t *o, uint8_t type, uint32_t ts, const uint8_t *body,
                size_t len)
{
    uint8_t *out = NULL;
    size_t n = 0;
    int rap = 0;
    const char *err = NULL;
    assert_int_equal(ts_mux_tag(m, type, ts, body, len, &out, &n, &rap, &err), 0);
    if (o->len + n > o->cap) {
        o->cap = (o->len + n) * 2;
        o->b = realloc(o->b, o->cap);
        assert_non_null(o->b);
    }
    if (n)
        memcpy(o->b + o->len, out, n);
    o->len += n;
    free(out);
}

/* 3 s of 25 fps video (a key frame a second) and AAC every 20 ms, from
 * start_ms on. */
static void three_seconds(buf_t *o, uint32_t start_ms)
{
    ts_mux_t *m = ts_mux_new();
    assert_non_null(m);
    mux(m, o, 9, start_ms, V_H264_SEQ, sizeof V_H264_SEQ);
    mux(m, o, 8, start_ms, A_AAC_SEQ, sizeof A_AAC_SEQ);
    uint8_t f[400];
    const uint8_t aac[] = {0xaf, 0x01, 0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c};
    for (uint32_t t = 0; t < 3000; t += 20) {
        if (t % 40 == 0) {
            int key = t % 1000 == 0;
            memset(f, 0, sizeof f);
            f[0] = key ? 0x17 : 0x27, f[1] = 1;
            f[8] = 200;
            f[9] = key ? 0x65 : 0x41;
            mux(m, o, 9, start_ms + t, f, 209);
        }
        mux(m, o, 8, start_ms + t, aac, sizeof aac);
    }
    ts_mux_free(m);
}

static void test_muxed_span(void **state)
{
    (void)state;
    buf_t o = {0};
    three_seconds(&o, 1000);
    ts_scan_t s;
    ts_scan_init(&s);
    ts_scan_feed(&s, o.b, o.len);
    assert_int_equal(ts_scan_ms(&s), 2980); /* first frame to the last one's start */
    assert_true(s.pts_seen >= 150 + 75);
    /* packet by packet, and a partial packet at the end ignored */
    ts_scan_t p;
    ts_scan_init(&p);
    for (size_t off = 0; off < o.len; off += TS_SCAN_PACKET)
        ts_scan_feed(&p, o.b + off, TS_SCAN_PACKET + (off + 2 * TS_SCAN_PACKET <= o.len ? 100 : 0));
    assert_int_equal(ts_scan_ms(&p), 2980);
    assert_int_equal(p.pts_seen, s.pts_seen);
    /* a head window and a tail window */
    ts_scan_t w;
    ts_scan_init(&w);
    ts_scan_feed(&w, o.b, 20 * TS_SCAN_PACKET);
    size_t tail = o.len - 20 * TS_SCAN_PACKET;
    ts_scan_feed(&w, o.b + tail, o.len - tail);
    assert_int_equal(ts_scan_ms(&w), 2980);
    assert_true(w.pts_seen < s.pts_seen);
    free(o.b);
}

/* One PES start packet with pts (and PID 256). */
static void pes_packet(uint8_t k[TS_SCAN_PACKET], uint64_t pts)
{
    memset(k, 0xff, TS_SCAN_PACKET);
    k[0] = 0x47, k[1] = 0x41, k[2] = 0x00, k[3] = 0x10;
    uint8_t *p = k + 4;
    p[0] = 0, p[1] = 0, p[2] = 1, p[3] = 0xe0, p[4] = 0, p[5] = 0;
    p[6] = 0x80, p[7] = 0x80, p[8] = 5;
    p[9] = (uint8_t)(0x21 | ((pts >> 29) & 0x0e));
    p[10] = (uint8_t)(pts >> 22);
    p[11] = (uint8_t)(((pts >> 14) & 0xfe) | 1);
    p[12] = (uint8_t)(pts >> 7);
    p[13] = (uint8_t)((pts << 1) | 1);
}

static uint32_t span_of(const uint64_t *pts, size_t n)
{
    uint8_t b[8 * TS_SCAN_PACKET];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++)
        pes_packet(b + i * TS_SCAN_PACKET, pts[i]);
    ts_scan_t s;
    ts_scan_init(&s);
    ts_scan_feed(&s, b, n * TS_SCAN_PACKET);
    assert_int_equal(s.pts_seen, n);
    return ts_scan_ms(&s);
}

static void test_wrap_and_order(void **state)
{
    (void)state;
    const uint64_t top = (1ULL << 33) - 90 * 500; /* 500 ms before the wrap */
    assert_int_equal(span_of((uint64_t[]){top, 90 * 1500}, 2), 2000);
    assert_int_equal(span_of((uint64_t[]){90000, 45000, 180000}, 3), 1500);
    assert_int_equal(span_of((uint64_t[]){90 * 1000, 90 * 200, top, 90 * 3000}, 4), 3500);
    assert_int_equal(span_of((uint64_t[]){90000}, 1), 0);
}

static void test_not_pes_starts(void **state)
{
    (void)state;
    uint8_t b[6 * TS_SCAN_PACKET];
    for (int i = 0; i < 6; i++)
        pes_packet(b + i * TS_SCAN_PACKET, 90000 + 90000 * (uint64_t)i);
    b[0] = 0x46;                                 /* no sync */
    b[TS_SCAN_PACKET + 1] = 0x01;                /* no unit start */
    b[2 * TS_SCAN_PACKET + 3] = 0x30;            /* adaptation field past the packet */
    b[2 * TS_SCAN_PACKET + 4] = 200;
    b[3 * TS_SCAN_PACKET + 13] &= 0xfe;          /* a PTS marker bit */
    b[4 * TS_SCAN_PACKET + 4 + 3] = 0xbe;        /* padding stream: no PES header */
    ts_scan_t s;
    ts_scan_init(&s);
    ts_scan_feed(&s, b, sizeof b);
    assert_int_equal(s.pts_seen, 1);
    ts_scan_init(&s);
    b[0] = 0x47;
    ts_scan_feed(&s, b, sizeof b - 1); /* the last packet cut short */
    assert_int_equal(s.pts_seen, 1);
    assert_int_equal(ts_scan_ms(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_muxed_span),
        cmocka_unit_test(test_wrap_and_order),
        cmocka_unit_test(test_not_pes_starts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
