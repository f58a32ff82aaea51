/* queue_bench: the loop-to-worker hand-off of `workers: n` (issue 23), measured.
 *
 * One producer thread (the event loop) feeds 1..3 consumer threads (workers
 * 2..4), each through its own queue, as node/core/worker.c does.
 *
 *   queue_bench queue IMPL CONSUMERS RATE MS
 *     IMPL wq: the node's queue (node/core/wq.c, linked as is: a mutex-guarded
 *     ring, an eventfd written when a push finds the queue empty); spsc: a
 *     bounded single-producer/single-consumer lock-free ring of the same
 *     wq_item_t with the same bounds and the same wake rule (below).
 *     RATE: items per second per queue (paced like a loop that wakes for
 *     socket reads), or 0 for saturation (as fast as the queues take them; a
 *     refused push yields and retries the same item). MS: how long.
 *   queue_bench msg MODE CONSUMERS SIZE COUNT TOUCH RATE
 *     COUNT messages of SIZE payload bytes, RATE a second (0: flat out; the
 *     first WARMUP are not timed), each made by the producer and
 *     kept in its own ring of RING_KEEP, then handed to every consumer,
 *     which keeps it in its ring of RING_KEEP too (the hub's ring) and drops
 *     it when it falls out. MODE base: a preallocated message, no lifetime
 *     (the hand-off and the rings alone); shared: one message, an atomic
 *     refcount next to the fields players read (msg_t's layout), a reference
 *     per consumer taken by the producer and dropped by the consumer; pad:
 *     the same with the refcount on its own cache line; copy: a malloc'd
 *     copy of the payload per consumer (what worker.c's feed_send() does).
 *     TOUCH 1: each consumer reads the header and every payload byte once,
 *     as a writev to one player would.
 *
 * Prints one JSON object per run on stdout. Checks as it goes that every
 * consumer gets every item once, in order (exit 1 otherwise).
 * Threads: its own; nothing of the node runs but wq.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "wq.h"

#define QB_SLOTS 4096            /* worker_loop.c's WORKER_IN_SLOTS */
#define QB_MAX_BYTES (16u << 20) /* player.max_queue_bytes' default */
#define QB_BATCH 256             /* worker_loop.c's WORKER_POP_BATCH */
#define QB_ITEM_LEN 4300         /* an average message of the 2.66 Mbit/s clip */
#define QB_MAX_CONSUMERS 3
#define RING_KEEP 150 /* messages a hub's ring holds: about one 2 s GOP at 77/s */
/* The msg run times messages from here on: before, every ring is still
 * filling and the heap still growing (page faults, not the steady state). */
#define WARMUP (2 * RING_KEEP)
#define KIND_DATA 1
#define KIND_STOP 2
#define CACHE_LINE 64

/* ---- the lock-free ring ---------------------------------------------------- */

/* Producer and consumer each write only their own cache line; the bounds
 * use counters each side publishes (no read-modify-write on a shared line).
 * Wake rule as wq.c's: a push that finds the queue empty writes the eventfd.
 * Both sides publish, fence (seq_cst), then read the other's index, so a
 * consumer about to sleep and a producer pushing cannot both miss. */
typedef struct spsc {
    _Alignas(CACHE_LINE) _Atomic uint64_t head; /* producer's line */
    uint64_t tail_seen, media_out_seen, bytes_out_seen; /* producer's cache of the consumer's */
    uint64_t media_in, bytes_in;
    _Alignas(CACHE_LINE) _Atomic uint64_t tail; /* consumer's line */
    _Atomic uint64_t media_out, bytes_out;
    _Alignas(CACHE_LINE) wq_item_t *ring; /* read-only after spsc_new() from here */
    uint8_t *media;
    uint32_t cap;
    uint64_t max_bytes;
    int efd;
} spsc_t;

static spsc_t *spsc_new(uint32_t slots, uint64_t max_bytes)
{
    spsc_t *q = aligned_alloc(CACHE_LINE, sizeof(spsc_t));
    if (!q)
        return NULL;
    memset(q, 0, sizeof *q);
    q->ring = calloc(slots, sizeof *q->ring);
    q->media = calloc(slots, 1);
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    q->cap = slots;
    q->max_bytes = max_bytes;
    if (!q->ring || !q->media || q->efd < 0)
        return NULL; /* the process exits */
    return q;
}

