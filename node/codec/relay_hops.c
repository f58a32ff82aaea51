#include "relay_hops.h"

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
