/* amf0: AMF0 encoder and bounded decoder (pure: no I/O).
 *
 * Decoded values form a tree owned by the caller: free it with
 * amf0_values_free(). Strings are NUL-terminated copies (they may also hold
 * embedded NULs; str_len is authoritative). The decoder never recurses deeper
 * than AMF0_MAX_DEPTH and never produces more than AMF0_MAX_NODES values per
 * call, so hostile input costs bounded memory and stack.
 * Threads: pure, no globals: any thread may call it on its own objects.
 */
#ifndef WEIR_AMF0_H
#define WEIR_AMF0_H

#include <stddef.h>
#include <stdint.h>

#define AMF0_MAX_DEPTH 32
#define AMF0_MAX_NODES 4096

typedef enum {
    AMF0_NUMBER = 0x00,
    AMF0_BOOLEAN = 0x01,
    AMF0_STRING = 0x02,
    AMF0_OBJECT = 0x03,
    AMF0_NULL = 0x05,
    AMF0_UNDEFINED = 0x06,
    AMF0_REFERENCE = 0x07,
    AMF0_ECMA_ARRAY = 0x08,
    AMF0_OBJECT_END = 0x09,
    AMF0_STRICT_ARRAY = 0x0a,
    AMF0_DATE = 0x0b,
    AMF0_LONG_STRING = 0x0c,
    AMF0_UNSUPPORTED = 0x0d,
    AMF0_XML_DOCUMENT = 0x0f,
    AMF0_TYPED_OBJECT = 0x10,
    AMF0_AVMPLUS = 0x11
} amf0_type_t;

typedef struct amf0_prop amf0_prop_t;

typedef struct amf0_value {
    amf0_type_t type; /* STRING for LONG_STRING/XML too; OBJECT for TYPED_OBJECT */
    double num;       /* NUMBER, DATE (ms), REFERENCE (index) */
    int boolean;      /* BOOLEAN */
    char *str;        /* STRING: owned, NUL-terminated */
    size_t str_len;
    amf0_prop_t *props; /* OBJECT, ECMA_ARRAY: owned array */
    size_t nprops;
    struct amf0_value *items; /* STRICT_ARRAY: owned array */
    size_t nitems;
} amf0_value_t;

struct amf0_prop {
    char *name; /* owned, NUL-terminated */
    size_t name_len;
    amf0_value_t value;
};

/* Decodes consecutive top-level values from src[0..len) into vals (at most
 * max_vals; further values are ignored, decoding stops there). An AVMPLUS
 * (0x11) marker switches to AMF3 for one value; AMF3 undefined, null, false,
 * true, integer, double and string map to the AMF0 types, other AMF3 types
 * fail. Returns 0 and sets *nvals, or NODE_EPROTO (NODE_ENOMEM if an
 * allocation failed) with *err a static string (vals then holds nothing the
 * caller must free). At most AMF0_MAX_DEPTH containers may nest (the
 * outermost counts as one). An ECMA array whose input ends exactly at a
 * property boundary is accepted without its 00 00 09 end marker (some
 * encoders omit it); an OBJECT must be terminated. */
/* 1 if err (from amf0_decode_all()) says a bound was hit (AMF0_MAX_DEPTH
 * or AMF0_MAX_NODES: input too large or too deep), 0 for malformed input or
 * out of memory. */
int amf0_err_is_bound(const char *err);

int amf0_decode_all(const uint8_t *src, size_t len, amf0_value_t *vals, size_t max_vals,
                    size_t *nvals, const char **err);

/* Frees what a value owns (not the value itself); NULL is a no-op. */
void amf0_value_free(amf0_value_t *v);
/* Frees n values' contents. */
void amf0_values_free(amf0_value_t *vals, size_t n);

/* Property of an OBJECT or ECMA_ARRAY by exact name, or NULL. */
const amf0_value_t *amf0_get(const amf0_value_t *obj, const char *name);
/* The value's string if it is a STRING, else NULL. */
const char *amf0_str(const amf0_value_t *v);
/* The value's number if it is a NUMBER, else dflt. */
double amf0_num(const amf0_value_t *v, double dflt);

/* Growable output buffer for the encoder. On allocation failure `oom` is set
 * and further puts are ignored; check it once at the end. `oom` is also set
 * when asked to write something AMF0 cannot express (a key over 0xffff
 * bytes, a string over 4 GB, an OBJECT_END or AVMPLUS value). */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
    int oom;
} amf0_buf_t;

void amf0_buf_init(amf0_buf_t *b);
void amf0_buf_free(amf0_buf_t *b);
void amf0_put_number(amf0_buf_t *b, double v);
void amf0_put_bool(amf0_buf_t *b, int v);
/* Writes STRING, or LONG_STRING when len > 0xffff. */
void amf0_put_string(amf0_buf_t *b, const char *s, size_t len);
void amf0_put_cstr(amf0_buf_t *b, const char *s);
void amf0_put_null(amf0_buf_t *b);
void amf0_put_undefined(amf0_buf_t *b);
void amf0_put_object_start(amf0_buf_t *b);
void amf0_put_ecma_start(amf0_buf_t *b, uint32_t count);
/* A property name inside an object or ECMA array (no type marker). */
void amf0_put_key(amf0_buf_t *b, const char *name);
/* Ends an object or ECMA array (00 00 09). */
void amf0_put_object_end(amf0_buf_t *b);
/* Re-encodes a decoded value (AMF3-sourced values are written as AMF0). */
void amf0_put_value(amf0_buf_t *b, const amf0_value_t *v);

#endif
