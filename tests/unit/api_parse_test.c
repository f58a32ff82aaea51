/* Unit tests of api/parse.c: api_unescape (MHD's unescaper for the API's
 * paths and query values: escapes decoded, "%00" and broken escapes kept),
 * the streams cursor ("<app>/<name>") and its order, and the events' type
 * list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "parse.h"

static void expect(const char *in, const char *want)
{
    char buf[128];
    assert_true(strlen(in) < sizeof buf);
    strcpy(buf, in);
    size_t n = api_unescape(buf);
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
}

static void test_decodes(void **state)
{
    (void)state;
    expect("", "");
    expect("/api/v1/streams/live/cam", "/api/v1/streams/live/cam");
    expect("/a%20b", "/a b");
    expect("%2e%2E%2f", "../");
    expect("%41%4a%6a%7e", "AJj~");
    expect("%ff", "\xff");
    expect("%25", "%");
    expect("%2541", "%41"); /* decoded once, not twice */
    expect("+", "+");       /* '+' is a plus here */
}

static void test_keeps_nul_and_broken_escapes(void **state)
{
    (void)state;
    expect("/assets/app.js%00.txt", "/assets/app.js%00.txt");
    expect("%00", "%00");
    expect("%", "%");
    expect("%4", "%4");
    expect("a%g1", "a%g1");
    expect("a%1g", "a%1g");
    expect("%%41", "%A");
    expect("x%0", "x%0");
    expect("%01", "\x01");
}

static void test_stream_cursor(void **state)
{
    (void)state;
    size_t n = 0;
    assert_int_equal(api_parse_stream_cursor("live/cam", &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(api_parse_stream_cursor("live/a/b", &n), 0); /* the name may hold '/' */
    assert_int_equal(n, 4);
    const char *bad[] = {"", "live", "/cam", "live/", "/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(api_parse_stream_cursor(bad[i], &n), -1);
    assert_int_equal(api_parse_stream_cursor(NULL, &n), -1);
    /* by app, then by name, not by the joined string: app "a-x" sorts after
     * app "a" although "a-x/a" < "a/z" bytewise ('-' < '/') */
    assert_int_equal(api_stream_cursor_cmp("live", "cam", "live/cam", 4), 0);
    assert_true(api_stream_cursor_cmp("live", "cam", "live/dog", 4) < 0);
    assert_true(api_stream_cursor_cmp("live", "dog", "live/cam", 4) > 0);
    assert_true(api_stream_cursor_cmp("a", "z", "ab/a", 2) < 0);
    assert_true(api_stream_cursor_cmp("ab", "a", "a/z", 1) > 0);
    assert_true(api_stream_cursor_cmp("a-x", "a", "a/z", 1) > 0);
    assert_true(api_stream_cursor_cmp("live", "a", "live/a/b", 4) < 0);
    assert_true(api_stream_cursor_cmp("live", "a/c", "live/a/b", 4) > 0);
}

static void expect_types(const char *in, const char *want)
{
    char out[API_EVENT_TYPES_LEN], err[160] = "";
    int rc = api_parse_event_types(in, out, err, sizeof err);
    if (want) {
        assert_int_equal(rc, 0);
        assert_string_equal(out, want);
    } else {
        assert_int_equal(rc, -1);
        assert_true(strncmp(err, "type: ", 6) == 0);
    }
}

static void test_event_types(void **state)
{
    (void)state;
    expect_types("session.kick", ",session.kick,");
    expect_types("publish.start,play.stop", ",publish.start,play.stop,");
    expect_types("a_b-c.9", ",a_b-c.9,");
    const char *bad[] = {"", ",", "a,", ",a", "a,,b", "A", "a b", "a;b", "é", "a\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_types(bad[i], NULL);
    /* lengths and counts at and past their bounds */
    char s[API_EVENT_TYPES_LEN + 8];
    memset(s, 'a', API_EVENT_TYPE_LEN);
    s[API_EVENT_TYPE_LEN] = '\0';
    char want[API_EVENT_TYPE_LEN + 3] = ",";
    memcpy(want + 1, s, API_EVENT_TYPE_LEN);
    memcpy(want + 1 + API_EVENT_TYPE_LEN, ",", 2);
    expect_types(s, want);
    s[API_EVENT_TYPE_LEN] = 'a';
    s[API_EVENT_TYPE_LEN + 1] = '\0';
    expect_types(s, NULL);
    size_t n = 0;
    for (int i = 0; i < API_EVENT_TYPES_MAX; i++) {
        memset(s + n, 'b', API_EVENT_TYPE_LEN);
        n += API_EVENT_TYPE_LEN;
        s[n++] = ',';
    }
    s[n - 1] = '\0'; /* API_EVENT_TYPES_MAX of the longest: the most out holds */
    char out[API_EVENT_TYPES_LEN], err[160];
    assert_int_equal(api_parse_event_types(s, out, err, sizeof err), 0);
    assert_int_equal(strlen(out), n + 1);
    s[n - 1] = ',';
    s[n] = 'c';
    s[n + 1] = '\0';
    expect_types(s, NULL); /* one type too many */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decodes),
        cmocka_unit_test(test_keeps_nul_and_broken_escapes),
        cmocka_unit_test(test_stream_cursor),
        cmocka_unit_test(test_event_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
