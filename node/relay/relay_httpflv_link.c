/* relay_httpflv_link: the HTTP-FLV pull side of a relay link (see
 * relay_link.h): GET of a remote HTTP-FLV stream, published locally as
 * app/name through a publisher_t with source "relay".
 *
 * Steps, each bounded:
 *   connect      conn_connect() to the URL's host and port;
 *   request      "GET <path> HTTP/1.1" with Host, User-Agent, Accept and the
 *                loop-protection headers X-Weir-Hops / X-Weir-Via;
 *   response     the head through the http_resp parser (at most
 *                http_flv.max_header_bytes); a status other than 200 fails
 *                the link as refused ("HTTP 404 Not Found");
 *   publish      on 200, stream_publish() of app/name, then the link is up;
 *   body         chunked (http_chunked), Content-Length, or until close,
 *                into the FLV reader (tags up to rtmp.max_message_size);
 *                audio, video and script tags go to stream_push().
 * The whole link fails if it is not up within cfg.timeout_ms, and once up
 * if the upstream sends no tag for cfg.silence_ms (0: cfg.timeout_ms).
 *
 * Ownership: the protocol state (hc_t, whose first member is the
 * relay_link_base_t) belongs to the connection and is freed in on_close,
 * which also unpublishes and reports the link down. Bytes from on_read are
 * the node's shared buffer: tag bodies are copied (stream_push() takes a
 * malloc'd payload) and chunked data is decoded in a local copy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "conn.h"
#include "flv.h"
#include "http_chunked.h"
#include "http_resp.h"
#include "log.h"
#include "relay_link.h"
#include "url.h"

#define HC_DEFAULT_MAX_HEAD 8192
#define HC_DEFAULT_TIMEOUT_MS 10000
#define HC_DECODE_SLICE 16384 /* chunked data is decoded in copies of this size */
#define HC_SET_DATA_FRAME "@setDataFrame"

typedef enum {
    HC_CONNECTING, /* resolving, connecting */
    HC_HEAD,       /* request sent, reading the response head */
    HC_BODY,       /* 200 received, publishing the body's tags */
    HC_DONE        /* failed or ended: waiting to be reaped */
} hc_state_t;

typedef struct {
    relay_link_base_t base; /* first: relay_link_stop() reaches it through c->ps */
    conn_t *conn;
    hc_state_t state;
    url_t url;
    http_resp_parser_t *resp;
    http_body_t body;
    uint64_t remaining; /* HTTP_BODY_LENGTH: body bytes still to come */
    http_chunked_t chunked;
    flv_reader_t *flv;
    publisher_t pub;
    int publishing;
    uint64_t tags;
} hc_t;

static uint32_t link_timeout_ms(const hc_t *hc)
{
    return hc->base.timeout_ms ? hc->base.timeout_ms : HC_DEFAULT_TIMEOUT_MS;
}

/* Ends the link: closes the connection with reason (a static string, for
 * its log line). The caller has recorded why with relay_link_fail(). */
static void hc_fail(hc_t *hc, const char *reason)
{
    hc->state = HC_DONE;
    conn_close(hc->conn, REASON_ERROR, reason);
}

/* ---- the local publisher ----------------------------------------------- */

static void publisher_kick(publisher_t *pub, reason_t why, const char *reason)
{
    (void)why;
    hc_t *hc = pub->owner;
    hc->publishing = 0; /* the hub has detached it */
    /* reason is copied: it need not outlive this call. */
    relay_link_fail(&hc->base, RELAY_FAIL_LOCAL, "%s",
                    reason ? reason : "kicked from the local stream");
    hc_fail(hc, "kicked from the local stream");
}

static const publisher_ops_t HC_PUBLISHER_OPS = {publisher_kick};

/* Script data: "@setDataFrame" (as an RTMP publisher would send it) is
 * unwrapped to what follows it, as sess_rtmp.c does; "|RtmpSampleAccess"
 * and the like are not for players. Returns 1 with *out a malloc'd copy of
 * the payload to push (*outlen bytes), 0 to drop the tag, -1 out of memory. */
static int script_payload(const uint8_t *p, uint32_t len, uint8_t **out, uint32_t *outlen)
{
    uint32_t skip = 0;
    if (len >= 3 && p[0] == 0x02) { /* AMF0 string: the handler name */
        uint32_t n = rd_be16(p + 1);
        if (n > 0 && 3 + n <= len) {
            if (n == sizeof HC_SET_DATA_FRAME - 1 && memcmp(p + 3, HC_SET_DATA_FRAME, n) == 0)
                skip = 3 + n;
            else if (p[3] == '|')
                return 0;
        }
    }
    if (len - skip == 0)
        return 0;
    *out = malloc(len - skip);
    if (!*out)
        return -1;
    memcpy(*out, p + skip, len - skip);
    *outlen = len - skip;
    return 1;
}

