#include "drain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "conn.h"
#include "evlog.h"
#include "log.h"

void drain_set(node_t *node, int on, const char *redirect, uint32_t retry_after_s,
               int64_t since_wall_ms, const char *by)
{
    int was = node->draining;
    if (!on && !was)
        return; /* nothing to end: no change, no event */
    node->draining = on ? 1 : 0;
    if (!was)
        node->drained_reported = 0; /* a new drain reports its end again */
    if (on) {
        snprintf(node->drain_redirect, sizeof node->drain_redirect, "%s", redirect ? redirect : "");
        node->drain_retry_after_s = retry_after_s;
        node->drain_since_wall_ms = was ? node->drain_since_wall_ms : since_wall_ms;
        log_info(0, "draining (%s): no new publishers or players; HTTP-FLV %s%s", by,
                 node->drain_redirect[0] ? "redirected to " : "answered 503", node->drain_redirect);
    } else {
        node->drain_redirect[0] = '\0';
        node->drain_retry_after_s = 0;
        node->drain_since_wall_ms = 0;
        log_info(0, "drain ended (%s): accepting new sessions", by);
    }
    cJSON *f = cJSON_CreateObject();
    if (f) {
        if (on) {
            if (node->drain_redirect[0])
                cJSON_AddStringToObject(f, "redirect_url", node->drain_redirect);
            else
                cJSON_AddNullToObject(f, "redirect_url");
            cJSON_AddNumberToObject(f, "retry_after_s", node->drain_retry_after_s);
        }
        cJSON_AddStringToObject(f, "by", by);
    }
    evlog_emit(node, on ? "node.drain" : "node.undrain", f);
}

int drain_redirect_valid(const char *u)
{
    size_t skip = strncmp(u, "http://", 7) == 0 ? 7 : strncmp(u, "https://", 8) == 0 ? 8 : 0;
    if (!skip || !u[skip] || u[skip] == '/' || strlen(u) >= DRAIN_URL_MAX)
        return 0;
    for (const char *p = u; *p; p++)
        if (*p <= ' ' || *p > '~')
            return 0;
    return 1;
}

char *drain_to_setting(int on, const char *redirect, uint32_t retry_after_s, int64_t since_wall_ms)
{
    if (!on)
        return strdup("");
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "redirect_url", redirect ? redirect : "");
    cJSON_AddNumberToObject(o, "retry_after_s", retry_after_s);
    cJSON_AddNumberToObject(o, "since_ms", (double)since_wall_ms);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

int drain_restore(node_t *node, const char *text)
{
    if (!text || !text[0])
        return 0;
    cJSON *o = cJSON_Parse(text);
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(o, "redirect_url");
    const cJSON *retry = cJSON_GetObjectItemCaseSensitive(o, "retry_after_s");
    const cJSON *since = cJSON_GetObjectItemCaseSensitive(o, "since_ms");
    int ok = cJSON_IsString(url) &&
             (!url->valuestring[0] || drain_redirect_valid(url->valuestring)) &&
             cJSON_IsNumber(retry) && retry->valuedouble >= 1 &&
             retry->valuedouble <= DRAIN_RETRY_AFTER_MAX && cJSON_IsNumber(since);
    if (ok)
        drain_set(node, 1, url->valuestring, (uint32_t)retry->valuedouble,
                  (int64_t)since->valuedouble, "restart");
    else
        log_error(0, "setting %s: cannot read '%.200s'; the node is not draining", DRAIN_SETTING,
                  text);
    cJSON_Delete(o);
    return ok ? 0 : -1;
}

static void count_client(conn_t *c, void *arg)
{
    if (!c->outgoing)
        (*(size_t *)arg)++;
}

size_t drain_remaining(node_t *node)
{
    size_t n = 0;
    node_foreach_session(node, count_client, &n);
    return n;
}

/* Records node.drained once per drain, at the first tick without sessions. */
static void drain_tick(void *arg, int64_t now_ms)
{
    node_t *node = arg;
    (void)now_ms;
    if (!node->draining || node->drained_reported || node->stopping || drain_remaining(node))
        return;
    node->drained_reported = 1;
    int64_t took = weir_wall_ms() - node->drain_since_wall_ms;
    log_info(0, "drained: no client sessions left");
    cJSON *f = cJSON_CreateObject();
    if (f)
        cJSON_AddNumberToObject(f, "duration_ms", (double)(took > 0 ? took : 0));
    evlog_emit(node, "node.drained", f);
}

static const node_module_t DRAIN_MODULE = {.name = "drain", .tick = drain_tick};

int drain_start(node_t *node, char *err, size_t errlen)
{
    if (node_add_module(node, &DRAIN_MODULE, node) != 0) {
        snprintf(err, errlen, "too many node modules");
        return -1;
    }
    return 0;
}
