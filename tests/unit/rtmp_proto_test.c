/* Unit tests for node/codec/rtmp_proto.c and node/codec/rtmp_proto_client.c, the pure
 * RTMP layer: protocol control (Set Chunk Size, Abort, window and
 * acknowledgements, ping), the data message rewrite, the aggregate
 * splitter, and the client command sequence driven through a whole publish
 * and a whole play with scripted server replies, and its refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "amf0.h"
#include "flv.h"
#include "rtmp_chunk.h"
#include "rtmp_util.h"
#include "rtmp_proto.h"
#include "rtmp_proto_client.h"

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
    rtmp_proto_ctrl_t c;
    assert_int_equal(rtmp_proto_ctrl_init(&c, 1 << 20, 8), 0);
    rtmp_proto_out_t reply;
    const char *err = NULL;
    uint8_t v[4];
    wr_be32(v, 4096);
    rtmp_msg_t m = mk(RTMP_MSG_SET_CHUNK_SIZE, v, 4);
    assert_int_equal(rtmp_proto_ctrl_handle(&c, &m, &reply, &err), 1);
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
    assert_int_equal(rtmp_proto_ctrl_handle(&c, &m, &reply, &err), -1);
    assert_non_null(err);
    m = mk(RTMP_MSG_SET_CHUNK_SIZE, v, 3);
    assert_int_equal(rtmp_proto_ctrl_handle(&c, &m, &reply, &err), -1);
    rtmp_proto_ctrl_free(&c);
    rtmp_proto_ctrl_free(&c); /* twice is harmless */
}

static void test_abort_drops_partial_message(void **state)
{
    (void)state;
    rtmp_proto_ctrl_t c;
    assert_int_equal(rtmp_proto_ctrl_init(&c, 1 << 20, 8), 0);
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
    rtmp_proto_out_t reply;
    assert_int_equal(rtmp_proto_ctrl_handle(&c, &m, &reply, &err), 1);

    uint8_t small[10] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
    n = enc(wire, sizeof wire, 4, RTMP_MSG_AUDIO, small, sizeof small, 128);
    assert_int_equal(rtmp_chunk_feed(c.parser, wire, n, &used, &out, &err), PARSE_OK);
    assert_int_equal(out.len, sizeof small);
    assert_memory_equal(out.payload, small, sizeof small);
    free(out.payload);
    rtmp_proto_ctrl_free(&c);
}

static void test_window_and_acknowledgements(void **state)
{
    (void)state;
    rtmp_proto_ctrl_t c;
    assert_int_equal(rtmp_proto_ctrl_init(&c, 1 << 20, 8), 0);
    rtmp_proto_out_t ack, reply;
    const char *err = NULL;
    /* No window yet: nothing is owed, however much was read. */
    assert_int_equal(rtmp_proto_ack_due(&c, 10000000, &ack), 0);

    uint8_t v[4];
    wr_be32(v, 1000);
    rtmp_msg_t m = mk(RTMP_MSG_WINDOW_ACK_SIZE, v, 4);
    assert_int_equal(rtmp_proto_ctrl_handle(&c, &m, &reply, &err), 1);
    assert_int_equal(reply.len, 0);
    c.acked = 0;
    assert_int_equal(rtmp_proto_ack_due(&c, 999, &ack), 0);
    assert_int_equal(rtmp_proto_ack_due(&c, 1000, &ack), 1);
    assert_int_equal(ack.type, RTMP_MSG_ACK);
    assert_int_equal(ack.len, 4);
    assert_int_equal(rd_be32(ack.payload), 1000);
    assert_int_equal(rtmp_proto_ack_due(&c, 1999, &ack), 0);
    assert_int_equal(rtmp_proto_ack_due(&c, 2500, &ack), 1);
    assert_int_equal(rd_be32(ack.payload), 2500);
    /* The sequence number wraps at 2^32. */
    assert_int_equal(rtmp_proto_ack_due(&c, (1ull << 32) + 7, &ack), 1);
    assert_int_equal(rd_be32(ack.payload), 7);
    rtmp_proto_ctrl_free(&c);
}

