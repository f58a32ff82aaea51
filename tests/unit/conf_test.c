/* Unit tests of the config loader: defaults, overrides, and errors that name
 * the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "conf.h"

static int load(conf_t *c, const char *json, char *err)
{
    conf_defaults(c);
    return conf_load_json(c, json, strlen(json), err, 256);
}

static void test_defaults(void **state)
{
    (void)state;
    conf_t c;
    conf_defaults(&c);
    assert_string_equal(c.rtmp_listen, "0.0.0.0:1935");
    assert_string_equal(c.http_flv_listen, "0.0.0.0:8080");
    assert_string_equal(c.api_listen, "127.0.0.1:8090");
    assert_int_equal(c.rtmp_chunk_size, 4096);
    assert_int_equal(c.stream_gop_cache, 1);
    assert_string_equal(c.storage_path, "data/weir.db");
    assert_string_equal(c.log_level, "info");
    assert_false(c.http_flv_wait_for_stream);
}

static void test_overrides(void **state)
{
    (void)state;
    conf_t c;
    char err[256];
    assert_int_equal(load(&c,
                          "{\"rtmp\": {\"listen\": \"127.0.0.1:19350\", \"chunk_size\": 60000},"
                          " \"http_flv\": {\"wait_for_stream\": true},"
                          " \"log\": {\"level\": \"debug\"}, \"stream\": {\"gop_cache\": 0}}",
                          err),
                     0);
    assert_string_equal(c.rtmp_listen, "127.0.0.1:19350");
    assert_int_equal(c.rtmp_chunk_size, 60000);
    assert_true(c.http_flv_wait_for_stream);
    assert_string_equal(c.log_level, "debug");
    assert_int_equal(c.stream_gop_cache, 0);
    assert_string_equal(c.http_flv_listen, "0.0.0.0:8080"); /* untouched */
}

static void test_errors_name_the_key(void **state)
{
    (void)state;
    conf_t c;
    char err[256];
    assert_int_equal(load(&c, "{\"rtmp\": {\"chunk_sise\": 4096}}", err), -1);
    assert_non_null(strstr(err, "rtmp.chunk_sise"));
    assert_non_null(strstr(err, "unknown"));
    assert_int_equal(load(&c, "{\"rtmp\": {\"chunk_size\": \"big\"}}", err), -1);
    assert_non_null(strstr(err, "rtmp.chunk_size: expected an integer"));
    assert_int_equal(load(&c, "{\"rtmp\": {\"chunk_size\": 4096.5}}", err), -1);
    assert_non_null(strstr(err, "rtmp.chunk_size"));
    assert_int_equal(load(&c, "{\"rtmp\": {\"chunk_size\": 1}}", err), -1);
    assert_non_null(strstr(err, "rtmp.chunk_size: must be between 128 and 65536"));
    assert_int_equal(load(&c, "{\"http_flv\": {\"wait_for_stream\": 1}}", err), -1);
    assert_non_null(strstr(err, "http_flv.wait_for_stream: expected true or false"));
    assert_int_equal(load(&c, "{\"api\": {\"listen\": \"nohostport\"}}", err), -1);
    assert_non_null(strstr(err, "api.listen"));
    assert_int_equal(load(&c, "{\"log\": {\"level\": \"loud\"}}", err), -1);
    assert_non_null(strstr(err, "log.level"));
    assert_int_equal(load(&c, "{\"relays\": {}}", err), -1);
    assert_non_null(strstr(err, "relays"));
    assert_int_equal(load(&c, "{\"rtmp\": 5}", err), -1);
    assert_non_null(strstr(err, "rtmp: expected an object"));
    assert_int_equal(load(&c, "[1]", err), -1);
    assert_int_equal(load(&c, "{\"rtmp\": {", err), -1);
    assert_non_null(strstr(err, "invalid JSON"));
}

static void test_listen_parse(void **state)
{
    (void)state;
    char host[64];
    uint16_t port;
    assert_int_equal(conf_parse_listen("127.0.0.1:1935", host, sizeof host, &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 1935);
    assert_int_equal(conf_parse_listen("[::1]:8080", host, sizeof host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8080);
    assert_int_equal(conf_parse_listen("host:70000", host, sizeof host, &port), -1);
    assert_int_equal(conf_parse_listen(":80", host, sizeof host, &port), -1);
    assert_int_equal(conf_parse_listen("host:", host, sizeof host, &port), -1);
    assert_int_equal(conf_parse_listen("host:8x", host, sizeof host, &port), -1);
    assert_int_equal(conf_parse_listen("[::1]8080", host, sizeof host, &port), -1);
}

static void test_shipped_config_loads(void **state)
{
    (void)state;
    conf_t c;
    char err[512];
    conf_defaults(&c);
    assert_int_equal(conf_load_file(&c, WEIR_SOURCE_DIR "/conf/weir.json", err, sizeof err), 0);
    conf_t d;
    conf_defaults(&d);
    /* the shipped file states the defaults */
    assert_memory_equal(&c, &d, sizeof c);
    assert_int_equal(conf_load_file(&c, "/nonexistent/weir.json", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/weir.json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_errors_name_the_key),
        cmocka_unit_test(test_listen_parse),
        cmocka_unit_test(test_shipped_config_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
