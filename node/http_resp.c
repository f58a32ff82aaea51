/* http_resp: bounded incremental HTTP/1.x response-head parser (see
 * http_resp.h).
 *
 * Same shape as http_req.c: bytes are copied into a buffer a line at a
 * time, each line is checked as soon as its LF arrives (a bad status line
 * fails before the headers come), line ends become NUL bytes in place, and
 * parsed strings are kept as offsets, turned into pointers once the head is
 * complete. The buffer grows on demand up to max_bytes plus one NUL.
 *
 * Every byte consumed counts against max_bytes, line terminators and
 * skipped interim (1xx) responses included.
 */
#include "http_resp.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_BUF_INITIAL 1024

typedef enum {
    ST_STATUS_LINE, /* the status line */
    ST_HEADERS,     /* header lines up to the empty line */
    ST_DONE,        /* the final head is complete; resp is valid */
    ST_FAILED       /* an error was returned; the parser is dead */
} stage_t;

/* Internal result of one line: the head continues, or it is complete.
 * Distinct from every parse_rc_t value. */
#define LINE_NEXT 100
#define LINE_END 101

typedef struct {
    size_t name;
    size_t value;
} header_off_t;

struct http_resp_parser {
    size_t max_bytes;
    stage_t stage;
    size_t total; /* head bytes consumed so far, interim responses included */
    char *buf;
    size_t cap;
    size_t len;        /* bytes stored in buf */
    size_t line_start; /* offset of the line being gathered */

    int version_minor;
    int status;
    size_t reason_off;
    header_off_t hdr[HTTP_RESP_MAX_HEADERS];
    size_t nheaders;
    int64_t content_length;
    int saw_content_length;
    int saw_chunked;
    int conn_close;
    int conn_keep_alive;

    http_resp_t resp;
    parse_rc_t fail_rc;
    const char *fail_err;
};

/* Forgets the response being parsed (not the byte count). */
static void clear_response(http_resp_parser_t *p)
{
    p->stage = ST_STATUS_LINE;
    p->len = 0;
    p->line_start = 0;
    p->version_minor = 0;
    p->status = 0;
    p->reason_off = 0;
    p->nheaders = 0;
    p->content_length = -1;
    p->saw_content_length = 0;
    p->saw_chunked = 0;
    p->conn_close = 0;
    p->conn_keep_alive = 0;
    memset(&p->resp, 0, sizeof p->resp);
}

void http_resp_parser_reset(http_resp_parser_t *p)
{
    clear_response(p);
    p->total = 0;
    p->fail_rc = PARSE_OK;
    p->fail_err = NULL;
}

http_resp_parser_t *http_resp_parser_new(size_t max_bytes)
{
    if (max_bytes == 0 || max_bytes > SIZE_MAX / 2)
        return NULL;
    http_resp_parser_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->max_bytes = max_bytes;
    http_resp_parser_reset(p);
    return p;
}

void http_resp_parser_free(http_resp_parser_t *p)
{
    if (!p)
        return;
    free(p->buf);
    free(p);
}

static parse_rc_t fail(http_resp_parser_t *p, parse_rc_t rc, const char *msg, const char **err)
{
    p->stage = ST_FAILED;
    p->fail_rc = rc;
    p->fail_err = msg;
    *err = msg;
    return rc;
}

/* Grows buf to hold at least need bytes (never more than max_bytes + 1). */
static int reserve(http_resp_parser_t *p, size_t need)
{
    if (need <= p->cap)
        return 0;
    size_t limit = p->max_bytes + 1;
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

/* HTAB, SP, VCHAR, obs-text: what a reason phrase or a field value holds. */
static int is_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char u = (unsigned char)s[i];
        if ((u < 0x20 && u != '\t') || u == 0x7f)
            return 0;
    }
    return 1;
}

/* "HTTP/1.x SP 3DIGIT [SP reason]", already NUL-terminated. The space
 * before an empty reason may be missing (as many servers send it). */
