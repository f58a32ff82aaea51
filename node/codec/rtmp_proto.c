/* rtmp_proto: protocol control, the data rewrite and aggregate splitting
 * shared by every RTMP end (see rtmp_proto.h). Pure: no I/O. */
#include "rtmp_proto.h"

#include <stdlib.h>
#include <string.h>

#include "amf0.h"
#include "common.h"
#include "flv.h"

#define RTMP_DATA_MAX_VALUES 16
int rtmp_proto_ctrl_init(rtmp_proto_ctrl_t *c, uint32_t max_msg, unsigned max_csids)
{
    memset(c, 0, sizeof *c);
    c->parser = rtmp_chunk_parser_new(max_msg, max_csids);
    return c->parser ? 0 : NODE_ENOMEM;
}

void rtmp_proto_ctrl_free(rtmp_proto_ctrl_t *c)
{
    rtmp_chunk_parser_free(c->parser);
    c->parser = NULL;
}

void rtmp_proto_u32(rtmp_proto_out_t *out, uint8_t type, uint32_t v)
{
    out->type = type;
    out->len = 4;
    wr_be32(out->payload, v);
}

void rtmp_proto_user_control(rtmp_proto_out_t *out, uint16_t ev, uint32_t v, uint32_t v2)
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

void rtmp_proto_peer_bw(rtmp_proto_out_t *out, uint32_t window, uint8_t limit)
{
    out->type = RTMP_MSG_SET_PEER_BW;
    wr_be32(out->payload, window);
    out->payload[4] = limit;
    out->len = 5;
}

int rtmp_proto_ctrl_handle(rtmp_proto_ctrl_t *c, const rtmp_msg_t *m, rtmp_proto_out_t *reply,
                           const char **err)
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
            rtmp_proto_user_control(reply, RTMP_UC_PING_RESPONSE, rd_be32(p + 2), 0);
        return 1;
    case RTMP_MSG_ACK:
    case RTMP_MSG_SET_PEER_BW: return 1;
    default: return 0;
    }
}

int rtmp_proto_ack_due(rtmp_proto_ctrl_t *c, uint64_t bytes_in, rtmp_proto_out_t *ack)
{
    if (!c->peer_window || bytes_in - c->acked < c->peer_window)
        return 0;
    c->acked = bytes_in;
    /* The sequence number wraps at 2^32, as the specification has it. */
    rtmp_proto_u32(ack, RTMP_MSG_ACK, (uint32_t)bytes_in);
    return 1;
}

/* ---- media payloads ------------------------------------------------------ */

uint8_t *rtmp_proto_data_rewrite(const uint8_t *p, uint32_t len, uint32_t *outlen, const char **err)
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

void rtmp_proto_agg_init(rtmp_proto_agg_t *it, const uint8_t *p, uint32_t len, uint32_t ts)
{
    memset(it, 0, sizeof *it);
    it->p = p;
    it->len = len;
    it->ts = ts;
    it->first = 1;
}

int rtmp_proto_agg_next(rtmp_proto_agg_t *it, uint8_t *type, uint32_t *ts, const uint8_t **body,
                        uint32_t *size)
{
    while (it->len - it->off >= FLV_TAG_HEADER_SIZE) {
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
        it->off += FLV_TAG_HEADER_SIZE + sz;
        it->off += (it->len - it->off >= FLV_PREV_SIZE) ? FLV_PREV_SIZE : it->len - it->off;
        *type = h[0] & 0x1f;
        if (*type != FLV_TAG_AUDIO && *type != FLV_TAG_VIDEO && *type != FLV_TAG_SCRIPT)
            continue;
        *ts = it->ts + (sts - it->first_ts);
        *body = h + FLV_TAG_HEADER_SIZE;
        *size = sz;
        return 1;
    }
    return 0;
}
