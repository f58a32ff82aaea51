/* history: the node's and the live streams' figures once a second, in
 * bounded rings (see history.h). Loop thread. */
#include "history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "log.h"
#include "node.h"

#define HISTORY_BUCKETS 2048 /* hash buckets of the streams' table (a power of 2) */

typedef struct {
    char app[STREAM_APP_MAX];
    char name[STREAM_NAME_MAX];
    uint32_t hash;
    int used;
    int next;          /* the next entry of its bucket, -1 none */
    uint64_t round;    /* the last sampling round that fed it */
    uint32_t gone_s;   /* not live since (Unix s), 0 while live */
    history_ring_t ring;
} history_entry_t;

struct history {
    node_t *node;      /* NULL: detached (tests) */
    uint32_t last_s;   /* the wall second of the last sample */
    history_ring_t node_ring;
    history_entry_t *e; /* HISTORY_STREAMS_MAX */
    int bucket[HISTORY_BUCKETS];
    size_t nused;
    uint64_t round;
    uint64_t untracked;
    uint32_t untracked_logged_s;
};

static int find(const history_t *h, const char *app, const char *name, uint32_t hash)
{
    for (int i = h->bucket[hash & (HISTORY_BUCKETS - 1)]; i >= 0; i = h->e[i].next)
        if (h->e[i].hash == hash && strcmp(h->e[i].app, app) == 0 &&
            strcmp(h->e[i].name, name) == 0)
            return i;
    return -1;
}

static void entry_free(history_t *h, int i)
{
    history_entry_t *e = &h->e[i];
    int *p = &h->bucket[e->hash & (HISTORY_BUCKETS - 1)];
    while (*p != i)
        p = &h->e[*p].next;
    *p = e->next;
    history_ring_free(&e->ring);
    e->used = 0;
    h->nused--;
}

/* A slot for a new stream: a free one, else the one gone longest; -1 when
 * every slot holds a live stream. */
static int slot(history_t *h)
{
    int best = -1;
    for (int i = 0; i < HISTORY_STREAMS_MAX; i++) {
        if (!h->e[i].used)
            return i;
        if (h->e[i].gone_s && (best < 0 || h->e[i].gone_s < h->e[best].gone_s))
            best = i;
    }
    if (best >= 0)
        entry_free(h, best);
    return best;
}

static int entry_new(history_t *h, const char *app, const char *name, uint32_t hash,
                     uint32_t t_s)
{
    int i = slot(h);
    if (i < 0) {
        h->untracked++;
        if (t_s - h->untracked_logged_s >= HISTORY_LOG_INTERVAL_S) {
            h->untracked_logged_s = t_s;
            log_warn(0, "history: no history for %s/%s: %d streams have one already (%llu "
                        "without so far)",
                     app, name, HISTORY_STREAMS_MAX, (unsigned long long)h->untracked);
        }
        return -1;
    }
    history_entry_t *e = &h->e[i];
    if (history_ring_init(&e->ring, HISTORY_STREAM_FIELDS, HISTORY_1S_POINTS,
                          HISTORY_1M_POINTS) != 0) {
        log_error(0, "history: no history for %s/%s: out of memory", app, name);
        return -1;
    }
    snprintf(e->app, sizeof e->app, "%s", app);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->hash = hash;
    e->used = 1;
    e->gone_s = 0;
    int *b = &h->bucket[hash & (HISTORY_BUCKETS - 1)];
    e->next = *b;
    *b = i;
    h->nused++;
    return i;
}

void history_feed_stream(history_t *h, const char *app, const char *name, uint32_t t_s,
                         const float *v)
{
    uint32_t hash = hub_key_hash(app, name);
    int i = find(h, app, name, hash);
    if (i < 0 && (i = entry_new(h, app, name, hash, t_s)) < 0)
        return;
    history_entry_t *e = &h->e[i];
    e->round = h->round;
    e->gone_s = 0;
    history_ring_push(&e->ring, t_s, v);
}

void history_feed_end(history_t *h, uint32_t t_s)
{
    for (int i = 0; i < HISTORY_STREAMS_MAX; i++) {
        history_entry_t *e = &h->e[i];
        if (!e->used || e->round == h->round)
            continue;
        if (!e->gone_s)
            e->gone_s = t_s;
        else if (t_s - e->gone_s >= HISTORY_GONE_KEEP_S)
            entry_free(h, i);
    }
    h->round++;
}

