/* Fuzz target for record_spec_from_json() (node/codec/record_spec.c): the
 * input is JSON text, parsed by cJSON and read as a new recorder (base
 * NULL) and as a PATCH of a fixed recorder. Checked: an accepted spec
 * passes record_spec_validate(), renders and reads back to an equal spec,
 * and its path template expands, for two different streams, to two
 * different relative paths without "." or ".." segments; a refusal leaves
 * out untouched and its message starts with a field's name. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_spec_util.h"
#include "record_spec.h"

static const char *const KNOWN[] = {"id",     "app",       "name",      "format",  "segment_s",
                                    "path",   "max_age_h", "max_bytes", "enabled", "recorder"};
static const fuzz_spec_fields_t FIELDS = {KNOWN, sizeof KNOWN / sizeof KNOWN[0], NULL, NULL, 0};

static void check_path(const char *p)
{
    if (p[0] == '/' || strstr(p, "//"))
        abort();
    for (const char *seg = p; seg; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL)
        if (strncmp(seg, "../", 3) == 0 || strncmp(seg, "./", 2) == 0)
            abort();
}

static int spec_equal(const record_spec_t *a, const record_spec_t *b)
{
    return !strcmp(a->id, b->id) && !strcmp(a->app, b->app) && !strcmp(a->name, b->name) &&
           a->format == b->format && a->segment_s == b->segment_s && !strcmp(a->path, b->path) &&
           a->max_age_h == b->max_age_h && a->max_bytes == b->max_bytes &&
           !a->enabled == !b->enabled;
}

static void check_accepted(const record_spec_t *s)
{
    char err[256];
    if (record_spec_validate(s, err, sizeof err) != 0)
        abort();
    cJSON *back = fuzz_spec_reparse(record_spec_to_json(s));
    if (!back)
        return; /* out of memory */
    record_spec_t t;
    if (record_spec_from_json(back, NULL, 1, &t, err, sizeof err) != 0 ||
        !spec_equal(s, &t))
        abort();
    cJSON_Delete(back);
    const char *app1 = strcmp(s->app, "*") ? s->app : "a1";
    const char *app2 = strcmp(s->app, "*") ? s->app : "a2";
    const char *n1 = strcmp(s->name, "*") ? s->name : "n1";
    const char *n2 = strcmp(s->name, "*") ? s->name : "n2";
    char p1[RECORD_FILE_MAX], p2[RECORD_FILE_MAX];
    if (record_path_expand(s, app1, n1, 1796565000123LL, 1, p1, sizeof p1) != 0 ||
        record_path_expand(s, app2, n2, 1796565000123LL, 1, p2, sizeof p2) != 0)
        abort(); /* a template of at most 255 bytes always fits */
    check_path(p1);
    if ((strcmp(app1, app2) || strcmp(n1, n2)) && strcmp(p1, p2) == 0)
        abort(); /* two streams, one file */
}

static int read_rec(const cJSON *j, const void *base, void *out, char *err, size_t errlen)
{
    return record_spec_from_json(j, base, 0, out, err, errlen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *j = fuzz_spec_parse(data, size);
    if (!j)
        return 0;
    record_spec_t out, base;
    if (fuzz_spec_read(j, read_rec, NULL, &out, sizeof out, &FIELDS))
        check_accepted(&out);
    record_spec_defaults(&base);
    strcpy(base.id, "rec-1");
    strcpy(base.app, "live");
    strcpy(base.name, "*");
    if (fuzz_spec_read(j, read_rec, &base, &out, sizeof out, &FIELDS))
        check_accepted(&out);
    cJSON_Delete(j);
    return 0;
}
