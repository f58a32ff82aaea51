/* Unit tests for node/codec/amf0.c: encoder bytes, round trips of every type,
 * real RTMP command payloads, AMF3 switch, and hostile input (truncation at
 * every offset, huge lengths, nesting and node limits, unknown markers). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "amf0.h"
#include "common.h"

/* Under AddressSanitizer, any single allocation above 64 MB aborts the test:
 * this is what proves that a claimed 4 GB length is rejected before the
 * decoder allocates. Unused in builds without ASan. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "max_allocation_size_mb=64:allocator_may_return_null=0";
}

/* A byte-string literal as (pointer, length), without the trailing NUL. */
#define BYTES(s) (const uint8_t *)(s), sizeof(s) - 1

/* Decodes from an exact-size heap copy so that ASan flags any over-read. */
static int decode(const uint8_t *src, size_t len, amf0_value_t *vals, size_t max_vals, size_t *n,
                  const char **err)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, src, len);
    *err = NULL;
    int rc = amf0_decode_all(copy, len, vals, max_vals, n, err);
    free(copy);
    return rc;
}

/* Decodes exactly one value, asserting success. */
static void decode_one(const uint8_t *src, size_t len, amf0_value_t *v)
{
    amf0_value_t vals[2];
    size_t n = 99;
    const char *err;
    int rc = decode(src, len, vals, 2, &n, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 1);
    *v = vals[0];
}

/* Decoding must fail with NODE_EPROTO and exactly this message. */
static void expect_fail(const uint8_t *src, size_t len, const char *msg)
{
    amf0_value_t vals[4];
    size_t n = 99;
    const char *err;
    int rc = decode(src, len, vals, 4, &n, &err);
    assert_int_equal(rc, NODE_EPROTO);
    assert_int_equal(n, 0);
    assert_non_null(err);
    assert_string_equal(err, msg);
}

static int value_equal(const amf0_value_t *a, const amf0_value_t *b);

static int props_equal(const amf0_value_t *a, const amf0_value_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const amf0_prop_t *pa = &a->props[i], *pb = &b->props[i];
        if (pa->name_len != pb->name_len || memcmp(pa->name, pb->name, pa->name_len) != 0)
            return 0;
        if (pa->name[pa->name_len] != '\0' || pb->name[pb->name_len] != '\0')
            return 0;
        if (!value_equal(&pa->value, &pb->value))
            return 0;
    }
    return 1;
}

/* Structural equality; numbers are compared bit for bit (NaN, -0). */
static int value_equal(const amf0_value_t *a, const amf0_value_t *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case AMF0_NUMBER:
    case AMF0_DATE:
    case AMF0_REFERENCE: return memcmp(&a->num, &b->num, sizeof a->num) == 0;
    case AMF0_BOOLEAN: return a->boolean == b->boolean;
    case AMF0_STRING:
        return a->str_len == b->str_len && a->str && b->str &&
               memcmp(a->str, b->str, a->str_len) == 0 && a->str[a->str_len] == '\0' &&
               b->str[b->str_len] == '\0';
    case AMF0_OBJECT:
    case AMF0_ECMA_ARRAY: return a->nprops == b->nprops && props_equal(a, b, a->nprops);
    case AMF0_STRICT_ARRAY:
        if (a->nitems != b->nitems)
            return 0;
        for (size_t i = 0; i < a->nitems; i++)
            if (!value_equal(&a->items[i], &b->items[i]))
                return 0;
        return 1;
    default: return 1;
    }
}

/* Encodes v with amf0_put_value, decodes the bytes and checks the result
 * equals v; returns the encoding's first byte (its marker). */
static uint8_t round_trip(const amf0_value_t *v)
{
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_value(&b, v);
    assert_false(b.oom);
    assert_true(b.len > 0);
    amf0_value_t out;
    decode_one(b.data, b.len, &out);
    assert_true(value_equal(v, &out));
    uint8_t marker = b.data[0];
    amf0_value_free(&out);
    amf0_buf_free(&b);
    return marker;
}

static void expect_bytes(const amf0_buf_t *b, const uint8_t *want, size_t len)
{
    assert_false(b->oom);
    assert_int_equal(b->len, len);
    assert_memory_equal(b->data, want, len);
}

/* Appends raw bytes to an encoder buffer (for markers the API has no
 * writer for). The buffer grows by doubling, as the encoder's own does: a
 * realloc per call made the 100000-level input of test_depth_limit cost
 * tens of GB of copies under ASan (about 100 s). */
static void put_raw(amf0_buf_t *b, const void *p, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len < n)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        assert_non_null(d);
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* ---- encoder ---- */

