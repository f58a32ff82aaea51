/* Unit tests of hook_spec: parsing with defaults, every refusal naming its
 * field, rendering (API without the secret, storage with it), round trips,
 * event matching and URLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "hook_spec.h"

static int parse(const char *json, hook_spec_t *out, char *err, size_t errlen)
{
    cJSON *j = cJSON_Parse(json);
    if (!j)
        fail_msg("test JSON does not parse: %s", json);
    int rc = hook_spec_from_json(j, out, err, errlen);
    cJSON_Delete(j);
    return rc;
}

static void test_minimal_and_defaults(void **state)
{
    (void)state;
    hook_spec_t s;
    char err[256] = "";
    assert_int_equal(
        parse("{\"url\": \"http://sched:9000/hooks\", \"events\": [\"*\"]}", &s, err, sizeof err),
        0);
    assert_string_equal(s.id, "");
    assert_string_equal(s.url, "http://sched:9000/hooks");
    assert_true(s.all_events);
    assert_int_equal(s.decide, 0);
    assert_int_equal(s.timeout_ms, 5000);
    assert_string_equal(s.secret, "");
    assert_true(s.enabled);
    assert_true(s.tls_verify);
    assert_string_equal(s.tls_ca, "");
    assert_int_equal(s.source, HOOK_SRC_API);
    for (int i = 0; HOOK_EVENT_TYPES[i]; i++)
        assert_true(hook_spec_wants(&s, HOOK_EVENT_TYPES[i]));
    assert_false(hook_spec_wants(&s, "on_publish"));
    assert_false(hook_spec_wants(&s, "nope"));
    assert_false(hook_spec_decides(&s, "on_publish"));
    assert_false(hook_spec_decides(&s, "on_play"));
}

static void test_full(void **state)
{
    (void)state;
    hook_spec_t s;
    char err[256] = "";
    assert_int_equal(parse("{\"id\": \"auth-1\", \"url\": \"http://[::1]:81/a/b?t=1&u=2\","
                           " \"events\": [\"play.stop\", \"publish.start\"],"
                           " \"decide\": [\"on_play\"], \"timeout_ms\": 100,"
                           " \"secret\": \"k\", \"enabled\": false, \"tls_verify\": false,"
                           " \"tls_ca\": \"/etc/weir/hooks-ca.pem\"}",
                           &s, err, sizeof err),
                     0);
    assert_false(s.tls_verify);
    assert_string_equal(s.tls_ca, "/etc/weir/hooks-ca.pem");
    assert_string_equal(s.id, "auth-1");
    assert_false(s.all_events);
    assert_true(hook_spec_wants(&s, "play.stop"));
    assert_true(hook_spec_wants(&s, "publish.start"));
    assert_false(hook_spec_wants(&s, "play.start"));
    assert_true(hook_spec_decides(&s, "on_play"));
    assert_false(hook_spec_decides(&s, "on_publish"));
    assert_int_equal(s.timeout_ms, 100);
    assert_string_equal(s.secret, "k");
    assert_false(s.enabled);
    /* every notification type is accepted, once each */
    char json[1024];
    size_t o = (size_t)snprintf(json, sizeof json, "{\"url\": \"http://h/p\", \"events\": [");
    for (int i = 0; HOOK_EVENT_TYPES[i]; i++)
        o += (size_t)snprintf(json + o, sizeof json - o, "%s\"%s\"", i ? "," : "",
                              HOOK_EVENT_TYPES[i]);
    snprintf(json + o, sizeof json - o, "]}");
    assert_int_equal(parse(json, &s, err, sizeof err), 0);
    for (int i = 0; HOOK_EVENT_TYPES[i]; i++)
        assert_true(hook_spec_wants(&s, HOOK_EVENT_TYPES[i]));
    assert_int_equal(hook_event_type_index("relay.refused"), 15);
    assert_int_equal(hook_event_type_index("storage.lost"), 16);
    assert_int_equal(hook_event_type_index("node.start"), 0);
    assert_int_equal(hook_event_type_index("x"), -1);
}

