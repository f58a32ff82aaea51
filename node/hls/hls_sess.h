/* hls_sess: HLS player sessions. HTTP carries HLS as independent requests,
 * so a player is identified by a token the node puts into the URIs of the
 * playlist it serves (?hls_session=TOKEN, HLS_TOKEN_PARAM, 22 random
 * URL-safe characters): a playlist request without a token (or with one
 * this node does not know, e.g. after a restart) belongs to the newest
 * session of the same stream from the same client (remote address without
 * the port, and User-Agent), since players (hls.js, ffmpeg, GStreamer, VLC)
 * reload the URL they were given; with none, it is admitted and starts a
 * new session, whose token the answer's URIs carry; later requests with
 * the token belong to it. A session is counted as a player of its stream,
 * records play.start when it starts and play.stop after hls.idle_timeout_s
 * without a request (or at a kick), and is listed with protocol "hls".
 * A kicked session's token is refused (403) until its idle timeout.
 *
 * The sessions live in the module (at most HLS_SESS_MAX). Everything here
 * runs on the event loop thread only.
 */
#ifndef WEIR_HLS_SESS_H
#define WEIR_HLS_SESS_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "hls_playlist.h"
#include "hls_stream.h"

#define HLS_SESS_MAX 100000
#define HLS_SESS_PROTOCOL "hls"

typedef struct hls_sess hls_sess_t;

/* The session with that token (kicked ones included), or NULL. */
hls_sess_t *hls_sess_find(const char *token);
/* The newest session (kicked ones included) of app/name from the client of
 * remote ("host:port"; the port is not compared) with User-Agent ua (NULL:
 * none sent), or NULL. */
hls_sess_t *hls_sess_find_client(const char *app, const char *name, const char *remote,
                                 const char *ua);
/* A new session of remote (with User-Agent ua, NULL: none) on app/name
 * (whose HLS state exists): its id and token, counted as a player
 * (hls_stream_players()), play.start recorded. NULL when over
 * HLS_SESS_MAX or out of memory. */
hls_sess_t *hls_sess_new(node_t *node, const char *app, const char *name, const char *remote,
                         const char *ua);
/* The session's id (as listed), its token, and whether it was kicked (its requests: 403). */
uint64_t hls_sess_id(const hls_sess_t *s);
const char *hls_sess_token(const hls_sess_t *s);
int hls_sess_kicked(const hls_sess_t *s);
/* 1 when the session plays app/name. */
int hls_sess_plays(const hls_sess_t *s, const char *app, const char *name);
/* A request of the session: restarts its idle timeout; bytes sent. */
void hls_sess_touch(hls_sess_t *s, uint64_t bytes);
/* The API's view (sess_info_t of conn.h, protocol "hls", role player). */
void hls_sess_info(const hls_sess_t *s, int64_t now_ms, sess_info_t *out);
/* Calls cb for the live (not kicked) sessions with an id above after, in id
 * order, until cb returns nonzero. */
void hls_sess_after(uint64_t after, int (*cb)(const sess_info_t *si, void *arg), void *arg);
/* The live session with that id, or NULL. */
hls_sess_t *hls_sess_by_id(uint64_t id);
/* Ends the session (play.stop with why and reason); its token is refused
 * from now on until its idle timeout. */
void hls_sess_kick(node_t *node, hls_sess_t *s, reason_t why, const char *reason);
/* Ends every live session of app/name (hls_sess_kick(): play.stop with
 * why and reason; the stream was closed). Returns how many. */
size_t hls_sess_end_stream(node_t *node, const char *app, const char *name, reason_t why,
                           const char *reason);
/* Idle timeouts (the module's tick). */
void hls_sess_tick(node_t *node, int64_t now_ms);
/* The node stops: every live session ends (play.stop, REASON_SHUTDOWN). */
void hls_sess_end_all(node_t *node);
/* Frees every session (no events: the node is stopping). */
void hls_sess_free_all(void);

#endif
