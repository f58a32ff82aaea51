/* http_resp: bounded incremental HTTP/1.x response-head parser (see
 * http_resp.h).
 *
 * The lines and the header fields go through http_head.c, as for http_req:
 * each line is checked as soon as its LF arrives (a bad status line fails
 * before the headers come). This file parses the status line and the
 * framing headers, and skips interim responses.
 *
 * Every byte consumed counts against max_bytes, line terminators and
 * skipped interim (1xx) responses included.
 */
#include "http_resp.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct http_resp_parser {
    http_head_t head; /* the lines and header fields (http_head.c) */
    int version_minor;
    int status;
    size_t reason_off;
    int64_t content_length;
    int saw_content_length;
    int saw_chunked;
    http_resp_t resp;
};

static int on_status_line(void *ctx, http_head_t *h, char *line, size_t n, const char **err);
static int on_field(void *ctx, http_head_t *h, const char *name, const char *value,
                    const char **err);
static int on_end(void *ctx, http_head_t *h);

static const http_head_ops_t resp_ops = {
    .first_line = on_status_line,
    .field = on_field,
    .end = on_end,
    .skip_empty_first = 0,
    .too_large = "http: response head too large",
    .no_memory = "http: out of memory for the response head",
};

/* Forgets the response being parsed (not the head's byte count). */
static void clear_response(http_resp_parser_t *p)
{
    p->version_minor = 0;
    p->status = 0;
    p->reason_off = 0;
    p->content_length = -1;
    p->saw_content_length = 0;
    p->saw_chunked = 0;
    memset(&p->resp, 0, sizeof p->resp);
}

void http_resp_parser_reset(http_resp_parser_t *p)
{
    http_head_reset(&p->head);
    clear_response(p);
}

http_resp_parser_t *http_resp_parser_new(size_t max_bytes)
{
    if (max_bytes == 0 || max_bytes > SIZE_MAX / 2)
        return NULL;
    http_resp_parser_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    http_head_init(&p->head, &resp_ops, p, max_bytes, 0);
    clear_response(p);
    return p;
}

void http_resp_parser_free(http_resp_parser_t *p)
{
    if (!p)
        return;
    http_head_release(&p->head);
    free(p);
}

/* "HTTP/1.x SP 3DIGIT [SP reason]", already NUL-terminated. The space
 * before an empty reason may be missing (as many servers send it). */
static int on_status_line(void *ctx, http_head_t *h, char *line, size_t n, const char **err)
{
    http_resp_parser_t *p = ctx;
    if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ')
        return http_head_fail(h, PARSE_ERR_PROTO, "http: bad status line", err);
    if (line[7] != '0' && line[7] != '1')
        return http_head_fail(h, PARSE_ERR_PROTO, "http: bad version", err);
    const char *code = line + 9;
    int64_t status;
    if (http_parse_digits(code, 3, &status) != 0 || status < 100 || status > 599)
        return http_head_fail(h, PARSE_ERR_PROTO, "http: bad status code", err);
    if (n > 12 && line[12] != ' ')
        return http_head_fail(h, PARSE_ERR_PROTO, "http: bad status code", err);
    const char *reason = n > 12 ? line + 13 : line + 12;
    if (!http_is_text(reason, (size_t)(line + n - reason)))
        return http_head_fail(h, PARSE_ERR_PROTO, "http: bad reason phrase", err);
    p->version_minor = line[7] - '0';
    p->status = (int)status;
    p->reason_off = (size_t)(reason - h->buf);
    return HTTP_HEAD_NEXT;
}

/* Content-Length: a comma-separated list of 1*DIGIT values (fitting
 * int64_t), all equal to one another and to any earlier Content-Length. */
static int on_content_length(http_resp_parser_t *p, const char *v, const char **err)
{
    const char *s;
    size_t n;
    int any = 0;
    while ((s = http_list_next(&v, &n)) != NULL) {
        int64_t cl;
        if ((*v && *v != ',') || http_parse_digits(s, n, &cl) != 0)
            return http_head_fail(&p->head, PARSE_ERR_PROTO, "http: bad Content-Length", err);
        if (p->saw_content_length && cl != p->content_length)
            return http_head_fail(&p->head, PARSE_ERR_PROTO,
                                  "http: conflicting Content-Length values", err);
        p->saw_content_length = 1;
        p->content_length = cl;
        any = 1;
    }
    if (!any)
        return http_head_fail(&p->head, PARSE_ERR_PROTO, "http: bad Content-Length", err);
    return HTTP_HEAD_NEXT;
}

/* Transfer-Encoding: a list of codings, over every such header. Only a
 * single "chunked" is understood: a second one would apply it twice, and
 * any other coding (gzip, ...) is one this client cannot undo. */
static int on_transfer_encoding(http_resp_parser_t *p, const char *v, const char **err)
{
    const char *s;
    size_t n;
    int any = 0;
    while ((s = http_list_next(&v, &n)) != NULL) {
        if (n != 7 || strncasecmp(s, "chunked", 7) != 0 || (*v && *v != ',') || p->saw_chunked)
            return http_head_fail(&p->head, PARSE_ERR_PROTO, "http: unsupported Transfer-Encoding",
                                  err);
        p->saw_chunked = 1;
        any = 1;
    }
    if (!any)
        return http_head_fail(&p->head, PARSE_ERR_PROTO, "http: unsupported Transfer-Encoding",
                              err);
    return HTTP_HEAD_NEXT;
}

static int on_field(void *ctx, http_head_t *h, const char *name, const char *value,
                    const char **err)
{
    http_resp_parser_t *p = ctx;
    int rc = HTTP_HEAD_NEXT;
    if (strcasecmp(name, "Content-Length") == 0)
        rc = on_content_length(p, value, err);
    else if (strcasecmp(name, "Transfer-Encoding") == 0)
        rc = on_transfer_encoding(p, value, err);
    if (rc != HTTP_HEAD_NEXT)
        return rc;
    if (p->saw_content_length && p->saw_chunked)
        return http_head_fail(h, PARSE_ERR_PROTO, "http: Content-Length with Transfer-Encoding",
                              err);
    return HTTP_HEAD_NEXT;
}

/* The empty line: an interim response is dropped (the final one follows,
 * within the same bound); the final one is complete. */
static int on_end(void *ctx, http_head_t *h)
{
    http_resp_parser_t *p = ctx;
    if (p->status >= 100 && p->status < 200 && p->status != 101) {
        http_head_restart(h);
        clear_response(p);
        return HTTP_HEAD_NEXT;
    }
    http_resp_t *r = &p->resp;
    r->version_minor = p->version_minor;
    r->status = p->status;
    r->reason = h->buf + p->reason_off;
    r->nheaders = http_head_headers(h, r->headers);
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
    r->keep_alive = http_head_keep_alive(h, p->version_minor);
    /* Transfer-Encoding in HTTP/1.0 is faulty framing: close after it. */
    if (r->body == HTTP_BODY_CLOSE || (p->version_minor == 0 && p->saw_chunked))
        r->keep_alive = 0;
    return HTTP_HEAD_END;
}

parse_rc_t http_resp_feed(http_resp_parser_t *p, const uint8_t *src, size_t len, size_t *used,
                          const http_resp_t **resp, const char **err)
{
    parse_rc_t rc = http_head_feed(&p->head, src, len, used, err);
    *resp = rc == PARSE_OK ? &p->resp : NULL;
    return rc;
}

const char *http_resp_header(const http_resp_t *resp, const char *name)
{
    return http_header_find(resp->headers, resp->nheaders, name);
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
