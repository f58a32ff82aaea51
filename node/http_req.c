/* http_req: bounded incremental HTTP/1.x request-head parser (see
 * http_req.h).
 *
 * Bytes are copied into a buffer a line at a time; each line is checked as
 * soon as its LF arrives, so a bad request line fails before the headers
 * come. Line ends become NUL bytes in place, and the parsed strings are
 * kept as offsets (the buffer grows on demand, up to twice max_bytes: the
 * head itself plus a NUL-terminated copy of the path) and turned into
 * pointers once the head is complete.
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

#define HTTP_BUF_INITIAL 1024

typedef enum {
    ST_REQUEST_LINE, /* the request line (empty lines before it skipped) */
    ST_HEADERS,      /* header lines up to the empty line */
    ST_DONE,         /* the head is complete; req is valid */
    ST_FAILED        /* an error was returned; the parser is dead */
} stage_t;

/* Internal result of one line: the head continues, or it is complete.
 * Distinct from every parse_rc_t value. */
#define LINE_NEXT 100
#define LINE_END 101

typedef struct {
    size_t name;
    size_t value;
} header_off_t;

struct http_req_parser {
    size_t max_bytes;
    stage_t stage;
    size_t total; /* head bytes consumed so far (bounded by max_bytes) */
    char *buf;
    size_t cap;
    size_t len;        /* bytes stored in buf */
    size_t line_start; /* offset of the line being gathered */

    size_t method_off, target_off, path_off, query_off;
    header_off_t hdr[HTTP_REQ_MAX_HEADERS];
    size_t nheaders;
    int version_minor;
    int64_t content_length;
    int saw_content_length;
    int saw_transfer_encoding;
    int saw_host;
    int conn_close;
    int conn_keep_alive;

    http_req_t req;
    parse_rc_t fail_rc;
    const char *fail_err;
};

static void clear_request(http_req_parser_t *p)
{
    p->stage = ST_REQUEST_LINE;
    p->total = 0;
    p->len = 0;
    p->line_start = 0;
    p->method_off = p->target_off = p->path_off = p->query_off = 0;
    p->nheaders = 0;
    p->version_minor = 0;
    p->content_length = -1;
    p->saw_content_length = 0;
    p->saw_transfer_encoding = 0;
    p->saw_host = 0;
    p->conn_close = 0;
    p->conn_keep_alive = 0;
    memset(&p->req, 0, sizeof p->req);
    p->fail_rc = PARSE_OK;
    p->fail_err = NULL;
}

http_req_parser_t *http_req_parser_new(size_t max_bytes)
{
    if (max_bytes == 0 || max_bytes > SIZE_MAX / 2 - 2)
        return NULL;
    http_req_parser_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->max_bytes = max_bytes;
    clear_request(p);
    return p;
}

void http_req_parser_free(http_req_parser_t *p)
{
    if (!p)
        return;
    free(p->buf);
    free(p);
}

void http_req_parser_reset(http_req_parser_t *p)
{
    clear_request(p);
}

static parse_rc_t fail(http_req_parser_t *p, parse_rc_t rc, const char *msg, const char **err)
{
    p->stage = ST_FAILED;
    p->fail_rc = rc;
    p->fail_err = msg;
    *err = msg;
    return rc;
}

/* Grows buf to hold at least need bytes; need never exceeds
 * 2 * max_bytes + 2 (head plus path copy). */
static int reserve(http_req_parser_t *p, size_t need)
{
    if (need <= p->cap)
        return 0;
    size_t limit = 2 * p->max_bytes + 2;
    if (need > limit)
        return -1;
    size_t cap = p->cap ? p->cap : HTTP_BUF_INITIAL;
    while (cap < need)
        cap *= 2;
    if (cap > limit)
        cap = limit;
    char *nb = realloc(p->buf, cap);
    if (!nb)
        return -1;
    p->buf = nb;
    p->cap = cap;
    return 0;
}

