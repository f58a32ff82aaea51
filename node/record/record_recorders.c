/* record_recorders: the recorders of the recording manager: the config
 * file's, the API's (kept in SQLite) and the one-off ones (see
 * record_mgr.h). Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "record_mgr_internal.h"
#include "spec_store.h"

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
