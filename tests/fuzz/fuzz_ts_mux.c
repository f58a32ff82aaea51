/* Fuzz target for ts_mux: the input is a run of tags fed to one muxer,
 * each as [type: 1 byte, low bit 0 audio, 1 video][ts step: 1 byte, ms]
 * [length: 2 bytes, big endian][body], so sequence headers and frames of
 * every kind meet in one muxer's state. Each body is an exact-size copy
 * (reads past it are caught); the plan's size must be what is written,
 * whole 188-byte packets with sync bytes, not a byte past the buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ts_mux.h"

static void one_tag(ts_mux_t *m, uint8_t type, uint32_t ts, const uint8_t *data, size_t n)
{
    uint8_t *body = malloc(n ? n : 1);
    if (!body)
        abort();
    memcpy(body, data, n);
    ts_mux_plan_t plan;
    const char *err = NULL;
    int rc = ts_mux_plan(m, type, ts, body, n, &plan, &err);
    if (rc != 0) {
        if (!err || rc > 0)
            abort();
    } else if (plan.size) {
        if (plan.size % TS_PACKET_SIZE)
            abort();
        uint8_t *out = malloc(plan.size);
        if (!out)
            abort();
        ts_mux_write(m, &plan, out);
        for (size_t i = 0; i < plan.size; i += TS_PACKET_SIZE)
            if (out[i] != 0x47)
                abort();
        free(out);
    }
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_mux_t *m = ts_mux_new();
    if (!m)
        abort();
    uint32_t ts = 0;
    while (size >= 4) {
        uint8_t type = (data[0] & 1) ? 9 : 8;
        ts += data[1];
        size_t n = rd_be16(data + 2);
        data += 4;
        size -= 4;
        if (n > size)
            n = size;
        one_tag(m, type, ts, data, n);
        if (data[-4] & 0x80)
            ts_mux_reset(m);
        data += n;
        size -= n;
    }
    ts_mux_free(m);
    return 0;
}