static void test_ping_and_other_control(void **state)
{
    (void)state;
    rtmp_proto_ctrl_t c;
    assert_int_equal(rtmp_proto_ctrl_init(&c, 1 << 20, 8), 0);
    rtmp_proto_out_t reply;
    const char *err = NULL;
    uint8_t ping[6] = {0, RTMP_UC_PING_REQUEST, 0x12, 0x34, 0x56, 0x78};
    rtmp_msg_t m = mk(RTMP_MSG_USER_CONTROL, ping, 6);
    assert_int_equal(rtmp_proto_ctrl_handle(&c, &m, &reply, &err), 1);
    assert_int_equal(reply.type, RTMP_MSG_USER_CONTROL);
    assert_int_equal(reply.len, 6);
    const uint8_t want[6] = {0, RTMP_UC_PING_RESPONSE, 0x12, 0x34, 0x56, 0x78};
    assert_memory_equal(reply.payload, want, 6);

    /* Stream Begin, a short ping, Ack, Set Peer Bandwidth: handled, no reply. */
    uint8_t begin[6] = {0, RTMP_UC_STREAM_BEGIN, 0, 0, 0, 1};
    m = mk(RTMP_MSG_USER_CONTROL, begin, 6);
    assert_int_equal(rtmp_proto_ctrl_handle(&c, &m, &reply, &err), 1);
    assert_int_equal(reply.len, 0);
    m = mk(RTMP_MSG_USER_CONTROL, ping, 5);
    assert_int_equal(rtmp_proto_ctrl_handle(&c, &m, &reply, &err), 1);
    assert_int_equal(reply.len, 0);
    uint8_t bw[5] = {0, 0, 0x10, 0, 2};
    m = mk(RTMP_MSG_SET_PEER_BW, bw, 5);
    assert_int_equal(rtmp_proto_ctrl_handle(&c, &m, &reply, &err), 1);
    m = mk(RTMP_MSG_ACK, bw, 4);
    assert_int_equal(rtmp_proto_ctrl_handle(&c, &m, &reply, &err), 1);
    assert_int_equal(reply.len, 0);

    /* Not control: left alone. */
    m = mk(RTMP_MSG_VIDEO, bw, 5);
    assert_int_equal(rtmp_proto_ctrl_handle(&c, &m, &reply, &err), 0);
    m = mk(RTMP_MSG_COMMAND_AMF0, bw, 5);
    assert_int_equal(rtmp_proto_ctrl_handle(&c, &m, &reply, &err), 0);
    rtmp_proto_ctrl_free(&c);
}

static void test_builders(void **state)
{
    (void)state;
    rtmp_proto_out_t o;
    rtmp_proto_user_control(&o, RTMP_UC_SET_BUFFER_LENGTH, 1, 3000);
    const uint8_t sbl[10] = {0, 3, 0, 0, 0, 1, 0, 0, 0x0b, 0xb8};
    assert_int_equal(o.type, RTMP_MSG_USER_CONTROL);
    assert_int_equal(o.len, 10);
    assert_memory_equal(o.payload, sbl, 10);
    rtmp_proto_user_control(&o, RTMP_UC_STREAM_EOF, 1, 99);
    assert_int_equal(o.len, 6);
    rtmp_proto_u32(&o, RTMP_MSG_SET_CHUNK_SIZE, 60000);
    assert_int_equal(o.type, RTMP_MSG_SET_CHUNK_SIZE);
    assert_int_equal(o.len, 4);
    assert_int_equal(rd_be32(o.payload), 60000);
    rtmp_proto_peer_bw(&o, 2500000, 2);
    const uint8_t bw[5] = {0x00, 0x26, 0x25, 0xa0, 2};
    assert_int_equal(o.type, RTMP_MSG_SET_PEER_BW);
    assert_int_equal(o.len, 5);
    assert_memory_equal(o.payload, bw, 5);
}

/* ---- data rewrite ---- */

static void test_data_rewrite(void **state)
{
    (void)state;
    amf0_buf_t in = meta(1, "onMetaData"), want = meta(0, "onMetaData");
    uint32_t outlen = 0;
    const char *err = "x";
    uint8_t *out = rtmp_proto_data_rewrite(in.data, (uint32_t)in.len, &outlen, &err);
    assert_non_null(out);
    assert_null(err);
    assert_int_equal(outlen, want.len);
    assert_memory_equal(out, want.data, want.len);
    free(out);

    /* Without @setDataFrame it passes through as it was. */
    out = rtmp_proto_data_rewrite(want.data, (uint32_t)want.len, &outlen, &err);
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
    assert_null(rtmp_proto_data_rewrite(sa.data, (uint32_t)sa.len, &outlen, &err));
    assert_null(err);
    amf0_buf_free(&sa);

    /* @setDataFrame alone: nothing left. */
    amf0_buf_t only;
    amf0_buf_init(&only);
    amf0_put_cstr(&only, "@setDataFrame");
    err = "x";
    assert_null(rtmp_proto_data_rewrite(only.data, (uint32_t)only.len, &outlen, &err));
    assert_null(err);
    amf0_buf_free(&only);

    /* Undecodable: dropped with a reason. */
    const uint8_t bad[] = {0x02, 0x00, 0x20, 'a'};
    assert_null(rtmp_proto_data_rewrite(bad, sizeof bad, &outlen, &err));
    assert_non_null(err);
}

