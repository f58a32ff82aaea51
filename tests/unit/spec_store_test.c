/* Unit tests of spec_store: changes without storage (deferred, in order),
 * with a fake storage (commit, failure, busy, out of memory), detaching on
 * close, loading config-file and stored objects, ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common.h"
#include "log.h"
#include "spec_store.h"

#define MAX_CALLS 8

typedef struct {
    spec_change_t base;
    int tag;
} change_t;

/* What the fakes and callbacks saw. */
typedef struct {
    int put_rc, del_rc; /* what the fake storage answers */
    storage_done_cb cb[MAX_CALLS];
    void *cb_arg[MAX_CALLS];
    char stored[MAX_CALLS][128];
    int ncalls;
    int settled[MAX_CALLS]; /* tags, in order */
    int settle_rc[MAX_CALLS];
    int nsettled;
    int settle_answer; /* settle's return when rc is 0 */
    int done_rc[MAX_CALLS];
    int ndone;
} fx_t;

static fx_t FX;

static int fake_put(storage_t *st, const char *id, const char *spec_json, storage_done_cb done,
                    void *arg)
{
    (void)st;
    (void)id;
    if (FX.put_rc)
        return FX.put_rc;
    snprintf(FX.stored[FX.ncalls], sizeof FX.stored[0], "%s", spec_json);
    FX.cb[FX.ncalls] = done;
    FX.cb_arg[FX.ncalls++] = arg;
    return 0;
}

static int fake_del(storage_t *st, const char *id, storage_done_cb done, void *arg)
{
    (void)st;
    (void)id;
    if (FX.del_rc)
        return FX.del_rc;
    FX.stored[FX.ncalls][0] = '\0';
    FX.cb[FX.ncalls] = done;
    FX.cb_arg[FX.ncalls++] = arg;
    return 0;
}

static int settle(void *owner, spec_change_t *base, int rc)
{
    assert_ptr_equal(owner, &FX);
    change_t *ch = (change_t *)base;
    FX.settled[FX.nsettled] = ch->tag + (base->del ? 100 : 0);
    FX.settle_rc[FX.nsettled++] = rc;
    return rc ? rc : FX.settle_answer;
}

static void done(void *arg, int rc)
{
    assert_ptr_equal(arg, &FX);
    FX.done_rc[FX.ndone++] = rc;
}

static const spec_store_ops_t OPS = {fake_put, fake_del, settle, sizeof(change_t)};

static struct event_base *base;
static spec_store_t store;
static char dummy_storage;
#define FAKE_ST ((storage_t *)&dummy_storage)

