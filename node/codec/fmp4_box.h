/* fmp4_box: the ISO BMFF box writer the fMP4 muxer's files share (not a
 * public API; fmp4_mux.h is).
 *
 * A writer over a caller's buffer that also counts: every write advances
 * pos, and bytes past cap (or all of them, when the buffer is NULL) are
 * dropped. The muxer runs the same code once to size its output and once
 * to write it, so the two can never disagree.
 *
 * Pure: no shared state; any thread (a fmp4_box_t is the caller's).
 */
#ifndef WEIR_FMP4_BOX_H
#define WEIR_FMP4_BOX_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *p; /* NULL: count only */
    size_t cap;
    size_t pos; /* bytes written or counted so far */
    int err;    /* a box grew past 4 GiB (its 32-bit size cannot say it) */
} fmp4_box_t;

void fmp4_box_init(fmp4_box_t *w, uint8_t *buf, size_t cap);
void fmp4_box_u8(fmp4_box_t *w, uint32_t v);
void fmp4_box_u16(fmp4_box_t *w, uint32_t v);
void fmp4_box_u24(fmp4_box_t *w, uint32_t v);
void fmp4_box_u32(fmp4_box_t *w, uint32_t v);
void fmp4_box_u64(fmp4_box_t *w, uint64_t v);
/* A four-character code ("moov"). */
void fmp4_box_cc(fmp4_box_t *w, const char *cc);
void fmp4_box_bytes(fmp4_box_t *w, const uint8_t *p, size_t len);
void fmp4_box_zeros(fmp4_box_t *w, size_t n);
/* Opens a box of type cc (its size patched by fmp4_box_end); returns the
 * offset to pass to fmp4_box_end. */
size_t fmp4_box_open(fmp4_box_t *w, const char *cc);
/* Opens a full box: version and 24-bit flags after the type. */
size_t fmp4_box_open_full(fmp4_box_t *w, const char *cc, unsigned version, uint32_t flags);
/* Closes the box opened at start: writes its size. */
void fmp4_box_end(fmp4_box_t *w, size_t start);
/* Overwrites the 32-bit value at offset at (written earlier). */
void fmp4_box_patch_u32(fmp4_box_t *w, size_t at, uint32_t v);

#endif
