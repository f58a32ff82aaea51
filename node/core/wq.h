/* wq: the bounded queue between the event loop and a worker thread
 * (worker.h), one per direction. Items are small fixed structs copied in
 * and out of a ring array (no allocation per item); an item may carry an
 * owned buffer (`ptr`, `len` bytes) that passes to whoever pops it.
 *
 * Bounded in items and bytes: wq_push() of a media item (WQ_MEDIA) over
 * half the ring's slots or over max_bytes of queued media is refused at
 * once (the caller drops it and counts); control items may use every slot
 * and are refused only when the ring is full. Nothing ever waits.
 *
 * Wake-up: the queue has an eventfd (wq_fd()); a push that finds the queue
 * empty makes it readable, and the consumer's event (on its own loop) pops
 * until empty after wq_drain_fd(). A mutex guards the ring: one lock per
 * push and per pop batch.
 * Threads: one producer thread and one consumer thread; every function is
 * safe from either (wq_free() once both are done with it).
 */
#ifndef WEIR_WQ_H
#define WEIR_WQ_H

#include <stddef.h>
#include <stdint.h>

enum { WQ_CONTROL = 0, WQ_MEDIA = 1 };

typedef struct wq_item {
    uint8_t kind;  /* the user's (worker.c's message kinds) */
    uint8_t type;  /* media: 8 audio, 9 video, 18 data */
    uint8_t flags; /* media: MSG_F_* */
    int fd;        /* a socket handed over, or -1 */
    uint32_t ts;
    uint32_t len;    /* bytes at ptr */
    uint64_t id;     /* a session or feed id */
    uint64_t a, b, c; /* kind-specific numbers */
    const char *str; /* a static string (a close reason), or NULL */
    void *ptr;       /* owned buffer (malloc'd), or NULL */
} wq_item_t;

typedef struct wq wq_t;

/* slots: ring size (a power of two, >= 4); max_bytes: queued media bytes.
 * NULL on failure (logged by the caller). */
wq_t *wq_new(uint32_t slots, size_t max_bytes);
/* Frees the queue and the buffers of the items still in it. */
void wq_free(wq_t *q);
/* The eventfd, readable while items may be waiting. */
int wq_fd(const wq_t *q);
/* Consumer: clears the eventfd's count (call before popping). */
void wq_drain_fd(wq_t *q);

/* Copies *it in (its buffer now the queue's). media: WQ_MEDIA or
 * WQ_CONTROL. Returns 0, or -1 when refused (bounds above): *it and its
 * buffer stay the caller's. */
int wq_push(wq_t *q, const wq_item_t *it, int media);
/* Pops up to max items into out (the caller owns their buffers). Returns
 * how many. */
size_t wq_pop(wq_t *q, wq_item_t *out, size_t max);
/* Items and media bytes queued now. */
void wq_depth(wq_t *q, size_t *items, size_t *bytes);

#endif
