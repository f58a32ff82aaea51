/* Unit tests of the relay information on the wire (relay_hops.h): the
 * source identity's parse and format, and the RTMP query form of the loop
 * parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "relay_hops.h"

static void test_source_round_trip(void **state)
{
    (void)state;
    char wire[RELAY_SOURCE_MAX], id[RELAY_SOURCE_ID_MAX];
    uint32_t off = 1;
    assert_int_equal(relay_source_format(wire, "9f2c.1234567890123", 4294967295u), 0);
    assert_string_equal(wire, "9f2c.1234567890123:4294967295");
    assert_int_equal(relay_source_parse(wire, id, &off), 0);
    assert_string_equal(id, "9f2c.1234567890123");
    assert_int_equal(off, 4294967295u);
    /* the longest id fits the wire form */
    char longid[RELAY_SOURCE_ID_MAX];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_int_equal(relay_source_format(wire, longid, 4000000000u), 0);
    assert_int_equal(relay_source_parse(wire, id, &off), 0);
    assert_string_equal(id, longid);
    assert_int_equal(off, 4000000000u);
}

static void test_source_refusals(void **state)
{
    (void)state;
    static const char *const BAD[] = {
        "",           ":5",          "a:",         "a",         "a:-1",         "a:4294967296",
        "a:12345678901", "a b:1",    "a:1x",       "a/b:1",     "a:1:",         "\xc3\xa9:1",
    };
    char id[RELAY_SOURCE_ID_MAX];
    uint32_t off = 9;
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        assert_int_equal(relay_source_parse(BAD[i], id, &off), -1);
        assert_string_equal(id, "");
        assert_int_equal(off, 0);
    }
    assert_int_equal(relay_source_parse(NULL, id, &off), -1);
    /* the offset is after the last colon; ids have no colon */
    assert_int_equal(relay_source_parse("a:b:1", id, &off), -1);
    char longid[RELAY_SOURCE_ID_MAX + 1];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    char wire[RELAY_SOURCE_MAX];
    assert_int_equal(relay_source_format(wire, longid, 1), -1);
    assert_string_equal(wire, "");
    assert_int_equal(relay_source_format(wire, "", 1), -1);
    assert_false(relay_source_id_valid("x y"));
    assert_true(relay_source_id_valid("A-z_0.9"));
}

static void test_query(void **state)
{
    (void)state;
    unsigned hops = 7;
    char via[32];
    assert_int_equal(relay_hops_parse_query("x=1&weir_hops=2&weir_via=a,b", &hops, via, sizeof via),
                     0);
    assert_int_equal(hops, 2);
    assert_string_equal(via, "a,b");
    assert_int_equal(relay_hops_parse_query("weir_hops=", &hops, via, sizeof via), -1);
    assert_int_equal(relay_hops_parse_query("weir_hops=1x", &hops, via, sizeof via), -1);
    assert_int_equal(relay_hops_parse_query(NULL, &hops, via, sizeof via), 0);
    assert_int_equal(hops, 0);
    char src[RELAY_SOURCE_MAX];
    relay_hops_query_source("weir_hops=1&weir_source=n1.5:40&x=y", src, sizeof src);
    assert_string_equal(src, "n1.5:40");
    relay_hops_query_source("weir_hops=1", src, sizeof src);
    assert_string_equal(src, "");
    relay_hops_query_source("weir_source=n1.5:40", src, 4); /* too long: absent */
    assert_string_equal(src, "");
    relay_hops_query_source(NULL, src, sizeof src);
    assert_string_equal(src, "");
    assert_true(relay_hops_refusal_is_loop(RELAY_HOPS_LOOP_TEXT " through n1"));
    assert_false(relay_hops_refusal_is_loop("Denied"));
    assert_false(relay_hops_refusal_is_loop(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_round_trip),
        cmocka_unit_test(test_source_refusals),
        cmocka_unit_test(test_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
