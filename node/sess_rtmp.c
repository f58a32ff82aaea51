/* sess_rtmp: the server side of an RTMP connection: handshake, chunk
 * stream, protocol control, AMF0 commands, publishing into and playing from
 * the hub. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amf0.h"
#include "common.h"
#include "conn.h"
#include "flv.h"
#include "evlog.h"
#include "log.h"
#include "rtmp_chunk.h"
#include "rtmp_handshake.h"
#include "sess.h"

#define RTMP_CSID_PROTO 2
#define RTMP_CSID_CMD 3
#define RTMP_WINDOW_ACK 2500000u
#define RTMP_MAX_CMD_VALUES 16
#define RTMP_QUERY_MAX 512

typedef enum { RS_HANDSHAKE, RS_READY } rtmp_state_t;

typedef struct {
    conn_t *conn;
    rtmp_state_t state;
    rtmp_hs_t *hs;
    rtmp_chunk_parser_t *parser;
    uint32_t out_chunk_size;
    int connected;
    double object_encoding;
    char app[STREAM_APP_MAX];
    char app_query[RTMP_QUERY_MAX];
    char name[STREAM_NAME_MAX];
    char name_query[RTMP_QUERY_MAX];
    /* Acknowledgements: the peer's window and what we acknowledged. */
    uint32_t peer_window;
    uint64_t acked;
    publisher_t pub;
    int publishing;
    player_t player;
    int playing;         /* waiting or attached */
    int ev_pub, ev_play; /* publish.start / play.start recorded: a stop is owed */
    int64_t ev_start_ms; /* when that publish or play started */
} rtmp_sess_t;

/* ---- event log ---------------------------------------------------------- */

static void sess_event(rtmp_sess_t *rs, const char *type, sess_role_t role, int stop,
                       const char *reason)
{
    sess_info_t si;
    int64_t now = weir_mono_ms();
    conn_info(rs->conn, now, &si);
    si.role = role;
    si.app = rs->app;
    si.name = rs->name;
    si.dropped_frames = rs->player.dropped_frames;
    if (!stop)
        rs->ev_start_ms = now;
    evlog_session(rs->conn->node, type, &si, stop, now - rs->ev_start_ms, reason);
}

/* The stop events owed, once each. */
static void stop_events(rtmp_sess_t *rs, const char *reason)
{
    if (rs->ev_pub) {
        rs->ev_pub = 0;
        sess_event(rs, "publish.stop", SESS_ROLE_PUBLISHER, 1, reason);
    }
    if (rs->ev_play) {
        rs->ev_play = 0;
        sess_event(rs, "play.stop", SESS_ROLE_PLAYER, 1, reason);
    }
}

/* ---- output ------------------------------------------------------------- */

static void send_msg(rtmp_sess_t *rs, uint32_t csid, uint8_t type, uint32_t stream_id,
                     const uint8_t *payload, uint32_t len)
{
    size_t n = rtmp_chunk_encoded_size(csid, 0, len, rs->out_chunk_size);
    uint8_t stackbuf[1024];
    uint8_t *buf = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!buf) {
        conn_close(rs->conn, "out of memory");
        return;
    }
    rtmp_chunk_encode(buf, csid, type, stream_id, 0, payload, len, rs->out_chunk_size);
    if (conn_send(rs->conn, buf, n) != 0)
        conn_close(rs->conn, "out of memory");
    if (buf != stackbuf)
        free(buf);
}

static void send_u32(rtmp_sess_t *rs, uint8_t type, uint32_t v)
{
    uint8_t b[4];
    wr_be32(b, v);
    send_msg(rs, RTMP_CSID_PROTO, type, 0, b, 4);
}

static void send_user_control(rtmp_sess_t *rs, uint16_t ev, uint32_t v)
{
    uint8_t b[6];
    wr_be16(b, ev);
    wr_be32(b + 2, v);
    send_msg(rs, RTMP_CSID_PROTO, RTMP_MSG_USER_CONTROL, 0, b, 6);
}

