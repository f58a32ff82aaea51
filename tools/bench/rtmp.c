/* weir-bench, rtmp.c: the RTMP client role on the shared state machine
 * (rtmp_proto_client.h). Shared types and calls: bench.h. */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "rtmp_chunk.h"
#include "rtmp_proto.h"

/* ---- RTMP client role --------------------------------------------------- */

int bench_rtmp_send(bench_t *b, conn_t *c, uint32_t csid, uint8_t type, uint32_t sid, uint32_t ts,
                    const uint8_t *p, uint32_t len)
{
    uint32_t cs = rtmp_proto_client_chunk_size(c->pc);
    size_t n = rtmp_chunk_encoded_size(csid, ts, len, cs);
    uint8_t *dst = bench_out_reserve(b, c, n);
    if (!dst)
        return -1;
    c->out_len += rtmp_chunk_encode(dst, csid, type, sid, ts, p, len, cs);
    return 0;
}

/* Moves what the command sequence queued onto the connection's output. */
static int proto_output(bench_t *b, conn_t *c)
{
    const uint8_t *p;
    size_t n;
    rtmp_proto_client_output(c->pc, &p, &n);
    if (bench_out_write(b, c, p, n) != 0)
        return -1;
    rtmp_proto_client_output_done(c->pc, n);
    return 0;
}

/* A state machine call that failed: the connection ends. */
static int proto_fail(bench_t *b, conn_t *c, int rc, const char *err)
{
    err_reason_t why = rc == NODE_ENOMEM   ? ERR_NOMEM
                       : rc == NODE_ELIMIT ? ERR_OVERFLOW
                                           : ERR_PROTOCOL;
    return bench_conn_fail(b, c, why, "%s", err ? err : "protocol error");
}

const bench_url_t *bench_conn_url(const bench_t *b, const conn_t *c)
{
    return c->is_pub ? &b->pub_url : &b->url;
}

static int hs_output(bench_t *b, conn_t *c)
{
    const uint8_t *d;
    size_t n;
    rtmp_hs_output(c->hs, &d, &n);
    if (bench_out_write(b, c, d, n) != 0)
        return -1;
    if (n)
        rtmp_hs_output_done(c->hs);
    return 0;
}

int bench_rtmp_begin(bench_t *b, conn_t *c)
{
    const url_rtmp_t *u = &bench_conn_url(b, c)->rtmp;
    rtmp_proto_client_cfg_t cfg = {.app = u->app,
                                   .tc_url = u->tc_url,
                                   .name = u->name,
                                   .flash_ver = FLASH_VER,
                                   .role = c->is_pub ? RTMP_PROTO_PUBLISH : RTMP_PROTO_PLAY,
                                   .chunk_size = c->is_pub ? BENCH_PUB_CHUNK_SIZE : 0,
                                   .play_buffer_ms = BENCH_PLAY_BUFFER_MS,
                                   .max_msg = BENCH_MAX_MSG,
                                   .max_csids = BENCH_MAX_CSIDS};
    c->hs = rtmp_hs_new(RTMP_HS_CLIENT, b->complex_hs);
    c->pc = rtmp_proto_client_new(&cfg);
    if (!c->hs || !c->pc)
        return bench_conn_fail(b, c, ERR_NOMEM, "handshake: out of memory");
    c->state = ST_HANDSHAKE;
    return hs_output(b, c);
}

/* Feeds handshake bytes; on completion starts the session (connect). */
static int hs_input(bench_t *b, conn_t *c, const uint8_t **p, size_t *len)
{
    size_t used = 0;
    const char *err = NULL;
    parse_rc_t rc = rtmp_hs_feed(c->hs, *p, *len, &used, &err);
    *p += used;
    *len -= used;
    if (rc != PARSE_OK && rc != PARSE_NEED_MORE)
        return bench_conn_fail(b, c, ERR_HANDSHAKE, "%s", err ? err : "handshake: failed");
    if (hs_output(b, c) != 0 || rc == PARSE_NEED_MORE)
        return c->state == ST_CLOSED ? -1 : 0;
    rtmp_hs_free(c->hs);
    c->hs = NULL;
    c->state = ST_CONNECT;
    int prc = rtmp_proto_client_begin(c->pc);
    if (prc != 0)
        return proto_fail(b, c, prc, "out of memory");
    return proto_output(b, c);
}

