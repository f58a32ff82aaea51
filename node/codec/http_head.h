/* http_head: what the HTTP/1.x head parsers http_req and http_resp share
 * (pure: no I/O). Internal to those two parsers, which embed http_head_t.
 *
 * A head is a first line, header lines and an empty line. http_head_feed()
 * copies bytes into a buffer a line at a time and hands each complete line
 * on as soon as its LF arrives: the first line to ops->first_line, header
 * lines (after the checks common to requests and responses) to ops->field,
 * the empty line to ops->end. Line ends become NUL bytes in place (CRLF or
 * bare LF; a bare CR is not a line end), so the strings a parser keeps are
 * offsets into buf, turned into pointers once the head is complete.
 *
 * Every byte consumed counts against max_bytes, line terminators included:
 * a head not complete within it gives PARSE_ERR_TOO_BIG (ops->too_large).
 * Header lines are refused (PARSE_ERR_PROTO) for obs-fold, whitespace
 * before the colon, a name that is not a token, control bytes in the value;
 * more than HTTP_HEAD_MAX_HEADERS gives PARSE_ERR_TOO_BIG.
 * Threads: pure, no globals: any thread may call it on its own objects.
 */
#ifndef WEIR_HTTP_HEAD_H
#define WEIR_HTTP_HEAD_H

#include "common.h"

#define HTTP_HEAD_MAX_HEADERS 64

/* Results of the line callbacks besides the PARSE_ERR_* of
 * http_head_fail(); distinct from every parse_rc_t value. */
#define HTTP_HEAD_NEXT 100 /* the head continues */
#define HTTP_HEAD_END 101  /* the head is complete */

typedef struct {
    const char *name;  /* NUL-terminated, inside the parser's buffer */
    const char *value; /* trimmed of surrounding whitespace */
} http_header_t;

typedef struct http_head http_head_t;

typedef struct {
    /* The first line, NUL-terminated at n. HTTP_HEAD_NEXT to go on to the
     * header lines, or the result of http_head_fail(). */
    int (*first_line)(void *ctx, http_head_t *h, char *line, size_t n, const char **err);
    /* A header just stored (name and value NUL-terminated in buf), for
     * the parser's own semantics: HTTP_HEAD_NEXT or http_head_fail(). */
    int (*field)(void *ctx, http_head_t *h, const char *name, const char *value, const char **err);
    /* The empty line after the headers: HTTP_HEAD_END, or HTTP_HEAD_NEXT
     * after http_head_restart() to parse another head in the same bound. */
    int (*end)(void *ctx, http_head_t *h);
    int skip_empty_first;  /* empty lines before the first line are skipped */
    const char *too_large; /* error text when max_bytes is reached */
    const char *no_memory; /* error text when the buffer cannot grow */
} http_head_ops_t;

typedef enum {
    HTTP_HEAD_FIRST_LINE,
    HTTP_HEAD_FIELDS,
    HTTP_HEAD_DONE,  /* complete; further feeds give PARSE_OK */
    HTTP_HEAD_FAILED /* further feeds give the same error */
} http_head_stage_t;

typedef struct {
    size_t name;
    size_t value;
} http_head_field_t;

struct http_head {
    const http_head_ops_t *ops;
    void *ctx;
    size_t max_bytes;
    size_t buf_limit; /* max_bytes + 1 (a NUL) + the caller's extra */
    http_head_stage_t stage;
    size_t total; /* bytes consumed so far, restarted heads included */
    char *buf;
    size_t cap;
    size_t len;        /* bytes stored in buf */
    size_t line_start; /* offset of the line being gathered */
    http_head_field_t hdr[HTTP_HEAD_MAX_HEADERS];
    size_t nheaders;
    int conn_close;      /* Connection: close seen */
    int conn_keep_alive; /* Connection: keep-alive seen */
    parse_rc_t fail_rc;
    const char *fail_err;
};

/* Ready for a head of at most max_bytes; extra: bytes the parser may add
 * to the buffer with http_head_store(). No allocation. */
void http_head_init(http_head_t *h, const http_head_ops_t *ops, void *ctx, size_t max_bytes,
                    size_t extra);
/* Frees the buffer. */
void http_head_release(http_head_t *h);
/* Ready for a new head: byte count, lines, headers and error forgotten. */
void http_head_reset(http_head_t *h);
/* Forgets the lines and headers (not the byte count): the next line is a
 * first line again. */
void http_head_restart(http_head_t *h);

/* Consumes up to len bytes, sets *used. PARSE_OK once ops->end says the
 * head is complete (bytes after the empty line are not consumed),
 * PARSE_NEED_MORE when all len bytes were consumed, PARSE_ERR_* with *err,
 * a static string. After PARSE_OK or an error, further calls return the
 * same result and consume nothing. */
parse_rc_t http_head_feed(http_head_t *h, const uint8_t *src, size_t len, size_t *used,
                          const char **err);

/* Marks the head failed; returns rc (for the callbacks to return). */
int http_head_fail(http_head_t *h, parse_rc_t rc, const char *msg, const char **err);

/* Appends a NUL-terminated copy of buf[from, from + n) to buf and sets
 * *off to its offset. NODE_ENOMEM if it does not fit. */
int http_head_store(http_head_t *h, size_t from, size_t n, size_t *off);

/* Fills out[] with pointers to the stored headers; returns their count. */
size_t http_head_headers(const http_head_t *h, http_header_t *out);

/* Keep-alive per the version and the Connection headers seen. */
int http_head_keep_alive(const http_head_t *h, int version_minor);

/* Case-insensitive lookup among n headers; first match or NULL. */
const char *http_header_find(const http_header_t *headers, size_t n, const char *name);

/* RFC 9110 5.6.2 token: 1*tchar. */
int http_is_token(const char *s, size_t n);
/* HTAB, SP, VCHAR, obs-text: what a reason phrase or a field value holds. */
int http_is_text(const char *s, size_t n);
int http_is_ows(char c);
/* 1*DIGIT fitting int64_t: 0, or -1. */
int http_parse_digits(const char *s, size_t n, int64_t *out);
/* The next element of a comma-separated list at *v (RFC 9110 5.6.1): empty
 * elements and whitespace are skipped, the element is a run of bytes other
 * than ',' and whitespace (length *n), and *v moves past it and the
 * whitespace after it. NULL at the end of the list. */
const char *http_list_next(const char **v, size_t *n);

#endif
