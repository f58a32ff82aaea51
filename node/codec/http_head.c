/* http_head: the line machinery and header-field rules shared by the
 * HTTP/1.x head parsers (see http_head.h).
 *
 * The buffer grows on demand up to buf_limit: the head itself, a NUL for
 * its last line, and whatever extra the parser stores (http_req keeps a
 * copy of the path there).
 */
#include "http_head.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_BUF_INITIAL 1024

void http_head_init(http_head_t *h, const http_head_ops_t *ops, void *ctx, size_t max_bytes,
                    size_t extra)
{
    memset(h, 0, sizeof *h);
    h->ops = ops;
    h->ctx = ctx;
    h->max_bytes = max_bytes;
    h->buf_limit = max_bytes + 1 + extra;
    http_head_reset(h);
}

void http_head_release(http_head_t *h)
{
    free(h->buf);
    h->buf = NULL;
    h->cap = 0;
}

void http_head_restart(http_head_t *h)
{
    h->stage = HTTP_HEAD_FIRST_LINE;
    h->len = 0;
    h->line_start = 0;
    h->nheaders = 0;
    h->conn_close = 0;
    h->conn_keep_alive = 0;
}

void http_head_reset(http_head_t *h)
{
    http_head_restart(h);
    h->total = 0;
    h->fail_rc = PARSE_OK;
    h->fail_err = NULL;
}

int http_head_fail(http_head_t *h, parse_rc_t rc, const char *msg, const char **err)
{
    h->stage = HTTP_HEAD_FAILED;
    h->fail_rc = rc;
    h->fail_err = msg;
    *err = msg;
    return rc;
}

/* Grows buf to hold at least need bytes (never more than buf_limit). */
static int reserve(http_head_t *h, size_t need)
{
    if (need <= h->cap)
        return 0;
    if (need > h->buf_limit)
        return -1;
    size_t cap = h->cap ? h->cap : HTTP_BUF_INITIAL;
    while (cap < need)
        cap *= 2;
    if (cap > h->buf_limit)
        cap = h->buf_limit;
    char *nb = realloc(h->buf, cap);
    if (!nb)
        return -1;
    h->buf = nb;
    h->cap = cap;
    return 0;
}

int http_head_store(http_head_t *h, size_t from, size_t n, size_t *off)
{
    if (reserve(h, h->len + n + 1) != 0)
        return NODE_ENOMEM;
    *off = h->len;
    memcpy(h->buf + h->len, h->buf + from, n);
    h->buf[h->len + n] = '\0';
    h->len += n + 1;
    return 0;
}

static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int http_is_token(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

int http_is_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char u = (unsigned char)s[i];
        if ((u < 0x20 && u != '\t') || u == 0x7f)
            return 0;
    }
    return 1;
}

