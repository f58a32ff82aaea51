/* Unit tests of the relay spec (node/codec/relay_spec.c): defaults, ids, every
 * parse and validation rule with the field its message starts with, PATCH
 * merging, rendering order, the JSON round trip, URLs per stream and
 * matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "relay_spec.h"

#define PULL_MIN "\"direction\":\"pull\",\"app\":\"live\",\"name\":\"cam1\""
#define PULL_URL "\"urls\":[\"rtmp://origin.example/live/cam1\"]"
#define PUSH_BASE "\"direction\":\"push\",\"app\":\"live\",\"name\":\"cam1\""
#define PUSH_URL "\"urls\":[\"rtmp://edge.example:1936/live/cam1\"]"

/* Parses text (a JSON value) into *out with base; returns the rc, err set. */
static int parse(const char *text, const relay_spec_t *base, relay_spec_t *out, char *err,
                 size_t errlen)
{
    cJSON *j = cJSON_Parse(text);
    if (!j)
        fail_msg("test JSON does not parse: %s", text);
    err[0] = '\0';
    int rc = relay_spec_from_json(j, base, out, err, errlen);
    cJSON_Delete(j);
    return rc;
}

static relay_spec_t parse_ok(const char *text, const relay_spec_t *base)
{
    relay_spec_t s;
    char err[256];
    if (parse(text, base, &s, err, sizeof err) != 0)
        fail_msg("%s: refused: %s", text, err);
    return s;
}

/* text is refused with a message that starts with want. */
static void parse_err(const char *text, const relay_spec_t *base, const char *want)
{
    relay_spec_t s;
    memset(&s, 0x5a, sizeof s);
    relay_spec_t before = s;
    char err[256];
    if (parse(text, base, &s, err, sizeof err) == 0)
        fail_msg("%s: accepted, expected '%s'", text, want);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("%s: error '%s' does not start with '%s'", text, err, want);
    assert_memory_equal(&s, &before, sizeof s); /* out untouched on error */
}

/* A whole pull body around a URL list (JSON array text). */
static void url_err(const char *dir, const char *name, const char *urls, const char *want)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"direction\":\"%s\",\"app\":\"live\",\"name\":\"%s\",\"urls\":%s}", dir, name,
             urls);
    parse_err(text, NULL, want);
}

static void url_ok(const char *dir, const char *name, const char *urls)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"direction\":\"%s\",\"app\":\"live\",\"name\":\"%s\",\"urls\":%s}", dir, name,
             urls);
    parse_ok(text, NULL);
}

static void assert_spec_equal(const relay_spec_t *a, const relay_spec_t *b)
{
    assert_string_equal(a->id, b->id);
    assert_int_equal(a->direction, b->direction);
    assert_string_equal(a->app, b->app);
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->nurls, b->nurls);
    for (unsigned i = 0; i < a->nurls; i++)
        assert_string_equal(a->urls[i], b->urls[i]);
    assert_int_equal(a->mode, b->mode);
    assert_int_equal(a->idle_timeout_s, b->idle_timeout_s);
    assert_int_equal(a->retry_initial_ms, b->retry_initial_ms);
    assert_int_equal(a->retry_max_ms, b->retry_max_ms);
    assert_int_equal(a->silence_timeout_ms, b->silence_timeout_ms);
    assert_int_equal(!!a->failback, !!b->failback);
    assert_int_equal(!!a->enabled, !!b->enabled);
    assert_int_equal(a->source, b->source);
}

static void test_defaults(void **state)
{
    (void)state;
    relay_spec_t s;
    memset(&s, 0x33, sizeof s);
    relay_spec_defaults(&s);
    assert_string_equal(s.id, "");
    assert_string_equal(s.app, "");
    assert_string_equal(s.name, "");
    assert_int_equal(s.nurls, 0);
    assert_int_equal(s.mode, RELAY_MODE_ALWAYS);
    assert_int_equal(s.idle_timeout_s, RELAY_DEFAULT_IDLE_TIMEOUT_S);
    assert_int_equal(s.retry_initial_ms, RELAY_DEFAULT_RETRY_INITIAL_MS);
    assert_int_equal(s.retry_max_ms, RELAY_DEFAULT_RETRY_MAX_MS);
    assert_int_equal(s.silence_timeout_ms, 0); /* the node's relay.connect_timeout_ms */
    assert_false(s.failback);
    assert_true(s.enabled);
    assert_int_equal(s.source, RELAY_SRC_API);
    /* The defaults are incomplete (no app, name, URL): validation says so. */
    char err[128];
    assert_int_equal(relay_spec_validate(&s, err, sizeof err), -1);
    assert_true(strncmp(err, "app: ", 5) == 0);
}

