/* weir-bench: load generator for a live-media node (see usage()).
 *
 * One process, one thread, Linux epoll, non-blocking sockets. An optional
 * in-process publisher sends an FLV file over RTMP at real-time pace; N
 * players play one URL over RTMP, HTTP-FLV or WebSocket-FLV. The protocol
 * work is done by the node's own pure codecs in the client role: rtmp_hs
 * (handshake),
 * rtmp_proto_client (control and the command sequence, the one the relay
 * links and weir-push/weir-pull run), rtmp_proto (aggregates), rtmp_chunk
 * (media encoding), flv (reader and codec inspection).
 *
 * Cost: every socket is read into one per-process scratch buffer and parsed
 * incrementally with bounded per-player state. A player that has received
 * its first video frame moves to a second epoll set that is polled only
 * every --batch-ms; the publisher, players still setting up and the
 * --probes latency players stay in the main set and are served at once.
 *
 * Latency is matched by content, not by timestamp: the publisher records a
 * 64-bit FNV-1a hash of each audio/video payload with its send time in a
 * direct-mapped table; probe players hash what they receive and look it up.
 *
 * The measurement window opens once every player has its first frame;
 * with the in-process publisher it opens and closes with the publisher
 * paused and the players drained, so both sides count the same messages.
 *
 * Memory: a fixed struct per player, plus the chunk parser (RTMP: partial
 * messages of at most BENCH_MAX_MSG bytes on at most BENCH_MAX_CSIDS chunk
 * streams) or the FLV reader (HTTP-FLV, WebSocket-FLV with wsc's frame
 * parser, which keeps no payload: one tag of at most BENCH_MAX_MSG
 * bytes); output queues are bounded (BENCH_PLAYER_OUT_MAX,
 * BENCH_PUB_OUT_MAX). Every phase is bounded in time.
 *
 * This file holds the options, the setup and main(); the rest is in
 * tools/bench/ (bench.h lists the files).
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "tool_util.h"

/* ---- options and URLs --------------------------------------------------- */

