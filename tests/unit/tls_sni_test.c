/* Unit tests of tls_sni: the host patterns tls.sni accepts and which one a
 * client's server name selects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tls_sni.h"

static int match(const char *pattern, const char *name)
{
    return tls_sni_match(pattern, name, strlen(name));
}

static int pick(const char *const *patterns, size_t n, const char *name)
{
    return tls_sni_pick(patterns, n, name, strlen(name));
}

static void test_pattern_valid(void **state)
{
    (void)state;
    assert_true(tls_sni_pattern_valid("example.com"));
    assert_true(tls_sni_pattern_valid("a-b.EXAMPLE.com"));
    assert_true(tls_sni_pattern_valid("localhost"));
    assert_true(tls_sni_pattern_valid("*.example.com"));
    assert_false(tls_sni_pattern_valid(NULL));
    assert_false(tls_sni_pattern_valid(""));
    assert_false(tls_sni_pattern_valid("*"));
    assert_false(tls_sni_pattern_valid("*.com"));   /* a wildcard needs two labels after it */
    assert_false(tls_sni_pattern_valid("a.*.com")); /* only the first label */
    assert_false(tls_sni_pattern_valid("*a.example.com"));
    assert_false(tls_sni_pattern_valid("-a.example.com"));
    assert_false(tls_sni_pattern_valid("a-.example.com"));
    assert_false(tls_sni_pattern_valid("a..example.com"));
    assert_false(tls_sni_pattern_valid("example.com."));
    assert_false(tls_sni_pattern_valid("exa mple.com"));
    assert_false(tls_sni_pattern_valid("ex_ample.com"));
    char label[70];
    memset(label, 'a', 64);
    strcpy(label + 64, ".com");
    assert_false(tls_sni_pattern_valid(label)); /* a label of 64 */
    label[1] = '.';
    assert_true(tls_sni_pattern_valid(label));
    char longname[300];
    memset(longname, 'a', sizeof longname);
    for (size_t i = 10; i < sizeof longname; i += 10)
        longname[i] = '.';
    longname[254] = '\0';
    assert_false(tls_sni_pattern_valid(longname)); /* 254 bytes */
    longname[253] = '\0';
    assert_true(tls_sni_pattern_valid(longname));
}

static void test_match(void **state)
{
    (void)state;
    assert_true(match("example.com", "example.com"));
    assert_true(match("example.com", "EXAMPLE.Com"));
    assert_true(match("example.com", "example.com.")); /* a trailing dot */
    assert_false(match("example.com", "example.com.."));
    assert_false(match("example.com", "www.example.com"));
    assert_false(match("example.com", "example.co"));
    assert_true(match("*.example.com", "a.example.com"));
    assert_true(match("*.example.com", "A-1.Example.COM."));
    assert_false(match("*.example.com", "example.com"));
    assert_false(match("*.example.com", "a.b.example.com"));
    assert_false(match("*.example.com", ".example.com"));
    assert_false(match("*.example.com", "a.example.org"));
    assert_false(match("example.com", ""));
    assert_false(match("example.com", "exam\0le.com"));
    assert_int_equal(tls_sni_match("example.com", "example.comX", 11), 1); /* len, not the NUL */
}

static void test_pick(void **state)
{
    (void)state;
    const char *const p[] = {"*.example.com", "www.example.com", "other.org", "*.example.com"};
    assert_int_equal(pick(p, 4, "www.example.com"), 1); /* exact before wildcard */
    assert_int_equal(pick(p, 4, "cdn.example.com"), 0); /* the first wildcard */
    assert_int_equal(pick(p, 4, "OTHER.org"), 2);
    assert_int_equal(pick(p, 4, "example.com"), -1);
    assert_int_equal(pick(p, 4, "unknown.net"), -1);
    assert_int_equal(pick(p, 0, "www.example.com"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pattern_valid),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_pick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
