/* http_req: bounded incremental HTTP/1.x request-head parser (see
 * http_req.h).
 *
 * The lines and the header fields go through http_head.c: each line is
 * checked as soon as its LF arrives, so a bad request line fails before the
 * headers come. This file parses the request line (keeping a NUL-terminated
 * copy of the path in the head's buffer, which may so grow to twice
 * max_bytes) and the request's own header rules.
 *
 * Every byte consumed counts against max_bytes, including empty lines before
 * the request line (skipped, RFC 9112 2.2) and line terminators. Parsing is
 * strict where a lenient reading could let two parties disagree on the
 * message (RFC 9112): no obs-fold, no whitespace before a header colon, no
 * control bytes or bare CR, a single Content-Length of digits only, no
 * Content-Length together with Transfer-Encoding, no transfer coding other
 * than "chunked", a single Host. Request-target bytes of 0x80 and above are
 * accepted as sent (as nginx does); decoding is left to http_url_decode().
 */
#include "http_req.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct http_req_parser {
    http_head_t head; /* the lines and header fields (http_head.c) */
    size_t method_off, target_off, path_off, query_off;
    int version_minor;
    int64_t content_length;
    int saw_content_length;
    int saw_transfer_encoding;
    int saw_host;
    /* The method as it arrives, before its line is complete: a byte that
     * cannot be in a method (a TLS ClientHello, an RTMP C0) ends the request
     * at once instead of at the line's end or the timeout. */
    size_t method_seen; /* method bytes so far */
    int method_done;    /* its SP came */
    int bad_method;     /* sticky until a reset, as the head's errors are */
    http_req_t req;
};

#define HTTP_METHOD_MAX 32

static int on_request_line(void *ctx, http_head_t *h, char *line, size_t n, const char **err);
static int on_field(void *ctx, http_head_t *h, const char *name, const char *value,
                    const char **err);
static int on_end(void *ctx, http_head_t *h);

static const http_head_ops_t req_ops = {
    .first_line = on_request_line,
    .field = on_field,
    .end = on_end,
    .skip_empty_first = 1,
    .too_large = "http: request head too large",
    .no_memory = "http: out of memory for request",
};

static void clear_request(http_req_parser_t *p)
{
    http_head_reset(&p->head);
    p->method_off = p->target_off = p->path_off = p->query_off = 0;
    p->version_minor = 0;
    p->content_length = -1;
    p->saw_content_length = 0;
    p->saw_transfer_encoding = 0;
    p->saw_host = 0;
    p->method_seen = 0;
    p->method_done = 0;
    p->bad_method = 0;
    memset(&p->req, 0, sizeof p->req);
}

http_req_parser_t *http_req_parser_new(size_t max_bytes)
{
    if (max_bytes == 0 || max_bytes > SIZE_MAX / 2 - 2)
        return NULL;
    http_req_parser_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    /* Room for a NUL-terminated copy of the path besides the head. */
    http_head_init(&p->head, &req_ops, p, max_bytes, max_bytes + 1);
    clear_request(p);
    return p;
}

void http_req_parser_free(http_req_parser_t *p)
{
    if (!p)
        return;
    http_head_release(&p->head);
    free(p);
}

void http_req_parser_reset(http_req_parser_t *p)
{
    clear_request(p);
}

/* "METHOD SP request-target SP HTTP-version", already NUL-terminated. */
static int on_request_line(void *ctx, http_head_t *h, char *line, size_t n, const char **err)
{
    http_req_parser_t *p = ctx;
    char *sp1 = memchr(line, ' ', n);
    if (!sp1)
        return http_head_fail(h, PARSE_ERR_PROTO, "http: bad request line", err);
    char *target = sp1 + 1;
    char *sp2 = memchr(target, ' ', (size_t)(line + n - target));
    if (!sp2)
        return http_head_fail(h, PARSE_ERR_PROTO, "http: bad request line", err);
    if (!http_is_token(line, (size_t)(sp1 - line)))
        return http_head_fail(h, PARSE_ERR_PROTO, "http: bad method", err);
    size_t tlen = (size_t)(sp2 - target);
    if (tlen == 0 || !(target[0] == '/' || (tlen == 1 && target[0] == '*')))
        return http_head_fail(h, PARSE_ERR_PROTO, "http: bad request target", err);
    for (size_t i = 0; i < tlen; i++) {
        unsigned char c = (unsigned char)target[i];
        if (c < 0x21 || c == 0x7f)
            return http_head_fail(h, PARSE_ERR_PROTO, "http: bad request target", err);
    }
    const char *version = sp2 + 1;
    size_t vlen = (size_t)(line + n - version);
    if (vlen != 8 || memcmp(version, "HTTP/1.", 7) != 0 || (version[7] != '0' && version[7] != '1'))
        return http_head_fail(h, PARSE_ERR_PROTO, "http: bad version", err);
    p->version_minor = version[7] - '0';
    *sp1 = '\0';
    *sp2 = '\0';
    p->method_off = (size_t)(line - h->buf);
    p->target_off = (size_t)(target - h->buf);

    /* The path is a NUL-terminated copy of the target up to '?'; the query
     * stays inside the target. */
    char *q = memchr(target, '?', tlen);
    size_t plen = q ? (size_t)(q - target) : tlen;
    p->query_off = q ? (size_t)(q + 1 - h->buf) : (size_t)(sp2 - h->buf);
    if (http_head_store(h, p->target_off, plen, &p->path_off) != 0)
        return http_head_fail(h, PARSE_ERR_TOO_BIG, "http: out of memory for request", err);
    return HTTP_HEAD_NEXT;
}

