/* record_spec: recorder configuration and path templates (see record_spec.h). */
#include "record_spec.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "spec_json.h"

enum { F_ID, F_APP, F_NAME, F_FORMAT, F_SEGMENT_S, F_PATH, F_MAX_AGE_H, F_MAX_BYTES, F_ENABLED,
       F_COUNT };
static const char *const FIELDS[F_COUNT] = {
    "id", "app", "name", "format", "segment_s", "path", "max_age_h", "max_bytes", "enabled",
};
static const char *const FMT_NAMES[] = {"flv", "fmp4", "ts"};

const char *record_fmt_name(record_fmt_t f)
{
    return (unsigned)f < 3 ? FMT_NAMES[f] : "?";
}

const char *record_fmt_ext(record_fmt_t f)
{
    return f == RECORD_FMT_FMP4 ? "mp4" : record_fmt_name(f);
}

void record_spec_defaults(record_spec_t *s)
{
    memset(s, 0, sizeof *s);
    s->format = RECORD_FMT_FLV;
    snprintf(s->path, sizeof s->path, "%s", RECORD_PATH_DEFAULT);
    s->enabled = 1;
}

static int stream_or_star(const char *v, size_t max)
{
    return strcmp(v, "*") == 0 || stream_name_valid(v, max);
}

/* The template's placeholders: each known, and which ones it holds (bits). */
enum { P_APP = 1, P_NAME = 2, P_START = 4, P_SEQ = 8 };
static const char *const PLACEHOLDERS[] = {"{app}", "{name}", "{start_utc}", "{seq}"};

static int path_scan(const char *p, unsigned *holds, char *err, size_t errlen)
{
    if (!p[0])
        return spec_fail(err, errlen, "path: must not be empty");
    if (p[0] == '/')
        return spec_fail(err, errlen, "path: must be relative (under record.root)");
    const char *seg = p;
    for (const char *c = p;; c++) {
        if (*c == '/' || *c == '\0') {
            size_t n = (size_t)(c - seg);
            if (n == 0)
                return spec_fail(err, errlen, "path: empty segment (\"//\" or a trailing \"/\")");
            if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
                return spec_fail(err, errlen, "path: \".\" and \"..\" segments are not allowed");
            if (*c == '\0')
                break;
            seg = c + 1;
            continue;
        }
        unsigned char u = (unsigned char)*c;
        if (u < 0x20 || u == 0x7f || u == '\\')
            return spec_fail(err, errlen, "path: control bytes and '\\' are not allowed");
        if (*c == '}')
            return spec_fail(err, errlen, "path: '}' outside a placeholder");
        if (*c != '{')
            continue;
        unsigned i = 0;
        while (i < 4 && strncmp(c, PLACEHOLDERS[i], strlen(PLACEHOLDERS[i])) != 0)
            i++;
        if (i == 4)
            return spec_fail(err, errlen,
                             "path: unknown placeholder (use {app}, {name}, {start_utc}, {seq})");
        *holds |= 1u << i;
        c += strlen(PLACEHOLDERS[i]) - 1;
    }
    return 0;
}

/* The longest value a placeholder takes for s: {app}/{name} a fixed one's
 * length (a "." is written "%2E", record_path_expand()), or the longest
 * stream name for "*"; the time and the sequence number at their widest. */
static size_t placeholder_max(const record_spec_t *s, unsigned i)
{
    const char *v = i == 0 ? s->app : s->name;
    if (i >= 2)
        return i == 2 ? 24 : 10;
    if (strcmp(v, "*") == 0)
        return (i == 0 ? STREAM_APP_MAX : STREAM_NAME_MAX) - 1;
    return strcmp(v, ".") == 0 ? 3 : strlen(v);
}

/* The template's longest expansion, with ".<ext>" and the NUL (the bytes
 * record_path_expand() needs for any stream s records). */
static size_t path_worst_len(const record_spec_t *s)
{
    size_t n = 1 + 5; /* NUL, ".<ext>" */
    for (const char *c = s->path; *c;) {
        unsigned i = 0;
        while (*c == '{' && i < 4 && strncmp(c, PLACEHOLDERS[i], strlen(PLACEHOLDERS[i])) != 0)
            i++;
        if (*c == '{' && i < 4) {
            n += placeholder_max(s, i);
            c += strlen(PLACEHOLDERS[i]);
        } else {
            n++;
            c++;
        }
    }
    return n;
}

