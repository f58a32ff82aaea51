/* Unit tests of the admission limits: the total, per address, the token
 * bucket, the bounded address table (eviction, reuse, no leak), the
 * address keys and the rate-limited refusal log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "conn_limits.h"

/* 10.x.y.z for n = x.y.z */
static conn_limits_addr_t v4(uint32_t n)
{
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(0x0a000000u | (n & 0xffffffu));
    conn_limits_addr_t a;
    assert_int_equal(conn_limits_addr_from_sockaddr((struct sockaddr *)&in, &a), 0);
    return a;
}

static void test_total(void **state)
{
    (void)state;
    conn_limits_t *l = conn_limits_new(3, 0, 0, 1);
    assert_non_null(l);
    assert_int_equal(conn_limits_capacity(l), 0); /* no per-address limit: no table */
    limit_kind_t why = LIMIT_KINDS;
    conn_limits_addr_t a = v4(1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(conn_limits_admit(l, i == 1 ? NULL : &a, 0, &why), 0);
    assert_int_equal(conn_limits_open(l), 3);
    assert_int_equal(conn_limits_admit(l, &a, 0, &why), -1);
    assert_int_equal(why, LIMIT_MAX_CONNECTIONS);
    conn_limits_release(l, &a);
    assert_int_equal(conn_limits_admit(l, &a, 0, &why), 0);
    assert_int_equal(conn_limits_open(l), 3);
    conn_limits_free(l);

    l = conn_limits_new(0, 0, 0, 1); /* no limit at all */
    for (int i = 0; i < 100000; i++)
        assert_int_equal(conn_limits_admit(l, &a, 0, &why), 0);
    assert_int_equal(conn_limits_open(l), 100000);
    conn_limits_free(l);
    conn_limits_free(NULL);
}

static void test_per_address(void **state)
{
    (void)state;
    conn_limits_t *l = conn_limits_new(100, 2, 0, 7);
    conn_limits_addr_t a = v4(1), b = v4(2);
    limit_kind_t why = LIMIT_KINDS;
    assert_int_equal(conn_limits_admit(l, &a, 0, &why), 0);
    assert_int_equal(conn_limits_admit(l, &a, 0, &why), 0);
    assert_int_equal(conn_limits_admit(l, &a, 0, &why), -1);
    assert_int_equal(why, LIMIT_MAX_CONNECTIONS_PER_ADDRESS);
    assert_int_equal(conn_limits_admit(l, &b, 0, &why), 0); /* another address is not affected */
    assert_int_equal(conn_limits_addresses(l), 2);
    assert_int_equal(conn_limits_open(l), 3);
    conn_limits_release(l, &a);
    assert_int_equal(conn_limits_admit(l, &a, 0, &why), 0);
    conn_limits_release(l, &a);
    conn_limits_release(l, &a);
    conn_limits_release(l, &b);
    /* Without a rate, an address with no connection is forgotten at once. */
    assert_int_equal(conn_limits_addresses(l), 0);
    assert_int_equal(conn_limits_open(l), 0);
    /* A release of an address never admitted changes nothing in the table. */
    conn_limits_release(l, &b);
    assert_int_equal(conn_limits_addresses(l), 0);
    conn_limits_free(l);
}

static void test_token_bucket(void **state)
{
    (void)state;
    conn_limits_t *l = conn_limits_new(100, 0, 5, 3); /* 5/s, burst 10 */
    conn_limits_addr_t a = v4(9), b = v4(10);
    limit_kind_t why = LIMIT_KINDS;
    int64_t t = 1000;
    for (int i = 0; i < 10; i++)
        assert_int_equal(conn_limits_admit(l, &a, t, &why), 0);
    assert_int_equal(conn_limits_admit(l, &a, t, &why), -1);
    assert_int_equal(why, LIMIT_NEW_CONNECTIONS_PER_ADDRESS);
    assert_int_equal(conn_limits_admit(l, &b, t, &why), 0); /* per address */
    /* A refused attempt takes no token: 200 ms later exactly one is back. */
    assert_int_equal(conn_limits_admit(l, &a, t + 199, &why), -1);
    assert_int_equal(conn_limits_admit(l, &a, t + 200, &why), 0);
    assert_int_equal(conn_limits_admit(l, &a, t + 200, &why), -1);
    /* Closing connections gives no tokens back. */
    for (int i = 0; i < 11; i++)
        conn_limits_release(l, &a);
    assert_int_equal(conn_limits_admit(l, &a, t + 201, &why), -1);
    /* After 2 s the bucket is full again: 10, not more. */
    int ok = 0;
    for (int i = 0; i < 20; i++)
        ok += conn_limits_admit(l, &a, t + 2200, &why) == 0;
    assert_int_equal(ok, 10);
    conn_limits_free(l);
}

static void test_idle_addresses_forgotten(void **state)
{
    (void)state;
    conn_limits_t *l = conn_limits_new(10, 0, 1, 5); /* 1/s, burst 2 */
    limit_kind_t why;
    for (uint32_t i = 0; i < 8; i++) {
        conn_limits_addr_t a = v4(i);
        assert_int_equal(conn_limits_admit(l, &a, 0, &why), 0);
        conn_limits_release(l, &a);
    }
    /* Idle but the buckets are not full: remembered. */
    assert_int_equal(conn_limits_addresses(l), 8);
    conn_limits_addr_t z = v4(100);
    /* Each admission forgets up to two refilled idle addresses. */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(conn_limits_admit(l, &z, 10000 + i * 1000, &why), 0);
        conn_limits_release(l, &z);
    }
    assert_int_equal(conn_limits_addresses(l), 1); /* only z, refilling */
    assert_int_equal(conn_limits_open(l), 0);
    conn_limits_free(l);
}

