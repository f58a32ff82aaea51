/* worker_thread: the thread side of a worker, shared by its two files
 * (not an API: worker_internal.h is the loop's view): worker_loop.c runs
 * the thread (its queues, feeds, ticks and fan-out passes), and
 * worker_player.c the handed-over players (their writes, reads, protocol
 * rules, reports and ends). Everything here is used on the worker's thread
 * only, except worker_thread_new() and worker_thread_stop() (loop thread,
 * before the thread starts and after it is joined).
 */
#ifndef WEIR_WORKER_THREAD_H
#define WEIR_WORKER_THREAD_H

#include <pthread.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "stream.h"
#include "worker_internal.h"

#define WORKER_READ_BUF (16 * 1024)

/* A stream the loop feeds this worker. */
typedef struct wfeed {
    struct wfeed *next;
    worker_t *w;
    uint64_t id;
    publisher_t pub;
    int live;                   /* published on the worker's hub */
    int dirty;                  /* got media since the last stream_flush() */
    uint64_t retained_reported; /* the ring's bytes, as the loop last heard */
} wfeed_t;

/* A handed-over player. */
typedef struct wplayer {
    TAILQ_ENTRY(wplayer) link;
    worker_t *w;
    uint64_t id;
    int fd;
    struct event rev, wev;
    player_t player;
    /* Private bytes (the response head, a protocol's replies, the last
     * chunk or close frame), written before the player's next message. */
    uint8_t *out;
    uint32_t out_len, out_off;
    int wblocked, ending, closing;
    int64_t ending_ms; /* when ending began: its last bytes are bounded in time */
    uint64_t bytes_out, bytes_reported, dropped_reported;
    uint64_t bytes_in, bytes_in_reported; /* read after the handover */
    reason_t why;                         /* closing: the end's; ending: the end to come */
    const char *reason;
    const worker_proto_t *proto; /* the client's protocol (WebSocket-FLV), or NULL */
    void *state;                 /* proto's */
    char *remote;                /* with proto or tls: the peer, for its log lines */
    struct tls_io *tls;          /* a TLS player's record layer (tls_io.h), or NULL */
} wplayer_t;

TAILQ_HEAD(wplayer_list, wplayer);

struct worker {
    unsigned slot;
    pthread_t th;
    int started;
    conf_t conf; /* the hub's (a copy: the loop's may be reloaded) */
    struct event_base *base;
    hub_t *hub;
    wq_t *in, *out;
    struct event in_ev, tick_ev, fanout_ev, reap_ev;
    uint8_t rbuf[WORKER_READ_BUF]; /* protocol players' reads */
    int fanout_pending;
    int assigned; /* the events above are assigned */
    unsigned ticks;
    uint64_t writes_reported, msgs_reported; /* the hub's player counts, as the loop heard */
    wfeed_t *feeds;
    struct wplayer_list players, reap;
};

/* ---- worker_player.c ---- */

/* Reports wp's bytes and drops to the loop (closed: its end too). */
void wplayer_report(wplayer_t *wp, int closed);
/* Ends wp at once: off the hub and the socket, reported and freed by the
 * reaper (never inside the hub's callbacks). */
void wplayer_close(wplayer_t *wp, reason_t why, const char *reason);
/* The reaper (w's reap_ev): reports and frees the closed players. */
void worker_reap_cb(evutil_socket_t fd, short what, void *arg);
/* WK_PLAYER_ADD, WK_PLAYER_DROP (the item's buffer and socket are taken). */
void worker_player_add(worker_t *w, wq_item_t *it);
void worker_player_drop(worker_t *w, const wq_item_t *it);
/* Every tick: the players' protocol timers and the bound on their ends. */
void worker_players_tick(worker_t *w, int64_t now);

/* ---- worker_loop.c ---- */

/* The feed with that id, or NULL. */
wfeed_t *worker_feed_find(worker_t *w, uint64_t id);

#endif
