/* weir: the media node daemon. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "conf.h"
#include "log.h"
#include "node.h"

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
                 "Default ports: RTMP 1935, HTTP-FLV 8080 (GET /APP/NAME.flv).\n");
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
    signal(SIGPIPE, SIG_IGN);

    node_t *node = node_new(&conf, err, sizeof err);
    if (!node) {
        fprintf(stderr, "weir: %s\n", err);
        log_error(0, "start failed: %s", err);
        log_close();
        return 1;
    }
    log_info(0, "weir %s started (config %s)", WEIR_VERSION, config ? config : "built-in defaults");
    int rc = node_run(node);
    node_free(node);
    log_info(0, "stopped");
    log_close();
    return rc;
}
