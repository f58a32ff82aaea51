#include "app_auth.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "http_req.h"
#include "stream_name.h"

_Static_assert(APP_AUTH_APP_MAX == STREAM_APP_MAX, "an entry's app is a stream app");

#define AUTH_EXPIRES_DIGITS_MAX 19 /* below 2^63 */
#define AUTH_MSG_MAX (APP_AUTH_APP_MAX + STREAM_NAME_MAX + AUTH_EXPIRES_DIGITS_MAX + 4)

static const char *const POINT_NAMES[APP_AUTH_POINTS] = {"publish", "play"};

/* ---- addresses ------------------------------------------------------------ */

/* An address without port or brackets into IPv6 form. 0 or -1. */
static int addr_from_text(const char *s, uint8_t addr[16])
{
    struct in_addr a4;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        memset(addr, 0, 10);
        addr[10] = 0xff;
        addr[11] = 0xff;
        memcpy(addr + 12, &a4, 4);
        return 0;
    }
    struct in6_addr a6;
    if (inet_pton(AF_INET6, s, &a6) == 1) {
        memcpy(addr, &a6, 16);
        return 0;
    }
    return -1;
}

int app_auth_cidr_parse(const char *s, app_auth_cidr_t *out)
{
    char text[APP_AUTH_CIDR_TEXT_MAX];
    size_t len = strlen(s);
    if (len == 0 || len >= sizeof text)
        return -1;
    memcpy(text, s, len + 1);
    char *slash = strchr(text, '/');
    unsigned bits = 0;
    int have_bits = slash != NULL;
    if (slash) {
        const char *d = slash + 1;
        size_t nd = strlen(d);
        if (nd == 0 || nd > 3)
            return -1;
        for (size_t i = 0; i < nd; i++) {
            if (d[i] < '0' || d[i] > '9')
                return -1;
            bits = bits * 10 + (unsigned)(d[i] - '0');
        }
        *slash = '\0';
    }
    int v4 = strchr(text, ':') == NULL;
    app_auth_cidr_t c;
    if (addr_from_text(text, c.addr) != 0)
        return -1;
    unsigned max = v4 ? 32 : 128;
    if (!have_bits)
        bits = max;
    if (bits > max)
        return -1;
    c.bits = (uint8_t)(v4 ? bits + 96 : bits);
    /* No bits set past the prefix: "10.1.0.0/8" is a typo, not a range. */
    for (unsigned i = c.bits; i < 128; i++)
        if (c.addr[i / 8] & (0x80u >> (i % 8)))
            return -1;
    *out = c;
    return 0;
}

int app_auth_cidr_match(const app_auth_cidr_t *c, const uint8_t addr[16])
{
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, addr, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (c->addr[full] & mask) == (addr[full] & mask);
}

int app_auth_addr_parse(const char *remote, uint8_t addr[16])
{
    char host[APP_AUTH_CIDR_TEXT_MAX];
    const char *h = remote;
    size_t hlen = strlen(remote);
    if (remote[0] == '[') {
        const char *end = strchr(remote, ']');
        if (!end || (end[1] != '\0' && end[1] != ':'))
            return -1;
        h = remote + 1;
        hlen = (size_t)(end - h);
    } else {
        const char *colon = strchr(remote, ':');
        if (colon && !strchr(colon + 1, ':'))
            hlen = (size_t)(colon - remote); /* "a.b.c.d:port" */
    }
    if (hlen == 0 || hlen >= sizeof host)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    return addr_from_text(host, addr);
}

static int list_match(const app_auth_list_t *l, const uint8_t addr[16])
{
    for (unsigned i = 0; i < l->n; i++)
        if (app_auth_cidr_match(&l->v[i], addr))
            return 1;
    return 0;
}

/* 0 if remote may publish or play under e, else -1. */
static int address_allowed(const app_auth_entry_t *e, app_auth_point_t p, const char *remote)
{
    const app_auth_list_t *allow = &e->allow[p], *deny = &e->deny[p];
    if (!allow->n && !deny->n)
        return 0;
    uint8_t addr[16];
    if (!remote || app_auth_addr_parse(remote, addr) != 0)
        return -1; /* a range rule and an address it cannot judge */
    if (list_match(deny, addr))
        return -1;
    if (allow->n && !list_match(allow, addr))
        return -1;
    return 0;
}

/* ---- the query -------------------------------------------------------------- */

