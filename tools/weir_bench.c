/* weir-bench: load generator for a live-media node (see usage()).
 *
 * One process, one thread, Linux epoll, non-blocking sockets. An optional
 * in-process publisher sends an FLV file over RTMP at real-time pace; N
 * players play one URL over RTMP or HTTP-FLV. The protocol work is done by
 * the node's own pure codecs in the client role: rtmp_hs (handshake),
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
 * streams) or the FLV reader (HTTP-FLV: one tag of at most BENCH_MAX_MSG
 * bytes); output queues are bounded (BENCH_PLAYER_OUT_MAX,
 * BENCH_PUB_OUT_MAX). Every phase is bounded in time.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "amf0.h"
#include "common.h"
#include "flv.h"
#include "rtmp_chunk.h"
#include "rtmp_handshake.h"
#include "rtmp_proto.h"
#include "rtmp_proto_client.h"
#include "tool_util.h"
#include "url.h"

#define BENCH_SCRATCH_SIZE (256u * 1024)        /* one recv() at most */
#define BENCH_MAX_MSG (8u * 1024 * 1024)        /* largest RTMP message / FLV tag accepted */
#define BENCH_MAX_CSIDS 16                      /* chunk streams tracked per connection */
#define BENCH_MAX_HEAD 8192                     /* HTTP response head bound */
#define BENCH_MAX_CHUNK_LINE 256                /* HTTP chunk size line bound */
#define BENCH_PLAYER_OUT_MAX (64u * 1024)       /* a player's pending output */
#define BENCH_PUB_OUT_MAX (32u * 1024 * 1024)   /* the publisher's pending output */
#define BENCH_PUB_HIGH_WATER (4u * 1024 * 1024) /* publisher pauses above this */
#define BENCH_PUB_CHUNK_SIZE 4096               /* publisher's outgoing chunk size */
#define BENCH_PUB_MAX_FILE (1024L * 1024 * 1024)
#define BENCH_PUB_BURST 4096 /* most tags sent per loop iteration */
#define BENCH_HASH_SLOTS 16384u
#define BENCH_DUP_WINDOW_MS 5000
#define BENCH_MAX_LAT_SAMPLES (1u << 20)
#define BENCH_FAST_EVENTS 256
#define BENCH_READS_PER_EVENT 4
#define BENCH_BATCH_SLICE 32 /* batch sockets read between two looks at the fast set */
#define BENCH_GRACE_MS 5000
#define BENCH_DRAIN_MAX_MS 2000 /* bound of a drain around the window */
#define BENCH_MAX_PLAYERS 100000
#define BENCH_FD_RESERVE 64 /* descriptors beyond one per player */
#define BENCH_ERR_TEXT 200
#define BENCH_PATH_MAX 1024
#define BENCH_HOSTHDR_MAX (URL_RTMP_HOST_MAX + 8)
#define BENCH_PLAY_BUFFER_MS 3000

#define DEFAULT_PLAYERS 10
#define DEFAULT_RAMP 200.0
#define DEFAULT_DURATION 10.0
#define DEFAULT_PROBES 5
#define DEFAULT_BATCH_MS 20
#define DEFAULT_WARMUP 1.0
#define DEFAULT_SETUP_TIMEOUT_MS 10000

#define CSID_AUDIO 4
#define CSID_DATA 5
#define CSID_VIDEO 6

#define FLASH_VER "LNX 9,0,124,2 (weir-bench/" WEIR_VERSION ")"

/* AMF0 string "@setDataFrame", put before onMetaData as FFmpeg does. */
static const uint8_t SET_DATA_FRAME[] = {0x02, 0x00, 0x0d, '@', 's', 'e', 't', 'D',
                                         'a',  't',  'a',  'F', 'r', 'a', 'm', 'e'};

typedef enum { PROTO_RTMP, PROTO_HTTP } proto_t;

typedef struct {
    proto_t proto;
    char host[URL_RTMP_HOST_MAX];
    uint16_t port;
    char host_hdr[BENCH_HOSTHDR_MAX]; /* HTTP Host header: host:port */
    char path[BENCH_PATH_MAX];        /* HTTP request target */
    url_rtmp_t rtmp;                  /* RTMP: app, name, tcUrl */
    struct sockaddr_storage addr;
    socklen_t addrlen;
} bench_url_t;

typedef enum {
    ST_IDLE,       /* not started */
    ST_CONNECTING, /* TCP connect in progress */
    ST_HANDSHAKE,  /* RTMP handshake */
    ST_CONNECT,    /* RTMP connect sent, waiting for its _result */
    ST_CREATE,     /* RTMP createStream sent */
    ST_START,      /* RTMP play / publish sent, waiting for onStatus */
    ST_HTTP_HEAD,  /* HTTP request sent, reading the response head */
    ST_LIVE,       /* playing (Play.Start, HTTP 200) or publishing (Publish.Start) */
    ST_CLOSED
} conn_state_t;

/* HTTP chunked transfer decoder stages. */
enum { CH_SIZE, CH_EXT, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_END };

/* Why a connection ended before the run did. */
typedef enum {
    ERR_CONNECT,       /* TCP connect failed */
    ERR_SETUP_TIMEOUT, /* not playing within --setup-timeout */
    ERR_HANDSHAKE,     /* RTMP handshake failed */
    ERR_REFUSED,       /* connect, createStream or play refused */
    ERR_HTTP_STATUS,   /* an HTTP status other than 200 */
    ERR_PROTOCOL,      /* malformed data from the server */
    ERR_CLOSED,        /* the server closed the connection */
    ERR_IO,            /* socket error (reset, ...) */
    ERR_OVERFLOW,      /* the bounded output queue is full */
    ERR_NOMEM,         /* out of memory */
    ERR_COUNT
} err_reason_t;

static const char *const ERR_NAMES[ERR_COUNT] = {
    "connect",  "setup_timeout", "handshake", "refused",         "http_status",
    "protocol", "closed",        "io",        "output_overflow", "out_of_memory"};

typedef struct {
    int fd;
    int epfd;        /* the epoll set holding fd, -1 if none */
    uint32_t events; /* events registered there */
    uint32_t id;
    uint8_t state;  /* conn_state_t */
    uint8_t proto;  /* proto_t */
    uint8_t is_pub; /* the in-process publisher */
    uint8_t probe;  /* a latency probe: always served at once */
    uint8_t seen_vseq;
    uint8_t got_video; /* the first coded video frame arrived */
    uint8_t key_start; /* ...and it was a key frame after a sequence header */
    uint8_t err;       /* err_reason_t + 1 when it failed, 0 otherwise */
    /* HTTP: chunked transfer decoding. */
    uint8_t chunked;
    uint8_t ch_state;
    uint16_t ch_line; /* bytes of the current size line */
    uint32_t ch_left; /* size being parsed, then body bytes left in the chunk */
    /* RTMP: bytes read after the handshake (for Acknowledgements). */
    uint64_t bytes_in;
    /* Measurements. */
    int64_t t_start_us;
    int64_t last_media_ms;
    float ttff_ms;      /* < 0 until the first coded video frame */
    uint64_t bytes;     /* media payload bytes received */
    uint64_t win_bytes; /* ...inside the measurement window */
    /* Protocol state (only what the current stage needs is allocated). */
    rtmp_hs_t *hs;
    rtmp_proto_client_t *pc; /* control, command sequence, chunk parser */
    flv_reader_t *flv;
    char *head;
    size_t head_len;
    /* Pending output. */
    uint8_t *out;
    size_t out_off, out_len, out_cap;
} conn_t;

typedef struct {
    uint8_t type;
    uint32_t rel_ms; /* timestamp relative to the file's first tag */
    uint32_t len;
    uint64_t hash; /* content hash (audio/video) */
    uint8_t *body; /* owned */
} pub_tag_t;

typedef struct {
    uint64_t hash;
    int64_t send_us;
    uint32_t dup; /* the same content was sent twice within the dup window */
} hash_slot_t;

/* The timeline. With the in-process publisher the measurement window is
 * opened and closed with the publisher held and the players drained (no
 * message in flight), so that what the publisher sent in the window and
 * what the players received of it are the same messages. */
typedef enum {
    PH_PUB_SETUP, /* publisher connecting */
    PH_WARMUP,    /* publishing before the players start */
    PH_RAMP,      /* starting players at --ramp per second */
    PH_SETTLE,    /* waiting for every player's first video frame */
    PH_DRAIN_IN,  /* publisher held until nothing is in flight, then the window opens */
    PH_MEASURE,   /* the measurement window */
    PH_DRAIN_OUT, /* publisher held until nothing is in flight, then the window closes */
    PH_DONE
} phase_t;

static const char *const PHASE_NAMES[] = {"publish", "warmup",  "ramp",  "settle",
                                          "drain",   "measure", "drain", "done"};

typedef struct {
    double p50, p99, max;
    size_t n;
} pct_t;

