/* rtmp_proto_client: the client command sequence (see rtmp_proto_client.h).
 *
 * Every command is encoded straight into the output buffer (fmt 0 chunks at
 * the outgoing chunk size, timestamp 0); replies are matched by transaction
 * id. Pure: no I/O. */
#include "rtmp_proto_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amf0.h"

#define CMD_MAX_VALUES 16
#define PLAYER_CAPABILITIES 15
#define PLAYER_AUDIO_CODECS 4071
#define PLAYER_VIDEO_CODECS 252

struct rtmp_proto_client {
    rtmp_proto_ctrl_t ctrl;
    rtmp_proto_client_state_t state;
    rtmp_proto_role_t role;
    char *app, *tc_url, *name, *flash_ver; /* owned copies */
    uint32_t chunk_size, play_buffer_ms;
    int player_caps;
    int pre_published; /* releaseStream + FCPublish sent */
    uint32_t out_chunk_size;
    uint32_t stream_id;
    double txn; /* last transaction id used */
    double txn_connect, txn_create, txn_start;
    uint8_t *out; /* queued output */
    size_t out_len, out_cap;
};

/* A decoded _result, _error or onStatus. */
typedef struct {
    const char *name;
    double txn;
    const amf0_value_t *info; /* 4th value: status object or number */
} cmd_t;

/* ---- output ------------------------------------------------------------- */

static int queue_msg(rtmp_proto_client_t *cl, uint32_t csid, uint8_t type, uint32_t sid,
                     const uint8_t *p, uint32_t len)
{
    size_t n = rtmp_chunk_encoded_size(csid, 0, len, cl->out_chunk_size);
    if (n > RTMP_PROTO_CLIENT_OUT_MAX - cl->out_len)
        return NODE_ELIMIT;
    if (cl->out_len + n > cl->out_cap) {
        size_t cap = cl->out_cap ? cl->out_cap : 512;
        while (cap < cl->out_len + n)
            cap *= 2;
        uint8_t *nb = realloc(cl->out, cap);
        if (!nb)
            return NODE_ENOMEM;
        cl->out = nb;
        cl->out_cap = cap;
    }
    cl->out_len +=
        rtmp_chunk_encode(cl->out + cl->out_len, csid, type, sid, 0, p, len, cl->out_chunk_size);
    return 0;
}

static int queue_ctrl(rtmp_proto_client_t *cl, const rtmp_proto_out_t *m)
{
    if (!m->len)
        return 0;
    return queue_msg(cl, RTMP_CSID_PROTO, m->type, 0, m->payload, m->len);
}

/* Queues the command encoded in b and frees b. */
static int queue_amf(rtmp_proto_client_t *cl, uint32_t sid, amf0_buf_t *b)
{
    int rc = b->oom ? NODE_ENOMEM
                    : queue_msg(cl, RTMP_CSID_CMD, RTMP_MSG_COMMAND_AMF0, sid, b->data,
                                (uint32_t)b->len);
    amf0_buf_free(b);
    return rc;
}

/* name(txn, null[, str][, num]) on sid; *txn_out gets the txn used. */
static int queue_simple(rtmp_proto_client_t *cl, const char *name, uint32_t sid, const char *str,
                        const double *num, double *txn_out)
{
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_cstr(&b, name);
    amf0_put_number(&b, ++cl->txn);
    amf0_put_null(&b);
    if (str)
        amf0_put_cstr(&b, str);
    if (num)
        amf0_put_number(&b, *num);
    if (txn_out)
        *txn_out = cl->txn;
    return queue_amf(cl, sid, &b);
}

static int queue_connect(rtmp_proto_client_t *cl)
{
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_cstr(&b, "connect");
    amf0_put_number(&b, cl->txn_connect = ++cl->txn);
    amf0_put_object_start(&b);
    amf0_put_key(&b, "app");
    amf0_put_cstr(&b, cl->app);
    amf0_put_key(&b, "type");
    amf0_put_cstr(&b, "nonprivate");
    amf0_put_key(&b, "flashVer");
    amf0_put_cstr(&b, cl->flash_ver);
    amf0_put_key(&b, "tcUrl");
    amf0_put_cstr(&b, cl->tc_url);
    if (cl->player_caps) {
        amf0_put_key(&b, "fpad");
        amf0_put_bool(&b, 0);
        amf0_put_key(&b, "capabilities");
        amf0_put_number(&b, PLAYER_CAPABILITIES);
        amf0_put_key(&b, "audioCodecs");
        amf0_put_number(&b, PLAYER_AUDIO_CODECS);
        amf0_put_key(&b, "videoCodecs");
        amf0_put_number(&b, PLAYER_VIDEO_CODECS);
        amf0_put_key(&b, "videoFunction");
        amf0_put_number(&b, 1);
    }
    amf0_put_key(&b, "objectEncoding");
    amf0_put_number(&b, 0);
    amf0_put_object_end(&b);
    return queue_amf(cl, 0, &b);
}

