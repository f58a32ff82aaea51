/* wq: the bounded loop-to-worker queue (see wq.h). */
#include "wq.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct wq {
    pthread_mutex_t mu;
    wq_item_t *ring;
    uint8_t *media; /* per slot: counted as media */
    uint32_t cap;   /* power of two */
    uint64_t head, tail;
    uint32_t nmedia;
    size_t bytes, max_bytes;
    int efd;
};

wq_t *wq_new(uint32_t slots, size_t max_bytes)
{
    if (slots < 4 || (slots & (slots - 1)))
        return NULL;
    wq_t *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->ring = calloc(slots, sizeof *q->ring);
    q->media = calloc(slots, 1);
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!q->ring || !q->media || q->efd < 0) {
        if (q->efd >= 0)
            close(q->efd);
        free(q->ring);
        free(q->media);
        free(q);
        return NULL;
    }
    pthread_mutex_init(&q->mu, NULL);
    q->cap = slots;
    q->max_bytes = max_bytes;
    return q;
}

void wq_free(wq_t *q)
{
    if (!q)
        return;
    for (uint64_t i = q->tail; i < q->head; i++)
        free(q->ring[i & (q->cap - 1)].ptr);
    pthread_mutex_destroy(&q->mu);
    close(q->efd);
    free(q->ring);
    free(q->media);
    free(q);
}

int wq_fd(const wq_t *q)
{
    return q->efd;
}

void wq_drain_fd(wq_t *q)
{
    uint64_t v;
    while (read(q->efd, &v, sizeof v) < 0 && errno == EINTR) {
    }
}

int wq_push(wq_t *q, const wq_item_t *it, int media)
{
    pthread_mutex_lock(&q->mu);
    uint64_t used = q->head - q->tail;
    int refused =
        used >= q->cap || (media && (q->nmedia >= q->cap / 2 || q->bytes + it->len > q->max_bytes));
    if (!refused) {
        uint32_t slot = (uint32_t)(q->head & (q->cap - 1));
        q->ring[slot] = *it;
        q->media[slot] = media != 0;
        q->head++;
        if (media) {
            q->nmedia++;
            q->bytes += it->len;
        }
    }
    pthread_mutex_unlock(&q->mu);
    if (refused)
        return -1;
    if (used == 0) {
        uint64_t one = 1;
        /* Fails only when the count would overflow: it is readable then. */
        ssize_t w = write(q->efd, &one, sizeof one);
        (void)w;
    }
    return 0;
}

size_t wq_pop(wq_t *q, wq_item_t *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&q->mu);
    while (n < max && q->tail < q->head) {
        uint32_t slot = (uint32_t)(q->tail & (q->cap - 1));
        out[n++] = q->ring[slot];
        if (q->media[slot]) {
            q->nmedia--;
            q->bytes -= q->ring[slot].len;
        }
        q->ring[slot].ptr = NULL;
        q->tail++;
    }
    pthread_mutex_unlock(&q->mu);
    return n;
}

void wq_depth(wq_t *q, size_t *items, size_t *bytes)
{
    pthread_mutex_lock(&q->mu);
    *items = (size_t)(q->head - q->tail);
    *bytes = q->bytes;
    pthread_mutex_unlock(&q->mu);
}