static void test_state_fields_list(void **state)
{
    (void)state;
    const char *want[] = {"status",    "current_url",  "last_error",        "retries",
                          "bytes",     "bitrate_kbps", "started_at",        "streams",
                          "failovers", "etag",         "last_error_message"};
    size_t n = 0;
    while (RELAY_STATE_FIELDS[n])
        n++;
    assert_int_equal(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(RELAY_STATE_FIELDS[i], want[i]);
}

static void test_id_valid(void **state)
{
    (void)state;
    assert_true(relay_id_valid("r1"));
    assert_true(relay_id_valid("A-z_0.9"));
    assert_true(relay_id_valid("r-0123456789ab"));
    assert_false(relay_id_valid(".")); /* dot segments: unreachable in a path */
    assert_false(relay_id_valid(".."));
    assert_true(relay_id_valid("..."));
    char id[80];
    memset(id, 'a', sizeof id);
    id[63] = '\0';
    assert_true(relay_id_valid(id)); /* 63 bytes */
    id[63] = 'a';
    id[64] = '\0';
    assert_false(relay_id_valid(id)); /* 64 bytes */
    assert_false(relay_id_valid(""));
    assert_false(relay_id_valid("a b"));
    assert_false(relay_id_valid("a/b"));
    assert_false(relay_id_valid("a%2F"));
    assert_false(relay_id_valid("caf\xc3\xa9"));
    assert_false(relay_id_valid("a:b"));
}

static void test_create_minimal_and_full(void **state)
{
    (void)state;
    relay_spec_t s = parse_ok("{" PULL_MIN "," PULL_URL "}", NULL);
    assert_string_equal(s.id, "");
    assert_int_equal(s.direction, RELAY_PULL);
    assert_string_equal(s.app, "live");
    assert_string_equal(s.name, "cam1");
    assert_int_equal(s.nurls, 1);
    assert_string_equal(s.urls[0], "rtmp://origin.example/live/cam1");
    assert_int_equal(s.mode, RELAY_MODE_ALWAYS);
    assert_int_equal(s.idle_timeout_s, RELAY_DEFAULT_IDLE_TIMEOUT_S);
    assert_int_equal(s.retry_initial_ms, RELAY_DEFAULT_RETRY_INITIAL_MS);
    assert_int_equal(s.retry_max_ms, RELAY_DEFAULT_RETRY_MAX_MS);
    assert_int_equal(s.silence_timeout_ms, 0); /* the node's relay.connect_timeout_ms */
    assert_false(s.failback);
    assert_true(s.enabled);
    assert_int_equal(s.source, RELAY_SRC_API);

    s = parse_ok("{\"id\":\"r.1_x-y\",\"direction\":\"pull\",\"app\":\"live\",\"name\":\"*\","
                 "\"urls\":[\"rtmp://a/live\",\"http://b:8080/live\"],\"mode\":\"on_demand\","
                 "\"idle_timeout_s\":5,\"retry_initial_ms\":100,\"retry_max_ms\":3600000,"
                 "\"enabled\":false,\"source\":\"api\"}",
                 NULL);
    assert_string_equal(s.id, "r.1_x-y");
    assert_string_equal(s.name, "*");
    assert_int_equal(s.nurls, 2);
    assert_string_equal(s.urls[1], "http://b:8080/live");
    assert_int_equal(s.mode, RELAY_MODE_ON_DEMAND);
    assert_int_equal(s.idle_timeout_s, 5);
    assert_int_equal(s.retry_initial_ms, 100);
    assert_int_equal(s.retry_max_ms, 3600000);

    /* A pull of every stream defaults to on_demand; always is refused. */
    relay_spec_t w = parse_ok("{\"direction\":\"pull\",\"app\":\"live\",\"name\":\"*\","
                              "\"urls\":[\"rtmp://a/live\"]}",
                              NULL);
    assert_int_equal(w.mode, RELAY_MODE_ON_DEMAND);
    parse_err("{\"direction\":\"pull\",\"app\":\"live\",\"name\":\"*\","
              "\"urls\":[\"rtmp://a/live\"],\"mode\":\"always\"}",
              NULL, "mode: always needs an exact stream name");
    assert_false(s.enabled);

    s = parse_ok("{" PUSH_BASE "," PUSH_URL ",\"mode\":null}", NULL);
    assert_int_equal(s.direction, RELAY_PUSH);
    assert_int_equal(s.mode, RELAY_MODE_ALWAYS);
    /* issue 18: "always" on a push relay was taken and stored as null */
    parse_err("{" PUSH_BASE "," PUSH_URL ",\"mode\":\"always\"}", NULL,
              "mode: a push relay has no mode (null or absent)");
}

static void test_required_and_body(void **state)
{
    (void)state;
    parse_err("{\"app\":\"live\",\"name\":\"a\"," PULL_URL "}", NULL, "direction: required");
    parse_err("{\"direction\":\"pull\",\"name\":\"a\"," PULL_URL "}", NULL, "app: required");
    parse_err("{\"direction\":\"pull\",\"app\":\"live\"," PULL_URL "}", NULL, "name: required");
    parse_err("{" PULL_MIN "}", NULL, "urls: required");
    parse_err("{}", NULL, "direction: required");
    parse_err("[]", NULL, "relay: expected a JSON object");
    parse_err("\"x\"", NULL, "relay: expected a JSON object");
    relay_spec_t s, out;
    char err[64];
    assert_int_equal(relay_spec_from_json(NULL, NULL, &out, err, sizeof err), -1);
    assert_string_equal(err, "relay: expected a JSON object");
    /* PATCH: nothing is required; {} gives the base back. */
    s = parse_ok("{\"id\":\"r1\"," PULL_MIN "," PULL_URL "}", NULL);
    out = parse_ok("{}", &s);
    assert_spec_equal(&out, &s);
}

static void test_unknown_and_duplicate_fields(void **state)
{
    (void)state;
    parse_err("{" PULL_MIN "," PULL_URL ",\"url\":\"x\"}", NULL, "url: unknown field");
    parse_err("{" PULL_MIN "," PULL_URL ",\"Name\":\"x\"}", NULL, "Name: unknown field");
    parse_err("{\"\\u0001k\\n\":1," PULL_MIN "}", NULL, "?k?: unknown field");
    parse_err("{\"\":1}", NULL, ": unknown field");
    parse_err("{" PULL_MIN "," PULL_URL ",\"app\":\"other\"}", NULL, "app: given twice");
    /* a long unknown name is cut at 64 bytes */
    char text[512], want[128];
    char name[101];
    memset(name, 'k', 100);
    name[100] = '\0';
    snprintf(text, sizeof text, "{\"%s\":1}", name);
    snprintf(want, sizeof want, "%.64s: unknown field", name);
    parse_err(text, NULL, want);
    /* live-state fields are accepted and ignored, whatever their type */
    relay_spec_t s = parse_ok("{" PULL_MIN "," PULL_URL ",\"status\":\"active\","
                              "\"current_url\":null,\"last_error\":\"x\",\"retries\":3,"
                              "\"bytes\":1,\"bitrate_kbps\":1.5,\"started_at\":null,"
                              "\"streams\":[{}],\"failovers\":{}}",
                              NULL);
    assert_string_equal(s.name, "cam1");
}

static void test_wrong_types(void **state)
{
    (void)state;
    parse_err("{\"id\":1," PULL_MIN "," PULL_URL "}", NULL, "id: expected a string");
    parse_err("{\"direction\":1}", NULL, "direction: expected a string");
    parse_err("{\"direction\":\"both\"}", NULL, "direction: expected push or pull");
    parse_err("{\"direction\":\"pull\",\"app\":true}", NULL, "app: expected a string");
    parse_err("{\"direction\":\"pull\",\"app\":\"live\",\"name\":null}", NULL,
              "name: expected a string");
    parse_err("{" PULL_MIN ",\"urls\":\"rtmp://a/b/c\"}", NULL, "urls: expected an array");
    parse_err("{" PULL_MIN ",\"urls\":{}}", NULL, "urls: expected an array");
    parse_err("{" PULL_MIN ",\"urls\":[\"rtmp://a/b/c\",7]}", NULL, "urls[1]: expected a string");
    parse_err("{" PULL_MIN "," PULL_URL ",\"mode\":1}", NULL, "mode: expected a string");
    parse_err("{" PULL_MIN "," PULL_URL ",\"mode\":\"lazy\"}", NULL,
              "mode: expected always or on_demand");
    parse_err("{" PULL_MIN "," PULL_URL ",\"idle_timeout_s\":\"30\"}", NULL,
              "idle_timeout_s: expected an integer");
    parse_err("{" PULL_MIN "," PULL_URL ",\"retry_initial_ms\":null}", NULL,
              "retry_initial_ms: expected an integer");
    parse_err("{" PULL_MIN "," PULL_URL ",\"retry_max_ms\":[1]}", NULL,
              "retry_max_ms: expected an integer");
    parse_err("{" PULL_MIN "," PULL_URL ",\"enabled\":1}", NULL, "enabled: expected a boolean");
    parse_err("{" PULL_MIN "," PULL_URL ",\"enabled\":\"true\"}", NULL,
              "enabled: expected a boolean");
    parse_err("{" PULL_MIN "," PULL_URL ",\"source\":1}", NULL, "source: expected a string");
}

static void test_integer_ranges(void **state)
{
    (void)state;
    static const struct {
        const char *field;
        const char *ok[3];
        const char *bad[6];
    } cases[] = {
        {"idle_timeout_s", {"1", "86400", "30.0"}, {"0", "86401", "-1", "1.5", "1e300", "-0"}},
        {"retry_initial_ms",
         {"100", "1000", "3600000"},
         {"99", "3600001", "-100", "100.25", "4294967396", "0"}},
        {"retry_max_ms",
         {"1000", "3600000", "1e3"},
         {"99", "3600001", "-1", "999.999", "1e20", "0.5"}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char text[512], want[128];
        for (int i = 0; i < 3; i++) {
            /* retry_max_ms must stay >= the initial delay: use the minimum initial */
            snprintf(text, sizeof text,
                     "{" PULL_MIN "," PULL_URL ",\"retry_initial_ms\":100,\"%s\":%s}",
                     cases[c].field, cases[c].ok[i]);
            if (strcmp(cases[c].field, "retry_initial_ms") == 0)
                snprintf(text, sizeof text,
                         "{" PULL_MIN "," PULL_URL ",\"retry_max_ms\":3600000,\"%s\":%s}",
                         cases[c].field, cases[c].ok[i]);
            parse_ok(text, NULL);
        }
        for (int i = 0; i < 6; i++) {
            snprintf(text, sizeof text, "{" PULL_MIN "," PULL_URL ",\"%s\":%s}", cases[c].field,
                     cases[c].bad[i]);
            snprintf(want, sizeof want, "%s: expected an integer from ", cases[c].field);
            parse_err(text, NULL, want);
        }
    }
    relay_spec_t s = parse_ok("{" PULL_MIN "," PULL_URL ",\"idle_timeout_s\":86400}", NULL);
    assert_int_equal(s.idle_timeout_s, 86400);
    parse_err("{" PULL_MIN "," PULL_URL ",\"idle_timeout_s\":0}", NULL,
              "idle_timeout_s: expected an integer from 1 to 86400");
    parse_err("{" PULL_MIN "," PULL_URL ",\"retry_initial_ms\":99}", NULL,
              "retry_initial_ms: expected an integer from 100 to 3600000");
}

/* Issue 18: silence_timeout_ms (200..600000, null: the node's connect
 * timeout) and failback (a boolean): parsed, validated, rendered, merged
 * by PATCH, and both "quiet" for relay_spec_diff(). */
static void test_silence_and_failback(void **state)
{
    (void)state;
    relay_spec_t s = parse_ok("{" PULL_MIN "," PULL_URL "}", NULL);
    assert_int_equal(s.silence_timeout_ms, 0);
    assert_false(s.failback);
    s = parse_ok("{" PULL_MIN "," PULL_URL ",\"silence_timeout_ms\":200,\"failback\":true}", NULL);
    assert_int_equal(s.silence_timeout_ms, 200);
    assert_true(s.failback);
    s = parse_ok("{" PULL_MIN "," PULL_URL ",\"silence_timeout_ms\":600000}", NULL);
    assert_int_equal(s.silence_timeout_ms, 600000);
    s = parse_ok("{" PULL_MIN "," PULL_URL ",\"silence_timeout_ms\":null}", NULL);
    assert_int_equal(s.silence_timeout_ms, 0);
    static const char *const BAD[] = {"199", "600001", "0", "-1", "1.5", "\"1000\"", "true"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "{" PULL_MIN "," PULL_URL ",\"silence_timeout_ms\":%s}",
                 BAD[i]);
        parse_err(text, NULL, "silence_timeout_ms: expected an integer");
    }
    parse_err("{" PULL_MIN "," PULL_URL ",\"failback\":1}", NULL, "failback: expected a boolean");
    parse_err("{" PULL_MIN "," PULL_URL ",\"failback\":null}", NULL,
              "failback: expected a boolean");

    /* PATCH: present fields change, null goes back to the node's value */
    relay_spec_t base = parse_ok("{" PULL_MIN "," PULL_URL ",\"silence_timeout_ms\":1500}", NULL);
    s = parse_ok("{\"failback\":true}", &base);
    assert_int_equal(s.silence_timeout_ms, 1500);
    assert_true(s.failback);
    s = parse_ok("{\"silence_timeout_ms\":null}", &base);
    assert_int_equal(s.silence_timeout_ms, 0);

    /* rendered: the number, or null; validated directly */
    cJSON *j = relay_spec_to_json(&base);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "silence_timeout_ms")->valueint, 1500);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "failback")));
    cJSON_Delete(j);
    char err[128];
    relay_spec_t t = base;
    t.silence_timeout_ms = 150;
    assert_int_equal(relay_spec_validate(&t, err, sizeof err), -1);
    assert_string_equal(err, "silence_timeout_ms: expected an integer from 200 to 600000");

    /* diff: quiet, alone or together with the retry bounds */
    t = base;
    assert_int_equal(relay_spec_diff(&base, &t), RELAY_DIFF_NONE);
    t.silence_timeout_ms = 3000;
    assert_int_equal(relay_spec_diff(&base, &t), RELAY_DIFF_QUIET);
    t = base;
    t.failback = 1;
    assert_int_equal(relay_spec_diff(&base, &t), RELAY_DIFF_QUIET);
    t.retry_max_ms = 9000;
    assert_int_equal(relay_spec_diff(&base, &t), RELAY_DIFF_QUIET);
    snprintf(t.urls[0], sizeof t.urls[0], "rtmp://other.example/live/cam1");
    assert_int_equal(relay_spec_diff(&base, &t), RELAY_DIFF_URLS);
    t.enabled = 0;
    assert_int_equal(relay_spec_diff(&base, &t), RELAY_DIFF_RESTART);
}

