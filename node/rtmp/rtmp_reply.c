/* rtmp_reply: the server's replies onto a sink (see rtmp_reply.h). */
#include "rtmp_reply.h"

#include "amf0.h"
#include "common.h"
#include "msg.h"
#include "relay_hops.h"
#include "rtmp_ctrl.h"

int rtmp_reply_result(const sink_t *out, uint32_t chunk_size, const char *name, double txn,
                      const double *num)
{
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_cstr(&b, name);
    amf0_put_number(&b, txn);
    amf0_put_null(&b);
    if (num)
        amf0_put_number(&b, *num);
    else
        amf0_put_undefined(&b);
    return rtmp_ctrl_sink_amf(out, chunk_size, RTMP_CSID_CMD, RTMP_MSG_COMMAND_AMF0, 0, &b);
}

int rtmp_reply_status(const sink_t *out, uint32_t chunk_size, const char *level, const char *code,
                      const char *desc, const char *details, const char *source)
{
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_cstr(&b, "onStatus");
    amf0_put_number(&b, 0);
    amf0_put_null(&b);
    amf0_put_object_start(&b);
    amf0_put_key(&b, "level");
    amf0_put_cstr(&b, level);
    amf0_put_key(&b, "code");
    amf0_put_cstr(&b, code);
    amf0_put_key(&b, "description");
    amf0_put_cstr(&b, desc);
    amf0_put_key(&b, "details");
    amf0_put_cstr(&b, details);
    amf0_put_key(&b, "clientid");
    amf0_put_number(&b, (double)out->sess_id);
    if (source) {
        amf0_put_key(&b, RELAY_SOURCE_PROP);
        amf0_put_cstr(&b, source);
    }
    amf0_put_object_end(&b);
    return rtmp_ctrl_sink_amf(out, chunk_size, RTMP_CSID_CMD, RTMP_MSG_COMMAND_AMF0,
                              MSG_RTMP_STREAM_ID, &b);
}

int rtmp_reply_connect(const sink_t *out, uint32_t chunk_size, double txn, int ok,
                       const char *desc, double object_encoding)
{
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_cstr(&b, ok ? "_result" : "_error");
    amf0_put_number(&b, txn);
    amf0_put_object_start(&b);
    amf0_put_key(&b, "fmsVer");
    amf0_put_cstr(&b, "FMS/3,0,1,123");
    amf0_put_key(&b, "capabilities");
    amf0_put_number(&b, 31);
    amf0_put_object_end(&b);
    amf0_put_object_start(&b);
    amf0_put_key(&b, "level");
    amf0_put_cstr(&b, ok ? "status" : "error");
    amf0_put_key(&b, "code");
    amf0_put_cstr(&b, ok ? "NetConnection.Connect.Success" : "NetConnection.Connect.Rejected");
    amf0_put_key(&b, "description");
    amf0_put_cstr(&b, desc);
    amf0_put_key(&b, "objectEncoding");
    amf0_put_number(&b, object_encoding);
    amf0_put_object_end(&b);
    return rtmp_ctrl_sink_amf(out, chunk_size, RTMP_CSID_CMD, RTMP_MSG_COMMAND_AMF0, 0, &b);
}

int rtmp_reply_sample_access(const sink_t *out, uint32_t chunk_size)
{
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_cstr(&b, "|RtmpSampleAccess");
    amf0_put_bool(&b, 1);
    amf0_put_bool(&b, 1);
    return rtmp_ctrl_sink_amf(out, chunk_size, MSG_RTMP_CSID_DATA, RTMP_MSG_DATA_AMF0,
                              MSG_RTMP_STREAM_ID, &b);
}

int rtmp_reply_user_control(const sink_t *out, uint32_t chunk_size, uint16_t ev, uint32_t v)
{
    rtmp_proto_out_t m;
    rtmp_proto_user_control(&m, ev, v, 0);
    return rtmp_ctrl_sink_ctrl(out, chunk_size, &m);
}

int rtmp_reply_player_event(const sink_t *out, uint32_t chunk_size, const char *details,
                            player_event_t ev)
{
    int rc;
    switch (ev) {
    case PLAYER_EV_UNPUBLISHED:
        rc = rtmp_reply_user_control(out, chunk_size, RTMP_UC_STREAM_EOF, MSG_RTMP_STREAM_ID);
        return rc ? rc
                  : rtmp_reply_status(out, chunk_size, "status", "NetStream.Play.UnpublishNotify",
                                      "Stream unpublished.", details, NULL);
    case PLAYER_EV_REPUBLISHED:
        rc = rtmp_reply_user_control(out, chunk_size, RTMP_UC_STREAM_BEGIN, MSG_RTMP_STREAM_ID);
        return rc ? rc
                  : rtmp_reply_status(out, chunk_size, "status", "NetStream.Play.PublishNotify",
                                      "Stream published again.", details, NULL);
    default: return 0;
    }
}