typedef struct {
    history_t *h;
    uint32_t t_s;
    int64_t now_ms;
} sample_ctx_t;

static void sample_stream(stream_t *s, void *arg)
{
    sample_ctx_t *x = arg;
    stream_info_t si;
    stream_info(s, x->now_ms, &si);
    if (!si.live)
        return;
    float v[HISTORY_STREAM_FIELDS];
    v[HISTORY_STREAM_BITRATE] = (float)(si.bitrate_in_bps / 1000);
    v[HISTORY_STREAM_FPS] = (float)si.frame_rate;
    v[HISTORY_STREAM_PLAYERS] = (float)si.players;
    history_feed_stream(x->h, si.app, si.name, x->t_s, v);
}

void history_sample(history_t *h, uint32_t t_s, int64_t now_ms)
{
    node_t *node = h->node;
    if (!node)
        return;
    size_t streams = 0, publishers = 0, players = 0;
    hub_counts(node->hub, &streams, &publishers, &players, NULL);
    float v[HISTORY_NODE_FIELDS];
    v[HISTORY_NODE_BITRATE_IN] =
        (float)(rate_per_sec(&node->rate_in, node->bytes_in, now_ms) * 8 / 1000);
    v[HISTORY_NODE_BITRATE_OUT] =
        (float)(rate_per_sec(&node->rate_out, node->bytes_out, now_ms) * 8 / 1000);
    v[HISTORY_NODE_CONNECTIONS] = (float)(node->limits ? conn_limits_open(node->limits) : 0);
    v[HISTORY_NODE_PLAYERS] = (float)players;
    v[HISTORY_NODE_STREAMS] = (float)streams;
    v[HISTORY_NODE_CPU] = (float)node->load.process_percent;
    v[HISTORY_NODE_RSS] = (float)node->load.rss_bytes;
    history_ring_push(&h->node_ring, t_s, v);
    sample_ctx_t x = {h, t_s, now_ms};
    hub_foreach(node->hub, sample_stream, &x);
    history_feed_end(h, t_s);
}

/* A sample in every wall-clock second the loop ticks in (the tick is
 * shorter than a second: a second is skipped only when the loop stalled). */
static void history_tick(void *arg, int64_t now_ms)
{
    history_t *h = arg;
    uint32_t t_s = (uint32_t)(weir_wall_ms() / 1000);
    if (t_s == h->last_s)
        return;
    h->last_s = t_s;
    history_sample(h, t_s, now_ms);
}

void history_free(history_t *h)
{
    if (!h)
        return;
    for (int i = 0; h->e && i < HISTORY_STREAMS_MAX; i++)
        history_ring_free(&h->e[i].ring);
    history_ring_free(&h->node_ring);
    free(h->e);
    free(h);
}

static void history_after_close(void *arg)
{
    history_t *h = arg;
    if (h->node)
        h->node->history = NULL;
    history_free(h);
}

static const node_module_t HISTORY_MODULE = {
    .name = "history", .tick = history_tick, .after_close = history_after_close};

history_t *history_new_detached(void)
{
    history_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->e = calloc(HISTORY_STREAMS_MAX, sizeof *h->e);
    if (!h->e || history_ring_init(&h->node_ring, HISTORY_NODE_FIELDS, HISTORY_1S_POINTS,
                                   HISTORY_1M_POINTS) != 0) {
        history_free(h);
        return NULL;
    }
    memset(h->bucket, -1, sizeof h->bucket);
    return h;
}

int history_start(node_t *node, char *err, size_t errlen)
{
    history_t *h = history_new_detached();
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    h->node = node;
    if (node_add_module(node, &HISTORY_MODULE, h) != 0) {
        history_free(h);
        snprintf(err, errlen, "too many node modules");
        return -1;
    }
    node->history = h;
    return 0;
}

const history_ring_t *history_node(const history_t *h)
{
    return &h->node_ring;
}

const history_ring_t *history_stream(const history_t *h, const char *app, const char *name)
{
    int i = find(h, app, name, hub_key_hash(app, name));
    return i < 0 ? NULL : &h->e[i].ring;
}

size_t history_streams(const history_t *h)
{
    return h->nused;
}

uint64_t history_untracked(const history_t *h)
{
    return h->untracked;
}