static void test_retry_order_and_mode(void **state)
{
    (void)state;
    parse_err("{" PULL_MIN "," PULL_URL ",\"retry_initial_ms\":5000,\"retry_max_ms\":4999}", NULL,
              "retry_max_ms: must be >= retry_initial_ms");
    relay_spec_t s = parse_ok(
        "{" PULL_MIN "," PULL_URL ",\"retry_initial_ms\":5000,\"retry_max_ms\":5000}", NULL);
    assert_int_equal(s.retry_max_ms, 5000);
    /* the defaults' max (30000) is below a big initial delay */
    parse_err("{" PULL_MIN "," PULL_URL ",\"retry_initial_ms\":60000}", NULL,
              "retry_max_ms: must be >= retry_initial_ms");

    parse_err("{" PUSH_BASE "," PUSH_URL ",\"mode\":\"on_demand\"}", NULL,
              "mode: on_demand applies to pull relays only");
    parse_err("{" PULL_MIN "," PULL_URL ",\"mode\":null}", NULL,
              "mode: expected always or "
              "on_demand for a pull relay");
    /* the order of the members does not matter */
    parse_err("{\"mode\":null," PULL_MIN "," PULL_URL "}", NULL, "mode: ");
    parse_err("{\"mode\":\"on_demand\"," PUSH_BASE "," PUSH_URL "}", NULL,
              "mode: on_demand applies to pull relays only");
}

