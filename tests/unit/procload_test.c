/* Unit tests of procload: the /proc/self/stat and /proc/stat parsers on
 * sample text (whole, odd command names, cut, malformed), the bounded scan
 * of /proc/self/fd (for kernels before 6.2), a sample of this process, and
 * the headroom over uses with and without limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "procload.c" /* its statics: the fd directory scan */

/* A real line (Linux 6.x), utime 1234 and stime 567. */
static const char SELF_STAT[] =
    "4242 (weir) S 1 4242 4242 0 -1 4194560 1520 0 0 0 1234 567 0 0 20 0 3 0 98765 "
    "123456789 4321 18446744073709551615 1 1 0 0 0 0 0 4096 17642 0 0 0 17 1 0 0 0 0 0\n";

static void test_self_stat(void **state)
{
    (void)state;
    uint64_t t = 0;
    assert_int_equal(procload_parse_self_stat(SELF_STAT, &t), 0);
    assert_int_equal(t, 1234 + 567);
    /* The command name may hold spaces and parentheses: the last ')' ends it. */
    const char odd[] = "7 (a b) (c)) R 1 7 7 0 -1 0 0 0 0 0 10 20 0 0 20 0 1 0 5 0 0\n";
    assert_int_equal(procload_parse_self_stat(odd, &t), 0);
    assert_int_equal(t, 30);
    /* Cut before stime, no name, empty. */
    assert_int_equal(procload_parse_self_stat("7 (weir) S 1 7 7 0 -1 0 0 0 0 0 10", &t), -1);
    assert_int_equal(procload_parse_self_stat("7 weir S 1 7 7 0 -1 0 0 0 0 0 10 20", &t), -1);
    assert_int_equal(procload_parse_self_stat("", &t), -1);
    assert_int_equal(procload_parse_self_stat("7 (x) S a b c d e f g h i j k l m", &t), -1);
}

static const char STAT[] = "cpu  100 5 50 800 20 3 2 10 7 0\n"
                           "cpu0 50 2 25 400 10 2 1 5 3 0\n"
                           "cpu1 50 3 25 400 10 1 1 5 4 0\n"
                           "intr 123456 0 9 0 0 0\n"
                           "ctxt 987654\n"
                           "btime 1700000000\n"
                           "processes 4242\n";

static void test_stat(void **state)
{
    (void)state;
    uint64_t busy = 0, total = 0;
    unsigned cores = 0;
    assert_int_equal(procload_parse_stat(STAT, &busy, &total, &cores), 0);
    /* busy: user + nice + system + irq + softirq + steal (guest is in user);
     * idle and iowait are not. */
    assert_int_equal(busy, 100 + 5 + 50 + 3 + 2 + 10);
    assert_int_equal(total, busy + 800 + 20);
    assert_int_equal(cores, 2);
    /* An old kernel's four columns. */
    assert_int_equal(procload_parse_stat("cpu 1 2 3 4\ncpu0 1 2 3 4\n", &busy, &total, &cores), 0);
    assert_int_equal(busy, 6);
    assert_int_equal(total, 10);
    assert_int_equal(cores, 1);
    /* Cut within the per-core lines: the cores seen so far. */
    char cut[sizeof STAT];
    size_t at = (size_t)(strstr(STAT, "cpu1") - STAT) + 2;
    memcpy(cut, STAT, at);
    cut[at] = '\0';
    assert_int_equal(procload_parse_stat(cut, &busy, &total, &cores), 0);
    assert_int_equal(cores, 1);
    /* No aggregate line, too few numbers, nothing. */
    assert_int_equal(procload_parse_stat("cpu0 1 2 3 4\nintr 5\n", &busy, &total, &cores), -1);
    assert_int_equal(procload_parse_stat("cpu 1 2 3\n", &busy, &total, &cores), -1);
    assert_int_equal(procload_parse_stat("", &busy, &total, &cores), -1);
    assert_int_equal(procload_parse_stat("cpux 1 2 3 4\n", &busy, &total, &cores), -1);
}

/* The scan in steps of 7 entries, across opens, counts what one read of the
 * whole directory counts: every fd, not the directory's own. */
