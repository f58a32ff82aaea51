/* bench: the parts of weir-bench (tools/weir_bench.c: options, setup,
 * main) shared by its files in tools/bench/:
 *   util.c       small helpers: clocks, content hash, percentiles, names
 *   net.c        connections: output queue, epoll registration, connect, read, teardown
 *   rtmp.c       the RTMP client role on the shared state machine (rtmp_proto_client.h)
 *   http.c       the HTTP-FLV client role: request, response head, chunked body, FLV tags
 *   ws.c         the WebSocket-FLV client role (ws://, wss://): upgrade, frames, ping, close
 *   players.c    players: media accounting, latency samples, the fast and batch sets
 *   publisher.c  the in-process publisher: FLV file load, real-time pacing, content hashes
 *   report.c     per-second and final JSON reports
 *   loop.c       the timeline (publish, warmup, ramp, settle, drain, measure) and the event loop
 * The types (one bench_t per run, one conn_t per connection) and the
 * functions one file calls in another; everything else is static.
 *
 * Ownership: main() owns the bench_t; the bench_t owns its players, the
 * publisher's tags and every buffer a conn_t points to.
 * Threads: weir-bench has one thread; nothing here is thread-safe.
 */
#ifndef WEIR_TOOLS_BENCH_H
#define WEIR_TOOLS_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "common.h"
#include "flv.h"
#include "rtmp_handshake.h"
#include "rtmp_proto_client.h"
#include "tool_tls.h"
#include "url.h"
#include "wsc.h"

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

typedef enum { PROTO_RTMP, PROTO_HTTP, PROTO_WS } proto_t;

typedef struct {
    proto_t proto;
    int tls; /* rtmps://, https://, wss:// */
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
    ST_TLS,        /* rtmps://, https://, wss://: TLS handshake */
    ST_HANDSHAKE,  /* RTMP handshake */
    ST_CONNECT,    /* RTMP connect sent, waiting for its _result */
    ST_CREATE,     /* RTMP createStream sent */
    ST_START,      /* RTMP play / publish sent, waiting for onStatus */
    ST_HTTP_HEAD,  /* HTTP (or WebSocket upgrade) request sent, reading the response head */
    ST_LIVE,       /* playing (Play.Start, HTTP 200 or 101) or publishing (Publish.Start) */
    ST_CLOSED
} conn_state_t;

/* HTTP chunked transfer decoder stages. */
enum { CH_SIZE, CH_EXT, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_END };

/* Why a connection ended before the run did. */
typedef enum {
    ERR_CONNECT,       /* TCP connect failed */
    ERR_SETUP_TIMEOUT, /* not playing within --setup-timeout */
    ERR_HANDSHAKE,     /* RTMP, TLS (a certificate that does not verify) or WebSocket handshake failed */
    ERR_REFUSED,       /* connect, createStream or play refused */
    ERR_HTTP_STATUS,   /* an HTTP status other than 200 (WebSocket: 101) */
    ERR_PROTOCOL,      /* malformed data from the server */
    ERR_CLOSED,        /* the server closed the connection */
    ERR_IO,            /* socket error (reset, ...) */
    ERR_OVERFLOW,      /* the bounded output queue is full */
    ERR_NOMEM,         /* out of memory */
    ERR_COUNT
} err_reason_t;

struct bench_ws; /* ws.c */

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
    uint8_t tls_want_write; /* ST_TLS: the handshake waits for writability */
    SSL *ssl;               /* rtmps://, https://, wss://: the TLS session (tool_tls.h) */
    struct bench_ws *ws;    /* ws://, wss://: the WebSocket state (ws.c) */
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

/* Phase names for reports and errors, by phase_t. */
extern const char *const PHASE_NAMES[];

/* ---- util.c: small helpers: clocks, content hash, percentiles, names */
int64_t bench_mono_us(void);
double bench_cpu_seconds(void);
uint64_t bench_content_hash(uint8_t type, const uint8_t *p, size_t len);
int bench_cmp_double(const void *a, const void *b);
pct_t bench_percentiles(double *v, size_t n);
pct_t bench_percentiles_copy(const double *v, size_t n);
double bench_round3(double v);
const char *bench_state_name(uint8_t st);

/* ---- net.c: connections: output queue, epoll registration, connect, read, teardown */
void bench_conn_release(conn_t *c);
/* Ends a connection for a reason: counted (players) or fatal (publisher).
 * Returns -1. */
int bench_conn_fail(bench_t *b, conn_t *c, err_reason_t why, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
uint8_t *bench_out_reserve(bench_t *b, conn_t *c, size_t n);
/* Queues n bytes of output: 0, or -1 (the connection failed: over its bound). */
int bench_out_write(bench_t *b, conn_t *c, const uint8_t *p, size_t n);
int bench_conn_flush(bench_t *b, conn_t *c);
int bench_conn_open(bench_t *b, conn_t *c, const bench_url_t *u);
void bench_conn_event(bench_t *b, conn_t *c, uint32_t ev);

/* ---- rtmp.c: the RTMP client role on the shared state machine (rtmp_proto_client.h) */
int bench_rtmp_send(bench_t *b, conn_t *c, uint32_t csid, uint8_t type, uint32_t sid, uint32_t ts,
                    const uint8_t *p, uint32_t len);
const bench_url_t *bench_conn_url(const bench_t *b, const conn_t *c);
int bench_rtmp_begin(bench_t *b, conn_t *c);
void bench_go_live(bench_t *b, conn_t *c, int64_t now_us);
int bench_rtmp_input(bench_t *b, conn_t *c, const uint8_t *p, size_t len, int64_t now_us);

/* ---- http.c: the HTTP-FLV client role: request, response head, chunked body, FLV tags */
int bench_http_begin(bench_t *b, conn_t *c);
int bench_http_input(bench_t *b, conn_t *c, const uint8_t *p, size_t len, int64_t now_us);
/* FLV stream bytes of a player (HTTP body, WebSocket binary payloads) to
 * its FLV reader c->flv; tags to bench_player_media(). 0, or -1 (failed). */
int bench_flv_input(bench_t *b, conn_t *c, const uint8_t *p, size_t len, int64_t now_us);

/* ---- ws.c: the WebSocket-FLV client role (ws://, wss://): upgrade, frames, ping, close */
int bench_ws_begin(bench_t *b, conn_t *c);
int bench_ws_input(bench_t *b, conn_t *c, const uint8_t *p, size_t len, int64_t now_us);
/* Sends the close frame (best effort) if the player is live; frees c->ws. */
void bench_ws_release(conn_t *c);

/* ---- players.c: players: media accounting, latency samples, the fast and batch sets */
int bench_player_media(bench_t *b, conn_t *c, uint8_t type, const uint8_t *p, uint32_t len,
                       int64_t now_us);
void bench_player_start(bench_t *b, conn_t *c, int64_t now_us);
void bench_batch_tick(bench_t *b);
void bench_check_setup_timeouts(bench_t *b, int64_t now_us);

/* ---- publisher.c: the in-process publisher: FLV file load, real-time pacing, content hashes */
void bench_pub_free_tags(bench_t *b);
int bench_pub_load(bench_t *b, const char *path);
int64_t bench_pub_next_due(const bench_t *b);
void bench_pub_pump(bench_t *b, int64_t now_us);

/* ---- report.c: per-second and final JSON reports */
void bench_report_second(bench_t *b, int64_t now_us);
void bench_print_final(bench_t *b, int64_t now_us);

/* ---- loop.c: the timeline (publish, warmup, ramp, settle, drain, measure) and the event loop */
int bench_run(bench_t *b);

#endif