static void test_source_rule(void **state)
{
    (void)state;
    relay_spec_t s = parse_ok("{" PULL_MIN "," PULL_URL ",\"source\":\"api\"}", NULL);
    assert_int_equal(s.source, RELAY_SRC_API);
    parse_err("{" PULL_MIN "," PULL_URL ",\"source\":\"config\"}", NULL, "source: read-only");
    relay_spec_t cfg = s;
    cfg.source = RELAY_SRC_CONFIG;
    relay_spec_t out = parse_ok("{\"source\":\"config\",\"enabled\":false}", &cfg);
    assert_int_equal(out.source, RELAY_SRC_CONFIG);
    assert_false(out.enabled);
    parse_err("{\"source\":\"api\"}", &cfg, "source: read-only");
    out = parse_ok("{\"retries\":1}", &cfg);
    assert_int_equal(out.source, RELAY_SRC_CONFIG); /* kept from base */
}

static void test_url_rules(void **state)
{
    (void)state;
    /* count and length */
    url_err("pull", "a", "[]", "urls: at least one URL is required");
    url_err("pull", "a",
            "[\"rtmp://h/l/a\",\"rtmp://h/l/a\",\"rtmp://h/l/a\",\"rtmp://h/l/a\",\"rtmp://h/l/a\","
            "\"rtmp://h/l/a\",\"rtmp://h/l/a\",\"rtmp://h/l/a\",\"rtmp://h/l/a\"]",
            "urls: at most 8 URLs");
    url_ok("pull", "a",
           "[\"rtmp://h/l/a\",\"rtmp://h/l/a\",\"rtmp://h/l/a\",\"rtmp://h/l/a\",\"rtmp://h/l/a\","
           "\"rtmp://h/l/a\",\"rtmp://h/l/a\",\"rtmp://h/l/a\"]");
    char urls[1200], longurl[600];
    snprintf(longurl, sizeof longurl, "rtmp://h/live/%0497d", 0); /* 511 bytes */
    assert_int_equal(strlen(longurl), 511);
    snprintf(urls, sizeof urls, "[\"%s\"]", longurl);
    url_ok("pull", "a", urls);
    snprintf(longurl, sizeof longurl, "rtmp://h/live/%0498d", 0); /* 512 bytes */
    snprintf(urls, sizeof urls, "[\"rtmp://h/l/a\",\"%s\"]", longurl);
    url_err("pull", "a", urls, "urls[1]: longer than 511 bytes");

    /* schemes */
    url_ok("pull", "a", "[\"https://h/l/a.flv\"]");
    url_ok("pull", "a", "[\"rtmp://h/l/a\",\"rtmps://h/l/a\"]");
    url_ok("push", "a", "[\"RTMPS://h/l/a\"]");
    url_err("pull", "a", "[\"wss://h/l/a.flv\"]", "urls[0]: scheme wss is not supported");
    url_err("pull", "a", "[\"https://h/l/a\"]",
            "urls[0]: an https:// URL must name a stream ending in .flv");
    url_err("pull", "a", "[\"rtmps://h/l\"]",
            "urls[0]: an rtmps:// URL must name the app and the stream");
    url_err("push", "a", "[\"https://h/l/a.flv\"]", "urls[0]: push relays need an rtmp:// URL");
    url_err("pull", "a", "[\"ftp://h/l/a\"]", "urls[0]: scheme ftp is not supported");
    url_err("pull", "a", "[\"h/l/a\"]", "urls[0]: expected rtmp://");
    url_err("push", "a", "[\"//h/l/a\"]", "urls[0]: expected rtmp://");
    url_err("push", "a", "[\"http://h/l/a.flv\"]", "urls[0]: push relays need an rtmp:// URL");
    url_err("push", "*", "[\"rtmp://h/l\",\"http://h/l\"]",
            "urls[1]: push relays need an rtmp:// URL");
    url_ok("pull", "a", "[\"RTMP://h/l/a\",\"Http://h/l/a.flv\"]");

    /* what url_parse refuses, under the URL's index */
    url_err("pull", "a", "[\"rtmp:///l/a\"]", "urls[0]: missing host");
    url_err("pull", "a", "[\"rtmp://h:0/l/a\"]", "urls[0]: bad port");
    url_err("pull", "a", "[\"rtmp://h:99999/l/a\"]", "urls[0]: bad port");
    url_err("pull", "a", "[\"rtmp://h\"]", "urls[0]: missing path after the host");
    url_err("pull", "a", "[\"rtmp://[::1/l/a\"]", "urls[0]: unterminated IPv6");
    url_ok("pull", "a", "[\"rtmp://[::1]:1935/l/a\"]");
    url_err("pull", "a", "[\"rtmp://h/l/a b\"]", "urls[0]: spaces, control bytes");
    url_err("pull", "a", "[\"rtmp://h/l/\\u00e9\"]", "urls[0]: spaces, control bytes");
    url_err("pull", "a", "[\"rtmp://h/l/a#x\"]", "urls[0]: a fragment (#) is not allowed");

    /* rtmp, one stream: app and name */
    url_ok("pull", "a", "[\"rtmp://h/live/a\",\"rtmp://h/live/a/b?token=1\"]");
    url_err("pull", "a", "[\"rtmp://h/live\"]", "urls[0]: an rtmp:// URL must name the app");
    url_err("pull", "a", "[\"rtmp://h/live/\"]", "urls[0]: an rtmp:// URL must name the app");
    url_err("push", "a", "[\"rtmp://h//a\"]", "urls[0]: an rtmp:// URL must name the app");
    url_err("push", "a", "[\"rtmp://h/live?x=/a\"]", "urls[0]: an rtmp:// URL must name the app");
    /* rtmp, "*": exactly the app */
    url_ok("push", "*", "[\"rtmp://h:1935/live\"]");
    url_err("push", "*", "[\"rtmp://h/live/a\"]", "urls[0]: with name \"*\" the URL must end");
    url_err("pull", "*", "[\"rtmp://h/live/\"]", "urls[0]: with name \"*\" the URL must end");
    url_err("pull", "*", "[\"rtmp://h/live?k=v\"]", "urls[0]: with name \"*\" the URL must end");
    /* http, one stream: ends in .flv (a query may follow) */
    url_ok("pull", "a", "[\"http://h/live/a.flv\",\"http://h:8080/a.flv?t=1\"]");
    url_err("pull", "a", "[\"http://h/live/a\"]", "urls[0]: an http:// URL must name a stream");
    url_err("pull", "a", "[\"http://h/live/a.mp4\"]", "urls[0]: an http:// URL must name");
    url_err("pull", "a", "[\"http://h/live/.flv\"]", "urls[0]: an http:// URL must name");
    url_err("pull", "a", "[\"http://h/live/a.flv/\"]", "urls[0]: an http:// URL must name");
    url_err("pull", "a", "[\"http://h/live/a?x=.flv\"]", "urls[0]: an http:// URL must name");
    /* http, "*": one segment */
    url_ok("pull", "*", "[\"http://h:8080/live\"]");
    url_err("pull", "*", "[\"http://h/live/a.flv\"]", "urls[0]: with name \"*\" the URL must end");
    url_err("pull", "*", "[\"http://h/live?x=1\"]", "urls[0]: with name \"*\" the URL must end");
    /* the index is the failing URL's */
    url_err("pull", "a", "[\"rtmp://h/l/a\",\"http://h/l/a.flv\",\"rtmp://h/l\"]",
            "urls[2]: an rtmp:// URL must name the app");
}

