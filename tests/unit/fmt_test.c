/* Unit tests of fmt: the times and rates every response and event shows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "fmt.h"

static void test_time_format(void **state)
{
    (void)state;
    char b[40];
    fmt_time(0, b, sizeof b);
    assert_string_equal(b, "1970-01-01T00:00:00.000Z");
    fmt_time(1795514400123LL, b, sizeof b); /* 2026-11-24T10:00:00.123Z */
    assert_string_equal(b, "2026-11-24T10:00:00.123Z");
    fmt_time(-1, b, sizeof b);
    assert_string_equal(b, "1969-12-31T23:59:59.999Z");
}

static void test_kbps(void **state)
{
    (void)state;
    assert_true(fmt_kbps(0) == 0);
    assert_true(fabs(fmt_kbps(1234567) - 1234.6) < 1e-9);
    assert_true(fabs(fmt_kbps(49) - 0.0) < 1e-9);
    assert_true(fabs(fmt_kbps(50) - 0.1) < 1e-9);
}

static void test_time_truncated(void **state)
{
    (void)state;
    char b[11];
    fmt_time(1795514400123LL, b, sizeof b);
    assert_string_equal(b, "2026-11-24");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_kbps),
        cmocka_unit_test(test_time_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
