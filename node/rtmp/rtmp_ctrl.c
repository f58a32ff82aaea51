/* rtmp_ctrl: the node's glue of the pure RTMP protocol layer (rtmp_proto.h)
 * to connections and the hub, shared by both RTMP session sides (see
 * rtmp_ctrl.h). */
#include "rtmp_ctrl.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flv.h"
#include "log.h"
#include "node.h"

/* ---- glue ---------------------------------------------------------------- */

static int ingest_data(publisher_t *pub, uint32_t ts, const uint8_t *p, uint32_t len,
                       int64_t now_ms)
{
    uint32_t outlen = 0;
    const char *err = NULL;
    uint8_t *out = rtmp_proto_data_rewrite(p, len, &outlen, &err);
    if (!out && err && amf0_err_is_bound(err)) {
        pub->data_over_bounds++;
        if (!pub->data_over_logged++)
            log_warn(pub->sess_id,
                     "rtmp: dropping a data message of %u bytes (onMetaData...): %s (at most %d "
                     "values, %d levels); counted as max_metadata_size, not logged again for "
                     "this publisher",
                     len, err, AMF0_MAX_NODES, AMF0_MAX_DEPTH);
        return 0;
    }
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
    rtmp_proto_agg_t it;
    uint8_t type;
    uint32_t pts, size;
    const uint8_t *body;
    int r;
    rtmp_proto_agg_init(&it, p, len, ts);
    while ((r = rtmp_proto_agg_next(&it, &type, &pts, &body, &size)) == 1) {
        int rc = 0;
        if (type == FLV_TAG_AUDIO || type == FLV_TAG_VIDEO) {
            uint8_t *copy = malloc(size ? size : 1);
            if (!copy)
                return NODE_ENOMEM;
            memcpy(copy, body, size);
            rc = stream_push(pub, type, pts, copy, size, now_ms);
        } else {
            rc = ingest_data(pub, pts, body, size, now_ms); /* FLV_TAG_SCRIPT */
        }
        if (rc != 0)
            return rc;
    }
    if (r < 0)
        log_warn(pub->sess_id, "rtmp: truncated aggregate message");
    return 0;
}

int rtmp_ctrl_ingest(publisher_t *pub, rtmp_msg_t *m, int64_t now_ms)
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

int rtmp_ctrl_sink_msg(const sink_t *out, uint32_t chunk_size, uint32_t csid, uint8_t type,
                       uint32_t stream_id, const uint8_t *payload, uint32_t len)
{
    size_t n = rtmp_chunk_encoded_size(csid, 0, len, chunk_size);
    uint8_t stackbuf[1024];
    uint8_t *buf = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!buf)
        return NODE_ENOMEM;
    rtmp_chunk_encode(buf, csid, type, stream_id, 0, payload, len, chunk_size);
    int rc = out->send(out->arg, buf, n);
    if (buf != stackbuf)
        free(buf);
    return rc;
}

int rtmp_ctrl_sink_ctrl(const sink_t *out, uint32_t chunk_size, const rtmp_proto_out_t *m)
{
    if (!m->len)
        return 0;
    return rtmp_ctrl_sink_msg(out, chunk_size, RTMP_CSID_PROTO, m->type, 0, m->payload, m->len);
}

int rtmp_ctrl_sink_amf(const sink_t *out, uint32_t chunk_size, uint32_t csid, uint8_t type,
                       uint32_t stream_id, amf0_buf_t *b)
{
    int rc = b->oom ? NODE_ENOMEM
                    : rtmp_ctrl_sink_msg(out, chunk_size, csid, type, stream_id, b->data,
                                         (uint32_t)b->len);
    amf0_buf_free(b);
    return rc;
}

/* The conn_t senders: the sink's, and a connection out of memory closes. */
static int conn_sent(conn_t *c, int rc)
{
    if (rc == NODE_ENOMEM)
        conn_close(c, REASON_ERROR, "out of memory"); /* NODE_ELIMIT: conn_send() closed it */
    return rc;
}

