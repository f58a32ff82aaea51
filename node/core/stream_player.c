/* The player read side of a stream's ring: what a player is due next
 * (stream_player_iov(): its prelude, then ring messages from its cursor,
 * skipping droppable video while it catches up) and what it has written
 * (stream_player_consumed()). The ring and the player are the stream's
 * (stream.h); nothing here allocates. Everything here runs on the loop
 * thread only. */
#include "stream.h"

#include <string.h>

#include "stream_internal.h"

int64_t stream_allowed_lag_ms(const stream_t *s)
{
    const conf_t *c = s->hub->conf;
    return (int64_t)c->player_queue_ms + (c->stream_gop_cache ? s->last_gop_ms : 0);
}

int64_t stream_player_lag_ms(const player_t *p, int64_t now_ms)
{
    const stream_t *s = p->stream;
    if (p->cursor >= s->head || p->cursor < s->tail)
        return 0;
    return now_ms - stream_ring_at(s, p->cursor)->arrival_ms;
}

uint64_t stream_player_queued(const player_t *p)
{
    const stream_t *s = p->stream;
    if (!s || !p->attached || p->cursor >= s->head || p->cursor < s->tail)
        return 0;
    return s->bytes_total - stream_ring_at(s, p->cursor)->stream_off - p->offset;
}

int stream_player_iov(player_t *p, struct iovec *iov, int maxiov, size_t max_bytes, int64_t now_ms)
{
    stream_t *s = p->stream;
    if (!s || !p->attached)
        return 0;
    uint32_t cs = s->hub->chunk_size;
    int n = 0;
    size_t total = 0;
    uint32_t skip = p->offset;
    for (int i = 0; i < p->nprelude && n + 4 <= maxiov && total < max_bytes; i++) {
        msg_t *m = p->prelude[i];
        uint32_t wl = msg_wire_len(m, p->enc, cs);
        if (wl == 0 && m->len)
            return n; /* out of memory encoding: try again later */
        n += msg_iov(m, p->enc, skip, iov + n);
        total += wl - skip;
        skip = 0;
    }
    if (p->nprelude && (n + 4 > maxiov || total >= max_bytes))
        return n;
    if (p->cursor < s->tail)
        return n; /* fell out of the ring: the tick disconnects it */
    if (!p->wait_key && p->offset == 0 && stream_player_lag_ms(p, now_ms) > stream_allowed_lag_ms(s))
        p->wait_key = 1;
    for (uint64_t q = p->cursor; q < s->head && n + 4 <= maxiov && total < max_bytes; q++) {
        msg_t *m = stream_ring_at(s, q);
        if (m->type == MSG_TYPE_EVENT) {
            if (n > 0)
                break; /* deliver it once what precedes it is written */
            p->cursor = q + 1;
            p->ops->event(p, (player_event_t)m->ts);
            if (!p->attached)
                return 0;
            continue;
        }
        /* Drop mode: non-key video is skipped at the cursor (a message
         * already partly written is finished); one further on ends the
         * batch so the skip happens once what precedes it is written. */
        if (p->wait_key && (m->flags & MSG_F_DROPPABLE) && !(q == p->cursor && skip)) {
            if (q != p->cursor)
                break;
            p->cursor = q + 1;
            p->dropped_frames++;
            continue;
        }
        if (m->flags & MSG_F_KEY)
            p->wait_key = 0;
        uint32_t wl = msg_wire_len(m, p->enc, cs);
        if (wl == 0 && msg_enc_is_ts(p->enc)) {
            p->cursor += q == p->cursor; /* nothing in TS (headers, metadata) */
            continue;
        }
        if (wl == 0)
            break; /* out of memory encoding: try again later */
        n += msg_iov(m, p->enc, skip, iov + n);
        total += wl - skip;
        skip = 0;
    }
    return n;
}

void stream_player_consumed(player_t *p, size_t nbytes)
{
    stream_t *s = p->stream;
    hub_t *hub = s->hub;
    uint32_t cs = hub->chunk_size;
    s->bytes_out += nbytes;
    hub->written += nbytes;
    hub->player_writes += nbytes > 0;
    while (nbytes && p->nprelude) {
        msg_t *m = p->prelude[0];
        uint32_t left = msg_wire_len(m, p->enc, cs) - p->offset;
        if (nbytes < left) {
            p->offset += (uint32_t)nbytes;
            return;
        }
        nbytes -= left;
        p->offset = 0;
        hub->player_msgs++;
        msg_unref(m);
        memmove(p->prelude, p->prelude + 1, (size_t)(p->nprelude - 1) * sizeof p->prelude[0]);
        p->nprelude--;
    }
    while (nbytes && p->cursor < s->head) {
        msg_t *m = stream_ring_at(s, p->cursor);
        uint32_t left = msg_wire_len(m, p->enc, cs) - p->offset;
        if (nbytes < left) {
            p->offset += (uint32_t)nbytes;
            return;
        }
        nbytes -= left;
        p->offset = 0;
        p->cursor++;
        hub->player_msgs++;
    }
}
