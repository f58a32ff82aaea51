/* Fuzz target for http_req: parses the input as a connection's bytes
 * (requests back to back, the parser reset after each), once in one piece
 * and once in pieces whose sizes come from the input, and requires the same
 * requests and result both ways. Every parsed request is checked against
 * the parser's invariants. */
#include "fuzz_http_util.h"
#include "http_req.h"

#define FUZZ_MAX_BYTES 1024

typedef struct {
    uint64_t hash;
    size_t nreqs;
    parse_rc_t rc;
} run_t;

static void check_request(const http_req_t *r, size_t head_len)
{
    if (head_len > FUZZ_MAX_BYTES || !fuzz_is_token(r->method))
        abort();
    if (r->target[0] != '/' && strcmp(r->target, "*") != 0)
        abort();
    for (const char *c = r->target; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            abort();
    /* path is the target up to '?', query what follows it. */
    size_t plen = strlen(r->path);
    if (strncmp(r->target, r->path, plen) != 0)
        abort();
    if (r->target[plen] == '?') {
        if (strcmp(r->query, r->target + plen + 1) != 0)
            abort();
    } else if (r->target[plen] != '\0' || r->query[0] != '\0') {
        abort();
    }
    if (strchr(r->path, '?'))
        abort();
    if (r->version_minor != 0 && r->version_minor != 1)
        abort();
    if (r->nheaders > HTTP_REQ_MAX_HEADERS)
        abort();
    int cl_headers = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        /* The lookup finds the first header of a name. */
        check_header(r->headers, i, http_req_header(r, r->headers[i].name));
        if (strcasecmp(r->headers[i].name, "Content-Length") == 0)
            cl_headers++;
    }
    if (cl_headers > 1 || (cl_headers == 1) != (r->content_length >= 0))
        abort();
    if (r->chunked && r->content_length >= 0)
        abort();
    if (r->keep_alive != 0 && r->keep_alive != 1)
        abort();
    char decoded[FUZZ_MAX_BYTES + 1];
    if (http_url_decode(r->path, plen, decoded, sizeof decoded) == 0 && strlen(decoded) > plen)
        abort();
}

/* step 0: pieces sized by the input bytes (1..16); otherwise step bytes. */
static run_t run(const uint8_t *data, size_t size, size_t step)
{
    run_t res = {0, 0, PARSE_NEED_MORE};
    http_req_parser_t *p = http_req_parser_new(FUZZ_MAX_BYTES);
    if (!p)
        abort();
    size_t pos = 0, head_len = 0;
    while (pos < size) {
        size_t n;
        uint8_t *piece = fuzz_piece(data, size, pos, step, 16, &n);
        size_t off = 0;
        parse_rc_t rc;
        do {
            size_t used = 0;
            const http_req_t *req = NULL;
            const char *err = NULL;
            rc = http_req_feed(p, piece + off, n - off, &used, &req, &err);
            if (used > n - off)
                abort();
            off += used;
            head_len += used;
            if (rc == PARSE_OK) {
                check_request(req, head_len);
                res.nreqs++;
                res.hash = mix_str(res.hash, req->method);
                res.hash = mix_str(res.hash, req->target);
                res.hash = mix_int(res.hash, req->version_minor);
                res.hash = mix_int(res.hash, req->content_length);
                res.hash = mix_int(res.hash, req->chunked);
                res.hash = mix_int(res.hash, req->keep_alive);
                res.hash = mix_headers(res.hash, req->headers, req->nheaders);
                http_req_parser_reset(p);
                head_len = 0;
            } else if (rc == PARSE_NEED_MORE) {
                if (off != n || req)
                    abort();
            } else if (!err) {
                abort();
            }
        } while (rc == PARSE_OK);
        free(piece);
        pos += off;
        res.rc = rc;
        if (rc != PARSE_NEED_MORE)
            break;
    }
    http_req_parser_free(p);
    return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run_t whole = run(data, size, size ? size : 1);
    run_t pieces = run(data, size, 0);
    if (whole.hash != pieces.hash || whole.nreqs != pieces.nreqs || whole.rc != pieces.rc)
        abort();
    char out[64];
    if (http_url_decode((const char *)data, size, out, sizeof out) == 0 &&
        (strlen(out) > size || strlen(out) >= sizeof out))
        abort();
    return 0;
}
