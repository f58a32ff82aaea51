/* Unit tests of api_unescape (api/parse.c), MHD's unescaper for the API's
 * paths and query values: escapes decoded, "%00" and broken escapes kept. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decodes),
        cmocka_unit_test(test_keeps_nul_and_broken_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