static int on_status_line(http_resp_parser_t *p, char *line, size_t n, const char **err)
{
    if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ')
        return fail(p, PARSE_ERR_PROTO, "http: bad status line", err);
    if (line[7] != '0' && line[7] != '1')
        return fail(p, PARSE_ERR_PROTO, "http: bad version", err);
    const char *code = line + 9;
    for (int i = 0; i < 3; i++)
        if (code[i] < '0' || code[i] > '9')
            return fail(p, PARSE_ERR_PROTO, "http: bad status code", err);
    int status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
    if (status < 100 || status > 599)
        return fail(p, PARSE_ERR_PROTO, "http: bad status code", err);
    if (n > 12 && line[12] != ' ')
        return fail(p, PARSE_ERR_PROTO, "http: bad status code", err);
    const char *reason = n > 12 ? line + 13 : line + 12;
    if (!is_text(reason, (size_t)(line + n - reason)))
        return fail(p, PARSE_ERR_PROTO, "http: bad reason phrase", err);
    p->version_minor = line[7] - '0';
    p->status = status;
    p->reason_off = (size_t)(reason - p->buf);
    p->stage = ST_HEADERS;
    return LINE_NEXT;
}

/* Content-Length: a comma-separated list of 1*DIGIT values (fitting
 * int64_t), all equal to one another and to any earlier Content-Length. */
static int on_content_length(http_resp_parser_t *p, const char *v, const char **err)
{
    int any = 0;
    while (*v) {
        while (*v == ',' || is_ows(*v))
            v++;
        if (!*v)
            break;
        int64_t n = 0;
        int digits = 0;
        for (; *v >= '0' && *v <= '9'; v++, digits++) {
            int d = *v - '0';
            if (n > (INT64_MAX - d) / 10)
                return fail(p, PARSE_ERR_PROTO, "http: bad Content-Length", err);
            n = n * 10 + d;
        }
        while (is_ows(*v))
            v++;
        if (!digits || (*v && *v != ','))
            return fail(p, PARSE_ERR_PROTO, "http: bad Content-Length", err);
        if (p->saw_content_length && n != p->content_length)
            return fail(p, PARSE_ERR_PROTO, "http: conflicting Content-Length values", err);
        p->saw_content_length = 1;
        p->content_length = n;
        any = 1;
    }
    if (!any)
        return fail(p, PARSE_ERR_PROTO, "http: bad Content-Length", err);
    return LINE_NEXT;
}

/* Transfer-Encoding: a list of codings, over every such header. Only a
 * single "chunked" is understood: a second one would apply it twice, and
 * any other coding (gzip, ...) is one this client cannot undo. */
static int on_transfer_encoding(http_resp_parser_t *p, const char *v, const char **err)
{
    int any = 0;
    while (*v) {
        while (*v == ',' || is_ows(*v))
            v++;
        if (!*v)
            break;
        const char *s = v;
        while (*v && *v != ',' && !is_ows(*v))
            v++;
        size_t n = (size_t)(v - s);
        while (is_ows(*v))
            v++;
        if (n != 7 || strncasecmp(s, "chunked", 7) != 0 || (*v && *v != ',') || p->saw_chunked)
            return fail(p, PARSE_ERR_PROTO, "http: unsupported Transfer-Encoding", err);
        p->saw_chunked = 1;
        any = 1;
    }
    if (!any)
        return fail(p, PARSE_ERR_PROTO, "http: unsupported Transfer-Encoding", err);
    return LINE_NEXT;
}

/* Connection: a comma-separated list of case-insensitive tokens. */
static void on_connection(http_resp_parser_t *p, const char *v)
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

static int on_special_header(http_resp_parser_t *p, const char *name, const char *value,
                             const char **err)
{
    int rc = LINE_NEXT;
    if (strcasecmp(name, "Content-Length") == 0)
        rc = on_content_length(p, value, err);
    else if (strcasecmp(name, "Transfer-Encoding") == 0)
        rc = on_transfer_encoding(p, value, err);
    else if (strcasecmp(name, "Connection") == 0)
        on_connection(p, value);
    if (rc != LINE_NEXT)
        return rc;
    if (p->saw_content_length && p->saw_chunked)
        return fail(p, PARSE_ERR_PROTO, "http: Content-Length with Transfer-Encoding", err);
    return LINE_NEXT;
}

