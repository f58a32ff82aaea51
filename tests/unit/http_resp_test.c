/* Unit tests for http_resp: response heads parsed whole, split at every
 * byte and byte by byte; body framing; limits; malformed input; interim
 * responses. */
#include "feed_util.h"
#include "http_resp.h"

static void flatten(const http_resp_t *r, char *out, size_t outsz)
{
    int n =
        snprintf(out, outsz, "1.%d|%d|%s|%s|cl=%lld|ka=%d", r->version_minor, r->status, r->reason,
                 http_body_name(r->body), (long long)r->content_length, r->keep_alive);
    assert_true(n > 0 && (size_t)n < outsz);
    flatten_headers(r->headers, r->nheaders, out, outsz);
}

FEED_TARGET(http_resp, http_resp_t)

/* What Weir itself answers to an HTTP/1.1 GET of a live stream. */
static const char WEIR_200[] = "HTTP/1.1 200 OK\r\n"
                               "Server: weir/0.1.0\r\n"
                               "Content-Type: video/x-flv\r\n"
                               "Transfer-Encoding: chunked\r\n"
                               "Cache-Control: no-cache, no-store\r\n"
                               "Connection: close\r\n"
                               "X-Empty:\r\n"
                               "X-Tab:  a\tb \t\r\n"
                               "\r\n";

static void test_ok_chunked(void **state)
{
    (void)state;
    char text[sizeof WEIR_200 + 16];
    snprintf(text, sizeof text, "%sd\r\nFLV", WEIR_200);
    http_resp_parser_t *p = http_resp_parser_new(8192);
    assert_non_null(p);
    size_t used;
    const http_resp_t *r;
    const char *err;
    assert_int_equal(http_resp_feed(p, (const uint8_t *)text, strlen(text), &used, &r, &err),
                     PARSE_OK);
    /* The body after the blank line is left alone. */
    assert_int_equal(used, sizeof WEIR_200 - 1);
    assert_int_equal(r->version_minor, 1);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->reason, "OK");
    assert_int_equal(r->body, HTTP_BODY_CHUNKED);
    assert_int_equal(r->content_length, -1);
    assert_int_equal(r->keep_alive, 0);
    assert_int_equal(r->nheaders, 7);
    assert_string_equal(r->headers[0].name, "Server");
    assert_string_equal(r->headers[0].value, "weir/0.1.0");
    assert_string_equal(r->headers[5].name, "X-Empty");
    assert_string_equal(r->headers[5].value, "");
    assert_string_equal(r->headers[6].value, "a\tb");
    assert_string_equal(http_resp_header(r, "content-type"), "video/x-flv");
    assert_string_equal(http_resp_header(r, "TRANSFER-ENCODING"), "chunked");
    assert_null(http_resp_header(r, "Content-Length"));
    assert_null(http_resp_header(r, "Serve"));

    /* Fed again before a reset: the same response, nothing consumed. */
    const http_resp_t *r2;
    assert_int_equal(http_resp_feed(p, (const uint8_t *)"x", 1, &used, &r2, &err), PARSE_OK);
    assert_int_equal(used, 0);
    assert_ptr_equal(r2, r);

    /* After a reset, a second response parses from scratch. */
    http_resp_parser_reset(p);
    static const char second[] = "HTTP/1.0 404 Not Found\r\nContent-Length: 3\r\n\r\n";
    assert_int_equal(http_resp_feed(p, (const uint8_t *)second, strlen(second), &used, &r, &err),
                     PARSE_OK);
    assert_int_equal(used, strlen(second));
    assert_int_equal(r->status, 404);
    assert_string_equal(r->reason, "Not Found");
    assert_int_equal(r->body, HTTP_BODY_LENGTH);
    assert_int_equal(r->content_length, 3);
    assert_int_equal(r->nheaders, 1);
    http_resp_parser_free(p);
}

static void test_every_split(void **state)
{
    (void)state;
    outcome_t o = parse_all_ways(WEIR_200, 8192);
    assert_int_equal(o.rc, PARSE_OK);
    assert_int_equal(o.used, sizeof WEIR_200 - 1);
    assert_string_equal(o.flat, "1.1|200|OK|chunked|cl=-1|ka=0|Server=[weir/0.1.0]|"
                                "Content-Type=[video/x-flv]|Transfer-Encoding=[chunked]|"
                                "Cache-Control=[no-cache, no-store]|Connection=[close]|"
                                "X-Empty=[]|X-Tab=[a\tb]");
}

