/* rtmp_session_mutator: a chunk-level model of what an RTMP client sends
 * (handshake, then messages in chunks), for the custom mutator and
 * cross-over of fuzz_rtmp_session.
 *
 * rsm_parse() reads a stream the way the server's chunk parser does: the
 * handshake bytes (C0, C1, C2), then chunks, following each chunk stream's
 * header state and the client's Set Chunk Size. Messages are kept in the
 * order of their first chunk, with that chunk's header fields (fmt, csid,
 * timestamp field, length, type, stream id) and the payload. What does not
 * parse (a cut header, a header the server refuses) stays a raw tail.
 * rsm_write() cuts the messages into chunks again at the chunk size in
 * force, so parse then write gives the input back for a stream whose chunk
 * streams do not interleave (what ffmpeg sends).
 */
#ifndef WEIR_RTMP_SESSION_MUTATOR_H
#define WEIR_RTMP_SESSION_MUTATOR_H

#include <stddef.h>
#include <stdint.h>

#define RSM_HANDSHAKE_LEN (1 + 2 * 1536)
#define RSM_MAX_MSGS 8192
#define RSM_MAX_CS 1024

typedef struct {
    uint8_t fmt;      /* header type of the first chunk, 0-3 */
    uint8_t type;     /* message type */
    uint8_t ext_rep;  /* fmt 3 chunks repeat the extended timestamp */
    uint32_t csid;    /* chunk stream, 2..65599 */
    uint32_t tsf;     /* timestamp field: absolute (fmt 0) or delta (1-3) */
    uint32_t len;     /* message length the server expects */
    uint32_t sid;     /* message stream id */
    uint32_t plen;    /* payload bytes held: len, or less for a lie or a cut */
    uint8_t *payload; /* malloc'd, or NULL when plen is 0 */
} rsm_msg_t;

typedef struct {
    uint8_t hs[RSM_HANDSHAKE_LEN];
    size_t hs_len;
    rsm_msg_t *msgs;
    size_t n, cap;
    uint8_t *tail; /* bytes after the last chunk that parsed */
    size_t tail_len;
} rsm_stream_t;

/* Parses data into s (zeroed by the call). Returns 0, or -1 when out of
 * memory (s is then empty). Free with rsm_free(). */
int rsm_parse(rsm_stream_t *s, const uint8_t *data, size_t size);
/* Writes s to out; returns the bytes written, or 0 when over max. */
size_t rsm_write(const rsm_stream_t *s, uint8_t *out, size_t max);
void rsm_free(rsm_stream_t *s);

/* The mutator and the cross-over (LLVMFuzzerCustomMutator and
 * LLVMFuzzerCustomCrossOver call these). */
size_t rsm_mutate(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t rsm_cross_over(const uint8_t *d1, size_t s1, const uint8_t *d2, size_t s2, uint8_t *out,
                      size_t max_out, unsigned int seed);

#endif
