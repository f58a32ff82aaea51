#include "tls_sni.h"

#include <string.h>

static int lower(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

static int host_byte(int ch)
{
    ch = lower(ch);
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
}

/* Labels of a plain host name (s, n bytes); 0 when not a valid name. */
static int name_labels(const char *s, size_t n)
{
    if (n == 0 || n > TLS_SNI_NAME_MAX)
        return 0;
    int labels = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            if (!host_byte((unsigned char)s[i]))
                return 0;
            continue;
        }
        size_t len = i - start;
        if (len == 0 || len > 63 || s[start] == '-' || s[i - 1] == '-')
            return 0;
        labels++;
        start = i + 1;
    }
    return labels;
}

int tls_sni_pattern_valid(const char *pattern)
{
    if (!pattern)
        return 0;
    size_t n = strnlen(pattern, TLS_SNI_NAME_MAX + 1);
    if (n > TLS_SNI_NAME_MAX)
        return 0;
    if (n >= 2 && pattern[0] == '*' && pattern[1] == '.')
        return name_labels(pattern + 2, n - 2) >= 2;
    return name_labels(pattern, n) > 0;
}

static int same_text(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

int tls_sni_match(const char *pattern, const char *name, size_t len)
{
    if (len && name[len - 1] == '.')
        len--;
    if (!name_labels(name, len))
        return 0;
    size_t plen = strlen(pattern);
    if (plen >= 2 && pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = memchr(name, '.', len);
        if (!dot)
            return 0;
        size_t rest = len - (size_t)(dot + 1 - name);
        return rest == plen - 2 && same_text(pattern + 2, dot + 1, rest);
    }
    return plen == len && same_text(pattern, name, len);
}

static int is_wildcard(const char *pattern)
{
    return pattern[0] == '*';
}

int tls_sni_pick(const char *const *patterns, size_t n, const char *name, size_t len)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++)
            if (is_wildcard(patterns[i]) == pass && tls_sni_match(patterns[i], name, len))
                return (int)i;
    return -1;
}