static void test_errors_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *json, *msg;
    } BAD[] = {
        {"[]", "hook: expected a JSON object"},
        {"{\"events\": [\"*\"]}", "url: required"},
        {"{\"url\": \"http://h/p\"}", "events: required"},
        {"{\"url\": \"http://h/p\", \"events\": []}",
         "events: at least one event type (or \"*\") is required"},
        {"{\"url\": \"http://h/p\", \"events\": \"*\"}",
         "events: expected an array of event types"},
        {"{\"url\": \"http://h/p\", \"events\": [\"play.start\", \"node.start\", \"x\"]}",
         "events[2]: unknown event type 'x'"},
        {"{\"url\": \"http://h/p\", \"events\": [\"play.start\", \"play.start\"]}",
         "events[1]: 'play.start' is listed twice"},
        {"{\"url\": \"http://h/p\", \"events\": [\"*\", \"play.start\"]}",
         "events[0]: \"*\" must be the only item"},
        {"{\"url\": \"http://h/p\", \"events\": [1]}", "events[0]: expected a string"},
        {"{\"url\": \"http://h/p\", \"events\": [\"on_publish\"]}",
         "events[0]: unknown event type 'on_publish'"},
        {"{\"url\": \"http://h/p\", \"events\": [\"a\\u0001b\"]}",
         "events[0]: unknown event type 'a?b'"},
        {"{\"url\": \"https://\", \"events\": [\"*\"]}", "url: missing host"},
        {"{\"url\": \"https://h:0/p\", \"events\": [\"*\"]}", "url: bad port"},
        {"{\"url\": \"ftp://h/p\", \"events\": [\"*\"]}",
         "url: expected http://host[:port]/path (or https://)"},
        {"{\"url\": \"http:///p\", \"events\": [\"*\"]}", "url: missing host"},
        {"{\"url\": \"http://h:0/p\", \"events\": [\"*\"]}", "url: bad port"},
        {"{\"url\": \"http://h/p q\", \"events\": [\"*\"]}",
         "url: spaces, control bytes and non-ASCII bytes are not allowed (percent-encode them)"},
        {"{\"url\": \"http://h/p#f\", \"events\": [\"*\"]}", "url: a fragment (#) is not allowed"},
        {"{\"url\": 5, \"events\": [\"*\"]}", "url: expected a string"},
        {"{\"url\": \"http://h/p\", \"events\": [\"*\"], \"decide\": [\"on_stop\"]}",
         "decide[0]: expected on_publish or on_play"},
        {"{\"url\": \"http://h/p\", \"events\": [\"*\"], \"decide\": [\"on_play\", \"on_play\"]}",
         "decide[1]: 'on_play' is listed twice"},
        {"{\"url\": \"http://h/p\", \"events\": [\"*\"], \"decide\": \"on_play\"}",
         "decide: expected an array (on_publish, on_play)"},
        {"{\"url\": \"http://h/p\", \"events\": [\"*\"], \"timeout_ms\": 99}",
         "timeout_ms: expected an integer from 100 to 60000"},
        {"{\"url\": \"http://h/p\", \"events\": [\"*\"], \"timeout_ms\": 60001}",
         "timeout_ms: expected an integer from 100 to 60000"},
        {"{\"url\": \"http://h/p\", \"events\": [\"*\"], \"timeout_ms\": 1000.5}",
         "timeout_ms: expected an integer from 100 to 60000"},
        {"{\"url\": \"http://h/p\", \"events\": [\"*\"], \"timeout_ms\": \"1\"}",
         "timeout_ms: expected an integer"},
        {"{\"url\": \"http://h/p\", \"events\": [\"*\"], \"secret\": \"\"}",
         "secret: expected 1 to 256 bytes (null for none)"},
        {"{\"url\": \"http://h/p\", \"events\": [\"*\"], \"secret\": 1}",
         "secret: expected a string"},
        {"{\"url\": \"http://h/p\", \"events\": [\"*\"], \"enabled\": 1}",
         "enabled: expected a boolean"},
        {"{\"url\": \"https://h/p\", \"events\": [\"*\"], \"tls_verify\": \"no\"}",
         "tls_verify: expected a boolean"},
        {"{\"url\": \"https://h/p\", \"events\": [\"*\"], \"tls_ca\": \"\"}",
         "tls_ca: expected a file path or null"},
        {"{\"url\": \"https://h/p\", \"events\": [\"*\"], \"tls_ca\": 1}",
         "tls_ca: expected a string"},
        {"{\"url\": \"http://h/p\", \"events\": [\"*\"], \"id\": \"a b\"}",
         "id: expected 1 to 63 characters of A-Z a-z 0-9 . _ - (not . or ..)"},
        {"{\"url\": \"http://h/p\", \"events\": [\"*\"], \"id\": \".\"}",
         "id: expected 1 to 63 characters of A-Z a-z 0-9 . _ - (not . or ..)"},
        {"{\"url\": \"http://h/p\", \"events\": [\"*\"], \"source\": \"file\"}",
         "source: read-only; expected api or config"},
        {"{\"url\": \"http://h/p\", \"events\": [\"*\"], \"secret_set\": \"yes\"}",
         "secret_set: read-only; expected a boolean"},
        {"{\"url\": \"http://h/p\", \"events\": [\"*\"], \"colour\": 1}", "colour: unknown field"},
        {"{\"url\": \"http://h/p\", \"url\": \"http://h/q\", \"events\": [\"*\"]}",
         "url: given twice"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        hook_spec_t s, before;
        memset(&s, 0x5a, sizeof s);
        before = s;
        char err[256] = "";
        assert_int_equal(parse(BAD[i].json, &s, err, sizeof err), -1);
        if (strcmp(err, BAD[i].msg) != 0)
            fail_msg("case %zu: \"%s\", expected \"%s\"", i, err, BAD[i].msg);
        assert_memory_equal(&s, &before, sizeof s); /* out untouched */
    }
}

