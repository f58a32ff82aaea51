/* worker: more loops than one (the `workers` key, conf.h). With workers
 * = n > 1 the node starts n - 1 worker threads next to its event loop;
 * HTTP-FLV players, plain and WebSocket-FLV, and HTTP-TS players, over TCP
 * or TLS (not relay links), once admitted and their response head queued,
 * and RTMP viewers (RTMPS too; not relay links, never publishers), once
 * their play is attached and Play.Start queued, none of its media written,
 * are handed over round-robin over the n loops (the event loop itself is
 * one of them and keeps its share): the worker gets the socket, the
 * unwritten bytes and from then on writes the player. Over TLS the connection's
 * record layer goes too (conn_tls_detach(): the SSL object, any record
 * held back; tls_io.h), the handshake having been done on the loop; the
 * worker encrypts, reads records and sends the close_notify, on its
 * thread only. A WebSocket-FLV or RTMP player's session
 * state goes with it, with the table of its protocol's rules
 * (worker_proto_t, implemented by sess_wsflv.c and rtmp_play_worker.c):
 * the worker runs them on its thread (WebSocket: pongs, the close
 * handshake, pings and the idle cut, the close frame at the end; RTMP: the
 * chunk parser, protocol control, acknowledgements, the commands of a
 * playing client, the unpublish/republish notices), so the rules are
 * written once, for both loops. Where a worker's player differs from the
 * loop's (rtmp_play_worker.h): an RTMP deleteStream/closeStream ends the
 * session and the connection closes once its last bytes are out (the loop
 * keeps the connection for another command), a second play or publish is
 * answered as an error and ends it, and the limit counters of the chunk
 * parser's bounds (on the loop) are not counted. workers = 1 starts
 * nothing, and every player stays on the loop exactly as before.
 *
 * Everything else stays on the loop: listeners, admission, hooks, API,
 * storage, relays, publishers, streams and their GOP cache, RTMP sessions
 * until their play is handed over (the loop keeps the session record:
 * app, name, role, the stop event).
 * The loop owns the session record (conn_t) of a handed-over player, so
 * /api/v1/sessions and the stream's figures stay one view: the worker
 * reports the bytes (written and read), dropped frames and bytes queued
 * every second and the end of the session (with the limit it hit) as
 * messages (wq.h), which the loop adds to the conn and the stream. A kick
 * closes the record at once (gone from the API) and tells the worker to
 * close the socket; the record's stop event waits (at most
 * 1 s) for the worker's last report, so that it counts every byte.
 *
 * How a stream reaches a worker: the loop holds one tap (stream_tap.h) per
 * stream with handed-over players, which copies each message into the
 * queue of every worker that has players of the stream (one copy per
 * worker, none per player); a worker's first player of a stream makes the
 * loop send it the stream's headers and GOP cache first; the
 * stream's unpublish and republish within the grace period follow in the
 * order of its messages (WK_FEED_UNPUBLISHED/REPUBLISHED, from the tap's
 * player_event), and the copy puts them in its ring, so its players get
 * them as the loop's do (worker_proto_t.on_event). The worker pushes
 * the copies into a hub of its own (worker_loop.c), so its players are
 * served by the hub's ring, GOP cache and slow-player policy, as on the
 * loop; its first HTTP-TS player turns on the copy's own MPEG-TS muxer
 * (stream_ts.c), so TS packets and their continuity counters are made on
 * the worker, once per copy, from its key frames on. Each queue is bounded in items and bytes
 * (player.max_queue_bytes): a worker that falls behind loses droppable video first, and after any
 * other loss everything but headers up to the next key frame (counted and
 * logged once per stream). The end of the stream ends the worker's copy and
 * its players (the last chunk, or the close frame, as on the loop). A kick
 * carries the loop's reason, so a WebSocket player gets the close code the
 * loop would send. limits.max_memory_mb is
 * the loop's hub's: a stream's share counts what its copies' rings hold
 * (reported by the workers), and when the stream drops its GOP cache over
 * the bound the copies drop theirs; the workers' hubs have no bound.
 *
 * Threads: every function here is for the loop thread.
 */
#ifndef WEIR_WORKER_H
#define WEIR_WORKER_H

#include <stdint.h>

#include "conn.h"