static void test_names(void **state)
{
    (void)state;
    parse_err("{\"direction\":\"pull\",\"app\":\"\",\"name\":\"a\"," PULL_URL "}", NULL, "app: ");
    parse_err("{\"direction\":\"pull\",\"app\":\"li ve\",\"name\":\"a\"," PULL_URL "}", NULL,
              "app: ");
    parse_err("{\"direction\":\"pull\",\"app\":\"/live\",\"name\":\"a\"," PULL_URL "}", NULL,
              "app: ");
    parse_err("{\"direction\":\"pull\",\"app\":\"live\",\"name\":\"a?b\"," PULL_URL "}", NULL,
              "name: ");
    parse_err("{\"direction\":\"pull\",\"app\":\"live\",\"name\":\"..\"," PULL_URL "}", NULL,
              "name: ");
    parse_err("{\"direction\":\"pull\",\"app\":\"live\",\"name\":\"\"," PULL_URL "}", NULL,
              "name: ");
    parse_err("{\"id\":\"a b\"," PULL_MIN "," PULL_URL "}", NULL, "id: expected 1 to 63");
    parse_err("{\"id\":\"\"," PULL_MIN "," PULL_URL "}", NULL, "id: expected 1 to 63");
    char text[1024], id[100];
    memset(id, 'x', 64);
    id[64] = '\0';
    snprintf(text, sizeof text, "{\"id\":\"%s\"," PULL_MIN "," PULL_URL "}", id);
    parse_err(text, NULL, "id: longer than 63 bytes");
    char app[200];
    memset(app, 'a', 128);
    app[128] = '\0';
    snprintf(text, sizeof text,
             "{\"direction\":\"pull\",\"app\":\"%s\",\"name\":\"a\"," PULL_URL "}", app);
    parse_err(text, NULL, "app: longer than 127 bytes");
    /* a name is one path segment */
    parse_err("{\"direction\":\"pull\",\"app\":\"live\",\"name\":\"a/b\","
              "\"urls\":[\"rtmp://h/l/a/b\"]}",
              NULL, "name: expected");
}