static void test_framing(void **state)
{
    (void)state;
    static const struct {
        const char *resp;
        const char *flat;
    } cases[] = {
        /* Neither: until close, never kept alive. */
        {"HTTP/1.1 200 OK\r\n\r\n", "1.1|200|OK|close|cl=-1|ka=0"},
        {"HTTP/1.0 200 OK\r\n\r\n", "1.0|200|OK|close|cl=-1|ka=0"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "1.1|200|OK|content-length|cl=0|ka=1"},
        {"HTTP/1.1 200 OK\r\ncontent-length:  0042 \r\n\r\n",
         "1.1|200|OK|content-length|cl=42|ka=1|content-length=[0042]"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\n",
         "1.1|200|OK|content-length|cl=9223372036854775807|ka=1"},
        /* Repeated, equal Content-Length values are one value. */
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
         "1.1|200|OK|content-length|cl=5|ka=1"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5, 5,5\r\n\r\n",
         "1.1|200|OK|content-length|cl=5|ka=1"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n", "1.1|200|OK|chunked|cl=-1|ka=1"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: , chunked ,\r\n\r\n",
         "1.1|200|OK|chunked|cl=-1|ka=1"},
        /* HTTP/1.0 with Transfer-Encoding: read it, but never keep alive. */
        {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n",
         "1.0|200|OK|chunked|cl=-1|ka=0"},
        /* No body, whatever the headers say. */
        {"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
         "1.1|204|No Content|none|cl=10|ka=1"},
        {"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
         "1.1|304|Not Modified|none|cl=-1|ka=1"},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
         "1.1|101|Switching Protocols|none|cl=-1|ka=1"},
        /* Errors have bodies like any response. */
        {"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\n",
         "1.1|404|Not Found|content-length|cl=3|ka=1"},
        {"HTTP/1.1 508 Loop Detected\r\n\r\n", "1.1|508|Loop Detected|close|cl=-1|ka=0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        outcome_t o = parse_all_ways(cases[i].resp, 1024);
        assert_int_equal(o.rc, PARSE_OK);
        assert_int_equal(o.used, strlen(cases[i].resp));
        /* Compare up to the headers. */
        size_t n = strlen(cases[i].flat);
        if (strncmp(o.flat, cases[i].flat, n) != 0 || (o.flat[n] != '\0' && o.flat[n] != '|'))
            fail_msg("case %zu: %s, want %s", i, o.flat, cases[i].flat);
    }
}

