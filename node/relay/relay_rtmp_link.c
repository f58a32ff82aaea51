/* relay_rtmp_link: the RTMP client side of a relay link, on the event loop
 * (see relay_link.h for what a link is).
 *
 * One link is one outgoing conn_t whose protocol state is an rtmp_link_t
 * (relay_link_base_t first). The session goes through named phases:
 *   CONNECTING     resolving and TCP connect (conn_connect())
 *   HANDSHAKE      C0+C1 sent at on_connect, S0+S1+S2 read, C2 sent
 *   PROTO          the client command sequence of rtmp_proto_client.h
 *                  (Set Chunk Size, connect, [releaseStream + FCPublish,]
 *                  createStream, publish(name, "live") or play(name, -2) +
 *                  Set Buffer Length); its events drive the link: a
 *                  refusal fails it, NetStream.Publish.Start /
 *                  NetStream.Play.Start brings it up
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
 * checked in on_tick: cfg timeout_ms until up, then (pull) cfg silence_ms
 * (or timeout_ms) as the longest time without media from the upstream.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "conn.h"
#include "log.h"
#include "relay_link.h"
#include "rtmp_chunk.h"
#include "rtmp_ctrl.h"
#include "rtmp_handshake.h"
#include "rtmp_proto_client.h"
#include "url.h"

#define LINK_PULL_CHUNK_SIZE 4096
#define LINK_PLAY_BUFFER_MS 3000
#define LINK_DEFAULT_TIMEOUT_MS 10000
#define LINK_GOODBYE_MAX_MS 5000 /* longest wait for the goodbye to be written */
/* The stream name sent: the URL's name (query included) plus the loop
 * parameters. */
#define LINK_NAME_MAX (RELAY_URL_MAX + RELAY_VIA_MAX + RELAY_SOURCE_MAX + 64)
#define LINK_FLASH_VER "FMLE/3.0 (compatible; weir/" WEIR_VERSION ")"

typedef enum { LP_CONNECTING, LP_HANDSHAKE, LP_PROTO, LP_UP } link_phase_t;

typedef struct {
    relay_link_base_t base; /* first: relay_link_stop() reaches it through c->ps */
    conn_t *conn;
    link_phase_t phase;
    rtmp_hs_t *hs;
    rtmp_proto_client_t *cl; /* the command sequence, protocol control */
    publisher_t pub;         /* pull */
    int publishing;
    player_t player; /* push */
    int playing;
    int64_t goodbye_ms; /* push: when the goodbye started, 0 before */
    char host[URL_RTMP_HOST_MAX]; /* the URL's, for TLS (SNI, the name verified) */
} rtmp_link_t;

static const char *phase_name(const rtmp_link_t *l, const conn_t *c)
{
    switch (l->phase) {
    case LP_CONNECTING: return c->resolve ? "resolving" : "connecting";
    case LP_HANDSHAKE: return "handshake";
    case LP_PROTO: break;
    case LP_UP: return "up";
    }
    switch (rtmp_proto_client_state(l->cl)) {
    case RTMP_PROTO_CL_CONNECT: return "connect";
    case RTMP_PROTO_CL_CREATE_STREAM:
    case RTMP_PROTO_CL_READY: return "createStream";
    case RTMP_PROTO_CL_START: return l->base.dir == RELAY_PUSH ? "publish" : "play";
    case RTMP_PROTO_CL_LIVE:
    case RTMP_PROTO_CL_FAILED: break;
    }
    return "up";
}

static uint32_t link_timeout_ms(const rtmp_link_t *l)
{
    return l->base.timeout_ms ? l->base.timeout_ms : LINK_DEFAULT_TIMEOUT_MS;
}

/* ---- output ------------------------------------------------------------- */

/* Moves what the command sequence has queued onto the private output. */
static void link_output(rtmp_link_t *l)
{
    const uint8_t *p;
    size_t len;
    rtmp_proto_client_output(l->cl, &p, &len);
    if (!len)
        return;
    if (conn_send(l->conn, p, len) == NODE_ENOMEM)
        conn_close(l->conn, REASON_ERROR, "out of memory"); /* NODE_ELIMIT: conn_send() closed it */
    rtmp_proto_client_output_done(l->cl, len);
}

/* Push: FCUnpublish and deleteStream, then close once written. */
static void send_goodbye(rtmp_link_t *l, const char *reason)
{
    if (rtmp_proto_client_goodbye(l->cl) == 0)
        link_output(l);
    l->goodbye_ms = weir_mono_ms();
    conn_close_after_flush(l->conn, REASON_LOCAL_ENDED, reason);
}

