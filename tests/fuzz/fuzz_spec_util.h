/* fuzz_spec_util: what the JSON spec fuzz targets (fuzz_relay_spec.c,
 * fuzz_hook_spec.c) share: reading the input as JSON, calling the spec
 * reader with a poisoned output (a refusal must leave it untouched), the
 * shape every refusal message has, and the render / print / parse step of a
 * round trip. Header-only: each target is one translation unit. */
#ifndef WEIR_FUZZ_SPEC_UTIL_H
#define WEIR_FUZZ_SPEC_UTIL_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_BYTES 16384

/* What a refusal message may start with: "<known[i]>: ...", or
 * "<indexed[i]><n>]: ..." with n < index_max[i]. */
typedef struct {
    const char *const *known;
    size_t nknown;
    const char *const *indexed; /* "urls[", "events[" */
    const unsigned *index_max;
    size_t nindexed;
} fuzz_spec_fields_t;

/* The input as JSON (the caller deletes it), or NULL to skip it. */
static inline cJSON *fuzz_spec_parse(const uint8_t *data, size_t size)
{
    return size > FUZZ_MAX_BYTES ? NULL : cJSON_ParseWithLength((const char *)data, size);
}

/* The member name as the parsers print it in messages (spec_print_key()). */
static inline void fuzz_print_key(const char *key, char *out)
{
    size_t n = 0;
    for (; key[n] && n < 64; n++) {
        unsigned char c = (unsigned char)key[n];
        out[n] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    out[n] = '\0';
}

/* A refusal of body j: a terminated, non-empty message that names an
 * unknown member of j ("x: unknown field"; the name itself may hold ": ")
 * or starts with a field's path from f. Aborts otherwise. */
static inline void fuzz_spec_check_refusal(const cJSON *j, const char *err, size_t errlen,
                                           const fuzz_spec_fields_t *f)
{
    if (!memchr(err, '\0', errlen) || !err[0])
        abort();
    if (cJSON_IsObject(j)) {
        for (const cJSON *c = j->child; c; c = c->next) {
            char k[65], want[96];
            fuzz_print_key(c->string ? c->string : "", k);
            snprintf(want, sizeof want, "%s: unknown field", k);
            if (strcmp(err, want) == 0)
                return;
        }
    }
    const char *colon = strstr(err, ": ");
    if (!colon || !colon[2])
        abort(); /* "<field>: <what>" */
    size_t n = (size_t)(colon - err);
    for (size_t i = 0; i < f->nknown; i++)
        if (strlen(f->known[i]) == n && strncmp(err, f->known[i], n) == 0)
            return;
    for (size_t i = 0; i < f->nindexed; i++) {
        size_t pl = strlen(f->indexed[i]);
        unsigned idx;
        char close;
        if (n > pl && strncmp(err, f->indexed[i], pl) == 0 &&
            sscanf(err + pl, "%u%c", &idx, &close) == 2 && close == ']' && idx < f->index_max[i] &&
            err[n - 1] == ']')
            return;
    }
    abort();
}

/* A spec reader under test: fills out (outlen bytes) from j, or returns
 * non-zero with a message in err. ctx: the target's own (a PATCH base). */
typedef int (*fuzz_spec_read_fn)(const cJSON *j, const void *ctx, void *out, char *err,
                                 size_t errlen);

/* Runs read on j with out poisoned first. Returns 1 when accepted (out
 * holds the spec); 0 for a refusal, after checking that out is untouched
 * and the message has the right shape (f). */
static inline int fuzz_spec_read(const cJSON *j, fuzz_spec_read_fn read, const void *ctx, void *out,
                                 size_t outlen, const fuzz_spec_fields_t *f)
{
    unsigned char *before = malloc(outlen);
    if (!before)
        abort();
    memset(out, 0xa5, outlen);
    memcpy(before, out, outlen);
    char err[256];
    memset(err, 'x', sizeof err);
    int ok = read(j, ctx, out, err, sizeof err) == 0;
    if (!ok) {
        if (memcmp(out, before, outlen) != 0)
            abort();
        fuzz_spec_check_refusal(j, err, sizeof err, f);
    }
    free(before);
    return ok;
}

/* A rendering printed and parsed again: the parsed copy (the caller deletes
 * it), or NULL when out of memory. rendered (may be NULL) is deleted.
 * Aborts when the printed text is not JSON. */
static inline cJSON *fuzz_spec_reparse(cJSON *rendered)
{
    char *text = rendered ? cJSON_PrintUnformatted(rendered) : NULL;
    cJSON_Delete(rendered);
    if (!text)
        return NULL;
    cJSON *back = cJSON_Parse(text);
    cJSON_free(text);
    if (!back)
        abort(); /* the rendering is JSON */
    return back;
}

#endif