int record_spec_validate(const record_spec_t *s, char *err, size_t errlen)
{
    if (s->id[0] && !spec_id_valid(s->id, sizeof s->id))
        return spec_fail(err, errlen, "id: expected 1-63 of [A-Za-z0-9._-]");
    if (!stream_or_star(s->app, sizeof s->app))
        return spec_fail(err, errlen, "app: expected a stream app name or \"*\"");
    if (!stream_or_star(s->name, sizeof s->name))
        return spec_fail(err, errlen, "name: expected a stream name or \"*\"");
    if (s->segment_s > RECORD_SEGMENT_S_MAX)
        return spec_fail(err, errlen, "segment_s: expected 0 or 1..%u", RECORD_SEGMENT_S_MAX);
    if (s->max_age_h > RECORD_MAX_AGE_H_MAX)
        return spec_fail(err, errlen, "max_age_h: expected 0..%u", RECORD_MAX_AGE_H_MAX);
    unsigned holds = 0;
    if (path_scan(s->path, &holds, err, errlen) != 0)
        return -1;
    if (strcmp(s->app, "*") == 0 && !(holds & P_APP))
        return spec_fail(err, errlen, "path: app \"*\" needs {app} (streams would share files)");
    if (strcmp(s->name, "*") == 0 && !(holds & P_NAME))
        return spec_fail(err, errlen, "path: name \"*\" needs {name} (streams would share files)");
    if (!(holds & (P_START | P_SEQ)))
        return spec_fail(err, errlen, "path: needs {start_utc} or {seq} (files would share a name)");
    if (path_worst_len(s) > RECORD_FILE_MAX)
        return spec_fail(err, errlen,
                         "path: may expand to more than %d bytes (fewer {app}/{name} placeholders)",
                         RECORD_FILE_MAX - 1);
    return 0;
}

static int take_u64(const cJSON *v, const char *field, uint64_t *out, char *err, size_t errlen)
{
    /* At most RECORD_MAX_BYTES_MAX (1 PB): 15 digits, which cJSON prints
     * back exactly (a 16-digit number came back rounded, found by
     * fuzz_record_spec). */
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (d < 0 || d > (double)RECORD_MAX_BYTES_MAX || floor(d) != d)
        return spec_fail(err, errlen, "%s: expected a whole number of bytes 0..%llu", field,
                         (unsigned long long)RECORD_MAX_BYTES_MAX);
    *out = (uint64_t)d;
    return 0;
}

static int take_field(int f, const cJSON *v, record_spec_t *s, char *err, size_t errlen)
{
    const char *k = FIELDS[f];
    switch (f) {
    case F_ID: return spec_take_string(v, k, s->id, sizeof s->id, err, errlen);
    case F_APP: return spec_take_string(v, k, s->app, sizeof s->app, err, errlen);
    case F_NAME: return spec_take_string(v, k, s->name, sizeof s->name, err, errlen);
    case F_PATH: return spec_take_string(v, k, s->path, sizeof s->path, err, errlen);
    case F_SEGMENT_S:
        return spec_take_u32(v, k, 0, RECORD_SEGMENT_S_MAX, &s->segment_s, err, errlen);
    case F_MAX_AGE_H:
        return spec_take_u32(v, k, 0, RECORD_MAX_AGE_H_MAX, &s->max_age_h, err, errlen);
    case F_MAX_BYTES: return take_u64(v, k, &s->max_bytes, err, errlen);
    case F_ENABLED:
        if (!cJSON_IsBool(v))
            return spec_fail(err, errlen, "enabled: expected a boolean");
        s->enabled = cJSON_IsTrue(v);
        return 0;
    default:
        if (!cJSON_IsString(v))
            return spec_fail(err, errlen, "format: expected a string");
        for (int i = 0; i < 3; i++) {
            if (strcmp(v->valuestring, FMT_NAMES[i]) == 0) {
                s->format = (record_fmt_t)i;
                return 0;
            }
        }
        return spec_fail(err, errlen, "format: expected flv, fmp4 or ts");
    }
}

