#include "amf0.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

/* AMF3 markers accepted after an AVMPLUS switch (AMF3 spec, 3.1). */
enum {
    AMF3_UNDEFINED = 0x00,
    AMF3_NULL = 0x01,
    AMF3_FALSE = 0x02,
    AMF3_TRUE = 0x03,
    AMF3_INTEGER = 0x04,
    AMF3_DOUBLE = 0x05,
    AMF3_STRING = 0x06
};

static const char ERR_TRUNCATED[] = "amf0: truncated value";
static const char ERR_LENGTH[] = "amf0: length exceeds input";
static const char ERR_COUNT[] = "amf0: strict array count exceeds input";
static const char ERR_DEPTH[] = "amf0: nesting too deep";
static const char ERR_NODES[] = "amf0: too many values";
static const char ERR_MARKER[] = "amf0: unknown marker";
static const char ERR_END[] = "amf0: unexpected object end";
static const char ERR_AMF3_REF[] = "amf0: amf3 string reference unsupported";
static const char ERR_AMF3_TYPE[] = "amf0: unsupported amf3 type";
static const char ERR_NOMEM[] = "amf0: out of memory";

int amf0_err_is_bound(const char *err)
{
    return err == ERR_DEPTH || err == ERR_NODES;
}

/* Decoder cursor over one amf0_decode_all() input. `nodes` counts every
 * value produced so far (top level and nested) against AMF0_MAX_NODES. */
typedef struct {
    const uint8_t *src;
    size_t len;
    size_t pos;
    size_t nodes;
    const char *err;
} amf0_dec_t;

static int dec_fail(amf0_dec_t *d, int rc, const char *err)
{
    d->err = err;
    return rc;
}

static size_t dec_left(const amf0_dec_t *d)
{
    return d->len - d->pos;
}

static int dec_need(amf0_dec_t *d, size_t n)
{
    return dec_left(d) < n ? dec_fail(d, NODE_EPROTO, ERR_TRUNCATED) : 0;
}