static void test_status_line(void **state)
{
    (void)state;
    static const struct {
        const char *resp;
        const char *flat;
    } cases[] = {
        /* No reason, with or without the space before it. */
        {"HTTP/1.1 200\r\n\r\n", "1.1|200||close|cl=-1|ka=0"},
        {"HTTP/1.1 200 \r\n\r\n", "1.1|200||close|cl=-1|ka=0"},
        /* The reason is kept as sent, spaces, tabs and obs-text included. */
        {"HTTP/1.1 404 Not  Found \r\n\r\n", "1.1|404|Not  Found |close|cl=-1|ka=0"},
        {"HTTP/1.1 200 \303\247a\tva\r\n\r\n", "1.1|200|\303\247a\tva|close|cl=-1|ka=0"},
        {"HTTP/1.1 599 x\r\n\r\n", "1.1|599|x|close|cl=-1|ka=0"},
        /* Bare LF line ends. */
        {"HTTP/1.1 200 OK\nX: y\r\n\n", "1.1|200|OK|close|cl=-1|ka=0|X=[y]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        outcome_t o = parse_all_ways(cases[i].resp, 1024);
        assert_int_equal(o.rc, PARSE_OK);
        assert_string_equal(o.flat, cases[i].flat);
    }
}

static void test_keep_alive(void **state)
{
    (void)state;
    assert_int_equal(keep_alive_of("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n"), 1);
    assert_int_equal(
        keep_alive_of("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: Close\r\n\r\n"), 0);
    assert_int_equal(keep_alive_of("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                                   "Connection: upgrade,  close\r\n\r\n"),
                     0);
    assert_int_equal(
        keep_alive_of("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: closed\r\n\r\n"), 1);
    assert_int_equal(keep_alive_of("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n"), 0);
    assert_int_equal(
        keep_alive_of("HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: Keep-Alive\r\n\r\n"), 1);
    assert_int_equal(keep_alive_of("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n"
                                   "Connection: keep-alive\r\nConnection: close\r\n\r\n"),
                     0);
    /* Until close: never. */
    assert_int_equal(keep_alive_of("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n"), 0);
}

static void test_interim_skipped(void **state)
{
    (void)state;
    static const char text[] = "HTTP/1.1 100 Continue\r\n\r\n"
                               "HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n"
                               "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    outcome_t o = parse_all_ways(text, 1024);
    assert_int_equal(o.rc, PARSE_OK);
    assert_int_equal(o.used, strlen(text) - 2);
    /* Only the final response's headers are reported. */
    assert_string_equal(o.flat, "1.1|200|OK|content-length|cl=2|ka=1|Content-Length=[2]");

    /* Interim responses count against the bound. */
    o = parse_all_ways(text, 60);
    assert_int_equal(o.rc, PARSE_ERR_TOO_BIG);
    assert_string_equal(o.err, "http: response head too large");
    assert_int_equal(o.used, 60);

    /* A flood of interim responses stops at the bound. */
    char flood[2048] = "";
    for (int i = 0; i < 60; i++)
        strcat(flood, "HTTP/1.1 100 Continue\r\n\r\n");
    o = parse_all_ways(flood, 512);
    assert_int_equal(o.rc, PARSE_ERR_TOO_BIG);
    assert_int_equal(o.used, 512);
}

static void test_too_big(void **state)
{
    (void)state;
    char text[400];
    memcpy(text, "HTTP/1.1 200 ", 13);
    memset(text + 13, 'a', 300);
    strcpy(text + 313, "\r\nX: y\r\n\r\n");
    outcome_t o = parse_all_ways(text, 256);
    assert_int_equal(o.rc, PARSE_ERR_TOO_BIG);
    assert_string_equal(o.err, "http: response head too large");
    assert_int_equal(o.used, 256);

    /* A head of exactly max_bytes is accepted; one byte less is not. */
    size_t len = strlen(text);
    o = parse_all_ways(text, len);
    assert_int_equal(o.rc, PARSE_OK);
    assert_int_equal(o.used, len);
    o = parse_all_ways(text, len - 1);
    assert_int_equal(o.rc, PARSE_ERR_TOO_BIG);
    assert_int_equal(o.used, len - 1);

    /* A head exactly max_bytes long, followed by body bytes: OK. */
    char more[420];
    snprintf(more, sizeof more, "%sFLV", text);
    o = parse_whole(more, len);
    assert_int_equal(o.rc, PARSE_OK);
    assert_int_equal(o.used, len);

    /* A bound of 0 or absurdly large is refused. */
    assert_null(http_resp_parser_new(0));
    assert_null(http_resp_parser_new(SIZE_MAX));
    http_resp_parser_free(NULL);
}

static void test_too_many_headers(void **state)
{
    (void)state;
    check_too_many_headers("HTTP/1.1 200 OK\r\n", HTTP_RESP_MAX_HEADERS);
}

static void test_bad_status_line(void **state)
{
    (void)state;
    static const bad_case_t cases[] = {
        {"\r\nHTTP/1.1 200 OK\r\n\r\n", PARSE_ERR_PROTO, "http: bad status line"},
        {"HTTP/1.1 20\r\n\r\n", PARSE_ERR_PROTO, "http: bad status line"},
        {"HTTP/1.1\r\n\r\n", PARSE_ERR_PROTO, "http: bad status line"},
        {"http/1.1 200 OK\r\n\r\n", PARSE_ERR_PROTO, "http: bad status line"},
        {"HTTP/2 200 OK\r\n\r\n", PARSE_ERR_PROTO, "http: bad status line"},
        {"HTTP/1.1  200 OK\r\n\r\n", PARSE_ERR_PROTO, "http: bad status code"},
        {"HTTP/1.1\t200 OK\r\n\r\n", PARSE_ERR_PROTO, "http: bad status line"},
        {"HTTP/1.10 200 OK\r\n\r\n", PARSE_ERR_PROTO, "http: bad status line"},
        {"ICY 200 OK\r\n\r\n", PARSE_ERR_PROTO, "http: bad status line"},
        {"HTTP/1.2 200 OK\r\n\r\n", PARSE_ERR_PROTO, "http: bad version"},
        {"HTTP/1.x 200 OK\r\n\r\n", PARSE_ERR_PROTO, "http: bad version"},
        {"HTTP/1.1 2x0 OK\r\n\r\n", PARSE_ERR_PROTO, "http: bad status code"},
        {"HTTP/1.1 -20 OK\r\n\r\n", PARSE_ERR_PROTO, "http: bad status code"},
        {"HTTP/1.1 2000 OK\r\n\r\n", PARSE_ERR_PROTO, "http: bad status code"},
        {"HTTP/1.1 200OK\r\n\r\n", PARSE_ERR_PROTO, "http: bad status code"},
        {"HTTP/1.1 099 x\r\n\r\n", PARSE_ERR_PROTO, "http: bad status code"},
        {"HTTP/1.1 600 x\r\n\r\n", PARSE_ERR_PROTO, "http: bad status code"},
        {"HTTP/1.1 200 O\x01K\r\n\r\n", PARSE_ERR_PROTO, "http: bad reason phrase"},
        {"HTTP/1.1 200 O\x7f\r\n\r\n", PARSE_ERR_PROTO, "http: bad reason phrase"},
        /* A bare CR is not a line end. */
        {"HTTP/1.1 200 O\rK\r\n\r\n", PARSE_ERR_PROTO, "http: bad reason phrase"},
    };
    check_bad(cases, sizeof cases / sizeof cases[0]);

    /* A NUL byte is rejected, not taken as the end of a string. */
    static const char nul_reason[] = "HTTP/1.1 200 O\0K\r\n\r\n";
    outcome_t o = parse_all_ways_n(nul_reason, sizeof nul_reason - 1, 1024);
    assert_int_equal(o.rc, PARSE_ERR_PROTO);
    assert_string_equal(o.err, "http: bad reason phrase");
    static const char nul_value[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
    o = parse_all_ways_n(nul_value, sizeof nul_value - 1, 1024);
    assert_int_equal(o.rc, PARSE_ERR_PROTO);
    assert_string_equal(o.err, "http: bad header value");
}

static void test_bad_headers(void **state)
{
    (void)state;
    static const bad_case_t cases[] = {
        {"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", PARSE_ERR_PROTO, "http: obsolete line folding"},
        {"HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\n\r\n", PARSE_ERR_PROTO, "http: obsolete line folding"},
        {"HTTP/1.1 200 OK\r\n Server: a\r\n\r\n", PARSE_ERR_PROTO, "http: obsolete line folding"},
        {"HTTP/1.1 200 OK\r\nServer : a\r\n\r\n", PARSE_ERR_PROTO, "http: bad header name"},
        {"HTTP/1.1 200 OK\r\n: a\r\n\r\n", PARSE_ERR_PROTO, "http: bad header name"},
        {"HTTP/1.1 200 OK\r\nX(y): a\r\n\r\n", PARSE_ERR_PROTO, "http: bad header name"},
        {"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", PARSE_ERR_PROTO, "http: bad header line"},
        {"HTTP/1.1 200 OK\r\nX: a\x01z\r\n\r\n", PARSE_ERR_PROTO, "http: bad header value"},
        {"HTTP/1.1 200 OK\r\nX: a\rz\r\n\r\n", PARSE_ERR_PROTO, "http: bad header value"},
        {"HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n", PARSE_ERR_PROTO, "http: bad header value"},
    };
    check_bad(cases, sizeof cases / sizeof cases[0]);
}

static void test_bad_framing(void **state)
{
    (void)state;
    static const bad_case_t cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", PARSE_ERR_PROTO,
         "http: conflicting Content-Length values"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n", PARSE_ERR_PROTO,
         "http: conflicting Content-Length values"},
        {"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", PARSE_ERR_PROTO,
         "http: bad Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: ,\r\n\r\n", PARSE_ERR_PROTO,
         "http: bad Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", PARSE_ERR_PROTO,
         "http: bad Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n", PARSE_ERR_PROTO,
         "http: bad Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", PARSE_ERR_PROTO,
         "http: bad Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", PARSE_ERR_PROTO,
         "http: bad Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n", PARSE_ERR_PROTO,
         "http: bad Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n", PARSE_ERR_PROTO,
         "http: bad Content-Length"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", PARSE_ERR_PROTO,
         "http: unsupported Transfer-Encoding"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", PARSE_ERR_PROTO,
         "http: unsupported Transfer-Encoding"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", PARSE_ERR_PROTO,
         "http: unsupported Transfer-Encoding"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", PARSE_ERR_PROTO,
         "http: unsupported Transfer-Encoding"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
         PARSE_ERR_PROTO, "http: unsupported Transfer-Encoding"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n", PARSE_ERR_PROTO,
         "http: unsupported Transfer-Encoding"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", PARSE_ERR_PROTO,
         "http: unsupported Transfer-Encoding"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked x\r\n\r\n", PARSE_ERR_PROTO,
         "http: unsupported Transfer-Encoding"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n", PARSE_ERR_PROTO,
         "http: unsupported Transfer-Encoding"},
        /* Content-Length and Transfer-Encoding together, either order. */
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
         PARSE_ERR_PROTO, "http: Content-Length with Transfer-Encoding"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
         PARSE_ERR_PROTO, "http: Content-Length with Transfer-Encoding"},
    };
    check_bad(cases, sizeof cases / sizeof cases[0]);
}