static void test_table_bounded(void **state)
{
    (void)state;
    /* max_connections 4: 2 x 4 + 1024 entries. */
    conn_limits_t *l = conn_limits_new(4, 1, 1, 11);
    size_t cap = conn_limits_capacity(l);
    assert_int_equal(cap, 2 * 4 + 1024);
    limit_kind_t why;
    conn_limits_addr_t held[3];
    for (uint32_t i = 0; i < 3; i++) {
        held[i] = v4(0x100000 + i);
        assert_int_equal(conn_limits_admit(l, &held[i], 0, &why), 0);
    }
    /* A flood of new addresses, each connecting and leaving at once (their
     * buckets not refilled, so they are remembered): the table stays within
     * its bound, and the addresses holding connections are never evicted. */
    for (uint32_t i = 0; i < 50000; i++) {
        conn_limits_addr_t a = v4(i), b = v4(i + 1000000);
        assert_int_equal(conn_limits_admit(l, &a, 0, &why), 0);
        assert_int_equal(conn_limits_admit(l, &b, 0, &why), -1); /* total reached */
        assert_int_equal(why, LIMIT_MAX_CONNECTIONS);
        conn_limits_release(l, &a);
        assert_true(conn_limits_addresses(l) <= cap);
    }
    assert_int_equal(conn_limits_addresses(l), cap);
    assert_int_equal(conn_limits_admit(l, &held[0], 0, &why), -1); /* still counted */
    assert_int_equal(why, LIMIT_MAX_CONNECTIONS_PER_ADDRESS);
    for (uint32_t i = 0; i < 3; i++)
        conn_limits_release(l, &held[i]);
    assert_int_equal(conn_limits_open(l), 0);
    conn_limits_free(l);

    /* No total limit: LIMITS_ADDR_UNLIMITED addresses can hold connections;
     * one more new address is refused, an old one still admitted. */
    l = conn_limits_new(0, 10, 0, 13);
    assert_int_equal(conn_limits_capacity(l), LIMITS_ADDR_UNLIMITED);
    for (uint32_t i = 0; i < LIMITS_ADDR_UNLIMITED; i++) {
        conn_limits_addr_t a = v4(i);
        assert_int_equal(conn_limits_admit(l, &a, 0, &why), 0);
    }
    conn_limits_addr_t extra = v4(LIMITS_ADDR_UNLIMITED + 1), old = v4(7);
    assert_int_equal(conn_limits_admit(l, &extra, 0, &why), -1);
    assert_int_equal(why, LIMIT_MAX_CONNECTIONS);
    assert_int_equal(conn_limits_admit(l, &old, 0, &why), 0);
    conn_limits_release(l, &old);
    conn_limits_release(l, &old);
    assert_int_equal(conn_limits_admit(l, &extra, 0, &why), 0); /* old's entry was freed */
    conn_limits_free(l);
}

/* Random admissions and releases against a plain model. */
static void test_against_model(void **state)
{
    (void)state;
    enum { NADDR = 64 };
    conn_limits_t *l = conn_limits_new(150, 5, 0, 99);
    unsigned model[NADDR] = {0};
    unsigned total = 0;
    uint32_t x = 12345;
    limit_kind_t why;
    for (int step = 0; step < 200000; step++) {
        x = x * 1103515245u + 12345u;
        unsigned i = (x >> 16) % NADDR;
        conn_limits_addr_t a = v4(i * 977);
        if ((x >> 8) & 1) {
            int want = total < 150 && model[i] < 5;
            int rc = conn_limits_admit(l, &a, step, &why);
            assert_int_equal(rc == 0, want);
            if (rc == 0) {
                model[i]++;
                total++;
            } else {
                assert_int_equal(why, total >= 150 ? LIMIT_MAX_CONNECTIONS
                                                   : LIMIT_MAX_CONNECTIONS_PER_ADDRESS);
            }
        } else if (model[i]) {
            conn_limits_release(l, &a);
            model[i]--;
            total--;
        }
        assert_int_equal(conn_limits_open(l), total);
    }
    size_t used = 0;
    for (int i = 0; i < NADDR; i++)
        used += model[i] > 0;
    assert_int_equal(conn_limits_addresses(l), used);
    conn_limits_free(l);
}

