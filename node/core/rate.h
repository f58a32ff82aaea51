/* rate: a rate over a sliding window, from samples of a growing counter
 * (bytes, frames). Sample it now and then (the node's tick); read it any
 * time. Pure: the caller passes monotonic milliseconds.
 * Threads: a rate_t belongs to its owner's thread (the loop's).
 */
#ifndef WEIR_RATE_H
#define WEIR_RATE_H

#include <stdint.h>

#define RATE_SLOTS 6            /* samples kept: a window of about 5 s */
#define RATE_SAMPLE_MS 1000     /* one sample per second at most */
#define RATE_MIN_WINDOW_MS 1000 /* a younger window counts as one second */

typedef struct {
    uint64_t v[RATE_SLOTS];
    int64_t t[RATE_SLOTS];
    unsigned n;    /* samples held */
    unsigned head; /* next slot written */
} rate_t;

/* Starts the window at counter value `total`. */
void rate_init(rate_t *r, uint64_t total, int64_t now_ms);
/* Records the counter if a sample period has passed since the last one. */
void rate_sample(rate_t *r, uint64_t total, int64_t now_ms);
/* Units per second over the window (from the oldest sample to now, with the
 * counter's value now); 0 before any time has passed. */
double rate_per_sec(const rate_t *r, uint64_t total, int64_t now_ms);

#endif
