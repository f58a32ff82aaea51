/* record_recorders: the recorders of the recording manager: the config
 * file's, the API's (kept in SQLite) and the one-off ones (see
 * record_mgr.h). Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "log.h"
#include "record_mgr_internal.h"
#include "spec_store.h"
#include "storage.h"

const record_spec_t *record_mgr_spec(record_mgr_t *m, const char *id)
{
    for (size_t i = 0; i < m->nspecs; i++)
        if (strcmp(m->specs[i].spec.id, id) == 0)
            return &m->specs[i].spec;
    return NULL;
}

/* Inserts or replaces (by id), keeping the list ordered by id. */
static int specs_put(record_mgr_t *m, const record_spec_t *s, recorder_source_t src)
{
    size_t i = 0;
    while (i < m->nspecs && strcmp(m->specs[i].spec.id, s->id) < 0)
        i++;
    if (i < m->nspecs && strcmp(m->specs[i].spec.id, s->id) == 0) {
        m->specs[i] = (recorder_t){*s, src};
        return 0;
    }
    if (m->nspecs == RECORD_RECORDERS_MAX)
        return -1;
    memmove(&m->specs[i + 1], &m->specs[i], (m->nspecs - i) * sizeof *m->specs);
    m->specs[i] = (recorder_t){*s, src};
    m->nspecs++;
    return 0;
}

static int load_one(void *owner, const cJSON *obj, int from_config, char *err, size_t errlen)
{
    record_mgr_t *m = owner;
    record_spec_t s;
    if (record_spec_from_json(obj, NULL, 1, &s, err, errlen) != 0)
        return -1;
    if (!s.id[0]) {
        snprintf(err, errlen, "id: required");
        return -1;
    }
    if (!from_config && record_mgr_spec(m, s.id)) {
        snprintf(err, errlen, "id: %s is a config-file recorder", s.id);
        return -1;
    }
    if (specs_put(m, &s, from_config ? RECORDER_CONFIG : RECORDER_API) != 0) {
        snprintf(err, errlen, "more than %d recorders", RECORD_RECORDERS_MAX);
        return -1;
    }
    return 0;
}

int record_mgr_load(record_mgr_t *m, char *err, size_t errlen)
{
    const storage_spec_t *rows = NULL;
    size_t nrows = m->node->st ? storage_recorders(m->node->st, &rows) : 0;
    return spec_store_load(m->node->conf.recorders_json, "recorders", "recorder", rows, nrows,
                           load_one, m, err, errlen);
}

/* ---- API changes (spec_store.h): checked at their turn, applied once
 * committed ---------------------------------------------------------------- */

typedef struct {
    spec_change_t base;
    int create_only;    /* POST: refused when the id exists */
    record_spec_t spec; /* put: the new spec */
} change_t;

static const recorder_t *recorder_find(record_mgr_t *m, const char *id)
{
    for (size_t i = 0; i < m->nspecs; i++)
        if (strcmp(m->specs[i].spec.id, id) == 0)
            return &m->specs[i];
    return NULL;
}

static void specs_remove(record_mgr_t *m, const char *id)
{
    for (size_t i = 0; i < m->nspecs; i++) {
        if (strcmp(m->specs[i].spec.id, id) == 0) {
            memmove(&m->specs[i], &m->specs[i + 1], (m->nspecs - i - 1) * sizeof *m->specs);
            m->nspecs--;
            return;
        }
    }
}

/* Another recorder whose files could share this one's names: the same
 * template with streams both match. */
static const char *path_clash(record_mgr_t *m, const record_spec_t *s)
{
    for (size_t i = 0; i < m->nspecs; i++) {
        const record_spec_t *o = &m->specs[i].spec;
        int apps = strcmp(o->app, "*") == 0 || strcmp(s->app, "*") == 0 ||
                   strcmp(o->app, s->app) == 0;
        int names = strcmp(o->name, "*") == 0 || strcmp(s->name, "*") == 0 ||
                    strcmp(o->name, s->name) == 0;
        if (strcmp(o->id, s->id) != 0 && apps && names && strcmp(o->path, s->path) == 0 &&
            o->format == s->format)
            return o->id;
    }
    return NULL;
}

static int change_prepare(void *owner, spec_change_t *base, cJSON **spec, char *err,
                          size_t errlen)
{
    record_mgr_t *m = owner;
    change_t *ch = (change_t *)base;
    const recorder_t *cur = recorder_find(m, base->id);
    if (!cur && base->del) {
        snprintf(err, errlen, "no recorder %s", base->id);
        return NODE_ENOTFOUND;
    }
    if (cur && cur->source == RECORDER_CONFIG)
        return spec_store_read_only("recorder", base->id, err, errlen);
    if (base->del)
        return 0;
    if (cur && ch->create_only) {
        snprintf(err, errlen, "id: recorder %s already exists", base->id);
        return NODE_EBUSY;
    }
    const char *clash = path_clash(m, &ch->spec);
    if (clash) {
        snprintf(err, errlen, "path: recorder %s writes the same files for the same streams",
                 clash);
        return NODE_EINVAL;
    }
    if (!cur && m->nspecs >= RECORD_RECORDERS_MAX) {
        snprintf(err, errlen, "too many recorders (%d)", RECORD_RECORDERS_MAX);
        return NODE_ELIMIT;
    }
    base->created = !cur;
    base->spec = &ch->spec;
    *spec = record_spec_to_json(&ch->spec);
    base->unchanged = cur && memcmp(&cur->spec, &ch->spec, sizeof ch->spec) == 0;
    return 0;
}

