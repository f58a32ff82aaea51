/* spec_json: small pure helpers shared by the JSON spec parsers
 * (relay_spec.c, hook_spec.c): id validation, field-named errors and typed
 * member reads from cJSON, the member loop of an object. No I/O, no
 * allocation, no globals.
 * Threads: pure, no globals: any thread may call it on its own objects.
 */
#ifndef WEIR_SPEC_JSON_H
#define WEIR_SPEC_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define SPEC_ETAG_KEY_LEN 16 /* the node's entity-tag key (bytes) */
#define SPEC_ETAG_MAX 20     /* "\"" + 16 hex digits + "\"", with its NUL */
#define SPEC_IF_MATCH_MAX 256 /* an If-Match header kept with a change */

/* The entity tag (an HTTP ETag, strong) of a spec as rendered for storage:
 * "\"<16 hex>\"", the first 8 bytes of HMAC-SHA256(key, the JSON's
 * unformatted text). Keyed so that a tag reveals nothing about a secret
 * inside the spec (a hook's); equal specs have equal tags, on every start
 * of a node with the same key. Returns 0, or -1 (out of memory). */
int spec_etag(const uint8_t key[SPEC_ETAG_KEY_LEN], const cJSON *spec, char out[SPEC_ETAG_MAX]);

/* 1 if an If-Match value ("*", or a comma-separated list of entity tags)
 * matches etag by strong comparison (RFC 9110 13.1.1: a weak W/ tag never
 * matches), else 0. */
int spec_etag_match(const char *if_match, const char *etag);

/* 1 if id is 1..max-1 bytes of [A-Za-z0-9._-] and not "." or ".." (dot
 * segments cannot be reached in a URL path), else 0. */
int spec_id_valid(const char *id, size_t max);

/* Formats a message into err (when err and errlen are set); returns -1. */
int spec_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A JSON member name or value for a message: printable ASCII only ('?' for
 * other bytes), at most 64 bytes, always terminated (outlen >= 1). */
void spec_print_key(const char *key, char *out, size_t outlen);

/* A string member copied into out (size outlen). -1 with err "<field>:
 * expected a string" / "<field>: longer than N bytes". */
int spec_take_string(const cJSON *v, const char *field, char *out, size_t outlen, char *err,
                     size_t errlen);

/* A boolean member into *out (0 or 1). -1 with err "<field>: expected a
 * boolean". */
int spec_take_bool(const cJSON *v, const char *field, int *out, char *err, size_t errlen);

/* "tls_ca" (relays, hooks): a CA file path (non-empty) into out, or null
 * for "" (the node's tls.ca, else the system store). -1 with err "tls_ca:
 * ...". */
int spec_take_tls_ca(const cJSON *v, char *out, size_t outlen, char *err, size_t errlen);

/* Adds "tls_verify" (verify != 0) and "tls_ca" (ca, or null when "") to o.
 * Returns 1, or 0 when out of memory. */
int spec_add_tls(cJSON *o, int verify, const char *ca);

/* A whole number member in [min, max] into *out. -1 with err naming field. */
int spec_take_u32(const cJSON *v, const char *field, uint32_t min, uint32_t max, uint32_t *out,
                  char *err, size_t errlen);

/* A URL's bytes: no spaces, control or non-ASCII bytes, no fragment. Returns
 * 0, or -1 with err "<field>: spaces, control bytes and non-ASCII bytes are
 * not allowed (percent-encode them)" / "<field>: a fragment (#) is not
 * allowed". */
int spec_url_bytes(const char *url, const char *field, char *err, size_t errlen);

/* What spec_member() returns for a rendered live-state member: skip it (a
 * GET body may be sent back). */
#define SPEC_MEMBER_STATE (-2)

/* Looks up object member key (NULL: "") among fields[0..nfields-1]
 * (nfields <= 32) and marks it in *seen (bit i for fields[i]). Returns its
 * index; SPEC_MEMBER_STATE when key is one of state_fields (NULL-terminated,
 * may be NULL); else -1 with err "<key>: unknown field" or "<field>: given
 * twice". */
int spec_member(const char *key, const char *const *fields, int nfields,
                const char *const *state_fields, unsigned *seen, char *err, size_t errlen);

/* Every index of required[0..nrequired-1] must be marked in seen. Returns 0,
 * or -1 with err "<fields[i]>: required" for the first one missing. */
int spec_required(unsigned seen, const char *const *fields, const int *required, size_t nrequired,
                  char *err, size_t errlen);

#endif