/* releaseStream(name) and FCPublish(name), once. */
static int queue_pre_publish(rtmp_proto_client_t *cl)
{
    int rc = 0;
    if (!cl->pre_published) {
        cl->pre_published = 1;
        rc = queue_simple(cl, "releaseStream", 0, cl->name, NULL, NULL);
        if (rc == 0)
            rc = queue_simple(cl, "FCPublish", 0, cl->name, NULL, NULL);
    }
    return rc;
}

static int queue_create_stream(rtmp_proto_client_t *cl)
{
    int rc = cl->role == RTMP_PROTO_PUBLISH ? queue_pre_publish(cl) : 0;
    if (rc == 0)
        rc = queue_simple(cl, "createStream", 0, NULL, NULL, &cl->txn_create);
    cl->state = RTMP_PROTO_CL_CREATE_STREAM;
    return rc;
}

static int queue_start(rtmp_proto_client_t *cl)
{
    int publish = cl->role == RTMP_PROTO_PUBLISH;
    int rc = publish ? queue_pre_publish(cl) : 0;
    if (rc != 0)
        return rc;
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_cstr(&b, publish ? "publish" : "play");
    amf0_put_number(&b, cl->txn_start = ++cl->txn);
    amf0_put_null(&b);
    amf0_put_cstr(&b, cl->name);
    if (publish)
        amf0_put_cstr(&b, "live");
    else
        amf0_put_number(&b, -2);
    rc = queue_amf(cl, cl->stream_id, &b);
    if (rc == 0 && !publish) {
        rtmp_proto_out_t m; /* Set Buffer Length, as FFmpeg sends after play */
        rtmp_proto_user_control(&m, RTMP_UC_SET_BUFFER_LENGTH, cl->stream_id, cl->play_buffer_ms);
        rc = queue_ctrl(cl, &m);
    }
    cl->state = RTMP_PROTO_CL_START;
    return rc;
}

/* ---- life cycle ---------------------------------------------------------- */

static char *dup_str(const char *s)
{
    return strdup(s ? s : "");
}

rtmp_proto_client_t *rtmp_proto_client_new(const rtmp_proto_client_cfg_t *cfg)
{
    rtmp_proto_client_t *cl = calloc(1, sizeof *cl);
    if (!cl)
        return NULL;
    cl->role = cfg->role;
    cl->chunk_size = cfg->chunk_size;
    cl->play_buffer_ms = cfg->play_buffer_ms;
    cl->player_caps = cfg->player_caps;
    cl->out_chunk_size = RTMP_DEFAULT_CHUNK_SIZE;
    cl->app = dup_str(cfg->app);
    cl->tc_url = dup_str(cfg->tc_url);
    cl->name = dup_str(cfg->name);
    cl->flash_ver = dup_str(cfg->flash_ver);
    if (!cl->app || !cl->tc_url || !cl->name || !cl->flash_ver ||
        rtmp_proto_ctrl_init(&cl->ctrl, cfg->max_msg, cfg->max_csids) != 0) {
        rtmp_proto_client_free(cl);
        return NULL;
    }
    return cl;
}

void rtmp_proto_client_free(rtmp_proto_client_t *cl)
{
    if (!cl)
        return;
    rtmp_proto_ctrl_free(&cl->ctrl);
    free(cl->app);
    free(cl->tc_url);
    free(cl->name);
    free(cl->flash_ver);
    free(cl->out);
    free(cl);
}

int rtmp_proto_client_begin(rtmp_proto_client_t *cl)
{
    int rc = 0;
    if (cl->chunk_size) {
        rtmp_proto_out_t m;
        rtmp_proto_u32(&m, RTMP_MSG_SET_CHUNK_SIZE, cl->chunk_size);
        rc = queue_ctrl(cl, &m);
        cl->out_chunk_size = cl->chunk_size;
    }
    cl->state = RTMP_PROTO_CL_CONNECT;
    return rc == 0 ? queue_connect(cl) : rc;
}

