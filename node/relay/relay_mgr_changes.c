/* relay_mgr_changes: the relays' specs (see relay.h): loading the
 * config-file and stored relays, the checks a spec must pass against the
 * node and the other relays, and the API's changes (put, patch, delete)
 * through the spec_store queue: checked at their turn, applied once
 * committed. Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "log.h"
#include "relay_internal.h"
#include "spec_store.h"
#include "storage.h"
#include "url.h"

/* 1 if a URL of spec points at one of this node's own listeners. */
static int url_is_self(const relay_mgr_t *m, const char *url_text)
{
    const conf_t *conf = &m->node->conf;
    url_t u;
    char err[128];
    url_scheme_t sch = url_scheme(url_text);
    if (url_parse(url_text, url_scheme_name(sch), url_scheme_port(sch), &u, err, sizeof err) != 0)
        return 0;
    const char *listen = sch == URL_SCHEME_HTTP    ? conf->http_flv_listen
                         : sch == URL_SCHEME_HTTPS ? conf->https_listen
                         : sch == URL_SCHEME_RTMPS ? conf->rtmps_listen
                                                   : conf->rtmp_listen;
    char host[CONF_LISTEN_MAX];
    uint16_t port = 0;
    if (!listen[0] || conf_parse_listen(listen, host, sizeof host, &port) != 0 || port != u.port)
        return 0;
    if (strcmp(host, u.host) == 0)
        return 1;
    int wildcard = !host[0] || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
    int loop_listen = strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
    int loop_url = strncmp(u.host, "127.", 4) == 0 || strcmp(u.host, "::1") == 0 ||
                   strcmp(u.host, "localhost") == 0;
    if (loop_url && (wildcard || (loop_listen && strcmp(host, u.host) == 0)))
        return 1;
    if (loop_url && loop_listen && strcmp(u.host, "localhost") == 0)
        return 1;
    return 0;
}

/* Checks spec against the node and the other relays (see relay_mgr_put). */
static int spec_check(relay_mgr_t *m, const relay_spec_t *spec, char *err, size_t errlen)
{
    for (unsigned i = 0; i < spec->nurls; i++) {
        if (url_is_self(m, spec->urls[i])) {
            snprintf(err, errlen, "urls[%u]: points at this node's own %s listener", i,
                     strncmp(spec->urls[i], "http://", 7) == 0 ? "HTTP-FLV" : "RTMP");
            return NODE_EINVAL;
        }
    }
    if (spec->direction != RELAY_PULL)
        return 0;
    for (const relay_t *r = m->relays; r; r = r->next) {
        if (r->spec.direction != RELAY_PULL || strcmp(r->spec.id, spec->id) == 0 ||
            strcmp(r->spec.app, spec->app) != 0)
            continue;
        if (strcmp(r->spec.name, spec->name) == 0 || strcmp(r->spec.name, "*") == 0 ||
            strcmp(spec->name, "*") == 0) {
            snprintf(err, errlen, "name: pull relay %s already feeds %s/%s", r->spec.id,
                     r->spec.app, r->spec.name);
            return NODE_EBUSY;
        }
    }
    return 0;
}

/* Adds a relay that passed its checks and starts it. */
static relay_t *relay_add(relay_mgr_t *m, const relay_spec_t *spec)
{
    relay_t *r = relay_new(m, spec);
    if (!r)
        return NULL;
    relay_insert(m, r);
    relay_activate(r, weir_mono_ms());
    return r;
}

int relay_mgr_load_one(void *owner, const cJSON *obj, int from_config, char *err, size_t errlen)
{
    relay_mgr_t *m = owner;
    relay_spec_t spec;
    if (relay_spec_from_json(obj, NULL, &spec, err, errlen) != 0)
        return -1;
    spec.source = from_config ? RELAY_SRC_CONFIG : RELAY_SRC_API;
    if (!spec.id[0]) {
        snprintf(err, errlen, "id: missing");
        return -1;
    }
    if (relay_find(m, spec.id)) {
        snprintf(err, errlen, "id: relay %s is already defined%s", spec.id,
                 from_config ? "" : " in the config file");
        return -1;
    }
    if (spec_check(m, &spec, err, errlen) != 0)
        return -1;
    if (m->nrelays >= RELAY_MAX || !relay_add(m, &spec)) {
        snprintf(err, errlen, "too many relays or out of memory");
        return -1;
    }
    return 0;
}