/* "name: value", already NUL-terminated at the line end. */
static int on_header_line(http_resp_parser_t *p, char *line, size_t n, const char **err)
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
    if (!is_text(v, (size_t)(end - v)))
        return fail(p, PARSE_ERR_PROTO, "http: bad header value", err);
    if (p->nheaders == HTTP_RESP_MAX_HEADERS)
        return fail(p, PARSE_ERR_TOO_BIG, "http: too many headers", err);
    *colon = '\0';
    *end = '\0';
    p->hdr[p->nheaders].name = (size_t)(line - p->buf);
    p->hdr[p->nheaders].value = (size_t)(v - p->buf);
    p->nheaders++;
    return on_special_header(p, line, v, err);
}

static void finish(http_resp_parser_t *p)
{
    http_resp_t *r = &p->resp;
    r->version_minor = p->version_minor;
    r->status = p->status;
    r->reason = p->buf + p->reason_off;
    r->nheaders = p->nheaders;
    for (size_t i = 0; i < p->nheaders; i++) {
        r->headers[i].name = p->buf + p->hdr[i].name;
        r->headers[i].value = p->buf + p->hdr[i].value;
    }
    r->content_length = p->saw_content_length ? p->content_length : -1;
    /* RFC 9112 6.3, for the response to a GET. */
    if (p->status < 200 || p->status == 204 || p->status == 304)
        r->body = HTTP_BODY_NONE;
    else if (p->saw_chunked)
        r->body = HTTP_BODY_CHUNKED;
    else if (p->saw_content_length)
        r->body = HTTP_BODY_LENGTH;
    else
        r->body = HTTP_BODY_CLOSE;
    if (p->version_minor >= 1)
        r->keep_alive = !p->conn_close;
    else
        r->keep_alive = p->conn_keep_alive && !p->conn_close;
    /* Transfer-Encoding in HTTP/1.0 is faulty framing: close after it. */
    if (r->body == HTTP_BODY_CLOSE || (p->version_minor == 0 && p->saw_chunked))
        r->keep_alive = 0;
    p->stage = ST_DONE;
}

/* A complete line (its LF dropped) is buf[line_start, len). */
static int on_line(http_resp_parser_t *p, const char **err)
{
    char *line = p->buf + p->line_start;
    size_t n = p->len - p->line_start;
    if (n > 0 && line[n - 1] == '\r')
        n--;
    line[n] = '\0';
    p->len = p->line_start + n + 1;
    int rc;
    if (p->stage == ST_STATUS_LINE) {
        rc = on_status_line(p, line, n, err);
    } else if (n == 0) {
        if (p->status >= 100 && p->status < 200 && p->status != 101) {
            clear_response(p); /* an interim response: the final one follows */
            return LINE_NEXT;
        }
        finish(p);
        return LINE_END;
    } else {
        rc = on_header_line(p, line, n, err);
    }
    p->line_start = p->len;
    return rc;
}

parse_rc_t http_resp_feed(http_resp_parser_t *p, const uint8_t *src, size_t len, size_t *used,
                          const http_resp_t **resp, const char **err)
{
    size_t off = 0;
    *used = 0;
    *resp = NULL;
    *err = NULL;
    if (p->stage == ST_FAILED) {
        *err = p->fail_err;
        return p->fail_rc;
    }
    if (p->stage == ST_DONE) {
        *resp = &p->resp;
        return PARSE_OK;
    }
    while (off < len) {
        if (p->total == p->max_bytes) {
            *used = off;
            return fail(p, PARSE_ERR_TOO_BIG, "http: response head too large", err);
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
            return fail(p, PARSE_ERR_TOO_BIG, "http: out of memory for the response head", err);
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
            *resp = &p->resp;
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

const char *http_resp_header(const http_resp_t *resp, const char *name)
{
    for (size_t i = 0; i < resp->nheaders; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    return NULL;
}

const char *http_body_name(http_body_t body)
{
    switch (body) {
    case HTTP_BODY_NONE: return "none";
    case HTTP_BODY_LENGTH: return "content-length";
    case HTTP_BODY_CHUNKED: return "chunked";
    case HTTP_BODY_CLOSE: return "close";
    }
    return "?";
}