static void send_amf(rtmp_sess_t *rs, uint32_t stream_id, amf0_buf_t *b)
{
    if (b->oom)
        conn_close(rs->conn, "out of memory");
    else
        send_msg(rs, RTMP_CSID_CMD, RTMP_MSG_COMMAND_AMF0, stream_id, b->data, (uint32_t)b->len);
    amf0_buf_free(b);
}

/* _result / _error with a null command object and one value or none. */
static void send_result(rtmp_sess_t *rs, const char *name, double txn, const double *num)
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
    send_amf(rs, 0, &b);
}

static void send_status(rtmp_sess_t *rs, const char *level, const char *code, const char *desc)
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
    amf0_put_cstr(&b, rs->name);
    amf0_put_key(&b, "clientid");
    amf0_put_number(&b, (double)rs->conn->id);
    amf0_put_object_end(&b);
    send_amf(rs, MSG_RTMP_STREAM_ID, &b);
}

static void send_sample_access(rtmp_sess_t *rs)
{
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_cstr(&b, "|RtmpSampleAccess");
    amf0_put_bool(&b, 1);
    amf0_put_bool(&b, 1);
    if (b.oom)
        conn_close(rs->conn, "out of memory");
    else
        send_msg(rs, MSG_RTMP_CSID_DATA, RTMP_MSG_DATA_AMF0, MSG_RTMP_STREAM_ID, b.data,
                 (uint32_t)b.len);
    amf0_buf_free(&b);
}

/* ---- hub callbacks ------------------------------------------------------ */

static void send_play_start(rtmp_sess_t *rs)
{
    char desc[STREAM_NAME_MAX + 32];
    send_user_control(rs, RTMP_UC_STREAM_BEGIN, MSG_RTMP_STREAM_ID);
    snprintf(desc, sizeof desc, "Playing and resetting %s.", rs->name);
    send_status(rs, "status", "NetStream.Play.Reset", desc);
    snprintf(desc, sizeof desc, "Started playing %s.", rs->name);
    send_status(rs, "status", "NetStream.Play.Start", desc);
    send_sample_access(rs);
    log_info(rs->conn->id, "rtmp: play %s/%s from %s", rs->app, rs->name, rs->conn->remote);
    rs->ev_play = 1;
    sess_event(rs, "play.start", SESS_ROLE_PLAYER, 0, NULL);
}

static void player_wake(player_t *p)
{
    rtmp_sess_t *rs = p->owner;
    if (!rs->conn->wblocked)
        conn_flush(rs->conn);
}

static void player_event(player_t *p, player_event_t ev)
{
    rtmp_sess_t *rs = p->owner;
    conn_t *c = rs->conn;
    switch (ev) {
    case PLAYER_EV_STARTED:
        c->player = p;
        send_play_start(rs);
        conn_flush(c);
        break;
    case PLAYER_EV_NOT_FOUND:
        rs->playing = 0;
        send_status(rs, "error", "NetStream.Play.StreamNotFound", "No such stream.");
        log_info(c->id, "rtmp: play %s/%s: stream not found", rs->app, rs->name);
        conn_close_after_flush(c, "stream not found");
        break;
    case PLAYER_EV_UNPUBLISHED:
        send_user_control(rs, RTMP_UC_STREAM_EOF, MSG_RTMP_STREAM_ID);
        send_status(rs, "status", "NetStream.Play.UnpublishNotify", "Stream unpublished.");
        break;
    case PLAYER_EV_REPUBLISHED:
        send_user_control(rs, RTMP_UC_STREAM_BEGIN, MSG_RTMP_STREAM_ID);
        send_status(rs, "status", "NetStream.Play.PublishNotify", "Stream published again.");
        break;
    case PLAYER_EV_ENDED:
        rs->playing = 0;
        c->player = NULL;
        conn_close_after_flush(c, "stream ended");
        break;
    case PLAYER_EV_SLOW:
        rs->playing = 0;
        c->player = NULL;
        conn_close(c, "slow player disconnected");
        break;
    }
}

