/* routes: the API's route table (pattern, methods, handlers, accepted query
 * parameters; openapi.yaml describes each) and its lookup. Pure data and
 * lookups; the handlers live in api/routes_<tag>.c. Loop thread only (the
 * lookup fills the request's path parameters). */
#include "api_internal.h"

/* ---- routes -------------------------------------------------------------- */

/* The query parameters of the lists (openapi.yaml, "Lists and paging"). */
static const char *const Q_SESSIONS[] = {"app", "name", "role", "protocol", "limit", "after", NULL};
static const char *const Q_STREAMS[] = {"app", "name", "limit", "after", NULL};
static const char *const Q_KICK[] = {"ban_s", NULL};
static const char *const Q_EVENTS[] = {"type", "limit", "after", NULL};
static const char *const Q_RELAYS[] = {"app",   "name",  "status", "direction",
                                       "limit", "after", NULL};
static const char *const Q_HISTORY[] = {"resolution", "since", NULL};
static const char *const Q_HOOKS[] = {"enabled", "limit", "after", NULL};
static const char *const Q_PAGE[] = {"limit", "after", NULL};
static const char *const Q_RECORDINGS[] = {"app", "name", "from", "to", "limit", "after", NULL};
const char *const API_QUERY_ANY[] = {NULL};

static const api_route_t ROUTES[] = {
    {"/healthz", API_AUTH_HEALTH, {{"GET", api_get_healthz, 0, NULL}}, NULL},
    {"/readyz", API_AUTH_HEALTH, {{"GET", api_get_readyz, 0, NULL}}, NULL},
    {"/metrics", API_AUTH_TOKEN, {{"GET", api_get_metrics, 0, NULL}}, NULL},
    {"/api/v1/node",
     API_AUTH_TOKEN,
     {{"GET", api_get_node, 0, NULL}, {"PATCH", api_patch_node, 1, NULL}},
     NULL},
    {"/api/v1/version", API_AUTH_TOKEN, {{"GET", api_get_version, 0, NULL}}, NULL},
    {"/api/v1/node/drain", API_AUTH_TOKEN, {{"POST", api_post_node_drain, 1, NULL}}, NULL},
    {"/api/v1/node/undrain", API_AUTH_TOKEN, {{"POST", api_post_node_undrain, 0, NULL}}, NULL},
    {"/api/v1/node/reload-certs", API_AUTH_TOKEN, {{"POST", api_post_node_reload_certs, 0, NULL}},
     NULL},
    {"/api/v1/streams", API_AUTH_TOKEN, {{"GET", api_get_streams, 0, Q_STREAMS}}, NULL},
    {"/api/v1/history", API_AUTH_TOKEN, {{"GET", api_get_history, 0, Q_HISTORY}}, NULL},
    {"/api/v1/streams/{}/{}/history",
     API_AUTH_TOKEN,
     {{"GET", api_get_stream_history, 0, Q_HISTORY}},
     NULL},
    {"/api/v1/streams/{}/{}/record",
     API_AUTH_TOKEN,
     {{"POST", api_post_stream_record, 1, NULL}, {"DELETE", api_delete_stream_record, 0, NULL}},
     NULL},
    {"/api/v1/streams/{}/{*}",
     API_AUTH_TOKEN,
     {{"GET", api_get_stream, 0, NULL}, {"DELETE", api_delete_stream, 0, NULL}},
     NULL},
    {"/api/v1/sessions", API_AUTH_TOKEN, {{"GET", api_get_sessions, 0, Q_SESSIONS}}, NULL},
    {"/api/v1/sessions/{}",
     API_AUTH_TOKEN,
     {{"GET", api_get_session, 0, NULL}, {"DELETE", api_delete_session, 0, Q_KICK}},
     NULL},
    {"/api/v1/events", API_AUTH_TOKEN, {{"GET", api_get_events, 0, Q_EVENTS}}, NULL},
    {"/api/v1/relays",
     API_AUTH_TOKEN,
     {{"GET", api_get_relays, 0, Q_RELAYS}, {"POST", api_post_relay, 1, NULL}},
     NULL},
    {"/api/v1/relays/{}",
     API_AUTH_TOKEN,
     {{"GET", api_get_relay, 0, NULL},
      {"PUT", api_put_relay, 1, NULL},
      {"PATCH", api_patch_relay, 1, NULL},
      {"DELETE", api_delete_relay, 0, NULL}},
     NULL},
    {"/api/v1/hooks",
     API_AUTH_TOKEN,
     {{"GET", api_get_hooks, 0, Q_HOOKS}, {"POST", api_post_hook, 1, NULL}},
     NULL},
    {"/api/v1/hooks/{}",
     API_AUTH_TOKEN,
     {{"GET", api_get_hook, 0, NULL},
      {"PUT", api_put_hook, 1, NULL},
      {"DELETE", api_delete_hook, 0, NULL}},
     NULL},
    {"/api/v1/recorders",
     API_AUTH_TOKEN,
     {{"GET", api_get_recorders, 0, Q_PAGE}, {"POST", api_post_recorder, 1, NULL}},
     NULL},
    {"/api/v1/recorders/{}",
     API_AUTH_TOKEN,
     {{"GET", api_get_recorder, 0, NULL},
      {"PUT", api_put_recorder, 1, NULL},
      {"PATCH", api_patch_recorder, 1, NULL},
      {"DELETE", api_delete_recorder, 0, NULL}},
     NULL},
    {"/api/v1/recordings", API_AUTH_TOKEN, {{"GET", api_get_recordings, 0, Q_RECORDINGS}}, NULL},
    {"/api/v1/recordings/{}",
     API_AUTH_TOKEN,
     {{"GET", api_get_recording, 0, NULL}, {"DELETE", api_delete_recording, 0, NULL}},
     NULL},
    {"/api/v1/recordings/{}/file", API_AUTH_TOKEN, {{"GET", api_get_recording_file, 0, NULL}},
     NULL},
    /* The dashboard (api/static.c), last: its "/{}" must not shadow a route
     * above. Public: the page holds no secret and asks for the token itself. */
    {"/", API_AUTH_PUBLIC, {{"GET", api_get_dashboard, 0, API_QUERY_ANY}}, NULL},
    {"/assets/{}",
     API_AUTH_PUBLIC,
     {{"GET", api_get_dashboard_asset, 0, API_QUERY_ANY}},
     api_dashboard_asset_exists},
    {"/{}",
     API_AUTH_PUBLIC,
     {{"GET", api_get_dashboard_file, 0, API_QUERY_ANY}},
     api_dashboard_file_exists},
};
#define NROUTES (sizeof ROUTES / sizeof ROUTES[0])

const char *api_route_pattern(size_t i)
{
    return i < NROUTES ? ROUTES[i].pattern : NULL;
}

const api_route_t *api_route_find(api_req_t *r)
{
    for (size_t i = 0; i < NROUTES; i++)
        if (api_path_match(ROUTES[i].pattern, r->path, &r->pp) &&
            (!ROUTES[i].exists || ROUTES[i].exists(r)))
            return &ROUTES[i];
    return NULL;
}