static int setup(void **state)
{
    (void)state;
    memset(&FX, 0, sizeof FX);
    base = event_base_new();
    assert_non_null(base);
    assert_int_equal(spec_store_init(&store, base, &OPS, &FX), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    spec_store_close(&store);
    event_base_free(base);
    return 0;
}

/* A put (del 0) or delete of id tagged tag, submitted to st. */
static int submit(storage_t *st, int del, const char *id, int tag, cJSON *spec, char *err,
                  size_t errlen)
{
    change_t *ch = (change_t *)spec_store_change_new(&store, del, id, done, &FX, err, errlen);
    assert_non_null(ch);
    assert_string_equal(ch->base.id, id);
    ch->tag = tag;
    return spec_store_submit(&store, st, &ch->base, spec, err, errlen);
}

static void test_local_changes_deferred_in_order(void **state)
{
    (void)state;
    char err[128] = "";
    assert_int_equal(submit(NULL, 0, "a", 1, cJSON_CreateObject(), err, sizeof err), 0);
    assert_int_equal(submit(NULL, 1, "a", 2, NULL, err, sizeof err), 0);
    assert_int_equal(submit(NULL, 0, "b", 3, cJSON_CreateObject(), err, sizeof err), 0);
    assert_int_equal(FX.ndone, 0); /* never inside the call */
    assert_int_equal(FX.nsettled, 0);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(FX.nsettled, 3);
    assert_int_equal(FX.settled[0], 1);
    assert_int_equal(FX.settled[1], 102);
    assert_int_equal(FX.settled[2], 3);
    assert_int_equal(FX.ndone, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(FX.done_rc[i], 0);
    assert_null(store.pending);
    assert_int_equal(FX.ncalls, 0); /* storage never asked */
}

static void test_storage_commit_and_failure(void **state)
{
    (void)state;
    char err[128] = "";
    cJSON *spec = cJSON_CreateObject();
    cJSON_AddStringToObject(spec, "id", "r1");
    assert_int_equal(submit(FAKE_ST, 0, "r1", 1, spec, err, sizeof err), 0);
    assert_int_equal(submit(FAKE_ST, 1, "r2", 2, NULL, err, sizeof err), 0);
    assert_int_equal(submit(FAKE_ST, 0, "r3", 3, cJSON_CreateObject(), err, sizeof err), 0);
    assert_int_equal(FX.ncalls, 3);
    assert_string_equal(FX.stored[0], "{\"id\":\"r1\"}");
    event_base_loop(base, EVLOOP_NONBLOCK); /* nothing local */
    assert_int_equal(FX.ndone, 0);
    /* committed */
    FX.cb[0](FX.cb_arg[0], 0);
    assert_int_equal(FX.settled[0], 1);
    assert_int_equal(FX.settle_rc[0], 0);
    assert_int_equal(FX.done_rc[0], 0);
    /* not stored: settle hears it, done gets NODE_EIO */
    FX.cb[1](FX.cb_arg[1], NODE_EIO);
    assert_int_equal(FX.settled[1], 102);
    assert_int_not_equal(FX.settle_rc[1], 0);
    assert_int_equal(FX.done_rc[1], NODE_EIO);
    /* committed but settle could not apply it */
    FX.settle_answer = NODE_ENOMEM;
    FX.cb[2](FX.cb_arg[2], 0);
    assert_int_equal(FX.settle_rc[2], 0);
    assert_int_equal(FX.done_rc[2], NODE_EIO);
    assert_int_equal(FX.ndone, 3);
    assert_null(store.pending);
}

static void test_busy_and_out_of_memory(void **state)
{
    (void)state;
    char err[128] = "";
    FX.put_rc = NODE_ELIMIT;
    assert_int_equal(submit(FAKE_ST, 0, "r1", 1, cJSON_CreateObject(), err, sizeof err),
                     NODE_ELIMIT);
    assert_string_equal(err, "storage is busy; nothing changed");
    FX.del_rc = NODE_ENOMEM;
    assert_int_equal(submit(FAKE_ST, 1, "r1", 1, NULL, err, sizeof err), NODE_ENOMEM);
    assert_string_equal(err, "out of memory");
    /* a put whose rendering failed (NULL) */
    FX.put_rc = 0;
    err[0] = '\0';
    assert_int_equal(submit(FAKE_ST, 0, "r1", 1, NULL, err, sizeof err), NODE_ENOMEM);
    assert_string_equal(err, "out of memory");
    assert_null(store.pending);
    assert_int_equal(FX.ncalls, 0);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(FX.ndone, 0); /* a refused change never calls done */
    assert_int_equal(FX.nsettled, 0);
}

static void test_close_detaches(void **state)
{
    (void)state;
    char err[128] = "";
    assert_int_equal(submit(FAKE_ST, 0, "r1", 1, cJSON_CreateObject(), err, sizeof err), 0);
    assert_int_equal(submit(NULL, 0, "r2", 2, cJSON_CreateObject(), err, sizeof err), 0);
    spec_store_close(&store);
    /* the local one ends now */
    assert_int_equal(FX.ndone, 1);
    assert_int_equal(FX.done_rc[0], NODE_EIO);
    /* storage's answer still reaches done; nothing is settled */
    FX.cb[0](FX.cb_arg[0], 0);
    assert_int_equal(FX.ndone, 2);
    assert_int_equal(FX.done_rc[1], 0);
    assert_int_equal(FX.nsettled, 0);
    /* teardown closes again: a closed store is a no-op */
}

/* ---- loading ---- */

static int nloaded, loaded_config;
static char loaded_ids[8][16];

static int load(void *owner, const cJSON *obj, int from_config, char *err, size_t errlen)
{
    assert_ptr_equal(owner, &FX);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    if (!cJSON_IsString(id)) {
        snprintf(err, errlen, "id: missing");
        return -1;
    }
    snprintf(loaded_ids[nloaded++], sizeof loaded_ids[0], "%s", id->valuestring);
    loaded_config += from_config;
    return 0;
}

static void test_load(void **state)
{
    (void)state;
    char err[256] = "";
    nloaded = loaded_config = 0;
    const storage_spec_t rows[] = {{"s1", "{\"id\": \"s1\"}"},
                                   {"s2", "not json"},
                                   {"s3", "{\"x\": 1}"},
                                   {"s4", "{\"id\": \"s4\"}"}};
    assert_int_equal(spec_store_load("[{\"id\": \"c1\"}, {\"id\": \"c2\"}]", "relays", "relay",
                                     rows, 4, load, &FX, err, sizeof err),
                     0);
    assert_int_equal(nloaded, 4); /* c1 c2 s1 s4: bad stored rows skipped */
    assert_int_equal(loaded_config, 2);
    assert_string_equal(loaded_ids[0], "c1");
    assert_string_equal(loaded_ids[2], "s1");
    assert_string_equal(loaded_ids[3], "s4");
    /* a bad config-file object stops the load, named by its place */
    nloaded = 0;
    assert_int_equal(spec_store_load("[{\"id\": \"c1\"}, {\"y\": 2}]", "hooks", "hook", NULL, 0,
                                     load, &FX, err, sizeof err),
                     -1);
    assert_string_equal(err, "hooks[1]: id: missing");
    assert_int_equal(spec_store_load("{}", "hooks", "hook", NULL, 0, load, &FX, err, sizeof err),
                     -1);
    assert_string_equal(err, "hooks: not an array");
    /* nothing configured */
    nloaded = 0;
    assert_int_equal(spec_store_load("", "hooks", "hook", NULL, 0, load, &FX, err, sizeof err), 0);
    assert_int_equal(nloaded, 0);
}

/* ---- ids ---- */

static int ntaken;

static int taken(void *owner, const char *id)
{
    (void)id;
    assert_ptr_equal(owner, &FX);
    return ntaken++ < 2; /* the first two are in use */
}

static void test_new_id_and_read_only(void **state)
{
    (void)state;
    uint64_t rng = 0x1234567;
    char id[64];
    ntaken = 0;
    spec_store_new_id(id, sizeof id, "h-", &rng, taken, &FX);
    assert_int_equal(ntaken, 3);
    assert_int_equal(strlen(id), 14);
    assert_int_equal(strncmp(id, "h-", 2), 0);
    assert_int_equal(strspn(id + 2, "0123456789abcdef"), 12);
    char err[128];
    assert_int_equal(spec_store_read_only("relay", "r1", err, sizeof err), NODE_EBUSY);
    assert_string_equal(err, "id: relay r1 comes from the config file and is read-only");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_local_changes_deferred_in_order),
        T(test_storage_commit_and_failure),
        T(test_busy_and_out_of_memory),
        T(test_close_detaches),
        T(test_load),
        T(test_new_id_and_read_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
