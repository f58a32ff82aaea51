/* Unit tests for node/rtmp_ctrl.c: protocol control (Set Chunk Size, Abort,
 * window and acknowledgements, ping), the data message rewrite, the
 * aggregate splitter, and ingest of each message kind into a hub stream. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "amf0.h"
#include "conf.h"
#include "flv.h"
#include "rtmp_chunk.h"
#include "rtmp_ctrl.h"
#include "stream.h"

static rtmp_msg_t mk(uint8_t type, const uint8_t *p, uint32_t len)
{
    rtmp_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.payload = (uint8_t *)p;
    m.len = len;
    return m;
}

/* Encodes one message into buf (at most cap bytes); returns its size. */
static size_t enc(uint8_t *buf, size_t cap, uint32_t csid, uint8_t type, const uint8_t *p,
                  uint32_t len, uint32_t cs)
{
    size_t n = rtmp_chunk_encoded_size(csid, 0, len, cs);
    assert_true(n <= cap);
    return rtmp_chunk_encode(buf, csid, type, 1, 0, p, len, cs);
}

/* ---- protocol control ---- */

static void test_set_chunk_size(void **state)
{
    (void)state;
    rtmp_ctrl_t c;
    assert_int_equal(rtmp_ctrl_init(&c, 1 << 20, 8), 0);
    rtmp_ctrl_out_t reply;
    const char *err = NULL;
    uint8_t v[4];
    wr_be32(v, 4096);
    rtmp_msg_t m = mk(RTMP_MSG_SET_CHUNK_SIZE, v, 4);
    assert_int_equal(rtmp_ctrl_handle(&c, &m, &reply, &err), 1);
    assert_int_equal(reply.len, 0);

    /* A 3000-byte message in one 4096-byte chunk now parses whole. */
    static uint8_t payload[3000], wire[3100];
    memset(payload, 0x5a, sizeof payload);
    size_t n = enc(wire, sizeof wire, 6, RTMP_MSG_VIDEO, payload, sizeof payload, 4096);
    size_t used = 0;
    rtmp_msg_t out;
    assert_int_equal(rtmp_chunk_feed(c.parser, wire, n, &used, &out, &err), PARSE_OK);
    assert_int_equal(used, n);
    assert_int_equal(out.len, sizeof payload);
    assert_memory_equal(out.payload, payload, sizeof payload);
    free(out.payload);

    /* Out of range or short: an error with a message. */
    wr_be32(v, 0);
    m = mk(RTMP_MSG_SET_CHUNK_SIZE, v, 4);
    err = NULL;
    assert_int_equal(rtmp_ctrl_handle(&c, &m, &reply, &err), -1);
    assert_non_null(err);
    m = mk(RTMP_MSG_SET_CHUNK_SIZE, v, 3);
    assert_int_equal(rtmp_ctrl_handle(&c, &m, &reply, &err), -1);
    rtmp_ctrl_free(&c);
    rtmp_ctrl_free(&c); /* twice is harmless */
}

static void test_abort_drops_partial_message(void **state)
{
    (void)state;
    rtmp_ctrl_t c;
    assert_int_equal(rtmp_ctrl_init(&c, 1 << 20, 8), 0);
    static uint8_t big[300], wire[400];
    memset(big, 1, sizeof big);
    size_t n = enc(wire, sizeof wire, 4, RTMP_MSG_AUDIO, big, sizeof big, 128);
    size_t used = 0;
    rtmp_msg_t out;
    const char *err = NULL;
    /* Only the first chunk (12-byte header + 128 bytes). */
    assert_int_equal(rtmp_chunk_feed(c.parser, wire, 140, &used, &out, &err), PARSE_NEED_MORE);
    assert_true(n > 140);

    uint8_t v[4];
    wr_be32(v, 4);
    rtmp_msg_t m = mk(RTMP_MSG_ABORT, v, 4);
    rtmp_ctrl_out_t reply;
    assert_int_equal(rtmp_ctrl_handle(&c, &m, &reply, &err), 1);

    uint8_t small[10] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
    n = enc(wire, sizeof wire, 4, RTMP_MSG_AUDIO, small, sizeof small, 128);
    assert_int_equal(rtmp_chunk_feed(c.parser, wire, n, &used, &out, &err), PARSE_OK);
    assert_int_equal(out.len, sizeof small);
    assert_memory_equal(out.payload, small, sizeof small);
    free(out.payload);
    rtmp_ctrl_free(&c);
}

