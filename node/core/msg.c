#include "msg.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flv.h"
#include "rtmp_chunk.h"
#include "ws.h"

/* Updated with relaxed atomics: messages are made and freed on the loop, but
 * a reader (or a future recorder thread dropping its references) may be on
 * another thread. */
static uint64_t mem_bytes;

static void mem_add(uint64_t n)
{
    __atomic_fetch_add(&mem_bytes, n, __ATOMIC_RELAXED);
}

static void mem_sub(uint64_t n)
{
    __atomic_fetch_sub(&mem_bytes, n, __ATOMIC_RELAXED);
}

uint64_t msg_mem_bytes(void)
{
    return __atomic_load_n(&mem_bytes, __ATOMIC_RELAXED);
}

static msg_t *msg_alloc(uint8_t type, uint32_t ts, uint8_t *payload, uint32_t len)
{
    msg_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->refcnt = 1;
    m->type = type;
    m->ts = ts;
    m->len = len;
    m->payload = payload;
    mem_add(sizeof *m + len);
    if (type != MSG_TYPE_EVENT) {
        flv_write_tag_header(m->flv_hdr, type, len, ts);
        flv_write_prev_size(m->tail, len);
        m->tail[4] = '\r';
        m->tail[5] = '\n';
        m->chunk_pfx_len = (uint8_t)snprintf(m->chunk_pfx, sizeof m->chunk_pfx, "%x\r\n",
                                             (unsigned)(FLV_TAG_HEADER_SIZE + len + FLV_PREV_SIZE));
        m->ws_hdr_len = (uint8_t)ws_frame_header(m->ws_hdr, WS_OP_BINARY,
                                                 FLV_TAG_HEADER_SIZE + (uint64_t)len + FLV_PREV_SIZE);
    }
    return m;
}

msg_t *msg_new_adopt(uint8_t type, uint32_t ts, uint8_t *payload, uint32_t len)
{
    msg_t *m = msg_alloc(type, ts, payload, len);
    if (!m)
        free(payload);
    return m;
}

msg_t *msg_new_copy(uint8_t type, uint32_t ts, const uint8_t *payload, uint32_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, payload, len);
    return msg_new_adopt(type, ts, p, len);
}

msg_t *msg_new_event(uint32_t code)
{
    return msg_alloc(MSG_TYPE_EVENT, code, NULL, 0);
}

/* Earlier MPEG-TS packets that may still be in flight, kept until the
 * message is freed (msg_set_mpegts()). */
struct msg_ts_old {
    struct msg_ts_old *next;
    uint8_t *buf;
    uint32_t len; /* still counted in msg_mem_bytes() */
};

void msg_unref(msg_t *m)
{
    if (!m)
        return;
    assert(m->refcnt > 0);
    if (--m->refcnt > 0)
        return;
    mem_sub(sizeof *m + m->len + (m->rtmp ? m->rtmp_len : 0) + m->mpegts_len);
    while (m->mpegts_old) {
        struct msg_ts_old *o = m->mpegts_old;
        m->mpegts_old = o->next;
        mem_sub(o->len);
        free(o->buf);
        free(o);
    }
    free(m->rtmp);
    free(m->mpegts);
    free(m->payload);
    free(m);
}

void msg_set_mpegts(msg_t *m, uint8_t *buf, uint32_t len, int rap)
{
    if (m->mpegts && m->refcnt > 1) {
        struct msg_ts_old *o = malloc(sizeof *o);
        if (!o) {
            free(buf);
            return;
        }
        *o = (struct msg_ts_old){m->mpegts_old, m->mpegts, m->mpegts_len};
        m->mpegts_old = o;
    } else {
        mem_sub(m->mpegts_len);
        free(m->mpegts);
    }
    m->mpegts = buf;
    m->mpegts_len = buf ? len : 0;
    m->mpegts_rap = buf && rap;
    mem_add(m->mpegts_len);
    m->mpegts_pfx_len =
        (uint8_t)snprintf(m->mpegts_pfx, sizeof m->mpegts_pfx, "%x\r\n", (unsigned)m->mpegts_len);
}