/* The second half of the help: what the run prints, limits, exit status. */
static void usage_output(FILE *out)
{
    fprintf(out,
            "\n"
            "Every second a line on stderr: players started, connected (playing) and\n"
            "receiving (media in the last second), delivered vs expected bitrate, time\n"
            "to first frame, latency, errors, the bench's own CPU use. At the end one\n"
            "JSON object on stdout:\n"
            "  players, started, connected, receiving;\n"
            "  delivered_kbps: audio/video/data payload received in the window, summed\n"
            "    over players; expected_kbps: players x the stream's bitrate (what the\n"
            "    publisher sent in the same window, or --expected-kbps); ratio;\n"
            "  player_ratio {min, p1, p50}: the same ratio per player;\n"
            "  ttff_ms {p50, p99, max, count}: TCP connect start to the first coded\n"
            "    video frame;\n"
            "  keyframe_starts {ok, total}: players whose first coded video frame was a\n"
            "    key frame preceded by a video sequence header (total = players);\n"
            "  latency_ms {p50, p99, max, samples, unmatched}: probes' receive time minus\n"
            "    the publisher's send time of the same audio/video payload, matched by a\n"
            "    64-bit content hash (null without --publish; messages the publisher sent\n"
            "    before a probe started, i.e. the GOP cache, are not counted);\n"
            "  errors {reason: count} and error_examples {reason: text}, reasons:\n"
            "    connect, setup_timeout, handshake, refused, http_status, protocol,\n"
            "    closed, io, output_overflow, out_of_memory;\n"
            "  batch {ticks, mean_ms, max_ms}: time the batch reads took (the bench's\n"
            "    own cost; a mean near --batch-ms means the bench is the bottleneck);\n"
            "  bytes, publisher, bench_cpu_s, bench_cpu_pct, duration_s (the window).\n"
            "\n"
            "The open-file limit is raised to players + %d (an error if it cannot be).\n"
            "Only the addresses of --url and --publish-url are connected to.\n"
            "\n"
            "Exit status: 0 when the run completed (player errors are in the JSON); 1\n"
            "when it could not (publisher failure, time bound, interrupted, resources);\n"
            "2 on a usage error.\n",
            BENCH_FD_RESERVE);
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: weir-bench [options] --players N --url URL\n"
        "       weir-bench [options] --publish FILE.flv --publish-url rtmp://host[:port]/app/name\n"
        "                  [--players N --url URL]\n"
        "\n"
        "Load generator for an RTMP / HTTP-FLV / WebSocket-FLV server: N players over\n"
        "RTMP, HTTP-FLV or WebSocket-FLV, started at a ramp rate, and optionally an\n"
        "in-process publisher. One thread, epoll; the node's own RTMP, AMF0 and FLV\n"
        "code in the client role.\n"
        "\n"
        "Players:\n"
        "  --players N          number of players (default %d; 0 with --publish only)\n"
        "  --url URL            what they play: rtmp[s]://host[:port]/app/name,\n"
        "                       http[s]://host[:port]/app/name.flv (HTTP/1.1, chunked or\n"
        "                       plain) or ws[s]://host[:port]/app/name.flv\n"
        "                       (WebSocket-FLV: pings answered, a close frame 1000\n"
        "                       at the end);\n"
        "                       rtmps://, https:// and wss:// are TLS first\n"
        "  --ramp R             players started per second (default %.0f)\n"
        "  --probes K           players served as soon as data arrives, for the latency\n"
        "                       figures (default %d); the others are read in batches\n"
        "  --batch-ms MS        batch period of the other players, 1-1000 (default %d)\n"
        "  --setup-timeout MS   a player (or the publisher) not playing (publishing)\n"
        "                       within MS of its start fails with setup_timeout\n"
        "                       (default %d)\n"
        "  --complex-handshake  RTMP: send a digest C1 (default: simple handshake)\n" TOOL_TLS_HELP
        "\n"
        "Publisher (optional; without it players play an existing stream):\n"
        "  --publish FILE.flv   publish FILE over RTMP at real-time pace by tag\n"
        "                       timestamps, looping with increasing timestamps\n"
        "  --publish-url URL    where: rtmp[s]://host[:port]/app/name\n"
        "  --warmup S           publish S seconds before the first player starts\n"
        "                       (default %.0f)\n"
        "  --expected-kbps X    without --publish: the stream's bitrate, for the\n"
        "                       delivered/expected ratio (default: no ratio)\n"
        "\n"
        "Run and output:\n"
        "  --duration S         measurement window (default %.0f). It opens once every\n"
        "                       player has started and has its first video frame (or\n"
        "                       failed, or --setup-timeout passed) and lasts S seconds.\n"
        "                       With --publish the publisher pauses before it opens and\n"
        "                       after it closes until nothing is in flight (at most\n"
        "                       %d ms), so both sides count the same messages.\n"
        "                       The whole run is bounded by publisher setup + warmup +\n"
        "                       ramp + setup timeout + drains + S + %d s.\n"
        "  --json-every-second  also print one JSON object per second on stdout\n"
        "  --per-player         add a per-player array to the final JSON\n"
        "  -q, --quiet          no per-second line on stderr\n"
        "  -h, --help           print this help and exit\n",
        DEFAULT_PLAYERS, DEFAULT_RAMP, DEFAULT_PROBES, DEFAULT_BATCH_MS, DEFAULT_SETUP_TIMEOUT_MS,
        DEFAULT_WARMUP, DEFAULT_DURATION, BENCH_DRAIN_MAX_MS, BENCH_GRACE_MS / 1000);
    usage_output(out);
}

