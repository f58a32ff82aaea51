/* Unit tests for node/rtmp/rtmp_ctrl.c, the node's glue of the pure RTMP layer:
 * ingest of each message kind into a hub stream, the dispatch of received
 * messages, and the senders: onto a sink (a worker's player) the same bytes
 * as onto a conn_t (the loop's), and rtmp_reply.c's notices as a client
 * reads them. The pure layer itself is tests/unit/rtmp_proto_test.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "amf0.h"
#include "conf.h"
#include "flv.h"
#include "rtmp_chunk.h"
#include "rtmp_util.h"
#include "conn.h"
#include "rtmp_ctrl.h"
#include "rtmp_reply.h"
#include "stream.h"

/* ---- ingest into a hub ---- */

static void kick(publisher_t *pub, reason_t why, const char *reason)
{
    (void)pub;
    (void)why;
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
    assert_int_equal(rtmp_ctrl_ingest(&pub, &m, 1), 1);
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
    assert_int_equal(rtmp_ctrl_ingest(&pub, &m, 2), 1);
    assert_null(m.payload);
    amf0_buf_free(&md);

    /* Aggregate: two parts pushed. */
    uint8_t agg[128];
    const uint8_t a[3] = {0xaf, 1, 2}, v[6] = {0x27, 1, 0, 0, 0, 0xbb};
    size_t n = agg_part(agg, FLV_TAG_AUDIO, 100, a, sizeof a, 1);
    n += agg_part(agg + n, FLV_TAG_VIDEO, 140, v, sizeof v, 1);
    uint64_t before = stream_retained_msgs(s);
    m = mk(RTMP_MSG_AGGREGATE, dup(agg, n), (uint32_t)n);
    assert_int_equal(rtmp_ctrl_ingest(&pub, &m, 3), 1);
    assert_null(m.payload);
    assert_int_equal(stream_retained_msgs(s), before + 2);

    /* Undecodable data and a truncated aggregate are dropped quietly. */
    before = stream_retained_msgs(s);
    const uint8_t bad[] = {0x02, 0x00, 0x20, 'a'};
    m = mk(RTMP_MSG_DATA_AMF0, dup(bad, sizeof bad), sizeof bad);
    assert_int_equal(rtmp_ctrl_ingest(&pub, &m, 4), 1);
    m = mk(RTMP_MSG_AGGREGATE, dup(agg, 12), 12);
    assert_int_equal(rtmp_ctrl_ingest(&pub, &m, 5), 1);
    assert_int_equal(stream_retained_msgs(s), before);

    /* Commands and control are not ingested. */
    uint8_t cmd[2] = {5, 5};
    m = mk(RTMP_MSG_COMMAND_AMF0, cmd, 2);
    assert_int_equal(rtmp_ctrl_ingest(&pub, &m, 6), 0);
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

/* A loop connection as far as the senders use one: its private output. */
static const conn_proto_t FAKE_PROTO = {.name = "test"};

static conn_t *fake_conn(void)
{
    conn_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->out = evbuffer_new();
    assert_non_null(c->out);
    c->proto = &FAKE_PROTO;
    c->id = 7;
    return c;
}

static void fake_conn_free(conn_t *c)
{
    evbuffer_free(c->out);
    free(c);
}

/* A sink into a growing buffer (a worker player's private bytes); refuses
 * past limit bytes with NODE_ELIMIT, as a full connection does. */
typedef struct {
    uint8_t data[16384];
    size_t len, limit;
} buf_sink_t;

static int buf_send(void *arg, const void *data, size_t len)
{
    buf_sink_t *b = arg;
    if (b->len + len > b->limit)
        return NODE_ELIMIT;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

static sink_t buf_sink(buf_sink_t *b)
{
    b->len = 0;
    b->limit = sizeof b->data;
    return (sink_t){.send = buf_send, .arg = b, .sess_id = 7, .remote = "peer"};
}

/* c's private output equals what the sink got (and is then emptied). */
static void assert_same_bytes(conn_t *c, const buf_sink_t *b)
{
    size_t n = evbuffer_get_length(c->out);
    assert_int_equal(n, b->len);
    assert_true(n > 0);
    uint8_t *got = malloc(n);
    assert_non_null(got);
    assert_int_equal(evbuffer_remove(c->out, got, n), (int)n);
    assert_memory_equal(got, b->data, n);
    free(got);
}

static void test_sink_same_bytes(void **state)
{
    (void)state;
    conn_t *c = fake_conn();
    buf_sink_t b;
    sink_t out;
    uint8_t payload[3000];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7);
    /* Under one chunk, several chunks on the stack buffer, several past it. */
    const uint32_t lens[] = {0, 5, 128, 129, 700, 3000};
    const uint32_t sizes[] = {128, 4096};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            out = buf_sink(&b);
            assert_int_equal(rtmp_ctrl_send_msg(c, sizes[k], 6, RTMP_MSG_VIDEO, 1, payload,
                                                lens[i]), 0);
            assert_int_equal(rtmp_ctrl_sink_msg(&out, sizes[k], 6, RTMP_MSG_VIDEO, 1, payload,
                                                lens[i]), 0);
            assert_int_equal(b.len, rtmp_chunk_encoded_size(6, 0, lens[i], sizes[k]));
            assert_int_equal(b.data[0], 6); /* fmt 0, csid 6 */
            assert_same_bytes(c, &b);
        }
    rtmp_proto_out_t m;
    rtmp_proto_u32(&m, RTMP_MSG_WINDOW_ACK_SIZE, 2500000);
    out = buf_sink(&b);
    assert_int_equal(rtmp_ctrl_send_ctrl(c, 128, &m), 0);
    assert_int_equal(rtmp_ctrl_sink_ctrl(&out, 128, &m), 0);
    assert_same_bytes(c, &b);
    out = buf_sink(&b);
    for (int i = 0; i < 2; i++) {
        amf0_buf_t a = meta(0, "onStatus");
        if (i)
            assert_int_equal(rtmp_ctrl_send_amf(c, 128, RTMP_CSID_CMD, RTMP_MSG_COMMAND_AMF0, 1,
                                                &a), 0);
        else
            assert_int_equal(rtmp_ctrl_sink_amf(&out, 128, RTMP_CSID_CMD, RTMP_MSG_COMMAND_AMF0,
                                                1, &a), 0);
    }
    assert_same_bytes(c, &b);
    /* A sink's refusal comes back as is; nothing is half-sent. */
    out = buf_sink(&b);
    b.limit = 10;
    assert_int_equal(rtmp_ctrl_sink_msg(&out, 128, 6, RTMP_MSG_VIDEO, 1, payload, 100),
                     NODE_ELIMIT);
    assert_int_equal(b.len, 0);
    fake_conn_free(c);
}

