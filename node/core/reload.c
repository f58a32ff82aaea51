/* reload: SIGHUP re-reads the config file for log.file and log.level (see
 * reload.h), between sd_notify's RELOADING=1 and READY=1. Loop thread; node->conf's two log keys
 * are updated here, the rest of node->conf never changes after start. */
#include "reload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

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
    cJSON *f = cJSON_CreateObject();
    if (f) {
        cJSON_AddStringToObject(f, "key", "log.level");
        cJSON_AddStringToObject(f, "value", log_level_name(level));
        cJSON_AddStringToObject(f, "by", "sighup");
    }
    node_event(node, "config.change", f);
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
        snprintf(err, errlen, "no TLS listener is configured (rtmps.listen, https.listen)");
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
    log_info(0, "received SIGHUP: reloading log.file and log.level from %s",
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
    static const char *const applied[] = {"log.file", "log.level", NULL};
    static const char *const applied_tls[] = {"log.file", "log.level", "tls.cert", "tls.key",
                                              "tls.sni", NULL};
    const char *key = conf_changed_key(c, &node->conf, node->tls ? applied_tls : applied);
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