#define WORKERS_MAX CONF_WORKERS_MAX

typedef struct worker_pool worker_pool_t;

/* The number of loops for the `workers` key (0: auto, one per CPU the
 * process may use: cpus.h, which counts the affinity mask and a cgroup
 * quota; at most WORKERS_MAX). */
unsigned worker_count(uint32_t conf_workers);
/* Starts the pool for node->conf.workers (nothing for 1) and adds it to
 * the node's modules (stopped before the sessions close). Returns 0, or -1
 * with a message in err. */
int worker_pool_start(node_t *node, char *err, size_t errlen);

/* A protocol spoken on a handed-over connection besides the player's
 * media (WebSocket-FLV's frames: sess_wsflv.h implements it). The worker
 * calls these on its thread only, with the state handed over and a sink
 * (sink.h) over its copy of the connection (sink->player is the player
 * while it plays the worker's copy of the stream). Reasons are static
 * strings. */
typedef struct worker_proto {
    const char *name; /* the session's protocol, for log lines ("ws-flv") */
    /* The client's bytes: 1 when the session must end (*why, *reason),
     * else 0 (what the sink got is written after the call). */
    int (*on_read)(void *state, const sink_t *out, const uint8_t *data, size_t len, int64_t now_ms,
                   reason_t *why, const char **reason);
    /* Every 250 ms while playing: 1 when the session must end (NULL: the
     * protocol has no timers). */
    int (*on_tick)(void *state, const sink_t *out, int64_t now_ms, reason_t *why,
                   const char **reason);
    /* The player's stream lost its publisher within the grace period
     * (PLAYER_EV_UNPUBLISHED) or got one back (PLAYER_EV_REPUBLISHED), in
     * the order of the stream's messages: the notice goes to out (NULL:
     * the protocol sends none, as WebSocket-FLV on the loop). */
    void (*on_event)(void *state, const sink_t *out, player_event_t ev);
    /* The session ends for why (stream ended, kicked, ... , or what
     * on_read/on_tick said): its last bytes go to out; the socket closes
     * once they are written (bounded by player.slow_timeout_ms). */
    void (*on_end)(void *state, const sink_t *out, reason_t why);
    void (*free)(void *state);
} worker_proto_t;

/* Hands c's player p (attached: plain HTTP-FLV, HTTP-TS or WebSocket-FLV
 * with its response head queued in c->out, or RTMP with Play.Start queued)
 * to a worker: c keeps its record but no
 * longer reads or writes (c->worker set, c->player NULL, p detached).
 * proto: NULL for plain HTTP-FLV or HTTP-TS (bytes from the client are
 * ignored; p->enc says which, and whether chunked), or
 * the protocol the worker speaks with the client (WebSocket-FLV, RTMP), with its state: on
 * success state is the worker's (used and freed on its thread only; the
 * caller must not touch it again). Returns 0, or -1 when the loop keeps
 * the player (its turn of the round-robin, no pool, a queue full):
 * nothing changed then, and state stays the caller's. */
int worker_handover(conn_t *c, player_t *p, const worker_proto_t *proto, void *state);
/* c (handed over) is being closed by the loop: its worker is told to close
 * the socket unless the worker ended it. From conn_close(). */
void worker_conn_release(conn_t *c);
/* Whether c's record may be reaped: its worker's last report came (its
 * bytes are counted), or 1 s passed, or the workers stopped. From
 * conn_reap_all(), which keeps it on the reap list until then. */
int worker_conn_reapable(const conn_t *c);
/* Frees c's handover state (after its protocol's on_close). */
void worker_conn_free(conn_t *c);
/* The frames a handed-over player dropped (its worker's last report), 0
 * for any other connection. */
uint64_t worker_conn_dropped(const conn_t *c);
/* The bytes queued for a handed-over player (its private bytes and what
 * it has due from its worker's ring, as the worker last reported them,
 * every second while they change; up to 1 s old), 0 for any other
 * connection. */
uint64_t worker_conn_queued(const conn_t *c);
/* The workers' writes to players and messages written whole, reported so
 * far (0 without workers): added to the loop hub's in /metrics
 * (weir_player_writes_total, weir_player_messages_total). */
void worker_player_counts(const node_t *node, uint64_t *writes, uint64_t *msgs);

#endif
