/* Unit tests for http_req: request heads parsed whole, split at every byte
 * and byte by byte; limits; malformed input; percent-decoding. */
#include "feed_util.h"
#include "http_req.h"

static void flatten(const http_req_t *r, char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%s|%s|%s|%s|1.%d|cl=%lld|ch=%d|ka=%d", r->method, r->target,
                     r->path, r->query, r->version_minor, (long long)r->content_length, r->chunked,
                     r->keep_alive);
    assert_true(n > 0 && (size_t)n < outsz);
    flatten_headers(r->headers, r->nheaders, out, outsz);
}

FEED_TARGET(http_req, http_req_t)

static const char GET_REQ[] = "GET /live/cam1.flv?token=abc%20d&x=1 HTTP/1.1\r\n"
                              "Host: example.com:8080\r\n"
                              "User-Agent:  curl/8.0 \t\r\n"
                              "Accept: */*\r\n"
                              "X-Empty:\r\n"
                              "X-Tab: a\tb\r\n"
                              "\r\n";

static void test_get(void **state)
{
    (void)state;
    char text[sizeof GET_REQ + 16];
    snprintf(text, sizeof text, "%sBODY", GET_REQ);
    http_req_parser_t *p = http_req_parser_new(8192);
    assert_non_null(p);
    size_t used;
    const http_req_t *r;
    const char *err;
    assert_int_equal(http_req_feed(p, (const uint8_t *)text, strlen(text), &used, &r, &err),
                     PARSE_OK);
    /* The bytes after the blank line are left alone. */
    assert_int_equal(used, sizeof GET_REQ - 1);
    assert_string_equal(r->method, "GET");
    assert_string_equal(r->target, "/live/cam1.flv?token=abc%20d&x=1");
    assert_string_equal(r->path, "/live/cam1.flv");
    assert_string_equal(r->query, "token=abc%20d&x=1");
    assert_int_equal(r->version_minor, 1);
    assert_int_equal(r->nheaders, 5);
    assert_string_equal(r->headers[0].name, "Host");
    assert_string_equal(r->headers[0].value, "example.com:8080");
    assert_string_equal(r->headers[1].name, "User-Agent");
    assert_string_equal(r->headers[1].value, "curl/8.0");
    assert_string_equal(r->headers[3].name, "X-Empty");
    assert_string_equal(r->headers[3].value, "");
    assert_string_equal(r->headers[4].value, "a\tb");
    assert_int_equal(r->content_length, -1);
    assert_int_equal(r->chunked, 0);
    assert_int_equal(r->keep_alive, 1);
    assert_string_equal(http_req_header(r, "host"), "example.com:8080");
    assert_string_equal(http_req_header(r, "USER-AGENT"), "curl/8.0");
    assert_null(http_req_header(r, "Cookie"));
    assert_null(http_req_header(r, "Hos"));

    /* Fed again before a reset: the same request, nothing consumed. */
    const http_req_t *r2;
    assert_int_equal(http_req_feed(p, (const uint8_t *)"x", 1, &used, &r2, &err), PARSE_OK);
    assert_int_equal(used, 0);
    assert_ptr_equal(r2, r);
    http_req_parser_free(p);
}

static void test_get_every_split(void **state)
{
    (void)state;
    outcome_t o = parse_all_ways(GET_REQ, 8192);
    assert_int_equal(o.rc, PARSE_OK);
    assert_int_equal(o.used, sizeof GET_REQ - 1);
    assert_string_equal(o.flat,
                        "GET|/live/cam1.flv?token=abc%20d&x=1|/live/cam1.flv|token=abc%20d&x=1|"
                        "1.1|cl=-1|ch=0|ka=1|Host=[example.com:8080]|User-Agent=[curl/8.0]|"
                        "Accept=[*/*]|X-Empty=[]|X-Tab=[a\tb]");
}

