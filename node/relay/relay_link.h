/* relay_link: one outgoing relay connection on the event loop.
 *
 * A link is a conn_t (session role "relay") with a client-side protocol:
 *   push: RTMP publish to a remote server of a local stream. The link plays
 *         the local stream as an ordinary player_t with MSG_ENC_RTMP, so the
 *         shared chunked bytes go out by reference (no copy) and a slow
 *         target is handled by the slow-player logic, never delaying local
 *         players.
 *   pull: RTMP play (rtmp://) or HTTP-FLV GET (http://) of a remote stream,
 *         over TLS for rtmps:// and https:// (relay_link_tls_start()),
 *         published locally as app/name through a publisher_t with source
 *         "relay".
 * The relay manager (relay_run.c) owns the policy (which URL, backoff, when
 * to stop); a link only reports up and down through its ops, down with a
 * typed reason (relay_fail_t). A pull link may start as a failback probe
 * (cfg.probe, relay_failback.c): it plays without publishing until the
 * upstream's first video key frame, then asks the owner (ops ready) and
 * takes the local stream over.
 *
 * Loop protection on the wire: RTMP adds "weir_hops=N&weir_via=ID,ID" to the
 * stream name's query (after any query the URL already has); HTTP-FLV sends
 * the headers "X-Weir-Hops: N" and "X-Weir-Via: ID,ID". The serving node
 * refuses a request past relay.max_hops or whose via already holds its own
 * node id (see relay.h, relay_check_request()).
 *
 * A link's state belongs to its connection (freed in on_close). Everything
 * here runs on the loop thread only.
 */
#ifndef WEIR_RELAY_LINK_H
#define WEIR_RELAY_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "relay_hops.h" /* RELAY_VIA_MAX, RELAY_ERR_MAX */
#include "relay_spec.h"

typedef struct {
    relay_dir_t dir;
    const char *url;        /* the remote stream's full URL (relay_spec_url_for()) */
    const char *app, *name; /* the local stream */
    unsigned hops;          /* hop count to send (>= 1) */
    const char *via;        /* node ids to send, this node's last; may be "" */
    uint32_t timeout_ms;    /* connect + handshake + until up */
    uint32_t silence_ms;    /* pull, once up: longest time without media from the
                               upstream (0: timeout_ms) */
    int probe;              /* pull: a failback probe (see ops ready) */
    int tls_verify;         /* rtmps://, https://: verify the upstream (relay_spec.h) */
    const char *tls_ca;     /* a CA file, or NULL / "": tls.ca or the system store */
} relay_link_cfg_t;

/* Why a link went down, set by the link where it failed (the text that
 * goes with it is for logs and events only). The manager's choice (retry,
 * count a refusal, give up) follows from it: see relay_fail_is_refusal(). */
typedef enum {
    RELAY_FAIL_OTHER = 0,    /* closed on this node for another reason (kicked, output limit) */
    RELAY_FAIL_DNS,          /* the upstream's host name did not resolve */
    RELAY_FAIL_CONNECT,      /* the TCP connect failed: refused, unreachable */
    RELAY_FAIL_TIMEOUT,      /* not up within the link's timeout */
    RELAY_FAIL_SILENCE,      /* pull, up: the upstream sent nothing for the timeout */
    RELAY_FAIL_CLOSED,       /* the remote closed or reset the connection, ended or
                                unpublished the stream */
    RELAY_FAIL_PROTOCOL,     /* the remote broke the protocol (handshake, chunk stream,
                                response head, FLV) */
    RELAY_FAIL_LOCAL,        /* this node's side: local stream ended or busy, a limit,
                                out of memory, push target too slow */
    RELAY_FAIL_NOT_FOUND,    /* refused: the upstream has no such stream
                                (NetStream.Play.StreamNotFound, HTTP 404) */
    RELAY_FAIL_REFUSED,      /* refused otherwise: connect or publish rejected, an
                                HTTP error status */
    RELAY_FAIL_LOOP,         /* refused: relay loop or hop limit (relay_hops.h, HTTP 508):
                                retrying cannot help */
    RELAY_FAIL_TLS_VERIFY,   /* rtmps://, https://: the upstream's certificate did not
                                verify (unknown CA, expired, another host name) */
    RELAY_FAIL_TLS_HANDSHAKE /* the TLS handshake failed otherwise or timed out (the
                                upstream does not speak TLS, no common version) */
} relay_fail_t;

/* 1 for the refusals (NOT_FOUND, REFUSED, LOOP): the remote answered and
 * said no; 0 for network failures, timeouts and this node's reasons. */
