/* worker_internal: what the two sides of a worker share (not a public API;
 * worker.h is): the kinds of the items on its two queues (wq.h) and the
 * thread side's entry points (worker_loop.c), which worker.c (the loop
 * side) calls. Nothing here is shared mutable state: the loop and a worker
 * only exchange wq items.
 */
#ifndef WEIR_WORKER_INTERNAL_H
#define WEIR_WORKER_INTERNAL_H

#include <stdint.h>

#include "conf.h"
#include "worker.h"
#include "wq.h"

/* Loop -> worker (the worker's `in` queue). */
enum {
    WK_FEED_START = 1, /* id: feed; ptr: "app\0name\0" */
    WK_MEDIA,          /* id: feed; type, flags, ts; ptr/len: the payload */
    WK_FEED_END,       /* id: feed: the worker's copy of the stream ends (players ended) */
    WK_PLAYER_ADD,     /* id: session; fd; a: feed; b: msg_enc_t; ptr: a worker_handoff_t */
    WK_PLAYER_DROP,    /* id: session; fd: reason_t, str: the reason: end it at once (a kick;
                        * the loop forgot it): a protocol's last bytes, then the close */
    WK_FEED_GOP_DROP,  /* id: feed: the loop's stream dropped its GOP cache over
                        * limits.max_memory_mb: the copy drops its own */
    WK_STOP,           /* close everything and leave the thread */
    WK_FEED_UNPUBLISHED, /* id: feed: the loop's stream lost its publisher (grace period), in
                          * the order of its messages: the copy's players are told */
    WK_FEED_REPUBLISHED  /* id: feed: a publisher came back within the grace period */
};

/* Worker -> loop (the worker's `out` queue). */
enum {
    WK_REP_STATS = 1, /* id: session; a: bytes written since the last report; b: dropped frames;
                       * c: bytes read since the last report; len: the bytes queued for the
                       * player now (its private bytes and what it has due from the ring,
                       * as conn_info() counts the loop's; saturated at UINT32_MAX) */
    WK_REP_CLOSED,    /* the same, and the session ended: fd = reason_t, str: the reason;
                       * flags: WK_CLOSED_UNREAD when its client read no replies */
    WK_REP_FEED,      /* id: feed; a: bytes its copy's ring holds (stream_retained_bytes()) */
    WK_REP_HUB        /* a, b: the worker hub's player writes and messages since the last one
                       * (hub_player_counts()) */
};

/* WK_REP_CLOSED's flags: the client made the worker reply (pongs) and read
 * nothing past CONN_OUT_MAX: the loop counts unread_replies, as conn_send()
 * does for its own, not slow_player. */
#define WK_CLOSED_UNREAD 1

/* WK_PLAYER_ADD's buffer: what the worker takes over with the socket. */
typedef struct worker_handoff {
    const worker_proto_t *proto; /* NULL: plain HTTP-FLV or HTTP-TS */
    void *state;                 /* proto's, the worker's now */
    struct tls_io *tls;          /* a TLS connection's record layer (tls_io.h), the worker's
                                  * now; NULL: plaintext */
    char remote[64];             /* the peer, for log lines */
    uint32_t head_len;
    uint8_t head[]; /* the bytes the loop had queued (the response head) */
} worker_handoff_t;

/* Frees h and the protocol state in it (NULL is a no-op). */
void worker_handoff_free(worker_handoff_t *h);

/* The thread side of one worker (worker_loop.c). */
typedef struct worker worker_t;

/* Makes a worker (its own event base and hub over a copy of conf, with the
 * RTMP chunk size of the node's); its queues: in (loop -> worker) and out
 * (worker -> loop). Nothing runs until worker_thread_start(). NULL on
 * failure. Loop thread. */
worker_t *worker_thread_new(unsigned slot, const conf_t *conf, uint32_t chunk_size);
wq_t *worker_thread_in(worker_t *w);
wq_t *worker_thread_out(worker_t *w);
/* Starts the thread: 0, or -1 (errno). */
int worker_thread_start(worker_t *w);
/* Asks the thread to close its sessions and stop, and joins it (a worker
 * never started is just freed). Then frees the worker and its queues.
 * Loop thread. */
void worker_thread_stop(worker_t *w);

#endif
