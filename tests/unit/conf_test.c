/* Unit tests of the config loader: defaults, overrides, and errors that name
 * the key; the relay keys and the "relays" array; the webhooks keys and the
 * "hooks" array; the "apps" array. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    assert_int_equal(c.storage_cache_kb, 2048);
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
    assert_int_equal(load(&c, "{\"storage\": {\"cache_kb\": 16}}", err), -1);
    assert_non_null(strstr(err, "storage.cache_kb: must be between 64 and 1048576"));
    assert_int_equal(load(&c, "{\"http_flv\": {\"wait_for_stream\": 1}}", err), -1);
    assert_non_null(strstr(err, "http_flv.wait_for_stream: expected true or false"));
    assert_int_equal(load(&c, "{\"api\": {\"listen\": \"nohostport\"}}", err), -1);
    assert_non_null(strstr(err, "api.listen"));
    assert_int_equal(load(&c, "{\"log\": {\"level\": \"loud\"}}", err), -1);
    assert_non_null(strstr(err, "log.level"));
    assert_int_equal(load(&c, "{\"relays\": {}}", err), -1);
    assert_string_equal(err, "relays: expected an array");
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

/* Port 0 (the kernel's pick) is refused in every listen key, naming it. */
static void test_listen_port_zero(void **state)
{
    (void)state;
    conf_t c;
    char err[256];
    assert_int_equal(load(&c, "{\"rtmp\": {\"listen\": \"0.0.0.0:0\"}}", err), -1);
    assert_string_equal(err, "rtmp.listen: port 0 is not allowed, got \"0.0.0.0:0\"");
    assert_int_equal(load(&c, "{\"http_flv\": {\"listen\": \"[::1]:0\"}}", err), -1);
    assert_string_equal(err, "http_flv.listen: port 0 is not allowed, got \"[::1]:0\"");
    assert_int_equal(load(&c, "{\"api\": {\"listen\": \"127.0.0.1:00\"}}", err), -1);
    assert_string_equal(err, "api.listen: port 0 is not allowed, got \"127.0.0.1:00\"");
    assert_int_equal(load(&c, "{\"api\": {\"listen\": \"127.0.0.1:1\"}}", err), 0);
}

/* api.web_root: a path string, "" turns the dashboard off. */
static void test_web_root(void **state)
{
    (void)state;
    conf_t c;
    char err[256];
    conf_defaults(&c);
    assert_string_equal(c.api_web_root, "web/dist");
    assert_int_equal(load(&c, "{\"api\": {\"web_root\": \"/srv/weir/dist\"}}", err), 0);
    assert_string_equal(c.api_web_root, "/srv/weir/dist");
    assert_int_equal(load(&c, "{\"api\": {\"web_root\": \"\"}}", err), 0);
    assert_string_equal(c.api_web_root, "");
    assert_int_equal(load(&c, "{\"api\": {\"web_root\": false}}", err), -1);
    assert_non_null(strstr(err, "api.web_root: expected a string"));
    char doc[CONF_PATH_MAX + 64];
    snprintf(doc, sizeof doc, "{\"api\": {\"web_root\": \"%0*d\"}}", CONF_PATH_MAX, 0);
    assert_int_equal(load(&c, doc, err), -1);
    assert_non_null(strstr(err, "api.web_root: longer than"));
}

/* ---- relays ------------------------------------------------------------- */