/* Records why the link failed (printf-style) and closes now with reason
 * (a static string: the connection's close reason). */
static void fail_close(rtmp_link_t *l, relay_fail_t why, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail_close(rtmp_link_t *l, relay_fail_t why, const char *reason, const char *fmt, ...)
{
    char msg[RELAY_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    relay_link_fail(&l->base, why, "%s", msg);
    conn_close(l->conn, relay_fail_reason(why), reason);
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
        relay_link_fail(&l->base, RELAY_FAIL_LOCAL, "local stream ended");
        send_goodbye(l, "local stream ended");
        break;
    case PLAYER_EV_SLOW:
        l->playing = 0;
        c->player = NULL;
        relay_link_fail(&l->base, RELAY_FAIL_LOCAL, "push target too slow");
        log_warn(c->id, "relay link: push of %s/%s to %s cannot keep up", l->base.app, l->base.name,
                 l->base.url);
        conn_close(c, REASON_SLOW, "push target too slow");
        break;
    }
}

static const player_ops_t LINK_PLAYER_OPS = {player_wake, player_event};

static void publisher_kick(publisher_t *pub, reason_t why, const char *reason)
{
    rtmp_link_t *l = pub->owner;
    l->publishing = 0;
    relay_link_fail(&l->base, RELAY_FAIL_LOCAL, "%s", reason);
    conn_close(l->conn, why, "local publish ended");
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
        relay_link_fail(&l->base, RELAY_FAIL_LOCAL, "local stream ended");
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
    if (l->base.probe) { /* publishes once it has a key frame */
        l->phase = LP_UP;
        relay_link_report_up(&l->base, c);
        return;
    }
    if (relay_link_publish(&l->base, c, &l->pub, &LINK_PUBLISHER_OPS, l, &reason) != 0) {
        conn_close(c, REASON_ERROR, reason);
        return;
    }
    l->publishing = 1;
    l->phase = LP_UP;
    relay_link_report_up(&l->base, c);
}

/* ---- the command sequence's events ------------------------------------- */

/* createStream answered: a push needs the stream id the node's pre-chunked
 * media carries; then publish or play. */
static void on_ready(rtmp_link_t *l, uint32_t sid)
{
    int push = l->base.dir == RELAY_PUSH;
    if (push && sid != MSG_RTMP_STREAM_ID) {
        fail_close(l, RELAY_FAIL_REFUSED, "unsupported stream id",
                   "createStream gave stream id %u; a push needs stream id %u", sid,
                   (unsigned)MSG_RTMP_STREAM_ID);
        return;
    }
    log_debug(l->conn->id, "relay link: connected to app %s, stream %u", l->base.app, sid);
    if (rtmp_proto_client_start(l->cl, push ? RTMP_PROTO_PUBLISH : RTMP_PROTO_PLAY) != 0)
        fail_close(l, RELAY_FAIL_LOCAL, "out of memory", "out of memory");
}

/* A refusal's reason: a weir upstream's loop refusal (relay_hops.h) comes
 * as its description; a missing stream as a ...NotFound code. */
static relay_fail_t refusal_reason(const rtmp_proto_ev_t *ev)
{
    if (relay_hops_refusal_is_loop(ev->desc))
        return RELAY_FAIL_LOOP;
    if (strcmp(ev->code, "NetStream.Play.StreamNotFound") == 0)
        return RELAY_FAIL_NOT_FOUND;
    return RELAY_FAIL_REFUSED;
}

static void on_refused(rtmp_link_t *l, const rtmp_proto_ev_t *ev)
{
    char why[RELAY_ERR_MAX];
    rtmp_proto_refusal(l->cl, ev, why, sizeof why);
    const char *reason = ev->step == RTMP_PROTO_CL_CONNECT         ? "connect rejected"
                         : ev->step == RTMP_PROTO_CL_CREATE_STREAM ? "createStream failed"
                                                                   : "refused";
    fail_close(l, refusal_reason(ev), reason, "%s", why);
}

/* An onStatus once up: a pull ends when the upstream unpublishes. */
static void on_status_up(rtmp_link_t *l, const rtmp_proto_ev_t *ev)
{
    if (l->base.dir == RELAY_PULL && (strcmp(ev->code, "NetStream.Play.UnpublishNotify") == 0 ||
                                      strcmp(ev->code, "NetStream.Play.Stop") == 0)) {
        fail_close(l, RELAY_FAIL_CLOSED, "upstream unpublished", "upstream unpublished");
    } else if (rtmp_proto_status_refuses(ev->level, ev->code)) {
        fail_close(l, refusal_reason(ev), "refused", "%s (%s)", ev->code, ev->desc);
    }
}

static void on_event(rtmp_link_t *l, const rtmp_proto_ev_t *ev)
{
    if (ev->status)
        log_debug(l->conn->id, "relay link: onStatus %s %s (%s)", ev->level, ev->code, ev->desc);
    switch (ev->kind) {
    case RTMP_PROTO_EV_READY: on_ready(l, ev->stream_id); break;
    case RTMP_PROTO_EV_STARTED:
        if (l->base.dir == RELAY_PUSH) {
            push_up(l);
        } else {
            relay_link_source(&l->base, l->conn, ev->source);
            pull_up(l);
        }
        break;
    case RTMP_PROTO_EV_REFUSED: on_refused(l, ev); break;
    case RTMP_PROTO_EV_STATUS:
        if (l->phase == LP_UP)
            on_status_up(l, ev);
        break;
    case RTMP_PROTO_EV_NONE:
    case RTMP_PROTO_EV_MEDIA: break;
    }
}

/* Dispatches one message; frees its payload (or hands it to the hub). */
static void handle_message(rtmp_link_t *l, rtmp_msg_t *m)
{
    conn_t *c = l->conn;
    rtmp_proto_ev_t ev;
    const char *err = NULL;
    int rc = rtmp_proto_client_feed(l->cl, m, &ev, &err);
    if (rc == 0 && ev.kind == RTMP_PROTO_EV_MEDIA) {
        relay_link_media(&l->base, weir_mono_ms());
        if (l->base.probe && l->phase == LP_UP &&
            relay_link_probe_media(&l->base, c, &l->pub, &LINK_PUBLISHER_OPS, l, m->type,
                                   m->timestamp, m->payload, m->len) == 1)
            l->publishing = 1;
    }
    if (rc == 0 && ev.kind == RTMP_PROTO_EV_MEDIA && l->publishing &&
        rtmp_ctrl_ingest(&l->pub, m, weir_mono_ms()) < 0)
        rc = NODE_ENOMEM;
    free(m->payload); /* media while not publishing: dropped */
    m->payload = NULL;
    link_output(l);
    if (rc == NODE_EPROTO) {
        log_warn(c->id, "relay link: %s from %s", err, c->remote);
        fail_close(l, RELAY_FAIL_PROTOCOL, "protocol error", "protocol error: %s", err);
    } else if (rc < 0) {
        fail_close(l, RELAY_FAIL_LOCAL, "out of memory", "out of memory");
    } else if (!c->closing) {
        on_event(l, &ev);
        link_output(l);
    }
}

/* ---- connection callbacks ---------------------------------------------- */

static void link_on_connect(conn_t *c)
{
    rtmp_link_t *l = c->ps;
    l->conn = c;
    l->phase = LP_HANDSHAKE;
    if (relay_link_tls_start(&l->base, c, l->host, NULL) != 0)
        return;
    log_debug(c->id, "relay link: connected to %s, handshake", c->remote);
    rtmp_ctrl_send_handshake(c, l->hs);
    conn_flush(c);
}

/* Feeds handshake bytes; returns the bytes used, or -1 (closed). */
static int feed_handshake(rtmp_link_t *l, const uint8_t *data, size_t len, size_t *used)
{
    conn_t *c = l->conn;
    const char *err = NULL;
    parse_rc_t rc = rtmp_hs_feed(l->hs, data, len, used, &err);
    rtmp_ctrl_send_handshake(c, l->hs);
    if (rc == PARSE_OK) {
        log_debug(c->id, "relay link: handshake done (%s)",
                  rtmp_hs_peer_complex(l->hs) ? "complex" : "simple");
        rtmp_hs_free(l->hs);
        l->hs = NULL;
        l->phase = LP_PROTO;
        if (rtmp_proto_client_begin(l->cl) != 0) {
            fail_close(l, RELAY_FAIL_LOCAL, "out of memory", "out of memory");
            return -1;
        }
        link_output(l);
        return 0;
    }
    if (rc != PARSE_NEED_MORE) {
        relay_link_fail(&l->base, RELAY_FAIL_PROTOCOL, "%s", err ? err : "handshake failed");
        conn_close(c, REASON_PROTOCOL, "handshake failed");
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
            parse_rc_t rc = rtmp_proto_client_input(l->cl, data, len, &used, &m, &err);
            if (rc == PARSE_OK) {
                handle_message(l, &m);
            } else if (rc == PARSE_NEED_MORE) {
                break;
            } else {
                log_warn(c->id, "relay link: chunk stream from %s: %s", c->remote,
                         err ? err : "protocol error");
                relay_link_fail(&l->base, RELAY_FAIL_PROTOCOL, "protocol error: %s",
                                err ? err : "chunk stream");
                conn_close(c, REASON_PROTOCOL, "protocol error");
                return;
            }
        }
        data += used;
        len -= used;
    }
    rtmp_ctrl_read_done(rtmp_proto_client_ctrl(l->cl), c, rtmp_proto_client_chunk_size(l->cl),
                        l->publishing ? &l->pub : NULL);
}

