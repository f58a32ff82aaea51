/* Unit tests for ts_mux: the packets one tag becomes, read back by a small
 * TS reader here (sync bytes, PIDs, continuity counters, adaptation fields,
 * PAT/PMT with their CRC, PES headers, PTS/DTS/PCR, the Annex B and ADTS
 * payloads), for H.264 (legacy), H.265 (legacy codec id 12 and Enhanced
 * hvc1) and AAC; sizes computed before writing; refusals. Every tag body
 * is an exact-size heap copy, so ASan catches a read past it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ts_mux.h"

/* ---- vectors ------------------------------------------------------------ */

static const uint8_t SPS[] = {0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9};
static const uint8_t PPS[] = {0x68, 0xeb, 0xe3, 0xcb};
/* AudioSpecificConfig: AAC LC, 44100 Hz (index 4), 2 channels. */
static const uint8_t ASC[] = {0x12, 0x10};
static const uint8_t VPS5[] = {0x40, 0x01, 0x0c, 0x01};
static const uint8_t SPS5[] = {0x42, 0x01, 0x01, 0x01, 0x60};
static const uint8_t PPS5[] = {0x44, 0x01, 0xc1, 0x72};

typedef struct {
    uint8_t b[16384];
    size_t n;
} buf_t;

static void put(buf_t *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof b->b);
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

static void put8(buf_t *b, uint8_t v)
{
    put(b, &v, 1);
}

static void put_be(buf_t *b, uint32_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        put8(b, (uint8_t)(v >> (8 * i)));
}

/* A legacy AVC (codec 7) or HEVC (12) video body: frame type, packet
 * type, composition time, then data. */
static void video_head(buf_t *b, int key, int codec, int pkt, int cts)
{
    put8(b, (uint8_t)(((key ? 1 : 2) << 4) | codec));
    put8(b, (uint8_t)pkt);
    put_be(b, (uint32_t)cts & 0xffffff, 3);
}

static void avc_seq(buf_t *b)
{
    video_head(b, 1, 7, 0, 0);
    const uint8_t head[] = {1, 0x64, 0x00, 0x1f, 0xff, 0xe1};
    put(b, head, sizeof head);
    put_be(b, sizeof SPS, 2);
    put(b, SPS, sizeof SPS);
    put8(b, 1);
    put_be(b, sizeof PPS, 2);
    put(b, PPS, sizeof PPS);
}

static void hvcc(buf_t *b)
{
    uint8_t fixed[23] = {1,    0x01, 0x60, 0,    0,    0,    0x90, 0, 0, 0,    0, 0,
                         0x5d, 0xf0, 0,    0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 3};
    put(b, fixed, sizeof fixed);
    const uint8_t *sets[3] = {VPS5, SPS5, PPS5};
    size_t lens[3] = {sizeof VPS5, sizeof SPS5, sizeof PPS5};
    for (int i = 0; i < 3; i++) {
        put8(b, (uint8_t)(0x80 | (32 + i)));
        put_be(b, 1, 2);
        put_be(b, (uint32_t)lens[i], 2);
        put(b, sets[i], lens[i]);
    }
}

/* A NAL unit of n bytes (first byte hdr, the rest a counting pattern),
 * 4-byte length first. */
static void nal(buf_t *b, uint8_t hdr, size_t n)
{
    put_be(b, (uint32_t)n, 4);
    put8(b, hdr);
    for (size_t i = 1; i < n; i++)
        put8(b, (uint8_t)(i * 7));
}

static void aac_seq(buf_t *b)
{
    put8(b, 0xaf);
    put8(b, 0);
    put(b, ASC, sizeof ASC);
}

static void aac_frame(buf_t *b, size_t n)
{
    put8(b, 0xaf);
    put8(b, 1);
    for (size_t i = 0; i < n; i++)
        put8(b, (uint8_t)(i + 3));
}

/* ---- muxing and reading back -------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n;
    int rap;
} out_t;

/* One tag through ts_mux_tag() from an exact-size copy; checks that
 * ts_mux_plan() on the same state would have said the same size. */