static const player_ops_t RTMP_PLAYER_OPS = {player_wake, player_event};

static void publisher_kick(publisher_t *pub, const char *reason)
{
    rtmp_sess_t *rs = pub->owner;
    rs->publishing = 0;
    conn_close(rs->conn, reason);
}

static const publisher_ops_t RTMP_PUBLISHER_OPS = {publisher_kick};

/* ---- commands ----------------------------------------------------------- */

/* Splits "name?query" in place into name and query (query may be empty). */
static void split_query(char *s, char *query, size_t qlen)
{
    char *q = strchr(s, '?');
    if (q) {
        snprintf(query, qlen, "%s", q + 1);
        *q = '\0';
    } else {
        query[0] = '\0';
    }
}

static void cmd_connect(rtmp_sess_t *rs, double txn, const amf0_value_t *vals, size_t n)
{
    conn_t *c = rs->conn;
    const amf0_value_t *obj = n > 2 ? &vals[2] : NULL;
    const char *app = amf0_str(amf0_get(obj, "app"));
    if (rs->connected) {
        log_warn(c->id, "rtmp: connect: already connected");
        conn_close(c, "protocol error: second connect");
        return;
    }
    snprintf(rs->app, sizeof rs->app, "%s", app ? app : "");
    split_query(rs->app, rs->app_query, sizeof rs->app_query);
    /* Some clients send a trailing slash in the app ("live/"). */
    size_t al = strlen(rs->app);
    if (al && rs->app[al - 1] == '/')
        rs->app[al - 1] = '\0';
    rs->object_encoding = amf0_num(amf0_get(obj, "objectEncoding"), 0);

    send_u32(rs, RTMP_MSG_WINDOW_ACK_SIZE, RTMP_WINDOW_ACK);
    uint8_t bw[5];
    wr_be32(bw, RTMP_WINDOW_ACK);
    bw[4] = 2; /* dynamic */
    send_msg(rs, RTMP_CSID_PROTO, RTMP_MSG_SET_PEER_BW, 0, bw, 5);
    send_u32(rs, RTMP_MSG_SET_CHUNK_SIZE, c->node->conf.rtmp_chunk_size);
    rs->out_chunk_size = c->node->conf.rtmp_chunk_size;

    amf0_buf_t b;
    amf0_buf_init(&b);
    int ok = stream_name_valid(rs->app, STREAM_APP_MAX);
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
    amf0_put_cstr(&b, ok ? "Connection succeeded." : "Invalid application name.");
    amf0_put_key(&b, "objectEncoding");
    amf0_put_number(&b, rs->object_encoding);
    amf0_put_object_end(&b);
    send_amf(rs, 0, &b);
    if (!ok) {
        log_warn(c->id, "rtmp: connect: invalid app name '%s'", rs->app);
        conn_close_after_flush(c, "connect rejected: invalid app name");
        return;
    }
    rs->connected = 1;
    log_debug(c->id, "rtmp: connect app=%s", rs->app);
}

static int take_stream_name(rtmp_sess_t *rs, const amf0_value_t *vals, size_t n)
{
    const char *name = n > 3 ? amf0_str(&vals[3]) : NULL;
    if (!name)
        return -1;
    snprintf(rs->name, sizeof rs->name, "%s", name);
    if (strlen(name) >= sizeof rs->name)
        return -1;
    split_query(rs->name, rs->name_query, sizeof rs->name_query);
    return stream_name_valid(rs->name, STREAM_NAME_MAX) ? 0 : -1;
}