typedef struct {
    /* Options. */
    int nplayers, nprobes, batch_ms, setup_timeout_ms;
    int json_every_second, complex_hs, per_player, quiet;
    double ramp, duration_s, warmup_s, expected_kbps; /* expected_kbps < 0: none */
    const char *url_text, *pub_file, *pub_url_text;
    bench_url_t url, pub_url;

    int ep_fast, ep_batch;
    uint8_t *scratch;
    struct epoll_event *bevents;
    int nbevents;

    conn_t *players;
    conn_t pub;
    int has_pub;

    /* Publisher media and pacing. */
    pub_tag_t *tags;
    size_t ntags, next_tag;
    int64_t loop_span_ms;
    uint64_t loops;
    int64_t pub_start_us;
    uint64_t pub_msgs, pub_bytes;
    hash_slot_t *hash;
    int64_t dup_window_us;

    /* Timeline. */
    phase_t phase;
    int64_t t0_us, phase_deadline_us, ramp_start_us;
    int64_t window_start_us, window_end_us, hard_deadline_us;
    int64_t next_batch_us, next_report_us, last_report_us;
    int in_window;
    int pub_hold;            /* the publisher sends nothing (drains) */
    uint64_t drain_bytes;    /* total_bytes when it last changed during a drain */
    int64_t drain_change_us; /* ...and when */
    int n_started, n_live, n_settled;

    /* Accounting. */
    uint64_t sec_bytes, sec_pub_bytes, win_bytes, win_pub_bytes, total_bytes;
    double *ttff;
    size_t nttff;
    double *lat;
    size_t nlat, lat_cap, lat_sec_start;
    uint64_t lat_dropped, lat_unmatched;
    uint64_t ticks, tick_total_us; /* batch ticks: count, time spent */
    int64_t tick_max_us;
    double lat_max;
    uint64_t errors[ERR_COUNT];
    char err_example[ERR_COUNT][BENCH_ERR_TEXT + 48];
    double cpu0_s, last_cpu_s; /* CPU time used at the start, at the last report */

    int fatal;
    char fatal_msg[BENCH_ERR_TEXT + 32];
} bench_t;

