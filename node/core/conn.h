/* conn: one accepted TCP connection and its I/O glue.
 *
 * Reads go through the node's shared buffer straight into the protocol's
 * incremental parsers, so an idle connection holds no input buffer. Writes
 * come from two places, in order: the connection's private output (protocol
 * replies, headers) and, for a player, the stream's shared messages by
 * reference (writev over the ring; nothing is copied per player).
 *
 * A connection is never freed inside its own callbacks or during a fan-out:
 * conn_close() marks it closing and a deferred callback reaps it.
 * Layer core; everything here runs on the loop thread.
 */
#ifndef WEIR_CONN_H
#define WEIR_CONN_H

#include <event2/buffer.h>
#include <event2/event_struct.h>
#include <stdint.h>
#include <sys/queue.h>

#include "node.h"
#include "rate.h"
#include "reason.h"
#include "sink.h"
#include "stream.h"

typedef enum {
    SESS_ROLE_CONNECTING = 0, /* no publish or play yet */
    SESS_ROLE_PUBLISHER,
    SESS_ROLE_PLAYER,
    SESS_ROLE_RELAY
} sess_role_t;

/* A snapshot of one session for the API and the event log; strings point
 * into the connection and are valid until the loop runs again. */
typedef struct {
    uint64_t id;
    sess_role_t role;
    const char *protocol; /* "rtmp", "http-flv" */
    const char *remote;
    const char *app, *name; /* NULL when not known yet */
    int64_t start_wall_ms;
    int64_t duration_ms;
    uint64_t bytes_in, bytes_out;
    double bitrate_in_bps, bitrate_out_bps;
    uint64_t dropped_frames, queued_bytes;
    /* A relay link (role SESS_ROLE_RELAY): SESS_RELAY_IN for another Weir
     * node's link into this one (a pull playing here, a push publishing
     * here: its request carried relay parameters), SESS_RELAY_OUT for this
     * node's own link; relay_hops and relay_via are the request's (via: the
     * node ids on the path, comma-separated; the last one is the peer). */
    enum { SESS_RELAY_NONE = 0, SESS_RELAY_IN, SESS_RELAY_OUT } relay;
    unsigned relay_hops;
    const char *relay_via;
    int tls; /* accepted on a TLS listener (rtmps.listen, https.listen) */
} sess_info_t;

/* Why the network ended a connection: conn.c sets it with close_reason, so
 * that a client protocol (the relay links) can tell the cases apart without
 * reading the text. CONN_END_NONE: closed by its protocol or the node. */
typedef enum {
    CONN_END_NONE = 0,
    CONN_END_RESOLVE, /* outgoing: the host name did not resolve */
    CONN_END_CONNECT, /* outgoing: the TCP connect failed (refused, unreachable) */
    CONN_END_PEER,    /* the peer closed the connection (end of file) */
    CONN_END_IO       /* a read or write error, a reset by the peer */
} conn_end_t;

typedef struct conn_proto {
    const char *name; /* "rtmp", "http-flv" */
    /* Bytes read from the peer (the buffer is reused after return). */
    void (*on_read)(conn_t *c, const uint8_t *data, size_t len);
    /* Every ~250 ms: deadlines and idle checks. */
    void (*on_tick)(conn_t *c, int64_t now_ms);
    /* From the reaper: release protocol state (detach from the hub). */
    void (*on_close)(conn_t *c);
    /* Fills role, app and name (the rest is filled by conn_info()). */
    void (*info)(const conn_t *c, sess_info_t *out);
    /* Outgoing connections (conn_connect()): the TCP connection is up; the
     * protocol starts talking. NULL for accepted connections. */
    void (*on_connect)(conn_t *c);
    /* A kick (conn_kick()): ends the session its own way, e.g. with a
     * WebSocket close frame, within a bounded time. NULL: conn_close(). */
    void (*kick)(conn_t *c, reason_t why, const char *reason);
    /* 1: the connection only carries sessions listed on their own (HLS's,
     * hls_sess.h), so /api/v1/sessions and weir_sessions leave it out. */
    int carrier;
} conn_proto_t;

struct conn {
    node_t *node;
    uint64_t id;
    int fd;
    struct event rev, wev;
    struct evbuffer *out; /* private output */
    const conn_proto_t *proto;
    void *ps;         /* protocol state, owned by proto */
    player_t *player; /* set by proto while playing (shared output) */
    char remote[64];
    int64_t start_ms;
    int64_t start_wall_ms;
    int64_t last_read_ms;
    uint64_t bytes_in, bytes_out;
    rate_t rate_in, rate_out; /* sampled by the node's tick */
    unsigned closing : 1;
    unsigned close_after_flush : 1;
    unsigned wblocked : 1;
    unsigned connecting : 1; /* outgoing: resolving or connecting */
    unsigned outgoing : 1;
    unsigned tls_moved : 1;       /* its TLS state went to a worker with the player (worker.h) */
    struct conn_resolve *resolve; /* pending name resolution, or NULL */
    struct conn_tls *tls;         /* TLS state (conn_tls.h), NULL: plaintext */
    /* Handed to a worker thread (worker.h), or NULL: the worker owns the
     * socket (fd is -1 here) and writes the player; this record stays the
     * session's for the API, filled by the worker's reports. */
    struct worker_sess *worker;
    const char *close_reason;
    reason_t why;   /* set with close_reason: the documented code (reason.h) */
    conn_end_t end; /* set with close_reason when the network ended it */
    TAILQ_ENTRY(conn) link;
};