static out_t mux(ts_mux_t *m, uint8_t type, uint32_t ts, const buf_t *b, int want_rc)
{
    uint8_t *copy = malloc(b->n ? b->n : 1);
    assert_non_null(copy);
    memcpy(copy, b->b, b->n);
    out_t o = {NULL, 0, 0};
    const char *err = NULL;
    int rc = ts_mux_tag(m, type, ts, copy, b->n, &o.p, &o.n, &o.rap, &err);
    assert_int_equal(rc, want_rc);
    if (rc != 0)
        assert_non_null(err);
    assert_int_equal(o.n % TS_PACKET_SIZE, 0);
    free(copy);
    return o;
}

typedef struct {
    unsigned pid;
    int pusi, af_len, rai, has_pcr;
    uint64_t pcr;
    const uint8_t *payload;
    size_t plen;
    unsigned cc;
} pkt_t;

static pkt_t parse_pkt(const uint8_t *p)
{
    pkt_t k;
    memset(&k, 0, sizeof k);
    assert_int_equal(p[0], 0x47);
    assert_int_equal(p[1] & 0x80, 0); /* no transport error */
    k.pid = ((p[1] & 0x1fu) << 8) | p[2];
    k.pusi = (p[1] >> 6) & 1;
    k.cc = p[3] & 0x0f;
    assert_true(p[3] & 0x10); /* every packet here has a payload */
    size_t off = 4;
    k.af_len = -1;
    if (p[3] & 0x20) {
        k.af_len = p[4];
        assert_true(k.af_len <= 183);
        if (k.af_len > 0) {
            k.rai = (p[5] >> 6) & 1;
            k.has_pcr = (p[5] >> 4) & 1;
            if (k.has_pcr)
                k.pcr = ((uint64_t)p[6] << 25) | ((uint64_t)p[7] << 17) | ((uint64_t)p[8] << 9) |
                        ((uint64_t)p[9] << 1) | (p[10] >> 7);
            size_t fixed = 2 + (k.has_pcr ? 6 : 0);
            for (size_t i = 4 + fixed; i < 5 + (size_t)k.af_len; i++)
                assert_int_equal(p[i], 0xff); /* stuffing */
        }
        off = 5 + (size_t)k.af_len;
    }
    k.payload = p + off;
    k.plen = TS_PACKET_SIZE - off;
    return k;
}

static uint64_t rd_pts(const uint8_t *p, unsigned prefix)
{
    assert_int_equal(p[0] >> 4, prefix);
    assert_true((p[0] & 1) && (p[2] & 1) && (p[4] & 1)); /* marker bits */
    return ((uint64_t)(p[0] & 0x0e) << 29) | ((uint64_t)p[1] << 22) |
           ((uint64_t)(p[2] & 0xfe) << 14) | ((uint64_t)p[3] << 7) | (p[4] >> 1);
}

/* A PSI section in one packet: checks pointer field, length and CRC. */
static const uint8_t *psi_section(const pkt_t *k, uint8_t table_id, size_t *len)
{
    assert_true(k->pusi);
    assert_int_equal(k->payload[0], 0); /* pointer field */
    const uint8_t *s = k->payload + 1;
    assert_int_equal(s[0], table_id);
    size_t n = 3 + (((s[1] & 0x0fu) << 8) | s[2]);
    assert_true(n <= k->plen - 1);
    assert_int_equal(ts_crc32(s, n - 4), rd_be32(s + n - 4));
    for (size_t i = 1 + n; i < k->plen; i++)
        assert_int_equal(k->payload[i], 0xff);
    *len = n;
    return s;
}

/* PAT (program 1 on TS_PID_PMT) then PMT: returns the PMT's version and
 * fills its streams (type, pid) and PCR PID. */
