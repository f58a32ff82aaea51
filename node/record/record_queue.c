/* record_queue: loop -> writer bounded queue (see record_queue.h). */
#include "record_queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct record_queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    record_item_t *head, *tail;
    size_t items, bytes; /* everything queued */
    size_t max_bytes, max_items;
    int closed;
};

record_queue_t *record_queue_new(size_t max_bytes, size_t max_items)
{
    record_queue_t *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, &ca);
    pthread_condattr_destroy(&ca);
    q->max_bytes = max_bytes;
    q->max_items = max_items;
    return q;
}

void record_queue_free(record_queue_t *q)
{
    if (!q)
        return;
    while (q->head) {
        record_item_t *it = q->head;
        q->head = it->next;
        free(it);
    }
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
}

record_item_t *record_item_new(record_item_kind_t kind, struct record_job *job, uint32_t len)
{
    record_item_t *it = malloc(sizeof *it + len);
    if (it)
        *it = (record_item_t){.kind = kind, .job = job, .len = len};
    return it;
}

int record_queue_push(record_queue_t *q, record_item_t *it)
{
    size_t sz = sizeof *it + it->len;
    pthread_mutex_lock(&q->mu);
    int over = it->kind == RECORD_ITEM_MSG &&
               (q->items + 1 > q->max_items || q->bytes + sz > q->max_bytes);
    if (q->closed || over) {
        pthread_mutex_unlock(&q->mu);
        return -1;
    }
    it->next = NULL;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->items++;
    q->bytes += sz;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

record_item_t *record_queue_pop(record_queue_t *q, int wait_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&q->mu);
    while (!q->head && !q->closed) {
        if (pthread_cond_timedwait(&q->cv, &q->mu, &until) == ETIMEDOUT)
            break;
    }
    record_item_t *it = q->head;
    if (it) {
        q->head = it->next;
        if (!q->head)
            q->tail = NULL;
        q->items--;
        q->bytes -= sizeof *it + it->len;
    }
    pthread_mutex_unlock(&q->mu);
    return it;
}

void record_queue_close(record_queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

void record_queue_depth(record_queue_t *q, size_t *items, size_t *bytes)
{
    pthread_mutex_lock(&q->mu);
    *items = q->items;
    *bytes = q->bytes;
    pthread_mutex_unlock(&q->mu);
}