void bench_go_live(bench_t *b, conn_t *c, int64_t now_us)
{
    c->state = ST_LIVE;
    if (c->is_pub) {
        b->pub_start_us = now_us;
        b->next_tag = 0;
    } else {
        b->n_live++;
    }
}

/* Media a player received: aggregates are split into their parts. */
static int rtmp_media(bench_t *b, conn_t *c, const rtmp_msg_t *m, int64_t now_us)
{
    if (c->is_pub)
        return 0;
    if (m->type != RTMP_MSG_AGGREGATE)
        return bench_player_media(b, c, m->type, m->payload, m->len, now_us);
    rtmp_proto_agg_t it;
    uint8_t type;
    uint32_t ts, size;
    const uint8_t *body;
    int r;
    rtmp_proto_agg_init(&it, m->payload, m->len, m->timestamp);
    while ((r = rtmp_proto_agg_next(&it, &type, &ts, &body, &size)) == 1) {
        if (bench_player_media(b, c, type, body, size, now_us) != 0)
            return -1;
    }
    return r < 0 ? bench_conn_fail(b, c, ERR_PROTOCOL, "truncated aggregate message") : 0;
}

/* One message through the command sequence; its events move the state. */
static int rtmp_message(bench_t *b, conn_t *c, const rtmp_msg_t *m, int64_t now_us)
{
    rtmp_proto_ev_t ev;
    const char *err = NULL;
    int rc = rtmp_proto_client_feed(c->pc, m, &ev, &err);
    if (rc != 0)
        return proto_fail(b, c, rc, err);
    switch (ev.kind) {
    case RTMP_PROTO_EV_READY:
        c->state = ST_START;
        rc = rtmp_proto_client_start(c->pc, c->is_pub ? RTMP_PROTO_PUBLISH : RTMP_PROTO_PLAY);
        if (rc != 0)
            return proto_fail(b, c, rc, "out of memory");
        break;
    case RTMP_PROTO_EV_STARTED: bench_go_live(b, c, now_us); break;
    case RTMP_PROTO_EV_REFUSED: {
        char why[BENCH_ERR_TEXT];
        rtmp_proto_refusal(c->pc, &ev, why, sizeof why);
        return bench_conn_fail(b, c, ERR_REFUSED, "%s", why);
    }
    case RTMP_PROTO_EV_MEDIA: return rtmp_media(b, c, m, now_us);
    case RTMP_PROTO_EV_NONE:
    case RTMP_PROTO_EV_STATUS: break;
    }
    if (c->state == ST_CONNECT && rtmp_proto_client_state(c->pc) == RTMP_PROTO_CL_CREATE_STREAM)
        c->state = ST_CREATE;
    return proto_output(b, c);
}

int bench_rtmp_input(bench_t *b, conn_t *c, const uint8_t *p, size_t len, int64_t now_us)
{
    if (c->state == ST_HANDSHAKE) {
        if (hs_input(b, c, &p, &len) != 0)
            return -1;
        if (c->state == ST_HANDSHAKE)
            return 0;
    }
    c->bytes_in += len;
    /* Fed until NEED_MORE, even with no new bytes: the parser may hold
     * look-ahead bytes that complete a message. */
    for (;;) {
        size_t used = 0;
        rtmp_msg_t m;
        const char *err = NULL;
        parse_rc_t rc = rtmp_proto_client_input(c->pc, p, len, &used, &m, &err);
        p += used;
        len -= used;
        if (rc == PARSE_NEED_MORE)
            break;
        if (rc != PARSE_OK)
            return bench_conn_fail(b, c, ERR_PROTOCOL, "%s", err ? err : "bad chunk stream");
        int r = rtmp_message(b, c, &m, now_us);
        free(m.payload);
        if (r != 0)
            return -1;
    }
    int rc = rtmp_proto_client_ack(c->pc, c->bytes_in);
    if (rc != 0)
        return proto_fail(b, c, rc, "out of memory");
    return proto_output(b, c);
}