static int conn_fail(bench_t *b, conn_t *c, err_reason_t why, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- small helpers ------------------------------------------------------ */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* 64-bit FNV-1a over the message type and its payload. */
static uint64_t content_hash(uint8_t type, const uint8_t *p, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    h = (h ^ type) * 1099511628211ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentiles of v[0..n) (sorted in place). */
static pct_t percentiles(double *v, size_t n)
{
    pct_t r = {0, 0, 0, n};
    if (n == 0)
        return r;
    qsort(v, n, sizeof *v, cmp_double);
    size_t k50 = (size_t)ceil(0.50 * (double)n), k99 = (size_t)ceil(0.99 * (double)n);
    r.p50 = v[k50 ? k50 - 1 : 0];
    r.p99 = v[k99 ? k99 - 1 : 0];
    r.max = v[n - 1];
    return r;
}

/* Percentiles of a slice, without reordering it. */
static pct_t percentiles_copy(const double *v, size_t n)
{
    pct_t r = {0, 0, 0, 0};
    if (n == 0)
        return r;
    double *tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return r;
    memcpy(tmp, v, n * sizeof *tmp);
    r = percentiles(tmp, n);
    free(tmp);
    return r;
}

static double round3(double v)
{
    return round(v * 1000.0) / 1000.0;
}

static const char *state_name(uint8_t st)
{
    static const char *const names[] = {"idle",      "connecting",   "handshake",
                                        "connect",   "createStream", "start",
                                        "http head", "live",         "closed"};
    return st < sizeof names / sizeof names[0] ? names[st] : "?";
}

/* ---- options and URLs --------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: weir-bench [options] --players N --url URL\n"
        "       weir-bench [options] --publish FILE.flv --publish-url rtmp://host[:port]/app/name\n"
        "                  [--players N --url URL]\n"
        "\n"
        "Load generator for an RTMP / HTTP-FLV server: N players over RTMP or HTTP-FLV,\n"
        "started at a ramp rate, and optionally an in-process publisher. One thread,\n"
        "epoll; the node's own RTMP, AMF0 and FLV code in the client role.\n"
        "\n"
        "Players:\n"
        "  --players N          number of players (default %d; 0 with --publish only)\n"
        "  --url URL            what they play: rtmp://host[:port]/app/name or\n"
        "                       http://host[:port]/app/name.flv (HTTP/1.1, chunked or plain)\n"
        "  --ramp R             players started per second (default %.0f)\n"
        "  --probes K           players served as soon as data arrives, for the latency\n"
        "                       figures (default %d); the others are read in batches\n"
        "  --batch-ms MS        batch period of the other players, 1-1000 (default %d)\n"
        "  --setup-timeout MS   a player (or the publisher) not playing (publishing)\n"
        "                       within MS of its start fails with setup_timeout\n"
        "                       (default %d)\n"
        "  --complex-handshake  RTMP: send a digest C1 (default: simple handshake)\n"
        "\n"
        "Publisher (optional; without it players play an existing stream):\n"
        "  --publish FILE.flv   publish FILE over RTMP at real-time pace by tag\n"
        "                       timestamps, looping with increasing timestamps\n"
        "  --publish-url URL    where: rtmp://host[:port]/app/name\n"
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
        "  -h, --help           print this help and exit\n"
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
        DEFAULT_PLAYERS, DEFAULT_RAMP, DEFAULT_PROBES, DEFAULT_BATCH_MS, DEFAULT_SETUP_TIMEOUT_MS,
        DEFAULT_WARMUP, DEFAULT_DURATION, BENCH_DRAIN_MAX_MS, BENCH_GRACE_MS / 1000,
        BENCH_FD_RESERVE);
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

/* "http://host[:port]/path" into u (host, port, request target, Host header). */
static int http_url_parse(const char *url, bench_url_t *u, char *err, size_t errlen)
{
    url_t parsed;
    if (url_parse(url, "http", 80, &parsed, err, errlen) != 0)
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
    if (strncasecmp(url, "rtmp://", 7) == 0) {
        u->proto = PROTO_RTMP;
        if (url_rtmp_parse(url, &u->rtmp, err, sizeof err) != 0) {
            fprintf(stderr, "weir-bench: %s '%s': %s\n", opt, url, err);
            return -1;
        }
        snprintf(u->host, sizeof u->host, "%s", u->rtmp.host);
        u->port = u->rtmp.port;
    } else if (!rtmp_only && strncasecmp(url, "http://", 7) == 0) {
        u->proto = PROTO_HTTP;
        if (http_url_parse(url, u, err, sizeof err) != 0) {
            fprintf(stderr, "weir-bench: %s '%s': %s\n", opt, url, err);
            return -1;
        }
    } else {
        fprintf(stderr, "weir-bench: %s '%s': expected %s\n", opt, url,
                rtmp_only ? "rtmp://host[:port]/app/name"
                          : "rtmp://host[:port]/app/name or http://host[:port]/app/name.flv");
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

/* ---- connections: output, epoll, teardown ------------------------------- */

static void conn_release(conn_t *c)
{
    if (c->fd >= 0)
        close(c->fd); /* also leaves its epoll set */
    c->fd = -1;
    c->epfd = -1;
    rtmp_hs_free(c->hs);
    c->hs = NULL;
    rtmp_proto_client_free(c->pc);
    c->pc = NULL;
    flv_reader_free(c->flv);
    c->flv = NULL;
    free(c->head);
    c->head = NULL;
    free(c->out);
    c->out = NULL;
    c->out_off = c->out_len = c->out_cap = 0;
    c->state = ST_CLOSED;
}

/* Ends a connection for a reason: counted (players) or fatal (publisher).
 * Returns -1 so that callers can `return conn_fail(...)`. */
static int conn_fail(bench_t *b, conn_t *c, err_reason_t why, const char *fmt, ...)
{
    if (c->state == ST_CLOSED)
        return -1;
    char text[BENCH_ERR_TEXT];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (c->is_pub) {
        if (!b->fatal)
            snprintf(b->fatal_msg, sizeof b->fatal_msg, "publisher: %s", text);
        b->fatal = 1;
    } else {
        b->errors[why]++;
        if (!b->err_example[why][0])
            snprintf(b->err_example[why], sizeof b->err_example[why], "player %u (%s): %s", c->id,
                     state_name(c->state), text);
        if (c->state == ST_LIVE)
            b->n_live--;
        if (!c->got_video)
            b->n_settled++;
    }
    c->err = (uint8_t)(why + 1);
    conn_release(c);
    return -1;
}

/* Registers the events the connection needs now: EPOLLOUT while connecting
 * or while output is pending, EPOLLIN once connected. */
static int conn_watch(bench_t *b, conn_t *c)
{
    uint32_t want = c->state == ST_CONNECTING ? EPOLLOUT : EPOLLIN;
    if (c->out_len > c->out_off)
        want |= EPOLLOUT;
    if (want == c->events)
        return 0;
    struct epoll_event ev = {.events = want, .data.ptr = c};
    if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        return conn_fail(b, c, ERR_IO, "epoll_ctl: %s", strerror(errno));
    c->events = want;
    return 0;
}

/* Room for n more output bytes; NULL (connection failed) over the bound. */
static uint8_t *out_reserve(bench_t *b, conn_t *c, size_t n)
{
    size_t max = c->is_pub ? BENCH_PUB_OUT_MAX : BENCH_PLAYER_OUT_MAX;
    if (c->out_off > 0 && c->out_cap - c->out_len < n) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_cap - c->out_len < n) {
        size_t need = c->out_len + n;
        if (need > max) {
            conn_fail(b, c, ERR_OVERFLOW, "output queue over %zu bytes (the server does not read)",
                      max);
            return NULL;
        }
        size_t cap = c->out_cap ? c->out_cap : 512;
        while (cap < need)
            cap *= 2;
        if (cap > max)
            cap = max;
        uint8_t *nb = realloc(c->out, cap);
        if (!nb) {
            conn_fail(b, c, ERR_NOMEM, "out of memory for %zu output bytes", cap);
            return NULL;
        }
        c->out = nb;
        c->out_cap = cap;
    }
    return c->out + c->out_len;
}

static int conn_flush(bench_t *b, conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        return conn_fail(b, c, ERR_IO, "send: %s", n < 0 ? strerror(errno) : "no progress");
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    return conn_watch(b, c);
}

/* ---- RTMP client role --------------------------------------------------- */

static int rtmp_send(bench_t *b, conn_t *c, uint32_t csid, uint8_t type, uint32_t sid, uint32_t ts,
                     const uint8_t *p, uint32_t len)
{
    uint32_t cs = rtmp_proto_client_chunk_size(c->pc);
    size_t n = rtmp_chunk_encoded_size(csid, ts, len, cs);
    uint8_t *dst = out_reserve(b, c, n);
    if (!dst)
        return -1;
    c->out_len += rtmp_chunk_encode(dst, csid, type, sid, ts, p, len, cs);
    return 0;
}

/* Moves what the command sequence queued onto the connection's output. */
static int proto_output(bench_t *b, conn_t *c)
{
    const uint8_t *p;
    size_t n;
    rtmp_proto_client_output(c->pc, &p, &n);
    if (n == 0)
        return 0;
    uint8_t *dst = out_reserve(b, c, n);
    if (!dst)
        return -1;
    memcpy(dst, p, n);
    c->out_len += n;
    rtmp_proto_client_output_done(c->pc, n);
    return 0;
}

/* A state machine call that failed: the connection ends. */
static int proto_fail(bench_t *b, conn_t *c, int rc, const char *err)
{
    err_reason_t why = rc == NODE_ENOMEM   ? ERR_NOMEM
                       : rc == NODE_ELIMIT ? ERR_OVERFLOW
                                           : ERR_PROTOCOL;
    return conn_fail(b, c, why, "%s", err ? err : "protocol error");
}

static const bench_url_t *conn_url(const bench_t *b, const conn_t *c)
{
    return c->is_pub ? &b->pub_url : &b->url;
}

static int hs_output(bench_t *b, conn_t *c)
{
    const uint8_t *d;
    size_t n;
    rtmp_hs_output(c->hs, &d, &n);
    if (n == 0)
        return 0;
    uint8_t *dst = out_reserve(b, c, n);
    if (!dst)
        return -1;
    memcpy(dst, d, n);
    c->out_len += n;
    rtmp_hs_output_done(c->hs);
    return 0;
}

static int rtmp_begin(bench_t *b, conn_t *c)
{
    const url_rtmp_t *u = &conn_url(b, c)->rtmp;
    rtmp_proto_client_cfg_t cfg = {.app = u->app,
                                   .tc_url = u->tc_url,
                                   .name = u->name,
                                   .flash_ver = FLASH_VER,
                                   .role = c->is_pub ? RTMP_PROTO_PUBLISH : RTMP_PROTO_PLAY,
                                   .chunk_size = c->is_pub ? BENCH_PUB_CHUNK_SIZE : 0,
                                   .play_buffer_ms = BENCH_PLAY_BUFFER_MS,
                                   .max_msg = BENCH_MAX_MSG,
                                   .max_csids = BENCH_MAX_CSIDS};
    c->hs = rtmp_hs_new(RTMP_HS_CLIENT, b->complex_hs);
    c->pc = rtmp_proto_client_new(&cfg);
    if (!c->hs || !c->pc)
        return conn_fail(b, c, ERR_NOMEM, "handshake: out of memory");
    c->state = ST_HANDSHAKE;
    return hs_output(b, c);
}

/* Feeds handshake bytes; on completion starts the session (connect). */
static int hs_input(bench_t *b, conn_t *c, const uint8_t **p, size_t *len)
{
    size_t used = 0;
    const char *err = NULL;
    parse_rc_t rc = rtmp_hs_feed(c->hs, *p, *len, &used, &err);
    *p += used;
    *len -= used;
    if (rc != PARSE_OK && rc != PARSE_NEED_MORE)
        return conn_fail(b, c, ERR_HANDSHAKE, "%s", err ? err : "handshake: failed");
    if (hs_output(b, c) != 0 || rc == PARSE_NEED_MORE)
        return c->state == ST_CLOSED ? -1 : 0;
    rtmp_hs_free(c->hs);
    c->hs = NULL;
    c->state = ST_CONNECT;
    int prc = rtmp_proto_client_begin(c->pc);
    if (prc != 0)
        return proto_fail(b, c, prc, "out of memory");
    return proto_output(b, c);
}

static void go_live(bench_t *b, conn_t *c, int64_t now_us)
{
    c->state = ST_LIVE;
    if (c->is_pub) {
        b->pub_start_us = now_us;
        b->next_tag = 0;
    } else {
        b->n_live++;
    }
}

static int player_media(bench_t *b, conn_t *c, uint8_t type, const uint8_t *p, uint32_t len,
                        int64_t now_us);

/* Media a player received: aggregates are split into their parts. */
static int rtmp_media(bench_t *b, conn_t *c, const rtmp_msg_t *m, int64_t now_us)
{
    if (c->is_pub)
        return 0;
    if (m->type != RTMP_MSG_AGGREGATE)
        return player_media(b, c, m->type, m->payload, m->len, now_us);
    rtmp_proto_agg_t it;
    uint8_t type;
    uint32_t ts, size;
    const uint8_t *body;
    int r;
    rtmp_proto_agg_init(&it, m->payload, m->len, m->timestamp);
    while ((r = rtmp_proto_agg_next(&it, &type, &ts, &body, &size)) == 1) {
        if ((type == RTMP_MSG_AUDIO || type == RTMP_MSG_VIDEO || type == RTMP_MSG_DATA_AMF0) &&
            player_media(b, c, type, body, size, now_us) != 0)
            return -1;
    }
    return r < 0 ? conn_fail(b, c, ERR_PROTOCOL, "truncated aggregate message") : 0;
}

/* One message through the command sequence; its events move the state. */
static int rtmp_message(bench_t *b, conn_t *c, const rtmp_msg_t *m, int64_t now_us)
{
    rtmp_proto_ev_t ev;
    const char *err = NULL;
    int rc = rtmp_proto_client_feed(c->pc, m, &ev, &err);
    if (rc != 0)
        return proto_fail(b, c, rc, err);
    switch (ev.kind) {
    case RTMP_PROTO_EV_READY:
        c->state = ST_START;
        rc = rtmp_proto_client_start(c->pc, c->is_pub ? RTMP_PROTO_PUBLISH : RTMP_PROTO_PLAY);
        if (rc != 0)
            return proto_fail(b, c, rc, "out of memory");
        break;
    case RTMP_PROTO_EV_STARTED: go_live(b, c, now_us); break;
    case RTMP_PROTO_EV_REFUSED: {
        char why[BENCH_ERR_TEXT];
        rtmp_proto_refusal(c->pc, &ev, why, sizeof why);
        return conn_fail(b, c, ERR_REFUSED, "%s", why);
    }
    case RTMP_PROTO_EV_MEDIA: return rtmp_media(b, c, m, now_us);
    case RTMP_PROTO_EV_NONE:
    case RTMP_PROTO_EV_STATUS: break;
    }
    if (c->state == ST_CONNECT && rtmp_proto_client_state(c->pc) == RTMP_PROTO_CL_CREATE_STREAM)
        c->state = ST_CREATE;
    return proto_output(b, c);
}

static int rtmp_input(bench_t *b, conn_t *c, const uint8_t *p, size_t len, int64_t now_us)
{
    if (c->state == ST_HANDSHAKE) {
        if (hs_input(b, c, &p, &len) != 0)
            return -1;
        if (c->state == ST_HANDSHAKE)
            return 0;
    }
    c->bytes_in += len;
    /* Fed until NEED_MORE, even with no new bytes: the parser may hold
     * look-ahead bytes that complete a message. */
    for (;;) {
        size_t used = 0;
        rtmp_msg_t m;
        const char *err = NULL;
        parse_rc_t rc = rtmp_proto_client_input(c->pc, p, len, &used, &m, &err);
        p += used;
        len -= used;
        if (rc == PARSE_NEED_MORE)
            break;
        if (rc != PARSE_OK)
            return conn_fail(b, c, ERR_PROTOCOL, "%s", err ? err : "bad chunk stream");
        int r = rtmp_message(b, c, &m, now_us);
        free(m.payload);
        if (r != 0)
            return -1;
    }
    int rc = rtmp_proto_client_ack(c->pc, c->bytes_in);
    if (rc != 0)
        return proto_fail(b, c, rc, "out of memory");
    return proto_output(b, c);
}

/* ---- HTTP-FLV client ---------------------------------------------------- */

static int http_begin(bench_t *b, conn_t *c)
{
    char req[BENCH_PATH_MAX + BENCH_HOSTHDR_MAX + 128];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: weir-bench/%s\r\n"
                     "Accept: */*\r\n\r\n",
                     b->url.path, b->url.host_hdr, WEIR_VERSION);
    if (n < 0 || (size_t)n >= sizeof req)
        return conn_fail(b, c, ERR_NOMEM, "request too long");
    c->head = malloc(BENCH_MAX_HEAD + 1);
    uint8_t *dst = c->head ? out_reserve(b, c, (size_t)n) : NULL;
    if (!dst)
        return c->state == ST_CLOSED ? -1 : conn_fail(b, c, ERR_NOMEM, "out of memory");
    memcpy(dst, req, (size_t)n);
    c->out_len += (size_t)n;
    c->head_len = 0;
    c->state = ST_HTTP_HEAD;
    return 0;
}

static int flv_input(bench_t *b, conn_t *c, const uint8_t *p, size_t len, int64_t now_us)
{
    for (;;) {
        size_t used = 0;
        flv_tag_t tag;
        const char *err = NULL;
        parse_rc_t rc = flv_reader_feed(c->flv, p, len, &used, &tag, &err);
        p += used;
        len -= used;
        if (rc == PARSE_NEED_MORE)
            return 0;
        if (rc != PARSE_OK)
            return conn_fail(b, c, ERR_PROTOCOL, "%s", err ? err : "flv: bad stream");
        if ((tag.type == FLV_TAG_AUDIO || tag.type == FLV_TAG_VIDEO ||
             tag.type == FLV_TAG_SCRIPT) &&
            player_media(b, c, tag.type, tag.body, tag.len, now_us) != 0)
            return -1;
    }
}

/* One byte of a chunk size line. Returns 0, or -1 (failed). */
static int chunk_line_byte(bench_t *b, conn_t *c, uint8_t ch)
{
    if (++c->ch_line > BENCH_MAX_CHUNK_LINE)
        return conn_fail(b, c, ERR_PROTOCOL, "chunk size line over %d bytes", BENCH_MAX_CHUNK_LINE);
    if (ch == '\n') {
        if (c->ch_line == 1)
            return conn_fail(b, c, ERR_PROTOCOL, "empty chunk size line");
        c->ch_state = c->ch_left ? CH_DATA : CH_END;
        c->ch_line = 0;
        return 0;
    }
    if (c->ch_state == CH_EXT)
        return 0;
    int d = ch >= '0' && ch <= '9'   ? ch - '0'
            : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
            : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                     : -1;
    if (d >= 0) {
        if (c->ch_left > 0x0fffffff)
            return conn_fail(b, c, ERR_PROTOCOL, "chunk size too large");
        c->ch_left = c->ch_left * 16 + (uint32_t)d;
        return 0;
    }
    if (ch == ';' || ch == ' ' || ch == '\t' || ch == '\r') {
        if (c->ch_line == 1)
            return conn_fail(b, c, ERR_PROTOCOL, "bad chunk size line");
        c->ch_state = CH_EXT;
        return 0;
    }
    return conn_fail(b, c, ERR_PROTOCOL, "bad chunk size character 0x%02x", ch);
}

/* Body bytes: dechunked if the response is chunked, then to the FLV reader. */
static int http_body(bench_t *b, conn_t *c, const uint8_t *p, size_t len, int64_t now_us)
{
    if (!c->chunked)
        return flv_input(b, c, p, len, now_us);
    while (len > 0) {
        switch (c->ch_state) {
        case CH_SIZE:
        case CH_EXT:
            if (chunk_line_byte(b, c, *p) != 0)
                return -1;
            p++;
            len--;
            break;
        case CH_DATA: {
            size_t k = len < c->ch_left ? len : c->ch_left;
            if (flv_input(b, c, p, k, now_us) != 0)
                return -1;
            p += k;
            len -= k;
            c->ch_left -= (uint32_t)k;
            if (c->ch_left == 0)
                c->ch_state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
        case CH_DATA_LF:
            if (*p == '\r' && c->ch_state == CH_DATA_CR) {
                c->ch_state = CH_DATA_LF;
            } else if (*p == '\n') {
                c->ch_state = CH_SIZE;
                c->ch_line = 0;
                c->ch_left = 0;
            } else {
                return conn_fail(b, c, ERR_PROTOCOL, "chunk not followed by CRLF");
            }
            p++;
            len--;
            break;
        default: return 0; /* CH_END: the body is over; the close follows */
        }
    }
    return 0;
}

/* Parses a complete response head of hlen bytes (c->head, NUL-terminated). */
static int http_parse_head(bench_t *b, conn_t *c, size_t hlen)
{
    char *h = c->head;
    h[hlen] = '\0';
    if (strncmp(h, "HTTP/1.", 7) != 0 || hlen < 12 || h[8] != ' ')
        return conn_fail(b, c, ERR_PROTOCOL, "bad status line: %.40s", h);
    int status = atoi(h + 9);
    if (status != 200) {
        char *eol = strstr(h, "\r\n");
        if (eol)
            *eol = '\0';
        return conn_fail(b, c, ERR_HTTP_STATUS, "%.80s", h);
    }
    c->chunked = 0;
    for (char *line = strstr(h, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, "transfer-encoding:", 18) == 0) {
            char *eol = strstr(line, "\r\n");
            size_t l = eol ? (size_t)(eol - line) : strlen(line);
            char save = line[l];
            line[l] = '\0';
            if (strcasestr(line + 18, "chunked"))
                c->chunked = 1;
            line[l] = save;
        }
    }
    return 0;
}

static int http_input(bench_t *b, conn_t *c, const uint8_t *p, size_t len, int64_t now_us)
{
    if (c->state == ST_LIVE)
        return http_body(b, c, p, len, now_us);
    size_t room = BENCH_MAX_HEAD - c->head_len;
    size_t k = len < room ? len : room;
    size_t from = c->head_len > 3 ? c->head_len - 3 : 0;
    memcpy(c->head + c->head_len, p, k);
    c->head_len += k;
    char *end = memmem(c->head + from, c->head_len - from, "\r\n\r\n", 4);
    if (!end) {
        if (c->head_len == BENCH_MAX_HEAD)
            return conn_fail(b, c, ERR_PROTOCOL, "response head over %d bytes", BENCH_MAX_HEAD);
        return 0;
    }
    size_t hlen = (size_t)(end - c->head) + 4;
    size_t body_off = k - (c->head_len - hlen); /* bytes of p after the head */
    if (http_parse_head(b, c, hlen - 2) != 0)
        return -1;
    free(c->head);
    c->head = NULL;
    c->flv = flv_reader_new(BENCH_MAX_MSG);
    if (!c->flv)
        return conn_fail(b, c, ERR_NOMEM, "out of memory for the FLV reader");
    c->ch_state = CH_SIZE;
    c->ch_line = 0;
    c->ch_left = 0;
    go_live(b, c, now_us);
    return http_body(b, c, p + body_off, len - body_off, now_us);
}

/* ---- players ------------------------------------------------------------ */

static void latency_sample(bench_t *b, double ms)
{
    if (b->nlat == b->lat_cap) {
        if (b->lat_cap >= BENCH_MAX_LAT_SAMPLES) {
            b->lat_dropped++;
            return;
        }
        size_t cap = b->lat_cap ? b->lat_cap * 2 : 4096;
        double *nl = realloc(b->lat, cap * sizeof *nl);
        if (!nl) {
            b->lat_dropped++;
            return;
        }
        b->lat = nl;
        b->lat_cap = cap;
    }
    b->lat[b->nlat++] = ms;
    if (ms > b->lat_max)
        b->lat_max = ms;
}

static int move_to_batch(bench_t *b, conn_t *c)
{
    struct epoll_event ev = {.events = c->events, .data.ptr = c};
    if (epoll_ctl(b->ep_fast, EPOLL_CTL_DEL, c->fd, NULL) != 0 ||
        epoll_ctl(b->ep_batch, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        return conn_fail(b, c, ERR_IO, "epoll_ctl: %s", strerror(errno));
    c->epfd = b->ep_batch;
    return 0;
}

/* An audio (8), video (9) or data (15, 18) message or tag body: counted,
 * the first coded video frame checked, probes' latency sampled. Returns 0,
 * or -1 if the connection failed. */
static int player_media(bench_t *b, conn_t *c, uint8_t type, const uint8_t *p, uint32_t len,
                        int64_t now_us)
{
    c->bytes += len;
    b->total_bytes += len;
    b->sec_bytes += len;
    if (b->in_window) {
        c->win_bytes += len;
        b->win_bytes += len;
    }
    c->last_media_ms = now_us / 1000;
    if (type == RTMP_MSG_VIDEO && !c->got_video) {
        flv_video_info_t vi;
        if (flv_video_inspect(p, len, &vi) == 0) {
            if (vi.seq_header) {
                c->seen_vseq = 1;
            } else if (!vi.is_command && !vi.seq_end) {
                c->got_video = 1;
                c->key_start = vi.keyframe && c->seen_vseq;
                c->ttff_ms = (float)((double)(now_us - c->t_start_us) / 1000.0);
                b->ttff[b->nttff++] = c->ttff_ms;
                b->n_settled++;
                if (!c->probe)
                    return move_to_batch(b, c);
            }
        }
    }
    if (c->probe && b->has_pub && (type == RTMP_MSG_AUDIO || type == RTMP_MSG_VIDEO) && len) {
        uint64_t h = content_hash(type, p, len);
        const hash_slot_t *s = &b->hash[h & (BENCH_HASH_SLOTS - 1)];
        if (s->hash != h || s->dup || now_us < s->send_us)
            b->lat_unmatched++;
        else if (s->send_us >= c->t_start_us) /* not from the GOP cache */
            latency_sample(b, (double)(now_us - s->send_us) / 1000.0);
    }
    return 0;
}

static int conn_connected(bench_t *b, conn_t *c)
{
    int rc = c->proto == PROTO_RTMP ? rtmp_begin(b, c) : http_begin(b, c);
    if (rc != 0)
        return -1;
    return conn_flush(b, c);
}

/* Opens c's TCP connection to u (non-blocking, in the fast set). */
static int conn_open(bench_t *b, conn_t *c, const bench_url_t *u)
{
    int fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return conn_fail(b, c, ERR_CONNECT, "socket: %s", strerror(errno));
    c->fd = fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = ST_CONNECTING;
    c->epfd = b->ep_fast;
    c->events = EPOLLOUT;
    struct epoll_event ev = {.events = c->events, .data.ptr = c};
    if (epoll_ctl(b->ep_fast, EPOLL_CTL_ADD, fd, &ev) != 0)
        return conn_fail(b, c, ERR_IO, "epoll_ctl: %s", strerror(errno));
    if (connect(fd, (const struct sockaddr *)&u->addr, u->addrlen) == 0)
        return conn_connected(b, c);
    if (errno != EINPROGRESS)
        return conn_fail(b, c, ERR_CONNECT, "connect to %s:%u: %s", u->host, u->port,
                         strerror(errno));
    return 0;
}

static void conn_read(bench_t *b, conn_t *c)
{
    for (int i = 0; i < BENCH_READS_PER_EVENT; i++) {
        ssize_t n = recv(c->fd, b->scratch, BENCH_SCRATCH_SIZE, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_fail(b, c, ERR_IO, "recv: %s", strerror(errno));
            return;
        }
        if (n == 0) {
            conn_fail(b, c, ERR_CLOSED, "the server closed the connection");
            return;
        }
        int64_t now = mono_us();
        int r = c->proto == PROTO_RTMP ? rtmp_input(b, c, b->scratch, (size_t)n, now)
                                       : http_input(b, c, b->scratch, (size_t)n, now);
        if (r != 0 || c->state == ST_CLOSED)
            return;
        if ((size_t)n < BENCH_SCRATCH_SIZE)
            break;
    }
    if (c->out_len > c->out_off)
        conn_flush(b, c);
}

static void conn_event(bench_t *b, conn_t *c, uint32_t ev)
{
    if (c->state == ST_CLOSED || c->fd < 0)
        return;
    if (c->state == ST_CONNECTING) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        int err = 0;
        socklen_t l = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0)
            err = errno;
        const bench_url_t *u = conn_url(b, c);
        if (err) {
            conn_fail(b, c, ERR_CONNECT, "connect to %s:%u: %s", u->host, u->port, strerror(err));
            return;
        }
        conn_connected(b, c);
        return;
    }
    if ((ev & EPOLLOUT) && conn_flush(b, c) != 0)
        return;
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
        conn_read(b, c);
}

static void player_start(bench_t *b, conn_t *c, int64_t now_us)
{
    c->t_start_us = now_us;
    b->n_started++;
    conn_open(b, c, &b->url);
}

static void pub_pump(bench_t *b, int64_t now_us);

/* Serves what is ready in the fast set now (probes, players setting up,
 * the publisher), without waiting. */
static void fast_poll(bench_t *b)
{
    struct epoll_event ev[BENCH_FAST_EVENTS];
    int n = epoll_wait(b->ep_fast, ev, BENCH_FAST_EVENTS, 0);
    for (int i = 0; i < n; i++)
        conn_event(b, ev[i].data.ptr, ev[i].events);
    pub_pump(b, mono_us());
}

/* Reads every ready socket of the batch set once. Every BENCH_BATCH_SLICE
 * sockets the fast set is served, so that a long tick does not delay the
 * probes' receive times (latency) or the publisher's sends. */
static void batch_tick(bench_t *b)
{
    if (b->nbevents == 0)
        return;
    int64_t t0 = mono_us();
    int n = epoll_wait(b->ep_batch, b->bevents, b->nbevents, 0);
    for (int i = 0; i < n; i++) {
        conn_event(b, b->bevents[i].data.ptr, b->bevents[i].events);
        if (i % BENCH_BATCH_SLICE == BENCH_BATCH_SLICE - 1)
            fast_poll(b);
    }
    int64_t dt = mono_us() - t0;
    b->ticks++;
    b->tick_total_us += (uint64_t)dt;
    if (dt > b->tick_max_us)
        b->tick_max_us = dt;
}

static void check_setup_timeouts(bench_t *b, int64_t now_us)
{
    int64_t limit = (int64_t)b->setup_timeout_ms * 1000;
    for (int i = 0; i < b->n_started; i++) {
        conn_t *c = &b->players[i];
        if (c->state != ST_LIVE && c->state != ST_CLOSED && now_us - c->t_start_us > limit)
            conn_fail(b, c, ERR_SETUP_TIMEOUT, "not playing within %d ms", b->setup_timeout_ms);
    }
}

/* ---- publisher ---------------------------------------------------------- */

static void pub_free_tags(bench_t *b)
{
    for (size_t i = 0; i < b->ntags; i++)
        free(b->tags[i].body);
    free(b->tags);
    b->tags = NULL;
    b->ntags = 0;
}

static int pub_add_tag(bench_t *b, size_t *cap, const flv_tag_t *t, uint32_t first_ts)
{
    static const uint8_t on_metadata[] = {0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e',
                                          't',  'a',  'D',  'a', 't', 'a'};
    int meta = t->type == FLV_TAG_SCRIPT && t->len >= sizeof on_metadata &&
               memcmp(t->body, on_metadata, sizeof on_metadata) == 0;
    size_t extra = meta ? sizeof SET_DATA_FRAME : 0;
    if (b->ntags == *cap) {
        size_t nc = *cap ? *cap * 2 : 1024;
        pub_tag_t *nt = realloc(b->tags, nc * sizeof *nt);
        if (!nt)
            return -1;
        b->tags = nt;
        *cap = nc;
    }
    pub_tag_t *pt = &b->tags[b->ntags];
    pt->body = malloc(t->len + extra + 1);
    if (!pt->body)
        return -1;
    memcpy(pt->body, SET_DATA_FRAME, extra);
    memcpy(pt->body + extra, t->body, t->len);
    pt->type = t->type;
    pt->len = t->len + (uint32_t)extra;
    pt->rel_ms = t->ts >= first_ts ? t->ts - first_ts : 0;
    pt->hash = t->type == FLV_TAG_SCRIPT ? 0 : content_hash(t->type, t->body, t->len);
    b->ntags++;
    return 0;
}

/* Loads the tags of an FLV file and works out the loop span. Returns 0,
 * or -1 with the reason on stderr. */
static int pub_load(bench_t *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "weir-bench: --publish %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size > BENCH_PUB_MAX_FILE) {
        fprintf(stderr, "weir-bench: --publish %s: %s\n", path,
                errno ? strerror(errno) : "file over 1 GiB");
        fclose(f);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    size_t got = data ? fread(data, 1, size, f) : 0;
    fclose(f);
    flv_reader_t *r = flv_reader_new(BENCH_MAX_MSG);
    if (!data || !r || got != size) {
        fprintf(stderr, "weir-bench: --publish %s: %s\n", path,
                !data || !r ? "out of memory" : "short read");
        free(data);
        flv_reader_free(r);
        return -1;
    }
    size_t off = 0, cap = 0, nav = 0, nvideo = 0;
    uint32_t first_ts = 0, max_rel = 0, vmin = UINT32_MAX, vmax = 0;
    int rc = 0, have_first = 0;
    while (rc == 0) {
        size_t used = 0;
        flv_tag_t t;
        const char *err = NULL;
        parse_rc_t prc = flv_reader_feed(r, data + off, size - off, &used, &t, &err);
        off += used;
        if (prc == PARSE_NEED_MORE)
            break;
        if (prc != PARSE_OK) {
            fprintf(stderr, "weir-bench: --publish %s: %s\n", path, err ? err : "bad FLV");
            rc = -1;
            break;
        }
        if (t.type != FLV_TAG_AUDIO && t.type != FLV_TAG_VIDEO && t.type != FLV_TAG_SCRIPT)
            continue;
        if (!have_first) {
            first_ts = t.ts;
            have_first = 1;
        }
        if (pub_add_tag(b, &cap, &t, first_ts) != 0) {
            fprintf(stderr, "weir-bench: --publish %s: out of memory\n", path);
            rc = -1;
            break;
        }
        const pub_tag_t *pt = &b->tags[b->ntags - 1];
        if (t.type != FLV_TAG_SCRIPT)
            nav++;
        if (pt->rel_ms > max_rel)
            max_rel = pt->rel_ms;
        if (t.type == FLV_TAG_VIDEO) {
            nvideo++;
            vmin = pt->rel_ms < vmin ? pt->rel_ms : vmin;
            vmax = pt->rel_ms > vmax ? pt->rel_ms : vmax;
        }
    }
    free(data);
    flv_reader_free(r);
    if (rc == 0 && nav == 0) {
        fprintf(stderr, "weir-bench: --publish %s: no audio or video tags\n", path);
        rc = -1;
    }
    if (rc != 0) {
        pub_free_tags(b);
        return -1;
    }
    int64_t frame =
        nvideo >= 2 && vmax > vmin ? (int64_t)(vmax - vmin) / (int64_t)(nvideo - 1) : 40;
    b->loop_span_ms = (int64_t)max_rel + (frame > 0 ? frame : 1);
    int64_t dup_ms =
        b->loop_span_ms / 2 < BENCH_DUP_WINDOW_MS ? b->loop_span_ms / 2 : BENCH_DUP_WINDOW_MS;
    b->dup_window_us = dup_ms * 1000;
    return 0;
}

static void hash_put(bench_t *b, uint64_t h, int64_t now_us)
{
    hash_slot_t *s = &b->hash[h & (BENCH_HASH_SLOTS - 1)];
    if (s->hash == h && now_us - s->send_us < b->dup_window_us) {
        s->dup = 1;
    } else {
        s->hash = h;
        s->dup = 0;
    }
    s->send_us = now_us;
}

/* Send time of the next tag, or INT64_MAX when none is due (not live, or
 * waiting for the socket). */
static int64_t pub_next_due(const bench_t *b)
{
    const conn_t *c = &b->pub;
    if (!b->has_pub || b->pub_hold || c->state != ST_LIVE ||
        c->out_len - c->out_off > BENCH_PUB_HIGH_WATER)
        return INT64_MAX;
    const pub_tag_t *t = &b->tags[b->next_tag];
    return b->pub_start_us + ((int64_t)t->rel_ms + (int64_t)b->loops * b->loop_span_ms) * 1000;
}

/* Sends every tag that is due, at most BENCH_PUB_BURST per call. */
static void pub_pump(bench_t *b, int64_t now_us)
{
    conn_t *c = &b->pub;
    int sent = 0;
    for (int i = 0; i < BENCH_PUB_BURST && pub_next_due(b) <= now_us; i++) {
        const pub_tag_t *t = &b->tags[b->next_tag];
        if (b->loops == 0 || t->type != FLV_TAG_SCRIPT) {
            int64_t ts = (int64_t)t->rel_ms + (int64_t)b->loops * b->loop_span_ms;
            uint32_t csid = t->type == FLV_TAG_VIDEO   ? CSID_VIDEO
                            : t->type == FLV_TAG_AUDIO ? CSID_AUDIO
                                                       : CSID_DATA;
            if (rtmp_send(b, c, csid, t->type, rtmp_proto_client_stream_id(c->pc), (uint32_t)ts,
                          t->body, t->len) != 0)
                return;
            if (t->type != FLV_TAG_SCRIPT)
                hash_put(b, t->hash, now_us);
            b->pub_msgs++;
            b->pub_bytes += t->len;
            b->sec_pub_bytes += t->len;
            if (b->in_window)
                b->win_pub_bytes += t->len;
            sent = 1;
        }
        if (++b->next_tag == b->ntags) {
            b->next_tag = 0;
            b->loops++;
        }
    }
    if (sent)
        conn_flush(b, c);
}

/* ---- reports ------------------------------------------------------------ */

static int count_receiving(const bench_t *b, int64_t now_us)
{
    int n = 0;
    int64_t since = now_us / 1000 - 1000;
    for (int i = 0; i < b->n_started; i++) {
        const conn_t *c = &b->players[i];
        if (c->state == ST_LIVE && c->last_media_ms > since)
            n++;
    }
    return n;
}

static uint64_t error_total(const bench_t *b)
{
    uint64_t n = 0;
    for (int i = 0; i < ERR_COUNT; i++)
        n += b->errors[i];
    return n;
}

static void json_add_num_or_null(cJSON *o, const char *key, int ok, double v)
{
    if (ok)
        cJSON_AddNumberToObject(o, key, round3(v));
    else
        cJSON_AddNullToObject(o, key);
}

static void print_json(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        free(s);
    } else {
        fprintf(stderr, "weir-bench: out of memory printing JSON\n");
    }
    cJSON_Delete(o);
}

static void report_second(bench_t *b, int64_t now_us)
{
    double dt = (double)(now_us - b->last_report_us) / 1e6;
    if (dt <= 0)
        return;
    double cpu = cpu_seconds();
    double cpu_pct = (cpu - b->last_cpu_s) / dt * 100.0;
    b->last_cpu_s = cpu;
    int receiving = count_receiving(b, now_us);
    double delivered = (double)b->sec_bytes * 8 / dt / 1000.0;
    int have_exp = b->has_pub || b->expected_kbps >= 0;
    double per = b->has_pub ? (double)b->sec_pub_bytes * 8 / dt / 1000.0 : b->expected_kbps;
    double expected = per * b->n_started;
    pct_t lat = percentiles_copy(b->lat + b->lat_sec_start, b->nlat - b->lat_sec_start);
    pct_t ttff = percentiles_copy(b->ttff, b->nttff);
    double t = (double)(now_us - b->t0_us) / 1e6;
    if (!b->quiet) {
        char ratio[32] = "-", latency[96] = "", ttffs[64] = "";
        if (have_exp && expected > 0)
            snprintf(ratio, sizeof ratio, "%.3f", delivered / expected);
        if (lat.n)
            snprintf(latency, sizeof latency, " | latency p50 %.1f p99 %.1f max %.1f ms", lat.p50,
                     lat.p99, lat.max);
        if (ttff.n)
            snprintf(ttffs, sizeof ttffs, " | ttff p50 %.1f p99 %.1f ms", ttff.p50, ttff.p99);
        fprintf(stderr,
                "weir-bench: %6.1fs %-7s players %d/%d connected %d receiving %d | %.1f of "
                "%.1f Mbit/s, ratio %s%s%s | errors %llu | cpu %.0f%%\n",
                t, PHASE_NAMES[b->phase], b->n_started, b->nplayers, b->n_live, receiving,
                delivered / 1000, have_exp ? expected / 1000 : 0.0, ratio, ttffs, latency,
                (unsigned long long)error_total(b), cpu_pct);
    }
    if (b->json_every_second) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "t_s", round3(t));
        cJSON_AddStringToObject(o, "phase", PHASE_NAMES[b->phase]);
        cJSON_AddNumberToObject(o, "started", b->n_started);
        cJSON_AddNumberToObject(o, "connected", b->n_live);
        cJSON_AddNumberToObject(o, "receiving", receiving);
        cJSON_AddNumberToObject(o, "delivered_kbps", round3(delivered));
        json_add_num_or_null(o, "expected_kbps", have_exp, expected);
        json_add_num_or_null(o, "ratio", have_exp && expected > 0,
                             expected > 0 ? delivered / expected : 0);
        if (lat.n) {
            cJSON *l = cJSON_AddObjectToObject(o, "latency_ms");
            cJSON_AddNumberToObject(l, "p50", round3(lat.p50));
            cJSON_AddNumberToObject(l, "p99", round3(lat.p99));
            cJSON_AddNumberToObject(l, "max", round3(lat.max));
        } else {
            cJSON_AddNullToObject(o, "latency_ms");
        }
        cJSON_AddNumberToObject(o, "errors", (double)error_total(b));
        cJSON_AddNumberToObject(o, "bench_cpu_pct", round3(cpu_pct));
        print_json(o);
    }
    b->sec_bytes = b->sec_pub_bytes = 0;
    b->lat_sec_start = b->nlat;
    b->last_report_us = now_us;
}