/* One complete FLV tag. Returns 0, or -1 once the link has failed. */
static int on_tag(hc_t *hc, const flv_tag_t *tag)
{
    uint8_t *payload = NULL;
    uint32_t len = 0;
    if (tag->type == FLV_TAG_AUDIO || tag->type == FLV_TAG_VIDEO) {
        if (tag->len == 0)
            return 0;
        payload = malloc(tag->len);
        if (!payload)
            goto oom;
        memcpy(payload, tag->body, tag->len);
        len = tag->len;
    } else if (tag->type == FLV_TAG_SCRIPT) {
        int rc = script_payload(tag->body, tag->len, &payload, &len);
        if (rc < 0)
            goto oom;
        if (rc == 0)
            return 0;
    } else {
        log_debug(hc->conn->id, "http-flv relay: skipping a tag of type %u", tag->type);
        return 0;
    }
    hc->tags++;
    relay_link_media(&hc->base, weir_mono_ms());
    if (hc->base.probe) {
        int pr = relay_link_probe_media(&hc->base, hc->conn, &hc->pub, &HC_PUBLISHER_OPS, hc,
                                        tag->type, tag->ts, payload, len);
        if (pr != 1) {
            free(payload);
            if (pr < 0)
                hc->state = HC_DONE;
            return pr < 0 ? -1 : 0;
        }
        hc->publishing = 1;
    }
    if (stream_push(&hc->pub, tag->type, tag->ts, payload, len, weir_mono_ms()) != 0)
        goto oom;
    return 0;
oom:
    relay_link_fail(&hc->base, RELAY_FAIL_LOCAL, "out of memory");
    hc_fail(hc, "out of memory");
    return -1;
}

/* Body bytes (after any transfer decoding) into the FLV reader. Returns 0,
 * or -1 once the link has failed. */
static int feed_flv(hc_t *hc, const uint8_t *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        size_t used = 0;
        flv_tag_t tag;
        const char *err = NULL;
        parse_rc_t rc = flv_reader_feed(hc->flv, data + off, len - off, &used, &tag, &err);
        off += used;
        if (rc == PARSE_NEED_MORE)
            break;
        if (rc != PARSE_OK) {
            relay_link_fail(&hc->base, RELAY_FAIL_PROTOCOL, "bad FLV from the upstream: %s",
                            err ? err : "?");
            hc_fail(hc, "bad FLV from the upstream");
            return -1;
        }
        if (on_tag(hc, &tag) != 0)
            return -1;
        if (used == 0 && off < len)
            break; /* cannot happen with a conforming reader; never spin */
    }
    return 0;
}

/* The body ended as its framing says (last chunk, Content-Length reached). */
static void body_ended(hc_t *hc)
{
    relay_link_fail(&hc->base, RELAY_FAIL_CLOSED, "upstream ended the stream");
    hc_fail(hc, "upstream ended the stream");
}

/* Raw body bytes, as they came off the connection. */
static void on_body(hc_t *hc, const uint8_t *data, size_t len)
{
    if (hc->body == HTTP_BODY_CLOSE) {
        feed_flv(hc, data, len);
        return;
    }
    if (hc->body == HTTP_BODY_LENGTH) {
        size_t k = len;
        if (k > hc->remaining)
            k = (size_t)hc->remaining;
        hc->remaining -= k;
        if (feed_flv(hc, data, k) == 0 && hc->remaining == 0)
            body_ended(hc);
        return;
    }
    /* Chunked: decoded in place, so in a local copy (data is the node's). */
    uint8_t slice[HC_DECODE_SLICE];
    for (size_t off = 0; off < len;) {
        size_t n = len - off < sizeof slice ? len - off : sizeof slice;
        memcpy(slice, data + off, n);
        off += n;
        size_t out = 0;
        const char *err = NULL;
        int rc = http_chunked_decode(&hc->chunked, slice, n, &out, &err);
        if (rc < 0) {
            relay_link_fail(&hc->base, RELAY_FAIL_PROTOCOL,
                            "bad chunked body from the upstream: %s", err);
            hc_fail(hc, "bad chunked body from the upstream");
            return;
        }
        if (feed_flv(hc, slice, out) != 0)
            return;
        if (rc == 1) {
            body_ended(hc);
            return;
        }
    }
}

