/* Tag health: GET /healthz (no token), GET /readyz. */
#include "api_internal.h"
#include "storage.h"

void api_get_healthz(api_req_t *r)
{
    cJSON *o = cJSON_CreateObject();
    if (o)
        cJSON_AddStringToObject(o, "status", "ok");
    api_reply_json(r, 200, o);
}

/* Ready to take new sessions: not shutting down, not draining, and the storage thread
 * alive (a node that cannot record events should get no new load). */
void api_get_readyz(api_req_t *r)
{
    node_t *node = r->api->node;
    cJSON *reasons = cJSON_CreateArray();
    if (!reasons) {
        api_reply_json(r, 500, NULL);
        return;
    }
    if (node->stopping)
        cJSON_AddItemToArray(reasons, cJSON_CreateString("stopping"));
    if (node->draining)
        cJSON_AddItemToArray(reasons, cJSON_CreateString("draining"));
    if (node->st) {
        storage_stats_t ss;
        storage_stats(node->st, &ss);
        if (!ss.thread_alive)
            cJSON_AddItemToArray(reasons, cJSON_CreateString("storage"));
        if (node->storage_lost) /* its file was deleted or replaced (main.c) */
            cJSON_AddItemToArray(reasons, cJSON_CreateString("storage_lost"));
    } else {
        cJSON_AddItemToArray(reasons, cJSON_CreateString("storage"));
    }
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        cJSON_Delete(reasons);
        api_reply_json(r, 500, NULL);
        return;
    }
    int ready = cJSON_GetArraySize(reasons) == 0;
    cJSON_AddStringToObject(o, "status", ready ? "ready" : "not_ready");
    if (ready)
        cJSON_Delete(reasons);
    else
        cJSON_AddItemToObject(o, "reasons", reasons);
    api_reply_json(r, ready ? 200 : 503, o);
}