static void test_limits(void **state)
{
    (void)state;
    hook_spec_t s;
    char err[256];
    char url[HOOK_URL_MAX + 16], json[2048];
    /* 511 bytes of URL pass, 512 do not */
    memset(url, 'a', sizeof url);
    memcpy(url, "http://h/", 9);
    url[HOOK_URL_MAX - 1] = '\0';
    snprintf(json, sizeof json, "{\"url\": \"%s\", \"events\": [\"*\"]}", url);
    assert_int_equal(parse(json, &s, err, sizeof err), 0);
    url[HOOK_URL_MAX - 1] = 'a';
    url[HOOK_URL_MAX] = '\0';
    snprintf(json, sizeof json, "{\"url\": \"%s\", \"events\": [\"*\"]}", url);
    assert_int_equal(parse(json, &s, err, sizeof err), -1);
    assert_string_equal(err, "url: longer than 511 bytes");
    /* a 256-byte secret passes, 257 do not */
    char sec[300];
    memset(sec, 's', sizeof sec);
    sec[256] = '\0';
    snprintf(json, sizeof json,
             "{\"url\": \"http://h/p\", \"events\": [\"*\"], \"secret\": \"%s\"}", sec);
    assert_int_equal(parse(json, &s, err, sizeof err), 0);
    assert_int_equal(strlen(s.secret), 256);
    sec[256] = 's';
    sec[257] = '\0';
    snprintf(json, sizeof json,
             "{\"url\": \"http://h/p\", \"events\": [\"*\"], \"secret\": \"%s\"}", sec);
    assert_int_equal(parse(json, &s, err, sizeof err), -1);
    assert_string_equal(err, "secret: longer than 256 bytes");
    /* more than 32 events */
    size_t o = (size_t)snprintf(json, sizeof json, "{\"url\": \"http://h/p\", \"events\": [");
    for (int i = 0; i < HOOK_EVENTS_MAX + 1; i++)
        o += (size_t)snprintf(json + o, sizeof json - o, "%s\"play.start\"", i ? "," : "");
    snprintf(json + o, sizeof json - o, "]}");
    assert_int_equal(parse(json, &s, err, sizeof err), -1);
    assert_string_equal(err, "events: at most 32 items");
    /* id of 63 bytes */
    char id[80];
    memset(id, 'i', sizeof id);
    id[63] = '\0';
    snprintf(json, sizeof json, "{\"id\": \"%s\", \"url\": \"http://h/p\", \"events\": [\"*\"]}",
             id);
    assert_int_equal(parse(json, &s, err, sizeof err), 0);
    id[63] = 'i';
    id[64] = '\0';
    snprintf(json, sizeof json, "{\"id\": \"%s\", \"url\": \"http://h/p\", \"events\": [\"*\"]}",
             id);
    assert_int_equal(parse(json, &s, err, sizeof err), -1);
    assert_string_equal(err, "id: longer than 63 bytes");
}