static void test_head(void **state)
{
    (void)state;
    outcome_t o = parse_all_ways("HEAD /app/s.flv HTTP/1.0\r\n\r\n", 1024);
    assert_int_equal(o.rc, PARSE_OK);
    assert_string_equal(o.flat, "HEAD|/app/s.flv|/app/s.flv||1.0|cl=-1|ch=0|ka=0");
}

static void test_query_split(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        const char *flat;
    } cases[] = {
        {"GET /p?x=1?y=2 HTTP/1.1\r\n\r\n", "GET|/p?x=1?y=2|/p|x=1?y=2|1.1|cl=-1|ch=0|ka=1"},
        {"GET /p? HTTP/1.1\r\n\r\n", "GET|/p?|/p||1.1|cl=-1|ch=0|ka=1"},
        {"GET /p HTTP/1.1\r\n\r\n", "GET|/p|/p||1.1|cl=-1|ch=0|ka=1"},
        {"GET /?a HTTP/1.1\r\n\r\n", "GET|/?a|/|a|1.1|cl=-1|ch=0|ka=1"},
        {"OPTIONS * HTTP/1.1\r\n\r\n", "OPTIONS|*|*||1.1|cl=-1|ch=0|ka=1"},
        {"GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", "GET|/caf\xc3\xa9|/caf\xc3\xa9||1.1|cl=-1|ch=0|ka=1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        outcome_t o = parse_all_ways(cases[i].req, 1024);
        assert_int_equal(o.rc, PARSE_OK);
        assert_string_equal(o.flat, cases[i].flat);
    }
}

