#include "evlog.h"

#include <string.h>

#include "common.h"
#include "hooks.h"
#include "log.h"
#include "fmt.h"
#include "storage.h"

cJSON *evlog_payload(cJSON *id, const char *type, const char *node_id, int64_t wall_ms,
                     cJSON *fields)
{
    char when[40];
    fmt_time(wall_ms, when, sizeof when);
    cJSON *o = id ? cJSON_CreateObject() : NULL;
    int ok = o && cJSON_AddItemToObject(o, "id", id);
    if (!ok)
        cJSON_Delete(id);
    ok = ok && cJSON_AddStringToObject(o, "type", type) &&
         cJSON_AddStringToObject(o, "node_id", node_id) && cJSON_AddStringToObject(o, "time", when);
    while (ok && fields && fields->child) {
        cJSON *f = cJSON_DetachItemViaPointer(fields, fields->child);
        const char *k = f->string ? f->string : "";
        if (strcmp(k, "id") == 0 || strcmp(k, "type") == 0 || strcmp(k, "node_id") == 0 ||
            strcmp(k, "time") == 0) {
            cJSON_Delete(f); /* the envelope's own members win */
            continue;
        }
        ok = cJSON_AddItemToObject(o, k, f);
        if (!ok)
            cJSON_Delete(f);
    }
    cJSON_Delete(fields);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Hands the event to the webhooks. fields taken over. */
static void notify(node_t *node, uint64_t id, const char *type, int64_t wall_ms, cJSON *fields)
{
    if (!node->hooks) {
        cJSON_Delete(fields);
        return;
    }
    cJSON *p = evlog_payload(cJSON_CreateNumber((double)id), type, node_id(node), wall_ms, fields);
    if (!p) {
        log_warn(0, "webhooks: %s not delivered: out of memory", type);
        return;
    }
    hook_mgr_notify(node->hooks, type, p);
    cJSON_Delete(p);
}

uint64_t evlog_emit(node_t *node, const char *type, cJSON *fields)
{
    int64_t now = weir_wall_ms();
    uint64_t id = node->next_event_id++; /* used up even if not recorded */
    if (!node->st) {
        notify(node, id, type, now, fields);
        return 0;
    }
    char *data = fields ? cJSON_PrintUnformatted(fields) : NULL;
    const cJSON *app = fields ? cJSON_GetObjectItemCaseSensitive(fields, "app") : NULL;
    const cJSON *name = fields ? cJSON_GetObjectItemCaseSensitive(fields, "name") : NULL;
    storage_event_t ev = {
        .id = id,
        .time_ms = now,
        .type = type,
        .app = cJSON_IsString(app) ? app->valuestring : NULL,
        .name = cJSON_IsString(name) ? name->valuestring : NULL,
        .data = data,
    };
    int rc = (fields && !data) ? NODE_ENOMEM : storage_event_put(node->st, &ev);
    cJSON_free(data);
    notify(node, id, type, now, fields);
    if (rc != 0) {
        if (rc != NODE_ELIMIT) /* a full queue is counted by storage */
            node->events_lost++;
        log_warn(0, "event log: %s not recorded: %s", type,
                 rc == NODE_ELIMIT ? "storage queue full" : "out of memory");
        return 0;
    }
    return id;
}

