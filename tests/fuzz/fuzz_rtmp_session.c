/* libFuzzer target: a whole RTMP publish session through the real server
 * code (sess_rtmp over conn, the hub, a libevent loop) while players read.
 *
 * The input is what a publishing client sends: C0+C1, C2, then chunks (the
 * seeds are recorded ffmpeg sessions: tests/fuzz/record_rtmp_session.py).
 * The custom mutator (rtmp_session_mutator.c) edits it chunk by chunk.
 * For each input:
 *  1. a node: node_new() with listeners on ephemeral loopback ports that
 *     nothing connects to, and HTTP-FLV players waiting for a stream;
 *  2. two players ask for live/x before it exists: an RTMP session and an
 *     HTTP/1.1 (chunked) HTTP-FLV session, each on a socketpair(AF_UNIX)
 *     whose server end is accepted as node.c does (conn_limits_admit, conn_new,
 *     start);
 *  3. the publisher, on another socketpair: the input is written in pieces
 *     whose sizes come from a hash of the input, and after each piece the
 *     loop runs (EVLOOP_NONBLOCK) until it settles. Every client end is
 *     read so the server never blocks. Partway, a third player joins in the
 *     harness (plain FLV through stream_player_iov/consumed, reading in
 *     bounded bites, or not at all until the end: a slow player);
 *  4. the publisher's end is shut (EOF: unpublish, grace period), then a
 *     tick 10 minutes ahead (hub_tick and each session's on_tick) runs out
 *     the grace period and every timeout;
 *  5. node_free() closes and frees everything (LeakSanitizer checks).
 *
 * Checks (abort() on failure): what the server sends the RTMP player parses
 * as a chunk stream, and the harness player's FLV tags are framed right
 * (PreviousTagSize = 11 + body). Logging is off unless WEIR_FUZZ_LOG names
 * a level ("debug") to study a reproducer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "amf0.h"
#include "cluster_admit.h"
#include "common.h"
#include "conn.h"
#include "flv.h"
#include "log.h"
#include "node.h"
#include "relay_admit.h"
#include "rtmp_chunk.h"
#include "rtmp_handshake.h"
#include "rtmp_session_mutator.h"
#include "sess_httpflv.h"
#include "sess_rtmp.h"

#define MAX_PIECES 256   /* the input is written in at most this many pieces */
#define SETTLE_ROUNDS 64 /* loop rounds per piece at most */
#define FUTURE_MS 600000 /* the final tick: 10 minutes ahead */
#define CLIENT_MAX_MSG (64u << 20)

/* ---- a client end: read and discarded, or checked ----------------------- */

typedef struct {
    int fd; /* -1 once closed */
    int eof;
    size_t hs_left;              /* RTMP: S0+S1+S2 bytes still to skip */
    rtmp_chunk_parser_t *parser; /* RTMP: checks the server's output */
} peer_t;

static void peer_check_rtmp(peer_t *p, const uint8_t *b, size_t n)
{
    size_t skip = n < p->hs_left ? n : p->hs_left;
    p->hs_left -= skip;
    b += skip;
    n -= skip;
    while (n) {
        size_t used = 0;
        rtmp_msg_t m;
        const char *err = NULL;
        parse_rc_t rc = rtmp_chunk_feed(p->parser, b, n, &used, &m, &err);
        if (rc != PARSE_OK && rc != PARSE_NEED_MORE) {
            fprintf(stderr, "fuzz_rtmp_session: the RTMP player got a bad chunk stream: %s\n", err);
            abort();
        }
        b += used;
        n -= used;
        if (rc == PARSE_NEED_MORE)
            break;
        if (m.type == RTMP_MSG_SET_CHUNK_SIZE && m.len >= 4 &&
            rtmp_chunk_parser_set_chunk_size(p->parser, rd_be32(m.payload) & 0x7fffffff) != 0)
            abort(); /* the server announced a chunk size out of range */
        free(m.payload);
    }
}

/* Reads what the server sent. Returns the byte count. */
static size_t peer_drain(peer_t *p)
{
    static uint8_t buf[64 * 1024];
    size_t total = 0;
    while (p->fd >= 0 && !p->eof) {
        ssize_t n = recv(p->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) {
            p->eof = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
            break;
        }
        if (p->parser)
            peer_check_rtmp(p, buf, (size_t)n);
        total += (size_t)n;
    }
    return total;
}

static void peer_close(peer_t *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    rtmp_chunk_parser_free(p->parser);
    p->parser = NULL;
}

/* ---- the harness player (plain FLV through the hub's cursor API) -------- */

