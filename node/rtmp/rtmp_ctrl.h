/* rtmp_ctrl: the glue between the pure RTMP protocol layer (rtmp_proto.h:
 * protocol control, data rewrite, aggregates) and the node's connections
 * and hub, written once for the server session (sess_rtmp.c) and the relay
 * link (relay_rtmp_link.c):
 *   - ingest: one received media message into a publisher (the hub);
 *   - the dispatch of every received message (control, command, media);
 *   - the senders of messages, control, AMF0 commands and data: encoded
 *     once (a message into chunks at the chunk size) onto a sink (sink.h,
 *     rtmp_ctrl_sink_*), and onto a connection's private output through
 *     its conn_sink() (rtmp_ctrl_send_*, which also close a connection out
 *     of memory); handshake bytes.
 *
 * Ownership: the caller owns the rtmp_proto_ctrl_t, the conn_t, the sink
 * and the publisher; nothing here keeps a pointer. Error strings are static.
 * Threads: the rtmp_ctrl_sink_* functions (rtmp_ctrl_sink_msg/_ctrl/_amf/
 * _dispatch) touch nothing but their arguments: any thread that owns the
 * sink and the rtmp_proto_ctrl_t (a worker thread for a handed-over player,
 * worker.h). Everything else is for the loop thread only (conn and stream
 * are the loop's).
 */
#ifndef WEIR_RTMP_CTRL_H
#define WEIR_RTMP_CTRL_H

#include <stdint.h>

#include "amf0.h"
#include "conn.h"
#include "rtmp_chunk.h"
#include "rtmp_handshake.h"
#include "rtmp_proto.h"
#include "sink.h"
#include "stream.h"

/* Pushes a received audio (8), video (9), data (18, AMF3 15 with its
 * leading 0 byte) or aggregate (22) message into pub, rewriting data with
 * rtmp_proto_data_rewrite(). Takes m->payload (set to NULL). Returns 1 if m was
 * one of those types, 0 if not (m untouched), or NODE_ENOMEM. An
 * undecodable data message or a truncated aggregate is logged (debug/warn
 * on pub->sess_id) and dropped, not an error; one over the AMF0 bounds is
 * counted in pub->data_over_bounds and logged at warn once per publisher. Players are not woken:
 * call stream_flush() after a batch. */
int rtmp_ctrl_ingest(publisher_t *pub, rtmp_msg_t *m, int64_t now_ms);

/* Encodes one message (fmt 0 + fmt 3 chunks at chunk_size, timestamp 0)
 * and gives its bytes to out->send() at once. Returns 0, or what the sink
 * said (NODE_ELIMIT, NODE_ENOMEM), or NODE_ENOMEM for the encoding. */
int rtmp_ctrl_sink_msg(const sink_t *out, uint32_t chunk_size, uint32_t csid, uint8_t type,
                       uint32_t stream_id, const uint8_t *payload, uint32_t len);
/* rtmp_ctrl_sink_msg() of a control message on RTMP_CSID_PROTO (len 0: no-op). */
int rtmp_ctrl_sink_ctrl(const sink_t *out, uint32_t chunk_size, const rtmp_proto_out_t *m);
/* rtmp_ctrl_sink_msg() of the AMF0 values in b, then frees b; NODE_ENOMEM
 * (nothing sent) when b ran out of memory. */
int rtmp_ctrl_sink_amf(const sink_t *out, uint32_t chunk_size, uint32_t csid, uint8_t type,
                       uint32_t stream_id, amf0_buf_t *b);

/* rtmp_ctrl_sink_msg() onto c's private output (conn_sink()). Returns 0, NODE_ELIMIT (the peer reads no
 * replies: conn_send() closed it), or NODE_ENOMEM (then the connection is
 * closed with "out of memory"). */
int rtmp_ctrl_send_msg(conn_t *c, uint32_t chunk_size, uint32_t csid, uint8_t type,
                       uint32_t stream_id, const uint8_t *payload, uint32_t len);
/* rtmp_ctrl_sink_ctrl() onto c, closed when out of memory. */
int rtmp_ctrl_send_ctrl(conn_t *c, uint32_t chunk_size, const rtmp_proto_out_t *m);
/* rtmp_ctrl_sink_amf() onto c (a command on RTMP_CSID_CMD with
 * RTMP_MSG_COMMAND_AMF0, or data): when b ran out of memory nothing is sent
 * and c is closed ("out of memory"). Returns 0 or NODE_ENOMEM. */
int rtmp_ctrl_send_amf(conn_t *c, uint32_t chunk_size, uint32_t csid, uint8_t type,
                       uint32_t stream_id, amf0_buf_t *b);
/* Queues the handshake bytes hs has to send on c (not flushed). Returns the
 * number of bytes queued (0: none pending). */
size_t rtmp_ctrl_send_handshake(conn_t *c, rtmp_hs_t *hs);

/* A command's AMF0 values (len bytes at p), for rtmp_ctrl_dispatch(). */
typedef void (*rtmp_ctrl_command_fn)(void *arg, const uint8_t *p, uint32_t len);

/* One message off the chunk stream of a session that does not publish (a
 * handed-over player, worker.h): protocol control goes to
 * rtmp_proto_ctrl_handle() and any reply to out at chunk_size; a command
 * (AMF0, or AMF3 past its leading 0 byte) to on_command(arg, ...);
 * anything else is dropped. Frees m->payload. Returns 0, NODE_EPROTO with
 * *err (bad protocol control: nothing sent), or NODE_ENOMEM (the reply). */
int rtmp_ctrl_sink_dispatch(rtmp_proto_ctrl_t *ctrl, const sink_t *out, uint32_t chunk_size,
                            rtmp_msg_t *m, rtmp_ctrl_command_fn on_command, void *arg,
                            const char **err);

/* One message off the chunk stream, taken as both ends take it: protocol
 * control goes to rtmp_proto_ctrl_handle() and any reply is sent on c at
 * chunk_size; a command (AMF0, or AMF3 past its leading 0 byte) goes to
 * on_command(arg, ...); media goes into pub with rtmp_ctrl_ingest() (pub NULL:
 * not publishing, dropped); anything else is dropped. Frees m->payload.
 * Returns 0, NODE_EPROTO with *err (bad protocol control: nothing sent), or
 * NODE_ENOMEM (ingest, or the reply: the caller closes c). */
int rtmp_ctrl_dispatch(rtmp_proto_ctrl_t *ctrl, conn_t *c, uint32_t chunk_size, rtmp_msg_t *m,
                       publisher_t *pub, rtmp_ctrl_command_fn on_command, void *arg,
                       const char **err);

/* After a batch of input on c: sends the Acknowledgement owed per the
 * peer's window, wakes the players of pub (NULL: not publishing) and
 * flushes c's output unless the socket is write-blocked. Nothing when c is
 * closing. */
void rtmp_ctrl_read_done(rtmp_proto_ctrl_t *ctrl, conn_t *c, uint32_t chunk_size, publisher_t *pub);

#endif