typedef enum { CH_PUT, CH_POST, CH_PATCH, CH_DELETE } change_kind_t;

/* An API change waiting for its turn and its storage write (spec_store.h):
 * checked against the committed relays at its turn, applied once committed.
 * Owned by the store; loop thread. */
typedef struct {
    spec_change_t base;
    change_kind_t kind;
    relay_spec_t spec; /* PUT, POST: the new spec; PATCH: merged at its turn */
    cJSON *patch;      /* PATCH: the body (owned) */
    relay_t *fresh;    /* a new relay made at its turn, so that applying it
                        * cannot fail; owned until settle inserts it */
} change_t;

static int change_prepare(void *owner, spec_change_t *base, cJSON **spec, char *err, size_t errlen);
static void change_settle(void *owner, spec_change_t *base, int rc);
static void change_release(spec_change_t *base);

static int change_etag(void *owner, const char *id, char out[SPEC_ETAG_MAX])
{
    relay_mgr_t *m = owner;
    relay_t *r = relay_find(m, id);
    return r ? relay_spec_etag(m->node, &r->spec, out) : -1;
}

const spec_store_ops_t RELAY_STORE_OPS = {.put = storage_relay_put,
                                          .del = storage_relay_delete,
                                          .prepare = change_prepare,
                                          .settle = change_settle,
                                          .release = change_release,
                                          .change_size = sizeof(change_t),
                                          .etag = change_etag};

/* The new spec of a put at its turn (r: the relay it replaces, or NULL):
 * a PATCH is merged over r now, so that it keeps what was committed before
 * it. Checked against the node and the other relays. */
static int change_spec(relay_mgr_t *m, change_t *ch, const relay_t *r, char *err, size_t errlen)
{
    if (ch->kind == CH_POST && r) {
        snprintf(err, errlen, "id: relay %s already exists", ch->base.id);
        return NODE_EBUSY;
    }
    if (ch->kind == CH_PATCH && relay_spec_patch(ch->patch, &r->spec, &ch->spec, err, errlen) != 0)
        return NODE_EINVAL;
    ch->spec.source = RELAY_SRC_API;
    return spec_check(m, &ch->spec, err, errlen);
}

/* spec_store prepare: nothing else is in flight, so the relays are what is
 * committed. */
static int change_prepare(void *owner, spec_change_t *base, cJSON **spec, char *err, size_t errlen)
{
    relay_mgr_t *m = owner;
    change_t *ch = (change_t *)base;
    relay_t *r = relay_find(m, base->id);
    if (!r && (ch->kind == CH_DELETE || ch->kind == CH_PATCH)) {
        snprintf(err, errlen, "no relay %s", base->id);
        return NODE_ENOTFOUND;
    }
    if (r && r->spec.source == RELAY_SRC_CONFIG)
        return spec_store_read_only("relay", base->id, err, errlen);
    if (ch->kind == CH_DELETE)
        return 0;
    int rc = change_spec(m, ch, r, err, errlen);
    if (rc != 0)
        return rc;
    if (!r && m->nrelays >= RELAY_MAX) {
        snprintf(err, errlen, "too many relays (%d)", RELAY_MAX);
        return NODE_ELIMIT;
    }
    if (!r && !(ch->fresh = relay_new(m, &ch->spec))) {
        snprintf(err, errlen, "out of memory");
        return NODE_ENOMEM;
    }
    base->created = !r;
    base->unchanged = r && relay_spec_diff(&r->spec, &ch->spec) == RELAY_DIFF_NONE;
    base->spec = &ch->spec;
    *spec = relay_spec_to_json(&ch->spec);
    return 0;
}

/* spec_store settle: a committed change is applied (it cannot fail: a new
 * relay was made at prepare); a failed one changed nothing. */