/* ---- aggregate ---- */

static void test_aggregate(void **state)
{
    (void)state;
    uint8_t buf[256];
    const uint8_t a[3] = {0xaf, 1, 2}, v[5] = {0x17, 1, 0, 0, 0};
    size_t n = agg_part(buf, FLV_TAG_AUDIO, 1000, a, sizeof a, 1);
    n += agg_part(buf + n, FLV_TAG_VIDEO, 1040, v, sizeof v, 0); /* no back pointer at the end */
    rtmp_proto_agg_t it;
    uint8_t type;
    uint32_t ts, size;
    const uint8_t *body;
    rtmp_proto_agg_init(&it, buf, (uint32_t)n, 5000);
    assert_int_equal(rtmp_proto_agg_next(&it, &type, &ts, &body, &size), 1);
    assert_int_equal(type, FLV_TAG_AUDIO);
    assert_int_equal(ts, 5000);
    assert_int_equal(size, sizeof a);
    assert_memory_equal(body, a, sizeof a);
    assert_int_equal(rtmp_proto_agg_next(&it, &type, &ts, &body, &size), 1);
    assert_int_equal(type, FLV_TAG_VIDEO);
    assert_int_equal(ts, 5040);
    assert_memory_equal(body, v, sizeof v);
    assert_int_equal(rtmp_proto_agg_next(&it, &type, &ts, &body, &size), 0);

    /* A tail shorter than a tag header is ignored. */
    memset(buf + n, 0xff, 7);
    rtmp_proto_agg_init(&it, buf, (uint32_t)n + 7, 0);
    assert_int_equal(rtmp_proto_agg_next(&it, &type, &ts, &body, &size), 1);
    assert_int_equal(rtmp_proto_agg_next(&it, &type, &ts, &body, &size), 1);
    assert_int_equal(rtmp_proto_agg_next(&it, &type, &ts, &body, &size), 0);

    /* A part running past the message: -1, then nothing more. */
    rtmp_proto_agg_init(&it, buf, (uint32_t)n - 1, 0);
    assert_int_equal(rtmp_proto_agg_next(&it, &type, &ts, &body, &size), 1);
    assert_int_equal(rtmp_proto_agg_next(&it, &type, &ts, &body, &size), -1);
    assert_int_equal(rtmp_proto_agg_next(&it, &type, &ts, &body, &size), 0);

    /* Parts of other types are skipped; the first still sets the base. */
    const uint8_t cmd[2] = {5, 5};
    n = agg_part(buf, RTMP_MSG_COMMAND_AMF0, 2000, cmd, sizeof cmd, 1);
    n += agg_part(buf + n, FLV_TAG_VIDEO, 2040, v, sizeof v, 1);
    rtmp_proto_agg_init(&it, buf, (uint32_t)n, 100);
    assert_int_equal(rtmp_proto_agg_next(&it, &type, &ts, &body, &size), 1);
    assert_int_equal(type, FLV_TAG_VIDEO);
    assert_int_equal(ts, 140);
    assert_int_equal(rtmp_proto_agg_next(&it, &type, &ts, &body, &size), 0);

    /* Empty. */
    rtmp_proto_agg_init(&it, buf, 0, 0);
    assert_int_equal(rtmp_proto_agg_next(&it, &type, &ts, &body, &size), 0);
}

/* ---- the client state machine ---- */

#define MAX_OUT_MSGS 16

/* The server's view of what a client queued: its output parsed as a
 * server would (Set Chunk Size applied), the output then dropped. */
typedef struct {
    rtmp_chunk_parser_t *parser;
    rtmp_msg_t msgs[MAX_OUT_MSGS];
    size_t n;
} server_t;

static void server_clear(server_t *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->msgs[i].payload);
    sv->n = 0;
}

