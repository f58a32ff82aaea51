/* Fuzz target for ws's client frame parser: the input (after two bytes
 * that pick the data bound and a piece size) is read as client frames
 * twice, whole and in pieces, and both runs must see the same frames and
 * the same result. Every frame must keep the parser's promises: control
 * frames final and at most 125 bytes, a close code valid, an error's close
 * code 1002 or 1009, nothing consumed after an error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

typedef struct {
    uint64_t hash;
    size_t nframes;
    parse_rc_t rc;
    uint16_t code;
} run_t;

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

static void check_frame(const ws_frame_t *f, run_t *r)
{
    if (f->opcode & 0x8) {
        if (!f->fin || f->len > WS_CONTROL_MAX || !f->payload)
            abort();
        for (uint64_t i = 0; i < f->len; i++)
            r->hash = mix(r->hash, f->payload[i]);
    } else if (f->payload) {
        abort();
    }
    if (f->close_code && (f->opcode != WS_OP_CLOSE || !ws_close_code_valid(f->close_code)))
        abort();
    r->hash = mix(r->hash, ((uint64_t)f->opcode << 56) | ((uint64_t)f->fin << 48) | f->len);
    r->nframes++;
}

static run_t run(const uint8_t *data, size_t size, size_t piece, uint64_t max)
{
    ws_parser_t p;
    run_t r = {0, 0, PARSE_NEED_MORE, 0};
    ws_parser_init(&p, max);
    size_t pos = 0;
    while (pos < size) {
        size_t k = size - pos < piece ? size - pos : piece;
        size_t off = 0;
        while (off < k) {
            size_t used = 7;
            ws_frame_t f;
            const char *err = NULL;
            r.rc = ws_parser_feed(&p, data + pos + off, k - off, &used, &f, &err);
            if (r.rc < 0) {
                r.code = ws_parser_close_code(&p);
                if (used != 0 || !err || (r.code != 1002 && r.code != 1009))
                    abort();
                return r;
            }
            if (used > k - off || (r.rc == PARSE_NEED_MORE && used != k - off))
                abort();
            off += used;
            if (r.rc == PARSE_OK)
                check_frame(&f, &r);
        }
        pos += k;
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint64_t max = (uint64_t)data[0] * 257;
    size_t piece = (size_t)data[1] % 17 + 1;
    run_t whole = run(data + 2, size - 2, size, max);
    run_t split = run(data + 2, size - 2, piece, max);
    if (whole.hash != split.hash || whole.nframes != split.nframes || whole.rc != split.rc ||
        whole.code != split.code)
        abort();
    return 0;
}
