/* rtmp_play_worker: an RTMP player's rules on a worker thread (see
 * rtmp_play_worker.h). Everything here but new/abandon runs on the worker's
 * thread and writes through the sink it is given, never through a conn_t. */
#include "rtmp_play_worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amf0.h"
#include "common.h"
#include "log.h"
#include "rtmp_cmd.h"
#include "rtmp_ctrl.h"
#include "rtmp_reply.h"

struct rtmp_play_worker {
    rtmp_proto_ctrl_t ctrl; /* the session's parser, window and acknowledgements */
    uint32_t out_chunk_size;
    uint64_t bytes_in; /* read on the connection, both loops */
    char app[STREAM_APP_MAX];
    char name[STREAM_NAME_MAX];
    /* Set by a command that ends the session (during on_read). */
    int end;
    reason_t why;
    const char *reason; /* static */
};

/* A command's context, for dispatch's callback. */
typedef struct {
    rtmp_play_worker_t *st;
    const sink_t *out;
} cmd_ctx_t;

rtmp_play_worker_t *rtmp_play_worker_new(rtmp_proto_ctrl_t *ctrl, uint32_t out_chunk_size,
                                         uint64_t bytes_in, const char *app, const char *name)
{
    rtmp_play_worker_t *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->ctrl = *ctrl;
    memset(ctrl, 0, sizeof *ctrl);
    st->out_chunk_size = out_chunk_size;
    st->bytes_in = bytes_in;
    snprintf(st->app, sizeof st->app, "%s", app);
    snprintf(st->name, sizeof st->name, "%s", name);
    return st;
}

void rtmp_play_worker_abandon(rtmp_play_worker_t *st, rtmp_proto_ctrl_t *ctrl)
{
    *ctrl = st->ctrl;
    free(st);
}

static void end_with(rtmp_play_worker_t *st, reason_t why, const char *reason)
{
    if (st->end)
        return;
    st->end = 1;
    st->why = why;
    st->reason = reason;
}

/* What a sink's refusal means: out of memory ends the session (a full
 * sink closed it already). */
static void sent(rtmp_play_worker_t *st, int rc)
{
    if (rc == NODE_ENOMEM)
        end_with(st, REASON_ERROR, "out of memory");
}

/* play or publish on a connection that plays: answered, then the end. */
static void refuse_stream(rtmp_play_worker_t *st, const sink_t *out, int publish)
{
    log_warn(out->sess_id, "rtmp: %s refused: this connection plays %s/%s (on a worker), closing",
             publish ? "publish" : "play", st->app, st->name);
    sent(st, rtmp_reply_status(out, st->out_chunk_size, "error",
                               publish ? "NetStream.Publish.BadName" : "NetStream.Play.Failed",
                               "Already publishing or playing.", st->name, NULL));
    end_with(st, REASON_REFUSED, "play or publish on a playing connection");
}

/* One named command of the playing client (as sess_rtmp.c's). */
static void on_named(rtmp_play_worker_t *st, const sink_t *out, const char *cmd, double txn)
{
    if (strcmp(cmd, "deleteStream") == 0) {
        end_with(st, REASON_EOF, "deleteStream"); /* the client ended it */
    } else if (strcmp(cmd, "closeStream") == 0) {
        end_with(st, REASON_EOF, "closeStream");
    } else if (strcmp(cmd, "FCUnpublish") == 0) {
        if (txn > 0)
            sent(st, rtmp_reply_result(out, st->out_chunk_size, "_result", txn, NULL));
        end_with(st, REASON_EOF, "FCUnpublish");
    } else if (strcmp(cmd, "getStreamLength") == 0) {
        double zero = 0;
        sent(st, rtmp_reply_result(out, st->out_chunk_size, "_result", txn, &zero));
    } else if (strcmp(cmd, "receiveAudio") == 0 || strcmp(cmd, "receiveVideo") == 0 ||
               strcmp(cmd, "_checkbw") == 0 || strcmp(cmd, "pause") == 0) {
        log_debug(out->sess_id, "rtmp: ignoring '%s'", cmd);
    } else if (strcmp(cmd, "play") == 0 || strcmp(cmd, "publish") == 0) {
        refuse_stream(st, out, cmd[1] == 'u');
    } else if (strcmp(cmd, "connect") == 0) {
        log_warn(out->sess_id, "rtmp: connect: already connected");
        end_with(st, REASON_PROTOCOL, "protocol error: second connect");
    } else if (txn > 0) {
        log_debug(out->sess_id, "rtmp: command '%s' not served on a worker's player", cmd);
        sent(st, rtmp_reply_result(out, st->out_chunk_size, "_error", txn, NULL));
    }
}

