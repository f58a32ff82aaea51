/* spec_store: what the relay and hook managers (node/relay/, node/cluster/hooks.c) share
 * about the objects they keep for the API:
 *   loading  the config file's array (conf text) and the rows storage
 *            loaded at open, each through the manager's own load function;
 *            a bad config-file object stops the start, a stored one that
 *            no longer loads is logged and left in the database;
 *   changes  a put or delete from the API waits in a FIFO, one change in
 *            flight at a time. At its turn the manager's prepare checks it
 *            against what is committed (so a conflict or a missing id is
 *            judged exactly, whatever else was submitted before it) and
 *            reserves what applying it needs; then it is written (storage
 *            thread). Once the write is over, settle applies it (committed)
 *            or drops it (failed), then done hears the result, before any
 *            other change is applied: memory follows SQLite, in commit
 *            order. Without storage the write is skipped and the change
 *            completes from a deferred event, never inside the call. A
 *            manager going away (spec_store_close) ends the waiting changes
 *            and detaches the one at storage: its answer still reaches
 *            done, nothing is settled;
 *   ids      new ids: a prefix and 12 hex digits.
 * The store is owned by its manager (embedded); a change is owned by the
 * store from spec_store_submit() until its done has run. Loop thread only.
 */
#ifndef WEIR_SPEC_STORE_H
#define WEIR_SPEC_STORE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "spec_json.h" /* SPEC_ETAG_MAX */
#include "storage.h"

struct event;
struct event_base;

#define SPEC_STORE_ID_MAX 64     /* RELAY_ID_MAX, HOOK_ID_MAX */
#define SPEC_STORE_QUEUE_MAX 256 /* changes waiting or in flight, per manager */
#define SPEC_STORE_ERR_MAX 256   /* a refusal's message, with its NUL */

/* What a change came to, for the API (valid during the done call):
 *   rc 0            committed and applied; created: 1 the put made the
 *                   object, 0 it replaced one (0 for a delete); spec: a
 *                   put's spec as committed (the manager's relay_spec_t or
 *                   hook_spec_t), else NULL: the answer is rendered from it
 *                   when the manager is gone;
 *   NODE_EIO        the storage write failed: nothing changed;
 *   NODE_ELIMIT / NODE_ENOMEM  storage busy or out of memory before the
 *                   write: nothing changed;
 *   NODE_ENOTFOUND, NODE_EBUSY, NODE_EINVAL  refused by the manager's
 *                   checks at its turn: nothing changed;
 *   NODE_EPRECOND   the change's If-Match did not match the object as
 *                   committed at its turn (or it is gone): nothing changed.
 * err: why (never NULL; "" after a success). */
typedef struct {
    int rc;
    int created;
    const char *err;
    const void *spec;
} spec_result_t;

typedef void (*spec_done_cb)(void *arg, const spec_result_t *res);

struct spec_store_ops;

/* One change. A manager's own change type starts with this member
 * (ops.change_size bytes in all, zeroed by spec_store_change_new()). */
typedef struct spec_change {
    struct spec_change *next; /* queued, oldest first */
    struct spec_store *store; /* NULL once the manager is gone */
    const struct spec_store_ops *ops;
    int del;          /* 1 delete, 0 put */
    int started;      /* prepared and at storage (or waiting for the kick) */
    int created;      /* put: set by prepare (1 new, 0 replaces) */
    int unchanged;    /* put: set by prepare: the committed spec is the same;
                       * nothing is written, settle sees rc 0 */
    const void *spec; /* put: set by prepare, the spec written (in the change) */
    /* The request's If-Match ("" for none): at its turn, before prepare,
     * the object's current entity tag (ops.etag) must match it, else the
     * change is refused with NODE_EPRECOND. */
    char if_match[SPEC_IF_MATCH_MAX];
    char id[SPEC_STORE_ID_MAX];
    spec_done_cb done;
    void *arg;
} spec_change_t;