static int check_psi(const uint8_t *p, int *nstreams, unsigned types[2], unsigned pids[2],
                     unsigned *pcr_pid)
{
    size_t n;
    pkt_t pat = parse_pkt(p);
    assert_int_equal(pat.pid, 0);
    const uint8_t *s = psi_section(&pat, 0x00, &n);
    assert_int_equal(n, 16);
    assert_int_equal(rd_be16(s + 8), 1);
    assert_int_equal(rd_be16(s + 10) & 0x1fff, TS_PID_PMT);
    pkt_t pmt = parse_pkt(p + TS_PACKET_SIZE);
    assert_int_equal(pmt.pid, TS_PID_PMT);
    s = psi_section(&pmt, 0x02, &n);
    assert_int_equal(rd_be16(s + 3), 1);
    *pcr_pid = rd_be16(s + 8) & 0x1fff;
    *nstreams = 0;
    for (size_t off = 12; off + 4 < n; off += 5) {
        types[*nstreams] = s[off];
        pids[*nstreams] = rd_be16(s + off + 1) & 0x1fff;
        (*nstreams)++;
    }
    return (s[5] >> 1) & 31;
}

typedef struct {
    uint8_t data[16384];
    size_t n;
    int npkts;
    pkt_t first;
} pes_t;

/* The PES of one PID starting at packet `from` through the end of out;
 * checks the continuity counters from *cc (-1: take the first). */
static pes_t read_pes(const out_t *o, size_t from, unsigned pid, int *cc)
{
    pes_t e;
    memset(&e, 0, sizeof e);
    for (size_t i = from; i < o->n / TS_PACKET_SIZE; i++) {
        pkt_t k = parse_pkt(o->p + i * TS_PACKET_SIZE);
        assert_int_equal(k.pid, pid);
        assert_int_equal(k.pusi, i == from);
        if (*cc >= 0)
            assert_int_equal(k.cc, (unsigned)(*cc + 1) & 15);
        *cc = (int)k.cc;
        if (i == from)
            e.first = k;
        else
            assert_false(k.af_len > 0 && (k.rai || k.has_pcr));
        assert_true(e.n + k.plen <= sizeof e.data);
        memcpy(e.data + e.n, k.payload, k.plen);
        e.n += k.plen;
        e.npkts++;
    }
    return e;
}

/* The PES header: stream id, PTS (and DTS when given), PES_packet_length
 * (0 for video); returns the header length. */
static size_t check_pes_header(const pes_t *e, uint8_t sid, uint64_t pts, int64_t dts)
{
    const uint8_t *h = e->data;
    assert_int_equal(h[0], 0);
    assert_int_equal(h[1], 0);
    assert_int_equal(h[2], 1);
    assert_int_equal(h[3], sid);
    unsigned plen = rd_be16(h + 4);
    if (sid == 0xe0)
        assert_int_equal(plen, 0);
    else
        assert_int_equal(plen, e->n - 6);
    assert_int_equal(h[6], 0x80);
    if (dts >= 0) {
        assert_int_equal(h[7], 0xc0);
        assert_int_equal(h[8], 10);
        assert_int_equal(rd_pts(h + 9, 3), pts);
        assert_int_equal(rd_pts(h + 14, 1), (uint64_t)dts);
        return 19;
    }
    assert_int_equal(h[7], 0x80);
    assert_int_equal(h[8], 5);
    assert_int_equal(rd_pts(h + 9, 2), pts);
    return 14;
}

static ts_mux_t *new_mux(void)
{
    ts_mux_t *m = ts_mux_new();
    assert_non_null(m);
    return m;
}

/* Sequence headers for H.264 + AAC: no output. */
static void feed_avc_aac_headers(ts_mux_t *m)
{
    buf_t b = {.n = 0};
    avc_seq(&b);
    out_t o = mux(m, 9, 0, &b, 0);
    assert_int_equal(o.n, 0);
    assert_null(o.p);
    b.n = 0;
    aac_seq(&b);
    o = mux(m, 8, 0, &b, 0);
    assert_int_equal(o.n, 0);
}

/* ---- tests -------------------------------------------------------------- */

