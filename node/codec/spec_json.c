/* spec_json: helpers shared by the spec parsers (contract in spec_json.h). */
#include "spec_json.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int spec_id_valid(const char *id, size_t max)
{
    size_t n = 0;
    for (; id[n]; n++) {
        char c = id[n];
        if (n + 1 >= max || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return n > 0 && strcmp(id, ".") != 0 && strcmp(id, "..") != 0;
}

int spec_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void spec_print_key(const char *key, char *out, size_t outlen)
{
    size_t n = 0;
    for (; key && key[n] && n < 64 && n + 1 < outlen; n++) {
        unsigned char c = (unsigned char)key[n];
        out[n] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    out[n] = '\0';
}

int spec_take_string(const cJSON *v, const char *field, char *out, size_t outlen, char *err,
                     size_t errlen)
{
    if (!cJSON_IsString(v) || !v->valuestring)
        return spec_fail(err, errlen, "%s: expected a string", field);
    size_t n = strlen(v->valuestring);
    if (n >= outlen)
        return spec_fail(err, errlen, "%s: longer than %zu bytes", field, outlen - 1);
    memcpy(out, v->valuestring, n + 1);
    return 0;
}

int spec_take_bool(const cJSON *v, const char *field, int *out, char *err, size_t errlen)
{
    if (!cJSON_IsBool(v))
        return spec_fail(err, errlen, "%s: expected a boolean", field);
    *out = cJSON_IsTrue(v);
    return 0;
}

int spec_take_tls_ca(const cJSON *v, char *out, size_t outlen, char *err, size_t errlen)
{
    if (cJSON_IsNull(v)) {
        out[0] = '\0';
        return 0;
    }
    if (spec_take_string(v, "tls_ca", out, outlen, err, errlen) != 0)
        return -1;
    if (!out[0])
        return spec_fail(err, errlen, "tls_ca: expected a file path or null");
    return 0;
}

int spec_add_tls(cJSON *o, int verify, const char *ca)
{
    if (!cJSON_AddBoolToObject(o, "tls_verify", verify != 0))
        return 0;
    return ca[0] ? cJSON_AddStringToObject(o, "tls_ca", ca) != NULL
                 : cJSON_AddNullToObject(o, "tls_ca") != NULL;
}

int spec_take_u32(const cJSON *v, const char *field, uint32_t min, uint32_t max, uint32_t *out,
                  char *err, size_t errlen)
{
    if (!cJSON_IsNumber(v))
        return spec_fail(err, errlen, "%s: expected an integer", field);
    double d = v->valuedouble;
    if (!(d >= (double)min && d <= (double)max) || d != (double)(uint32_t)d)
        return spec_fail(err, errlen, "%s: expected an integer from %u to %u", field, (unsigned)min,
                         (unsigned)max);
    *out = (uint32_t)d;
    return 0;
}

int spec_url_bytes(const char *url, const char *field, char *err, size_t errlen)
{
    for (const char *p = url; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f)
            return spec_fail(err, errlen,
                             "%s: spaces, control bytes and non-ASCII bytes are not allowed "
                             "(percent-encode them)",
                             field);
        if (c == '#')
            return spec_fail(err, errlen, "%s: a fragment (#) is not allowed", field);
    }
    return 0;
}

int spec_member(const char *key, const char *const *fields, int nfields,
                const char *const *state_fields, unsigned *seen, char *err, size_t errlen)
{
    if (!key)
        key = "";
    for (int i = 0; i < nfields && i < 32; i++) {
        if (strcmp(key, fields[i]) != 0)
            continue;
        if (*seen & (1u << i))
            return spec_fail(err, errlen, "%s: given twice", fields[i]);
        *seen |= 1u << i;
        return i;
    }
    for (const char *const *f = state_fields; f && *f; f++)
        if (strcmp(key, *f) == 0)
            return SPEC_MEMBER_STATE;
    char k[65];
    spec_print_key(key, k, sizeof k);
    return spec_fail(err, errlen, "%s: unknown field", k);
}

int spec_required(unsigned seen, const char *const *fields, const int *required, size_t nrequired,
                  char *err, size_t errlen)
{
    for (size_t i = 0; i < nrequired; i++)
        if (!(seen & (1u << required[i])))
            return spec_fail(err, errlen, "%s: required", fields[required[i]]);
    return 0;
}

int spec_etag(const uint8_t key[SPEC_ETAG_KEY_LEN], const cJSON *spec, char out[SPEC_ETAG_MAX])
{
    char *text = cJSON_PrintUnformatted(spec);
    if (!text)
        return -1;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    unsigned char *ok = HMAC(EVP_sha256(), key, SPEC_ETAG_KEY_LEN, (const unsigned char *)text,
                             strlen(text), mac, &maclen);
    cJSON_free(text);
    if (!ok || maclen < 8)
        return -1;
    static const char HEX[] = "0123456789abcdef";
    out[0] = '"';
    for (int i = 0; i < 8; i++) {
        out[1 + 2 * i] = HEX[mac[i] >> 4];
        out[2 + 2 * i] = HEX[mac[i] & 15];
    }
    out[17] = '"';
    out[18] = '\0';
    return 0;
}

int spec_etag_match(const char *if_match, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = if_match;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            return 0;
        const char *end = p;
        if (*p == '"') { /* a quoted tag: up to its closing quote */
            const char *q = strchr(p + 1, '"');
            end = q ? q + 1 : p + strlen(p);
        } else {
            end = p + strcspn(p, ",");
        }
        size_t n = (size_t)(end - p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if ((n == 1 && *p == '*') || (n == elen && memcmp(p, etag, n) == 0))
            return 1;
        p = end;
    }
}