static void cmd_publish(rtmp_sess_t *rs, const amf0_value_t *vals, size_t n)
{
    conn_t *c = rs->conn;
    if (rs->publishing || rs->playing) {
        send_status(rs, "error", "NetStream.Publish.BadName", "Already publishing or playing.");
        return;
    }
    if (take_stream_name(rs, vals, n) != 0) {
        log_warn(c->id, "rtmp: publish: invalid stream name");
        send_status(rs, "error", "NetStream.Publish.BadName", "Invalid stream name.");
        return;
    }
    rs->pub.ops = &RTMP_PUBLISHER_OPS;
    rs->pub.owner = rs;
    rs->pub.sess_id = c->id;
    rs->pub.source = "rtmp";
    int rc = stream_publish(c->node->hub, rs->app, rs->name, &rs->pub);
    if (rc == NODE_EBUSY) {
        log_warn(c->id, "rtmp: publish %s/%s refused: already publishing", rs->app, rs->name);
        send_status(rs, "error", "NetStream.Publish.BadName", "Stream already publishing.");
        return;
    }
    if (rc != 0) {
        send_status(rs, "error", "NetStream.Publish.BadName", "Cannot publish.");
        return;
    }
    rs->publishing = 1;
    send_user_control(rs, RTMP_UC_STREAM_BEGIN, MSG_RTMP_STREAM_ID);
    send_status(rs, "status", "NetStream.Publish.Start", "Start publishing.");
    log_info(c->id, "rtmp: publish %s/%s from %s", rs->app, rs->name, c->remote);
    rs->ev_pub = 1;
    sess_event(rs, "publish.start", SESS_ROLE_PUBLISHER, 0, NULL);
}

static void cmd_play(rtmp_sess_t *rs, const amf0_value_t *vals, size_t n)
{
    conn_t *c = rs->conn;
    if (rs->publishing || rs->playing) {
        send_status(rs, "error", "NetStream.Play.Failed", "Already publishing or playing.");
        return;
    }
    if (take_stream_name(rs, vals, n) != 0) {
        log_warn(c->id, "rtmp: play: invalid stream name");
        send_status(rs, "error", "NetStream.Play.StreamNotFound", "Invalid stream name.");
        return;
    }
    rs->player.ops = &RTMP_PLAYER_OPS;
    rs->player.owner = rs;
    rs->player.sess_id = c->id;
    rs->player.enc = MSG_ENC_RTMP;
    int rc = stream_play(c->node->hub, rs->app, rs->name, &rs->player,
                         c->node->conf.stream_play_wait_ms, weir_mono_ms());
    if (rc == 0) {
        rs->playing = 1;
        c->player = &rs->player;
        send_play_start(rs);
    } else if (rc == 1) {
        rs->playing = 1;
        log_debug(c->id, "rtmp: play %s/%s: waiting for a publisher", rs->app, rs->name);
    } else {
        send_status(rs, "error", "NetStream.Play.StreamNotFound", "No such stream.");
        log_info(c->id, "rtmp: play %s/%s: stream not found", rs->app, rs->name);
    }
}

static void stop_stream(rtmp_sess_t *rs, const char *reason)
{
    stop_events(rs, reason);
    if (rs->publishing) {
        rs->publishing = 0;
        stream_unpublish(&rs->pub, weir_mono_ms());
        log_info(rs->conn->id, "rtmp: unpublish %s/%s", rs->app, rs->name);
    }
    if (rs->playing) {
        rs->playing = 0;
        rs->conn->player = NULL;
        stream_player_stop(&rs->player);
    }
}