static void test_h264_key_frame(void **state)
{
    (void)state;
    ts_mux_t *m = new_mux();
    feed_avc_aac_headers(m);
    buf_t b = {.n = 0};
    video_head(&b, 1, 7, 1, 40);
    nal(&b, 0x09, 2); /* an AUD of the publisher's: replaced by ours */
    nal(&b, 0x65, 50);
    out_t o = mux(m, 9, 1000, &b, 0);
    assert_true(o.rap);
    assert_int_equal(o.n, 3 * TS_PACKET_SIZE);
    int ns;
    unsigned types[2], pids[2], pcr_pid;
    assert_int_equal(check_psi(o.p, &ns, types, pids, &pcr_pid), 0);
    assert_int_equal(ns, 2);
    assert_int_equal(types[0], TS_STREAM_TYPE_H264);
    assert_int_equal(pids[0], TS_PID_VIDEO);
    assert_int_equal(types[1], TS_STREAM_TYPE_AAC);
    assert_int_equal(pids[1], TS_PID_AUDIO);
    assert_int_equal(pcr_pid, TS_PID_VIDEO);
    int cc = -1;
    pes_t e = read_pes(&o, 2, TS_PID_VIDEO, &cc);
    assert_int_equal(cc, 0);
    assert_true(e.first.rai && e.first.has_pcr);
    assert_int_equal(e.first.pcr, 1000 * 90);
    size_t h = check_pes_header(&e, 0xe0, 1040 * 90, 1000 * 90);
    /* AUD, SPS, PPS, then the IDR slice, each after a 4-byte start code */
    buf_t want = {.n = 0};
    const uint8_t aud[] = {0, 0, 0, 1, 0x09, 0xf0}, sc[] = {0, 0, 0, 1};
    put(&want, aud, sizeof aud);
    put(&want, sc, 4);
    put(&want, SPS, sizeof SPS);
    put(&want, sc, 4);
    put(&want, PPS, sizeof PPS);
    put(&want, sc, 4);
    put(&want, b.b + 5 + 6 + 4, 50);
    assert_int_equal(e.n - h, want.n);
    assert_memory_equal(e.data + h, want.b, want.n);
    free(o.p);
    ts_mux_free(m);
}

static void test_inter_frames_cc_and_sizes(void **state)
{
    (void)state;
    ts_mux_t *m = new_mux();
    feed_avc_aac_headers(m);
    int cc = -1, pat_cc = -1;
    /* sizes around the packet boundaries: 1 packet, exactly full, 2, many */
    static const size_t sizes[] = {1, 150, 151, 152, 153, 160, 176, 177, 184, 360, 361, 5000};
    for (size_t i = 0; i < 40; i++) {
        size_t n = sizes[i % (sizeof sizes / sizeof sizes[0])];
        buf_t b = {.n = 0};
        int key = i % 10 == 0;
        video_head(&b, key, 7, 1, 0);
        nal(&b, key ? 0x65 : 0x41, n);
        uint32_t ts = 40 * (uint32_t)i;
        ts_mux_plan_t plan;
        const char *err = NULL;
        assert_int_equal(ts_mux_plan(m, 9, ts, b.b, b.n, &plan, &err), 0);
        out_t o = mux(m, 9, ts, &b, 0);
        assert_int_equal(o.n, plan.size);
        size_t from = 0;
        if (key) {
            int ns;
            unsigned types[2], pids[2], pcr_pid;
            check_psi(o.p, &ns, types, pids, &pcr_pid);
            pkt_t pat = parse_pkt(o.p);
            if (pat_cc >= 0)
                assert_int_equal(pat.cc, (unsigned)(pat_cc + 1) & 15);
            pat_cc = (int)pat.cc;
            from = 2;
        }
        pes_t e = read_pes(&o, from, TS_PID_VIDEO, &cc);
        assert_int_equal(e.first.rai, key);
        assert_true(e.first.has_pcr);
        assert_int_equal(e.first.pcr, (uint64_t)ts * 90);
        size_t h = check_pes_header(&e, 0xe0, (uint64_t)ts * 90, -1);
        size_t es = 6 + (key ? 4 + sizeof SPS + 4 + sizeof PPS : 0) + 4 + n;
        assert_int_equal(e.n - h, es); /* no byte more: stuffing is in the adaptation field */
        free(o.p);
    }
    ts_mux_free(m);
}

