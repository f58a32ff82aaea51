/* history_ring: a bounded history of sampled figures at two resolutions,
 * the points of the last cap_1s seconds (one per second) and the averages of
 * the last cap_1m minutes. Each point carries its time (Unix seconds; a
 * minute's point: the minute's start), so that seconds or minutes without
 * a sample (the node stopped, the stream was off the air) are gaps, not
 * zeros. Memory is fixed at history_ring_init(): history_ring_bytes().
 * Pure (no clock, no I/O); a ring belongs to its owner's thread (the loop's,
 * for history.h).
 */
#ifndef WEIR_HISTORY_RING_H
#define WEIR_HISTORY_RING_H

#include <stddef.h>
#include <stdint.h>

#define HISTORY_RING_FIELDS_MAX 8 /* figures per point */
/* A sample this many seconds before the last one: the wall clock was set
 * back; the ring starts over (smaller steps back are ignored). */
#define HISTORY_RING_STEP_BACK_S 5

typedef enum { HISTORY_1S = 0, HISTORY_1M = 1 } history_res_t;

typedef struct {
    unsigned nf;         /* figures per point */
    uint32_t cap[2];     /* points kept, by resolution */
    uint32_t head[2];    /* next slot written */
    uint32_t n[2];       /* points held */
    uint32_t *t[2];      /* each point's Unix seconds */
    float *v[2];         /* nf figures per point */
    uint32_t acc_minute; /* the minute being averaged (Unix s / 60), acc_n > 0 */
    uint32_t acc_n;
    double acc[HISTORY_RING_FIELDS_MAX];
    void *mem; /* one allocation for t[] and v[] */
} history_ring_t;

/* Allocates the points (nf in 1..HISTORY_RING_FIELDS_MAX, caps > 0).
 * Returns 0, or -1 (out of memory, bad arguments; r is then empty and
 * history_ring_free() harmless). */
int history_ring_init(history_ring_t *r, unsigned nf, uint32_t cap_1s, uint32_t cap_1m);
/* Frees the points; r may be empty or zeroed. */
void history_ring_free(history_ring_t *r);
/* Bytes held by a ring of those sizes. */
size_t history_ring_bytes(unsigned nf, uint32_t cap_1s, uint32_t cap_1m);

/* Adds the sample of second t_s (nf figures). A second already held is
 * ignored, as is a step back under HISTORY_RING_STEP_BACK_S; a larger one
 * empties the ring first. When t_s is in a later minute than the one being
 * averaged, that minute's average becomes a 1m point. */
void history_ring_push(history_ring_t *r, uint32_t t_s, const float *v);

/* Copies the points of resolution res later than since_s (0: all), oldest
 * first, at most max of them: times into t, figures into v (nf per point).
 * At HISTORY_1M the minute being averaged comes last (its average so far).
 * Returns the number of points copied. */
size_t history_ring_read(const history_ring_t *r, history_res_t res, uint32_t since_s,
                         uint32_t *t, float *v, size_t max);

/* The points held at res (the minute being averaged counted at 1m). */
size_t history_ring_count(const history_ring_t *r, history_res_t res);

#endif
