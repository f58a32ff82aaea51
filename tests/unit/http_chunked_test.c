/* Unit tests for http_chunked: bodies decoded whole, split at every byte
 * and byte by byte; extensions and trailers; bad size lines, missing CRLF;
 * the bounds on the size line, the trailer and the chunk size. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "http_chunked.h"

/* The outcome of decoding an encoded body fed in pieces. */
typedef struct {
    int rc;          /* last return: 0 need more, 1 done, NODE_EPROTO */
    const char *err; /* with NODE_EPROTO */
    uint8_t *data;   /* decoded bytes (malloc'd) */
    size_t len;
} outcome_t;

/* Feeds enc as a first piece of `first` bytes, then pieces of `step`
 * bytes, each an exact-size copy (so ASan sees any overread), until done
 * or an error. */
static outcome_t decode_pieces(const uint8_t *enc, size_t len, size_t first, size_t step)
{
    outcome_t o = {0, NULL, malloc(len + 1), 0};
    assert_non_null(o.data);
    http_chunked_t d;
    http_chunked_init(&d);
    size_t pos = 0;
    while (pos < len && o.rc == 0) {
        size_t n = pos == 0 ? first : step;
        if (n > len - pos)
            n = len - pos;
        uint8_t *piece = malloc(n);
        assert_non_null(piece);
        memcpy(piece, enc + pos, n);
        size_t out = (size_t)-1;
        const char *err = NULL;
        o.rc = http_chunked_decode(&d, piece, n, &out, &err);
        if (o.rc < 0) {
            assert_int_equal(o.rc, NODE_EPROTO);
            assert_non_null(err);
            o.err = err;
        } else {
            assert_true(out <= n);
            memcpy(o.data + o.len, piece, out);
            o.len += out;
        }
        free(piece);
        pos += n;
    }
    return o;
}

static outcome_t decode_whole(const char *enc, size_t len)
{
    return decode_pieces((const uint8_t *)enc, len, len ? len : 1, len ? len : 1);
}

/* Requires the same outcome whole, split in two at every byte and byte by
 * byte; returns the whole one (caller frees data). */
static outcome_t decode_all_ways(const char *enc, size_t len)
{
    outcome_t whole = decode_whole(enc, len);
    for (size_t k = 1; k <= len; k++) {
        outcome_t o = decode_pieces((const uint8_t *)enc, len, k, len);
        assert_int_equal(o.rc, whole.rc);
        if (whole.rc >= 0) {
            assert_int_equal(o.len, whole.len);
            assert_memory_equal(o.data, whole.data, whole.len);
        } else {
            assert_string_equal(o.err, whole.err);
        }
        free(o.data);
    }
    outcome_t o = decode_pieces((const uint8_t *)enc, len, 1, 1);
    assert_int_equal(o.rc, whole.rc);
    if (whole.rc >= 0) {
        assert_int_equal(o.len, whole.len);
        assert_memory_equal(o.data, whole.data, whole.len);
    } else {
        assert_string_equal(o.err, whole.err);
    }
    free(o.data);
    return whole;
}

static void expect_body(const char *enc, int rc, const char *body)
{
    outcome_t o = decode_all_ways(enc, strlen(enc));
    if (o.rc != rc || o.len != strlen(body) || memcmp(o.data, body, o.len) != 0)
        fail_msg("%s: rc %d body [%.*s], want rc %d body [%s]", enc, o.rc, (int)o.len,
                 (const char *)o.data, rc, body);
    free(o.data);
}

static void expect_error(const char *enc, size_t len, const char *err)
{
    outcome_t o = decode_all_ways(enc, len);
    if (o.rc != NODE_EPROTO || strcmp(o.err, err) != 0)
        fail_msg("%s: rc %d err %s, want %s", enc, o.rc, o.err ? o.err : "(none)", err);
    free(o.data);
}

static void expect_bad(const char *enc, const char *err)
{
    expect_error(enc, strlen(enc), err);
}

