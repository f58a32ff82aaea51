/* Unit tests of fdlimit: the need of a configuration, the soft limit asked
 * for, and the fds client connections leave free. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fdlimit.h"

static void test_need(void **state)
{
    (void)state;
    assert_int_equal(FDLIMIT_OVERHEAD, 64 + 64 + 64 + 256);
    assert_int_equal(fdlimit_need(10000), 10000 + FDLIMIT_OVERHEAD);
    assert_int_equal(fdlimit_need(1), 1 + FDLIMIT_OVERHEAD);
    assert_true(fdlimit_need(0) == UINT64_MAX); /* no connection limit */
}

static void test_target(void **state)
{
    (void)state;
    assert_int_equal(fdlimit_target(1024, 524288, 10448), 10448);  /* raised to the need */
    assert_int_equal(fdlimit_target(1024, 4096, 10448), 4096);     /* up to the hard limit */
    assert_int_equal(fdlimit_target(65536, 524288, 10448), 65536); /* never lowered */
    assert_int_equal(fdlimit_target(256, 256, 10448), 256);
    assert_int_equal(fdlimit_target(1024, UINT64_MAX, UINT64_MAX), FDLIMIT_NR_OPEN);
}

static void test_spare(void **state)
{
    (void)state;
    assert_int_equal(fdlimit_spare(1048576), FDLIMIT_SPARE_MAX);
    assert_int_equal(fdlimit_spare(256), 64);
    assert_int_equal(fdlimit_spare(100), 25);
    assert_int_equal(fdlimit_spare(0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_need),
        cmocka_unit_test(test_target),
        cmocka_unit_test(test_spare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