static int parse_long(const char *opt, const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "weir-bench: %s: expected an integer from %ld to %ld, got '%s'\n", opt, min,
                max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_double(const char *opt, const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "weir-bench: %s: expected a number from %g to %g, got '%s'\n", opt, min,
                max, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* "http[s]://host[:port]/path" (or ws[s]://) into u (host, port, request
 * target, Host header). */
static int http_url_parse(const char *url, url_scheme_t sch, bench_url_t *u, char *err,
                          size_t errlen)
{
    url_t parsed;
    if (url_parse(url, url_scheme_name(sch), url_scheme_port(sch), &parsed, err, errlen) != 0)
        return -1;
    size_t plen = strlen(parsed.path);
    if (plen >= sizeof u->path) {
        snprintf(err, errlen, "url: path longer than %zu bytes", sizeof u->path - 1);
        return -1;
    }
    memcpy(u->path, parsed.path, plen + 1);
    snprintf(u->host, sizeof u->host, "%s", parsed.host);
    u->port = parsed.port;
    if (url_authority(&parsed, u->host_hdr, sizeof u->host_hdr) < 0) {
        snprintf(err, errlen, "url: host too long");
        return -1;
    }
    return 0;
}

/* Parses and resolves url (RTMP only when rtmp_only). Returns 0, or -1
 * with the reason on stderr. */
static int url_setup(const char *opt, const char *url, int rtmp_only, bench_url_t *u)
{
    char err[256] = "";
    memset(u, 0, sizeof *u);
    url_scheme_t sch = url_scheme(url);
    u->tls = url_scheme_tls(sch);
    if (sch == URL_SCHEME_RTMP || sch == URL_SCHEME_RTMPS) {
        u->proto = PROTO_RTMP;
        if (url_rtmp_parse(url, &u->rtmp, err, sizeof err) != 0) {
            fprintf(stderr, "weir-bench: %s '%s': %s\n", opt, url, err);
            return -1;
        }
        snprintf(u->host, sizeof u->host, "%s", u->rtmp.host);
        u->port = u->rtmp.port;
    } else if (!rtmp_only && sch != URL_SCHEME_OTHER) {
        u->proto = sch == URL_SCHEME_WS || sch == URL_SCHEME_WSS ? PROTO_WS : PROTO_HTTP;
        if (http_url_parse(url, sch, u, err, sizeof err) != 0) {
            fprintf(stderr, "weir-bench: %s '%s': %s\n", opt, url, err);
            return -1;
        }
    } else {
        fprintf(stderr, "weir-bench: %s '%s': expected %s\n", opt, url,
                rtmp_only ? "rtmp://host[:port]/app/name (or rtmps://)"
                          : "rtmp://host[:port]/app/name, http://host[:port]/app/name.flv or "
                            "ws://host[:port]/app/name.flv (or rtmps://, https://, wss://)");
        return -1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof port, "%u", u->port);
    int rc = getaddrinfo(u->host, port, &hints, &res);
    if (rc != 0 || !res) {
        fprintf(stderr, "weir-bench: %s '%s': cannot resolve %s: %s\n", opt, url, u->host,
                rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    memcpy(&u->addr, res->ai_addr, res->ai_addrlen);
    u->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* ---- setup -------------------------------------------------------------- */

static int raise_fd_limit(int nplayers)
{
    rlim_t need = (rlim_t)nplayers + BENCH_FD_RESERVE;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "weir-bench: getrlimit(RLIMIT_NOFILE): %s\n", strerror(errno));
        return -1;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return 0;
    struct rlimit nl = rl;
    nl.rlim_cur = need;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
        nl.rlim_max = need; /* only root may raise the hard limit */
    if (setrlimit(RLIMIT_NOFILE, &nl) != 0) {
        fprintf(stderr,
                "weir-bench: need %llu open files for %d players, the limit is %llu (hard "
                "%llu) and cannot be raised: %s (try ulimit -n %llu)\n",
                (unsigned long long)need, nplayers, (unsigned long long)rl.rlim_cur,
                (unsigned long long)rl.rlim_max, strerror(errno), (unsigned long long)need);
        return -1;
    }
    return 0;
}

static void bench_free(bench_t *b)
{
    if (b->players) {
        for (int i = 0; i < b->nplayers; i++)
            bench_conn_release(&b->players[i]);
        free(b->players);
    }
    bench_conn_release(&b->pub);
    if (b->ep_fast >= 0)
        close(b->ep_fast);
    if (b->ep_batch >= 0)
        close(b->ep_batch);
    bench_pub_free_tags(b);
    free(b->hash);
    free(b->scratch);
    free(b->bevents);
    free(b->ttff);
    free(b->lat);
}

enum {
    OPT_PLAYERS = 256,
    OPT_URL,
    OPT_RAMP,
    OPT_DURATION,
    OPT_PROBES,
    OPT_BATCH_MS,
    OPT_EXPECTED,
    OPT_PUBLISH,
    OPT_PUBLISH_URL,
    OPT_WARMUP,
    OPT_SETUP_TIMEOUT,
    OPT_JSON_EVERY,
    OPT_COMPLEX,
    OPT_PER_PLAYER
};

/* Parses the command line into b. Returns 0, 1 (help printed) or 2. */
static const struct option OPTIONS[] = {
    {"players", required_argument, NULL, OPT_PLAYERS},
    {"url", required_argument, NULL, OPT_URL},
    {"ramp", required_argument, NULL, OPT_RAMP},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"probes", required_argument, NULL, OPT_PROBES},
    {"batch-ms", required_argument, NULL, OPT_BATCH_MS},
    {"expected-kbps", required_argument, NULL, OPT_EXPECTED},
    {"publish", required_argument, NULL, OPT_PUBLISH},
    {"publish-url", required_argument, NULL, OPT_PUBLISH_URL},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"setup-timeout", required_argument, NULL, OPT_SETUP_TIMEOUT},
    {"json-every-second", no_argument, NULL, OPT_JSON_EVERY},
    {"complex-handshake", no_argument, NULL, OPT_COMPLEX},
    {"per-player", no_argument, NULL, OPT_PER_PLAYER},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    TOOL_TLS_OPTIONS,
    {NULL, 0, NULL, 0}};

/* One option of getopt_long(): 0 (go on), 1 (--help: done) or 2 (bad). */
static int take_option(bench_t *b, int opt, char **argv)
{
    long l;
    switch (opt) {
    case 'h': usage(stdout); return 1;
    case 'q': b->quiet = 1; return 0;
    case OPT_PLAYERS:
        if (parse_long("--players", optarg, 0, BENCH_MAX_PLAYERS, &l))
            return 2;
        b->nplayers = (int)l;
        return 0;
    case OPT_URL: b->url_text = optarg; return 0;
    case OPT_RAMP:
        if (parse_double("--ramp", optarg, 0.1, 1e6, &b->ramp))
            return 2;
        return 0;
    case OPT_DURATION:
        if (parse_double("--duration", optarg, 0.1, 86400, &b->duration_s))
            return 2;
        return 0;
    case OPT_PROBES:
        if (parse_long("--probes", optarg, 0, BENCH_MAX_PLAYERS, &l))
            return 2;
        b->nprobes = (int)l;
        return 0;
    case OPT_BATCH_MS:
        if (parse_long("--batch-ms", optarg, 1, 1000, &l))
            return 2;
        b->batch_ms = (int)l;
        return 0;
    case OPT_EXPECTED:
        if (parse_double("--expected-kbps", optarg, 0.001, 1e9, &b->expected_kbps))
            return 2;
        return 0;
    case OPT_PUBLISH: b->pub_file = optarg; return 0;
    case OPT_PUBLISH_URL: b->pub_url_text = optarg; return 0;
    case OPT_WARMUP:
        if (parse_double("--warmup", optarg, 0, 3600, &b->warmup_s))
            return 2;
        return 0;
    case OPT_SETUP_TIMEOUT:
        if (parse_long("--setup-timeout", optarg, 100, 600000, &l))
            return 2;
        b->setup_timeout_ms = (int)l;
        return 0;
    case OPT_JSON_EVERY: b->json_every_second = 1; return 0;
    case OPT_COMPLEX: b->complex_hs = 1; return 0;
    case OPT_PER_PLAYER: b->per_player = 1; return 0;
    case ':':
        fprintf(stderr, "weir-bench: option %s needs a value (see --help)\n", argv[optind - 1]);
        return 2;
    default:
        fprintf(stderr, "weir-bench: unknown option %s (see --help)\n", argv[optind - 1]);
        return 2;
    }
    return 0;
}

/* The options that go together, the URLs. Returns 0 or 2. */
static int check_args(bench_t *b)
{
    if (!b->pub_file != !b->pub_url_text) {
        fprintf(stderr, "weir-bench: --publish and --publish-url go together\n");
        return 2;
    }
    if (b->pub_file && b->expected_kbps >= 0) {
        fprintf(stderr, "weir-bench: --expected-kbps is for runs without --publish (the "
                        "publisher measures the bitrate)\n");
        return 2;
    }
    if (b->nplayers > 0 && !b->url_text) {
        fprintf(stderr, "weir-bench: --url is required with --players > 0 (see --help)\n");
        return 2;
    }
    if (b->nplayers == 0 && !b->pub_file) {
        fprintf(stderr, "weir-bench: nothing to do: --players 0 and no --publish\n");
        return 2;
    }
    if (b->url_text && url_setup("--url", b->url_text, 0, &b->url) != 0)
        return 2;
    if (b->pub_url_text && url_setup("--publish-url", b->pub_url_text, 1, &b->pub_url) != 0)
        return 2;
    return 0;
}

static int parse_args(bench_t *b, int argc, char **argv)
{
    int opt, rc;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":hq", OPTIONS, NULL)) != -1) {
        if (tool_tls_option(opt, optarg))
            continue;
        if ((rc = take_option(b, opt, argv)) != 0)
            return rc;
    }
    if (tool_tls_apply("weir-bench") != 0)
        return 2;
    if (optind < argc) {
        fprintf(stderr, "weir-bench: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    return check_args(b);
}

static void conn_init(conn_t *c, uint32_t id, proto_t proto)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->epfd = -1;
    c->id = id;
    c->proto = (uint8_t)proto;
    c->state = ST_IDLE;
    c->ttff_ms = -1;
}

