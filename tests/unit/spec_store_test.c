/* Unit tests of spec_store: changes without storage (deferred, in order),
 * with a fake storage (one write at a time, commit, failure, busy, out of
 * memory), refusals at once and at a change's turn, the queue bound,
 * detaching on close, loading config-file and stored objects, ids. */
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
    int refuse; /* prepare's answer (0: accepted) */
} change_t;

/* What the fakes and callbacks saw. */
typedef struct {
    int put_rc, del_rc; /* what the fake storage answers */
    storage_done_cb cb[MAX_CALLS];
    void *cb_arg[MAX_CALLS];
    char stored[MAX_CALLS][128];
    int ncalls;
    int prepared[MAX_CALLS]; /* tags, in order */
    int nprepared;
    int settled[MAX_CALLS]; /* tags (+100 for a delete), in order */
    int settle_rc[MAX_CALLS];
    int nsettled;
    int done_rc[MAX_CALLS];
    int done_created[MAX_CALLS];
    char done_err[MAX_CALLS][64];
    int ndone;
    int nreleased;
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

/* Accepts unless the change says otherwise; a put of an odd tag creates. */
static int prepare(void *owner, spec_change_t *base, cJSON **spec, char *err, size_t errlen)
{
    assert_ptr_equal(owner, &FX);
    change_t *ch = (change_t *)base;
    if (FX.nprepared < MAX_CALLS)
        FX.prepared[FX.nprepared] = ch->tag;
    FX.nprepared++;
    if (ch->refuse) {
        snprintf(err, errlen, "refused %d", ch->tag);
        return ch->refuse;
    }
    if (!base->del) {
        base->created = ch->tag % 2;
        *spec = cJSON_CreateObject();
        cJSON_AddNumberToObject(*spec, "tag", ch->tag);
    }
    return 0;
}

static void settle(void *owner, spec_change_t *base, int rc)
{
    assert_ptr_equal(owner, &FX);
    change_t *ch = (change_t *)base;
    FX.settled[FX.nsettled] = ch->tag + (base->del ? 100 : 0);
    FX.settle_rc[FX.nsettled++] = rc;
}

static void release(spec_change_t *base)
{
    (void)base;
    FX.nreleased++;
}

static void done(void *arg, const spec_result_t *res)
{
    assert_ptr_equal(arg, &FX);
    assert_non_null(res->err);
    int i = FX.ndone++;
    if (i >= MAX_CALLS)
        return; /* counted only */
    FX.done_created[i] = res->created;
    snprintf(FX.done_err[i], sizeof FX.done_err[0], "%s", res->err);
    FX.done_rc[i] = res->rc;
}

/* The objects that exist, for If-Match: "a" ("\"ta\"") and "b"
 * ("\"tb\""). */
static int fake_etag(void *owner, const char *id, char out[SPEC_ETAG_MAX])
{
    assert_ptr_equal(owner, &FX);
    if (strcmp(id, "a") != 0 && strcmp(id, "b") != 0)
        return -1;
    snprintf(out, SPEC_ETAG_MAX, "\"t%s\"", id);
    return 0;
}

static const spec_store_ops_t OPS = {.put = fake_put,
                                     .del = fake_del,
                                     .prepare = prepare,
                                     .settle = settle,
                                     .release = release,
                                     .change_size = sizeof(change_t),
                                     .etag = fake_etag};

static struct event_base *base;
static spec_store_t store;
static char dummy_storage;
#define FAKE_ST ((storage_t *)&dummy_storage)

static void init_store(storage_t *st)
{
    memset(&FX, 0, sizeof FX);
    assert_int_equal(spec_store_init(&store, base, st, &OPS, &FX), 0);
}

static int setup(void **state)
{
    (void)state;
    base = event_base_new();
    assert_non_null(base);
    init_store(FAKE_ST);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    spec_store_close(&store);
    event_base_free(base);
    return 0;
}

/* A put (del 0) or delete of id tagged tag, with an If-Match (NULL: none),
 * refused by prepare with refuse (0: accepted). */
static int submit_if(int del, const char *id, const char *if_match, int tag, int refuse, char *err,
                     size_t errlen)
{
    change_t *ch =
        (change_t *)spec_store_change_new(&store, del, id, if_match, done, &FX, err, errlen);
    assert_non_null(ch);
    assert_string_equal(ch->base.id, id);
    ch->tag = tag;
    ch->refuse = refuse;
    return spec_store_submit(&store, &ch->base, err, errlen);
}

static int submit(int del, const char *id, int tag, int refuse, char *err, size_t errlen)
{
    return submit_if(del, id, NULL, tag, refuse, err, errlen);
}

static void test_local_changes_deferred_in_order(void **state)
{
    (void)state;
    spec_store_close(&store);
    init_store(NULL);
    char err[128] = "";
    assert_int_equal(submit(0, "a", 1, 0, err, sizeof err), 0);
    assert_int_equal(submit(1, "a", 2, 0, err, sizeof err), 0);
    assert_int_equal(submit(0, "b", 4, 0, err, sizeof err), 0);
    assert_int_equal(FX.ndone, 0);     /* never inside the call */
    assert_int_equal(FX.nprepared, 1); /* the others wait their turn */
    event_base_loop(base, EVLOOP_NONBLOCK);
    event_base_loop(base, EVLOOP_NONBLOCK);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(FX.nsettled, 3);
    assert_int_equal(FX.settled[0], 1);
    assert_int_equal(FX.settled[1], 102);
    assert_int_equal(FX.settled[2], 4);
    assert_int_equal(FX.ndone, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(FX.done_rc[i], 0);
    assert_int_equal(FX.done_created[0], 1);
    assert_int_equal(FX.done_created[1], 0); /* a delete */
    assert_int_equal(FX.done_created[2], 0);
    assert_null(store.head);
    assert_int_equal(store.count, 0);
    assert_int_equal(FX.ncalls, 0); /* storage never asked */
    assert_int_equal(FX.nreleased, 3);
}

static void test_storage_one_at_a_time_commit_and_failure(void **state)
{
    (void)state;
    char err[128] = "";
    assert_int_equal(submit(0, "r1", 1, 0, err, sizeof err), 0);
    assert_int_equal(submit(1, "r2", 2, 0, err, sizeof err), 0);
    assert_int_equal(submit(0, "r3", 3, 0, err, sizeof err), 0);
    assert_int_equal(FX.ncalls, 1); /* one write in flight */
    assert_int_equal(FX.nprepared, 1);
    assert_string_equal(FX.stored[0], "{\"tag\":1}");
    event_base_loop(base, EVLOOP_NONBLOCK); /* nothing local */
    assert_int_equal(FX.ndone, 0);
    /* committed: settled, done, then the next is prepared and written */
    FX.cb[0](FX.cb_arg[0], 0);
    assert_int_equal(FX.settled[0], 1);
    assert_int_equal(FX.settle_rc[0], 0);
    assert_int_equal(FX.done_rc[0], 0);
    assert_int_equal(FX.done_created[0], 1);
    assert_int_equal(FX.ncalls, 2);
    assert_int_equal(FX.prepared[1], 2);
    /* not stored: settle hears it, done gets NODE_EIO */
    FX.cb[1](FX.cb_arg[1], NODE_EIO);
    assert_int_equal(FX.settled[1], 102);
    assert_int_not_equal(FX.settle_rc[1], 0);
    assert_int_equal(FX.done_rc[1], NODE_EIO);
    assert_int_equal(FX.ncalls, 3);
    FX.cb[2](FX.cb_arg[2], 0);
    assert_int_equal(FX.done_rc[2], 0);
    assert_int_equal(FX.ndone, 3);
    assert_null(store.head);
    assert_int_equal(FX.nreleased, 3);
}

static void test_refusals_at_once_and_at_their_turn(void **state)
{
    (void)state;
    char err[128] = "";
    /* nothing queued: prepare runs in the call, the refusal comes back */
    assert_int_equal(submit(0, "r1", 1, NODE_EBUSY, err, sizeof err), NODE_EBUSY);
    assert_string_equal(err, "refused 1");
    assert_int_equal(FX.nreleased, 1);
    /* queued behind a write: refused at its turn, through done */
    assert_int_equal(submit(0, "r1", 3, 0, err, sizeof err), 0);
    assert_int_equal(submit(1, "r1", 4, NODE_ENOTFOUND, err, sizeof err), 0);
    assert_int_equal(submit(0, "r1", 5, 0, err, sizeof err), 0);
    FX.cb[0](FX.cb_arg[0], 0);
    assert_int_equal(FX.ndone, 2);
    assert_int_equal(FX.done_rc[1], NODE_ENOTFOUND);
    assert_string_equal(FX.done_err[1], "refused 4");
    assert_int_equal(FX.ncalls, 2); /* the one after it is written */
    /* storage busy at its turn: through done too */
    FX.put_rc = NODE_ELIMIT;
    assert_int_equal(submit(0, "r1", 7, 0, err, sizeof err), 0);
    FX.cb[1](FX.cb_arg[1], 0);
    assert_int_equal(FX.ndone, 4);
    assert_int_equal(FX.done_rc[3], NODE_ELIMIT);
    assert_string_equal(FX.done_err[3], "storage is busy; nothing changed");
    assert_int_equal(FX.nsettled, 2); /* refused changes are never settled */
    assert_null(store.head);
    assert_int_equal(FX.nreleased, 5);
}

static void test_busy_and_out_of_memory(void **state)
{
    (void)state;
    char err[128] = "";
    FX.put_rc = NODE_ELIMIT;
    assert_int_equal(submit(0, "r1", 1, 0, err, sizeof err), NODE_ELIMIT);
    assert_string_equal(err, "storage is busy; nothing changed");
    FX.del_rc = NODE_ENOMEM;
    assert_int_equal(submit(1, "r1", 1, 0, err, sizeof err), NODE_ENOMEM);
    assert_string_equal(err, "out of memory");
    assert_null(store.head);
    assert_int_equal(FX.ncalls, 0);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(FX.ndone, 0); /* a refused change never calls done */
    assert_int_equal(FX.nsettled, 0);
    /* the queue is bounded */
    FX.put_rc = 0;
    for (int i = 0; i < SPEC_STORE_QUEUE_MAX; i++)
        assert_int_equal(submit(0, "r1", 2, 0, err, sizeof err), 0);
    assert_int_equal(submit(0, "r1", 2, 0, err, sizeof err), NODE_ELIMIT);
    assert_string_equal(err, "too many changes waiting to be stored; retry");
    /* close ends the waiting ones (NODE_EIO) and detaches the written one */
    spec_store_close(&store);
    assert_int_equal(FX.ndone, SPEC_STORE_QUEUE_MAX - 1);
    FX.cb[0](FX.cb_arg[0], 0);
    assert_int_equal(FX.ndone, SPEC_STORE_QUEUE_MAX);
    assert_int_equal(FX.nreleased, 3 + SPEC_STORE_QUEUE_MAX);
}

static void test_close_detaches(void **state)
{
    (void)state;
    char err[128] = "";
    assert_int_equal(submit(0, "r1", 1, 0, err, sizeof err), 0);
    assert_int_equal(submit(0, "r2", 2, 0, err, sizeof err), 0);
    spec_store_close(&store);
    /* the waiting one ends now */
    assert_int_equal(FX.ndone, 1);
    assert_int_equal(FX.done_rc[0], NODE_EIO);
    /* storage's answer still reaches done; nothing is settled */
    FX.cb[0](FX.cb_arg[0], 0);
    assert_int_equal(FX.ndone, 2);
    assert_int_equal(FX.done_rc[1], 0);
    assert_int_equal(FX.nsettled, 0);
    assert_int_equal(FX.nreleased, 2);
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

/* If-Match is checked at the change's turn, before prepare: a match (or
 * "*" for an object that exists) goes on; anything else is NODE_EPRECOND
 * and prepare never sees it. */
static void test_if_match(void **state)
{
    (void)state;
    char err[128] = "";
    assert_int_equal(submit_if(0, "a", "\"ta\"", 1, 0, err, sizeof err), 0);
    FX.cb[0](FX.cb_arg[0], 0);
    assert_int_equal(FX.done_rc[0], 0);
    assert_int_equal(submit_if(0, "a", "W/\"x\", \"ta\"", 3, 0, err, sizeof err), 0);
    FX.cb[1](FX.cb_arg[1], 0);
    assert_int_equal(submit_if(1, "b", "*", 5, 0, err, sizeof err), 0);
    FX.cb[2](FX.cb_arg[2], 0);
    assert_int_equal(FX.nprepared, 3);
    assert_int_equal(submit_if(0, "a", "\"old\"", 7, 0, err, sizeof err), NODE_EPRECOND);
    assert_string_equal(err, "If-Match: a has changed (its ETag is now \"ta\")");
    assert_int_equal(submit_if(0, "a", "W/\"ta\"", 7, 0, err, sizeof err), NODE_EPRECOND);
    assert_int_equal(submit_if(1, "zz", "*", 9, 0, err, sizeof err), NODE_EPRECOND);
    assert_string_equal(err, "If-Match: zz does not exist");
    assert_int_equal(FX.nprepared, 3); /* refused before prepare */
    /* queued behind another: checked at its turn, answered through done */
    assert_int_equal(submit(0, "b", 11, 0, err, sizeof err), 0);
    assert_int_equal(submit_if(0, "b", "\"nope\"", 13, 0, err, sizeof err), 0);
    FX.cb[3](FX.cb_arg[3], 0);
    assert_int_equal(FX.done_rc[4], NODE_EPRECOND);
    assert_string_equal(FX.done_err[4], "If-Match: b has changed (its ETag is now \"tb\")");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_local_changes_deferred_in_order),
        T(test_storage_one_at_a_time_commit_and_failure),
        T(test_refusals_at_once_and_at_their_turn),
        T(test_busy_and_out_of_memory),
        T(test_close_detaches),
        T(test_load),
        T(test_new_id_and_read_only),
        T(test_if_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