static void test_window_and_acknowledgements(void **state)
{
    (void)state;
    rtmp_ctrl_t c;
    assert_int_equal(rtmp_ctrl_init(&c, 1 << 20, 8), 0);
    rtmp_ctrl_out_t ack, reply;
    const char *err = NULL;
    /* No window yet: nothing is owed, however much was read. */
    assert_int_equal(rtmp_ctrl_ack_due(&c, 10000000, &ack), 0);

    uint8_t v[4];
    wr_be32(v, 1000);
    rtmp_msg_t m = mk(RTMP_MSG_WINDOW_ACK_SIZE, v, 4);
    assert_int_equal(rtmp_ctrl_handle(&c, &m, &reply, &err), 1);
    assert_int_equal(reply.len, 0);
    c.acked = 0;
    assert_int_equal(rtmp_ctrl_ack_due(&c, 999, &ack), 0);
    assert_int_equal(rtmp_ctrl_ack_due(&c, 1000, &ack), 1);
    assert_int_equal(ack.type, RTMP_MSG_ACK);
    assert_int_equal(ack.len, 4);
    assert_int_equal(rd_be32(ack.payload), 1000);
    assert_int_equal(rtmp_ctrl_ack_due(&c, 1999, &ack), 0);
    assert_int_equal(rtmp_ctrl_ack_due(&c, 2500, &ack), 1);
    assert_int_equal(rd_be32(ack.payload), 2500);
    /* The sequence number wraps at 2^32. */
    assert_int_equal(rtmp_ctrl_ack_due(&c, (1ull << 32) + 7, &ack), 1);
    assert_int_equal(rd_be32(ack.payload), 7);
    rtmp_ctrl_free(&c);
}

static void test_ping_and_other_control(void **state)
{
    (void)state;
    rtmp_ctrl_t c;
    assert_int_equal(rtmp_ctrl_init(&c, 1 << 20, 8), 0);
    rtmp_ctrl_out_t reply;
    const char *err = NULL;
    uint8_t ping[6] = {0, RTMP_UC_PING_REQUEST, 0x12, 0x34, 0x56, 0x78};
    rtmp_msg_t m = mk(RTMP_MSG_USER_CONTROL, ping, 6);
    assert_int_equal(rtmp_ctrl_handle(&c, &m, &reply, &err), 1);
    assert_int_equal(reply.type, RTMP_MSG_USER_CONTROL);
    assert_int_equal(reply.len, 6);
    const uint8_t want[6] = {0, RTMP_UC_PING_RESPONSE, 0x12, 0x34, 0x56, 0x78};
    assert_memory_equal(reply.payload, want, 6);

    /* Stream Begin, a short ping, Ack, Set Peer Bandwidth: handled, no reply. */
    uint8_t begin[6] = {0, RTMP_UC_STREAM_BEGIN, 0, 0, 0, 1};
    m = mk(RTMP_MSG_USER_CONTROL, begin, 6);
    assert_int_equal(rtmp_ctrl_handle(&c, &m, &reply, &err), 1);
    assert_int_equal(reply.len, 0);
    m = mk(RTMP_MSG_USER_CONTROL, ping, 5);
    assert_int_equal(rtmp_ctrl_handle(&c, &m, &reply, &err), 1);
    assert_int_equal(reply.len, 0);
    uint8_t bw[5] = {0, 0, 0x10, 0, 2};
    m = mk(RTMP_MSG_SET_PEER_BW, bw, 5);
    assert_int_equal(rtmp_ctrl_handle(&c, &m, &reply, &err), 1);
    m = mk(RTMP_MSG_ACK, bw, 4);
    assert_int_equal(rtmp_ctrl_handle(&c, &m, &reply, &err), 1);
    assert_int_equal(reply.len, 0);

    /* Not control: left alone. */
    m = mk(RTMP_MSG_VIDEO, bw, 5);
    assert_int_equal(rtmp_ctrl_handle(&c, &m, &reply, &err), 0);
    m = mk(RTMP_MSG_COMMAND_AMF0, bw, 5);
    assert_int_equal(rtmp_ctrl_handle(&c, &m, &reply, &err), 0);
    rtmp_ctrl_free(&c);
}

static void test_builders(void **state)
{
    (void)state;
    rtmp_ctrl_out_t o;
    rtmp_ctrl_user_control(&o, RTMP_UC_SET_BUFFER_LENGTH, 1, 3000);
    const uint8_t sbl[10] = {0, 3, 0, 0, 0, 1, 0, 0, 0x0b, 0xb8};
    assert_int_equal(o.type, RTMP_MSG_USER_CONTROL);
    assert_int_equal(o.len, 10);
    assert_memory_equal(o.payload, sbl, 10);
    rtmp_ctrl_user_control(&o, RTMP_UC_STREAM_EOF, 1, 99);
    assert_int_equal(o.len, 6);
    rtmp_ctrl_u32(&o, RTMP_MSG_SET_CHUNK_SIZE, 60000);
    assert_int_equal(o.type, RTMP_MSG_SET_CHUNK_SIZE);
    assert_int_equal(o.len, 4);
    assert_int_equal(rd_be32(o.payload), 60000);
}

