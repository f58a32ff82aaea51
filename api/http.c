/* http: the API's HTTP server: libmicrohttpd driven by the node's libevent
 * loop, request handling (the route table is api/routes.c), bearer-token
 * auth, body limits, error replies, and the per-status request counters.
 * Route handlers live in api/routes_<tag>.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/util.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api_internal.h"
#include "https.h"
#include "common.h"
#include "conf.h"
#include "log.h"
#include "parse.h"
#include "render.h"

#define API_CONNECTION_LIMIT CONF_API_CONNECTIONS_MAX /* open API connections in all (MHD's) */
#define API_MAX_POLL_MS 200 /* MHD runs at least this often, whatever it asks */
#define API_MAX_BODY_DEFAULT (64 * 1024)

/* ---- replies ------------------------------------------------------------ */

/* borrowed: body outlives the request (api_reply_static), else it is taken. */
static void reply_set(api_req_t *r, int status, const char *ctype, char *body, size_t len,
                      int borrowed)
{
    if (r->status) { /* a second reply is a bug: keep the first */
        log_error(0, "api: %s %s: second reply %d ignored", r->method, r->path, status);
        if (!borrowed)
            free(body);
        return;
    }
    r->status = status;
    r->ctype = ctype;
    r->resp = body;
    r->resp_len = len;
    r->resp_borrowed = borrowed;
    if (r->suspended) {
        r->suspended = 0;
        MHD_resume_connection(r->conn);
        api_run_soon(r->api); /* MHD picks the resumed connection up on its next run */
    }
}

void api_reply_text(api_req_t *r, int status, const char *ctype, char *text, size_t len)
{
    reply_set(r, status, ctype, text, len, 0);
}

void api_reply_static(api_req_t *r, int status, const char *ctype, const void *data, size_t len)
{
    /* MHD_RESPMEM_PERSISTENT only reads it; the cast drops const for MHD's
     * signature. */
    reply_set(r, status, ctype, (char *)(uintptr_t)data, len, 1);
}

void api_reply_headers(api_req_t *r, const char *const *headers)
{
    r->headers = headers;
}

void api_reply_json(api_req_t *r, int status, cJSON *body)
{
    int had_body = body != NULL;
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!text) {
        /* No body: its renderer failed (it said why, or ran out of memory);
         * a body that did not print: out of memory. Logged either way. */
        static const char no_body[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"the answer could not be "
            "rendered\"}}";
        static const char oom[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        const char *msg = had_body ? oom : no_body;
        log_error(0, "api: %s %s: 500 instead of %d: %s", r->method, r->path, status,
                  had_body ? "out of memory printing the answer"
                           : "the answer could not be rendered");
        char *t = strdup(msg);
        reply_set(r, 500, "application/json", t, t ? strlen(t) : 0, 0);
        return;
    }
    reply_set(r, status, "application/json", text, strlen(text), 0);
}

void api_reply_entity(api_req_t *r, int status, cJSON *body)
{
    const cJSON *t = body ? cJSON_GetObjectItemCaseSensitive(body, "etag") : NULL;
    if (cJSON_IsString(t) && strlen(t->valuestring) < sizeof r->etag)
        snprintf(r->etag, sizeof r->etag, "%s", t->valuestring);
    api_reply_json(r, status, body);
}

void api_reply_error(api_req_t *r, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (status >= 500)
        log_error(0, "api: %s %s: %d %s", r->method, r->path, status, msg);
    else
        log_debug(0, "api: %s %s: %d %s", r->method, r->path, status, msg);
    api_reply_json(r, status, api_render_error(code, msg));
}

void api_suspend(api_req_t *r)
{
    if (r->status)
        return; /* already answered synchronously */
    r->suspended = 1;
    MHD_suspend_connection(r->conn);
}

/* Hands the prepared reply to MHD. */
static enum MHD_Result queue_reply(api_req_t *r)
{
    api_t *a = r->api;
    struct MHD_Response *resp =
        r->has_fd ? MHD_create_response_from_fd_at_offset64(r->resp_len, r->fd_fd, r->fd_off)
                  : MHD_create_response_from_buffer(r->resp_len, r->resp,
                                                    r->resp_borrowed ? MHD_RESPMEM_PERSISTENT
                                                                     : MHD_RESPMEM_MUST_FREE);
    if (!resp)
        return MHD_NO;
    r->has_fd = 0; /* MHD's now: it closes it */
    r->resp = NULL;
    r->queued = 1;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
    int cache_set = 0;
    for (const char *const *h = r->headers; h && h[0] && h[1]; h += 2) {
        MHD_add_response_header(resp, h[0], h[1]);
        cache_set |= strcasecmp(h[0], MHD_HTTP_HEADER_CACHE_CONTROL) == 0;
    }
    if (r->etag[0] && r->status < 300)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
    if (!cache_set)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_SERVER, "weir/" WEIR_VERSION);
    if (r->status == 405 && r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"weir\"");
    if (r->status > 0 && r->status < API_STATUS_MAX)
        a->requests[r->status]++;
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* ---- request helpers ------------------------------------------------------ */

cJSON *api_body_object(api_req_t *r)
{
    char err[128];
    cJSON *j = api_parse_object(r->body, r->body_len, err, sizeof err);
    if (!j)
        api_reply_error(r, 400, "bad_request", "%s", err);
    return j;
}

/* ---- the request lifecycle ------------------------------------------------ */

static int authorized(api_req_t *r)
{
    api_t *a = r->api;
    if (!a->has_token)
        return 1;
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    /* Compare digests: constant time, and no length leak. */
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)tok, strlen(tok), d);
    return CRYPTO_memcmp(d, a->token_hash, sizeof d) == 0;
}

