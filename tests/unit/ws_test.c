/* Unit tests of ws: the upgrade check and accept value (RFC 6455's own
 * example), the client frame parser fed whole, byte by byte and split at
 * every byte, each of its errors with its close code, and the server frame
 * builders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

/* ---- handshake --------------------------------------------------------- */

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

static void test_accept_rfc_example(void **state)
{
    (void)state;
    char acc[WS_ACCEPT_LEN + 1];
    assert_int_equal(ws_accept_value(KEY, acc), 0);
    assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); /* RFC 6455 1.3 */
}

/* The check on a request with the given headers (NULL value: left out). */
static ws_hs_t check(const char *method, const char *upgrade, const char *conn, const char *ver,
                     const char *key, char *acc)
{
    http_header_t h[8];
    size_t n = 0;
    h[n++] = (http_header_t){"Host", "example"};
    if (upgrade)
        h[n++] = (http_header_t){"Upgrade", upgrade};
    if (conn)
        h[n++] = (http_header_t){"Connection", conn};
    if (ver)
        h[n++] = (http_header_t){"Sec-WebSocket-Version", ver};
    if (key)
        h[n++] = (http_header_t){"Sec-WebSocket-Key", key};
    const char *err = NULL;
    ws_hs_t rc = ws_handshake_check(method, h, n, acc, &err);
    if (rc == WS_HS_BAD || rc == WS_HS_VERSION)
        assert_non_null(err);
    return rc;
}

static void test_handshake(void **state)
{
    (void)state;
    char acc[WS_ACCEPT_LEN + 1];
    assert_int_equal(check("GET", "websocket", "Upgrade", "13", KEY, acc), WS_HS_OK);
    assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(check("GET", "WebSocket", "keep-alive, Upgrade", "13", KEY, acc), WS_HS_OK);
    assert_int_equal(check("GET", NULL, NULL, NULL, NULL, acc), WS_HS_NONE);
    assert_int_equal(check("GET", "h2c", "Upgrade", "13", KEY, acc), WS_HS_NONE);
    assert_int_equal(check("HEAD", "websocket", "Upgrade", "13", KEY, acc), WS_HS_BAD);
    assert_int_equal(check("GET", "websocket", "keep-alive", "13", KEY, acc), WS_HS_BAD);
    assert_int_equal(check("GET", "websocket", NULL, "13", KEY, acc), WS_HS_BAD);
    assert_int_equal(check("GET", "websocket", "Upgrade", "13", NULL, acc), WS_HS_BAD);
    assert_int_equal(check("GET", "websocket", "Upgrade", "13", "dGhlIHNhbXBsZSBub25jZQ=", acc),
                     WS_HS_BAD);
    assert_int_equal(check("GET", "websocket", "Upgrade", "13", "dGhlIHNhbXBsZSBub25j*Q==", acc),
                     WS_HS_BAD);
    assert_int_equal(check("GET", "websocket", "Upgrade", "13", "", acc), WS_HS_BAD);
    assert_int_equal(check("GET", "websocket", "Upgrade", "8", KEY, acc), WS_HS_VERSION);
    assert_int_equal(check("GET", "websocket", "Upgrade", NULL, KEY, acc), WS_HS_VERSION);
}

static void test_handshake_repeated_key(void **state)
{
    (void)state;
    http_header_t h[] = {{"Upgrade", "websocket"},
                         {"Connection", "Upgrade"},
                         {"Sec-WebSocket-Version", "13"},
                         {"Sec-WebSocket-Key", KEY},
                         {"sec-websocket-key", KEY}};
    char acc[WS_ACCEPT_LEN + 1];
    const char *err = NULL;
    assert_int_equal(ws_handshake_check("GET", h, 5, acc, &err), WS_HS_BAD);
    assert_int_equal(ws_handshake_check("GET", h, 4, acc, &err), WS_HS_OK);
}

/* ---- client frames ----------------------------------------------------- */