/* Errors are sticky: later feeds return the same error, consuming nothing. */
static void test_error_sticky(void **state)
{
    (void)state;
    http_resp_parser_t *p = http_resp_parser_new(1024);
    assert_non_null(p);
    static const char bad[] = "HTTP/1.1 200 OK\r\n bad\r\nX: y\r\n\r\n";
    size_t used;
    const http_resp_t *r;
    const char *err;
    assert_int_equal(http_resp_feed(p, (const uint8_t *)bad, strlen(bad), &used, &r, &err),
                     PARSE_ERR_PROTO);
    assert_int_equal(used, strlen("HTTP/1.1 200 OK\r\n bad\r\n"));
    assert_null(r);
    assert_string_equal(err, "http: obsolete line folding");
    assert_int_equal(http_resp_feed(p, (const uint8_t *)"\r\n", 2, &used, &r, &err),
                     PARSE_ERR_PROTO);
    assert_int_equal(used, 0);
    assert_string_equal(err, "http: obsolete line folding");
    /* A reset makes it usable again. */
    http_resp_parser_reset(p);
    static const char good[] = "HTTP/1.1 200 OK\r\n\r\n";
    assert_int_equal(http_resp_feed(p, (const uint8_t *)good, strlen(good), &used, &r, &err),
                     PARSE_OK);
    assert_int_equal(r->status, 200);
    http_resp_parser_free(p);
}

