/* Tag history: GET /api/v1/history and GET
 * /api/v1/streams/{app}/{name}/history, the node's recent figures
 * (history.h) as columns: "t" (Unix ms of each point) and one array per
 * figure, oldest first. Loop thread. */
#include <math.h>
#include <stdlib.h>

#include "api_internal.h"
#include "history.h"

/* The figures' names (openapi History), in history.h's order, and the
 * decimals each is rounded to. */
static const char *const NODE_NAMES[HISTORY_NODE_FIELDS] = {
    "bitrate_in_kbps", "bitrate_out_kbps", "connections", "players", "streams",
    "cpu_percent",     "rss_bytes"};
static const int NODE_DECIMALS[HISTORY_NODE_FIELDS] = {1, 1, 1, 1, 1, 1, 0};
static const char *const STREAM_NAMES[HISTORY_STREAM_FIELDS] = {"bitrate_kbps", "fps", "players"};
static const int STREAM_DECIMALS[HISTORY_STREAM_FIELDS] = {1, 1, 1};

static const char *const RESOLUTIONS[] = {"1s", "1m", NULL};

/* The points of ring at the request's ?resolution= (default 1s) after its
 * ?since= (Unix ms; default all) as the answer; ring NULL: no point yet, in
 * nf columns. */
static void reply_ring(api_req_t *r, const history_ring_t *ring, unsigned nf,
                       const char *const *names, const int *decimals)
{
    const char *res_name;
    uint64_t since_ms;
    if (api_query_enum(r, "resolution", RESOLUTIONS, &res_name) != 0 ||
        api_query_u64(r, "since", 0, 0, API_ID_MAX, &since_ms) != 0)
        return;
    history_res_t res = res_name && res_name[1] == 'm' ? HISTORY_1M : HISTORY_1S;
    size_t max = ring ? history_ring_count(ring, res) : 0;
    uint32_t *t = malloc((max ? max : 1) * sizeof *t);
    float *v = malloc((max ? max : 1) * nf * sizeof *v);
    cJSON *o = cJSON_CreateObject();
    cJSON *ts = o ? cJSON_AddArrayToObject(o, "t") : NULL;
    if (!t || !v || !ts) {
        cJSON_Delete(o);
        free(t);
        free(v);
        api_reply_json(r, 500, NULL);
        return;
    }
    size_t n = ring ? history_ring_read(ring, res, (uint32_t)(since_ms / 1000), t, v, max) : 0;
    cJSON_AddStringToObject(o, "resolution", res == HISTORY_1M ? "1m" : "1s");
    cJSON_AddNumberToObject(o, "interval_ms", res == HISTORY_1M ? 60000 : 1000);
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(ts, cJSON_CreateNumber((double)t[i] * 1000.0));
    for (unsigned f = 0; f < nf; f++) {
        cJSON *col = cJSON_AddArrayToObject(o, names[f]);
        double scale = pow(10, decimals[f]);
        for (size_t i = 0; col && i < n; i++)
            cJSON_AddItemToArray(col,
                                 cJSON_CreateNumber(round((double)v[i * nf + f] * scale) /
                                                    scale));
    }
    free(t);
    free(v);
    api_reply_json(r, 200, o);
}

void api_get_history(api_req_t *r)
{
    const history_t *h = r->api->node->history;
    if (!h) { /* history_start() runs before the loop: not while requests are served */
        api_reply_json(r, 500, NULL);
        return;
    }
    reply_ring(r, history_node(h), HISTORY_NODE_FIELDS, NODE_NAMES, NODE_DECIMALS);
}

void api_get_stream_history(api_req_t *r)
{
    const history_t *h = r->api->node->history;
    const char *app = r->pp.params[0], *name = r->pp.params[1];
    const history_ring_t *ring = h ? history_stream(h, app, name) : NULL;
    /* live but not sampled yet (the first sample comes within a second) or
     * not tracked (every slot live): no point yet, not "no such stream" */
    if (!ring && hub_lookup(r->api->node->hub, app, name)) {
        reply_ring(r, NULL, HISTORY_STREAM_FIELDS, STREAM_NAMES, STREAM_DECIMALS);
        return;
    }
    if (!ring) {
        api_reply_error(r, 404, "not_found",
                        "no history for stream %.128s/%.256s (not live in the last %d min)", app,
                        name, HISTORY_GONE_KEEP_S / 60);
        return;
    }
    reply_ring(r, ring, HISTORY_STREAM_FIELDS, STREAM_NAMES, STREAM_DECIMALS);
}
