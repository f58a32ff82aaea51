/* Unit tests of the recorder spec and its path template
 * (node/codec/record_spec.c): defaults, each refusal with the field its
 * message starts with (traversal, absolute paths, templates that would
 * give two streams or two files one name, absurd segment lengths), PATCH
 * over a base, the JSON round trip and the expansion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "record_spec.h"

static int parse(const char *text, const record_spec_t *base, record_spec_t *out, char *err)
{
    cJSON *j = cJSON_Parse(text);
    if (!j)
        fail_msg("test JSON does not parse: %s", text);
    err[0] = '\0';
    int rc = record_spec_from_json(j, base, 0, out, err, 256);
    cJSON_Delete(j);
    return rc;
}

static void refused(const char *text, const char *field)
{
    record_spec_t s;
    char err[256];
    if (parse(text, NULL, &s, err) == 0)
        fail_msg("%s: accepted", text);
    if (strncmp(err, field, strlen(field)) != 0 || err[strlen(field)] != ':')
        fail_msg("%s: \"%s\" does not start with %s:", text, err, field);
}

static void test_minimal_defaults(void **state)
{
    (void)state;
    record_spec_t s;
    char err[256];
    assert_int_equal(parse("{\"app\":\"live\",\"name\":\"*\",\"format\":\"flv\",\"segment_s\":10}",
                           NULL, &s, err),
                     0);
    assert_string_equal(s.app, "live");
    assert_string_equal(s.name, "*");
    assert_int_equal(s.format, RECORD_FMT_FLV);
    assert_int_equal(s.segment_s, 10);
    assert_string_equal(s.path, RECORD_PATH_DEFAULT);
    assert_int_equal(s.enabled, 1);
    assert_int_equal(s.max_age_h, 0);
    assert_true(s.max_bytes == 0);
    assert_true(record_spec_matches(&s, "live", "cam1"));
    assert_false(record_spec_matches(&s, "other", "cam1"));
}

/* fmp4 is accepted (it was refused before the fMP4 writer existed) and its
 * files end in ".mp4". */
static void test_fmp4_accepted(void **state)
{
    (void)state;
    record_spec_t s;
    char err[256], out[256];
    assert_int_equal(parse("{\"app\":\"live\",\"name\":\"*\",\"format\":\"fmp4\"}", NULL, &s,
                           err),
                     0);
    assert_int_equal(s.format, RECORD_FMT_FMP4);
    assert_string_equal(record_fmt_name(s.format), "fmp4");
    assert_int_equal(record_path_expand(&s, "live", "cam1", 0, 1, out, sizeof out), 0);
    size_t n = strlen(out);
    assert_true(n > 4 && strcmp(out + n - 4, ".mp4") == 0);
}

static void test_refusals_name_the_field(void **state)
{
    (void)state;
    refused("{\"name\":\"*\"}", "app");
    refused("{\"app\":\"live\"}", "name");
    refused("{\"app\":\"li/ve\",\"name\":\"*\"}", "app");
    refused("{\"app\":\"live\",\"name\":\"a b\"}", "name");
    refused("{\"app\":\"live\",\"name\":\"*\",\"format\":\"mkv\"}", "format");
    refused("{\"app\":\"live\",\"name\":\"*\",\"segment_s\":86401}", "segment_s");
    refused("{\"app\":\"live\",\"name\":\"*\",\"segment_s\":-1}", "segment_s");
    refused("{\"app\":\"live\",\"name\":\"*\",\"segment_s\":1.5}", "segment_s");
    refused("{\"app\":\"live\",\"name\":\"*\",\"max_age_h\":\"1\"}", "max_age_h");
    refused("{\"app\":\"live\",\"name\":\"*\",\"max_bytes\":-5}", "max_bytes");
    refused("{\"app\":\"live\",\"name\":\"*\",\"enabled\":1}", "enabled");
    refused("{\"app\":\"live\",\"name\":\"*\",\"bogus\":1}", "bogus");
    refused("{\"app\":\"live\",\"name\":\"*\",\"id\":\"x\"}", "id");
    /* traversal, absolute, empty and odd segments */
    refused("{\"app\":\"live\",\"name\":\"*\",\"path\":\"../{name}/{seq}\"}", "path");
    refused("{\"app\":\"live\",\"name\":\"*\",\"path\":\"{name}/../../{seq}\"}", "path");
    refused("{\"app\":\"live\",\"name\":\"*\",\"path\":\"{name}/./{seq}\"}", "path");
    refused("{\"app\":\"live\",\"name\":\"*\",\"path\":\"/tmp/{name}/{seq}\"}", "path");
    refused("{\"app\":\"live\",\"name\":\"*\",\"path\":\"{name}//{seq}\"}", "path");
    refused("{\"app\":\"live\",\"name\":\"*\",\"path\":\"{name}/{seq}/\"}", "path");
    refused("{\"app\":\"live\",\"name\":\"*\",\"path\":\"\"}", "path");
    refused("{\"app\":\"live\",\"name\":\"*\",\"path\":\"{name}\\\\{seq}\"}", "path");
    refused("{\"app\":\"live\",\"name\":\"*\",\"path\":\"{name}\\u0001{seq}\"}", "path");
    refused("{\"app\":\"live\",\"name\":\"*\",\"path\":\"{name}/{what}\"}", "path");
    refused("{\"app\":\"live\",\"name\":\"*\",\"path\":\"{name}/x}{seq}\"}", "path");
    /* two streams or two files with one name */
    refused("{\"app\":\"live\",\"name\":\"*\",\"path\":\"{app}/{start_utc}\"}", "path");
    refused("{\"app\":\"*\",\"name\":\"cam\",\"path\":\"{name}/{start_utc}\"}", "path");
    refused("{\"app\":\"live\",\"name\":\"cam\",\"path\":\"{app}/{name}\"}", "path");
}

