/* sess_rtmp_client: the RTMP client side of a relay link, on the event loop
 * (see relay_link.h for what a link is).
 *
 * One link is one outgoing conn_t whose protocol state is an rtmp_link_t
 * (relay_link_base_t first). The session goes through named phases:
 *   CONNECTING     resolving and TCP connect (conn_connect())
 *   HANDSHAKE      C0+C1 sent at on_connect, S0+S1+S2 read, C2 sent
 *   CONNECT        Set Chunk Size, connect(app, tcUrl...) sent; waits for
 *                  its _result (an _error is a refusal)
 *   CREATE_STREAM  push: releaseStream + FCPublish first; createStream sent
 *   START          publish(name, "live") or play(name, -2) + Set Buffer
 *                  Length sent; waits for NetStream.Publish.Start /
 *                  NetStream.Play.Start (an error status is a refusal)
 *   UP             push: a player_t on the local stream sends the shared
 *                  pre-chunked bytes (stream id 1, csids 4/5/6, the node's
 *                  chunk size) after the private output; pull: received
 *                  media goes into a local publisher_t (source "relay").
 * The name sent is the URL's stream name plus the loop parameters
 * "weir_hops=N&weir_via=IDS" in its query.
 *
 * Bounds: the chunk parser limits message size and chunk streams (node
 * config); the private output holds only commands and control; media goes
 * out by reference (push) or into the hub's ring (pull). Deadlines are
 * checked in on_tick: cfg timeout_ms until up, then (pull) the same as the
 * longest silence from the upstream.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amf0.h"
#include "common.h"
#include "conn.h"
#include "log.h"
#include "relay_link.h"
#include "rtmp_chunk.h"
#include "rtmp_client.h"
#include "rtmp_ctrl.h"
#include "rtmp_handshake.h"
#include "url.h"

#define LINK_MAX_CMD_VALUES 16
#define LINK_PULL_CHUNK_SIZE 4096
#define LINK_PLAY_BUFFER_MS 3000
#define LINK_DEFAULT_TIMEOUT_MS 10000
#define LINK_GOODBYE_MAX_MS 5000 /* longest wait for the goodbye to be written */
/* The stream name sent: the URL's name (query included) plus the loop
 * parameters. */
#define LINK_NAME_MAX (RELAY_URL_MAX + RELAY_VIA_MAX + 64)
#define LINK_FLASH_VER "FMLE/3.0 (compatible; weir/" WEIR_VERSION ")"

typedef enum {
    LP_CONNECTING,
    LP_HANDSHAKE,
    LP_CONNECT,
    LP_CREATE_STREAM,
    LP_START,
    LP_UP
} link_phase_t;

typedef struct {
    relay_link_base_t base; /* first: relay_link_stop() reaches it through c->ps */
    conn_t *conn;
    link_phase_t phase;
    rtmp_hs_t *hs;
    rtmp_ctrl_t ctrl;
    uint32_t out_chunk_size;
    char app[RTMP_CLIENT_APP_MAX];
    char tc_url[RTMP_CLIENT_TCURL_MAX];
    char req_name[LINK_NAME_MAX];
    double txn; /* last transaction id used */
    double txn_connect, txn_create, txn_start;
    uint32_t stream_id;
    publisher_t pub; /* pull */
    int publishing;
    player_t player; /* push */
    int playing;
    int64_t goodbye_ms; /* push: when the goodbye started, 0 before */
} rtmp_link_t;

/* A decoded _result, _error or onStatus. */
typedef struct {
    const char *name;
    double txn;
    const amf0_value_t *info; /* 4th value: status object or number */
    const char *level, *code, *desc;
} link_cmd_t;

static const char *phase_name(const rtmp_link_t *l, const conn_t *c)
{
    switch (l->phase) {
    case LP_CONNECTING: return c->resolve ? "resolving" : "connecting";
    case LP_HANDSHAKE: return "handshake";
    case LP_CONNECT: return "connect";
    case LP_CREATE_STREAM: return "createStream";
    case LP_START: return l->base.dir == RELAY_PUSH ? "publish" : "play";
    case LP_UP: break;
    }
    return "up";
}