static void test_relay_keys(void **state)
{
    (void)state;
    conf_t c;
    char err[256];
    conf_defaults(&c);
    assert_int_equal(c.relay_max_hops, 8);
    assert_int_equal(c.relay_connect_timeout_ms, 10000);
    assert_int_equal(c.relay_on_demand_wait_ms, 10000);
    assert_string_equal(c.relays_json, "");

    /* the ends of each range */
    assert_int_equal(load(&c,
                          "{\"relay\": {\"max_hops\": 1, \"connect_timeout_ms\": 100,"
                          " \"on_demand_wait_ms\": 0}}",
                          err),
                     0);
    assert_int_equal(c.relay_max_hops, 1);
    assert_int_equal(c.relay_connect_timeout_ms, 100);
    assert_int_equal(c.relay_on_demand_wait_ms, 0);
    assert_int_equal(load(&c,
                          "{\"relay\": {\"max_hops\": 32, \"connect_timeout_ms\": 600000,"
                          " \"on_demand_wait_ms\": 600000}}",
                          err),
                     0);
    assert_int_equal(c.relay_max_hops, 32);
    assert_int_equal(c.relay_connect_timeout_ms, 600000);
    assert_int_equal(c.relay_on_demand_wait_ms, 600000);

    /* just outside */
    static const struct {
        const char *json, *msg;
    } BAD[] = {
        {"{\"relay\": {\"max_hops\": 0}}", "relay.max_hops: must be between 1 and 32"},
        {"{\"relay\": {\"max_hops\": 33}}", "relay.max_hops: must be between 1 and 32"},
        {"{\"relay\": {\"connect_timeout_ms\": 99}}",
         "relay.connect_timeout_ms: must be between 100 and 600000"},
        {"{\"relay\": {\"connect_timeout_ms\": 600001}}",
         "relay.connect_timeout_ms: must be between 100 and 600000"},
        {"{\"relay\": {\"on_demand_wait_ms\": 600001}}",
         "relay.on_demand_wait_ms: must be between 0 and 600000"},
        {"{\"relay\": {\"on_demand_wait_ms\": -1}}",
         "relay.on_demand_wait_ms: must be between 0 and 600000"},
        {"{\"relay\": {\"max_hops\": \"8\"}}", "relay.max_hops: expected an integer"},
        {"{\"relay\": {\"max_hop\": 8}}", "relay.max_hop: unknown key"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        assert_int_equal(load(&c, BAD[i].json, err), -1);
        assert_string_equal(err, BAD[i].msg);
    }
}

#define PUSH_A                                                                                     \
    "{\"id\": \"push-a\", \"direction\": \"push\", \"app\": \"live\", \"name\": \"cam1\","         \
    " \"urls\": [\"rtmp://127.0.0.1:19350/live/cam1\", \"rtmp://127.0.0.2/live/cam1\"]}"
#define PULL_B                                                                                     \
    "{\"id\": \"pull.b\", \"direction\": \"pull\", \"app\": \"edge\", \"name\": \"*\","            \
    " \"urls\": [\"http://127.0.0.1:8080/live\"], \"mode\": \"on_demand\","                        \
    " \"idle_timeout_s\": 5, \"retry_initial_ms\": 200, \"retry_max_ms\": 4000, \"enabled\": "     \
    "true}"

static void test_relays_valid(void **state)
{
    (void)state;
    conf_t c;
    char err[256];
    const char *json = "{\"relays\": [" PUSH_A ", " PULL_B "], \"relay\": {\"max_hops\": 4}}";
    assert_int_equal(load(&c, json, err), 0);
    assert_int_equal(c.relay_max_hops, 4);
    /* compact JSON of the same array, elements as written */
    cJSON *want = cJSON_Parse("[" PUSH_A "," PULL_B "]");
    assert_non_null(want);
    char *want_text = cJSON_PrintUnformatted(want);
    assert_non_null(want_text);
    assert_string_equal(c.relays_json, want_text);
    assert_null(strchr(c.relays_json, '\n'));
    cJSON_free(want_text);
    cJSON_Delete(want);
    cJSON *got = cJSON_Parse(c.relays_json);
    assert_non_null(got);
    assert_int_equal(cJSON_GetArraySize(got), 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(got, 1), "id")->valuestring,
                        "pull.b");
    cJSON_Delete(got);

    /* an empty array is no relays */
    assert_int_equal(load(&c, "{\"relays\": []}", err), 0);
    assert_string_equal(c.relays_json, "");
    /* a later file replaces the array */
    conf_defaults(&c);
    const char *one = "{\"relays\": [" PULL_B "]}";
    assert_int_equal(conf_load_json(&c, json, strlen(json), err, sizeof err), 0);
    assert_int_equal(conf_load_json(&c, one, strlen(one), err, sizeof err), 0);
    got = cJSON_Parse(c.relays_json);
    assert_non_null(got);
    assert_int_equal(cJSON_GetArraySize(got), 1);
    cJSON_Delete(got);
}

static void test_relays_errors(void **state)
{
    (void)state;
    conf_t c;
    char err[256];
    static const struct {
        const char *json, *msg; /* msg: the whole message, or its start if it ends in ": " */
    } BAD[] = {
        {"{\"relays\": 5}", "relays: expected an array"},
        {"{\"relays\": \"x\"}", "relays: expected an array"},
        {"{\"relays\": null}", "relays: expected an array"},
        {"{\"relays\": {\"id\": \"a\"}}", "relays: expected an array"},
        {"{\"relays\": [" PUSH_A ", 7]}", "relays[1]: expected an object"},
        {"{\"relays\": [[]]}", "relays[0]: expected an object"},
        {"{\"relays\": [" PUSH_A ", {\"direction\": \"push\", \"app\": \"live\","
         " \"name\": \"x\", \"urls\": [\"rtmp://127.0.0.1/live/x\"]}]}",
         "relays[1].id: required (a config relay needs a stable id)"},
        {"{\"relays\": [" PUSH_A ", " PULL_B ", " PUSH_A "]}",
         "relays[2].id: duplicate id \"push-a\" (also relays[0])"},
        /* relay_spec_from_json's own message, after the element's path */
        {"{\"relays\": [" PUSH_A ", {\"id\": \"bad\", \"direction\": \"push\", \"app\": \"live\","
         " \"name\": \"x\", \"urls\": [\"ftp://127.0.0.1/live/x\"]}]}",
         "relays[1].urls[0]: "},
        {"{\"relays\": [" PUSH_A ", {\"id\": \"bad\", \"direction\": \"push\", \"app\": \"live\","
         " \"name\": \"x\", \"urls\": [\"rtmp://127.0.0.1/live/x\", \"rtmp://\"]}]}",
         "relays[1].urls[1]: "},
        {"{\"relays\": [{\"id\": \"bad id!\", \"direction\": \"push\", \"app\": \"live\","
         " \"name\": \"x\", \"urls\": [\"rtmp://127.0.0.1/live/x\"]}]}",
         "relays[0].id: "},
        {"{\"relays\": [{\"id\": \"p\", \"direction\": \"push\", \"app\": \"live\","
         " \"name\": \"x\", \"urls\": [\"rtmp://127.0.0.1/live/x\"], \"mode\": \"on_demand\"}]}",
         "relays[0].mode: "},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        assert_int_equal(load(&c, BAD[i].json, err), -1);
        size_t n = strlen(BAD[i].msg);
        if (n >= 2 && strcmp(BAD[i].msg + n - 2, ": ") == 0) {
            if (strncmp(err, BAD[i].msg, n) != 0 || !err[n])
                fail_msg("case %zu: \"%s\" does not start with \"%s\"", i, err, BAD[i].msg);
        } else if (strcmp(err, BAD[i].msg) != 0) {
            fail_msg("case %zu: \"%s\", expected \"%s\"", i, err, BAD[i].msg);
        }
        assert_string_equal(c.relays_json, ""); /* nothing kept from a refused array */
    }
}