static void spsc_free(spsc_t *q)
{
    close(q->efd);
    free(q->ring);
    free(q->media);
    free(q);
}

static int spsc_refused(const spsc_t *q, uint64_t h, const wq_item_t *it, int media)
{
    uint64_t nmedia = q->media_in - q->media_out_seen;
    uint64_t bytes = q->bytes_in - q->bytes_out_seen;
    return h - q->tail_seen >= q->cap ||
           (media && (nmedia >= q->cap / 2 || bytes + it->len > q->max_bytes));
}

/* Producer only. Returns 0, or -1 when refused (wq_push()'s bounds); *wrote
 * is set when it wrote the eventfd. */
static int spsc_push(spsc_t *q, const wq_item_t *it, int media, int *wrote)
{
    uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    if (spsc_refused(q, h, it, media)) {
        /* The counters are published before tail (release), read after it. */
        q->tail_seen = atomic_load_explicit(&q->tail, memory_order_acquire);
        q->media_out_seen = atomic_load_explicit(&q->media_out, memory_order_relaxed);
        q->bytes_out_seen = atomic_load_explicit(&q->bytes_out, memory_order_relaxed);
        if (spsc_refused(q, h, it, media))
            return -1;
    }
    uint32_t slot = (uint32_t)(h & (q->cap - 1));
    q->ring[slot] = *it;
    q->media[slot] = media != 0;
    if (media) {
        q->media_in++;
        q->bytes_in += it->len;
    }
    atomic_store_explicit(&q->head, h + 1, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    q->tail_seen = t;
    *wrote = 0;
    if (t == h) { /* it was empty */
        uint64_t one = 1;
        ssize_t w = write(q->efd, &one, sizeof one);
        (void)w;
        *wrote = 1;
    }
    return 0;
}

/* Consumer only: pops up to max items. */
static size_t spsc_pop(spsc_t *q, wq_item_t *out, size_t max)
{
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    size_t n = 0;
    uint64_t media = 0, bytes = 0;
    while (n < max && t + n < h) {
        uint32_t slot = (uint32_t)((t + n) & (q->cap - 1));
        out[n] = q->ring[slot];
        if (q->media[slot]) {
            media++;
            bytes += out[n].len;
        }
        n++;
    }
    if (n == 0)
        return 0;
    uint64_t mo = atomic_load_explicit(&q->media_out, memory_order_relaxed);
    uint64_t bo = atomic_load_explicit(&q->bytes_out, memory_order_relaxed);
    atomic_store_explicit(&q->media_out, mo + media, memory_order_relaxed);
    atomic_store_explicit(&q->bytes_out, bo + bytes, memory_order_relaxed);
    atomic_store_explicit(&q->tail, t + n, memory_order_release);
    return n;
}

/* Consumer only, after a pop of fewer than asked: 1 when the queue is empty
 * for sure (the producer, from here on, sees it empty and wakes us). */
static int spsc_empty(spsc_t *q)
{
    atomic_thread_fence(memory_order_seq_cst);
    return atomic_load_explicit(&q->head, memory_order_relaxed) ==
           atomic_load_explicit(&q->tail, memory_order_relaxed);
}

/* ---- a queue of either kind ------------------------------------------------- */

typedef struct qb_queue {
    int lockfree;
    wq_t *wq;
    spsc_t *sp;
    uint64_t efd_writes; /* spsc: counted by the producer */
} qb_queue_t;

static int qb_fd(const qb_queue_t *q)
{
    return q->lockfree ? q->sp->efd : wq_fd(q->wq);
}

static int qb_push(qb_queue_t *q, const wq_item_t *it, int media)
{
    if (!q->lockfree)
        return wq_push(q->wq, it, media);
    int wrote = 0;
    int rc = spsc_push(q->sp, it, media, &wrote);
    q->efd_writes += (uint64_t)wrote;
    return rc;
}

/* Pushes, yielding while refused (saturation); counts the refusals. */
static void qb_push_retry(qb_queue_t *q, const wq_item_t *it, int media, uint64_t *refused)
{
    while (qb_push(q, it, media) != 0) {
        (*refused)++;
        sched_yield();
    }
}

static size_t qb_pop(qb_queue_t *q, wq_item_t *out, size_t max)
{
    return q->lockfree ? spsc_pop(q->sp, out, max) : wq_pop(q->wq, out, max);
}

/* After a short pop: may the consumer go back to sleep? wq: yes (its push
 * decides the wake under the lock, and worker_loop.c's in_cb() does the
 * same); spsc: only once the fence says empty. */
static int qb_idle(qb_queue_t *q, size_t n)
{
    if (n == QB_BATCH)
        return 0;
    return q->lockfree ? spsc_empty(q->sp) : 1;
}

static void qb_open(qb_queue_t *q, int lockfree)
{
    memset(q, 0, sizeof *q);
    q->lockfree = lockfree;
    if (lockfree)
        q->sp = spsc_new(QB_SLOTS, QB_MAX_BYTES);
    else
        q->wq = wq_new(QB_SLOTS, QB_MAX_BYTES);
    if (!q->sp && !q->wq) {
        fprintf(stderr, "queue_bench: out of memory or eventfd\n");
        exit(2);
    }
}

static void qb_close(qb_queue_t *q)
{
    if (q->lockfree)
        spsc_free(q->sp);
    else
        wq_free(q->wq);
}

/* ---- time -------------------------------------------------------------------- */

static double now_s(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double mono_s(void)
{
    return now_s(CLOCK_MONOTONIC);
}

static double thread_cpu_s(void)
{
    return now_s(CLOCK_THREAD_CPUTIME_ID);
}

static void sleep_until(double t)
{
    struct timespec ts = {.tv_sec = (time_t)t, .tv_nsec = (long)((t - (double)(time_t)t) * 1e9)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* ---- timed regions (the msg run) --------------------------------------------- */

/* The wall time of one message's part on a thread, one sample per message
 * (after WARMUP). Summed up as the median and the mean of the samples up to
 * the 99th percentile: a thread preempted inside a region (4 threads on
 * 2 cores, and whatever else runs) must not count as the message's cost. */
typedef struct region {
    float *ns;
    uint64_t n, cap;
    double open_s; /* the sample being summed (a message may have two parts) */
} region_t;

static void region_init(region_t *g, uint64_t cap)
{
    g->ns = calloc(cap ? cap : 1, sizeof *g->ns);
    if (!g->ns)
        abort();
    g->cap = cap;
}

static void region_add(region_t *g, double t0)
{
    g->open_s += mono_s() - t0;
}

/* Closes the message's sample (dropped during WARMUP). */
static void region_end(region_t *g, uint64_t seq)
{
    if (seq >= WARMUP && g->n < g->cap)
        g->ns[g->n++] = (float)(g->open_s * 1e9);
    g->open_s = 0;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Median and the mean up to the 99th percentile, in ns; frees the samples. */
static void region_sum(region_t *g, double *median, double *mean)
{
    *median = *mean = 0;
    if (g->n) {
        qsort(g->ns, g->n, sizeof *g->ns, cmp_float);
        *median = g->ns[g->n / 2];
        uint64_t k = g->n - g->n / 100;
        double sum = 0;
        for (uint64_t i = 0; i < k; i++)
            sum += g->ns[i];
        *mean = sum / (double)k;
    }
    free(g->ns);
    g->ns = NULL;
}

static int pinned(void)
{
    const char *e = getenv("QB_PIN");
    return e && !strcmp(e, "1");
}

/* QB_PIN=1: the producer on CPU 0, the consumers on CPU 1 (the loop on
 * its core, the workers beside it: none preempts the producer). */
static void pin_self(int cpu)
{
    if (!pinned())
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
        fprintf(stderr, "queue_bench: cannot pin to CPU %d\n", cpu);
}

/* ---- messages (the msg run) ----------------------------------------------------- */

enum { MODE_BASE, MODE_SHARED, MODE_PAD, MODE_COPY };

/* msg_t's shape: the refcount at the start of the line players read. */
typedef struct bmsg {
    _Atomic uint32_t refcnt;
    uint32_t len;
    uint8_t *payload;
    uint8_t flv_hdr[11];
    uint8_t tail[6];
    uint32_t ts;
} bmsg_t;

/* The same with the refcount alone on its line: over a line's width away
 * from the fields, whatever malloc's alignment. */
typedef struct bmsg_pad {
    _Atomic uint32_t refcnt;
    char pad[2 * CACHE_LINE - sizeof(uint32_t)];
    bmsg_t m; /* m.refcnt unused */
} bmsg_pad_t;

typedef struct run {
    int mode, lockfree, touch, nconsumers;
    uint32_t size;
    uint64_t count;  /* msg run: messages; queue run: filled in at the end */
    double rate, secs; /* queue run */
    qb_queue_t q[QB_MAX_CONSUMERS];
    uint8_t *src; /* the "socket buffer" a message is made from */
    bmsg_t *pool; /* MODE_BASE's messages */
} run_t;

static _Atomic uint32_t *bmsg_ref_of(int mode, bmsg_t *m)
{
    if (mode == MODE_PAD)
        return &((bmsg_pad_t *)((char *)m - offsetof(bmsg_pad_t, m)))->refcnt;
    return &m->refcnt;
}

static bmsg_t *bmsg_make(const run_t *r, const uint8_t *src)
{
    bmsg_t *m;
    if (r->mode == MODE_PAD) {
        bmsg_pad_t *p = malloc(sizeof *p);
        if (!p)
            abort();
        atomic_init(&p->refcnt, 1);
        m = &p->m;
    } else {
        m = malloc(sizeof *m);
        if (!m)
            abort();
        atomic_init(&m->refcnt, 1);
    }
    m->len = r->size;
    m->payload = malloc(r->size);
    if (!m->payload)
        abort();
    memcpy(m->payload, src, r->size);
    memset(m->flv_hdr, 9, sizeof m->flv_hdr);
    return m;
}

static void bmsg_free(int mode, bmsg_t *m)
{
    free(m->payload);
    free(mode == MODE_PAD ? (void *)((char *)m - offsetof(bmsg_pad_t, m)) : (void *)m);
}

/* Drops one reference of a message made by bmsg_make(). */
static void bmsg_unref(int mode, bmsg_t *m)
{
    _Atomic uint32_t *rc = bmsg_ref_of(mode, m);
    if (mode == MODE_COPY) { /* the producer's own message: never shared */
        bmsg_free(mode, m);
        return;
    }
    /* acq_rel rather than release plus an acquire fence at zero: the same
     * lock xadd on x86, and ThreadSanitizer understands it. */
    if (atomic_fetch_sub_explicit(rc, 1, memory_order_acq_rel) == 1)
        bmsg_free(mode, m);
}

/* What a consumer's ring drops. */
static void consumer_drop(const run_t *r, wq_item_t *it)
{
    if (r->mode == MODE_COPY)
        free(it->ptr);
    else if (r->mode != MODE_BASE)
        bmsg_unref(r->mode, it->ptr);
}

/* A consumer reads what a writev to one player reads; the sum goes to the
 * consumer's own *sink, so that the compiler keeps the reads. */
static void consumer_touch(const run_t *r, const wq_item_t *it, uint64_t *sink)
{
    const uint8_t *p;
    uint32_t len;
    if (r->mode == MODE_COPY) {
        p = it->ptr;
        len = it->len;
    } else {
        const bmsg_t *m = it->ptr;
        len = m->len;
        p = m->payload;
        *sink += m->flv_hdr[0];
    }
    uint64_t s = 0;
    if (r->touch)
        for (uint32_t i = 0; i + 8 <= len; i += 8) {
            uint64_t v;
            memcpy(&v, p + i, 8);
            s += v;
        }
    *sink += s + len;
}

/* ---- consumers --------------------------------------------------------------- */

typedef struct consumer {
    run_t *r;
    int idx;
    pthread_t th;
    uint64_t items, wakes, efd_count, empty_wakes, bad_order, lost_wakes;
    double cpu_s;
    uint64_t sink;
    region_t own; /* the msg run: touching and dropping a message */
    wq_item_t keep[RING_KEEP]; /* the msg run's ring */
} consumer_t;

/* One item; returns 1 at the stop item. */
static int consumer_item(consumer_t *c, wq_item_t *it)
{
    if (it->kind == KIND_STOP)
        return 1;
    if (it->a != c->items)
        c->bad_order++;
    if (c->r->mode >= 0) {
        double t0 = mono_s();
        consumer_touch(c->r, it, &c->sink);
        wq_item_t *slot = &c->keep[c->items % RING_KEEP];
        if (c->items >= RING_KEEP)
            consumer_drop(c->r, slot);
        *slot = *it;
        region_add(&c->own, t0);
        region_end(&c->own, c->items);
    }
    c->items++;
    return 0;
}

static void *consumer_main(void *arg)
{
    consumer_t *c = arg;
    qb_queue_t *q = &c->r->q[c->idx];
    struct pollfd pfd = {.fd = qb_fd(q), .events = POLLIN};
    wq_item_t items[QB_BATCH];
    pin_self(1);
    double cpu0 = thread_cpu_s();
    int stop = 0;
    while (!stop) {
        /* Bounded: after a second without a wake it looks anyway, and
         * counts a lost wake if something was there. */
        int timed_out = poll(&pfd, 1, 1000) <= 0;
        uint64_t v = 0;
        if (!timed_out && read(pfd.fd, &v, sizeof v) == (ssize_t)sizeof v)
            c->efd_count += v;
        c->wakes += !timed_out;
        size_t got = 0, n;
        do {
            n = qb_pop(q, items, QB_BATCH);
            got += n;
            for (size_t i = 0; i < n; i++)
                stop |= consumer_item(c, &items[i]);
        } while (!stop && !qb_idle(q, n));
        c->empty_wakes += got == 0 && !timed_out;
        c->lost_wakes += got > 0 && timed_out;
    }
    for (uint64_t i = c->items > RING_KEEP ? c->items - RING_KEEP : 0; i < c->items; i++)
        if (c->r->mode >= 0)
            consumer_drop(c->r, &c->keep[i % RING_KEEP]);
    c->cpu_s = thread_cpu_s() - cpu0;
    return NULL;
}

/* ---- producers ---------------------------------------------------------------- */

typedef struct prod_stats {
    double cpu_s, push_s, wall_s;
    uint64_t pushed, refused;
    region_t own; /* the msg run: making, sharing or copying, dropping */
} prod_stats_t;

static void push_stop(run_t *r, prod_stats_t *ps)
{
    wq_item_t stop = {.kind = KIND_STOP, .fd = -1};
    for (int i = 0; i < r->nconsumers; i++)
        qb_push_retry(&r->q[i], &stop, WQ_CONTROL, &ps->refused);
}

/* The queue run's loop: paced at r->rate per queue, or flat out. */
static void produce_items(run_t *r, prod_stats_t *ps)
{
    double t0 = mono_s(), end = t0 + r->secs;
    uint64_t seq = 0;
    wq_item_t it = {.kind = KIND_DATA, .type = 9, .fd = -1, .len = QB_ITEM_LEN};
    for (;;) {
        double now = mono_s();
        if (now >= end)
            break;
        uint64_t due = r->rate > 0 ? (uint64_t)((now - t0) * r->rate) + 1 : seq + QB_BATCH;
        double p0 = mono_s();
        for (; seq < due; seq++) {
            it.a = seq;
            for (int i = 0; i < r->nconsumers; i++)
                qb_push_retry(&r->q[i], &it, WQ_MEDIA, &ps->refused);
        }
        ps->push_s += mono_s() - p0;
        if (r->rate > 0)
            sleep_until(t0 + (double)seq / r->rate);
    }
    ps->pushed = seq;
}

/* The producer's part of one message for the msg run: made (or taken from
 * the pool), then a reference or a copy per consumer in items[]. */
static bmsg_t *prepare_msg(run_t *r, uint64_t seq, wq_item_t *items)
{
    bmsg_t *m = r->mode == MODE_BASE ? &r->pool[seq % RING_KEEP] : bmsg_make(r, r->src);
    for (int i = 0; i < r->nconsumers; i++) {
        items[i] = (wq_item_t){.kind = KIND_DATA, .type = 9, .fd = -1, .len = r->size, .a = seq};
        if (r->mode == MODE_COPY) {
            items[i].ptr = malloc(m->len);
            if (!items[i].ptr)
                abort();
            memcpy(items[i].ptr, m->payload, m->len);
        } else {
            if (r->mode != MODE_BASE)
                atomic_fetch_add_explicit(bmsg_ref_of(r->mode, m), 1, memory_order_relaxed);
            items[i].ptr = m;
        }
    }
    return m;
}

/* The msg run's loop: COUNT messages, each kept in the producer's ring too;
 * the pushes are outside the timed regions. */
static void produce_msgs(run_t *r, prod_stats_t *ps)
{
    bmsg_t *keep[RING_KEEP] = {0};
    wq_item_t items[QB_MAX_CONSUMERS];
    double p0 = mono_s();
    for (uint64_t seq = 0; seq < r->count; seq++) {
        double t0 = mono_s();
        if (r->rate > 0 && t0 < p0 + (double)seq / r->rate) {
            sleep_until(p0 + (double)seq / r->rate);
            t0 = mono_s();
        }
        bmsg_t *m = prepare_msg(r, seq, items);
        region_add(&ps->own, t0);
        for (int i = 0; i < r->nconsumers; i++)
            qb_push_retry(&r->q[i], &items[i], WQ_MEDIA, &ps->refused);
        t0 = mono_s();
        bmsg_t **slot = &keep[seq % RING_KEEP];
        if (*slot && r->mode != MODE_BASE)
            bmsg_unref(r->mode, *slot);
        *slot = m;
        region_add(&ps->own, t0);
        region_end(&ps->own, seq);
    }
    for (int i = 0; i < RING_KEEP && r->mode != MODE_BASE; i++)
        if (keep[i])
            bmsg_unref(r->mode, keep[i]);
    ps->push_s = mono_s() - p0;
    ps->pushed = r->count;
}

/* ---- a run --------------------------------------------------------------------- */

static void print_json(const char *what, const run_t *r, prod_stats_t *ps, consumer_t *c)
{
    uint64_t items = 0, wakes = 0, efd = 0, empty = 0, bad = 0, lost = 0;
    double ccpu = 0, pmed, pmean, cmed = 0, cmean = 0;
    uint64_t sink = 0;
    region_sum(&ps->own, &pmed, &pmean);
    for (int i = 0; i < r->nconsumers; i++) {
        double med, mean;
        region_sum(&c[i].own, &med, &mean);
        cmed += med / r->nconsumers;
        cmean += mean / r->nconsumers;
        sink += c[i].sink;
        items += c[i].items;
        wakes += c[i].wakes;
        efd += c[i].efd_count;
        empty += c[i].empty_wakes;
        lost += c[i].lost_wakes;
        bad += c[i].bad_order + (c[i].items != ps->pushed);
        ccpu += c[i].cpu_s;
    }
    printf("{\"bench\":\"%s\",\"impl\":\"%s\",\"mode\":%d,\"consumers\":%d,\"rate\":%.0f,"
           "\"size\":%u,\"touch\":%d,\"messages\":%llu,\"items\":%llu,\"wall_s\":%.6f,"
           "\"prod_cpu_s\":%.6f,\"prod_push_s\":%.6f,\"cons_cpu_s\":%.6f,\"wakes\":%llu,"
           "\"efd_writes\":%llu,\"empty_wakes\":%llu,\"refused\":%llu,\"lost_wakes\":%llu,\"bad\":%llu,"
           "\"prod_med_ns\":%.1f,\"prod_mean_ns\":%.1f,\"cons_med_ns\":%.1f,"
           "\"cons_mean_ns\":%.1f,\"pinned\":%d,\"sink\":%llu}\n",
           what, r->lockfree ? "spsc" : "wq", r->mode, r->nconsumers, r->rate, r->size, r->touch,
           (unsigned long long)ps->pushed, (unsigned long long)items, ps->wall_s, ps->cpu_s,
           ps->push_s, ccpu, (unsigned long long)wakes, (unsigned long long)efd,
           (unsigned long long)empty, (unsigned long long)ps->refused, (unsigned long long)lost,
           (unsigned long long)bad, pmed, pmean, cmed, cmean, pinned(),
           (unsigned long long)(sink % 1000));
    if (bad) {
        fprintf(stderr, "queue_bench: %llu items lost, repeated or out of order\n",
                (unsigned long long)bad);
        exit(1);
    }
}

static void run(run_t *r, const char *what)
{
    consumer_t *c = calloc((size_t)r->nconsumers, sizeof *c);
    if (!c)
        abort();
    for (int i = 0; i < r->nconsumers; i++) {
        qb_open(&r->q[i], r->lockfree);
        c[i].r = r;
        c[i].idx = i;
        region_init(&c[i].own, r->mode >= 0 ? r->count : 0);
        if (pthread_create(&c[i].th, NULL, consumer_main, &c[i]) != 0)
            abort();
    }
    prod_stats_t ps = {0};
    region_init(&ps.own, r->mode >= 0 ? r->count : 0);
    pin_self(0);
    double w0 = mono_s(), cpu0 = thread_cpu_s();
    if (r->mode < 0)
        produce_items(r, &ps);
    else
        produce_msgs(r, &ps);
    push_stop(r, &ps);
    ps.cpu_s = thread_cpu_s() - cpu0;
    for (int i = 0; i < r->nconsumers; i++)
        pthread_join(c[i].th, NULL);
    ps.wall_s = mono_s() - w0;
    for (int i = 0; i < r->nconsumers; i++)
        if (r->q[i].lockfree) /* the producer's count of its eventfd writes */
            c[i].efd_count = r->q[i].efd_writes;
    print_json(what, r, &ps, c);
    for (int i = 0; i < r->nconsumers; i++)
        qb_close(&r->q[i]);
    free(c);
}

static int usage(void)
{
    fprintf(stderr, "usage: queue_bench queue wq|spsc CONSUMERS RATE MS\n"
                    "       queue_bench msg base|shared|pad|copy CONSUMERS SIZE COUNT TOUCH RATE\n"
                    "(CONSUMERS 1..3; msg: COUNT over %d, the untimed warm-up)\n",
            WARMUP);
    return 2;
}

static int parse_mode(const char *s)
{
    static const char *const names[] = {"base", "shared", "pad", "copy"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

int main(int argc, char **argv)
{
    run_t r = {.mode = -1, .lockfree = 1};
    if (argc == 6 && !strcmp(argv[1], "queue")) {
        r.lockfree = !strcmp(argv[2], "spsc");
        r.nconsumers = atoi(argv[3]);
        r.rate = atof(argv[4]);
        r.secs = atof(argv[5]) / 1000.0;
        if ((!r.lockfree && strcmp(argv[2], "wq")) || r.secs <= 0 || r.secs > 60)
            return usage();
    } else if (argc == 8 && !strcmp(argv[1], "msg")) {
        r.mode = parse_mode(argv[2]);
        r.nconsumers = atoi(argv[3]);
        r.size = (uint32_t)atoi(argv[4]);
        r.count = (uint64_t)atoll(argv[5]);
        r.touch = atoi(argv[6]) != 0;
        r.rate = atof(argv[7]);
        if (r.mode < 0 || r.rate < 0 || r.size < 8 || r.size > (1u << 20) || r.count <= WARMUP)
            return usage();
    } else {
        return usage();
    }
    if (r.nconsumers < 1 || r.nconsumers > QB_MAX_CONSUMERS)
        return usage();
    if (r.mode >= 0) {
        r.src = malloc(r.size);
        r.pool = calloc(RING_KEEP, sizeof *r.pool);
        if (!r.src || !r.pool)
            abort();
        memset(r.src, 0x5a, r.size);
        for (int i = 0; i < RING_KEEP; i++) {
            r.pool[i].len = r.size;
            r.pool[i].payload = r.src;
        }
    }
    run(&r, r.mode < 0 ? "queue" : "msg");
    free(r.src);
    free(r.pool);
    return 0;
}
