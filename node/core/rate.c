#include "rate.h"

void rate_init(rate_t *r, uint64_t total, int64_t now_ms)
{
    r->n = 1;
    r->head = 1;
    r->v[0] = total;
    r->t[0] = now_ms;
}

void rate_sample(rate_t *r, uint64_t total, int64_t now_ms)
{
    if (r->n == 0) {
        rate_init(r, total, now_ms);
        return;
    }
    unsigned last = (r->head + RATE_SLOTS - 1) % RATE_SLOTS;
    if (now_ms - r->t[last] < RATE_SAMPLE_MS)
        return;
    r->v[r->head] = total;
    r->t[r->head] = now_ms;
    r->head = (r->head + 1) % RATE_SLOTS;
    if (r->n < RATE_SLOTS)
        r->n++;
}

double rate_per_sec(const rate_t *r, uint64_t total, int64_t now_ms)
{
    if (r->n == 0)
        return 0;
    unsigned oldest = (r->head + RATE_SLOTS - r->n) % RATE_SLOTS;
    int64_t dt = now_ms - r->t[oldest];
    if (dt <= 0 || total < r->v[oldest])
        return 0;
    /* At least a second: a burst at the start (a GOP cache arriving at
     * once) is not a rate. */
    if (dt < RATE_MIN_WINDOW_MS)
        dt = RATE_MIN_WINDOW_MS;
    return (double)(total - r->v[oldest]) * 1000.0 / (double)dt;
}