static void change_settle(void *owner, spec_change_t *base, int rc)
{
    record_mgr_t *m = owner;
    change_t *ch = (change_t *)base;
    if (rc != 0) {
        log_warn(0, "recorder %s: change not stored (storage write failed); nothing changed",
                 base->id);
        return;
    }
    if (base->del)
        specs_remove(m, base->id); /* its recordings stop at the next tick */
    else if (!base->unchanged)
        specs_put(m, &ch->spec, RECORDER_API); /* room reserved at prepare */
    log_info(0, "recorder %s %s over the API", base->id,
             base->del ? "deleted" : base->created ? "created" : "replaced");
}

static void change_release(spec_change_t *base)
{
    (void)base;
}

static int change_etag(void *owner, const char *id, char out[SPEC_ETAG_MAX])
{
    record_mgr_t *m = owner;
    const recorder_t *cur = recorder_find(m, id);
    return cur ? record_spec_etag(m, &cur->spec, out) : -1;
}

const spec_store_ops_t RECORD_STORE_OPS = {.put = storage_recorder_put,
                                           .del = storage_recorder_delete,
                                           .prepare = change_prepare,
                                           .settle = change_settle,
                                           .release = change_release,
                                           .change_size = sizeof(change_t),
                                           .etag = change_etag};

int record_mgr_put(record_mgr_t *m, const record_spec_t *spec, int create_only,
                   const char *if_match, spec_done_cb done, void *arg, char *err, size_t errlen)
{
    if (!spec->id[0] || record_spec_validate(spec, err, errlen) != 0)
        return NODE_EINVAL;
    change_t *ch =
        (change_t *)spec_store_change_new(&m->store, 0, spec->id, if_match, done, arg, err, errlen);
    if (!ch)
        return NODE_ENOMEM;
    ch->create_only = create_only;
    ch->spec = *spec;
    return spec_store_submit(&m->store, &ch->base, err, errlen);
}

int record_mgr_delete(record_mgr_t *m, const char *id, const char *if_match, spec_done_cb done,
                      void *arg, char *err, size_t errlen)
{
    spec_change_t *ch = spec_store_change_new(&m->store, 1, id, if_match, done, arg, err, errlen);
    return ch ? spec_store_submit(&m->store, ch, err, errlen) : NODE_ENOMEM;
}

static int id_taken(void *owner, const char *id)
{
    return recorder_find(owner, id) != NULL;
}

void record_mgr_new_id(record_mgr_t *m, char out[RECORD_ID_MAX])
{
    spec_store_new_id(out, RECORD_ID_MAX, "rec-", &m->rng, id_taken, m);
}

int record_mgr_source(record_mgr_t *m, const char *id)
{
    const recorder_t *r = recorder_find(m, id);
    return r ? (int)r->source : -1;
}

void record_mgr_foreach(record_mgr_t *m, void (*cb)(const record_spec_t *s, int source, void *arg),
                        void *arg)
{
    for (size_t i = 0; i < m->nspecs; i++)
        cb(&m->specs[i].spec, (int)m->specs[i].source, arg);
}

/* ---- one-off recordings (not stored) ---------------------------------------- */

static const recorder_t *oneoff_find(record_mgr_t *m, const char *app, const char *name)
{
    for (size_t i = 0; i < m->nspecs; i++) {
        const recorder_t *r = &m->specs[i];
        if (r->source == RECORDER_ONEOFF && strcmp(r->spec.app, app) == 0 &&
            strcmp(r->spec.name, name) == 0)
            return r;
    }
    return NULL;
}

int record_mgr_oneoff_start(record_mgr_t *m, const record_spec_t *spec, char *err, size_t errlen)
{
    const recorder_t *cur = oneoff_find(m, spec->app, spec->name);
    if (cur) {
        snprintf(err, errlen, "%s", cur->spec.id);
        return NODE_EBUSY;
    }
    record_spec_t s = *spec;
    record_mgr_new_id(m, s.id);
    const char *clash = path_clash(m, &s);
    if (clash) {
        snprintf(err, errlen, "path: recorder %s writes the same files for the same streams",
                 clash);
        return NODE_EINVAL;
    }
    if (specs_put(m, &s, RECORDER_ONEOFF) != 0) {
        snprintf(err, errlen, "too many recorders (%d)", RECORD_RECORDERS_MAX);
        return NODE_ELIMIT;
    }
    snprintf(err, errlen, "%s", s.id);
    log_info(0, "record: one-off recording of %s/%s (%s) started over the API", s.app, s.name,
             s.id);
    return 0;
}

int record_mgr_oneoff_stop(record_mgr_t *m, const char *app, const char *name)
{
    const recorder_t *cur = oneoff_find(m, app, name);
    if (!cur)
        return NODE_ENOTFOUND;
    specs_remove(m, cur->spec.id); /* its recording stops at the next tick */
    return 0;
}
