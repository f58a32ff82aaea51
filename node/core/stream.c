#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flv.h"
#include "log.h"
#include "procmem.h"
#include "stream_internal.h"

/* ---- names and registry ------------------------------------------------ */

uint32_t hub_key_hash(const char *app, const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = app; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ '/') * 16777619u;
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

static stream_t *hub_find(hub_t *hub, const char *app, const char *name)
{
    uint32_t h = hub_key_hash(app, name);
    for (stream_t *s = hub->buckets[h % HUB_BUCKETS]; s; s = s->hnext)
        if (s->hash == h && strcmp(s->app, app) == 0 && strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

/* The stream app/name, made when missing. NULL with NODE_ELIMIT in *rc when
 * making it would go over limits.max_streams (every stream counts: live, in
 * grace, or only with waiting players), or NODE_ENOMEM. */
static stream_t *hub_get(hub_t *hub, const char *app, const char *name, int *rc)
{
    stream_t *s = hub_find(hub, app, name);
    if (s)
        return s;
    if (hub->conf->limits_max_streams && hub->nstreams >= hub->conf->limits_max_streams) {
        *rc = NODE_ELIMIT;
        return NULL;
    }
    *rc = NODE_ENOMEM;
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (stream_ring_init(s) != 0) {
        free(s);
        return NULL;
    }
    s->hub = hub;
    snprintf(s->app, sizeof s->app, "%s", app);
    snprintf(s->name, sizeof s->name, "%s", name);
    stream_cont_init(&s->cont, s->app, s->name);
    TAILQ_INIT(&s->players);
    TAILQ_INIT(&s->waiters);
    s->hash = hub_key_hash(app, name);
    media_info_init(&s->media);
    int64_t now = weir_mono_ms();
    rate_init(&s->rate_in, 0, now);
    rate_init(&s->rate_out, 0, now);
    rate_init(&s->rate_fps, 0, now);
    s->hnext = hub->buckets[s->hash % HUB_BUCKETS];
    hub->buckets[s->hash % HUB_BUCKETS] = s;
    hub->nstreams++;
    return s;
}

/* The stream starts afresh: no headers, the publisher's own timestamps. The
 * continuation statistics are kept. */
static void stream_clear_headers(stream_t *s)
{
    stream_tap_restart(s);
    msg_unref(s->meta);
    msg_unref(s->vseq);
    msg_unref(s->aseq);
    s->meta = s->vseq = s->aseq = NULL;
    stream_gop_reset(s);
    stream_ts_restart(s);
    stream_cont_restart(&s->cont);
}

static void stream_destroy(stream_t *s)
{
    hub_t *hub = s->hub;
    stream_t **pp = &hub->buckets[s->hash % HUB_BUCKETS];
    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    hub->nstreams--;
    stream_fanout_forget(s);
    stream_ring_free(s);
    stream_clear_headers(s);
    stream_ts_free(s);
    free(s);
}

/* limits.max_memory_mb in bytes; 0 (auto) is half of what the process may
 * use (procmem_available_bytes()), or no bound when that is unknown. */
static uint64_t memory_bound(const conf_t *conf)
{
    if (conf->limits_max_memory_mb)
        return (uint64_t)conf->limits_max_memory_mb << 20;
    return procmem_available_bytes() / 2;
}

hub_t *hub_new(const conf_t *conf, uint32_t rtmp_chunk_size)
{
    hub_t *hub = calloc(1, sizeof *hub);
    if (!hub)
        return NULL;
    hub->conf = conf;
    hub->chunk_size = rtmp_chunk_size;
    hub->max_memory = memory_bound(conf);
    TAILQ_INIT(&hub->dirty);
    hub_set_source_prefix(hub, NULL);
    return hub;
}

void hub_reload_memory_bound(hub_t *hub)
{
    hub->max_memory = memory_bound(hub->conf);
}

void hub_no_memory_bound(hub_t *hub)
{
    hub->max_memory = 0;
}

uint64_t hub_memory_bound(const hub_t *hub)
{
    return hub->max_memory;
}

uint64_t hub_gop_drops(const hub_t *hub)
{
    return hub->gop_drops;
}

int hub_over_memory(const hub_t *hub)
{
    return hub->max_memory && msg_mem_bytes() > hub->max_memory;
}

static void player_release(player_t *p)
{
    for (int i = 0; i < p->nprelude; i++)
        msg_unref(p->prelude[i]);
    p->nprelude = 0;
    p->attached = 0;
    p->waiting = 0;
    p->offset = 0;
    p->stream = NULL;
}

void hub_free(hub_t *hub)
{
    if (!hub)
        return;
    for (size_t b = 0; b < HUB_BUCKETS; b++) {
        while (hub->buckets[b]) {
            stream_t *s = hub->buckets[b];
            player_t *p;
            while ((p = TAILQ_FIRST(&s->players)) != NULL) {
                TAILQ_REMOVE(&s->players, p, link);
                player_release(p);
            }
            while ((p = TAILQ_FIRST(&s->waiters)) != NULL) {
                TAILQ_REMOVE(&s->waiters, p, link);
                player_release(p);
            }
            if (s->pub)
                s->pub->stream = NULL;
            stream_destroy(s);
        }
    }
    free(hub);
}

void hub_set_hooks(hub_t *hub, const hub_hooks_t *hooks, void *arg)
{
    hub->hooks = hooks;
    hub->hooks_arg = arg;
}

size_t hub_stream_count(const hub_t *hub)
{
    return hub->nstreams;
}
const char *stream_app(const stream_t *s)
{
    return s->app;
}

const char *stream_name(const stream_t *s)
{
    return s->name;
}
int stream_is_live(const stream_t *s)
{
    return s->state == STREAM_LIVE;
}

/* ---- publishing --------------------------------------------------------- */

static void player_attach(stream_t *s, player_t *p)
{
    p->stream = s;
    p->attached = 1;
    p->waiting = 0;
    p->offset = 0;
    p->nprelude = 0;
    p->behind_since_ms = 0;
    msg_t *pre[3] = {s->meta, s->vseq, s->aseq};
    for (int i = 0; i < 3; i++)
        if (pre[i] && !msg_enc_is_ts(p->enc)) /* TS: in the key frames' bytes */
            p->prelude[p->nprelude++] = msg_ref(pre[i]);
    p->cursor = stream_gop_start(s);
    /* Without a cached key frame, video starts at the next one. */
    p->wait_key = s->ngop == 0;
    if (p->cursor < s->min_cursor)
        s->min_cursor = p->cursor;
    /* At the head: the next fan-out pass serves it first (stream_fanout.c). */
    TAILQ_INSERT_HEAD(&s->players, p, link);
    if (s->round_left)
        s->round_left++;
    s->nplayers++;
    if (p->relay)
        s->nrelay++;
    stream_ts_attach(s, p);
}

/* Unlinks a waiting player. */
static void waiter_unlink(stream_t *s, player_t *p)
{
    TAILQ_REMOVE(&s->waiters, p, link);
    s->nwaiters--;
    if (p->relay)
        s->nrelay_waiting--;
}

/* Unlinks an attached player (its state is released by the caller). */
static void player_unlink(stream_t *s, player_t *p)
{
    TAILQ_REMOVE(&s->players, p, link);
    s->nplayers--;
    if (p->relay)
        s->nrelay--;
    stream_ts_detach(s, p);
}

void stream_push_event(stream_t *s, player_event_t ev)
{
    msg_t *m = msg_new_event((uint32_t)ev);
    if (m) {
        m->stream_off = s->bytes_total;
        stream_ring_push(s, m);
    }
    stream_tap_player_event(s, ev);
}

/* A continuation begins (see stream_publish()): headers stay cached, the
 * GOP cache restarts, media waits for a key frame and the timeline is
 * re-anchored by the first media message passed (stream_cont.h). */
static void stream_continue(stream_t *s)
{
    int has_video = s->vseq != NULL || s->media.has_video;
    stream_cont_begin(&s->cont, s->pub->sess_id, stream_gop_span_ms(s), has_video);
    stream_gop_reset(s);
}

int stream_publish(hub_t *hub, const char *app, const char *name, publisher_t *pub)
{
    if (!stream_name_valid(app, STREAM_APP_MAX) || !stream_name_valid(name, STREAM_NAME_MAX))
        return NODE_EINVAL;
    if (hub_over_memory(hub))
        return NODE_EMEMORY;
    int rc = 0;
    stream_t *s = hub_get(hub, app, name, &rc);
    if (!s)
        return rc;
    int takeover = 0;
    if (s->pub) {
        if (!hub->conf->stream_publish_takeover && !pub->takeover)
            return NODE_EBUSY;
        publisher_t *old = s->pub;
        old->stream = NULL;
        s->pub = NULL;
        takeover = 1;
        log_info(old->sess_id, "stream %s/%s: publisher taken over by s%llu", app, name,
                 (unsigned long long)pub->sess_id);
        old->ops->kick(old, REASON_REPLACED, "taken over by a new publisher");
    }
    stream_state_t prev = s->state;
    s->pub = pub;
    pub->stream = s;
    s->state = STREAM_LIVE;
    if (prev == STREAM_GRACE || (takeover && (s->nplayers || s->ntaps)))
        stream_continue(s);
    else
        stream_clear_headers(s);
    stream_source_publish(s, pub);
    media_info_init(&s->media);
    s->start_wall_ms = weir_wall_ms();
    if (prev == STREAM_GRACE && s->unpub_notified)
        stream_push_event(s, PLAYER_EV_REPUBLISHED);
    s->unpub_notified = 0;
    player_t *p;
    while ((p = TAILQ_FIRST(&s->waiters)) != NULL) {
        waiter_unlink(s, p);
        player_attach(s, p);
        p->ops->event(p, PLAYER_EV_STARTED);
    }
    if (hub->hooks && hub->hooks->published)
        hub->hooks->published(hub->hooks_arg, s, pub);
    return 0;
}

void stream_unpublish(publisher_t *pub, int64_t now_ms)
{
    stream_t *s = pub->stream;
    if (!s)
        return;
    pub->stream = NULL;
    s->pub = NULL;
    s->state = s->nplayers || s->ntaps ? STREAM_GRACE : STREAM_IDLE;
    s->grace_deadline_ms = now_ms + s->hub->conf->stream_unpublish_grace_ms;
    s->unpub_notified = 0;
    if (s->state == STREAM_IDLE) {
        stream_clear_headers(s);
        return;
    }
    /* Grace: the headers stay for a publisher that continues the stream. */
    if (!pub->hold_players) {
        s->unpub_notified = 1;
        stream_push_event(s, PLAYER_EV_UNPUBLISHED);
        stream_flush(s);
    }
}

static int is_metadata(const uint8_t *p, uint32_t len)
{
    static const uint8_t tag[] = {0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e',
                                  't',  'a',  'D',  'a', 't', 'a'};
    return len >= sizeof tag && memcmp(p, tag, sizeof tag) == 0;
}

static void set_header(msg_t **slot, msg_t *m)
{
    msg_unref(*slot);
    *slot = msg_ref(m);
}

/* Classifies a publisher's message (MSG_F_* flags) and feeds the stream's
 * media information and frame count. */
static uint8_t inspect(stream_t *s, uint8_t type, const uint8_t *p, uint32_t len)
{
    uint8_t flags = 0;
    if (type == FLV_TAG_VIDEO) {
        flv_video_info_t vi;
        if (flv_video_inspect(p, len, &vi) != 0)
            return 0;
        if (vi.seq_header || !s->media.has_video)
            media_info_video(&s->media, p, len);
        if (!vi.seq_header && !vi.is_command && !vi.seq_end)
            s->video_frames++;
        if (vi.seq_header)
            flags = MSG_F_SEQHDR;
        else if (vi.keyframe)
            flags = MSG_F_KEY;
        else if ((vi.frame_type == 2 || vi.frame_type == 3) && !vi.is_command && !vi.seq_end)
            flags = MSG_F_DROPPABLE; /* only coded inter frames: enhanced Metadata
                                      * packets and the like are never dropped */
    } else if (type == FLV_TAG_AUDIO) {
        flv_audio_info_t ai;
        if (flv_audio_inspect(p, len, &ai) == 0 && ai.seq_header) {
            flags = MSG_F_SEQHDR;
            media_info_audio(&s->media, p, len);
        } else if (!s->media.has_audio) {
            media_info_audio(&s->media, p, len);
        }
    } else if (type == FLV_TAG_SCRIPT && is_metadata(p, len)) {
        media_info_meta(&s->media, p, len);
        flags = MSG_F_META;
    }
    return flags;
}

/* The cached header a message of this kind replaces, or NULL. */
static msg_t **header_slot(stream_t *s, uint8_t type, uint8_t flags)
{
    if (flags & MSG_F_META)
        return &s->meta;
    if (!(flags & MSG_F_SEQHDR))
        return NULL;
    return type == FLV_TAG_VIDEO ? &s->vseq : &s->aseq;
}

int stream_push(publisher_t *pub, uint8_t type, uint32_t ts, uint8_t *payload, uint32_t len,
                int64_t now_ms)
{
    stream_t *s = pub->stream;
    if (!s) {
        free(payload);
        return 0;
    }
    s->bytes_in += len;
    uint8_t flags = inspect(s, type, payload, len);
    if (stream_cont_drop(&s->cont, type, flags, ts, now_ms)) {
        free(payload);
        return 0;
    }
    msg_t **slot = header_slot(s, type, flags);
    int same = slot && stream_cont_same_header(&s->cont, *slot, payload, len);
    uint32_t out = same ? (*slot)->ts : stream_cont_out_ts(&s->cont, type, flags, ts, now_ms);
    msg_t *m = msg_new_adopt(type, out, payload, len);
    if (!m)
        return NODE_ENOMEM;
    m->flags = flags;
    m->arrival_ms = now_ms;
    if (slot)
        set_header(slot, m);
    if (same) {
        msg_unref(m); /* the players have it already */
        return 0;
    }
    m->stream_off = s->bytes_total;
    s->bytes_total += len;
    stream_cont_note(&s->cont, type, flags, ts, out, now_ms);
    stream_gop_push(s, m, now_ms);
    return 0;
}

/* ---- playing ------------------------------------------------------------ */

int stream_play(hub_t *hub, const char *app, const char *name, player_t *p, uint32_t wait_ms,
                int64_t now_ms)
{
    if (!stream_name_valid(app, STREAM_APP_MAX) || !stream_name_valid(name, STREAM_NAME_MAX))
        return NODE_EINVAL;
    stream_t *s = hub_find(hub, app, name);
    if (s && s->state == STREAM_LIVE) {
        player_attach(s, p);
        return 0;
    }
    uint32_t relay_wait = 0;
    if (hub->hooks && hub->hooks->missing) {
        relay_wait = hub->hooks->missing(hub->hooks_arg, app, name, p);
        if (relay_wait > wait_ms)
            wait_ms = relay_wait;
        s = hub_find(hub, app, name); /* the hook must not change the hub, but be safe */
    }
    /* Another node's relay link asks: it waits only for what is coming (a
     * publisher in its grace period, a pull of ours), never for a stream
     * nobody brings, so that a missing stream is "not found" at once
     * through every tier (issue 18: 10 s through two on-demand tiers). */
    if (p->hops > 0 && relay_wait == 0 && !(s && s->state == STREAM_GRACE))
        return NODE_ENOTFOUND;
    if (wait_ms == 0)
        return NODE_ENOTFOUND;
    int rc = 0;
    if (!s && !(s = hub_get(hub, app, name, &rc)))
        return rc;
    p->stream = s;
    p->waiting = 1;
    p->attached = 0;
    p->wait_deadline_ms = now_ms + wait_ms;
    TAILQ_INSERT_TAIL(&s->waiters, p, link);
    s->nwaiters++;
    if (p->relay)
        s->nrelay_waiting++;
    return 1;
}

/* Tells every waiting player PLAYER_EV_NOT_FOUND (detached first).
 * Returns how many. */
static size_t waiters_not_found(stream_t *s)
{
    size_t n = 0;
    player_t *p;
    while ((p = TAILQ_FIRST(&s->waiters)) != NULL) {
        waiter_unlink(s, p);
        player_release(p);
        p->ops->event(p, PLAYER_EV_NOT_FOUND);
        n++;
    }
    return n;
}

size_t hub_waiters(hub_t *hub, const char *app, const char *name)
{
    stream_t *s = hub_find(hub, app, name);
    return s ? s->nwaiters : 0;
}

size_t stream_fail_waiters(hub_t *hub, const char *app, const char *name)
{
    stream_t *s = hub_find(hub, app, name);
    if (!s || s->state == STREAM_LIVE)
        return 0;
    return waiters_not_found(s);
}

void stream_player_stop(player_t *p)
{
    stream_t *s = p->stream;
    if (!s)
        return;
    if (p->attached) {
        player_unlink(s, p);
    } else if (p->waiting) {
        waiter_unlink(s, p);
    }
    player_release(p);
}

/* ---- periodic work ------------------------------------------------------ */

static void player_end(stream_t *s, player_t *p, player_event_t ev)
{
    player_unlink(s, p);
    player_release(p);
    p->ops->event(p, ev);
}

static void stream_tick(stream_t *s, int64_t now_ms)
{
    const conf_t *c = s->hub->conf;
    player_t *p, *next;
    for (p = TAILQ_FIRST(&s->waiters); p; p = next) {
        next = TAILQ_NEXT(p, link);
        if (now_ms >= p->wait_deadline_ms) {
            waiter_unlink(s, p);
            player_release(p);
            p->ops->event(p, PLAYER_EV_NOT_FOUND);
        }
    }
    if (s->state == STREAM_GRACE && now_ms >= s->grace_deadline_ms) {
        s->state = STREAM_IDLE;
        stream_clear_headers(s);
        while ((p = TAILQ_FIRST(&s->players)) != NULL)
            player_end(s, p, PLAYER_EV_ENDED);
    }
    uint64_t min = s->head;
    int64_t allowed = stream_allowed_lag_ms(s);
    for (p = TAILQ_FIRST(&s->players); p; p = next) {
        next = TAILQ_NEXT(p, link);
        if (p->cursor < s->tail) {
            log_warn(p->sess_id, "slow player: more than %u bytes behind on %s/%s, disconnecting",
                     c->player_max_queue_bytes, s->app, s->name);
            player_end(s, p, PLAYER_EV_SLOW);
            continue;
        }
        if (stream_player_lag_ms(p, now_ms) > allowed) {
            if (!p->behind_since_ms)
                p->behind_since_ms = now_ms;
            else if (now_ms - p->behind_since_ms >= (int64_t)c->player_slow_timeout_ms) {
                log_warn(p->sess_id,
                         "slow player: behind by more than %lld ms for %u ms on %s/%s, "
                         "disconnecting",
                         (long long)allowed, c->player_slow_timeout_ms, s->app, s->name);
                player_end(s, p, PLAYER_EV_SLOW);
                continue;
            }
        } else {
            p->behind_since_ms = 0;
        }
        if (p->cursor < min)
            min = p->cursor;
    }
    s->min_cursor = min;
    stream_ring_trim(s);
    rate_sample(&s->rate_in, s->bytes_in, now_ms);
    rate_sample(&s->rate_out, s->bytes_out, now_ms);
    rate_sample(&s->rate_fps, s->video_frames, now_ms);
}

void hub_tick(hub_t *hub, int64_t now_ms)
{
    for (size_t b = 0; b < HUB_BUCKETS; b++) {
        stream_t *s = hub->buckets[b], *next;
        for (; s; s = next) {
            next = s->hnext;
            stream_tick(s, now_ms);
            if (!s->pub && !s->nplayers && !s->nwaiters && !s->ntaps)
                stream_destroy(s);
        }
    }
}

/* ---- introspection and control ----------------------------------------- */

static int stream_listed(const stream_t *s)
{
    return s->state != STREAM_IDLE;
}

stream_t *hub_lookup(hub_t *hub, const char *app, const char *name)
{
    stream_t *s = hub_find(hub, app, name);
    return s && stream_listed(s) ? s : NULL;
}

void hub_foreach(hub_t *hub, void (*cb)(stream_t *s, void *arg), void *arg)
{
    for (size_t b = 0; b < HUB_BUCKETS; b++)
        for (stream_t *s = hub->buckets[b]; s; s = s->hnext)
            if (stream_listed(s))
                cb(s, arg);
}

void hub_counts(const hub_t *hub, size_t *streams, size_t *publishers, size_t *players,
                size_t *relay_links)
{
    size_t ns = 0, np = 0, npl = 0, nrl = 0;
    for (size_t b = 0; b < HUB_BUCKETS; b++) {
        for (const stream_t *s = hub->buckets[b]; s; s = s->hnext) {
            if (stream_listed(s))
                ns++;
            if (s->pub)
                np++;
            npl +=
                s->nplayers - s->nrelay + s->nwaiters - s->nrelay_waiting + stream_tap_players(s);
            nrl += s->nrelay + s->nrelay_waiting;
        }
    }
    *streams = ns;
    *publishers = np;
    *players = npl;
    if (relay_links)
        *relay_links = nrl;
}

void stream_info(const stream_t *s, int64_t now_ms, stream_info_t *out)
{
    memset(out, 0, sizeof *out);
    out->app = s->app;
    out->name = s->name;
    out->live = s->state == STREAM_LIVE;
    out->unpublished = s->state == STREAM_GRACE;
    out->pub = s->pub;
    out->media = &s->media;
    out->frame_rate = rate_per_sec(&s->rate_fps, s->video_frames, now_ms);
    out->bytes_in = s->bytes_in;
    out->bytes_out = s->bytes_out;
    out->bitrate_in_bps = rate_per_sec(&s->rate_in, s->bytes_in, now_ms) * 8;
    out->bitrate_out_bps = rate_per_sec(&s->rate_out, s->bytes_out, now_ms) * 8;
    out->players = s->nplayers - s->nrelay + stream_tap_players(s);
    out->relay_players = s->nrelay + s->nrelay_waiting;
    out->waiters = s->nwaiters - s->nrelay_waiting;
    out->gops = s->ngop;
    out->gop_cache_drops = s->gop_drops;
    uint64_t g = stream_gop_start(s);
    if (g < s->head) {
        out->gop_cache_msgs = s->head - g;
        out->gop_cache_bytes = s->bytes_total - stream_ring_at(s, g)->stream_off;
    }
    out->start_wall_ms = s->start_wall_ms;
    out->continuations = s->cont.stats.count;
    out->last_gap_ms = s->cont.stats.last_gap_ms;
    out->last_splice = stream_cont_splice_name(s->cont.stats.last_splice);
    uint32_t off;
    out->source_id = stream_cont_source_id(&s->cont, &off);
    out->continuation_dropped = s->cont.stats.dropped;
}

size_t stream_close(stream_t *s, reason_t why, const char *reason)
{
    size_t n = 0;
    if (s->pub) {
        publisher_t *pub = s->pub;
        pub->stream = NULL;
        s->pub = NULL;
        pub->ops->kick(pub, why, reason);
        n++;
    }
    s->state = STREAM_IDLE;
    for (unsigned i = 0; i < s->ntaps; i++) /* worker.c's: players handed to workers */
        n += s->taps[i]->players_end ? s->taps[i]->players : 0;
    stream_clear_headers(s);
    player_t *p;
    while ((p = TAILQ_FIRST(&s->players)) != NULL) {
        player_end(s, p, PLAYER_EV_ENDED);
        n++;
    }
    return n + waiters_not_found(s);
}
