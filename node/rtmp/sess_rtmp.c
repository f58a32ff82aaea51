/* sess_rtmp: the server side of an RTMP connection: handshake, chunk
 * stream, protocol control, AMF0 commands, publishing into and playing from
 * the hub.
 *
 * A draining node (drain.h) rejects connect. Publish and play go through
 * the admission chain (admit.h: relay loop check, drain, the "apps" rules,
 * the hooks) and may wait for the hooks' decision: no
 * NetStream.Publish.Start / Play.Start before it. A refusal is answered
 * NetStream.Publish.BadName / NetStream.Play.Failed with admit's
 * description ("Denied: ...", "Unauthorized: ...", "Forbidden: ...") and the
 * connection closes; a relay refusal is answered BadName /
 * Play.StreamNotFound and the connection stays.
 *
 * With workers > 1 a viewer's play (not a relay link; RTMPS too) is handed
 * to a worker thread once attached, its Play.Start queued and none of its
 * media written (hand_over(): at the end of rtmp_on_read(), never inside
 * its loop, or on PLAYER_EV_STARTED), with the chunk parser
 * (rtmp_play_worker.h, which runs the session's rules there); the session
 * stays here for the API and the stop event, without reading. */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "amf0.h"
#include "common.h"
#include "conn.h"
#include "log.h"
#include "relay_hops.h"
#include "rtmp_chunk.h"
#include "rtmp_cmd.h"
#include "rtmp_ctrl.h"
#include "rtmp_handshake.h"
#include "rtmp_play_worker.h"
#include "rtmp_proto.h"
#include "rtmp_reply.h"
#include "sess_rtmp.h"
#include "worker.h"

#define RTMP_WINDOW_ACK 2500000u
/* relay via lists and sources make queries long */
#define RTMP_QUERY_MAX (1024 + RELAY_SOURCE_MAX + 16)

typedef enum { RS_HANDSHAKE, RS_READY } rtmp_state_t;

typedef struct {
    conn_t *conn;
    rtmp_state_t state;
    rtmp_hs_t *hs;
    rtmp_proto_ctrl_t ctrl; /* chunk parser, the peer's window, acknowledgements */
    uint32_t out_chunk_size;
    int connected;
    double object_encoding;
    char app[STREAM_APP_MAX];
    char name[STREAM_NAME_MAX];
    /* The queries of connect's app and of the stream name (after '?'), and
     * the relay via list (weir_via; pub.via / player.via point here): owned
     * strings, NULL when empty (most clients have none: they cost nothing),
     * at most RTMP_QUERY_MAX - 1 and RELAY_VIA_MAX - 1 bytes. */
    char *app_query;
    char *name_query;
    int relay_query_cut; /* a query with relay parameters did not fit in RTMP_QUERY_MAX */
    unsigned relay_hops; /* weir_hops of the publish or play request */
    char *relay_via;
    char src_id[RELAY_SOURCE_ID_MAX]; /* a push relay's weir_source; pub.src_id points here */
    publisher_t pub;
    int publishing;
    player_t player;
    int playing;           /* waiting or attached */
    admit_pending_t *auth; /* a publish or play waiting for the hooks' decision */
    int auth_publish;      /* what auth decides: 1 publish, 0 play */
    int ev_pub, ev_play;   /* publish.start / play.start recorded: a stop is owed */
    int in_read;           /* inside rtmp_on_read(): the chunk parser is mid-input */
    int handover_due;      /* a play just started: hand it to a worker when safe */
    int handed;            /* the play went to a worker (worker.h): nothing here reads */
    int64_t ev_start_ms;   /* when that publish or play started */
} rtmp_sess_t;

/* ---- owned strings ------------------------------------------------------ */

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

/* *dst = a copy of at most max-1 bytes of src (NULL when src is empty).
 * Returns 0, or NODE_ENOMEM (*dst NULL). */
