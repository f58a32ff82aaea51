/* Unit tests of cpus (cpus.h): cgroup quotas read as CPUs, rounded up, and
 * the usable count never above what the machine has. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <unistd.h>

#include "cpus.h"

static void test_cpu_max(void **state)
{
    (void)state;
    assert_int_equal(cpus_from_cpu_max("max 100000\n"), 0);
    assert_int_equal(cpus_from_cpu_max("200000 100000\n"), 2);
    assert_int_equal(cpus_from_cpu_max("150000 100000\n"), 2); /* 1.5 -> 2 */
    assert_int_equal(cpus_from_cpu_max("50000 100000"), 1);
    assert_int_equal(cpus_from_cpu_max("1600000 100000"), 16);
    assert_int_equal(cpus_from_cpu_max(""), 0);
    assert_int_equal(cpus_from_cpu_max("12x 100000"), 0);
    assert_int_equal(cpus_from_cpu_max("100000"), 0);
    assert_int_equal(cpus_from_cpu_max("100000 0"), 0);
}

static void test_cfs(void **state)
{
    (void)state;
    assert_int_equal(cpus_from_cfs(-1, 100000), 0); /* v1: no quota */
    assert_int_equal(cpus_from_cfs(300000, 100000), 3);
    assert_int_equal(cpus_from_cfs(250000, 100000), 3);
    assert_int_equal(cpus_from_cfs(100000, 0), 0);
}

static void test_usable_within_machine(void **state)
{
    (void)state;
    cpus_t c;
    cpus_usable(&c);
    long on = sysconf(_SC_NPROCESSORS_ONLN);
    assert_true(c.online >= 1);
    assert_int_equal(c.online, on < 1 ? 1 : on);
    assert_true(c.usable >= 1 && c.usable <= c.online);
    if (c.affinity)
        assert_true(c.usable <= c.affinity);
    if (c.quota)
        assert_true(c.usable <= c.quota);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_max),
        cmocka_unit_test(test_cfs),
        cmocka_unit_test(test_usable_within_machine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