static int is_json_type(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/json");
    return strncasecmp(ct, "application/json", n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* 1 if the route may be called without the token. */
static int route_is_public(const api_req_t *r)
{
    if (!r->route)
        return 0;
    return r->route->public == API_AUTH_PUBLIC ||
           (r->route->public == API_AUTH_HEALTH && r->api->node->conf.api_health_public);
}

/* The route's methods for a 405's Allow header (HEAD wherever GET is). */
static const char *route_allow(api_req_t *r)
{
    char *b = r->allow_buf;
    size_t n = 0, cap = sizeof r->allow_buf;
    b[0] = '\0';
    for (int i = 0; i < 4 && r->route->ops[i].method; i++) {
        const char *m = r->route->ops[i].method;
        int get = strcmp(m, "GET") == 0;
        n += (size_t)snprintf(b + n, n < cap ? cap - n : 0, "%s%s%s", n ? ", " : "", m,
                              get ? ", HEAD" : "");
    }
    return b;
}

/* The route's operation for the request's method: HEAD is answered by the
 * GET operation (libmicrohttpd sends its head without the body). */
static const api_op_t *route_op(const api_req_t *r)
{
    const char *m = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
    for (int i = 0; i < 4 && r->route->ops[i].method; i++)
        if (strcmp(r->route->ops[i].method, m) == 0)
            return &r->route->ops[i];
    return NULL;
}

/* The body checks once the operation is known: refused (r->status set)
 * when the operation takes no body, or the body is not JSON, or too big. */
static void check_body(api_req_t *r)
{
    api_t *a = r->api;
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
    const char *te = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Transfer-Encoding");
    r->has_body = (cl && strtoull(cl, NULL, 10) > 0) || te;
    if (!r->has_body)
        return;
    if (!r->op->takes_body) {
        api_reply_error(r, 400, "bad_request", "%s %s takes no body", r->method, r->path);
        return;
    }
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    if (!is_json_type(ct)) {
        api_reply_error(r, 415, "unsupported_media_type",
                        "the body must be application/json (got %.64s)", ct ? ct : "none");
        return;
    }
    if (cl && strtoull(cl, NULL, 10) > a->max_body) {
        api_reply_error(r, 413, "payload_too_large",
                        "the body is over %zu bytes (api.max_body_bytes)", a->max_body);
        return;
    }
}

/* Routing, auth and body checks once the headers are in. Replies (sets
 * r->status) when the request is refused. */
static void first_call(api_req_t *r)
{
    r->route = api_route_find(r);
    /* Without the token nothing is revealed, not even which paths exist. */
    if (!route_is_public(r) && !authorized(r)) {
        api_reply_error(r, 401, "unauthorized",
                        "missing or wrong token (Authorization: Bearer <api.token>)");
        return;
    }
    if (!r->route) {
        api_reply_error(r, 404, "not_found", "no such route");
        return;
    }
    r->op = route_op(r);
    if (!r->op) {
        r->allow = route_allow(r);
        api_reply_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)",
                        r->method, r->allow);
        return;
    }
    api_query_check(r);
    if (!r->status)
        check_body(r);
}