static int set_str(char **dst, const char *src, size_t max)
{
    free(*dst);
    *dst = NULL;
    if (!src || !src[0])
        return 0;
    *dst = strndup(src, max - 1);
    return *dst ? 0 : NODE_ENOMEM;
}

/* ---- event log ---------------------------------------------------------- */

static void sess_event(rtmp_sess_t *rs, const char *type, sess_role_t role, int stop, reason_t why,
                       const char *reason)
{
    sess_info_t si;
    int64_t now = weir_mono_ms();
    conn_info(rs->conn, now, &si);
    si.role = role;
    si.app = rs->app;
    si.name = rs->name;
    si.dropped_frames = rs->player.dropped_frames + worker_conn_dropped(rs->conn);
    if (!stop)
        rs->ev_start_ms = now;
    conn_event(rs->conn->node, type, &si, stop, now - rs->ev_start_ms, why, reason);
}

/* The stop events owed, once each. */
static void stop_events(rtmp_sess_t *rs, reason_t why, const char *reason)
{
    if (rs->ev_pub) {
        rs->ev_pub = 0;
        sess_event(rs, "publish.stop", SESS_ROLE_PUBLISHER, 1, why, reason);
    }
    if (rs->ev_play) {
        rs->ev_play = 0;
        sess_event(rs, "play.stop", SESS_ROLE_PLAYER, 1, why, reason);
    }
}

/* ---- output ------------------------------------------------------------- */

/* A reply's result on rs's connection (rtmp_reply.h): out of memory closes
 * it (NODE_ELIMIT: conn_send() did). */
static void sent(rtmp_sess_t *rs, int rc)
{
    if (rc == NODE_ENOMEM)
        conn_close(rs->conn, REASON_ERROR, "out of memory");
}

static void send_u32(rtmp_sess_t *rs, uint8_t type, uint32_t v)
{
    rtmp_proto_out_t m;
    rtmp_proto_u32(&m, type, v);
    rtmp_ctrl_send_ctrl(rs->conn, rs->out_chunk_size, &m);
}

static void send_user_control(rtmp_sess_t *rs, uint16_t ev, uint32_t v)
{
    sink_t out = conn_sink(rs->conn);
    sent(rs, rtmp_reply_user_control(&out, rs->out_chunk_size, ev, v));
}

/* _result / _error with a null command object and one value or none. */
static void send_result(rtmp_sess_t *rs, const char *name, double txn, const double *num)
{
    sink_t out = conn_sink(rs->conn);
    sent(rs, rtmp_reply_result(&out, rs->out_chunk_size, name, txn, num));
}

/* onStatus with an info object; source (NULL: none) adds the relay
 * answer's weir_source property (relay_hops.h). */
static void send_status_src(rtmp_sess_t *rs, const char *level, const char *code,
                            const char *desc, const char *source)
{
    sink_t out = conn_sink(rs->conn);
    sent(rs, rtmp_reply_status(&out, rs->out_chunk_size, level, code, desc, rs->name, source));
}

static void send_status(rtmp_sess_t *rs, const char *level, const char *code, const char *desc)
{
    send_status_src(rs, level, code, desc, NULL);
}

/* ---- hub callbacks ------------------------------------------------------ */

static void send_play_start(rtmp_sess_t *rs)
{
    char desc[STREAM_NAME_MAX + 32];
    send_user_control(rs, RTMP_UC_STREAM_BEGIN, MSG_RTMP_STREAM_ID);
    snprintf(desc, sizeof desc, "Playing and resetting %s.", rs->name);
    send_status(rs, "status", "NetStream.Play.Reset", desc);
    snprintf(desc, sizeof desc, "Started playing %s.", rs->name);
    /* Another node's relay link learns the stream's source identity. */
    char src[RELAY_SOURCE_MAX] = "";
    uint32_t off = 0;
    const char *id = rs->relay_hops > 0 ? stream_player_source(&rs->player, &off) : "";
    if (id[0])
        relay_source_format(src, id, off);
    send_status_src(rs, "status", "NetStream.Play.Start", desc, src[0] ? src : NULL);
    sink_t out = conn_sink(rs->conn);
    sent(rs, rtmp_reply_sample_access(&out, rs->out_chunk_size));
    log_info(rs->conn->id, "rtmp: play %s/%s from %s", rs->app, rs->name, rs->conn->remote);
    rs->ev_play = 1;
    sess_event(rs, "play.start", SESS_ROLE_PLAYER, 0, REASON_NONE, NULL);
}