static uint32_t link_timeout_ms(const rtmp_link_t *l)
{
    return l->base.timeout_ms ? l->base.timeout_ms : LINK_DEFAULT_TIMEOUT_MS;
}

/* ---- output ------------------------------------------------------------- */

static void send_ctrl(rtmp_link_t *l, const rtmp_ctrl_out_t *m)
{
    rtmp_send_ctrl(l->conn, l->out_chunk_size, m);
}

/* Sends an encoded command and frees the buffer. */
static void send_command(rtmp_link_t *l, uint32_t stream_id, amf0_buf_t *b)
{
    rtmp_send_amf(l->conn, l->out_chunk_size, RTMP_CSID_CMD, RTMP_MSG_COMMAND_AMF0, stream_id, b);
}

/* name(txn, null[, str][, num]) on stream_id; returns the txn used. */
static double send_simple(rtmp_link_t *l, const char *name, uint32_t stream_id, const char *str,
                          const double *num)
{
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_cstr(&b, name);
    amf0_put_number(&b, ++l->txn);
    amf0_put_null(&b);
    if (str)
        amf0_put_cstr(&b, str);
    if (num)
        amf0_put_number(&b, *num);
    send_command(l, stream_id, &b);
    return l->txn;
}

static void send_connect(rtmp_link_t *l)
{
    conn_t *c = l->conn;
    rtmp_ctrl_out_t m;
    uint32_t cs = l->base.dir == RELAY_PUSH ? c->node->conf.rtmp_chunk_size : LINK_PULL_CHUNK_SIZE;
    rtmp_ctrl_u32(&m, RTMP_MSG_SET_CHUNK_SIZE, cs);
    send_ctrl(l, &m);
    l->out_chunk_size = cs;

    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_cstr(&b, "connect");
    amf0_put_number(&b, l->txn_connect = ++l->txn);
    amf0_put_object_start(&b);
    amf0_put_key(&b, "app");
    amf0_put_cstr(&b, l->app);
    amf0_put_key(&b, "type");
    amf0_put_cstr(&b, "nonprivate");
    amf0_put_key(&b, "flashVer");
    amf0_put_cstr(&b, LINK_FLASH_VER);
    amf0_put_key(&b, "tcUrl");
    amf0_put_cstr(&b, l->tc_url);
    if (l->base.dir == RELAY_PULL) {
        amf0_put_key(&b, "fpad");
        amf0_put_bool(&b, 0);
        amf0_put_key(&b, "capabilities");
        amf0_put_number(&b, 15);
        amf0_put_key(&b, "audioCodecs");
        amf0_put_number(&b, 4071);
        amf0_put_key(&b, "videoCodecs");
        amf0_put_number(&b, 252);
        amf0_put_key(&b, "videoFunction");
        amf0_put_number(&b, 1);
    }
    amf0_put_key(&b, "objectEncoding");
    amf0_put_number(&b, 0);
    amf0_put_object_end(&b);
    send_command(l, 0, &b);
    l->phase = LP_CONNECT;
}

static void send_create_stream(rtmp_link_t *l)
{
    if (l->base.dir == RELAY_PUSH) {
        send_simple(l, "releaseStream", 0, l->req_name, NULL);
        send_simple(l, "FCPublish", 0, l->req_name, NULL);
    }
    l->txn_create = send_simple(l, "createStream", 0, NULL, NULL);
    l->phase = LP_CREATE_STREAM;
}

static void send_start(rtmp_link_t *l)
{
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_cstr(&b, l->base.dir == RELAY_PUSH ? "publish" : "play");
    amf0_put_number(&b, l->txn_start = ++l->txn);
    amf0_put_null(&b);
    amf0_put_cstr(&b, l->req_name);
    if (l->base.dir == RELAY_PUSH)
        amf0_put_cstr(&b, "live");
    else
        amf0_put_number(&b, -2);
    send_command(l, l->stream_id, &b);
    if (l->base.dir == RELAY_PULL) {
        rtmp_ctrl_out_t m;
        rtmp_ctrl_user_control(&m, RTMP_UC_SET_BUFFER_LENGTH, l->stream_id, LINK_PLAY_BUFFER_MS);
        send_ctrl(l, &m);
    }
    l->phase = LP_START;
}

