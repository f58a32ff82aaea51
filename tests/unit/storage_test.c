/* Unit tests of storage: real SQLite files in a temporary folder, a real
 * event_base for the callbacks. Schema creation and migration, refusal of
 * foreign, newer and corrupt files, the event log cursor, settings,
 * retention, the bounded queue, write errors on a full database, the
 * relay rows (schema v3) and the hook rows (schema v4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "common.h"
#include "storage.h"

/* ---- fixture ------------------------------------------------------------ */

typedef struct {
    char dir[64];
    char db[128];
    struct event_base *base;
} fx_t;

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/weir-storage-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    /* a folder that does not exist yet: storage_open creates it */
    snprintf(fx->db, sizeof fx->db, "%s/data/sub/weir.db", fx->dir);
    fx->base = event_base_new();
    assert_non_null(fx->base);
    *state = fx;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    event_base_free(fx->base);
    int rc = nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return rc;
}

static storage_t *open_ok(fx_t *fx, const storage_opts_t *opts)
{
    char err[512] = "";
    storage_t *st = storage_open(fx->db, fx->base, opts, err, sizeof err);
    if (!st)
        fail_msg("storage_open: %s", err);
    return st;
}

/* ---- direct SQLite access, to check what is really in the file ---------- */

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
}

static int64_t raw_int(const char *path, const char *sql)
{
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void raw_text(const char *path, const char *sql, char *out, size_t outlen)
{
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* ---- callbacks ---------------------------------------------------------- */

#define GOT_MAX 1000
#define GOT_FIELDS 8

typedef struct {
    int calls;
    int rc;
    size_t n;
    uint64_t ids[GOT_MAX];
    int64_t times[GOT_FIELDS];
    /* the first rows' strings; has_* 0 for NULL */
    char type[GOT_FIELDS][64], app[GOT_FIELDS][64], name[GOT_FIELDS][64], data[GOT_FIELDS][128];
    int has_app[GOT_FIELDS], has_name[GOT_FIELDS], has_data[GOT_FIELDS];
} got_t;

static void copy_opt(char *dst, size_t len, int *has, const char *s)
{
    *has = s != NULL;
    snprintf(dst, len, "%s", s ? s : "");
}

static void on_events(void *arg, int rc, const storage_event_t *rows, size_t n)
{
    got_t *g = arg;
    g->calls++;
    g->rc = rc;
    g->n = n;
    if (rc != 0)
        assert_true(rows == NULL && n == 0);
    for (size_t i = 0; i < n && i < GOT_MAX; i++) {
        g->ids[i] = rows[i].id;
        if (i >= GOT_FIELDS)
            continue;
        g->times[i] = rows[i].time_ms;
        snprintf(g->type[i], sizeof g->type[i], "%s", rows[i].type);
        copy_opt(g->app[i], sizeof g->app[i], &g->has_app[i], rows[i].app);
        copy_opt(g->name[i], sizeof g->name[i], &g->has_name[i], rows[i].name);
        copy_opt(g->data[i], sizeof g->data[i], &g->has_data[i], rows[i].data);
    }
}

typedef struct {
    int calls;
    int rc;
} done_t;

static void on_done(void *arg, int rc)
{
    done_t *d = arg;
    d->calls++;
    d->rc = rc;
}

static got_t *get_sync(storage_t *st, uint64_t after, uint32_t limit)
{
    got_t *g = calloc(1, sizeof *g);
    assert_non_null(g);
    assert_int_equal(storage_events_get(st, after, limit, NULL, on_events, g), 0);
    storage_sync(st);
    assert_int_equal(g->calls, 1);
    return g;
}

static void put(storage_t *st, uint64_t id, int64_t time_ms, const char *type, const char *app,
                const char *name, const char *data)
{
    storage_event_t ev = {id, time_ms, type, app, name, data};
    assert_int_equal(storage_event_put(st, &ev), 0);
}

static void stats(storage_t *st, storage_stats_t *s)
{
    memset(s, 0xff, sizeof *s);
    storage_stats(st, s);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- schema and identity ------------------------------------------------ */

static void assert_uuid_v4(const char *id)
{
    assert_int_equal(strlen(id), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(id[i], '-');
        else
            assert_non_null(strchr("0123456789abcdef", id[i]));
    }
    assert_int_equal(id[14], '4');
    assert_non_null(strchr("89ab", id[19]));
}

static void test_create_fresh(void **state)
{
    fx_t *fx = *state;
    storage_t *st = open_ok(fx, NULL);
    char id[40];
    snprintf(id, sizeof id, "%s", storage_node_id(st));
    assert_uuid_v4(id);
    assert_int_equal(storage_last_event_id(st), 0);
    assert_null(storage_setting(st, "log.level"));
    storage_stats_t s;
    stats(st, &s);
    assert_int_equal(s.thread_alive, 1);
    assert_int_equal(s.events_written, 0);
    assert_int_equal(s.queue_depth, 0);
    storage_close(st);

    assert_int_equal(raw_int(fx->db, "PRAGMA user_version"), STORAGE_SCHEMA_VERSION);
    char mode[16];
    raw_text(fx->db, "PRAGMA journal_mode", mode, sizeof mode);
    assert_string_equal(mode, "wal");
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM node"), 1);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM sqlite_master"
                                     " WHERE type = 'index' AND tbl_name = 'events'"),
                     1);

    /* the id survives a reopen, and no second node row appears */
    st = open_ok(fx, NULL);
    assert_string_equal(storage_node_id(st), id);
    storage_close(st);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM node"), 1);

    /* another database gets another id */
    snprintf(fx->db, sizeof fx->db, "%s/other.db", fx->dir);
    st = open_ok(fx, NULL);
    assert_string_not_equal(storage_node_id(st), id);
    storage_close(st);
}

static void test_migrate_from_v1(void **state)
{
    fx_t *fx = *state;
    char err[512] = "";
    assert_int_equal(storage_migrate_file(fx->db, 1, err, sizeof err), 0);
    assert_int_equal(raw_int(fx->db, "PRAGMA user_version"), 1);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM sqlite_master WHERE name = 'settings'"),
                     0);
    /* out of range versions */
    assert_int_equal(storage_migrate_file(fx->db, 0, err, sizeof err), -1);
    assert_int_equal(storage_migrate_file(fx->db, STORAGE_SCHEMA_VERSION + 1, err, sizeof err), -1);

    sqlite3 *db = raw_open(fx->db);
    raw_exec(db, "INSERT INTO node (id, created_ms)"
                 " VALUES ('11111111-2222-4333-8444-555555555555', 1000);"
                 "INSERT INTO events (id, time_ms, type, app, name, data)"
                 " VALUES (3, 2000, 'session.start', 'live', 'cam', '{\"a\":1}');"
                 "INSERT INTO events (id, time_ms, type) VALUES (7, 3000, 'node.start');");
    sqlite3_close(db);

    storage_opts_t o = {0};
    storage_t *st = open_ok(fx, &o);
    assert_string_equal(storage_node_id(st), "11111111-2222-4333-8444-555555555555");
    assert_int_equal(storage_last_event_id(st), 7);
    got_t *g = get_sync(st, 0, 100);
    assert_int_equal(g->rc, 0);
    assert_int_equal(g->n, 2);
    assert_int_equal(g->ids[0], 3);
    assert_int_equal(g->ids[1], 7);
    assert_string_equal(g->app[0], "live");
    assert_string_equal(g->data[0], "{\"a\":1}");
    assert_false(g->has_app[1]);
    free(g);

    /* v2's settings table works */
    done_t d = {0};
    assert_int_equal(storage_setting_put(st, "log.level", "debug", on_done, &d), 0);
    storage_sync(st);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.rc, 0);
    storage_close(st);
    assert_int_equal(raw_int(fx->db, "PRAGMA user_version"), STORAGE_SCHEMA_VERSION);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM settings"), 1);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM events"), 2);

    /* migrating down is refused */
    assert_int_equal(storage_migrate_file(fx->db, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, fx->db));
}