typedef struct {
    player_t p;
    int started;  /* STARTED came, or stream_play() attached at once */
    int slow;     /* reads nothing until the end */
    size_t bite;  /* most bytes read per round */
    uint32_t rnd; /* how much of a bite is taken */
    uint8_t hdr[FLV_TAG_HEADER_SIZE + FLV_PREV_SIZE];
    size_t have; /* header or PreviousTagSize bytes gathered */
    size_t body; /* body bytes still to come */
    int in_prev; /* gathering the PreviousTagSize */
} hplayer_t;

static void hp_wake(player_t *p)
{
    (void)p;
}

static void hp_event(player_t *p, player_event_t ev)
{
    hplayer_t *hp = p->owner;
    if (ev == PLAYER_EV_STARTED)
        hp->started = 1;
}

static const player_ops_t HP_OPS = {hp_wake, hp_event};

/* Follows the FLV tag framing over n bytes. */
static void hp_check(hplayer_t *hp, const uint8_t *b, size_t n)
{
    while (n) {
        if (hp->body) {
            size_t k = n < hp->body ? n : hp->body;
            hp->body -= k, b += k, n -= k;
            continue;
        }
        size_t want = hp->in_prev ? FLV_PREV_SIZE : FLV_TAG_HEADER_SIZE;
        size_t k = n < want - hp->have ? n : want - hp->have;
        memcpy(hp->hdr + (hp->in_prev ? FLV_TAG_HEADER_SIZE : 0) + hp->have, b, k);
        hp->have += k, b += k, n -= k;
        if (hp->have < want)
            break;
        hp->have = 0;
        uint32_t size = rd_be24(hp->hdr + 1);
        if (hp->in_prev && rd_be32(hp->hdr + FLV_TAG_HEADER_SIZE) != size + FLV_TAG_HEADER_SIZE) {
            fprintf(stderr, "fuzz_rtmp_session: FLV tag of %u bytes, PreviousTagSize %u\n", size,
                    rd_be32(hp->hdr + FLV_TAG_HEADER_SIZE));
            abort();
        }
        hp->body = hp->in_prev ? 0 : size;
        hp->in_prev = !hp->in_prev;
    }
}

/* Reads up to a bite (everything when final). Returns the bytes read. */
static size_t hp_read(hplayer_t *hp, int final)
{
    size_t total = 0;
    int64_t now = weir_mono_ms();
    for (int round = 0; round < 64 && hp->p.attached && (final || !hp->slow); round++) {
        struct iovec iov[16];
        int n = stream_player_iov(&hp->p, iov, 16, hp->bite, now);
        if (n <= 0 || !hp->p.attached)
            break;
        size_t got = 0;
        for (int i = 0; i < n; i++)
            got += iov[i].iov_len;
        /* Takes all, or a part (a partial write). */
        hp->rnd = hp->rnd * 1103515245u + 12345u;
        if (!final && got > 1 && (hp->rnd >> 16) % 4 == 0)
            got -= (hp->rnd >> 8) % (got / 2);
        size_t left = got;
        for (int i = 0; i < n && left; i++) {
            size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;
            hp_check(hp, iov[i].iov_base, k);
            left -= k;
        }
        stream_player_consumed(&hp->p, got);
        total += got;
        if (!final)
            break;
    }
    return total;
}

/* ---- one run ------------------------------------------------------------ */

typedef struct {
    node_t *node;
    peer_t pub, rtmp_player, flv_player;
    hplayer_t hp;
    int hp_joined;
    uint64_t rnd;
} run_t;

static uint32_t run_rnd(run_t *r)
{
    r->rnd ^= r->rnd << 13;
    r->rnd ^= r->rnd >> 7;
    r->rnd ^= r->rnd << 17;
    return (uint32_t)(r->rnd >> 16);
}

/* What an RTMP player sends: C0+C1 and C2 (simple handshake), connect,
 * createStream, play live/x. Built once. */