static void take_body(api_req_t *r, const char *data, size_t len)
{
    if (r->too_large || r->status)
        return; /* discarded: the reply is already decided */
    if (r->body_len + len > r->api->max_body) {
        r->too_large = 1;
        free(r->body);
        r->body = NULL;
        r->body_len = 0;
        return;
    }
    char *nb = realloc(r->body, r->body_len + len + 1);
    if (!nb) {
        r->too_large = 1;
        return;
    }
    memcpy(nb + r->body_len, data, len);
    r->body = nb;
    r->body_len += len;
    r->body[r->body_len] = '\0';
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    (void)version;
    api_t *a = cls;
    api_req_t *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        size_t ulen = strlen(url);
        if (r) {
            r->path = strdup(url);
            r->pp.buf = malloc(ulen + API_MAX_PARAMS + 1);
        }
        if (!r || !r->path || !r->pp.buf) {
            if (r) {
                free(r->path);
                free(r->pp.buf);
                free(r);
            }
            return MHD_NO;
        }
        r->api = a;
        r->conn = conn;
        snprintf(r->method, sizeof r->method, "%s", method);
        *con_cls = r;
        first_call(r);
        if (r->status)
            return queue_reply(r); /* refused before any body is read */
        return MHD_YES;
    }
    if (r->queued) {
        *upload_data_size = 0; /* answered early: the rest of the body is dropped */
        return MHD_YES;
    }
    if (*upload_data_size) {
        take_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!r->status && !r->suspended) {
        if (r->too_large) {
            api_reply_error(r, 413, "payload_too_large",
                            "the body is over %zu bytes (api.max_body_bytes)", a->max_body);
        } else {
            r->op->fn(r);
            if (!r->status && !r->suspended)
                api_reply_error(r, 500, "internal", "no reply");
        }
    }
    if (r->suspended)
        return MHD_YES;
    return queue_reply(r);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    api_req_t *r = *con_cls;
    if (!r)
        return;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        log_debug(0, "api: %s %s: ended early (%d)", r->method, r->path, (int)toe);
    if (!r->resp_borrowed)
        free(r->resp);
    if (r->has_fd)
        close(r->fd_fd);
    free(r->body);
    free(r->path);
    free(r->pp.buf);
    free(r);
    *con_cls = NULL;
}

/* MHD's log lines, as warnings. A repeat of the previous line within
 * LIMITS_LOG_INTERVAL_MS is only counted (an accept error repeats each time
 * MHD runs); the count is logged before the next line that is logged. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    api_t *a = cls;
    char msg[512] = {0};
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    /* api.tls: MHD's sockets are socketpair ends (https.h), which have no
     * TCP_NODELAY or TCP_CORK; MHD 0.9.75 logs each failed attempt. */
    if (a->tls && (strncmp(msg, "Setting TCP_", 12) == 0 ||
                   strncmp(msg, "Failed to push the data from buffers", 36) == 0))
        return;
    char key[sizeof a->mhd_last];
    memcpy(key, msg, sizeof key - 1); /* msg: 512 bytes, zero-filled */
    key[sizeof key - 1] = '\0';
    int64_t now = weir_mono_ms();
    if (strcmp(key, a->mhd_last) == 0 && now - a->mhd_last_ms < LIMITS_LOG_INTERVAL_MS) {
        a->mhd_repeats++;
        return;
    }
    if (a->mhd_repeats)
        log_warn(0, "api: %llu more times: %s", (unsigned long long)a->mhd_repeats, a->mhd_last);
    a->mhd_repeats = 0;
    memcpy(a->mhd_last, key, sizeof key);
    a->mhd_last_ms = now;
    log_warn(0, "api: %s", msg);
}

