/* record_writer: the writer thread, its queue and its results (see
 * record_writer.h). The thread's loop (writer_thread) and the result and
 * counter hooks run on the writer thread; the rest on the loop thread. */
#include "record_writer.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "record_internal.h"

typedef struct result_node {
    struct result_node *next;
    record_result_t r;
} result_node_t;

struct record_writer {
    record_queue_t *q;
    pthread_t thread;
    int started; /* loop thread only */
    int closing; /* set by the loop (atomic): the thread ends once the queue is empty */
    int efd;
    struct event *ev;
    record_result_fn cb;
    void *arg;
    pthread_mutex_t mu; /* the result list */
    result_node_t *head, *tail;
    size_t nresults;
    record_writer_stats_t stats; /* relaxed atomics */
};

static void add_stat(uint64_t *v, uint64_t n)
{
    __atomic_fetch_add(v, n, __ATOMIC_RELAXED);
}

void record_writer_count_bytes(record_writer_t *w, uint64_t n)
{
    add_stat(&w->stats.bytes, n);
}

void record_writer_result(record_writer_t *w, const record_result_t *r)
{
    if (r->kind == RECORD_RES_FILE)
        add_stat(&w->stats.files, 1);
    if (r->kind == RECORD_RES_FAIL)
        add_stat(&w->stats.fails[r->reason & 3], 1);
    result_node_t *n = malloc(sizeof *n);
    pthread_mutex_lock(&w->mu);
    if (!n || w->nresults >= RECORD_RESULTS_MAX) {
        pthread_mutex_unlock(&w->mu);
        free(n);
        add_stat(&w->stats.results_dropped, 1);
        return;
    }
    n->next = NULL;
    n->r = *r;
    if (w->tail)
        w->tail->next = n;
    else
        w->head = n;
    w->tail = n;
    w->nresults++;
    uint64_t one = 1;
    ssize_t wr = write(w->efd, &one, sizeof one);
    (void)wr; /* EAGAIN only when the counter is saturated: still readable */
    pthread_mutex_unlock(&w->mu);
}

static void *writer_thread(void *arg)
{
    record_writer_t *w = arg;
    record_item_t *it;
    for (;;) {
        it = record_queue_pop(w->q, 1000);
        if (!it) {
            size_t items, bytes;
            record_queue_depth(w->q, &items, &bytes);
            if (items == 0 && __atomic_load_n(&w->closing, __ATOMIC_ACQUIRE))
                break; /* closed and drained */
            continue;
        }
        record_job_handle(w, it->job, it);
        free(it);
    }
    return NULL;
}

/* Delivers every result waiting (loop thread). */
static void deliver(record_writer_t *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t v;
    ssize_t rd = read(w->efd, &v, sizeof v);
    (void)rd;
    result_node_t *list = w->head;
    w->head = w->tail = NULL;
    w->nresults = 0;
    pthread_mutex_unlock(&w->mu);
    while (list) {
        result_node_t *n = list;
        list = n->next;
        w->cb(w->arg, &n->r);
        free(n);
    }
}

static void on_results(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    deliver(arg);
}

record_writer_t *record_writer_new(struct event_base *base, size_t qbytes, size_t qitems,
                                   record_result_fn cb, void *arg, char *err, size_t errlen)
{
    record_writer_t *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "record: out of memory");
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    w->cb = cb;
    w->arg = arg;
    w->q = record_queue_new(qbytes, qitems);
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->efd >= 0)
        w->ev = event_new(base, w->efd, EV_READ | EV_PERSIST, on_results, w);
    if (!w->q || !w->ev || event_add(w->ev, NULL) != 0) {
        snprintf(err, errlen, "record: cannot set up the writer's queue and event");
        record_writer_free(w);
        return NULL;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, writer_thread, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "record: cannot start the writer thread: %s", strerror(rc));
        record_writer_free(w);
        return NULL;
    }
    w->started = 1;
    return w;
}

void record_writer_free(record_writer_t *w)
{
    if (!w)
        return;
    if (w->started) {
        __atomic_store_n(&w->closing, 1, __ATOMIC_RELEASE);
        record_queue_close(w->q);
        pthread_join(w->thread, NULL);
        deliver(w);
    }
    if (w->ev)
        event_free(w->ev);
    if (w->efd >= 0)
        close(w->efd);
    record_queue_free(w->q);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

static void push_control(record_writer_t *w, record_job_t *job, record_item_kind_t kind)
{
    record_item_t *it = record_item_new(kind, job, 0);
    if (!it || record_queue_push(w->q, it) != 0) {
        /* out of memory: the job cannot be told; it is lost (never at close:
         * the queue is open while the loop runs) */
        log_error(0, "record: cannot queue a control item (out of memory)");
        free(it);
    }
}

void record_writer_open(record_writer_t *w, record_job_t *job)
{
    push_control(w, job, RECORD_ITEM_OPEN);
}

void record_writer_cut(record_writer_t *w, record_job_t *job)
{
    push_control(w, job, RECORD_ITEM_CUT);
}

void record_writer_close(record_writer_t *w, record_job_t *job)
{
    push_control(w, job, RECORD_ITEM_CLOSE);
}

int record_writer_msg(record_writer_t *w, record_job_t *job, uint8_t type, uint8_t flags,
                      uint32_t ts, const uint8_t *payload, uint32_t len)
{
    record_item_t *it = record_item_new(RECORD_ITEM_MSG, job, len);
    if (!it)
        return -1;
    it->type = type;
    it->flags = flags;
    it->ts = ts;
    memcpy(it->data, payload, len);
    if (record_queue_push(w->q, it) != 0) {
        free(it);
        return -1;
    }
    return 0;
}

void record_writer_stats(record_writer_t *w, record_writer_stats_t *out)
{
    out->bytes = __atomic_load_n(&w->stats.bytes, __ATOMIC_RELAXED);
    out->files = __atomic_load_n(&w->stats.files, __ATOMIC_RELAXED);
    for (int i = 0; i < 4; i++)
        out->fails[i] = __atomic_load_n(&w->stats.fails[i], __ATOMIC_RELAXED);
    out->results_dropped = __atomic_load_n(&w->stats.results_dropped, __ATOMIC_RELAXED);
}

void record_writer_depth(record_writer_t *w, size_t *items, size_t *bytes)
{
    record_queue_depth(w->q, items, bytes);
}
