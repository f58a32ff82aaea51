/* Fuzz target for an RTMP player's rules on a worker thread
 * (rtmp_play_worker.c, RTMP_WORKER_PROTO): the input (after one byte that
 * picks a piece size) is the client's chunk stream after its play, read in
 * pieces until the rules end the session. Promises checked: an end has a
 * reason code and a static reason; replies stay within the sink's bound
 * (a full sink ends the session) and are a well-formed chunk stream at the
 * chunk size the server sends at; unpublish and republish notices add
 * complete messages too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "reason.h"
#include "rtmp_chunk.h"
#include "rtmp_play_worker.h"

#define OUT_MAX 65536
#define CHUNK_SIZE 128

typedef struct {
    uint8_t data[OUT_MAX];
    size_t len;
} out_t;

static int out_send(void *arg, const void *data, size_t len)
{
    out_t *o = arg;
    if (o->len + len > OUT_MAX)
        return NODE_ELIMIT;
    memcpy(o->data + o->len, data, len);
    o->len += len;
    return 0;
}

/* The replies parse as whole messages, nothing left over. */
static void check_out(const out_t *o)
{
    rtmp_chunk_parser_t *p = rtmp_chunk_parser_new(1 << 20, 64);
    if (!p)
        return;
    size_t off = 0;
    while (off < o->len) {
        rtmp_msg_t m;
        size_t used = 0;
        const char *err = NULL;
        parse_rc_t rc = rtmp_chunk_feed(p, o->data + off, o->len - off, &used, &m, &err);
        if (rc != PARSE_OK)
            abort();
        free(m.payload);
        off += used;
    }
    rtmp_chunk_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = (size_t)(data[0] % 64) + 1;
    data++;
    size--;
    rtmp_proto_ctrl_t ctrl;
    if (rtmp_proto_ctrl_init(&ctrl, 1 << 16, 16) != 0) {
        rtmp_proto_ctrl_free(&ctrl);
        return 0;
    }
    rtmp_play_worker_t *st = rtmp_play_worker_new(&ctrl, CHUNK_SIZE, 3073, "live", "cam");
    if (!st) {
        rtmp_proto_ctrl_free(&ctrl);
        return 0;
    }
    static out_t out;
    out.len = 0;
    sink_t sink = {.send = out_send, .arg = &out, .sess_id = 1, .remote = "fuzz"};
    const worker_proto_t *proto = &RTMP_WORKER_PROTO;
    int ended = 0;
    for (size_t pos = 0; pos < size && !ended; pos += piece) {
        size_t k = size - pos < piece ? size - pos : piece;
        reason_t why = REASON_NONE;
        const char *reason = NULL;
        ended = proto->on_read(st, &sink, data + pos, k, 0, &why, &reason);
        if (ended && (why == REASON_NONE || why >= REASON_NCODES || !reason || !reason[0]))
            abort();
    }
    if (!ended) {
        proto->on_event(st, &sink, PLAYER_EV_UNPUBLISHED);
        proto->on_event(st, &sink, PLAYER_EV_REPUBLISHED);
    }
    proto->on_end(st, &sink, REASON_STREAM_ENDED);
    check_out(&out);
    proto->free(st);
    return 0;
}
