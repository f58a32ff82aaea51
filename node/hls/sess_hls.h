/* sess_hls: HLS requests on the media HTTP port (loop thread). The HTTP-FLV
 * session (sess_httpflv.h) reads a request head; when its path is an HLS
 * resource (hls_path_parse()) it hands the connection over with
 * sess_hls_take(), which answers it and any later requests on the same
 * connection (HTTP/1.1 keep-alive, pipelined requests answered in order,
 * those behind a held one as soon as its answer is queued; a
 * later request that is not HLS is handed back, sess_hls_back_fn):
 *   GET|HEAD /{app}/{name}.m3u8      the media playlist (a new session is
 *                                    admitted when it carries no known token;
 *                                    a stream not live is waited for through
 *                                    the hub, as HTTP-FLV does: on-demand pull)
 *   GET|HEAD /{app}/{name}/{msn}.ts  a segment, by reference (a session's)
 *   GET|HEAD /{app}/{name}/{msn}.{part}.ts  an LL-HLS part (the next one is
 *                                    held until it is cut)
 * Held requests (blocking reloads, the next part, the first segment) wait
 * on the stream's HLS state (hls_stream_wait()), bounded in time and count.
 * The sessions are hls_sess.h's; the connection itself is a carrier
 * (conn_proto_t.carrier): not listed in /api/v1/sessions nor weir_sessions.
 */
#ifndef WEIR_SESS_HLS_H
#define WEIR_SESS_HLS_H

#include "conn.h"
#include "http_req.h"

/* 1 when the request's path is an HLS resource (or a malformed one). */
int sess_hls_wants(const http_req_t *req);
/* Gives a connection back to the media port's session (sess_httpflv.c) for
 * a later request that is not HLS (a browser reuses a pooled keep-alive
 * connection for an HTTP-FLV or HTTP-TS request): c->proto and c->ps are
 * free, the parser (holding req) passes to the callee, which answers req. */
typedef void (*sess_hls_back_fn)(conn_t *c, http_req_parser_t *parser, const http_req_t *req);
/* Takes the connection over (c->proto, c->ps) with the parser that holds
 * req (ownership passes: the caller frees its own state, not the parser)
 * and answers req; rest[0..rest_len) are the bytes read after req's head
 * (pipelined requests, copied; at most 16 KB), answered in order after it;
 * a later request on c that is not an HLS resource goes to back. */
void sess_hls_take(conn_t *c, http_req_parser_t *parser, const http_req_t *req, const uint8_t *rest,
                   size_t rest_len, sess_hls_back_fn back);

#endif
