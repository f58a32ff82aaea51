/* Tag recording, the files: GET /api/v1/recordings (?app=&name=&from=&to=
 * and paging), GET and DELETE /api/v1/recordings/{id}, GET
 * /api/v1/recordings/{id}/file (the file from disk, one byte range with
 * Range, read by MHD as it sends), and the one-off recordings: POST and
 * DELETE /api/v1/streams/{app}/{name}/record. Loop thread. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api_internal.h"
#include "common.h"
#include "fmt.h"
#include "page.h"
#include "record_mgr.h"

static record_mgr_t *records(api_req_t *r)
{
    return r->api->node->records;
}

static cJSON *render_file(const record_file_info_t *f)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    char t[40];
    cJSON_AddItemToObject(o, "id", api_page_u64(f->id));
    cJSON_AddStringToObject(o, "recorder", f->recorder);
    cJSON_AddStringToObject(o, "app", f->app);
    cJSON_AddStringToObject(o, "name", f->name);
    cJSON_AddStringToObject(o, "format", f->format);
    fmt_time(f->start_ms, t, sizeof t);
    cJSON_AddStringToObject(o, "start", t);
    fmt_time(f->end_ms, t, sizeof t);
    cJSON_AddStringToObject(o, "end", t);
    cJSON_AddNumberToObject(o, "duration_ms", f->duration_ms);
    cJSON_AddNumberToObject(o, "bytes", (double)f->bytes);
    cJSON_AddStringToObject(o, "codecs", f->codecs);
    cJSON_AddBoolToObject(o, "closed_cleanly", f->closed_cleanly);
    cJSON_AddStringToObject(o, "path", f->path);
    return o;
}

/* ?from= / ?to=: an RFC 3339 UTC time ("2026-12-06T13:50:00Z", with or
 * without .mmm) or Unix ms. 0, or -1 after a 400 naming key. */
static int query_time(api_req_t *r, const char *key, int64_t *out)
{
    const char *v = api_query(r, key);
    *out = 0;
    if (!v)
        return 0;
    struct tm tm = {0};
    int ms = 0, n = 0;
    char *end;
    long long num = strtoll(v, &end, 10);
    if (*v && !*end && num > 0) {
        *out = num;
        return 0;
    }
    if (sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) == 6) {
        const char *rest = v + n;
        if (rest[0] == '.' && sscanf(rest + 1, "%3d", &ms) == 1)
            rest += 4;
        if (strcmp(rest, "Z") == 0) {
            tm.tm_year -= 1900;
            tm.tm_mon -= 1;
            *out = (int64_t)timegm(&tm) * 1000 + ms;
            return 0;
        }
    }
    api_reply_error(r, 400, "invalid_field",
                    "%s: expected an RFC 3339 UTC time (2026-12-06T13:50:00Z) or Unix ms", key);
    return -1;
}

typedef struct {
    api_page_t page;
    uint64_t last;
} file_list_t;

static int list_add(const record_file_info_t *f, void *arg)
{
    file_list_t *l = arg;
    if (api_page_full(&l->page))
        return 1;
    api_page_add(&l->page, render_file(f));
    l->last = f->id;
    return 0;
}

void api_get_recordings(api_req_t *r)
{
    file_list_t l = {0};
    uint64_t after;
    int64_t from, to;
    if (api_query_u64(r, "after", 0, 0, UINT64_MAX / 2, &after) != 0 ||
        query_time(r, "from", &from) != 0 || query_time(r, "to", &to) != 0 ||
        api_page_begin(r, &l.page) != 0)
        return;
    if (records(r))
        record_mgr_files(records(r), after, api_query(r, "app"), api_query(r, "name"), from, to,
                         list_add, &l);
    api_page_reply(r, &l.page, "recordings", l.last ? api_page_u64(l.last) : NULL);
}

/* The file named by the path, or -1 after a 404. */
static int find_file(api_req_t *r, record_file_info_t *f)
{
    char *end;
    unsigned long long id = strtoull(r->pp.params[0], &end, 10);
    if (!records(r) || *end || !r->pp.params[0][0] ||
        record_mgr_file(records(r), (uint64_t)id, f) != 0) {
        api_reply_error(r, 404, "not_found", "no recording %s", r->pp.params[0]);
        return -1;
    }
    return 0;
}

void api_get_recording(api_req_t *r)
{
    record_file_info_t f;
    if (find_file(r, &f) == 0)
        api_reply_json(r, 200, render_file(&f));
}

void api_delete_recording(api_req_t *r)
{
    record_file_info_t f;
    if (find_file(r, &f) != 0)
        return;
    record_mgr_file_delete(records(r), f.id);
    api_reply_text(r, 204, "application/json", NULL, 0);
}

void api_reply_fd(api_req_t *r, int status, const char *ctype, int fd, uint64_t off, uint64_t len,
                  const char *range, const char *disposition)
{
    if (r->status) {
        close(fd);
        api_reply_text(r, status, ctype, NULL, 0); /* logs the second reply */
        return;
    }
    size_t n = 0;
    r->fd_headers[n++] = "Accept-Ranges";
    r->fd_headers[n++] = "bytes";
    snprintf(r->fd_hdr[0], sizeof r->fd_hdr[0], "%s", range);
    snprintf(r->fd_hdr[1], sizeof r->fd_hdr[1], "%s", disposition);
    if (range[0]) {
        r->fd_headers[n++] = "Content-Range";
        r->fd_headers[n++] = r->fd_hdr[0];
    }
    if (disposition[0]) {
        r->fd_headers[n++] = "Content-Disposition";
        r->fd_headers[n++] = r->fd_hdr[1];
    }
    r->fd_headers[n] = NULL;
    r->headers = r->fd_headers;
    r->has_fd = 1;
    r->fd_fd = fd;
    r->fd_off = off;
    api_reply_text(r, status, ctype, NULL, (size_t)len); /* the body is the fd's */
}