static void test_aac_adts(void **state)
{
    (void)state;
    ts_mux_t *m = new_mux();
    feed_avc_aac_headers(m);
    int cc = -1;
    for (int i = 0; i < 20; i++) {
        buf_t b = {.n = 0};
        size_t n = 100 + 37 * (size_t)i;
        aac_frame(&b, n);
        uint32_t ts = 23 * (uint32_t)i;
        out_t o = mux(m, 8, ts, &b, 0);
        size_t from = i == 0 ? 2 : 0; /* the first output carries PAT/PMT */
        assert_false(o.rap);          /* the stream has video: audio is no access point */
        pes_t e = read_pes(&o, from, TS_PID_AUDIO, &cc);
        assert_false(e.first.has_pcr);
        size_t h = check_pes_header(&e, 0xc0, (uint64_t)ts * 90, -1);
        const uint8_t *a = e.data + h;
        size_t flen = 7 + n;
        assert_int_equal(e.n - h, flen);
        assert_int_equal(a[0], 0xff);
        assert_int_equal(a[1], 0xf1);                         /* MPEG-4, no CRC */
        assert_int_equal(a[2] >> 6, 1);                       /* profile LC (object type 2 - 1) */
        assert_int_equal((a[2] >> 2) & 15, 4);                /* 44100 Hz */
        assert_int_equal(((a[2] & 1) << 2) | (a[3] >> 6), 2); /* channels */
        assert_int_equal(((a[3] & 3u) << 11) | ((unsigned)a[4] << 3) | (a[5] >> 5), flen);
        assert_memory_equal(a + 7, b.b + 2, n);
        free(o.p);
    }
    ts_mux_free(m);
}

static void test_audio_only_psi_and_pcr(void **state)
{
    (void)state;
    ts_mux_t *m = new_mux();
    buf_t b = {.n = 0};
    aac_seq(&b);
    assert_int_equal(mux(m, 8, 0, &b, 0).n, 0);
    int raps = 0, cc = -1;
    for (uint32_t ts = 0; ts < 3000; ts += 23) {
        b.n = 0;
        aac_frame(&b, 200);
        out_t o = mux(m, 8, ts, &b, 0);
        size_t from = 0;
        if (o.rap) {
            int ns;
            unsigned types[2], pids[2], pcr_pid;
            check_psi(o.p, &ns, types, pids, &pcr_pid);
            assert_int_equal(ns, 1);
            assert_int_equal(types[0], TS_STREAM_TYPE_AAC);
            assert_int_equal(pcr_pid, TS_PID_AUDIO);
            from = 2;
            raps++;
        }
        pes_t e = read_pes(&o, from, TS_PID_AUDIO, &cc);
        assert_true(e.first.has_pcr);
        assert_int_equal(e.first.rai, o.rap);
        assert_int_equal(e.first.pcr, (uint64_t)ts * 90);
        free(o.p);
    }
    assert_int_equal(raps, 3); /* at 0, then every TS_MUX_AUDIO_PSI_MS */
    ts_mux_free(m);
}

static void hevc_key_frame(int enhanced)
{
    ts_mux_t *m = new_mux();
    buf_t b = {.n = 0};
    if (enhanced) {
        const uint8_t h[] = {0x90, 'h', 'v', 'c', '1'};
        put(&b, h, sizeof h);
    } else {
        video_head(&b, 1, 12, 0, 0);
    }
    hvcc(&b);
    assert_int_equal(mux(m, 9, 0, &b, 0).n, 0);
    b.n = 0;
    if (enhanced) {
        const uint8_t h[] = {0x91, 'h', 'v', 'c', '1', 0, 0, 80};
        put(&b, h, sizeof h);
    } else {
        video_head(&b, 1, 12, 1, 80);
    }
    size_t at = b.n;
    nal(&b, 0x26, 300); /* IDR_W_RADL (19 << 1) */
    out_t o = mux(m, 9, 500, &b, 0);
    assert_true(o.rap);
    int ns;
    unsigned types[2], pids[2], pcr_pid;
    check_psi(o.p, &ns, types, pids, &pcr_pid);
    assert_int_equal(ns, 1);
    assert_int_equal(types[0], TS_STREAM_TYPE_H265);
    int cc = -1;
    pes_t e = read_pes(&o, 2, TS_PID_VIDEO, &cc);
    size_t h = check_pes_header(&e, 0xe0, 580 * 90, 500 * 90);
    const uint8_t aud[] = {0, 0, 0, 1, 0x46, 0x01, 0x50}, sc[] = {0, 0, 0, 1};
    const uint8_t *p = e.data + h;
    assert_memory_equal(p, aud, sizeof aud);
    p += sizeof aud;
    const uint8_t *sets[3] = {VPS5, SPS5, PPS5};
    size_t lens[3] = {sizeof VPS5, sizeof SPS5, sizeof PPS5};
    for (int i = 0; i < 3; i++) {
        assert_memory_equal(p, sc, 4);
        assert_memory_equal(p + 4, sets[i], lens[i]);
        p += 4 + lens[i];
    }
    assert_memory_equal(p, sc, 4);
    assert_memory_equal(p + 4, b.b + at + 4, 300);
    assert_int_equal((size_t)(p + 304 - e.data), e.n);
    free(o.p);
    ts_mux_free(m);
}

