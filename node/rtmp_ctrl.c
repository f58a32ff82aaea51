/* rtmp_ctrl: protocol control, data rewrite, aggregate splitting and ingest
 * shared by both RTMP session sides (see rtmp_ctrl.h). */
#include "rtmp_ctrl.h"

#include <stdlib.h>
#include <string.h>

#include "amf0.h"
#include "common.h"
#include "flv.h"
#include "log.h"

#define RTMP_DATA_MAX_VALUES 16

int rtmp_ctrl_init(rtmp_ctrl_t *c, uint32_t max_msg, unsigned max_csids)
{
    memset(c, 0, sizeof *c);
    c->parser = rtmp_chunk_parser_new(max_msg, max_csids);
    return c->parser ? 0 : NODE_ENOMEM;
}

void rtmp_ctrl_free(rtmp_ctrl_t *c)
{
    rtmp_chunk_parser_free(c->parser);
    c->parser = NULL;
}

void rtmp_ctrl_u32(rtmp_ctrl_out_t *out, uint8_t type, uint32_t v)
{
    out->type = type;
    out->len = 4;
    wr_be32(out->payload, v);
}

void rtmp_ctrl_user_control(rtmp_ctrl_out_t *out, uint16_t ev, uint32_t v, uint32_t v2)
{
    out->type = RTMP_MSG_USER_CONTROL;
    wr_be16(out->payload, ev);
    wr_be32(out->payload + 2, v);
    out->len = 6;
    if (ev == RTMP_UC_SET_BUFFER_LENGTH) {
        wr_be32(out->payload + 6, v2);
        out->len = 10;
    }
}

int rtmp_ctrl_handle(rtmp_ctrl_t *c, const rtmp_msg_t *m, rtmp_ctrl_out_t *reply, const char **err)
{
    const uint8_t *p = m->payload;
    reply->len = 0;
    switch (m->type) {
    case RTMP_MSG_SET_CHUNK_SIZE:
        if (m->len < 4 || rtmp_chunk_parser_set_chunk_size(c->parser, rd_be32(p) & 0x7fffffff)) {
            *err = "bad Set Chunk Size";
            return -1;
        }
        return 1;
    case RTMP_MSG_ABORT:
        if (m->len >= 4)
            rtmp_chunk_parser_abort(c->parser, rd_be32(p));
        return 1;
    case RTMP_MSG_WINDOW_ACK_SIZE:
        if (m->len >= 4)
            c->peer_window = rd_be32(p);
        return 1;
    case RTMP_MSG_USER_CONTROL:
        if (m->len >= 6 && rd_be16(p) == RTMP_UC_PING_REQUEST)
            rtmp_ctrl_user_control(reply, RTMP_UC_PING_RESPONSE, rd_be32(p + 2), 0);
        return 1;
    case RTMP_MSG_ACK:
    case RTMP_MSG_SET_PEER_BW: return 1;
    default: return 0;
    }
}

int rtmp_ctrl_ack_due(rtmp_ctrl_t *c, uint64_t bytes_in, rtmp_ctrl_out_t *ack)
{
    if (!c->peer_window || bytes_in - c->acked < c->peer_window)
        return 0;
    c->acked = bytes_in;
    /* The sequence number wraps at 2^32, as the specification has it. */
    rtmp_ctrl_u32(ack, RTMP_MSG_ACK, (uint32_t)bytes_in);
    return 1;
}

/* ---- media payloads ------------------------------------------------------ */

uint8_t *rtmp_data_rewrite(const uint8_t *p, uint32_t len, uint32_t *outlen, const char **err)
{
    amf0_value_t vals[RTMP_DATA_MAX_VALUES];
    size_t n = 0;
    *err = NULL;
    if (amf0_decode_all(p, len, vals, RTMP_DATA_MAX_VALUES, &n, err) != 0) {
        if (!*err)
            *err = "undecodable AMF0";
        return NULL;
    }
    const char *first = n ? amf0_str(&vals[0]) : NULL;
    size_t from = 0;
    if (first && strcmp(first, "@setDataFrame") == 0)
        from = 1;
    else if (first && first[0] == '|')
        from = n; /* |RtmpSampleAccess and the like: not for players */
    uint8_t *out = NULL;
    if (from < n) {
        amf0_buf_t b;
        amf0_buf_init(&b);
        for (size_t i = from; i < n; i++)
            amf0_put_value(&b, &vals[i]);
        if (!b.oom) {
            out = b.data;
            *outlen = (uint32_t)b.len;
        } else {
            amf0_buf_free(&b);
            *err = "out of memory";
        }
    }
    amf0_values_free(vals, n);
    return out;
}