static void test_keep_alive(void **state)
{
    (void)state;
    assert_int_equal(keep_alive_of("GET / HTTP/1.1\r\n\r\n"), 1);
    assert_int_equal(keep_alive_of("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"), 0);
    assert_int_equal(keep_alive_of("GET / HTTP/1.1\r\nConnection: CLOSE\r\n\r\n"), 0);
    assert_int_equal(keep_alive_of("GET / HTTP/1.1\r\nConnection: Upgrade,  close\r\n\r\n"), 0);
    assert_int_equal(keep_alive_of("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"), 1);
    assert_int_equal(keep_alive_of("GET / HTTP/1.1\r\nConnection: closed\r\n\r\n"), 1);
    assert_int_equal(
        keep_alive_of("GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"), 0);
    assert_int_equal(keep_alive_of("GET / HTTP/1.0\r\n\r\n"), 0);
    assert_int_equal(keep_alive_of("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 1);
    assert_int_equal(keep_alive_of("GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n"), 1);
    assert_int_equal(keep_alive_of("GET / HTTP/1.0\r\nConnection: foo,keep-alive\r\n\r\n"), 1);
    assert_int_equal(keep_alive_of("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"), 0);
    assert_int_equal(keep_alive_of("GET / HTTP/1.0\r\nConnection: keep-alive-ish\r\n\r\n"), 0);
    /* HTTP/1.0 with Transfer-Encoding: framing is faulty, close after it. */
    assert_int_equal(keep_alive_of("GET / HTTP/1.0\r\nConnection: keep-alive\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n"),
                     0);
}

static void test_bare_lf(void **state)
{
    (void)state;
    outcome_t o = parse_all_ways("GET /a HTTP/1.1\nHost: h\r\nX: y\n\nrest", 1024);
    assert_int_equal(o.rc, PARSE_OK);
    assert_int_equal(o.used, strlen("GET /a HTTP/1.1\nHost: h\r\nX: y\n\n"));
    assert_string_equal(o.flat, "GET|/a|/a||1.1|cl=-1|ch=0|ka=1|Host=[h]|X=[y]");

    /* A bare CR is not a line end. */
    o = parse_all_ways("GET /a HTTP/1.1\r\nX: a\rb\r\n\r\n", 1024);
    assert_int_equal(o.rc, PARSE_ERR_PROTO);
    assert_string_equal(o.err, "http: bad header value");
    o = parse_whole("GET /a HTTP/1.1\r\r\n\r\n", 1024);
    assert_int_equal(o.rc, PARSE_ERR_PROTO);
    assert_string_equal(o.err, "http: bad version");
}

static void test_leading_empty_lines(void **state)
{
    (void)state;
    outcome_t o = parse_all_ways("\r\n\n\r\nGET /x HTTP/1.1\r\n\r\n", 1024);
    assert_int_equal(o.rc, PARSE_OK);
    assert_string_equal(o.flat, "GET|/x|/x||1.1|cl=-1|ch=0|ka=1");

    /* Empty lines count against the bound. */
    char flood[600];
    for (size_t i = 0; i + 1 < sizeof flood; i += 2)
        memcpy(flood + i, "\r\n", 2);
    flood[sizeof flood - 1] = '\0';
    o = parse_all_ways(flood, 256);
    assert_int_equal(o.rc, PARSE_ERR_TOO_BIG);
    assert_string_equal(o.err, "http: request head too large");
    assert_int_equal(o.used, 256);
}

static void test_too_big(void **state)
{
    (void)state;
    char text[400];
    memcpy(text, "GET /", 5);
    memset(text + 5, 'a', 300);
    strcpy(text + 305, " HTTP/1.1\r\n\r\n");
    outcome_t o = parse_all_ways(text, 256);
    assert_int_equal(o.rc, PARSE_ERR_TOO_BIG);
    assert_string_equal(o.err, "http: request head too large");
    assert_int_equal(o.used, 256);

    /* A head of exactly max_bytes is accepted; one byte less is not. */
    size_t len = strlen(text);
    o = parse_all_ways(text, len);
    assert_int_equal(o.rc, PARSE_OK);
    assert_int_equal(o.used, len);
    o = parse_whole(text, len - 1);
    assert_int_equal(o.rc, PARSE_ERR_TOO_BIG);

    /* A head exactly max_bytes long, followed by more bytes: OK. */
    char more[420];
    snprintf(more, sizeof more, "%sGET", text);
    o = parse_whole(more, len);
    assert_int_equal(o.rc, PARSE_OK);
    assert_int_equal(o.used, len);
}

static void test_too_many_headers(void **state)
{
    (void)state;
    check_too_many_headers("GET / HTTP/1.1\r\n", HTTP_REQ_MAX_HEADERS);
}

static void test_bad_request_line(void **state)
{
    (void)state;
    static const bad_case_t cases[] = {
        {"G@T / HTTP/1.1\r\n\r\n", PARSE_ERR_PROTO, "http: bad method"},
        {"GE(T / HTTP/1.1\r\n\r\n", PARSE_ERR_PROTO, "http: bad method"},
        {" GET / HTTP/1.1\r\n\r\n", PARSE_ERR_PROTO, "http: bad method"},
        {"GET\t/ HTTP/1.1\r\n\r\n", PARSE_ERR_PROTO, "http: bad request line"},
        {"GET /\r\n\r\n", PARSE_ERR_PROTO, "http: bad request line"},
        {"GET\r\n\r\n", PARSE_ERR_PROTO, "http: bad request line"},
        {"GET  / HTTP/1.1\r\n\r\n", PARSE_ERR_PROTO, "http: bad request target"},
        {"GET http://h/ HTTP/1.1\r\n\r\n", PARSE_ERR_PROTO, "http: bad request target"},
        {"GET *x HTTP/1.1\r\n\r\n", PARSE_ERR_PROTO, "http: bad request target"},
        {"GET /a\x01z HTTP/1.1\r\n\r\n", PARSE_ERR_PROTO, "http: bad request target"},
        {"GET /a\x7f HTTP/1.1\r\n\r\n", PARSE_ERR_PROTO, "http: bad request target"},
        {"GET /a\tb HTTP/1.1\r\n\r\n", PARSE_ERR_PROTO, "http: bad request target"},
        {"GET /a\rb HTTP/1.1\r\n\r\n", PARSE_ERR_PROTO, "http: bad request target"},
        {"GET / HTTP/1.2\r\n\r\n", PARSE_ERR_PROTO, "http: bad version"},
        {"GET / HTTP/2.0\r\n\r\n", PARSE_ERR_PROTO, "http: bad version"},
        {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", PARSE_ERR_PROTO, "http: bad version"},
        {"GET / http/1.1\r\n\r\n", PARSE_ERR_PROTO, "http: bad version"},
        {"GET / HTTP/1.1 \r\n\r\n", PARSE_ERR_PROTO, "http: bad version"},
        {"GET / HTTP/1.10\r\n\r\n", PARSE_ERR_PROTO, "http: bad version"},
        {"GET / HTTP/1\r\n\r\n", PARSE_ERR_PROTO, "http: bad version"},
    };
    check_bad(cases, sizeof cases / sizeof cases[0]);

    /* A method byte that no method has ends the request as it arrives, with
     * no line end (a TLS ClientHello, an RTMP C0), sticky until a reset; so
     * does a method over 32 bytes. */
    static const char tls[] = "\x16\x03\x01\x02\x00\x01";
    outcome_t o = parse_pieces(tls, sizeof tls - 1, 1, 1, 1024);
    assert_int_equal(o.rc, PARSE_ERR_PROTO);
    assert_string_equal(o.err, "http: bad method");
    static const char rtmp_c0[] = "\x03\x00\x00\x00\x00";
    o = parse_pieces(rtmp_c0, sizeof rtmp_c0 - 1, 1, 1, 1024);
    assert_int_equal(o.rc, PARSE_ERR_PROTO);
    static const char long_method[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG";
    o = parse_pieces(long_method, sizeof long_method - 1, 1, 1, 1024);
    assert_int_equal(o.rc, PARSE_ERR_PROTO);
    assert_string_equal(o.err, "http: bad method");
    static const char max_method[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF";
    o = parse_pieces(max_method, sizeof max_method - 1, 1, 1, 1024);
    assert_int_equal(o.rc, PARSE_NEED_MORE);
    {
        http_req_parser_t *p = http_req_parser_new(1024);
        size_t used;
        const http_req_t *r;
        const char *err;
        assert_int_equal(http_req_feed(p, (const uint8_t *)"\x16", 1, &used, &r, &err),
                         PARSE_ERR_PROTO);
        assert_int_equal(http_req_feed(p, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, &used,
                                       &r, &err),
                         PARSE_ERR_PROTO);
        assert_int_equal(used, 0);
        http_req_parser_reset(p);
        assert_int_equal(http_req_feed(p, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, &used,
                                       &r, &err),
                         PARSE_OK);
        http_req_parser_free(p);
    }

    /* A NUL byte is rejected, not taken as the end of a string. */
    static const char nul_target[] = "GET /a\0b HTTP/1.1\r\n\r\n";
    size_t len = sizeof nul_target - 1;
    o = parse_pieces(nul_target, len, len, len, 1024);
    assert_int_equal(o.rc, PARSE_ERR_PROTO);
    assert_string_equal(o.err, "http: bad request target");
    static const char nul_value[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    len = sizeof nul_value - 1;
    o = parse_pieces(nul_value, len, 1, 1, 1024);
    assert_int_equal(o.rc, PARSE_ERR_PROTO);
    assert_string_equal(o.err, "http: bad header value");
}

static void test_bad_headers(void **state)
{
    (void)state;
    static const bad_case_t cases[] = {
        {"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", PARSE_ERR_PROTO, "http: obsolete line folding"},
        {"GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", PARSE_ERR_PROTO, "http: obsolete line folding"},
        {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", PARSE_ERR_PROTO, "http: obsolete line folding"},
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", PARSE_ERR_PROTO, "http: bad header name"},
        {"GET / HTTP/1.1\r\nHo\tst: a\r\n\r\n", PARSE_ERR_PROTO, "http: bad header name"},
        {"GET / HTTP/1.1\r\n: a\r\n\r\n", PARSE_ERR_PROTO, "http: bad header name"},
        {"GET / HTTP/1.1\r\nX(y): a\r\n\r\n", PARSE_ERR_PROTO, "http: bad header name"},
        {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", PARSE_ERR_PROTO, "http: bad header line"},
        {"GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n", PARSE_ERR_PROTO, "http: bad header value"},
        {"GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", PARSE_ERR_PROTO, "http: bad header value"},
        {"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", PARSE_ERR_PROTO, "http: duplicate Host"},
    };
    check_bad(cases, sizeof cases / sizeof cases[0]);
}

static void test_content_length(void **state)
{
    (void)state;
    outcome_t o = parse_all_ways("POST /x HTTP/1.1\r\nContent-Length: 12\r\n\r\n", 1024);
    assert_int_equal(o.rc, PARSE_OK);
    assert_non_null(strstr(o.flat, "|cl=12|ch=0|"));
    o = parse_whole("POST /x HTTP/1.1\r\ncontent-length:  007 \r\n\r\n", 1024);
    assert_int_equal(o.rc, PARSE_OK);
    assert_non_null(strstr(o.flat, "|cl=7|"));
    o = parse_whole("POST /x HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\n", 1024);
    assert_int_equal(o.rc, PARSE_OK);
    assert_non_null(strstr(o.flat, "|cl=9223372036854775807|"));
    o = parse_all_ways("POST /x HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n", 1024);
    assert_int_equal(o.rc, PARSE_OK);
    assert_non_null(strstr(o.flat, "|cl=-1|ch=1|"));

    static const bad_case_t cases[] = {
        {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", PARSE_ERR_PROTO,
         "http: duplicate Content-Length"},
        {"POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n", PARSE_ERR_PROTO,
         "http: duplicate Content-Length"},
        {"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", PARSE_ERR_PROTO,
         "http: bad Content-Length"},
        {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", PARSE_ERR_PROTO,
         "http: bad Content-Length"},
        {"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", PARSE_ERR_PROTO,
         "http: bad Content-Length"},
        {"POST / HTTP/1.1\r\nContent-Length: 1a\r\n\r\n", PARSE_ERR_PROTO,
         "http: bad Content-Length"},
        {"POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", PARSE_ERR_PROTO,
         "http: bad Content-Length"},
        {"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", PARSE_ERR_PROTO, "http: bad Content-Length"},
        {"POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n", PARSE_ERR_PROTO,
         "http: bad Content-Length"},
        {"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
         PARSE_ERR_PROTO, "http: Content-Length with Transfer-Encoding"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
         PARSE_ERR_PROTO, "http: Content-Length with Transfer-Encoding"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", PARSE_ERR_PROTO,
         "http: unsupported Transfer-Encoding"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", PARSE_ERR_PROTO,
         "http: unsupported Transfer-Encoding"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
         PARSE_ERR_PROTO, "http: unsupported Transfer-Encoding"},
    };
    check_bad(cases, sizeof cases / sizeof cases[0]);
}

static void test_error_is_sticky(void **state)
{
    (void)state;
    http_req_parser_t *p = http_req_parser_new(1024);
    const char *bad = "GET / HTTP/3\r\n";
    size_t used;
    const http_req_t *r;
    const char *err;
    assert_int_equal(http_req_feed(p, (const uint8_t *)bad, strlen(bad), &used, &r, &err),
                     PARSE_ERR_PROTO);
    assert_string_equal(err, "http: bad version");
    const char *good = "GET / HTTP/1.1\r\n\r\n";
    assert_int_equal(http_req_feed(p, (const uint8_t *)good, strlen(good), &used, &r, &err),
                     PARSE_ERR_PROTO);
    assert_int_equal(used, 0);
    assert_null(r);
    assert_string_equal(err, "http: bad version");
    /* A reset makes the parser usable again. */
    http_req_parser_reset(p);
    assert_int_equal(http_req_feed(p, (const uint8_t *)good, strlen(good), &used, &r, &err),
                     PARSE_OK);
    assert_string_equal(r->path, "/");
    http_req_parser_free(p);
    http_req_parser_free(NULL);
}

static void test_reset_second_request(void **state)
{
    (void)state;
    const char *two = "GET /first.flv?a=1 HTTP/1.1\r\nHost: a\r\nX-One: 1\r\n\r\n"
                      "HEAD /second HTTP/1.0\r\nHost: b\r\n\r\n";
    size_t len = strlen(two);
    http_req_parser_t *p = http_req_parser_new(1024);
    size_t used;
    const http_req_t *r;
    const char *err;
    assert_int_equal(http_req_feed(p, (const uint8_t *)two, len, &used, &r, &err), PARSE_OK);
    size_t first_len = strlen("GET /first.flv?a=1 HTTP/1.1\r\nHost: a\r\nX-One: 1\r\n\r\n");
    assert_int_equal(used, first_len);
    assert_string_equal(r->path, "/first.flv");
    assert_string_equal(r->query, "a=1");
    assert_int_equal(r->nheaders, 2);

    http_req_parser_reset(p);
    size_t off = used;
    assert_int_equal(http_req_feed(p, (const uint8_t *)two + off, len - off, &used, &r, &err),
                     PARSE_OK);
    assert_int_equal(off + used, len);
    assert_string_equal(r->method, "HEAD");
    assert_string_equal(r->path, "/second");
    assert_string_equal(r->query, "");
    assert_int_equal(r->version_minor, 0);
    assert_int_equal(r->keep_alive, 0);
    assert_int_equal(r->nheaders, 1);
    assert_string_equal(http_req_header(r, "host"), "b");
    assert_null(http_req_header(r, "X-One"));
    http_req_parser_free(p);
}

static void test_url_decode(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(http_url_decode("live", 4, out, sizeof out), 0);
    assert_string_equal(out, "live");
    assert_int_equal(http_url_decode("a%20b%2Fc%2fd", 13, out, sizeof out), 0);
    assert_string_equal(out, "a b/c/d");
    assert_int_equal(http_url_decode("a+b", 3, out, sizeof out), 0);
    assert_string_equal(out, "a+b");
    assert_int_equal(http_url_decode("caf%C3%A9", 9, out, sizeof out), 0);
    assert_string_equal(out, "caf\xc3\xa9");
    assert_int_equal(http_url_decode("", 0, out, sizeof out), 0);
    assert_string_equal(out, "");
    /* Only len bytes are read. */
    assert_int_equal(http_url_decode("abc%41", 3, out, sizeof out), 0);
    assert_string_equal(out, "abc");

    assert_int_equal(http_url_decode("a%zzb", 5, out, sizeof out), NODE_EINVAL);
    assert_string_equal(out, "");
    assert_int_equal(http_url_decode("a%4", 3, out, sizeof out), NODE_EINVAL);
    assert_int_equal(http_url_decode("a%", 2, out, sizeof out), NODE_EINVAL);
    assert_int_equal(http_url_decode("%g1", 3, out, sizeof out), NODE_EINVAL);
    assert_int_equal(http_url_decode("a%00b", 5, out, sizeof out), NODE_EINVAL);
    assert_int_equal(http_url_decode("a\0b", 3, out, sizeof out), NODE_EINVAL);

    /* dst must hold the result and its NUL. */
    assert_int_equal(http_url_decode("abcd", 4, out, 5), 0);
    assert_string_equal(out, "abcd");
    assert_int_equal(http_url_decode("abcde", 5, out, 5), NODE_EINVAL);
    assert_int_equal(http_url_decode("%41%42%43%44", 12, out, 5), 0);
    assert_string_equal(out, "ABCD");
    assert_int_equal(http_url_decode("", 0, out, 0), NODE_EINVAL);
    assert_int_equal(http_url_decode("", 0, out, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_get_every_split),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_query_split),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_bare_lf),
        cmocka_unit_test(test_leading_empty_lines),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_too_many_headers),
        cmocka_unit_test(test_bad_request_line),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_error_is_sticky),
        cmocka_unit_test(test_reset_second_request),
        cmocka_unit_test(test_url_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