int relay_fail_is_refusal(relay_fail_t why);
/* "dns", "connect", "timeout", ... (logs, tests). */
const char *relay_fail_name(relay_fail_t why);
/* The documented reason code (reason.h) of a link failure. */
reason_t relay_fail_reason(relay_fail_t why);

typedef struct {
    /* The link is up: push: NetStream.Publish.Start received and the local
     * player attached; pull: the upstream accepted the play (RTMP
     * NetStream.Play.Start / HTTP 200) and the local publish succeeded. */
    void (*up)(void *owner, conn_t *c);
    /* The link ended (never after relay_link_stop()): why, and err, the
     * text for logs and events, valid during the call only: "connection
     * refused", "play refused: NetStream.Play.StreamNotFound (No such
     * stream.)", "HTTP 404 Not Found", "timeout (handshake)", "local stream
     * ended", "app/name already has a local publisher"... Called once, from
     * the connection's close path (the conn_t is gone after the call). */
    void (*down)(void *owner, conn_t *c, relay_fail_t why, const char *err);
    /* Probes only (cfg.probe): a probe is up without publishing (it drops
     * media but keeps the latest sequence headers); at the upstream's first
     * video key frame it asks ready: 1, and the link goes live now: it
     * publishes the local stream, taking it over (stream_publish(): the
     * players continue), the kept headers and this frame first; 0, and it
     * closes. The owner stops its other link first (relay_link_stop()). */
    int (*ready)(void *owner, conn_t *c);
} relay_link_ops_t;

/* Starts a link (copies what it needs from cfg). Returns the connection
 * (owned by the node; c->id is the session id) or NULL with a message in err
 * (bad URL, out of memory); down is then not called. */
conn_t *relay_link_start(node_t *node, const relay_link_cfg_t *cfg, const relay_link_ops_t *ops,
                         void *owner, char *err, size_t errlen);

/* Detaches the owner (no more callbacks) and closes the connection with
 * reason (a static string). */
void relay_link_stop(conn_t *c, const char *reason);

/* How the relay manager starts and stops links: RELAY_LINKS_NET (the two
 * functions above) in the daemon; a unit test passes its own, which must
 * keep their contract (down once, never after stop; the conn_t's id,
 * bytes_in, bytes_out and conn_info() stay readable while the link runs). */
typedef struct relay_links {
    conn_t *(*start)(node_t *node, const relay_link_cfg_t *cfg, const relay_link_ops_t *ops,
                     void *owner, char *err, size_t errlen);
    void (*stop)(conn_t *c, const char *reason);
    /* A new silence limit for a running link (relay_link_set_silence()). */
    void (*set_silence)(conn_t *c, uint32_t silence_ms);
} relay_links_t;

/* Changes the silence limit of a running link (cfg.silence_ms; 0: its
 * timeout): from its next tick on, without reconnecting. */
void relay_link_set_silence(conn_t *c, uint32_t silence_ms);

extern const relay_links_t RELAY_LINKS_NET;

/* ---- shared by the link implementations -------------------------------- */

/* What every link protocol keeps first in its state (c->ps), so that
 * relay_link_stop() and the manager can reach it. */
typedef struct {
    const relay_link_ops_t *ops;
    void *owner; /* NULL once detached */
    relay_dir_t dir;
    char app[STREAM_APP_MAX];
    char name[STREAM_NAME_MAX];
    char url[RELAY_URL_MAX];
    unsigned hops;
    char via[RELAY_VIA_MAX];
    uint32_t timeout_ms;
    uint32_t silence_ms;     /* pull, once up (0: timeout_ms) */
    /* pull: the upstream's source identity from its answer (relay_hops.h;
     * "" when it named none), given to the local stream as pub->src_id */
    char src_id[RELAY_SOURCE_ID_MAX];
    uint32_t src_off;
    int tls; /* rtmps:// or https://: TLS first (relay_link_tls_start()) */
    int tls_verify;
    char tls_ca[RELAY_TLS_CA_MAX];
    int64_t up_ms;           /* when up() was called */
    int64_t last_media_ms;   /* pull: the last media message from the upstream */
    int up;                  /* up() was called */
    int probe;               /* a probe that has not gone live yet */
    /* Probe: the latest video and audio sequence headers (malloc'd). */
    struct relay_link_kept {
        uint8_t *payload;
        uint32_t len, ts;
    } kept[2];
    char err[RELAY_ERR_MAX]; /* why it went down, when the protocol knows better
                                than the connection's close reason */
    relay_fail_t why;        /* set with err */
} relay_link_base_t;

/* The link protocols (relay_rtmp_link.c, relay_httpflv_link.c). Each
 * returns the connection or NULL with err; cfg->url has their scheme. */