/* Reads all the client's output; returns how many messages it held. */
static size_t server_read(server_t *sv, rtmp_proto_client_t *cl)
{
    server_clear(sv);
    const uint8_t *p;
    size_t len, used;
    rtmp_proto_client_output(cl, &p, &len);
    size_t total = len;
    const char *err = NULL;
    for (;;) {
        rtmp_msg_t m;
        parse_rc_t rc = rtmp_chunk_feed(sv->parser, p, len, &used, &m, &err);
        p += used;
        len -= used;
        if (rc == PARSE_NEED_MORE)
            break;
        assert_int_equal(rc, PARSE_OK);
        assert_true(sv->n < MAX_OUT_MSGS);
        if (m.type == RTMP_MSG_SET_CHUNK_SIZE)
            assert_int_equal(rtmp_chunk_parser_set_chunk_size(sv->parser, rd_be32(m.payload)), 0);
        sv->msgs[sv->n++] = m;
    }
    assert_int_equal(len, 0);
    rtmp_proto_client_output_done(cl, total);
    rtmp_proto_client_output(cl, &p, &len);
    assert_int_equal(len, 0);
    return sv->n;
}

/* Asserts that message i is the AMF0 command name(txn, ...) on stream sid
 * and returns its decoded values (n of them; free with amf0_values_free). */
static size_t expect_cmd(const server_t *sv, size_t i, const char *name, double txn, uint32_t sid,
                         amf0_value_t *vals)
{
    assert_true(i < sv->n);
    const rtmp_msg_t *m = &sv->msgs[i];
    assert_int_equal(m->type, RTMP_MSG_COMMAND_AMF0);
    assert_int_equal(m->csid, RTMP_CSID_CMD);
    assert_int_equal(m->stream_id, sid);
    size_t n = 0;
    const char *err = NULL;
    assert_int_equal(amf0_decode_all(m->payload, m->len, vals, 8, &n, &err), 0);
    assert_true(n >= 2);
    assert_string_equal(amf0_str(&vals[0]), name);
    assert_true(amf0_num(&vals[1], -1) == txn);
    return n;
}

static void expect_simple(const server_t *sv, size_t i, const char *name, double txn, uint32_t sid)
{
    amf0_value_t v[8];
    amf0_values_free(v, expect_cmd(sv, i, name, txn, sid, v));
}

/* Feeds a scripted server command: name(txn, null-or-props, info). info
 * is a number (has_num), a status object (code non-NULL) or absent. */
static int feed_cmd(rtmp_proto_client_t *cl, const char *name, double txn, const char *level,
                    const char *code, const char *desc, int has_num, double num,
                    rtmp_proto_ev_t *ev)
{
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_cstr(&b, name);
    amf0_put_number(&b, txn);
    amf0_put_null(&b);
    if (has_num) {
        amf0_put_number(&b, num);
    } else if (code) {
        amf0_put_object_start(&b);
        amf0_put_key(&b, "level");
        amf0_put_cstr(&b, level);
        amf0_put_key(&b, "code");
        amf0_put_cstr(&b, code);
        amf0_put_key(&b, "description");
        amf0_put_cstr(&b, desc);
        amf0_put_object_end(&b);
    }
    assert_false(b.oom);
    rtmp_msg_t m = mk(RTMP_MSG_COMMAND_AMF0, b.data, (uint32_t)b.len);
    const char *err = NULL;
    int rc = rtmp_proto_client_feed(cl, &m, ev, &err);
    amf0_buf_free(&b);
    return rc;
}

static rtmp_proto_client_t *new_client(rtmp_proto_role_t role, uint32_t chunk_size, int caps)
{
    rtmp_proto_client_cfg_t cfg = {.app = "live",
                                   .tc_url = "rtmp://h:1935/live",
                                   .name = "cam?k=v",
                                   .flash_ver = "FMLE/3.0 (test)",
                                   .role = role,
                                   .chunk_size = chunk_size,
                                   .player_caps = caps,
                                   .play_buffer_ms = 3000,
                                   .max_msg = 1 << 20,
                                   .max_csids = 8};
    rtmp_proto_client_t *cl = rtmp_proto_client_new(&cfg);
    assert_non_null(cl);
    assert_int_equal(rtmp_proto_client_state(cl), RTMP_PROTO_CL_CONNECT);
    return cl;
}

/* connect: the command and its properties; returns its txn. */
static double expect_connect(const server_t *sv, size_t i, int caps)
{
    amf0_value_t v[8];
    size_t n = expect_cmd(sv, i, "connect", 1, 0, v);
    assert_true(n >= 3);
    assert_string_equal(amf0_str(amf0_get(&v[2], "app")), "live");
    assert_string_equal(amf0_str(amf0_get(&v[2], "tcUrl")), "rtmp://h:1935/live");
    assert_string_equal(amf0_str(amf0_get(&v[2], "flashVer")), "FMLE/3.0 (test)");
    assert_true(amf0_num(amf0_get(&v[2], "objectEncoding"), -1) == 0);
    if (caps)
        assert_true(amf0_num(amf0_get(&v[2], "videoCodecs"), 0) == 252);
    else
        assert_null(amf0_get(&v[2], "videoCodecs"));
    amf0_values_free(v, n);
    return 1;
}

