/* hls_sess: HLS player sessions (see hls_sess.h). */
#include "hls_sess.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>

#include "common.h"
#include "log.h"

#define HLS_TOKEN_LEN 22 /* 132 random bits */
#define HLS_SESS_BUCKETS 8192u /* of each index; a power of two */

struct hls_sess {
    uint64_t id;
    char token[HLS_TOKEN_MAX];
    char app[STREAM_APP_MAX];
    char name[STREAM_NAME_MAX];
    char remote[64];
    uint64_t ua_hash; /* of the User-Agent (client_hash()) */
    int64_t start_ms, start_wall_ms, last_ms;
    uint64_t bytes_out;
    int kicked;
    TAILQ_ENTRY(hls_sess) link;
    struct hls_sess *tok_next, *id_next; /* chains of the two indexes */
};

static struct {
    TAILQ_HEAD(hls_sess_list, hls_sess) list; /* by id (ids grow) */
    size_t n;
    int init;
    /* Every request looks its session up: by token and by id, hashed (a
     * list walk cost O(sessions) per request at 1000+ players). */
    hls_sess_t *by_token[HLS_SESS_BUCKETS], *by_id[HLS_SESS_BUCKETS];
} SESS;

static hls_sess_t **token_bucket(const char *token)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = token; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return &SESS.by_token[h & (HLS_SESS_BUCKETS - 1)];
}

static hls_sess_t **id_bucket(uint64_t id)
{
    return &SESS.by_id[id & (HLS_SESS_BUCKETS - 1)];
}

static void index_add(hls_sess_t *s)
{
    hls_sess_t **b = token_bucket(s->token);
    s->tok_next = *b;
    *b = s;
    b = id_bucket(s->id);
    s->id_next = *b;
    *b = s;
}

static void index_remove(hls_sess_t *s)
{
    hls_sess_t **p = token_bucket(s->token);
    while (*p != s)
        p = &(*p)->tok_next;
    *p = s->tok_next;
    p = id_bucket(s->id);
    while (*p != s)
        p = &(*p)->id_next;
    *p = s->id_next;
}

static void sess_init(void)
{
    if (!SESS.init) {
        TAILQ_INIT(&SESS.list);
        SESS.init = 1;
    }
}

/* A random token of [A-Za-z0-9_-]; -1 when the system has no randomness. */
static int make_token(char *out)
{
    static const char ALPHA[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t r[HLS_TOKEN_LEN];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return -1;
    for (int i = 0; i < HLS_TOKEN_LEN; i++)
        out[i] = ALPHA[r[i] & 63];
    out[HLS_TOKEN_LEN] = '\0';
    return 0;
}

hls_sess_t *hls_sess_find(const char *token)
{
    sess_init();
    for (hls_sess_t *s = *token_bucket(token); s; s = s->tok_next)
        if (strcmp(s->token, token) == 0)
            return s;
    return NULL;
}

/* The length of remote's host part ("host:port" or "[v6]:port"). */
static size_t host_len(const char *remote)
{
    const char *colon = strrchr(remote, ':');
    return colon ? (size_t)(colon - remote) : strlen(remote);
}

/* FNV-1a of the User-Agent; "" for none. */
static uint64_t ua_hash(const char *ua)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)(ua ? ua : ""); *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

hls_sess_t *hls_sess_find_client(const char *app, const char *name, const char *remote,
                                 const char *ua)
{
    sess_init();
    size_t hl = host_len(remote);
    uint64_t uh = ua_hash(ua);
    hls_sess_t *s;
    TAILQ_FOREACH_REVERSE(s, &SESS.list, hls_sess_list, link)
    if (s->ua_hash == uh && host_len(s->remote) == hl && memcmp(s->remote, remote, hl) == 0 &&
        hls_sess_plays(s, app, name))
        return s;
    return NULL;
}

hls_sess_t *hls_sess_by_id(uint64_t id)
{
    sess_init();
    for (hls_sess_t *s = *id_bucket(id); s; s = s->id_next)
        if (s->id == id)
            return s->kicked ? NULL : s;
    return NULL;
}

static void play_event(node_t *node, hls_sess_t *s, int stop, reason_t why, const char *reason)
{
    sess_info_t si;
    int64_t now = weir_mono_ms();
    hls_sess_info(s, now, &si);
    conn_event(node, stop ? "play.stop" : "play.start", &si, stop, now - s->start_ms, why, reason);
}

