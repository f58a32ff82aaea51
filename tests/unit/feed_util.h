/* feed_util: feeding an HTTP head parser (http_req, http_resp) whole,
 * split in two at every byte and byte by byte, and comparing the outcomes.
 *
 * The test that includes this header names the parser under test with
 * FEED_TARGET(prefix, msg_t) after defining
 *   static void flatten(const msg_t *m, char *out, size_t outsz);
 * which writes the message as one string, so that runs with different
 * splits can be compared.
 */
#ifndef WEIR_TESTS_FEED_UTIL_H
#define WEIR_TESTS_FEED_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_head.h"

static void *target_new(size_t max_bytes);
static void target_free(void *p);
static parse_rc_t target_feed(void *p, const uint8_t *src, size_t len, size_t *used,
                              const void **msg, const char **err);
static void target_flatten(const void *msg, char *out, size_t outsz);

/* Defines the target_* functions above for the parser prefix##_parser_new,
 * prefix##_parser_free, prefix##_feed giving a const msg_t *. */
#define FEED_TARGET(prefix, msg_t)                                                                 \
    static void *target_new(size_t max_bytes)                                                      \
    {                                                                                              \
        return prefix##_parser_new(max_bytes);                                                     \
    }                                                                                              \
    static void target_free(void *p)                                                               \
    {                                                                                              \
        prefix##_parser_free(p);                                                                   \
    }                                                                                              \
    static parse_rc_t target_feed(void *p, const uint8_t *src, size_t len, size_t *used,           \
                                  const void **msg, const char **err)                              \
    {                                                                                              \
        const msg_t *m = NULL;                                                                     \
        parse_rc_t rc = prefix##_feed(p, src, len, used, &m, err);                                 \
        *msg = m;                                                                                  \
        return rc;                                                                                 \
    }                                                                                              \
    static void target_flatten(const void *msg, char *out, size_t outsz)                           \
    {                                                                                              \
        flatten(msg, out, outsz);                                                                  \
    }

/* The outcome of one parse, with the message flattened. */
typedef struct {
    parse_rc_t rc;
    const char *err;
    size_t used;
    char flat[4096];
} outcome_t;

/* Appends "|name=[value]" for each header to the string in out. */
static inline void flatten_headers(const http_header_t *headers, size_t nheaders, char *out,
                                   size_t outsz)
{
    for (size_t i = 0; i < nheaders; i++) {
        size_t used = strlen(out);
        int n = snprintf(out + used, outsz - used, "|%s=[%s]", headers[i].name, headers[i].value);
        assert_true(n > 0 && (size_t)n < outsz - used);
    }
}

/* Feeds text as a first piece of `first` bytes, then pieces of `step`
 * bytes (each an exact-size copy), until a result other than NEED_MORE. */
static inline outcome_t parse_pieces(const char *text, size_t len, size_t first, size_t step,
                                     size_t max_bytes)
{
    outcome_t o;
    memset(&o, 0, sizeof o);
    void *p = target_new(max_bytes);
    assert_non_null(p);
    o.rc = PARSE_NEED_MORE;
    size_t pos = 0;
    while (pos < len && o.rc == PARSE_NEED_MORE) {
        size_t n = pos == 0 ? first : step;
        if (n > len - pos)
            n = len - pos;
        uint8_t *piece = malloc(n);
        assert_non_null(piece);
        memcpy(piece, text + pos, n);
        size_t used = 0;
        const void *msg = NULL;
        const char *err = NULL;
        o.rc = target_feed(p, piece, n, &used, &msg, &err);
        free(piece);
        assert_true(used <= n);
        pos += used;
        if (o.rc == PARSE_NEED_MORE) {
            assert_int_equal(used, n);
            assert_null(msg);
        } else if (o.rc == PARSE_OK) {
            assert_non_null(msg);
            target_flatten(msg, o.flat, sizeof o.flat);
        } else {
            assert_non_null(err);
            o.err = err;
        }
    }
    o.used = pos;
    target_free(p);
    return o;
}

static inline outcome_t parse_n(const char *text, size_t len, size_t max_bytes)
{
    return parse_pieces(text, len, len ? len : 1, len ? len : 1, max_bytes);
}

static inline outcome_t parse_whole(const char *text, size_t max_bytes)
{
    return parse_n(text, strlen(text), max_bytes);
}

/* Requires the same outcome whole, split in two at every byte, and byte by
 * byte; returns the whole one. */
static inline outcome_t parse_all_ways_n(const char *text, size_t len, size_t max_bytes)
{
    outcome_t whole = parse_n(text, len, max_bytes);
    for (size_t k = 1; k < len; k++) {
        outcome_t o = parse_pieces(text, len, k, len, max_bytes);
        assert_int_equal(o.rc, whole.rc);
        assert_int_equal(o.used, whole.used);
        assert_string_equal(o.flat, whole.flat);
        if (whole.err)
            assert_string_equal(o.err, whole.err);
    }
    outcome_t o = parse_pieces(text, len, 1, 1, max_bytes);
    assert_int_equal(o.rc, whole.rc);
    assert_int_equal(o.used, whole.used);
    assert_string_equal(o.flat, whole.flat);
    if (whole.err)
        assert_string_equal(o.err, whole.err);
    return whole;
}

static inline outcome_t parse_all_ways(const char *text, size_t max_bytes)
{
    return parse_all_ways_n(text, strlen(text), max_bytes);
}

/* The ka= field of a message parsed whole (it must parse). */
static inline int keep_alive_of(const char *text)
{
    outcome_t o = parse_whole(text, 1024);
    assert_int_equal(o.rc, PARSE_OK);
    const char *ka = strstr(o.flat, "|ka=");
    assert_non_null(ka);
    return ka[4] - '0';
}

/* A head of first_line and max_headers header lines parses; one more
 * header line gives "http: too many headers" (PARSE_ERR_TOO_BIG). */
static inline void check_too_many_headers(const char *first_line, int max_headers)
{
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof text, "%s", first_line);
    for (int i = 0; i < max_headers; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "X-%d: %d\r\n", i, i);
    snprintf(text + n, sizeof text - n, "\r\n");
    outcome_t o = parse_whole(text, 8192);
    assert_int_equal(o.rc, PARSE_OK);
    char last[32];
    snprintf(last, sizeof last, "|X-%d=[%d]", max_headers - 1, max_headers - 1);
    assert_non_null(strstr(o.flat, last));

    n += (size_t)snprintf(text + n, sizeof text - n, "X-last: 1\r\n\r\n");
    o = parse_all_ways(text, 8192);
    assert_int_equal(o.rc, PARSE_ERR_TOO_BIG);
    assert_string_equal(o.err, "http: too many headers");
}

typedef struct {
    const char *text;
    parse_rc_t rc;
    const char *err;
} bad_case_t;

/* Each case fails, every way it is split, with its rc and err. */
static inline void check_bad(const bad_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        outcome_t o = parse_all_ways(cases[i].text, 1024);
        if (o.rc != cases[i].rc || !o.err || strcmp(o.err, cases[i].err) != 0)
            fail_msg("case %zu (%s): rc %d err %s", i, cases[i].text, o.rc,
                     o.err ? o.err : "(none)");
    }
}

#endif
