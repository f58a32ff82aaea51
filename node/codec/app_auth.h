/* app_auth: per-app publish and play authorization, pure (no sockets, no
 * clock): the config entries of the top-level "apps" array, address ranges
 * (CIDR, IPv4 and IPv6), and signed URLs. The admission chain (admit.h;
 * the cluster's step, node/cluster/cluster_admit.c) calls app_auth_check()
 * before the authorizing hooks; the loader (conf.c) reads the entries with
 * app_auth_entry_from_json().
 *
 * One entry per app ("app": "*" is the default for apps not listed; an app
 * with no entry and no "*" is not restricted):
 *   app             a stream app name, or "*" (required, unique in "apps")
 *   publish_secret  "" (default: no signature needed) or 16..128 bytes
 *   play_secret     the same, for playing
 *   publish_allow   CIDR list ("10.0.0.0/8", "::1/128", a bare address is /32
 *   publish_deny    or /128); absent: no restriction. 1..APP_AUTH_CIDRS_MAX
 *   play_allow      items (an empty list is refused as ambiguous).
 *   play_deny
 * Address rule, per point: an address in a deny range is refused; with an
 * allow list, an address in none of its ranges is refused; otherwise it
 * passes. IPv4 addresses are kept as IPv4-mapped IPv6 (::ffff:a.b.c.d), so
 * "10.0.0.0/8" also matches ::ffff:10.1.2.3 (a dual-stack listener) and
 * "::/0" matches every address, IPv4 too.
 *
 * Signed URL: the query carries expires=<unix seconds> and sign=<hex>, with
 *   sign = hex(HMAC-SHA256(secret, "<app>/<name>:<expires>"))
 * (the expires text exactly as sent, decimal digits; hex in either case).
 * The signature is compared with CRYPTO_memcmp(). The request passes while
 * expires >= now. Each parameter must appear once; values are
 * percent-decoded; other parameters are ignored.
 * Threads: pure, no globals: any thread may call it on its own objects.
 */
#ifndef WEIR_APP_AUTH_H
#define WEIR_APP_AUTH_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define APP_AUTH_APPS_MAX 32      /* entries of "apps" at most */
#define APP_AUTH_CIDRS_MAX 32     /* ranges per list at most */
#define APP_AUTH_APP_MAX 128      /* app name with its NUL (STREAM_APP_MAX) */
#define APP_AUTH_SECRET_MIN 16    /* bytes, when set */
#define APP_AUTH_SECRET_MAX 129   /* with its NUL */
#define APP_AUTH_SIGN_HEX_LEN 64  /* hex of an HMAC-SHA256 */
#define APP_AUTH_CIDR_TEXT_MAX 64 /* longest CIDR text accepted, with its NUL */

typedef enum { APP_AUTH_PUBLISH = 0, APP_AUTH_PLAY = 1, APP_AUTH_POINTS = 2 } app_auth_point_t;

/* What app_auth_check() decided. */
typedef enum {
    APP_AUTH_OK = 0,
    APP_AUTH_ADDRESS, /* the remote address is not allowed (403 / Forbidden) */
    APP_AUTH_MISSING, /* a secret is set but expires or sign is absent */
    APP_AUTH_BAD,     /* wrong, malformed or repeated signature parameters */
    APP_AUTH_EXPIRED, /* a correct signature whose expires is in the past */
    APP_AUTH_NRESULTS
} app_auth_result_t;

/* An address range; addr is IPv6 (IPv4 as ::ffff:a.b.c.d, bits + 96). */
typedef struct {
    uint8_t addr[16];
    uint8_t bits; /* 0..128 */
} app_auth_cidr_t;

typedef struct {
    app_auth_cidr_t v[APP_AUTH_CIDRS_MAX];
    unsigned n; /* 0: the list is absent */
} app_auth_list_t;

typedef struct {
    char app[APP_AUTH_APP_MAX];                        /* or "*" */
    char secret[APP_AUTH_POINTS][APP_AUTH_SECRET_MAX]; /* "" for none */
    app_auth_list_t allow[APP_AUTH_POINTS];
    app_auth_list_t deny[APP_AUTH_POINTS];
} app_auth_entry_t;

/* The "apps" table; a plain value (conf_t holds one). */
typedef struct {
    app_auth_entry_t apps[APP_AUTH_APPS_MAX];
    unsigned n;
} app_auth_table_t;

/* Reads one "apps" element. Returns 0, or -1 with a message naming the key
 * ("publish_allow[1]: not an address range: \"10.0.0/8\"",
 * "play_secret: shorter than 16 bytes"). The secrets never appear in err. */
int app_auth_entry_from_json(const cJSON *j, app_auth_entry_t *out, char *err, size_t errlen);

/* Parses "a.b.c.d/n", "v6/n" or a bare address (/32, /128). 0 or -1. */
int app_auth_cidr_parse(const char *s, app_auth_cidr_t *out);
/* 1 if addr (IPv6 form) is inside c, else 0. */
int app_auth_cidr_match(const app_auth_cidr_t *c, const uint8_t addr[16]);
/* The address of a remote as formatted by conn.c ("1.2.3.4:5678",
 * "[::1]:5678") or a bare address, in IPv6 form. 0 or -1. */
int app_auth_addr_parse(const char *remote, uint8_t addr[16]);

/* The value of the only parameter key in query ("a=1&b=2", no '?'),
 * percent-decoded into out (size outlen). Returns 1 found, 0 absent, -1 when
 * it appears more than once, has a bad escape or does not fit. */
int app_auth_query_get(const char *query, const char *key, char *out, size_t outlen);

/* The entry that rules app: its own, else "*", else NULL (no rules). */
const app_auth_entry_t *app_auth_find(const app_auth_table_t *t, const char *app);

/* Decides a publish or play of app/name from remote with query (may be
 * NULL) at now_s (unix seconds). The address is checked first, then the
 * signature (when the entry has a secret for that point). */
app_auth_result_t app_auth_check(const app_auth_table_t *t, app_auth_point_t point, const char *app,
                                 const char *name, const char *query, int64_t now_s,
                                 const char *remote);

/* hex of HMAC-SHA256(secret, "<app>/<name>:<expires>") into hex (size
 * APP_AUTH_SIGN_HEX_LEN + 1), lower case. 0 or -1. */
int app_auth_sign(const char *secret, const char *app, const char *name, const char *expires,
                  char *hex);

/* The /metrics label of a refusal: "address", "missing_signature",
 * "bad_signature", "expired" ("ok" for APP_AUTH_OK). */
const char *app_auth_reason(app_auth_result_t r);
/* The status text of a refusal: "Forbidden: address not allowed",
 * "Unauthorized: signature missing", "Unauthorized: bad signature",
 * "Unauthorized: signature expired". */
const char *app_auth_describe(app_auth_result_t r);
/* The same without the class: "address not allowed", "signature missing",
 * "bad signature", "signature expired" (HTTP bodies: "401 Unauthorized: ..."). */
const char *app_auth_why(app_auth_result_t r);
/* "publish" or "play". */
const char *app_auth_point_name(app_auth_point_t p);

#endif
