#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flv.h"
#include "log.h"
#include "procmem.h"
#include "rate.h"

#define HUB_BUCKETS 1024
#define RING_MIN_CAP 256u
#define RING_MAX_CAP (1u << 20)
#define GOP_MAX 16

typedef enum { STREAM_IDLE, STREAM_LIVE, STREAM_GRACE } stream_state_t;

/* Tracks of the output timeline: audio, video, data. */
enum { TRACK_AUDIO, TRACK_VIDEO, TRACK_DATA, TRACKS };

/* The output timeline and the continuation state (see stream_publish()). */
typedef struct {
    int pending;          /* a continuation began: the offset is set by its first media */
    int restamp;          /* ts_offset applies and tracks are clamped */
    int dedup;            /* the publisher continues: identical headers are not pushed */
    int wait_key;         /* dropping audio/video until the first key frame */
    int wait_video;       /* ...a video key frame (0: the first audio frame will do) */
    int64_t wait_from_ms; /* arrival of the first media dropped (0: none yet) */
    uint32_t ts_offset;
    int track_seen[TRACKS];
    uint32_t track_last[TRACKS]; /* last output ts per track */
    int media_seen;
    uint32_t media_last;   /* highest output ts of audio/video (mod 2^32) */
    int64_t media_last_ms; /* arrival of the last audio/video pushed */
    /* input (publisher) ts of the current publisher's audio/video */
    int in_seen[TRACKS];
    uint32_t in_last[TRACKS];
    /* Same source: the new publisher's timestamps continue the old one's
     * (two relays of one origin): what the players already have is dropped
     * and the old offset kept. Decided at the new publisher's first media. */
    int source_decided, same_source;
    int old_in_seen;
    uint32_t old_in_last; /* the old publisher's highest audio/video input ts */
    int64_t back_ms;      /* how far before it a same source may start */
    int dup[TRACKS];      /* same source: drop this track's media up to dup_until */
    uint32_t dup_until[TRACKS];
    uint64_t count, dropped;
    int64_t last_gap_ms;
} timeline_t;

TAILQ_HEAD(player_list, player);

struct stream {
    hub_t *hub;
    struct stream *hnext;
    uint32_t hash;
    char app[STREAM_APP_MAX];
    char name[STREAM_NAME_MAX];
    stream_state_t state;
    publisher_t *pub;
    int64_t grace_deadline_ms;
    struct player_list players; /* attached */
    struct player_list waiters; /* waiting for a publisher */
    size_t nplayers, nwaiters;
    size_t nrelay; /* attached players that are push relays (in nplayers) */

    /* The ring: sequences [tail, head) are held in slots[seq & (cap-1)]. */
    msg_t **slots;
    uint32_t cap;
    uint64_t head, tail;
    uint64_t bytes_total; /* payload bytes ever pushed (stream_off of the next message) */
    uint64_t min_cursor;  /* lower bound of attached players' cursors (refreshed by tick) */

    uint64_t gop_seqs[GOP_MAX]; /* key frames still cached, oldest first */
    unsigned ngop;
    int64_t last_key_ms;
    int64_t last_gop_ms; /* span of the last complete GOP, by arrival */
    uint64_t gop_drops;  /* GOP cache dropped to the live edge at a bound */
    int gop_drop_logged; /* the first drop was logged (once per stream) */

    msg_t *meta, *vseq, *aseq;
    int unpub_notified; /* players were told UNPUBLISHED for this grace period */
    timeline_t tl;

    /* statistics for the API */
    media_info_t media;
    uint64_t bytes_in; /* payload bytes received, dropped ones included */
    uint64_t bytes_out;
    uint64_t video_frames;
    rate_t rate_in, rate_out, rate_fps;
    int64_t start_wall_ms;
};

struct hub {
    const conf_t *conf;
    uint32_t chunk_size;
    const hub_hooks_t *hooks;
    void *hooks_arg;
    stream_t *buckets[HUB_BUCKETS];
    size_t nstreams;
    uint64_t max_memory;   /* limits.max_memory_mb in bytes, auto resolved; 0: none */
    uint64_t gop_drops;    /* GOP cache drops, every stream, ever */
    int64_t mem_logged_ms; /* last "over the memory bound" line */
    uint64_t mem_unlogged; /* GOP caches dropped for memory since that line */
};

