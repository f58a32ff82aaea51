/* spec_store: what the relay and hook managers (relay.c, hooks.c) share
 * about the objects they keep for the API:
 *   loading  the config file's array (conf text) and the rows storage
 *            loaded at open, each through the manager's own load function;
 *            a bad config-file object stops the start, a stored one that
 *            no longer loads is logged and left in the database;
 *   changes  a put or delete from the API is stored first (storage thread);
 *            the manager's settle function hears, on the loop thread, once
 *            it is committed or has failed, then the API's done. Without
 *            storage the answer comes from a deferred event, oldest first,
 *            never inside the call. A manager going away (spec_store_close)
 *            detaches its changes: storage's answers still reach done, but
 *            nothing is settled;
 *   ids      new ids: a prefix and 12 hex digits.
 * The store is owned by its manager (embedded); a change is owned by the
 * store from spec_store_submit() until its done has run. Loop thread only.
 */
#ifndef WEIR_SPEC_STORE_H
#define WEIR_SPEC_STORE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "storage.h"

struct event;
struct event_base;

#define SPEC_STORE_ID_MAX 64 /* RELAY_ID_MAX, HOOK_ID_MAX */

/* The API's callback: rc 0 committed and applied, else NODE_EIO. */
typedef void (*spec_done_cb)(void *arg, int rc);

/* One change. A manager's own change type starts with this member
 * (ops.change_size bytes in all, zeroed by spec_store_change_new()). */
typedef struct spec_change {
    struct spec_change *next; /* pending, oldest first */
    struct spec_store *store; /* NULL once the manager is gone */
    int del;                  /* 1 delete, 0 put */
    int local;                /* no storage: waits for the deferred event */
    char id[SPEC_STORE_ID_MAX];
    spec_done_cb done;
    void *arg;
} spec_change_t;

typedef struct {
    /* storage_relay_put() / storage_hook_put() and the deletes. */
    int (*put)(storage_t *st, const char *id, const char *spec_json, storage_done_cb done,
               void *arg);
    int (*del)(storage_t *st, const char *id, storage_done_cb done, void *arg);
    /* The write of ch is over: rc 0 committed, else not stored. Returns the
     * outcome for done (0, or non-zero: done gets NODE_EIO). */
    int (*settle)(void *owner, spec_change_t *ch, int rc);
    size_t change_size; /* the manager's change type, >= sizeof(spec_change_t) */
} spec_store_ops_t;

typedef struct spec_store {
    const spec_store_ops_t *ops;
    void *owner;
    struct event *kick; /* completes local changes */
    spec_change_t *pending;
} spec_store_t;

/* Sets up s (ops static, owner passed to settle). Returns 0, or -1 when
 * out of memory. */
int spec_store_init(spec_store_t *s, struct event_base *base, const spec_store_ops_t *ops,
                    void *owner);
/* The manager is going: changes waiting for storage are detached (their done
 * still comes when storage answers); local ones end now with NODE_EIO. Frees
 * what init made. A zeroed s is a no-op. */
void spec_store_close(spec_store_t *s);

/* A new zeroed change of ops->change_size bytes for id (del 1: a delete),
 * or NULL with err "out of memory". Not yet the store's: pass it to
 * spec_store_submit(). */
spec_change_t *spec_store_change_new(spec_store_t *s, int del, const char *id, spec_done_cb done,
                                     void *arg, char *err, size_t errlen);
/* Stores ch: a put writes spec (taken over and freed; NULL: out of memory),
 * a delete passes spec NULL. st NULL (no storage): ch completes from the
 * deferred event. Returns 0 (settle, then done, come later), or
 * NODE_ELIMIT / NODE_ENOMEM with err ("storage is busy; nothing changed",
 * "out of memory") and ch freed. */
int spec_store_submit(spec_store_t *s, storage_t *st, spec_change_t *ch, cJSON *spec, char *err,
                      size_t errlen);

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
/* A new id: prefix ("r-", "h-") and 12 hex digits, one taken(owner, id)
 * says is not in use. */
void spec_store_new_id(char *out, size_t outlen, const char *prefix, uint64_t *rng,
                       int (*taken)(void *owner, const char *id), void *owner);

#endif
