/* weir-bench, http.c: the HTTP-FLV client role: request, response head,
 * chunked body, FLV tags. Shared types and calls: bench.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bench.h"

/* ---- HTTP-FLV client ---------------------------------------------------- */

int bench_http_begin(bench_t *b, conn_t *c)
{
    char req[BENCH_PATH_MAX + BENCH_HOSTHDR_MAX + 128];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: weir-bench/%s\r\n"
                     "Accept: */*\r\n\r\n",
                     b->url.path, b->url.host_hdr, WEIR_VERSION);
    if (n < 0 || (size_t)n >= sizeof req)
        return bench_conn_fail(b, c, ERR_NOMEM, "request too long");
    c->head = malloc(BENCH_MAX_HEAD + 1);
    uint8_t *dst = c->head ? bench_out_reserve(b, c, (size_t)n) : NULL;
    if (!dst)
        return c->state == ST_CLOSED ? -1 : bench_conn_fail(b, c, ERR_NOMEM, "out of memory");
    memcpy(dst, req, (size_t)n);
    c->out_len += (size_t)n;
    c->head_len = 0;
    c->state = ST_HTTP_HEAD;
    return 0;
}

int bench_flv_input(bench_t *b, conn_t *c, const uint8_t *p, size_t len, int64_t now_us)
{
    for (;;) {
        size_t used = 0;
        flv_tag_t tag;
        const char *err = NULL;
        parse_rc_t rc = flv_reader_feed(c->flv, p, len, &used, &tag, &err);
        p += used;
        len -= used;
        if (rc == PARSE_NEED_MORE)
            return 0;
        if (rc != PARSE_OK)
            return bench_conn_fail(b, c, ERR_PROTOCOL, "%s", err ? err : "flv: bad stream");
        if ((tag.type == FLV_TAG_AUDIO || tag.type == FLV_TAG_VIDEO ||
             tag.type == FLV_TAG_SCRIPT) &&
            bench_player_media(b, c, tag.type, tag.body, tag.len, now_us) != 0)
            return -1;
    }
}

/* One byte of a chunk size line. Returns 0, or -1 (failed). */
static int chunk_line_byte(bench_t *b, conn_t *c, uint8_t ch)
{
    if (++c->ch_line > BENCH_MAX_CHUNK_LINE)
        return bench_conn_fail(b, c, ERR_PROTOCOL, "chunk size line over %d bytes",
                               BENCH_MAX_CHUNK_LINE);
    if (ch == '\n') {
        if (c->ch_line == 1)
            return bench_conn_fail(b, c, ERR_PROTOCOL, "empty chunk size line");
        c->ch_state = c->ch_left ? CH_DATA : CH_END;
        c->ch_line = 0;
        return 0;
    }
    if (c->ch_state == CH_EXT)
        return 0;
    int d = ch >= '0' && ch <= '9'   ? ch - '0'
            : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
            : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                     : -1;
    if (d >= 0) {
        if (c->ch_left > 0x0fffffff)
            return bench_conn_fail(b, c, ERR_PROTOCOL, "chunk size too large");
        c->ch_left = c->ch_left * 16 + (uint32_t)d;
        return 0;
    }
    if (ch == ';' || ch == ' ' || ch == '\t' || ch == '\r') {
        if (c->ch_line == 1)
            return bench_conn_fail(b, c, ERR_PROTOCOL, "bad chunk size line");
        c->ch_state = CH_EXT;
        return 0;
    }
    return bench_conn_fail(b, c, ERR_PROTOCOL, "bad chunk size character 0x%02x", ch);
}

/* Body bytes: dechunked if the response is chunked, then to the FLV reader. */
static int http_body(bench_t *b, conn_t *c, const uint8_t *p, size_t len, int64_t now_us)
{
    if (!c->chunked)
        return bench_flv_input(b, c, p, len, now_us);
    while (len > 0) {
        switch (c->ch_state) {
        case CH_SIZE:
        case CH_EXT:
            if (chunk_line_byte(b, c, *p) != 0)
                return -1;
            p++;
            len--;
            break;
        case CH_DATA: {
            size_t k = len < c->ch_left ? len : c->ch_left;
            if (bench_flv_input(b, c, p, k, now_us) != 0)
                return -1;
            p += k;
            len -= k;
            c->ch_left -= (uint32_t)k;
            if (c->ch_left == 0)
                c->ch_state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
        case CH_DATA_LF:
            if (*p == '\r' && c->ch_state == CH_DATA_CR) {
                c->ch_state = CH_DATA_LF;
            } else if (*p == '\n') {
                c->ch_state = CH_SIZE;
                c->ch_line = 0;
                c->ch_left = 0;
            } else {
                return bench_conn_fail(b, c, ERR_PROTOCOL, "chunk not followed by CRLF");
            }
            p++;
            len--;
            break;
        default: return 0; /* CH_END: the body is over; the close follows */
        }
    }
    return 0;
}

/* Parses a complete response head of hlen bytes (c->head, NUL-terminated). */
static int http_parse_head(bench_t *b, conn_t *c, size_t hlen)
{
    char *h = c->head;
    h[hlen] = '\0';
    if (strncmp(h, "HTTP/1.", 7) != 0 || hlen < 12 || h[8] != ' ')
        return bench_conn_fail(b, c, ERR_PROTOCOL, "bad status line: %.40s", h);
    int status = atoi(h + 9);
    if (status != 200) {
        char *eol = strstr(h, "\r\n");
        if (eol)
            *eol = '\0';
        return bench_conn_fail(b, c, ERR_HTTP_STATUS, "%.80s", h);
    }
    c->chunked = 0;
    for (char *line = strstr(h, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, "transfer-encoding:", 18) == 0) {
            char *eol = strstr(line, "\r\n");
            size_t l = eol ? (size_t)(eol - line) : strlen(line);
            char save = line[l];
            line[l] = '\0';
            if (strcasestr(line + 18, "chunked"))
                c->chunked = 1;
            line[l] = save;
        }
    }
    return 0;
}

int bench_http_input(bench_t *b, conn_t *c, const uint8_t *p, size_t len, int64_t now_us)
{
    if (c->state == ST_LIVE)
        return http_body(b, c, p, len, now_us);
    size_t room = BENCH_MAX_HEAD - c->head_len;
    size_t k = len < room ? len : room;
    size_t from = c->head_len > 3 ? c->head_len - 3 : 0;
    memcpy(c->head + c->head_len, p, k);
    c->head_len += k;
    char *end = memmem(c->head + from, c->head_len - from, "\r\n\r\n", 4);
    if (!end) {
        if (c->head_len == BENCH_MAX_HEAD)
            return bench_conn_fail(b, c, ERR_PROTOCOL, "response head over %d bytes",
                                   BENCH_MAX_HEAD);
        return 0;
    }
    size_t hlen = (size_t)(end - c->head) + 4;
    size_t body_off = k - (c->head_len - hlen); /* bytes of p after the head */
    if (http_parse_head(b, c, hlen - 2) != 0)
        return -1;
    free(c->head);
    c->head = NULL;
    c->flv = flv_reader_new(BENCH_MAX_MSG);
    if (!c->flv)
        return bench_conn_fail(b, c, ERR_NOMEM, "out of memory for the FLV reader");
    c->ch_state = CH_SIZE;
    c->ch_line = 0;
    c->ch_left = 0;
    bench_go_live(b, c, now_us);
    return http_body(b, c, p + body_off, len - body_off, now_us);
}