int record_spec_from_json(const cJSON *obj, const record_spec_t *base, int allow_id,
                          record_spec_t *out, char *err, size_t errlen)
{
    record_spec_t s;
    if (base)
        s = *base;
    else
        record_spec_defaults(&s);
    if (!cJSON_IsObject(obj))
        return spec_fail(err, errlen, "recorder: expected a JSON object");
    static const char *const state[] = {"source", "active", "one_off", "etag", NULL};
    unsigned seen = 0;
    for (const cJSON *v = obj->child; v; v = v->next) {
        int f = spec_member(v->string, FIELDS, F_COUNT, state, &seen, err, errlen);
        if (f == SPEC_MEMBER_STATE)
            continue;
        if (f == F_ID && !allow_id) {
            if (base && cJSON_IsString(v) && strcmp(v->valuestring, base->id) == 0)
                continue; /* a GET body sent back */
            return spec_fail(err, errlen, "id: set by the node (not writable)");
        }
        if (f < 0 || take_field(f, v, &s, err, errlen) != 0)
            return -1;
    }
    static const int required[] = {F_APP, F_NAME};
    if (!base && spec_required(seen, FIELDS, required, 2, err, errlen) != 0)
        return -1;
    if (record_spec_validate(&s, err, errlen) != 0)
        return -1;
    *out = s;
    return 0;
}

cJSON *record_spec_to_json(const record_spec_t *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    int ok = cJSON_AddStringToObject(o, "id", s->id) && cJSON_AddStringToObject(o, "app", s->app) &&
             cJSON_AddStringToObject(o, "name", s->name) &&
             cJSON_AddStringToObject(o, "format", record_fmt_name(s->format)) &&
             cJSON_AddNumberToObject(o, "segment_s", s->segment_s) &&
             cJSON_AddStringToObject(o, "path", s->path) &&
             cJSON_AddNumberToObject(o, "max_age_h", s->max_age_h) &&
             cJSON_AddNumberToObject(o, "max_bytes", (double)s->max_bytes) &&
             cJSON_AddBoolToObject(o, "enabled", s->enabled);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int record_spec_matches(const record_spec_t *s, const char *app, const char *name)
{
    return (strcmp(s->app, "*") == 0 || strcmp(s->app, app) == 0) &&
           (strcmp(s->name, "*") == 0 || strcmp(s->name, name) == 0);
}

int record_path_expand(const record_spec_t *s, const char *app, const char *name,
                       int64_t start_wall_ms, uint32_t seq, char *out, size_t outlen)
{
    char start[32];
    time_t t = (time_t)(start_wall_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(start, sizeof start, "%Y%m%dT%H%M%S", &tm);
    snprintf(start + n, sizeof start - n, ".%03dZ", (int)(start_wall_ms % 1000));
    char seqs[16];
    snprintf(seqs, sizeof seqs, "%u", (unsigned)seq);
    /* A stream named "." (a valid name) would make a "." or, next to a
     * literal dot, a ".." segment: it is written as "%2E", which no stream
     * name can contain ('%' is refused), so it stays one stream's own. */
    const char *vals[] = {strcmp(app, ".") ? app : "%2E", strcmp(name, ".") ? name : "%2E", start,
                          seqs};
    size_t o = 0;
    for (const char *c = s->path; *c;) {
        const char *piece = c;
        size_t len = 1;
        for (unsigned i = 0; i < 4 && *c == '{'; i++) {
            if (strncmp(c, PLACEHOLDERS[i], strlen(PLACEHOLDERS[i])) == 0) {
                piece = vals[i];
                len = strlen(vals[i]);
                c += strlen(PLACEHOLDERS[i]) - 1;
                break;
            }
        }
        c++;
        if (o + len >= outlen)
            return -1;
        memcpy(out + o, piece, len);
        o += len;
    }
    int w = snprintf(out + o, outlen - o, ".%s", record_fmt_ext(s->format));
    return w < 0 || (size_t)w >= outlen - o ? -1 : 0;
}
