/* relay_link: the protocol-independent part of a relay link (see
 * relay_link.h): dispatch on the URL scheme, detaching, the failure
 * reasons, and the up/down reports every link protocol makes through
 * relay_link_base_t. */
#include "relay_link.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "conn_tls.h"
#include "flv.h"
#include "log.h"
#include "tls_client.h"
#include "url.h"

conn_t *relay_link_start(node_t *node, const relay_link_cfg_t *cfg, const relay_link_ops_t *ops,
                         void *owner, char *err, size_t errlen)
{
    const char *url = cfg->url ? cfg->url : "";
    url_scheme_t s = url_scheme(url);
    if (s == URL_SCHEME_RTMP || s == URL_SCHEME_RTMPS)
        return relay_rtmp_link_start(node, cfg, ops, owner, err, errlen);
    if (s == URL_SCHEME_HTTP || s == URL_SCHEME_HTTPS) {
        if (cfg->dir == RELAY_PUSH) {
            snprintf(err, errlen, "push relays need an rtmp:// or rtmps:// URL, not %s", url);
            return NULL;
        }
        return relay_httpflv_link_start(node, cfg, ops, owner, err, errlen);
    }
    snprintf(err, errlen, "unsupported URL (rtmp[s]:// or http[s]:// expected): %s", url);
    return NULL;
}

const relay_links_t RELAY_LINKS_NET = {relay_link_start, relay_link_stop, relay_link_set_silence};

void relay_link_set_silence(conn_t *c, uint32_t silence_ms)
{
    relay_link_base_t *b = c ? c->ps : NULL;
    if (b)
        b->silence_ms = silence_ms;
}

int relay_fail_is_refusal(relay_fail_t why)
{
    return why == RELAY_FAIL_NOT_FOUND || why == RELAY_FAIL_REFUSED || why == RELAY_FAIL_LOOP;
}

const char *relay_fail_name(relay_fail_t why)
{
    static const char *const NAMES[] = {
        "other", "dns",       "connect", "timeout", "silence",    "closed",       "protocol",
        "local", "not_found", "refused", "loop",    "tls_verify", "tls_handshake"};
    return (size_t)why < sizeof NAMES / sizeof NAMES[0] ? NAMES[why] : "?";
}

reason_t relay_fail_reason(relay_fail_t why)
{
    static const reason_t R[] = {
        [RELAY_FAIL_OTHER] = REASON_ERROR,
        [RELAY_FAIL_DNS] = REASON_UPSTREAM_UNREACHABLE,
        [RELAY_FAIL_CONNECT] = REASON_UPSTREAM_UNREACHABLE,
        [RELAY_FAIL_TIMEOUT] = REASON_TIMEOUT,
        [RELAY_FAIL_SILENCE] = REASON_UPSTREAM_SILENT,
        [RELAY_FAIL_CLOSED] = REASON_UPSTREAM_CLOSED,
        [RELAY_FAIL_PROTOCOL] = REASON_PROTOCOL,
        [RELAY_FAIL_LOCAL] = REASON_ERROR,
        [RELAY_FAIL_NOT_FOUND] = REASON_NOT_FOUND,
        [RELAY_FAIL_REFUSED] = REASON_UPSTREAM_REFUSED,
        [RELAY_FAIL_LOOP] = REASON_LOOP,
        [RELAY_FAIL_TLS_VERIFY] = REASON_TLS_VERIFY,
        [RELAY_FAIL_TLS_HANDSHAKE] = REASON_TLS_HANDSHAKE,
    };
    return (size_t)why < sizeof R / sizeof R[0] ? R[why] : REASON_ERROR;
}

/* The reason of a link the connection ended (the link recorded none). */
static relay_fail_t fail_of_conn(const conn_t *c)
{
    switch (c->end) {
    case CONN_END_RESOLVE: return RELAY_FAIL_DNS;
    case CONN_END_CONNECT: return RELAY_FAIL_CONNECT;
    case CONN_END_PEER:
    case CONN_END_IO: return RELAY_FAIL_CLOSED;
    case CONN_END_NONE: break;
    }
    return RELAY_FAIL_OTHER;
}

void relay_link_stop(conn_t *c, const char *reason)
{
    if (!c)
        return;
    relay_link_base_t *b = c->ps;
    if (b)
        b->owner = NULL;
    conn_close(c, REASON_NONE, reason);
}