/* The next message the client reads from b's bytes (the parser p at the
 * client's view), its payload the caller's. */
static rtmp_msg_t read_msg(rtmp_chunk_parser_t *p, const buf_sink_t *b, size_t *off)
{
    rtmp_msg_t m;
    size_t used = 0;
    const char *err = NULL;
    assert_int_equal(rtmp_chunk_feed(p, b->data + *off, b->len - *off, &used, &m, &err),
                     PARSE_OK);
    *off += used;
    return m;
}

/* What a player reads on an unpublish and a republish, whichever loop
 * sends it: Stream EOF then UnpublishNotify, Stream Begin then
 * PublishNotify; other events send nothing. */
static void test_player_event_notices(void **state)
{
    (void)state;
    const player_event_t evs[] = {PLAYER_EV_UNPUBLISHED, PLAYER_EV_REPUBLISHED};
    const uint16_t ucs[] = {RTMP_UC_STREAM_EOF, RTMP_UC_STREAM_BEGIN};
    const char *codes[] = {"NetStream.Play.UnpublishNotify", "NetStream.Play.PublishNotify"};
    buf_sink_t b;
    for (int i = 0; i < 2; i++) {
        sink_t out = buf_sink(&b);
        assert_int_equal(rtmp_reply_player_event(&out, 128, "cam", evs[i]), 0);
        rtmp_chunk_parser_t *p = rtmp_chunk_parser_new(1 << 20, 64);
        assert_non_null(p);
        size_t off = 0;
        rtmp_msg_t uc = read_msg(p, &b, &off);
        assert_int_equal(uc.type, RTMP_MSG_USER_CONTROL);
        assert_int_equal(uc.len, 6);
        assert_int_equal((uc.payload[0] << 8) | uc.payload[1], ucs[i]);
        assert_int_equal(uc.payload[5], 1); /* the media stream */
        rtmp_msg_t st = read_msg(p, &b, &off);
        assert_int_equal(st.type, RTMP_MSG_COMMAND_AMF0);
        assert_int_equal(off, b.len);
        amf0_value_t vals[8];
        size_t n = 0;
        const char *err = NULL;
        assert_int_equal(amf0_decode_all(st.payload, st.len, vals, 8, &n, &err), 0);
        assert_string_equal(amf0_str(&vals[0]), "onStatus");
        assert_string_equal(amf0_str(amf0_get(&vals[3], "code")), codes[i]);
        assert_string_equal(amf0_str(amf0_get(&vals[3], "details")), "cam");
        amf0_values_free(vals, n);
        free(uc.payload);
        free(st.payload);
        rtmp_chunk_parser_free(p);
    }
    sink_t out = buf_sink(&b);
    assert_int_equal(rtmp_reply_player_event(&out, 128, "cam", PLAYER_EV_ENDED), 0);
    assert_int_equal(b.len, 0);
}