hls_sess_t *hls_sess_new(node_t *node, const char *app, const char *name, const char *remote,
                         const char *ua)
{
    sess_init();
    if (SESS.n >= HLS_SESS_MAX)
        return NULL;
    hls_sess_t *s = calloc(1, sizeof *s);
    if (!s || make_token(s->token) != 0) {
        free(s);
        return NULL;
    }
    s->id = node_new_session_id(node);
    snprintf(s->app, sizeof s->app, "%s", app);
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->remote, sizeof s->remote, "%s", remote);
    s->ua_hash = ua_hash(ua);
    s->start_ms = s->last_ms = weir_mono_ms();
    s->start_wall_ms = weir_wall_ms();
    TAILQ_INSERT_TAIL(&SESS.list, s, link);
    index_add(s);
    SESS.n++;
    hls_stream_players(app, name, 1);
    log_info(s->id, "hls: play %s/%s from %s", app, name, remote);
    play_event(node, s, 0, REASON_NONE, NULL);
    return s;
}

uint64_t hls_sess_id(const hls_sess_t *s)
{
    return s->id;
}

const char *hls_sess_token(const hls_sess_t *s)
{
    return s->token;
}

int hls_sess_kicked(const hls_sess_t *s)
{
    return s->kicked;
}

int hls_sess_plays(const hls_sess_t *s, const char *app, const char *name)
{
    return strcmp(s->app, app) == 0 && strcmp(s->name, name) == 0;
}

void hls_sess_touch(hls_sess_t *s, uint64_t bytes)
{
    s->last_ms = weir_mono_ms();
    s->bytes_out += bytes;
}

void hls_sess_info(const hls_sess_t *s, int64_t now_ms, sess_info_t *out)
{
    memset(out, 0, sizeof *out);
    out->id = s->id;
    out->role = SESS_ROLE_PLAYER;
    out->protocol = HLS_SESS_PROTOCOL;
    out->remote = s->remote;
    out->app = s->app;
    out->name = s->name;
    out->start_wall_ms = s->start_wall_ms;
    out->duration_ms = now_ms - s->start_ms;
    out->bytes_out = s->bytes_out;
}

void hls_sess_after(uint64_t after, int (*cb)(const sess_info_t *si, void *arg), void *arg)
{
    sess_init();
    int64_t now = weir_mono_ms();
    hls_sess_t *s;
    TAILQ_FOREACH(s, &SESS.list, link)
    {
        if (s->id <= after || s->kicked)
            continue;
        sess_info_t si;
        hls_sess_info(s, now, &si);
        if (cb(&si, arg))
            return;
    }
}

void hls_sess_kick(node_t *node, hls_sess_t *s, reason_t why, const char *reason)
{
    if (s->kicked)
        return;
    s->kicked = 1;
    hls_stream_players(s->app, s->name, -1);
    log_info(s->id, "hls: stop %s/%s: %s", s->app, s->name, reason);
    play_event(node, s, 1, why, reason);
}

/* Ends the live sessions of app/name (app NULL: every one); how many. */
static size_t end_sessions(node_t *node, const char *app, const char *name, reason_t why,
                           const char *reason)
{
    sess_init();
    size_t n = 0;
    hls_sess_t *s;
    TAILQ_FOREACH(s, &SESS.list, link)
    {
        if (s->kicked || (app && !hls_sess_plays(s, app, name)))
            continue;
        hls_sess_kick(node, s, why, reason);
        n++;
    }
    return n;
}

size_t hls_sess_end_stream(node_t *node, const char *app, const char *name, reason_t why,
                           const char *reason)
{
    return end_sessions(node, app, name, why, reason);
}

static void sess_free(hls_sess_t *s)
{
    TAILQ_REMOVE(&SESS.list, s, link);
    index_remove(s);
    SESS.n--;
    free(s);
}

void hls_sess_tick(node_t *node, int64_t now_ms)
{
    sess_init();
    int64_t idle = (int64_t)node->conf.hls_idle_timeout_s * 1000;
    hls_sess_t *s, *next;
    for (s = TAILQ_FIRST(&SESS.list); s; s = next) {
        next = TAILQ_NEXT(s, link);
        if (now_ms - s->last_ms <= idle)
            continue;
        hls_sess_kick(node, s, REASON_TIMEOUT, "no request within hls.idle_timeout_s");
        sess_free(s);
    }
}

void hls_sess_end_all(node_t *node)
{
    end_sessions(node, NULL, NULL, REASON_SHUTDOWN, "node stopping");
}

void hls_sess_free_all(void)
{
    sess_init();
    while (!TAILQ_EMPTY(&SESS.list))
        sess_free(TAILQ_FIRST(&SESS.list));
}