void rtmp_agg_init(rtmp_agg_iter_t *it, const uint8_t *p, uint32_t len, uint32_t ts)
{
    memset(it, 0, sizeof *it);
    it->p = p;
    it->len = len;
    it->ts = ts;
    it->first = 1;
}

int rtmp_agg_next(rtmp_agg_iter_t *it, uint8_t *type, uint32_t *ts, const uint8_t **body,
                  uint32_t *size)
{
    if (it->len - it->off < FLV_TAG_HEADER_SIZE)
        return 0;
    const uint8_t *h = it->p + it->off;
    uint32_t sz = rd_be24(h + 1);
    uint32_t sts = rd_be24(h + 4) | ((uint32_t)h[7] << 24);
    if (sz > it->len - it->off - FLV_TAG_HEADER_SIZE) {
        it->off = it->len;
        return -1;
    }
    if (it->first) {
        it->first_ts = sts;
        it->first = 0;
    }
    *type = h[0] & 0x1f;
    *ts = it->ts + (sts - it->first_ts);
    *body = h + FLV_TAG_HEADER_SIZE;
    *size = sz;
    it->off += FLV_TAG_HEADER_SIZE + sz;
    it->off += (it->len - it->off >= FLV_PREV_SIZE) ? FLV_PREV_SIZE : it->len - it->off;
    return 1;
}

/* ---- glue ---------------------------------------------------------------- */

static int ingest_data(publisher_t *pub, uint32_t ts, const uint8_t *p, uint32_t len,
                       int64_t now_ms)
{
    uint32_t outlen = 0;
    const char *err = NULL;
    uint8_t *out = rtmp_data_rewrite(p, len, &outlen, &err);
    if (!out) {
        if (err)
            log_debug(pub->sess_id, "rtmp: dropping data message: %s", err);
        return 0;
    }
    return stream_push(pub, FLV_TAG_SCRIPT, ts, out, outlen, now_ms);
}

static int ingest_aggregate(publisher_t *pub, uint32_t ts, const uint8_t *p, uint32_t len,
                            int64_t now_ms)
{
    rtmp_agg_iter_t it;
    uint8_t type;
    uint32_t pts, size;
    const uint8_t *body;
    int r;
    rtmp_agg_init(&it, p, len, ts);
    while ((r = rtmp_agg_next(&it, &type, &pts, &body, &size)) == 1) {
        int rc = 0;
        if (type == FLV_TAG_AUDIO || type == FLV_TAG_VIDEO) {
            uint8_t *copy = malloc(size ? size : 1);
            if (!copy)
                return NODE_ENOMEM;
            memcpy(copy, body, size);
            rc = stream_push(pub, type, pts, copy, size, now_ms);
        } else if (type == FLV_TAG_SCRIPT) {
            rc = ingest_data(pub, pts, body, size, now_ms);
        }
        if (rc != 0)
            return rc;
    }
    if (r < 0)
        log_warn(pub->sess_id, "rtmp: truncated aggregate message");
    return 0;
}

int rtmp_ingest(publisher_t *pub, rtmp_msg_t *m, int64_t now_ms)
{
    uint8_t *p = m->payload;
    int rc = 0;
    switch (m->type) {
    case RTMP_MSG_AUDIO:
    case RTMP_MSG_VIDEO:
        m->payload = NULL;
        return stream_push(pub, m->type, m->timestamp, p, m->len, now_ms) == 0 ? 1 : NODE_ENOMEM;
    case RTMP_MSG_DATA_AMF0:
    case RTMP_MSG_DATA_AMF3: {
        uint32_t skip = (m->type == RTMP_MSG_DATA_AMF3 && m->len && p[0] == 0) ? 1 : 0;
        rc = ingest_data(pub, m->timestamp, skip ? p + 1 : p, m->len - skip, now_ms);
        break;
    }
    case RTMP_MSG_AGGREGATE: rc = ingest_aggregate(pub, m->timestamp, p, m->len, now_ms); break;
    default: return 0;
    }
    free(p);
    m->payload = NULL;
    return rc == 0 ? 1 : NODE_ENOMEM;
}