/* Push: FCUnpublish and deleteStream, then close once written. */
static void send_goodbye(rtmp_link_t *l, const char *reason)
{
    double sid = l->stream_id;
    send_simple(l, "FCUnpublish", 0, l->req_name, NULL);
    send_simple(l, "deleteStream", 0, NULL, &sid);
    l->goodbye_ms = weir_mono_ms();
    conn_close_after_flush(l->conn, reason);
}

/* Records why the link failed (printf-style) and closes now with reason
 * (a static string: the connection's close reason). */
static void fail_close(rtmp_link_t *l, int refused, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail_close(rtmp_link_t *l, int refused, const char *reason, const char *fmt, ...)
{
    char msg[RELAY_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    relay_link_fail(&l->base, refused, "%s", msg);
    conn_close(l->conn, reason);
}

/* ---- the local side ----------------------------------------------------- */

static void player_wake(player_t *p)
{
    rtmp_link_t *l = p->owner;
    if (!l->conn->wblocked)
        conn_flush(l->conn);
}

static void player_event(player_t *p, player_event_t ev)
{
    rtmp_link_t *l = p->owner;
    conn_t *c = l->conn;
    switch (ev) {
    case PLAYER_EV_STARTED: /* not expected: the link plays only live streams */
        c->player = p;
        conn_flush(c);
        break;
    case PLAYER_EV_UNPUBLISHED: /* the grace period runs; the remote keeps waiting */
    case PLAYER_EV_REPUBLISHED: break;
    case PLAYER_EV_NOT_FOUND:
    case PLAYER_EV_ENDED:
        l->playing = 0;
        c->player = NULL;
        relay_link_fail(&l->base, 0, "local stream ended");
        send_goodbye(l, "local stream ended");
        break;
    case PLAYER_EV_SLOW:
        l->playing = 0;
        c->player = NULL;
        relay_link_fail(&l->base, 0, "push target too slow");
        log_warn(c->id, "relay link: push of %s/%s to %s cannot keep up", l->base.app, l->base.name,
                 l->base.url);
        conn_close(c, "push target too slow");
        break;
    }
}

static const player_ops_t LINK_PLAYER_OPS = {player_wake, player_event};

static void publisher_kick(publisher_t *pub, const char *reason)
{
    rtmp_link_t *l = pub->owner;
    l->publishing = 0;
    relay_link_fail(&l->base, 0, "%s", reason);
    conn_close(l->conn, "local publish ended");
}

static const publisher_ops_t LINK_PUBLISHER_OPS = {publisher_kick};

/* Push: the remote accepted the publish; attach to the local stream. */
static void push_up(rtmp_link_t *l)
{
    conn_t *c = l->conn;
    hub_t *hub = c->node->hub;
    /* Only a live stream: a player asking for a missing one would make the
     * hub look for a pull relay to bring it. */
    stream_t *s = hub_lookup(hub, l->base.app, l->base.name);
    int rc = NODE_ENOTFOUND;
    if (s && stream_is_live(s)) {
        l->player.ops = &LINK_PLAYER_OPS;
        l->player.owner = l;
        l->player.sess_id = c->id;
        l->player.enc = MSG_ENC_RTMP;
        l->player.relay = 1;
        rc = stream_play(hub, l->base.app, l->base.name, &l->player, 0, weir_mono_ms());
        if (rc == 1)
            stream_player_stop(&l->player);
    }
    if (rc != 0) {
        relay_link_fail(&l->base, 0, "local stream ended");
        send_goodbye(l, "local stream ended");
        return;
    }
    l->playing = 1;
    c->player = &l->player;
    l->phase = LP_UP;
    relay_link_report_up(&l->base, c);
    if (!c->closing && !c->wblocked)
        conn_flush(c);
}

/* Pull: the upstream accepted the play; publish locally. */
static void pull_up(rtmp_link_t *l)
{
    conn_t *c = l->conn;
    const char *reason;
    if (relay_link_publish(&l->base, c, &l->pub, &LINK_PUBLISHER_OPS, l, &reason) != 0) {
        conn_close(c, reason);
        return;
    }
    l->publishing = 1;
    l->phase = LP_UP;
    relay_link_report_up(&l->base, c);
}

/* ---- commands ----------------------------------------------------------- */

/* A status that refuses a publish or play: error level, or a code that says
 * so even when a server labels it "status". */
static int is_refusal(const link_cmd_t *k)
{
    return strcmp(k->level, "error") == 0 || strstr(k->code, "NotFound") ||
           strstr(k->code, "Failed") || strstr(k->code, "BadName") || strstr(k->code, "Denied") ||
           strstr(k->code, "Rejected");
}

static void on_result(rtmp_link_t *l, const link_cmd_t *k)
{
    int error = strcmp(k->name, "_error") == 0;
    const char *code = k->code[0] ? k->code : k->name;
    if (l->phase == LP_CONNECT && k->txn == l->txn_connect) {
        if (error) {
            fail_close(l, 1, "connect rejected", "connect rejected: %s (%s)", code, k->desc);
            return;
        }
        log_debug(l->conn->id, "relay link: connected to app %s", l->app);
        send_create_stream(l);
    } else if (l->phase == LP_CREATE_STREAM && k->txn == l->txn_create) {
        double sid = amf0_num(k->info, -1);
        if (error || sid < 0 || sid > UINT32_MAX) {
            fail_close(l, 1, "createStream failed", "createStream failed: %s (%s)", code, k->desc);
            return;
        }
        l->stream_id = (uint32_t)sid;
        if (l->base.dir == RELAY_PUSH && l->stream_id != MSG_RTMP_STREAM_ID) {
            fail_close(l, 1, "unsupported stream id",
                       "createStream gave stream id %u; a push needs stream id %u", l->stream_id,
                       (unsigned)MSG_RTMP_STREAM_ID);
            return;
        }
        send_start(l);
    } else if (error && l->phase == LP_START && k->txn == l->txn_start) {
        fail_close(l, 1, "refused", "%s (%s)", code, k->desc);
    }
}

static void on_status(rtmp_link_t *l, const link_cmd_t *k)
{
    conn_t *c = l->conn;
    int push = l->base.dir == RELAY_PUSH;
    log_debug(c->id, "relay link: onStatus %s %s (%s)", k->level, k->code, k->desc);
    if (l->phase == LP_START) {
        if (strcmp(k->code, push ? "NetStream.Publish.Start" : "NetStream.Play.Start") == 0) {
            if (push)
                push_up(l);
            else
                pull_up(l);
        } else if (is_refusal(k)) {
            fail_close(l, 1, "refused", "%s (%s)", k->code, k->desc);
        }
        return;
    }
    if (l->phase != LP_UP)
        return;
    if (!push && (strcmp(k->code, "NetStream.Play.UnpublishNotify") == 0 ||
                  strcmp(k->code, "NetStream.Play.Stop") == 0)) {
        fail_close(l, 0, "upstream unpublished", "upstream unpublished");
    } else if (is_refusal(k)) {
        fail_close(l, 1, "refused", "%s (%s)", k->code, k->desc);
    }
}

static void handle_command(void *arg, const uint8_t *p, uint32_t len)
{
    rtmp_link_t *l = arg;
    conn_t *c = l->conn;
    amf0_value_t vals[LINK_MAX_CMD_VALUES];
    size_t n = 0;
    const char *err = NULL;
    if (amf0_decode_all(p, len, vals, LINK_MAX_CMD_VALUES, &n, &err) != 0) {
        log_warn(c->id, "relay link: bad command from %s: %s", c->remote, err ? err : "amf0");
        fail_close(l, 0, "protocol error", "protocol error: bad AMF0 command from %s", c->remote);
        return;
    }
    link_cmd_t k;
    k.name = n > 0 ? amf0_str(&vals[0]) : NULL;
    k.txn = n > 1 ? amf0_num(&vals[1], 0) : 0;
    k.info = n > 3 ? &vals[3] : NULL;
    k.level = amf0_str(amf0_get(k.info, "level"));
    k.code = amf0_str(amf0_get(k.info, "code"));
    k.desc = amf0_str(amf0_get(k.info, "description"));
    k.level = k.level ? k.level : "";
    k.code = k.code ? k.code : "";
    k.desc = k.desc ? k.desc : "";
    if (!k.name) {
        /* nothing to do */
    } else if (strcmp(k.name, "_result") == 0 || strcmp(k.name, "_error") == 0) {
        on_result(l, &k);
    } else if (strcmp(k.name, "onStatus") == 0) {
        on_status(l, &k);
    } else {
        log_debug(c->id, "relay link: ignoring '%s'", k.name); /* onBWDone, onFCPublish... */
    }
    amf0_values_free(vals, n);
}

/* Dispatches one message; frees its payload (or hands it to the hub). */
static void handle_message(rtmp_link_t *l, rtmp_msg_t *m)
{
    conn_t *c = l->conn;
    const char *err = NULL;
    int rc = rtmp_ctrl_dispatch(&l->ctrl, c, l->out_chunk_size, m, l->publishing ? &l->pub : NULL,
                                handle_command, l, &err);
    if (rc == NODE_EPROTO) {
        log_warn(c->id, "relay link: %s from %s", err, c->remote);
        fail_close(l, 0, "protocol error", "protocol error: %s", err);
    } else if (rc < 0) {
        fail_close(l, 0, "out of memory", "out of memory");
    }
}

/* ---- connection callbacks ---------------------------------------------- */

static void link_on_connect(conn_t *c)
{
    rtmp_link_t *l = c->ps;
    l->conn = c;
    l->phase = LP_HANDSHAKE;
    log_debug(c->id, "relay link: connected to %s, handshake", c->remote);
    rtmp_send_handshake(c, l->hs);
    conn_flush(c);
}

/* Feeds handshake bytes; returns the bytes used, or -1 (closed). */
static int feed_handshake(rtmp_link_t *l, const uint8_t *data, size_t len, size_t *used)
{
    conn_t *c = l->conn;
    const char *err = NULL;
    parse_rc_t rc = rtmp_hs_feed(l->hs, data, len, used, &err);
    rtmp_send_handshake(c, l->hs);
    if (rc == PARSE_OK) {
        log_debug(c->id, "relay link: handshake done (%s)",
                  rtmp_hs_peer_complex(l->hs) ? "complex" : "simple");
        rtmp_hs_free(l->hs);
        l->hs = NULL;
        send_connect(l);
        return 0;
    }
    if (rc != PARSE_NEED_MORE) {
        relay_link_fail(&l->base, 0, "%s", err ? err : "handshake failed");
        conn_close(c, "handshake failed");
        return -1;
    }
    return 0;
}

static void link_on_read(conn_t *c, const uint8_t *data, size_t len)
{
    rtmp_link_t *l = c->ps;
    const char *err = NULL;
    l->conn = c;
    /* As in sess_rtmp.c: the chunk parser is fed until it needs more, even
     * with no bytes left (it may hold look-ahead bytes). */
    while (!c->closing && (len || l->phase > LP_HANDSHAKE)) {
        size_t used = 0;
        if (l->phase <= LP_HANDSHAKE) {
            if (feed_handshake(l, data, len, &used) != 0)
                return;
        } else {
            rtmp_msg_t m;
            parse_rc_t rc = rtmp_chunk_feed(l->ctrl.parser, data, len, &used, &m, &err);
            if (rc == PARSE_OK) {
                handle_message(l, &m);
            } else if (rc == PARSE_NEED_MORE) {
                break;
            } else {
                log_warn(c->id, "relay link: chunk stream from %s: %s", c->remote,
                         err ? err : "protocol error");
                relay_link_fail(&l->base, 0, "protocol error: %s", err ? err : "chunk stream");
                conn_close(c, "protocol error");
                return;
            }
        }
        data += used;
        len -= used;
    }
    rtmp_read_done(&l->ctrl, c, l->out_chunk_size, l->publishing ? &l->pub : NULL);
}

static void link_on_tick(conn_t *c, int64_t now_ms)
{
    rtmp_link_t *l = c->ps;
    int64_t limit = link_timeout_ms(l);
    if (l->goodbye_ms) {
        if (now_ms - l->goodbye_ms > (limit < LINK_GOODBYE_MAX_MS ? limit : LINK_GOODBYE_MAX_MS))
            conn_close(c, c->close_reason ? c->close_reason : "local stream ended");
        return;
    }
    const char *why = relay_link_deadline(&l->base, c, now_ms, (uint32_t)limit, phase_name(l, c));
    if (why)
        conn_close(c, why);
}

static void link_free(rtmp_link_t *l)
{
    rtmp_hs_free(l->hs);
    rtmp_ctrl_free(&l->ctrl);
    free(l);
}

static void link_on_close(conn_t *c)
{
    rtmp_link_t *l = c->ps;
    if (!l)
        return;
    if (l->playing) {
        l->playing = 0;
        c->player = NULL;
        stream_player_stop(&l->player);
    }
    relay_link_closed(&l->base, c, &l->pub, &l->publishing);
    link_free(l);
    c->ps = NULL;
}

static void link_info(const conn_t *c, sess_info_t *out)
{
    const rtmp_link_t *l = c->ps;
    relay_link_info(c, out);
    if (l)
        out->dropped_frames = l->player.dropped_frames;
}

static const conn_proto_t RELAY_RTMP_PROTO = {
    .name = "rtmp",
    .on_read = link_on_read,
    .on_tick = link_on_tick,
    .on_close = link_on_close,
    .info = link_info,
    .on_connect = link_on_connect,
};

/* ---- start -------------------------------------------------------------- */

/* The name sent: the URL's stream name with the loop parameters added to
 * its query. Returns 0 or -1 (too long). */
static int request_name(char *out, size_t cap, const char *name, unsigned hops, const char *via)
{
    int n = snprintf(out, cap, "%s%cweir_hops=%u%s%s", name, strchr(name, '?') ? '&' : '?', hops,
                     via[0] ? "&weir_via=" : "", via);
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

conn_t *relay_rtmp_link_start(node_t *node, const relay_link_cfg_t *cfg,
                              const relay_link_ops_t *ops, void *owner, char *err, size_t errlen)
{
    rtmp_client_url_t u;
    if (rtmp_client_url_parse(cfg->url, &u, err, errlen) != 0)
        return NULL;
    rtmp_link_t *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (relay_link_base_init(&l->base, cfg, ops, owner) != 0 ||
        request_name(l->req_name, sizeof l->req_name, u.name, cfg->hops, l->base.via) != 0) {
        snprintf(err, errlen, "relay link: URL, stream name or via list too long");
        link_free(l);
        return NULL;
    }
    snprintf(l->app, sizeof l->app, "%s", u.app);
    snprintf(l->tc_url, sizeof l->tc_url, "%s", u.tc_url);
    l->out_chunk_size = RTMP_DEFAULT_CHUNK_SIZE;
    l->phase = LP_CONNECTING;
    l->hs = rtmp_hs_new(RTMP_HS_CLIENT, 1);
    if (!l->hs || rtmp_ctrl_init(&l->ctrl, node->conf.rtmp_max_message_size,
                                 node->conf.rtmp_max_chunk_streams) != 0) {
        snprintf(err, errlen, "out of memory");
        link_free(l);
        return NULL;
    }
    conn_t *c = conn_connect(node, u.host, u.port, &RELAY_RTMP_PROTO, l, err, errlen);
    if (!c) {
        link_free(l);
        return NULL;
    }
    l->conn = c;
    char ub[URL_LOG_MAX];
    log_info(c->id, "relay link: %s %s/%s %s %s (hops %u)",
             cfg->dir == RELAY_PUSH ? "pushing" : "pulling", l->base.app, l->base.name,
             cfg->dir == RELAY_PUSH ? "to" : "from", url_for_log(l->base.url, ub, sizeof ub),
             l->base.hops);
    return c;
}