static void on_command(void *arg, const uint8_t *p, uint32_t len)
{
    cmd_ctx_t *ctx = arg;
    rtmp_play_worker_t *st = ctx->st;
    rtmp_cmd_t cmd;
    const char *why = NULL;
    if (st->end)
        return; /* the session ends: nothing more is answered */
    if (rtmp_cmd_decode(&cmd, ctx->out->sess_id, p, len, &why) != 0) {
        end_with(st, REASON_PROTOCOL, why);
        return;
    }
    on_named(st, ctx->out, cmd.name, cmd.txn);
    rtmp_cmd_free(&cmd);
}

/* A chunk stream error: logged, the session ends. */
static void chunk_error(rtmp_play_worker_t *st, const sink_t *out, const char *err)
{
    if (err == RTMP_CHUNK_ERR_MESSAGE_TOO_BIG || err == RTMP_CHUNK_ERR_TOO_MANY_CHUNK_STREAMS)
        log_warn(out->sess_id,
                 "rtmp: chunk stream: %s (from %s, on a worker: not counted in the node's "
                 "limit counters, which live on the event loop)",
                 err, out->remote);
    else
        log_warn(out->sess_id, "rtmp: chunk stream: %s", err ? err : "protocol error");
    end_with(st, REASON_PROTOCOL, "protocol error");
}

static int worker_on_read(void *state, const sink_t *out, const uint8_t *data, size_t len,
                          int64_t now_ms, reason_t *why, const char **reason)
{
    (void)now_ms;
    rtmp_play_worker_t *st = state;
    cmd_ctx_t ctx = {st, out};
    st->bytes_in += len;
    /* Fed until NEED_MORE, even with no bytes left (look-ahead, as on the loop). */
    while (!st->end) {
        size_t used = 0;
        rtmp_msg_t m;
        const char *err = NULL;
        parse_rc_t rc = rtmp_chunk_feed(st->ctrl.parser, data, len, &used, &m, &err);
        data += used;
        len -= used;
        if (rc == PARSE_NEED_MORE)
            break;
        if (rc != PARSE_OK) {
            chunk_error(st, out, err);
            break;
        }
        int r = rtmp_ctrl_sink_dispatch(&st->ctrl, out, st->out_chunk_size, &m, on_command, &ctx,
                                        &err);
        if (r == NODE_EPROTO) {
            log_warn(out->sess_id, "rtmp: %s", err);
            end_with(st, REASON_PROTOCOL, "protocol error: bad chunk size");
        } else if (r < 0) {
            end_with(st, REASON_ERROR, "out of memory");
        }
    }
    rtmp_proto_out_t ack;
    if (!st->end && rtmp_proto_ack_due(&st->ctrl, st->bytes_in, &ack))
        sent(st, rtmp_ctrl_sink_ctrl(out, st->out_chunk_size, &ack));
    if (!st->end)
        return 0;
    *why = st->why;
    *reason = st->reason;
    return 1;
}

static void worker_on_event(void *state, const sink_t *out, player_event_t ev)
{
    rtmp_play_worker_t *st = state;
    /* A refusal was the sink's: logged (out of memory) or the session closed
     * (its bound), as conn_send() does on the loop. */
    (void)rtmp_reply_player_event(out, st->out_chunk_size, st->name, ev);
}

static void worker_on_end(void *state, const sink_t *out, reason_t why)
{
    (void)state;
    /* As on the loop: the connection closes once what is queued is out. */
    log_debug(out->sess_id, "rtmp: player ends (%s)", reason_name(why));
}

static void worker_free(void *state)
{
    rtmp_play_worker_t *st = state;
    if (!st)
        return;
    rtmp_proto_ctrl_free(&st->ctrl);
    free(st);
}

const worker_proto_t RTMP_WORKER_PROTO = {
    .name = "rtmp",
    .on_read = worker_on_read,
    .on_tick = NULL, /* a player may stay silent: no timer (as on the loop) */
    .on_event = worker_on_event,
    .on_end = worker_on_end,
    .free = worker_free,
};
