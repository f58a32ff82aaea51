#include "parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