static void test_fd_scan(void **state)
{
    (void)state;
    int extra[40];
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        assert_true((extra[i] = open("/dev/null", O_RDONLY)) >= 0);
    long pos = 0;
    uint64_t whole = 0, steps = 0;
    assert_int_equal(scan_fds("/proc/self/fd", &pos, &whole, 1u << 20), 1);
    pos = 0;
    int rc, calls = 0;
    while ((rc = scan_fds("/proc/self/fd", &pos, &steps, 7)) == 0)
        calls++;
    assert_int_equal(rc, 1);
    assert_true(calls >= 5);
    assert_int_equal(steps, whole);
    assert_true(whole >= 43);
    struct stat st; /* Linux 6.2 and later: the size is the count */
    if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0)
        assert_int_equal((uint64_t)st.st_size, whole);
    procload_t pl = {0};
    sample_fds(&pl);
    assert_int_equal(pl.fds_open, whole);
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        close(extra[i]);
    pos = 0;
    steps = 0;
    assert_int_equal(scan_fds("/proc/self/fd", &pos, &steps, 1u << 20), 1);
    assert_int_equal(steps, whole - 40);
    assert_int_equal(scan_fds("/nonexistent", &pos, &steps, 7), -1);
}

static void test_sample(void **state)
{
    (void)state;
    procload_t pl = {0};
    procload_sample(&pl, 1000);
    assert_int_equal(pl.at_ms, 1000);
    assert_true(pl.cores >= 1);
    assert_true(pl.rss_bytes > 0);
    assert_true(pl.fds_open >= 3); /* stdin, stdout, stderr */
    assert_true(pl.process_seconds >= 0);
    /* Within PROCLOAD_SAMPLE_MS: no new sample. */
    procload_sample(&pl, 1000 + PROCLOAD_SAMPLE_MS - 1);
    assert_int_equal(pl.at_ms, 1000);
    double before = pl.process_seconds;
    volatile double x = 0; /* some CPU to measure */
    for (int i = 0; i < 50000000; i++)
        x = x + i * 0.5;
    assert_true(x > 0);
    procload_sample(&pl, 1000 + PROCLOAD_SAMPLE_MS);
    assert_int_equal(pl.at_ms, 1000 + PROCLOAD_SAMPLE_MS);
    assert_true(pl.process_seconds > before);
    /* The window is the 1000 ms given, whatever the loop took. */
    assert_true(pl.process_percent > 0);
    assert_true(pl.process_percent <= (pl.process_seconds - before) * 100 + 1e-9);
    assert_true(pl.machine_percent >= 0 && pl.machine_percent <= 100);
}

static void test_headroom(void **state)
{
    (void)state;
    int by = 7;
    procload_use_t u[] = {{10, 20}, {1, 10000}, {0, 0}, {30, 1024}, {0.25, 1}};
    double h = procload_headroom(u, 5, &by);
    assert_true(h > 0.499 && h < 0.501);
    assert_int_equal(by, 0);
    /* A limit of 0 is left out, however much is used. */
    u[2].used = 1e9;
    assert_true(procload_headroom(u, 5, &by) > 0.499);
    /* The highest fraction wins; past the limit is 0, never below. */
    u[4].used = 0.9;
    h = procload_headroom(u, 5, &by);
    assert_true(h > 0.099 && h < 0.101);
    assert_int_equal(by, 4);
    u[3].used = 5000;
    assert_true(procload_headroom(u, 5, &by) == 0);
    assert_int_equal(by, 3);
    /* No limit at all: 1, from nothing. */
    procload_use_t none[] = {{5, 0}, {6, 0}};
    assert_true(procload_headroom(none, 2, &by) == 1);
    assert_int_equal(by, -1);
    assert_true(procload_headroom(none, 0, &by) == 1);
    /* Idle with limits: 1, from the first. */
    procload_use_t idle[] = {{0, 20}, {0, 1}};
    assert_true(procload_headroom(idle, 2, &by) == 1);
    assert_int_equal(by, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_stat), cmocka_unit_test(test_stat),
        cmocka_unit_test(test_fd_scan),   cmocka_unit_test(test_sample),
        cmocka_unit_test(test_headroom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