static void change_settle(void *owner, spec_change_t *base, int rc)
{
    relay_mgr_t *m = owner;
    change_t *ch = (change_t *)base;
    if (rc != 0) {
        log_warn(0, "relay %s: change not stored (storage write failed); nothing changed",
                 base->id);
        return;
    }
    if (base->del) {
        relay_remove(m, base->id, REASON_RELAY_DELETED, "relay deleted");
        log_info(0, "relay %s deleted over the API", base->id);
        return;
    }
    int64_t now = weir_mono_ms();
    relay_t *r = relay_find(m, base->id);
    if (r) {
        relay_replace(r, &ch->spec, now);
        return;
    }
    if (ch->fresh) {
        r = ch->fresh;
        ch->fresh = NULL;
        relay_insert(m, r);
    } else { /* not reached: prepare made it, and only settle adds relays */
        log_error(0, "relay %s: stored but not applied: no relay made for it", base->id);
        return;
    }
    relay_activate(r, now);
    log_info(0, "relay %s created over the API", base->id);
}

static void change_release(spec_change_t *base)
{
    change_t *ch = (change_t *)base;
    free(ch->fresh);
    cJSON_Delete(ch->patch);
}

/* Queues a change of id (spec: PUT, POST; patch: PATCH, copied). */
static int change_submit(relay_mgr_t *m, change_kind_t kind, const char *id,
                         const relay_spec_t *spec, const cJSON *patch, const char *if_match,
                         relay_done_cb done, void *arg, char *err, size_t errlen)
{
    change_t *ch = (change_t *)spec_store_change_new(&m->store, kind == CH_DELETE, id, if_match,
                                                     done, arg, err, errlen);
    if (!ch)
        return NODE_ENOMEM;
    ch->kind = kind;
    if (spec)
        ch->spec = *spec;
    if (patch && !(ch->patch = cJSON_Duplicate(patch, 1))) {
        spec_store_change_free(&ch->base);
        snprintf(err, errlen, "out of memory");
        return NODE_ENOMEM;
    }
    return spec_store_submit(&m->store, &ch->base, err, errlen);
}

int relay_mgr_put(relay_mgr_t *m, const relay_spec_t *spec, int create_only, const char *if_match,
                  relay_done_cb done, void *arg, char *err, size_t errlen)
{
    if (!spec->id[0]) {
        snprintf(err, errlen, "id: missing");
        return NODE_EINVAL;
    }
    return change_submit(m, create_only ? CH_POST : CH_PUT, spec->id, spec, NULL, if_match, done,
                         arg, err, errlen);
}

int relay_mgr_patch(relay_mgr_t *m, const char *id, const cJSON *patch, const char *if_match,
                    relay_done_cb done, void *arg, char *err, size_t errlen)
{
    return change_submit(m, CH_PATCH, id, NULL, patch, if_match, done, arg, err, errlen);
}

int relay_mgr_delete(relay_mgr_t *m, const char *id, const char *if_match, relay_done_cb done,
                     void *arg, char *err, size_t errlen)
{
    return change_submit(m, CH_DELETE, id, NULL, NULL, if_match, done, arg, err, errlen);
}

size_t relay_mgr_changes_waiting(const relay_mgr_t *m)
{
    return m ? m->store.count : 0;
}

const relay_spec_t *relay_mgr_spec(relay_mgr_t *m, const char *id)
{
    relay_t *r = relay_find(m, id);
    return r ? &r->spec : NULL;
}

static int id_taken(void *owner, const char *id)
{
    return relay_find(owner, id) != NULL;
}

void relay_mgr_new_id(relay_mgr_t *m, char out[RELAY_ID_MAX])
{
    spec_store_new_id(out, RELAY_ID_MAX, "r-", &m->rng, id_taken, m);
}

int relay_spec_etag(const node_t *node, const relay_spec_t *spec, char out[SPEC_ETAG_MAX])
{
    cJSON *j = relay_spec_to_json(spec);
    int rc = j ? spec_etag(node->etag_key, j, out) : -1;
    cJSON_Delete(j);
    return rc;
}