/* workers > 1: a viewer's play (not a relay link; RTMPS too), attached with its Play.Start queued and
 * none of its media written yet, goes to a worker thread with the chunk
 * parser (rtmp_play_worker.h) and the Acknowledgement owed; never from
 * inside rtmp_on_read()'s loop, which does it at its end. The session stays
 * here, listed, without reading. */
static void hand_over(rtmp_sess_t *rs)
{
    conn_t *c = rs->conn;
    if (!rs->handover_due || rs->in_read)
        return;
    rs->handover_due = 0;
    if (!c->node->workers || c->closing || !rs->playing || !rs->player.attached ||
        rs->player.hops > 0 || rs->publishing || rs->auth)
        return;
    rtmp_proto_out_t ack;
    if (rtmp_proto_ack_due(&rs->ctrl, c->bytes_in, &ack))
        rtmp_ctrl_send_ctrl(c, rs->out_chunk_size, &ack);
    rtmp_play_worker_t *st =
        rtmp_play_worker_new(&rs->ctrl, rs->out_chunk_size, c->bytes_in, rs->app, rs->name);
    if (!st)
        return; /* out of memory: the play stays on the loop */
    if (worker_handover(c, &rs->player, &RTMP_WORKER_PROTO, st) != 0) {
        rtmp_play_worker_abandon(st, &rs->ctrl); /* the loop's turn */
        return;
    }
    rs->playing = 0;
    rs->handed = 1;
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
    case PLAYER_EV_STARTED: /* from stream_publish(): not inside this session's read */
        c->player = p;
        send_play_start(rs);
        rs->handover_due = 1;
        hand_over(rs);
        if (!rs->handed)
            conn_flush(c);
        break;
    case PLAYER_EV_NOT_FOUND:
        rs->playing = 0;
        send_status(rs, "error", "NetStream.Play.StreamNotFound", "No such stream.");
        log_info(c->id, "rtmp: play %s/%s: stream not found", rs->app, rs->name);
        conn_close_after_flush(c, REASON_NOT_FOUND, "stream not found");
        break;
    case PLAYER_EV_UNPUBLISHED:
    case PLAYER_EV_REPUBLISHED: { /* the same on a worker: rtmp_play_worker.c */
        sink_t out = conn_sink(c);
        sent(rs, rtmp_reply_player_event(&out, rs->out_chunk_size, rs->name, ev));
        break;
    }
    case PLAYER_EV_ENDED:
        rs->playing = 0;
        c->player = NULL;
        conn_close_after_flush(c, REASON_STREAM_ENDED, "stream ended");
        break;
    case PLAYER_EV_SLOW:
        rs->playing = 0;
        c->player = NULL;
        node_limit_hit(c->node, LIMIT_SLOW_PLAYER);
        conn_close(c, REASON_SLOW, "slow player disconnected");
        break;
    }
}

static const player_ops_t RTMP_PLAYER_OPS = {player_wake, player_event};