static const uint8_t MASK[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Writes a client frame: b0 (FIN, RSV, opcode), the length in the form
 * `form` (0: shortest, 16 or 64 to force one), masked when `masked`. */
static size_t frame(uint8_t *out, uint8_t b0, const void *payload, uint64_t len, int form,
                    int masked)
{
    size_t n = 0;
    out[n++] = b0;
    uint8_t m = masked ? 0x80 : 0;
    if (form == 64 || (!form && len > 0xffff)) {
        out[n++] = m | 127;
        for (int k = 0; k < 8; k++)
            out[n++] = (uint8_t)(len >> (56 - 8 * k));
    } else if (form == 16 || (!form && len > 125)) {
        out[n++] = m | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = m | (uint8_t)len;
    }
    if (masked) {
        memcpy(out + n, MASK, 4);
        n += 4;
    }
    const uint8_t *p = payload;
    for (uint64_t i = 0; p && i < len; i++)
        out[n + i] = p[i] ^ (masked ? MASK[i & 3] : 0);
    return n + (p ? (size_t)len : 0);
}

/* What a run of the parser saw, as text, for comparing runs. */
typedef struct {
    char log[512];
    size_t len;
    parse_rc_t rc;
    const char *err;
    uint16_t code;
} run_t;

static void note(run_t *r, const ws_frame_t *f)
{
    char pl[WS_CONTROL_MAX + 1] = "";
    if (f->payload) {
        memcpy(pl, f->payload, (size_t)f->len);
        pl[f->len] = '\0';
    }
    r->len += (size_t)snprintf(r->log + r->len, sizeof r->log - r->len, "%x/%d/%llu/%u[%s] ",
                               f->opcode, f->fin, (unsigned long long)f->len, f->close_code, pl);
}

/* Feeds buf in pieces of `step` bytes (0: whole), after a first piece of
 * `first` bytes (0: none). */
static run_t run(const uint8_t *buf, size_t len, size_t first, size_t step, uint64_t max)
{
    static ws_parser_t p;
    run_t r = {.rc = PARSE_NEED_MORE};
    ws_parser_init(&p, max);
    size_t pos = 0;
    while (pos < len) {
        size_t k = pos == 0 && first ? first : (step ? step : len);
        if (k > len - pos)
            k = len - pos;
        size_t off = 0;
        while (off < k) {
            size_t used = 0;
            ws_frame_t f;
            r.rc = ws_parser_feed(&p, buf + pos + off, k - off, &used, &f, &r.err);
            if (r.rc < 0) {
                assert_int_equal(used, 0);
                r.code = ws_parser_close_code(&p);
                return r;
            }
            off += used;
            if (r.rc == PARSE_OK)
                note(&r, &f);
            else
                assert_int_equal(off, k);
        }
        pos += k;
    }
    return r;
}

/* Runs buf whole, byte by byte and split in two at every byte: the same
 * outcome each time. */
static run_t run_all_ways(const uint8_t *buf, size_t len, uint64_t max)
{
    run_t whole = run(buf, len, 0, 0, max);
    run_t bytes = run(buf, len, 0, 1, max);
    assert_string_equal(whole.log, bytes.log);
    assert_int_equal(whole.rc, bytes.rc);
    for (size_t k = 1; k < len; k++) {
        run_t split = run(buf, len, k, len, max);
        assert_string_equal(whole.log, split.log);
        assert_int_equal(whole.rc, split.rc);
        assert_int_equal(whole.code, split.code);
    }
    return whole;
}

static void test_frames(void **state)
{
    (void)state;
    static uint8_t buf[1 << 18], big[70000];
    memset(big, 'x', sizeof big);
    size_t n = 0;
    n += frame(buf + n, 0x89, "hi", 2, 0, 1);                  /* ping */
    n += frame(buf + n, 0x82, big, 300, 0, 1);                 /* binary, 16-bit length */
    n += frame(buf + n, 0x02, big, 10, 0, 1);                  /* fragmented binary ... */
    n += frame(buf + n, 0x8a, "", 0, 0, 1);                    /* ... a pong inside it ... */
    n += frame(buf + n, 0x80, big, sizeof big - 10, 0, 1);     /* ... its end, 64-bit length */
    n += frame(buf + n, 0x81, "a", 1, 0, 1);                   /* text */
    n += frame(buf + n, 0x88, "\x03\xe8" "bye", 5, 0, 1);      /* close 1000 "bye" */
    n += frame(buf + n, 0x88, "", 0, 0, 1);                    /* close without a code */
    run_t r = run(buf, n, 0, 0, 1 << 20);
    assert_int_equal(r.rc, PARSE_OK);
    assert_string_equal(r.log, "9/1/2/0[hi] 2/1/300/0[] 2/0/10/0[] a/1/0/0[] 0/1/69990/0[] "
                               "1/1/1/0[] 8/1/5/1000[\x03\xe8" "bye] 8/1/0/0[] ");
    run_t b = run(buf, n, 0, 1, 1 << 20);
    assert_string_equal(r.log, b.log);
    run_t s = run(buf, n, 0, 7, 1 << 20);
    assert_string_equal(r.log, s.log);
}

static void test_frames_split_everywhere(void **state)
{
    (void)state;
    uint8_t buf[1024], zero[200] = {0};
    size_t n = 0;
    n += frame(buf + n, 0x89, "ping", 4, 0, 1);
    n += frame(buf + n, 0x82, zero, 200, 0, 1);
    n += frame(buf + n, 0x88, "\x0b\xb8", 2, 0, 1); /* close 3000 */
    run_t r = run_all_ways(buf, n, 1024);
    assert_int_equal(r.rc, PARSE_OK);
    assert_string_equal(r.log, "9/1/4/0[ping] 2/1/200/0[] 8/1/2/3000[\x0b\xb8] ");
}

/* Each malformed frame (after a good ping), with its close code. */
static void expect_error_log(const uint8_t *bad, size_t blen, parse_rc_t rc, uint16_t code,
                             uint64_t max, const char *log)
{
    uint8_t buf[4096];
    size_t n = frame(buf, 0x89, "ok", 2, 0, 1);
    assert_true(n + blen <= sizeof buf);
    memcpy(buf + n, bad, blen);
    run_t r = run_all_ways(buf, n + blen, max);
    assert_int_equal(r.rc, rc);
    assert_int_equal(r.code, code);
    assert_non_null(r.err);
    assert_string_equal(r.log, log);
}

static void expect_error(const uint8_t *bad, size_t blen, parse_rc_t rc, uint16_t code,
                         uint64_t max)
{
    expect_error_log(bad, blen, rc, code, max, "9/1/2/0[ok] ");
}

static void bad_frame(uint8_t b0, const void *pl, uint64_t len, int form, int masked,
                      uint16_t code)
{
    uint8_t buf[2048];
    size_t n = frame(buf, b0, pl, len, form, masked);
    expect_error(buf, n, code == 1009 ? PARSE_ERR_TOO_BIG : PARSE_ERR_PROTO, code, 1000);
}

static void test_errors(void **state)
{
    (void)state;
    uint8_t z[1100] = {0};
    bad_frame(0xc2, z, 4, 0, 1, 1002);                  /* RSV1 */
    bad_frame(0xa2, z, 4, 0, 1, 1002);                  /* RSV2 */
    bad_frame(0x92, z, 4, 0, 1, 1002);                  /* RSV3 */
    bad_frame(0x83, z, 4, 0, 1, 1002);                  /* opcode 3 */
    bad_frame(0x8b, z, 4, 0, 1, 1002);                  /* opcode 0xb */
    bad_frame(0x82, z, 4, 0, 0, 1002);                  /* unmasked */
    bad_frame(0x09, z, 4, 0, 1, 1002);                  /* fragmented ping */
    bad_frame(0x89, z, 126, 0, 1, 1002);                /* ping over 125 */
    bad_frame(0x80, z, 4, 0, 1, 1002);                  /* continuation, no message */
    bad_frame(0x82, z, 100, 16, 1, 1002);               /* 16-bit form for 100 */
    bad_frame(0x82, z, 1000, 64, 1, 1002);              /* 64-bit form for 1000 */
    bad_frame(0x82, z, 1001, 0, 1, 1009);               /* over max_data */
    bad_frame(0x88, "\x03", 1, 0, 1, 1002);             /* close, one byte */
    bad_frame(0x88, "\x03\xed", 2, 0, 1, 1002);         /* close 1005 */
    bad_frame(0x88, "\x03\xe7", 2, 0, 1, 1002);         /* close 999 */
    bad_frame(0x88, "\x0b\xb7", 2, 0, 1, 1002);         /* close 2999 */
    bad_frame(0x88, "\x13\x88", 2, 0, 1, 1002);         /* close 5000 */
    uint8_t huge[10] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0}; /* length bit 63 */
    expect_error(huge, sizeof huge, PARSE_ERR_PROTO, 1002, 1000);
}