/* ---- names and registry ------------------------------------------------ */

static uint32_t key_hash(const char *app, const char *name)
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
    uint32_t h = key_hash(app, name);
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
    s->slots = calloc(RING_MIN_CAP, sizeof *s->slots);
    if (!s->slots) {
        free(s);
        return NULL;
    }
    s->cap = RING_MIN_CAP;
    s->hub = hub;
    snprintf(s->app, sizeof s->app, "%s", app);
    snprintf(s->name, sizeof s->name, "%s", name);
    TAILQ_INIT(&s->players);
    TAILQ_INIT(&s->waiters);
    s->hash = key_hash(app, name);
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

/* Forgets the GOP cache bookkeeping: new players start at the next key
 * frame (the messages stay in the ring for the players still reading them). */
static void stream_reset_gop(stream_t *s)
{
    s->ngop = 0;
    s->last_key_ms = 0;
    s->last_gop_ms = 0;
}

/* The stream starts afresh: no headers, the publisher's own timestamps. The
 * continuation statistics are kept. */
static void stream_clear_headers(stream_t *s)
{
    msg_unref(s->meta);
    msg_unref(s->vseq);
    msg_unref(s->aseq);
    s->meta = s->vseq = s->aseq = NULL;
    stream_reset_gop(s);
    timeline_t *t = &s->tl;
    uint64_t count = t->count, dropped = t->dropped;
    int64_t gap = t->last_gap_ms;
    memset(t, 0, sizeof *t);
    t->count = count;
    t->dropped = dropped;
    t->last_gap_ms = gap;
}

