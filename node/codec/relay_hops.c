#include "relay_hops.h"

#include <stdio.h>
#include <string.h>

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int relay_hops_refusal_is_loop(const char *text)
{
    return text &&
           (starts_with(text, RELAY_HOPS_LOOP_TEXT) || starts_with(text, RELAY_HOPS_LIMIT_TEXT));
}

int relay_hops_parse_query(const char *query, unsigned *hops, char *via, size_t vialen)
{
    *hops = 0;
    if (vialen)
        via[0] = '\0';
    if (!query)
        return 0;
    const char *p = query;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t l = amp ? (size_t)(amp - p) : strlen(p);
        if (l > 10 && memcmp(p, "weir_hops=", 10) == 0) {
            unsigned v = 0;
            for (size_t i = 10; i < l; i++) {
                if (p[i] < '0' || p[i] > '9' || v > 99999)
                    return -1;
                v = v * 10 + (unsigned)(p[i] - '0');
            }
            *hops = v;
        } else if (l == 10 && memcmp(p, "weir_hops=", 10) == 0) {
            return -1;
        } else if (l >= 9 && memcmp(p, "weir_via=", 9) == 0 && vialen) {
            size_t n = l - 9;
            if (n >= vialen)
                n = vialen - 1;
            memcpy(via, p + 9, n);
            via[n] = '\0';
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return 0;
}

void relay_hops_query_source(const char *query, char *out, size_t outlen)
{
    static const char KEY[] = "weir_source=";
    const size_t klen = sizeof KEY - 1;
    if (outlen)
        out[0] = '\0';
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t l = amp ? (size_t)(amp - p) : strlen(p);
        if (l >= klen && memcmp(p, KEY, klen) == 0 && l - klen < outlen) {
            memcpy(out, p + klen, l - klen);
            out[l - klen] = '\0';
        }
        p = amp ? amp + 1 : NULL;
    }
}

int relay_source_id_valid(const char *id)
{
    size_t n = strnlen(id, RELAY_SOURCE_ID_MAX);
    if (n == 0 || n >= RELAY_SOURCE_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

int relay_source_parse(const char *text, char id[RELAY_SOURCE_ID_MAX], uint32_t *off)
{
    id[0] = '\0';
    *off = 0;
    const char *colon = text ? strrchr(text, ':') : NULL;
    if (!colon || colon == text || (size_t)(colon - text) >= RELAY_SOURCE_ID_MAX || !colon[1])
        return -1;
    uint64_t v = 0;
    for (const char *p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9' || p - colon > 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > UINT32_MAX)
        return -1;
    memcpy(id, text, (size_t)(colon - text));
    id[colon - text] = '\0';
    if (!relay_source_id_valid(id)) {
        id[0] = '\0';
        return -1;
    }
    *off = (uint32_t)v;
    return 0;
}

int relay_source_format(char out[RELAY_SOURCE_MAX], const char *id, uint32_t off)
{
    out[0] = '\0';
    if (!relay_source_id_valid(id))
        return -1;
    snprintf(out, RELAY_SOURCE_MAX, "%s:%u", id, (unsigned)off);
    return 0;
}
