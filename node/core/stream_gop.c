#include "flv.h"
#include "log.h"
#include "stream_internal.h"

void stream_gop_reset(stream_t *s)
{
    s->ngop = 0;
    s->last_key_ms = 0;
    s->last_gop_ms = 0;
}

void stream_drop_gop_cache(stream_t *s)
{
    s->ngop = 0;
}

int64_t stream_gop_span_ms(const stream_t *s)
{
    unsigned gops = s->hub->conf->stream_gop_cache;
    return s->last_gop_ms * (gops ? gops : 1);
}

/* What the cache from sequence `start` costs: payload bytes plus each
 * message's struct (a flood of tiny messages costs memory too). */
static uint64_t gop_cost(const stream_t *s, uint64_t start)
{
    return s->bytes_total - stream_ring_at(s, start)->stream_off +
           (s->head - start) * sizeof(msg_t);
}

static int gop_over(const stream_t *s, uint64_t start, int64_t now_ms)
{
    const conf_t *c = s->hub->conf;
    return gop_cost(s, start) > c->stream_gop_cache_max_bytes ||
           now_ms - stream_ring_at(s, start)->arrival_ms > (int64_t)c->stream_gop_cache_max_ms;
}

/* Drops the GOP cache to the live edge: new players start at the next key
 * frame; players already reading keep their place (stream_ring_trim()
 * bounds what they hold by player.max_queue_bytes). Counted; logged once
 * per stream. */
static void gop_drop(stream_t *s, int64_t now_ms, const char *why)
{
    if (!s->gop_drop_logged) {
        s->gop_drop_logged = 1;
        log_warn(s->pub ? s->pub->sess_id : 0,
                 "stream %s/%s: GOP cache dropped to the live edge (%s: %llu bytes over %lld ms "
                 "since its key frame); new players start at the next key frame; further drops "
                 "on this stream are counted, not logged",
                 s->app, s->name, why, (unsigned long long)gop_cost(s, s->gop_seqs[0]),
                 (long long)(now_ms - stream_ring_at(s, s->gop_seqs[0])->arrival_ms));
    }
    stream_drop_gop_cache(s);
    s->gop_drops++;
    s->hub->gop_drops++;
}

/* Keeps the GOP cache within stream.gop_cache_max_bytes and _max_ms: the
 * oldest GOPs go first; the newest alone over a bound (key frames too rare,
 * or frames too big) drops the cache to the live edge. */
static void gop_bound(stream_t *s, int64_t now_ms)
{
    while (s->ngop && gop_over(s, s->gop_seqs[0], now_ms)) {
        if (s->ngop == 1) {
            gop_drop(s, now_ms, "stream.gop_cache_max_bytes / _max_ms");
            break;
        }
        stream_gop_pop_oldest(s);
    }
}

/* Over limits.max_memory_mb, a stream holding more than its share (the
 * bound over the streams; what it holds counts its taps' copies on worker
 * loops) drops its GOP cache as it pushes, so the largest caches go first
 * and every stream over its share goes within a frame; its taps are told,
 * so that the copies drop theirs too. */
static void memory_bound_push(stream_t *s, int64_t now_ms)
{
    hub_t *hub = s->hub;
    if (!s->ngop || !hub_over_memory(hub) ||
        stream_retained_bytes(s) + stream_tap_retained(s) <
            hub->max_memory / (hub->nstreams ? hub->nstreams : 1))
        return;
    gop_drop(s, now_ms, "limits.max_memory_mb");
    stream_tap_memory(s);
    hub->mem_unlogged++;
    if (!hub->mem_logged_ms || now_ms - hub->mem_logged_ms >= 10000) {
        log_warn(0,
                 "media memory %llu bytes over limits.max_memory_mb (%llu bytes): dropped %llu GOP "
                 "caches, refusing new publishers",
                 (unsigned long long)msg_mem_bytes(), (unsigned long long)hub->max_memory,
                 (unsigned long long)hub->mem_unlogged);
        hub->mem_logged_ms = now_ms;
        hub->mem_unlogged = 0;
    }
}

/* A video key frame about to be pushed at the head: it starts a GOP. */
static void gop_key(stream_t *s, int64_t now_ms)
{
    unsigned gop_cache = s->hub->conf->stream_gop_cache;
    if (s->last_key_ms)
        s->last_gop_ms = now_ms - s->last_key_ms;
    s->last_key_ms = now_ms;
    if (gop_cache) {
        if (s->ngop == gop_cache || s->ngop == STREAM_GOP_MAX) {
            stream_gop_pop_oldest(s);
        }
        s->gop_seqs[s->ngop++] = s->head;
    }
}

void stream_gop_push(stream_t *s, msg_t *m, int64_t now_ms)
{
    if ((m->flags & MSG_F_KEY) && m->type == FLV_TAG_VIDEO)
        gop_key(s, now_ms);
    stream_ts_push(s, m);
    stream_tap_push(s, m); /* before the ring, which may drop m at once */
    stream_ring_push(s, m);
    unsigned had = s->ngop;
    gop_bound(s, now_ms);
    memory_bound_push(s, now_ms);
    if (s->ngop != had)
        stream_ring_trim(s);
}
