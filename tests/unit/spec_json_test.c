/* Unit tests of spec_json's entity tags: spec_etag() (format, equal specs
 * equal tags, any change of the spec or the key another tag) and
 * spec_etag_match() (If-Match lists, "*", strong comparison). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "spec_json.h"

static const uint8_t KEY_A[SPEC_ETAG_KEY_LEN] = {1, 2,  3,  4,  5,  6,  7,  8,
                                                 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t KEY_B[SPEC_ETAG_KEY_LEN] = {0};

static void tag_of(const uint8_t *key, const char *json, char out[SPEC_ETAG_MAX])
{
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    assert_int_equal(spec_etag(key, j, out), 0);
    cJSON_Delete(j);
}

static void test_etag(void **state)
{
    (void)state;
    char a[SPEC_ETAG_MAX], a2[SPEC_ETAG_MAX], b[SPEC_ETAG_MAX], k[SPEC_ETAG_MAX];
    tag_of(KEY_A, "{\"id\":\"r1\",\"urls\":[\"rtmp://a/l/n\"]}", a);
    tag_of(KEY_A, "{\"id\":\"r1\",\"urls\":[\"rtmp://a/l/n\"]}", a2);
    tag_of(KEY_A, "{\"id\":\"r1\",\"urls\":[\"rtmp://b/l/n\"]}", b);
    tag_of(KEY_B, "{\"id\":\"r1\",\"urls\":[\"rtmp://a/l/n\"]}", k);
    assert_int_equal(strlen(a), 18);
    assert_int_equal(a[0], '"');
    assert_int_equal(a[17], '"');
    for (int i = 1; i < 17; i++)
        assert_non_null(strchr("0123456789abcdef", a[i]));
    assert_string_equal(a, a2);
    assert_string_not_equal(a, b);
    assert_string_not_equal(a, k);
}

static void test_match(void **state)
{
    (void)state;
    const char *t = "\"0123456789abcdef\"";
    assert_true(spec_etag_match("\"0123456789abcdef\"", t));
    assert_true(spec_etag_match("*", t));
    assert_true(spec_etag_match(" \"x\" , \"0123456789abcdef\" ", t));
    assert_true(spec_etag_match("\"x\",*", t));
    assert_false(spec_etag_match("W/\"0123456789abcdef\"", t)); /* weak: never for If-Match */
    assert_false(spec_etag_match("\"0123456789abcdee\"", t));
    assert_false(spec_etag_match("0123456789abcdef", t));   /* unquoted */
    assert_false(spec_etag_match("\"0123456789abcdef", t)); /* unterminated */
    assert_false(spec_etag_match("", t));
    assert_false(spec_etag_match(",,", t));
    assert_false(spec_etag_match("\"a,b\"", "\"a"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etag),
        cmocka_unit_test(test_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
