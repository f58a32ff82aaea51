/* Unit tests of wsc (tools/common/wsc.c), the tools' WebSocket client: the
 * key and the upgrade request, the check of the server's 101 (RFC 6455's
 * own key/accept example), the server frame parser fed whole, byte by byte
 * and split at every byte, each of its errors with its close code, and the
 * masked control frames, read back with the node's own (server) parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_resp.h"
#include "ws.h"
#include "wsc.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" /* RFC 6455 1.3 */

/* ---- handshake ---------------------------------------------------------- */

static void test_key_and_request(void **state)
{
    (void)state;
    char k1[WSC_KEY_LEN + 1], k2[WSC_KEY_LEN + 1], req[512];
    assert_int_equal(wsc_key_new(k1), 0);
    assert_int_equal(wsc_key_new(k2), 0);
    assert_int_equal(strlen(k1), WSC_KEY_LEN);
    assert_true(k1[22] == '=' && k1[23] == '=');
    assert_string_not_equal(k1, k2);
    int n = wsc_request(req, sizeof req, "/live/cam.flv", "127.0.0.1:8080", k1, "t/1");
    assert_true(n > 0 && (size_t)n == strlen(req));
    assert_true(strncmp(req, "GET /live/cam.flv HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n", 50) == 0);
    assert_non_null(strstr(req, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"));
    assert_non_null(strstr(req, "\r\nSec-WebSocket-Version: 13\r\n"));
    char line[64];
    snprintf(line, sizeof line, "\r\nSec-WebSocket-Key: %s\r\n", k1);
    assert_non_null(strstr(req, line));
    assert_string_equal(req + n - 4, "\r\n\r\n");
    assert_int_equal(wsc_request(req, 40, "/live/cam.flv", "h", k1, "t"), -1);
}

/* wsc_response_check() on a response head (headers: CRLF-separated lines). */
static int check_response(const char *status_line, const char *headers, const char **err)
{
    char text[1024];
    snprintf(text, sizeof text, "%s\r\n%s\r\n", status_line, headers);
    http_resp_parser_t *hp = http_resp_parser_new(4096);
    assert_non_null(hp);
    size_t used = 0;
    const http_resp_t *resp = NULL;
    const char *perr = NULL;
    assert_int_equal(http_resp_feed(hp, (const uint8_t *)text, strlen(text), &used, &resp, &perr),
                     PARSE_OK);
    int rc = wsc_response_check(resp, KEY, err);
    http_resp_parser_free(hp);
    return rc;
}

#define UPG "Upgrade: websocket\r\nConnection: Upgrade\r\n"

static void test_response_check(void **state)
{
    (void)state;
    const char *err = NULL;
    const char *ok101 = "HTTP/1.1 101 Switching Protocols";
    assert_int_equal(check_response(ok101, UPG "Sec-WebSocket-Accept: " ACCEPT "\r\n", &err), 0);
    assert_null(err);
    assert_int_equal(check_response(ok101,
                                    "upgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
                                    "sec-websocket-accept: " ACCEPT "\r\n",
                                    &err),
                     0);
    assert_int_equal(check_response("HTTP/1.1 404 Not Found", "Content-Length: 0\r\n", &err),
                     WSC_REFUSED);
    assert_int_equal(check_response("HTTP/1.1 200 OK", "Content-Length: 0\r\n", &err), WSC_REFUSED);
    static const char *const bad[] = {
        "Connection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT "\r\n",
        "Upgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT "\r\n",
        "Upgrade: websocket\r\nConnection: close\r\nSec-WebSocket-Accept: " ACCEPT "\r\n",
        UPG,
        UPG "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOx=\r\n",
        UPG "Sec-WebSocket-Accept: " ACCEPT "x\r\n",
        UPG "Sec-WebSocket-Accept: " ACCEPT "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n",
        UPG "Sec-WebSocket-Accept: " ACCEPT "\r\nSec-WebSocket-Protocol: flv\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err = NULL;
        assert_int_equal(check_response(ok101, bad[i], &err), NODE_EPROTO);
        assert_non_null(err);
    }
}

/* ---- frames from the server --------------------------------------------- */

/* Appends an unmasked server frame (b0: FIN/RSV/opcode byte) with a payload
 * of len bytes of fill (or the bytes of payload). */
static size_t put_frame(uint8_t *out, uint8_t b0, const uint8_t *payload, size_t len, uint8_t fill)
{
    size_t h = ws_frame_header(out, b0 & 0x0f, len);
    out[0] = b0;
    for (size_t k = 0; k < len; k++)
        out[h + k] = payload ? payload[k] : (uint8_t)(fill + k);
    return h + len;
}

/* What a run saw: data bytes per message, control frames as text. */
typedef struct {
    uint8_t *data;
    size_t data_len;
    char log[512];
    size_t log_len;
    parse_rc_t rc;
    uint16_t code;
} run_t;

static void note(run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(run_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->log + r->log_len, sizeof r->log - r->log_len, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof r->log - r->log_len);
    r->log_len += (size_t)n;
}

static void on_event(run_t *r, const wsc_event_t *ev)
{
    if (ev->kind == WSC_EV_DATA) {
        assert_true(ev->opcode == WS_OP_BINARY || ev->opcode == WS_OP_TEXT);
        memcpy(r->data + r->data_len, ev->data, ev->len);
        r->data_len += ev->len;
        if (ev->end)
            note(r, "[end %u at %zu]", ev->opcode, r->data_len);
        return;
    }
    assert_true(ev->len <= WS_CONTROL_MAX);
    note(r, "[ctl %u len %zu code %u reason %zu]", ev->opcode, ev->len, ev->close_code,
         ev->reason_len);
    for (size_t k = 0; k < ev->len; k++)
        note(r, "%02x", ev->data[k]);
}

/* Feeds src in pieces of at most piece bytes (0: whole). */
static void run(const uint8_t *src, size_t len, size_t piece, uint64_t max, run_t *r)
{
    wsc_parser_t p;
    wsc_parser_init(&p, max);
    memset(r, 0, sizeof *r);
    r->data = malloc(len + 1);
    assert_non_null(r->data);
    r->rc = PARSE_NEED_MORE;
    for (size_t pos = 0; pos < len;) {
        size_t k = piece && len - pos > piece ? piece : len - pos;
        size_t off = 0;
        while (off < k) {
            size_t used = 99;
            wsc_event_t ev;
            const char *err = NULL;
            r->rc = wsc_parser_feed(&p, src + pos + off, k - off, &used, &ev, &err);
            if (r->rc < 0) {
                assert_non_null(err);
                assert_int_equal(used, 0);
                r->code = wsc_parser_close_code(&p);
                return;
            }
            assert_true(used <= k - off);
            off += used;
            if (r->rc == PARSE_OK)
                on_event(r, &ev);
            else
                assert_int_equal(off, k);
        }
        pos += k;
    }
}

/* A stream as the node sends it, and what the server may add: the FLV
 * header, a 300-byte tag (16-bit length), a ping, a message in three
 * fragments with a ping between them, a 70000-byte frame (64-bit length),
 * empty frames, a close with a reason. */
static size_t sample_stream(uint8_t *s)
{
    static const uint8_t flv[13] = {'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0};
    static const uint8_t bye[5] = {0x03, 0xe8, 'b', 'y', 'e'}; /* 1000, "bye" */
    size_t n = 0;
    n += put_frame(s + n, 0x82, flv, sizeof flv, 0);
    n += put_frame(s + n, 0x82, NULL, 300, 7);
    n += put_frame(s + n, 0x89, (const uint8_t *)"hi", 2, 0);
    n += put_frame(s + n, 0x02, NULL, 10, 1);
    n += put_frame(s + n, 0x8a, NULL, 0, 0);
    n += put_frame(s + n, 0x00, NULL, 0, 0);
    n += put_frame(s + n, 0x80, NULL, 5, 50);
    n += put_frame(s + n, 0x82, NULL, 70000, 3);
    n += put_frame(s + n, 0x82, NULL, 0, 0);
    n += put_frame(s + n, 0x81, (const uint8_t *)"txt", 3, 0);
    n += put_frame(s + n, 0x88, bye, sizeof bye, 0);
    return n;
}

static void test_frames_any_split(void **state)
{
    (void)state;
    uint8_t *s = malloc(80000);
    assert_non_null(s);
    size_t n = sample_stream(s);
    run_t whole, r;
    run(s, n, 0, 1 << 20, &whole);
    assert_int_equal(whole.rc, PARSE_OK);
    assert_int_equal(whole.data_len, 13 + 300 + 15 + 70000 + 3);
    assert_memory_equal(whole.data, "FLV\x01\x05", 5);
    assert_int_equal(whole.data[13], 7);
    assert_int_equal(whole.data[13 + 300], 1);       /* first fragment */
    assert_int_equal(whole.data[13 + 300 + 10], 50); /* last fragment */
    assert_string_equal(
        whole.log, "[end 2 at 13][end 2 at 313][ctl 9 len 2 code 0 reason 0]6869"
                   "[ctl 10 len 0 code 0 reason 0][end 2 at 328][end 2 at 70328]"
                   "[end 2 at 70328][end 1 at 70331][ctl 8 len 5 code 1000 reason 3]03e8627965");
    static const size_t pieces[] = {1, 2, 3, 7, 125, 4096};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        run(s, n, pieces[i], 1 << 20, &r);
        assert_int_equal(r.rc, PARSE_OK);
        assert_string_equal(r.log, whole.log);
        assert_int_equal(r.data_len, whole.data_len);
        assert_memory_equal(r.data, whole.data, r.data_len);
        free(r.data);
    }
    /* Split in two at every byte of the first 400 and around the big frame. */
    for (size_t cut = 1; cut < n; cut += cut < 400 || (cut > 69900 && cut < 70500) ? 1 : 997) {
        wsc_parser_t p;
        wsc_parser_init(&p, 1 << 20);
        size_t got = 0, events = 0;
        for (size_t pos = 0; pos < n;) {
            size_t end = pos < cut ? cut : n, used = 0;
            wsc_event_t ev;
            const char *err = NULL;
            parse_rc_t rc = wsc_parser_feed(&p, s + pos, end - pos, &used, &ev, &err);
            assert_true(rc == PARSE_OK || rc == PARSE_NEED_MORE);
            pos += used;
            if (rc == PARSE_OK) {
                events++;
                if (ev.kind == WSC_EV_DATA)
                    got += ev.len;
            }
        }
        assert_int_equal(got, whole.data_len);
        assert_true(events >= 11);
    }
    free(whole.data);
    free(s);
}

/* One frame's bytes fed whole: the error and its close code. */
static void expect_error(const uint8_t *s, size_t n, uint64_t max, parse_rc_t rc, uint16_t code)
{
    run_t r;
    for (size_t piece = 0; piece <= 1; piece++) {
        run(s, n, piece, max, &r);
        assert_int_equal(r.rc, rc);
        assert_int_equal(r.code, code);
        free(r.data);
    }
}

static void test_errors(void **state)
{
    (void)state;
    uint8_t s[300];
    struct {
        const char *bytes;
        size_t len;
    } proto[] = {
        {"\x82\x81\x00\x00\x00\x00\x41", 7},              /* masked server frame */
        {"\xc2\x01\x41", 3},                              /* RSV1 */
        {"\xa2\x01\x41", 3},                              /* RSV2 */
        {"\x83\x01\x41", 3},                              /* opcode 3 */
        {"\x8b\x00", 2},                                  /* opcode 0xb */
        {"\x09\x00", 2},                                  /* fragmented ping */
        {"\x89\x7e\x00\x7e", 4},                          /* ping of 126 bytes */
        {"\x80\x01\x41", 3},                              /* continuation without a message */
        {"\x02\x01\x41\x82\x01\x41", 6},                  /* new message inside one */
        {"\x82\x7e\x00\x7d", 4},                          /* 125 in 16 bits */
        {"\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff", 10}, /* 65535 in 64 bits */
        {"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10}, /* over 2^63 */
        {"\x88\x01\x03", 3},                              /* close with one byte */
        {"\x88\x02\x03\xed", 4},                          /* close 1005 */
        {"\x88\x02\x03\xe7", 4},                          /* close 999 */
    };
    for (size_t i = 0; i < sizeof proto / sizeof proto[0]; i++)
        expect_error((const uint8_t *)proto[i].bytes, proto[i].len, 1000, PARSE_ERR_PROTO,
                     WS_CLOSE_PROTOCOL);
    /* Bounds: a frame over max, and fragments that add up over it. */
    size_t n = put_frame(s, 0x82, NULL, 101, 0);
    expect_error(s, n, 100, PARSE_ERR_TOO_BIG, WS_CLOSE_TOO_BIG);
    run_t r;
    run(s, n, 0, 101, &r);
    assert_int_equal(r.rc, PARSE_OK);
    free(r.data);
    n = put_frame(s, 0x02, NULL, 60, 0);
    n += put_frame(s + n, 0x89, NULL, 0, 0);
    n += put_frame(s + n, 0x80, NULL, 41, 0);
    expect_error(s, n, 100, PARSE_ERR_TOO_BIG, WS_CLOSE_TOO_BIG);
    /* Refused at the header: a 2^40-byte frame needs no payload to fail. */
    expect_error((const uint8_t *)"\x82\x7f\x00\x00\x01\x00\x00\x00\x00\x00", 10, 1 << 20,
                 PARSE_ERR_TOO_BIG, WS_CLOSE_TOO_BIG);
}

static void test_failed_stays_failed(void **state)
{
    (void)state;
    wsc_parser_t p;
    wsc_parser_init(&p, 100);
    assert_int_equal(wsc_parser_close_code(&p), 0);
    size_t used = 5;
    wsc_event_t ev;
    const char *err = NULL;
    assert_int_equal(wsc_parser_feed(&p, (const uint8_t *)"\x82\x81", 2, &used, &ev, &err),
                     PARSE_ERR_PROTO);
    assert_int_equal(used, 0);
    err = NULL;
    assert_int_equal(wsc_parser_feed(&p, (const uint8_t *)"\x82\x00", 2, &used, &ev, &err),
                     PARSE_ERR_PROTO);
    assert_non_null(err);
    assert_int_equal(used, 0);
    assert_int_equal(wsc_parser_close_code(&p), WS_CLOSE_PROTOCOL);
}

/* ---- frames to the server ------------------------------------------------ */

/* A client frame read back with the node's server parser (masks required).
 * A control frame's payload points into that parser, so it is the
 * caller's (a parser local to this function left the payload dangling: the
 * optimised build read other bytes there). */
static ws_frame_t server_reads(ws_parser_t *p, const uint8_t *f, size_t n)
{
    ws_parser_init(p, 1000);
    ws_frame_t out;
    size_t used = 0;
    const char *err = NULL;
    assert_int_equal(ws_parser_feed(p, f, n, &used, &out, &err), PARSE_OK);
    assert_int_equal(used, n);
    return out;
}

static void test_control_frames(void **state)
{
    (void)state;
    uint8_t f[WSC_CONTROL_FRAME_MAX], g[WSC_CONTROL_FRAME_MAX], payload[WS_CONTROL_MAX];
    ws_parser_t sp; /* the server side's, which the frames' payloads point into */
    for (size_t k = 0; k < sizeof payload; k++)
        payload[k] = (uint8_t)(k * 7);
    size_t n = wsc_frame_control(f, WS_OP_PONG, payload, 3);
    assert_int_equal(n, 2 + 4 + 3);
    assert_int_equal(f[0], 0x8a);
    assert_int_equal(f[1], 0x80 | 3);
    ws_frame_t fr = server_reads(&sp, f, n);
    assert_int_equal(fr.opcode, WS_OP_PONG);
    assert_memory_equal(fr.payload, payload, 3);
    n = wsc_frame_control(f, WS_OP_PING, payload, WS_CONTROL_MAX);
    assert_int_equal(n, WSC_CONTROL_FRAME_MAX);
    assert_memory_equal(server_reads(&sp, f, n).payload, payload, WS_CONTROL_MAX);
    /* A fresh mask each frame. */
    size_t m = wsc_frame_control(g, WS_OP_PING, payload, WS_CONTROL_MAX);
    assert_int_equal(m, n);
    assert_memory_not_equal(f + 2, g + 2, 4 + WS_CONTROL_MAX);
    n = wsc_frame_close(f, WS_CLOSE_NORMAL);
    fr = server_reads(&sp, f, n);
    assert_int_equal(fr.opcode, WS_OP_CLOSE);
    assert_int_equal(fr.close_code, 1000);
    n = wsc_frame_close(f, 0);
    assert_int_equal(n, 6);
    assert_int_equal(server_reads(&sp, f, n).close_code, 0);
    assert_int_equal(wsc_frame_control(f, WS_OP_PING, payload, WS_CONTROL_MAX + 1), 0);
    assert_int_equal(wsc_frame_control(f, WS_OP_BINARY, payload, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_and_request),     cmocka_unit_test(test_response_check),
        cmocka_unit_test(test_frames_any_split),    cmocka_unit_test(test_errors),
        cmocka_unit_test(test_failed_stays_failed), cmocka_unit_test(test_control_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
