/* storage_load: what storage_open() reads once (storage_internal.h): the
 * node id (made on first start), the settings, the relays, the hooks and
 * the last event id, and the accessors that return them until close. Runs
 * on the loop thread: the loads inside storage_open() before the storage
 * thread starts; the accessors read what the thread never writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "common.h"
#include "storage_internal.h"

static void uuid_v4(const uint8_t b[16], char out[STORAGE_NODE_ID_LEN + 1])
{
    uint8_t u[16];
    memcpy(u, b, 16);
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[u[i] >> 4];
        *o++ = hex[u[i] & 0x0f];
    }
    *o = '\0';
}

/* The node id row: copies it into st->node_id (1), or finds none (0), or
 * fails (-1 with err). Inside load_node_id()'s transaction. */
static int read_node_id(storage_t *st, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "SELECT id FROM node ORDER BY rowid LIMIT 1", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        const unsigned char *id = sqlite3_column_text(s, 0);
        if (id && strlen((const char *)id) == STORAGE_NODE_ID_LEN) {
            memcpy(st->node_id, id, STORAGE_NODE_ID_LEN + 1);
            ret = 1;
        } else {
            snprintf(err, errlen, "%s: database is corrupt: malformed node id", st->path);
            ret = -1;
        }
    } else if (rc != SQLITE_DONE) {
        storage_db_fail(err, errlen, st->path, st->db, rc, "node id");
        ret = -1;
    }
    sqlite3_finalize(s);
    return ret;
}

/* Makes a new node id (UUID v4) and inserts it. Returns 0 or -1 with err. */
static int create_node_id(storage_t *st, char *err, size_t errlen)
{
    uint8_t b[16];
    if (RAND_bytes(b, sizeof b) != 1) {
        snprintf(err, errlen, "%s: cannot generate the node id (RAND_bytes)", st->path);
        return -1;
    }
    uuid_v4(b, st->node_id);
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "INSERT INTO node (id, created_ms) VALUES (?1, ?2)", -1,
                                &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(s, 1, st->node_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, weir_wall_ms());
        rc = sqlite3_step(s);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        storage_db_fail(err, errlen, st->path, st->db, rc, "node id");
        return -1;
    }
    return 0;
}

/* Reads the node id, creating it on first start, in one transaction. */
static int load_node_id(storage_t *st, char *err, size_t errlen)
{
    int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        storage_db_fail(err, errlen, st->path, st->db, rc, "node id");
        return -1;
    }
    int found = read_node_id(st, err, errlen);
    if (found == 0 && create_node_id(st, err, errlen) != 0)
        found = -1;
    if (found >= 0 && (rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
        storage_db_fail(err, errlen, st->path, st->db, rc, "node id");
        found = -1;
    }
    if (found < 0 && !sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return found < 0 ? -1 : 0;
}

static int load_settings(storage_t *st, char *err, size_t errlen)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(st->db, "SELECT key, value FROM settings", -1, &s, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(s, 0);
        const char *v = (const char *)sqlite3_column_text(s, 1);
        setting_t *ns = realloc(st->settings, (st->nsettings + 1) * sizeof *ns);
        if (!ns) {
            rc = SQLITE_NOMEM;
            break;
        }
        st->settings = ns;
        setting_t *e = &st->settings[st->nsettings];
        e->key = strdup(k ? k : "");
        e->value = strdup(v ? v : "");
        if (!e->key || !e->value) {
            free(e->key);
            free(e->value);
            rc = SQLITE_NOMEM;
            break;
        }
        st->nsettings++;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        storage_db_fail(err, errlen, st->path, st->db, rc, "loading settings");
        return -1;
    }
    return 0;
}

/* Loads the rows of a spec table (relays, hooks: id, spec) ordered by id
 * into *rows / *n (strings malloc'ed). */
static int load_specs(storage_t *st, const char *table, storage_spec_t **rows, size_t *n, char *err,
                      size_t errlen)
{
    char sql[64], what[32];
    snprintf(sql, sizeof sql, "SELECT id, spec FROM %s ORDER BY id", table);
    snprintf(what, sizeof what, "loading %s", table);
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(s, 0);
        const char *spec = (const char *)sqlite3_column_text(s, 1);
        storage_spec_t *nr = realloc(*rows, (*n + 1) * sizeof *nr);
        if (!nr) {
            rc = SQLITE_NOMEM;
            break;
        }
        *rows = nr;
        char *i = strdup(id ? id : ""), *v = strdup(spec ? spec : "");
        if (!i || !v) {
            free(i);
            free(v);
            rc = SQLITE_NOMEM;
            break;
        }
        nr[*n].id = i;
        nr[*n].spec = v;
        (*n)++;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        storage_db_fail(err, errlen, st->path, st->db, rc, what);
        return -1;
    }
    return 0;
}

static void free_specs(storage_spec_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)rows[i].id);
        free((char *)rows[i].spec);
    }
    free(rows);
}

int storage_load(storage_t *st, char *err, size_t errlen)
{
    if (load_node_id(st, err, errlen) != 0 || load_settings(st, err, errlen) != 0 ||
        load_specs(st, "relays", &st->relays, &st->nrelays, err, errlen) != 0 ||
        load_specs(st, "hooks", &st->hooks, &st->nhooks, err, errlen) != 0 ||
        load_specs(st, "recorders", &st->recorders, &st->nrecorders, err, errlen) != 0 ||
        load_specs(st, "recordings", &st->recordings, &st->nrecordings, err, errlen) != 0)
        return -1;
    int64_t last = 0;
    int rc = storage_db_query_int(st->db, "SELECT max(id) FROM events", &last);
    if (rc != SQLITE_OK) {
        storage_db_fail(err, errlen, st->path, st->db, rc, "reading the last event id");
        return -1;
    }
    st->last_event_id = last > 0 ? (uint64_t)last : 0;
    return 0;
}

void storage_load_free(storage_t *st)
{
    for (size_t i = 0; i < st->nsettings; i++) {
        free(st->settings[i].key);
        free(st->settings[i].value);
    }
    free(st->settings);
    free_specs(st->relays, st->nrelays);
    free_specs(st->hooks, st->nhooks);
    free_specs(st->recorders, st->nrecorders);
    free_specs(st->recordings, st->nrecordings);
}

/* ---- accessors ---------------------------------------------------------- */

const char *storage_sqlite_version(void)
{
    return sqlite3_libversion();
}

const char *storage_node_id(const storage_t *st)
{
    return st->node_id;
}

uint64_t storage_last_event_id(const storage_t *st)
{
    return st->last_event_id;
}

const char *storage_setting(const storage_t *st, const char *key)
{
    for (size_t i = 0; i < st->nsettings; i++)
        if (strcmp(st->settings[i].key, key) == 0)
            return st->settings[i].value;
    return NULL;
}

size_t storage_relays(const storage_t *st, const storage_relay_t **out)
{
    if (out)
        *out = st->relays;
    return st->nrelays;
}

size_t storage_hooks(const storage_t *st, const storage_hook_t **out)
{
    if (out)
        *out = st->hooks;
    return st->nhooks;
}

size_t storage_recorders(const storage_t *st, const storage_spec_t **out)
{
    if (out)
        *out = st->recorders;
    return st->nrecorders;
}

size_t storage_recordings(const storage_t *st, const storage_spec_t **out)
{
    if (out)
        *out = st->recordings;
    return st->nrecordings;
}
