/* Unit tests of app_auth: address ranges (IPv4, IPv6, IPv4-mapped, /0,
 * /32, /128), remotes, query parameters, signed URLs (right, wrong,
 * expired, missing, malformed, upper-case hex, repeated), the order of the
 * checks and the entry lookup. app_auth.c is included (as h2o's unit tests
 * do) with CRYPTO_memcmp counted, so the tests see that the signature is
 * compared with it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

static int memcmp_calls;

static int counting_memcmp(const void *a, const void *b, size_t len)
{
    memcmp_calls++;
    return CRYPTO_memcmp(a, b, len);
}

#define CRYPTO_memcmp counting_memcmp
#include "../../node/codec/app_auth.c"
#undef CRYPTO_memcmp

#define SECRET "0123456789abcdef-secret"
#define NOW 1700000000
/* HMAC-SHA256(SECRET, "live/cam:1700000000"), by Python's hmac module. */
#define SIGN_CAM_NOW "bf57627d176a72406ee93895576dfb51cd9bfff7fba808419c6d234acf9bd3ef"

static app_auth_cidr_t cidr(const char *s)
{
    app_auth_cidr_t c;
    if (app_auth_cidr_parse(s, &c) != 0)
        fail_msg("cidr %s refused", s);
    return c;
}

/* 1 if remote is inside the range s. */
static int in_range(const char *s, const char *remote)
{
    app_auth_cidr_t c = cidr(s);
    uint8_t a[16];
    if (app_auth_addr_parse(remote, a) != 0)
        fail_msg("remote %s refused", remote);
    return app_auth_cidr_match(&c, a);
}

static void test_cidr_ranges(void **state)
{
    (void)state;
    /* /0: every IPv4 address, no IPv6 one; ::/0: everything */
    assert_true(in_range("0.0.0.0/0", "1.2.3.4:5"));
    assert_true(in_range("0.0.0.0/0", "255.255.255.255:1"));
    assert_false(in_range("0.0.0.0/0", "[::1]:5"));
    assert_true(in_range("::/0", "[2001:db8::1]:5"));
    assert_true(in_range("::/0", "10.1.2.3:5"));
    /* /32 and /128 are one address; a bare address is the same */
    assert_true(in_range("10.0.0.1/32", "10.0.0.1:1"));
    assert_false(in_range("10.0.0.1/32", "10.0.0.2:1"));
    assert_false(in_range("10.0.0.1", "10.0.0.0:1"));
    assert_int_equal(cidr("10.0.0.1").bits, 128);
    assert_true(in_range("::1/128", "[::1]:8080"));
    assert_false(in_range("::1/128", "[::2]:8080"));
    assert_false(in_range("::1", "127.0.0.1:1"));
    /* a prefix that is not a whole byte */
    assert_true(in_range("192.168.0.0/23", "192.168.1.255:1"));
    assert_false(in_range("192.168.0.0/23", "192.168.2.0:1"));
    assert_true(in_range("2001:db8::/33", "[2001:db8:7fff::1]:1"));
    assert_false(in_range("2001:db8::/33", "[2001:db8:8000::1]:1"));
    /* IPv4-mapped IPv6 (a dual-stack listener) matches IPv4 ranges */
    assert_true(in_range("10.0.0.0/8", "[::ffff:10.2.3.4]:5"));
    assert_false(in_range("10.0.0.0/8", "[::ffff:11.2.3.4]:5"));
    assert_true(in_range("::ffff:10.0.0.0/104", "10.9.9.9:1"));
    assert_true(in_range("127.0.0.0/8", "127.0.0.2"));
}

