/* reload: SIGHUP re-reads the config file for log.file, log.level, limits.*
 * and apps (see reload.h), between sd_notify's RELOADING=1 and READY=1. Loop
 * thread; node->conf's keys applied are updated here, the rest of node->conf
 * never changes after start. */
#include "reload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "conn_limits.h"
#include "fdlimit.h"
#include "log.h"
#include "sdnotify.h"
#include "tls.h"
#include "tls_client.h"

/* The config file as it is now into c, or -1 (logged): then the node goes
 * on with what it runs (NULL conf_path: the built-in defaults, as at start). */
static int reread(node_t *node, conf_t *c)
{
    conf_defaults(c);
    if (!node->conf_path)
        return 0;
    char err[768];
    if (conf_load_file(c, node->conf_path, err, sizeof err) == 0)
        return 0;
    log_error(0, "SIGHUP: config not reloaded: %s (the node goes on with the config it runs)", err);
    return -1;
}

/* A config.change event for a key SIGHUP applied (value: NULL for none,
 * the apps rules: their secrets stay out of the event log). */
static void changed(node_t *node, const char *key, const char *value)
{
    cJSON *f = cJSON_CreateObject();
    if (f) {
        cJSON_AddStringToObject(f, "key", key);
        if (value)
            cJSON_AddStringToObject(f, "value", value);
        cJSON_AddStringToObject(f, "by", "sighup");
    }
    node_event(node, "config.change", f);
}

/* log.level from the file, unless a level set over the API is in effect. */
static void apply_level(node_t *node, const conf_t *c)
{
    if (node->log_level_by_api) {
        if (strcmp(c->log_level, node->conf.log_level) != 0)
            log_warn(0,
                     "SIGHUP: log.level %s in %s not applied: the level %s set over the API "
                     "stays (PATCH /api/v1/node to change it)",
                     c->log_level, node->conf_path, log_level_name(log_get_level()));
        snprintf(node->conf.log_level, sizeof node->conf.log_level, "%s", c->log_level);
        return;
    }
    log_level_t level = LOG_INFO, old = log_get_level();
    log_level_parse(c->log_level, &level); /* checked by the loader */
    snprintf(node->conf.log_level, sizeof node->conf.log_level, "%s", c->log_level);
    if (level == old)
        return;
    /* logged at the more verbose of the two levels, so that it shows */
    if (level > old)
        log_info(0, "SIGHUP: log.level %s (was %s)", log_level_name(level), log_level_name(old));
    log_set_level(level);
    if (level < old)
        log_info(0, "SIGHUP: log.level %s (was %s)", log_level_name(level), log_level_name(old));
    changed(node, "log.level", log_level_name(level));
}

/* One limits.* key from c into the running conf (0: it did not change). */
static int take_limit(node_t *node, const char *key, uint32_t *cur, uint32_t want)
{
    if (*cur == want)
        return 0;
    log_info(0, "SIGHUP: %s %u (was %u)", key, want, *cur);
    *cur = want;
    char v[16];
    snprintf(v, sizeof v, "%u", want);
    changed(node, key, v);
    return 1;
}

/* limits.*: the connection limits (unless the per-address ones need an
 * address table of another size: *conns_skipped, named by the caller as
 * needing a restart), limits.max_streams and limits.max_memory_mb. The
 * connections and streams up stay; the limits apply to new ones. */
static void apply_limits(node_t *node, const conf_t *c, int *conns_skipped)
{
    conf_t *n = &node->conf;
    *conns_skipped = 0;
    if (node->limits &&
        (c->limits_max_connections != n->limits_max_connections ||
         c->limits_max_connections_per_address != n->limits_max_connections_per_address ||
         c->limits_new_connections_per_address_per_s !=
             n->limits_new_connections_per_address_per_s)) {
        if (conn_limits_set(node->limits, c->limits_max_connections,
                            c->limits_max_connections_per_address,
                            c->limits_new_connections_per_address_per_s) != 0) {
            *conns_skipped = 1;
        } else {
            uint32_t was = n->limits_max_connections;
            take_limit(node, "limits.max_connections", &n->limits_max_connections,
                       c->limits_max_connections);
            take_limit(node, "limits.max_connections_per_address",
                       &n->limits_max_connections_per_address,
                       c->limits_max_connections_per_address);
            take_limit(node, "limits.new_connections_per_address_per_s",
                       &n->limits_new_connections_per_address_per_s,
                       c->limits_new_connections_per_address_per_s);
            if (n->limits_max_connections == 0 || n->limits_max_connections > was)
                node->fd_limit = fdlimit_apply(n->limits_max_connections);
        }
    }
    take_limit(node, "limits.max_streams", &n->limits_max_streams, c->limits_max_streams);
    if (take_limit(node, "limits.max_memory_mb", &n->limits_max_memory_mb,
                   c->limits_max_memory_mb))
        hub_reload_memory_bound(node->hub);
}

/* "apps": the publish and play rules of the sessions to come. */
static void apply_apps(node_t *node, const conf_t *c)
{
    if (memcmp(&c->apps, &node->conf.apps, sizeof c->apps) == 0)
        return;
    node->conf.apps = c->apps;
    log_info(0, "SIGHUP: apps reloaded (%u rules); sessions up stay", c->apps.n);
    changed(node, "apps", NULL);
}