static void test_patch_over_base(void **state)
{
    (void)state;
    record_spec_t base, s;
    char err[256];
    assert_int_equal(parse("{\"app\":\"live\",\"name\":\"cam1\",\"path\":\"x/{seq}\"}", NULL, &base,
                           err),
                     0);
    snprintf(base.id, sizeof base.id, "rec-1");
    assert_int_equal(parse("{\"segment_s\":5,\"id\":\"rec-1\"}", &base, &s, err), 0);
    assert_int_equal(s.segment_s, 5);
    assert_string_equal(s.path, "x/{seq}");
    assert_string_equal(s.id, "rec-1");
    assert_int_not_equal(parse("{\"id\":\"other\"}", &base, &s, err), 0);
    assert_int_not_equal(parse("{\"name\":\"*\"}", &base, &s, err), 0); /* x/{seq} lacks {name} */
}

static void test_round_trip(void **state)
{
    (void)state;
    record_spec_t a, b;
    char err[256];
    assert_int_equal(parse("{\"app\":\"*\",\"name\":\"*\",\"segment_s\":60,\"max_age_h\":24,"
                           "\"max_bytes\":1000000000,\"enabled\":false}",
                           NULL, &a, err),
                     0);
    snprintf(a.id, sizeof a.id, "rec-2");
    cJSON *j = record_spec_to_json(&a);
    assert_non_null(j);
    assert_int_equal(record_spec_from_json(j, NULL, 1, &b, err, sizeof err), 0);
    cJSON_Delete(j);
    assert_memory_equal(&a, &b, sizeof a);
}

static void test_expand(void **state)
{
    (void)state;
    record_spec_t s;
    char err[256], out[RECORD_FILE_MAX];
    assert_int_equal(parse("{\"app\":\"*\",\"name\":\"*\"}", NULL, &s, err), 0);
    /* 2026-12-06T13:50:00.123Z */
    assert_int_equal(record_path_expand(&s, "live", "cam1", 1796565000123LL, 3, out, sizeof out), 0);
    assert_string_equal(out, "live/cam1/20261206T135000.123Z.flv");
    assert_int_equal(parse("{\"app\":\"live\",\"name\":\"*\",\"path\":\"r/{name}-{seq}\"}", NULL,
                           &s, err),
                     0);
    assert_int_equal(record_path_expand(&s, "live", "cam1", 0, 12, out, sizeof out), 0);
    assert_string_equal(out, "r/cam1-12.flv");
    assert_int_equal(record_path_expand(&s, "live", "cam1", 0, 12, out, 8), -1);
    assert_int_equal(record_path_expand(&s, "live", "cam1", 0, 12, out, 13), -1);
    assert_int_equal(record_path_expand(&s, "live", "cam1", 0, 12, out, 14), 0);
    /* a stream named "." (a valid name) is no "." or ".." segment (found by
     * fuzz_record_spec) */
    assert_int_equal(record_path_expand(&s, "live", ".", 0, 12, out, sizeof out), 0);
    assert_string_equal(out, "r/%2E-12.flv");
    assert_int_equal(parse("{\"app\":\"*\",\"name\":\"*\",\"path\":\"{app}/{name}./{seq}\"}", NULL,
                           &s, err),
                     0);
    assert_int_equal(record_path_expand(&s, ".", ".", 0, 1, out, sizeof out), 0);
    assert_string_equal(out, "%2E/%2E./1.flv"); /* not "../1" */
    /* a template that may not fit RECORD_FILE_MAX for the longest names is
     * refused (found by fuzz_record_spec: five {name} of a 180-byte name) */
    assert_int_equal(parse("{\"app\":\"*\",\"name\":\"*\",\"path\":"
                           "\"{app}/{name}/{name}/{name}/{name}/{seq}\"}",
                           NULL, &s, err),
                     -1);
    assert_string_equal(err, "path: may expand to more than 1023 bytes (fewer {app}/{name} "
                             "placeholders)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_defaults),    cmocka_unit_test(test_refusals_name_the_field),
        cmocka_unit_test(test_patch_over_base),     cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_expand),     cmocka_unit_test(test_fmp4_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
