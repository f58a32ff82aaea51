/* Unit tests of the shared URL parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common.h"
#include "url.h"

static void expect_ok(const char *s, const char *scheme, uint16_t dport, const char *host,
                      uint16_t port, const char *path, int ipv6)
{
    url_t u;
    char err[128] = "";
    assert_int_equal(url_parse(s, scheme, dport, &u, err, sizeof err), 0);
    assert_string_equal(u.host, host);
    assert_int_equal(u.port, port);
    assert_string_equal(u.path, path);
    assert_int_equal(u.ipv6, ipv6);
}

static void expect_err(const char *s, const char *scheme, const char *msg)
{
    url_t u;
    char err[128] = "";
    assert_int_equal(url_parse(s, scheme, 1, &u, err, sizeof err), NODE_EINVAL);
    if (!strstr(err, msg))
        fail_msg("%s: error '%s' lacks '%s'", s, err, msg);
}

static void test_valid(void **state)
{
    (void)state;
    expect_ok("rtmp://127.0.0.1/live/a", "rtmp", 1935, "127.0.0.1", 1935, "/live/a", 0);
    expect_ok("RTMP://host:19350/live/a?k=v", "rtmp", 1935, "host", 19350, "/live/a?k=v", 0);
    expect_ok("http://[::1]:8080/live/a.flv#frag", "http", 80, "::1", 8080, "/live/a.flv", 1);
    expect_ok("http://example.org/x", "http", 80, "example.org", 80, "/x", 0);
    url_t u;
    char err[64], auth[64];
    assert_int_equal(url_parse("http://[::1]:8080/x", "http", 80, &u, err, sizeof err), 0);
    assert_int_equal(url_authority(&u, auth, sizeof auth), 10);
    assert_string_equal(auth, "[::1]:8080");
    assert_int_equal(url_authority(&u, auth, 5), -1);
}

static void test_invalid(void **state)
{
    (void)state;
    expect_err("ftp://h/x", "rtmp", "expected rtmp://");
    expect_err("rtmp:/h/x", "rtmp", "expected rtmp://");
    expect_err("rtmp:///x", "rtmp", "missing host");
    expect_err("rtmp://[::1/x", "rtmp", "unterminated IPv6");
    expect_err("rtmp://h:0/x", "rtmp", "bad port");
    expect_err("rtmp://h:65536/x", "rtmp", "bad port");
    expect_err("rtmp://h:123456/x", "rtmp", "bad port");
    expect_err("rtmp://h:/x", "rtmp", "bad port");
    expect_err("rtmp://h:80x/x", "rtmp", "bad port");
    expect_err("rtmp://h", "rtmp", "missing path");
    expect_err("rtmp://h/", "rtmp", "missing path");
    expect_err("http://h/a b", "http", "space or control");
    expect_err("http://h/a\x01", "http", "space or control");
    char big[URL_HOST_MAX + 32];
    memcpy(big, "http://", 7);
    memset(big + 7, 'a', URL_HOST_MAX);
    strcpy(big + 7 + URL_HOST_MAX, "/x");
    expect_err(big, "http", "host too long");
}

static void test_rtmp_split(void **state)
{
    (void)state;
    url_rtmp_t r;
    char err[128];
    assert_int_equal(
        url_rtmp_parse("rtmp://[::1]:1936/live/sub/cam?t=1", &r, err, sizeof err), 0);
    assert_string_equal(r.host, "::1");
    assert_int_equal(r.port, 1936);
    assert_string_equal(r.app, "live");
    assert_string_equal(r.name, "sub/cam?t=1");
    assert_string_equal(r.tc_url, "rtmp://[::1]:1936/live");
    assert_int_equal(url_rtmp_parse("rtmp://h/live", &r, err, sizeof err), NODE_EINVAL);
    assert_non_null(strstr(err, "missing stream name"));
    assert_int_equal(url_rtmp_parse("rtmp://h//x", &r, err, sizeof err), NODE_EINVAL);
    assert_non_null(strstr(err, "missing application name"));
}

static void test_for_log(void **state)
{
    (void)state;
    char b[URL_LOG_MAX], small[16];
    assert_string_equal(url_for_log("rtmp://h:1935/live/cam?sign=abc&expires=9", b, sizeof b),
                        "rtmp://h:1935/live/cam?...");
    assert_string_equal(url_for_log("http://h/live/x.flv", b, sizeof b), "http://h/live/x.flv");
    assert_string_equal(url_for_log("rtmp://h/live?", b, sizeof b), "rtmp://h/live?...");
    assert_string_equal(url_for_log("/live/x.flv?t=1", b, sizeof b), "/live/x.flv?...");
    assert_string_equal(url_for_log(NULL, b, sizeof b), "");
    /* cut, never overrun, and the query still hidden */
    assert_string_equal(url_for_log("rtmp://host.example/live/cam?sign=abc", small, sizeof small),
                        "rtmp://host.exa");
    assert_string_equal(url_for_log("rtmp://h/a?sign=abcdefghijkl", small, sizeof small),
                        "rtmp://h/a?...");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_rtmp_split),
        cmocka_unit_test(test_for_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