static void publisher_kick(publisher_t *pub, reason_t why, const char *reason)
{
    rtmp_sess_t *rs = pub->owner;
    rs->publishing = 0;
    conn_close(rs->conn, why, reason);
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
        conn_close(c, REASON_PROTOCOL, "protocol error: second connect");
        return;
    }
    snprintf(rs->app, sizeof rs->app, "%s", app ? app : "");
    char aq[RTMP_QUERY_MAX];
    split_query(rs->app, aq, sizeof aq);
    if (set_str(&rs->app_query, aq, sizeof aq) != 0) {
        conn_close(c, REASON_ERROR, "out of memory");
        return;
    }
    /* Some clients send a trailing slash in the app ("live/"). */
    size_t al = strlen(rs->app);
    if (al && rs->app[al - 1] == '/')
        rs->app[al - 1] = '\0';
    rs->object_encoding = amf0_num(amf0_get(obj, "objectEncoding"), 0);

    send_u32(rs, RTMP_MSG_WINDOW_ACK_SIZE, RTMP_WINDOW_ACK);
    rtmp_proto_out_t bw;
    rtmp_proto_peer_bw(&bw, RTMP_WINDOW_ACK, 2 /* dynamic */);
    rtmp_ctrl_send_ctrl(c, rs->out_chunk_size, &bw);
    send_u32(rs, RTMP_MSG_SET_CHUNK_SIZE, c->node->conf.rtmp_chunk_size);
    rs->out_chunk_size = c->node->conf.rtmp_chunk_size;

    int valid = stream_name_valid(rs->app, STREAM_APP_MAX);
    int ok = valid && !c->node->draining;
    sink_t out = conn_sink(c);
    sent(rs, rtmp_reply_connect(&out, rs->out_chunk_size, txn, ok,
                                ok      ? "Connection succeeded."
                                : valid ? "Rejected: node is draining."
                                        : "Invalid application name.",
                                rs->object_encoding));
    if (!valid) {
        log_warn(c->id, "rtmp: connect: invalid app name '%s'", rs->app);
        conn_close_after_flush(c, REASON_PROTOCOL, "connect rejected: invalid app name");
        return;
    }
    if (!ok) {
        log_info(c->id, "rtmp: connect from %s rejected: node is draining", c->remote);
        conn_close_after_flush(c, REASON_DRAIN, "connect rejected: draining");
        return;
    }
    rs->connected = 1;
    log_debug(c->id, "rtmp: connect app=%s", rs->app);
}

/* The stream name of publish/play into rs->name, its query (after '?')
 * into rs->name_query (cut to RTMP_QUERY_MAX, as it always was; a cut
 * query that holds relay parameters is noted in relay_query_cut). Returns
 * 0, NODE_EINVAL (a bad name) or NODE_ENOMEM. */
static int take_stream_name(rtmp_sess_t *rs, const amf0_value_t *vals, size_t n)
{
    const char *name = n > 3 ? amf0_str(&vals[3]) : NULL;
    if (!name)
        return NODE_EINVAL;
    size_t nlen = strcspn(name, "?");
    if (nlen >= sizeof rs->name)
        return NODE_EINVAL;
    memcpy(rs->name, name, nlen);
    rs->name[nlen] = '\0';
    const char *q = name[nlen] == '?' ? name + nlen + 1 : NULL;
    rs->relay_query_cut = q && strlen(q) >= RTMP_QUERY_MAX && strstr(q, "weir_");
    if (set_str(&rs->name_query, q, RTMP_QUERY_MAX) != 0)
        return NODE_ENOMEM;
    return stream_name_valid(rs->name, STREAM_NAME_MAX) ? 0 : NODE_EINVAL;
}

/* ---- admission ---------------------------------------------------------- */

static void start_publish(rtmp_sess_t *rs);
static void start_play(rtmp_sess_t *rs);

/* Refuses a publish or play (admit.h): the status with admit's description
 * and, unless admit wrote it, a log line; the connection closes once the
 * status is written, but for a relay refusal. */
static void refuse(rtmp_sess_t *rs, int publish, const admit_result_t *r)
{
    conn_t *c = rs->conn;
    int relay = admit_is_relay(r->code);
    if (!r->logged)
        log_warn(c->id, "rtmp: %s %s/%s from %s refused: %s", publish ? "publish" : "play", rs->app,
                 rs->name, c->remote, r->why);
    send_status(rs, "error",
                publish ? "NetStream.Publish.BadName"
                        : (relay ? "NetStream.Play.StreamNotFound" : "NetStream.Play.Failed"),
                r->desc);
    if (!relay)
        conn_close_after_flush(c, admit_reason(r->code),
                               publish ? "publish refused" : "play refused");
}