/* One "bytes=" range of a file of size bytes: 1 with [*off, *off + *len),
 * 0 for none (the whole file), -1 when unsatisfiable or not one range. */
static int parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
    if (!h)
        return 0;
    unsigned long long a = 0, b = 0;
    int n = 0;
    if (strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return -1;
    h += 6;
    if (sscanf(h, "-%llu%n", &b, &n) == 1 && !h[n]) { /* the last b bytes */
        if (b == 0 || size == 0)
            return -1;
        *len = b < size ? b : size;
        *off = size - *len;
        return 1;
    }
    if (sscanf(h, "%llu-%n", &a, &n) != 1 || a >= size)
        return -1;
    b = size - 1;
    if (h[n] && (sscanf(h + n, "%llu%n", &b, &n) != 1 || b < a))
        return -1;
    if (b >= size)
        b = size - 1;
    *off = a;
    *len = b - a + 1;
    return 1;
}

void api_get_recording_file(api_req_t *r)
{
    record_file_info_t f;
    if (find_file(r, &f) != 0)
        return;
    char path[4096];
    record_mgr_file_path(records(r), &f, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        api_reply_error(r, 404, "not_found", "recording %" PRIu64 ": its file is gone", f.id);
        return;
    }
    uint64_t size = (uint64_t)st.st_size, off = 0, len = size;
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Range");
    int rc = parse_range(h, size, &off, &len);
    char range[96] = "", disp[96];
    const char *base = strrchr(f.path, '/');
    snprintf(disp, sizeof disp, "attachment; filename=\"%.60s\"", base ? base + 1 : f.path);
    if (rc < 0) {
        close(fd);
        snprintf(r->fd_hdr[0], sizeof r->fd_hdr[0], "bytes */%" PRIu64, size);
        r->fd_headers[0] = "Content-Range";
        r->fd_headers[1] = r->fd_hdr[0];
        r->fd_headers[2] = NULL;
        api_reply_headers(r, r->fd_headers);
        api_reply_error(r, 416, "range_not_satisfiable",
                        "Range: %s (one range within the file's %" PRIu64 " bytes)", h, size);
        return;
    }
    if (rc > 0)
        snprintf(range, sizeof range, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off,
                 off + len - 1, size);
    const char *ctype = strcmp(f.format, "flv") == 0   ? "video/x-flv"
                        : strcmp(f.format, "ts") == 0 ? "video/mp2t"
                                                      : "video/mp4";
    api_reply_fd(r, rc > 0 ? 206 : 200, ctype, fd, off, len, range, disp);
}

/* ---- one-off recordings ---------------------------------------------------- */

void api_post_stream_record(api_req_t *r)
{
    record_mgr_t *m = records(r);
    const char *app = r->pp.params[0], *name = r->pp.params[1];
    stream_t *s = hub_lookup(r->api->node->hub, app, name);
    if (!m || !s || !stream_is_live(s)) {
        api_reply_error(r, 404, "not_found", "no live stream %s/%s", app, name);
        return;
    }
    record_spec_t spec;
    record_spec_defaults(&spec);
    cJSON *body = r->body_len ? api_body_object(r) : NULL;
    if (r->body_len && !body)
        return;
    char err[256];
    snprintf(spec.app, sizeof spec.app, "%s", app);
    snprintf(spec.name, sizeof spec.name, "%s", name);
    int bad = body && record_spec_from_json(body, &spec, 0, &spec, err, sizeof err) != 0;
    cJSON_Delete(body);
    if (!bad && strcmp(spec.app, app) != 0)
        bad = snprintf(err, sizeof err, "app: must be the path's (%s)", app) > 0;
    if (!bad && strcmp(spec.name, name) != 0)
        bad = snprintf(err, sizeof err, "name: must be the path's (%s)", name) > 0;
    if (bad) {
        api_reply_error(r, 400, "invalid_field", "%s", err);
        return;
    }
    int rc = record_mgr_oneoff_start(m, &spec, err, sizeof err);
    if (rc == NODE_EBUSY) {
        api_reply_error(r, 409, "conflict", "%s/%s is already recorded (recorder %s)", app, name,
                        err);
        return;
    }
    if (rc != 0) {
        api_reply_error(r, rc == NODE_EINVAL ? 400 : 503, rc == NODE_EINVAL ? "invalid_field"
                                                                             : "unavailable",
                        "%s", err);
        return;
    }
    cJSON *o = record_spec_to_json(record_mgr_spec(m, err));
    if (o) {
        cJSON_AddStringToObject(o, "source", "once");
        cJSON_AddBoolToObject(o, "one_off", 1);
    }
    api_reply_json(r, 201, o);
}

void api_delete_stream_record(api_req_t *r)
{
    record_mgr_t *m = records(r);
    if (!m || record_mgr_oneoff_stop(m, r->pp.params[0], r->pp.params[1]) != 0) {
        api_reply_error(r, 404, "not_found", "no one-off recording of %s/%s", r->pp.params[0],
                        r->pp.params[1]);
        return;
    }
    api_reply_text(r, 204, "application/json", NULL, 0);
}
