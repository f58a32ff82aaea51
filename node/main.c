/* weir: the media node daemon. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common.h"
#include "cluster_admit.h"
#include "conf.h"
#include "drain.h"
#include "evlog.h"
#include "heartbeat.h"
#include "history.h"
#include "hooks.h"
#include "log.h"
#include "node.h"
#include "relay.h"
#include "record_mgr.h"
#include "relay_admit.h"
#include "sdnotify.h"
#include "hls_stream.h"
#include "sess_httpflv.h"
#include "sess_rtmp.h"
#include "worker.h"
#include "storage.h"

#define ETAG_KEY_SETTING "api.etag_key" /* 32 hex digits */

/* API changes of relays and hooks queued or in flight. */
static size_t changes_waiting(const node_t *node)
{
    return relay_mgr_changes_waiting(node->relays) + hook_mgr_changes_waiting(node->hooks) +
           record_mgr_changes_waiting(node->records);
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
                 "       weir --check-config CONFIG.json\n"
                 "       weir --version | --help\n"
                 "\n"
                 "Weir live-media node: RTMP ingest and playback, HTTP-FLV playback.\n"
                 "\n"
                 "  -c, --config FILE  configuration file (JSON; see README.md for every key).\n"
                 "                     Without it the built-in defaults are used.\n"
                 "  --check-config FILE  load FILE as the node would and exit: 0 and \"ok\",\n"
                 "                     or 1 and the error naming the key\n"
                 "  -v, --version      print the version and the build, and exit\n"
                 "  -h, --help         print this help and exit\n"
                 "\n"
                 "Default ports: RTMP 1935, HTTP-FLV 8080 (GET /APP/NAME.flv), control API\n"
                 "127.0.0.1:8090 (openapi.yaml). State: storage.path (data/weir.db).\n");
}

/* SIGPIPE: a peer gone mid-write is a write error; SIGXFSZ: a file over
 * RLIMIT_FSIZE (a recording) is a write error (EFBIG). SIGHUP, SIGUSR1 and
 * SIGUSR2 would kill the node until the loop handles them (node_new();
 * reload.h) and after node_free(): ignored then. */
static void ignore_signals(void)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
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
        cJSON_AddStringToObject(f, "reason", reason_name(REASON_ERROR));
        cJSON_AddStringToObject(f, "message", why);
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

/* weir --version: the version on the first line, then the build. */
static int print_version(void)
{
    api_build_t b;
    api_build_info(&b);
    printf("weir %s\n", WEIR_VERSION);
    printf("build: %s%s%s\n", b.type[0] ? b.type : "(no build type)", b.compiler ? ", " : "",
           b.compiler ? b.compiler : "");
    printf("libraries: libevent %s, libmicrohttpd %s, cJSON %s, SQLite %s, %s\n", b.libevent,
           b.libmicrohttpd, cJSON_Version(), storage_sqlite_version(), b.openssl);
    printf("share folder: %s (a relative api.web_root is looked for there)\n", b.share_dir);
    return 0;
}

/* weir --check-config FILE: 0 and "ok" on stdout, or 1 and the loader's
 * message (it names the file and the key) on stderr. */
static int check_config(const char *path)
{
    conf_t *c = malloc(sizeof *c); /* large (relays, hooks as text) */
    if (!c) {
        fprintf(stderr, "weir: out of memory\n");
        return 1;
    }
    char err[768];
    conf_defaults(c);
    int rc = conf_load_file(c, path, err, sizeof err) == 0 ? 0 : 1;
    if (rc)
        fprintf(stderr, "weir: config error: %s\n", err);
    else
        printf("ok\n");
    free(c);
    return rc;
}

/* The command line: -1 with *config set (NULL: built-in defaults) to run
 * the node, or the exit status (--version, --help: 0; --check-config: its
 * result; a usage error: 2). */