static void test_newer_schema_refused(void **state)
{
    fx_t *fx = *state;
    snprintf(fx->db, sizeof fx->db, "%s/newer.db", fx->dir);
    sqlite3 *db = raw_open(fx->db);
    raw_exec(db, "CREATE TABLE future (x); PRAGMA user_version = 99;");
    sqlite3_close(db);

    char err[512] = "", want[512];
    assert_null(storage_open(fx->db, fx->base, NULL, err, sizeof err));
    snprintf(want, sizeof want,
             "%s: database was written by a newer weir (schema 99, this build knows %d)", fx->db,
             STORAGE_SCHEMA_VERSION);
    assert_string_equal(err, want);
    err[0] = '\0';
    assert_int_equal(storage_migrate_file(fx->db, 1, err, sizeof err), -1);
    assert_string_equal(err, want);

    /* the file was not touched: same version, not switched to WAL */
    assert_int_equal(raw_int(fx->db, "PRAGMA user_version"), 99);
    char mode[16];
    raw_text(fx->db, "PRAGMA journal_mode", mode, sizeof mode);
    assert_string_equal(mode, "delete");
}

static void write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void test_not_a_database(void **state)
{
    fx_t *fx = *state;
    snprintf(fx->db, sizeof fx->db, "%s/garbage.db", fx->dir);
    char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)("this is not a database\n"[i % 23]);
    write_file(fx->db, junk, sizeof junk);

    char err[512] = "", want[512];
    assert_null(storage_open(fx->db, fx->base, NULL, err, sizeof err));
    snprintf(want, sizeof want, "%s: file is not a database", fx->db);
    assert_string_equal(err, want);
    err[0] = '\0';
    assert_int_equal(storage_migrate_file(fx->db, 1, err, sizeof err), -1);
    assert_string_equal(err, want);
}

static void test_unopenable_path(void **state)
{
    fx_t *fx = *state;
    /* the parent "folder" is a regular file */
    char file[160];
    snprintf(file, sizeof file, "%s/plainfile", fx->dir);
    write_file(file, "x", 1);
    snprintf(fx->db, sizeof fx->db, "%s/plainfile/weir.db", fx->dir);
    char err[512] = "";
    assert_null(storage_open(fx->db, fx->base, NULL, err, sizeof err));
    assert_non_null(strstr(err, fx->db));
    /* a folder is not a database file */
    snprintf(fx->db, sizeof fx->db, "%s", fx->dir);
    err[0] = '\0';
    assert_null(storage_open(fx->db, fx->base, NULL, err, sizeof err));
    assert_non_null(strstr(err, fx->db));
    /* "" would be a private temporary database */
    assert_null(storage_open("", fx->base, NULL, err, sizeof err));
    assert_string_equal(err, "storage: empty database path");
}

/* Fills a database with enough rows for several pages, then closes it (the
 * last close checkpoints the WAL into the main file). */
static void fill_db(fx_t *fx, int rows)
{
    storage_t *st = open_ok(fx, NULL);
    char data[200];
    memset(data, 'd', sizeof data - 1);
    data[sizeof data - 1] = '\0';
    for (int i = 1; i <= rows; i++)
        put(st, (uint64_t)i, 1000 + i, "t", "app", "name", data);
    storage_close(st);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM events"), rows);
}

static void test_corrupt_database(void **state)
{
    fx_t *fx = *state;
    fill_db(fx, 300);
    struct stat sb;
    assert_int_equal(stat(fx->db, &sb), 0);
    assert_true(sb.st_size > 8 * 4096);

    /* garbage over every page after the first (the header stays valid) */
    int fd = open(fx->db, O_WRONLY);
    assert_true(fd >= 0);
    char junk[4096];
    memset(junk, 0xa5, sizeof junk);
    for (off_t off = 4096; off < sb.st_size; off += 4096)
        assert_int_equal(pwrite(fd, junk, sizeof junk, off), (ssize_t)sizeof junk);
    close(fd);

    char err[512] = "";
    assert_null(storage_open(fx->db, fx->base, NULL, err, sizeof err));
    assert_non_null(strstr(err, fx->db));
    /* quick_check's first finding, on one line */
    assert_non_null(strstr(err, "database is corrupt: Page "));
    assert_null(strchr(err, '\n'));
}

static void test_truncated_database(void **state)
{
    fx_t *fx = *state;
    fill_db(fx, 300);
    struct stat sb;
    assert_int_equal(stat(fx->db, &sb), 0);
    assert_int_equal(truncate(fx->db, sb.st_size / 2), 0);

    char err[512] = "";
    assert_null(storage_open(fx->db, fx->base, NULL, err, sizeof err));
    assert_non_null(strstr(err, fx->db));
    assert_non_null(strstr(err, "database is corrupt"));
}

/* ---- event log ---------------------------------------------------------- */