static void admitted(rtmp_sess_t *rs, int publish)
{
    if (publish)
        start_publish(rs);
    else
        start_play(rs);
}

static void admit_done(void *arg, const admit_result_t *r)
{
    rtmp_sess_t *rs = arg;
    conn_t *c = rs->conn;
    int publish = rs->auth_publish;
    rs->auth = NULL;
    if (r->code != ADMIT_OK) {
        refuse(rs, publish, r);
    } else {
        log_debug(c->id, "rtmp: %s %s/%s allowed: %s", publish ? "publish" : "play", rs->app,
                  rs->name, r->why);
        admitted(rs, publish);
    }
    if (!c->closing && evbuffer_get_length(c->out) && !c->wblocked)
        conn_flush(c);
}

/* Runs the admission chain (admit.h) for a publish or play: the relay
 * parameters come from the stream name's query (rs->relay_hops/relay_via,
 * 0/"" for an ordinary client), the query for signed URLs and the hooks is
 * the app's (connect) and the stream name's, joined with '&'. */
static void admit_stream(rtmp_sess_t *rs, int publish)
{
    conn_t *c = rs->conn;
    const char *relay_error = NULL;
    char via[RELAY_VIA_MAX];
    rs->relay_hops = 0;
    if (relay_hops_parse_query(rs->name_query, &rs->relay_hops, via, sizeof via))
        relay_error = "bad relay hop count in the stream name's query";
    else if (rs->relay_query_cut)
        relay_error = "relay parameters too long"; /* a cut via list could hide this node */
    if (set_str(&rs->relay_via, via, sizeof via) != 0) {
        conn_close(c, REASON_ERROR, "out of memory");
        return;
    }
    char q[2 * RTMP_QUERY_MAX];
    snprintf(q, sizeof q, "%s%s%s", str_or_empty(rs->app_query),
             rs->app_query && rs->name_query ? "&" : "", str_or_empty(rs->name_query));
    sess_info_t si;
    conn_info(c, weir_mono_ms(), &si);
    si.app = rs->app;
    si.name = rs->name;
    admit_req_t req = {
        publish ? ADMIT_PUBLISH : ADMIT_PLAY, &si, q, rs->relay_hops, str_or_empty(rs->relay_via),
        relay_error};
    admit_result_t r;
    admit_code_t code = admit_check(c->node, &req, admit_done, rs, &rs->auth, &r);
    if (code == ADMIT_PENDING)
        rs->auth_publish = publish;
    else if (code != ADMIT_OK)
        refuse(rs, publish, &r);
    else
        admitted(rs, publish);
}

/* ---- publish and play --------------------------------------------------- */

/* publish or play: the stream name, then the admission chain. */
static void cmd_stream(rtmp_sess_t *rs, const amf0_value_t *vals, size_t n, int publish)
{
    conn_t *c = rs->conn;
    const char *what = publish ? "publish" : "play";
    if (rs->publishing || rs->playing || rs->auth) {
        log_warn(c->id, "rtmp: %s refused: this connection is already publishing or playing", what);
        send_status(rs, "error", publish ? "NetStream.Publish.BadName" : "NetStream.Play.Failed",
                    "Already publishing or playing.");
        return;
    }
    int rc = take_stream_name(rs, vals, n);
    if (rc == NODE_ENOMEM) {
        conn_close(c, REASON_ERROR, "out of memory");
        return;
    }
    if (rc != 0) {
        log_warn(c->id, "rtmp: %s: invalid stream name", what);
        send_status(rs, "error",
                    publish ? "NetStream.Publish.BadName" : "NetStream.Play.StreamNotFound",
                    "Invalid stream name.");
        return;
    }
    admit_stream(rs, publish);
}

