/* Fuzz target for ts_scan (node/codec/ts_scan.c), which reads the PTS
 * span of a recorded ".ts.part" file's bytes at its repair. The input is
 * the file. Checked: the span stays under half the 33-bit clock; fed packet
 * by packet it reads the same PTS and the same span as fed whole; a head
 * and a tail window never read more PTS than the whole file. Every read is
 * of an exact-size copy (ASan). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ts_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *file = malloc(size ? size : 1);
    if (!file)
        abort();
    memcpy(file, data, size);
    ts_scan_t whole, each, ends;
    ts_scan_init(&whole);
    ts_scan_feed(&whole, file, size);
    if (whole.span >= (1ULL << 32) || (!whole.have && whole.pts_seen))
        abort();
    ts_scan_init(&each);
    for (size_t off = 0; size - off >= TS_SCAN_PACKET; off += TS_SCAN_PACKET) {
        uint8_t *one = malloc(TS_SCAN_PACKET);
        if (!one)
            abort();
        memcpy(one, file + off, TS_SCAN_PACKET);
        ts_scan_feed(&each, one, TS_SCAN_PACKET);
        free(one);
    }
    if (each.pts_seen != whole.pts_seen || ts_scan_ms(&each) != ts_scan_ms(&whole))
        abort();
    /* the first third of the packets and the last half (whole packets) */
    size_t packets = size / TS_SCAN_PACKET, head = packets / 3 * TS_SCAN_PACKET;
    size_t tail = (packets - packets / 2) * TS_SCAN_PACKET;
    ts_scan_init(&ends);
    ts_scan_feed(&ends, file, head);
    ts_scan_feed(&ends, file + tail, size - tail);
    if (ends.pts_seen > whole.pts_seen)
        abort();
    free(file);
    return 0;
}
