/* rtmp_ctrl: what both ends of an RTMP session do alike once the handshake
 * is done, written once for the server session (sess_rtmp.c) and the relay
 * client (sess_rtmp_client.c):
 *   - the chunk stream input with protocol control: Set Chunk Size, Abort,
 *     Window Acknowledgement Size, User Control ping requests, and the
 *     Acknowledgements owed per the peer's window (pure: the caller sends
 *     the replies it is handed);
 *   - the data message rewrite (@setDataFrame("onMetaData", obj) becomes
 *     onMetaData(obj)) and the aggregate message splitter (pure);
 *   - ingest: one received media message into a publisher (the hub), the
 *     dispatch of every received message (control, command, media), and
 *     the senders onto a connection's private output: messages, AMF0
 *     commands and data, handshake bytes (glue).
 *
 * Ownership: an rtmp_ctrl_t owns its chunk parser; the caller owns the
 * rtmp_ctrl_t (usually inside its session state). Error strings are static.
 */
#ifndef WEIR_RTMP_CTRL_H
#define WEIR_RTMP_CTRL_H

#include <stdint.h>

#include "amf0.h"
#include "conn.h"
#include "rtmp_chunk.h"
#include "rtmp_handshake.h"
#include "stream.h"

/* Chunk stream ids of protocol control and of commands. */
#define RTMP_CSID_PROTO 2
#define RTMP_CSID_CMD 3

typedef struct {
    rtmp_chunk_parser_t *parser; /* owned */
    uint32_t peer_window;        /* the peer's Window Acknowledgement Size; 0 none yet */
    uint64_t acked;              /* bytes read when the last Acknowledgement was due */
} rtmp_ctrl_t;

/* A protocol control message to send on RTMP_CSID_PROTO, stream id 0. */
typedef struct {
    uint8_t type; /* RTMP_MSG_* */
    uint32_t len; /* 0: nothing to send */
    uint8_t payload[10];
} rtmp_ctrl_out_t;

/* Creates the parser (see rtmp_chunk_parser_new()). Returns 0 or
 * NODE_ENOMEM (c is then freed by rtmp_ctrl_free() all the same). */
int rtmp_ctrl_init(rtmp_ctrl_t *c, uint32_t max_msg, unsigned max_csids);
/* Frees what c owns; safe on a zeroed or freed rtmp_ctrl_t. */
void rtmp_ctrl_free(rtmp_ctrl_t *c);

/* Handles m if it is protocol control (types 1-6): Set Chunk Size and Abort
 * go to the parser, Window Acknowledgement Size is recorded, a User Control
 * ping request yields its ping response in *reply (else reply->len is 0);
 * Acknowledgement and Set Peer Bandwidth are taken note of and dropped.
 * Returns 1 (handled; m->payload still belongs to the caller), 0 (not
 * control: untouched), or -1 with *err (a chunk size out of range). */
int rtmp_ctrl_handle(rtmp_ctrl_t *c, const rtmp_msg_t *m, rtmp_ctrl_out_t *reply, const char **err);

/* After reading: 1 with the Acknowledgement to send in *ack when bytes_in
 * (everything read so far, handshake included) has grown by the peer's
 * window since the last one; else 0. */
int rtmp_ctrl_ack_due(rtmp_ctrl_t *c, uint64_t bytes_in, rtmp_ctrl_out_t *ack);

/* Fills out with a User Control event with one 32-bit value (Stream Begin,
 * Stream EOF, ping response) or, for RTMP_UC_SET_BUFFER_LENGTH, with the
 * stream id v and the buffer length v2 in ms (v2 is ignored otherwise). */
void rtmp_ctrl_user_control(rtmp_ctrl_out_t *out, uint16_t ev, uint32_t v, uint32_t v2);
/* Fills out with a 32-bit control message (Set Chunk Size, Window
 * Acknowledgement Size, Acknowledgement). */
void rtmp_ctrl_u32(rtmp_ctrl_out_t *out, uint8_t type, uint32_t v);

/* ---- media payloads (pure) ---------------------------------------------- */

/* A data message (AMF0 values) as players get it: @setDataFrame is
 * stripped, messages whose first value starts with '|' (|RtmpSampleAccess)
 * are dropped, others pass through re-encoded. Returns a malloc'd payload
 * with *outlen, or NULL: dropped (*err NULL) or undecodable / out of memory
 * (*err set). */
