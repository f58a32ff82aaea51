/* hook_call: one HTTP request of the webhook manager (hooks_internal.h).
 *
 * Requests ("calls"). Every request, notification or decision, is one
 * call_t with its own evhttp_connection (Connection: close; no reuse, so a
 * call owns everything libevent holds for it) and two events of ours: a
 * deadline timer (the hook's timeout_ms, authoritative) and a "fin" event.
 *
 * Ownership with libevent 2.1 (checked in its http.c):
 *   - evhttp_make_request() hands the request to the connection. When the
 *     request completes or fails, libevent calls our request callback and
 *     frees the request right after it returns (we never call
 *     evhttp_request_own()); on failure the callback gets NULL (after the
 *     error callback, which names the error) or, when the connect fails, a
 *     request with response code 0. The callback may even run inside
 *     evhttp_make_request() (ECONNREFUSED on loopback is reported at once).
 *   - evhttp_connection_free() frees the requests still queued on it
 *     WITHOUT calling their callbacks, and must not be called from inside
 *     one of that connection's own callbacks (libevent still uses the
 *     connection after the request callback returns).
 *   - evhttp_make_request() returning -1 may or may not have freed the
 *     request (2.1 frees it when strdup fails, not when the socket cannot
 *     be made): we never touch it again; at worst one request leaks in
 *     that out-of-memory / out-of-descriptors case.
 * So the request callback only records the result and activates "fin";
 * everything else (freeing the connection, deciding, calling the session
 * back) happens in fin's or the timer's callback, which are plain events
 * of ours. Cancelling a call (hook_call_free) frees its connection, which drops
 * the pending request silently, and frees both events: nothing of ours is
 * referenced by libevent afterwards, whatever was pending.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>

#include "common.h"
#include "hooks_internal.h"
#include "node.h"
#include "tls_client.h"

void hook_call_free(call_t *c)
{
    if (!c)
        return;
    if (c->timer)
        event_free(c->timer);
    if (c->fin)
        event_free(c->fin);
    if (c->evcon)
        evhttp_connection_free(c->evcon); /* drops a pending request, no callback */
    free(c);
}

/* Follows the TLS handshake (libevent resets the session's state when the
 * connection fails: what happened is kept in the call). */
static void tls_info_cb(const SSL *ssl, int where, int ret)
{
    (void)ret;
    call_t *c = SSL_get_app_data(ssl);
    if (c && (where & SSL_CB_HANDSHAKE_START))
        c->tls_state = 1;
    if (c && (where & SSL_CB_HANDSHAKE_DONE))
        c->tls_state = 2;
}

/* https://: when the TLS handshake had started and did not finish, its
 * failure (with the reason code first) replaces the generic text in c->err. */
static void tls_failure(call_t *c, int timed_out)
{
    if (!c->ssl || c->tls_state != 1)
        return;
    char why[HOOK_ERR_MAX - 16];
    if (tls_client_failure(c->ssl, why, sizeof why) == 1) {
        snprintf(c->err, sizeof c->err, "tls_verify: %s", why);
        return;
    }
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
    unsigned long e = bev ? bufferevent_get_openssl_error(bev) : 0;
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    snprintf(c->err, sizeof c->err, "tls_handshake: TLS handshake %s",
             timed_out ? "timed out"
             : r       ? r
                       : "failed: connection closed");
}

static void call_error_cb(enum evhttp_request_error e, void *arg)
{
    call_t *c = arg;
    const char *what = "request failed";
    switch (e) {
    case EVREQ_HTTP_TIMEOUT: what = "timed out"; break;
    case EVREQ_HTTP_EOF: what = "connection closed before the answer"; break;
    case EVREQ_HTTP_INVALID_HEADER: what = "invalid answer"; break;
    case EVREQ_HTTP_BUFFER_ERROR: what = "connection error"; break;
    case EVREQ_HTTP_REQUEST_CANCEL: what = "cancelled"; break;
    case EVREQ_HTTP_DATA_TOO_LONG: what = "answer too long"; break;
    }
    if (!c->err[0])
        snprintf(c->err, sizeof c->err, "%s", what);
    tls_failure(c, 0);
}

/* libevent's request callback: record only (see the top of this file). */
static void call_req_cb(struct evhttp_request *req, void *arg)
{
    call_t *c = arg;
    if (c->finished)
        return;
    c->status = req ? evhttp_request_get_response_code(req) : 0;
    if (c->status <= 0) {
        c->status = 0;
        if (!c->err[0])
            snprintf(c->err, sizeof c->err, "cannot connect");
        tls_failure(c, 0);
    } else {
        c->err[0] = '\0';
    }
    c->finished = 1;
    event_active(c->fin, EV_TIMEOUT, 1);
}

static void call_fin_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    call_t *c = arg;
    c->done(c);
}

static void call_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    call_t *c = arg;
    if (c->finished)
        return; /* fin is on its way */
    c->finished = 1;
    c->status = 0;
    snprintf(c->err, sizeof c->err, "timed out");
    tls_failure(c, 1);
    c->done(c);
}

/* X-Weir-Signature value for body under secret: "sha256=" + hex. */
static int sign(const char *secret, const char *body, size_t len, char out[80])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, md,
              &mdlen) ||
        mdlen != 32)
        return -1;
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256=", 7);
    for (unsigned i = 0; i < mdlen; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[7 + 2 * mdlen] = '\0';
    return 0;
}