/* A live publisher: a ping is answered, Acknowledgements go per the
 * window, media is the caller's, the goodbye is FCUnpublish + deleteStream. */
static void publisher_live(rtmp_proto_client_t *cl, server_t *sv)
{
    rtmp_proto_ev_t ev;
    const char *err = NULL;
    amf0_value_t v[8];
    rtmp_msg_t m;
    uint8_t ping[6] = {0, RTMP_UC_PING_REQUEST, 0, 0, 0x30, 0x39};
    m = mk(RTMP_MSG_USER_CONTROL, ping, 6);
    assert_int_equal(rtmp_proto_client_feed(cl, &m, &ev, &err), 0);
    assert_int_equal(rtmp_proto_client_ack(cl, 100), 0);
    assert_int_equal(rtmp_proto_client_ack(cl, 2500100), 0);
    assert_int_equal(server_read(sv, cl), 2);
    assert_int_equal(sv->msgs[0].type, RTMP_MSG_USER_CONTROL);
    assert_int_equal(rd_be16(sv->msgs[0].payload), RTMP_UC_PING_RESPONSE);
    assert_int_equal(rd_be32(sv->msgs[0].payload + 2), 12345);
    assert_int_equal(sv->msgs[1].type, RTMP_MSG_ACK);
    assert_int_equal(rd_be32(sv->msgs[1].payload), 2500100);

    /* Media is the caller's; the goodbye is FCUnpublish + deleteStream. */
    uint8_t vid[2] = {0x17, 0};
    m = mk(RTMP_MSG_VIDEO, vid, 2);
    assert_int_equal(rtmp_proto_client_feed(cl, &m, &ev, &err), 0);
    assert_int_equal(ev.kind, RTMP_PROTO_EV_MEDIA);
    assert_int_equal(rtmp_proto_client_goodbye(cl), 0);
    assert_int_equal(server_read(sv, cl), 2);
    expect_simple(sv, 0, "FCUnpublish", 6, 0);
    size_t n = expect_cmd(sv, 1, "deleteStream", 7, 0, v);
    assert_true(amf0_num(&v[3], -1) == 1);
    amf0_values_free(v, n);
}