static void test_hevc_legacy_and_enhanced(void **state)
{
    (void)state;
    hevc_key_frame(0);
    hevc_key_frame(1);
}

static void test_timestamps_wrap(void **state)
{
    (void)state;
    ts_mux_t *m = new_mux();
    feed_avc_aac_headers(m);
    uint32_t ts = 0xffffffffu - 50;
    uint64_t base = (uint64_t)ts * 90 & 0x1ffffffffULL;
    for (int i = 0; i < 4; i++, ts += 40) {
        buf_t b = {.n = 0};
        video_head(&b, i == 0, 7, 1, 0);
        nal(&b, i == 0 ? 0x65 : 0x41, 20);
        out_t o = mux(m, 9, ts, &b, 0);
        int cc = -1;
        pes_t e = read_pes(&o, i == 0 ? 2 : 0, TS_PID_VIDEO, &cc);
        /* 40 ms steps go on past 2^32 ms (33-bit wrap included) */
        check_pes_header(&e, 0xe0, (base + 3600u * (unsigned)i) & 0x1ffffffffULL, -1);
        free(o.p);
    }
    ts_mux_free(m);
}

static void test_refusals_and_nothing(void **state)
{
    (void)state;
    ts_mux_t *m = new_mux();
    buf_t b = {.n = 0};
    /* a frame before its sequence header: nothing */
    video_head(&b, 1, 7, 1, 0);
    nal(&b, 0x65, 10);
    assert_int_equal(mux(m, 9, 0, &b, 0).n, 0);
    b.n = 0;
    aac_frame(&b, 10);
    assert_int_equal(mux(m, 8, 0, &b, 0).n, 0);
    /* other codecs: refused */
    const uint8_t vp6[] = {0x14, 0, 0, 0}, mp3[] = {0x2f, 0xff, 0xfb, 0x90},
                  av1[] = {0x91, 'a', 'v', '0', '1', 0};
    b.n = 0;
    put(&b, vp6, sizeof vp6);
    mux(m, 9, 0, &b, NODE_EINVAL);
    b.n = 0;
    put(&b, mp3, sizeof mp3);
    mux(m, 8, 0, &b, NODE_EINVAL);
    b.n = 0;
    put(&b, av1, sizeof av1);
    mux(m, 9, 0, &b, NODE_EINVAL);
    /* script data: nothing */
    b.n = 0;
    put8(&b, 2);
    assert_int_equal(mux(m, 18, 0, &b, 0).n, 0);
    /* a bad record; a NAL length past the tag */
    b.n = 0;
    video_head(&b, 1, 7, 0, 0);
    put8(&b, 1);
    mux(m, 9, 0, &b, NODE_EPROTO);
    feed_avc_aac_headers(m);
    b.n = 0;
    video_head(&b, 1, 7, 1, 0);
    put_be(&b, 100, 4);
    put8(&b, 0x65);
    mux(m, 9, 0, &b, NODE_EPROTO);
    /* AAC that ADTS cannot carry */
    b.n = 0;
    aac_frame(&b, 8190);
    mux(m, 8, 0, &b, NODE_EINVAL);
    ts_mux_free(m);
    ts_mux_free(NULL);
}