/* A 200 response: publish locally; the link is up. Returns 0 or -1 (failed). */
static int start_publish(hc_t *hc)
{
    conn_t *c = hc->conn;
    relay_link_base_t *b = &hc->base;
    const char *reason;
    if (!b->probe) { /* a probe publishes once it has a key frame */
        if (relay_link_publish(b, c, &hc->pub, &HC_PUBLISHER_OPS, hc, &reason) != 0) {
            hc_fail(hc, reason);
            return -1;
        }
        hc->publishing = 1;
    }
    hc->state = HC_BODY;
    char ub[URL_LOG_MAX];
    log_info(c->id, "http-flv relay: publishing %s/%s from %s (%s body)", b->app, b->name,
             url_for_log(b->url, ub, sizeof ub), http_body_name(hc->body));
    relay_link_report_up(b, c);
    return 0;
}

/* The reason of a refusal by HTTP status: 508 Loop Detected is a weir
 * upstream's loop refusal. */
static relay_fail_t status_reason(int status)
{
    if (status == 508)
        return RELAY_FAIL_LOOP;
    return status == 404 ? RELAY_FAIL_NOT_FOUND : RELAY_FAIL_REFUSED;
}

/* Response head bytes; what follows the head is body. */
static void on_head(hc_t *hc, const uint8_t *data, size_t len)
{
    size_t used = 0;
    const http_resp_t *resp = NULL;
    const char *err = NULL;
    parse_rc_t rc = http_resp_feed(hc->resp, data, len, &used, &resp, &err);
    if (rc == PARSE_NEED_MORE)
        return;
    if (rc != PARSE_OK) {
        relay_link_fail(&hc->base, RELAY_FAIL_PROTOCOL, "bad response from the upstream: %s",
                        err ? err : "?");
        hc_fail(hc, "bad response head");
        return;
    }
    if (resp->status != 200) {
        relay_link_fail(&hc->base, status_reason(resp->status), "HTTP %d %s", resp->status,
                        resp->reason);
        hc_fail(hc, "upstream refused the request");
        return;
    }
    relay_link_source(&hc->base, hc->conn, http_resp_header(resp, RELAY_SOURCE_HEADER));
    hc->body = resp->body;
    hc->remaining = resp->content_length > 0 ? (uint64_t)resp->content_length : 0;
    http_resp_parser_free(hc->resp);
    hc->resp = NULL;
    if (start_publish(hc) != 0 || hc->conn->closing)
        return; /* failed, or the owner stopped the link when told it is up */
    if (hc->body == HTTP_BODY_LENGTH && hc->remaining == 0) {
        body_ended(hc);
        return;
    }
    if (used < len)
        on_body(hc, data + used, len - used);
}

/* ---- the connection ---------------------------------------------------- */

static void hc_on_connect(conn_t *c)
{
    hc_t *hc = c->ps;
    relay_link_base_t *b = &hc->base;
    if (relay_link_tls_start(b, c, hc->url.host, "http/1.1") != 0)
        return;
    char authority[URL_HOST_MAX + 16];
    if (url_authority(&hc->url, authority, sizeof authority) < 0) {
        relay_link_fail(b, RELAY_FAIL_LOCAL, "URL host too long");
        hc_fail(hc, "URL host too long");
        return;
    }
    char via[RELAY_VIA_MAX + 16] = "";
    if (b->via[0])
        snprintf(via, sizeof via, "X-Weir-Via: %s\r\n", b->via);
    char req[URL_PATH_MAX + sizeof authority + sizeof via + 256];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "User-Agent: weir/" WEIR_VERSION "\r\n"
                     "Accept: */*\r\n"
                     "X-Weir-Hops: %u\r\n"
                     "%s"
                     "\r\n",
                     hc->url.path, authority, b->hops, via);
    if (n < 0 || (size_t)n >= sizeof req || conn_send(c, req, (size_t)n) != 0) {
        relay_link_fail(b, RELAY_FAIL_LOCAL, "cannot send the request");
        hc_fail(hc, "cannot send the request");
        return;
    }
    hc->state = HC_HEAD;
    char ub[URL_LOG_MAX];
    log_debug(c->id, "http-flv relay: GET %s from %s (hops %u, via \"%s\")",
              url_for_log(hc->url.path, ub, sizeof ub), c->remote, b->hops, b->via);
    conn_flush(c);
}

