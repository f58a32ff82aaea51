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

void spec_store_change_free(spec_change_t *ch)
{
    if (!ch)
        return;
    if (ch->ops->release)
        ch->ops->release(ch);
    free(ch);
}

/* Takes the head (ch) off the queue. */
static void queue_pop(spec_store_t *s, spec_change_t *ch)
{
    s->head = ch->next;
    if (!s->head)
        s->tail = NULL;
    s->count--;
    ch->next = NULL;
}

/* Ends ch, which is off the queue: done hears rc and err, then ch is freed. */
static void change_end(spec_change_t *ch, int rc, const char *err)
{
    int put_done = rc == 0 && !ch->del;
    spec_result_t res = {rc, put_done ? ch->created : 0, err ? err : "",
                         put_done ? ch->spec : NULL};
    if (ch->done)
        ch->done(ch->arg, &res);
    spec_store_change_free(ch);
}

static void change_finish(void *arg, int rc);

/* Writes the prepared change ch (spec: its JSON for a put, taken over), or
 * without storage (or for an unchanged spec) schedules its completion. Returns 0 or a storage error
 * with err. */
static int change_write(spec_store_t *s, spec_change_t *ch, cJSON *spec, char *err, size_t errlen)
{
    char *text = NULL;
    if (!ch->del) {
        text = spec ? cJSON_PrintUnformatted(spec) : NULL;
        cJSON_Delete(spec);
        if (!text) {
            snprintf(err, errlen, "out of memory");
            return NODE_ENOMEM;
        }
    }
    int rc = 0;
    if (!s->st || ch->unchanged) /* nothing to write: settle from the loop */
        event_active(s->kick, EV_TIMEOUT, 0);
    else if (ch->del)
        rc = s->ops->del(s->st, ch->id, change_finish, ch);
    else
        rc = s->ops->put(s->st, ch->id, text, change_finish, ch);
    cJSON_free(text);
    if (rc != 0)
        snprintf(err, errlen,
                 rc == NODE_ENOMEM ? "out of memory" : "storage is busy; nothing changed");
    return rc;
}

/* Starts ch, the head: prepare, then the write. Returns 0 (in flight), or
 * a refusal or storage error with err (ch is still queued). */
/* The change's If-Match against the object as committed now: 0, or
 * NODE_EPRECOND with err. */
static int check_if_match(spec_store_t *s, const spec_change_t *ch, char *err, size_t errlen)
{
    char cur[SPEC_ETAG_MAX];
    if (s->ops->etag(s->owner, ch->id, cur) != 0) {
        snprintf(err, errlen, "If-Match: %s does not exist", ch->id);
        return NODE_EPRECOND;
    }
    if (!spec_etag_match(ch->if_match, cur)) {
        snprintf(err, errlen, "If-Match: %s has changed (its ETag is now %s)", ch->id, cur);
        return NODE_EPRECOND;
    }
    return 0;
}

static int change_start(spec_store_t *s, spec_change_t *ch, char *err, size_t errlen)
{
    cJSON *spec = NULL;
    err[0] = '\0';
    if (ch->if_match[0]) {
        int pc = check_if_match(s, ch, err, errlen);
        if (pc != 0)
            return pc;
    }
    int rc = s->ops->prepare(s->owner, ch, ch->del ? NULL : &spec, err, errlen);
    if (rc != 0) {
        cJSON_Delete(spec);
        return rc;
    }
    ch->started = 1;
    rc = change_write(s, ch, spec, err, errlen);
    if (rc != 0)
        ch->started = 0;
    return rc;
}

/* Starts the next changes until one is in flight or none is left; one that
 * cannot start ends now (its done hears why). */
static void queue_run(spec_store_t *s)
{
    spec_change_t *ch;
    while ((ch = s->head) != NULL && !ch->started) {
        char err[SPEC_STORE_ERR_MAX];
        int rc = change_start(s, ch, err, sizeof err);
        if (rc == 0)
            return;
        queue_pop(s, ch);
        change_end(ch, rc, err);
    }
}

/* Storage answered (or, without storage, the kick ran) for ch, the head:
 * settle, then done, then the next change. */
static void change_finish(void *arg, int rc)
{
    spec_change_t *ch = arg;
    spec_store_t *s = ch->store;
    if (s) {
        queue_pop(s, ch);
        s->ops->settle(s->owner, ch, rc);
    }
    change_end(ch, rc == 0 ? 0 : NODE_EIO, rc == 0 ? "" : "not stored; nothing changed");
    if (s)
        queue_run(s);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    spec_store_t *s = arg;
    if (s->head && s->head->started)
        change_finish(s->head, 0); /* starts the next, which kicks again */
}

int spec_store_init(spec_store_t *s, struct event_base *base, storage_t *st,
                    const spec_store_ops_t *ops, void *owner)
{
    memset(s, 0, sizeof *s);
    s->ops = ops;
    s->owner = owner;
    s->st = st;
    s->kick = event_new(base, -1, 0, kick_cb, s);
    return s->kick ? 0 : -1;
}

void spec_store_close(spec_store_t *s)
{
    spec_change_t *ch;
    while ((ch = s->head) != NULL) {
        queue_pop(s, ch);
        ch->store = NULL;
        if (!(ch->started && s->st)) /* else storage's answer ends it */
            change_end(ch, NODE_EIO, "the node is stopping; nothing changed");
    }
    if (s->kick)
        event_free(s->kick);
    s->kick = NULL;
}

spec_change_t *spec_store_change_new(spec_store_t *s, int del, const char *id,
                                     const char *if_match, spec_done_cb done, void *arg, char *err,
                                     size_t errlen)
{
    size_t size = s->ops->change_size;
    spec_change_t *ch = calloc(1, size > sizeof *ch ? size : sizeof *ch);
    if (!ch) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ch->ops = s->ops;
    ch->del = del;
    snprintf(ch->id, sizeof ch->id, "%s", id);
    snprintf(ch->if_match, sizeof ch->if_match, "%s", if_match ? if_match : "");
    ch->done = done;
    ch->arg = arg;
    return ch;
}

int spec_store_submit(spec_store_t *s, spec_change_t *ch, char *err, size_t errlen)
{
    if (s->count >= SPEC_STORE_QUEUE_MAX) {
        snprintf(err, errlen, "too many changes waiting to be stored; retry");
        spec_store_change_free(ch);
        return NODE_ELIMIT;
    }
    ch->store = s;
    if (s->tail)
        s->tail->next = ch;
    else
        s->head = ch;
    s->tail = ch;
    s->count++;
    if (ch != s->head)
        return 0; /* its turn comes when the ones before it are over */
    int rc = change_start(s, ch, err, errlen);
    if (rc != 0) {
        queue_pop(s, ch);
        spec_store_change_free(ch);
    }
    return rc;
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

int64_t spec_store_backoff_ms(uint32_t initial_ms, uint32_t max_ms, uint32_t failures,
                              uint64_t *rng)
{
    uint64_t d = initial_ms;
    for (uint32_t i = 1; i < failures && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    uint64_t half = d / 2;
    return (int64_t)(d - half + (half ? spec_store_rng(rng) % (half + 1) : 0));
}
