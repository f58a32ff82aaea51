#include "heartbeat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "evlog.h"
#include "node.h"

struct heartbeat {
    struct node *node;
    heartbeat_count_fn relays_active;
    void *relays_arg;
    int64_t next_ms;   /* when the next one is due (0: not started) */
    int64_t last_ms;   /* the node's CPU sample (procload.h) at the last heartbeat */
    double last_cpu_s; /* process CPU time at that sample */
};

static void count_session(conn_t *c, void *arg)
{
    (void)c;
    (*(size_t *)arg)++;
}

cJSON *heartbeat_fields(heartbeat_t *hb, int64_t now_ms)
{
    node_t *node = hb->node;
    cJSON *f = cJSON_CreateObject();
    if (!f)
        return NULL;
    size_t streams = 0, publishers = 0, players = 0, sessions = 0;
    hub_counts(node->hub, &streams, &publishers, &players, NULL);
    node_foreach_session(node, count_session, &sessions);
    size_t relays_active = hb->relays_active ? hb->relays_active(hb->relays_arg) : 0;
    /* The average over the interval, from the node's samples. */
    const procload_t *pl = &node->load;
    double pct = 0;
    if (hb->last_ms && pl->at_ms > hb->last_ms)
        pct = (pl->process_seconds - hb->last_cpu_s) * 1000.0 * 100.0 /
              (double)(pl->at_ms - hb->last_ms);
    hb->last_ms = pl->at_ms;
    hb->last_cpu_s = pl->process_seconds;
    double in = rate_per_sec(&node->rate_in, node->bytes_in, now_ms) * 8;
    double out = rate_per_sec(&node->rate_out, node->bytes_out, now_ms) * 8;
    cJSON_AddNumberToObject(f, "streams", (double)streams);
    cJSON_AddNumberToObject(f, "publishers", (double)publishers);
    cJSON_AddNumberToObject(f, "players", (double)players);
    cJSON_AddNumberToObject(f, "sessions", (double)sessions);
    cJSON_AddNumberToObject(f, "relays_active", (double)relays_active);
    cJSON_AddNumberToObject(f, "bitrate_in_kbps", round(in / 100.0) / 10.0);
    cJSON_AddNumberToObject(f, "bitrate_out_kbps", round(out / 100.0) / 10.0);
    cJSON_AddNumberToObject(f, "cpu_percent", round(pct * 10.0) / 10.0);
    cJSON_AddNumberToObject(f, "rss_bytes", (double)pl->rss_bytes);
    cJSON_AddBoolToObject(f, "draining", node->draining);
    cJSON_AddNumberToObject(f, "uptime_s", (double)((now_ms - node->start_ms) / 1000));
    cJSON_AddStringToObject(f, "version", WEIR_VERSION);
    return f;
}

/* Emits a heartbeat when one is due. */
static void heartbeat_tick(void *arg, int64_t now_ms)
{
    heartbeat_t *hb = arg;
    node_t *node = hb->node;
    uint32_t every_s = node->conf.events_heartbeat_interval_s;
    if (!every_s || node->stopping)
        return;
    if (!hb->next_ms) {
        /* The first one an interval after start (node.start says hello);
         * the CPU sample starts now. */
        hb->next_ms = now_ms + (int64_t)every_s * 1000;
        hb->last_ms = node->load.at_ms;
        hb->last_cpu_s = node->load.process_seconds;
        return;
    }
    if (now_ms < hb->next_ms)
        return;
    /* Keep the cadence; after a long stall, start again from now. */
    hb->next_ms += (int64_t)every_s * 1000;
    if (hb->next_ms <= now_ms)
        hb->next_ms = now_ms + (int64_t)every_s * 1000;
    evlog_emit(node, "node.heartbeat", heartbeat_fields(hb, now_ms));
}

static const node_module_t HEARTBEAT_MODULE = {
    .name = "heartbeat", .tick = heartbeat_tick, .after_close = free};

int heartbeat_start(node_t *node, heartbeat_count_fn relays_active, void *arg, char *err,
                    size_t errlen)
{
    heartbeat_t *hb = calloc(1, sizeof *hb);
    if (!hb) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    hb->node = node;
    hb->relays_active = relays_active;
    hb->relays_arg = arg;
    if (node_add_module(node, &HEARTBEAT_MODULE, hb) != 0) {
        free(hb);
        snprintf(err, errlen, "too many node modules");
        return -1;
    }
    return 0;
}
