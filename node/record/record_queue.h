/* record_queue: the bounded queue from the event loop to the recording
 * writer thread (record_writer.h). Items are owned copies of what the loop
 * saw (a message's type, flags, timestamp and payload), or control items
 * (open, cut, close) for one recording.
 *
 * Bounded in bytes and in items for media: record_queue_push() of a media
 * item over either bound refuses it at once (the caller drops it and
 * counts); it never waits, so the loop is never delayed by a slow disk.
 * Control items are always taken (each recording queues a handful in its
 * life: opening, cuts and its close), and counted in the depth.
 * Threads: one producer (the loop thread) and one consumer (the writer
 * thread); every function is safe to call from either.
 */
#ifndef WEIR_RECORD_QUEUE_H
#define WEIR_RECORD_QUEUE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    RECORD_ITEM_MSG = 0, /* media or metadata of the recording */
    RECORD_ITEM_OPEN,    /* the recording starts: job hands the writer its state */
    RECORD_ITEM_CUT,     /* a new timeline (another publisher): the next file starts afresh */
    RECORD_ITEM_CLOSE    /* the recording ends: the writer finishes its file and frees job */
} record_item_kind_t;

typedef struct record_item {
    struct record_item *next;
    struct record_job *job; /* the writer's state of the recording (opaque to the loop) */
    record_item_kind_t kind;
    uint8_t type;  /* 8 audio, 9 video, 18 data */
    uint8_t flags; /* MSG_F_* */
    uint32_t ts;
    uint32_t len;
    uint8_t data[]; /* len bytes */
} record_item_t;

typedef struct record_queue record_queue_t;

/* max_bytes and max_items: the media bounds (both > 0). NULL on failure. */
record_queue_t *record_queue_new(size_t max_bytes, size_t max_items);
/* Frees the queue and every item still in it (no thread may use it). */
void record_queue_free(record_queue_t *q);

/* An item with len bytes of data (uninitialised), or NULL. */
record_item_t *record_item_new(record_item_kind_t kind, struct record_job *job, uint32_t len);

/* Appends it (taking ownership) and wakes the consumer. Returns 0, or -1
 * for a media item over a bound or after close (the item is still the
 * caller's to free). */
int record_queue_push(record_queue_t *q, record_item_t *it);
/* The oldest item (the caller owns it), waiting at most wait_ms; NULL when
 * none came, or when the queue is closed and empty. */
record_item_t *record_queue_pop(record_queue_t *q, int wait_ms);
/* No more pushes; the consumer gets the rest, then NULL at once. */
void record_queue_close(record_queue_t *q);
/* Items and bytes queued now. */
void record_queue_depth(record_queue_t *q, size_t *items, size_t *bytes);

#endif