int rtmp_ctrl_send_msg(conn_t *c, uint32_t chunk_size, uint32_t csid, uint8_t type,
                       uint32_t stream_id, const uint8_t *payload, uint32_t len)
{
    sink_t out = conn_sink(c);
    return conn_sent(c, rtmp_ctrl_sink_msg(&out, chunk_size, csid, type, stream_id, payload, len));
}

int rtmp_ctrl_send_ctrl(conn_t *c, uint32_t chunk_size, const rtmp_proto_out_t *m)
{
    sink_t out = conn_sink(c);
    return conn_sent(c, rtmp_ctrl_sink_ctrl(&out, chunk_size, m));
}

int rtmp_ctrl_send_amf(conn_t *c, uint32_t chunk_size, uint32_t csid, uint8_t type,
                       uint32_t stream_id, amf0_buf_t *b)
{
    sink_t out = conn_sink(c);
    return conn_sent(c, rtmp_ctrl_sink_amf(&out, chunk_size, csid, type, stream_id, b));
}

size_t rtmp_ctrl_send_handshake(conn_t *c, rtmp_hs_t *hs)
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

int rtmp_ctrl_sink_dispatch(rtmp_proto_ctrl_t *ctrl, const sink_t *out, uint32_t chunk_size,
                            rtmp_msg_t *m, rtmp_ctrl_command_fn on_command, void *arg,
                            const char **err)
{
    rtmp_proto_out_t reply;
    int rc = 0;
    int r = rtmp_proto_ctrl_handle(ctrl, m, &reply, err);
    if (r < 0) {
        rc = NODE_EPROTO;
    } else if (r > 0) {
        if (rtmp_ctrl_sink_ctrl(out, chunk_size, &reply) == NODE_ENOMEM)
            rc = NODE_ENOMEM;
    } else if (m->type == RTMP_MSG_COMMAND_AMF0 || m->type == RTMP_MSG_COMMAND_AMF3) {
        const uint8_t *p = m->payload;
        uint32_t skip = (m->type == RTMP_MSG_COMMAND_AMF3 && m->len && p[0] == 0) ? 1 : 0;
        on_command(arg, skip ? p + 1 : p, m->len - skip); /* p is NULL when len is 0 */
    }
    /* media (a player does not publish), shared objects: dropped */
    free(m->payload);
    m->payload = NULL;
    return rc;
}

int rtmp_ctrl_dispatch(rtmp_proto_ctrl_t *ctrl, conn_t *c, uint32_t chunk_size, rtmp_msg_t *m,
                       publisher_t *pub, rtmp_ctrl_command_fn on_command, void *arg,
                       const char **err)
{
    int control = m->type <= RTMP_MSG_SET_PEER_BW || m->type == RTMP_MSG_COMMAND_AMF0 ||
                  m->type == RTMP_MSG_COMMAND_AMF3;
    if (!pub || control) {
        sink_t out = conn_sink(c);
        return rtmp_ctrl_sink_dispatch(ctrl, &out, chunk_size, m, on_command, arg, err);
    }
    int rc = 0;
    uint32_t over = pub->data_over_bounds;
    if (rtmp_ctrl_ingest(pub, m, weir_mono_ms()) < 0)
        rc = NODE_ENOMEM;
    for (; over != pub->data_over_bounds; over++)
        node_limit_hit(c->node, LIMIT_MAX_METADATA_SIZE);
    free(m->payload); /* not media: dropped */
    m->payload = NULL;
    return rc;
}

void rtmp_ctrl_read_done(rtmp_proto_ctrl_t *ctrl, conn_t *c, uint32_t chunk_size, publisher_t *pub)
{
    if (c->closing)
        return;
    rtmp_proto_out_t ack;
    if (rtmp_proto_ack_due(ctrl, c->bytes_in, &ack))
        rtmp_ctrl_send_ctrl(c, chunk_size, &ack);
    if (pub && pub->stream)
        stream_flush(pub->stream);
    if (evbuffer_get_length(c->out) && !c->wblocked)
        conn_flush(c);
}
