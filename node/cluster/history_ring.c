/* history_ring: two fixed rings of timed points and the average of the
 * current minute (see history_ring.h). */
#include "history_ring.h"

#include <stdlib.h>
#include <string.h>

size_t history_ring_bytes(unsigned nf, uint32_t cap_1s, uint32_t cap_1m)
{
    size_t pts = (size_t)cap_1s + cap_1m;
    return pts * sizeof(uint32_t) + pts * nf * sizeof(float);
}

int history_ring_init(history_ring_t *r, unsigned nf, uint32_t cap_1s, uint32_t cap_1m)
{
    memset(r, 0, sizeof *r);
    if (nf == 0 || nf > HISTORY_RING_FIELDS_MAX || cap_1s == 0 || cap_1m == 0)
        return -1;
    r->mem = malloc(history_ring_bytes(nf, cap_1s, cap_1m));
    if (!r->mem)
        return -1;
    r->nf = nf;
    r->cap[HISTORY_1S] = cap_1s;
    r->cap[HISTORY_1M] = cap_1m;
    r->t[HISTORY_1S] = r->mem;
    r->t[HISTORY_1M] = r->t[HISTORY_1S] + cap_1s;
    r->v[HISTORY_1S] = (float *)(r->t[HISTORY_1M] + cap_1m);
    r->v[HISTORY_1M] = r->v[HISTORY_1S] + (size_t)cap_1s * nf;
    return 0;
}

void history_ring_free(history_ring_t *r)
{
    free(r->mem);
    memset(r, 0, sizeof *r);
}

static void put(history_ring_t *r, history_res_t res, uint32_t t_s, const float *v)
{
    uint32_t i = r->head[res];
    r->t[res][i] = t_s;
    memcpy(r->v[res] + (size_t)i * r->nf, v, r->nf * sizeof *v);
    r->head[res] = (i + 1) % r->cap[res];
    if (r->n[res] < r->cap[res])
        r->n[res]++;
}

/* The last point's time at res; 0 when none. */
static uint32_t last_t(const history_ring_t *r, history_res_t res)
{
    if (r->n[res] == 0)
        return 0;
    return r->t[res][(r->head[res] + r->cap[res] - 1) % r->cap[res]];
}

static void minute_mean(const history_ring_t *r, float *out)
{
    for (unsigned f = 0; f < r->nf; f++)
        out[f] = (float)(r->acc[f] / r->acc_n);
}

void history_ring_push(history_ring_t *r, uint32_t t_s, const float *v)
{
    if (!r->mem)
        return;
    uint32_t last = last_t(r, HISTORY_1S);
    if (last && t_s <= last) {
        if (last - t_s < HISTORY_RING_STEP_BACK_S)
            return;
        r->head[0] = r->head[1] = r->n[0] = r->n[1] = 0; /* the clock was set back */
        r->acc_n = 0;
    }
    put(r, HISTORY_1S, t_s, v);
    uint32_t minute = t_s / 60;
    if (r->acc_n && minute != r->acc_minute) {
        float mean[HISTORY_RING_FIELDS_MAX];
        minute_mean(r, mean);
        put(r, HISTORY_1M, r->acc_minute * 60, mean);
        r->acc_n = 0;
    }
    if (r->acc_n == 0) {
        r->acc_minute = minute;
        memset(r->acc, 0, sizeof r->acc);
    }
    for (unsigned f = 0; f < r->nf; f++)
        r->acc[f] += v[f];
    r->acc_n++;
}

size_t history_ring_count(const history_ring_t *r, history_res_t res)
{
    return r->n[res] + (res == HISTORY_1M && r->acc_n ? 1 : 0);
}

size_t history_ring_read(const history_ring_t *r, history_res_t res, uint32_t since_s,
                         uint32_t *t, float *v, size_t max)
{
    size_t got = 0;
    uint32_t first = (r->head[res] + r->cap[res] - r->n[res]) % (r->cap[res] ? r->cap[res] : 1);
    for (uint32_t k = 0; k < r->n[res] && got < max; k++) {
        uint32_t i = (first + k) % r->cap[res];
        if (r->t[res][i] <= since_s)
            continue;
        t[got] = r->t[res][i];
        memcpy(v + got * r->nf, r->v[res] + (size_t)i * r->nf, r->nf * sizeof *v);
        got++;
    }
    if (res == HISTORY_1M && r->acc_n && got < max && r->acc_minute * 60 > since_s) {
        t[got] = r->acc_minute * 60;
        minute_mean(r, v + got * r->nf);
        got++;
    }
    return got;
}
