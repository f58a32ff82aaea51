/* weir: the media node daemon. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common.h"
#include "conf.h"
#include "drain.h"
#include "evlog.h"
#include "heartbeat.h"
#include "hooks.h"
#include "log.h"
#include "node.h"
#include "relay.h"
#include "sess_httpflv.h"
#include "sess_rtmp.h"
#include "storage.h"

/* API changes of relays and hooks queued or in flight. */
static size_t changes_waiting(const node_t *node)
{
    return relay_mgr_changes_waiting(node->relays) + hook_mgr_changes_waiting(node->hooks);
}

/* The heartbeat's relays_active (heartbeat.h). */
static size_t relays_active(void *arg)
{
    const node_t *node = arg;
    relay_counts_t rc = {0};
    if (node->relays)
        relay_mgr_counts(node->relays, &rc);
    return rc.active;
}

/* At SIGINT/SIGTERM, first: the writes still to come (stop events, pending
 * API changes) share a bounded budget, so a locked database cannot hold the
 * exit up. */
static void storage_module_stopping(void *arg)
{
    storage_stopping(arg);
}

static const node_module_t STORAGE_MODULE = {.name = "storage",
                                             .stopping = storage_module_stopping};

static void usage(FILE *out)
{
    fprintf(out, "usage: weir [-c CONFIG.json]\n"
                 "       weir --version | --help\n"
                 "\n"
                 "Weir live-media node: RTMP ingest and playback, HTTP-FLV playback.\n"
                 "\n"
                 "  -c, --config FILE  configuration file (JSON; see README.md for every key).\n"
                 "                     Without it the built-in defaults are used.\n"
                 "  -v, --version      print the version and exit\n"
                 "  -h, --help         print this help and exit\n"
                 "\n"
                 "Default ports: RTMP 1935, HTTP-FLV 8080 (GET /APP/NAME.flv), control API\n"
                 "127.0.0.1:8090 (openapi.yaml). State: storage.path (data/weir.db).\n");
}

/* SIGPIPE: a peer gone mid-write is a write error. SIGHUP, SIGUSR1 and
 * SIGUSR2 would kill the node until the loop handles them (node_new();
 * reload.h) and after node_free(): ignored then. */
static void ignore_signals(void)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGUSR1, SIG_IGN);
    signal(SIGUSR2, SIG_IGN);
}

/* Storage's message (loop thread) that its database file was deleted or
 * replaced: what was acknowledged from then on would be gone at the next
 * start, so API changes are refused (503, api/change.h) and /readyz answers
 * 503 until a restart; the event reaches the webhooks (the event log of the
 * lost file cannot keep it). */
static void storage_lost(void *arg, const char *why)
{
    node_t *node = arg;
    node->storage_lost = 1;
    log_error(0,
              "storage: %s while the node runs: API changes are refused and /readyz answers "
              "503; a restart makes a new database (new node id; API relays, hooks and "
              "settings gone)",
              why);
    cJSON *f = cJSON_CreateObject();
    if (f) {
        cJSON_AddStringToObject(f, "path", node->conf.storage_path);
        cJSON_AddStringToObject(f, "reason", why);
    }
    evlog_emit(node, "storage.lost", f);
}

/* A start step failed: says so on stderr and in the log (what: "storage: ",
 * "webhooks: ", ... or ""). */