static void test_encode_bytes(void **state)
{
    (void)state;
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_number(&b, 1.0);
    amf0_put_number(&b, -2000.0);
    amf0_put_bool(&b, 1);
    amf0_put_bool(&b, 7);
    amf0_put_bool(&b, 0);
    amf0_put_cstr(&b, "ab");
    amf0_put_null(&b);
    amf0_put_undefined(&b);
    amf0_put_object_start(&b);
    amf0_put_key(&b, "k");
    amf0_put_string(&b, "x\0y", 3);
    amf0_put_object_end(&b);
    amf0_put_ecma_start(&b, 0x01020304);
    amf0_put_object_end(&b);
    expect_bytes(&b, BYTES("\x00\x3f\xf0\x00\x00\x00\x00\x00\x00"
                           "\x00\xc0\x9f\x40\x00\x00\x00\x00\x00"
                           "\x01\x01"
                           "\x01\x01"
                           "\x01\x00"
                           "\x02\x00\x02"
                           "ab"
                           "\x05"
                           "\x06"
                           "\x03"
                           "\x00\x01"
                           "k"
                           "\x02\x00\x03"
                           "x\0y"
                           "\x00\x00\x09"
                           "\x08\x01\x02\x03\x04"
                           "\x00\x00\x09"));
    amf0_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_put_string_long_boundary(void **state)
{
    (void)state;
    size_t sizes[2] = {0xffff, 0x10000};
    for (int i = 0; i < 2; i++) {
        size_t len = sizes[i];
        char *s = malloc(len);
        assert_non_null(s);
        for (size_t j = 0; j < len; j++)
            s[j] = (char)('a' + j % 26);
        amf0_buf_t b;
        amf0_buf_init(&b);
        amf0_put_string(&b, s, len);
        assert_false(b.oom);
        if (len <= 0xffff) {
            assert_int_equal(b.len, 3 + len);
            assert_memory_equal(b.data, "\x02\xff\xff", 3);
        } else {
            assert_int_equal(b.len, 5 + len);
            assert_memory_equal(b.data, "\x0c\x00\x01\x00\x00", 5);
        }
        amf0_value_t v;
        decode_one(b.data, b.len, &v);
        assert_int_equal(v.type, AMF0_STRING);
        assert_int_equal(v.str_len, len);
        assert_memory_equal(v.str, s, len);
        assert_int_equal(v.str[len], '\0');
        /* Re-encoding picks the marker by length again. */
        assert_int_equal(round_trip(&v), len <= 0xffff ? AMF0_STRING : AMF0_LONG_STRING);
        amf0_value_free(&v);
        amf0_buf_free(&b);
        free(s);
    }
}

static void test_put_unencodable_sets_oom(void **state)
{
    (void)state;
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_value_t end = {.type = AMF0_OBJECT_END};
    amf0_put_value(&b, &end);
    assert_true(b.oom);
    amf0_put_null(&b);
    assert_int_equal(b.len, 0); /* later puts are ignored */
    amf0_buf_free(&b);

    amf0_buf_init(&b);
    amf0_value_t ref = {.type = AMF0_REFERENCE, .num = 70000};
    amf0_put_value(&b, &ref);
    assert_true(b.oom);
    amf0_buf_free(&b);

    amf0_buf_init(&b);
    char *key = malloc(0x10001);
    assert_non_null(key);
    memset(key, 'k', 0x10000);
    key[0x10000] = '\0';
    amf0_put_object_start(&b);
    amf0_put_key(&b, key);
    assert_true(b.oom);
    free(key);
    amf0_buf_free(&b);
}

/* ---- round trips ---- */

static void test_round_trip_numbers(void **state)
{
    (void)state;
    const double nums[] = {0.0,     -0.0,    1.0,      -1.5,      123456.789, -1e-300,
                           DBL_MAX, DBL_MIN, INFINITY, -INFINITY, NAN,        4294967296.0};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        amf0_value_t v = {.type = AMF0_NUMBER, .num = nums[i]};
        assert_int_equal(round_trip(&v), AMF0_NUMBER);
    }
    /* The wire form is big-endian IEEE-754. */
    amf0_value_t v;
    decode_one(BYTES("\x00\x40\x94\x00\x00\x00\x00\x00\x00"), &v);
    assert_int_equal(v.type, AMF0_NUMBER);
    assert_true(v.num == 1280.0);
    amf0_value_free(&v);
}

static void test_round_trip_scalars(void **state)
{
    (void)state;
    amf0_value_t t = {.type = AMF0_BOOLEAN, .boolean = 1};
    amf0_value_t f = {.type = AMF0_BOOLEAN, .boolean = 0};
    amf0_value_t null = {.type = AMF0_NULL};
    amf0_value_t undef = {.type = AMF0_UNDEFINED};
    amf0_value_t unsup = {.type = AMF0_UNSUPPORTED};
    assert_int_equal(round_trip(&t), AMF0_BOOLEAN);
    assert_int_equal(round_trip(&f), AMF0_BOOLEAN);
    assert_int_equal(round_trip(&null), AMF0_NULL);
    assert_int_equal(round_trip(&undef), AMF0_UNDEFINED);
    assert_int_equal(round_trip(&unsup), AMF0_UNSUPPORTED);

    /* Any non-zero boolean byte decodes as true. */
    amf0_value_t v;
    decode_one(BYTES("\x01\x7f"), &v);
    assert_int_equal(v.type, AMF0_BOOLEAN);
    assert_int_equal(v.boolean, 1);
    amf0_value_free(&v);
}

static void test_round_trip_strings(void **state)
{
    (void)state;
    char empty[] = "";
    char nul[] = "a\0b";
    char utf8[] = "caf\xc3\xa9 \xe6\x97\xa5";
    amf0_value_t vs[] = {
        {.type = AMF0_STRING, .str = empty, .str_len = 0},
        {.type = AMF0_STRING, .str = nul, .str_len = 3},
        {.type = AMF0_STRING, .str = utf8, .str_len = sizeof utf8 - 1},
    };
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(round_trip(&vs[i]), AMF0_STRING);

    amf0_value_t v;
    decode_one(BYTES("\x02\x00\x00"), &v);
    assert_non_null(amf0_str(&v)); /* empty is "", not NULL */
    assert_string_equal(amf0_str(&v), "");
    amf0_value_free(&v);

    decode_one(BYTES("\x02\x00\x03"
                     "a\0b"),
               &v);
    assert_int_equal(v.str_len, 3);
    assert_memory_equal(v.str, "a\0b", 4);
    amf0_value_free(&v);
}

static void test_round_trip_containers(void **state)
{
    (void)state;
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_object_start(&b);
    amf0_put_key(&b, "a");
    amf0_put_number(&b, 1.0);
    amf0_put_key(&b, "inner");
    amf0_put_object_start(&b);
    amf0_put_key(&b, "c");
    amf0_put_cstr(&b, "x");
    amf0_put_object_end(&b);
    amf0_put_key(&b, "meta");
    amf0_put_ecma_start(&b, 2);
    amf0_put_key(&b, "w");
    amf0_put_number(&b, 640.0);
    amf0_put_key(&b, "s");
    amf0_put_bool(&b, 1);
    amf0_put_object_end(&b);
    amf0_put_key(&b, "list");
    put_raw(&b, "\x0a\x00\x00\x00\x03", 5);
    amf0_put_number(&b, 3.0);
    amf0_put_null(&b);
    amf0_put_cstr(&b, "z");
    amf0_put_key(&b, "empty");
    put_raw(&b, "\x0a\x00\x00\x00\x00", 5);
    amf0_put_key(&b, "e");
    amf0_put_null(&b);
    amf0_put_object_end(&b);
    assert_false(b.oom);

    amf0_value_t v;
    decode_one(b.data, b.len, &v);
    assert_int_equal(v.type, AMF0_OBJECT);
    assert_int_equal(v.nprops, 6);
    assert_true(amf0_num(amf0_get(&v, "a"), -1) == 1.0);
    const amf0_value_t *inner = amf0_get(&v, "inner");
    assert_non_null(inner);
    assert_int_equal(inner->type, AMF0_OBJECT);
    assert_string_equal(amf0_str(amf0_get(inner, "c")), "x");
    const amf0_value_t *meta = amf0_get(&v, "meta");
    assert_non_null(meta);
    assert_int_equal(meta->type, AMF0_ECMA_ARRAY);
    assert_true(amf0_num(amf0_get(meta, "w"), -1) == 640.0);
    assert_int_equal(amf0_get(meta, "s")->boolean, 1);
    const amf0_value_t *list = amf0_get(&v, "list");
    assert_non_null(list);
    assert_int_equal(list->type, AMF0_STRICT_ARRAY);
    assert_int_equal(list->nitems, 3);
    assert_true(list->items[0].num == 3.0);
    assert_int_equal(list->items[1].type, AMF0_NULL);
    assert_string_equal(amf0_str(&list->items[2]), "z");
    assert_int_equal(amf0_get(&v, "empty")->type, AMF0_STRICT_ARRAY);
    assert_int_equal(amf0_get(&v, "empty")->nitems, 0);
    assert_int_equal(amf0_get(&v, "e")->type, AMF0_NULL);

    /* Canonical input re-encodes to the same bytes. */
    amf0_buf_t b2;
    amf0_buf_init(&b2);
    amf0_put_value(&b2, &v);
    expect_bytes(&b2, b.data, b.len);
    assert_int_equal(round_trip(&v), AMF0_OBJECT);
    amf0_buf_free(&b2);
    amf0_value_free(&v);
    assert_int_equal(v.nprops, 0); /* freeing zeroes the value */
    assert_null(v.props);
    amf0_buf_free(&b);
}

