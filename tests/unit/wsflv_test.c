/* Unit tests of the WebSocket-FLV session rules (sess_wsflv.c) through a
 * sink that keeps its private bytes as conn.c and worker_player.c do: a
 * pong queued while a media frame is half written must not land inside
 * that frame when the session ends (the close sends the rest of the frame
 * first, then the pong, then the close frame). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "flv.h"
#include "http_req.h"
#include "sess_wsflv.h"
#include "stream.h"
#include "ws.h"

#define G_NOW 1000000

/* ---- a sink and a player driven by hand ---------------------------------- */

typedef struct {
    uint8_t priv[1 << 16]; /* private bytes queued, not yet "written" */
    size_t priv_len;
    uint8_t wire[1 << 20]; /* what the client got, in order */
    size_t wire_len;
} fake_out_t;

static int fo_send(void *arg, const void *data, size_t len)
{
    fake_out_t *o = arg;
    assert_true(o->priv_len + len <= sizeof o->priv);
    memcpy(o->priv + o->priv_len, data, len);
    o->priv_len += len;
    return 0;
}

static int fo_send_first(void *arg, const void *data, size_t len)
{
    fake_out_t *o = arg;
    assert_true(o->priv_len + len <= sizeof o->priv);
    memmove(o->priv + len, o->priv, o->priv_len);
    memcpy(o->priv, data, len);
    o->priv_len += len;
    return 0;
}

static void wire_put(fake_out_t *o, const void *data, size_t len)
{
    assert_true(o->wire_len + len <= sizeof o->wire);
    memcpy(o->wire + o->wire_len, data, len);
    o->wire_len += len;
}

/* Private bytes go out only between media frames (as conn_flush()). */
static void flush_private(fake_out_t *o)
{
    wire_put(o, o->priv, o->priv_len);
    o->priv_len = 0;
}

/* Writes at most max bytes of the player's messages to the wire. */
static size_t write_media(fake_out_t *o, player_t *p, size_t max)
{
    struct iovec iov[16];
    int n = stream_player_iov(p, iov, 16, max, G_NOW);
    size_t done = 0;
    for (int i = 0; i < n && done < max; i++) {
        size_t k = iov[i].iov_len < max - done ? iov[i].iov_len : max - done;
        wire_put(o, iov[i].iov_base, k);
        done += k;
    }
    stream_player_consumed(p, done);
    return done;
}

static void p_wake(player_t *p)
{
    (void)p;
}

static void p_event(player_t *p, player_event_t ev)
{
    (void)p;
    (void)ev;
}

static const player_ops_t P_OPS = {p_wake, p_event};

static void pub_kick(publisher_t *pub, reason_t why, const char *reason)
{
    (void)pub;
    (void)why;
    (void)reason;
}

static const publisher_ops_t PUB_OPS = {pub_kick};

static wsflv_t *upgraded_session(const conf_t *conf, const sink_t *out)
{
    static const char req_text[] = "GET /live/s.flv HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade\r\n"
                                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                   "Sec-WebSocket-Version: 13\r\n\r\n";
    http_req_parser_t *rp = http_req_parser_new(4096);
    const http_req_t *req = NULL;
    const char *err = NULL;
    size_t used = 0;
    assert_int_equal(
        http_req_feed(rp, (const uint8_t *)req_text, sizeof req_text - 1, &used, &req, &err),
        PARSE_OK);
    wsflv_t *ws = NULL;
    const char *why = NULL;
    assert_int_equal(wsflv_check(req, &ws, &why), 1);
    http_req_parser_free(rp);
    wsflv_respond(ws, out, conf, G_NOW);
    return ws;
}

/* A masked client ping with a 4-byte payload. */
static size_t client_ping(uint8_t *buf)
{
    static const uint8_t mask[4] = {1, 2, 3, 4};
    static const uint8_t payload[4] = {'p', 'i', 'n', 'g'};
    buf[0] = 0x80 | WS_OP_PING;
    buf[1] = 0x80 | 4;
    memcpy(buf + 2, mask, 4);
    for (int i = 0; i < 4; i++)
        buf[6 + i] = payload[i] ^ mask[i];
    return 10;
}