static int on_field(void *ctx, http_head_t *h, const char *name, const char *value,
                    const char **err)
{
    http_req_parser_t *p = ctx;
    if (strcasecmp(name, "Content-Length") == 0) {
        if (p->saw_content_length)
            return http_head_fail(h, PARSE_ERR_PROTO, "http: duplicate Content-Length", err);
        p->saw_content_length = 1;
        if (http_parse_digits(value, strlen(value), &p->content_length) != 0)
            return http_head_fail(h, PARSE_ERR_PROTO, "http: bad Content-Length", err);
    } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
        /* Only a single "chunked": a second header would apply it twice. */
        if (p->saw_transfer_encoding || strcasecmp(value, "chunked") != 0)
            return http_head_fail(h, PARSE_ERR_PROTO, "http: unsupported Transfer-Encoding", err);
        p->saw_transfer_encoding = 1;
    } else if (strcasecmp(name, "Host") == 0) {
        if (p->saw_host)
            return http_head_fail(h, PARSE_ERR_PROTO, "http: duplicate Host", err);
        p->saw_host = 1;
    }
    if (p->saw_content_length && p->saw_transfer_encoding)
        return http_head_fail(h, PARSE_ERR_PROTO, "http: Content-Length with Transfer-Encoding",
                              err);
    return HTTP_HEAD_NEXT;
}

static int on_end(void *ctx, http_head_t *h)
{
    http_req_parser_t *p = ctx;
    http_req_t *r = &p->req;
    r->method = h->buf + p->method_off;
    r->target = h->buf + p->target_off;
    r->path = h->buf + p->path_off;
    r->query = h->buf + p->query_off;
    r->version_minor = p->version_minor;
    r->nheaders = http_head_headers(h, r->headers);
    r->content_length = p->saw_content_length ? p->content_length : -1;
    r->chunked = p->saw_transfer_encoding;
    r->keep_alive = http_head_keep_alive(h, p->version_minor);
    /* An HTTP/1.0 message with Transfer-Encoding has faulty framing: close
     * after it (RFC 9112 6.1). */
    if (p->version_minor == 0 && p->saw_transfer_encoding)
        r->keep_alive = 0;
    return HTTP_HEAD_END;
}

static int is_tchar(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

parse_rc_t http_req_feed(http_req_parser_t *p, const uint8_t *src, size_t len, size_t *used,
                         const http_req_t **req, const char **err)
{
    size_t bad_at = 0; /* *used on a bad method: the bytes before the bad one */
    for (size_t i = 0; i < len && !p->method_done && !p->bad_method; i++) {
        uint8_t c = src[i];
        if (p->method_seen == 0 && (c == '\r' || c == '\n'))
            continue; /* empty lines before the request line are allowed */
        if (p->method_seen > 0 && (c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
            p->method_done = 1; /* the line parser judges the rest */
        } else if (!is_tchar(c) || ++p->method_seen > HTTP_METHOD_MAX) {
            p->bad_method = 1;
            bad_at = i;
        }
    }
    if (p->bad_method) {
        *used = bad_at;
        *req = NULL;
        *err = "http: bad method";
        return PARSE_ERR_PROTO;
    }
    parse_rc_t rc = http_head_feed(&p->head, src, len, used, err);
    *req = rc == PARSE_OK ? &p->req : NULL;
    return rc;
}

const char *http_req_header(const http_req_t *req, const char *name)
{
    return http_header_find(req->headers, req->nheaders, name);
}

int http_url_decode(const char *src, size_t len, char *dst, size_t dstsz)
{
    size_t o = 0;
    if (dstsz == 0)
        return NODE_EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%') {
            if (len - i < 3)
                goto bad;
            int hi = hex_digit(src[i + 1]);
            int lo = hex_digit(src[i + 2]);
            if (hi < 0 || lo < 0)
                goto bad;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0' || o + 1 >= dstsz)
            goto bad;
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    return 0;
bad:
    dst[0] = '\0';
    return NODE_EINVAL;
}