static void add_pct(cJSON *o, const char *key, pct_t p, int with_max)
{
    cJSON *x = cJSON_AddObjectToObject(o, key);
    json_add_num_or_null(x, "p50", p.n > 0, p.p50);
    json_add_num_or_null(x, "p99", p.n > 0, p.p99);
    if (with_max)
        json_add_num_or_null(x, "max", p.n > 0, p.max);
}

static void print_final(bench_t *b, int64_t now_us)
{
    int64_t wend = b->window_end_us ? b->window_end_us : now_us;
    double win_s = b->window_start_us ? (double)(wend - b->window_start_us) / 1e6 : 0;
    int have_exp = (b->has_pub || b->expected_kbps >= 0) && win_s > 0;
    double per_player_exp_bytes =
        b->has_pub ? (double)b->win_pub_bytes : b->expected_kbps * 1000 / 8 * win_s;
    double delivered = win_s > 0 ? (double)b->win_bytes * 8 / win_s / 1000 : 0;
    double expected = win_s > 0 ? per_player_exp_bytes * 8 / win_s / 1000 * b->nplayers : 0;

    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "players", b->nplayers);
    if (b->url_text) {
        cJSON_AddStringToObject(o, "url", b->url_text);
        cJSON_AddStringToObject(o, "protocol", b->url.proto == PROTO_RTMP ? "rtmp" : "http-flv");
    } else {
        cJSON_AddNullToObject(o, "url");
        cJSON_AddNullToObject(o, "protocol");
    }
    cJSON_AddNumberToObject(o, "started", b->n_started);
    cJSON_AddNumberToObject(o, "connected", b->n_live);
    cJSON_AddNumberToObject(o, "receiving", count_receiving(b, now_us));
    cJSON_AddNumberToObject(o, "delivered_kbps", round3(delivered));
    json_add_num_or_null(o, "expected_kbps", have_exp, expected);
    json_add_num_or_null(o, "ratio", have_exp && expected > 0,
                         expected > 0 ? delivered / expected : 0);

    double *pr = b->nplayers ? malloc((size_t)b->nplayers * sizeof *pr) : NULL;
    if (have_exp && per_player_exp_bytes > 0 && pr) {
        for (int i = 0; i < b->nplayers; i++)
            pr[i] = (double)b->players[i].win_bytes / per_player_exp_bytes;
        qsort(pr, (size_t)b->nplayers, sizeof *pr, cmp_double);
        size_t k1 = (size_t)ceil(0.01 * b->nplayers), k50 = (size_t)ceil(0.5 * b->nplayers);
        cJSON *x = cJSON_AddObjectToObject(o, "player_ratio");
        cJSON_AddNumberToObject(x, "min", round3(pr[0]));
        cJSON_AddNumberToObject(x, "p1", round3(pr[k1 ? k1 - 1 : 0]));
        cJSON_AddNumberToObject(x, "p50", round3(pr[k50 ? k50 - 1 : 0]));
    } else {
        cJSON_AddNullToObject(o, "player_ratio");
    }
    free(pr);

    size_t nttff = b->nttff;
    pct_t ttff = percentiles(b->ttff, nttff);
    add_pct(o, "ttff_ms", ttff, 1);
    cJSON_AddNumberToObject(cJSON_GetObjectItem(o, "ttff_ms"), "count", (double)nttff);

    int ok = 0;
    for (int i = 0; i < b->nplayers; i++)
        ok += b->players[i].key_start;
    cJSON *ks = cJSON_AddObjectToObject(o, "keyframe_starts");
    cJSON_AddNumberToObject(ks, "ok", ok);
    cJSON_AddNumberToObject(ks, "total", b->nplayers);

    if (b->has_pub) {
        pct_t lat = percentiles(b->lat, b->nlat);
        add_pct(o, "latency_ms", lat, 1);
        cJSON *l = cJSON_GetObjectItem(o, "latency_ms");
        cJSON_AddNumberToObject(l, "samples", (double)b->nlat);
        cJSON_AddNumberToObject(l, "unmatched", (double)b->lat_unmatched);
        if (b->lat_dropped)
            cJSON_AddNumberToObject(l, "dropped", (double)b->lat_dropped);
    } else {
        cJSON_AddNullToObject(o, "latency_ms");
    }

    cJSON *errs = cJSON_AddObjectToObject(o, "errors");
    cJSON *ex = cJSON_AddObjectToObject(o, "error_examples");
    for (int i = 0; i < ERR_COUNT; i++) {
        if (!b->errors[i])
            continue;
        cJSON_AddNumberToObject(errs, ERR_NAMES[i], (double)b->errors[i]);
        cJSON_AddStringToObject(ex, ERR_NAMES[i], b->err_example[i]);
    }

    uint64_t pmin = UINT64_MAX, pmax = 0;
    for (int i = 0; i < b->nplayers; i++) {
        uint64_t v = b->players[i].bytes;
        pmin = v < pmin ? v : pmin;
        pmax = v > pmax ? v : pmax;
    }
    cJSON *by = cJSON_AddObjectToObject(o, "bytes");
    cJSON_AddNumberToObject(by, "total", (double)b->total_bytes);
    cJSON_AddNumberToObject(by, "window", (double)b->win_bytes);
    cJSON_AddNumberToObject(by, "per_player_min", b->nplayers ? (double)pmin : 0);
    cJSON_AddNumberToObject(by, "per_player_max", (double)pmax);

    if (b->has_pub) {
        cJSON *p = cJSON_AddObjectToObject(o, "publisher");
        cJSON_AddStringToObject(p, "url", b->pub_url_text);
        cJSON_AddNumberToObject(p, "messages", (double)b->pub_msgs);
        cJSON_AddNumberToObject(p, "bytes", (double)b->pub_bytes);
        cJSON_AddNumberToObject(p, "loops", (double)b->loops);
        json_add_num_or_null(p, "kbps", win_s > 0,
                             win_s > 0 ? (double)b->win_pub_bytes * 8 / win_s / 1000 : 0);
    } else {
        cJSON_AddNullToObject(o, "publisher");
    }
    cJSON *bt = cJSON_AddObjectToObject(o, "batch");
    cJSON_AddNumberToObject(bt, "ticks", (double)b->ticks);
    cJSON_AddNumberToObject(bt, "mean_ms",
                            b->ticks ? round3((double)b->tick_total_us / b->ticks / 1000) : 0);
    cJSON_AddNumberToObject(bt, "max_ms", round3((double)b->tick_max_us / 1000));
    double cpu = cpu_seconds() - b->cpu0_s, wall = (double)(now_us - b->t0_us) / 1e6;
    cJSON_AddNumberToObject(o, "bench_cpu_s", round3(cpu));
    json_add_num_or_null(o, "bench_cpu_pct", wall >= 0.1, wall > 0 ? cpu / wall * 100 : 0);
    cJSON_AddNumberToObject(o, "duration_s", round3(win_s));
    if (b->fatal)
        cJSON_AddStringToObject(o, "error", b->fatal_msg);

    if (b->per_player) {
        cJSON *arr = cJSON_AddArrayToObject(o, "per_player");
        for (int i = 0; arr && i < b->nplayers; i++) {
            const conn_t *c = &b->players[i];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "id", c->id);
            cJSON_AddBoolToObject(x, "probe", c->probe);
            cJSON_AddNumberToObject(x, "bytes", (double)c->bytes);
            cJSON_AddNumberToObject(x, "window_bytes", (double)c->win_bytes);
            json_add_num_or_null(x, "ttff_ms", c->got_video, c->ttff_ms);
            cJSON_AddBoolToObject(x, "keyframe_start", c->key_start);
            if (c->err)
                cJSON_AddStringToObject(x, "error", ERR_NAMES[c->err - 1]);
            else
                cJSON_AddNullToObject(x, "error");
            cJSON_AddItemToArray(arr, x);
        }
    }
    print_json(o);
}