static void handle_command(rtmp_sess_t *rs, const uint8_t *p, uint32_t len)
{
    conn_t *c = rs->conn;
    amf0_value_t vals[RTMP_MAX_CMD_VALUES];
    size_t n = 0;
    const char *err = NULL;
    if (amf0_decode_all(p, len, vals, RTMP_MAX_CMD_VALUES, &n, &err) != 0) {
        log_warn(c->id, "rtmp: bad command: %s", err ? err : "amf0 error");
        conn_close(c, "protocol error: bad AMF0 command");
        return;
    }
    const char *cmd = n > 0 ? amf0_str(&vals[0]) : NULL;
    double txn = n > 1 ? amf0_num(&vals[1], 0) : 0;
    if (!cmd) {
        log_warn(c->id, "rtmp: command without a name");
        conn_close(c, "protocol error: command without a name");
    } else if (strcmp(cmd, "connect") == 0) {
        cmd_connect(rs, txn, vals, n);
    } else if (!rs->connected) {
        log_warn(c->id, "rtmp: '%s' before connect", cmd);
        conn_close(c, "protocol error: command before connect");
    } else if (strcmp(cmd, "createStream") == 0) {
        double sid = MSG_RTMP_STREAM_ID;
        send_result(rs, "_result", txn, &sid);
    } else if (strcmp(cmd, "publish") == 0) {
        cmd_publish(rs, vals, n);
    } else if (strcmp(cmd, "play") == 0) {
        cmd_play(rs, vals, n);
    } else if (strcmp(cmd, "deleteStream") == 0 || strcmp(cmd, "closeStream") == 0 ||
               strcmp(cmd, "FCUnpublish") == 0) {
        stop_stream(rs, cmd);
        if (txn > 0 && strcmp(cmd, "FCUnpublish") == 0)
            send_result(rs, "_result", txn, NULL);
    } else if (strcmp(cmd, "releaseStream") == 0 || strcmp(cmd, "FCPublish") == 0) {
        if (txn > 0)
            send_result(rs, "_result", txn, NULL);
    } else if (strcmp(cmd, "getStreamLength") == 0) {
        double zero = 0;
        send_result(rs, "_result", txn, &zero);
    } else if (strcmp(cmd, "receiveAudio") == 0 || strcmp(cmd, "receiveVideo") == 0 ||
               strcmp(cmd, "_checkbw") == 0 || strcmp(cmd, "pause") == 0) {
        log_debug(c->id, "rtmp: ignoring '%s'", cmd);
    } else if (txn > 0) {
        log_debug(c->id, "rtmp: unknown command '%s'", cmd);
        send_result(rs, "_error", txn, NULL);
    }
    amf0_values_free(vals, n);
}

/* @setDataFrame("onMetaData", obj) becomes onMetaData(obj); other data
 * messages pass through. Returns a malloc'd AMF0 payload or NULL (dropped). */
static uint8_t *rewrite_data(rtmp_sess_t *rs, const uint8_t *p, uint32_t len, uint32_t *outlen)
{
    amf0_value_t vals[RTMP_MAX_CMD_VALUES];
    size_t n = 0;
    const char *err = NULL;
    if (amf0_decode_all(p, len, vals, RTMP_MAX_CMD_VALUES, &n, &err) != 0) {
        log_debug(rs->conn->id, "rtmp: dropping undecodable data message: %s", err);
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
        }
    }
    amf0_values_free(vals, n);
    return out;
}

static void push_media(rtmp_sess_t *rs, uint8_t type, uint32_t ts, uint8_t *payload, uint32_t len)
{
    if (stream_push(&rs->pub, type, ts, payload, len, weir_mono_ms()) != 0)
        conn_close(rs->conn, "out of memory");
}

static void handle_data(rtmp_sess_t *rs, uint32_t ts, const uint8_t *p, uint32_t len)
{
    uint32_t outlen = 0;
    uint8_t *out = rewrite_data(rs, p, len, &outlen);
    if (out)
        push_media(rs, FLV_TAG_SCRIPT, ts, out, outlen);
}

/* Aggregate: FLV-tag-like sub-messages with timestamps relative to the
 * first one, rebased onto the aggregate's own timestamp. */
static void handle_aggregate(rtmp_sess_t *rs, uint32_t ts, const uint8_t *p, uint32_t len)
{
    uint32_t off = 0, first_ts = 0;
    int first = 1;
    while (len - off >= FLV_TAG_HEADER_SIZE) {
        const uint8_t *h = p + off;
        uint8_t type = h[0] & 0x1f;
        uint32_t size = rd_be24(h + 1);
        uint32_t sts = rd_be24(h + 4) | ((uint32_t)h[7] << 24);
        if (size > len - off - FLV_TAG_HEADER_SIZE) {
            log_warn(rs->conn->id, "rtmp: truncated aggregate message");
            return;
        }
        if (first) {
            first_ts = sts;
            first = 0;
        }
        const uint8_t *body = h + FLV_TAG_HEADER_SIZE;
        uint32_t mts = ts + (sts - first_ts);
        if (type == FLV_TAG_AUDIO || type == FLV_TAG_VIDEO) {
            uint8_t *copy = malloc(size ? size : 1);
            if (!copy) {
                conn_close(rs->conn, "out of memory");
                return;
            }
            memcpy(copy, body, size);
            push_media(rs, type, mts, copy, size);
        } else if (type == FLV_TAG_SCRIPT) {
            handle_data(rs, mts, body, size);
        }
        off += FLV_TAG_HEADER_SIZE + size;
        off += (len - off >= FLV_PREV_SIZE) ? FLV_PREV_SIZE : len - off;
    }
}