static void link_on_tick(conn_t *c, int64_t now_ms)
{
    rtmp_link_t *l = c->ps;
    int64_t limit = link_timeout_ms(l);
    if (l->goodbye_ms) {
        if (now_ms - l->goodbye_ms > (limit < LINK_GOODBYE_MAX_MS ? limit : LINK_GOODBYE_MAX_MS))
            conn_close(c, REASON_LOCAL_ENDED,
                       c->close_reason ? c->close_reason : "local stream ended");
        return;
    }
    const char *why = relay_link_deadline(&l->base, c, now_ms, (uint32_t)limit, phase_name(l, c));
    if (why)
        conn_close(c, REASON_TIMEOUT, why);
}

static void link_free(rtmp_link_t *l)
{
    rtmp_hs_free(l->hs);
    rtmp_proto_client_free(l->cl);
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
 * its query, and for a push the source identity of the local stream.
 * Returns 0 or -1 (too long). */
static int request_name(char *out, size_t cap, const char *name, unsigned hops, const char *via,
                        const char *source)
{
    int n = snprintf(out, cap, "%s%cweir_hops=%u%s%s%s%s", name, strchr(name, '?') ? '&' : '?',
                     hops, via[0] ? "&weir_via=" : "", via, source[0] ? "&weir_source=" : "",
                     source);
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

/* A push names the source of the local stream it pushes ("" when the
 * stream is not there). */
static void push_source(node_t *node, const relay_link_cfg_t *cfg, char out[RELAY_SOURCE_MAX])
{
    out[0] = '\0';
    stream_t *s = cfg->dir == RELAY_PUSH ? hub_lookup(node->hub, cfg->app, cfg->name) : NULL;
    uint32_t off = 0;
    const char *id = s ? stream_source(s, &off) : "";
    if (id[0])
        relay_source_format(out, id, off);
}

conn_t *relay_rtmp_link_start(node_t *node, const relay_link_cfg_t *cfg,
                              const relay_link_ops_t *ops, void *owner, char *err, size_t errlen)
{
    url_rtmp_t u;
    if (url_rtmp_parse(cfg->url, &u, err, errlen) != 0)
        return NULL;
    rtmp_link_t *l = calloc(1, sizeof *l);
    char req_name[LINK_NAME_MAX], source[RELAY_SOURCE_MAX];
    push_source(node, cfg, source);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (relay_link_base_init(&l->base, cfg, ops, owner) != 0 ||
        request_name(req_name, sizeof req_name, u.name, cfg->hops, l->base.via, source) != 0) {
        snprintf(err, errlen, "relay link: URL, stream name or via list too long");
        link_free(l);
        return NULL;
    }
    int push = cfg->dir == RELAY_PUSH;
    rtmp_proto_client_cfg_t pc = {
        .app = u.app,
        .tc_url = u.tc_url,
        .name = req_name,
        .flash_ver = LINK_FLASH_VER,
        .role = push ? RTMP_PROTO_PUBLISH : RTMP_PROTO_PLAY,
        .chunk_size = push ? node->conf.rtmp_chunk_size : LINK_PULL_CHUNK_SIZE,
        .player_caps = !push,
        .play_buffer_ms = LINK_PLAY_BUFFER_MS,
        .max_msg = node->conf.rtmp_max_message_size,
        .max_csids = node->conf.rtmp_max_chunk_streams,
    };
    l->phase = LP_CONNECTING;
    snprintf(l->host, sizeof l->host, "%s", u.host);
    l->hs = rtmp_hs_new(RTMP_HS_CLIENT, 1);
    l->cl = rtmp_proto_client_new(&pc);
    if (!l->hs || !l->cl) {
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
    log_info(c->id, "relay link: %s %s/%s %s %s (hops %u)", push ? "pushing" : "pulling",
             l->base.app, l->base.name, push ? "to" : "from",
             url_for_log(l->base.url, ub, sizeof ub), l->base.hops);
    return c;
}