/* "relays" with n relays of 8 URLs each whose stream names add pad bytes in
 * all; returns the text (malloc'ed) and the compact length of the array. */
static char *relays_doc(int n, size_t pad, size_t *compact_len)
{
    size_t cap = 4096 + (size_t)n * 1024 + pad;
    char *doc = malloc(cap);
    assert_non_null(doc);
    size_t o = (size_t)snprintf(doc, cap, "{\"relays\": [");
    size_t nurls = (size_t)n * 8;
    for (int r = 0; r < n; r++) {
        o += (size_t)snprintf(doc + o, cap - o,
                              "%s{\"id\": \"r%02d\", \"direction\": \"pull\", \"app\": \"live\","
                              " \"name\": \"s%02d\", \"urls\": [",
                              r ? ", " : "", r, r);
        for (size_t u = 0; u < 8; u++) {
            size_t k = (size_t)r * 8 + u;
            size_t extra = pad / nurls + (k < pad % nurls ? 1 : 0);
            assert_true(extra <= 400);
            o += (size_t)snprintf(doc + o, cap - o, "%s\"rtmp://127.0.0.1:1935/live/s",
                                  u ? ", " : "");
            memset(doc + o, 'x', extra);
            o += extra;
            o += (size_t)snprintf(doc + o, cap - o, "\"");
        }
        o += (size_t)snprintf(doc + o, cap - o, "]}");
    }
    snprintf(doc + o, cap - o, "]}");
    assert_true(strlen(doc) < cap - 1);
    cJSON *root = cJSON_Parse(doc);
    assert_non_null(root);
    char *t = cJSON_PrintUnformatted(cJSON_GetObjectItem(root, "relays"));
    assert_non_null(t);
    *compact_len = strlen(t);
    cJSON_free(t);
    cJSON_Delete(root);
    return doc;
}

static void test_relays_limits(void **state)
{
    (void)state;
    conf_t *c = malloc(sizeof *c); /* 32 KB: not on the test's stack */
    assert_non_null(c);
    char err[256];
    enum { N = 12 };
    size_t base = 0, len = 0;
    free(relays_doc(N, 0, &base));
    assert_true(base < CONF_RELAYS_JSON_MAX - 1);
    size_t room = CONF_RELAYS_JSON_MAX - 1 - base;

    /* exactly the most that fits */
    char *doc = relays_doc(N, room, &len);
    assert_int_equal(len, CONF_RELAYS_JSON_MAX - 1);
    assert_int_equal(load(c, doc, err), 0);
    assert_int_equal(strlen(c->relays_json), CONF_RELAYS_JSON_MAX - 1);
    free(doc);

    /* one byte more */
    doc = relays_doc(N, room + 1, &len);
    assert_int_equal(len, CONF_RELAYS_JSON_MAX);
    assert_int_equal(load(c, doc, err), -1);
    assert_string_equal(err, "relays: too large (over 32767 bytes as compact JSON)");
    assert_string_equal(c->relays_json, "");
    free(doc);

    /* 64 relays at most */
    doc = relays_doc(CONF_RELAYS_MAX, 0, &len);
    assert_int_equal(load(c, doc, err), 0);
    free(doc);
    doc = relays_doc(CONF_RELAYS_MAX + 1, 0, &len);
    assert_int_equal(load(c, doc, err), -1);
    assert_string_equal(err, "relays: more than 64 relays");
    free(doc);
    free(c);
}