/* Allocates players and buffers, opens the epoll sets, starts the
 * publisher. Returns 0 or -1 (reason on stderr). */
static int bench_setup(bench_t *b)
{
    b->ep_fast = epoll_create1(EPOLL_CLOEXEC);
    b->ep_batch = epoll_create1(EPOLL_CLOEXEC);
    b->scratch = malloc(BENCH_SCRATCH_SIZE);
    size_t np = (size_t)b->nplayers;
    b->players = calloc(np ? np : 1, sizeof *b->players);
    b->ttff = calloc(np ? np : 1, sizeof *b->ttff);
    b->nbevents = b->nplayers;
    b->bevents = calloc(np ? np : 1, sizeof *b->bevents);
    if (b->has_pub)
        b->hash = calloc(BENCH_HASH_SLOTS, sizeof *b->hash);
    if (b->ep_fast < 0 || b->ep_batch < 0) {
        fprintf(stderr, "weir-bench: epoll_create1: %s\n", strerror(errno));
        return -1;
    }
    if (!b->scratch || !b->players || !b->ttff || !b->bevents || (b->has_pub && !b->hash)) {
        fprintf(stderr, "weir-bench: out of memory for %d players\n", b->nplayers);
        return -1;
    }
    int probes = b->nprobes < b->nplayers ? b->nprobes : b->nplayers;
    int stride = probes ? b->nplayers / probes : 0;
    for (int i = 0; i < b->nplayers; i++) {
        conn_t *c = &b->players[i];
        conn_init(c, (uint32_t)i, b->url.proto);
        c->probe = probes && i % stride == 0 && i / stride < probes;
    }
    conn_init(&b->pub, 0, PROTO_RTMP);
    b->pub.is_pub = 1;

    int64_t now = bench_mono_us();
    b->t0_us = b->last_report_us = now;
    b->next_report_us = now + 1000000;
    b->next_batch_us = now + (int64_t)b->batch_ms * 1000;
    b->cpu0_s = b->last_cpu_s = bench_cpu_seconds();
    int64_t bound_ms = (int64_t)(b->nplayers / b->ramp * 1000) + b->setup_timeout_ms +
                       (int64_t)(b->duration_s * 1000) + BENCH_GRACE_MS;
    if (b->has_pub) {
        bound_ms += b->setup_timeout_ms + (int64_t)(b->warmup_s * 1000) + 2 * BENCH_DRAIN_MAX_MS;
        b->phase = PH_PUB_SETUP;
        b->phase_deadline_us = now + (int64_t)b->setup_timeout_ms * 1000;
        bench_conn_open(b, &b->pub, &b->pub_url);
    } else {
        b->phase = PH_RAMP;
        b->ramp_start_us = now;
    }
    b->hard_deadline_us = now + bound_ms * 1000;
    return 0;
}