static int copy_field(char *dst, size_t cap, const char *src)
{
    int n = snprintf(dst, cap, "%s", src ? src : "");
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

int relay_link_base_init(relay_link_base_t *b, const relay_link_cfg_t *cfg,
                         const relay_link_ops_t *ops, void *owner)
{
    memset(b, 0, sizeof *b);
    b->ops = ops;
    b->owner = owner;
    b->dir = cfg->dir;
    b->hops = cfg->hops;
    b->timeout_ms = cfg->timeout_ms;
    b->silence_ms = cfg->silence_ms;
    b->probe = cfg->probe && cfg->dir == RELAY_PULL;
    b->tls = url_scheme_tls(url_scheme(cfg->url));
    b->tls_verify = cfg->tls_verify;
    if (copy_field(b->tls_ca, sizeof b->tls_ca, cfg->tls_ca) != 0 ||
        copy_field(b->app, sizeof b->app, cfg->app) != 0 ||
        copy_field(b->name, sizeof b->name, cfg->name) != 0 ||
        copy_field(b->url, sizeof b->url, cfg->url) != 0 ||
        copy_field(b->via, sizeof b->via, cfg->via) != 0)
        return -1;
    return 0;
}

void relay_link_report_up(relay_link_base_t *b, conn_t *c)
{
    if (b->up)
        return;
    b->up = 1;
    b->up_ms = weir_mono_ms();
    char ub[URL_LOG_MAX];
    log_info(c->id, "relay link: %s %s/%s %s %s is up", b->dir == RELAY_PUSH ? "push" : "pull",
             b->app, b->name, b->dir == RELAY_PUSH ? "to" : "from",
             url_for_log(b->url, ub, sizeof ub));
    if (b->owner && b->ops && b->ops->up)
        b->ops->up(b->owner, c);
}

int relay_link_tls_start(relay_link_base_t *b, conn_t *c, const char *host, const char *alpn)
{
    if (!b->tls)
        return 0;
    char err[RELAY_ERR_MAX] = "tls: out of memory";
    tls_client_t *tc = node_tls_client(c->node);
    SSL *ssl =
        tc ? tls_client_session(tc, host, b->tls_verify, b->tls_ca, alpn, err, sizeof err) : NULL;
    if (!ssl || conn_tls_attach_client(c, ssl) != 0) {
        log_warn(c->id, "relay link: cannot start TLS with %s: %s", c->remote, err);
        relay_link_fail(b, RELAY_FAIL_TLS_HANDSHAKE, "%s", err);
        conn_close(c, REASON_TLS_HANDSHAKE, "cannot start TLS");
        return -1;
    }
    return c->closing ? -1 : 0;
}

void relay_link_report_down(relay_link_base_t *b, conn_t *c)
{
    char tls_err[RELAY_ERR_MAX];
    int verify = conn_tls_client_error(c, tls_err, sizeof tls_err);
    if (verify >= 0)
        relay_link_fail(b, verify ? RELAY_FAIL_TLS_VERIFY : RELAY_FAIL_TLS_HANDSHAKE, "%s",
                        tls_err);
    const char *text = b->err[0] ? b->err : (c->close_reason ? c->close_reason : "closed");
    char ub[URL_LOG_MAX];
    log_info(c->id, "relay link: %s %s/%s %s %s is down: %s",
             b->dir == RELAY_PUSH ? "push" : "pull", b->app, b->name,
             b->dir == RELAY_PUSH ? "to" : "from", url_for_log(b->url, ub, sizeof ub), text);
    void *owner = b->owner;
    b->owner = NULL;
    if (owner && b->ops && b->ops->down)
        b->ops->down(owner, c, b->err[0] ? b->why : fail_of_conn(c), text);
}

void relay_link_fail(relay_link_base_t *b, relay_fail_t why, const char *fmt, ...)
{
    if (b->err[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof b->err, fmt, ap);
    va_end(ap);
    if (!b->err[0])
        snprintf(b->err, sizeof b->err, "failed");
    b->why = why;
}

const char *relay_link_deadline(relay_link_base_t *b, const conn_t *c, int64_t now_ms,
                                uint32_t limit_ms, const char *phase)
{
    if (!b->up) {
        if (now_ms - c->start_ms <= (int64_t)limit_ms)
            return NULL;
        if (conn_tls_handshaking(c))
            relay_link_fail(b, RELAY_FAIL_TLS_HANDSHAKE, "TLS handshake timed out");
        relay_link_fail(b, RELAY_FAIL_TIMEOUT, "timeout (%s)", phase);
        return "timeout";
    }
    int64_t since = b->last_media_ms > b->up_ms ? b->last_media_ms : b->up_ms;
    int64_t silence = b->silence_ms ? b->silence_ms : limit_ms;
    if (b->dir != RELAY_PULL || now_ms - since <= silence)
        return NULL;
    relay_link_fail(b, RELAY_FAIL_SILENCE, "upstream silent for %lld ms",
                    (long long)(now_ms - since));
    return "upstream silent";
}

void relay_link_source(relay_link_base_t *b, conn_t *c, const char *wire)
{
    if (relay_source_parse(wire, b->src_id, &b->src_off) == 0) {
        log_debug(c->id, "relay link: %s/%s: the upstream's source is %s", b->app, b->name, wire);
        return;
    }
    if (!wire || !wire[0])
        return;
    log_warn(c->id, "relay link: %s/%s: ignoring a malformed source identity from the upstream",
             b->app, b->name);
}

void relay_link_media(relay_link_base_t *b, int64_t now_ms)
{
    b->last_media_ms = now_ms;
}

int relay_link_publish(relay_link_base_t *b, conn_t *c, publisher_t *pub,
                       const publisher_ops_t *ops, void *owner, const char **reason)
{
    pub->ops = ops;
    pub->owner = owner;
    pub->sess_id = c->id;
    pub->source = "relay";
    pub->hops = b->hops;
    pub->via = b->via;
    pub->src_id = b->src_id[0] ? b->src_id : NULL;
    pub->src_off = b->src_off;
    /* Losing the upstream is not the end of the stream: the players are held
     * through the grace period for the next link to continue it. */
    pub->hold_players = 1;
    int rc = stream_publish(c->node->hub, b->app, b->name, pub);
    if (rc == NODE_EBUSY) {
        relay_link_fail(b, RELAY_FAIL_LOCAL, "%s/%s already has a local publisher", b->app,
                        b->name);
        *reason = "local stream busy";
        return -1;
    }
    if (rc == NODE_ELIMIT) {
        node_limit_hit(c->node, LIMIT_MAX_STREAMS);
        relay_link_fail(b, RELAY_FAIL_LOCAL, "too many streams (limits.max_streams)");
        *reason = "too many streams";
        return -1;
    }
    if (rc == NODE_EMEMORY) {
        node_limit_hit(c->node, LIMIT_MAX_MEMORY);
        relay_link_fail(b, RELAY_FAIL_LOCAL, "media memory over limits.max_memory_mb");
        *reason = "out of media memory";
        return -1;
    }
    if (rc != 0) {
        relay_link_fail(b, RELAY_FAIL_LOCAL, "cannot publish %s/%s locally", b->app, b->name);
        *reason = "cannot publish locally";
        return -1;
    }
    return 0;
}

void relay_link_info(const conn_t *c, sess_info_t *out)
{
    const relay_link_base_t *b = c->ps;
    out->role = SESS_ROLE_RELAY;
    out->relay = SESS_RELAY_OUT;
    if (!b)
        return;
    out->app = b->app;
    out->name = b->name;
    out->relay_hops = b->hops;
    out->relay_via = b->via;
}

/* Keeps a copy of a sequence header in slot i (0 video, 1 audio). */
static int keep_header(relay_link_base_t *b, int i, uint32_t ts, const uint8_t *p, uint32_t len)
{
    uint8_t *copy = malloc(len);
    if (!copy)
        return -1;
    memcpy(copy, p, len);
    free(b->kept[i].payload);
    b->kept[i].payload = copy;
    b->kept[i].len = len;
    b->kept[i].ts = ts;
    return 0;
}

/* The probe goes live: the owner agrees, the local stream is taken over,
 * the kept headers go first. Returns 1, or -1 (closing). */
static int probe_go_live(relay_link_base_t *b, conn_t *c, publisher_t *pub,
                         const publisher_ops_t *ops, void *owner)
{
    const char *reason = "failback not wanted";
    if (!b->owner || !b->ops || !b->ops->ready || !b->ops->ready(b->owner, c)) {
        conn_close(c, REASON_NONE, reason);
        return -1;
    }
    b->probe = 0;
    pub->takeover = 1;
    if (relay_link_publish(b, c, pub, ops, owner, &reason) != 0) {
        conn_close(c, REASON_ERROR, reason);
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        static const uint8_t TYPES[2] = {FLV_TAG_VIDEO, FLV_TAG_AUDIO};
        struct relay_link_kept *k = &b->kept[i];
        if (k->payload && stream_push(pub, TYPES[i], k->ts, k->payload, k->len, weir_mono_ms()))
            relay_link_fail(b, RELAY_FAIL_LOCAL, "out of memory");
        k->payload = NULL;
    }
    log_info(c->id, "relay link: %s/%s: the probe goes live", b->app, b->name);
    return 1;
}

int relay_link_probe_media(relay_link_base_t *b, conn_t *c, publisher_t *pub,
                           const publisher_ops_t *ops, void *owner, uint8_t type, uint32_t ts,
                           const uint8_t *p, uint32_t len)
{
    int rc = 0;
    if (type == FLV_TAG_VIDEO) {
        flv_video_info_t v;
        if (flv_video_inspect(p, len, &v) != 0)
            return 0;
        if (v.keyframe)
            return probe_go_live(b, c, pub, ops, owner);
        if (v.seq_header)
            rc = keep_header(b, 0, ts, p, len);
    } else if (type == FLV_TAG_AUDIO) {
        flv_audio_info_t a;
        if (flv_audio_inspect(p, len, &a) == 0 && a.seq_header)
            rc = keep_header(b, 1, ts, p, len);
    }
    if (rc != 0) {
        relay_link_fail(b, RELAY_FAIL_LOCAL, "out of memory");
        conn_close(c, REASON_ERROR, "out of memory");
        return -1;
    }
    return 0;
}

void relay_link_closed(relay_link_base_t *b, conn_t *c, publisher_t *pub, int *publishing)
{
    for (int i = 0; i < 2; i++) {
        free(b->kept[i].payload);
        b->kept[i].payload = NULL;
    }
    if (*publishing) {
        *publishing = 0;
        stream_unpublish(pub, weir_mono_ms());
    }
    relay_link_report_down(b, c);
}