static void test_render_api_and_storage(void **state)
{
    (void)state;
    hook_spec_t s;
    char err[256];
    assert_int_equal(parse("{\"id\": \"h1\", \"url\": \"http://h:8/p\","
                           " \"events\": [\"relay.fail\", \"node.start\"],"
                           " \"decide\": [\"on_play\", \"on_publish\"], \"secret\": \"top\"}",
                           &s, err, sizeof err),
                     0);
    cJSON *api = hook_spec_to_json(&s);
    assert_non_null(api);
    char *text = cJSON_PrintUnformatted(api);
    assert_string_equal(text, "{\"id\":\"h1\",\"url\":\"http://h:8/p\","
                              "\"events\":[\"node.start\",\"relay.fail\"],"
                              "\"decide\":[\"on_publish\",\"on_play\"],\"timeout_ms\":5000,"
                              "\"enabled\":true,\"tls_verify\":true,\"tls_ca\":null,"
                              "\"secret_set\":true,\"source\":\"api\"}");
    assert_null(strstr(text, "top")); /* never the secret */
    cJSON_free(text);

    /* a GET body can be PUT back (with live state): the same spec, minus the
     * secret */
    cJSON_AddNumberToObject(api, "queued", 3);
    cJSON_AddNullToObject(api, "last_status");
    cJSON_AddNullToObject(api, "last_delivery_at");
    hook_spec_t back;
    assert_int_equal(hook_spec_from_json(api, &back, err, sizeof err), 0);
    assert_string_equal(back.secret, "");
    memcpy(back.secret, s.secret, sizeof s.secret);
    assert_memory_equal(&back, &s, sizeof s);
    cJSON_Delete(api);

    /* storage: the secret included, no source; reads back equal */
    cJSON *st = hook_spec_to_storage_json(&s);
    assert_non_null(st);
    assert_string_equal(cJSON_GetObjectItem(st, "secret")->valuestring, "top");
    assert_null(cJSON_GetObjectItem(st, "source"));
    assert_null(cJSON_GetObjectItem(st, "secret_set"));
    assert_int_equal(hook_spec_from_json(st, &back, err, sizeof err), 0);
    assert_memory_equal(&back, &s, sizeof s);
    cJSON_Delete(st);

    /* all events render as ["*"]; no secret: secret_set false, nothing stored */
    assert_int_equal(parse("{\"id\": \"h2\", \"url\": \"http://h/\", \"events\": [\"*\"],"
                           " \"secret\": null}",
                           &s, err, sizeof err),
                     0);
    s.source = HOOK_SRC_CONFIG;
    api = hook_spec_to_json(&s);
    text = cJSON_PrintUnformatted(api);
    assert_string_equal(text, "{\"id\":\"h2\",\"url\":\"http://h/\",\"events\":[\"*\"],"
                              "\"decide\":[],\"timeout_ms\":5000,\"enabled\":true,"
                              "\"tls_verify\":true,\"tls_ca\":null,"
                              "\"secret_set\":false,\"source\":\"config\"}");
    cJSON_free(text);
    cJSON_Delete(api);
    st = hook_spec_to_storage_json(&s);
    assert_null(cJSON_GetObjectItem(st, "secret"));
    cJSON_Delete(st);
}

static void test_validate_and_url(void **state)
{
    (void)state;
    hook_spec_t s;
    char err[256];
    hook_spec_defaults(&s);
    assert_int_equal(hook_spec_validate(&s, err, sizeof err), -1);
    assert_string_equal(err, "url: required");
    strcpy(s.url, "http://h/p");
    assert_int_equal(hook_spec_validate(&s, err, sizeof err), -1);
    assert_string_equal(err, "events: at least one event type (or \"*\") is required");
    unsigned ntypes = 0;
    while (HOOK_EVENT_TYPES[ntypes])
        ntypes++;
    s.events = 1u << ntypes; /* past the last type */
    assert_int_equal(hook_spec_validate(&s, err, sizeof err), -1);
    s.events = 1;
    assert_int_equal(hook_spec_validate(&s, err, sizeof err), 0);
    s.decide = 4;
    assert_int_equal(hook_spec_validate(&s, err, sizeof err), -1);
    assert_string_equal(err, "decide: expected on_publish and/or on_play");
    s.decide = 0;
    s.timeout_ms = 99;
    assert_int_equal(hook_spec_validate(&s, err, sizeof err), -1);
    assert_string_equal(err, "timeout_ms: expected an integer from 100 to 60000");
    s.timeout_ms = 100;
    s.source = (hook_source_t)7;
    assert_int_equal(hook_spec_validate(&s, err, sizeof err), -1);
    assert_string_equal(err, "source: expected api or config");

    url_t u;
    assert_int_equal(hook_spec_url("http://h/", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "h");
    assert_int_equal(u.port, 80);
    assert_string_equal(u.path, "/");
    assert_int_equal(hook_spec_url("http://h:81/?q=1", &u, err, sizeof err), 0);
    assert_int_equal(u.port, 81);
    assert_string_equal(u.path, "/?q=1");
    assert_int_equal(hook_spec_url("HTTP://[::1]:9/a/b?c", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.path, "/a/b?c");
    /* no path: taken as "/" */
    assert_int_equal(hook_spec_url("http://h?q", &u, err, sizeof err), 0);
    assert_string_equal(u.path, "/?q");
    assert_int_equal(hook_spec_url("http://h:9000", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "h");
    assert_int_equal(u.port, 9000);
    assert_string_equal(u.path, "/");
    /* https: port 443 by default, the same path rules */
    assert_int_equal(hook_spec_url("HTTPS://h?q", &u, err, sizeof err), 0);
    assert_int_equal(u.port, 443);
    assert_string_equal(u.path, "/?q");
    assert_int_equal(hook_spec_url("https://[::1]:8443/a", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 8443);
    assert_string_equal(u.path, "/a");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_and_defaults),   cmocka_unit_test(test_full),
        cmocka_unit_test(test_errors_name_the_field),  cmocka_unit_test(test_limits),
        cmocka_unit_test(test_render_api_and_storage), cmocka_unit_test(test_validate_and_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