static void test_empty_key_property(void **state)
{
    (void)state;
    amf0_value_t v;
    decode_one(BYTES("\x03\x00\x00\x05\x00\x00\x09"), &v);
    assert_int_equal(v.type, AMF0_OBJECT);
    assert_int_equal(v.nprops, 1);
    assert_int_equal(v.props[0].name_len, 0);
    assert_string_equal(v.props[0].name, "");
    assert_int_equal(amf0_get(&v, "")->type, AMF0_NULL);
    assert_int_equal(round_trip(&v), AMF0_OBJECT);
    amf0_value_free(&v);
}

static void test_decode_date(void **state)
{
    (void)state;
    amf0_value_t v;
    /* 1.7e12 ms, time zone -60 (ignored). */
    decode_one(BYTES("\x0b\x42\x78\xbc\xfe\x56\x80\x00\x00\xff\xc4"), &v);
    assert_int_equal(v.type, AMF0_DATE);
    assert_true(v.num == 1.7e12);
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_value(&b, &v);
    expect_bytes(&b, BYTES("\x0b\x42\x78\xbc\xfe\x56\x80\x00\x00\x00\x00"));
    assert_int_equal(round_trip(&v), AMF0_DATE);
    amf0_buf_free(&b);
    amf0_value_free(&v);
}

static void test_decode_reference(void **state)
{
    (void)state;
    amf0_value_t v;
    decode_one(BYTES("\x07\x01\x05"), &v);
    assert_int_equal(v.type, AMF0_REFERENCE);
    assert_true(v.num == 261.0);
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_value(&b, &v);
    expect_bytes(&b, BYTES("\x07\x01\x05"));
    amf0_buf_free(&b);
    amf0_value_free(&v);
}

static void test_decode_long_string_and_xml(void **state)
{
    (void)state;
    amf0_value_t v;
    decode_one(BYTES("\x0c\x00\x00\x00\x03"
                     "abc"),
               &v);
    assert_int_equal(v.type, AMF0_STRING);
    assert_string_equal(amf0_str(&v), "abc");
    assert_int_equal(v.str_len, 3);
    /* A short value is re-encoded as a plain STRING. */
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_value(&b, &v);
    expect_bytes(&b, BYTES("\x02\x00\x03"
                           "abc"));
    amf0_buf_free(&b);
    amf0_value_free(&v);

    decode_one(BYTES("\x0f\x00\x00\x00\x04"
                     "<a/>"),
               &v);
    assert_int_equal(v.type, AMF0_STRING);
    assert_string_equal(amf0_str(&v), "<a/>");
    assert_int_equal(round_trip(&v), AMF0_STRING);
    amf0_value_free(&v);

    /* Caller-built LONG_STRING / XML values keep their marker. */
    char s[] = "hi";
    amf0_value_t ls = {.type = AMF0_LONG_STRING, .str = s, .str_len = 2};
    amf0_value_t xml = {.type = AMF0_XML_DOCUMENT, .str = s, .str_len = 2};
    amf0_buf_init(&b);
    amf0_put_value(&b, &ls);
    amf0_put_value(&b, &xml);
    expect_bytes(&b, BYTES("\x0c\x00\x00\x00\x02"
                           "hi"
                           "\x0f\x00\x00\x00\x02"
                           "hi"));
    amf0_buf_free(&b);
}

static void test_decode_typed_object(void **state)
{
    (void)state;
    amf0_value_t v;
    decode_one(BYTES("\x10\x00\x03"
                     "Foo"
                     "\x00\x01"
                     "x"
                     "\x00\x3f\xf0\x00\x00\x00\x00\x00\x00"
                     "\x00\x00\x09"),
               &v);
    assert_int_equal(v.type, AMF0_OBJECT);
    assert_int_equal(v.nprops, 1);
    assert_true(amf0_num(amf0_get(&v, "x"), 0) == 1.0);
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_value(&b, &v);
    expect_bytes(&b, BYTES("\x03\x00\x01"
                           "x"
                           "\x00\x3f\xf0\x00\x00\x00\x00\x00\x00"
                           "\x00\x00\x09"));
    amf0_buf_free(&b);
    amf0_value_free(&v);
}

/* ---- real RTMP payloads ---- */

/* "connect" as sent by librtmp / ffmpeg for a player. */
static const char CONNECT[] = "\x02\x00\x07"
                              "connect"
                              "\x00\x3f\xf0\x00\x00\x00\x00\x00\x00" /* 1.0 */
                              "\x03"
                              "\x00\x03"
                              "app"
                              "\x02\x00\x04"
                              "live"
                              "\x00\x08"
                              "flashVer"
                              "\x02\x00\x0d"
                              "LNX 9,0,124,2"
                              "\x00\x05"
                              "tcUrl"
                              "\x02\x00\x1a"
                              "rtmp://127.0.0.1:1935/live"
                              "\x00\x04"
                              "fpad"
                              "\x01\x00"
                              "\x00\x0c"
                              "capabilities"
                              "\x00\x40\x2e\x00\x00\x00\x00\x00\x00" /* 15.0 */
                              "\x00\x0b"
                              "audioCodecs"
                              "\x00\x40\xaf\xce\x00\x00\x00\x00\x00" /* 4071.0 */
                              "\x00\x0b"
                              "videoCodecs"
                              "\x00\x40\x6f\x80\x00\x00\x00\x00\x00" /* 252.0 */
                              "\x00\x0d"
                              "videoFunction"
                              "\x00\x3f\xf0\x00\x00\x00\x00\x00\x00" /* 1.0 */
                              "\x00\x0e"
                              "objectEncoding"
                              "\x00\x00\x00\x00\x00\x00\x00\x00\x00" /* 0.0 */
                              "\x00\x00\x09";