/* Random splits of a response with a long head: same result as whole. */
static void test_random_splits(void **state)
{
    (void)state;
    char text[6000];
    size_t n = (size_t)snprintf(text, sizeof text, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "X-Header-%d: %0*d\r\n", i, 60 + i, i);
    snprintf(text + n, sizeof text - n, "Content-Length: 100\r\n\r\n");
    size_t len = strlen(text);
    outcome_t whole = parse_whole(text, 8192);
    assert_int_equal(whole.rc, PARSE_OK);
    srand(5);
    for (int round = 0; round < 200; round++) {
        http_resp_parser_t *p = http_resp_parser_new(8192);
        assert_non_null(p);
        size_t pos = 0;
        parse_rc_t rc = PARSE_NEED_MORE;
        const http_resp_t *r = NULL;
        while (rc == PARSE_NEED_MORE) {
            size_t k = (size_t)(rand() % 300) + 1;
            if (k > len - pos)
                k = len - pos;
            size_t used;
            const char *err;
            rc = http_resp_feed(p, (const uint8_t *)text + pos, k, &used, &r, &err);
            pos += used;
        }
        assert_int_equal(rc, PARSE_OK);
        assert_int_equal(pos, len);
        char flat[4096];
        flatten(r, flat, sizeof flat);
        assert_string_equal(flat, whole.flat);
        http_resp_parser_free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_chunked),      cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_framing),         cmocka_unit_test(test_status_line),
        cmocka_unit_test(test_keep_alive),      cmocka_unit_test(test_interim_skipped),
        cmocka_unit_test(test_too_big),         cmocka_unit_test(test_too_many_headers),
        cmocka_unit_test(test_bad_status_line), cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_bad_framing),     cmocka_unit_test(test_error_sticky),
        cmocka_unit_test(test_random_splits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