static const uint8_t *player_request(size_t *len)
{
    static uint8_t req[RSM_HANDSHAKE_LEN + 1024];
    static size_t n;
    if (n) {
        *len = n;
        return req;
    }
    req[0] = 3; /* C0; C1 and C2 stay zero: time 0, version 0 (simple) */
    n = RSM_HANDSHAKE_LEN;
    for (int i = 0; i < 3; i++) {
        amf0_buf_t b;
        amf0_buf_init(&b);
        amf0_put_cstr(&b, i == 0 ? "connect" : i == 1 ? "createStream" : "play");
        amf0_put_number(&b, i + 1);
        if (i == 0) {
            amf0_put_object_start(&b);
            amf0_put_key(&b, "app");
            amf0_put_cstr(&b, "live");
            amf0_put_object_end(&b);
        } else {
            amf0_put_null(&b);
        }
        if (i == 2)
            amf0_put_cstr(&b, "x");
        size_t need = rtmp_chunk_encoded_size(3, 0, (uint32_t)b.len, RTMP_DEFAULT_CHUNK_SIZE);
        if (b.oom || need > sizeof req - n)
            abort();
        n += rtmp_chunk_encode(req + n, 3, RTMP_MSG_COMMAND_AMF0, i == 2 ? 1 : 0, 0, b.data,
                               (uint32_t)b.len, RTMP_DEFAULT_CHUNK_SIZE);
        amf0_buf_free(&b);
    }
    *len = n;
    return req;
}

/* A connection accepted the way node.c's listener callback does it, on a
 * socketpair: the server end goes to the node, the client end to p. */
static void accept_pair(run_t *r, peer_t *p, const conn_proto_t *proto, void (*start)(conn_t *))
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(40000 + (uint16_t)sv[0])};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    conn_limits_addr_t addr;
    limit_kind_t why;
    if (conn_limits_addr_from_sockaddr((struct sockaddr *)&sa, &addr) != 0 ||
        conn_limits_admit(r->node->limits, &addr, weir_mono_ms(), &why) != 0)
        abort();
    conn_t *c = conn_new(r->node, sv[0], (struct sockaddr *)&sa, sizeof sa, proto);
    if (!c)
        abort();
    start(c);
    memset(p, 0, sizeof *p);
    p->fd = sv[1];
}

/* Writes len bytes to a client end, as much as the socket takes. */
static size_t peer_send(peer_t *p, const uint8_t *b, size_t len)
{
    if (p->fd < 0 || p->eof || !len)
        return 0;
    ssize_t n = send(p->fd, b, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        p->eof = 1; /* the server closed */
    return n > 0 ? (size_t)n : 0;
}

/* Bytes written to p not read by the server yet. */
static int peer_unread(const peer_t *p)
{
    int n = 0;
    if (p->fd < 0 || p->eof || ioctl(p->fd, SIOCOUTQ, &n) != 0)
        return 0;
    return n;
}

/* Runs the loop until nothing moves: the server has read what was sent and
 * every client end is drained. */
static void settle(run_t *r, int final)
{
    for (int round = 0, quiet = 0; round < SETTLE_ROUNDS && quiet < 2; round++) {
        event_base_loop(r->node->base, EVLOOP_NONBLOCK);
        size_t moved = peer_drain(&r->pub) + peer_drain(&r->rtmp_player) +
                       peer_drain(&r->flv_player) + hp_read(&r->hp, final);
        quiet = moved || peer_unread(&r->pub) ? 0 : quiet + 1;
    }
}

/* The harness player asks for live/x (attached at the GOP cache when
 * live, else waiting). */
static void hp_join(run_t *r)
{
    hplayer_t *hp = &r->hp;
    hp->p.ops = &HP_OPS;
    hp->p.owner = hp;
    hp->p.enc = MSG_ENC_FLV;
    hp->slow = run_rnd(r) % 4 == 0;
    hp->bite = 1 + run_rnd(r) % (128 * 1024);
    hp->rnd = run_rnd(r);
    int rc = stream_play(r->node->hub, "live", "x", &hp->p, 10000, weir_mono_ms());
    hp->started = rc == 0;
    r->hp_joined = 1;
}

/* Calls every session's on_tick and the hub's tick at now_ms. */
static void tick(run_t *r, int64_t now_ms)
{
    conn_t *c, *next;
    for (c = TAILQ_FIRST(&r->node->conns); c; c = next) {
        next = TAILQ_NEXT(c, link);
        if (c->proto->on_tick)
            c->proto->on_tick(c, now_ms);
    }
    hub_tick(r->node->hub, now_ms);
}

static uint64_t fnv1a(const uint8_t *d, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ d[i]) * 1099511628211ull;
    return h;
}