static void start_publish(rtmp_sess_t *rs)
{
    conn_t *c = rs->conn;
    rs->pub.ops = &RTMP_PUBLISHER_OPS;
    rs->pub.owner = rs;
    rs->pub.sess_id = c->id;
    rs->pub.source = "rtmp";
    rs->pub.hops = rs->relay_hops;
    rs->pub.via = rs->relay_via;
    /* a push relay's publish names the source of what it pushes */
    char wire[RELAY_SOURCE_MAX];
    relay_hops_query_source(rs->relay_hops > 0 ? rs->name_query : NULL, wire, sizeof wire);
    if (relay_source_parse(wire, rs->src_id, &rs->pub.src_off) == 0)
        rs->pub.src_id = rs->src_id;
    int rc = stream_publish(c->node->hub, rs->app, rs->name, &rs->pub);
    if (rc == NODE_EBUSY) {
        log_warn(c->id, "rtmp: publish %s/%s refused: already publishing", rs->app, rs->name);
        send_status(rs, "error", "NetStream.Publish.BadName", "Stream already publishing.");
        return;
    }
    if (rc == NODE_ELIMIT) {
        node_limit_hit(c->node, LIMIT_MAX_STREAMS);
        log_warn(c->id,
                 "rtmp: publish %s/%s from %s refused: too many streams (limits.max_streams %u)",
                 rs->app, rs->name, c->remote, c->node->conf.limits_max_streams);
        send_status(rs, "error", "NetStream.Publish.BadName", "Denied: too many streams.");
        conn_close_after_flush(c, REASON_REFUSED, "publish refused");
        return;
    }
    if (rc == NODE_EMEMORY) {
        node_limit_hit(c->node, LIMIT_MAX_MEMORY);
        log_warn(c->id,
                 "rtmp: publish %s/%s from %s refused: media memory over limits.max_memory_mb",
                 rs->app, rs->name, c->remote);
        send_status(rs, "error", "NetStream.Publish.BadName", "Denied: node out of media memory.");
        conn_close_after_flush(c, REASON_REFUSED, "publish refused");
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
    sess_event(rs, "publish.start", SESS_ROLE_PUBLISHER, 0, REASON_NONE, NULL);
}

static void start_play(rtmp_sess_t *rs)
{
    conn_t *c = rs->conn;
    rs->player.ops = &RTMP_PLAYER_OPS;
    rs->player.owner = rs;
    rs->player.sess_id = c->id;
    rs->player.enc = MSG_ENC_RTMP;
    rs->player.hops = rs->relay_hops;
    rs->player.relay = rs->relay_hops > 0; /* counted as a relay link, not a viewer */
    rs->player.via = rs->relay_via;
    int rc = stream_play(c->node->hub, rs->app, rs->name, &rs->player,
                         c->node->conf.stream_play_wait_ms, weir_mono_ms());
    if (rc == 0) {
        rs->playing = 1;
        c->player = &rs->player;
        send_play_start(rs);
        rs->handover_due = 1;
        hand_over(rs); /* at once after an admission hook; else after the read */
    } else if (rc == 1) {
        rs->playing = 1;
        log_debug(c->id, "rtmp: play %s/%s: waiting for a publisher", rs->app, rs->name);
    } else if (rc == NODE_ELIMIT) {
        node_limit_hit(c->node, LIMIT_MAX_STREAMS);
        send_status(rs, "error", "NetStream.Play.StreamNotFound", "Too many streams.");
        log_warn(c->id, "rtmp: play %s/%s from %s: cannot wait: too many streams", rs->app,
                 rs->name, c->remote);
    } else {
        send_status(rs, "error", "NetStream.Play.StreamNotFound", "No such stream.");
        log_info(c->id, "rtmp: play %s/%s: stream not found", rs->app, rs->name);
    }
}

static void stop_stream(rtmp_sess_t *rs, reason_t why, const char *reason)
{
    /* A publish or play still waiting for its decision is given up. */
    admit_cancel(rs->auth);
    rs->auth = NULL;
    stop_events(rs, why, reason);
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

static void handle_command(void *arg, const uint8_t *p, uint32_t len)
{
    rtmp_sess_t *rs = arg;
    conn_t *c = rs->conn;
    /* Replies go to c->out, bounded by conn_send() (CONN_OUT_MAX). */
    rtmp_cmd_t cm;
    const char *why = NULL;
    if (rtmp_cmd_decode(&cm, c->id, p, len, &why) != 0) {
        conn_close(c, REASON_PROTOCOL, why);
        return;
    }
    const char *cmd = cm.name;
    double txn = cm.txn;
    const amf0_value_t *vals = cm.vals;
    size_t n = cm.n;
    if (strcmp(cmd, "connect") == 0) {
        cmd_connect(rs, txn, vals, n);
    } else if (!rs->connected) {
        log_warn(c->id, "rtmp: '%s' before connect", cmd);
        conn_close(c, REASON_PROTOCOL, "protocol error: command before connect");
    } else if (strcmp(cmd, "createStream") == 0) {
        double sid = MSG_RTMP_STREAM_ID;
        send_result(rs, "_result", txn, &sid);
    } else if (strcmp(cmd, "publish") == 0) {
        cmd_stream(rs, vals, n, 1);
    } else if (strcmp(cmd, "play") == 0) {
        cmd_stream(rs, vals, n, 0);
    } else if (strcmp(cmd, "deleteStream") == 0 || strcmp(cmd, "closeStream") == 0 ||
               strcmp(cmd, "FCUnpublish") == 0) {
        stop_stream(rs, REASON_EOF, cmd); /* the client ended it */
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
    rtmp_cmd_free(&cm);
}

/* Dispatches one message; takes ownership of m->payload. */
static void handle_message(rtmp_sess_t *rs, rtmp_msg_t *m)
{
    conn_t *c = rs->conn;
    const char *err = NULL;
    int rc = rtmp_ctrl_dispatch(&rs->ctrl, c, rs->out_chunk_size, m,
                                rs->publishing ? &rs->pub : NULL, handle_command, rs, &err);
    if (rc == NODE_EPROTO) {
        log_warn(c->id, "rtmp: %s", err);
        conn_close(c, REASON_PROTOCOL, "protocol error: bad chunk size");
    } else if (rc < 0) {
        conn_close(c, REASON_ERROR, "out of memory");
    }
}

/* ---- connection callbacks ---------------------------------------------- */

static void rtmp_read(conn_t *c, rtmp_sess_t *rs, const uint8_t *data, size_t len)
{
    const char *err = NULL;
    /* The chunk parser may hold a few look-ahead bytes that complete a
     * message, so it is fed until it says NEED_MORE, even with no bytes
     * left; the handshake never holds any. */
    while (!c->closing && (len || rs->state == RS_READY)) {
        size_t used = 0;
        if (rs->state == RS_HANDSHAKE) {
            parse_rc_t rc = rtmp_hs_feed(rs->hs, data, len, &used, &err);
            if (rtmp_ctrl_send_handshake(c, rs->hs))
                conn_flush(c);
            if (rc == PARSE_OK) {
                log_debug(c->id, "rtmp: handshake done (%s)",
                          rtmp_hs_peer_complex(rs->hs) ? "complex" : "simple");
                rtmp_hs_free(rs->hs);
                rs->hs = NULL;
                rs->state = RS_READY;
            } else if (rc != PARSE_NEED_MORE) {
                log_warn(c->id, "rtmp: %s", err ? err : "handshake failed");
                conn_close(c, REASON_PROTOCOL, "handshake failed");
                return;
            }
        } else {
            rtmp_msg_t m;
            parse_rc_t rc = rtmp_chunk_feed(rs->ctrl.parser, data, len, &used, &m, &err);
            if (rc == PARSE_OK) {
                handle_message(rs, &m);
            } else if (rc == PARSE_NEED_MORE) {
                break; /* all input consumed */
            } else {
                if (err == RTMP_CHUNK_ERR_MESSAGE_TOO_BIG)
                    node_limit_hit(c->node, LIMIT_MAX_MESSAGE_SIZE);
                else if (err == RTMP_CHUNK_ERR_TOO_MANY_CHUNK_STREAMS)
                    node_limit_hit(c->node, LIMIT_MAX_CHUNK_STREAMS);
                log_warn(c->id, "rtmp: chunk stream: %s", err ? err : "protocol error");
                conn_close(c, REASON_PROTOCOL, "protocol error");
                return;
            }
        }
        data += used;
        len -= used;
    }
}

static void rtmp_on_read(conn_t *c, const uint8_t *data, size_t len)
{
    rtmp_sess_t *rs = c->ps;
    rs->in_read = 1;
    rtmp_read(c, rs, data, len);
    rs->in_read = 0;
    hand_over(rs); /* a play started by this input: the parser is between reads now */
    if (!rs->handed)
        rtmp_ctrl_read_done(&rs->ctrl, c, rs->out_chunk_size, rs->publishing ? &rs->pub : NULL);
}

static void rtmp_on_tick(conn_t *c, int64_t now_ms)
{
    rtmp_sess_t *rs = c->ps;
    const conf_t *conf = &c->node->conf;
    if (rs->handed)
        return; /* the worker's now */
    if (rs->state == RS_HANDSHAKE) {
        if (now_ms - c->start_ms > (int64_t)conf->rtmp_handshake_timeout_ms) {
            log_warn(c->id, "rtmp: handshake timeout from %s", c->remote);
            node_limit_hit(c->node, LIMIT_HANDSHAKE_TIMEOUT);
            conn_close(c, REASON_TIMEOUT, "handshake timeout");
        }
        return;
    }
    /* Players, and clients waiting for a decision, may stay silent;
     * everyone else must not. */
    if (!rs->playing && !rs->auth &&
        now_ms - c->last_read_ms > (int64_t)conf->rtmp_idle_timeout_ms) {
        log_warn(c->id, "rtmp: %s idle for %u ms, closing", c->remote, conf->rtmp_idle_timeout_ms);
        node_limit_hit(c->node, LIMIT_IDLE_TIMEOUT);
        conn_close(c, REASON_TIMEOUT, "idle timeout");
    }
}

static void rtmp_on_close(conn_t *c)
{
    rtmp_sess_t *rs = c->ps;
    if (!rs)
        return;
    stop_stream(rs, c->why, c->close_reason);
    rtmp_hs_free(rs->hs);
    rtmp_proto_ctrl_free(&rs->ctrl);
    free(rs->app_query);
    free(rs->name_query);
    free(rs->relay_via);
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
    if (rs->relay_hops > 0) { /* another node's relay link */
        out->role = SESS_ROLE_RELAY;
        out->relay = SESS_RELAY_IN;
        out->relay_hops = rs->relay_hops;
        out->relay_via = str_or_empty(rs->relay_via);
    }
}

const conn_proto_t SESS_RTMP_PROTO = {
    .name = "rtmp",
    .on_read = rtmp_on_read,
    .on_tick = rtmp_on_tick,
    .on_close = rtmp_on_close,
    .info = rtmp_info,
};

void sess_rtmp_start(conn_t *c)
{
    rtmp_sess_t *rs = calloc(1, sizeof *rs);
    int ok = 0;
    if (rs) {
        rs->conn = c;
        rs->out_chunk_size = RTMP_DEFAULT_CHUNK_SIZE;
        rs->hs = rtmp_hs_new(RTMP_HS_SERVER, 0);
        ok = rtmp_proto_ctrl_init(&rs->ctrl, c->node->conf.rtmp_max_message_size,
                                  c->node->conf.rtmp_max_chunk_streams) == 0 &&
             rs->hs;
    }
    c->ps = rs;
    if (!ok) {
        log_error(c->id, "rtmp: out of memory for a new session");
        conn_close(c, REASON_ERROR, "out of memory");
    }
}
