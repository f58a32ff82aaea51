/* page: one page of an API list (page.h). */
#include "page.h"

#include <inttypes.h>
#include <stdio.h>

#include "api_internal.h"

int api_page_begin(api_req_t *r, api_page_t *p)
{
    uint64_t limit;
    *p = (api_page_t){0};
    if (api_query_u64(r, "limit", API_PAGE_LIMIT_DEFAULT, 1, API_PAGE_LIMIT_MAX, &limit) != 0)
        return -1;
    p->limit = (size_t)limit;
    p->items = cJSON_CreateArray();
    if (!p->items) {
        api_reply_json(r, 500, NULL);
        return -1;
    }
    return 0;
}

int api_page_full(api_page_t *p)
{
    if (p->n < p->limit && !p->oom)
        return 0;
    p->more = 1;
    return 1;
}

void api_page_add(api_page_t *p, cJSON *item)
{
    if (!item || !cJSON_AddItemToArray(p->items, item)) {
        cJSON_Delete(item);
        p->oom = 1;
        return;
    }
    p->n++;
}

cJSON *api_page_u64(uint64_t id)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRIu64, id);
    return cJSON_CreateRaw(s);
}

void api_page_reply(api_req_t *r, api_page_t *p, const char *key, cJSON *next)
{
    cJSON *o = p->oom ? NULL : cJSON_CreateObject();
    if (!p->more) {
        cJSON_Delete(next);
        next = cJSON_CreateNull();
    }
    cJSON *items = p->items;
    p->items = NULL;
    if (o && items && cJSON_AddItemToObject(o, key, items)) {
        items = NULL; /* o's now */
        if (next && cJSON_AddItemToObject(o, "next_after", next)) {
            api_reply_json(r, 200, o);
            return;
        }
    }
    cJSON_Delete(o);
    cJSON_Delete(items);
    cJSON_Delete(next);
    api_reply_json(r, 500, NULL);
}