/* The node's configuration; a few settings vary with the input's hash. */
static node_t *make_node(uint64_t h)
{
    static const uint32_t chunk_sizes[4] = {4096, 128, 65536, 4096};
    static const uint32_t gops[4] = {1, 0, 2, 1};
    static conf_t conf; /* 180 KB: made once */
    if (!conf.rtmp_chunk_size)
        conf_defaults(&conf);
    snprintf(conf.rtmp_listen, sizeof conf.rtmp_listen, "127.0.0.1:0");
    snprintf(conf.http_flv_listen, sizeof conf.http_flv_listen, "127.0.0.1:0");
    conf.http_flv_wait_for_stream = 1;
    conf.limits_max_connections = 16; /* a small address table to clear per input */
    conf.rtmp_chunk_size = chunk_sizes[h & 3];
    conf.stream_gop_cache = gops[(h >> 2) & 3];
    if ((h >> 4) & 1)
        conf.player_max_queue_bytes = 65536; /* the least allowed: slow players fall out */
    char err[256];
    node_t *node = node_new(&conf, err, sizeof err);
    if (!node) {
        fprintf(stderr, "fuzz_rtmp_session: %s\n", err);
        abort();
    }
    /* The admission chain the daemon runs (relay loop check, drain, rules,
     * hooks: none configured here). */
    if (relay_admit_install(node) != 0 || cluster_admit_install(node) != 0)
        abort();
    /* The node's SIGINT/SIGTERM handlers would swallow libFuzzer's: off. */
    event_del(&node->sigint_ev);
    event_del(&node->sigterm_ev);
    return node;
}

/* Size of the next piece of the publisher's input. */
static size_t piece_len(run_t *r, unsigned mode, size_t size)
{
    static const uint32_t most[4] = {64, 1024, 16384, 65536};
    size_t n = 1 + run_rnd(r) % most[mode];
    size_t least = size / MAX_PIECES + 1;
    return n < least ? least : n;
}

/* Writes the publisher's input in pieces, settling after each; the harness
 * player joins at join_at. */
static void publish(run_t *r, const uint8_t *data, size_t size, unsigned mode, size_t join_at)
{
    size_t off = 0;
    while (off < size && !r->pub.eof) {
        if (!r->hp_joined && off >= join_at)
            hp_join(r);
        size_t end = off + piece_len(r, mode, size);
        if (end > size)
            end = size;
        for (int tries = 0; off < end && !r->pub.eof && tries < SETTLE_ROUNDS; tries++) {
            off += peer_send(&r->pub, data + off, end - off);
            settle(r, 0);
        }
        if (off < end)
            break; /* the server stopped reading */
        hub_tick(r->node->hub, weir_mono_ms());
    }
    if (!r->hp_joined)
        hp_join(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        signal(SIGPIPE, SIG_IGN);
        log_level_t level;
        const char *env = getenv("WEIR_FUZZ_LOG");
        log_set_level(env && log_level_parse(env, &level) == 0 ? level
                                                               : (log_level_t)(LOG_ERROR + 1));
        ready = 1;
    }
    uint64_t h = fnv1a(data, size);
    run_t r = {.node = make_node(h), .rnd = h | 1};
    size_t plen;
    const uint8_t *preq = player_request(&plen);
    static const char get[] = "GET /live/x.flv HTTP/1.1\r\nHost: fuzz\r\n\r\n";
    accept_pair(&r, &r.rtmp_player, &SESS_RTMP_PROTO, sess_rtmp_start);
    r.rtmp_player.hs_left = 1 + 2 * RTMP_HS_SIZE;
    r.rtmp_player.parser = rtmp_chunk_parser_new(CLIENT_MAX_MSG, 64);
    accept_pair(&r, &r.flv_player, &SESS_HTTPFLV_PROTO, sess_httpflv_start);
    if (!r.rtmp_player.parser || peer_send(&r.rtmp_player, preq, plen) != plen ||
        peer_send(&r.flv_player, (const uint8_t *)get, sizeof get - 1) != sizeof get - 1)
        abort();
    settle(&r, 0);

    accept_pair(&r, &r.pub, &SESS_RTMP_PROTO, sess_rtmp_start);
    publish(&r, data, size, (unsigned)(h >> 8) & 3, (size_t)((h >> 16) % (size + 1)));
    shutdown(r.pub.fd, SHUT_WR);
    settle(&r, 1);
    tick(&r, weir_mono_ms() + FUTURE_MS);
    settle(&r, 1);
    tick(&r, weir_mono_ms() + 2 * FUTURE_MS);
    settle(&r, 1);

    stream_player_stop(&r.hp.p);
    node_free(r.node);
    peer_close(&r.pub);
    peer_close(&r.rtmp_player);
    peer_close(&r.flv_player);
    return 0;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    return rsm_mutate(data, size, max_size, seed);
}

size_t LLVMFuzzerCustomCrossOver(const uint8_t *d1, size_t s1, const uint8_t *d2, size_t s2,
                                 uint8_t *out, size_t max_out, unsigned int seed)
{
    return rsm_cross_over(d1, s1, d2, s2, out, max_out, seed);
}