typedef struct spec_store_ops {
    /* storage_relay_put() / storage_hook_put() and the deletes. */
    int (*put)(storage_t *st, const char *id, const char *spec_json, storage_done_cb done,
               void *arg);
    int (*del)(storage_t *st, const char *id, storage_done_cb done, void *arg);
    /* ch reached the head of the queue (nothing else is in flight): checks
     * it against the committed state, sets ch->created for a put, reserves
     * what applying it needs (settle must not fail), sets ch->unchanged for
     * a put of the spec already committed, and returns 0 with, for
     * a put, the JSON to store in *spec (taken over; NULL: out of memory).
     * Else a refusal (NODE_E*) with err. */
    int (*prepare)(void *owner, spec_change_t *ch, cJSON **spec, char *err, size_t errlen);
    /* The write of ch is over: rc 0 committed (apply it), else not stored
     * (nothing to do but log). */
    void (*settle)(void *owner, spec_change_t *ch, int rc);
    /* Frees what ch still holds (reservations, a patch); runs before every
     * change is freed. */
    void (*release)(spec_change_t *ch);
    size_t change_size; /* the manager's change type, >= sizeof(spec_change_t) */
    /* The entity tag of object id as committed (spec_etag()): 0, or -1
     * when there is no such object. */
    int (*etag)(void *owner, const char *id, char out[SPEC_ETAG_MAX]);
} spec_store_ops_t;

typedef struct spec_store {
    const spec_store_ops_t *ops;
    void *owner;
    storage_t *st;      /* NULL: no storage, changes complete from kick */
    struct event *kick; /* completes the local change in flight */
    spec_change_t *head, *tail;
    size_t count; /* queued, the one in flight included */
} spec_store_t;

/* Sets up s (ops static, owner passed to the ops; st the node's storage or
 * NULL). Returns 0, or -1 when out of memory. */
int spec_store_init(spec_store_t *s, struct event_base *base, storage_t *st,
                    const spec_store_ops_t *ops, void *owner);
/* The manager is going: the change at storage is detached (its done still
 * comes when storage answers; nothing is settled); the others end now with
 * NODE_EIO. Frees what init made. A zeroed s is a no-op. */
void spec_store_close(spec_store_t *s);

/* A new zeroed change of ops->change_size bytes for id (del 1: a delete),
 * or NULL with err "out of memory". Not yet the store's: pass it to
 * spec_store_submit(), or free it with spec_store_change_free(). */
spec_change_t *spec_store_change_new(spec_store_t *s, int del, const char *id,
                                     const char *if_match, spec_done_cb done, void *arg, char *err,
                                     size_t errlen);
/* Releases and frees a change that was not submitted. NULL is a no-op. */
void spec_store_change_free(spec_change_t *ch);
/* Queues ch. When nothing else is queued it is prepared and written now,
 * and a refusal or a storage error comes back here: NODE_ENOTFOUND,
 * NODE_EBUSY, NODE_EINVAL (prepare's err), NODE_ELIMIT ("storage is busy;
 * nothing changed", or too many changes waiting), NODE_ENOMEM ("out of
 * memory"); ch is then freed and done is never called. Else returns 0 and
 * done is called once, later (never inside this call), with the result. */
int spec_store_submit(spec_store_t *s, spec_change_t *ch, char *err, size_t errlen);

/* NODE_EBUSY with err "id: <kind> <id> comes from the config file and is
 * read-only". */
int spec_store_read_only(const char *kind, const char *id, char *err, size_t errlen);

/* A manager's loader of one object: obj from the config file (from_config 1)
 * or from storage. Returns 0, or -1 with err (without the object's place). */
typedef int (*spec_load_fn)(void *owner, const cJSON *obj, int from_config, char *err,
                            size_t errlen);

/* Loads the config file's objects (conf_json: a JSON array, "" for none;
 * section "relays" / "hooks") then rows[0..nrows-1] from storage (kind
 * "relay" / "hook"). Returns 0, or -1 with err "relays: not an array" /
 * "relays[2]: <load's message>" for the config file; a stored row that does
 * not load is logged ("relays: stored relay r1: not valid JSON; skipped")
 * and skipped. */
int spec_store_load(const char *conf_json, const char *section, const char *kind,
                    const storage_spec_t *rows, size_t nrows, spec_load_fn load, void *owner,
                    char *err, size_t errlen);

/* xorshift64* step of *state (jitter and ids; not security). */
uint64_t spec_store_rng(uint64_t *state);
/* The delay before the next attempt after `failures` failed ones (the
 * relays' and hooks' retries): initial_ms doubled per failure after the
 * first, capped at max_ms, with jitter: a value in [d/2, d] drawn from
 * *rng. */
int64_t spec_store_backoff_ms(uint32_t initial_ms, uint32_t max_ms, uint32_t failures,
                              uint64_t *rng);
/* A new id: prefix ("r-", "h-") and 12 hex digits, one taken(owner, id)
 * says is not in use. */
void spec_store_new_id(char *out, size_t outlen, const char *prefix, uint64_t *rng,
                       int (*taken)(void *owner, const char *id), void *owner);

#endif
