/* Unit tests for node/rtmp/rtmp_ctrl.c, the node's glue of the pure RTMP layer:
 * ingest of each message kind into a hub stream and the dispatch of
 * received messages. The pure layer itself is tests/unit/rtmp_proto_test.c. */
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
#include "rtmp_util.h"
#include "rtmp_ctrl.h"
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

static void test_dispatch(void **state)
{
    (void)state;
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

    rtmp_proto_ctrl_free(&c);
    stream_unpublish(&pub, 7);
    hub_free(hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ingest),
        cmocka_unit_test(test_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
