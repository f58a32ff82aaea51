/* Tag recording: recorders (GET and POST /api/v1/recorders, GET, PUT,
 * PATCH and DELETE /api/v1/recorders/{id}), one-off recordings (POST and
 * DELETE /api/v1/streams/{app}/{name}/record) and the recorded files (GET
 * /api/v1/recordings, GET and DELETE /api/v1/recordings/{id}, GET
 * /api/v1/recordings/{id}/file with Range). Bodies are read by
 * record_spec_from_json(); recorder changes go through the recording
 * manager (node/record/record_mgr.h), which stores them before they are
 * acknowledged (api/change.h). Loop thread. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "api_internal.h"
#include "change.h"
#include "common.h"
#include "fmt.h"
#include "page.h"
#include "record_mgr.h"

_Static_assert(RECORD_ID_MAX == API_CHANGE_ID_MAX, "api/change.h holds recorder ids");

static const char *const SOURCES[] = {"api", "config", "once"};

static record_mgr_t *records(api_req_t *r)
{
    return r->api->node->records;
}

static cJSON *render_spec(api_req_t *r, const record_spec_t *s, int source)
{
    cJSON *o = record_spec_to_json(s);
    char etag[SPEC_ETAG_MAX];
    if (o && records(r) && record_spec_etag(records(r), s, etag) == 0)
        cJSON_AddStringToObject(o, "etag", etag);
    if (o) {
        cJSON_AddStringToObject(o, "source", SOURCES[source >= 0 && source < 3 ? source : 0]);
        cJSON_AddBoolToObject(o, "one_off", source == 2);
    }
    return o;
}

static cJSON *render_change(api_req_t *r, const char *id, const void *spec)
{
    record_mgr_t *m = records(r);
    const record_spec_t *s = m ? record_mgr_spec(m, id) : NULL;
    return render_spec(r, s ? s : spec, s ? record_mgr_source(m, id) : 0);
}

static void submit(api_req_t *r, api_change_op_t op, const record_spec_t *spec, const char *id)
{
    record_mgr_t *m = records(r);
    if (!m) {
        api_reply_error(r, 503, "unavailable", "recording is not running");
        return;
    }
    api_change_t *c = api_change_new(r, op, "recorder", spec ? spec->id : id, render_change);
    if (!c)
        return;
    char err[SPEC_STORE_ERR_MAX] = "";
    int rc = op == API_CHANGE_DELETE
                 ? record_mgr_delete(m, c->id, c->if_match, api_change_done, c, err, sizeof err)
                 : record_mgr_put(m, spec, op == API_CHANGE_POST, c->if_match, api_change_done, c,
                                  err, sizeof err);
    api_change_submitted(c, rc, err);
}

static int parse_recorder(const cJSON *body, const void *base, void *out, char *err, size_t errlen)
{
    return record_spec_from_json(body, base, 0, out, err, errlen);
}

/* NUL bytes in the body (JSON "\u0000"): cJSON would cut the string at
 * them, so they are refused before parsing. 0, or -1 after a 400. */
static int refuse_nul(api_req_t *r)
{
    for (size_t i = 0; r->body && i + 6 <= r->body_len; i++) {
        if (r->body[i] == '\\' && strncmp(r->body + i, "\\u0000", 6) == 0) {
            api_reply_error(r, 400, "invalid_field", "path: NUL bytes are not allowed");
            return -1;
        }
        if (r->body[i] == '\\')
            i++; /* an escaped backslash is not the start of \u0000 */
    }
    return 0;
}

static const record_spec_t *find_recorder(api_req_t *r)
{
    const char *id = r->pp.params[0];
    record_mgr_t *m = records(r);
    const record_spec_t *s = m ? record_mgr_spec(m, id) : NULL;
    if (!s)
        api_change_not_found(r, "recorder", id);
    return s;
}

typedef struct {
    api_req_t *r;
    const char *after;
    api_page_t page;
    char last[RECORD_ID_MAX];
} rec_list_t;

static void list_add(const record_spec_t *s, int source, void *arg)
{
    rec_list_t *l = arg;
    if ((l->after && strcmp(s->id, l->after) <= 0) || api_page_full(&l->page))
        return;
    api_page_add(&l->page, render_spec(l->r, s, source));
    snprintf(l->last, sizeof l->last, "%s", s->id);
}