/* ---- the loop ----------------------------------------------------------- */

static void open_window(bench_t *b)
{
    batch_tick(b); /* what arrived before the window is not counted in it */
    int64_t now = mono_us();
    b->in_window = 1;
    b->pub_hold = 0;
    b->window_start_us = now;
    b->phase = PH_MEASURE;
    b->phase_deadline_us = now + (int64_t)(b->duration_s * 1e6);
}

static void close_window(bench_t *b)
{
    if (!b->has_pub)
        b->window_end_us = mono_us();
    batch_tick(b); /* count what arrived up to the end */
    b->in_window = 0;
    b->phase = PH_DONE;
}

static void drain_start(bench_t *b, phase_t ph, int64_t now)
{
    b->pub_hold = 1;
    b->phase = ph;
    b->phase_deadline_us = now + (int64_t)BENCH_DRAIN_MAX_MS * 1000;
    b->drain_bytes = b->total_bytes;
    b->drain_change_us = now;
}

/* 1 once no media arrived for two batch periods (or the drain bound
 * passed). */
static int drained(bench_t *b, int64_t now)
{
    if (b->total_bytes != b->drain_bytes) {
        b->drain_bytes = b->total_bytes;
        b->drain_change_us = now;
    }
    int64_t quiet_us = (int64_t)b->batch_ms * 2000 + 10000;
    return now - b->drain_change_us >= quiet_us || now >= b->phase_deadline_us;
}

