/* Fuzz target for fmp4_scan (node/codec/fmp4_scan.c), the walker the
 * recorder's crash repair runs over an ".mp4.part" file's bytes. The input
 * is the file. Checked: the good length is within the file; the file cut
 * there scans to the same length and fragment count (a repaired file is
 * whole); fed box by box with headers of exactly 8 bytes where the file
 * allows (no 64-bit size seen beyond them) it never goes further than with
 * whole headers. The duration's readers (fmp4_scan_moov, fmp4_scan_moof)
 * run on exact copies of the moov and moofs the walk found and on the
 * whole input: the boxes found lie within the good length, and a
 * fragment's end is never before its start. Every read is of an
 * exact-size copy (ASan). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fmp4_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fmp4_scan_moof over an exact copy of box b of file; checks its times. */
static void times_of(const uint8_t *file, fmp4_scan_box_t b, const fmp4_scan_tracks_t *tr,
                     fmp4_scan_times_t *out)
{
    uint8_t *copy = malloc(b.len ? (size_t)b.len : 1);
    if (!copy)
        abort();
    memcpy(copy, file + b.pos, (size_t)b.len);
    int n = fmp4_scan_moof(copy, (size_t)b.len, tr, out), have = 0;
    for (size_t i = 0; i < FMP4_SCAN_TRACKS; i++) {
        if (out->have[i] && (i >= tr->n || out->end[i] < out->start[i]))
            abort();
        have += out->have[i];
    }
    if (have != n)
        abort();
    free(copy);
}

/* The duration readers over what the walk s found in file (size bytes). */
static void durations(const uint8_t *file, size_t size, const fmp4_scan_t *s)
{
    fmp4_scan_tracks_t tr;
    fmp4_scan_times_t first, last;
    if (fmp4_scan_moov(file, size, &tr) == 0)
        times_of(file, (fmp4_scan_box_t){0, size}, &tr, &first);
    if (!s->frags)
        return;
    if (s->moov.pos + s->moov.len > s->good_end || s->last_moof.pos + s->last_moof.len >
        s->good_end || s->first_moof.pos > s->last_moof.pos)
        abort();
    uint8_t *moov = malloc((size_t)s->moov.len);
    if (!moov)
        abort();
    memcpy(moov, file + s->moov.pos, (size_t)s->moov.len);
    int rc = fmp4_scan_moov(moov, (size_t)s->moov.len, &tr);
    free(moov);
    if (rc != 0)
        return;
    if (tr.n == 0 || tr.n > FMP4_SCAN_TRACKS)
        abort();
    times_of(file, s->first_moof, &tr, &first);
    times_of(file, s->last_moof, &tr, &last);
    (void)fmp4_scan_duration_ms(&tr, &first, &last);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *file = malloc(size ? size : 1);
    if (!file)
        abort();
    memcpy(file, data, size);
    uint32_t frags = 0, frags2 = 0;
    uint64_t good = fmp4_scan_buf(file, size, &frags);
    if (good > size || (good == 0 && frags != 0))
        abort();
    if (fmp4_scan_buf(file, (size_t)good, &frags2) != good || frags2 != frags)
        abort();
    fmp4_scan_t s;
    fmp4_scan_init(&s);
    while (s.pos <= size &&
           fmp4_scan_box(&s, file + s.pos, size - s.pos < 8 ? size - s.pos : 8, size))
        ;
    if (s.good_end > good || s.pos > size)
        abort();
    fmp4_scan_init(&s);
    while (fmp4_scan_box(&s, file + s.pos, size - s.pos < 16 ? size - s.pos : 16, size))
        ;
    durations(file, size, &s);
    free(file);
    return 0;
}