conn_t *relay_rtmp_link_start(node_t *node, const relay_link_cfg_t *cfg,
                              const relay_link_ops_t *ops, void *owner, char *err, size_t errlen);
conn_t *relay_httpflv_link_start(node_t *node, const relay_link_cfg_t *cfg,
                                 const relay_link_ops_t *ops, void *owner, char *err,
                                 size_t errlen);

/* Fills base from cfg (strings truncated are an error: returns -1). */
int relay_link_base_init(relay_link_base_t *b, const relay_link_cfg_t *cfg,
                         const relay_link_ops_t *ops, void *owner);
/* From the protocol's on_connect, first: for a TLS link (b->tls), starts
 * the client handshake with host (the URL's; alpn offered if not NULL);
 * what the protocol sends next goes out once it is done. A failure of the
 * handshake is reported down as RELAY_FAIL_TLS_VERIFY or
 * RELAY_FAIL_TLS_HANDSHAKE (with OpenSSL's text). Returns 0 (also for
 * plaintext links), or -1: it could not start (a CA file that does not
 * load: "tls_ca: cannot load ..."); the link failed and closes. */
int relay_link_tls_start(relay_link_base_t *b, conn_t *c, const char *host, const char *alpn);
/* Reports up once (no-op when detached or already up). */
void relay_link_report_up(relay_link_base_t *b, conn_t *c);
/* From the protocol's on_close: reports down once with b->why and b->err
 * if set, else the connection's close reason, typed from c->end (no-op when
 * detached). */
void relay_link_report_down(relay_link_base_t *b, conn_t *c);
/* Records why the link failed (first call wins): the reason and its text,
 * printf-style. */
void relay_link_fail(relay_link_base_t *b, relay_fail_t why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Pull: the upstream's answer named its source (wire form, NULL or "":
 * none; a malformed one is logged and ignored). Call before publishing. */
void relay_link_source(relay_link_base_t *b, conn_t *c, const char *wire);

/* Pull: a media message (audio, video, data) came from the upstream. */
void relay_link_media(relay_link_base_t *b, int64_t now_ms);

/* The deadlines of a link, checked from its on_tick with limit_ms its
 * timeout: until up, the link must be up within limit_ms of the
 * connection's start ("timeout (<phase>)"); once up, a pull fails with
 * RELAY_FAIL_SILENCE when the upstream has sent no media for more than
 * b->silence_ms (0: limit_ms) since it came up or since its last media
 * ("upstream silent for N ms"; a push target may stay quiet). Returns the
 * close reason ("timeout", "upstream silent") after relay_link_fail(), or
 * NULL: in time. The caller closes the connection. */
const char *relay_link_deadline(relay_link_base_t *b, const conn_t *c, int64_t now_ms,
                                uint32_t limit_ms, const char *phase);

/* Pull: publishes the local stream b->app/b->name through pub, with ops
 * and owner, source "relay", the link's hops and via, and hold_players
 * set: when the link goes down its players stay attached, silently, for the
 * grace period, and the next link continues the stream for them (seamless
 * failover, see stream_publish()). Returns 0, or -1
 * after relay_link_fail(RELAY_FAIL_LOCAL) with the close reason in *reason
 * ("local stream busy", "cannot publish locally"). */
int relay_link_publish(relay_link_base_t *b, conn_t *c, publisher_t *pub,
                       const publisher_ops_t *ops, void *owner, const char **reason);

/* Pull, a probe (b->probe): what to do with a media message (type 8 or
 * 9, ts, len bytes at p, not adopted): sequence headers are kept (a copy),
 * the rest dropped until a video key frame; then the owner's ready()
 * decides, and the link publishes through pub (as relay_link_publish(),
 * with takeover) and pushes the kept headers. Returns 0: drop the message;
 * 1: live now (b->probe cleared), the caller ingests this message; -1: the
 * link failed and is closing. */
int relay_link_probe_media(relay_link_base_t *b, conn_t *c, publisher_t *pub,
                           const publisher_ops_t *ops, void *owner, uint8_t type, uint32_t ts,
                           const uint8_t *p, uint32_t len);

/* The conn_proto_t info of a link (c->ps starts with its
 * relay_link_base_t): role relay, the local app and name. */
void relay_link_info(const conn_t *c, sess_info_t *out);

/* From the protocol's on_close: unpublishes pub if *publishing (clearing
 * it), then relay_link_report_down(): the owner may start another link for
 * the stream at once. */
void relay_link_closed(relay_link_base_t *b, conn_t *c, publisher_t *pub, int *publishing);

#endif