/* Phase changes and the ramp. */
static void advance(bench_t *b, int64_t now)
{
    switch (b->phase) {
    case PH_PUB_SETUP:
        if (b->pub.state == ST_LIVE) {
            b->phase = PH_WARMUP;
            b->phase_deadline_us = now + (int64_t)(b->warmup_s * 1e6);
        } else if (now >= b->phase_deadline_us) {
            conn_fail(b, &b->pub, ERR_SETUP_TIMEOUT, "not publishing within %d ms (%s)",
                      b->setup_timeout_ms, state_name(b->pub.state));
        }
        break;
    case PH_WARMUP:
        if (now < b->phase_deadline_us)
            break;
        b->phase = PH_RAMP;
        b->ramp_start_us = now;
        /* fall through */
    case PH_RAMP: {
        double due = 1.0 + (double)(now - b->ramp_start_us) / 1e6 * b->ramp;
        int n = due >= b->nplayers ? b->nplayers : (int)due;
        while (b->n_started < n)
            player_start(b, &b->players[b->n_started], mono_us());
        if (b->n_started < b->nplayers)
            break;
        b->phase = PH_SETTLE;
        b->phase_deadline_us = now + (int64_t)b->setup_timeout_ms * 1000;
    }
        /* fall through */
    case PH_SETTLE:
        if (b->n_settled < b->nplayers && now < b->phase_deadline_us)
            break;
        if (b->has_pub)
            drain_start(b, PH_DRAIN_IN, now);
        else
            open_window(b);
        break;
    case PH_DRAIN_IN:
        if (drained(b, now))
            open_window(b);
        break;
    case PH_MEASURE:
        if (now < b->phase_deadline_us)
            break;
        if (b->has_pub) {
            b->window_end_us = now; /* the publisher's sends end here */
            drain_start(b, PH_DRAIN_OUT, now);
        } else {
            close_window(b);
        }
        break;
    case PH_DRAIN_OUT:
        if (drained(b, now))
            close_window(b);
        break;
    case PH_DONE: break;
    }
}