void api_get_recorders(api_req_t *r)
{
    rec_list_t l = {.r = r, .after = api_query(r, "after")};
    if (api_page_begin(r, &l.page) != 0)
        return;
    if (records(r))
        record_mgr_foreach(records(r), list_add, &l);
    api_page_reply(r, &l.page, "recorders", l.last[0] ? cJSON_CreateString(l.last) : NULL);
}

void api_post_recorder(api_req_t *r)
{
    record_spec_t s;
    if (refuse_nul(r) != 0 || api_change_body(r, parse_recorder, NULL, &s) != 0)
        return;
    if (records(r))
        record_mgr_new_id(records(r), s.id);
    submit(r, API_CHANGE_POST, &s, s.id);
}

void api_get_recorder(api_req_t *r)
{
    const record_spec_t *s = find_recorder(r);
    if (s)
        api_reply_entity(r, 200, render_spec(r, s, record_mgr_source(records(r), s->id)));
}

/* PUT replaces (an id in the body must be the path's); PATCH merges the
 * body over the recorder as it is now and then replaces it. */
static void put_or_patch(api_req_t *r, int patch)
{
    const char *id = r->pp.params[0];
    record_mgr_t *m = records(r);
    const record_spec_t *cur = m ? record_mgr_spec(m, id) : NULL;
    int src = cur ? record_mgr_source(m, id) : -1;
    if (patch && !cur) {
        api_change_not_found(r, "recorder", id);
        return;
    }
    record_spec_t base, s;
    if (cur)
        base = *cur;
    if (api_change_put_check(r, "recorder", id, spec_id_valid(id, RECORD_ID_MAX), src == 1) != 0 ||
        refuse_nul(r) != 0 || api_change_body(r, parse_recorder, patch ? &base : NULL, &s) != 0)
        return;
    if (src == 2) {
        api_reply_error(r, 409, "conflict", "id: %s is a one-off recording", id);
        return;
    }
    snprintf(s.id, sizeof s.id, "%s", id);
    submit(r, API_CHANGE_PUT, &s, id);
}

void api_put_recorder(api_req_t *r)
{
    put_or_patch(r, 0);
}

void api_patch_recorder(api_req_t *r)
{
    put_or_patch(r, 1);
}

void api_delete_recorder(api_req_t *r)
{
    const char *id = r->pp.params[0];
    record_mgr_t *m = records(r);
    if (!spec_id_valid(id, RECORD_ID_MAX) || (m && record_mgr_source(m, id) == 2)) {
        api_change_not_found(r, "recorder", id);
        return;
    }
    submit(r, API_CHANGE_DELETE, NULL, id);
}

/* ---- /metrics --------------------------------------------------------------- */

static void record_metric(struct evbuffer *b, const char *name, const char *type, const char *text,
                          uint64_t v)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, text, name, type,
                        name, v);
}

void api_record_metrics(struct evbuffer *b, node_t *node)
{
    record_mgr_stats_t st = {0};
    if (node->records)
        record_mgr_stats(node->records, &st);
    record_metric(b, "weir_record_bytes_total", "counter", "Bytes written to recorded files.",
                  st.bytes);
    record_metric(b, "weir_record_files_total", "counter", "Recorded files finished.", st.files);
    record_metric(b, "weir_recordings", "gauge", "Streams being recorded now (per recorder).",
                  st.recordings);
    record_metric(b, "weir_record_queue_depth", "gauge",
                  "Messages waiting in the recording writer's queue.", st.queue_items);
    record_metric(b, "weir_record_queue_bytes", "gauge",
                  "Bytes waiting in the recording writer's queue.", st.queue_bytes);
    record_metric(b, "weir_record_dropped_msgs_total", "counter",
                  "Messages the full writer queue refused (recording dropped, not the stream).",
                  st.dropped_msgs);
    evbuffer_add_printf(b, "# HELP weir_record_failures_total Recording failures (record.fail) "
                           "by reason.\n# TYPE weir_record_failures_total counter\n");
    static const char *const reasons[4] = {"queue_full", "disk_full", "permission", "io_error"};
    for (int i = 0; i < 4; i++)
        evbuffer_add_printf(b, "weir_record_failures_total{reason=\"%s\"} %" PRIu64 "\n",
                            reasons[i], st.fails[i]);
}