int app_auth_query_get(const char *query, const char *key, char *out, size_t outlen)
{
    int found = 0;
    if (!query)
        return 0;
    const char *p = query;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t l = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', l);
        size_t kl = eq ? (size_t)(eq - p) : l;
        char k[32];
        /* Keys are compared decoded; one that cannot be decoded, or is longer
         * than any key asked for, is someone else's parameter. */
        if (kl < sizeof k && http_url_decode(p, kl, k, sizeof k) == 0 && strcmp(k, key) == 0) {
            if (found)
                return -1;
            found = 1;
            const char *v = eq ? eq + 1 : p + l;
            size_t vl = (size_t)(p + l - v);
            if (http_url_decode(v, vl, out, outlen) != 0)
                return -1;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return found;
}

/* ---- signatures ------------------------------------------------------------- */

int app_auth_sign(const char *secret, const char *app, const char *name, const char *expires,
                  char *hex)
{
    char msg[AUTH_MSG_MAX];
    int n = snprintf(msg, sizeof msg, "%s/%s:%s", app, name, expires);
    if (n < 0 || (size_t)n >= sizeof msg)
        return -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, (size_t)n, md,
              &mdlen) ||
        mdlen * 2 != APP_AUTH_SIGN_HEX_LEN)
        return -1;
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < mdlen; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[APP_AUTH_SIGN_HEX_LEN] = '\0';
    OPENSSL_cleanse(md, sizeof md);
    return 0;
}

/* Exactly APP_AUTH_SIGN_HEX_LEN hex digits into out. 0 or -1. */
static int hex_decode(const char *hex, uint8_t out[APP_AUTH_SIGN_HEX_LEN / 2])
{
    if (strlen(hex) != APP_AUTH_SIGN_HEX_LEN)
        return -1;
    for (size_t i = 0; i < APP_AUTH_SIGN_HEX_LEN / 2; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* 1..AUTH_EXPIRES_DIGITS_MAX decimal digits into *out. 0 or -1. */
static int parse_expires(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > AUTH_EXPIRES_DIGITS_MAX)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0'); /* 19 digits fit below 2^63 */
    }
    *out = v;
    return 0;
}

static app_auth_result_t check_signature(const char *secret, const char *app, const char *name,
                                         const char *query, int64_t now_s)
{
    char expires[AUTH_EXPIRES_DIGITS_MAX + 2];
    char sign[APP_AUTH_SIGN_HEX_LEN + 2];
    int he = app_auth_query_get(query, "expires", expires, sizeof expires);
    int hs = app_auth_query_get(query, "sign", sign, sizeof sign);
    if (he < 0 || hs < 0)
        return APP_AUTH_BAD;
    if (!he || !hs)
        return APP_AUTH_MISSING;
    int64_t exp;
    uint8_t got[APP_AUTH_SIGN_HEX_LEN / 2];
    if (parse_expires(expires, &exp) != 0 || hex_decode(sign, got) != 0)
        return APP_AUTH_BAD;
    char want_hex[APP_AUTH_SIGN_HEX_LEN + 1];
    uint8_t want[APP_AUTH_SIGN_HEX_LEN / 2];
    if (app_auth_sign(secret, app, name, expires, want_hex) != 0 || hex_decode(want_hex, want) != 0)
        return APP_AUTH_BAD;
    int same = CRYPTO_memcmp(got, want, sizeof want) == 0;
    OPENSSL_cleanse(want_hex, sizeof want_hex);
    OPENSSL_cleanse(want, sizeof want);
    if (!same)
        return APP_AUTH_BAD;
    return exp >= now_s ? APP_AUTH_OK : APP_AUTH_EXPIRED;
}

const app_auth_entry_t *app_auth_find(const app_auth_table_t *t, const char *app)
{
    const app_auth_entry_t *any = NULL;
    if (!t)
        return NULL;
    for (unsigned i = 0; i < t->n; i++) {
        if (strcmp(t->apps[i].app, app) == 0)
            return &t->apps[i];
        if (strcmp(t->apps[i].app, "*") == 0)
            any = &t->apps[i];
    }
    return any;
}

app_auth_result_t app_auth_check(const app_auth_table_t *t, app_auth_point_t point, const char *app,
                                 const char *name, const char *query, int64_t now_s,
                                 const char *remote)
{
    const app_auth_entry_t *e = app_auth_find(t, app);
    if (!e)
        return APP_AUTH_OK;
    if (address_allowed(e, point, remote) != 0)
        return APP_AUTH_ADDRESS;
    if (!e->secret[point][0])
        return APP_AUTH_OK;
    return check_signature(e->secret[point], app, name, query, now_s);
}

const char *app_auth_reason(app_auth_result_t r)
{
    switch (r) {
    case APP_AUTH_OK: return "ok";
    case APP_AUTH_ADDRESS: return "address";
    case APP_AUTH_MISSING: return "missing_signature";
    case APP_AUTH_BAD: return "bad_signature";
    case APP_AUTH_EXPIRED: return "expired";
    case APP_AUTH_NRESULTS: break;
    }
    return "?";
}

const char *app_auth_why(app_auth_result_t r)
{
    switch (r) {
    case APP_AUTH_OK: return "allowed";
    case APP_AUTH_ADDRESS: return "address not allowed";
    case APP_AUTH_MISSING: return "signature missing";
    case APP_AUTH_BAD: return "bad signature";
    case APP_AUTH_EXPIRED: return "signature expired";
    case APP_AUTH_NRESULTS: break;
    }
    return "?";
}

