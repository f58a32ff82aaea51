/* msg: a refcounted media message shared by every player of a stream.
 *
 * A message is created once from the publisher's payload and then only read.
 * Each wire format is encoded once and cached on the message: the RTMP
 * chunked form (fmt 0 + fmt 3 chunks, built lazily by the first RTMP player
 * that needs it, at the node's out chunk size) and the FLV tag framing (tag
 * header, PreviousTagSize, the HTTP chunked-transfer prefix and the
 * WebSocket binary frame header of one tag), which wrap the payload without
 * copying it. Players send these bytes by reference.
 * The MPEG-TS form (`mpegts`) is different: it is not built from the
 * message alone but by the stream's one TS muxer (stream_ts.c), in ring
 * order, so that continuity counters and parameter sets run across
 * messages; the hub stores it with msg_set_mpegts() while the stream has TS
 * consumers, and TS players (MSG_ENC_TS*) send it by reference too.
 * Threads: the loop thread makes, refs and unrefs messages (the refcount
 * is not atomic); msg_mem_bytes() may be read from any thread.
 */
#ifndef WEIR_MSG_H
#define WEIR_MSG_H

#include <stdint.h>
#include <sys/uio.h>

/* In-band event marker (not sent on the wire): the hub delivers the event
 * (stored in `ts`) to each player when its cursor reaches the marker, so a
 * player learns of an unpublish only after the media that preceded it. */
#define MSG_TYPE_EVENT 0xf0

enum {
    MSG_F_KEY = 1 << 0,       /* video key frame (coded, not a sequence header) */
    MSG_F_SEQHDR = 1 << 1,    /* audio or video sequence header */
    MSG_F_DROPPABLE = 1 << 2, /* non-key coded video: may be dropped for a slow player */
    MSG_F_META = 1 << 3       /* onMetaData */
};

/* RTMP chunk stream ids and message stream id used for shared media. */
#define MSG_RTMP_CSID_AUDIO 4
#define MSG_RTMP_CSID_VIDEO 6
#define MSG_RTMP_CSID_DATA 5
#define MSG_RTMP_STREAM_ID 1

/* MSG_ENC_WS_FLV: one WebSocket binary frame per FLV tag (ws_hdr, tag
 * header, payload, PreviousTagSize). */
typedef enum {
    MSG_ENC_RTMP = 0,
    MSG_ENC_FLV = 1,
    MSG_ENC_FLV_CHUNKED = 2,
    MSG_ENC_WS_FLV = 3,
    MSG_ENC_TS = 4,        /* the cached MPEG-TS packets (none for headers, metadata) */
    MSG_ENC_TS_CHUNKED = 5 /* the same as one HTTP chunk (nothing when there are none) */
} msg_enc_t;

static inline int msg_enc_is_ts(msg_enc_t enc)
{
    return enc == MSG_ENC_TS || enc == MSG_ENC_TS_CHUNKED;
}

typedef struct msg {
    uint32_t refcnt;
    uint8_t type;  /* 8 audio, 9 video, 18 data, or MSG_TYPE_EVENT */
    uint8_t flags; /* MSG_F_* */
    uint8_t chunk_pfx_len;
    uint8_t ws_hdr_len;
    uint32_t ts;
    uint32_t len;
    int64_t arrival_ms;  /* monotonic ms when the node received it */
    uint64_t stream_off; /* stream bytes before this message (lag accounting) */
    uint8_t *payload;    /* owned */
    uint8_t *rtmp;       /* cached RTMP chunked form, or NULL */
    uint32_t rtmp_len;
    uint32_t rtmp_chunk_size;
    uint8_t flv_hdr[11];
    char chunk_pfx[10]; /* "%x\r\n" for chunked transfer */
    uint8_t ws_hdr[10]; /* WebSocket binary frame header of the FLV tag */
    uint8_t tail[6];    /* PreviousTagSize + "\r\n" */
    uint8_t *mpegts;    /* cached MPEG-TS packets (msg_set_mpegts()), or NULL */
    struct msg_ts_old *mpegts_old; /* earlier packets maybe still in flight: freed with it */
    uint32_t mpegts_len;
    uint8_t mpegts_rap; /* they start with PAT/PMT and a random access point */
    uint8_t mpegts_pfx_len;
    char mpegts_pfx[10]; /* "%x\r\n" for chunked transfer */
} msg_t;

/* Bytes held by every message alive in the process: structs, payloads and
 * cached RTMP and MPEG-TS encodings (the hub's memory bound, limits.max_memory_mb).
 * Relaxed atomic: any thread may read it. */
uint64_t msg_mem_bytes(void);

/* Takes ownership of payload (malloc'd; freed with the message). Returns a
 * message with refcount 1, or NULL (payload freed) on allocation failure. */
msg_t *msg_new_adopt(uint8_t type, uint32_t ts, uint8_t *payload, uint32_t len);
/* Copies len bytes. */
msg_t *msg_new_copy(uint8_t type, uint32_t ts, const uint8_t *payload, uint32_t len);
/* An event marker carrying code (see MSG_TYPE_EVENT). */
msg_t *msg_new_event(uint32_t code);

static inline msg_t *msg_ref(msg_t *m)
{
    m->refcnt++;
    return m;
}
/* Drops one reference; frees at zero. NULL is a no-op. */
void msg_unref(msg_t *m);

/* Stores the message's MPEG-TS packets: takes ownership of buf (malloc'd,
 * len bytes; NULL with len 0 for none); rap as in mpegts_rap. Earlier
 * packets are freed at once, unless the message has references beyond
 * one (the ring's): then something may still be sending them (an HLS
 * answer holds a reference while its bytes are queued), and they are kept,
 * still counted in msg_mem_bytes(), until the message is freed. Out of
 * memory for that, buf is freed and the earlier packets stay. */
void msg_set_mpegts(msg_t *m, uint8_t *buf, uint32_t len, int rap);

/* Total bytes of the message in the given encoding (0 if the message is not
 * sent in that encoding, e.g. RTMP control to an FLV player, or headers to
 * a TS player: a TS player skips a message of 0 bytes). For RTMP,
 * encodes and caches the chunked form first (returns 0 if that allocation
 * fails; the caller then treats the player as failed). Event markers: 0. */
uint32_t msg_wire_len(msg_t *m, msg_enc_t enc, uint32_t chunk_size);

/* Fills up to 4 iovecs with the message's bytes in that encoding, skipping
 * the first `skip` bytes. Returns the iovec count (0 if nothing remains).
 * msg_wire_len() must have been called for RTMP first. */
int msg_iov(const msg_t *m, msg_enc_t enc, uint32_t skip, struct iovec *iov);

#endif