static void test_fragment_errors(void **state)
{
    (void)state;
    uint8_t buf[4096], z[700] = {0};
    size_t n = frame(buf, 0x02, z, 10, 0, 1);
    n += frame(buf + n, 0x81, z, 1, 0, 1); /* a new message inside the fragmented one */
    expect_error_log(buf, n, PARSE_ERR_PROTO, 1002, 1000, "9/1/2/0[ok] 2/0/10/0[] ");
    n = frame(buf, 0x02, z, 600, 0, 1);
    n += frame(buf + n, 0x80, z, 600, 0, 1); /* 1200 bytes in all: over 1000 */
    expect_error_log(buf, n, PARSE_ERR_TOO_BIG, 1009, 1000, "9/1/2/0[ok] 2/0/600/0[] ");
}

static void test_failed_stays_failed(void **state)
{
    (void)state;
    ws_parser_t p;
    ws_parser_init(&p, 100);
    uint8_t bad[6] = {0x83, 0x80, 1, 2, 3, 4};
    size_t used = 9;
    ws_frame_t f;
    const char *err = NULL;
    assert_int_equal(ws_parser_feed(&p, bad, sizeof bad, &used, &f, &err), PARSE_ERR_PROTO);
    uint8_t ping[6];
    size_t n = frame(ping, 0x89, "", 0, 0, 1);
    err = NULL;
    assert_int_equal(ws_parser_feed(&p, ping, n, &used, &f, &err), PARSE_ERR_PROTO);
    assert_int_equal(used, 0);
    assert_non_null(err);
    assert_int_equal(ws_parser_close_code(&p), 1002);
}

