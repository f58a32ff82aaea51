/* Unit tests for fmp4_scan: the good length of a recorded fragmented MP4
 * (box headers only): whole files, every truncation of one (the good
 * length is always the end of the init segment or of a fragment, never
 * past the cut), 64-bit box sizes, boxes between fragments, and files
 * that are not ours (out of order, size 0, sizes too small or too large). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fmp4_scan.h"

typedef struct {
    uint8_t b[4096];
    size_t len;
} file_t;

/* Appends a box of type with payload bytes of payload (8-byte header, or
 * a 16-byte one with large set). Returns the offset after it. */
static size_t box(file_t *f, const char *type, size_t payload, int large)
{
    size_t hl = large ? 16 : 8, size = hl + payload;
    uint8_t *p = f->b + f->len;
    assert_true(f->len + size <= sizeof f->b);
    memset(p, 0, size);
    uint32_t s32 = large ? 1 : (uint32_t)size;
    p[0] = (uint8_t)(s32 >> 24), p[1] = (uint8_t)(s32 >> 16), p[2] = (uint8_t)(s32 >> 8),
    p[3] = (uint8_t)s32;
    memcpy(p + 4, type, 4);
    if (large)
        for (int i = 0; i < 8; i++)
            p[8 + i] = (uint8_t)((uint64_t)size >> (56 - 8 * i));
    for (size_t i = hl; i < size; i++)
        p[i] = (uint8_t)(i * 7); /* contents are never read */
    f->len += size;
    return f->len;
}

static void test_whole_file(void **state)
{
    (void)state;
    file_t f = {.len = 0};
    box(&f, "ftyp", 16, 0);
    size_t init = box(&f, "moov", 300, 0);
    uint32_t frags = 9;
    assert_int_equal(fmp4_scan_buf(f.b, f.len, &frags), init);
    assert_int_equal(frags, 0);
    box(&f, "moof", 100, 0);
    size_t one = box(&f, "mdat", 500, 0);
    box(&f, "free", 4, 0);
    box(&f, "moof", 100, 0);
    size_t two = box(&f, "mdat", 700, 1);
    assert_int_equal(fmp4_scan_buf(f.b, f.len, &frags), two);
    assert_int_equal(frags, 2);
    assert_true(one < two);
}

/* Every cut of a file of three fragments: good up to the last whole one. */
static void test_every_truncation(void **state)
{
    (void)state;
    file_t f = {.len = 0};
    size_t ends[5];
    box(&f, "ftyp", 16, 0);
    ends[0] = box(&f, "moov", 200, 0);
    for (int i = 1; i <= 3; i++) {
        box(&f, "moof", 40 + (size_t)i, 0);
        ends[i] = box(&f, "mdat", 300 * (size_t)i, i == 2);
    }
    for (size_t cut = 0; cut <= f.len; cut++) {
        uint32_t frags = 0;
        uint64_t good = fmp4_scan_buf(f.b, cut, &frags);
        size_t want = 0;
        uint32_t want_frags = 0;
        for (int i = 0; i <= 3; i++)
            if (ends[i] <= cut) {
                want = ends[i];
                want_frags = (uint32_t)i;
            }
        if (good != want || frags != want_frags)
            fail_msg("cut %zu: good %llu frags %u, want %zu and %u", cut,
                     (unsigned long long)good, frags, want, want_frags);
    }
}

static void test_not_ours(void **state)
{
    (void)state;
    file_t f = {.len = 0};
    /* an FLV header */
    memcpy(f.b, "FLV\x01\x05\0\0\0\x09\0\0\0\0", 13);
    assert_int_equal(fmp4_scan_buf(f.b, 13, NULL), 0);
    /* moov first */
    f.len = 0;
    box(&f, "moov", 20, 0);
    box(&f, "ftyp", 20, 0);
    assert_int_equal(fmp4_scan_buf(f.b, f.len, NULL), 0);
    /* mdat without its moof: good up to the init segment */
    f.len = 0;
    box(&f, "ftyp", 16, 0);
    size_t init = box(&f, "moov", 20, 0);
    box(&f, "mdat", 20, 0);
    assert_int_equal(fmp4_scan_buf(f.b, f.len, NULL), init);
    /* a box of size 0 ("to the end") and one smaller than its header */
    f.len = init;
    box(&f, "moof", 20, 0);
    box(&f, "mdat", 20, 0);
    size_t good = f.len;
    box(&f, "moof", 20, 0);
    f.b[good] = f.b[good + 1] = f.b[good + 2] = f.b[good + 3] = 0;
    assert_int_equal(fmp4_scan_buf(f.b, f.len, NULL), good);
    f.b[good + 3] = 7;
    assert_int_equal(fmp4_scan_buf(f.b, f.len, NULL), good);
    /* a 64-bit size smaller than its 16-byte header, and one past the end */
    f.len = good;
    box(&f, "moof", 8, 1);
    f.b[good + 15] = 12;
    assert_int_equal(fmp4_scan_buf(f.b, f.len, NULL), good);
    f.b[good + 8] = 0x80;
    assert_int_equal(fmp4_scan_buf(f.b, f.len, NULL), good);
    /* a moof after a moof */
    f.len = good;
    box(&f, "moof", 8, 0);
    box(&f, "moof", 8, 0);
    box(&f, "mdat", 8, 0);
    assert_int_equal(fmp4_scan_buf(f.b, f.len, NULL), good);
}

/* Fed box by box with short headers (a file ending inside a header). */
static void test_incremental_short_header(void **state)
{
    (void)state;
    file_t f = {.len = 0};
    box(&f, "ftyp", 16, 0);
    size_t init = box(&f, "moov", 20, 0);
    fmp4_scan_t s;
    fmp4_scan_init(&s);
    assert_int_equal(fmp4_scan_box(&s, f.b, 16, f.len + 4), 1);
    assert_int_equal(s.pos, 24);
    assert_int_equal(fmp4_scan_box(&s, f.b + s.pos, 16, f.len + 4), 1);
    assert_int_equal(s.good_end, init);
    assert_int_equal(fmp4_scan_box(&s, f.b + s.pos, 4, f.len + 4), 0);
    assert_true(s.done);
    assert_int_equal(fmp4_scan_box(&s, f.b, 16, f.len + 4), 0);
    assert_int_equal(s.good_end, init);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_file),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_not_ours),
        cmocka_unit_test(test_incremental_short_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
