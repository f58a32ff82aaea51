/* fmp4_scan: finds where a fragmented MP4 file written by the recorder
 * (ftyp, moov, then moof + mdat pairs) stops being whole, for the repair
 * of a file cut short by a crash: the top-level boxes are walked by their
 * headers alone (the box contents are never read), and the file is good up
 * to the end of its last mdat that follows a moof (or, with no fragment,
 * to the end of its moov).
 * Input is untrusted file bytes: every size is checked against what is
 * left; a box of size 0 ("to the end of the file"), a size smaller than
 * its header, a size past the end, or a box out of order stops the walk.
 * Pure (no I/O, no allocation, no shared state); any thread.
 */
#ifndef WEIR_FMP4_SCAN_H
#define WEIR_FMP4_SCAN_H

#include <stddef.h>
#include <stdint.h>

#define FMP4_SCAN_HDR_MAX 16 /* the longest box header (64-bit size) */

/* The walk's state: zero it (or fmp4_scan_init) before the first box. */
typedef struct {
    uint64_t pos;      /* offset of the next box header */
    uint64_t good_end; /* the file is whole up to here (0: not even its init segment) */
    uint32_t frags;    /* complete fragments seen */
    int state;         /* internal: which box may come next */
    int done;          /* the walk has stopped */
} fmp4_scan_t;

void fmp4_scan_init(fmp4_scan_t *s);

/* Takes the box header at s->pos: hdr holds n bytes of the file from
 * s->pos (at least FMP4_SCAN_HDR_MAX unless the file ends sooner); size is
 * the file's whole size. Advances s->pos past the box and updates
 * good_end and frags. Returns 1 when the caller should read the next
 * header at s->pos, 0 when the walk has stopped (s->done set). */
int fmp4_scan_box(fmp4_scan_t *s, const uint8_t *hdr, size_t n, uint64_t size);

/* The whole walk over a file held in memory (p, len). Returns good_end;
 * *frags (may be NULL) gets the complete fragments. */
uint64_t fmp4_scan_buf(const uint8_t *p, size_t len, uint32_t *frags);

#endif