static void test_events_put_get(void **state)
{
    fx_t *fx = *state;
    storage_t *st = open_ok(fx, NULL);
    put(st, 1, 1000, "node.start", NULL, NULL, NULL);
    put(st, 2, 2000, "session.start", "live", "cam1", "{\"proto\":\"rtmp\"}");
    put(st, 3, 3000, "session.stop", "live", NULL, "{}");
    put(st, 4, 4000, "relay.up", NULL, "x", NULL);
    put(st, 5, -5, "odd", "", "", "");
    storage_sync(st);

    got_t *g = get_sync(st, 0, 1000);
    assert_int_equal(g->rc, 0);
    assert_int_equal(g->n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(g->ids[i], i + 1);
    assert_string_equal(g->type[0], "node.start");
    assert_int_equal(g->times[0], 1000);
    assert_false(g->has_app[0] || g->has_name[0] || g->has_data[0]);
    assert_string_equal(g->type[1], "session.start");
    assert_string_equal(g->app[1], "live");
    assert_string_equal(g->name[1], "cam1");
    assert_string_equal(g->data[1], "{\"proto\":\"rtmp\"}");
    assert_true(g->has_app[2] && !g->has_name[2] && g->has_data[2]);
    assert_true(!g->has_app[3] && g->has_name[3] && !g->has_data[3]);
    /* empty strings stay empty strings, not NULL */
    assert_true(g->has_app[4] && g->has_name[4] && g->has_data[4]);
    assert_string_equal(g->app[4], "");
    assert_int_equal(g->times[4], -5);
    free(g);

    /* cursor: after 2, two rows */
    g = get_sync(st, 2, 2);
    assert_int_equal(g->n, 2);
    assert_int_equal(g->ids[0], 3);
    assert_int_equal(g->ids[1], 4);
    free(g);
    g = get_sync(st, 4, 1000);
    assert_int_equal(g->n, 1);
    assert_int_equal(g->ids[0], 5);
    free(g);
    g = get_sync(st, 5, 1000);
    assert_int_equal(g->rc, 0);
    assert_int_equal(g->n, 0);
    free(g);
    g = get_sync(st, UINT64_MAX, 1000);
    assert_int_equal(g->rc, 0);
    assert_int_equal(g->n, 0);
    free(g);

    /* limit bounds, and no callback for a refused request */
    got_t bad = {0};
    assert_int_equal(storage_events_get(st, 0, 0, NULL, on_events, &bad), NODE_EINVAL);
    assert_int_equal(storage_events_get(st, 0, 1001, NULL, on_events, &bad), NODE_EINVAL);
    assert_int_equal(storage_events_get(st, 0, 10, NULL, NULL, NULL), NODE_EINVAL);
    storage_event_t notype = {6, 0, NULL, NULL, NULL, NULL};
    assert_int_equal(storage_event_put(st, &notype), NODE_EINVAL);
    storage_sync(st);
    assert_int_equal(bad.calls, 0);

    storage_stats_t s;
    stats(st, &s);
    assert_int_equal(s.events_written, 5);
    assert_int_equal(s.write_errors, 0);
    assert_int_equal(s.events_dropped, 0);
    storage_close(st);

    st = open_ok(fx, NULL);
    assert_int_equal(storage_last_event_id(st), 5);
    storage_close(st);
}

/* 1200 rows: more than one transaction batch, read back in pages. */
/* Reads every event in pages of 1000, checking the ids run 1, 2, 3...;
 * returns how many there were. */
static uint64_t read_all_dense(storage_t *st)
{
    uint64_t after = 0, seen = 0;
    for (;;) {
        got_t *g = get_sync(st, after, 1000);
        assert_int_equal(g->rc, 0);
        for (size_t i = 0; i < g->n; i++)
            assert_int_equal(g->ids[i], after + i + 1);
        size_t n = g->n;
        if (n)
            after = g->ids[n - 1];
        seen += n;
        free(g);
        if (n == 0)
            return seen;
    }
}

static void test_events_many_paged(void **state)
{
    fx_t *fx = *state;
    storage_t *st = open_ok(fx, NULL);
    for (uint64_t i = 1; i <= 1200; i++)
        put(st, i, (int64_t)i, "t", NULL, NULL, NULL);
    assert_int_equal(read_all_dense(st), 1200);
    storage_stats_t s;
    stats(st, &s);
    assert_int_equal(s.events_written, 1200);
    storage_close(st);
}

static void test_read_after_put_is_fifo(void **state)
{
    fx_t *fx = *state;
    storage_t *st = open_ok(fx, NULL);
    got_t *g = calloc(1, sizeof *g);
    assert_non_null(g);
    put(st, 1, 1, "a", NULL, NULL, NULL);
    put(st, 2, 2, "b", NULL, NULL, NULL);
    /* no sync between the puts and the read */
    assert_int_equal(storage_events_get(st, 0, 10, NULL, on_events, g), 0);
    put(st, 3, 3, "c", NULL, NULL, NULL); /* queued after the read: not seen */
    assert_int_equal(g->calls, 0);        /* callbacks never run inside a call */
    storage_sync(st);
    assert_int_equal(g->calls, 1);
    assert_int_equal(g->rc, 0);
    assert_int_equal(g->n, 2);
    assert_string_equal(g->type[1], "b");
    free(g);
    storage_close(st);
}

/* Callbacks come through the eventfd registered on the loop. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static void test_callbacks_on_event_loop(void **state)
{
    fx_t *fx = *state;
    storage_t *st = open_ok(fx, NULL);
    struct event *tick = event_new(fx->base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tv = {0, 20000};
    event_add(tick, &tv);

    done_t d = {0};
    got_t *g = calloc(1, sizeof *g);
    assert_non_null(g);
    put(st, 1, 1, "a", NULL, NULL, NULL);
    assert_int_equal(storage_setting_put(st, "k", "v", on_done, &d), 0);
    assert_int_equal(storage_events_get(st, 0, 10, NULL, on_events, g), 0);
    int64_t deadline = weir_mono_ms() + 10000;
    while ((d.calls == 0 || g->calls == 0) && weir_mono_ms() < deadline)
        event_base_loop(fx->base, EVLOOP_ONCE);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.rc, 0);
    assert_int_equal(g->calls, 1);
    assert_int_equal(g->n, 1);
    /* nothing is delivered twice */
    storage_sync(st);
    event_base_loop(fx->base, EVLOOP_NONBLOCK);
    assert_int_equal(d.calls, 1);
    assert_int_equal(g->calls, 1);
    free(g);
    event_free(tick);
    storage_close(st);
}

static void test_close_runs_pending_callbacks(void **state)
{
    fx_t *fx = *state;
    storage_t *st = open_ok(fx, NULL);
    done_t d = {0};
    got_t *g = calloc(1, sizeof *g);
    assert_non_null(g);
    put(st, 1, 1, "a", NULL, NULL, NULL);
    assert_int_equal(storage_setting_put(st, "k", "v", on_done, &d), 0);
    assert_int_equal(storage_events_get(st, 0, 10, NULL, on_events, g), 0);
    storage_close(st);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.rc, 0);
    assert_int_equal(g->calls, 1);
    assert_int_equal(g->n, 1);
    free(g);
    storage_close(NULL);
    storage_sync(NULL);
}

/* ---- settings ----------------------------------------------------------- */

static void test_settings_persist(void **state)
{
    fx_t *fx = *state;
    storage_t *st = open_ok(fx, NULL);
    done_t d1 = {0}, d2 = {0};
    assert_int_equal(storage_setting_put(st, "log.level", "debug", on_done, &d1), 0);
    assert_int_equal(
        storage_setting_put(st, "api.token", "s3cr'et\"; DROP TABLE x;--", on_done, &d2), 0);
    storage_sync(st);
    assert_int_equal(d1.calls, 1);
    assert_int_equal(d1.rc, 0);
    assert_int_equal(d2.rc, 0);
    assert_null(storage_setting(st, "log.level")); /* loaded at open only */
    storage_close(st);

    st = open_ok(fx, NULL);
    assert_string_equal(storage_setting(st, "log.level"), "debug");
    assert_string_equal(storage_setting(st, "api.token"), "s3cr'et\"; DROP TABLE x;--");
    assert_null(storage_setting(st, "nope"));
    done_t d3 = {0};
    assert_int_equal(storage_setting_put(st, "log.level", "warn", on_done, &d3), 0);
    storage_sync(st);
    assert_int_equal(d3.rc, 0);
    storage_close(st);

    st = open_ok(fx, NULL);
    assert_string_equal(storage_setting(st, "log.level"), "warn");
    storage_close(st);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM settings"), 2);
}

/* ---- retention ---------------------------------------------------------- */

static void test_retention_max_rows(void **state)
{
    fx_t *fx = *state;
    storage_opts_t o = {.events_max_rows = 10};
    storage_t *st = open_ok(fx, &o);
    for (uint64_t i = 1; i <= 50; i++)
        put(st, i, (int64_t)i, "t", NULL, NULL, NULL);
    storage_sync(st);
    /* retention runs at the end of every insert batch */
    got_t *g = get_sync(st, 0, 1000);
    assert_int_equal(g->n, 10);
    assert_int_equal(g->ids[0], 41);
    assert_int_equal(g->ids[9], 50);
    free(g);
    storage_stats_t s;
    stats(st, &s);
    assert_int_equal(s.events_written, 50);
    storage_close(st);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM events"), 10);
    assert_int_equal(raw_int(fx->db, "SELECT min(id) FROM events"), 41);
}

/* SQLite memory after reading every event of a ~4 MB log with cache_kb. */
static uint64_t memory_after_full_read(fx_t *fx, uint32_t cache_kb)
{
    storage_opts_t o = {.cache_kb = cache_kb};
    storage_t *st = open_ok(fx, &o);
    assert_int_equal(read_all_dense(st), 16000);
    storage_stats_t s;
    stats(st, &s);
    storage_close(st);
    return s.sqlite_memory;
}

static void test_cache_kb_bounds_sqlite_memory(void **state)
{
    fx_t *fx = *state;
    storage_t *st = open_ok(fx, NULL);
    char data[240];
    memset(data, 'd', sizeof data - 1);
    data[sizeof data - 1] = '\0';
    for (int i = 1; i <= 16000; i++) {
        put(st, (uint64_t)i, 1000 + i, "t", "app", "name", data);
        if (i % 4000 == 0)
            storage_sync(st); /* stay under the queue bound */
    }
    storage_close(st);
    assert_true(raw_int(fx->db, "PRAGMA page_count") * 4096 > 4 * 1024 * 1024);
    uint64_t small = memory_after_full_read(fx, 64);
    uint64_t big = memory_after_full_read(fx, 16384);
    print_message("sqlite memory after a full read: cache_kb 64 -> %llu B, 16384 -> %llu B\n",
                  (unsigned long long)small, (unsigned long long)big);
    /* the big cache holds the whole file, the small one at most 64 KiB of it
     * (the rest is statements and the schema) */
    assert_true(big > small + 3 * 1024 * 1024);
    assert_true(small < 1024 * 1024);
}

