/* ts_scan: the time span of a recorded MPEG-TS file read back from its
 * bytes, for the repair of a file cut short by a crash: the PTS of every
 * PES that starts in the packets fed (payload_unit_start_indicator set,
 * a PES start code, a PTS with its marker bits), of any PID. The span runs
 * from the earliest PTS to the latest, on the 33-bit clock (a wrap is
 * followed; two PTS more than 2^32 ticks apart in the forward direction
 * are taken as the later one lying before the earlier). A caller bounds
 * its work by feeding a window from the file's start and one from its end.
 * Input is untrusted file bytes: packets without the sync byte or whose
 * adaptation field runs past them are skipped.
 * Pure (no I/O, no allocation, no shared state); any thread.
 */
#ifndef WEIR_TS_SCAN_H
#define WEIR_TS_SCAN_H

#include <stddef.h>
#include <stdint.h>

#define TS_SCAN_PACKET 188

/* The span so far: zero it (or ts_scan_init) before the first feed. */
typedef struct {
    int have;          /* a PTS was seen */
    uint64_t first;    /* the earliest PTS (90 kHz, 33 bits) */
    uint64_t span;     /* ticks from first to the latest PTS */
    uint64_t pts_seen; /* PTS read */
} ts_scan_t;

void ts_scan_init(ts_scan_t *s);

/* Reads the PTS of the PES starts in p[0..len): whole packets from a
 * packet boundary (a trailing partial packet is ignored). */
void ts_scan_feed(ts_scan_t *s, const uint8_t *p, size_t len);

/* The span in ms (0 before two PTS). */
uint32_t ts_scan_ms(const ts_scan_t *s);

#endif
