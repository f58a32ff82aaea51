/* Unit tests of the loop-to-worker queue (node/core/wq.c): media is refused
 * at once over half the slots or over the byte bound, control items only
 * when the ring is full; order is kept; the eventfd is readable after a
 * push into an empty queue and cleared by wq_drain_fd(); a producer and a
 * consumer thread (polling the eventfd) exchange every item in order, and
 * the buffers of items left in the queue are freed with it (TSan and ASan
 * run this in CI). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "wq.h"

static wq_item_t item(uint64_t id, uint32_t len)
{
    wq_item_t it = {.kind = 1, .fd = -1, .id = id, .len = len};
    if (len) {
        it.ptr = malloc(len);
        assert_non_null(it.ptr);
        memset(it.ptr, (int)id, len);
    }
    return it;
}

static int readable(const wq_t *q, int ms)
{
    struct pollfd p = {.fd = wq_fd(q), .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}

static void test_bounds_and_order(void **state)
{
    (void)state;
    assert_null(wq_new(6, 100)); /* not a power of two */
    wq_t *q = wq_new(8, 2500);
    assert_non_null(q);
    assert_false(readable(q, 0));
    for (uint64_t i = 0; i < 2; i++) {
        wq_item_t it = item(i, 1000);
        assert_int_equal(wq_push(q, &it, WQ_MEDIA), 0);
    }
    assert_true(readable(q, 0));
    wq_item_t over = item(9, 1000);
    assert_int_equal(wq_push(q, &over, WQ_MEDIA), -1); /* bytes: 3000 > 2500 */
    wq_item_t small = item(2, 100);
    assert_int_equal(wq_push(q, &small, WQ_MEDIA), 0);
    wq_item_t small2 = item(3, 100);
    assert_int_equal(wq_push(q, &small2, WQ_MEDIA), 0);
    wq_item_t fifth = item(9, 1);
    assert_int_equal(wq_push(q, &fifth, WQ_MEDIA), -1); /* media: half the 8 slots */
    for (uint64_t i = 4; i < 8; i++) {                  /* control: the other slots */
        wq_item_t it = item(i, 5000);
        assert_int_equal(wq_push(q, &it, WQ_CONTROL), 0);
    }
    wq_item_t full = item(9, 0);
    assert_int_equal(wq_push(q, &full, WQ_CONTROL), -1); /* the ring is full */
    size_t items, bytes;
    wq_depth(q, &items, &bytes);
    assert_int_equal(items, 8);
    assert_int_equal(bytes, 2200); /* media only */
    wq_drain_fd(q);
    assert_false(readable(q, 0));
    wq_item_t out[3];
    assert_int_equal(wq_pop(q, out, 3), 3);
    for (uint64_t i = 0; i < 3; i++) {
        assert_int_equal(out[i].id, i);
        free(out[i].ptr);
    }
    wq_depth(q, &items, &bytes);
    assert_int_equal(items, 5);
    assert_int_equal(bytes, 100);
    /* Media fits again once popped; the rest is freed with the queue. */
    assert_int_equal(wq_push(q, &over, WQ_MEDIA), 0);
    free(fifth.ptr);
    wq_free(q);
}

#define N_ITEMS 200000

static void *producer(void *arg)
{
    wq_t *q = arg;
    for (uint64_t i = 0; i < N_ITEMS;) {
        wq_item_t it = {.kind = 1, .fd = -1, .id = i, .len = 8};
        it.ptr = malloc(8);
        memcpy(it.ptr, &i, 8);
        if (wq_push(q, &it, (i % 3) ? WQ_MEDIA : WQ_CONTROL) == 0) {
            i++;
        } else {
            free(it.ptr);
            sched_yield(); /* full: the consumer catches up */
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    wq_t *q = wq_new(64, 256);
    assert_non_null(q);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, producer, q), 0);
    uint64_t next = 0;
    wq_item_t out[16];
    while (next < N_ITEMS) {
        if (!readable(q, 5000))
            fail_msg("no wake-up after item %llu", (unsigned long long)next);
        wq_drain_fd(q);
        size_t n;
        while ((n = wq_pop(q, out, 16)) > 0) {
            for (size_t i = 0; i < n; i++) {
                uint64_t v;
                memcpy(&v, out[i].ptr, 8);
                assert_int_equal(out[i].id, next);
                assert_int_equal(v, next);
                free(out[i].ptr);
                next++;
            }
        }
    }
    pthread_join(th, NULL);
    assert_int_equal(wq_pop(q, out, 16), 0);
    wq_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_and_order),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
