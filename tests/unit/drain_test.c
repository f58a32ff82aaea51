/* Unit tests of the drain state: the redirect check, the stored setting's
 * round trip, a restore of unreadable text, and the API body parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "drain.h"
#include "log.h"
#include "parse.h"

static void test_redirect_valid(void **state)
{
    (void)state;
    assert_true(drain_redirect_valid("http://127.0.0.1:8081"));
    assert_true(drain_redirect_valid("https://edge2.example:443/base"));
    assert_false(drain_redirect_valid(""));
    assert_false(drain_redirect_valid("http://"));
    assert_false(drain_redirect_valid("http:///path"));
    assert_false(drain_redirect_valid("ftp://host"));
    assert_false(drain_redirect_valid("//host"));
    assert_false(drain_redirect_valid("http://host/a b"));
    assert_false(drain_redirect_valid("http://host/\r\nSet-Cookie: x=y"));
    assert_false(drain_redirect_valid("http://host/\xc3\xa9"));
    char long_url[DRAIN_URL_MAX + 8];
    memset(long_url, 'a', sizeof long_url);
    memcpy(long_url, "http://", 7);
    long_url[DRAIN_URL_MAX] = '\0'; /* DRAIN_URL_MAX bytes: one too many */
    assert_false(drain_redirect_valid(long_url));
    long_url[DRAIN_URL_MAX - 1] = '\0';
    assert_true(drain_redirect_valid(long_url));
}

static void test_setting_round_trip(void **state)
{
    (void)state;
    node_t *node = calloc(1, sizeof *node);
    assert_non_null(node);
    char *text = drain_to_setting(1, "http://127.0.0.1:8081", 12, 1795514400123LL);
    assert_non_null(text);
    assert_int_equal(drain_restore(node, text), 0);
    assert_true(node->draining);
    assert_string_equal(node->drain_redirect, "http://127.0.0.1:8081");
    assert_int_equal(node->drain_retry_after_s, 12);
    assert_true(node->drain_since_wall_ms == 1795514400123LL);
    free(text);

    /* Draining again keeps the start; a redirect can be dropped. */
    drain_set(node, 1, "", 40, 1795514500000LL, "api");
    assert_true(node->drain_since_wall_ms == 1795514400123LL);
    assert_string_equal(node->drain_redirect, "");
    assert_int_equal(node->drain_retry_after_s, 40);

    /* Undrained: "" in storage, nothing restored from it. */
    text = drain_to_setting(0, NULL, 0, 0);
    assert_string_equal(text, "");
    drain_set(node, 0, NULL, 0, 0, "api");
    assert_int_equal(drain_restore(node, text), 0);
    assert_false(node->draining);
    assert_int_equal(drain_restore(node, NULL), 0);
    assert_false(node->draining);
    free(text);
    free(node);
}

static void test_restore_unreadable(void **state)
{
    (void)state;
    static const char *bad[] = {
        "not json",
        "[]",
        "{\"redirect_url\":\"\",\"retry_after_s\":0,\"since_ms\":1}",
        "{\"redirect_url\":\"\",\"retry_after_s\":3601,\"since_ms\":1}",
        "{\"redirect_url\":\"javascript:x\",\"retry_after_s\":5,\"since_ms\":1}",
        "{\"redirect_url\":\"http://h/\\r\\nX: y\",\"retry_after_s\":5,\"since_ms\":1}",
        "{\"retry_after_s\":5,\"since_ms\":1}",
        "{\"redirect_url\":\"\",\"retry_after_s\":5}",
    };
    node_t *node = calloc(1, sizeof *node);
    assert_non_null(node);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(drain_restore(node, bad[i]), -1);
        assert_false(node->draining);
    }
    free(node);
}

static int parse(const char *json, char *redirect, uint32_t *retry, char *err)
{
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    int rc = api_parse_drain(j, redirect, DRAIN_URL_MAX, retry, err, 192);
    cJSON_Delete(j);
    return rc;
}

static void test_api_body(void **state)
{
    (void)state;
    char redirect[DRAIN_URL_MAX], err[192];
    uint32_t retry = 0;
    assert_int_equal(parse(NULL, redirect, &retry, err), 0);
    assert_string_equal(redirect, "");
    assert_int_equal(retry, API_DRAIN_RETRY_AFTER_DEFAULT);
    assert_int_equal(
        parse("{\"redirect_url\":\"http://e2:8080\",\"retry_after_s\":7}", redirect, &retry, err),
        0);
    assert_string_equal(redirect, "http://e2:8080");
    assert_int_equal(retry, 7);
    assert_int_equal(parse("{\"redirect_url\":null}", redirect, &retry, err), 0);
    assert_string_equal(redirect, "");
    static const struct {
        const char *json, *field;
    } bad[] = {
        {"{\"redirect_url\":5}", "redirect_url:"},
        {"{\"redirect_url\":\"http://a b\"}", "redirect_url:"},
        {"{\"retry_after_s\":0}", "retry_after_s:"},
        {"{\"retry_after_s\":1.5}", "retry_after_s:"},
        {"{\"retry_after_s\":\"5\"}", "retry_after_s:"},
        {"{\"retry_after_s\":3601}", "retry_after_s:"},
        {"{\"url\":\"http://x\"}", "url: unknown field"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(parse(bad[i].json, redirect, &retry, err), -1);
        if (strncmp(err, bad[i].field, strlen(bad[i].field)) != 0)
            fail_msg("%s: error '%s' does not start with '%s'", bad[i].json, err, bad[i].field);
    }
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redirect_valid),
        cmocka_unit_test(test_setting_round_trip),
        cmocka_unit_test(test_restore_unreadable),
        cmocka_unit_test(test_api_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
