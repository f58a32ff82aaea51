/* The fan-out pass: when a stream's players are written.
 *
 * stream_flush() does not write: it puts the stream on the hub's list of
 * streams with new data and asks the node's scheduler (hub_set_scheduler())
 * for a pass, which the node runs once per loop iteration, after the reads
 * that brought the data (or player.merge_ms later). A pass (hub_fanout())
 * goes through the listed streams in rounds: a round visits each attached
 * player once and wakes those with something to write, so that every
 * writev carries all that arrived since the player's last one. A pass stops
 * after HUB_PASS_PLAYERS wakes or HUB_PASS_BYTES written; the round goes on
 * in the next pass, after the loop has polled its sockets again (joins,
 * handshakes and the publisher's reads do not wait for a whole round).
 *
 * Order: a round takes players from the head of the stream's list and moves
 * each to the tail before waking it; after a round the list turns by one
 * more player, so that no player is always last. A newly attached player
 * is put at the head (player_attach()): its first bytes go out before the
 * round of the established players. Loop thread only.
 */
#include "stream.h"

#include "stream_internal.h"

void hub_set_scheduler(hub_t *hub, void (*request)(void *arg), void *arg)
{
    hub->sched = request;
    hub->sched_arg = arg;
}

/* Whether p has bytes to write (its prelude, a partly written message, or
 * messages past its cursor). */
static int player_has_data(const stream_t *s, const player_t *p)
{
    return p->cursor < s->head || p->nprelude || p->offset;
}

static void stream_wake_all(stream_t *s)
{
    player_t *p, *next;
    for (p = TAILQ_FIRST(&s->players); p; p = next) {
        next = TAILQ_NEXT(p, link);
        if (player_has_data(s, p))
            p->ops->wake(p);
    }
}

void stream_flush(stream_t *s)
{
    hub_t *hub = s->hub;
    if (!hub->sched) {
        stream_wake_all(s); /* no loop (unit tests): at once */
        return;
    }
    if (s->round_left)
        s->again = 1; /* the players visited in this round need another */
    if (!s->dirty) {
        s->dirty = 1;
        TAILQ_INSERT_TAIL(&hub->dirty, s, dirty_link);
    }
    hub->sched(hub->sched_arg);
}

void stream_fanout_forget(stream_t *s)
{
    if (s->dirty)
        TAILQ_REMOVE(&s->hub->dirty, s, dirty_link);
    s->dirty = 0;
    s->round_left = 0;
}

/* What one pass may still do. */
typedef struct {
    size_t wakes;
    uint64_t written_at_start;
} pass_budget_t;

static int pass_spent(const hub_t *hub, const pass_budget_t *b)
{
    return b->wakes >= HUB_PASS_PLAYERS || hub->written - b->written_at_start >= HUB_PASS_BYTES;
}

/* Goes on with s's round. Returns 1 when the budget ended it first. */
static int stream_round(stream_t *s, pass_budget_t *b)
{
    hub_t *hub = s->hub;
    if (!s->round_left) {
        s->round_left = s->nplayers;
        s->again = 0;
    }
    while (s->round_left) {
        if (pass_spent(hub, b))
            return 1;
        player_t *p = TAILQ_FIRST(&s->players);
        if (!p) {
            s->round_left = 0;
            break;
        }
        s->round_left--;
        /* Moved first: a wake may detach p (or attach others) safely. */
        TAILQ_REMOVE(&s->players, p, link);
        TAILQ_INSERT_TAIL(&s->players, p, link);
        if (player_has_data(s, p)) {
            b->wakes++;
            p->ops->wake(p);
        }
    }
    player_t *first = TAILQ_FIRST(&s->players);
    if (first && s->nplayers > 1) {
        TAILQ_REMOVE(&s->players, first, link);
        TAILQ_INSERT_TAIL(&s->players, first, link);
    }
    return 0;
}

int hub_fanout(hub_t *hub)
{
    pass_budget_t b = {0, hub->written};
    hub->passes++;
    /* The streams listed now, once each: one that needs more (its round
     * was cut, or data came meanwhile) goes back to the tail for the next
     * pass. */
    stream_t *last = TAILQ_LAST(&hub->dirty, stream_list);
    stream_t *s;
    while (last && (s = TAILQ_FIRST(&hub->dirty)) != NULL) {
        TAILQ_REMOVE(&hub->dirty, s, dirty_link);
        s->dirty = 0;
        int cut = stream_round(s, &b);
        if (cut || s->again) { /* the next round resets again */
            s->dirty = 1;
            TAILQ_INSERT_TAIL(&hub->dirty, s, dirty_link);
        }
        if (s == last || cut)
            break;
    }
    return !TAILQ_EMPTY(&hub->dirty);
}

void hub_player_counts(const hub_t *hub, uint64_t *writes, uint64_t *msgs, uint64_t *passes)
{
    *writes = hub->player_writes;
    *msgs = hub->player_msgs;
    *passes = hub->passes;
}
