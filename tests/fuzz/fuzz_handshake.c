/* Fuzz target: the RTMP handshake, server and client roles.
 *
 * Input: 4 header bytes, then the peer's bytes. Header bytes 0-2 give the
 * sizes of the pieces fed in turn (1 + 12 * b, so from one byte at a time
 * to whole packets); bit 0 of byte 3 makes the client role complex. The
 * same bytes go to a server (as C0+C1+C2) and to a client (as S0+S1+S2).
 */
#include <stdint.h>
#include <stdlib.h>

#include "rtmp_handshake.h"

#define HDR_LEN 4
#define PAIR_LEN (1 + 2 * RTMP_HS_SIZE)

static void run(rtmp_hs_t *hs, const uint8_t *hdr, const uint8_t *src, size_t len)
{
    size_t pos = 0;
    parse_rc_t rc = PARSE_NEED_MORE;
    for (unsigned i = 0; pos < len; i++) {
        size_t piece = 1 + 12 * (size_t)hdr[i % 3];
        if (piece > len - pos)
            piece = len - pos;
        size_t used = SIZE_MAX;
        const char *err = NULL;
        rc = rtmp_hs_feed(hs, src + pos, piece, &used, &err);
        if (used > piece)
            abort();
        pos += used;

        const uint8_t *out;
        size_t outlen;
        rtmp_hs_output(hs, &out, &outlen);
        if (outlen > PAIR_LEN)
            abort();
        /* Touch every output byte so ASan checks the range. */
        volatile uint8_t sink = 0;
        for (size_t k = 0; k < outlen; k++)
            sink ^= out[k];
        (void)sink;
        rtmp_hs_output_done(hs);

        if (rc == PARSE_NEED_MORE && used != piece)
            abort();
        if (rc == PARSE_ERR_PROTO && !err)
            abort();
        if (rc != PARSE_NEED_MORE)
            break;
    }
    /* A complete handshake reads exactly 1 + 2 * 1536 bytes. */
    if (rc == PARSE_OK && pos != PAIR_LEN)
        abort();
    (void)rtmp_hs_peer_complex(hs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR_LEN)
        return 0;
    const uint8_t *hdr = data;
    data += HDR_LEN;
    size -= HDR_LEN;

    rtmp_hs_t *srv = rtmp_hs_new(RTMP_HS_SERVER, 0);
    if (srv) {
        run(srv, hdr, data, size);
        rtmp_hs_free(srv);
    }
    rtmp_hs_t *cli = rtmp_hs_new(RTMP_HS_CLIENT, hdr[3] & 1);
    if (cli) {
        run(cli, hdr, data, size);
        rtmp_hs_free(cli);
    }
    return 0;
}
