/* Fuzz target for the API's own input handling (api/parse.c): the input is
 * "path \0 query-value \0 body". The path is matched against every route of
 * the real table, the query value parsed as an integer, the body as a JSON
 * object and then as a PATCH /api/v1/node body and a drain body; the query
 * value is also read as a streams cursor and as an events type list; each result is checked
 * against what it claims (parameters rebuild the path, an accepted integer
 * is all digits and prints back the same, an accepted patch names a real
 * level, an accepted drain redirect is a header-safe URL, error messages are
 * terminated and name a field). */
#include <ctype.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "parse.h"

#define FUZZ_MAX_BYTES 4096

/* api_unescape: never longer, no NUL inside, and every byte of the result
 * is either copied or the one value of a "%XX" (not %00) of the input. */
static void check_unescape(const char *in)
{
    size_t len = strlen(in);
    char *s = strdup(in);
    if (!s)
        abort();
    size_t n = api_unescape(s);
    if (n > len || strlen(s) != n)
        abort();
    size_t r = 0;
    for (size_t w = 0; w < n; w++) {
        if (r >= len)
            abort();
        if (in[r] == '%' && isxdigit((unsigned char)in[r + 1]) &&
            isxdigit((unsigned char)in[r + 2]) && !(in[r + 1] == '0' && in[r + 2] == '0')) {
            char hex[3] = {in[r + 1], in[r + 2], '\0'};
            if ((unsigned char)s[w] != strtoul(hex, NULL, 16))
                abort();
            r += 3;
        } else {
            if (s[w] != in[r])
                abort();
            r++;
        }
    }
    if (r != len)
        abort();
    free(s);
}

static void check_route(const char *path)
{
    size_t plen = strlen(path);
    char *buf = malloc(plen + API_MAX_PARAMS + 1);
    char *rebuilt = malloc(plen + 64);
    if (!buf || !rebuilt)
        abort();
    const char *pat;
    for (size_t i = 0; (pat = api_route_pattern(i)) != NULL; i++) {
        api_path_params_t pp = {{NULL, NULL}, 0, buf};
        if (!api_path_match(pat, path, &pp))
            continue;
        /* The pattern with its parameters substituted is the path again. */
        size_t n = 0;
        int k = 0;
        for (const char *p = pat; *p;) {
            int rest = strncmp(p, "{*}", 3) == 0;
            if (rest || (p[0] == '{' && p[1] == '}')) {
                if (k >= pp.nparams || !pp.params[k][0])
                    abort();
                if (!rest && strchr(pp.params[k], '/'))
                    abort(); /* {} takes one segment */
                size_t m = strlen(pp.params[k]);
                memcpy(rebuilt + n, pp.params[k++], m);
                n += m;
                p += rest ? 3 : 2;
            } else {
                rebuilt[n++] = *p++;
            }
            if (n > plen)
                abort();
        }
        rebuilt[n] = '\0';
        if (k != pp.nparams || strcmp(rebuilt, path) != 0)
            abort();
    }
    free(buf);
    free(rebuilt);
}

static void check_u64(const char *q)
{
    uint64_t v;
    if (api_parse_u64(q, 0, UINT64_MAX, &v) != 0)
        return;
    const char *digits = q;
    while (*digits == '0' && digits[1])
        digits++;
    char back[32];
    snprintf(back, sizeof back, "%" PRIu64, v);
    if (strcmp(back, digits) != 0)
        abort();
    uint64_t w;
    if (api_parse_u64(q, v, v, &w) != 0 || w != v)
        abort(); /* exactly at the bounds: accepted */
    if (v < UINT64_MAX && api_parse_u64(q, v + 1, UINT64_MAX, &w) == 0)
        abort(); /* below min: refused */
    if (v > 0 && api_parse_u64(q, 0, v - 1, &w) == 0)
        abort(); /* above max: refused */
}

/* The streams cursor: an accepted one splits at its first '/' into two
 * non-empty parts, and compares equal to its own stream. The type list: an
 * accepted one comes back as ",<the list>,"; a refusal names "type". */
static void check_query_lists(const char *q)
{
    size_t app_len;
    if (api_parse_stream_cursor(q, &app_len) == 0) {
        if (!app_len || q[app_len] != '/' || !q[app_len + 1] || memchr(q, '/', app_len))
            abort();
        char *app = strndup(q, app_len);
        if (!app || api_stream_cursor_cmp(app, q + app_len + 1, q, app_len) != 0)
            abort();
        free(app);
    }
    char out[API_EVENT_TYPES_LEN], err[160];
    memset(err, 'x', sizeof err);
    if (api_parse_event_types(q, out, err, sizeof err) == 0) {
        size_t n = strlen(q);
        if (strlen(out) != n + 2 || out[0] != ',' || out[n + 1] != ',' ||
            strncmp(out + 1, q, n) != 0)
            abort();
    } else if (!memchr(err, '\0', sizeof err) || strncmp(err, "type: ", 6) != 0) {
        abort();
    }
}

static void check_body(const char *body, size_t len)
{
    char err[160];
    memset(err, 'x', sizeof err);
    cJSON *j = api_parse_object(body, len, err, sizeof err);
    if (!j) {
        if (!memchr(err, '\0', sizeof err))
            abort();
        return;
    }
    if (!cJSON_IsObject(j))
        abort();
    int have = 0;
    log_level_t level = LOG_INFO;
    memset(err, 'x', sizeof err);
    if (api_parse_node_patch(j, &have, &level, err, sizeof err) == 0) {
        if (have && (level < LOG_DEBUG || level > LOG_ERROR))
            abort();
    } else {
        if (!memchr(err, '\0', sizeof err) || !strchr(err, ':'))
            abort(); /* the message names a field: "name: ..." */
    }
    /* The drain body: an accepted redirect is a header-safe http(s) URL and
     * the delay is in range; a refusal names its field. */
    char redirect[DRAIN_URL_MAX];
    uint32_t retry = 0;
    memset(err, 'x', sizeof err);
    if (api_parse_drain(j, redirect, sizeof redirect, &retry, err, sizeof err) == 0) {
        if (retry < 1 || retry > DRAIN_RETRY_AFTER_MAX)
            abort();
        if (redirect[0] && strncmp(redirect, "http://", 7) != 0 &&
            strncmp(redirect, "https://", 8) != 0)
            abort();
        for (const char *p = redirect; *p; p++)
            if (*p <= ' ' || *p > '~')
                abort(); /* would break the Location header */
    } else if (!memchr(err, '\0', sizeof err) || !strchr(err, ':')) {
        abort();
    }
    cJSON_Delete(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_BYTES)
        return 0;
    char *in = malloc(size + 2);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = in[size + 1] = '\0';
    const char *path = in;
    size_t plen = strlen(path);
    const char *query = plen < size ? in + plen + 1 : in + size;
    size_t qlen = strlen(query);
    const char *body = query + qlen + (query + qlen < in + size ? 1 : 0);
    size_t blen = (size_t)(in + size - body);
    check_route(path);
    check_unescape(path);
    check_u64(query);
    check_query_lists(query);
    check_body(body, blen);
    free(in);
    return 0;
}