/* tls.ca: a changed path is the default CA file of the relay links and
 * webhook deliveries to come (those up keep theirs), once it loads; one
 * that does not load is logged and the running one stays. */
static void apply_tls_ca(node_t *node, const conf_t *c)
{
    conf_t *n = &node->conf;
    if (strcmp(c->tls_ca, n->tls_ca) == 0)
        return;
    char err[CONF_PATH_MAX + 128];
    tls_client_t *tc = node_tls_client(node);
    if (!tc || tls_client_set_default_ca(tc, c->tls_ca, err, sizeof err) != 0) {
        log_error(0,
                  "SIGHUP: tls.ca not changed: %s (relays and webhooks go on verifying against %s)",
                  tc ? err : "out of memory", n->tls_ca[0] ? n->tls_ca : "the system CA store");
        return;
    }
    log_info(
        0, "SIGHUP: tls.ca %s (was %s); new relay links and webhook deliveries verify against it",
        c->tls_ca[0] ? c->tls_ca : "\"\" (the system CA store)", n->tls_ca[0] ? n->tls_ca : "\"\"");
    memcpy(n->tls_ca, c->tls_ca, sizeof n->tls_ca);
    changed(node, "tls.ca", n->tls_ca);
}

/* Reopens the log file at path (logrotate renamed the old one). */
static void reopen_log(node_t *node, const char *path)
{
    char err[CONF_PATH_MAX + 128];
    log_info(0, "SIGHUP: reopening the log file (%s)", path[0] ? path : "none: stderr only");
    if (log_reopen(path, err, sizeof err) != 0) {
        log_error(0, "SIGHUP: %s; logging goes on to the file in use", err);
        return;
    }
    if (path != node->conf.log_file)
        snprintf(node->conf.log_file, sizeof node->conf.log_file, "%s", path);
    log_info(0, "SIGHUP: reopened log %s", path[0] ? path : "(none: stderr only)");
}

int node_reload_certs(node_t *node, const conf_t *c, const char *by, char *err, size_t errlen)
{
    tls_client_flush(node->tls_client); /* CA files are read again */
    if (!node->tls) {
        snprintf(err, errlen,
                 "no TLS listener is configured (rtmps.listen, https.listen, api.tls)");
        return NODE_RELOAD_NO_TLS;
    }
    if (tls_server_reload(node->tls, c, err, errlen) != 0) {
        log_error(0, "%s: certificates not reloaded: %s (the running ones stay in use)", by, err);
        return -1;
    }
    if (c != &node->conf) {
        conf_t *n = &node->conf;
        memcpy(n->tls_cert, c->tls_cert, sizeof n->tls_cert);
        memcpy(n->tls_key, c->tls_key, sizeof n->tls_key);
        memcpy(n->tls_sni, c->tls_sni, sizeof n->tls_sni);
        n->tls_sni_n = c->tls_sni_n;
    }
    tls_cert_info_t info;
    tls_server_certs(node->tls, &info, 1);
    log_info(0, "%s: certificates reloaded (tls.cert serial %s, %u by server name); new TLS "
             "handshakes use them",
             by, info.serial, c->tls_sni_n);
    return 0;
}

/* The reload itself (node_reload() tells the service manager around it). */
static void reload_config(node_t *node)
{
    log_info(0, "received SIGHUP: reloading log.file, log.level, limits, apps and TLS from %s",
             node->conf_path ? node->conf_path : "the built-in defaults");
    conf_t *c = malloc(sizeof *c); /* large (relays, hooks as text) */
    if (!c || reread(node, c) != 0) {
        if (!c)
            log_error(0, "SIGHUP: config not reloaded: out of memory");
        reopen_log(node, node->conf.log_file);
        free(c);
        return;
    }
    reopen_log(node, c->log_file);
    apply_level(node, c);
    char err[768];
    tls_client_flush(node->tls_client); /* the CA files of relays and webhooks are read again */
    if (node->tls)
        node_reload_certs(node, c, "SIGHUP", err, sizeof err);
    apply_tls_ca(node, c);
    int conns_skipped;
    apply_limits(node, c, &conns_skipped);
    apply_apps(node, c);
    const char *applied[16] = {
        "log.file", "log.level", "limits.max_streams", "limits.max_memory_mb", "apps", "tls.ca"};
    size_t na = 6;
    if (!conns_skipped) {
        applied[na++] = "limits.max_connections";
        applied[na++] = "limits.max_connections_per_address";
        applied[na++] = "limits.new_connections_per_address_per_s";
    }
    if (node->tls) {
        applied[na++] = "tls.cert";
        applied[na++] = "tls.key";
        applied[na++] = "tls.sni";
    }
    const char *key = conf_changed_key(c, &node->conf, applied);
    if (key)
        log_warn(0, "SIGHUP: %s changed in %s; not applied: it needs a restart", key,
                 node->conf_path);
    free(c);
}

void node_reload(node_t *node)
{
    sdnotify_reloading();
    reload_config(node);
    sdnotify_send("READY=1\nSTATUS=running (reloaded)");
}
