/* stream_tap: in-process consumers of a stream (see stream_tap.h). */
#include "common.h"
#include "stream_internal.h"

/* The continuation's event for the splice the timeline made. */
static stream_tap_ev_t splice_event(stream_splice_t sp)
{
    switch (sp) {
    case STREAM_SPLICE_EXACT: return STREAM_TAP_SPLICE_EXACT;
    case STREAM_SPLICE_SAME_SOURCE: return STREAM_TAP_SPLICE_SAME;
    default: return STREAM_TAP_SPLICE_RESTAMPED;
    }
}

int stream_tap_add(stream_t *s, stream_tap_t *t)
{
    if (s->ntaps >= STREAM_TAPS_MAX)
        return NODE_ELIMIT;
    s->taps[s->ntaps++] = t;
    t->stream = s;
    t->cont_seen = s->cont.stats.count;
    if (!t->no_ts)
        stream_ts_hold(s); /* encodes the GOP cache when it starts */
    if (s->vseq)
        t->msg(t, s->vseq);
    if (s->aseq)
        t->msg(t, s->aseq);
    for (uint64_t q = stream_gop_start(s); q < s->head; q++) {
        msg_t *m = stream_ring_at(s, q);
        if (m->type != MSG_TYPE_EVENT)
            t->msg(t, m);
    }
    return 0;
}

void stream_tap_remove(stream_tap_t *t)
{
    stream_t *s = t->stream;
    if (!s)
        return;
    for (unsigned i = 0; i < s->ntaps; i++) {
        if (s->taps[i] != t)
            continue;
        s->taps[i] = s->taps[--s->ntaps];
        break;
    }
    t->stream = NULL;
    if (!t->no_ts)
        stream_ts_release(s);
}

void stream_tap_push(stream_t *s, msg_t *m)
{
    for (unsigned i = 0; i < s->ntaps; i++) {
        stream_tap_t *t = s->taps[i];
        if (t->cont_seen != s->cont.stats.count) {
            t->cont_seen = s->cont.stats.count;
            t->event(t, splice_event(s->cont.stats.last_splice));
        }
        t->msg(t, m);
    }
}

void stream_tap_player_event(stream_t *s, player_event_t ev)
{
    for (unsigned i = 0; i < s->ntaps; i++)
        if (s->taps[i]->player_event)
            s->taps[i]->player_event(s->taps[i], ev);
}

void stream_tap_restart(stream_t *s)
{
    if (s->pub) {
        for (unsigned i = 0; i < s->ntaps; i++)
            s->taps[i]->event(s->taps[i], STREAM_TAP_RESTART);
        return;
    }
    while (s->ntaps) {
        stream_tap_t *t = s->taps[s->ntaps - 1];
        stream_tap_remove(t);
        t->event(t, STREAM_TAP_END);
    }
}

void stream_tap_count_out(stream_tap_t *t, uint64_t bytes)
{
    if (t->stream)
        t->stream->bytes_out += bytes;
}

uint64_t stream_tap_retained(const stream_t *s)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < s->ntaps; i++)
        n += s->taps[i]->retained;
    return n;
}

void stream_tap_memory(stream_t *s)
{
    for (unsigned i = 0; i < s->ntaps; i++)
        s->taps[i]->event(s->taps[i], STREAM_TAP_MEMORY);
}

size_t stream_tap_players(const stream_t *s)
{
    size_t n = 0;
    for (unsigned i = 0; i < s->ntaps; i++)
        n += s->taps[i]->players;
    return n;
}