/* ---- connections per address ------------------------------------------------ */

/* The address admitted last, if MHD never reported its connection started
 * (it failed to set it up): given back. */
static void release_pending(api_t *a)
{
    if (!a->pending_set)
        return;
    a->pending_set = 0;
    conn_limits_release(a->conns, a->pending_has_addr ? &a->pending : NULL);
}

void api_addr_text(const struct sockaddr *sa, int port, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned p = 0;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host, sizeof host);
        p = ntohs(((const struct sockaddr_in *)sa)->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof host);
        p = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    }
    if (!port)
        snprintf(out, outlen, "%s", host);
    else if (sa->sa_family == AF_INET6)
        snprintf(out, outlen, "[%s]:%u", host, p);
    else
        snprintf(out, outlen, "%s:%u", host, p);
}

void api_conn_refused(api_t *a, const struct sockaddr *sa)
{
    uint64_t suppressed = 0;
    uint32_t max = a->node->conf.api_max_connections_per_address;
    if (!conn_limits_refused(a->node->limits, LIMIT_API_CONNECTIONS_PER_ADDRESS, weir_mono_ms(),
                             &suppressed))
        return;
    char host[INET6_ADDRSTRLEN + 8];
    api_addr_text(sa, 0, host, sizeof host);
    if (suppressed)
        log_warn(0,
                 "api: connection from %s refused: api.max_connections_per_address (%u) reached "
                 "(%llu more refused since the last such line)",
                 host, max, (unsigned long long)suppressed);
    else
        log_warn(0, "api: connection from %s refused: api.max_connections_per_address (%u) reached",
                 host, max);
}

/* MHD's accept policy: each accepted connection, after MHD's own total
 * (API_CONNECTION_LIMIT), before MHD sets it up. MHD closes a refused one
 * at once. Loop thread. */
static enum MHD_Result accept_policy_cb(void *cls, const struct sockaddr *sa, socklen_t salen)
{
    (void)salen;
    api_t *a = cls;
    if (a->tls)
        return MHD_YES; /* admitted at accept, counted by https.c */
    release_pending(a);
    conn_limits_addr_t addr;
    int has_addr = conn_limits_addr_from_sockaddr(sa, &addr) == 0;
    limit_kind_t why;
    /* Only max_connections_per_address can refuse: the table's total is
     * API_CONNECTION_LIMIT, which MHD checks first. */
    if (conn_limits_admit(a->conns, has_addr ? &addr : NULL, weir_mono_ms(), &why) != 0) {
        api_conn_refused(a, sa);
        return MHD_NO;
    }
    a->pending = addr;
    a->pending_has_addr = has_addr;
    a->pending_set = 1;
    return MHD_YES;
}

/* MHD's connection notifications, in order on the loop thread: STARTED is
 * the connection the policy callback admitted just before; CLOSED gives
 * its address back. */
static void notify_conn_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
                           enum MHD_ConnectionNotificationCode code)
{
    (void)socket_context;
    api_t *a = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED || a->tls) {
        a->pending_set = 0;
        return;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    conn_limits_addr_t addr;
    int has_addr =
        ci && ci->client_addr && conn_limits_addr_from_sockaddr(ci->client_addr, &addr) == 0;
    conn_limits_release(a->conns, has_addr ? &addr : NULL);
}

/* ---- the loop glue -------------------------------------------------------- */

/* MHD runs when its epoll fd is readable, at the timeout it asks for, and
 * at least every API_MAX_POLL_MS. The last bound keeps the API alive on its
 * own: at its connection limit MHD takes its listening socket out of its
 * epoll set and puts it back only at the start of a later run; when its
 * timeouts then close every connection it asks for no timeout, and with
 * nothing else to wake it the API would never answer again. */