static void test_retention_max_age(void **state)
{
    fx_t *fx = *state;
    storage_opts_t o = {.events_max_age_days = 1};
    storage_t *st = open_ok(fx, &o);
    int64_t now = now_ms();
    put(st, 1, now - 3 * 86400000LL, "old", NULL, NULL, NULL);
    put(st, 2, now - 2 * 86400000LL, "old", NULL, NULL, NULL);
    put(st, 3, now - 3600000, "recent", NULL, NULL, NULL);
    put(st, 4, now, "new", NULL, NULL, NULL);
    got_t *g = get_sync(st, 0, 1000);
    assert_int_equal(g->n, 2);
    assert_int_equal(g->ids[0], 3);
    assert_int_equal(g->ids[1], 4);
    free(g);
    storage_close(st);
}

/* ---- bounded queue and write errors ------------------------------------- */

/* Another connection holds the write lock, so the storage thread is stuck
 * (busy timeout) on its first job; the queue of 1 stays full. */
static void test_queue_full_drops(void **state)
{
    fx_t *fx = *state;
    storage_opts_t o = {.queue_max = 1};
    storage_t *st = open_ok(fx, &o);
    sqlite3 *holder = raw_open(fx->db);
    raw_exec(holder, "BEGIN IMMEDIATE");

    enum { TOTAL = 100 };
    int accepted = 0, limited = 0;
    for (uint64_t i = 1; i <= TOTAL; i++) {
        storage_event_t ev = {i, (int64_t)i, "t", NULL, NULL, NULL};
        int rc = storage_event_put(st, &ev);
        if (rc == 0)
            accepted++;
        else if (rc == NODE_ELIMIT)
            limited++;
    }
    assert_int_equal(accepted, 1);
    assert_int_equal(limited, TOTAL - 1);
    got_t g = {0};
    done_t d = {0};
    assert_int_equal(storage_events_get(st, 0, 10, NULL, on_events, &g), NODE_ELIMIT);
    assert_int_equal(storage_setting_put(st, "k", "v", on_done, &d), NODE_ELIMIT);
    storage_stats_t s;
    stats(st, &s);
    assert_int_equal(s.events_dropped, TOTAL - 1);
    assert_int_equal(s.queue_depth, 1);

    raw_exec(holder, "COMMIT");
    sqlite3_close(holder);
    storage_sync(st);
    stats(st, &s);
    assert_int_equal(s.queue_depth, 0);
    assert_int_equal(s.events_written + s.events_dropped, TOTAL);
    assert_int_equal(s.events_written, 1);
    assert_int_equal(s.write_errors, 0);
    assert_int_equal(g.calls, 0);
    assert_int_equal(d.calls, 0);

    /* flooding a small queue: every event is written or counted as dropped */
    for (uint64_t i = TOTAL + 1; i <= TOTAL + 2000; i++) {
        storage_event_t ev = {i, (int64_t)i, "t", NULL, NULL, NULL};
        int rc = storage_event_put(st, &ev);
        assert_true(rc == 0 || rc == NODE_ELIMIT);
    }
    storage_sync(st);
    stats(st, &s);
    assert_int_equal(s.events_written + s.events_dropped, TOTAL + 2000);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM events"), (int64_t)s.events_written);
    storage_close(st);
}

/* A duplicate id undoes that row only; the rest of the batch commits. */
static void test_duplicate_id_skips_row(void **state)
{
    fx_t *fx = *state;
    storage_t *st = open_ok(fx, NULL);
    put(st, 1, 1, "a", NULL, NULL, NULL);
    put(st, 2, 2, "b", NULL, NULL, NULL);
    put(st, 2, 2, "dup", NULL, NULL, NULL);
    put(st, 3, 3, "c", NULL, NULL, NULL);
    got_t *g = get_sync(st, 0, 100);
    assert_int_equal(g->n, 3);
    assert_string_equal(g->type[1], "b");
    assert_string_equal(g->type[2], "c");
    free(g);
    storage_stats_t s;
    stats(st, &s);
    assert_int_equal(s.events_written, 3);
    assert_int_equal(s.write_errors, 1);
    storage_close(st);
}

static void test_database_full(void **state)
{
    fx_t *fx = *state;
    storage_opts_t o = {.max_size_mb = 1};
    storage_t *st = open_ok(fx, &o);
    for (uint64_t i = 1; i <= 5; i++)
        put(st, i, (int64_t)i, "small", NULL, NULL, NULL);
    storage_sync(st);

    size_t big_len = 100 * 1024;
    char *big = malloc(big_len + 1);
    assert_non_null(big);
    memset(big, 'x', big_len);
    big[big_len] = '\0';
    /* one batch each: the ones that fit commit, the rest fail */
    for (uint64_t i = 6; i < 6 + 30; i++) {
        put(st, i, (int64_t)i, "big", NULL, NULL, big);
        storage_sync(st);
    }
    free(big);

    storage_stats_t s;
    stats(st, &s);
    assert_true(s.write_errors > 0);
    assert_int_equal(s.thread_alive, 1);
    assert_true(s.events_written > 5); /* some big ones fit */
    assert_true(s.events_written < 35);
    uint64_t written = s.events_written;

    /* the thread keeps serving: the committed rows read back */
    got_t *g = get_sync(st, 0, 1000);
    assert_int_equal(g->rc, 0);
    assert_int_equal(g->n, written);
    for (size_t i = 0; i < g->n; i++)
        assert_int_equal(g->ids[i], i + 1);
    free(g);
    /* a later write gets its answer (committed or NODE_EIO, never lost) */
    done_t d = {0};
    assert_int_equal(storage_setting_put(st, "k", "v", on_done, &d), 0);
    storage_sync(st);
    assert_int_equal(d.calls, 1);
    assert_true(d.rc == 0 || d.rc == NODE_EIO);
    storage_close(st);

    /* the cap held */
    assert_true(raw_int(fx->db, "PRAGMA page_count") * raw_int(fx->db, "PRAGMA page_size") <=
                1024 * 1024);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM events"), (int64_t)written);
}

/* A full database whose rows then age out: the failed batch triggers
 * retention on its own, so the next write fits again. */
static void test_database_full_recovers_by_age(void **state)
{
    fx_t *fx = *state;
    storage_opts_t o = {.max_size_mb = 1, .events_max_age_days = 1};
    storage_t *st = open_ok(fx, &o);
    size_t big_len = 100 * 1024;
    char *big = malloc(big_len + 1);
    assert_non_null(big);
    memset(big, 'x', big_len);
    big[big_len] = '\0';
    storage_stats_t s;
    uint64_t id = 0;
    /* kept at insert, old 1.5 s later */
    do {
        id++;
        put(st, id, now_ms() - 86400000 + 1500, "big", NULL, NULL, big);
        storage_sync(st);
        stats(st, &s);
    } while (s.write_errors == 0 && id < 100);
    assert_int_equal(s.write_errors, 1);
    assert_int_equal(s.events_written, id - 1);
    assert_true(s.events_written > 1);

    usleep(2000 * 1000);
    /* its own batch (a batch lost to a full database takes its other rows
     * with it): fails, then retention runs on its own */
    put(st, ++id, now_ms(), "big", NULL, NULL, big);
    storage_sync(st);
    stats(st, &s);
    assert_int_equal(s.write_errors, 2);
    put(st, ++id, now_ms(), "big", NULL, NULL, big); /* fits now */
    storage_sync(st);
    stats(st, &s);
    assert_int_equal(s.write_errors, 2);
    put(st, ++id, now_ms(), "small", NULL, NULL, NULL);
    got_t *g = get_sync(st, 0, 1000);
    assert_int_equal(g->rc, 0);
    assert_int_equal(g->n, 2);
    assert_int_equal(g->ids[0], id - 1);
    assert_int_equal(g->ids[1], id);
    free(g);
    free(big);
    storage_close(st);
}

