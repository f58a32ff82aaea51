/* rtmp_proto: what both ends of an RTMP session do alike once the handshake
 * is done, without I/O (pure: no sockets, no libevent, no hub):
 *   - protocol control on the chunk stream input: Set Chunk Size and Abort
 *     go to the chunk parser, Window Acknowledgement Size is recorded, a
 *     User Control ping request is answered, Acknowledgement and Set Peer
 *     Bandwidth are taken note of; the Acknowledgements owed per the peer's
 *     window; builders of the control messages a session sends;
 *   - the data message rewrite (@setDataFrame("onMetaData", obj) becomes
 *     onMetaData(obj)) and the aggregate message splitter.
 * The client command sequence built on it is rtmp_proto_client.h; the
 * conn/hub glue of the node's sessions is rtmp_ctrl.h.
 *
 * Ownership: an rtmp_proto_ctrl_t owns its chunk parser; the caller owns
 * the rtmp_proto_ctrl_t (usually inside its session state). Error strings
 * are static. Threads: none of its own; any one thread per rtmp_proto_ctrl_t
 * (the loop thread in the node, the tool's thread in tools and tests).
 */
#ifndef WEIR_RTMP_PROTO_H
#define WEIR_RTMP_PROTO_H

#include <stdint.h>

#include "rtmp_chunk.h"

/* Chunk stream ids of protocol control and of commands. */
#define RTMP_CSID_PROTO 2
#define RTMP_CSID_CMD 3

typedef struct {
    rtmp_chunk_parser_t *parser; /* owned */
    uint32_t peer_window;        /* the peer's Window Acknowledgement Size; 0 none yet */
    uint64_t acked;              /* bytes read when the last Acknowledgement was due */
} rtmp_proto_ctrl_t;

/* A protocol control message to send on RTMP_CSID_PROTO, stream id 0. */
typedef struct {
    uint8_t type; /* RTMP_MSG_* */
    uint32_t len; /* 0: nothing to send */
    uint8_t payload[10];
} rtmp_proto_out_t;

/* Creates the parser (see rtmp_chunk_parser_new()). Returns 0 or
 * NODE_ENOMEM (c is then freed by rtmp_proto_ctrl_free() all the same). */
int rtmp_proto_ctrl_init(rtmp_proto_ctrl_t *c, uint32_t max_msg, unsigned max_csids);
/* Frees what c owns; safe on a zeroed or freed rtmp_proto_ctrl_t. */
void rtmp_proto_ctrl_free(rtmp_proto_ctrl_t *c);

/* Handles m if it is protocol control (types 1-6): Set Chunk Size and Abort
 * go to the parser, Window Acknowledgement Size is recorded, a User Control
 * ping request yields its ping response in *reply (else reply->len is 0);
 * Acknowledgement and Set Peer Bandwidth are taken note of and dropped.
 * Returns 1 (handled; m->payload still belongs to the caller), 0 (not
 * control: untouched), or -1 with *err (a chunk size out of range). */
int rtmp_proto_ctrl_handle(rtmp_proto_ctrl_t *c, const rtmp_msg_t *m, rtmp_proto_out_t *reply,
                           const char **err);

/* After reading: 1 with the Acknowledgement to send in *ack when bytes_in
 * (everything read so far) has grown by the peer's window since the last
 * one; else 0. */
int rtmp_proto_ack_due(rtmp_proto_ctrl_t *c, uint64_t bytes_in, rtmp_proto_out_t *ack);

/* Fills out with a User Control event with one 32-bit value (Stream Begin,
 * Stream EOF, ping response) or, for RTMP_UC_SET_BUFFER_LENGTH, with the
 * stream id v and the buffer length v2 in ms (v2 is ignored otherwise). */
void rtmp_proto_user_control(rtmp_proto_out_t *out, uint16_t ev, uint32_t v, uint32_t v2);
/* Fills out with a 32-bit control message (Set Chunk Size, Window
 * Acknowledgement Size, Acknowledgement). */
void rtmp_proto_u32(rtmp_proto_out_t *out, uint8_t type, uint32_t v);
/* Fills out with Set Peer Bandwidth (window, limit type 0-2). */
void rtmp_proto_peer_bw(rtmp_proto_out_t *out, uint32_t window, uint8_t limit);

/* ---- media payloads ------------------------------------------------------ */

/* A data message (AMF0 values) as players get it: @setDataFrame is
 * stripped, messages whose first value starts with '|' (|RtmpSampleAccess)
 * are dropped, others pass through re-encoded. Returns a malloc'd payload
 * with *outlen, or NULL: dropped (*err NULL) or undecodable / out of memory
 * (*err set). */
uint8_t *rtmp_proto_data_rewrite(const uint8_t *p, uint32_t len, uint32_t *outlen,
                                 const char **err);

/* Walks an aggregate message: FLV-tag-like parts (11-byte header, body,
 * 4-byte back pointer) whose timestamps are relative to the first part and
 * are rebased onto the aggregate's own timestamp. Only audio (8), video (9)
 * and AMF0 data (18) parts are returned; others are skipped, and a tail
 * under 11 bytes is ignored. */
typedef struct {
    const uint8_t *p;
    uint32_t len, off;
    uint32_t ts, first_ts;
    int first;
} rtmp_proto_agg_t;

void rtmp_proto_agg_init(rtmp_proto_agg_t *it, const uint8_t *p, uint32_t len, uint32_t ts);
/* 1 with the next part (body points into the aggregate), 0 at the end, -1
 * when a part's size runs past the message (nothing more is returned). */
int rtmp_proto_agg_next(rtmp_proto_agg_t *it, uint8_t *type, uint32_t *ts, const uint8_t **body,
                        uint32_t *size);

#endif