static relay_spec_t sample_pull(void)
{
    return parse_ok("{\"id\":\"r1\",\"direction\":\"pull\",\"app\":\"live\",\"name\":\"cam1\","
                    "\"urls\":[\"rtmp://a/live/cam1\",\"http://b/live/cam1.flv\"],"
                    "\"mode\":\"on_demand\",\"idle_timeout_s\":10,\"retry_initial_ms\":200,"
                    "\"retry_max_ms\":800,\"enabled\":true}",
                    NULL);
}

static void test_patch_merge(void **state)
{
    (void)state;
    relay_spec_t base = sample_pull();
    relay_spec_t s = parse_ok("{\"enabled\":false,\"retry_max_ms\":60000}", &base);
    relay_spec_t want = base;
    want.enabled = 0;
    want.retry_max_ms = 60000;
    assert_spec_equal(&s, &want);

    s = parse_ok("{\"urls\":[\"http://c/x/y.flv\"]}", &base);
    assert_int_equal(s.nurls, 1);
    assert_string_equal(s.urls[0], "http://c/x/y.flv");
    assert_string_equal(s.urls[1], ""); /* no stale URL behind nurls */
    assert_string_equal(s.name, "cam1");

    s = parse_ok("{\"mode\":\"always\"}", &base);
    assert_int_equal(s.mode, RELAY_MODE_ALWAYS);
    /* a pull of every stream can only run on demand */
    parse_err("{\"name\":\"*\",\"urls\":[\"rtmp://o/live\"],\"mode\":\"always\"}", &base,
              "mode: always needs an exact stream name");
    /* the merged result is validated whole */
    parse_err("{\"retry_initial_ms\":900}", &base, "retry_max_ms: must be >= retry_initial_ms");
    parse_err("{\"name\":\"*\"}", &base, "urls[0]: with name \"*\" the URL must end");
    parse_err("{\"mode\":null}", &base, "mode: expected always or on_demand for a pull relay");
    parse_err("{\"direction\":\"push\"}", &base, "urls[1]: push relays need an rtmp:// URL");
    parse_err("{\"urls\":[]}", &base, "urls: at least one URL is required");
    parse_err("{\"bogus\":1}", &base, "bogus: unknown field");
    /* pull on_demand -> push drops the pull-only mode */
    s = parse_ok("{\"direction\":\"push\",\"urls\":[\"rtmp://c/live/cam1\"]}", &base);
    assert_int_equal(s.direction, RELAY_PUSH);
    assert_int_equal(s.mode, RELAY_MODE_ALWAYS);
    /* PATCH may carry an id; the API compares it with the path */
    s = parse_ok("{\"id\":\"r2\"}", &base);
    assert_string_equal(s.id, "r2");
}

