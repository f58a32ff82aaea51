/* Unit tests of the recording writer's queue (node/record/record_queue.c):
 * the byte and item bounds refuse media at once and never control items,
 * order is kept, close lets the consumer drain and then returns NULL, and a
 * consumer thread sees every item pushed (TSan runs this in CI). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "record_queue.h"

static record_item_t *media(uint32_t len, uint32_t ts)
{
    record_item_t *it = record_item_new(RECORD_ITEM_MSG, NULL, len);
    assert_non_null(it);
    memset(it->data, (int)ts, len);
    it->ts = ts;
    return it;
}

static void test_bounds(void **state)
{
    (void)state;
    size_t per = sizeof(record_item_t) + 1000;
    record_queue_t *q = record_queue_new(3 * per, 10);
    assert_non_null(q);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(record_queue_push(q, media(1000, i)), 0);
    record_item_t *over = media(1000, 9);
    assert_int_equal(record_queue_push(q, over), -1); /* bytes */
    free(over);
    record_item_t *ctl = record_item_new(RECORD_ITEM_CLOSE, NULL, 0);
    assert_int_equal(record_queue_push(q, ctl), 0); /* control: always */
    size_t items, bytes;
    record_queue_depth(q, &items, &bytes);
    assert_int_equal(items, 4);
    assert_int_equal(bytes, 3 * per + sizeof(record_item_t));
    for (uint32_t i = 0; i < 3; i++) {
        record_item_t *it = record_queue_pop(q, 0);
        assert_non_null(it);
        assert_int_equal(it->ts, i);
        free(it);
    }
    record_item_t *it = record_queue_pop(q, 0);
    assert_int_equal(it->kind, RECORD_ITEM_CLOSE);
    free(it);
    assert_null(record_queue_pop(q, 10)); /* empty: waits, then NULL */
    record_queue_free(q);

    q = record_queue_new(1 << 20, 2); /* items */
    assert_int_equal(record_queue_push(q, media(1, 1)), 0);
    assert_int_equal(record_queue_push(q, media(1, 2)), 0);
    over = media(1, 3);
    assert_int_equal(record_queue_push(q, over), -1);
    free(over);
    record_queue_close(q);
    over = record_item_new(RECORD_ITEM_CLOSE, NULL, 0);
    assert_int_equal(record_queue_push(q, over), -1); /* closed */
    free(over);
    for (int i = 0; i < 2; i++)
        free(record_queue_pop(q, 1000)); /* the rest is still delivered */
    assert_null(record_queue_pop(q, 1000)); /* closed and empty: at once */
    record_queue_free(q);                  /* frees nothing left */
}

#define N_ITEMS 20000

static void *consumer(void *arg)
{
    record_queue_t *q = arg;
    uint32_t want = 0;
    record_item_t *it;
    while ((it = record_queue_pop(q, 1000)) != NULL) {
        if (it->ts != want || it->data[0] != (uint8_t)want)
            return (void *)1;
        want++;
        free(it);
    }
    return want == N_ITEMS ? NULL : (void *)2;
}

static void test_threads(void **state)
{
    (void)state;
    record_queue_t *q = record_queue_new(64 * 1024, 64);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, consumer, q), 0);
    for (uint32_t i = 0; i < N_ITEMS;) {
        record_item_t *it = media(100, i);
        if (record_queue_push(q, it) == 0)
            i++;
        else
            free(it); /* full: the producer never waits; retry the same one */
    }
    record_queue_close(q);
    void *rc;
    pthread_join(t, &rc);
    assert_null(rc);
    record_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_bounds),
                                       cmocka_unit_test(test_threads)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