/* RFC 9110 5.6.2 tchar. */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_token(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* "METHOD SP request-target SP HTTP-version", already NUL-terminated. */
static int on_request_line(http_req_parser_t *p, char *line, size_t n, const char **err)
{
    char *sp1 = memchr(line, ' ', n);
    if (!sp1)
        return fail(p, PARSE_ERR_PROTO, "http: bad request line", err);
    char *target = sp1 + 1;
    char *sp2 = memchr(target, ' ', (size_t)(line + n - target));
    if (!sp2)
        return fail(p, PARSE_ERR_PROTO, "http: bad request line", err);
    if (!is_token(line, (size_t)(sp1 - line)))
        return fail(p, PARSE_ERR_PROTO, "http: bad method", err);
    size_t tlen = (size_t)(sp2 - target);
    if (tlen == 0 || !(target[0] == '/' || (tlen == 1 && target[0] == '*')))
        return fail(p, PARSE_ERR_PROTO, "http: bad request target", err);
    for (size_t i = 0; i < tlen; i++) {
        unsigned char c = (unsigned char)target[i];
        if (c < 0x21 || c == 0x7f)
            return fail(p, PARSE_ERR_PROTO, "http: bad request target", err);
    }
    const char *version = sp2 + 1;
    size_t vlen = (size_t)(line + n - version);
    if (vlen != 8 || memcmp(version, "HTTP/1.", 7) != 0 || (version[7] != '0' && version[7] != '1'))
        return fail(p, PARSE_ERR_PROTO, "http: bad version", err);
    p->version_minor = version[7] - '0';
    *sp1 = '\0';
    *sp2 = '\0';
    p->method_off = 0;
    p->target_off = (size_t)(target - p->buf);

    /* The path is a NUL-terminated copy of the target up to '?'; the query
     * stays inside the target. */
    char *q = memchr(target, '?', tlen);
    size_t plen = q ? (size_t)(q - target) : tlen;
    size_t query_off = q ? (size_t)(q + 1 - p->buf) : (size_t)(sp2 - p->buf);
    if (reserve(p, p->len + plen + 1) != 0)
        return fail(p, PARSE_ERR_TOO_BIG, "http: out of memory for request", err);
    p->path_off = p->len;
    memcpy(p->buf + p->path_off, p->buf + p->target_off, plen);
    p->buf[p->path_off + plen] = '\0';
    p->len += plen + 1;
    p->query_off = query_off;
    p->stage = ST_HEADERS;
    return LINE_NEXT;
}

/* Content-Length: 1*DIGIT, fitting int64_t. */
static int parse_content_length(const char *v, int64_t *out)
{
    int64_t n = 0;
    if (*v == '\0')
        return -1;
    for (; *v; v++) {
        if (*v < '0' || *v > '9')
            return -1;
        int d = *v - '0';
        if (n > (INT64_MAX - d) / 10)
            return -1;
        n = n * 10 + d;
    }
    *out = n;
    return 0;
}

/* Connection: a comma-separated list of case-insensitive tokens. */
static void parse_connection(http_req_parser_t *p, const char *v)
{
    while (*v) {
        while (*v == ',' || is_ows(*v))
            v++;
        const char *s = v;
        while (*v && *v != ',' && !is_ows(*v))
            v++;
        size_t n = (size_t)(v - s);
        if (n == 5 && strncasecmp(s, "close", 5) == 0)
            p->conn_close = 1;
        else if (n == 10 && strncasecmp(s, "keep-alive", 10) == 0)
            p->conn_keep_alive = 1;
    }
}

static int on_special_header(http_req_parser_t *p, const char *name, const char *value,
                             const char **err)
{
    if (strcasecmp(name, "Content-Length") == 0) {
        if (p->saw_content_length)
            return fail(p, PARSE_ERR_PROTO, "http: duplicate Content-Length", err);
        p->saw_content_length = 1;
        if (parse_content_length(value, &p->content_length) != 0)
            return fail(p, PARSE_ERR_PROTO, "http: bad Content-Length", err);
    } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
        /* Only a single "chunked": a second header would apply it twice. */
        if (p->saw_transfer_encoding || strcasecmp(value, "chunked") != 0)
            return fail(p, PARSE_ERR_PROTO, "http: unsupported Transfer-Encoding", err);
        p->saw_transfer_encoding = 1;
    } else if (strcasecmp(name, "Host") == 0) {
        if (p->saw_host)
            return fail(p, PARSE_ERR_PROTO, "http: duplicate Host", err);
        p->saw_host = 1;
    } else if (strcasecmp(name, "Connection") == 0) {
        parse_connection(p, value);
    }
    if (p->saw_content_length && p->saw_transfer_encoding)
        return fail(p, PARSE_ERR_PROTO, "http: Content-Length with Transfer-Encoding", err);
    return LINE_NEXT;
}