int rtmp_send_msg(conn_t *c, uint32_t chunk_size, uint32_t csid, uint8_t type, uint32_t stream_id,
                  const uint8_t *payload, uint32_t len)
{
    size_t n = rtmp_chunk_encoded_size(csid, 0, len, chunk_size);
    uint8_t stackbuf[1024];
    uint8_t *buf = n <= sizeof stackbuf ? stackbuf : malloc(n);
    int rc = NODE_ENOMEM;
    if (buf) {
        rtmp_chunk_encode(buf, csid, type, stream_id, 0, payload, len, chunk_size);
        rc = conn_send(c, buf, n);
        if (buf != stackbuf)
            free(buf);
    }
    if (rc != 0)
        conn_close(c, "out of memory");
    return rc;
}

int rtmp_send_ctrl(conn_t *c, uint32_t chunk_size, const rtmp_ctrl_out_t *m)
{
    if (!m->len)
        return 0;
    return rtmp_send_msg(c, chunk_size, RTMP_CSID_PROTO, m->type, 0, m->payload, m->len);
}

int rtmp_send_amf(conn_t *c, uint32_t chunk_size, uint32_t csid, uint8_t type, uint32_t stream_id,
                  amf0_buf_t *b)
{
    int rc = NODE_ENOMEM;
    if (b->oom)
        conn_close(c, "out of memory");
    else
        rc = rtmp_send_msg(c, chunk_size, csid, type, stream_id, b->data, (uint32_t)b->len);
    amf0_buf_free(b);
    return rc;
}

size_t rtmp_send_handshake(conn_t *c, rtmp_hs_t *hs)
{
    const uint8_t *out;
    size_t outlen;
    rtmp_hs_output(hs, &out, &outlen);
    if (outlen) {
        conn_send(c, out, outlen);
        rtmp_hs_output_done(hs);
    }
    return outlen;
}

int rtmp_ctrl_dispatch(rtmp_ctrl_t *ctrl, conn_t *c, uint32_t chunk_size, rtmp_msg_t *m,
                       publisher_t *pub, rtmp_command_fn on_command, void *arg, const char **err)
{
    rtmp_ctrl_out_t reply;
    int rc = 0;
    int r = rtmp_ctrl_handle(ctrl, m, &reply, err);
    if (r < 0) {
        rc = NODE_EPROTO;
    } else if (r > 0) {
        rtmp_send_ctrl(c, chunk_size, &reply);
    } else if (m->type == RTMP_MSG_COMMAND_AMF0 || m->type == RTMP_MSG_COMMAND_AMF3) {
        const uint8_t *p = m->payload;
        uint32_t skip = (m->type == RTMP_MSG_COMMAND_AMF3 && m->len && p[0] == 0) ? 1 : 0;
        on_command(arg, skip ? p + 1 : p, m->len - skip); /* p is NULL when len is 0 */
    } else if (pub) {
        if (rtmp_ingest(pub, m, weir_mono_ms()) < 0)
            rc = NODE_ENOMEM;
    }
    /* media while not publishing, shared objects: dropped */
    free(m->payload);
    m->payload = NULL;
    return rc;
}

void rtmp_read_done(rtmp_ctrl_t *ctrl, conn_t *c, uint32_t chunk_size, publisher_t *pub)
{
    if (c->closing)
        return;
    rtmp_ctrl_out_t ack;
    if (rtmp_ctrl_ack_due(ctrl, c->bytes_in, &ack))
        rtmp_send_ctrl(c, chunk_size, &ack);
    if (pub && pub->stream)
        stream_flush(pub->stream);
    if (evbuffer_get_length(c->out) && !c->wblocked)
        conn_flush(c);
}