/* Dispatches one message; takes ownership of m->payload. */
static void handle_message(rtmp_sess_t *rs, rtmp_msg_t *m)
{
    conn_t *c = rs->conn;
    uint8_t *p = m->payload;
    switch (m->type) {
    case RTMP_MSG_SET_CHUNK_SIZE:
        if (m->len < 4 || rtmp_chunk_parser_set_chunk_size(rs->parser, rd_be32(p) & 0x7fffffff)) {
            log_warn(c->id, "rtmp: bad Set Chunk Size");
            conn_close(c, "protocol error: bad chunk size");
        }
        break;
    case RTMP_MSG_ABORT:
        if (m->len >= 4)
            rtmp_chunk_parser_abort(rs->parser, rd_be32(p));
        break;
    case RTMP_MSG_WINDOW_ACK_SIZE:
        if (m->len >= 4)
            rs->peer_window = rd_be32(p);
        break;
    case RTMP_MSG_USER_CONTROL:
        if (m->len >= 6 && rd_be16(p) == RTMP_UC_PING_REQUEST)
            send_user_control(rs, RTMP_UC_PING_RESPONSE, rd_be32(p + 2));
        break;
    case RTMP_MSG_AUDIO:
    case RTMP_MSG_VIDEO:
        if (rs->publishing) {
            push_media(rs, m->type, m->timestamp, p, m->len);
            p = NULL; /* adopted */
        }
        break;
    case RTMP_MSG_DATA_AMF0:
    case RTMP_MSG_DATA_AMF3:
        if (rs->publishing) {
            uint32_t skip = (m->type == RTMP_MSG_DATA_AMF3 && m->len && p[0] == 0) ? 1 : 0;
            handle_data(rs, m->timestamp, p + skip, m->len - skip);
        }
        break;
    case RTMP_MSG_COMMAND_AMF0:
    case RTMP_MSG_COMMAND_AMF3: {
        uint32_t skip = (m->type == RTMP_MSG_COMMAND_AMF3 && m->len && p[0] == 0) ? 1 : 0;
        handle_command(rs, p + skip, m->len - skip);
        break;
    }
    case RTMP_MSG_AGGREGATE:
        if (rs->publishing)
            handle_aggregate(rs, m->timestamp, p, m->len);
        break;
    default: /* acknowledgements, peer bandwidth, shared objects */ break;
    }
    free(p);
}

/* ---- connection callbacks ---------------------------------------------- */