/* When the loop must wake up next for the timeline. */
static int64_t next_wakeup(const bench_t *b)
{
    int64_t t = b->next_report_us;
    if (b->next_batch_us < t)
        t = b->next_batch_us;
    int64_t pub = pub_next_due(b);
    if (pub < t)
        t = pub;
    if (b->phase == PH_RAMP) {
        int64_t r = b->ramp_start_us + (int64_t)((double)b->n_started / b->ramp * 1e6);
        if (r < t)
            t = r;
    } else if (b->phase != PH_DONE && b->phase_deadline_us < t) {
        t = b->phase_deadline_us;
    }
    return t < b->hard_deadline_us ? t : b->hard_deadline_us;
}

/* Runs the timeline. Returns 0 when the run completed, else 1. */
static int run(bench_t *b)
{
    struct epoll_event ev[BENCH_FAST_EVENTS];
    int64_t batch_us = (int64_t)b->batch_ms * 1000;
    while (b->phase != PH_DONE && !b->fatal && !tool_stop_requested()) {
        int64_t now = mono_us();
        if (now >= b->hard_deadline_us) {
            snprintf(b->fatal_msg, sizeof b->fatal_msg, "time bound reached in phase %s",
                     PHASE_NAMES[b->phase]);
            b->fatal = 1;
            break;
        }
        int64_t wake = next_wakeup(b);
        int timeout = wake <= now ? 0 : (int)((wake - now + 999) / 1000);
        int n = epoll_wait(b->ep_fast, ev, BENCH_FAST_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            snprintf(b->fatal_msg, sizeof b->fatal_msg, "epoll_wait: %s", strerror(errno));
            b->fatal = 1;
            break;
        }
        for (int i = 0; i < n; i++)
            conn_event(b, ev[i].data.ptr, ev[i].events);
        now = mono_us();
        if (now >= b->next_batch_us) {
            batch_tick(b);
            b->next_batch_us += batch_us;
            if (b->next_batch_us <= now)
                b->next_batch_us = now + batch_us;
        }
        pub_pump(b, now);
        advance(b, now);
        now = mono_us();
        if (now >= b->next_report_us) {
            check_setup_timeouts(b, now);
            report_second(b, now);
            b->next_report_us += 1000000;
            if (b->next_report_us <= now)
                b->next_report_us = now + 1000000;
        }
    }
    if (tool_stop_requested() && !b->fatal) {
        snprintf(b->fatal_msg, sizeof b->fatal_msg, "interrupted in phase %s",
                 PHASE_NAMES[b->phase]);
        b->fatal = 1;
    }
    return b->fatal ? 1 : 0;
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
            conn_release(&b->players[i]);
        free(b->players);
    }
    conn_release(&b->pub);
    if (b->ep_fast >= 0)
        close(b->ep_fast);
    if (b->ep_batch >= 0)
        close(b->ep_batch);
    pub_free_tags(b);
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
static int parse_args(bench_t *b, int argc, char **argv)
{
    static const struct option opts[] = {
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
        {NULL, 0, NULL, 0}};
    long l;
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":hq", opts, NULL)) != -1) {
        switch (opt) {
        case 'h': usage(stdout); return 1;
        case 'q': b->quiet = 1; break;
        case OPT_PLAYERS:
            if (parse_long("--players", optarg, 0, BENCH_MAX_PLAYERS, &l))
                return 2;
            b->nplayers = (int)l;
            break;
        case OPT_URL: b->url_text = optarg; break;
        case OPT_RAMP:
            if (parse_double("--ramp", optarg, 0.1, 1e6, &b->ramp))
                return 2;
            break;
        case OPT_DURATION:
            if (parse_double("--duration", optarg, 0.1, 86400, &b->duration_s))
                return 2;
            break;
        case OPT_PROBES:
            if (parse_long("--probes", optarg, 0, BENCH_MAX_PLAYERS, &l))
                return 2;
            b->nprobes = (int)l;
            break;
        case OPT_BATCH_MS:
            if (parse_long("--batch-ms", optarg, 1, 1000, &l))
                return 2;
            b->batch_ms = (int)l;
            break;
        case OPT_EXPECTED:
            if (parse_double("--expected-kbps", optarg, 0.001, 1e9, &b->expected_kbps))
                return 2;
            break;
        case OPT_PUBLISH: b->pub_file = optarg; break;
        case OPT_PUBLISH_URL: b->pub_url_text = optarg; break;
        case OPT_WARMUP:
            if (parse_double("--warmup", optarg, 0, 3600, &b->warmup_s))
                return 2;
            break;
        case OPT_SETUP_TIMEOUT:
            if (parse_long("--setup-timeout", optarg, 100, 600000, &l))
                return 2;
            b->setup_timeout_ms = (int)l;
            break;
        case OPT_JSON_EVERY: b->json_every_second = 1; break;
        case OPT_COMPLEX: b->complex_hs = 1; break;
        case OPT_PER_PLAYER: b->per_player = 1; break;
        case ':':
            fprintf(stderr, "weir-bench: option %s needs a value (see --help)\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "weir-bench: unknown option %s (see --help)\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "weir-bench: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
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

    int64_t now = mono_us();
    b->t0_us = b->last_report_us = now;
    b->next_report_us = now + 1000000;
    b->next_batch_us = now + (int64_t)b->batch_ms * 1000;
    b->cpu0_s = b->last_cpu_s = cpu_seconds();
    int64_t bound_ms = (int64_t)(b->nplayers / b->ramp * 1000) + b->setup_timeout_ms +
                       (int64_t)(b->duration_s * 1000) + BENCH_GRACE_MS;
    if (b->has_pub) {
        bound_ms += b->setup_timeout_ms + (int64_t)(b->warmup_s * 1000) + 2 * BENCH_DRAIN_MAX_MS;
        b->phase = PH_PUB_SETUP;
        b->phase_deadline_us = now + (int64_t)b->setup_timeout_ms * 1000;
        conn_open(b, &b->pub, &b->pub_url);
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
    if (b.has_pub && pub_load(&b, b.pub_file) != 0)
        return 1;
    if (raise_fd_limit(b.nplayers) != 0) {
        pub_free_tags(&b);
        return 1;
    }
    tool_install_stop_signals();

    if (bench_setup(&b) != 0) {
        bench_free(&b);
        return 1;
    }
    rc = run(&b);
    int64_t now = mono_us();
    if (b.in_window) {
        b.in_window = 0;
        if (!b.window_end_us)
            b.window_end_us = now;
    }
    if (b.fatal)
        fprintf(stderr, "weir-bench: %s\n", b.fatal_msg);
    print_final(&b, now);
    bench_free(&b);
    return rc;
}
