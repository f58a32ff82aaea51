/* rtmp_chunk: RTMP chunk stream parser and encoder (pure: no I/O).
 *
 * The parser reassembles messages from interleaved chunk streams: fmt 0-3
 * headers, 1-3 byte basic headers (csid up to 65599), timestamp deltas,
 * extended timestamps (also on fmt 3 continuation chunks; a fmt 3 chunk whose
 * next 4 bytes do not repeat the extended timestamp is accepted without them,
 * as some encoders omit it). It never buffers more than max_msg bytes per
 * message and tracks at most max_csids chunk streams at once.
 * Threads: pure, no globals: any thread may call it on its own objects.
 */
#ifndef WEIR_RTMP_CHUNK_H
#define WEIR_RTMP_CHUNK_H

#include "common.h"

#define RTMP_DEFAULT_CHUNK_SIZE 128
#define RTMP_MAX_CHUNK_SIZE 0x7fffffff
#define RTMP_MAX_CSID 65599

/* Message type ids. */
enum {
    RTMP_MSG_SET_CHUNK_SIZE = 1,
    RTMP_MSG_ABORT = 2,
    RTMP_MSG_ACK = 3,
    RTMP_MSG_USER_CONTROL = 4,
    RTMP_MSG_WINDOW_ACK_SIZE = 5,
    RTMP_MSG_SET_PEER_BW = 6,
    RTMP_MSG_AUDIO = 8,
    RTMP_MSG_VIDEO = 9,
    RTMP_MSG_DATA_AMF3 = 15,
    RTMP_MSG_SHARED_OBJ_AMF3 = 16,
    RTMP_MSG_COMMAND_AMF3 = 17,
    RTMP_MSG_DATA_AMF0 = 18,
    RTMP_MSG_SHARED_OBJ_AMF0 = 19,
    RTMP_MSG_COMMAND_AMF0 = 20,
    RTMP_MSG_AGGREGATE = 22
};

/* User control event types. */
enum {
    RTMP_UC_STREAM_BEGIN = 0,
    RTMP_UC_STREAM_EOF = 1,
    RTMP_UC_STREAM_DRY = 2,
    RTMP_UC_SET_BUFFER_LENGTH = 3,
    RTMP_UC_STREAM_IS_RECORDED = 4,
    RTMP_UC_PING_REQUEST = 6,
    RTMP_UC_PING_RESPONSE = 7
};

/* A complete message. The payload is malloc'd by the parser and owned by
 * the caller once returned (free() it, or adopt it). */
typedef struct {
    uint32_t csid;
    uint8_t type;
    uint32_t stream_id;
    uint32_t timestamp; /* absolute, in ms, wrapping at 2^32 */
    uint32_t len;
    uint8_t *payload;
} rtmp_msg_t;

typedef struct rtmp_chunk_parser rtmp_chunk_parser_t;

/* max_msg: largest message accepted (bytes); max_csids: most chunk streams
 * tracked at once. Returns NULL on allocation failure. */
rtmp_chunk_parser_t *rtmp_chunk_parser_new(uint32_t max_msg, unsigned max_csids);
void rtmp_chunk_parser_free(rtmp_chunk_parser_t *p);

/* Consumes up to len bytes, sets *used. Returns PARSE_OK as soon as one
 * message is complete (in *out; the remaining input is not consumed, so the
 * caller can apply a Set Chunk Size before feeding the rest),
 * PARSE_NEED_MORE once all input is consumed, or PARSE_ERR_PROTO /
 * PARSE_ERR_TOO_BIG with *err a static string. After an error the parser
 * must not be fed again. */
parse_rc_t rtmp_chunk_feed(rtmp_chunk_parser_t *p, const uint8_t *src, size_t len, size_t *used,
                           rtmp_msg_t *out, const char **err);

/* The *err of the two configured bounds (PARSE_ERR_TOO_BIG): a caller tells
 * them apart from each other and from out-of-memory by comparing pointers. */
extern const char RTMP_CHUNK_ERR_MESSAGE_TOO_BIG[];        /* over max_msg */
extern const char RTMP_CHUNK_ERR_TOO_MANY_CHUNK_STREAMS[]; /* over max_csids */

/* Incoming chunk size (from the peer's Set Chunk Size): 1..0x7fffffff.
 * Returns 0 or NODE_EINVAL. */
int rtmp_chunk_parser_set_chunk_size(rtmp_chunk_parser_t *p, uint32_t size);
/* Abort message: drop the partial message of csid. */
void rtmp_chunk_parser_abort(rtmp_chunk_parser_t *p, uint32_t csid);

/* Bytes rtmp_chunk_encode() writes for a message of len bytes. */
size_t rtmp_chunk_encoded_size(uint32_t csid, uint32_t ts, uint32_t len, uint32_t chunk_size);

/* Encodes one message as a fmt 0 chunk followed by fmt 3 chunks of
 * chunk_size payload bytes each (extended timestamp when ts >= 0xffffff,
 * repeated on every fmt 3 chunk). dst must hold rtmp_chunk_encoded_size()
 * bytes. Returns the bytes written. */
size_t rtmp_chunk_encode(uint8_t *dst, uint32_t csid, uint8_t type, uint32_t stream_id, uint32_t ts,
                         const uint8_t *payload, uint32_t len, uint32_t chunk_size);

#endif