static uint32_t rtmp_csid(uint8_t type)
{
    switch (type) {
    case RTMP_MSG_AUDIO: return MSG_RTMP_CSID_AUDIO;
    case RTMP_MSG_VIDEO: return MSG_RTMP_CSID_VIDEO;
    default: return MSG_RTMP_CSID_DATA;
    }
}

uint32_t msg_wire_len(msg_t *m, msg_enc_t enc, uint32_t chunk_size)
{
    if (m->type == MSG_TYPE_EVENT)
        return 0;
    switch (enc) {
    case MSG_ENC_RTMP:
        if (!m->rtmp || m->rtmp_chunk_size != chunk_size) {
            uint32_t csid = rtmp_csid(m->type);
            size_t n = rtmp_chunk_encoded_size(csid, m->ts, m->len, chunk_size);
            uint8_t *buf = malloc(n);
            if (!buf)
                return 0;
            rtmp_chunk_encode(buf, csid, m->type, MSG_RTMP_STREAM_ID, m->ts, m->payload, m->len,
                              chunk_size);
            if (m->rtmp)
                mem_sub(m->rtmp_len);
            mem_add(n);
            free(m->rtmp);
            m->rtmp = buf;
            m->rtmp_len = (uint32_t)n;
            m->rtmp_chunk_size = chunk_size;
        }
        return m->rtmp_len;
    case MSG_ENC_FLV: return FLV_TAG_HEADER_SIZE + m->len + FLV_PREV_SIZE;
    case MSG_ENC_FLV_CHUNKED:
        return m->chunk_pfx_len + FLV_TAG_HEADER_SIZE + m->len + FLV_PREV_SIZE + 2;
    case MSG_ENC_WS_FLV: return m->ws_hdr_len + FLV_TAG_HEADER_SIZE + m->len + FLV_PREV_SIZE;
    case MSG_ENC_TS: return m->mpegts_len;
    case MSG_ENC_TS_CHUNKED: return m->mpegts_len ? m->mpegts_pfx_len + m->mpegts_len + 2 : 0;
    }
    return 0;
}

/* Appends [base, base+len) to iov after skipping *skip bytes of it. */
static int iov_add(struct iovec *iov, int n, const void *base, size_t len, uint32_t *skip)
{
    if (*skip >= len) {
        *skip -= (uint32_t)len;
        return n;
    }
    iov[n].iov_base = (uint8_t *)base + *skip;
    iov[n].iov_len = len - *skip;
    *skip = 0;
    return n + 1;
}

int msg_iov(const msg_t *m, msg_enc_t enc, uint32_t skip, struct iovec *iov)
{
    int n = 0;
    if (m->type == MSG_TYPE_EVENT)
        return 0;
    if (enc == MSG_ENC_RTMP)
        return iov_add(iov, 0, m->rtmp, m->rtmp_len, &skip);
    if (msg_enc_is_ts(enc)) {
        if (!m->mpegts_len)
            return 0; /* an empty chunk would end the response */
        if (enc == MSG_ENC_TS_CHUNKED)
            n = iov_add(iov, n, m->mpegts_pfx, m->mpegts_pfx_len, &skip);
        n = iov_add(iov, n, m->mpegts, m->mpegts_len, &skip);
        if (enc == MSG_ENC_TS_CHUNKED)
            n = iov_add(iov, n, m->tail + 4, 2, &skip);
        return n;
    }
    if (enc == MSG_ENC_FLV_CHUNKED)
        n = iov_add(iov, n, m->chunk_pfx, m->chunk_pfx_len, &skip);
    else if (enc == MSG_ENC_WS_FLV)
        n = iov_add(iov, n, m->ws_hdr, m->ws_hdr_len, &skip);
    n = iov_add(iov, n, m->flv_hdr, FLV_TAG_HEADER_SIZE, &skip);
    n = iov_add(iov, n, m->payload, m->len, &skip);
    n = iov_add(iov, n, m->tail, enc == MSG_ENC_FLV_CHUNKED ? 6 : FLV_PREV_SIZE, &skip);
    return n;
}
