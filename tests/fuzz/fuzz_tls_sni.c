/* Fuzz target for tls_sni: the input is lines; all but the last are
 * patterns (tls.sni hosts), the last is the client's server name (bytes as
 * sent, may hold anything). Invariants: only valid patterns are offered to
 * tls_sni_pick (as the config loader does), a pick is a pattern that
 * matches, an exact pick is never passed over for a wildcard, and no pick
 * means no pattern matches. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls_sni.h"

#define MAX_PATTERNS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *patterns[MAX_PATTERNS];
    size_t n = 0;
    char *line = buf, *nl;
    while ((nl = memchr(line, '\n', size - (size_t)(line - buf))) != NULL) {
        *nl = '\0';
        if (n < MAX_PATTERNS && tls_sni_pattern_valid(line))
            patterns[n++] = line;
        line = nl + 1;
    }
    size_t len = size - (size_t)(line - buf);
    int i = tls_sni_pick(patterns, n, line, len);
    if (i >= (int)n || i < -1)
        abort();
    if (i >= 0 && !tls_sni_match(patterns[i], line, len))
        abort();
    for (size_t k = 0; k < n; k++) {
        int m = tls_sni_match(patterns[k], line, len);
        if (m && i < 0)
            abort();
        if (m && patterns[k][0] != '*' && patterns[i][0] == '*')
            abort();
    }
    free(buf);
    return 0;
}
