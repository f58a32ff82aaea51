#include <stdlib.h>

#include "common.h"
#include "stream_internal.h"

#define RING_MIN_CAP 256u
#define RING_MAX_CAP (1u << 20)

int stream_ring_init(stream_t *s)
{
    s->slots = calloc(RING_MIN_CAP, sizeof *s->slots);
    if (!s->slots)
        return NODE_ENOMEM;
    s->cap = RING_MIN_CAP;
    return 0;
}

void stream_ring_free(stream_t *s)
{
    for (uint64_t q = s->tail; q < s->head; q++)
        msg_unref(stream_ring_at(s, q));
    free(s->slots);
    s->slots = NULL;
}

static void ring_evict_one(stream_t *s)
{
    msg_t **slot = &s->slots[s->tail & (s->cap - 1)];
    msg_unref(*slot);
    *slot = NULL;
    s->tail++;
    while (s->ngop && s->gop_seqs[0] < s->tail) {
        stream_gop_pop_oldest(s);
    }
}

static int ring_grow(stream_t *s)
{
    uint32_t ncap = s->cap * 2;
    msg_t **ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return NODE_ENOMEM;
    for (uint64_t q = s->tail; q < s->head; q++)
        ns[q & (ncap - 1)] = s->slots[q & (s->cap - 1)];
    free(s->slots);
    s->slots = ns;
    s->cap = ncap;
    return 0;
}

void stream_ring_trim(stream_t *s)
{
    uint64_t keep = stream_gop_start(s);
    /* min_cursor is refreshed by the tick; with no player attached nothing
     * before the GOP cache is needed, whatever it says. */
    uint64_t need = s->nplayers && s->min_cursor < keep ? s->min_cursor : keep;
    uint64_t limit = s->hub->conf->player_max_queue_bytes;
    uint64_t keep_off = keep < s->head ? stream_ring_at(s, keep)->stream_off : s->bytes_total;
    while (s->tail < keep) {
        msg_t *m = stream_ring_at(s, s->tail);
        if (s->tail >= need && keep_off - m->stream_off <= limit)
            break;
        ring_evict_one(s);
    }
}

void stream_ring_push(stream_t *s, msg_t *m)
{
    if (s->head - s->tail == s->cap) {
        if (s->cap >= RING_MAX_CAP || ring_grow(s) != 0) {
            /* Full at its bound: the oldest message goes, even from the GOP
             * cache; players behind it are handled as slow. */
            ring_evict_one(s);
        }
    }
    s->slots[s->head & (s->cap - 1)] = m;
    s->head++;
    stream_ring_trim(s);
}

uint64_t stream_retained_bytes(const stream_t *s)
{
    return s->tail < s->head ? s->bytes_total - stream_ring_at(s, s->tail)->stream_off : 0;
}

uint64_t stream_retained_msgs(const stream_t *s)
{
    return s->head - s->tail;
}
