/* stream_ts: the stream's MPEG-TS encoding (see stream_internal.h). */
#include "flv.h"
#include "log.h"
#include "stream_internal.h"

/* m's TS packets from the stream's muxer, stored on m. A refusal (another
 * codec) is logged once per stream and kind; m then has no TS bytes. */
static void ts_encode(stream_t *s, msg_t *m)
{
    if (m->type != FLV_TAG_AUDIO && m->type != FLV_TAG_VIDEO)
        return;
    uint8_t *buf;
    size_t len;
    int rap;
    const char *err = NULL;
    int rc = ts_mux_tag(s->tsmux, m->type, m->ts, m->payload, m->len, &buf, &len, &rap, &err);
    if (rc != 0) {
        unsigned bit = m->type == FLV_TAG_VIDEO ? 2 : 1;
        if (!(s->ts_refused & bit))
            log_warn(s->pub ? s->pub->sess_id : 0,
                     "stream %s/%s: %s not sent to MPEG-TS players: %s (logged once)", s->app,
                     s->name, bit == 2 ? "video" : "audio", err);
        s->ts_refused |= bit;
    }
    msg_set_mpegts(m, rc == 0 ? buf : NULL, (uint32_t)len, rap);
}

/* Only the configuration matters: a header becomes no packets. */
static void ts_feed_header(stream_t *s, const msg_t *h)
{
    ts_mux_plan_t plan;
    const char *err;
    if (h)
        ts_mux_plan(s->tsmux, h->type, h->ts, h->payload, h->len, &plan, &err);
}

static void ts_start(stream_t *s)
{
    s->tsmux = ts_mux_new();
    if (!s->tsmux) {
        log_error(0, "stream %s/%s: out of memory for the MPEG-TS muxer", s->app, s->name);
        return;
    }
    ts_feed_header(s, s->vseq);
    ts_feed_header(s, s->aseq);
    for (uint64_t q = stream_gop_start(s); q < s->head; q++)
        ts_encode(s, stream_ring_at(s, q));
}

void stream_ts_hold(stream_t *s)
{
    if (s->ts_users++ == 0)
        ts_start(s);
}

void stream_ts_release(stream_t *s)
{
    if (s->ts_users == 0 || --s->ts_users > 0)
        return;
    ts_mux_free(s->tsmux);
    s->tsmux = NULL;
}

void stream_ts_attach(stream_t *s, const player_t *p)
{
    if (msg_enc_is_ts(p->enc))
        stream_ts_hold(s);
}

void stream_ts_detach(stream_t *s, const player_t *p)
{
    if (msg_enc_is_ts(p->enc))
        stream_ts_release(s);
}

void stream_ts_push(stream_t *s, msg_t *m)
{
    if (s->tsmux)
        ts_encode(s, m);
}

void stream_ts_restart(stream_t *s)
{
    if (s->tsmux)
        ts_mux_reset(s->tsmux);
    s->ts_refused = 0;
}

void stream_ts_free(stream_t *s)
{
    ts_mux_free(s->tsmux);
    s->tsmux = NULL;
    s->ts_users = 0;
}