static void api_reschedule(api_t *a)
{
    MHD_UNSIGNED_LONG_LONG to;
    MHD_UNSIGNED_LONG_LONG ms = API_MAX_POLL_MS;
    if (MHD_get_timeout(a->mhd, &to) == MHD_YES && to < ms)
        ms = to;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(&a->timer_ev, &tv);
}

void api_run_soon(api_t *a)
{
    struct timeval now = {0, 0};
    evtimer_add(&a->timer_ev, &now);
}

static void api_run_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    api_t *a = arg;
    if (MHD_run(a->mhd) != MHD_YES)
        log_warn(0, "api: MHD_run failed");
    release_pending(a);
    api_reschedule(a);
}

int api_host_is_loopback(const char *host)
{
    if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
        return 1;
    struct in_addr in;
    if (inet_pton(AF_INET, host, &in) == 1)
        return (ntohl(in.s_addr) >> 24) == 127;
    return 0;
}

/* Reads the dashboard's files (api.web_root, resolved into a->web_root:
 * static.h) into a->web. A missing folder is a warning (GET / then answers
 * 503 saying so); one over the bounds or unreadable refuses the start.
 * Returns 0, or -1 with a message in err. */
static int load_dashboard(api_t *a, const char *conf_root, char *err, size_t errlen)
{
    if (!conf_root[0]) {
        log_info(0, "dashboard: off (api.web_root is \"\")");
        return 0;
    }
    api_static_at_t at;
    if (api_static_find_root(conf_root, a->node->conf_path, a->web_root, sizeof a->web_root, &at) !=
        0) {
        snprintf(err, errlen, "api.web_root: %s: path too long", conf_root);
        return -1;
    }
    const char *root = a->web_root;
    char why[512];
    int rc =
        api_static_load(root, API_STATIC_MAX_FILES, API_STATIC_MAX_BYTES, &a->web, why, sizeof why);
    if (rc == API_STATIC_ERR) {
        snprintf(err, errlen, "api.web_root: %s (at most %d files and %u MB in all are served)",
                 why, API_STATIC_MAX_FILES, API_STATIC_MAX_BYTES >> 20);
        return -1;
    }
    if (rc == API_STATIC_MISSING)
        log_warn(0, "dashboard: %s not found; build it with `npm --prefix web run build`%s",
                 conf_root,
                 at == API_STATIC_AT_AS_IS ? ""
                                           : " (a relative api.web_root is looked for in the "
                                             "config file's folder, the install's share folder, "
                                             "next to the binary and in the working folder)");
    else if (!api_static_find(a->web, "index.html"))
        log_warn(0,
                 "dashboard: %s/index.html not found; build it with `npm --prefix web run build`",
                 root);
    else
        log_info(0, "dashboard: %zu files, %zu bytes from %s (api.web_root %s, in %s)",
                 api_static_count(a->web), api_static_bytes(a->web), root, conf_root,
                 api_static_at_name(at));
    return 0;
}

/* MHD's unescaper for paths and query values: api_unescape() keeps "%00". */
static size_t unescape_cb(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return api_unescape(s);
}

/* Starts MHD on the listening socket lfd (taken: closed on failure) and
 * hooks its epoll fd and timer into the loop. Returns 0, or -1 with a
 * message in err. */