/* Takes ownership of fd (an accepted socket). Returns NULL (fd closed) on
 * failure. The protocol's on_read etc. start once ps is set by the caller. */
conn_t *conn_new(node_t *node, int fd, const struct sockaddr *sa, int salen,
                 const conn_proto_t *proto);
/* Opens an outgoing connection to host:port with protocol state ps (owned
 * by proto, released by its on_close). The name is resolved through the
 * node's evdns base without blocking (numeric addresses at once); then a
 * non-blocking connect. The connection is listed at once (c->connecting
 * set, remote "host:port"); proto->on_connect runs when TCP is up. A
 * failure closes it like any connection, with close_reason "cannot resolve
 * host", "connection refused", "host unreachable", "connect failed", ...;
 * protocols time the attempt out in on_tick. Returns the connection, or
 * NULL with a message in err (out of memory); ps is then not used. */
conn_t *conn_connect(node_t *node, const char *host, uint16_t port, const conn_proto_t *proto,
                     void *ps, char *err, size_t errlen);
/* Writes what can be written now; waits for writability for the rest. */
void conn_flush(conn_t *c);
/* Closes once all private output (and nothing more of the stream) is
 * written. */
void conn_close_after_flush(conn_t *c, reason_t why, const char *reason);
/* Marks the connection closing (why: the code its stop event carries;
 * reason: static string, logged, the event's message) and schedules its
 * reaping. Idempotent: the first call's why and reason stay. */
void conn_close(conn_t *c, reason_t why, const char *reason);
/* Ends the session on the API's word: the protocol's kick, or conn_close(). */
void conn_kick(conn_t *c, reason_t why, const char *reason);
/* Most private output (replies, control messages, acknowledgements,
 * headers) a connection may have waiting for its socket: media is not
 * counted (players read it from the stream's ring), so only a peer that
 * makes the node reply and reads nothing gets near it. */
#define CONN_OUT_MAX (1u << 20)

/* Appends to the private output (use conn_flush() to send). Returns 0;
 * NODE_ELIMIT when the output would go past CONN_OUT_MAX: nothing is
 * appended, the connection is closed ("replies not read"), counted as
 * unread_replies and logged; NODE_ENOMEM. Closing: 0, nothing appended. */
int conn_send(conn_t *c, const void *data, size_t len);
/* A sink (sink.h) over c: conn_send(), c->player, c->id and c->remote;
 * valid while c is (build one for each use: c->player changes). */
sink_t conn_sink(conn_t *c);

struct cJSON;
/* The fields every session event carries: session_id, app, name (when
 * known), protocol, remote, and relay (sess_relay_json()) for a relay link. A new cJSON object (the
 * caller owns it), NULL when out of memory. */
struct cJSON *conn_event_fields(const sess_info_t *si);
/* The peer of an inbound relay link: the last node id of its via list (a
 * pointer into via), or NULL when via is NULL or empty. */
const char *sess_relay_peer(const char *via);
/* The "relay" object of a session or event ({"direction": "in"|"out",
 * "hops", "peer": node id or null}), or NULL for a client session (or out
 * of memory). A new cJSON object. */
struct cJSON *sess_relay_json(const sess_info_t *si);
/* A session event (publish.start, play.stop ...) through the node's event
 * sink (node_event(): the event log and webhooks, set by main.c): the
 * fields of conn_event_fields(), and with stop set also bytes_in,
 * bytes_out, duration_ms (the argument), dropped_frames for players,
 * reason (reason_name(why); "error" for REASON_NONE) and message (the
 * human text; "" for NULL). Returns the event id, 0 when not recorded. Loop
 * thread. */
uint64_t conn_event(node_t *node, const char *type, const sess_info_t *si, int stop,
                    int64_t duration_ms, reason_t why, const char *message);

/* A snapshot of the session on c (see sess_info_t). */
void conn_info(const conn_t *c, int64_t now_ms, sess_info_t *out);
/* "publisher", "player", "relay", "connecting". */
const char *sess_role_name(sess_role_t role);

/* Reaps closing connections (the node's deferred callback). */
void conn_reap_all(node_t *node);

#endif
