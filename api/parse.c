#include "parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int api_path_match(const char *pattern, const char *path, api_path_params_t *out)
{
    const char *p = pattern, *s = path;
    char *b = out->buf;
    int np = 0;
    while (*p) {
        int rest = strncmp(p, "{*}", 3) == 0;
        if (rest || (p[0] == '{' && p[1] == '}')) {
            const char *end = rest ? NULL : strchr(s, '/');
            size_t n = end ? (size_t)(end - s) : strlen(s);
            if (n == 0 || np == API_MAX_PARAMS)
                return 0;
            memcpy(b, s, n);
            b[n] = '\0';
            out->params[np++] = b;
            b += n + 1;
            s += n;
            p += rest ? 3 : 2;
        } else if (*p++ != *s++) {
            return 0;
        }
    }
    if (*s)
        return 0;
    out->nparams = np;
    return 1;
}

int api_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (*end || errno || n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

int api_parse_stream_cursor(const char *s, size_t *app_len)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!slash || slash == s || !slash[1])
        return -1;
    *app_len = (size_t)(slash - s);
    return 0;
}

int api_stream_cursor_cmp(const char *app, const char *name, const char *c, size_t c_app_len)
{
    size_t n = strlen(app);
    int d = memcmp(app, c, n < c_app_len ? n : c_app_len);
    if (d == 0 && n != c_app_len)
        d = n < c_app_len ? -1 : 1;
    return d ? d : strcmp(name, c + c_app_len + 1);
}

static int event_type_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
           ch == '-';
}

int api_parse_event_types(const char *s, char *out, char *err, size_t errlen)
{
    size_t o = 0, ntypes = 0;
    out[o++] = ',';
    for (const char *t = s;; t++) {
        size_t n = 0;
        while (event_type_char(t[n]))
            n++;
        if (n == 0 || n > API_EVENT_TYPE_LEN || (t[n] && t[n] != ',') ||
            ++ntypes > API_EVENT_TYPES_MAX) {
            snprintf(err, errlen,
                     "type: expected an event type or a comma-separated list of up to %d (a-z, "
                     "0-9, '.', '_', '-')",
                     API_EVENT_TYPES_MAX);
            return -1;
        }
        memcpy(out + o, t, n); /* fits: API_EVENT_TYPES_MAX * (API_EVENT_TYPE_LEN + 1) + 2 */
        o += n;
        out[o++] = ',';
        t += n;
        if (!*t)
            break;
    }
    out[o] = '\0';
    return 0;
}

cJSON *api_parse_object(const char *body, size_t len, char *err, size_t errlen)
{
    if (!body || !len) {
        snprintf(err, errlen, "a JSON object body is required");
        return NULL;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!j) {
        snprintf(err, errlen, "malformed JSON at byte %zu", end ? (size_t)(end - body) : 0);
        return NULL;
    }
    for (const char *p = end; p && p < body + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(j);
            snprintf(err, errlen, "malformed JSON: data after the value");
            return NULL;
        }
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        snprintf(err, errlen, "the body must be a JSON object");
        return NULL;
    }
    return j;
}

int api_parse_node_patch(const cJSON *body, int *have_level, log_level_t *level, char *err,
                         size_t errlen)
{
    *have_level = 0;
    for (const cJSON *f = body->child; f; f = f->next) {
        if (f->string && strcmp(f->string, "log_level") == 0) {
            if (!cJSON_IsString(f) || log_level_parse(f->valuestring, level) != 0) {
                snprintf(err, errlen, "log_level: expected one of debug, info, warn, error");
                return -1;
            }
            *have_level = 1;
        } else {
            snprintf(err, errlen, "%.64s: unknown field (known: log_level)",
                     f->string ? f->string : "?");
            return -1;
        }
    }
    return 0;
}

int api_parse_drain(const cJSON *body, char *redirect, size_t redirect_len, uint32_t *retry_after_s,
                    char *err, size_t errlen)
{
    redirect[0] = '\0';
    *retry_after_s = API_DRAIN_RETRY_AFTER_DEFAULT;
    for (const cJSON *f = body ? body->child : NULL; f; f = f->next) {
        const char *k = f->string ? f->string : "?";
        if (strcmp(k, "redirect_url") == 0) {
            if (cJSON_IsNull(f))
                continue;
            if (!cJSON_IsString(f) || !drain_redirect_valid(f->valuestring)) {
                snprintf(err, errlen,
                         "redirect_url: expected null or an http:// or https:// URL of "
                         "printable ASCII without spaces, under %d bytes",
                         DRAIN_URL_MAX);
                return -1;
            }
            snprintf(redirect, redirect_len, "%s", f->valuestring);
        } else if (strcmp(k, "retry_after_s") == 0) {
            double v = cJSON_IsNumber(f) ? f->valuedouble : -1;
            if (v < 1 || v > DRAIN_RETRY_AFTER_MAX || v != (double)(uint32_t)v) {
                snprintf(err, errlen, "retry_after_s: expected an integer from 1 to %d",
                         DRAIN_RETRY_AFTER_MAX);
                return -1;
            }
            *retry_after_s = (uint32_t)v;
        } else {
            snprintf(err, errlen, "%.64s: unknown field (known: redirect_url, retry_after_s)", k);
            return -1;
        }
    }
    return 0;
}

size_t api_unescape(char *s)
{
    char *w = s;
    for (const char *r = s; *r;) {
        int hi = r[0] == '%' ? hex_digit(r[1]) : -1;
        int lo = hi >= 0 ? hex_digit(r[2]) : -1;
        if (lo >= 0 && (hi | lo) != 0) {
            *w++ = (char)(hi << 4 | lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}
