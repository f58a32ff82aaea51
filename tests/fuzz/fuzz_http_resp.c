/* Fuzz target for http_resp and http_chunked: parses the input as the
 * bytes a server sends (a response head, then its body), once in one piece
 * and once in pieces whose sizes come from the input, and requires the
 * same response, result and bytes consumed both ways. A parsed response is
 * checked against the parser's invariants. The bytes after a chunked head,
 * and independently the whole input, then go through the chunked decoder
 * in one piece and in pieces: same decoded bytes, same result. A relay
 * link's X-Weir-Source header goes through relay_source_parse(): a parsed
 * identity formats back to the same text. */
#include <stdio.h>

#include "fuzz_http_util.h"
#include "http_chunked.h"
#include "http_resp.h"
#include "relay_hops.h"

#define FUZZ_MAX_BYTES 1024

typedef struct {
    uint64_t hash;
    parse_rc_t rc;
    size_t used;
    int chunked;
    const char *err;
} head_run_t;

/* The source identity of a relay answer (NULL: none). */
static void check_source(const char *v)
{
    char id[RELAY_SOURCE_ID_MAX], back[RELAY_SOURCE_MAX];
    uint32_t off;
    if (relay_source_parse(v, id, &off) != 0) {
        if (id[0] || off)
            abort();
        return;
    }
    if (relay_source_format(back, id, off) != 0)
        abort();
    /* leading zeros of the offset are the only difference allowed */
    char want[RELAY_SOURCE_MAX];
    snprintf(want, sizeof want, "%s:%u", id, (unsigned)off);
    if (strcmp(back, want) != 0 || strncmp(v, id, strlen(id)) != 0)
        abort();
}

static void check_response(const http_resp_t *r, size_t head_len)
{
    if (head_len > FUZZ_MAX_BYTES || r->version_minor < 0 || r->version_minor > 1)
        abort();
    if (r->status < 200 && r->status != 101)
        abort(); /* interim responses are skipped */
    if (r->status > 599)
        abort();
    check_text(r->reason);
    if (r->nheaders > HTTP_RESP_MAX_HEADERS)
        abort();
    int cl = 0, te = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *v = r->headers[i].value;
        /* The lookup finds the first header of a name. */
        check_header(r->headers, i, http_resp_header(r, r->headers[i].name));
        if (strcasecmp(r->headers[i].name, "Content-Length") == 0)
            cl = 1;
        if (strcasecmp(r->headers[i].name, "Transfer-Encoding") == 0) {
            te = 1;
            if (!strcasestr(v, "chunked"))
                abort();
        }
    }
    check_source(http_resp_header(r, RELAY_SOURCE_HEADER));
    if (cl != (r->content_length >= 0) || (cl && te))
        abort();
    int no_body = r->status < 200 || r->status == 204 || r->status == 304;
    switch (r->body) {
    case HTTP_BODY_NONE:
        if (!no_body)
            abort();
        break;
    case HTTP_BODY_LENGTH:
        if (no_body || !cl)
            abort();
        break;
    case HTTP_BODY_CHUNKED:
        if (no_body || !te)
            abort();
        break;
    case HTTP_BODY_CLOSE:
        if (no_body || cl || te || r->keep_alive)
            abort();
        break;
    default: abort();
    }
    if (r->keep_alive != 0 && r->keep_alive != 1)
        abort();
}