static void test_to_json_order_and_values(void **state)
{
    (void)state;
    relay_spec_t s = sample_pull();
    cJSON *j = relay_spec_to_json(&s);
    assert_non_null(j);
    char *text = cJSON_PrintUnformatted(j);
    assert_string_equal(text,
                        "{\"id\":\"r1\",\"direction\":\"pull\",\"app\":\"live\",\"name\":\"cam1\","
                        "\"urls\":[\"rtmp://a/live/cam1\",\"http://b/live/cam1.flv\"],"
                        "\"mode\":\"on_demand\",\"idle_timeout_s\":10,\"retry_initial_ms\":200,"
                        "\"retry_max_ms\":800,\"silence_timeout_ms\":null,\"failback\":false,"
                        "\"enabled\":true,\"tls_verify\":true,\"tls_ca\":null,"
                        "\"source\":\"api\"}");
    cJSON_free(text);
    cJSON_Delete(j);

    s = parse_ok("{" PUSH_BASE "," PUSH_URL ",\"enabled\":false}", NULL);
    s.source = RELAY_SRC_CONFIG;
    j = relay_spec_to_json(&s);
    text = cJSON_PrintUnformatted(j);
    assert_string_equal(text, "{\"id\":\"\",\"direction\":\"push\",\"app\":\"live\","
                              "\"name\":\"cam1\",\"urls\":[\"rtmp://edge.example:1936/live/cam1\"],"
                              "\"mode\":null,\"idle_timeout_s\":30,\"retry_initial_ms\":1000,"
                              "\"retry_max_ms\":30000,\"silence_timeout_ms\":null,"
                              "\"failback\":false,\"enabled\":false,\"tls_verify\":true,"
                              "\"tls_ca\":null,\"source\":\"config\"}");
    cJSON_free(text);
    cJSON_Delete(j);
}

/* spec -> JSON -> spec (base NULL for API relays, base = spec otherwise).
 * The spec has an id: an id-less spec renders "id": "", which is refused. */
static void round_trip(const relay_spec_t *s)
{
    char err[256];
    assert_true(s->id[0]);
    assert_int_equal(relay_spec_validate(s, err, sizeof err), 0);
    cJSON *j = relay_spec_to_json(s);
    assert_non_null(j);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    cJSON *back = cJSON_Parse(text);
    cJSON_free(text);
    relay_spec_t out;
    const relay_spec_t *base = s->source == RELAY_SRC_API ? NULL : s;
    if (relay_spec_from_json(back, base, &out, err, sizeof err) != 0)
        fail_msg("round trip refused: %s", err);
    assert_spec_equal(&out, s);
    /* and merged onto any other valid base it is the same spec again */
    relay_spec_t other = sample_pull();
    other.source = s->source;
    assert_int_equal(relay_spec_from_json(back, &other, &out, err, sizeof err), 0);
    assert_spec_equal(&out, s);
    cJSON_Delete(back);
}

static void test_round_trip(void **state)
{
    (void)state;
    relay_spec_t s = sample_pull();
    round_trip(&s);
    s = parse_ok("{\"id\":\"p\"," PUSH_BASE "," PUSH_URL "}", NULL);
    round_trip(&s);
    s = parse_ok("{\"id\":\"w\",\"direction\":\"push\",\"app\":\"live\",\"name\":\"*\","
                 "\"urls\":[\"rtmp://a/x\",\"rtmp://b/y\",\"rtmp://c/z\",\"rtmp://d/x\","
                 "\"rtmp://e/x\",\"rtmp://f/x\",\"rtmp://g/x\",\"rtmp://h/x\"],\"enabled\":false,"
                 "\"retry_initial_ms\":3600000,\"retry_max_ms\":3600000,"
                 "\"silence_timeout_ms\":2500,\"failback\":true}",
                 NULL);
    round_trip(&s);
    s.source = RELAY_SRC_CONFIG;
    round_trip(&s);
    s = parse_ok("{\"id\":\"-\",\"direction\":\"pull\",\"app\":\"a.b\",\"name\":\"*\",\"mode\":"
                 "\"on_demand\","
                 "\"urls\":[\"http://[::1]:8080/live\"],\"idle_timeout_s\":86400}",
                 NULL);
    round_trip(&s);
}

static void test_validate_direct(void **state)
{
    (void)state;
    char err[128];
    relay_spec_t s = sample_pull();
    assert_int_equal(relay_spec_validate(&s, err, sizeof err), 0);
    relay_spec_t t = s;
    t.direction = (relay_dir_t)7;
    assert_int_equal(relay_spec_validate(&t, err, sizeof err), -1);
    assert_string_equal(err, "direction: expected push or pull");
    t = s;
    t.mode = (relay_mode_t)9;
    assert_int_equal(relay_spec_validate(&t, err, sizeof err), -1);
    assert_string_equal(err, "mode: expected always or on_demand");
    t = s;
    t.source = (relay_source_t)3;
    assert_int_equal(relay_spec_validate(&t, err, sizeof err), -1);
    assert_string_equal(err, "source: expected api or config");
    t = s;
    memset(t.id, 'a', sizeof t.id); /* unterminated */
    assert_int_equal(relay_spec_validate(&t, err, sizeof err), -1);
    assert_true(strncmp(err, "id: ", 4) == 0);
    t = s;
    memset(t.urls[1], 'a', RELAY_URL_MAX);
    assert_int_equal(relay_spec_validate(&t, err, sizeof err), -1);
    assert_string_equal(err, "urls[1]: longer than 511 bytes");
    t = s;
    t.nurls = RELAY_URLS_MAX + 1;
    assert_int_equal(relay_spec_validate(&t, err, sizeof err), -1);
    assert_string_equal(err, "urls: at most 8 URLs");
    t = s;
    t.idle_timeout_s = 0;
    assert_int_equal(relay_spec_validate(&t, err, sizeof err), -1);
    assert_string_equal(err, "idle_timeout_s: expected an integer from 1 to 86400");
    t = s;
    t.retry_max_ms = 3600001;
    assert_int_equal(relay_spec_validate(&t, err, sizeof err), -1);
    assert_string_equal(err, "retry_max_ms: expected an integer from 100 to 3600000");
    t = s;
    t.id[0] = '\0'; /* no id yet: fine (POST without id) */
    assert_int_equal(relay_spec_validate(&t, err, sizeof err), 0);
    /* a short error buffer is still terminated */
    char small[8];
    t = s;
    t.mode = RELAY_MODE_ON_DEMAND;
    t.direction = RELAY_PUSH;
    t.nurls = 1;
    assert_int_equal(relay_spec_validate(&t, small, sizeof small), -1);
    assert_string_equal(small, "mode: o");
    assert_int_equal(relay_spec_validate(&t, NULL, 0), -1);
}

