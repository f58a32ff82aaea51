/* Fuzz target for fmp4_scan (node/codec/fmp4_scan.c), the walker the
 * recorder's crash repair runs over an ".mp4.part" file's bytes. The input
 * is the file. Checked: the good length is within the file; the file cut
 * there scans to the same length and fragment count (a repaired file is
 * whole); fed box by box with headers of exactly 8 bytes where the file
 * allows (no 64-bit size seen beyond them) it never goes further than with
 * whole headers. Every read is of an exact-size copy (ASan). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fmp4_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    free(file);
    return 0;
}