/* step 0: pieces sized by the input bytes (1..16); otherwise step bytes. */
static head_run_t run_head(const uint8_t *data, size_t size, size_t step)
{
    head_run_t res = {0, PARSE_NEED_MORE, 0, 0, NULL};
    http_resp_parser_t *p = http_resp_parser_new(FUZZ_MAX_BYTES);
    if (!p)
        abort();
    size_t pos = 0;
    while (pos < size && res.rc == PARSE_NEED_MORE) {
        size_t n;
        uint8_t *piece = fuzz_piece(data, size, pos, step, 16, &n);
        size_t used = 0;
        const http_resp_t *resp = NULL;
        const char *err = NULL;
        res.rc = http_resp_feed(p, piece, n, &used, &resp, &err);
        free(piece);
        if (used > n)
            abort();
        pos += used;
        if (res.rc == PARSE_OK) {
            check_response(resp, pos);
            res.hash = mix_int(res.hash, resp->version_minor);
            res.hash = mix_int(res.hash, resp->status);
            res.hash = mix_str(res.hash, resp->reason);
            res.hash = mix_int(res.hash, resp->body);
            res.hash = mix_int(res.hash, resp->content_length);
            res.hash = mix_int(res.hash, resp->keep_alive);
            res.hash = mix_headers(res.hash, resp->headers, resp->nheaders);
            res.chunked = resp->body == HTTP_BODY_CHUNKED;
            /* Sticky: fed again, the same response and nothing consumed. */
            const http_resp_t *again = NULL;
            if (http_resp_feed(p, data, size, &used, &again, &err) != PARSE_OK || used != 0 ||
                again != resp)
                abort();
        } else if (res.rc == PARSE_NEED_MORE) {
            if (used != n || resp)
                abort();
        } else {
            if (!err || resp)
                abort();
            res.err = err;
            if (res.rc == PARSE_ERR_TOO_BIG && pos > FUZZ_MAX_BYTES)
                abort();
        }
    }
    res.used = pos;
    http_resp_parser_free(p);
    return res;
}

typedef struct {
    uint64_t hash; /* of the decoded bytes */
    size_t out;
    int rc;
    const char *err;
} chunk_run_t;

/* step 0: pieces sized by the input bytes (1..64); otherwise step bytes. */
static chunk_run_t run_chunked(const uint8_t *data, size_t size, size_t step)
{
    chunk_run_t res = {0, 0, 0, NULL};
    http_chunked_t d;
    http_chunked_init(&d);
    size_t pos = 0;
    while (pos < size && res.rc == 0) {
        size_t n;
        uint8_t *piece = fuzz_piece(data, size, pos, step, 64, &n);
        size_t out = (size_t)-1;
        const char *err = NULL;
        res.rc = http_chunked_decode(&d, piece, n, &out, &err);
        if (res.rc < 0) {
            if (!err)
                abort();
            res.err = err;
        } else {
            if (out > n)
                abort();
            for (size_t i = 0; i < out; i++)
                res.hash = mix_int(res.hash, piece[i]);
            res.out += out;
        }
        free(piece);
        pos += n;
    }
    if (res.rc == 1) {
        /* Done stays done and yields nothing. */
        uint8_t more[4] = {'1', '\r', '\n', 'x'};
        size_t out = 1;
        const char *err = NULL;
        if (http_chunked_decode(&d, more, sizeof more, &out, &err) != 1 || out != 0)
            abort();
    }
    if (res.out > size)
        abort();
    return res;
}

static void check_chunked(const uint8_t *data, size_t size)
{
    chunk_run_t whole = run_chunked(data, size, size ? size : 1);
    chunk_run_t pieces = run_chunked(data, size, 0);
    if (whole.rc != pieces.rc)
        abort();
    if (whole.rc >= 0 && (whole.hash != pieces.hash || whole.out != pieces.out))
        abort();
    if (whole.rc < 0 && strcmp(whole.err, pieces.err) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    head_run_t whole = run_head(data, size, size ? size : 1);
    head_run_t pieces = run_head(data, size, 0);
    head_run_t bytes = run_head(data, size, 1);
    if (whole.hash != pieces.hash || whole.rc != pieces.rc || whole.used != pieces.used ||
        whole.hash != bytes.hash || whole.rc != bytes.rc || whole.used != bytes.used)
        abort();
    if (whole.err && (strcmp(whole.err, pieces.err) != 0 || strcmp(whole.err, bytes.err) != 0))
        abort();
    if (whole.rc == PARSE_OK && whole.chunked)
        check_chunked(data + whole.used, size - whole.used);
    check_chunked(data, size);
    return 0;
}