/* ---- relays (schema v3) ------------------------------------------------- */

/* A done callback that also records the order callbacks came in and, for
 * the batching check, how many events the file held at that moment. */
typedef struct {
    int calls;
    int rc;
    int order;
    int *seq;
    const char *db; /* non-NULL: count the events in this file when called */
    int64_t events; /* rows in events when called */
} rdone_t;

static void on_rdone(void *arg, int rc)
{
    rdone_t *d = arg;
    d->calls++;
    d->rc = rc;
    if (d->seq)
        d->order = (*d->seq)++;
    if (d->db)
        d->events = raw_int(d->db, "SELECT count(*) FROM events");
}

static void relay_put_ok(storage_t *st, const char *id, const char *spec)
{
    rdone_t d = {0};
    assert_int_equal(storage_relay_put(st, id, spec, on_rdone, &d), 0);
    storage_sync(st);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.rc, 0);
}

static void relay_delete_ok(storage_t *st, const char *id)
{
    rdone_t d = {0};
    assert_int_equal(storage_relay_delete(st, id, on_rdone, &d), 0);
    storage_sync(st);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.rc, 0);
}

/* The relays loaded at open must be exactly ids[i] / specs[i], in order. */
static void assert_relays(storage_t *st, size_t n, const char *const *ids, const char *const *specs)
{
    const storage_relay_t *r = NULL;
    assert_int_equal(storage_relays(st, &r), n);
    assert_int_equal(storage_relays(st, NULL), n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(r[i].id, ids[i]);
        assert_string_equal(r[i].spec, specs[i]);
    }
}

static int64_t relays_table_exists(const char *path)
{
    return raw_int(path, "SELECT count(*) FROM sqlite_master"
                         " WHERE type = 'table' AND name = 'relays'");
}

/* Adds a node id, two events and a setting to a v2 file. */
static void fill_v2(const char *path)
{
    char err[512] = "";
    assert_int_equal(storage_migrate_file(path, 2, err, sizeof err), 0);
    assert_int_equal(raw_int(path, "PRAGMA user_version"), 2);
    assert_int_equal(relays_table_exists(path), 0);
    sqlite3 *db = raw_open(path);
    raw_exec(db, "INSERT INTO node (id, created_ms)"
                 " VALUES ('11111111-2222-4333-8444-555555555555', 1000);"
                 "INSERT INTO events (id, time_ms, type, app, name, data)"
                 " VALUES (4, 2000, 'session.start', 'live', 'cam', '{\"a\":1}');"
                 "INSERT INTO events (id, time_ms, type) VALUES (9, 3000, 'node.start');"
                 "INSERT INTO settings (key, value, updated_ms) VALUES ('log.level', 'warn', 5);");
    sqlite3_close(db);
}

static void assert_v2_data_kept(storage_t *st)
{
    assert_string_equal(storage_node_id(st), "11111111-2222-4333-8444-555555555555");
    assert_int_equal(storage_last_event_id(st), 9);
    assert_string_equal(storage_setting(st, "log.level"), "warn");
    assert_int_equal(storage_relays(st, NULL), 0);
    got_t *g = get_sync(st, 0, 100);
    assert_int_equal(g->rc, 0);
    assert_int_equal(g->n, 2);
    assert_int_equal(g->ids[0], 4);
    assert_string_equal(g->data[0], "{\"a\":1}");
    assert_int_equal(g->ids[1], 9);
    free(g);
}

static void test_relays_migrate_from_v2(void **state)
{
    fx_t *fx = *state;
    const char *spec = "{\"direction\":\"push\"}";

    /* v2 -> v3 by storage_open */
    fill_v2(fx->db);
    storage_t *st = open_ok(fx, NULL);
    assert_v2_data_kept(st);
    relay_put_ok(st, "r1", spec);
    storage_close(st);
    assert_int_equal(raw_int(fx->db, "PRAGMA user_version"), STORAGE_SCHEMA_VERSION);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM relays"), 1);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM events"), 2);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM settings"), 1);
    st = open_ok(fx, NULL);
    assert_relays(st, 1, (const char *const[]){"r1"}, (const char *const[]){spec});
    storage_close(st);

    /* v2 -> v3 by storage_migrate_file, then opened */
    snprintf(fx->db, sizeof fx->db, "%s/v2.db", fx->dir);
    fill_v2(fx->db);
    char err[512] = "";
    assert_int_equal(storage_migrate_file(fx->db, 3, err, sizeof err), 0);
    assert_int_equal(raw_int(fx->db, "PRAGMA user_version"), 3);
    assert_int_equal(relays_table_exists(fx->db), 1);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM events"), 2);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM settings"), 1);
    /* migrating again is a no-op; down is refused */
    assert_int_equal(storage_migrate_file(fx->db, 3, err, sizeof err), 0);
    assert_int_equal(storage_migrate_file(fx->db, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "schema 3 is newer than the requested 2"));
    st = open_ok(fx, NULL);
    assert_v2_data_kept(st);
    storage_close(st);
}

static void test_relays_migrate_from_empty(void **state)
{
    fx_t *fx = *state;
    char err[512] = "";
    /* storage_migrate_file on a new file */
    assert_int_equal(storage_migrate_file(fx->db, 3, err, sizeof err), 0);
    assert_int_equal(raw_int(fx->db, "PRAGMA user_version"), 3);
    assert_int_equal(relays_table_exists(fx->db), 1);
    /* the columns, their types and the primary key */
    char cols[256];
    raw_text(fx->db,
             "SELECT group_concat(name || ':' || type || ':' || \"notnull\" || ':' || pk, ',')"
             " FROM (SELECT * FROM pragma_table_info('relays') ORDER BY cid)",
             cols, sizeof cols);
    assert_string_equal(cols, "id:TEXT:0:1,spec:TEXT:1:0,updated_ms:INTEGER:1:0");
    storage_t *st = open_ok(fx, NULL);
    assert_int_equal(storage_relays(st, NULL), 0);
    storage_close(st);

    /* storage_open on a new file */
    snprintf(fx->db, sizeof fx->db, "%s/fresh/weir.db", fx->dir);
    st = open_ok(fx, NULL);
    assert_int_equal(storage_relays(st, NULL), 0);
    relay_put_ok(st, "only", "{}");
    storage_close(st);
    assert_int_equal(raw_int(fx->db, "PRAGMA user_version"), STORAGE_SCHEMA_VERSION);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM relays"), 1);
}

static void test_relays_put_replace_delete(void **state)
{
    fx_t *fx = *state;
    const char *tricky =
        "{\"urls\":[\"rtmp://h/a\"],\"x\":\"it's \\\"q\\\"; DROP TABLE relays;--\"}";
    storage_t *st = open_ok(fx, NULL);
    int64_t before = now_ms();
    /* queued out of id order; rows come back by id */
    relay_put_ok(st, "m-2", "{\"n\":2}");
    relay_put_ok(st, "A.1", tricky);
    relay_put_ok(st, "z_9", "{\"n\":9}");
    relay_put_ok(st, "b", "{\"n\":0}");
    relay_delete_ok(st, "missing"); /* deleting a missing id is rc 0 */
    /* not reflected before a reopen */
    assert_int_equal(storage_relays(st, NULL), 0);
    storage_close(st);
    assert_true(raw_int(fx->db, "SELECT min(updated_ms) FROM relays") >= before);

    st = open_ok(fx, NULL);
    assert_relays(st, 4, (const char *const[]){"A.1", "b", "m-2", "z_9"},
                  (const char *const[]){tricky, "{\"n\":0}", "{\"n\":2}", "{\"n\":9}"});
    relay_put_ok(st, "b", "{\"n\":1}"); /* replace */
    relay_delete_ok(st, "m-2");
    relay_delete_ok(st, "m-2"); /* again: still rc 0 */
    storage_close(st);

    st = open_ok(fx, NULL);
    assert_relays(st, 3, (const char *const[]){"A.1", "b", "z_9"},
                  (const char *const[]){tricky, "{\"n\":1}", "{\"n\":9}"});
    /* a done callback is optional */
    assert_int_equal(storage_relay_put(st, "c", "{}", NULL, NULL), 0);
    assert_int_equal(storage_relay_delete(st, "z_9", NULL, NULL), 0);
    storage_close(st);

    st = open_ok(fx, NULL);
    assert_relays(st, 3, (const char *const[]){"A.1", "b", "c"},
                  (const char *const[]){tricky, "{\"n\":1}", "{}"});
    storage_stats_t s;
    stats(st, &s);
    assert_int_equal(s.write_errors, 0);
    storage_close(st);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM relays"), 3);
}