static void test_addr_keys(void **state)
{
    (void)state;
    conn_limits_addr_t s, r;
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.2", &in.sin_addr);
    assert_int_equal(conn_limits_addr_from_sockaddr((struct sockaddr *)&in, &s), 0);
    assert_int_equal(conn_limits_addr_from_remote("127.0.0.2:5678", &r), 0);
    assert_memory_equal(s.b, r.b, 16);
    /* the same address over IPv6 (mapped) is the same key */
    assert_int_equal(conn_limits_addr_from_remote("[::ffff:127.0.0.2]:1", &r), 0);
    assert_memory_equal(s.b, r.b, 16);
    assert_int_equal(conn_limits_addr_from_remote("127.0.0.3:5678", &r), 0);
    assert_memory_not_equal(s.b, r.b, 16);

    struct sockaddr_in6 in6;
    memset(&in6, 0, sizeof in6);
    in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
    assert_int_equal(conn_limits_addr_from_sockaddr((struct sockaddr *)&in6, &s), 0);
    assert_int_equal(conn_limits_addr_from_remote("[2001:db8::1]:443", &r), 0);
    assert_memory_equal(s.b, r.b, 16);

    struct sockaddr other = {0};
    other.sa_family = AF_UNIX;
    assert_int_equal(conn_limits_addr_from_sockaddr(&other, &s), -1);
    assert_int_equal(conn_limits_addr_from_remote("unknown", &r), -1);
    assert_int_equal(conn_limits_addr_from_remote("[2001:db8::1:443", &r), -1);
    assert_int_equal(conn_limits_addr_from_remote("[]:1", &r), -1);
    assert_int_equal(conn_limits_addr_from_remote(":1", &r), -1);
    assert_int_equal(conn_limits_addr_from_remote("300.1.1.1:1", &r), -1);
}

static void test_refusal_log(void **state)
{
    (void)state;
    conn_limits_t *l = conn_limits_new(1, 0, 0, 1);
    uint64_t sup = 99;
    assert_int_equal(conn_limits_refused(l, LIMIT_MAX_CONNECTIONS, 0, &sup), 1);
    assert_int_equal(sup, 0);
    for (int i = 1; i <= 5; i++)
        assert_int_equal(conn_limits_refused(l, LIMIT_MAX_CONNECTIONS, i * 1000, &sup), 0);
    /* another limit has its own interval */
    assert_int_equal(conn_limits_refused(l, LIMIT_MAX_STREAMS, 5000, &sup), 1);
    assert_int_equal(conn_limits_unlogged(l, LIMIT_MAX_CONNECTIONS, 9999), 0);
    assert_int_equal(conn_limits_refused(l, LIMIT_MAX_CONNECTIONS, 10000, &sup), 1);
    assert_int_equal(sup, 5);
    assert_int_equal(conn_limits_refused(l, LIMIT_MAX_CONNECTIONS, 10001, &sup), 0);
    assert_int_equal(conn_limits_unlogged(l, LIMIT_MAX_CONNECTIONS, 15000), 0);
    assert_int_equal(conn_limits_unlogged(l, LIMIT_MAX_CONNECTIONS, 20000), 1);
    assert_int_equal(conn_limits_unlogged(l, LIMIT_MAX_CONNECTIONS, 40000), 0);
    conn_limits_count(l, LIMIT_IDLE_TIMEOUT);
    assert_int_equal(conn_limits_refused_total(l, LIMIT_MAX_CONNECTIONS), 8);
    assert_int_equal(conn_limits_refused_total(l, LIMIT_MAX_STREAMS), 1);
    assert_int_equal(conn_limits_refused_total(l, LIMIT_IDLE_TIMEOUT), 1);
    assert_int_equal(conn_limits_refused_total(l, LIMIT_SLOW_PLAYER), 0);
    assert_string_equal(conn_limits_kind_name(LIMIT_NEW_CONNECTIONS_PER_ADDRESS),
                        "new_connections_per_address");
    assert_string_equal(conn_limits_kind_name(LIMIT_HEADER_TOO_LARGE), "header_too_large");
    conn_limits_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_total),         cmocka_unit_test(test_per_address),
        cmocka_unit_test(test_token_bucket),  cmocka_unit_test(test_idle_addresses_forgotten),
        cmocka_unit_test(test_table_bounded), cmocka_unit_test(test_against_model),
        cmocka_unit_test(test_addr_keys),     cmocka_unit_test(test_refusal_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
