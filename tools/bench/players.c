/* weir-bench, players.c: players: media accounting, latency samples, the
 * fast and batch sets. Shared types and calls: bench.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "bench.h"

/* ---- players ------------------------------------------------------------ */

static void latency_sample(bench_t *b, double ms)
{
    if (b->nlat == b->lat_cap) {
        if (b->lat_cap >= BENCH_MAX_LAT_SAMPLES) {
            b->lat_dropped++;
            return;
        }
        size_t cap = b->lat_cap ? b->lat_cap * 2 : 4096;
        double *nl = realloc(b->lat, cap * sizeof *nl);
        if (!nl) {
            b->lat_dropped++;
            return;
        }
        b->lat = nl;
        b->lat_cap = cap;
    }
    b->lat[b->nlat++] = ms;
    if (ms > b->lat_max)
        b->lat_max = ms;
}

static int move_to_batch(bench_t *b, conn_t *c)
{
    struct epoll_event ev = {.events = c->events, .data.ptr = c};
    if (epoll_ctl(b->ep_fast, EPOLL_CTL_DEL, c->fd, NULL) != 0 ||
        epoll_ctl(b->ep_batch, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        return bench_conn_fail(b, c, ERR_IO, "epoll_ctl: %s", strerror(errno));
    c->epfd = b->ep_batch;
    return 0;
}

/* An audio (8), video (9) or data (15, 18) message or tag body: counted,
 * the first coded video frame checked, probes' latency sampled. Returns 0,
 * or -1 if the connection failed. */
int bench_player_media(bench_t *b, conn_t *c, uint8_t type, const uint8_t *p, uint32_t len,
                       int64_t now_us)
{
    c->bytes += len;
    b->total_bytes += len;
    b->sec_bytes += len;
    if (b->in_window) {
        c->win_bytes += len;
        b->win_bytes += len;
    }
    c->last_media_ms = now_us / 1000;
    if (type == RTMP_MSG_VIDEO && !c->got_video) {
        flv_video_info_t vi;
        if (flv_video_inspect(p, len, &vi) == 0) {
            if (vi.seq_header) {
                c->seen_vseq = 1;
            } else if (!vi.is_command && !vi.seq_end) {
                c->got_video = 1;
                c->key_start = vi.keyframe && c->seen_vseq;
                c->ttff_ms = (float)((double)(now_us - c->t_start_us) / 1000.0);
                b->ttff[b->nttff++] = c->ttff_ms;
                b->n_settled++;
                if (!c->probe)
                    return move_to_batch(b, c);
            }
        }
    }
    if (c->probe && b->has_pub && (type == RTMP_MSG_AUDIO || type == RTMP_MSG_VIDEO) && len) {
        uint64_t h = bench_content_hash(type, p, len);
        const hash_slot_t *s = &b->hash[h & (BENCH_HASH_SLOTS - 1)];
        if (s->hash != h || s->dup || now_us < s->send_us)
            b->lat_unmatched++;
        else if (s->send_us >= c->t_start_us) /* not from the GOP cache */
            latency_sample(b, (double)(now_us - s->send_us) / 1000.0);
    }
    return 0;
}

void bench_player_start(bench_t *b, conn_t *c, int64_t now_us)
{
    c->t_start_us = now_us;
    b->n_started++;
    bench_conn_open(b, c, &b->url);
}

/* Serves what is ready in the fast set now (probes, players setting up,
 * the publisher), without waiting. */
static void fast_poll(bench_t *b)
{
    struct epoll_event ev[BENCH_FAST_EVENTS];
    int n = epoll_wait(b->ep_fast, ev, BENCH_FAST_EVENTS, 0);
    for (int i = 0; i < n; i++)
        bench_conn_event(b, ev[i].data.ptr, ev[i].events);
    bench_pub_pump(b, bench_mono_us());
}

/* Reads every ready socket of the batch set once. Every BENCH_BATCH_SLICE
 * sockets the fast set is served, so that a long tick does not delay the
 * probes' receive times (latency) or the publisher's sends. */
void bench_batch_tick(bench_t *b)
{
    if (b->nbevents == 0)
        return;
    int64_t t0 = bench_mono_us();
    int n = epoll_wait(b->ep_batch, b->bevents, b->nbevents, 0);
    for (int i = 0; i < n; i++) {
        bench_conn_event(b, b->bevents[i].data.ptr, b->bevents[i].events);
        if (i % BENCH_BATCH_SLICE == BENCH_BATCH_SLICE - 1)
            fast_poll(b);
    }
    int64_t dt = bench_mono_us() - t0;
    b->ticks++;
    b->tick_total_us += (uint64_t)dt;
    if (dt > b->tick_max_us)
        b->tick_max_us = dt;
}

void bench_check_setup_timeouts(bench_t *b, int64_t now_us)
{
    int64_t limit = (int64_t)b->setup_timeout_ms * 1000;
    for (int i = 0; i < b->n_started; i++) {
        conn_t *c = &b->players[i];
        if (c->state != ST_LIVE && c->state != ST_CLOSED && now_us - c->t_start_us > limit)
            bench_conn_fail(b, c, ERR_SETUP_TIMEOUT, "not playing within %d ms",
                            b->setup_timeout_ms);
    }
}