uint8_t *rtmp_data_rewrite(const uint8_t *p, uint32_t len, uint32_t *outlen, const char **err);

/* Walks an aggregate message: FLV-tag-like parts (11-byte header, body,
 * 4-byte back pointer) whose timestamps are relative to the first part and
 * are rebased onto the aggregate's own timestamp. A tail under 11 bytes is
 * ignored. */
typedef struct {
    const uint8_t *p;
    uint32_t len, off;
    uint32_t ts, first_ts;
    int first;
} rtmp_agg_iter_t;

void rtmp_agg_init(rtmp_agg_iter_t *it, const uint8_t *p, uint32_t len, uint32_t ts);
/* 1 with the next part (body points into the aggregate), 0 at the end, -1
 * when a part's size runs past the message (nothing more is returned). */
int rtmp_agg_next(rtmp_agg_iter_t *it, uint8_t *type, uint32_t *ts, const uint8_t **body,
                  uint32_t *size);

/* ---- glue ---------------------------------------------------------------- */

/* Pushes a received audio (8), video (9), data (18, AMF3 15 with its
 * leading 0 byte) or aggregate (22) message into pub, rewriting data with
 * rtmp_data_rewrite(). Takes m->payload (set to NULL). Returns 1 if m was
 * one of those types, 0 if not (m untouched), or NODE_ENOMEM. An
 * undecodable data message or a truncated aggregate is logged (debug/warn
 * on pub->sess_id) and dropped, not an error; one over the AMF0 bounds is
 * counted in pub->data_over_bounds and logged at warn once per publisher. Players are not woken:
 * call stream_flush() after a batch. */
int rtmp_ingest(publisher_t *pub, rtmp_msg_t *m, int64_t now_ms);

/* Encodes one message (fmt 0 + fmt 3 chunks at chunk_size, timestamp 0)
 * onto c's private output. Returns 0, NODE_ELIMIT (the peer reads no
 * replies: conn_send() closed it), or NODE_ENOMEM (then the connection is
 * closed with "out of memory"). */
int rtmp_send_msg(conn_t *c, uint32_t chunk_size, uint32_t csid, uint8_t type, uint32_t stream_id,
                  const uint8_t *payload, uint32_t len);
/* rtmp_send_msg() of a control message on RTMP_CSID_PROTO (len 0: no-op). */
int rtmp_send_ctrl(conn_t *c, uint32_t chunk_size, const rtmp_ctrl_out_t *m);
/* rtmp_send_msg() of the AMF0 values encoded in b (a command on
 * RTMP_CSID_CMD with RTMP_MSG_COMMAND_AMF0, or data), then frees b. When b
 * ran out of memory nothing is sent and c is closed ("out of memory").
 * Returns 0 or NODE_ENOMEM. */
int rtmp_send_amf(conn_t *c, uint32_t chunk_size, uint32_t csid, uint8_t type, uint32_t stream_id,
                  amf0_buf_t *b);
/* Queues the handshake bytes hs has to send on c (not flushed). Returns the
 * number of bytes queued (0: none pending). */
size_t rtmp_send_handshake(conn_t *c, rtmp_hs_t *hs);

/* A command's AMF0 values (len bytes at p), for rtmp_ctrl_dispatch(). */
typedef void (*rtmp_command_fn)(void *arg, const uint8_t *p, uint32_t len);

/* One message off the chunk stream, taken as both ends take it: protocol
 * control goes to rtmp_ctrl_handle() and any reply is sent on c at
 * chunk_size; a command (AMF0, or AMF3 past its leading 0 byte) goes to
 * on_command(arg, ...); media goes into pub with rtmp_ingest() (pub NULL:
 * not publishing, dropped); anything else is dropped. Frees m->payload.
 * Returns 0, NODE_EPROTO with *err (bad protocol control: nothing sent), or
 * NODE_ENOMEM (ingest). */
int rtmp_ctrl_dispatch(rtmp_ctrl_t *ctrl, conn_t *c, uint32_t chunk_size, rtmp_msg_t *m,
                       publisher_t *pub, rtmp_command_fn on_command, void *arg, const char **err);

/* After a batch of input on c: sends the Acknowledgement owed per the
 * peer's window, wakes the players of pub (NULL: not publishing) and
 * flushes c's output unless the socket is write-blocked. Nothing when c is
 * closing. */
void rtmp_read_done(rtmp_ctrl_t *ctrl, conn_t *c, uint32_t chunk_size, publisher_t *pub);

#endif