/* The connection for url (parsed into u): plain, or over a TLS
 * bufferevent for https://. NULL with err set. */
static struct evhttp_connection *call_connection(call_t *c, const hook_spec_t *spec, const url_t *u,
                                                 char *err, size_t errlen)
{
    struct event_base *base = c->m->node->base;
    struct evdns_base *dns = node_dns(c->m->node);
    struct evhttp_connection *evcon = NULL;
    if (url_scheme(spec->url) != URL_SCHEME_HTTPS) {
        evcon = evhttp_connection_base_new(base, dns, u->host, u->port);
        if (!evcon)
            snprintf(err, errlen, "out of memory");
        return evcon;
    }
    snprintf(err, errlen, "tls_handshake: out of memory");
    tls_client_t *tc = node_tls_client(c->m->node);
    SSL *ssl =
        tc ? tls_client_session(tc, u->host, spec->tls_verify, spec->tls_ca, NULL, err, errlen)
           : NULL;
    struct bufferevent *bev =
        ssl ? bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
            : NULL;
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    evcon = evhttp_connection_base_bufferevent_new(base, dns, bev, u->host, u->port);
    if (!evcon) {
        bufferevent_free(bev);
        return NULL;
    }
    c->ssl = ssl;
    SSL_set_app_data(ssl, c);
    SSL_set_info_callback(ssl, tls_info_cb);
    return evcon;
}

call_t *hook_call_start(hook_mgr_t *m, const hook_spec_t *spec, const char *event_type,
                        const char *delivery, const char *body, size_t len, call_done_fn done,
                        void *owner, char *err, size_t errlen)
{
    url_t u;
    if (hook_spec_url(spec->url, &u, err, errlen) != 0)
        return NULL;
    char auth[URL_HOST_MAX + 16], sig[80] = "";
    if (url_authority(&u, auth, sizeof auth) < 0) {
        snprintf(err, errlen, "url: host too long");
        return NULL;
    }
    if (spec->secret[0] && sign(spec->secret, body, len, sig) != 0) {
        snprintf(err, errlen, "cannot compute the signature");
        return NULL;
    }
    call_t *c = calloc(1, sizeof *c);
    struct event_base *base = m->node->base;
    if (c) {
        c->m = m;
        c->done = done;
        c->owner = owner;
        c->timer = evtimer_new(base, call_timer_cb, c);
        c->fin = event_new(base, -1, 0, call_fin_cb, c);
        c->evcon = call_connection(c, spec, &u, err, errlen);
    }
    struct evhttp_request *req = c && c->evcon ? evhttp_request_new(call_req_cb, c) : NULL;
    if (!req) {
        if (!c || c->evcon)
            snprintf(err, errlen, "out of memory");
        hook_call_free(c);
        return NULL;
    }
    /* libevent's own timeouts are a backstop: ours fires first. */
    struct timeval backstop = {(time_t)(spec->timeout_ms / 1000 + 2), 0};
    evhttp_connection_set_timeout_tv(c->evcon, &backstop);
    evhttp_connection_set_retries(c->evcon, 0);
    evhttp_connection_set_max_headers_size(c->evcon, HOOK_RESP_HEADERS_MAX);
    evhttp_connection_set_max_body_size(c->evcon, HOOK_RESP_BODY_MAX);
    evhttp_request_set_error_cb(req, call_error_cb);
    struct evkeyvalq *hd = evhttp_request_get_output_headers(req);
    int ok = evhttp_add_header(hd, "Host", auth) == 0 &&
             evhttp_add_header(hd, "Content-Type", "application/json") == 0 &&
             evhttp_add_header(hd, "User-Agent", "weir/" WEIR_VERSION) == 0 &&
             evhttp_add_header(hd, "Connection", "close") == 0 &&
             evhttp_add_header(hd, "X-Weir-Event", event_type) == 0 &&
             evhttp_add_header(hd, "X-Weir-Delivery", delivery) == 0 &&
             evhttp_add_header(hd, "X-Weir-Node", node_id(m->node)) == 0 &&
             (!sig[0] || evhttp_add_header(hd, "X-Weir-Signature", sig) == 0) &&
             evbuffer_add(evhttp_request_get_output_buffer(req), body, len) == 0 && c->timer &&
             c->fin;
    if (!ok) {
        evhttp_request_free(req); /* not handed over yet: ours */
        hook_call_free(c);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct timeval tv = {(time_t)(spec->timeout_ms / 1000),
                         (suseconds_t)(spec->timeout_ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
    /* From here the request belongs to the connection (even on -1). */
    if (evhttp_make_request(c->evcon, req, EVHTTP_REQ_POST, u.path) != 0 && !c->finished) {
        c->finished = 1;
        snprintf(c->err, sizeof c->err, "cannot start the request");
        event_active(c->fin, EV_TIMEOUT, 1);
    }
    return c;
}

int hook_call_ok(const call_t *c)
{
    return c->status >= 200 && c->status <= 299;
}

void hook_call_result(const call_t *c, char *out, size_t outlen)
{
    if (c->status)
        snprintf(out, outlen, "HTTP %d", c->status);
    else
        snprintf(out, outlen, "%s", c->err[0] ? c->err : "failed");
}