static void test_client_publish(void **state)
{
    (void)state;
    server_t sv = {rtmp_chunk_parser_new(1 << 20, 8), {{0}}, 0};
    rtmp_proto_client_t *cl = new_client(RTMP_PROTO_PUBLISH, 4096, 0);
    rtmp_proto_ev_t ev;
    const char *err = NULL;
    amf0_value_t v[8];

    assert_int_equal(rtmp_proto_client_begin(cl), 0);
    assert_int_equal(server_read(&sv, cl), 2);
    assert_int_equal(sv.msgs[0].type, RTMP_MSG_SET_CHUNK_SIZE);
    assert_int_equal(rd_be32(sv.msgs[0].payload), 4096);
    assert_int_equal(rtmp_proto_client_chunk_size(cl), 4096);
    expect_connect(&sv, 1, 0);

    /* The server's control before the reply: window, bandwidth, chunk size. */
    uint8_t w[5];
    wr_be32(w, 2500000);
    w[4] = 2;
    rtmp_msg_t m = mk(RTMP_MSG_WINDOW_ACK_SIZE, w, 4);
    assert_int_equal(rtmp_proto_client_feed(cl, &m, &ev, &err), 0);
    assert_int_equal(ev.kind, RTMP_PROTO_EV_NONE);
    m = mk(RTMP_MSG_SET_PEER_BW, w, 5);
    assert_int_equal(rtmp_proto_client_feed(cl, &m, &ev, &err), 0);
    assert_int_equal(rtmp_proto_client_ctrl(cl)->peer_window, 2500000);

    /* connect's _result: releaseStream, FCPublish, createStream. */
    assert_int_equal(
        feed_cmd(cl, "_result", 1, "status", "NetConnection.Connect.Success", "ok", 0, 0, &ev), 0);
    assert_int_equal(ev.kind, RTMP_PROTO_EV_NONE);
    assert_int_equal(rtmp_proto_client_state(cl), RTMP_PROTO_CL_CREATE_STREAM);
    assert_int_equal(server_read(&sv, cl), 3);
    amf0_values_free(v, expect_cmd(&sv, 0, "releaseStream", 2, 0, v));
    expect_simple(&sv, 1, "FCPublish", 3, 0);
    expect_simple(&sv, 2, "createStream", 4, 0);

    /* Unrelated commands and replies to other transactions change nothing. */
    assert_int_equal(feed_cmd(cl, "onBWDone", 0, NULL, NULL, NULL, 0, 0, &ev), 0);
    assert_int_equal(feed_cmd(cl, "_result", 2, NULL, NULL, NULL, 0, 0, &ev), 0);
    assert_int_equal(ev.kind, RTMP_PROTO_EV_NONE);
    assert_int_equal(rtmp_proto_client_state(cl), RTMP_PROTO_CL_CREATE_STREAM);

    /* createStream's _result: READY with the id; start sends publish. */
    assert_int_equal(feed_cmd(cl, "_result", 4, NULL, NULL, NULL, 1, 1, &ev), 0);
    assert_int_equal(ev.kind, RTMP_PROTO_EV_READY);
    assert_int_equal(ev.stream_id, 1);
    assert_int_equal(rtmp_proto_client_start(cl, RTMP_PROTO_PLAY), NODE_EINVAL);
    assert_int_equal(rtmp_proto_client_start(cl, RTMP_PROTO_PUBLISH), 0);
    assert_int_equal(server_read(&sv, cl), 1);
    size_t n = expect_cmd(&sv, 0, "publish", 5, 1, v);
    assert_int_equal(n, 5);
    assert_string_equal(amf0_str(&v[3]), "cam?k=v");
    assert_string_equal(amf0_str(&v[4]), "live");
    amf0_values_free(v, n);
    assert_int_equal(rtmp_proto_client_state(cl), RTMP_PROTO_CL_START);

    assert_int_equal(
        feed_cmd(cl, "onStatus", 0, "status", "NetStream.Publish.Start", "go", 0, 0, &ev), 0);
    assert_int_equal(ev.kind, RTMP_PROTO_EV_STARTED);
    assert_true(ev.status);
    assert_string_equal(ev.code, "NetStream.Publish.Start");
    assert_string_equal(ev.desc, "go");
    assert_int_equal(rtmp_proto_client_state(cl), RTMP_PROTO_CL_LIVE);

    publisher_live(cl, &sv);
    server_clear(&sv);
    rtmp_chunk_parser_free(sv.parser);
    rtmp_proto_client_free(cl);
    rtmp_proto_client_free(NULL);
}