static int parse_args(int argc, char **argv, const char **config)
{
    enum { OPT_CHECK_CONFIG = 256 };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, OPT_CHECK_CONFIG},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int o;
    const char *check = NULL;
    *config = NULL;
    while ((o = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
        switch (o) {
        case 'c': *config = optarg; break;
        case OPT_CHECK_CONFIG: check = optarg; break;
        case 'v': return print_version();
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "weir: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return check ? check_config(check) : -1;
}

/* Loads the config (NULL: the defaults) and opens the log. 0, or -1 with a
 * message on stderr. */
static int load_config(const char *config, conf_t *conf)
{
    char err[768];
    conf_defaults(conf);
    if (config && conf_load_file(conf, config, err, sizeof err) != 0) {
        fprintf(stderr, "weir: config error: %s\n", err);
        return -1;
    }
    log_level_t level = LOG_INFO;
    log_level_parse(conf->log_level, &level);
    if (log_open(level, conf->log_file, err, sizeof err) != 0) {
        fprintf(stderr, "weir: %s\n", err);
        return -1;
    }
    return 0;
}

/* The sessions of the listeners, the event log and the admission chain:
 * the layers above core, wired into the node. 0, or -1 logged. */
static int wire_layers(node_t *node)
{
    node_set_event_sink(node, evlog_emit);
    node_set_session(node, NODE_LISTENER_RTMP, &SESS_RTMP_PROTO, sess_rtmp_start);
    node_set_session(node, NODE_LISTENER_HTTP_FLV, &SESS_HTTPFLV_PROTO, sess_httpflv_start);
    if (hls_install(node) != 0) {
        start_failed("hls: ", "too many modules");
        return -1;
    }
    if (relay_admit_install(node) != 0 || cluster_admit_install(node) != 0) {
        start_failed("admission: ", "too many admission steps");
        return -1;
    }
    return 0;
}

/* The key of the relays' and hooks' entity tags (node.h): the one kept in
 * storage, or the node's random one, kept now (so that ETags survive a
 * restart). */
static void etag_key_restore(node_t *node, storage_t *st)
{
    const char *hex = storage_setting(st, ETAG_KEY_SETTING);
    uint8_t key[SPEC_ETAG_KEY_LEN];
    int ok = hex && strlen(hex) == 2 * sizeof key;
    for (size_t i = 0; ok && i < sizeof key; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        key[i] = (uint8_t)(hi << 4 | lo);
    }
    if (ok) {
        memcpy(node->etag_key, key, sizeof key);
        return;
    }
    char out[2 * SPEC_ETAG_KEY_LEN + 1];
    for (size_t i = 0; i < sizeof key; i++)
        snprintf(out + 2 * i, 3, "%02x", node->etag_key[i]);
    if (storage_setting_put(st, ETAG_KEY_SETTING, out, NULL, NULL) != 0)
        log_warn(0, "storage: the ETag key could not be kept: relay and hook ETags change at "
                    "the next start");
}

/* Opens storage (*st) and attaches it to node with the settings kept over
 * the API (log.level). 0, or -1 logged. */
static int start_storage(node_t *node, const char *config, storage_t **st)
{
    const conf_t *conf = &node->conf;
    char err[768];
    storage_opts_t sopts = {.events_max_rows = conf->events_max_rows,
                            .events_max_age_days = conf->events_max_age_days,
                            .max_size_mb = conf->storage_max_size_mb,
                            .cache_kb = conf->storage_cache_kb,
                            .on_lost = storage_lost,
                            .lost_arg = node};
    *st = storage_open(conf->storage_path, node->base, &sopts, err, sizeof err);
    if (!*st) {
        start_failed("storage: ", err);
        return -1;
    }
    node_set_storage(node, *st, storage_node_id(*st), storage_last_event_id(*st));
    hub_set_source_prefix(node->hub, node_id(node)); /* stream ids name this node */
    if (node_add_module(node, &STORAGE_MODULE, *st) != 0) {
        start_failed("storage: ", "too many node modules");
        return -1;
    }
    node->conf_path = config;
    etag_key_restore(node, *st);
    /* A level set over the API outlives restarts (it was acknowledged). */
    const char *saved = storage_setting(*st, "log.level");
    log_level_t level;
    if (saved && log_level_parse(saved, &level) == 0) {
        log_set_level(level);
        node->log_level_by_api = 1;
        log_info(0, "log.level %s (set over the API, kept in %s)", saved, conf->storage_path);
    }
    return 0;
}

/* The API (*api), webhooks, heartbeat, the node.start event, a kept drain
 * and the relays, in that order. 0, or -1 logged. */
static int start_services(node_t *node, storage_t *st, api_t **api)
{
    char err[768];
    *api = api_new(node, err, sizeof err);
    if (!*api) {
        start_failed("", err);
        return -1;
    }
    node->api = *api;
    if (hook_mgr_start(node, err, sizeof err) != 0) {
        start_failed("webhooks: ", err);
        return -1;
    }
    if (heartbeat_start(node, relays_active, node, err, sizeof err) != 0) {
        start_failed("heartbeat: ", err);
        return -1;
    }
    if (history_start(node, err, sizeof err) != 0) {
        start_failed("history: ", err);
        return -1;
    }
    if (drain_start(node, err, sizeof err) != 0) {
        start_failed("drain: ", err);
        return -1;
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
        return -1;
    }
    if (record_mgr_start(node, err, sizeof err) != 0) {
        start_failed("record: ", err);
        return -1;
    }
    if (worker_pool_start(node, err, sizeof err) != 0) {
        start_failed("", err);
        return -1;
    }
    return 0;
}

/* After node_run(): pending API requests get their storage answers (relay
 * and hook changes are written one after another: sync while that makes
 * progress), then the API stops; the sessions' stop events are written
 * before storage closes. Also the undoing of a failed start (node, st or
 * api may be NULL). */
static void stop_all(node_t *node, storage_t *st, api_t *api)
{
    if (node && st && api) {
        size_t waiting = changes_waiting(node), before;
        do {
            before = waiting;
            storage_sync(st);
            waiting = changes_waiting(node);
        } while (waiting && waiting < before);
    }
    if (api) {
        api_free(api);
        node->api = NULL;
    }
    storage_detach(st); /* node_free() frees the loop's base */
    node_free(node);
    storage_close(st);
}

int main(int argc, char **argv)
{
    const char *config;
    int exit_code = parse_args(argc, argv, &config);
    if (exit_code >= 0)
        return exit_code;
    conf_t conf;
    if (load_config(config, &conf) != 0)
        return 1;
    ignore_signals();

    storage_t *st = NULL;
    api_t *api = NULL;
    char err[768];
    node_t *node = node_new(&conf, err, sizeof err);
    if (!node)
        start_failed("", err);
    if (!node || wire_layers(node) != 0 || start_storage(node, config, &st) != 0 ||
        start_services(node, st, &api) != 0) {
        stop_all(node, st, api);
        log_close();
        return 1;
    }
    log_info(0, "weir %s started (node %s, config %s)", WEIR_VERSION, storage_node_id(st),
             config ? config : "built-in defaults");
    /* Type=notify (README "Install"): every listener accepts from here on. */
    sdnotify_send("READY=1\nSTATUS=running");
    int rc = node_run(node);
    stop_all(node, st, api);
    log_info(0, "stopped");
    log_close();
    return rc;
}