static void test_url_for(void **state)
{
    (void)state;
    relay_spec_t s = sample_pull();
    char out[RELAY_URL_MAX + STREAM_NAME_MAX + 8];
    assert_int_equal(relay_spec_url_for(&s, 0, "ignored", out, sizeof out), 0);
    assert_string_equal(out, "rtmp://a/live/cam1");
    assert_int_equal(relay_spec_url_for(&s, 1, "ignored", out, sizeof out), 0);
    assert_string_equal(out, "http://b/live/cam1.flv");
    assert_int_equal(relay_spec_url_for(&s, 2, "x", out, sizeof out), -1);

    s = parse_ok("{\"direction\":\"pull\",\"app\":\"live\",\"name\":\"*\","
                 "\"urls\":[\"rtmp://a:1936/origin\",\"HTTP://b/origin\"]}",
                 NULL);
    assert_int_equal(relay_spec_url_for(&s, 0, "cam/2", out, sizeof out), 0);
    assert_string_equal(out, "rtmp://a:1936/origin/cam/2");
    assert_int_equal(relay_spec_url_for(&s, 1, "cam2", out, sizeof out), 0);
    assert_string_equal(out, "HTTP://b/origin/cam2.flv");
    /* exactly fitting, and one byte short */
    size_t need = strlen("HTTP://b/origin/cam2.flv") + 1;
    assert_int_equal(relay_spec_url_for(&s, 1, "cam2", out, need), 0);
    assert_int_equal(relay_spec_url_for(&s, 1, "cam2", out, need - 1), -1);
    assert_int_equal(relay_spec_url_for(&s, 1, "cam2", out, 0), -1);
    assert_int_equal(relay_spec_url_for(&s, 9, "cam2", out, sizeof out), -1);
}

/* tls_verify and tls_ca: defaults, types, null, rendering, PATCH, diff;
 * https:// gets ".flv" appended for "*" like http://. */
static void test_tls_fields(void **state)
{
    (void)state;
    relay_spec_t s = parse_ok("{\"direction\":\"pull\",\"app\":\"live\",\"name\":\"*\","
                              "\"urls\":[\"rtmps://a/origin\",\"https://b:8443/origin\"]}",
                              NULL);
    assert_int_equal(s.tls_verify, 1);
    assert_string_equal(s.tls_ca, "");
    char out[RELAY_URL_MAX + STREAM_NAME_MAX + 8];
    assert_int_equal(relay_spec_url_for(&s, 0, "cam", out, sizeof out), 0);
    assert_string_equal(out, "rtmps://a/origin/cam");
    assert_int_equal(relay_spec_url_for(&s, 1, "cam", out, sizeof out), 0);
    assert_string_equal(out, "https://b:8443/origin/cam.flv");

    relay_spec_t t = parse_ok("{\"tls_verify\":false,\"tls_ca\":\"/etc/weir/ca.pem\"}", &s);
    assert_int_equal(t.tls_verify, 0);
    assert_string_equal(t.tls_ca, "/etc/weir/ca.pem");
    assert_int_equal(relay_spec_diff(&s, &t), RELAY_DIFF_RESTART);
    cJSON *j = relay_spec_to_json(&t);
    assert_non_null(j);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "tls_verify")));
    assert_string_equal(cJSON_GetObjectItem(j, "tls_ca")->valuestring, "/etc/weir/ca.pem");
    cJSON_Delete(j);
    relay_spec_t u = parse_ok("{\"tls_ca\":null}", &t);
    assert_string_equal(u.tls_ca, "");
    assert_int_equal(relay_spec_diff(&t, &u), RELAY_DIFF_RESTART);

    parse_err("{\"tls_verify\":1}", &s, "tls_verify: expected a boolean");
    parse_err("{\"tls_ca\":\"\"}", &s, "tls_ca: expected a file path or null");
    parse_err("{\"tls_ca\":5}", &s, "tls_ca: expected a string");
    char big[700], text[800];
    memset(big, 'c', 600);
    big[600] = '\0';
    snprintf(text, sizeof text, "{\"tls_ca\":\"/%s\"}", big);
    parse_err(text, &s, "tls_ca: longer than 511 bytes");
}

static void test_matches(void **state)
{
    (void)state;
    relay_spec_t s = sample_pull();
    assert_true(relay_spec_matches(&s, "live", "cam1"));
    assert_false(relay_spec_matches(&s, "live", "cam2"));
    assert_false(relay_spec_matches(&s, "live", "cam10"));
    assert_false(relay_spec_matches(&s, "other", "cam1"));
    assert_false(relay_spec_matches(&s, "liv", "cam1"));
    strcpy(s.name, "*");
    assert_true(relay_spec_matches(&s, "live", "anything"));
    assert_true(relay_spec_matches(&s, "live", "a/b"));
    assert_false(relay_spec_matches(&s, "live2", "anything"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_state_fields_list),
        cmocka_unit_test(test_id_valid),
        cmocka_unit_test(test_create_minimal_and_full),
        cmocka_unit_test(test_required_and_body),
        cmocka_unit_test(test_unknown_and_duplicate_fields),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_integer_ranges),
        cmocka_unit_test(test_silence_and_failback),
        cmocka_unit_test(test_retry_order_and_mode),
        cmocka_unit_test(test_source_rule),
        cmocka_unit_test(test_url_rules),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_patch_merge),
        cmocka_unit_test(test_to_json_order_and_values),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_validate_direct),
        cmocka_unit_test(test_url_for),
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_tls_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
