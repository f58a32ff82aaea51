/* Fuzz target for flv: reads the input as an FLV file twice, in one piece
 * and in pieces whose sizes come from the input, and requires the same tags
 * and result both ways. Every tag body, and the input itself, goes through
 * both codec inspectors. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flv.h"

#define FUZZ_MAX_TAG 65536

typedef struct {
    uint64_t hash;
    size_t ntags;
    size_t consumed;
    parse_rc_t rc;
} run_t;

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

static void inspect(const uint8_t *body, size_t len)
{
    static const flv_video_info_t vzero;
    static const flv_audio_info_t azero;
    flv_video_info_t vi;
    flv_audio_info_t ai;
    if (flv_video_inspect(body, len, &vi) != 0) {
        if (memcmp(&vi, &vzero, sizeof vi) != 0)
            abort();
    } else {
        if (vi.keyframe && (vi.seq_header || vi.is_command))
            abort();
        if (vi.enhanced && vi.codec_id != 0)
            abort();
    }
    if (flv_audio_inspect(body, len, &ai) != 0) {
        if (memcmp(&ai, &azero, sizeof ai) != 0)
            abort();
    } else if (ai.sound_format != body[0] >> 4) {
        abort();
    }
}

/* step 0: pieces sized by the input bytes (1..32); otherwise step bytes. */
static run_t run(const uint8_t *data, size_t size, size_t step)
{
    run_t res = {0, 0, 0, PARSE_NEED_MORE};
    flv_reader_t *r = flv_reader_new(FUZZ_MAX_TAG);
    if (!r)
        abort();
    size_t pos = 0;
    while (pos < size) {
        size_t n = step ? step : (size_t)(data[pos] % 32) + 1;
        if (n > size - pos)
            n = size - pos;
        /* An exact-size copy, so reads past the piece are caught. */
        uint8_t *piece = malloc(n);
        if (!piece)
            abort();
        memcpy(piece, data + pos, n);
        size_t off = 0;
        parse_rc_t rc;
        do {
            size_t used = 0;
            flv_tag_t tag;
            const char *err = NULL;
            rc = flv_reader_feed(r, piece + off, n - off, &used, &tag, &err);
            if (used > n - off)
                abort();
            off += used;
            if (rc == PARSE_OK) {
                if (tag.len > FUZZ_MAX_TAG || !tag.body || tag.type > 0x1f)
                    abort();
                if (flv_reader_flags(r) < 0)
                    abort();
                res.ntags++;
                res.hash = mix(res.hash, tag.type);
                res.hash = mix(res.hash, tag.ts);
                res.hash = mix(res.hash, tag.len);
                for (uint32_t i = 0; i < tag.len; i++)
                    res.hash = mix(res.hash, tag.body[i]);
                if (tag.len > 0)
                    inspect(tag.body, tag.len);
            } else if (rc == PARSE_NEED_MORE) {
                if (off != n)
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
    res.consumed = pos;
    flv_reader_free(r);
    return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0)
        inspect(data, size);
    run_t whole = run(data, size, size ? size : 1);
    run_t pieces = run(data, size, 0);
    /* How far into the input an error is noticed depends on the pieces;
     * what was read before it, and the error, do not. */
    if (whole.hash != pieces.hash || whole.ntags != pieces.ntags || whole.rc != pieces.rc)
        abort();
    if (whole.rc == PARSE_NEED_MORE && (whole.consumed != size || pieces.consumed != size))
        abort();
    return 0;
}