/* Relay writes run in queue order with the other jobs: the event inserts
 * queued before a relay write are committed when its callback runs, and the
 * callbacks come in queue order. */
static void test_relays_fifo(void **state)
{
    fx_t *fx = *state;
    storage_t *st = open_ok(fx, NULL);
    int seq = 0;
    rdone_t d[5];
    memset(d, 0, sizeof d);
    for (int i = 0; i < 5; i++) {
        d[i].seq = &seq;
        d[i].db = fx->db;
    }
    put(st, 1, 1, "a", NULL, NULL, NULL);
    put(st, 2, 2, "b", NULL, NULL, NULL);
    assert_int_equal(storage_relay_put(st, "x", "{\"v\":1}", on_rdone, &d[0]), 0);
    put(st, 3, 3, "c", NULL, NULL, NULL);
    assert_int_equal(storage_relay_put(st, "x", "{\"v\":2}", on_rdone, &d[1]), 0);
    assert_int_equal(storage_relay_put(st, "y", "{\"v\":3}", on_rdone, &d[2]), 0);
    assert_int_equal(storage_relay_delete(st, "y", on_rdone, &d[3]), 0);
    assert_int_equal(storage_setting_put(st, "k", "v", on_rdone, &d[4]), 0);
    assert_int_equal(d[0].calls, 0); /* never inside the call */
    storage_sync(st);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(d[i].calls, 1);
        assert_int_equal(d[i].rc, 0);
        assert_int_equal(d[i].order, i);
        assert_true(d[i].events >= (i == 0 ? 2 : 3));
    }
    storage_close(st);
    st = open_ok(fx, NULL);
    assert_relays(st, 1, (const char *const[]){"x"}, (const char *const[]){"{\"v\":2}"});
    storage_close(st);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM events"), 3);
}

/* A write that fails (the database is full; a trigger refuses a delete)
 * calls back NODE_EIO, is counted, and changes nothing. */
static void test_relays_write_fails(void **state)
{
    fx_t *fx = *state;
    storage_opts_t o = {.max_size_mb = 1};
    storage_t *st = open_ok(fx, &o);
    relay_put_ok(st, "r1", "{\"small\":true}");

    size_t big_len = 2u << 20; /* twice the cap */
    char *big = malloc(big_len + 1);
    assert_non_null(big);
    memset(big, 'x', big_len);
    big[big_len] = '\0';
    rdone_t d1 = {0}, d2 = {0}, d3 = {0};
    assert_int_equal(storage_relay_put(st, "r1", big, on_rdone, &d1), 0); /* replace */
    assert_int_equal(storage_relay_put(st, "r2", big, on_rdone, &d2), 0); /* insert */
    assert_int_equal(storage_relay_put(st, "r3", "{}", on_rdone, &d3), 0);
    storage_sync(st);
    free(big);
    assert_int_equal(d1.calls, 1);
    assert_int_equal(d1.rc, NODE_EIO);
    assert_int_equal(d2.calls, 1);
    assert_int_equal(d2.rc, NODE_EIO);
    /* the thread goes on: a write that fits commits */
    assert_int_equal(d3.calls, 1);
    assert_int_equal(d3.rc, 0);
    storage_stats_t s;
    stats(st, &s);
    assert_int_equal(s.write_errors, 2);
    assert_int_equal(s.thread_alive, 1);
    storage_close(st);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM relays"), 2);

    /* a delete that fails */
    sqlite3 *db = raw_open(fx->db);
    raw_exec(db, "CREATE TRIGGER keep_r1 BEFORE DELETE ON relays WHEN old.id = 'r1'"
                 " BEGIN SELECT RAISE(ABORT, 'refused by test'); END;");
    sqlite3_close(db);
    st = open_ok(fx, NULL);
    assert_relays(st, 2, (const char *const[]){"r1", "r3"},
                  (const char *const[]){"{\"small\":true}", "{}"});
    rdone_t d4 = {0};
    assert_int_equal(storage_relay_delete(st, "r1", on_rdone, &d4), 0);
    relay_delete_ok(st, "r3");
    assert_int_equal(d4.calls, 1);
    assert_int_equal(d4.rc, NODE_EIO);
    stats(st, &s);
    assert_int_equal(s.write_errors, 1);
    storage_close(st);
    st = open_ok(fx, NULL);
    assert_relays(st, 1, (const char *const[]){"r1"}, (const char *const[]){"{\"small\":true}"});
    storage_close(st);
}

static void test_relays_invalid_args(void **state)
{
    fx_t *fx = *state;
    storage_t *st = open_ok(fx, NULL);
    rdone_t d = {0};
    assert_int_equal(storage_relay_put(st, NULL, "{}", on_rdone, &d), NODE_EINVAL);
    assert_int_equal(storage_relay_put(st, "a", NULL, on_rdone, &d), NODE_EINVAL);
    assert_int_equal(storage_relay_put(NULL, "a", "{}", on_rdone, &d), NODE_EINVAL);
    assert_int_equal(storage_relay_delete(st, NULL, on_rdone, &d), NODE_EINVAL);
    assert_int_equal(storage_relay_delete(NULL, "a", on_rdone, &d), NODE_EINVAL);
    storage_stats_t s;
    stats(st, &s);
    assert_int_equal(s.queue_depth, 0);
    storage_sync(st);
    assert_int_equal(d.calls, 0);
    storage_close(st);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM relays"), 0);
}

/* As test_queue_full_drops: another connection holds the write lock, so the
 * first job is stuck and the queue of 1 stays full. */
static void test_relays_queue_full(void **state)
{
    fx_t *fx = *state;
    storage_opts_t o = {.queue_max = 1};
    storage_t *st = open_ok(fx, &o);
    sqlite3 *holder = raw_open(fx->db);
    raw_exec(holder, "BEGIN IMMEDIATE");

    rdone_t d1 = {0}, d2 = {0}, d3 = {0};
    assert_int_equal(storage_relay_put(st, "first", "{\"n\":1}", on_rdone, &d1), 0);
    assert_int_equal(storage_relay_put(st, "second", "{\"n\":2}", on_rdone, &d2), NODE_ELIMIT);
    assert_int_equal(storage_relay_delete(st, "first", on_rdone, &d3), NODE_ELIMIT);
    storage_stats_t s;
    stats(st, &s);
    assert_int_equal(s.queue_depth, 1);

    raw_exec(holder, "COMMIT");
    sqlite3_close(holder);
    storage_sync(st);
    assert_int_equal(d1.calls, 1);
    assert_int_equal(d1.rc, 0);
    assert_int_equal(d2.calls, 0); /* refused: never called */
    assert_int_equal(d3.calls, 0);
    stats(st, &s);
    assert_int_equal(s.queue_depth, 0);
    assert_int_equal(s.write_errors, 0);
    storage_close(st);
    st = open_ok(fx, NULL);
    assert_relays(st, 1, (const char *const[]){"first"}, (const char *const[]){"{\"n\":1}"});
    storage_close(st);
}

/* ---- hooks (schema v4) -------------------------------------------------- */

static void hook_put_ok(storage_t *st, const char *id, const char *spec)
{
    rdone_t d = {0};
    assert_int_equal(storage_hook_put(st, id, spec, on_rdone, &d), 0);
    storage_sync(st);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.rc, 0);
}

