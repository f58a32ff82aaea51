/* rtmp_reply: the server's RTMP replies to a client, built once for both
 * loops: AMF0 _result/_error, onStatus, User Control events, and what a
 * player gets when its stream's publisher leaves within the grace period
 * and comes back. Each is encoded at the session's chunk size onto a sink
 * (sink.h): conn_sink() for the event loop's sessions (sess_rtmp.c), the
 * worker's for a player handed to a worker thread (rtmp_play_worker.h).
 *
 * Ownership: nothing is kept; strings are the caller's.
 * Threads: the thread that owns the sink.
 */
#ifndef WEIR_RTMP_REPLY_H
#define WEIR_RTMP_REPLY_H

#include <stdint.h>

#include "sink.h"
#include "stream.h"

/* Each returns 0, or what the sink said (NODE_ELIMIT: the connection is
 * closed; NODE_ENOMEM: the caller ends the session). */

/* `name` (_result or _error) for transaction txn with a null command
 * object and the number *num, or undefined when num is NULL. */
int rtmp_reply_result(const sink_t *out, uint32_t chunk_size, const char *name, double txn,
                      const double *num);
/* onStatus on the media stream with an info object: level, code,
 * description, details (the stream name), clientid (out->sess_id), and
 * source (NULL: none) as the relay answer's weir_source (relay_hops.h). */
int rtmp_reply_status(const sink_t *out, uint32_t chunk_size, const char *level, const char *code,
                      const char *desc, const char *details, const char *source);
/* connect's answer for transaction txn: _result with NetConnection.Connect.
 * Success when ok, else _error with NetConnection.Connect.Rejected; desc
 * its description, object_encoding echoed. */
int rtmp_reply_connect(const sink_t *out, uint32_t chunk_size, double txn, int ok,
                       const char *desc, double object_encoding);
/* |RtmpSampleAccess (true, true) on the media stream, after Play.Start. */
int rtmp_reply_sample_access(const sink_t *out, uint32_t chunk_size);
/* A User Control event with one value (Stream Begin, Stream EOF). */
int rtmp_reply_user_control(const sink_t *out, uint32_t chunk_size, uint16_t ev, uint32_t v);
/* A player's notice of ev: PLAYER_EV_UNPUBLISHED gives Stream EOF and
 * NetStream.Play.UnpublishNotify, PLAYER_EV_REPUBLISHED Stream Begin and
 * NetStream.Play.PublishNotify (details: the stream name); any other event
 * sends nothing. */
int rtmp_reply_player_event(const sink_t *out, uint32_t chunk_size, const char *details,
                            player_event_t ev);

#endif