static void test_basic(void **state)
{
    (void)state;
    expect_body("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 1, "hello world");
    /* Hex sizes in either case, leading zeros. */
    expect_body("A\r\n0123456789\r\n00000a\r\nabcdefghij\r\n0\r\n\r\n", 1, "0123456789abcdefghij");
    expect_body("1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n", 1, "abcdefghijklmnopqrstuvwxyz");
    expect_body("1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n", 1, "abcdefghijklmnopqrstuvwxyz");
    /* The empty body. */
    expect_body("0\r\n\r\n", 1, "");
    /* Incomplete: need more, with what arrived so far. */
    expect_body("5\r\nhel", 0, "hel");
    expect_body("5\r\nhello\r\n", 0, "hello");
    expect_body("5\r\nhello\r\n0\r\n", 0, "hello");
    /* Binary data, CR and LF inside chunks included. */
    static const char bin[] = "4\r\n\r\n\0\n\r\n0\r\n\r\n";
    outcome_t o = decode_all_ways(bin, sizeof bin - 1);
    assert_int_equal(o.rc, 1);
    assert_int_equal(o.len, 4);
    assert_memory_equal(o.data, "\r\n\0\n", 4);
    free(o.data);
}

static void test_bare_lf(void **state)
{
    (void)state;
    expect_body("5\nhello\n0\n\n", 1, "hello");
    expect_body("5\r\nhello\n0\r\n\n", 1, "hello");
}

static void test_after_the_end(void **state)
{
    (void)state;
    /* Bytes after the last chunk and trailer are ignored. */
    expect_body("3\r\nabc\r\n0\r\n\r\nGARBAGE\r\n", 1, "abc");
    /* Once done, it stays done and yields nothing. */
    http_chunked_t d;
    http_chunked_init(&d);
    uint8_t buf[] = "0\r\n\r\n";
    size_t out = 7;
    const char *err = NULL;
    assert_int_equal(http_chunked_decode(&d, buf, 5, &out, &err), 1);
    assert_int_equal(out, 0);
    uint8_t more[] = "5\r\nhello\r\n";
    out = 7;
    assert_int_equal(http_chunked_decode(&d, more, sizeof more - 1, &out, &err), 1);
    assert_int_equal(out, 0);
    /* An empty feed is fine in any state. */
    http_chunked_init(&d);
    out = 7;
    assert_int_equal(http_chunked_decode(&d, buf, 0, &out, &err), 0);
    assert_int_equal(out, 0);
}

static void test_extensions(void **state)
{
    (void)state;
    expect_body("5;name=value\r\nhello\r\n0;last\r\n\r\n", 1, "hello");
    expect_body("5 ;x=\"a;b\"\r\nhello\r\n0\r\n\r\n", 1, "hello");
    expect_body("5\t\r\nhello\r\n0\r\n\r\n", 1, "hello");
    expect_body("5;x\nhello\r\n0\r\n\r\n", 1, "hello");
}

static void test_trailers(void **state)
{
    (void)state;
    expect_body("5\r\nhello\r\n0\r\nX-Checksum: 1234\r\nX-Other: a\r\n\r\n", 1, "hello");
    expect_body("5\r\nhello\r\n0\r\nX: y\n\n", 1, "hello");
    /* CRs are not counted as line content: a line of CRs ends the trailer. */
    expect_body("0\r\n\r\r\n", 1, "");
}

static void test_bad_size_lines(void **state)
{
    (void)state;
    expect_bad("\r\n", "bad chunk size line");
    expect_bad("x\r\n", "bad chunk size line");
    expect_bad(";ext\r\n", "bad chunk size line");
    expect_bad(" 5\r\nhello\r\n0\r\n\r\n", "bad chunk size line");
    expect_bad("-5\r\n", "bad chunk size line");
    expect_bad("0x5\r\n", "bad chunk size line");
    expect_bad("5g\r\nhello", "bad chunk size line");
    expect_bad("5\rhello", "chunk size line not ended by CRLF");
    expect_bad("5;x\rhello", "chunk size line not ended by CRLF");
    /* After a chunk: its CRLF, then the next size line. */
    expect_bad("5\r\nhelloX\r\n", "chunk data not followed by CRLF");
    expect_bad("5\r\nhello\rX", "chunk data not followed by CRLF");
    expect_bad("5\r\nhello\r\n\r\n", "bad chunk size line");
    /* A NUL in the size line. */
    static const char nul[] = "5\0\r\nhello";
    expect_error(nul, sizeof nul - 1, "bad chunk size line");
}

static void test_size_bound(void **state)
{
    (void)state;
    /* 15 hex digits (below 2^60) are accepted, 16 are not, leading zeros
     * included. */
    outcome_t o = decode_all_ways("fffffffffffffff\r\nabc", 20);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.len, 3);
    free(o.data);
    expect_bad("1000000000000000\r\n", "chunk size too big");
    expect_bad("0000000000000001\r\n", "chunk size too big");
    expect_bad("ffffffffffffffffffff\r\n", "chunk size too big");
    /* The digit count restarts with every chunk. */
    expect_body("000000000000001\r\na\r\n000000000000001\r\nb\r\n0\r\n\r\n", 1, "ab");
}