static void start_failed(const char *what, const char *err)
{
    fprintf(stderr, "weir: %s%s\n", what, err);
    log_error(0, "start failed: %s%s", what, err);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"version", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config = NULL;
    int o;
    while ((o = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
        switch (o) {
        case 'c': config = optarg; break;
        case 'v': printf("weir %s\n", WEIR_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "weir: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    conf_t conf;
    conf_defaults(&conf);
    char err[768];
    if (config && conf_load_file(&conf, config, err, sizeof err) != 0) {
        fprintf(stderr, "weir: config error: %s\n", err);
        return 1;
    }
    log_level_t level = LOG_INFO;
    log_level_parse(conf.log_level, &level);
    if (log_open(level, conf.log_file, err, sizeof err) != 0) {
        fprintf(stderr, "weir: %s\n", err);
        return 1;
    }
    ignore_signals();

    /* What is made so far; a failed step undoes it at fail. */
    storage_t *st = NULL;
    api_t *api = NULL;
    node_t *node = node_new(&conf, err, sizeof err);
    if (!node) {
        start_failed("", err);
        goto fail;
    }
    node_set_event_sink(node, evlog_emit);
    node_set_session(node, NODE_LISTENER_RTMP, &SESS_RTMP_PROTO, sess_rtmp_start);
    node_set_session(node, NODE_LISTENER_HTTP_FLV, &SESS_HTTPFLV_PROTO, sess_httpflv_start);
    storage_opts_t sopts = {.events_max_rows = conf.events_max_rows,
                            .events_max_age_days = conf.events_max_age_days,
                            .max_size_mb = conf.storage_max_size_mb,
                            .cache_kb = conf.storage_cache_kb,
                            .on_lost = storage_lost,
                            .lost_arg = node};
    st = storage_open(conf.storage_path, node->base, &sopts, err, sizeof err);
    if (!st) {
        start_failed("storage: ", err);
        goto fail;
    }
    node_set_storage(node, st, storage_node_id(st), storage_last_event_id(st));
    if (node_add_module(node, &STORAGE_MODULE, st) != 0) {
        start_failed("storage: ", "too many node modules");
        goto fail;
    }
    node->conf_path = config;
    /* A level set over the API outlives restarts (it was acknowledged). */
    const char *saved = storage_setting(st, "log.level");
    if (saved && log_level_parse(saved, &level) == 0) {
        log_set_level(level);
        node->log_level_by_api = 1;
        log_info(0, "log.level %s (set over the API, kept in %s)", saved, conf.storage_path);
    }
    api = api_new(node, err, sizeof err);
    if (!api) {
        start_failed("", err);
        goto fail;
    }
    node->api = api;
    if (hook_mgr_start(node, err, sizeof err) != 0) {
        start_failed("webhooks: ", err);
        goto fail;
    }
    if (heartbeat_start(node, relays_active, node, err, sizeof err) != 0) {
        start_failed("heartbeat: ", err);
        goto fail;
    }
    cJSON *f = cJSON_CreateObject();
    if (f) {
        cJSON_AddStringToObject(f, "node_id", storage_node_id(st));
        cJSON_AddStringToObject(f, "version", WEIR_VERSION);
    }
    evlog_emit(node, "node.start", f);
    /* A drain acknowledged over the API outlives restarts too. */
    drain_restore(node, storage_setting(st, DRAIN_SETTING));
    if (relay_mgr_start(node, err, sizeof err) != 0) {
        start_failed("relays: ", err);
        goto fail;
    }
    log_info(0, "weir %s started (node %s, config %s)", WEIR_VERSION, storage_node_id(st),
             config ? config : "built-in defaults");
    int rc = node_run(node);
    /* Pending API requests get their storage answers (relay and hook changes
     * are written one after another: sync while that makes progress), then
     * the API stops; the sessions' stop events are written before storage
     * closes. */
    size_t waiting = changes_waiting(node), before;
    do {
        before = waiting;
        storage_sync(st);
        waiting = changes_waiting(node);
    } while (waiting && waiting < before);
    api_free(api);
    node->api = NULL;
    storage_detach(st); /* node_free() frees the loop's base */
    node_free(node);
    storage_close(st);
    log_info(0, "stopped");
    log_close();
    return rc;

fail:
    if (api) {
        api_free(api);
        node->api = NULL;
    }
    storage_detach(st);
    node_free(node);
    storage_close(st);
    log_close();
    return 1;
}
