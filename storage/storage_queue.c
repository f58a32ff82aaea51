/* storage_queue: the storage thread and its bounded queue
 * (storage_internal.h).
 *
 * Jobs: the loop thread appends to a bounded FIFO (mu, work_cv). The thread
 * takes the whole list at once and runs it in order: consecutive event
 * inserts share one transaction, committed before any other job runs; a
 * setting, relay or hook write is one statement in its own transaction. Jobs
 * with a callback go to the done list (mu) and the thread pokes the eventfd;
 * the loop (or storage_sync) takes the done list and calls back.
 * The thread's loop (storage_thread, run_jobs, wait_for_work) runs on the
 * storage thread; everything else here on the loop thread.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common.h"
#include "storage_internal.h"

/* ---- the loop's side ---------------------------------------------------- */

static void job_free(job_t *j)
{
    if (j->kind == JOB_GET) {
        storage_events_rows_free(j->u.get.rows, j->u.get.n);
        free(j->u.get.types);
    }
    free(j);
}

int storage_queue_push(storage_t *st, job_t *j)
{
    pthread_mutex_lock(&st->mu);
    if (st->pending >= st->opts.queue_max || st->stop) {
        pthread_mutex_unlock(&st->mu);
        return NODE_ELIMIT;
    }
    j->next = NULL;
    if (st->q_tail)
        st->q_tail->next = j;
    else
        st->q_head = j;
    st->q_tail = j;
    st->pending++;
    st->seq_queued++;
    atomic_store(&st->queue_depth, st->pending);
    pthread_cond_signal(&st->work_cv);
    pthread_mutex_unlock(&st->mu);
    return 0;
}

char *storage_queue_copy(char **p, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = memcpy(*p, s, n);
    *p += n;
    return d;
}

/* Calls back and frees every job of list, in order, on this thread. */
static void deliver(job_t *list)
{
    while (list) {
        job_t *j = list;
        list = j->next;
        if (j->kind == JOB_GET && j->u.get.done)
            j->u.get.done(j->u.get.arg, j->rc, j->rc == 0 ? j->u.get.rows : NULL,
                          j->rc == 0 ? j->u.get.n : 0);
        else if (j->kind == JOB_LOST && j->u.lost.cb)
            j->u.lost.cb(j->u.lost.arg, j->u.lost.why);
        else if (j->kind != JOB_GET && j->kind != JOB_LOST && j->u.set.done)
            j->u.set.done(j->u.set.arg, j->rc);
        job_free(j);
    }
}

static void drain_efd(storage_t *st)
{
    uint64_t v;
    ssize_t r = read(st->efd, &v, sizeof v);
    (void)r; /* EAGAIN: nothing signalled since the last drain */
}

/* Under mu. The eventfd is drained first: the thread pokes it (under mu)
 * after every addition, so nothing added later goes unsignalled. */
static job_t *take_done(storage_t *st)
{
    drain_efd(st);
    job_t *list = st->d_head;
    st->d_head = st->d_tail = NULL;
    return list;
}

static void on_done_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    storage_t *st = arg;
    pthread_mutex_lock(&st->mu);
    job_t *list = take_done(st);
    pthread_mutex_unlock(&st->mu);
    deliver(list); /* st is not touched from here: a callback may close it */
}

/* ---- the storage thread ------------------------------------------------- */

void storage_queue_done(storage_t *st, job_t *j)
{
    j->next = NULL;
    if (st->d_tail)
        st->d_tail->next = j;
    else
        st->d_head = j;
    st->d_tail = j;
    uint64_t one = 1;
    ssize_t w = write(st->efd, &one, sizeof one);
    (void)w; /* EAGAIN only if the counter is saturated: still readable */
}

/* Runs list in order. Inserts are freed here; the other jobs are returned,
 * in order, for their callbacks. */
static job_t *run_jobs(storage_t *st, job_t *list)
{
    job_t *done = NULL, **dtail = &done;
    batch_t b;
    memset(&b, 0, sizeof b);
    while (list) {
        job_t *j = list;
        list = j->next;
        j->next = NULL;
        if (j->kind == JOB_EVENT) {
            storage_events_insert(st, &b, &j->u.put);
            free(j);
            continue;
        }
        storage_events_commit(st, &b); /* inserts before this job are committed first */
        if (j->kind == JOB_GET)
            storage_events_read(st, j);
        else
            storage_write_run(st, j);
        *dtail = j;
        dtail = &j->next;
    }
    storage_events_commit(st, &b);
    return done;
}