static void test_connect_command(void **state)
{
    (void)state;
    amf0_value_t vals[8];
    size_t n;
    const char *err;
    assert_int_equal(decode(BYTES(CONNECT), vals, 8, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(amf0_str(&vals[0]), "connect");
    assert_true(amf0_num(&vals[1], -1) == 1.0);
    const amf0_value_t *o = &vals[2];
    assert_int_equal(o->type, AMF0_OBJECT);
    assert_int_equal(o->nprops, 9);
    assert_string_equal(amf0_str(amf0_get(o, "app")), "live");
    assert_string_equal(amf0_str(amf0_get(o, "flashVer")), "LNX 9,0,124,2");
    assert_string_equal(amf0_str(amf0_get(o, "tcUrl")), "rtmp://127.0.0.1:1935/live");
    const amf0_value_t *fpad = amf0_get(o, "fpad");
    assert_non_null(fpad);
    assert_int_equal(fpad->type, AMF0_BOOLEAN);
    assert_int_equal(fpad->boolean, 0);
    assert_true(amf0_num(amf0_get(o, "capabilities"), -1) == 15.0);
    assert_true(amf0_num(amf0_get(o, "audioCodecs"), -1) == 4071.0);
    assert_true(amf0_num(amf0_get(o, "videoCodecs"), -1) == 252.0);
    assert_true(amf0_num(amf0_get(o, "videoFunction"), -1) == 1.0);
    assert_true(amf0_num(amf0_get(o, "objectEncoding"), -1) == 0.0);
    assert_null(amf0_get(o, "pageUrl"));
    assert_null(amf0_get(o, "ap")); /* exact names only */
    assert_null(amf0_str(amf0_get(o, "fpad")));

    /* Re-encoding the three values reproduces the payload exactly. */
    amf0_buf_t b;
    amf0_buf_init(&b);
    for (size_t i = 0; i < n; i++)
        amf0_put_value(&b, &vals[i]);
    expect_bytes(&b, BYTES(CONNECT));
    amf0_buf_free(&b);
    amf0_values_free(vals, n);

    /* max_vals stops decoding early without error. */
    assert_int_equal(decode(BYTES(CONNECT), vals, 2, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(amf0_str(&vals[0]), "connect");
    assert_true(amf0_num(&vals[1], -1) == 1.0);
    amf0_values_free(vals, n);
}

static void test_publish_and_play_commands(void **state)
{
    (void)state;
    amf0_value_t vals[8];
    size_t n;
    const char *err;
    assert_int_equal(decode(BYTES("\x02\x00\x07"
                                  "publish"
                                  "\x00\x40\x14\x00\x00\x00\x00\x00\x00"
                                  "\x05"
                                  "\x02\x00\x06"
                                  "stream"
                                  "\x02\x00\x04"
                                  "live"),
                            vals, 8, &n, &err),
                     0);
    assert_int_equal(n, 5);
    assert_string_equal(amf0_str(&vals[0]), "publish");
    assert_true(amf0_num(&vals[1], 0) == 5.0);
    assert_int_equal(vals[2].type, AMF0_NULL);
    assert_string_equal(amf0_str(&vals[3]), "stream");
    assert_string_equal(amf0_str(&vals[4]), "live");
    amf0_values_free(vals, n);

    assert_int_equal(decode(BYTES("\x02\x00\x04"
                                  "play"
                                  "\x00\x40\x10\x00\x00\x00\x00\x00\x00"
                                  "\x05"
                                  "\x02\x00\x06"
                                  "stream"
                                  "\x00\xc0\x9f\x40\x00\x00\x00\x00\x00"),
                            vals, 8, &n, &err),
                     0);
    assert_int_equal(n, 5);
    assert_string_equal(amf0_str(&vals[0]), "play");
    assert_true(amf0_num(&vals[1], 0) == 4.0);
    assert_string_equal(amf0_str(&vals[3]), "stream");
    assert_true(amf0_num(&vals[4], 0) == -2000.0);
    amf0_values_free(vals, n);
}

/* onMetaData as written by ffmpeg's FLV muxer: the ECMA count (8) matches. */
#define METADATA_PROPS                                                                             \
    "\x00\x08"                                                                                     \
    "duration"                                                                                     \
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00"                                                         \
    "\x00\x05"                                                                                     \
    "width"                                                                                        \
    "\x00\x40\x94\x00\x00\x00\x00\x00\x00"                                                         \
    "\x00\x06"                                                                                     \
    "height"                                                                                       \
    "\x00\x40\x86\x80\x00\x00\x00\x00\x00"                                                         \
    "\x00\x0c"                                                                                     \
    "videocodecid"                                                                                 \
    "\x00\x40\x1c\x00\x00\x00\x00\x00\x00"                                                         \
    "\x00\x0c"                                                                                     \
    "audiocodecid"                                                                                 \
    "\x00\x40\x24\x00\x00\x00\x00\x00\x00"                                                         \
    "\x00\x07"                                                                                     \
    "encoder"                                                                                      \
    "\x02\x00\x0d"                                                                                 \
    "Lavf60.16.100"                                                                                \
    "\x00\x06"                                                                                     \
    "stereo"                                                                                       \
    "\x01\x01"                                                                                     \
    "\x00\x08"                                                                                     \
    "filesize"                                                                                     \
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00"

static void check_metadata(const amf0_value_t *vals, size_t n)
{
    assert_int_equal(n, 2);
    assert_string_equal(amf0_str(&vals[0]), "onMetaData");
    const amf0_value_t *m = &vals[1];
    assert_int_equal(m->type, AMF0_ECMA_ARRAY);
    assert_int_equal(m->nprops, 8);
    assert_true(amf0_num(amf0_get(m, "duration"), -1) == 0.0);
    assert_true(amf0_num(amf0_get(m, "width"), -1) == 1280.0);
    assert_true(amf0_num(amf0_get(m, "height"), -1) == 720.0);
    assert_true(amf0_num(amf0_get(m, "videocodecid"), -1) == 7.0);
    assert_true(amf0_num(amf0_get(m, "audiocodecid"), -1) == 10.0);
    assert_string_equal(amf0_str(amf0_get(m, "encoder")), "Lavf60.16.100");
    assert_int_equal(amf0_get(m, "stereo")->type, AMF0_BOOLEAN);
    assert_int_equal(amf0_get(m, "stereo")->boolean, 1);
    assert_true(amf0_num(amf0_get(m, "filesize"), -1) == 0.0);
    assert_true(amf0_num(amf0_get(m, "framerate"), -1) == -1);
}

static void test_onmetadata_ecma(void **state)
{
    (void)state;
    amf0_value_t vals[4];
    size_t n;
    const char *err;
    static const char META[] = "\x02\x00\x0a"
                               "onMetaData"
                               "\x08\x00\x00\x00\x08" METADATA_PROPS "\x00\x00\x09";
    assert_int_equal(decode(BYTES(META), vals, 4, &n, &err), 0);
    check_metadata(vals, n);
    amf0_buf_t b;
    amf0_buf_init(&b);
    for (size_t i = 0; i < n; i++)
        amf0_put_value(&b, &vals[i]);
    expect_bytes(&b, BYTES(META));
    amf0_buf_free(&b);
    amf0_values_free(vals, n);

    /* The count is advisory: a wrong one changes nothing. */
    assert_int_equal(decode(BYTES("\x02\x00\x0a"
                                  "onMetaData"
                                  "\x08\x00\x00\x00\x00" METADATA_PROPS "\x00\x00\x09"),
                            vals, 4, &n, &err),
                     0);
    check_metadata(vals, n);
    amf0_values_free(vals, n);

    /* A missing end marker at end of input is tolerated for ECMA arrays. */
    assert_int_equal(decode(BYTES("\x02\x00\x0a"
                                  "onMetaData"
                                  "\x08\x00\x00\x00\x08" METADATA_PROPS),
                            vals, 4, &n, &err),
                     0);
    check_metadata(vals, n);
    amf0_values_free(vals, n);
}

static void test_object_requires_end_marker(void **state)
{
    (void)state;
    expect_fail(BYTES("\x03\x00\x01"
                      "a"
                      "\x05"),
                "amf0: truncated value");
    /* Only the exact end of input excuses an ECMA array: a half marker does
     * not. */
    expect_fail(BYTES("\x08\x00\x00\x00\x01\x00\x01"
                      "a"
                      "\x05\x00\x00"),
                "amf0: truncated value");
    expect_fail(BYTES("\x08\x00\x00\x00\x01\x00\x01"
                      "a"
                      "\x05\x00"),
                "amf0: truncated value");
    /* Inside an object, a nested ECMA array cut at end of input still
     * leaves the object unterminated. */
    expect_fail(BYTES("\x03\x00\x01"
                      "m"
                      "\x08\x00\x00\x00\x00"),
                "amf0: truncated value");
}

/* ---- malformed input ---- */

typedef struct {
    uint8_t *data;
    size_t len;
    size_t top[16]; /* offsets where top-level values end */
    size_t ntop;
    size_t ecma[8]; /* offsets inside the last (ECMA) value at property ends */
    size_t necma;
} payload_t;

/* A multi-value payload covering every marker; the last value is an ECMA
 * array so that truncation at its property boundaries is also exercised. */
static void build_payload(payload_t *p)
{
    amf0_buf_t b;
    amf0_buf_init(&b);
    memset(p, 0, sizeof *p);
    amf0_put_cstr(&b, "publish");
    p->top[p->ntop++] = b.len;
    amf0_put_number(&b, 5.0);
    p->top[p->ntop++] = b.len;
    amf0_put_null(&b);
    p->top[p->ntop++] = b.len;
    amf0_put_undefined(&b);
    p->top[p->ntop++] = b.len;
    amf0_put_bool(&b, 1);
    p->top[p->ntop++] = b.len;
    put_raw(&b, "\x0c\x00\x00\x00\x02hi", 7);
    p->top[p->ntop++] = b.len;
    put_raw(&b, "\x0f\x00\x00\x00\x03<a>", 8);
    p->top[p->ntop++] = b.len;
    put_raw(&b, "\x0b\x42\x78\xbc\xfe\x56\x80\x00\x00\x00\x00", 11);
    p->top[p->ntop++] = b.len;
    put_raw(&b, "\x07\x00\x02", 3);
    p->top[p->ntop++] = b.len;
    put_raw(&b, "\x11\x04\x81\x00", 4);
    p->top[p->ntop++] = b.len;
    put_raw(&b, "\x11\x06\x07xyz", 6);
    p->top[p->ntop++] = b.len;
    put_raw(&b, "\x0d", 1);
    p->top[p->ntop++] = b.len;
    amf0_put_object_start(&b);
    amf0_put_key(&b, "name");
    amf0_put_cstr(&b, "stream");
    amf0_put_key(&b, "list");
    put_raw(&b, "\x0a\x00\x00\x00\x02", 5);
    amf0_put_number(&b, 1.0);
    put_raw(&b, "\x10\x00\x01K\x00\x01k\x05\x00\x00\x09", 11);
    amf0_put_key(&b, "m");
    amf0_put_ecma_start(&b, 1);
    amf0_put_key(&b, "q");
    amf0_put_bool(&b, 0);
    amf0_put_object_end(&b);
    amf0_put_object_end(&b);
    p->top[p->ntop++] = b.len;
    amf0_put_ecma_start(&b, 3);
    p->ecma[p->necma++] = b.len;
    amf0_put_key(&b, "duration");
    amf0_put_number(&b, 10.0);
    p->ecma[p->necma++] = b.len;
    amf0_put_key(&b, "width");
    amf0_put_number(&b, 640.0);
    p->ecma[p->necma++] = b.len;
    amf0_put_key(&b, "encoder");
    amf0_put_cstr(&b, "Lavf");
    p->ecma[p->necma++] = b.len;
    amf0_put_object_end(&b);
    p->top[p->ntop++] = b.len;
    assert_false(b.oom);
    p->data = b.data;
    p->len = b.len;
}

static int index_of(const size_t *offs, size_t n, size_t k)
{
    for (size_t i = 0; i < n; i++)
        if (offs[i] == k)
            return (int)i;
    return -1;
}

static void test_truncated_every_offset(void **state)
{
    (void)state;
    payload_t p;
    build_payload(&p);
    amf0_value_t full[16], vals[16];
    size_t nfull, n;
    const char *err;
    assert_int_equal(decode(p.data, p.len, full, 16, &nfull, &err), 0);
    assert_int_equal(nfull, p.ntop);
    size_t ok = 0, failed = 0;
    for (size_t k = 0; k < p.len; k++) {
        int rc = decode(p.data, k, vals, 16, &n, &err);
        int top = k == 0 ? -2 : index_of(p.top, p.ntop, k);
        int ecma = index_of(p.ecma, p.necma, k);
        if (top != -1) {
            /* Cut between values: the complete ones decode. */
            size_t want = top == -2 ? 0 : (size_t)top + 1;
            assert_int_equal(rc, 0);
            assert_int_equal(n, want);
            for (size_t i = 0; i < n; i++)
                assert_true(value_equal(&vals[i], &full[i]));
            ok++;
        } else if (ecma != -1) {
            /* Cut between properties of the trailing ECMA array. */
            assert_int_equal(rc, 0);
            assert_int_equal(n, nfull);
            for (size_t i = 0; i + 1 < n; i++)
                assert_true(value_equal(&vals[i], &full[i]));
            const amf0_value_t *last = &vals[n - 1];
            assert_int_equal(last->type, AMF0_ECMA_ARRAY);
            assert_int_equal(last->nprops, (size_t)ecma);
            assert_true(props_equal(last, &full[n - 1], (size_t)ecma));
            ok++;
        } else {
            assert_int_equal(rc, NODE_EPROTO);
            assert_int_equal(n, 0);
            assert_non_null(err);
            failed++;
        }
        amf0_values_free(vals, n);
    }
    assert_int_equal(ok, p.ntop + p.necma); /* k = 0 and the ntop - 1 inner ends */
    assert_true(failed > 100);
    amf0_values_free(full, nfull);
    free(p.data);
}

static void test_failure_frees_and_clears(void **state)
{
    (void)state;
    amf0_value_t vals[4];
    memset(vals, 0xa5, sizeof vals);
    size_t n = 99;
    const char *err;
    /* Two good values, then an object that fails deep inside. */
    int rc = decode(BYTES("\x02\x00\x03"
                          "abc"
                          "\x0a\x00\x00\x00\x01\x02\x00\x01z"
                          "\x03\x00\x01"
                          "a"
                          "\x03\x00\x01"
                          "b"
                          "\x02\x00\x09"
                          "x"),
                    vals, 4, &n, &err);
    assert_int_equal(rc, NODE_EPROTO);
    assert_int_equal(n, 0);
    assert_string_equal(err, "amf0: length exceeds input");
    for (int i = 0; i < 3; i++) {
        assert_null(vals[i].str);
        assert_null(vals[i].props);
        assert_null(vals[i].items);
        assert_int_equal(vals[i].nprops, 0);
        assert_int_equal(vals[i].nitems, 0);
    }
}

static void test_huge_lengths(void **state)
{
    (void)state;
    /* Each claims far more than the input holds (up to 4 GB). */
    expect_fail(BYTES("\x02\xff\xff"
                      "abcdefg"),
                "amf0: length exceeds input");
    expect_fail(BYTES("\x0c\xff\xff\xff\xff"
                      "abcde"),
                "amf0: length exceeds input");
    expect_fail(BYTES("\x0f\xff\xff\xff\xfe"
                      "abcde"),
                "amf0: length exceeds input");
    expect_fail(BYTES("\x03\xff\xff"
                      "abcdefg"),
                "amf0: length exceeds input");
    expect_fail(BYTES("\x10\xff\xff"
                      "Foo\x00\x00\x09"),
                "amf0: length exceeds input");
    expect_fail(BYTES("\x0a\xff\xff\xff\xff\x05\x05\x05"),
                "amf0: strict array count exceeds input");
    expect_fail(BYTES("\x0a\x00\x00\x00\x04\x05\x05\x05"),
                "amf0: strict array count exceeds input");
    expect_fail(BYTES("\x11\x06\xff\xff\xff\xff"
                      "abc"),
                "amf0: length exceeds input");
    expect_fail(BYTES("\x02\x00\x04"
                      "abc"),
                "amf0: length exceeds input");

    /* An ECMA count is advisory, so a huge one is harmless. */
    amf0_value_t v;
    decode_one(BYTES("\x08\xff\xff\xff\xff\x00\x00\x09"), &v);
    assert_int_equal(v.type, AMF0_ECMA_ARRAY);
    assert_int_equal(v.nprops, 0);
    amf0_value_free(&v);
}

static void test_truncated_fixed_fields(void **state)
{
    (void)state;
    expect_fail(BYTES("\x00\x3f\xf0\x00\x00\x00\x00\x00"), "amf0: truncated value");
    expect_fail(BYTES("\x01"), "amf0: truncated value");
    expect_fail(BYTES("\x02\x00"), "amf0: truncated value");
    expect_fail(BYTES("\x0c\x00\x00\x00"), "amf0: truncated value");
    expect_fail(BYTES("\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00"), "amf0: truncated value");
    expect_fail(BYTES("\x07\x00"), "amf0: truncated value");
    expect_fail(BYTES("\x08\x00\x00\x00"), "amf0: truncated value");
    expect_fail(BYTES("\x0a\x00\x00"), "amf0: truncated value");
    expect_fail(BYTES("\x10\x00"), "amf0: truncated value");
    expect_fail(BYTES("\x03\x00"), "amf0: truncated value");
    expect_fail(BYTES("\x03"), "amf0: truncated value");
}

/* `depth` nested containers of one kind: 'o' object, 'e' ECMA, 'a' strict. */
static void build_nested(amf0_buf_t *b, unsigned depth, char kind)
{
    amf0_buf_init(b);
    for (unsigned i = 0; i < depth; i++) {
        int last = i + 1 == depth;
        switch (kind) {
        case 'o':
            amf0_put_object_start(b);
            if (!last)
                amf0_put_key(b, "a");
            break;
        case 'e':
            amf0_put_ecma_start(b, last ? 0 : 1);
            if (!last)
                amf0_put_key(b, "a");
            break;
        default: put_raw(b, last ? "\x0a\x00\x00\x00\x00" : "\x0a\x00\x00\x00\x01", 5); break;
        }
    }
    if (kind != 'a')
        for (unsigned i = 0; i < depth; i++)
            amf0_put_object_end(b);
    assert_false(b->oom);
}

static void test_depth_limit(void **state)
{
    (void)state;
    const char kinds[] = {'o', 'e', 'a'};
    for (int k = 0; k < 3; k++) {
        unsigned depths[] = {AMF0_MAX_DEPTH - 1, AMF0_MAX_DEPTH};
        for (int i = 0; i < 2; i++) {
            amf0_buf_t b;
            build_nested(&b, depths[i], kinds[k]);
            amf0_value_t v;
            decode_one(b.data, b.len, &v);
            /* Walk down to count the levels actually decoded. */
            unsigned levels = 0;
            const amf0_value_t *cur = &v;
            for (;;) {
                levels++;
                if (cur->nprops)
                    cur = &cur->props[0].value;
                else if (cur->nitems)
                    cur = &cur->items[0];
                else
                    break;
            }
            assert_int_equal(levels, depths[i]);
            assert_int_equal(round_trip(&v), kinds[k] == 'o'   ? AMF0_OBJECT
                                             : kinds[k] == 'e' ? AMF0_ECMA_ARRAY
                                                               : AMF0_STRICT_ARRAY);
            amf0_value_free(&v);
            amf0_buf_free(&b);
        }
        amf0_buf_t b;
        build_nested(&b, AMF0_MAX_DEPTH + 1, kinds[k]);
        expect_fail(b.data, b.len, "amf0: nesting too deep");
        amf0_buf_free(&b);
    }
    /* Far deeper input fails the same way without exhausting the stack. */
    amf0_buf_t b;
    build_nested(&b, 100000, 'a');
    expect_fail(b.data, b.len, "amf0: nesting too deep");
    amf0_buf_free(&b);
}

static void test_node_limit(void **state)
{
    (void)state;
    /* A strict array of k nulls is k + 1 values. */
    size_t counts[] = {AMF0_MAX_NODES - 1, AMF0_MAX_NODES};
    for (int i = 0; i < 2; i++) {
        amf0_buf_t b;
        amf0_buf_init(&b);
        uint8_t hdr[5] = {AMF0_STRICT_ARRAY};
        wr_be32(hdr + 1, (uint32_t)counts[i]);
        put_raw(&b, hdr, 5);
        for (size_t j = 0; j < counts[i]; j++)
            amf0_put_null(&b);
        if (i == 0) {
            amf0_value_t v;
            decode_one(b.data, b.len, &v);
            assert_int_equal(v.nitems, AMF0_MAX_NODES - 1);
            assert_int_equal(v.items[AMF0_MAX_NODES - 2].type, AMF0_NULL);
            amf0_value_free(&v);
        } else {
            expect_fail(b.data, b.len, "amf0: too many values");
        }
        amf0_buf_free(&b);
    }

    /* An object of k null properties, likewise. */
    for (int i = 0; i < 2; i++) {
        amf0_buf_t b;
        amf0_buf_init(&b);
        amf0_put_object_start(&b);
        for (size_t j = 0; j < counts[i]; j++) {
            amf0_put_key(&b, "n");
            amf0_put_null(&b);
        }
        amf0_put_object_end(&b);
        if (i == 0) {
            amf0_value_t v;
            decode_one(b.data, b.len, &v);
            assert_int_equal(v.nprops, AMF0_MAX_NODES - 1);
            amf0_value_free(&v);
        } else {
            expect_fail(b.data, b.len, "amf0: too many values");
        }
        amf0_buf_free(&b);
    }

    /* The budget spans all top-level values of one call. */
    amf0_value_t *vals = calloc(AMF0_MAX_NODES + 1, sizeof *vals);
    assert_non_null(vals);
    for (size_t total = AMF0_MAX_NODES; total <= AMF0_MAX_NODES + 1; total++) {
        amf0_buf_t b;
        amf0_buf_init(&b);
        for (size_t j = 0; j < total; j++)
            amf0_put_null(&b);
        size_t n;
        const char *err;
        int rc = decode(b.data, b.len, vals, AMF0_MAX_NODES + 1, &n, &err);
        if (total == AMF0_MAX_NODES) {
            assert_int_equal(rc, 0);
            assert_int_equal(n, AMF0_MAX_NODES);
            amf0_values_free(vals, n);
        } else {
            assert_int_equal(rc, NODE_EPROTO);
            assert_int_equal(n, 0);
            assert_string_equal(err, "amf0: too many values");
        }
        amf0_buf_free(&b);
    }
    free(vals);
}

static void test_unknown_markers(void **state)
{
    (void)state;
    expect_fail(BYTES("\x04"), "amf0: unknown marker"); /* movieclip */
    expect_fail(BYTES("\x0e"), "amf0: unknown marker"); /* recordset */
    expect_fail(BYTES("\x12\x00\x00"), "amf0: unknown marker");
    expect_fail(BYTES("\xff"), "amf0: unknown marker");
    expect_fail(BYTES("\x09"), "amf0: unexpected object end");
    expect_fail(BYTES("\x05\x05\x04"), "amf0: unknown marker");
    expect_fail(BYTES("\x03\x00\x01"
                      "a"
                      "\x0e\x00\x00\x09"),
                "amf0: unknown marker");
    expect_fail(BYTES("\x0a\x00\x00\x00\x01\x09"), "amf0: unexpected object end");
}

static void test_max_vals_and_empty(void **state)
{
    (void)state;
    amf0_value_t vals[2];
    size_t n = 99;
    const char *err;
    /* Bytes past the last wanted value are not looked at. */
    assert_int_equal(decode(BYTES("\x05\x06\xff\xff"), vals, 2, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(vals[0].type, AMF0_NULL);
    assert_int_equal(vals[1].type, AMF0_UNDEFINED);
    amf0_values_free(vals, n);

    assert_int_equal(decode(BYTES("\x05"), vals, 0, &n, &err), 0);
    assert_int_equal(n, 0);
    n = 99;
    assert_int_equal(amf0_decode_all(NULL, 0, vals, 2, &n, NULL), 0);
    assert_int_equal(n, 0);
    /* err may be NULL on failure too. */
    n = 99;
    static const uint8_t bad[] = {0xff};
    assert_int_equal(amf0_decode_all(bad, 1, vals, 2, &n, NULL), NODE_EPROTO);
    assert_int_equal(n, 0);
}

static void test_accessors(void **state)
{
    (void)state;
    char s[] = "x";
    char key[] = "k";
    amf0_value_t str = {.type = AMF0_STRING, .str = s, .str_len = 1};
    amf0_value_t num = {.type = AMF0_NUMBER, .num = 2.5};
    amf0_value_t date = {.type = AMF0_DATE, .num = 7};
    amf0_prop_t prop = {.name = key, .name_len = 1, .value = num};
    amf0_value_t obj = {.type = AMF0_OBJECT, .props = &prop, .nprops = 1};
    amf0_value_t arr = {.type = AMF0_STRICT_ARRAY};

    assert_string_equal(amf0_str(&str), "x");
    assert_null(amf0_str(&num));
    assert_null(amf0_str(NULL));
    assert_true(amf0_num(&num, -1) == 2.5);
    assert_true(amf0_num(&str, -1) == -1);
    assert_true(amf0_num(&date, -1) == -1);
    assert_true(amf0_num(NULL, 9) == 9);
    assert_ptr_equal(amf0_get(&obj, "k"), &prop.value);
    assert_null(amf0_get(&obj, "K"));
    assert_null(amf0_get(&obj, "kk"));
    assert_null(amf0_get(&str, "k"));
    assert_null(amf0_get(&arr, "k"));
    assert_null(amf0_get(NULL, "k"));

    amf0_value_free(NULL);
    amf0_values_free(NULL, 3);
    amf0_buf_free(NULL);
}

/* ---- AMF3 switch ---- */

static void expect_amf3_number(const uint8_t *src, size_t len, double want)
{
    amf0_value_t v;
    decode_one(src, len, &v);
    assert_int_equal(v.type, AMF0_NUMBER);
    assert_true(v.num == want);
    amf0_value_free(&v);
}

static void test_amf3_values(void **state)
{
    (void)state;
    expect_amf3_number(BYTES("\x11\x04\x00"), 0);
    expect_amf3_number(BYTES("\x11\x04\x7f"), 127);
    expect_amf3_number(BYTES("\x11\x04\x81\x00"), 128);
    expect_amf3_number(BYTES("\x11\x04\xff\x7f"), 16383);
    expect_amf3_number(BYTES("\x11\x04\x81\x80\x00"), 16384);
    expect_amf3_number(BYTES("\x11\x04\x80\xc0\x80\x00"), 2097152);
    expect_amf3_number(BYTES("\x11\x04\xbf\xff\xff\xff"), 268435455);
    expect_amf3_number(BYTES("\x11\x04\xc0\x80\x80\x00"), -268435456);
    expect_amf3_number(BYTES("\x11\x04\xff\xff\xff\xff"), -1);
    expect_amf3_number(BYTES("\x11\x05\x3f\xf8\x00\x00\x00\x00\x00\x00"), 1.5);

    amf0_value_t v;
    decode_one(BYTES("\x11\x06\x07"
                     "abc"),
               &v);
    assert_int_equal(v.type, AMF0_STRING);
    assert_string_equal(amf0_str(&v), "abc");
    assert_int_equal(v.str_len, 3);
    amf0_value_free(&v);

    decode_one(BYTES("\x11\x06\x01"), &v);
    assert_string_equal(amf0_str(&v), "");
    amf0_value_free(&v);

    /* A two-byte U29 length: (130 << 1) | 1 = 0x105. */
    amf0_buf_t b;
    amf0_buf_init(&b);
    put_raw(&b, "\x11\x06\x82\x05", 4);
    for (int i = 0; i < 130; i++)
        put_raw(&b, "s", 1);
    decode_one(b.data, b.len, &v);
    assert_int_equal(v.str_len, 130);
    assert_int_equal(v.str[129], 's');
    amf0_value_free(&v);
    amf0_buf_free(&b);

    decode_one(BYTES("\x11\x03"), &v);
    assert_int_equal(v.type, AMF0_BOOLEAN);
    assert_int_equal(v.boolean, 1);
    decode_one(BYTES("\x11\x02"), &v);
    assert_int_equal(v.type, AMF0_BOOLEAN);
    assert_int_equal(v.boolean, 0);
    decode_one(BYTES("\x11\x01"), &v);
    assert_int_equal(v.type, AMF0_NULL);
    decode_one(BYTES("\x11\x00"), &v);
    assert_int_equal(v.type, AMF0_UNDEFINED);

    /* Inside an object, and re-encoded as plain AMF0. */
    decode_one(BYTES("\x03\x00\x01"
                     "n"
                     "\x11\x04\x05"
                     "\x00\x01"
                     "s"
                     "\x11\x06\x05"
                     "hi"
                     "\x00\x00\x09"),
               &v);
    assert_true(amf0_num(amf0_get(&v, "n"), 0) == 5.0);
    assert_string_equal(amf0_str(amf0_get(&v, "s")), "hi");
    amf0_buf_init(&b);
    amf0_put_value(&b, &v);
    expect_bytes(&b, BYTES("\x03\x00\x01"
                           "n"
                           "\x00\x40\x14\x00\x00\x00\x00\x00\x00"
                           "\x00\x01"
                           "s"
                           "\x02\x00\x02"
                           "hi"
                           "\x00\x00\x09"));
    amf0_buf_free(&b);
    amf0_value_free(&v);
}

static void test_amf3_failures(void **state)
{
    (void)state;
    expect_fail(BYTES("\x11\x06\x00"), "amf0: amf3 string reference unsupported");
    expect_fail(BYTES("\x11\x06\x02"), "amf0: amf3 string reference unsupported");
    expect_fail(BYTES("\x11\x07\x01"), "amf0: unsupported amf3 type");         /* xml-doc */
    expect_fail(BYTES("\x11\x09\x01\x01"), "amf0: unsupported amf3 type");     /* array */
    expect_fail(BYTES("\x11\x0a\x0b\x01\x01"), "amf0: unsupported amf3 type"); /* object */
    expect_fail(BYTES("\x11\xff"), "amf0: unsupported amf3 type");
    expect_fail(BYTES("\x11"), "amf0: truncated value");
    expect_fail(BYTES("\x11\x04"), "amf0: truncated value");
    expect_fail(BYTES("\x11\x04\x80"), "amf0: truncated value");
    expect_fail(BYTES("\x11\x04\xff\xff\xff"), "amf0: truncated value");
    expect_fail(BYTES("\x11\x05\x3f\xf8"), "amf0: truncated value");
    expect_fail(BYTES("\x11\x06"), "amf0: truncated value");
    expect_fail(BYTES("\x11\x06\x07"
                      "a"),
                "amf0: length exceeds input");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_bytes),
        cmocka_unit_test(test_put_string_long_boundary),
        cmocka_unit_test(test_put_unencodable_sets_oom),
        cmocka_unit_test(test_round_trip_numbers),
        cmocka_unit_test(test_round_trip_scalars),
        cmocka_unit_test(test_round_trip_strings),
        cmocka_unit_test(test_round_trip_containers),
        cmocka_unit_test(test_empty_key_property),
        cmocka_unit_test(test_decode_date),
        cmocka_unit_test(test_decode_reference),
        cmocka_unit_test(test_decode_long_string_and_xml),
        cmocka_unit_test(test_decode_typed_object),
        cmocka_unit_test(test_connect_command),
        cmocka_unit_test(test_publish_and_play_commands),
        cmocka_unit_test(test_onmetadata_ecma),
        cmocka_unit_test(test_object_requires_end_marker),
        cmocka_unit_test(test_truncated_every_offset),
        cmocka_unit_test(test_failure_frees_and_clears),
        cmocka_unit_test(test_huge_lengths),
        cmocka_unit_test(test_truncated_fixed_fields),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_node_limit),
        cmocka_unit_test(test_unknown_markers),
        cmocka_unit_test(test_max_vals_and_empty),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_amf3_values),
        cmocka_unit_test(test_amf3_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
