#include "evlog.h"

#include "common.h"
#include "log.h"
#include "storage.h"

uint64_t evlog_emit(node_t *node, const char *type, cJSON *fields)
{
    if (!node->st) {
        cJSON_Delete(fields);
        return 0;
    }
    char *data = fields ? cJSON_PrintUnformatted(fields) : NULL;
    const cJSON *app = fields ? cJSON_GetObjectItemCaseSensitive(fields, "app") : NULL;
    const cJSON *name = fields ? cJSON_GetObjectItemCaseSensitive(fields, "name") : NULL;
    storage_event_t ev = {
        .id = node->next_event_id,
        .time_ms = weir_wall_ms(),
        .type = type,
        .app = cJSON_IsString(app) ? app->valuestring : NULL,
        .name = cJSON_IsString(name) ? name->valuestring : NULL,
        .data = data,
    };
    int rc = (fields && !data) ? NODE_ENOMEM : storage_event_put(node->st, &ev);
    cJSON_free(data);
    cJSON_Delete(fields);
    if (rc != 0) {
        if (rc != NODE_ELIMIT) /* a full queue is counted by storage */
            node->events_lost++;
        log_warn(0, "event log: %s not recorded: %s", type,
                 rc == NODE_ELIMIT ? "storage queue full" : "out of memory");
        return 0;
    }
    return node->next_event_id++;
}

cJSON *evlog_session_fields(const sess_info_t *si)
{
    cJSON *f = cJSON_CreateObject();
    if (!f)
        return NULL;
    cJSON_AddNumberToObject(f, "session_id", (double)si->id);
    if (si->app)
        cJSON_AddStringToObject(f, "app", si->app);
    if (si->name)
        cJSON_AddStringToObject(f, "name", si->name);
    cJSON_AddStringToObject(f, "protocol", si->protocol);
    cJSON_AddStringToObject(f, "remote", si->remote);
    return f;
}

uint64_t evlog_session(node_t *node, const char *type, const sess_info_t *si, int stop,
                       int64_t duration_ms, const char *reason)
{
    cJSON *f = evlog_session_fields(si);
    if (f && stop) {
        cJSON_AddNumberToObject(f, "bytes_in", (double)si->bytes_in);
        cJSON_AddNumberToObject(f, "bytes_out", (double)si->bytes_out);
        cJSON_AddNumberToObject(f, "duration_ms", (double)(duration_ms > 0 ? duration_ms : 0));
        if (si->role == SESS_ROLE_PLAYER)
            cJSON_AddNumberToObject(f, "dropped_frames", (double)si->dropped_frames);
        if (reason)
            cJSON_AddStringToObject(f, "reason", reason);
    }
    return evlog_emit(node, type, f);
}
