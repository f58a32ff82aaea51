/* Tag events: GET /api/v1/events?after=ID&limit=N&type=T1,T2, read from
 * storage on its thread (the request waits, suspended, for the rows; the
 * type filter is the query's, so limit counts matching events). */
#include <stdlib.h>

#include "api_internal.h"
#include "parse.h"
#include "render.h"
#include "storage.h"

#define EVENTS_LIMIT_DEFAULT 100
#define EVENTS_LIMIT_MAX 1000

typedef struct {
    api_req_t *r;
    uint64_t after;
} events_ctx_t;

static void events_done(void *arg, int rc, const storage_event_t *rows, size_t n)
{
    events_ctx_t *e = arg;
    api_req_t *r = e->r;
    uint64_t after = e->after;
    free(e);
    if (rc != 0) {
        api_reply_error(r, 503, "unavailable", "the event log cannot be read now");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "events") : NULL;
    uint64_t last = after;
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *ev = api_render_event(&rows[i]);
        if (!ev || !cJSON_AddItemToArray(arr, ev)) {
            cJSON_Delete(ev);
            arr = NULL;
            break;
        }
        last = rows[i].id;
    }
    if (!arr) {
        cJSON_Delete(o);
        api_reply_json(r, 500, NULL);
        return;
    }
    cJSON_AddNumberToObject(o, "next_after", (double)last);
    api_reply_json(r, 200, o);
}

void api_get_events(api_req_t *r)
{
    uint64_t after, limit;
    if (api_query_u64(r, "after", 0, 0, API_ID_MAX, &after) != 0 ||
        api_query_u64(r, "limit", EVENTS_LIMIT_DEFAULT, 1, EVENTS_LIMIT_MAX, &limit) != 0)
        return;
    const char *type = api_query(r, "type");
    char types[API_EVENT_TYPES_LEN], err[160];
    if (type && api_parse_event_types(type, types, err, sizeof err) != 0) {
        api_reply_error(r, 400, "invalid_field", "%s", err);
        return;
    }
    node_t *node = r->api->node;
    events_ctx_t *e = node->st ? malloc(sizeof *e) : NULL;
    if (!e) {
        api_reply_error(r, 503, "unavailable", "the event log is not available");
        return;
    }
    e->r = r;
    e->after = after;
    if (storage_events_get(node->st, after, (uint32_t)limit, type ? types : NULL, events_done, e) !=
        0) {
        free(e);
        api_reply_error(r, 503, "unavailable", "storage is busy, retry");
        return;
    }
    api_suspend(r);
}