/* "name: value", already NUL-terminated at the line end. */
static int on_header_line(http_req_parser_t *p, char *line, size_t n, const char **err)
{
    if (is_ows(line[0]))
        return fail(p, PARSE_ERR_PROTO, "http: obsolete line folding", err);
    char *colon = memchr(line, ':', n);
    if (!colon)
        return fail(p, PARSE_ERR_PROTO, "http: bad header line", err);
    if (!is_token(line, (size_t)(colon - line)))
        return fail(p, PARSE_ERR_PROTO, "http: bad header name", err);
    char *v = colon + 1;
    char *end = line + n;
    while (v < end && is_ows(*v))
        v++;
    while (end > v && is_ows(end[-1]))
        end--;
    for (const char *c = v; c < end; c++) {
        unsigned char u = (unsigned char)*c;
        if ((u < 0x20 && u != '\t') || u == 0x7f)
            return fail(p, PARSE_ERR_PROTO, "http: bad header value", err);
    }
    if (p->nheaders == HTTP_REQ_MAX_HEADERS)
        return fail(p, PARSE_ERR_TOO_BIG, "http: too many headers", err);
    *colon = '\0';
    *end = '\0';
    p->hdr[p->nheaders].name = (size_t)(line - p->buf);
    p->hdr[p->nheaders].value = (size_t)(v - p->buf);
    p->nheaders++;
    return on_special_header(p, line, v, err);
}

static void finish(http_req_parser_t *p)
{
    http_req_t *r = &p->req;
    r->method = p->buf + p->method_off;
    r->target = p->buf + p->target_off;
    r->path = p->buf + p->path_off;
    r->query = p->buf + p->query_off;
    r->version_minor = p->version_minor;
    r->nheaders = p->nheaders;
    for (size_t i = 0; i < p->nheaders; i++) {
        r->headers[i].name = p->buf + p->hdr[i].name;
        r->headers[i].value = p->buf + p->hdr[i].value;
    }
    r->content_length = p->saw_content_length ? p->content_length : -1;
    r->chunked = p->saw_transfer_encoding;
    if (p->version_minor >= 1)
        r->keep_alive = !p->conn_close;
    else
        r->keep_alive = p->conn_keep_alive && !p->conn_close;
    /* An HTTP/1.0 message with Transfer-Encoding has faulty framing: close
     * after it (RFC 9112 6.1). */
    if (p->version_minor == 0 && p->saw_transfer_encoding)
        r->keep_alive = 0;
    p->stage = ST_DONE;
}

/* A complete line (its LF dropped) is buf[line_start, len). */
static int on_line(http_req_parser_t *p, const char **err)
{
    char *line = p->buf + p->line_start;
    size_t n = p->len - p->line_start;
    if (n > 0 && line[n - 1] == '\r')
        n--;
    line[n] = '\0';
    p->len = p->line_start + n + 1;
    int rc;
    if (p->stage == ST_REQUEST_LINE) {
        if (n == 0) {
            p->len = p->line_start; /* an empty line before the request */
            return LINE_NEXT;
        }
        rc = on_request_line(p, line, n, err);
    } else if (n == 0) {
        finish(p);
        return LINE_END;
    } else {
        rc = on_header_line(p, line, n, err);
    }
    p->line_start = p->len;
    return rc;
}

parse_rc_t http_req_feed(http_req_parser_t *p, const uint8_t *src, size_t len, size_t *used,
                         const http_req_t **req, const char **err)
{
    size_t off = 0;
    *used = 0;
    *req = NULL;
    *err = NULL;
    if (p->stage == ST_FAILED) {
        *err = p->fail_err;
        return p->fail_rc;
    }
    if (p->stage == ST_DONE) {
        *req = &p->req;
        return PARSE_OK;
    }
    while (off < len) {
        if (p->total == p->max_bytes) {
            *used = off;
            return fail(p, PARSE_ERR_TOO_BIG, "http: request head too large", err);
        }
        size_t avail = len - off;
        if (avail > p->max_bytes - p->total)
            avail = p->max_bytes - p->total;
        const uint8_t *lf = memchr(src + off, '\n', avail);
        size_t n = lf ? (size_t)(lf - (src + off)) + 1 : avail;
        /* The LF itself is not stored; on_line() writes a NUL in its place. */
        size_t keep = lf ? n - 1 : n;
        if (reserve(p, p->len + keep + 1) != 0) {
            *used = off;
            return fail(p, PARSE_ERR_TOO_BIG, "http: out of memory for request", err);
        }
        memcpy(p->buf + p->len, src + off, keep);
        p->len += keep;
        p->total += n;
        off += n;
        if (!lf)
            continue;
        int rc = on_line(p, err);
        if (rc == LINE_END) {
            *used = off;
            *req = &p->req;
            return PARSE_OK;
        }
        if (rc != LINE_NEXT) {
            *used = off;
            return (parse_rc_t)rc;
        }
    }
    *used = off;
    return PARSE_NEED_MORE;
}

const char *http_req_header(const http_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
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
            int hi = hex_value(src[i + 1]);
            int lo = hex_value(src[i + 2]);
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
