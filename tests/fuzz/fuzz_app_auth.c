/* Fuzz target for app_auth (node/codec/app_auth.c): the address-range and query
 * parsers and the signature check. The input is "CIDR\nQUERY" (without a
 * newline, all of it is both). Checked:
 *   - an accepted range has at most 128 bits, no bit set past the prefix,
 *     contains its own address, and does not contain that address with a bit
 *     of the prefix flipped; printed back with inet_ntop and parsed again it
 *     is the same range;
 *   - an accepted remote is inside its own /128;
 *   - a parameter found is NUL-terminated within its buffer;
 *   - the query with a right signature appended passes exactly when the
 *     query had neither "expires" nor "sign" (a repeated one is refused); the
 *     query alone never passes unless it holds a signature that is right;
 *   - the address rule of a table built from the range agrees with
 *     app_auth_cidr_match(). */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app_auth.h"

#define FUZZ_SECRET "fuzz-secret-0123456789"
#define FUZZ_NOW 1700000000
#define FUZZ_EXPIRES "1800000000"
#define FUZZ_TEXT_MAX 4096

static void check_cidr(const char *text)
{
    app_auth_cidr_t c;
    if (app_auth_cidr_parse(text, &c) != 0)
        return;
    if (c.bits > 128)
        abort();
    for (unsigned i = c.bits; i < 128; i++)
        if (c.addr[i / 8] & (0x80u >> (i % 8)))
            abort();
    if (!app_auth_cidr_match(&c, c.addr))
        abort();
    if (c.bits > 0) {
        uint8_t other[16];
        memcpy(other, c.addr, 16);
        unsigned bit = c.bits - 1;
        other[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
        if (app_auth_cidr_match(&c, other))
            abort();
    }
    /* Printed back (as IPv6) and parsed again: the same range. */
    char back[INET6_ADDRSTRLEN + 8];
    char host[INET6_ADDRSTRLEN];
    if (!inet_ntop(AF_INET6, c.addr, host, sizeof host))
        abort();
    snprintf(back, sizeof back, "%s/%u", host, (unsigned)c.bits);
    app_auth_cidr_t d;
    if (app_auth_cidr_parse(back, &d) != 0 || d.bits != c.bits || memcmp(d.addr, c.addr, 16) != 0)
        abort();

    /* A table that allows publishing from this range only. */
    static app_auth_table_t t;
    memset(&t, 0, sizeof t);
    strcpy(t.apps[0].app, "live");
    t.apps[0].allow[APP_AUTH_PUBLISH].v[0] = c;
    t.apps[0].allow[APP_AUTH_PUBLISH].n = 1;
    t.n = 1;
    char remote[INET6_ADDRSTRLEN + 16];
    snprintf(remote, sizeof remote, "[%s]:1935", host);
    if (app_auth_check(&t, APP_AUTH_PUBLISH, "live", "cam", "", FUZZ_NOW, remote) != APP_AUTH_OK)
        abort();
    if (app_auth_check(&t, APP_AUTH_PLAY, "live", "cam", "", FUZZ_NOW, remote) != APP_AUTH_OK)
        abort();
}

static void check_remote(const char *text)
{
    uint8_t a[16];
    if (app_auth_addr_parse(text, a) != 0)
        return;
    app_auth_cidr_t c;
    memcpy(c.addr, a, 16);
    c.bits = 128;
    if (!app_auth_cidr_match(&c, a))
        abort();
}

/* query_get of key into a buffer of size n (at most 80; app_auth.c reads
 * expires into 21 bytes and sign into APP_AUTH_SIGN_HEX_LEN + 2): -1, 0 or
 * 1, and a found value fits its buffer. */
static int get(const char *query, const char *key, size_t n)
{
    char v[80];
    memset(v, 'x', sizeof v);
    int rc = app_auth_query_get(query, key, v, n);
    if (rc < -1 || rc > 1)
        abort();
    if (rc == 1 && !memchr(v, '\0', n))
        abort();
    return rc;
}

static void check_query(const char *query)
{
    static app_auth_table_t t;
    memset(&t, 0, sizeof t);
    strcpy(t.apps[0].app, "*");
    strcpy(t.apps[0].secret[APP_AUTH_PLAY], FUZZ_SECRET);
    t.n = 1;
    int he = get(query, "expires", 21), hs = get(query, "sign", APP_AUTH_SIGN_HEX_LEN + 2);
    (void)get(query, "weir_hops", 80);

    app_auth_result_t r = app_auth_check(&t, APP_AUTH_PLAY, "live", "cam", query, FUZZ_NOW, NULL);
    if (r >= APP_AUTH_NRESULTS || r == APP_AUTH_ADDRESS)
        abort();
    if ((he == 0 || hs == 0) && he >= 0 && hs >= 0 && r != APP_AUTH_MISSING)
        abort();
    if (r == APP_AUTH_OK || r == APP_AUTH_EXPIRED) {
        /* Only a right signature gets this far. */
        char exp[32], sign[80], want[APP_AUTH_SIGN_HEX_LEN + 1];
        if (app_auth_query_get(query, "expires", exp, sizeof exp) != 1 ||
            app_auth_query_get(query, "sign", sign, sizeof sign) != 1 ||
            app_auth_sign(FUZZ_SECRET, "live", "cam", exp, want) != 0 ||
            strcasecmp(sign, want) != 0)
            abort();
    }

    /* Appended right parameters pass iff the query had none of its own. */
    char hex[APP_AUTH_SIGN_HEX_LEN + 1];
    if (app_auth_sign(FUZZ_SECRET, "live", "cam", FUZZ_EXPIRES, hex) != 0)
        abort();
    size_t ql = strlen(query);
    char *q2 = malloc(ql + 128);
    if (!q2)
        return;
    snprintf(q2, ql + 128, "%s&expires=" FUZZ_EXPIRES "&sign=%s", query, hex);
    r = app_auth_check(&t, APP_AUTH_PLAY, "live", "cam", q2, FUZZ_NOW, NULL);
    int clean = he == 0 && hs == 0;
    if (clean != (r == APP_AUTH_OK))
        abort();
    if (!clean && r != APP_AUTH_BAD)
        abort();
    free(q2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_TEXT_MAX)
        return 0;
    char text[FUZZ_TEXT_MAX + 1];
    memcpy(text, data, size);
    text[size] = '\0'; /* a NUL inside ends the text */
    char *nl = strchr(text, '\n');
    const char *query = text;
    if (nl) {
        *nl = '\0';
        query = nl + 1;
    }
    check_cidr(text);
    check_remote(text);
    check_query(query);
    return 0;
}