int rtmp_proto_client_start(rtmp_proto_client_t *cl, rtmp_proto_role_t role)
{
    if (cl->state != RTMP_PROTO_CL_READY || role == RTMP_PROTO_ROLE_NONE ||
        (cl->role != RTMP_PROTO_ROLE_NONE && cl->role != role))
        return NODE_EINVAL;
    cl->role = role;
    return queue_start(cl);
}

int rtmp_proto_client_goodbye(rtmp_proto_client_t *cl)
{
    double sid = cl->stream_id;
    int rc = queue_simple(cl, "FCUnpublish", 0, cl->name, NULL, NULL);
    return rc == 0 ? queue_simple(cl, "deleteStream", 0, NULL, &sid, NULL) : rc;
}

int rtmp_proto_client_ack(rtmp_proto_client_t *cl, uint64_t bytes_in)
{
    rtmp_proto_out_t ack;
    if (!rtmp_proto_ack_due(&cl->ctrl, bytes_in, &ack))
        return 0;
    return queue_ctrl(cl, &ack);
}

parse_rc_t rtmp_proto_client_input(rtmp_proto_client_t *cl, const uint8_t *src, size_t len,
                                   size_t *used, rtmp_msg_t *out, const char **err)
{
    return rtmp_chunk_feed(cl->ctrl.parser, src, len, used, out, err);
}

/* ---- replies ------------------------------------------------------------- */

static void prop(const amf0_value_t *info, const char *key, char *dst, size_t cap)
{
    const char *s = amf0_str(amf0_get(info, key));
    snprintf(dst, cap, "%s", s ? s : "");
}

static void refused(rtmp_proto_client_t *cl, rtmp_proto_ev_t *ev)
{
    ev->kind = RTMP_PROTO_EV_REFUSED;
    ev->step = cl->state;
    cl->state = RTMP_PROTO_CL_FAILED;
}

/* _result / _error: the answers to connect, createStream and the start. */
static int on_result(rtmp_proto_client_t *cl, const cmd_t *k, rtmp_proto_ev_t *ev)
{
    int error = strcmp(k->name, "_error") == 0;
    if (cl->state == RTMP_PROTO_CL_CONNECT && k->txn == cl->txn_connect) {
        if (error) {
            refused(cl, ev);
            return 0;
        }
        return queue_create_stream(cl);
    }
    if (cl->state == RTMP_PROTO_CL_CREATE_STREAM && k->txn == cl->txn_create) {
        double sid = k->info && k->info->type == AMF0_NUMBER ? k->info->num : -1;
        if (error || sid < 0 || sid > UINT32_MAX) {
            refused(cl, ev);
            return 0;
        }
        cl->stream_id = ev->stream_id = (uint32_t)sid;
        cl->state = RTMP_PROTO_CL_READY;
        ev->kind = RTMP_PROTO_EV_READY;
        return 0;
    }
    if (error && cl->state == RTMP_PROTO_CL_START && k->txn == cl->txn_start)
        refused(cl, ev);
    return 0;
}

static void on_status(rtmp_proto_client_t *cl, rtmp_proto_ev_t *ev)
{
    const char *ok =
        cl->role == RTMP_PROTO_PUBLISH ? "NetStream.Publish.Start" : "NetStream.Play.Start";
    ev->status = 1;
    ev->kind = RTMP_PROTO_EV_STATUS;
    if (cl->state == RTMP_PROTO_CL_START && strcmp(ev->code, ok) == 0) {
        cl->state = RTMP_PROTO_CL_LIVE;
        ev->kind = RTMP_PROTO_EV_STARTED;
    } else if (cl->state < RTMP_PROTO_CL_LIVE && cl->state != RTMP_PROTO_CL_READY &&
               rtmp_proto_status_refuses(ev->level, ev->code)) {
        refused(cl, ev);
    }
}