const char *app_auth_describe(app_auth_result_t r)
{
    switch (r) {
    case APP_AUTH_OK: return "Allowed";
    case APP_AUTH_ADDRESS: return "Forbidden: address not allowed";
    case APP_AUTH_MISSING: return "Unauthorized: signature missing";
    case APP_AUTH_BAD: return "Unauthorized: bad signature";
    case APP_AUTH_EXPIRED: return "Unauthorized: signature expired";
    case APP_AUTH_NRESULTS: break;
    }
    return "?";
}

const char *app_auth_point_name(app_auth_point_t p)
{
    return (unsigned)p < APP_AUTH_POINTS ? POINT_NAMES[p] : "?";
}

/* ---- config ------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int auth_fail(char *err, size_t errlen,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int read_secret(const cJSON *v, const char *key, char *out, char *err, size_t errlen)
{
    if (!cJSON_IsString(v))
        return auth_fail(err, errlen, "%s: expected a string", key);
    size_t n = strlen(v->valuestring);
    if (n > 0 && n < APP_AUTH_SECRET_MIN)
        return auth_fail(err, errlen, "%s: shorter than %d bytes (use \"\" for no signing)", key,
                         APP_AUTH_SECRET_MIN);
    if (n >= APP_AUTH_SECRET_MAX)
        return auth_fail(err, errlen, "%s: longer than %d bytes", key, APP_AUTH_SECRET_MAX - 1);
    memcpy(out, v->valuestring, n + 1);
    return 0;
}

static int read_list(const cJSON *v, const char *key, app_auth_list_t *out, char *err,
                     size_t errlen)
{
    if (!cJSON_IsArray(v))
        return auth_fail(err, errlen, "%s: expected an array of address ranges", key);
    int n = cJSON_GetArraySize(v);
    if (n == 0)
        return auth_fail(err, errlen,
                         "%s: empty (leave the key out for no restriction; "
                         "[\"0.0.0.0/0\", \"::/0\"] as a deny list refuses every address)",
                         key);
    if (n > APP_AUTH_CIDRS_MAX)
        return auth_fail(err, errlen, "%s: more than %d address ranges", key, APP_AUTH_CIDRS_MAX);
    int i = 0;
    out->n = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (!cJSON_IsString(e) || app_auth_cidr_parse(e->valuestring, &out->v[i]) != 0) {
            snprintf(err, errlen,
                     "%s[%d]: expected an address range (\"10.0.0.0/8\", \"::1/128\", "
                     "no bits set past the prefix), got %.64s%s%s",
                     key, i, cJSON_IsString(e) ? "\"" : "",
                     cJSON_IsString(e) ? e->valuestring : "another type",
                     cJSON_IsString(e) ? "\"" : "");
            return -1;
        }
    }
    out->n = (unsigned)n;
    return 0;
}

int app_auth_entry_from_json(const cJSON *j, app_auth_entry_t *out, char *err, size_t errlen)
{
    app_auth_entry_t e;
    memset(&e, 0, sizeof e);
    if (!cJSON_IsObject(j))
        return auth_fail(err, errlen, "expected an object");
    const cJSON *app = cJSON_GetObjectItemCaseSensitive(j, "app");
    if (!app)
        return auth_fail(err, errlen, "app: required (an app name, or \"*\" for the others)");
    if (!cJSON_IsString(app) || (strcmp(app->valuestring, "*") != 0 &&
                                 !stream_name_valid(app->valuestring, STREAM_APP_MAX)))
        return auth_fail(err, errlen, "app: expected an app name or \"*\"");
    snprintf(e.app, sizeof e.app, "%s", app->valuestring);
    for (const cJSON *v = j->child; v; v = v->next) {
        const char *k = v->string;
        int rc = 0;
        if (strcmp(k, "app") == 0)
            continue;
        if (strcmp(k, "publish_secret") == 0)
            rc = read_secret(v, k, e.secret[APP_AUTH_PUBLISH], err, errlen);
        else if (strcmp(k, "play_secret") == 0)
            rc = read_secret(v, k, e.secret[APP_AUTH_PLAY], err, errlen);
        else if (strcmp(k, "publish_allow") == 0)
            rc = read_list(v, k, &e.allow[APP_AUTH_PUBLISH], err, errlen);
        else if (strcmp(k, "publish_deny") == 0)
            rc = read_list(v, k, &e.deny[APP_AUTH_PUBLISH], err, errlen);
        else if (strcmp(k, "play_allow") == 0)
            rc = read_list(v, k, &e.allow[APP_AUTH_PLAY], err, errlen);
        else if (strcmp(k, "play_deny") == 0)
            rc = read_list(v, k, &e.deny[APP_AUTH_PLAY], err, errlen);
        else
            rc = auth_fail(err, errlen, "%.64s: unknown key", k);
        if (rc != 0) {
            OPENSSL_cleanse(&e, sizeof e);
            return -1;
        }
    }
    *out = e;
    OPENSSL_cleanse(&e, sizeof e);
    return 0;
}