static void stream_destroy(stream_t *s)
{
    hub_t *hub = s->hub;
    stream_t **pp = &hub->buckets[s->hash % HUB_BUCKETS];
    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    hub->nstreams--;
    for (uint64_t q = s->tail; q < s->head; q++)
        msg_unref(s->slots[q & (s->cap - 1)]);
    free(s->slots);
    stream_clear_headers(s);
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
    return hub;
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

uint64_t stream_retained_msgs(const stream_t *s)
{
    return s->head - s->tail;
}
const char *stream_name(const stream_t *s)
{
    return s->name;
}
int stream_is_live(const stream_t *s)
{
    return s->state == STREAM_LIVE;
}

/* ---- the ring ----------------------------------------------------------- */

static inline msg_t *ring_at(const stream_t *s, uint64_t seq)
{
    return s->slots[seq & (s->cap - 1)];
}

static uint64_t gop_start(const stream_t *s)
{
    return s->ngop ? s->gop_seqs[0] : s->head;
}

/* Forgets the oldest cached key frame (its messages stay in the ring). */
static void gop_pop_oldest(stream_t *s)
{
    memmove(s->gop_seqs, s->gop_seqs + 1, (s->ngop - 1) * sizeof s->gop_seqs[0]);
    s->ngop--;
}

static void ring_evict_one(stream_t *s)
{
    msg_t **slot = &s->slots[s->tail & (s->cap - 1)];
    msg_unref(*slot);
    *slot = NULL;
    s->tail++;
    while (s->ngop && s->gop_seqs[0] < s->tail) {
        gop_pop_oldest(s);
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

/* Drops what no player needs: everything before the GOP cache that is behind
 * every attached player, and, whatever the players need, everything more
 * than max_queue_bytes before the GOP cache. */
static void ring_trim(stream_t *s)
{
    uint64_t keep = gop_start(s);
    /* min_cursor is refreshed by the tick; with no player attached nothing
     * before the GOP cache is needed, whatever it says. */
    uint64_t need = s->nplayers && s->min_cursor < keep ? s->min_cursor : keep;
    uint64_t limit = s->hub->conf->player_max_queue_bytes;
    uint64_t keep_off = keep < s->head ? ring_at(s, keep)->stream_off : s->bytes_total;
    while (s->tail < keep) {
        msg_t *m = ring_at(s, s->tail);
        if (s->tail >= need && keep_off - m->stream_off <= limit)
            break;
        ring_evict_one(s);
    }
}

static int ring_push(stream_t *s, msg_t *m)
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
    ring_trim(s);
    return 0;
}

/* What the cache from sequence `start` costs: payload bytes plus each
 * message's struct (a flood of tiny messages costs memory too). */
static uint64_t gop_cost(const stream_t *s, uint64_t start)
{
    return s->bytes_total - ring_at(s, start)->stream_off + (s->head - start) * sizeof(msg_t);
}

static int gop_over(const stream_t *s, uint64_t start, int64_t now_ms)
{
    const conf_t *c = s->hub->conf;
    return gop_cost(s, start) > c->stream_gop_cache_max_bytes ||
           now_ms - ring_at(s, start)->arrival_ms > (int64_t)c->stream_gop_cache_max_ms;
}

/* Drops the GOP cache to the live edge: new players start at the next key
 * frame; players already reading keep their place (ring_trim() bounds what
 * they hold by player.max_queue_bytes). Counted; logged once per stream. */
static void gop_drop(stream_t *s, int64_t now_ms, const char *why)
{
    if (!s->gop_drop_logged) {
        s->gop_drop_logged = 1;
        log_warn(s->pub ? s->pub->sess_id : 0,
                 "stream %s/%s: GOP cache dropped to the live edge (%s: %llu bytes over %lld ms "
                 "since its key frame); new players start at the next key frame; further drops "
                 "on this stream are counted, not logged",
                 s->app, s->name, why, (unsigned long long)gop_cost(s, s->gop_seqs[0]),
                 (long long)(now_ms - ring_at(s, s->gop_seqs[0])->arrival_ms));
    }
    s->ngop = 0;
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
        gop_pop_oldest(s);
    }
}

/* Over limits.max_memory_mb, a stream holding more than its share (the
 * bound over the streams) drops its GOP cache as it pushes, so the largest
 * caches go first and every stream over its share goes within a frame. */
static void memory_bound_push(stream_t *s, int64_t now_ms)
{
    hub_t *hub = s->hub;
    if (!s->ngop || !hub_over_memory(hub) ||
        stream_retained_bytes(s) < hub->max_memory / (hub->nstreams ? hub->nstreams : 1))
        return;
    gop_drop(s, now_ms, "limits.max_memory_mb");
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

uint64_t stream_retained_bytes(const stream_t *s)
{
    return s->tail < s->head ? s->bytes_total - ring_at(s, s->tail)->stream_off : 0;
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
        if (pre[i])
            p->prelude[p->nprelude++] = msg_ref(pre[i]);
    p->cursor = gop_start(s);
    /* Without a cached key frame, video starts at the next one. */
    p->wait_key = s->ngop == 0;
    if (p->cursor < s->min_cursor)
        s->min_cursor = p->cursor;
    TAILQ_INSERT_TAIL(&s->players, p, link);
    s->nplayers++;
    if (p->relay)
        s->nrelay++;
}

/* Unlinks an attached player (its state is released by the caller). */
static void player_unlink(stream_t *s, player_t *p)
{
    TAILQ_REMOVE(&s->players, p, link);
    s->nplayers--;
    if (p->relay)
        s->nrelay--;
}

static void push_event(stream_t *s, player_event_t ev)
{
    msg_t *m = msg_new_event((uint32_t)ev);
    if (m) {
        m->stream_off = s->bytes_total;
        ring_push(s, m);
    }
}

/* A continuation begins (see stream_publish()): headers stay cached, the
 * GOP cache restarts, media waits for a key frame and the timeline is
 * re-anchored by the first media message passed. */
static void cont_begin(stream_t *s)
{
    timeline_t *t = &s->tl;
    /* A same-source upstream starts with its GOP cache: at most about the
     * cached span before the live edge. */
    int64_t span =
        s->last_gop_ms * (s->hub->conf->stream_gop_cache ? s->hub->conf->stream_gop_cache : 1);
    t->back_ms = (span > 1000 ? span : 1000) + 500;
    if (t->back_ms > STREAM_SAME_SOURCE_BACK_MS)
        t->back_ms = STREAM_SAME_SOURCE_BACK_MS;
    stream_reset_gop(s);
    t->old_in_seen = 0;
    for (int k = TRACK_AUDIO; k <= TRACK_VIDEO; k++) {
        t->dup[k] = t->in_seen[k];
        t->dup_until[k] = t->in_last[k];
        if (t->in_seen[k] && (!t->old_in_seen || (int32_t)(t->in_last[k] - t->old_in_last) > 0))
            t->old_in_last = t->in_last[k];
        t->old_in_seen |= t->in_seen[k];
        t->in_seen[k] = 0;
    }
    t->source_decided = t->same_source = 0;
    t->pending = 1;
    t->dedup = 1;
    t->wait_key = 1;
    t->wait_video = s->vseq != NULL || s->media.has_video;
    t->wait_from_ms = 0;
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
        if (!hub->conf->stream_publish_takeover)
            return NODE_EBUSY;
        publisher_t *old = s->pub;
        old->stream = NULL;
        s->pub = NULL;
        takeover = 1;
        log_info(old->sess_id, "stream %s/%s: publisher taken over by s%llu", app, name,
                 (unsigned long long)pub->sess_id);
        old->ops->kick(old, "taken over by a new publisher");
    }
    stream_state_t prev = s->state;
    s->pub = pub;
    pub->stream = s;
    s->state = STREAM_LIVE;
    if (prev == STREAM_GRACE || (takeover && s->nplayers))
        cont_begin(s);
    else
        stream_clear_headers(s);
    media_info_init(&s->media);
    s->start_wall_ms = weir_wall_ms();
    if (prev == STREAM_GRACE && s->unpub_notified)
        push_event(s, PLAYER_EV_REPUBLISHED);
    s->unpub_notified = 0;
    player_t *p;
    while ((p = TAILQ_FIRST(&s->waiters)) != NULL) {
        TAILQ_REMOVE(&s->waiters, p, link);
        s->nwaiters--;
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
    s->state = s->nplayers ? STREAM_GRACE : STREAM_IDLE;
    s->grace_deadline_ms = now_ms + s->hub->conf->stream_unpublish_grace_ms;
    s->unpub_notified = 0;
    if (s->state == STREAM_IDLE) {
        stream_clear_headers(s);
        return;
    }
    /* Grace: the headers stay for a publisher that continues the stream. */
    if (!pub->hold_players) {
        s->unpub_notified = 1;
        push_event(s, PLAYER_EV_UNPUBLISHED);
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

static int track_of(uint8_t type)
{
    return type == FLV_TAG_AUDIO ? TRACK_AUDIO : type == FLV_TAG_VIDEO ? TRACK_VIDEO : TRACK_DATA;
}

/* While a continuation waits for its key frame: 1 if this audio/video
 * message (not a sequence header) ends the wait, 0 to drop it. */
static int cont_may_start(stream_t *s, uint8_t type, uint8_t flags, int64_t now_ms)
{
    timeline_t *t = &s->tl;
    if (!t->wait_from_ms)
        t->wait_from_ms = now_ms;
    if (type == FLV_TAG_VIDEO && (flags & MSG_F_KEY))
        return 1;
    if (type != FLV_TAG_AUDIO)
        return 0;
    if (!t->wait_video)
        return 1;
    if (now_ms - t->wait_from_ms < STREAM_CONT_KEY_WAIT_MS)
        return 0;
    log_info(s->pub->sess_id, "stream %s/%s: no video key frame for %d ms, continuing with audio",
             s->app, s->name, STREAM_CONT_KEY_WAIT_MS);
    return 1;
}

/* Media of a continuing publisher that the players already have: with the
 * same source, its ts is at or before the old publisher's last on the
 * track. The first media message decides whether the source is the same:
 * its ts lies between back_ms (the GOP cache's span plus 0.5 s, at least
 * 1.5 s, at most STREAM_SAME_SOURCE_BACK_MS) before the old publisher's
 * last and the wall-clock gap plus STREAM_SAME_SOURCE_AHEAD_MS after it.
 * Returns 1 to drop the message. */
static int cont_is_replay(stream_t *s, int track, uint32_t ts, int64_t now_ms)
{
    timeline_t *t = &s->tl;
    if (t->pending && !t->source_decided) {
        t->source_decided = 1;
        if (t->old_in_seen && t->media_seen) {
            int64_t d = (int32_t)(ts - t->old_in_last);
            int64_t gap = now_ms - t->media_last_ms;
            t->same_source = d >= -t->back_ms && d <= gap + STREAM_SAME_SOURCE_AHEAD_MS;
        }
        if (!t->same_source)
            memset(t->dup, 0, sizeof t->dup);
    }
    if (!t->dup[track])
        return 0;
    if ((int32_t)(ts - t->dup_until[track]) <= 0)
        return 1;
    t->dup[track] = 0; /* past the old publisher's last: the rest is new */
    return 0;
}

/* The first media message of a continuation: anchors the timeline so that
 * it gets the last output ts plus the wall-clock gap. */
static void cont_anchor(stream_t *s, uint32_t ts, int64_t now_ms)
{
    timeline_t *t = &s->tl;
    int64_t gap = t->media_seen ? now_ms - t->media_last_ms : 0;
    uint32_t jump = gap < 1                                 ? 1
                    : gap > (int64_t)STREAM_CONT_GAP_MAX_MS ? STREAM_CONT_GAP_MAX_MS
                                                            : (uint32_t)gap;
    if (t->same_source) {
        if (!t->restamp)
            t->ts_offset = 0; /* the publisher's own time went on: keep it */
    } else {
        t->ts_offset = t->media_seen ? t->media_last + jump - ts : 0;
    }
    t->pending = 0;
    t->restamp = 1;
    t->count++;
    t->last_gap_ms = gap;
    log_info(s->pub->sess_id,
             "stream %s/%s: continued by s%llu after a %lld ms gap (%s; continuation %llu, "
             "%llu messages dropped in all)",
             s->app, s->name, (unsigned long long)s->pub->sess_id, (long long)gap,
             t->same_source ? "same source, timestamps kept" : "restamped",
             (unsigned long long)t->count, (unsigned long long)t->dropped);
}

/* The output ts of a message about to be pushed (media: audio/video that
 * is not a sequence header). */
static uint32_t out_ts(stream_t *s, int track, uint32_t ts, int media, int64_t now_ms)
{
    timeline_t *t = &s->tl;
    uint32_t out;
    if (t->pending && media)
        cont_anchor(s, ts, now_ms);
    if (t->pending)
        out = t->media_seen ? t->media_last : ts; /* headers before the first media */
    else if (t->restamp)
        out = ts + t->ts_offset;
    else
        return ts;
    if (t->track_seen[track] && (int32_t)(out - t->track_last[track]) < 0)
        out = t->track_last[track];
    return out;
}

/* Records a pushed message on the output timeline (in: its input ts). */
static void timeline_note(timeline_t *t, int track, uint32_t in, uint32_t out, int media,
                          int64_t now_ms)
{
    t->track_seen[track] = 1;
    t->track_last[track] = out;
    if (!media)
        return;
    t->in_seen[track] = 1;
    t->in_last[track] = in;
    if (!t->media_seen || (int32_t)(out - t->media_last) > 0)
        t->media_last = out;
    t->media_seen = 1;
    t->media_last_ms = now_ms;
}

int stream_push(publisher_t *pub, uint8_t type, uint32_t ts, uint8_t *payload, uint32_t len,
                int64_t now_ms)
{
    stream_t *s = pub->stream;
    if (!s) {
        free(payload);
        return 0;
    }
    timeline_t *t = &s->tl;
    s->bytes_in += len;
    uint8_t flags = inspect(s, type, payload, len);
    int media = (type == FLV_TAG_VIDEO || type == FLV_TAG_AUDIO) && !(flags & MSG_F_SEQHDR);
    if (t->wait_key && type == FLV_TAG_VIDEO && (flags & MSG_F_SEQHDR))
        t->wait_video = 1; /* the new publisher has video: wait for its key frame */
    if (media && cont_is_replay(s, track_of(type), ts, now_ms)) {
        t->dropped++;
        free(payload);
        return 0;
    }
    if (t->wait_key && media) {
        if (!cont_may_start(s, type, flags, now_ms)) {
            t->dropped++;
            free(payload);
            return 0;
        }
        t->wait_key = 0;
    }
    msg_t **slot = header_slot(s, type, flags);
    int same = t->dedup && slot && *slot && (*slot)->len == len &&
               memcmp((*slot)->payload, payload, len) == 0;
    int track = track_of(type);
    uint32_t out = same ? (*slot)->ts : out_ts(s, track, ts, media, now_ms);
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
    timeline_note(t, track, ts, out, media, now_ms);
    unsigned gop_cache = s->hub->conf->stream_gop_cache;
    if ((flags & MSG_F_KEY) && type == FLV_TAG_VIDEO) {
        if (s->last_key_ms)
            s->last_gop_ms = now_ms - s->last_key_ms;
        s->last_key_ms = now_ms;
        if (gop_cache) {
            if (s->ngop == gop_cache || s->ngop == GOP_MAX) {
                gop_pop_oldest(s);
            }
            s->gop_seqs[s->ngop++] = s->head;
        }
    }
    ring_push(s, m);
    unsigned had = s->ngop;
    gop_bound(s, now_ms);
    memory_bound_push(s, now_ms);
    if (s->ngop != had)
        ring_trim(s);
    return 0;
}

void stream_flush(stream_t *s)
{
    player_t *p, *next;
    for (p = TAILQ_FIRST(&s->players); p; p = next) {
        next = TAILQ_NEXT(p, link);
        if (p->cursor < s->head || p->nprelude || p->offset)
            p->ops->wake(p);
    }
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
    if (hub->hooks && hub->hooks->missing) {
        uint32_t relay_wait = hub->hooks->missing(hub->hooks_arg, app, name, p);
        if (relay_wait > wait_ms)
            wait_ms = relay_wait;
        s = hub_find(hub, app, name); /* the hook must not change the hub, but be safe */
    }
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
    return 1;
}

/* Tells every waiting player PLAYER_EV_NOT_FOUND (detached first).
 * Returns how many. */
static size_t waiters_not_found(stream_t *s)
{
    size_t n = 0;
    player_t *p;
    while ((p = TAILQ_FIRST(&s->waiters)) != NULL) {
        TAILQ_REMOVE(&s->waiters, p, link);
        s->nwaiters--;
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
        TAILQ_REMOVE(&s->waiters, p, link);
        s->nwaiters--;
    }
    player_release(p);
}

static int64_t allowed_lag_ms(const stream_t *s)
{
    const conf_t *c = s->hub->conf;
    return (int64_t)c->player_queue_ms + (c->stream_gop_cache ? s->last_gop_ms : 0);
}

static int64_t player_lag_ms(const player_t *p, int64_t now_ms)
{
    const stream_t *s = p->stream;
    if (p->cursor >= s->head || p->cursor < s->tail)
        return 0;
    return now_ms - ring_at(s, p->cursor)->arrival_ms;
}

uint64_t stream_player_queued(const player_t *p)
{
    const stream_t *s = p->stream;
    if (!s || !p->attached || p->cursor >= s->head || p->cursor < s->tail)
        return 0;
    return s->bytes_total - ring_at(s, p->cursor)->stream_off - p->offset;
}

int stream_player_iov(player_t *p, struct iovec *iov, int maxiov, size_t max_bytes, int64_t now_ms)
{
    stream_t *s = p->stream;
    if (!s || !p->attached)
        return 0;
    uint32_t cs = s->hub->chunk_size;
    int n = 0;
    size_t total = 0;
    uint32_t skip = p->offset;
    for (int i = 0; i < p->nprelude && n + 4 <= maxiov && total < max_bytes; i++) {
        msg_t *m = p->prelude[i];
        uint32_t wl = msg_wire_len(m, p->enc, cs);
        if (wl == 0 && m->len)
            return n; /* out of memory encoding: try again later */
        n += msg_iov(m, p->enc, skip, iov + n);
        total += wl - skip;
        skip = 0;
    }
    if (p->nprelude && (n + 4 > maxiov || total >= max_bytes))
        return n;
    if (p->cursor < s->tail)
        return n; /* fell out of the ring: the tick disconnects it */
    if (!p->wait_key && p->offset == 0 && player_lag_ms(p, now_ms) > allowed_lag_ms(s))
        p->wait_key = 1;
    for (uint64_t q = p->cursor; q < s->head && n + 4 <= maxiov && total < max_bytes; q++) {
        msg_t *m = ring_at(s, q);
        if (m->type == MSG_TYPE_EVENT) {
            if (n > 0)
                break; /* deliver it once what precedes it is written */
            p->cursor = q + 1;
            p->ops->event(p, (player_event_t)m->ts);
            if (!p->attached)
                return 0;
            continue;
        }
        /* Drop mode: non-key video is skipped at the cursor (a message
         * already partly written is finished); one further on ends the
         * batch so the skip happens once what precedes it is written. */
        if (p->wait_key && (m->flags & MSG_F_DROPPABLE) && !(q == p->cursor && skip)) {
            if (q != p->cursor)
                break;
            p->cursor = q + 1;
            p->dropped_frames++;
            continue;
        }
        if (m->flags & MSG_F_KEY)
            p->wait_key = 0;
        uint32_t wl = msg_wire_len(m, p->enc, cs);
        if (wl == 0)
            break; /* out of memory encoding: try again later */
        n += msg_iov(m, p->enc, skip, iov + n);
        total += wl - skip;
        skip = 0;
    }
    return n;
}

void stream_player_consumed(player_t *p, size_t nbytes)
{
    stream_t *s = p->stream;
    uint32_t cs = s->hub->chunk_size;
    s->bytes_out += nbytes;
    while (nbytes && p->nprelude) {
        msg_t *m = p->prelude[0];
        uint32_t left = msg_wire_len(m, p->enc, cs) - p->offset;
        if (nbytes < left) {
            p->offset += (uint32_t)nbytes;
            return;
        }
        nbytes -= left;
        p->offset = 0;
        msg_unref(m);
        memmove(p->prelude, p->prelude + 1, (size_t)(p->nprelude - 1) * sizeof p->prelude[0]);
        p->nprelude--;
    }
    while (nbytes && p->cursor < s->head) {
        msg_t *m = ring_at(s, p->cursor);
        uint32_t left = msg_wire_len(m, p->enc, cs) - p->offset;
        if (nbytes < left) {
            p->offset += (uint32_t)nbytes;
            return;
        }
        nbytes -= left;
        p->offset = 0;
        p->cursor++;
    }
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
            TAILQ_REMOVE(&s->waiters, p, link);
            s->nwaiters--;
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
    int64_t allowed = allowed_lag_ms(s);
    for (p = TAILQ_FIRST(&s->players); p; p = next) {
        next = TAILQ_NEXT(p, link);
        if (p->cursor < s->tail) {
            log_warn(p->sess_id, "slow player: more than %u bytes behind on %s/%s, disconnecting",
                     c->player_max_queue_bytes, s->app, s->name);
            player_end(s, p, PLAYER_EV_SLOW);
            continue;
        }
        if (player_lag_ms(p, now_ms) > allowed) {
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
    ring_trim(s);
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
            if (!s->pub && !s->nplayers && !s->nwaiters)
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

void hub_counts(const hub_t *hub, size_t *streams, size_t *publishers, size_t *players)
{
    size_t ns = 0, np = 0, npl = 0;
    for (size_t b = 0; b < HUB_BUCKETS; b++) {
        for (const stream_t *s = hub->buckets[b]; s; s = s->hnext) {
            if (stream_listed(s))
                ns++;
            if (s->pub)
                np++;
            npl += s->nplayers - s->nrelay + s->nwaiters;
        }
    }
    *streams = ns;
    *publishers = np;
    *players = npl;
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
    out->players = s->nplayers - s->nrelay;
    out->relay_players = s->nrelay;
    out->waiters = s->nwaiters;
    out->gops = s->ngop;
    out->gop_cache_drops = s->gop_drops;
    uint64_t g = gop_start(s);
    if (g < s->head) {
        out->gop_cache_msgs = s->head - g;
        out->gop_cache_bytes = s->bytes_total - ring_at(s, g)->stream_off;
    }
    out->start_wall_ms = s->start_wall_ms;
    out->continuations = s->tl.count;
    out->last_gap_ms = s->tl.last_gap_ms;
    out->continuation_dropped = s->tl.dropped;
}

size_t stream_close(stream_t *s, const char *reason)
{
    size_t n = 0;
    if (s->pub) {
        publisher_t *pub = s->pub;
        pub->stream = NULL;
        s->pub = NULL;
        pub->ops->kick(pub, reason);
        n++;
    }
    s->state = STREAM_IDLE;
    stream_clear_headers(s);
    player_t *p;
    while ((p = TAILQ_FIRST(&s->players)) != NULL) {
        player_end(s, p, PLAYER_EV_ENDED);
        n++;
    }
    return n + waiters_not_found(s);
}