/* Walks the server frames on the wire after the 101's head: every frame
 * whole and in order; returns the opcodes seen (at most max). */
static int frames_on_wire(const fake_out_t *o, uint8_t *ops, int max)
{
    const uint8_t *w = o->wire;
    size_t len = o->wire_len;
    const uint8_t *body = memmem(w, len, "\r\n\r\n", 4);
    assert_non_null(body);
    size_t off = (size_t)(body + 4 - w);
    int n = 0;
    while (off < len) {
        assert_true(off + 2 <= len);
        uint8_t b0 = w[off], b1 = w[off + 1];
        assert_int_equal(b0 & 0x70, 0); /* no reserved bits: a frame starts here */
        assert_int_equal(b1 & 0x80, 0); /* a server frame is not masked */
        uint64_t plen = b1 & 0x7f;
        size_t hdr = 2;
        if (plen == 126) {
            plen = ((uint64_t)w[off + 2] << 8) | w[off + 3];
            hdr = 4;
        } else if (plen == 127) {
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = (plen << 8) | w[off + 2 + i];
            hdr = 10;
        }
        assert_true(off + hdr + plen <= len); /* whole */
        assert_true(n < max);
        ops[n++] = b0 & 0x0f;
        off += hdr + plen;
    }
    return n;
}

static void test_pong_queued_mid_frame_stays_outside_it_at_the_close(void **state)
{
    (void)state;
    conf_t conf;
    conf_defaults(&conf);
    hub_t *hub = hub_new(&conf, 4096);
    assert_non_null(hub);
    publisher_t pub = {.ops = &PUB_OPS};
    assert_int_equal(stream_publish(hub, "live", "s", &pub), 0);
    uint8_t *key = calloc(1, 3000); /* the hub's from here on */
    assert_non_null(key);
    key[0] = 0x17; /* AVC key frame */
    key[1] = 1;
    assert_int_equal(stream_push(&pub, FLV_TAG_VIDEO, 0, key, 3000, G_NOW), 0);

    static fake_out_t o;
    memset(&o, 0, sizeof o);
    player_t p = {.ops = &P_OPS, .enc = MSG_ENC_WS_FLV};
    sink_t out = {fo_send, fo_send_first, &o, NULL, 7, "test"};
    wsflv_t *ws = upgraded_session(&conf, &out);
    flush_private(&o); /* the 101 and the FLV header frame */
    assert_int_equal(stream_play(hub, "live", "s", &p, 0, G_NOW), 0);
    out.player = &p;
    /* half of the key frame's WebSocket frame goes out ... */
    assert_int_equal(write_media(&o, &p, 1000), 1000);
    assert_true(p.offset > 0);
    /* ... the client pings: the pong waits behind the frame in flight ... */
    uint8_t ping[16];
    size_t plen = client_ping(ping);
    wsflv_end_t end;
    assert_int_equal(wsflv_on_read(ws, &out, ping, plen, G_NOW, &end), 0);
    assert_int_equal(o.priv_len, 2 + 4);
    /* ... and the session ends now (a kick): rest of the frame, pong, close */
    wsflv_send_close(ws, &out, REASON_KICKED);
    stream_player_stop(&p);
    flush_private(&o);
    uint8_t ops[8];
    int n = frames_on_wire(&o, ops, 8);
    assert_int_equal(n, 4);
    assert_int_equal(ops[0], WS_OP_BINARY); /* the FLV header */
    assert_int_equal(ops[1], WS_OP_BINARY); /* the key frame, whole */
    assert_int_equal(ops[2], WS_OP_PONG);
    assert_int_equal(ops[3], WS_OP_CLOSE);
    uint8_t *close = o.wire + o.wire_len - 4;
    assert_int_equal((close[2] << 8) | close[3], 1008); /* a kick's code */
    wsflv_free(ws);
    stream_unpublish(&pub, G_NOW);
    hub_free(hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pong_queued_mid_frame_stays_outside_it_at_the_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