/* ---- data rewrite ---- */

static amf0_buf_t meta(int set_data_frame, const char *first)
{
    amf0_buf_t b;
    amf0_buf_init(&b);
    if (set_data_frame)
        amf0_put_cstr(&b, "@setDataFrame");
    amf0_put_cstr(&b, first);
    amf0_put_ecma_start(&b, 1);
    amf0_put_key(&b, "width");
    amf0_put_number(&b, 640);
    amf0_put_object_end(&b);
    assert_false(b.oom);
    return b;
}

static void test_data_rewrite(void **state)
{
    (void)state;
    amf0_buf_t in = meta(1, "onMetaData"), want = meta(0, "onMetaData");
    uint32_t outlen = 0;
    const char *err = "x";
    uint8_t *out = rtmp_data_rewrite(in.data, (uint32_t)in.len, &outlen, &err);
    assert_non_null(out);
    assert_null(err);
    assert_int_equal(outlen, want.len);
    assert_memory_equal(out, want.data, want.len);
    free(out);

    /* Without @setDataFrame it passes through as it was. */
    out = rtmp_data_rewrite(want.data, (uint32_t)want.len, &outlen, &err);
    assert_non_null(out);
    assert_int_equal(outlen, want.len);
    assert_memory_equal(out, want.data, want.len);
    free(out);
    amf0_buf_free(&in);
    amf0_buf_free(&want);

    /* |RtmpSampleAccess: dropped, not an error. */
    amf0_buf_t sa;
    amf0_buf_init(&sa);
    amf0_put_cstr(&sa, "|RtmpSampleAccess");
    amf0_put_bool(&sa, 1);
    err = "x";
    assert_null(rtmp_data_rewrite(sa.data, (uint32_t)sa.len, &outlen, &err));
    assert_null(err);
    amf0_buf_free(&sa);

    /* @setDataFrame alone: nothing left. */
    amf0_buf_t only;
    amf0_buf_init(&only);
    amf0_put_cstr(&only, "@setDataFrame");
    err = "x";
    assert_null(rtmp_data_rewrite(only.data, (uint32_t)only.len, &outlen, &err));
    assert_null(err);
    amf0_buf_free(&only);

    /* Undecodable: dropped with a reason. */
    const uint8_t bad[] = {0x02, 0x00, 0x20, 'a'};
    assert_null(rtmp_data_rewrite(bad, sizeof bad, &outlen, &err));
    assert_non_null(err);
}

/* ---- aggregate ---- */

static size_t agg_part(uint8_t *p, uint8_t type, uint32_t ts, const uint8_t *body, uint32_t len,
                       int backptr)
{
    flv_write_tag_header(p, type, len, ts);
    memcpy(p + FLV_TAG_HEADER_SIZE, body, len);
    size_t n = FLV_TAG_HEADER_SIZE + len;
    if (backptr) {
        wr_be32(p + n, (uint32_t)n);
        n += FLV_PREV_SIZE;
    }
    return n;
}