static void rtmp_on_read(conn_t *c, const uint8_t *data, size_t len)
{
    rtmp_sess_t *rs = c->ps;
    const char *err = NULL;
    /* The chunk parser may hold a few look-ahead bytes that complete a
     * message, so it is fed until it says NEED_MORE, even with no bytes
     * left; the handshake never holds any. */
    while (!c->closing && (len || rs->state == RS_READY)) {
        size_t used = 0;
        if (rs->state == RS_HANDSHAKE) {
            parse_rc_t rc = rtmp_hs_feed(rs->hs, data, len, &used, &err);
            const uint8_t *out;
            size_t outlen;
            rtmp_hs_output(rs->hs, &out, &outlen);
            if (outlen) {
                conn_send(c, out, outlen);
                rtmp_hs_output_done(rs->hs);
                conn_flush(c);
            }
            if (rc == PARSE_OK) {
                log_debug(c->id, "rtmp: handshake done (%s)",
                          rtmp_hs_peer_complex(rs->hs) ? "complex" : "simple");
                rtmp_hs_free(rs->hs);
                rs->hs = NULL;
                rs->state = RS_READY;
            } else if (rc != PARSE_NEED_MORE) {
                log_warn(c->id, "rtmp: %s", err ? err : "handshake failed");
                conn_close(c, "handshake failed");
                return;
            }
        } else {
            rtmp_msg_t m;
            parse_rc_t rc = rtmp_chunk_feed(rs->parser, data, len, &used, &m, &err);
            if (rc == PARSE_OK) {
                handle_message(rs, &m);
            } else if (rc == PARSE_NEED_MORE) {
                break; /* all input consumed */
            } else {
                log_warn(c->id, "rtmp: chunk stream: %s", err ? err : "protocol error");
                conn_close(c, "protocol error");
                return;
            }
        }
        data += used;
        len -= used;
    }
    if (c->closing)
        return;
    /* Acknowledge per the peer's window. */
    if (rs->peer_window && c->bytes_in - rs->acked >= rs->peer_window) {
        rs->acked = c->bytes_in;
        send_u32(rs, RTMP_MSG_ACK, (uint32_t)c->bytes_in);
    }
    if (rs->publishing && rs->pub.stream)
        stream_flush(rs->pub.stream);
    if (evbuffer_get_length(c->out) && !c->wblocked)
        conn_flush(c);
}

static void rtmp_on_tick(conn_t *c, int64_t now_ms)
{
    rtmp_sess_t *rs = c->ps;
    const conf_t *conf = &c->node->conf;
    if (rs->state == RS_HANDSHAKE) {
        if (now_ms - c->start_ms > (int64_t)conf->rtmp_handshake_timeout_ms) {
            log_warn(c->id, "rtmp: handshake timeout from %s", c->remote);
            conn_close(c, "handshake timeout");
        }
        return;
    }
    /* Players may legitimately stay silent; everyone else must not. */
    if (!rs->playing && now_ms - c->last_read_ms > (int64_t)conf->rtmp_idle_timeout_ms) {
        log_warn(c->id, "rtmp: idle for %u ms, closing", conf->rtmp_idle_timeout_ms);
        conn_close(c, "idle timeout");
    }
}

static void rtmp_on_close(conn_t *c)
{
    rtmp_sess_t *rs = c->ps;
    if (!rs)
        return;
    stop_stream(rs, c->close_reason);
    rtmp_hs_free(rs->hs);
    rtmp_chunk_parser_free(rs->parser);
    free(rs);
    c->ps = NULL;
}

static void rtmp_info(const conn_t *c, sess_info_t *out)
{
    const rtmp_sess_t *rs = c->ps;
    if (!rs)
        return;
    out->dropped_frames = rs->player.dropped_frames;
    if (rs->connected)
        out->app = rs->app;
    if (rs->publishing || rs->ev_pub) {
        out->role = SESS_ROLE_PUBLISHER;
        out->name = rs->name;
    } else if (rs->playing || rs->ev_play) {
        out->role = SESS_ROLE_PLAYER;
        out->name = rs->name;
    }
}

const conn_proto_t SESS_RTMP_PROTO = {"rtmp", rtmp_on_read, rtmp_on_tick, rtmp_on_close, rtmp_info};

void sess_rtmp_start(conn_t *c)
{
    rtmp_sess_t *rs = calloc(1, sizeof *rs);
    if (rs) {
        rs->conn = c;
        rs->out_chunk_size = RTMP_DEFAULT_CHUNK_SIZE;
        rs->hs = rtmp_hs_new(RTMP_HS_SERVER, 0);
        rs->parser = rtmp_chunk_parser_new(c->node->conf.rtmp_max_message_size,
                                           c->node->conf.rtmp_max_chunk_streams);
    }
    c->ps = rs;
    if (!rs || !rs->hs || !rs->parser) {
        log_error(c->id, "rtmp: out of memory for a new session");
        conn_close(c, "out of memory");
    }
}