static void test_webhook_keys(void **state)
{
    (void)state;
    conf_t c;
    char err[256];
    conf_defaults(&c);
    assert_int_equal(c.webhooks_queue_max, 1000);
    assert_int_equal(c.webhooks_max_attempts, 6);
    assert_int_equal(c.webhooks_retry_initial_ms, 1000);
    assert_int_equal(c.webhooks_retry_max_ms, 30000);
    assert_int_equal(c.webhooks_on_publish_timeout_allow, 0); /* deny */
    assert_int_equal(c.webhooks_on_play_timeout_allow, 1);    /* allow */
    assert_int_equal(c.webhooks_max_pending_decisions, 1000);
    assert_int_equal(c.webhooks_shutdown_flush_ms, 2000);
    assert_int_equal(c.events_heartbeat_interval_s, 10);
    assert_string_equal(c.hooks_json, "");

    assert_int_equal(load(&c,
                          "{\"webhooks\": {\"queue_max\": 1, \"max_attempts\": 100,"
                          " \"retry_initial_ms\": 100, \"retry_max_ms\": 100,"
                          " \"on_publish_timeout\": \"allow\", \"on_play_timeout\": \"deny\","
                          " \"max_pending_decisions\": 100000, \"shutdown_flush_ms\": 0},"
                          " \"events\": {\"heartbeat_interval_s\": 0}}",
                          err),
                     0);
    assert_int_equal(c.webhooks_queue_max, 1);
    assert_int_equal(c.webhooks_max_attempts, 100);
    assert_int_equal(c.webhooks_retry_initial_ms, 100);
    assert_int_equal(c.webhooks_retry_max_ms, 100);
    assert_int_equal(c.webhooks_on_publish_timeout_allow, 1);
    assert_int_equal(c.webhooks_on_play_timeout_allow, 0);
    assert_int_equal(c.webhooks_max_pending_decisions, 100000);
    assert_int_equal(c.webhooks_shutdown_flush_ms, 0);
    assert_int_equal(c.events_heartbeat_interval_s, 0);

    static const struct {
        const char *json, *msg;
    } BAD[] = {
        {"{\"webhooks\": {\"queue_max\": 0}}", "webhooks.queue_max: must be between 1 and 100000"},
        {"{\"webhooks\": {\"queue_max\": 100001}}",
         "webhooks.queue_max: must be between 1 and 100000"},
        {"{\"webhooks\": {\"max_attempts\": 0}}",
         "webhooks.max_attempts: must be between 1 and 100"},
        {"{\"webhooks\": {\"retry_initial_ms\": 99}}",
         "webhooks.retry_initial_ms: must be between 100 and 3600000"},
        {"{\"webhooks\": {\"retry_initial_ms\": 5000, \"retry_max_ms\": 4000}}",
         "webhooks.retry_max_ms: must be >= webhooks.retry_initial_ms (5000)"},
        {"{\"webhooks\": {\"on_publish_timeout\": \"maybe\"}}",
         "webhooks.on_publish_timeout: expected \"allow\" or \"deny\""},
        {"{\"webhooks\": {\"on_play_timeout\": true}}",
         "webhooks.on_play_timeout: expected \"allow\" or \"deny\""},
        {"{\"webhooks\": {\"max_pending_decisions\": 0}}",
         "webhooks.max_pending_decisions: must be between 1 and 100000"},
        {"{\"webhooks\": {\"secret\": \"x\"}}", "webhooks.secret: unknown key"},
        {"{\"events\": {\"heartbeat_interval_s\": 3601}}",
         "events.heartbeat_interval_s: must be between 0 and 3600"},
        {"{\"events\": {\"heartbeat_interval_s\": 1.5}}",
         "events.heartbeat_interval_s: expected an integer"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        assert_int_equal(load(&c, BAD[i].json, err), -1);
        if (strcmp(err, BAD[i].msg) != 0)
            fail_msg("case %zu: \"%s\", expected \"%s\"", i, err, BAD[i].msg);
    }
}

static void test_hls_keys(void **state)
{
    (void)state;
    conf_t c;
    char err[256];
    conf_defaults(&c);
    assert_int_equal(c.hls_segment_ms, 2000);
    assert_int_equal(c.hls_window, 6);
    assert_int_equal(c.hls_part_ms, 0);
    assert_int_equal(c.hls_idle_timeout_s, 30);
    assert_int_equal(load(&c,
                          "{\"hls\": {\"segment_ms\": 1000, \"window\": 3, \"part_ms\": 333,"
                          " \"idle_timeout_s\": 2}}",
                          err),
                     0);
    assert_int_equal(c.hls_segment_ms, 1000);
    assert_int_equal(c.hls_window, 3);
    assert_int_equal(c.hls_part_ms, 333);
    assert_int_equal(c.hls_idle_timeout_s, 2);
    static const struct {
        const char *json, *msg;
    } BAD[] = {
        {"{\"hls\": {\"segment_ms\": 99}}", "hls.segment_ms: must be between 100 and 60000"},
        {"{\"hls\": {\"window\": 0}}", "hls.window: must be between 1 and 60"},
        {"{\"hls\": {\"part_ms\": 49}}",
         "hls.part_ms: must be 0 (off) or between 50 and hls.segment_ms (2000)"},
        {"{\"hls\": {\"part_ms\": 2001}}",
         "hls.part_ms: must be 0 (off) or between 50 and hls.segment_ms (2000)"},
        {"{\"hls\": {\"idle_timeout_s\": 0}}", "hls.idle_timeout_s: must be between 1 and 3600"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        assert_int_equal(load(&c, BAD[i].json, err), -1);
        if (strcmp(err, BAD[i].msg) != 0)
            fail_msg("case %zu: \"%s\", expected \"%s\"", i, err, BAD[i].msg);
    }
}

#define HOOK_A "{\"id\": \"sched\", \"url\": \"http://127.0.0.1:9000/hooks\", \"events\": [\"*\"]}"
#define HOOK_B                                                                                     \
    "{\"id\": \"auth\", \"url\": \"http://auth.local/check?x=1\", \"events\": "                    \
    "[\"publish.start\"],"                                                                         \
    " \"decide\": [\"on_publish\", \"on_play\"], \"timeout_ms\": 800, \"secret\": \"s3\","         \
    " \"enabled\": false}"

static void test_hooks_valid(void **state)
{
    (void)state;
    conf_t c;
    char err[256];
    assert_int_equal(load(&c, "{\"hooks\": [" HOOK_A ", " HOOK_B "]}", err), 0);
    cJSON *got = cJSON_Parse(c.hooks_json);
    cJSON *want = cJSON_Parse("[" HOOK_A "," HOOK_B "]");
    assert_non_null(got);
    assert_non_null(want);
    assert_true(cJSON_Compare(got, want, 1)); /* kept as given, secret included */
    cJSON_Delete(got);
    cJSON_Delete(want);
    assert_int_equal(load(&c, "{\"hooks\": []}", err), 0);
    assert_string_equal(c.hooks_json, "");
}

static void test_hooks_errors(void **state)
{
    (void)state;
    conf_t c;
    char err[256];
    static const struct {
        const char *json, *msg;
    } BAD[] = {
        {"{\"hooks\": 5}", "hooks: expected an array"},
        {"{\"hooks\": {\"id\": \"a\"}}", "hooks: expected an array"},
        {"{\"hooks\": [" HOOK_A ", 7]}", "hooks[1]: expected an object"},
        {"{\"hooks\": [{\"url\": \"http://a/b\", \"events\": [\"*\"]}]}",
         "hooks[0].id: required (a config hook needs a stable id)"},
        {"{\"hooks\": [" HOOK_A ", " HOOK_B ", " HOOK_A "]}",
         "hooks[2].id: duplicate id \"sched\" (also hooks[0])"},
        {"{\"hooks\": [{\"id\": \"x\", \"url\": \"http://a/b\","
         " \"events\": [\"play.start\", \"nope\"]}]}",
         "hooks[0].events[1]: unknown event type 'nope'"},
        {"{\"hooks\": [{\"id\": \"x\", \"url\": \"wss://a/b\", \"events\": [\"*\"]}]}",
         "hooks[0].url: expected http://host[:port]/path (or https://)"},
        {"{\"hooks\": [{\"id\": \"x\", \"url\": \"https://a:0/b\", \"events\": [\"*\"]}]}",
         "hooks[0].url: bad port"},
        {"{\"hooks\": [{\"id\": \"x\", \"events\": [\"*\"]}]}", "hooks[0].url: required"},
        {"{\"hooks\": [" HOOK_A ", {\"id\": \"x\", \"url\": \"http://a/b\", \"events\": [\"*\"],"
         " \"timeout_ms\": 50}]}",
         "hooks[1].timeout_ms: expected an integer from 100 to 60000"},
        {"{\"hooks\": [{\"id\": \"..\", \"url\": \"http://a/b\", \"events\": [\"*\"]}]}",
         "hooks[0].id: expected 1 to 63 characters of A-Z a-z 0-9 . _ - (not . or ..)"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        assert_int_equal(load(&c, BAD[i].json, err), -1);
        if (strcmp(err, BAD[i].msg) != 0)
            fail_msg("case %zu: \"%s\", expected \"%s\"", i, err, BAD[i].msg);
        assert_string_equal(c.hooks_json, ""); /* nothing kept from a refused array */
    }
    /* at most 64 hooks */
    size_t cap = 65 * 128 + 64;
    char *doc = malloc(cap);
    assert_non_null(doc);
    size_t o = (size_t)snprintf(doc, cap, "{\"hooks\": [");
    for (int i = 0; i < 65; i++)
        o += (size_t)snprintf(doc + o, cap - o,
                              "%s{\"id\": \"h%d\", \"url\": \"http://a/b\", \"events\": [\"*\"]}",
                              i ? "," : "", i);
    snprintf(doc + o, cap - o, "]}");
    conf_t *big = malloc(sizeof *big);
    assert_non_null(big);
    assert_int_equal(load(big, doc, err), -1);
    assert_string_equal(err, "hooks: more than 64 hooks");
    doc[o - strlen(",{\"id\": \"h64\", \"url\": \"http://a/b\", \"events\": [\"*\"]}")] = '\0';
    strcat(doc, "]}");
    assert_int_equal(load(big, doc, err), 0);
    cJSON *got = cJSON_Parse(big->hooks_json);
    assert_int_equal(cJSON_GetArraySize(got), 64);
    cJSON_Delete(got);
    free(big);
    free(doc);
}

/* ---- apps ----------------------------------------------------------------- */

static void test_apps_valid(void **state)
{
    (void)state;
    conf_t c;
    char err[256];
    assert_int_equal(load(&c, "{}", err), 0);
    assert_int_equal(c.apps.n, 0);
    assert_int_equal(
        load(&c,
             "{\"apps\": [{\"app\": \"live\", \"publish_secret\": \"0123456789abcdef\","
             " \"publish_allow\": [\"127.0.0.0/8\", \"::1\"], \"play_deny\": [\"10.1.0.0/16\"]},"
             " {\"app\": \"*\", \"play_secret\": \"\"}]}",
             err),
        0);
    assert_int_equal(c.apps.n, 2);
    assert_string_equal(c.apps.apps[0].app, "live");
    assert_string_equal(c.apps.apps[0].secret[APP_AUTH_PUBLISH], "0123456789abcdef");
    assert_string_equal(c.apps.apps[0].secret[APP_AUTH_PLAY], "");
    assert_int_equal(c.apps.apps[0].allow[APP_AUTH_PUBLISH].n, 2);
    assert_int_equal(c.apps.apps[0].allow[APP_AUTH_PUBLISH].v[1].bits, 128);
    assert_int_equal(c.apps.apps[0].deny[APP_AUTH_PLAY].n, 1);
    assert_int_equal(c.apps.apps[0].deny[APP_AUTH_PLAY].v[0].bits, 96 + 16);
    assert_int_equal(c.apps.apps[0].allow[APP_AUTH_PLAY].n, 0);
    assert_string_equal(c.apps.apps[1].app, "*");
    /* an empty array is no rules */
    assert_int_equal(load(&c, "{\"apps\": []}", err), 0);
    assert_int_equal(c.apps.n, 0);
}

static void test_apps_errors(void **state)
{
    (void)state;
    conf_t c;
    char err[256];
    static const struct {
        const char *json, *msg;
    } BAD[] = {
        {"{\"apps\": {}}", "apps: expected an array"},
        {"{\"apps\": [3]}", "apps[0]: expected an object"},
        {"{\"apps\": [{\"play_secret\": \"\"}]}",
         "apps[0].app: required (an app name, or \"*\" for the others)"},
        {"{\"apps\": [{\"app\": \"a/../b\"}]}", "apps[0].app: expected an app name or \"*\""},
        {"{\"apps\": [{\"app\": \"live\"}, {\"app\": \"tv\"}, {\"app\": \"live\"}]}",
         "apps[2].app: duplicate app \"live\" (also apps[0])"},
        {"{\"apps\": [{\"app\": \"live\", \"publish_secret\": \"short-secret\"}]}",
         "apps[0].publish_secret: shorter than 16 bytes (use \"\" for no signing)"},
        {"{\"apps\": [{\"app\": \"live\", \"play_secret\": 12}]}",
         "apps[0].play_secret: expected a string"},
        {"{\"apps\": [{\"app\": \"live\", \"play_allow\": [\"127.0.0.1/32\", \"10.0.0/8\"]}]}",
         "apps[0].play_allow[1]: expected an address range (\"10.0.0.0/8\", \"::1/128\", no bits "
         "set past the prefix), got \"10.0.0/8\""},
        {"{\"apps\": [{\"app\": \"live\", \"publish_deny\": [\"10.1.0.0/8\"]}]}",
         "apps[0].publish_deny[0]: expected an address range (\"10.0.0.0/8\", \"::1/128\", no "
         "bits set past the prefix), got \"10.1.0.0/8\""},
        {"{\"apps\": [{\"app\": \"live\", \"publish_allow\": []}]}",
         "apps[0].publish_allow: empty (leave the key out for no restriction; [\"0.0.0.0/0\", "
         "\"::/0\"] as a deny list refuses every address)"},
        {"{\"apps\": [{\"app\": \"live\", \"play_alow\": [\"::/0\"]}]}",
         "apps[0].play_alow: unknown key"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        assert_int_equal(load(&c, BAD[i].json, err), -1);
        if (strcmp(err, BAD[i].msg) != 0)
            fail_msg("case %zu: \"%s\", expected \"%s\"", i, err, BAD[i].msg);
    }
    /* a refused secret never shows in the message */
    assert_int_equal(load(&c, "{\"apps\": [{\"app\": \"x\", \"play_secret\": \"tiny-pw\"}]}", err),
                     -1);
    assert_null(strstr(err, "tiny-pw"));
    /* at most APP_AUTH_APPS_MAX apps */
    char doc[64 * (APP_AUTH_APPS_MAX + 1) + 32];
    size_t o = (size_t)snprintf(doc, sizeof doc, "{\"apps\": [");
    for (int i = 0; i <= APP_AUTH_APPS_MAX; i++)
        o += (size_t)snprintf(doc + o, sizeof doc - o, "%s{\"app\": \"a%d\"}", i ? "," : "", i);
    snprintf(doc + o, sizeof doc - o, "]}");
    assert_int_equal(load(&c, doc, err), -1);
    assert_string_equal(err, "apps: more than 32 apps");
}

static void test_limits(void **state)
{
    (void)state;
    conf_t c;
    char err[256];
    conf_defaults(&c);
    assert_int_equal(c.limits_max_connections, 10000);
    assert_int_equal(c.limits_max_connections_per_address, 256);
    assert_int_equal(c.limits_new_connections_per_address_per_s, 0);
    assert_int_equal(c.limits_max_streams, 10000);
    assert_int_equal(
        load(&c,
             "{\"limits\": {\"max_connections\": 0, \"max_connections_per_address\": 3,"
             " \"new_connections_per_address_per_s\": 5, \"max_streams\": 1}}",
             err),
        0);
    assert_int_equal(c.limits_max_connections, 0);
    assert_int_equal(c.limits_max_connections_per_address, 3);
    assert_int_equal(c.limits_new_connections_per_address_per_s, 5);
    assert_int_equal(c.limits_max_streams, 1);
    assert_int_equal(load(&c, "{\"limits\": {\"max_connections\": 1000001}}", err), -1);
    assert_string_equal(err, "limits.max_connections: must be between 0 and 1000000");
    assert_int_equal(load(&c, "{\"limits\": {\"max_streams\": -1}}", err), -1);
    assert_string_equal(err, "limits.max_streams: must be between 0 and 1000000");
    assert_int_equal(load(&c, "{\"limits\": {\"new_connections_per_address_per_s\": 1.5}}", err),
                     -1);
    assert_string_equal(err, "limits.new_connections_per_address_per_s: expected an integer");
    assert_int_equal(load(&c, "{\"limits\": {\"max_conns\": 1}}", err), -1);
    assert_string_equal(err, "limits.max_conns: unknown key");
}

/* The API's connection bounds (issue 16). */
static void test_api_connection_keys(void **state)
{
    (void)state;
    conf_t c;
    char err[256];
    conf_defaults(&c);
    assert_int_equal(c.api_max_connections_per_address, 16);
    assert_int_equal(c.api_connection_timeout_s, 30);
    assert_int_equal(
        load(&c, "{\"api\": {\"max_connections_per_address\": 0, \"connection_timeout_s\": 2}}",
             err),
        0);
    assert_int_equal(c.api_max_connections_per_address, 0);
    assert_int_equal(c.api_connection_timeout_s, 2);
    assert_int_equal(load(&c, "{\"api\": {\"max_connections_per_address\": 257}}", err), -1);
    assert_string_equal(err, "api.max_connections_per_address: must be between 0 and 256");
    assert_int_equal(load(&c, "{\"api\": {\"connection_timeout_s\": 0}}", err), -1);
    assert_string_equal(err, "api.connection_timeout_s: must be between 1 and 3600");
    assert_int_equal(load(&c, "{\"api\": {\"connection_timeout_s\": \"30\"}}", err), -1);
    assert_string_equal(err, "api.connection_timeout_s: expected an integer");
}

static void test_memory_bounds(void **state)
{
    (void)state;
    conf_t c;
    char err[256];
    conf_defaults(&c);
    assert_int_equal(c.stream_gop_cache_max_bytes, 64u << 20);
    assert_int_equal(c.stream_gop_cache_max_ms, 30000);
    assert_int_equal(c.limits_max_memory_mb, 0);
    assert_int_equal(
        load(&c,
             "{\"stream\": {\"gop_cache_max_bytes\": 1048576, \"gop_cache_max_ms\": 1000},"
             " \"limits\": {\"max_memory_mb\": 512}}",
             err),
        0);
    assert_int_equal(c.stream_gop_cache_max_bytes, 1u << 20);
    assert_int_equal(c.stream_gop_cache_max_ms, 1000);
    assert_int_equal(c.limits_max_memory_mb, 512);
    assert_int_equal(load(&c, "{\"stream\": {\"gop_cache_max_bytes\": 1000}}", err), -1);
    assert_string_equal(err, "stream.gop_cache_max_bytes: must be between 1048576 and 1073741824");
    assert_int_equal(load(&c, "{\"stream\": {\"gop_cache_max_ms\": 999}}", err), -1);
    assert_string_equal(err, "stream.gop_cache_max_ms: must be between 1000 and 600000");
}

/* "workers": 1 by default, an integer 1..64 or "auto" (0); anything else
 * is refused naming the key; a change needs a restart (conf_changed_key()). */
static void test_workers(void **state)
{
    (void)state;
    conf_t c, d;
    char err[512];
    conf_defaults(&d);
    assert_int_equal(d.workers, 1);
    conf_defaults(&c);
    assert_int_equal(load(&c, "{\"workers\": 4}", err), 0);
    assert_int_equal(c.workers, 4);
    assert_string_equal(conf_changed_key(&c, &d, NULL), "workers");
    assert_int_equal(load(&c, "{\"workers\": \"auto\"}", err), 0);
    assert_int_equal(c.workers, 0);
    assert_int_equal(load(&c, "{\"workers\": 64}", err), 0);
    assert_int_equal(c.workers, 64);
    const char *bad[] = {"0", "65", "2.5", "-1", "\"all\"", "true", "[2]", "{}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[64];
        snprintf(json, sizeof json, "{\"workers\": %s}", bad[i]);
        assert_int_equal(load(&c, json, err), -1);
        assert_string_equal(err, "workers: expected \"auto\" or an integer 1..64");
    }
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
    /* the shipped file states the defaults, but for the dashboard, which it
     * names relative to its own folder (conf/../web/dist) */
    assert_string_equal(c.api_web_root, "../web/dist");
    memcpy(c.api_web_root, d.api_web_root, sizeof c.api_web_root);
    assert_memory_equal(&c, &d, sizeof c);
    assert_int_equal(conf_load_file(&c, "/nonexistent/weir.json", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/weir.json"));
}

/* SIGHUP's comparison: the first changed key, leaving out the skipped ones. */
static void expect_tls_err(const char *json, const char *msg)
{
    conf_t c;
    char err[256];
    assert_int_equal(load(&c, json, err), -1);
    if (!strstr(err, msg))
        fail_msg("%s: error '%s' lacks '%s'", json, err, msg);
}

static void test_tls_keys(void **state)
{
    (void)state;
    conf_t c;
    char err[256];
    assert_int_equal(load(&c, "{}", err), 0);
    assert_string_equal(c.rtmps_listen, ""); /* off by default */
    assert_string_equal(c.https_listen, "");
    assert_int_equal(c.tls_sni_n, 0);
    assert_int_equal(load(&c,
                          "{\"tls\": {\"cert\": \"c.pem\", \"key\": \"k.pem\", \"sni\": ["
                          "{\"host\": \"a.example.com\", \"cert\": \"a.pem\", \"key\": \"ak.pem\"},"
                          "{\"host\": \"*.example.org\", \"cert\": \"b.pem\", \"key\": \"bk.pem\"}]},"
                          "\"rtmps\": {\"listen\": \"0.0.0.0:1936\"},"
                          "\"https\": {\"listen\": \"[::]:8443\"}, \"api\": {\"tls\": false}}",
                          err),
                     0);
    assert_string_equal(c.tls_cert, "c.pem");
    assert_int_equal(c.tls_sni_n, 2);
    assert_string_equal(c.tls_sni[1].host, "*.example.org");
    assert_string_equal(c.tls_sni[1].key, "bk.pem");
    assert_string_equal(c.https_listen, "[::]:8443");
    assert_int_equal(c.api_tls, 0);
    assert_int_equal(load(&c,
                          "{\"tls\": {\"cert\": \"c.pem\", \"key\": \"k.pem\"}, "
                          "\"api\": {\"tls\": true}}",
                          err),
                     0);
    assert_int_equal(c.api_tls, 1);
    expect_tls_err("{\"api\": {\"tls\": true}}", "api.tls: needs tls.cert and tls.key");
    expect_tls_err("{\"api\": {\"tls\": true}, \"tls\": {\"cert\": \"c.pem\"}}",
                   "tls.key: required with tls.cert");
    expect_tls_err("{\"rtmps\": {\"listen\": \"0.0.0.0:1936\"}}",
                   "rtmps.listen: needs tls.cert and tls.key");
    expect_tls_err("{\"https\": {\"listen\": \"0.0.0.0:8443\"}}", "https.listen: needs tls.cert");
    expect_tls_err("{\"https\": {\"listen\": \"8443\"}}", "https.listen: expected");
    expect_tls_err("{\"tls\": {\"cert\": \"c.pem\"}}", "tls.key: required with tls.cert");
    expect_tls_err("{\"tls\": {\"key\": \"k.pem\"}}", "tls.cert: required with tls.key");
    expect_tls_err("{\"tls\": {\"cert\": 1, \"key\": \"k\"}}", "tls.cert: expected a string");
    expect_tls_err("{\"tls\": {\"cert\": \"c\", \"key\": \"k\", \"sni\": {}}}",
                   "tls.sni: expected an array");
    expect_tls_err("{\"tls\": {\"cert\": \"c\", \"key\": \"k\", \"sni\": [1]}}",
                   "tls.sni[0]: expected an object");
    expect_tls_err("{\"tls\": {\"cert\": \"c\", \"key\": \"k\", \"sni\": [{\"host\": \"a.b\", "
                   "\"cert\": \"x\"}]}}",
                   "tls.sni[0].key: expected a non-empty string");
    expect_tls_err("{\"tls\": {\"cert\": \"c\", \"key\": \"k\", \"sni\": [{\"host\": \"a b\", "
                   "\"cert\": \"x\", \"key\": \"y\"}]}}",
                   "tls.sni[0].host: \"a b\" is not a host name");
    expect_tls_err("{\"tls\": {\"cert\": \"c\", \"key\": \"k\", \"sni\": [{\"host\": \"a.b\", "
                   "\"cert\": \"x\", \"key\": \"y\", \"port\": 1}]}}",
                   "tls.sni[0].port: unknown key");
    expect_tls_err("{\"tls\": {\"cert\": \"c\", \"key\": \"k\", \"sni\": ["
                   "{\"host\": \"a.b\", \"cert\": \"x\", \"key\": \"y\"},"
                   "{\"host\": \"A.B\", \"cert\": \"x\", \"key\": \"y\"}]}}",
                   "tls.sni[1].host: duplicate host");
    expect_tls_err("{\"tls\": {\"sni\": [{\"host\": \"a.b\", \"cert\": \"x\", \"key\": \"y\"}]}}",
                   "tls.sni: needs tls.cert");
    expect_tls_err("{\"tls\": {\"max_handshakes\": -1}}", "tls.max_handshakes");
}

static void test_changed_key(void **state)
{
    (void)state;
    conf_t a, b;
    char err[256];
    assert_int_equal(load(&a, "{\"log\": {\"level\": \"warn\"}}", err), 0);
    assert_int_equal(load(&b, "{\"log\": {\"level\": \"warn\"}}", err), 0);
    assert_null(conf_changed_key(&a, &b, NULL));
    assert_int_equal(load(&b, "{\"log\": {\"level\": \"debug\", \"file\": \"x.log\"}}", err), 0);
    assert_string_equal(conf_changed_key(&a, &b, NULL), "log.level");
    static const char *const skip[] = {"log.level", "log.file", NULL};
    assert_null(conf_changed_key(&a, &b, skip));
    assert_int_equal(
        load(&b, "{\"log\": {\"level\": \"warn\"}, \"player\": {\"queue_ms\": 2000}}", err), 0);
    assert_string_equal(conf_changed_key(&a, &b, skip), "player.queue_ms");
    assert_int_equal(load(&b,
                          "{\"log\": {\"level\": \"warn\"}, \"http_flv\": "
                          "{\"wait_for_stream\": true}}",
                          err),
                     0);
    assert_string_equal(conf_changed_key(&a, &b, skip), "http_flv.wait_for_stream");
}

/* A temporary folder for file tests, made with mkdtemp into dir. */
static void temp_dir(char *dir, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, len, "%s/weir-conf-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
}

/* Anything but a regular file is refused at once, naming the file: a FIFO
 * with no writer (it would block forever), a folder, a device. */
static void test_file_not_regular(void **state)
{
    (void)state;
    char dir[256], path[300], err[512];
    conf_t c;
    temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/fifo.json", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    conf_defaults(&c);
    assert_int_equal(conf_load_file(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "is not a regular file"));
    unlink(path);
    assert_int_equal(conf_load_file(&c, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "is a folder"));
    assert_int_equal(conf_load_file(&c, "/dev/zero", err, sizeof err), -1);
    assert_string_equal(err, "/dev/zero: is not a regular file");
    rmdir(dir);
}

/* A file over CONF_FILE_MAX is refused before it is read; one just under
 * it is read (and here fails as JSON, naming the file). */
static void test_file_size_bound(void **state)
{
    (void)state;
    char dir[256], path[300], err[512];
    conf_t c;
    temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/big.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < CONF_FILE_MAX; i++)
        fputc(' ', f);
    fclose(f);
    conf_defaults(&c);
    assert_int_equal(conf_load_file(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "invalid JSON"));
    assert_int_equal(truncate(path, CONF_FILE_MAX + 1), 0);
    assert_int_equal(conf_load_file(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "larger than 1 MiB"));
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"rtmp\": {\"chunk_size\": 8192}}", f);
    fclose(f);
    conf_defaults(&c);
    assert_int_equal(conf_load_file(&c, path, err, sizeof err), 0);
    assert_int_equal(c.rtmp_chunk_size, 8192);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_errors_name_the_key),
        cmocka_unit_test(test_listen_parse),
        cmocka_unit_test(test_listen_port_zero),
        cmocka_unit_test(test_file_not_regular),
        cmocka_unit_test(test_file_size_bound),
        cmocka_unit_test(test_tls_keys),
        cmocka_unit_test(test_changed_key),
        cmocka_unit_test(test_web_root),
        cmocka_unit_test(test_relay_keys),
        cmocka_unit_test(test_hls_keys),
        cmocka_unit_test(test_relays_valid),
        cmocka_unit_test(test_relays_errors),
        cmocka_unit_test(test_relays_limits),
        cmocka_unit_test(test_webhook_keys),
        cmocka_unit_test(test_hooks_valid),
        cmocka_unit_test(test_hooks_errors),
        cmocka_unit_test(test_apps_valid),
        cmocka_unit_test(test_apps_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_api_connection_keys),
        cmocka_unit_test(test_memory_bounds),
        cmocka_unit_test(test_workers),
        cmocka_unit_test(test_shipped_config_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