static int on_command(rtmp_proto_client_t *cl, const uint8_t *p, uint32_t len, rtmp_proto_ev_t *ev,
                      const char **err)
{
    amf0_value_t vals[CMD_MAX_VALUES];
    size_t n = 0;
    if (amf0_decode_all(p, len, vals, CMD_MAX_VALUES, &n, err) != 0) {
        if (!*err)
            *err = "undecodable AMF0 command";
        return NODE_EPROTO;
    }
    cmd_t k;
    k.name = n > 0 ? amf0_str(&vals[0]) : NULL;
    k.txn = n > 1 ? amf0_num(&vals[1], 0) : 0;
    k.info = n > 3 ? &vals[3] : NULL;
    prop(k.info, "level", ev->level, sizeof ev->level);
    prop(k.info, "code", ev->code, sizeof ev->code);
    prop(k.info, "description", ev->desc, sizeof ev->desc);
    prop(k.info, RELAY_SOURCE_PROP, ev->source, sizeof ev->source);
    int rc = 0;
    if (!k.name || cl->state == RTMP_PROTO_CL_FAILED) {
        /* nothing to do */
    } else if (strcmp(k.name, "_result") == 0 || strcmp(k.name, "_error") == 0) {
        rc = on_result(cl, &k, ev);
    } else if (strcmp(k.name, "onStatus") == 0) {
        on_status(cl, ev);
    } /* else onBWDone, onFCPublish, close, ...: ignored */
    amf0_values_free(vals, n);
    if (rc != 0)
        *err = rc == NODE_ELIMIT ? "too much output queued" : "out of memory";
    return rc;
}

int rtmp_proto_client_feed(rtmp_proto_client_t *cl, const rtmp_msg_t *m, rtmp_proto_ev_t *ev,
                           const char **err)
{
    memset(ev, 0, sizeof *ev);
    *err = NULL;
    rtmp_proto_out_t reply;
    int rc = 0;
    int r = rtmp_proto_ctrl_handle(&cl->ctrl, m, &reply, err);
    if (r < 0) {
        rc = NODE_EPROTO;
    } else if (r > 0) {
        rc = queue_ctrl(cl, &reply);
        if (rc != 0)
            *err = rc == NODE_ELIMIT ? "too much output queued" : "out of memory";
    } else if (m->type == RTMP_MSG_COMMAND_AMF0 || m->type == RTMP_MSG_COMMAND_AMF3) {
        uint32_t skip = (m->type == RTMP_MSG_COMMAND_AMF3 && m->len && m->payload[0] == 0) ? 1 : 0;
        rc = on_command(cl, m->payload + skip, m->len - skip, ev, err);
    } else if (m->type == RTMP_MSG_AUDIO || m->type == RTMP_MSG_VIDEO ||
               m->type == RTMP_MSG_DATA_AMF0 || m->type == RTMP_MSG_DATA_AMF3 ||
               m->type == RTMP_MSG_AGGREGATE) {
        ev->kind = RTMP_PROTO_EV_MEDIA;
    }
    if (rc != 0)
        cl->state = RTMP_PROTO_CL_FAILED;
    return rc;
}

/* ---- accessors ----------------------------------------------------------- */

void rtmp_proto_client_output(const rtmp_proto_client_t *cl, const uint8_t **p, size_t *len)
{
    *p = cl->out;
    *len = cl->out_len;
}

void rtmp_proto_client_output_done(rtmp_proto_client_t *cl, size_t n)
{
    if (n >= cl->out_len) {
        cl->out_len = 0;
        return;
    }
    memmove(cl->out, cl->out + n, cl->out_len - n);
    cl->out_len -= n;
}

rtmp_proto_client_state_t rtmp_proto_client_state(const rtmp_proto_client_t *cl)
{
    return cl->state;
}

uint32_t rtmp_proto_client_chunk_size(const rtmp_proto_client_t *cl)
{
    return cl->out_chunk_size;
}

uint32_t rtmp_proto_client_stream_id(const rtmp_proto_client_t *cl)
{
    return cl->stream_id;
}

rtmp_proto_ctrl_t *rtmp_proto_client_ctrl(rtmp_proto_client_t *cl)
{
    return &cl->ctrl;
}

int rtmp_proto_status_refuses(const char *level, const char *code)
{
    return strcmp(level, "error") == 0 || strstr(code, "NotFound") || strstr(code, "Failed") ||
           strstr(code, "BadName") || strstr(code, "Denied") || strstr(code, "Rejected");
}

const char *rtmp_proto_refusal(const rtmp_proto_client_t *cl, const rtmp_proto_ev_t *ev, char *out,
                               size_t outlen)
{
    const char *code = ev->code[0] ? ev->code : "_error";
    switch (ev->step) {
    case RTMP_PROTO_CL_CONNECT:
        snprintf(out, outlen, "connect rejected: %s (%s)", code, ev->desc);
        break;
    case RTMP_PROTO_CL_CREATE_STREAM:
        snprintf(out, outlen, "createStream failed: %s", ev->code[0] ? ev->code : "no stream id");
        break;
    default:
        snprintf(out, outlen, "%s refused: %s (%s)",
                 cl->role == RTMP_PROTO_PUBLISH ? "publish" : "play", code, ev->desc);
        break;
    }
    return out;
}