static void test_dispatch(void **state)
{
    (void)state;
    conn_t *conn = fake_conn();
    conf_t conf;
    publisher_t pub;
    hub_t *hub = hub_with_publisher(&conf, &pub, "d");
    rtmp_proto_ctrl_t c;
    assert_int_equal(rtmp_proto_ctrl_init(&c, 1 << 20, 64), 0);
    cmd_seen_t seen = {0};
    const char *err = NULL;

    /* An AMF0 command goes to the callback as is. */
    const uint8_t c0[] = {0x02, 0x00, 0x01, 'x'};
    rtmp_msg_t m = mk(RTMP_MSG_COMMAND_AMF0, dup(c0, sizeof c0), sizeof c0);
    assert_int_equal(rtmp_ctrl_dispatch(&c, conn, 128, &m, &pub, on_cmd, &seen, &err), 0);
    assert_null(m.payload);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.first, 0x02);
    assert_int_equal(seen.len, sizeof c0);

    /* An AMF3 command loses its leading 0 byte. */
    const uint8_t c3[] = {0x00, 0x02, 0x00, 0x01, 'x'};
    m = mk(RTMP_MSG_COMMAND_AMF3, dup(c3, sizeof c3), sizeof c3);
    assert_int_equal(rtmp_ctrl_dispatch(&c, conn, 128, &m, NULL, on_cmd, &seen, &err), 0);
    assert_int_equal(seen.calls, 2);
    assert_int_equal(seen.first, 0x02);
    assert_int_equal(seen.len, sizeof c3 - 1);

    /* Media: into pub when publishing, dropped without one. */
    const uint8_t key[] = {0x17, 1, 0, 0, 0, 0xaa};
    uint64_t before = stream_retained_msgs(pub.stream);
    m = mk(RTMP_MSG_VIDEO, dup(key, sizeof key), sizeof key);
    assert_int_equal(rtmp_ctrl_dispatch(&c, conn, 128, &m, &pub, on_cmd, &seen, &err), 0);
    assert_null(m.payload);
    assert_int_equal(stream_retained_msgs(pub.stream), before + 1);
    m = mk(RTMP_MSG_VIDEO, dup(key, sizeof key), sizeof key);
    assert_int_equal(rtmp_ctrl_dispatch(&c, conn, 128, &m, NULL, on_cmd, &seen, &err), 0);
    assert_null(m.payload);
    assert_int_equal(stream_retained_msgs(pub.stream), before + 1);

    /* Control is handled, not passed on; a bad chunk size is a protocol
     * error with nothing sent. */
    uint8_t cs[4];
    wr_be32(cs, 4096);
    m = mk(RTMP_MSG_SET_CHUNK_SIZE, dup(cs, sizeof cs), sizeof cs);
    assert_int_equal(rtmp_ctrl_dispatch(&c, conn, 128, &m, &pub, on_cmd, &seen, &err), 0);
    wr_be32(cs, 0);
    m = mk(RTMP_MSG_SET_CHUNK_SIZE, dup(cs, sizeof cs), sizeof cs);
    assert_int_equal(rtmp_ctrl_dispatch(&c, conn, 128, &m, &pub, on_cmd, &seen, &err), NODE_EPROTO);
    assert_non_null(err);
    assert_null(m.payload);
    assert_int_equal(seen.calls, 2);

    assert_int_equal(evbuffer_get_length(conn->out), 0); /* nothing asked for a reply */

    rtmp_proto_ctrl_free(&c);
    stream_unpublish(&pub, 7);
    hub_free(hub);
    fake_conn_free(conn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ingest),
        cmocka_unit_test(test_dispatch),
        cmocka_unit_test(test_sink_same_bytes),
        cmocka_unit_test(test_player_event_notices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