int main(int argc, char **argv)
{
    bench_t b;
    memset(&b, 0, sizeof b);
    b.nplayers = DEFAULT_PLAYERS;
    b.nprobes = DEFAULT_PROBES;
    b.batch_ms = DEFAULT_BATCH_MS;
    b.setup_timeout_ms = DEFAULT_SETUP_TIMEOUT_MS;
    b.ramp = DEFAULT_RAMP;
    b.duration_s = DEFAULT_DURATION;
    b.warmup_s = DEFAULT_WARMUP;
    b.expected_kbps = -1;
    b.ep_fast = b.ep_batch = -1;
    conn_init(&b.pub, 0, PROTO_RTMP);

    int rc = parse_args(&b, argc, argv);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    b.has_pub = b.pub_file != NULL;
    if (b.has_pub && bench_pub_load(&b, b.pub_file) != 0)
        return 1;
    if (raise_fd_limit(b.nplayers) != 0) {
        bench_pub_free_tags(&b);
        return 1;
    }
    tool_install_stop_signals();

    if (bench_setup(&b) != 0) {
        bench_free(&b);
        return 1;
    }
    rc = bench_run(&b);
    int64_t now = bench_mono_us();
    if (b.in_window) {
        b.in_window = 0;
        if (!b.window_end_us)
            b.window_end_us = now;
    }
    if (b.fatal)
        fprintf(stderr, "weir-bench: %s\n", b.fatal_msg);
    bench_print_final(&b, now);
    bench_free(&b);
    return rc;
}
