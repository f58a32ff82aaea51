/* fmp4_scan: finds where a fragmented MP4 file written by the recorder
 * (ftyp, moov, then moof + mdat pairs) stops being whole, for the repair
 * of a file cut short by a crash: the top-level boxes are walked by their
 * headers alone (the box contents are never read), and the file is good up
 * to the end of its last mdat that follows a moof (or, with no fragment,
 * to the end of its moov).
 * The walk also notes where the moov and the first and last complete
 * moof are, so that the file's duration can be read back from those boxes
 * alone (fmp4_scan_moov, fmp4_scan_moof, fmp4_scan_duration_ms): the
 * tracks' timescales from the moov, each track's first decode time from
 * the first fragment's tfdt, and its end (tfdt + the sample durations of
 * its trun) from the last one, so the work does not grow with the file.
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
#define FMP4_SCAN_TRACKS 8   /* tracks whose times are read back */

/* Where a box is in the file (len 0: not seen). */
typedef struct {
    uint64_t pos, len;
} fmp4_scan_box_t;

/* The walk's state: zero it (or fmp4_scan_init) before the first box. */
typedef struct {
    uint64_t pos;      /* offset of the next box header */
    uint64_t good_end; /* the file is whole up to here (0: not even its init segment) */
    uint32_t frags;    /* complete fragments seen */
    fmp4_scan_box_t moov;       /* the init segment's moov */
    fmp4_scan_box_t first_moof; /* the moof of the first complete fragment */
    fmp4_scan_box_t last_moof;  /* the moof of the last complete fragment */
    fmp4_scan_box_t cur_moof;   /* internal: the moof whose mdat may come next */
    int state;         /* internal: which box may come next */
    int done;          /* the walk has stopped */
} fmp4_scan_t;

/* The tracks of a moov: track_ID, timescale (mdhd) and default sample
 * duration (trex). */
typedef struct {
    size_t n;
    struct {
        uint32_t id, timescale, default_duration;
    } t[FMP4_SCAN_TRACKS];
} fmp4_scan_tracks_t;

/* A fragment's decode times per track (index as in fmp4_scan_tracks_t),
 * in the track's timescale: its first sample's (tfdt) and the end of its
 * last one (tfdt + the sample durations). */
typedef struct {
    uint8_t have[FMP4_SCAN_TRACKS];
    uint64_t start[FMP4_SCAN_TRACKS], end[FMP4_SCAN_TRACKS];
} fmp4_scan_times_t;

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

/* The tracks of a whole moov box (p, len: from its header on). Returns
 * 0, or -1 when it is no moov or holds no track with a timescale (tracks
 * past FMP4_SCAN_TRACKS are left out). */
int fmp4_scan_moov(const uint8_t *p, size_t len, fmp4_scan_tracks_t *out);

/* The decode times of a whole moof box (p, len: from its header on) for
 * the tracks of its moov; a traf without tfdt, of another track, or with
 * a trun cut short is left out. Returns how many tracks it gave times for. */
int fmp4_scan_moof(const uint8_t *p, size_t len, const fmp4_scan_tracks_t *tr,
                   fmp4_scan_times_t *out);

/* The file's duration in ms from its first and last fragments' times: the
 * longest of the tracks in both (end in last - start in first); 0 when
 * none is, or the end is before the start. */
uint32_t fmp4_scan_duration_ms(const fmp4_scan_tracks_t *tr, const fmp4_scan_times_t *first,
                               const fmp4_scan_times_t *last);

#endif