static void hook_delete_ok(storage_t *st, const char *id)
{
    rdone_t d = {0};
    assert_int_equal(storage_hook_delete(st, id, on_rdone, &d), 0);
    storage_sync(st);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.rc, 0);
}

/* Recorders and recordings (schema v5, issue 21): a v4 file gains both
 * tables; rows put survive a reopen, deletes too. */
static void test_recordings_migrate_and_put(void **state)
{
    fx_t *fx = *state;
    fill_v2(fx->db);
    char err[512] = "";
    assert_int_equal(storage_migrate_file(fx->db, 4, err, sizeof err), 0);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                     " AND name IN ('recorders', 'recordings')"),
                     0);
    storage_t *st = open_ok(fx, NULL);
    assert_int_equal(storage_recorders(st, NULL), 0);
    assert_int_equal(storage_recordings(st, NULL), 0);
    rdone_t d[4] = {{0}};
    assert_int_equal(storage_recorder_put(st, "rec-1", "{\"app\":\"live\"}", on_rdone, &d[0]), 0);
    assert_int_equal(storage_recording_put(st, "00000000000000000001", "{\"id\":1}", on_rdone,
                                           &d[1]), 0);
    assert_int_equal(storage_recording_put(st, "00000000000000000002", "{\"id\":2}", on_rdone,
                                           &d[2]), 0);
    assert_int_equal(storage_recording_delete(st, "00000000000000000001", on_rdone, &d[3]), 0);
    storage_sync(st);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(d[i].calls, 1);
        assert_int_equal(d[i].rc, 0);
    }
    storage_close(st);
    assert_int_equal(raw_int(fx->db, "PRAGMA user_version"), STORAGE_SCHEMA_VERSION);
    st = open_ok(fx, NULL);
    const storage_spec_t *rows;
    assert_int_equal(storage_recorders(st, &rows), 1);
    assert_string_equal(rows[0].id, "rec-1");
    assert_string_equal(rows[0].spec, "{\"app\":\"live\"}");
    assert_int_equal(storage_recordings(st, &rows), 1);
    assert_string_equal(rows[0].id, "00000000000000000002");
    assert_string_equal(rows[0].spec, "{\"id\":2}");
    rdone_t del = {0};
    assert_int_equal(storage_recorder_delete(st, "rec-1", on_rdone, &del), 0);
    storage_sync(st);
    assert_int_equal(del.rc, 0);
    storage_close(st);
    st = open_ok(fx, NULL);
    assert_int_equal(storage_recorders(st, NULL), 0);
    storage_close(st);
}

/* The hooks loaded at open must be exactly ids[i] / specs[i], in order. */
static void assert_hooks(storage_t *st, size_t n, const char *const *ids, const char *const *specs)
{
    const storage_hook_t *h = NULL;
    assert_int_equal(storage_hooks(st, &h), n);
    assert_int_equal(storage_hooks(st, NULL), n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(h[i].id, ids[i]);
        assert_string_equal(h[i].spec, specs[i]);
    }
}

static int64_t hooks_table_exists(const char *path)
{
    return raw_int(path, "SELECT count(*) FROM sqlite_master"
                         " WHERE type = 'table' AND name = 'hooks'");
}

static void test_hooks_create_fresh(void **state)
{
    fx_t *fx = *state;
    storage_t *st = open_ok(fx, NULL);
    assert_int_equal(storage_hooks(st, NULL), 0);
    storage_close(st);
    assert_true(STORAGE_SCHEMA_VERSION >= 4); /* 5: recorders and recordings (issue 21) */
    assert_int_equal(raw_int(fx->db, "PRAGMA user_version"), STORAGE_SCHEMA_VERSION);
    assert_int_equal(hooks_table_exists(fx->db), 1);
    char cols[256];
    raw_text(fx->db,
             "SELECT group_concat(name || ':' || type || ':' || \"notnull\" || ':' || pk, ',')"
             " FROM (SELECT * FROM pragma_table_info('hooks') ORDER BY cid)",
             cols, sizeof cols);
    assert_string_equal(cols, "id:TEXT:0:1,spec:TEXT:1:0,updated_ms:INTEGER:1:0");
}

/* A v3 file with a relay (and events, settings) opened by this build: the
 * hooks table appears, everything else is kept. */
static void test_hooks_migrate_from_v3(void **state)
{
    fx_t *fx = *state;
    const char *rspec = "{\"direction\":\"pull\"}";
    fill_v2(fx->db);
    char err[512] = "";
    assert_int_equal(storage_migrate_file(fx->db, 3, err, sizeof err), 0);
    sqlite3 *db = raw_open(fx->db);
    raw_exec(
        db,
        "INSERT INTO relays (id, spec, updated_ms) VALUES ('r1', '{\"direction\":\"pull\"}', 7)");
    sqlite3_close(db);
    assert_int_equal(raw_int(fx->db, "PRAGMA user_version"), 3);
    assert_int_equal(hooks_table_exists(fx->db), 0);

    storage_t *st = open_ok(fx, NULL);
    assert_string_equal(storage_node_id(st), "11111111-2222-4333-8444-555555555555");
    assert_int_equal(storage_last_event_id(st), 9);
    assert_string_equal(storage_setting(st, "log.level"), "warn");
    assert_relays(st, 1, (const char *const[]){"r1"}, (const char *const[]){rspec});
    assert_int_equal(storage_hooks(st, NULL), 0);
    hook_put_ok(st, "h1", "{\"url\":\"http://a/b\"}");
    storage_close(st);
    assert_int_equal(raw_int(fx->db, "PRAGMA user_version"), STORAGE_SCHEMA_VERSION);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM events"), 2);

    st = open_ok(fx, NULL);
    assert_relays(st, 1, (const char *const[]){"r1"}, (const char *const[]){rspec});
    assert_hooks(st, 1, (const char *const[]){"h1"},
                 (const char *const[]){"{\"url\":\"http://a/b\"}"});
    storage_close(st);

    /* storage_migrate_file 3 -> 4; down is refused */
    snprintf(fx->db, sizeof fx->db, "%s/v3.db", fx->dir);
    assert_int_equal(storage_migrate_file(fx->db, 3, err, sizeof err), 0);
    assert_int_equal(storage_migrate_file(fx->db, 4, err, sizeof err), 0);
    assert_int_equal(hooks_table_exists(fx->db), 1);
    assert_int_equal(storage_migrate_file(fx->db, 3, err, sizeof err), -1);
    assert_non_null(strstr(err, "schema 4 is newer than the requested 3"));
}

/* Puts, replaces and deletes survive a reopen; relays and hooks with the
 * same id are separate rows. */
static void test_hooks_put_replace_delete(void **state)
{
    fx_t *fx = *state;
    const char *secret =
        "{\"url\":\"http://h/x\",\"secret\":\"it's \\\"s\\\"; DROP TABLE hooks;--\"}";
    storage_t *st = open_ok(fx, NULL);
    hook_put_ok(st, "b", "{\"n\":0}");
    hook_put_ok(st, "a", secret);
    hook_put_ok(st, "c", "{\"n\":3}");
    relay_put_ok(st, "a", "{\"relay\":true}");
    hook_delete_ok(st, "missing"); /* a missing id is rc 0 */
    storage_close(st);

    st = open_ok(fx, NULL);
    assert_hooks(st, 3, (const char *const[]){"a", "b", "c"},
                 (const char *const[]){secret, "{\"n\":0}", "{\"n\":3}"});
    assert_relays(st, 1, (const char *const[]){"a"}, (const char *const[]){"{\"relay\":true}"});
    hook_put_ok(st, "b", "{\"n\":1}"); /* replace */
    hook_delete_ok(st, "a");
    assert_int_equal(storage_hooks(st, NULL), 3); /* loaded at open only */
    storage_close(st);

    st = open_ok(fx, NULL);
    assert_hooks(st, 2, (const char *const[]){"b", "c"},
                 (const char *const[]){"{\"n\":1}", "{\"n\":3}"});
    assert_relays(st, 1, (const char *const[]){"a"}, (const char *const[]){"{\"relay\":true}"});
    storage_close(st);
    assert_int_equal(raw_int(fx->db, "SELECT count(*) FROM hooks"), 2);
}