/* Waits (under mu) for jobs or stop; while idle, checks the files every
 * STORAGE_CHECK_MS (mu released for the check). */
static void wait_for_work(storage_t *st)
{
    while (!st->q_head && !st->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += STORAGE_CHECK_MS / 1000;
        if (pthread_cond_timedwait(&st->work_cv, &st->mu, &ts) != ETIMEDOUT)
            continue;
        if (weir_mono_ms() - st->checked_ms < STORAGE_CHECK_MS)
            continue;
        pthread_mutex_unlock(&st->mu);
        storage_health_check(st);
        pthread_mutex_lock(&st->mu);
    }
}

static void *storage_thread(void *arg)
{
    storage_t *st = arg;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        wait_for_work(st);
        if (!st->q_head)
            break; /* stop, and nothing left */
        job_t *list = st->q_head;
        st->q_head = st->q_tail = NULL;
        pthread_mutex_unlock(&st->mu);

        uint32_t n = 0;
        for (job_t *j = list; j; j = j->next)
            n++;
        job_t *done = run_jobs(st, list);

        pthread_mutex_lock(&st->mu);
        while (done) {
            job_t *next = done->next;
            storage_queue_done(st, done);
            done = next;
        }
        st->pending -= n;
        st->seq_done += n;
        atomic_store(&st->queue_depth, st->pending);
        pthread_cond_broadcast(&st->done_cv);
    }
    pthread_mutex_unlock(&st->mu);
    atomic_store(&st->thread_alive, 0);
    return NULL;
}

/* ---- start, sync, stop -------------------------------------------------- */

int storage_queue_start(storage_t *st, struct event_base *base, char *err, size_t errlen)
{
    st->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (st->efd < 0) {
        snprintf(err, errlen, "%s: eventfd: %s", st->path, strerror(errno));
        return -1;
    }
    if (base) {
        st->ev = event_new(base, st->efd, EV_READ | EV_PERSIST, on_done_event, st);
        if (!st->ev || event_add(st->ev, NULL) != 0) {
            snprintf(err, errlen, "%s: cannot register the completion event", st->path);
            return -1;
        }
    }
    /* the thread takes no signals: they stay with the loop thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    atomic_store(&st->thread_alive, 1);
    int rc = pthread_create(&st->thread, NULL, storage_thread, st);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        atomic_store(&st->thread_alive, 0);
        snprintf(err, errlen, "%s: cannot start the storage thread: %s", st->path, strerror(rc));
        return -1;
    }
    st->thread_started = 1;
    pthread_setname_np(st->thread, "weir-storage");
    return 0;
}

void storage_sync(storage_t *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->mu);
    uint64_t target = st->seq_queued;
    while (st->seq_done < target && atomic_load(&st->thread_alive))
        pthread_cond_wait(&st->done_cv, &st->mu);
    job_t *list = take_done(st);
    pthread_mutex_unlock(&st->mu);
    deliver(list);
}

void storage_detach(storage_t *st)
{
    if (!st)
        return;
    if (st->ev) {
        event_free(st->ev);
        st->ev = NULL;
    }
    /* the lost callback's argument (the node) may be freed from now on */
    pthread_mutex_lock(&st->mu);
    st->detached = 1;
    for (job_t *j = st->d_head; j; j = j->next)
        if (j->kind == JOB_LOST)
            j->u.lost.cb = NULL;
    pthread_mutex_unlock(&st->mu);
}

void storage_queue_stop(storage_t *st)
{
    /* callbacks run by a sync may queue more jobs: sync until quiet */
    for (;;) {
        storage_sync(st);
        pthread_mutex_lock(&st->mu);
        int quiet = st->seq_done == st->seq_queued && !st->d_head;
        if (quiet)
            st->stop = 1; /* from now on storage_queue_push() refuses */
        pthread_cond_signal(&st->work_cv);
        pthread_mutex_unlock(&st->mu);
        if (quiet)
            break;
    }
    if (st->thread_started)
        pthread_join(st->thread, NULL);
}

void storage_queue_deliver(storage_t *st)
{
    pthread_mutex_lock(&st->mu);
    job_t *list = take_done(st);
    pthread_mutex_unlock(&st->mu);
    deliver(list);
}