static void test_client_play(void **state)
{
    (void)state;
    server_t sv = {rtmp_chunk_parser_new(1 << 20, 8), {{0}}, 0};
    /* The role chosen after createStream, as the blocking client does. */
    rtmp_proto_client_t *cl = new_client(RTMP_PROTO_ROLE_NONE, 0, 1);
    rtmp_proto_ev_t ev;
    amf0_value_t v[8];
    assert_int_equal(rtmp_proto_client_start(cl, RTMP_PROTO_PLAY), NODE_EINVAL); /* too soon */
    assert_int_equal(rtmp_proto_client_begin(cl), 0);
    assert_int_equal(server_read(&sv, cl), 1); /* no Set Chunk Size */
    assert_int_equal(rtmp_proto_client_chunk_size(cl), RTMP_DEFAULT_CHUNK_SIZE);
    expect_connect(&sv, 0, 1);

    assert_int_equal(
        feed_cmd(cl, "_result", 1, "status", "NetConnection.Connect.Success", "", 0, 0, &ev), 0);
    assert_int_equal(server_read(&sv, cl), 1); /* createStream only */
    expect_simple(&sv, 0, "createStream", 2, 0);
    assert_int_equal(feed_cmd(cl, "_result", 2, NULL, NULL, NULL, 1, 7, &ev), 0);
    assert_int_equal(ev.kind, RTMP_PROTO_EV_READY);
    assert_int_equal(rtmp_proto_client_stream_id(cl), 7);

    assert_int_equal(rtmp_proto_client_start(cl, RTMP_PROTO_PLAY), 0);
    assert_int_equal(server_read(&sv, cl), 2);
    size_t n = expect_cmd(&sv, 0, "play", 3, 7, v);
    assert_string_equal(amf0_str(&v[3]), "cam?k=v");
    assert_true(amf0_num(&v[4], 0) == -2);
    amf0_values_free(v, n);
    const uint8_t sbl[10] = {0, RTMP_UC_SET_BUFFER_LENGTH, 0, 0, 0, 7, 0, 0, 0x0b, 0xb8};
    assert_int_equal(sv.msgs[1].type, RTMP_MSG_USER_CONTROL);
    assert_int_equal(sv.msgs[1].len, 10);
    assert_memory_equal(sv.msgs[1].payload, sbl, 10);

    /* Play.Reset is passed over; Play.Start starts. */
    assert_int_equal(feed_cmd(cl, "onStatus", 0, "status", "NetStream.Play.Reset", "", 0, 0, &ev),
                     0);
    assert_int_equal(ev.kind, RTMP_PROTO_EV_STATUS);
    assert_int_equal(rtmp_proto_client_state(cl), RTMP_PROTO_CL_START);
    assert_int_equal(feed_cmd(cl, "onStatus", 0, "status", "NetStream.Play.Start", "", 0, 0, &ev),
                     0);
    assert_int_equal(ev.kind, RTMP_PROTO_EV_STARTED);

    /* Once live every status is reported, refusing ones too: the caller's. */
    assert_int_equal(
        feed_cmd(cl, "onStatus", 0, "status", "NetStream.Play.UnpublishNotify", "", 0, 0, &ev), 0);
    assert_int_equal(ev.kind, RTMP_PROTO_EV_STATUS);
    assert_string_equal(ev.code, "NetStream.Play.UnpublishNotify");
    assert_int_equal(feed_cmd(cl, "onStatus", 0, "error", "NetStream.Play.Failed", "", 0, 0, &ev),
                     0);
    assert_int_equal(ev.kind, RTMP_PROTO_EV_STATUS);
    assert_int_equal(rtmp_proto_client_state(cl), RTMP_PROTO_CL_LIVE);

    /* AMF3 commands (leading 0 byte) are commands too; data is media. */
    uint8_t c3[] = {0, 0x02, 0, 8, 'o', 'n', 'B', 'W', 'D', 'o', 'n', 'e'};
    rtmp_msg_t m = mk(RTMP_MSG_COMMAND_AMF3, c3, sizeof c3);
    const char *err = NULL;
    assert_int_equal(rtmp_proto_client_feed(cl, &m, &ev, &err), 0);
    assert_int_equal(ev.kind, RTMP_PROTO_EV_NONE);
    m = mk(RTMP_MSG_AGGREGATE, c3, sizeof c3);
    assert_int_equal(rtmp_proto_client_feed(cl, &m, &ev, &err), 0);
    assert_int_equal(ev.kind, RTMP_PROTO_EV_MEDIA);

    server_clear(&sv);
    rtmp_chunk_parser_free(sv.parser);
    rtmp_proto_client_free(cl);
}

/* A client of role publish, connected and with createStream answered when
 * `ready`, else just connecting. */
static rtmp_proto_client_t *client_at(int ready)
{
    rtmp_proto_client_t *cl = new_client(RTMP_PROTO_PUBLISH, 0, 0);
    rtmp_proto_ev_t ev;
    assert_int_equal(rtmp_proto_client_begin(cl), 0);
    if (ready) {
        assert_int_equal(feed_cmd(cl, "_result", 1, NULL, NULL, NULL, 0, 0, &ev), 0);
        assert_int_equal(feed_cmd(cl, "_result", 4, NULL, NULL, NULL, 1, 1, &ev), 0);
        assert_int_equal(ev.kind, RTMP_PROTO_EV_READY);
        assert_int_equal(rtmp_proto_client_start(cl, RTMP_PROTO_PUBLISH), 0);
    }
    return cl;
}

static void expect_refused(rtmp_proto_client_t *cl, const rtmp_proto_ev_t *ev,
                           rtmp_proto_client_state_t step, const char *text)
{
    char buf[256];
    assert_int_equal(ev->kind, RTMP_PROTO_EV_REFUSED);
    assert_int_equal(ev->step, step);
    assert_string_equal(rtmp_proto_refusal(cl, ev, buf, sizeof buf), text);
    assert_int_equal(rtmp_proto_client_state(cl), RTMP_PROTO_CL_FAILED);
    /* Failed: nothing more happens. */
    rtmp_proto_ev_t later;
    assert_int_equal(feed_cmd(cl, "_result", 1, NULL, NULL, NULL, 1, 1, &later), 0);
    assert_int_equal(later.kind, RTMP_PROTO_EV_NONE);
    rtmp_proto_client_free(cl);
}

