/* sess_wsflv: WebSocket-FLV (RFC 6455) on the HTTP-FLV session: a GET of
 * /APP/NAME.flv with "Upgrade: websocket" is admitted and played exactly as
 * HTTP-FLV (sess_httpflv.c owns the request, the admission, the player and
 * the events); this module owns what differs: the upgrade check, the 101
 * answer, the client's frames after it (ping -> pong, close -> close echo,
 * a protocol error -> close 1002 or 1009, data frames ignored up to
 * WSFLV_MAX_DATA bytes a message), the server's pings every
 * http_flv.ws_ping_ms, the idle cut after http_flv.ws_idle_timeout_ms
 * without a frame from the client, and the close frame that ends the
 * session. Media goes out as MSG_ENC_WS_FLV (msg.h), one binary frame per
 * FLV tag, from the shared messages.
 *
 * The session rules write through a sink (sink.h), not a conn_t, so that
 * they run on the event loop (conn_sink()) and on a worker thread alike:
 * with workers > 1 a WebSocket-FLV player may be handed to a worker
 * (worker.h) with its wsflv_t, which WSFLV_WORKER_PROTO drives there.
 * Threads: wsflv_check() on the loop thread; a wsflv_t is then used by
 * one thread at a time: the loop's, or after worker_handover() succeeded
 * the worker's only (which frees it).
 */
#ifndef WEIR_SESS_WSFLV_H
#define WEIR_SESS_WSFLV_H

#include "conf.h"
#include "http_req.h"
#include "reason.h"
#include "sink.h"
#include "worker.h"

/* Largest data message a client may send (it is read and ignored). */
#define WSFLV_MAX_DATA 65536

typedef struct wsflv wsflv_t;

/* How a session must end, when a wsflv_on_* function says so. */
typedef struct {
    reason_t why;
    const char *reason; /* static string */
} wsflv_end_t;

/* Checks req for a WebSocket upgrade: 0 when it asks for none (plain
 * HTTP-FLV), 1 for a valid one (*out: new state, the caller frees it with
 * wsflv_free()), or the HTTP status to answer a malformed one (400, or 426
 * with "Sec-WebSocket-Version: 13") with *why (static string); or 503 when
 * out of memory. */
int wsflv_check(const http_req_t *req, wsflv_t **out, const char **why);
/* NULL is a no-op. */
void wsflv_free(wsflv_t *ws);

/* Queues 101 Switching Protocols and the first binary frame (the FLV file
 * header and PreviousTagSize0) on out; the session's ping period and idle
 * cut are conf's (http_flv.ws_ping_ms, ws_idle_timeout_ms). */
void wsflv_respond(wsflv_t *ws, const sink_t *out, const conf_t *conf, int64_t now_ms);

/* Client bytes: 1 when the session must end (*end), else 0. Pongs are
 * queued on out (the caller flushes). */
int wsflv_on_read(wsflv_t *ws, const sink_t *out, const uint8_t *data, size_t len, int64_t now_ms,
                  wsflv_end_t *end);

/* Pings and the idle cut: 1 when the session must end (*end), else 0. */
int wsflv_on_tick(wsflv_t *ws, const sink_t *out, int64_t now_ms, wsflv_end_t *end);

/* Queues the close frame that ends the session on out, after the rest of
 * the media frame in flight of out->player, which goes ahead of any
 * control frame queued while it was half out (sink.h's send_first), so the
 * framing stays whole: the client's code echoed,
 * the parser's error code, or one for why (1000 the stream ended, 1001
 * shutdown, drain, idle cut, 1008 a kick). Once; not before the upgrade. */
void wsflv_send_close(wsflv_t *ws, const sink_t *out, reason_t why);

/* The same rules on a worker thread: worker_handover()'s proto for a
 * WebSocket-FLV player (its state: the session's wsflv_t, upgraded). */
extern const worker_proto_t WSFLV_WORKER_PROTO;

/* "ws-flv", the protocol of sessions and events. */
#define WSFLV_PROTOCOL "ws-flv"

#endif