static void test_pmt_version_and_reset(void **state)
{
    (void)state;
    ts_mux_t *m = new_mux();
    buf_t b = {.n = 0};
    avc_seq(&b);
    mux(m, 9, 0, &b, 0);
    b.n = 0;
    video_head(&b, 1, 7, 1, 0);
    nal(&b, 0x65, 10);
    buf_t key = b;
    out_t o = mux(m, 9, 0, &key, 0);
    int ns;
    unsigned types[2], pids[2], pcr_pid;
    assert_int_equal(check_psi(o.p, &ns, types, pids, &pcr_pid), 0);
    assert_int_equal(ns, 1);
    free(o.p);
    /* AAC appears: the next output (an audio frame) carries PMT version 1 */
    b.n = 0;
    aac_seq(&b);
    mux(m, 8, 10, &b, 0);
    b.n = 0;
    aac_frame(&b, 10);
    o = mux(m, 8, 20, &b, 0);
    assert_false(o.rap);
    assert_int_equal(check_psi(o.p, &ns, types, pids, &pcr_pid), 1);
    assert_int_equal(ns, 2);
    free(o.p);
    o = mux(m, 8, 40, &b, 0);
    assert_int_equal(o.n, TS_PACKET_SIZE);
    free(o.p);
    /* reset: configurations forgotten; the same ones back: the same PMT */
    ts_mux_reset(m);
    assert_int_equal(mux(m, 9, 80, &key, 0).n, 0);
    feed_avc_aac_headers(m);
    o = mux(m, 9, 80, &key, 0);
    assert_int_equal(check_psi(o.p, &ns, types, pids, &pcr_pid), 1);
    free(o.p);
    /* H.265 instead: version 2 */
    ts_mux_reset(m);
    b.n = 0;
    video_head(&b, 1, 12, 0, 0);
    hvcc(&b);
    mux(m, 9, 100, &b, 0);
    b.n = 0;
    video_head(&b, 1, 12, 1, 0);
    nal(&b, 0x26, 10);
    o = mux(m, 9, 120, &b, 0);
    assert_int_equal(check_psi(o.p, &ns, types, pids, &pcr_pid), 2);
    assert_int_equal(types[0], TS_STREAM_TYPE_H265);
    free(o.p);
    ts_mux_free(m);
}

static void test_plan_then_write_bounded(void **state)
{
    (void)state;
    ts_mux_t *m = new_mux();
    feed_avc_aac_headers(m);
    buf_t b = {.n = 0};
    video_head(&b, 1, 7, 1, 0);
    nal(&b, 0x06, 30); /* SEI */
    nal(&b, 0x65, 1000);
    ts_mux_plan_t plan;
    const char *err = NULL;
    assert_int_equal(ts_mux_plan(m, 9, 0, b.b, b.n, &plan, &err), 0);
    assert_int_equal(plan.size, 8 * TS_PACKET_SIZE); /* 2 PSI + 1076 PES bytes in 176 + 5 * 184 */
    assert_true(plan.rap && plan.key);
    uint8_t *out = malloc(plan.size + 1);
    assert_non_null(out);
    out[plan.size] = 0xa5;
    ts_mux_write(m, &plan, out);
    assert_int_equal(out[plan.size], 0xa5); /* not one byte more */
    for (size_t i = 0; i < plan.size; i += TS_PACKET_SIZE)
        assert_int_equal(out[i], 0x47);
    free(out);
    ts_mux_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h264_key_frame),
        cmocka_unit_test(test_inter_frames_cc_and_sizes),
        cmocka_unit_test(test_aac_adts),
        cmocka_unit_test(test_audio_only_psi_and_pcr),
        cmocka_unit_test(test_hevc_legacy_and_enhanced),
        cmocka_unit_test(test_timestamps_wrap),
        cmocka_unit_test(test_refusals_and_nothing),
        cmocka_unit_test(test_pmt_version_and_reset),
        cmocka_unit_test(test_plan_then_write_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
