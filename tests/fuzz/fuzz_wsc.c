/* Fuzz target for wsc (tools/common/wsc.c), the tools' WebSocket client:
 * after two bytes that pick the message bound and a piece size, the input
 * is what a server sends: a response head (read by http_resp, then checked
 * by wsc_response_check() against a fixed key) and, after it (or from the
 * start when no head parses), frames. The frames are read twice, whole and
 * in pieces; both runs must see the same bytes, message ends and control
 * frames, and the same result. Every
 * event must keep the parser's promises: data inside the bytes fed and no
 * message over the bound, control frames at most 125 bytes, a close code
 * valid, an error's close code 1002 or 1009, nothing consumed after an
 * error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_resp.h"
#include "wsc.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

typedef struct {
    uint64_t hash;
    size_t nevents;
    parse_rc_t rc;
    uint16_t code;
    uint64_t msg; /* bytes of the data message in progress */
} run_t;

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

static void check_event(const wsc_event_t *ev, const uint8_t *src, size_t len, uint64_t max,
                        run_t *r)
{
    if (ev->kind == WSC_EV_DATA) {
        if (ev->opcode != WS_OP_BINARY && ev->opcode != WS_OP_TEXT)
            abort();
        if (ev->len && (ev->data < src || ev->data + ev->len > src + len))
            abort();
        r->msg += ev->len;
        if (r->msg > max)
            abort();
        for (size_t i = 0; i < ev->len; i++)
            r->hash = mix(r->hash, ev->data[i]);
        if (!ev->end)
            return; /* pieces differ with the split; bytes and message ends do not */
        r->msg = 0;
    } else {
        if (!(ev->opcode & 0x8) || ev->len > WS_CONTROL_MAX)
            abort();
        if (ev->close_code && (ev->opcode != WS_OP_CLOSE || !ws_close_code_valid(ev->close_code)))
            abort();
        for (size_t i = 0; i < ev->len; i++)
            r->hash = mix(r->hash, ev->data[i]);
    }
    r->hash = mix(r->hash, ((uint64_t)ev->kind << 40) | ((uint64_t)ev->opcode << 32) |
                               ((uint64_t)ev->end << 24) | ev->close_code);
    r->nevents++;
}

static run_t run(const uint8_t *data, size_t size, size_t piece, uint64_t max)
{
    wsc_parser_t p;
    run_t r = {0, 0, PARSE_NEED_MORE, 0, 0};
    wsc_parser_init(&p, max);
    for (size_t pos = 0; pos < size;) {
        size_t k = size - pos < piece ? size - pos : piece;
        size_t off = 0;
        while (off < k) {
            size_t used = 7;
            wsc_event_t ev;
            const char *err = NULL;
            r.rc = wsc_parser_feed(&p, data + pos + off, k - off, &used, &ev, &err);
            if (r.rc < 0) {
                r.code = wsc_parser_close_code(&p);
                if (used != 0 || !err || (r.code != 1002 && r.code != 1009))
                    abort();
                return r;
            }
            if (used > k - off || (r.rc == PARSE_NEED_MORE && used != k - off))
                abort();
            if (r.rc == PARSE_OK)
                check_event(&ev, data + pos + off, k - off, max, &r);
            off += used;
        }
        pos += k;
    }
    return r;
}

/* The response head at the start of data: checked; returns its length (0
 * when no head parses). */
static size_t head(const uint8_t *data, size_t size)
{
    http_resp_parser_t *hp = http_resp_parser_new(4096);
    if (!hp)
        return 0;
    size_t used = 0;
    const http_resp_t *resp = NULL;
    const char *err = NULL;
    if (http_resp_feed(hp, data, size, &used, &resp, &err) != PARSE_OK) {
        http_resp_parser_free(hp);
        return 0;
    }
    err = NULL;
    int rc = wsc_response_check(resp, KEY, &err);
    if ((rc == 0 || rc == WSC_REFUSED) != (err == NULL) || (rc == 0 && resp->status != 101) ||
        (rc == WSC_REFUSED && resp->status == 101) ||
        (rc && rc != WSC_REFUSED && rc != NODE_EPROTO))
        abort();
    http_resp_parser_free(hp);
    return used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint64_t max = (uint64_t)data[0] * 257 + 1;
    size_t piece = (size_t)data[1] % 17 + 1;
    data += 2;
    size -= 2;
    size_t h = head(data, size);
    run_t whole = run(data + h, size - h, size, max);
    run_t split = run(data + h, size - h, piece, max);
    if (whole.hash != split.hash || whole.nevents != split.nevents || whole.rc != split.rc ||
        whole.code != split.code)
        abort();
    return 0;
}