/* A hook write the database refuses calls back NODE_EIO and changes
 * nothing; bad arguments are refused before anything is queued. */
static void test_hooks_write_fails(void **state)
{
    fx_t *fx = *state;
    storage_t *st = open_ok(fx, NULL);
    hook_put_ok(st, "h1", "{}");
    rdone_t d = {0};
    assert_int_equal(storage_hook_put(st, NULL, "{}", on_rdone, &d), NODE_EINVAL);
    assert_int_equal(storage_hook_put(st, "a", NULL, on_rdone, &d), NODE_EINVAL);
    assert_int_equal(storage_hook_put(NULL, "a", "{}", on_rdone, &d), NODE_EINVAL);
    assert_int_equal(storage_hook_delete(st, NULL, on_rdone, &d), NODE_EINVAL);
    assert_int_equal(storage_hook_delete(NULL, "a", on_rdone, &d), NODE_EINVAL);
    storage_close(st);
    assert_int_equal(d.calls, 0);

    sqlite3 *db = raw_open(fx->db);
    raw_exec(db, "CREATE TRIGGER keep_h1 BEFORE DELETE ON hooks WHEN old.id = 'h1'"
                 " BEGIN SELECT RAISE(ABORT, 'refused by test'); END;"
                 "CREATE TRIGGER no_h2 BEFORE INSERT ON hooks WHEN new.id = 'h2'"
                 " BEGIN SELECT RAISE(ABORT, 'refused by test'); END;");
    sqlite3_close(db);
    st = open_ok(fx, NULL);
    rdone_t d1 = {0}, d2 = {0};
    assert_int_equal(storage_hook_delete(st, "h1", on_rdone, &d1), 0);
    assert_int_equal(storage_hook_put(st, "h2", "{}", on_rdone, &d2), 0);
    hook_put_ok(st, "h3", "{}");
    assert_int_equal(d1.calls, 1);
    assert_int_equal(d1.rc, NODE_EIO);
    assert_int_equal(d2.calls, 1);
    assert_int_equal(d2.rc, NODE_EIO);
    storage_stats_t s;
    stats(st, &s);
    assert_int_equal(s.write_errors, 2);
    storage_close(st);
    st = open_ok(fx, NULL);
    assert_hooks(st, 2, (const char *const[]){"h1", "h3"}, (const char *const[]){"{}", "{}"});
    storage_close(st);
}

/* ---- a lost database file, a bounded stop ------------------------------ */

typedef struct {
    int calls;
    char why[512];
} lost_t;

static void on_lost(void *arg, const char *why)
{
    lost_t *l = arg;
    l->calls++;
    snprintf(l->why, sizeof l->why, "%s", why);
}

/* The file deleted under an open storage: the next write fails (nothing
 * acknowledged), the loop gets one message, the stats say lost. */
static void test_lost_file_refuses_writes(void **state)
{
    fx_t *fx = *state;
    lost_t lost = {0};
    storage_opts_t o = {.on_lost = on_lost, .lost_arg = &lost};
    storage_t *st = open_ok(fx, &o);
    relay_put_ok(st, "r1", "{}");
    assert_int_equal(unlink(fx->db), 0);
    rdone_t d1 = {0}, d2 = {0};
    assert_int_equal(storage_relay_put(st, "r2", "{}", on_rdone, &d1), 0);
    assert_int_equal(storage_setting_put(st, "k", "v", on_rdone, &d2), 0);
    storage_event_t ev = {.id = 1, .time_ms = 1, .type = "t"};
    assert_int_equal(storage_event_put(st, &ev), 0);
    storage_sync(st);
    assert_int_equal(d1.calls, 1);
    assert_int_equal(d1.rc, NODE_EIO);
    assert_int_equal(d2.rc, NODE_EIO);
    assert_int_equal(lost.calls, 1);
    char want[300];
    snprintf(want, sizeof want, "%s was deleted", fx->db);
    assert_string_equal(lost.why, want);
    storage_stats_t s;
    stats(st, &s);
    assert_int_equal(s.lost, 1);
    assert_int_equal(s.events_failed, 1);
    assert_int_equal(s.write_errors, 0); /* refused, not tried */
    storage_close(st);
    assert_int_equal(lost.calls, 1);
}

/* A file replaced (same path, another inode) is lost too; an idle thread
 * notices it by itself within STORAGE_CHECK_MS; after storage_detach() the
 * message is not delivered. */
static void test_replaced_file_noticed_idle(void **state)
{
    fx_t *fx = *state;
    lost_t lost = {0};
    storage_opts_t o = {.on_lost = on_lost, .lost_arg = &lost};
    storage_t *st = open_ok(fx, &o);
    char copy[200];
    snprintf(copy, sizeof copy, "%s.copy", fx->db);
    int in = open(fx->db, O_RDONLY), out = open(copy, O_WRONLY | O_CREAT, 0600);
    assert_true(in >= 0 && out >= 0);
    char buf[4096];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
    assert_int_equal(rename(copy, fx->db), 0);
    storage_stats_t s;
    int64_t deadline = now_ms() + 5000;
    do {
        usleep(20000);
        stats(st, &s);
    } while (!s.lost && now_ms() < deadline);
    assert_int_equal(s.lost, 1);
    storage_detach(st);
    storage_sync(st);
    assert_int_equal(lost.calls, 0);
    storage_close(st);
}

/* Stopping with the database locked by another connection: the first write
 * waits for what is left of the budget, the rest fail at once. */
static void test_stopping_bounded_when_locked(void **state)
{
    fx_t *fx = *state;
    storage_opts_t o = {.stop_budget_ms = 600}; /* the default (5 s) bounds it the same way */
    storage_t *st = open_ok(fx, &o);
    sqlite3 *db = raw_open(fx->db);
    raw_exec(db, "BEGIN EXCLUSIVE");
    storage_stopping(st);
    rdone_t d[4] = {{0}};
    int64_t t0 = now_ms();
    for (int i = 0; i < 4; i++)
        assert_int_equal(storage_setting_put(st, "k", "v", on_rdone, &d[i]), 0);
    storage_sync(st);
    int64_t took = now_ms() - t0;
    for (int i = 0; i < 4; i++)
        assert_int_equal(d[i].rc, NODE_EIO);
    assert_true(took >= 500 && took < 600 + 1000);
    raw_exec(db, "ROLLBACK");
    sqlite3_close(db);
    storage_close(st);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_create_fresh),
        T(test_migrate_from_v1),
        T(test_newer_schema_refused),
        T(test_not_a_database),
        T(test_unopenable_path),
        T(test_corrupt_database),
        T(test_truncated_database),
        T(test_events_put_get),
        T(test_events_many_paged),
        T(test_read_after_put_is_fifo),
        T(test_callbacks_on_event_loop),
        T(test_close_runs_pending_callbacks),
        T(test_settings_persist),
        T(test_retention_max_rows),
        T(test_cache_kb_bounds_sqlite_memory),
        T(test_retention_max_age),
        T(test_queue_full_drops),
        T(test_duplicate_id_skips_row),
        T(test_database_full),
        T(test_database_full_recovers_by_age),
        T(test_relays_migrate_from_v2),
        T(test_hooks_create_fresh),
        T(test_recordings_migrate_and_put),
        T(test_hooks_migrate_from_v3),
        T(test_hooks_put_replace_delete),
        T(test_hooks_write_fails),
        T(test_relays_migrate_from_empty),
        T(test_relays_put_replace_delete),
        T(test_relays_fifo),
        T(test_relays_write_fails),
        T(test_relays_invalid_args),
        T(test_relays_queue_full),
        T(test_lost_file_refuses_writes),
        T(test_replaced_file_noticed_idle),
        T(test_stopping_bounded_when_locked),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