static void test_line_bound(void **state)
{
    (void)state;
    /* The size line with its extensions is at most HTTP_CHUNKED_MAX_LINE
     * bytes, its CR included. */
    char enc[HTTP_CHUNKED_MAX_LINE + 64];
    size_t n = 0;
    enc[n++] = '5';
    enc[n++] = ';';
    while (n < HTTP_CHUNKED_MAX_LINE - 1)
        enc[n++] = 'x';
    memcpy(enc + n, "\r\nhello\r\n0\r\n\r\n", 14);
    outcome_t o = decode_all_ways(enc, n + 14);
    assert_int_equal(o.rc, 1);
    assert_int_equal(o.len, 5);
    assert_memory_equal(o.data, "hello", 5);
    free(o.data);

    n = 0;
    enc[n++] = '5';
    enc[n++] = ';';
    while (n < HTTP_CHUNKED_MAX_LINE)
        enc[n++] = 'x';
    memcpy(enc + n, "\r\nhello\r\n0\r\n\r\n", 14);
    expect_error(enc, n + 14, "chunk size line too long");
}

static void test_trailer_bound(void **state)
{
    (void)state;
    /* The whole trailer section, line ends included, is at most
     * HTTP_CHUNKED_MAX_TRAILER bytes. */
    size_t cap = HTTP_CHUNKED_MAX_TRAILER + 64;
    char *enc = malloc(cap);
    assert_non_null(enc);
    size_t n = (size_t)snprintf(enc, cap, "0\r\n");
    size_t start = n;
    /* Lines "X: yyyy...\r\n" up to exactly the bound with the final CRLF. */
    while (n - start + 2 < HTTP_CHUNKED_MAX_TRAILER) {
        size_t room = HTTP_CHUNKED_MAX_TRAILER - (n - start) - 2;
        size_t line = room > 100 ? 100 : room;
        if (line < 3) {
            memset(enc + n, 'z', line);
            n += line;
            break;
        }
        memcpy(enc + n, "X:", 2);
        memset(enc + n + 2, 'y', line - 4);
        memcpy(enc + n + line - 2, "\r\n", 2);
        n += line;
    }
    assert_int_equal(n - start + 2, HTTP_CHUNKED_MAX_TRAILER);
    memcpy(enc + n, "\r\n", 2);
    outcome_t o = decode_whole(enc, n + 2);
    assert_int_equal(o.rc, 1);
    assert_int_equal(o.len, 0);
    free(o.data);
    o = decode_pieces((const uint8_t *)enc, n + 2, 1, 1);
    assert_int_equal(o.rc, 1);
    free(o.data);

    /* One byte more fails. */
    memmove(enc + start + 1, enc + start, n - start + 2);
    enc[start] = 'X';
    expect_error(enc, n + 3, "chunked trailer too long");
    free(enc);
}

/* A large body in chunks of many sizes, split at random: the data comes
 * out whole and in order. */
static void test_random(void **state)
{
    (void)state;
    size_t body_len = 200000;
    uint8_t *body = malloc(body_len);
    char *enc = malloc(body_len * 2 + 1024);
    assert_non_null(body);
    assert_non_null(enc);
    srand(7);
    for (size_t i = 0; i < body_len; i++)
        body[i] = (uint8_t)rand();
    size_t n = 0;
    for (size_t off = 0; off < body_len;) {
        size_t k = (size_t)(rand() % 5000) + 1;
        if (k > body_len - off)
            k = body_len - off;
        n += (size_t)sprintf(enc + n, rand() % 2 ? "%zx\r\n" : "%zX;e=1\r\n", k);
        memcpy(enc + n, body + off, k);
        n += k;
        memcpy(enc + n, "\r\n", 2);
        n += 2;
        off += k;
    }
    memcpy(enc + n, "0\r\n\r\n", 5);
    n += 5;
    for (int round = 0; round < 50; round++) {
        http_chunked_t d;
        http_chunked_init(&d);
        uint8_t *got = malloc(body_len);
        assert_non_null(got);
        size_t got_len = 0, pos = 0;
        int rc = 0;
        while (pos < n && rc == 0) {
            size_t k = (size_t)(rand() % 9000) + 1;
            if (k > n - pos)
                k = n - pos;
            uint8_t *piece = malloc(k);
            assert_non_null(piece);
            memcpy(piece, enc + pos, k);
            size_t out;
            const char *err = NULL;
            rc = http_chunked_decode(&d, piece, k, &out, &err);
            assert_true(rc >= 0);
            assert_true(got_len + out <= body_len);
            memcpy(got + got_len, piece, out);
            got_len += out;
            free(piece);
            pos += k;
        }
        assert_int_equal(rc, 1);
        assert_int_equal(pos, n);
        assert_int_equal(got_len, body_len);
        assert_memory_equal(got, body, body_len);
        free(got);
    }
    free(body);
    free(enc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),         cmocka_unit_test(test_bare_lf),
        cmocka_unit_test(test_after_the_end), cmocka_unit_test(test_extensions),
        cmocka_unit_test(test_trailers),      cmocka_unit_test(test_bad_size_lines),
        cmocka_unit_test(test_size_bound),    cmocka_unit_test(test_line_bound),
        cmocka_unit_test(test_trailer_bound), cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