static void test_close_codes(void **state)
{
    (void)state;
    assert_true(ws_close_code_valid(1000));
    assert_true(ws_close_code_valid(1003));
    assert_true(ws_close_code_valid(1007));
    assert_true(ws_close_code_valid(1011));
    assert_true(ws_close_code_valid(3000));
    assert_true(ws_close_code_valid(4999));
    assert_false(ws_close_code_valid(0));
    assert_false(ws_close_code_valid(1004));
    assert_false(ws_close_code_valid(1006));
    assert_false(ws_close_code_valid(1015));
    assert_false(ws_close_code_valid(2000));
}

/* ---- server frames ----------------------------------------------------- */

static void test_builders(void **state)
{
    (void)state;
    uint8_t h[WS_HDR_MAX];
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 125), 2);
    assert_memory_equal(h, "\x82\x7d", 2);
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 126), 4);
    assert_memory_equal(h, "\x82\x7e\x00\x7e", 4);
    assert_int_equal(ws_frame_header(h, WS_OP_PONG, 65535), 4);
    assert_memory_equal(h, "\x8a\x7e\xff\xff", 4);
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 65536), 10);
    assert_memory_equal(h, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    assert_int_equal(ws_frame_header(h, WS_OP_PING, 0), 2);
    assert_memory_equal(h, "\x89\x00", 2);
    uint8_t c[4];
    assert_int_equal(ws_frame_close(c, WS_CLOSE_PROTOCOL), 4);
    assert_memory_equal(c, "\x88\x02\x03\xea", 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_rfc_example),
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_handshake_repeated_key),
        cmocka_unit_test(test_frames),
        cmocka_unit_test(test_frames_split_everywhere),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_fragment_errors),
        cmocka_unit_test(test_failed_stays_failed),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_builders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