static void test_client_refusals(void **state)
{
    (void)state;
    rtmp_proto_ev_t ev;
    rtmp_proto_client_t *cl = client_at(0);
    assert_int_equal(feed_cmd(cl, "_error", 1, "error", "NetConnection.Connect.Rejected",
                              "Rejected: node is draining.", 0, 0, &ev),
                     0);
    expect_refused(cl, &ev, RTMP_PROTO_CL_CONNECT,
                   "connect rejected: NetConnection.Connect.Rejected (Rejected: node is "
                   "draining.)");

    /* A server that says it with an onStatus instead. */
    cl = client_at(0);
    assert_int_equal(
        feed_cmd(cl, "onStatus", 0, "error", "NetConnection.Connect.Rejected", "no", 0, 0, &ev), 0);
    expect_refused(cl, &ev, RTMP_PROTO_CL_CONNECT,
                   "connect rejected: NetConnection.Connect.Rejected (no)");

    /* createStream: an _error, or a _result without a usable id. */
    cl = client_at(0);
    assert_int_equal(feed_cmd(cl, "_result", 1, NULL, NULL, NULL, 0, 0, &ev), 0);
    assert_int_equal(feed_cmd(cl, "_error", 4, NULL, NULL, NULL, 0, 0, &ev), 0);
    expect_refused(cl, &ev, RTMP_PROTO_CL_CREATE_STREAM, "createStream failed: no stream id");
    cl = client_at(0);
    assert_int_equal(feed_cmd(cl, "_result", 1, NULL, NULL, NULL, 0, 0, &ev), 0);
    assert_int_equal(feed_cmd(cl, "_result", 4, NULL, NULL, NULL, 1, -1, &ev), 0);
    expect_refused(cl, &ev, RTMP_PROTO_CL_CREATE_STREAM, "createStream failed: no stream id");

    /* publish: an error status, a refusing code labelled "status", an
     * _error to the publish. */
    cl = client_at(1);
    assert_int_equal(feed_cmd(cl, "onStatus", 0, "error", "NetStream.Publish.BadName",
                              "Stream already publishing.", 0, 0, &ev),
                     0);
    expect_refused(cl, &ev, RTMP_PROTO_CL_START,
                   "publish refused: NetStream.Publish.BadName (Stream already publishing.)");
    cl = client_at(1);
    assert_int_equal(
        feed_cmd(cl, "onStatus", 0, "status", "NetStream.Publish.Denied", "d", 0, 0, &ev), 0);
    expect_refused(cl, &ev, RTMP_PROTO_CL_START, "publish refused: NetStream.Publish.Denied (d)");
    cl = client_at(1);
    assert_int_equal(feed_cmd(cl, "_error", 5, NULL, NULL, NULL, 0, 0, &ev), 0);
    expect_refused(cl, &ev, RTMP_PROTO_CL_START, "publish refused: _error ()");
}

static void test_client_protocol_errors(void **state)
{
    (void)state;
    rtmp_proto_ev_t ev;
    const char *err = NULL;
    /* An undecodable command. */
    rtmp_proto_client_t *cl = client_at(0);
    const uint8_t bad[] = {0x02, 0x00, 0x20, 'a'};
    rtmp_msg_t m = mk(RTMP_MSG_COMMAND_AMF0, bad, sizeof bad);
    assert_int_equal(rtmp_proto_client_feed(cl, &m, &ev, &err), NODE_EPROTO);
    assert_non_null(err);
    assert_int_equal(rtmp_proto_client_state(cl), RTMP_PROTO_CL_FAILED);
    rtmp_proto_client_free(cl);

    /* A chunk size out of range. */
    cl = client_at(0);
    uint8_t cs[4] = {0, 0, 0, 0};
    m = mk(RTMP_MSG_SET_CHUNK_SIZE, cs, 4);
    err = NULL;
    assert_int_equal(rtmp_proto_client_feed(cl, &m, &ev, &err), NODE_EPROTO);
    assert_non_null(err);
    rtmp_proto_client_free(cl);

    /* Pings while nobody writes: the output is bounded. */
    cl = client_at(0);
    uint8_t ping[6] = {0, RTMP_UC_PING_REQUEST, 0, 0, 0, 1};
    m = mk(RTMP_MSG_USER_CONTROL, ping, 6);
    int rc = 0;
    for (int i = 0; i < 100000 && rc == 0; i++)
        rc = rtmp_proto_client_feed(cl, &m, &ev, &err);
    assert_int_equal(rc, NODE_ELIMIT);
    const uint8_t *p;
    size_t len;
    rtmp_proto_client_output(cl, &p, &len);
    assert_true(len <= RTMP_PROTO_CLIENT_OUT_MAX);
    rtmp_proto_client_free(cl);
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
        cmocka_unit_test(test_client_publish),
        cmocka_unit_test(test_client_play),
        cmocka_unit_test(test_client_refusals),
        cmocka_unit_test(test_client_protocol_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