static void hc_on_read(conn_t *c, const uint8_t *data, size_t len)
{
    hc_t *hc = c->ps;
    if (hc->state == HC_HEAD)
        on_head(hc, data, len);
    else if (hc->state == HC_BODY)
        on_body(hc, data, len);
    /* HC_CONNECTING cannot read; HC_DONE ignores what still arrives. */
    if (hc->publishing && hc->pub.stream)
        stream_flush(hc->pub.stream);
}

static void hc_on_tick(conn_t *c, int64_t now_ms)
{
    hc_t *hc = c->ps;
    if (hc->state == HC_DONE)
        return;
    const char *phase = hc->state == HC_HEAD ? "waiting for the response"
                        : c->resolve         ? "resolving the host"
                                             : "connecting";
    const char *why = relay_link_deadline(&hc->base, c, now_ms, link_timeout_ms(hc), phase);
    if (why)
        hc_fail(hc, why);
}

static void hc_on_close(conn_t *c)
{
    hc_t *hc = c->ps;
    if (!hc)
        return;
    /* The peer's EOF comes as this close reason (conn.c), not through
     * on_read. */
    if (c->end == CONN_END_PEER)
        relay_link_fail(&hc->base, RELAY_FAIL_CLOSED, "upstream closed the connection%s",
                        hc->state == HC_BODY ? "" : " before responding");
    if (hc->base.up || hc->tags)
        log_info(c->id, "http-flv relay: %s/%s: %llu tags from %s", hc->base.app, hc->base.name,
                 (unsigned long long)hc->tags, hc->base.url);
    relay_link_closed(&hc->base, c, &hc->pub, &hc->publishing);
    http_resp_parser_free(hc->resp);
    flv_reader_free(hc->flv);
    free(hc);
    c->ps = NULL;
}

static const conn_proto_t HC_PROTO = {
    .name = "http-flv",
    .on_read = hc_on_read,
    .on_tick = hc_on_tick,
    .on_close = hc_on_close,
    .info = relay_link_info,
    .on_connect = hc_on_connect,
};

/* Header-safe: printable ASCII without spaces (node ids, commas). */
static int via_valid(const char *via)
{
    for (const char *p = via; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return 0;
    return 1;
}

conn_t *relay_httpflv_link_start(node_t *node, const relay_link_cfg_t *cfg,
                                 const relay_link_ops_t *ops, void *owner, char *err, size_t errlen)
{
    if (cfg->dir != RELAY_PULL) {
        snprintf(err, errlen, "http-flv relay links pull only");
        return NULL;
    }
    hc_t *hc = calloc(1, sizeof *hc);
    if (!hc) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (relay_link_base_init(&hc->base, cfg, ops, owner) != 0) {
        snprintf(err, errlen, "relay link: app, name, URL or via too long");
        free(hc);
        return NULL;
    }
    if (!via_valid(hc->base.via) || hc->base.hops == 0) {
        snprintf(err, errlen, "relay link: bad hops or via");
        free(hc);
        return NULL;
    }
    url_scheme_t sch = hc->base.tls ? URL_SCHEME_HTTPS : URL_SCHEME_HTTP;
    if (url_parse(hc->base.url, url_scheme_name(sch), url_scheme_port(sch), &hc->url, err,
                  errlen) != 0) {
        free(hc);
        return NULL;
    }
    const conf_t *conf = &node->conf;
    hc->resp = http_resp_parser_new(
        conf->http_flv_max_header_bytes ? conf->http_flv_max_header_bytes : HC_DEFAULT_MAX_HEAD);
    hc->flv = flv_reader_new(conf->rtmp_max_message_size);
    http_chunked_init(&hc->chunked);
    if (!hc->resp || !hc->flv) {
        snprintf(err, errlen, "out of memory");
        http_resp_parser_free(hc->resp);
        flv_reader_free(hc->flv);
        free(hc);
        return NULL;
    }
    hc->state = HC_CONNECTING;
    /* From here the connection owns hc: on_close frees it, even when the
     * connect fails at once. */
    conn_t *c = conn_connect(node, hc->url.host, hc->url.port, &HC_PROTO, hc, err, errlen);
    if (!c) {
        http_resp_parser_free(hc->resp);
        flv_reader_free(hc->flv);
        free(hc);
        return NULL;
    }
    hc->conn = c;
    char ub[URL_LOG_MAX];
    log_info(c->id, "http-flv relay: pulling %s into %s/%s",
             url_for_log(hc->base.url, ub, sizeof ub), hc->base.app, hc->base.name);
    return c;
}