static void test_aggregate(void **state)
{
    (void)state;
    uint8_t buf[256];
    const uint8_t a[3] = {0xaf, 1, 2}, v[5] = {0x17, 1, 0, 0, 0};
    size_t n = agg_part(buf, FLV_TAG_AUDIO, 1000, a, sizeof a, 1);
    n += agg_part(buf + n, FLV_TAG_VIDEO, 1040, v, sizeof v, 0); /* no back pointer at the end */
    rtmp_agg_iter_t it;
    uint8_t type;
    uint32_t ts, size;
    const uint8_t *body;
    rtmp_agg_init(&it, buf, (uint32_t)n, 5000);
    assert_int_equal(rtmp_agg_next(&it, &type, &ts, &body, &size), 1);
    assert_int_equal(type, FLV_TAG_AUDIO);
    assert_int_equal(ts, 5000);
    assert_int_equal(size, sizeof a);
    assert_memory_equal(body, a, sizeof a);
    assert_int_equal(rtmp_agg_next(&it, &type, &ts, &body, &size), 1);
    assert_int_equal(type, FLV_TAG_VIDEO);
    assert_int_equal(ts, 5040);
    assert_memory_equal(body, v, sizeof v);
    assert_int_equal(rtmp_agg_next(&it, &type, &ts, &body, &size), 0);

    /* A tail shorter than a tag header is ignored. */
    memset(buf + n, 0xff, 7);
    rtmp_agg_init(&it, buf, (uint32_t)n + 7, 0);
    assert_int_equal(rtmp_agg_next(&it, &type, &ts, &body, &size), 1);
    assert_int_equal(rtmp_agg_next(&it, &type, &ts, &body, &size), 1);
    assert_int_equal(rtmp_agg_next(&it, &type, &ts, &body, &size), 0);

    /* A part running past the message: -1, then nothing more. */
    rtmp_agg_init(&it, buf, (uint32_t)n - 1, 0);
    assert_int_equal(rtmp_agg_next(&it, &type, &ts, &body, &size), 1);
    assert_int_equal(rtmp_agg_next(&it, &type, &ts, &body, &size), -1);
    assert_int_equal(rtmp_agg_next(&it, &type, &ts, &body, &size), 0);

    /* Empty. */
    rtmp_agg_init(&it, buf, 0, 0);
    assert_int_equal(rtmp_agg_next(&it, &type, &ts, &body, &size), 0);
}

/* ---- ingest into a hub ---- */

static void kick(publisher_t *pub, const char *reason)
{
    (void)pub;
    (void)reason;
}
static const publisher_ops_t PUB_OPS = {kick};

static uint8_t *dup(const void *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    assert_non_null(d);
    memcpy(d, p, n);
    return d;
}

/* A hub on default config (conf must outlive it) with pub publishing
 * live/name. */
static hub_t *hub_with_publisher(conf_t *conf, publisher_t *pub, const char *name)
{
    conf_defaults(conf);
    hub_t *hub = hub_new(conf, 4096);
    assert_non_null(hub);
    memset(pub, 0, sizeof *pub);
    pub->ops = &PUB_OPS;
    pub->source = "test";
    assert_int_equal(stream_publish(hub, "live", name, pub), 0);
    return hub;
}

static void test_ingest(void **state)
{
    (void)state;
    conf_t conf;
    publisher_t pub;
    hub_t *hub = hub_with_publisher(&conf, &pub, "i");
    stream_t *s = pub.stream;

    const uint8_t key[] = {0x17, 1, 0, 0, 0, 0xaa};
    rtmp_msg_t m = mk(RTMP_MSG_VIDEO, dup(key, sizeof key), sizeof key);
    assert_int_equal(rtmp_ingest(&pub, &m, 1), 1);
    assert_null(m.payload);
    uint64_t msgs = stream_retained_msgs(s);
    assert_true(msgs >= 1);

    /* AMF3 data with its leading 0: rewritten and kept. */
    amf0_buf_t md = meta(1, "onMetaData");
    uint8_t *p = malloc(md.len + 1);
    assert_non_null(p);
    p[0] = 0;
    memcpy(p + 1, md.data, md.len);
    m = mk(RTMP_MSG_DATA_AMF3, p, (uint32_t)md.len + 1);
    assert_int_equal(rtmp_ingest(&pub, &m, 2), 1);
    assert_null(m.payload);
    amf0_buf_free(&md);

    /* Aggregate: two parts pushed. */
    uint8_t agg[128];
    const uint8_t a[3] = {0xaf, 1, 2}, v[6] = {0x27, 1, 0, 0, 0, 0xbb};
    size_t n = agg_part(agg, FLV_TAG_AUDIO, 100, a, sizeof a, 1);
    n += agg_part(agg + n, FLV_TAG_VIDEO, 140, v, sizeof v, 1);
    uint64_t before = stream_retained_msgs(s);
    m = mk(RTMP_MSG_AGGREGATE, dup(agg, n), (uint32_t)n);
    assert_int_equal(rtmp_ingest(&pub, &m, 3), 1);
    assert_null(m.payload);
    assert_int_equal(stream_retained_msgs(s), before + 2);

    /* Undecodable data and a truncated aggregate are dropped quietly. */
    before = stream_retained_msgs(s);
    const uint8_t bad[] = {0x02, 0x00, 0x20, 'a'};
    m = mk(RTMP_MSG_DATA_AMF0, dup(bad, sizeof bad), sizeof bad);
    assert_int_equal(rtmp_ingest(&pub, &m, 4), 1);
    m = mk(RTMP_MSG_AGGREGATE, dup(agg, 12), 12);
    assert_int_equal(rtmp_ingest(&pub, &m, 5), 1);
    assert_int_equal(stream_retained_msgs(s), before);

    /* Commands and control are not ingested. */
    uint8_t cmd[2] = {5, 5};
    m = mk(RTMP_MSG_COMMAND_AMF0, cmd, 2);
    assert_int_equal(rtmp_ingest(&pub, &m, 6), 0);
    assert_ptr_equal(m.payload, cmd);

    stream_unpublish(&pub, 7);
    hub_free(hub);
}