static void test_cidr_refused(void **state)
{
    (void)state;
    static const char *const BAD[] = {
        "",
        "1.2.3.4/33",
        "::/129",
        "/8",
        "1.2.3.4/",
        "1.2.3.4/8x",
        "1.2.3.4/-1",
        "1.2.3.4/+8",
        "1.2.3.4/0008",
        "10.0.0/8",
        "10.0.0.1/8",
        "::1/64",
        "fe80::1%eth0",
        "1.2.3.4/8/8",
        "host.example/32",
        " 1.2.3.4",
        "1.2.3.4:80",
        "[::1]/128",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000/8"};
    app_auth_cidr_t c;
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
        if (app_auth_cidr_parse(BAD[i], &c) != -1)
            fail_msg("\"%s\" was accepted", BAD[i]);
}

static void test_remote_parse(void **state)
{
    (void)state;
    uint8_t a[16];
    static const uint8_t LOOP4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
    static const uint8_t LOOP6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    assert_int_equal(app_auth_addr_parse("127.0.0.1:1935", a), 0);
    assert_memory_equal(a, LOOP4, 16);
    assert_int_equal(app_auth_addr_parse("127.0.0.1", a), 0);
    assert_memory_equal(a, LOOP4, 16);
    assert_int_equal(app_auth_addr_parse("[::1]:80", a), 0);
    assert_memory_equal(a, LOOP6, 16);
    assert_int_equal(app_auth_addr_parse("::1", a), 0);
    assert_memory_equal(a, LOOP6, 16);
    assert_int_equal(app_auth_addr_parse("[::ffff:127.0.0.1]:9", a), 0);
    assert_memory_equal(a, LOOP4, 16);
    assert_int_equal(app_auth_addr_parse("unknown", a), -1);
    assert_int_equal(app_auth_addr_parse("[::1:80", a), -1);
    assert_int_equal(app_auth_addr_parse("[::1]x", a), -1);
    assert_int_equal(app_auth_addr_parse("", a), -1);
    assert_int_equal(app_auth_addr_parse(":80", a), -1);
}

static void test_query_get(void **state)
{
    (void)state;
    char v[16];
    assert_int_equal(app_auth_query_get("a=1&sign=ab&expires=9", "sign", v, sizeof v), 1);
    assert_string_equal(v, "ab");
    assert_int_equal(app_auth_query_get("expires=9&a=1&sign=ab", "expires", v, sizeof v), 1);
    assert_string_equal(v, "9");
    assert_int_equal(app_auth_query_get("a=1&b=2", "sign", v, sizeof v), 0);
    assert_int_equal(app_auth_query_get("", "sign", v, sizeof v), 0);
    assert_int_equal(app_auth_query_get(NULL, "sign", v, sizeof v), 0);
    assert_int_equal(app_auth_query_get("signx=1&xsign=2", "sign", v, sizeof v), 0);
    /* repeated: refused, whatever the values */
    assert_int_equal(app_auth_query_get("sign=ab&x=1&sign=ab", "sign", v, sizeof v), -1);
    /* percent-encoding, in keys and values */
    assert_int_equal(app_auth_query_get("x=1&%73ign=%61%42", "sign", v, sizeof v), 1);
    assert_string_equal(v, "aB");
    assert_int_equal(app_auth_query_get("sign=ab&%73ign=cd", "sign", v, sizeof v), -1);
    assert_int_equal(app_auth_query_get("sign=%zz", "sign", v, sizeof v), -1);
    assert_int_equal(app_auth_query_get("sign=%00", "sign", v, sizeof v), -1);
    /* no '=', empty value, too long, empty parts */
    assert_int_equal(app_auth_query_get("sign", "sign", v, sizeof v), 1);
    assert_string_equal(v, "");
    assert_int_equal(app_auth_query_get("&&sign=&&", "sign", v, sizeof v), 1);
    assert_string_equal(v, "");
    assert_int_equal(app_auth_query_get("sign=0123456789abcdef", "sign", v, sizeof v), -1);
    /* a key too long to be ours is skipped, not an error */
    assert_int_equal(app_auth_query_get("kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk=1&sign=1",
                                        "sign", v, sizeof v),
                     1);
}

/* A table with app "live": publish signed, play open, publish from
 * 127.0.0.0/8 but not 127.0.0.9. */
static void live_table(app_auth_table_t *t)
{
    memset(t, 0, sizeof *t);
    app_auth_entry_t *e = &t->apps[0];
    strcpy(e->app, "live");
    strcpy(e->secret[APP_AUTH_PUBLISH], SECRET);
    e->allow[APP_AUTH_PUBLISH].v[0] = cidr("127.0.0.0/8");
    e->allow[APP_AUTH_PUBLISH].n = 1;
    e->deny[APP_AUTH_PUBLISH].v[0] = cidr("127.0.0.9");
    e->deny[APP_AUTH_PUBLISH].n = 1;
    t->n = 1;
}

static app_auth_result_t pub(const app_auth_table_t *t, const char *name, const char *query,
                             int64_t now)
{
    return app_auth_check(t, APP_AUTH_PUBLISH, "live", name, query, now, "127.0.0.1:4000");
}

static void test_sign_known_vector(void **state)
{
    (void)state;
    char hex[APP_AUTH_SIGN_HEX_LEN + 1];
    assert_int_equal(app_auth_sign(SECRET, "live", "cam", "1700000000", hex), 0);
    assert_string_equal(hex, SIGN_CAM_NOW);
    assert_int_equal(app_auth_sign(SECRET, "live", "cam", "1700000001", hex), 0);
    assert_string_not_equal(hex, SIGN_CAM_NOW);
}

static void test_signature(void **state)
{
    (void)state;
    app_auth_table_t t;
    live_table(&t);
    const char *ok = "expires=1700000000&sign=" SIGN_CAM_NOW;
    /* right, at and before the expiry; parameters in any order */
    assert_int_equal(pub(&t, "cam", ok, NOW), APP_AUTH_OK);
    assert_int_equal(pub(&t, "cam", ok, NOW - 3600), APP_AUTH_OK);
    assert_int_equal(pub(&t, "cam", "sign=" SIGN_CAM_NOW "&x=1&expires=1700000000", NOW),
                     APP_AUTH_OK);
    /* expired: one second after */
    assert_int_equal(pub(&t, "cam", ok, NOW + 1), APP_AUTH_EXPIRED);
    /* upper-case hex is the same signature */
    char upper[128];
    snprintf(upper, sizeof upper, "expires=1700000000&sign=%s", SIGN_CAM_NOW);
    for (char *p = upper + strlen("expires=1700000000&sign="); *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_int_equal(pub(&t, "cam", upper, NOW), APP_AUTH_OK);
    /* percent-encoded values decode to the same */
    assert_int_equal(pub(&t, "cam", "expires=%31700000000&sign=" SIGN_CAM_NOW, NOW), APP_AUTH_OK);
    /* wrong: another name, another expiry, one digit changed, another app */
    assert_int_equal(pub(&t, "cam2", ok, NOW), APP_AUTH_BAD);
    assert_int_equal(pub(&t, "cam", "expires=1800000000&sign=" SIGN_CAM_NOW, NOW), APP_AUTH_BAD);
    assert_int_equal(pub(&t, "cam", "expires=01700000000&sign=" SIGN_CAM_NOW, NOW), APP_AUTH_BAD);
    char wrong[128];
    snprintf(wrong, sizeof wrong, "%s", ok);
    wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == 'f' ? 'e' : 'f';
    assert_int_equal(pub(&t, "cam", wrong, NOW), APP_AUTH_BAD);
    /* a wrong signature that has expired is wrong, not expired */
    assert_int_equal(pub(&t, "cam", wrong, NOW + 10), APP_AUTH_BAD);
    /* missing */
    assert_int_equal(pub(&t, "cam", "", NOW), APP_AUTH_MISSING);
    assert_int_equal(pub(&t, "cam", NULL, NOW), APP_AUTH_MISSING);
    assert_int_equal(pub(&t, "cam", "sign=" SIGN_CAM_NOW, NOW), APP_AUTH_MISSING);
    assert_int_equal(pub(&t, "cam", "expires=1700000000", NOW), APP_AUTH_MISSING);
    /* malformed */
    static const char *const BAD[] = {
        "expires=1700000000&sign=bf57627d176a72406ee93895576dfb51cd9bfff7fba808419c6d234acf9bd3e",
        "expires=1700000000&sign=bf57627d176a72406ee93895576dfb51cd9bfff7fba808419c6d234acf9bd3efa",
        "expires=1700000000&sign=gf57627d176a72406ee93895576dfb51cd9bfff7fba808419c6d234acf9bd3ef",
        "expires=1700000000&sign=",
        "expires=&sign=" SIGN_CAM_NOW,
        "expires=-1&sign=" SIGN_CAM_NOW,
        "expires=17e8&sign=" SIGN_CAM_NOW,
        "expires=99999999999999999999&sign=" SIGN_CAM_NOW,
        "expires=1700000000&sign=%zz",
        /* repeated, even with the same value */
        "expires=1700000000&sign=" SIGN_CAM_NOW "&sign=" SIGN_CAM_NOW,
        "expires=1700000000&expires=1700000000&sign=" SIGN_CAM_NOW,
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
        if (pub(&t, "cam", BAD[i], NOW) != APP_AUTH_BAD)
            fail_msg("case %zu (%s) not refused as bad", i, BAD[i]);
}

static void test_constant_time_compare_used(void **state)
{
    (void)state;
    app_auth_table_t t;
    live_table(&t);
    memcmp_calls = 0;
    assert_int_equal(pub(&t, "cam", "expires=1700000000&sign=" SIGN_CAM_NOW, NOW), APP_AUTH_OK);
    assert_int_equal(memcmp_calls, 1);
    /* a wrong signature of the right shape goes through the same compare */
    assert_int_equal(pub(&t, "cam",
                         "expires=1700000000&sign="
                         "0000000000000000000000000000000000000000000000000000000000000000",
                         NOW),
                     APP_AUTH_BAD);
    assert_int_equal(memcmp_calls, 2);
}

static void test_address_then_signature(void **state)
{
    (void)state;
    app_auth_table_t t;
    live_table(&t);
    const char *ok = "expires=1700000000&sign=" SIGN_CAM_NOW;
    /* outside the allow list, or in the deny list: the address decides,
     * however good the signature */
    assert_int_equal(app_auth_check(&t, APP_AUTH_PUBLISH, "live", "cam", ok, NOW, "10.0.0.1:5"),
                     APP_AUTH_ADDRESS);
    assert_int_equal(app_auth_check(&t, APP_AUTH_PUBLISH, "live", "cam", ok, NOW, "127.0.0.9:5"),
                     APP_AUTH_ADDRESS);
    assert_int_equal(app_auth_check(&t, APP_AUTH_PUBLISH, "live", "cam", "", NOW, "[::1]:5"),
                     APP_AUTH_ADDRESS);
    /* an address that cannot be read is refused when there are ranges */
    assert_int_equal(app_auth_check(&t, APP_AUTH_PUBLISH, "live", "cam", ok, NOW, "unknown"),
                     APP_AUTH_ADDRESS);
    assert_int_equal(app_auth_check(&t, APP_AUTH_PUBLISH, "live", "cam", ok, NOW, NULL),
                     APP_AUTH_ADDRESS);
    /* inside: then the signature */
    assert_int_equal(app_auth_check(&t, APP_AUTH_PUBLISH, "live", "cam", "", NOW, "127.0.0.8:5"),
                     APP_AUTH_MISSING);
    assert_int_equal(app_auth_check(&t, APP_AUTH_PUBLISH, "live", "cam", ok, NOW, "127.0.0.8:5"),
                     APP_AUTH_OK);
    /* play has no rules in this entry */
    assert_int_equal(app_auth_check(&t, APP_AUTH_PLAY, "live", "cam", "", NOW, "10.0.0.1:5"),
                     APP_AUTH_OK);
    /* deny only: everyone else passes */
    t.apps[0].allow[APP_AUTH_PUBLISH].n = 0;
    strcpy(t.apps[0].secret[APP_AUTH_PUBLISH], "");
    assert_int_equal(app_auth_check(&t, APP_AUTH_PUBLISH, "live", "cam", "", NOW, "10.0.0.1:5"),
                     APP_AUTH_OK);
    assert_int_equal(app_auth_check(&t, APP_AUTH_PUBLISH, "live", "cam", "", NOW, "127.0.0.9:5"),
                     APP_AUTH_ADDRESS);
}

static void test_find_and_default(void **state)
{
    (void)state;
    app_auth_table_t t;
    live_table(&t);
    /* no "*": other apps have no rules */
    assert_null(app_auth_find(&t, "tv"));
    assert_null(app_auth_find(NULL, "live"));
    assert_int_equal(app_auth_check(&t, APP_AUTH_PUBLISH, "tv", "cam", "", NOW, "10.0.0.1:5"),
                     APP_AUTH_OK);
    /* "*" rules the others, the app's own entry wins wherever it is */
    app_auth_entry_t *any = &t.apps[1];
    memset(any, 0, sizeof *any);
    strcpy(any->app, "*");
    strcpy(any->secret[APP_AUTH_PLAY], SECRET);
    t.apps[2] = t.apps[0];
    t.apps[0] = *any;
    t.apps[1] = t.apps[2];
    t.n = 2;
    assert_string_equal(app_auth_find(&t, "live")->app, "live");
    assert_string_equal(app_auth_find(&t, "tv")->app, "*");
    assert_int_equal(app_auth_check(&t, APP_AUTH_PLAY, "tv", "cam", "", NOW, "10.0.0.1:5"),
                     APP_AUTH_MISSING);
    /* the signed text names the real app, not "*" */
    char hex[APP_AUTH_SIGN_HEX_LEN + 1], q[128];
    assert_int_equal(app_auth_sign(SECRET, "tv", "cam", "1700000000", hex), 0);
    snprintf(q, sizeof q, "expires=1700000000&sign=%s", hex);
    assert_int_equal(app_auth_check(&t, APP_AUTH_PLAY, "tv", "cam", q, NOW, "10.0.0.1:5"),
                     APP_AUTH_OK);
    assert_int_equal(app_auth_check(&t, APP_AUTH_PLAY, "radio", "cam", q, NOW, "10.0.0.1:5"),
                     APP_AUTH_BAD);
}

static void test_entry_from_json(void **state)
{
    (void)state;
    app_auth_entry_t e;
    char err[256];
    cJSON *j =
        cJSON_Parse("{\"app\": \"live\", \"play_secret\": \"" SECRET "\","
                    " \"play_allow\": [\"127.0.0.1/32\", \"::1\"], \"publish_deny\": [\"::/0\"]}");
    assert_non_null(j);
    assert_int_equal(app_auth_entry_from_json(j, &e, err, sizeof err), 0);
    cJSON_Delete(j);
    assert_string_equal(e.app, "live");
    assert_string_equal(e.secret[APP_AUTH_PLAY], SECRET);
    assert_string_equal(e.secret[APP_AUTH_PUBLISH], "");
    assert_int_equal(e.allow[APP_AUTH_PLAY].n, 2);
    assert_int_equal(e.deny[APP_AUTH_PUBLISH].n, 1);
    assert_int_equal(e.deny[APP_AUTH_PUBLISH].v[0].bits, 0);
    /* a secret of 128 bytes is the longest */
    char doc[512];
    snprintf(doc, sizeof doc, "{\"app\": \"*\", \"publish_secret\": \"%0128d\"}", 0);
    j = cJSON_Parse(doc);
    assert_int_equal(app_auth_entry_from_json(j, &e, err, sizeof err), 0);
    cJSON_Delete(j);
    snprintf(doc, sizeof doc, "{\"app\": \"*\", \"publish_secret\": \"%0129d\"}", 0);
    j = cJSON_Parse(doc);
    assert_int_equal(app_auth_entry_from_json(j, &e, err, sizeof err), -1);
    cJSON_Delete(j);
    assert_string_equal(err, "publish_secret: longer than 128 bytes");
    /* more than APP_AUTH_CIDRS_MAX ranges */
    size_t o = (size_t)snprintf(doc, sizeof doc, "{\"app\": \"x\", \"play_deny\": [");
    for (int i = 0; i <= APP_AUTH_CIDRS_MAX; i++)
        o += (size_t)snprintf(doc + o, sizeof doc - o, "%s\"10.0.0.%d\"", i ? "," : "", i);
    snprintf(doc + o, sizeof doc - o, "]}");
    j = cJSON_Parse(doc);
    assert_non_null(j);
    assert_int_equal(app_auth_entry_from_json(j, &e, err, sizeof err), -1);
    cJSON_Delete(j);
    assert_string_equal(err, "play_deny: more than 32 address ranges");
}

static void test_texts(void **state)
{
    (void)state;
    assert_string_equal(app_auth_reason(APP_AUTH_EXPIRED), "expired");
    assert_string_equal(app_auth_reason(APP_AUTH_BAD), "bad_signature");
    assert_string_equal(app_auth_reason(APP_AUTH_MISSING), "missing_signature");
    assert_string_equal(app_auth_reason(APP_AUTH_ADDRESS), "address");
    assert_string_equal(app_auth_describe(APP_AUTH_EXPIRED), "Unauthorized: signature expired");
    assert_string_equal(app_auth_describe(APP_AUTH_BAD), "Unauthorized: bad signature");
    assert_string_equal(app_auth_describe(APP_AUTH_ADDRESS), "Forbidden: address not allowed");
    assert_string_equal(app_auth_point_name(APP_AUTH_PLAY), "play");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr_ranges),
        cmocka_unit_test(test_cidr_refused),
        cmocka_unit_test(test_remote_parse),
        cmocka_unit_test(test_query_get),
        cmocka_unit_test(test_sign_known_vector),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_constant_time_compare_used),
        cmocka_unit_test(test_address_then_signature),
        cmocka_unit_test(test_find_and_default),
        cmocka_unit_test(test_entry_from_json),
        cmocka_unit_test(test_texts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