static double rd_double(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | p[i];
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Copies n input bytes into a new NUL-terminated string. The length is
 * checked against the remaining input before anything is allocated. */
static int dec_copy(amf0_dec_t *d, size_t n, char **out, size_t *out_len)
{
    if (n > dec_left(d))
        return dec_fail(d, NODE_EPROTO, ERR_LENGTH);
    char *s = malloc(n + 1);
    if (!s)
        return dec_fail(d, NODE_ENOMEM, ERR_NOMEM);
    if (n)
        memcpy(s, d->src + d->pos, n);
    s[n] = '\0';
    d->pos += n;
    *out = s;
    *out_len = n;
    return 0;
}

/* A length-prefixed string body; `wide` selects the 4-byte length of
 * LONG_STRING and XML_DOCUMENT over the 2-byte one of STRING. */
static int dec_string(amf0_dec_t *d, int wide, char **out, size_t *out_len)
{
    size_t hdr = wide ? 4 : 2;
    int rc = dec_need(d, hdr);
    if (rc)
        return rc;
    size_t n = wide ? rd_be32(d->src + d->pos) : rd_be16(d->src + d->pos);
    d->pos += hdr;
    return dec_copy(d, n, out, out_len);
}

static int dec_value(amf0_dec_t *d, amf0_value_t *v, unsigned depth);

/* Properties of an OBJECT, TYPED_OBJECT or ECMA_ARRAY up to the end marker
 * (00 00 09). An ECMA array whose input ends exactly at a property boundary
 * is accepted without the marker: some encoders omit it on onMetaData. On
 * failure v->props holds what was built so far, freeable by the caller. */
static int dec_props(amf0_dec_t *d, amf0_value_t *v, unsigned depth, int ecma)
{
    if (depth >= AMF0_MAX_DEPTH)
        return dec_fail(d, NODE_EPROTO, ERR_DEPTH);
    size_t cap = 0;
    for (;;) {
        if (ecma && dec_left(d) == 0)
            return 0;
        int rc = dec_need(d, 2);
        if (rc)
            return rc;
        size_t klen = rd_be16(d->src + d->pos);
        if (klen == 0 && dec_left(d) >= 3 && d->src[d->pos + 2] == AMF0_OBJECT_END) {
            d->pos += 3;
            return 0;
        }
        if (v->nprops == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            amf0_prop_t *np = realloc(v->props, ncap * sizeof *np);
            if (!np)
                return dec_fail(d, NODE_ENOMEM, ERR_NOMEM);
            v->props = np;
            cap = ncap;
        }
        amf0_prop_t *p = &v->props[v->nprops];
        memset(p, 0, sizeof *p);
        d->pos += 2;
        rc = dec_copy(d, klen, &p->name, &p->name_len);
        if (rc)
            return rc;
        v->nprops++;
        rc = dec_value(d, &p->value, depth + 1);
        if (rc)
            return rc;
    }
}

/* STRICT_ARRAY: a 4-byte count then that many values. Every value takes at
 * least one byte, so a count above the remaining input is rejected before
 * the item array is allocated, as is one above the node budget. */
static int dec_strict(amf0_dec_t *d, amf0_value_t *v, unsigned depth)
{
    if (depth >= AMF0_MAX_DEPTH)
        return dec_fail(d, NODE_EPROTO, ERR_DEPTH);
    int rc = dec_need(d, 4);
    if (rc)
        return rc;
    size_t count = rd_be32(d->src + d->pos);
    d->pos += 4;
    if (count > dec_left(d))
        return dec_fail(d, NODE_EPROTO, ERR_COUNT);
    if (count > AMF0_MAX_NODES - d->nodes)
        return dec_fail(d, NODE_EPROTO, ERR_NODES);
    if (count == 0)
        return 0;
    v->items = calloc(count, sizeof *v->items);
    if (!v->items)
        return dec_fail(d, NODE_ENOMEM, ERR_NOMEM);
    v->nitems = count;
    for (size_t i = 0; i < count; i++) {
        rc = dec_value(d, &v->items[i], depth + 1);
        if (rc)
            return rc;
    }
    return 0;
}

/* AMF3 U29: 1 to 4 bytes, 7 value bits per byte with the high bit meaning
 * "more", except the fourth byte which carries 8 value bits. */
static int dec_u29(amf0_dec_t *d, uint32_t *out)
{
    uint32_t u = 0;
    for (int i = 0; i < 4; i++) {
        int rc = dec_need(d, 1);
        if (rc)
            return rc;
        uint8_t b = d->src[d->pos++];
        if (i == 3) {
            u = (u << 8) | b;
            break;
        }
        u = (u << 7) | (b & 0x7f);
        if (!(b & 0x80))
            break;
    }
    *out = u;
    return 0;
}

/* One AMF3 value following an AVMPLUS marker, mapped to the AMF0 type that
 * carries the same information. Only scalar types are supported. */
static int dec_amf3(amf0_dec_t *d, amf0_value_t *v)
{
    int rc = dec_need(d, 1);
    if (rc)
        return rc;
    uint8_t marker = d->src[d->pos++];
    uint32_t u;
    switch (marker) {
    case AMF3_UNDEFINED: v->type = AMF0_UNDEFINED; return 0;
    case AMF3_NULL: v->type = AMF0_NULL; return 0;
    case AMF3_FALSE:
    case AMF3_TRUE:
        v->type = AMF0_BOOLEAN;
        v->boolean = marker == AMF3_TRUE;
        return 0;
    case AMF3_INTEGER:
        rc = dec_u29(d, &u);
        if (rc)
            return rc;
        v->type = AMF0_NUMBER;
        /* 29-bit two's complement. */
        v->num = (u & 0x10000000) ? (double)u - (double)0x20000000 : (double)u;
        return 0;
    case AMF3_DOUBLE:
        rc = dec_need(d, 8);
        if (rc)
            return rc;
        v->type = AMF0_NUMBER;
        v->num = rd_double(d->src + d->pos);
        d->pos += 8;
        return 0;
    case AMF3_STRING:
        rc = dec_u29(d, &u);
        if (rc)
            return rc;
        if (!(u & 1))
            return dec_fail(d, NODE_EPROTO, ERR_AMF3_REF);
        v->type = AMF0_STRING;
        return dec_copy(d, u >> 1, &v->str, &v->str_len);
    default: return dec_fail(d, NODE_EPROTO, ERR_AMF3_TYPE);
    }
}

/* Decodes one value at the cursor. v is zeroed first; on failure it holds
 * whatever was built so far, which amf0_value_free() releases. `depth` is
 * the number of containers enclosing v. */
static int dec_value(amf0_dec_t *d, amf0_value_t *v, unsigned depth)
{
    memset(v, 0, sizeof *v);
    if (d->nodes >= AMF0_MAX_NODES)
        return dec_fail(d, NODE_EPROTO, ERR_NODES);
    d->nodes++;
    int rc = dec_need(d, 1);
    if (rc)
        return rc;
    uint8_t marker = d->src[d->pos++];
    switch (marker) {
    case AMF0_NUMBER:
        if ((rc = dec_need(d, 8)))
            return rc;
        v->type = AMF0_NUMBER;
        v->num = rd_double(d->src + d->pos);
        d->pos += 8;
        return 0;
    case AMF0_BOOLEAN:
        if ((rc = dec_need(d, 1)))
            return rc;
        v->type = AMF0_BOOLEAN;
        v->boolean = d->src[d->pos++] != 0;
        return 0;
    case AMF0_STRING: v->type = AMF0_STRING; return dec_string(d, 0, &v->str, &v->str_len);
    case AMF0_LONG_STRING:
    case AMF0_XML_DOCUMENT: v->type = AMF0_STRING; return dec_string(d, 1, &v->str, &v->str_len);
    case AMF0_OBJECT: v->type = AMF0_OBJECT; return dec_props(d, v, depth, 0);
    case AMF0_TYPED_OBJECT: {
        /* The class name is read past: callers only look at properties. */
        if ((rc = dec_need(d, 2)))
            return rc;
        size_t n = rd_be16(d->src + d->pos);
        if (n > dec_left(d) - 2)
            return dec_fail(d, NODE_EPROTO, ERR_LENGTH);
        d->pos += 2 + n;
        v->type = AMF0_OBJECT;
        return dec_props(d, v, depth, 0);
    }
    case AMF0_ECMA_ARRAY:
        /* The count is advisory; properties run to the end marker. */
        if ((rc = dec_need(d, 4)))
            return rc;
        d->pos += 4;
        v->type = AMF0_ECMA_ARRAY;
        return dec_props(d, v, depth, 1);
    case AMF0_STRICT_ARRAY: v->type = AMF0_STRICT_ARRAY; return dec_strict(d, v, depth);
    case AMF0_DATE:
        /* Milliseconds since the epoch, then a time zone nobody honours. */
        if ((rc = dec_need(d, 10)))
            return rc;
        v->type = AMF0_DATE;
        v->num = rd_double(d->src + d->pos);
        d->pos += 10;
        return 0;
    case AMF0_REFERENCE:
        if ((rc = dec_need(d, 2)))
            return rc;
        v->type = AMF0_REFERENCE;
        v->num = rd_be16(d->src + d->pos);
        d->pos += 2;
        return 0;
    case AMF0_NULL:
    case AMF0_UNDEFINED:
    case AMF0_UNSUPPORTED: v->type = (amf0_type_t)marker; return 0;
    case AMF0_AVMPLUS: return dec_amf3(d, v);
    case AMF0_OBJECT_END: return dec_fail(d, NODE_EPROTO, ERR_END);
    default: return dec_fail(d, NODE_EPROTO, ERR_MARKER);
    }
}

int amf0_decode_all(const uint8_t *src, size_t len, amf0_value_t *vals, size_t max_vals,
                    size_t *nvals, const char **err)
{
    amf0_dec_t d = {.src = src, .len = len};
    size_t n = 0;
    *nvals = 0;
    while (d.pos < d.len && n < max_vals) {
        int rc = dec_value(&d, &vals[n], 0);
        if (rc) {
            amf0_values_free(vals, n + 1);
            if (err)
                *err = d.err;
            return rc;
        }
        n++;
    }
    *nvals = n;
    return 0;
}

void amf0_value_free(amf0_value_t *v)
{
    if (!v)
        return;
    free(v->str);
    for (size_t i = 0; i < v->nprops; i++) {
        free(v->props[i].name);
        amf0_value_free(&v->props[i].value);
    }
    free(v->props);
    for (size_t i = 0; i < v->nitems; i++)
        amf0_value_free(&v->items[i]);
    free(v->items);
    memset(v, 0, sizeof *v);
}

void amf0_values_free(amf0_value_t *vals, size_t n)
{
    if (!vals)
        return;
    for (size_t i = 0; i < n; i++)
        amf0_value_free(&vals[i]);
}

const amf0_value_t *amf0_get(const amf0_value_t *obj, const char *name)
{
    if (!obj || !name || (obj->type != AMF0_OBJECT && obj->type != AMF0_ECMA_ARRAY))
        return NULL;
    size_t n = strlen(name);
    for (size_t i = 0; i < obj->nprops; i++) {
        const amf0_prop_t *p = &obj->props[i];
        if (p->name_len == n && memcmp(p->name, name, n) == 0)
            return &p->value;
    }
    return NULL;
}

const char *amf0_str(const amf0_value_t *v)
{
    return v && v->type == AMF0_STRING ? v->str : NULL;
}

double amf0_num(const amf0_value_t *v, double dflt)
{
    return v && v->type == AMF0_NUMBER ? v->num : dflt;
}

void amf0_buf_init(amf0_buf_t *b)
{
    memset(b, 0, sizeof *b);
}

void amf0_buf_free(amf0_buf_t *b)
{
    if (!b)
        return;
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Makes room for n more bytes; returns 0, or -1 with b->oom set. */
static int buf_reserve(amf0_buf_t *b, size_t n)
{
    if (b->oom)
        return -1;
    if (n <= b->cap - b->len)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

static void put_bytes(amf0_buf_t *b, const void *src, size_t n)
{
    if (n == 0 || buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

static void put_u8(amf0_buf_t *b, uint8_t v)
{
    put_bytes(b, &v, 1);
}

static void put_be16(amf0_buf_t *b, uint32_t v)
{
    uint8_t p[2];
    wr_be16(p, v);
    put_bytes(b, p, 2);
}

static void put_be32(amf0_buf_t *b, uint32_t v)
{
    uint8_t p[4];
    wr_be32(p, v);
    put_bytes(b, p, 4);
}

static void put_double(amf0_buf_t *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    uint8_t p[8];
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)u;
        u >>= 8;
    }
    put_bytes(b, p, 8);
}

/* A marker, a 4-byte length and the bytes (LONG_STRING, XML_DOCUMENT). A
 * length AMF0 cannot express marks the buffer unusable like an OOM. */
static void put_wide_string(amf0_buf_t *b, uint8_t marker, const char *s, size_t len)
{
    if ((uint64_t)len > UINT32_MAX) {
        b->oom = 1;
        return;
    }
    put_u8(b, marker);
    put_be32(b, (uint32_t)len);
    put_bytes(b, s, len);
}

static void put_key_n(amf0_buf_t *b, const char *name, size_t len)
{
    if (len > 0xffff) {
        b->oom = 1;
        return;
    }
    put_be16(b, (uint32_t)len);
    put_bytes(b, name, len);
}

void amf0_put_number(amf0_buf_t *b, double v)
{
    put_u8(b, AMF0_NUMBER);
    put_double(b, v);
}

void amf0_put_bool(amf0_buf_t *b, int v)
{
    put_u8(b, AMF0_BOOLEAN);
    put_u8(b, v ? 1 : 0);
}

void amf0_put_string(amf0_buf_t *b, const char *s, size_t len)
{
    if (len > 0xffff) {
        put_wide_string(b, AMF0_LONG_STRING, s, len);
        return;
    }
    put_u8(b, AMF0_STRING);
    put_be16(b, (uint32_t)len);
    put_bytes(b, s, len);
}

void amf0_put_cstr(amf0_buf_t *b, const char *s)
{
    amf0_put_string(b, s, strlen(s));
}

void amf0_put_null(amf0_buf_t *b)
{
    put_u8(b, AMF0_NULL);
}

void amf0_put_undefined(amf0_buf_t *b)
{
    put_u8(b, AMF0_UNDEFINED);
}

void amf0_put_object_start(amf0_buf_t *b)
{
    put_u8(b, AMF0_OBJECT);
}

void amf0_put_ecma_start(amf0_buf_t *b, uint32_t count)
{
    put_u8(b, AMF0_ECMA_ARRAY);
    put_be32(b, count);
}

void amf0_put_key(amf0_buf_t *b, const char *name)
{
    put_key_n(b, name, strlen(name));
}

void amf0_put_object_end(amf0_buf_t *b)
{
    static const uint8_t end[3] = {0, 0, AMF0_OBJECT_END};
    put_bytes(b, end, sizeof end);
}

static void put_props(amf0_buf_t *b, const amf0_value_t *v)
{
    for (size_t i = 0; i < v->nprops; i++) {
        put_key_n(b, v->props[i].name, v->props[i].name_len);
        amf0_put_value(b, &v->props[i].value);
    }
    amf0_put_object_end(b);
}

/* Every type the decoder produces is written back so that decoding the
 * output yields the same tree. TYPED_OBJECT (never produced: the class name
 * is not kept) is written as a plain OBJECT; OBJECT_END, AVMPLUS and values
 * AMF0 cannot express (a REFERENCE outside 0..65535, a count above 2^32-1)
 * mark the buffer unusable through b->oom. */
void amf0_put_value(amf0_buf_t *b, const amf0_value_t *v)
{
    switch (v->type) {
    case AMF0_NUMBER: amf0_put_number(b, v->num); return;
    case AMF0_BOOLEAN: amf0_put_bool(b, v->boolean); return;
    case AMF0_STRING: amf0_put_string(b, v->str, v->str_len); return;
    case AMF0_LONG_STRING:
    case AMF0_XML_DOCUMENT: put_wide_string(b, (uint8_t)v->type, v->str, v->str_len); return;
    case AMF0_OBJECT:
    case AMF0_TYPED_OBJECT:
        amf0_put_object_start(b);
        put_props(b, v);
        return;
    case AMF0_ECMA_ARRAY:
        amf0_put_ecma_start(b, (uint64_t)v->nprops > UINT32_MAX ? UINT32_MAX : (uint32_t)v->nprops);
        put_props(b, v);
        return;
    case AMF0_STRICT_ARRAY:
        if ((uint64_t)v->nitems > UINT32_MAX) {
            b->oom = 1;
            return;
        }
        put_u8(b, AMF0_STRICT_ARRAY);
        put_be32(b, (uint32_t)v->nitems);
        for (size_t i = 0; i < v->nitems; i++)
            amf0_put_value(b, &v->items[i]);
        return;
    case AMF0_DATE:
        put_u8(b, AMF0_DATE);
        put_double(b, v->num);
        put_be16(b, 0);
        return;
    case AMF0_REFERENCE:
        if (!(v->num >= 0 && v->num <= 0xffff)) {
            b->oom = 1;
            return;
        }
        put_u8(b, AMF0_REFERENCE);
        put_be16(b, (uint32_t)v->num);
        return;
    case AMF0_NULL:
    case AMF0_UNDEFINED:
    case AMF0_UNSUPPORTED: put_u8(b, (uint8_t)v->type); return;
    case AMF0_OBJECT_END:
    case AMF0_AVMPLUS:
    default: b->oom = 1; return;
    }
}