/* ---- dispatch ---- */

typedef struct {
    int calls;
    uint8_t first;
    uint32_t len;
} cmd_seen_t;

static void on_cmd(void *arg, const uint8_t *p, uint32_t len)
{
    cmd_seen_t *seen = arg;
    seen->calls++;
    seen->first = len ? p[0] : 0;
    seen->len = len;
}

static void test_dispatch(void **state)
{
    (void)state;
    conf_t conf;
    publisher_t pub;
    hub_t *hub = hub_with_publisher(&conf, &pub, "d");
    rtmp_ctrl_t c;
    assert_int_equal(rtmp_ctrl_init(&c, 1 << 20, 64), 0);
    cmd_seen_t seen = {0};
    const char *err = NULL;

    /* An AMF0 command goes to the callback as is. */
    const uint8_t c0[] = {0x02, 0x00, 0x01, 'x'};
    rtmp_msg_t m = mk(RTMP_MSG_COMMAND_AMF0, dup(c0, sizeof c0), sizeof c0);
    assert_int_equal(rtmp_ctrl_dispatch(&c, NULL, 128, &m, &pub, on_cmd, &seen, &err), 0);
    assert_null(m.payload);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.first, 0x02);
    assert_int_equal(seen.len, sizeof c0);

    /* An AMF3 command loses its leading 0 byte. */
    const uint8_t c3[] = {0x00, 0x02, 0x00, 0x01, 'x'};
    m = mk(RTMP_MSG_COMMAND_AMF3, dup(c3, sizeof c3), sizeof c3);
    assert_int_equal(rtmp_ctrl_dispatch(&c, NULL, 128, &m, NULL, on_cmd, &seen, &err), 0);
    assert_int_equal(seen.calls, 2);
    assert_int_equal(seen.first, 0x02);
    assert_int_equal(seen.len, sizeof c3 - 1);

    /* Media: into pub when publishing, dropped without one. */
    const uint8_t key[] = {0x17, 1, 0, 0, 0, 0xaa};
    uint64_t before = stream_retained_msgs(pub.stream);
    m = mk(RTMP_MSG_VIDEO, dup(key, sizeof key), sizeof key);
    assert_int_equal(rtmp_ctrl_dispatch(&c, NULL, 128, &m, &pub, on_cmd, &seen, &err), 0);
    assert_null(m.payload);
    assert_int_equal(stream_retained_msgs(pub.stream), before + 1);
    m = mk(RTMP_MSG_VIDEO, dup(key, sizeof key), sizeof key);
    assert_int_equal(rtmp_ctrl_dispatch(&c, NULL, 128, &m, NULL, on_cmd, &seen, &err), 0);
    assert_null(m.payload);
    assert_int_equal(stream_retained_msgs(pub.stream), before + 1);

    /* Control is handled, not passed on; a bad chunk size is a protocol
     * error with nothing sent. */
    uint8_t cs[4];
    wr_be32(cs, 4096);
    m = mk(RTMP_MSG_SET_CHUNK_SIZE, dup(cs, sizeof cs), sizeof cs);
    assert_int_equal(rtmp_ctrl_dispatch(&c, NULL, 128, &m, &pub, on_cmd, &seen, &err), 0);
    wr_be32(cs, 0);
    m = mk(RTMP_MSG_SET_CHUNK_SIZE, dup(cs, sizeof cs), sizeof cs);
    assert_int_equal(rtmp_ctrl_dispatch(&c, NULL, 128, &m, &pub, on_cmd, &seen, &err), NODE_EPROTO);
    assert_non_null(err);
    assert_null(m.payload);
    assert_int_equal(seen.calls, 2);

    rtmp_ctrl_free(&c);
    stream_unpublish(&pub, 7);
    hub_free(hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_chunk_size),
        cmocka_unit_test(test_abort_drops_partial_message),
        cmocka_unit_test(test_window_and_acknowledgements),
        cmocka_unit_test(test_ping_and_other_control),
        cmocka_unit_test(test_builders),
        cmocka_unit_test(test_data_rewrite),
        cmocka_unit_test(test_aggregate),
        cmocka_unit_test(test_ingest),
        cmocka_unit_test(test_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
