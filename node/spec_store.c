/* spec_store: loading, storing and ids shared by the relay and hook
 * managers (contract in spec_store.h). */
#include "spec_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common.h"
#include "log.h"

/* ---- changes -------------------------------------------------------------- */

static void change_unlink(spec_store_t *s, spec_change_t *ch)
{
    for (spec_change_t **pp = &s->pending; *pp; pp = &(*pp)->next) {
        if (*pp == ch) {
            *pp = ch->next;
            return;
        }
    }
}

/* Storage answered (or, for a local change, the deferred event ran). */
static void change_finish(void *arg, int rc)
{
    spec_change_t *ch = arg;
    spec_store_t *s = ch->store;
    if (s) {
        change_unlink(s, ch);
        rc = s->ops->settle(s->owner, ch, rc);
    }
    if (ch->done)
        ch->done(ch->arg, rc == 0 ? 0 : NODE_EIO);
    free(ch);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    spec_store_t *s = arg;
    /* Local changes, oldest first (the list is in submit order). */
    for (;;) {
        spec_change_t *ch = s->pending;
        while (ch && !ch->local)
            ch = ch->next;
        if (!ch)
            break;
        change_finish(ch, 0);
    }
}

int spec_store_init(spec_store_t *s, struct event_base *base, const spec_store_ops_t *ops,
                    void *owner)
{
    memset(s, 0, sizeof *s);
    s->ops = ops;
    s->owner = owner;
    s->kick = event_new(base, -1, 0, kick_cb, s);
    return s->kick ? 0 : -1;
}

void spec_store_close(spec_store_t *s)
{
    spec_change_t *ch;
    while ((ch = s->pending) != NULL) {
        s->pending = ch->next;
        ch->store = NULL;
        if (ch->local) {
            if (ch->done)
                ch->done(ch->arg, NODE_EIO);
            free(ch);
        }
    }
    if (s->kick)
        event_free(s->kick);
    s->kick = NULL;
}

spec_change_t *spec_store_change_new(spec_store_t *s, int del, const char *id, spec_done_cb done,
                                     void *arg, char *err, size_t errlen)
{
    size_t size = s->ops->change_size;
    spec_change_t *ch = calloc(1, size > sizeof *ch ? size : sizeof *ch);
    if (!ch) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ch->del = del;
    snprintf(ch->id, sizeof ch->id, "%s", id);
    ch->done = done;
    ch->arg = arg;
    return ch;
}

int spec_store_submit(spec_store_t *s, storage_t *st, spec_change_t *ch, cJSON *spec, char *err,
                      size_t errlen)
{
    char *text = NULL;
    if (!ch->del) {
        text = spec ? cJSON_PrintUnformatted(spec) : NULL;
        cJSON_Delete(spec);
        if (!text) {
            snprintf(err, errlen, "out of memory");
            free(ch);
            return NODE_ENOMEM;
        }
    }
    /* Pending (oldest first) before storage may answer. */
    ch->store = s;
    ch->local = st == NULL;
    spec_change_t **pp = &s->pending;
    while (*pp)
        pp = &(*pp)->next;
    *pp = ch;
    int rc = 0;
    if (st)
        rc = ch->del ? s->ops->del(st, ch->id, change_finish, ch)
                     : s->ops->put(st, ch->id, text, change_finish, ch);
    cJSON_free(text);
    if (rc != 0) {
        change_unlink(s, ch);
        snprintf(err, errlen,
                 rc == NODE_ENOMEM ? "out of memory" : "storage is busy; nothing changed");
        free(ch);
        return rc;
    }
    if (ch->local)
        event_active(s->kick, EV_TIMEOUT, 0);
    return 0;
}

int spec_store_read_only(const char *kind, const char *id, char *err, size_t errlen)
{
    snprintf(err, errlen, "id: %s %s comes from the config file and is read-only", kind, id);
    return NODE_EBUSY;
}

/* ---- loading --------------------------------------------------------------- */

int spec_store_load(const char *conf_json, const char *section, const char *kind,
                    const storage_spec_t *rows, size_t nrows, spec_load_fn load, void *owner,
                    char *err, size_t errlen)
{
    char e[600];
    /* Config-file objects: a bad one stops the start (the config loader
     * checked each spec; the checks against the node and each other are
     * the manager's). */
    if (conf_json && conf_json[0]) {
        cJSON *arr = cJSON_Parse(conf_json);
        if (!cJSON_IsArray(arr)) {
            cJSON_Delete(arr);
            snprintf(err, errlen, "%s: not an array", section);
            return -1;
        }
        int i = 0;
        const cJSON *el;
        cJSON_ArrayForEach(el, arr)
        {
            if (load(owner, el, 1, e, sizeof e) != 0) {
                snprintf(err, errlen, "%s[%d]: %s", section, i, e);
                cJSON_Delete(arr);
                return -1;
            }
            i++;
        }
        cJSON_Delete(arr);
    }
    /* Stored objects: one that no longer loads is logged and left in the
     * database (nothing acknowledged is deleted behind the operator's
     * back). */
    for (size_t i = 0; i < nrows; i++) {
        cJSON *obj = cJSON_Parse(rows[i].spec);
        if (!obj)
            log_error(0, "%s: stored %s %s: not valid JSON; skipped", section, kind, rows[i].id);
        else if (load(owner, obj, 0, e, sizeof e) != 0)
            log_error(0, "%s: stored %s %s: %s; skipped", section, kind, rows[i].id, e);
        cJSON_Delete(obj);
    }
    return 0;
}

/* ---- ids ------------------------------------------------------------------- */

uint64_t spec_store_rng(uint64_t *state)
{
    /* xorshift64*: jitter only, not security. */
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void spec_store_new_id(char *out, size_t outlen, const char *prefix, uint64_t *rng,
                       int (*taken)(void *owner, const char *id), void *owner)
{
    do {
        snprintf(out, outlen, "%s%012llx", prefix,
                 (unsigned long long)(spec_store_rng(rng) & 0xffffffffffffULL));
    } while (taken(owner, out));
}