int http_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int http_parse_digits(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

const char *http_list_next(const char **v, size_t *n)
{
    const char *s = *v;
    while (*s == ',' || http_is_ows(*s))
        s++;
    if (!*s) {
        *v = s;
        return NULL;
    }
    const char *e = s;
    while (*e && *e != ',' && !http_is_ows(*e))
        e++;
    *n = (size_t)(e - s);
    while (http_is_ows(*e))
        e++;
    *v = e;
    return s;
}

/* Connection: a comma-separated list of case-insensitive tokens. */
static void on_connection(http_head_t *h, const char *v)
{
    const char *s;
    size_t n;
    while ((s = http_list_next(&v, &n)) != NULL) {
        if (n == 5 && strncasecmp(s, "close", 5) == 0)
            h->conn_close = 1;
        else if (n == 10 && strncasecmp(s, "keep-alive", 10) == 0)
            h->conn_keep_alive = 1;
    }
}

/* "name: value", already NUL-terminated at the line end. */
static int on_header_line(http_head_t *h, char *line, size_t n, const char **err)
{
    if (http_is_ows(line[0]))
        return http_head_fail(h, PARSE_ERR_PROTO, "http: obsolete line folding", err);
    char *colon = memchr(line, ':', n);
    if (!colon)
        return http_head_fail(h, PARSE_ERR_PROTO, "http: bad header line", err);
    if (!http_is_token(line, (size_t)(colon - line)))
        return http_head_fail(h, PARSE_ERR_PROTO, "http: bad header name", err);
    char *v = colon + 1;
    char *end = line + n;
    while (v < end && http_is_ows(*v))
        v++;
    while (end > v && http_is_ows(end[-1]))
        end--;
    if (!http_is_text(v, (size_t)(end - v)))
        return http_head_fail(h, PARSE_ERR_PROTO, "http: bad header value", err);
    if (h->nheaders == HTTP_HEAD_MAX_HEADERS)
        return http_head_fail(h, PARSE_ERR_TOO_BIG, "http: too many headers", err);
    *colon = '\0';
    *end = '\0';
    h->hdr[h->nheaders].name = (size_t)(line - h->buf);
    h->hdr[h->nheaders].value = (size_t)(v - h->buf);
    h->nheaders++;
    if (strcasecmp(line, "Connection") == 0)
        on_connection(h, v);
    return h->ops->field(h->ctx, h, line, v, err);
}

/* A complete line (its LF dropped) is buf[line_start, len). */
static int on_line(http_head_t *h, const char **err)
{
    char *line = h->buf + h->line_start;
    size_t n = h->len - h->line_start;
    if (n > 0 && line[n - 1] == '\r')
        n--;
    line[n] = '\0';
    h->len = h->line_start + n + 1;
    int rc;
    if (h->stage == HTTP_HEAD_FIRST_LINE) {
        if (n == 0 && h->ops->skip_empty_first) {
            h->len = h->line_start;
            return HTTP_HEAD_NEXT;
        }
        rc = h->ops->first_line(h->ctx, h, line, n, err);
        if (rc == HTTP_HEAD_NEXT)
            h->stage = HTTP_HEAD_FIELDS;
    } else if (n == 0) {
        rc = h->ops->end(h->ctx, h);
        if (rc == HTTP_HEAD_END)
            h->stage = HTTP_HEAD_DONE;
    } else {
        rc = on_header_line(h, line, n, err);
    }
    h->line_start = h->len;
    return rc;
}

parse_rc_t http_head_feed(http_head_t *h, const uint8_t *src, size_t len, size_t *used,
                          const char **err)
{
    size_t off = 0;
    *used = 0;
    *err = NULL;
    if (h->stage == HTTP_HEAD_FAILED) {
        *err = h->fail_err;
        return h->fail_rc;
    }
    if (h->stage == HTTP_HEAD_DONE)
        return PARSE_OK;
    while (off < len) {
        if (h->total == h->max_bytes) {
            *used = off;
            return http_head_fail(h, PARSE_ERR_TOO_BIG, h->ops->too_large, err);
        }
        size_t avail = len - off;
        if (avail > h->max_bytes - h->total)
            avail = h->max_bytes - h->total;
        const uint8_t *lf = memchr(src + off, '\n', avail);
        size_t n = lf ? (size_t)(lf - (src + off)) + 1 : avail;
        /* The LF itself is not stored; on_line() writes a NUL in its place. */
        size_t keep = lf ? n - 1 : n;
        if (reserve(h, h->len + keep + 1) != 0) {
            *used = off;
            return http_head_fail(h, PARSE_ERR_TOO_BIG, h->ops->no_memory, err);
        }
        memcpy(h->buf + h->len, src + off, keep);
        h->len += keep;
        h->total += n;
        off += n;
        if (!lf)
            continue;
        int rc = on_line(h, err);
        if (rc == HTTP_HEAD_END) {
            *used = off;
            return PARSE_OK;
        }
        if (rc != HTTP_HEAD_NEXT) {
            *used = off;
            return (parse_rc_t)rc;
        }
    }
    *used = off;
    return PARSE_NEED_MORE;
}

size_t http_head_headers(const http_head_t *h, http_header_t *out)
{
    for (size_t i = 0; i < h->nheaders; i++) {
        out[i].name = h->buf + h->hdr[i].name;
        out[i].value = h->buf + h->hdr[i].value;
    }
    return h->nheaders;
}

int http_head_keep_alive(const http_head_t *h, int version_minor)
{
    if (version_minor >= 1)
        return !h->conn_close;
    return h->conn_keep_alive && !h->conn_close;
}

const char *http_header_find(const http_header_t *headers, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(headers[i].name, name) == 0)
            return headers[i].value;
    return NULL;
}