static int start_mhd(api_t *a, int lfd, char *err, size_t errlen)
{
    const conf_t *conf = &a->node->conf;
    /* api.tls: no listening socket; https.c adds each connection. */
    struct MHD_OptionItem listen_opt[] = {
        {a->tls ? MHD_OPTION_END : MHD_OPTION_LISTEN_SOCKET, lfd, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     (a->tls ? MHD_USE_NO_LISTEN_SOCKET : 0);
    a->mhd =
        MHD_start_daemon(flags, 0, accept_policy_cb, a, access_cb, a, MHD_OPTION_EXTERNAL_LOGGER,
                         mhd_log, a, MHD_OPTION_ARRAY, listen_opt, MHD_OPTION_NOTIFY_COMPLETED,
                         completed_cb, a, MHD_OPTION_NOTIFY_CONNECTION, notify_conn_cb, a,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_CONNECTION_LIMIT,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)conf->api_connection_timeout_s,
                         MHD_OPTION_UNESCAPE_CALLBACK, unescape_cb, NULL, MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        a->mhd ? MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (!info) {
        snprintf(err, errlen, "api: cannot start the HTTP server on %s", conf->api_listen);
        if (a->mhd) {
            MHD_socket q = a->tls ? MHD_INVALID_SOCKET : MHD_quiesce_daemon(a->mhd);
            MHD_stop_daemon(a->mhd);
            a->mhd = NULL;
            if (q != MHD_INVALID_SOCKET)
                close(q);
        } else if (!a->tls) {
            close(lfd);
        }
        return -1;
    }
    event_assign(&a->mhd_ev, a->node->base, info->epoll_fd, EV_READ | EV_PERSIST, api_run_cb, a);
    evtimer_assign(&a->timer_ev, a->node->base, api_run_cb, a);
    event_add(&a->mhd_ev, NULL);
    a->events_ready = 1;
    api_reschedule(a);
    return 0;
}

api_t *api_new(node_t *node, char *err, size_t errlen)
{
    const conf_t *conf = &node->conf;
    char host[CONF_LISTEN_MAX];
    uint16_t port;
    if (conf_parse_listen(conf->api_listen, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "api.listen: bad address %s", conf->api_listen);
        return NULL;
    }
    if (!conf->api_token[0] && !api_host_is_loopback(host)) {
        snprintf(err, errlen,
                 "api.listen is %s, which is not a loopback address, and api.token is empty: "
                 "refusing to serve the control API to the network without a token",
                 conf->api_listen);
        return NULL;
    }
    api_t *a = calloc(1, sizeof *a);
    uint64_t seed = 0;
    evutil_secure_rng_get_bytes(&seed, sizeof seed);
    if (a)
        a->conns =
            conn_limits_new(API_CONNECTION_LIMIT, conf->api_max_connections_per_address, 0, seed);
    if (!a || !a->conns) {
        snprintf(err, errlen, "out of memory");
        free(a);
        return NULL;
    }
    a->node = node;
    a->max_body = conf->api_max_body_bytes ? conf->api_max_body_bytes : API_MAX_BODY_DEFAULT;
    if (conf->api_token[0]) {
        a->has_token = 1;
        SHA256((const unsigned char *)conf->api_token, strlen(conf->api_token), a->token_hash);
    }
    a->tls = conf->api_tls;
    int lfd = -1;
    if (load_dashboard(a, conf->api_web_root, err, errlen) != 0 ||
        (lfd = node_listen_socket("api", conf->api_listen, 128, err, errlen)) < 0 ||
        start_mhd(a, lfd, err, errlen) != 0 || (a->tls && api_https_start(a, lfd, err, errlen))) {
        if (a->tls && lfd >= 0 && !a->mhd)
            close(lfd); /* start_mhd() failed: https.c never took it */
        api_free(a);
        return NULL;
    }
    log_info(0, "api: listening on %s%s%s; connections at most %u, per address %u (0: no limit)",
             conf->api_listen, a->tls ? " over TLS (api.tls)" : "",
             a->has_token ? " (bearer token required)" : "", (unsigned)API_CONNECTION_LIMIT,
             conf->api_max_connections_per_address);
    return a;
}

void api_free(api_t *a)
{
    if (!a)
        return;
    api_https_stop(a); /* before MHD: MHD sees its ends of the pairs close */
    if (a->events_ready) {
        event_del(&a->mhd_ev);
        event_del(&a->timer_ev);
    }
    if (a->mhd) {
        /* Requests resumed by the last storage callbacks leave MHD's
         * suspended list on a run; MHD refuses to stop with any there. */
        MHD_run(a->mhd);
        MHD_socket lfd = a->tls ? MHD_INVALID_SOCKET : MHD_quiesce_daemon(a->mhd);
        MHD_stop_daemon(a->mhd); /* closes the listener unless quiesced */
        if (lfd != MHD_INVALID_SOCKET)
            close(lfd);
    }
    api_static_free(a->web);    /* after MHD: its responses point into it */
    conn_limits_free(a->conns); /* after MHD: it reports its connections closed */
    free(a);
}
