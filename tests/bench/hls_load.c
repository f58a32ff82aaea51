/* hls_load: the C load generator of tests/bench/hls_cpu.py (LL-HLS players
 * against HTTP-FLV players of the same stream), so that Python is not the
 * limit at 1000 players.
 *
 * Not part of the node. hls_cpu.py builds it with `cc -O2` like run.sh
 * builds ref_server.c.
 *
 *   hls_load flv|hls|seg PORT APP NAME N WARMUP_S MEASURE_S [PLAYLIST]
 *
 * flv: N connections send `GET /APP/NAME.flv HTTP/1.1` and read everything.
 * hls: N LL-HLS players, one keep-alive connection each, one request at a
 * time, the way hls.js plays at the live edge in low-latency mode: the first
 * playlist (GET PLAYLIST, default /APP/NAME.m3u8; /APP/NAME/index.fmp4.m3u8
 * for fMP4) starts a session (its token is taken from the URIs); the last
 * listed part is fetched (after the EXT-X-MAP init segment when there is one
 * and it changed), then every part listed after the last fetched one, then a
 * blocking reload (?hls_session=T&_HLS_msn=M&_HLS_part=P for the
 * EXT-X-PRELOAD-HINT part), and so on.
 * seg: N classic HLS players (whole segments, any server: Weir without parts,
 * nginx-rtmp's files served by nginx): the last listed segment first, then
 * every segment after the last fetched one (numbered by
 * EXT-X-MEDIA-SEQUENCE), the playlist reloaded like hls.js does: one target
 * duration after a reload that brought a new segment, half of one after one
 * that did not.
 * URIs are fetched as listed, resolved against the playlist's directory.
 * Bounded: a playlist body at most 256 KB, at most 64 parts or segments
 * queued per player, a URI at most 255 bytes; a player whose connection fails
 * reconnects (counted).
 *
 * On stdout: "WINDOW_START" when the warm-up ends, then one JSON line at the
 * end of the window (bytes: every byte received; media: bodies of parts,
 * segments and init segments, or every byte for flv; per-player media bytes
 * of the window: min, p1, p50; requests; errors; this tool's own CPU seconds
 * in the window). Single-threaded, epoll. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEAD 4096
#define MAX_PLAYLIST (256 * 1024)
#define MAX_QUEUE 64
#define SCRATCH (256 * 1024)
#define MAX_URI 256

enum { R_NONE, R_PLAYLIST, R_PART };
enum { M_FLV, M_HLS, M_SEG };

typedef struct {
    int fd;
    int req;          /* what the outstanding request is */
    int in_body;
    size_t head_len;
    long status;
    uint64_t body_left;
    char *pl;          /* playlist body being read */
    size_t pl_len;
    char token[40];
    int have_last;
    uint64_t last_msn; /* last part (segment) fetched, if have_last */
    unsigned last_part;
    uint64_t media_win; /* media bytes received since the window opened */
    int64_t pl_at_ms;   /* seg: when the last playlist arrived */
    int pl_changed;     /* seg: it listed a new segment */
    char map_uri[MAX_URI];     /* EXT-X-MAP last fetched (or queued) */
    char map_pending[MAX_URI]; /* to fetch before the next part, if set */
    uint64_t hint_msn;
    unsigned hint_part;
    int have_hint;
    int nq, qi;
    uint64_t q_msn[MAX_QUEUE];
    unsigned q_part[MAX_QUEUE];
    char q_uri[MAX_QUEUE][MAX_URI];
    int64_t retry_at_ms; /* > 0: reload then */
    char head[MAX_HEAD];
} player_t;

static int g_hls, g_mode, g_port, g_ep, g_target_s = 2;
static const char *g_app, *g_name;
static char g_playlist[300], g_base[300]; /* playlist path, its directory ("/…/") */
static uint64_t g_bytes, g_media, g_requests, g_reconnects, g_status_err, g_skipped;

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static void send_all(player_t *p, const char *s, size_t n) {
    while (n > 0) { /* requests are small: the socket buffer takes them */
        ssize_t w = send(p->fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) return; /* the read side sees the error */
        s += w;
        n -= (size_t)w;
    }
}

static void request(player_t *p, int what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void request(player_t *p, int what, const char *fmt, ...) {
    char path[512], buf[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    int n = snprintf(buf, sizeof buf, "GET %s HTTP/1.1\r\nHost: bench\r\nUser-Agent: hls_load\r\n\r\n", path);
    p->req = what;
    p->in_body = 0;
    p->head_len = 0;
    g_requests++;
    send_all(p, buf, (size_t)n);
}

/* A plain playlist request (with the session token once there is one). */
static void reload(player_t *p) {
    if (p->token[0])
        request(p, R_PLAYLIST, "%s?hls_session=%s", g_playlist, p->token);
    else
        request(p, R_PLAYLIST, "%s", g_playlist);
}

/* dst = uri [u, u+n) resolved against the playlist's directory; -1: too long. */
static int resolve(char *dst, const char *u, size_t n) {
    const char *base = u[0] == '/' ? "" : g_base;
    if (strlen(base) + n >= MAX_URI) return -1;
    snprintf(dst, MAX_URI, "%s%.*s", base, (int)n, u);
    return 0;
}

static void connect_player(player_t *p) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (p->fd < 0 || connect(p->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        exit(2);
    }
    int one = 1;
    setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = p};
    epoll_ctl(g_ep, EPOLL_CTL_ADD, p->fd, &ev);
    if (g_hls) {
        p->nq = p->qi = 0;
        reload(p);
    } else {
        char buf[300];
        int n = snprintf(buf, sizeof buf, "GET /%s/%s.flv HTTP/1.1\r\nHost: bench\r\n\r\n", g_app, g_name);
        send_all(p, buf, (size_t)n);
    }
}

static void reconnect(player_t *p) {
    g_reconnects++;
    epoll_ctl(g_ep, EPOLL_CTL_DEL, p->fd, NULL);
    close(p->fd);
    free(p->pl);
    p->pl = NULL;
    connect_player(p);
}

/* "…/MSN.PART.ts?…" or "…/MSN.PART.m4s…": the numbers after the last '/'. */
static int uri_part(const char *uri, uint64_t *msn, unsigned *part) {
    const char *s = strrchr(uri, '/');
    s = s ? s + 1 : uri;
    unsigned long long m;
    return sscanf(s, "%llu.%u.", &m, part) == 2 ? (*msn = m, 0) : -1;
}

static int after(uint64_t m1, unsigned p1, uint64_t m2, unsigned p2) {
    return m1 > m2 || (m1 == m2 && p1 > p2);
}

static void take_token(player_t *p, const char *u) {
    const char *tok = strstr(u, "hls_session=");
    if (tok && !p->token[0]) {
        size_t n = strcspn(tok + 12, "\"&\r\n");
        if (n < sizeof p->token) memcpy(p->token, tok + 12, n), p->token[n] = 0;
    }
}

static void push(player_t *p, uint64_t m, unsigned pt, const char *u, size_t n) {
    if (p->nq == MAX_QUEUE) { /* keep the newest */
        memmove(p->q_msn, p->q_msn + 1, sizeof p->q_msn[0] * (MAX_QUEUE - 1));
        memmove(p->q_part, p->q_part + 1, sizeof p->q_part[0] * (MAX_QUEUE - 1));
        memmove(p->q_uri, p->q_uri + 1, sizeof p->q_uri[0] * (MAX_QUEUE - 1));
        p->nq--;
        g_skipped++;
    }
    if (resolve(p->q_uri[p->nq], u, n) != 0) return;
    p->q_msn[p->nq] = m, p->q_part[p->nq] = pt, p->nq++;
}

/* LL-HLS: EXT-X-MAP, EXT-X-PART and EXT-X-PRELOAD-HINT lines. */
static void parse_ll_line(player_t *p, char *line) {
    int is_part = strncmp(line, "#EXT-X-PART:", 12) == 0;
    int is_hint = strncmp(line, "#EXT-X-PRELOAD-HINT:", 20) == 0;
    int is_map = strncmp(line, "#EXT-X-MAP:", 11) == 0;
    char *u = strstr(line, "URI=\"");
    if ((!is_part && !is_hint && !is_map) || !u) return;
    u += 5;
    size_t n = strcspn(u, "\"");
    take_token(p, u);
    if (is_map) {
        char r[MAX_URI];
        if (resolve(r, u, n) == 0 && strcmp(r, p->map_uri) != 0) {
            memcpy(p->map_uri, r, MAX_URI);
            memcpy(p->map_pending, r, MAX_URI);
        }
        return;
    }
    uint64_t m;
    unsigned pt;
    if (uri_part(u, &m, &pt) != 0) return;
    if (is_hint)
        p->hint_msn = m, p->hint_part = pt, p->have_hint = 1;
    else if (!p->have_last || after(m, pt, p->last_msn, p->last_part))
        push(p, m, pt, u, n);
}

static void parse_playlist(player_t *p) {
    p->nq = p->qi = 0;
    p->have_hint = 0;
    uint64_t seq = 0, idx = 0;
    int had_last = p->have_last;
    char *save = NULL;
    for (char *line = strtok_r(p->pl, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line[strcspn(line, "\r")] = 0;
        if (g_mode == M_HLS) {
            parse_ll_line(p, line);
        } else if (strncmp(line, "#EXT-X-MEDIA-SEQUENCE:", 22) == 0) {
            seq = strtoull(line + 22, NULL, 10);
        } else if (strncmp(line, "#EXT-X-TARGETDURATION:", 22) == 0) {
            int t = atoi(line + 22);
            if (t > 0 && t < 60) g_target_s = t;
        } else if (line[0] && line[0] != '#') {
            uint64_t m = seq + idx++;
            take_token(p, line);
            if (!p->have_last || m > p->last_msn) push(p, m, 0, line, strlen(line));
        }
    }
    if (g_mode == M_SEG) {
        p->pl_changed = p->nq > 0;
        p->pl_at_ms = now_ms();
    }
    if (!had_last && p->nq > 1) { /* joining: start at the last part (segment) */
        p->q_msn[0] = p->q_msn[p->nq - 1], p->q_part[0] = p->q_part[p->nq - 1];
        memcpy(p->q_uri[0], p->q_uri[p->nq - 1], MAX_URI);
        p->nq = 1;
    }
}

static void next_request(player_t *p) {
    if (p->map_pending[0] && p->qi < p->nq) {
        request(p, R_PART, "%s", p->map_pending);
        p->map_pending[0] = 0;
    } else if (p->qi < p->nq) {
        int i = p->qi++;
        p->last_msn = p->q_msn[i], p->last_part = p->q_part[i], p->have_last = 1;
        request(p, R_PART, "%s", p->q_uri[i]);
    } else if (g_mode == M_HLS && p->have_hint) {
        request(p, R_PLAYLIST, "%s?hls_session=%s&_HLS_msn=%llu&_HLS_part=%u", g_playlist, p->token,
                (unsigned long long)p->hint_msn, p->hint_part);
    } else if (g_mode == M_SEG && p->pl_at_ms) {
        p->req = R_NONE; /* hls.js: a target duration after a change, half of one after none */
        p->retry_at_ms = p->pl_at_ms + (p->pl_changed ? 1000 : 500) * g_target_s;
    } else {
        p->req = R_NONE;
        p->retry_at_ms = now_ms() + 200;
    }
}

static void answered(player_t *p) {
    if (p->status != 200) {
        g_status_err++;
        if (p->req == R_PART) {
            next_request(p); /* e.g. slid out: skip it */
        } else {
            p->req = R_NONE;
            p->retry_at_ms = now_ms() + 200;
        }
    } else if (p->req == R_PLAYLIST) {
        parse_playlist(p);
        next_request(p);
    } else {
        next_request(p);
    }
    free(p->pl);
    p->pl = NULL;
}

/* Feeds received bytes to the HTTP response parser. -1: reconnect. */
static int hls_input(player_t *p, const char *d, size_t n) {
    while (n > 0) {
        if (!p->in_body) {
            size_t take = 0;
            char *end = NULL;
            while (take < n && !end) {
                if (p->head_len == MAX_HEAD - 1) return -1;
                p->head[p->head_len++] = d[take++];
                p->head[p->head_len] = 0;
                if (p->head_len >= 4 && memcmp(p->head + p->head_len - 4, "\r\n\r\n", 4) == 0)
                    end = p->head;
            }
            d += take, n -= take;
            if (!end) return 0;
            char *cl = strcasestr(p->head, "\r\nContent-Length:");
            p->status = strtol(p->head + 9, NULL, 10);
            p->body_left = cl ? strtoull(cl + 17, NULL, 10) : 0;
            p->in_body = 1;
            if (p->req == R_PLAYLIST && p->status == 200) {
                if (p->body_left >= MAX_PLAYLIST) return -1;
                p->pl = malloc(p->body_left + 1);
                p->pl_len = 0;
                if (!p->pl) return -1;
            }
        }
        size_t take = n < p->body_left ? n : (size_t)p->body_left;
        if (p->pl) memcpy(p->pl + p->pl_len, d, take), p->pl_len += take;
        if (p->req == R_PART && p->status == 200) g_media += take, p->media_win += take;
        d += take, n -= take;
        p->body_left -= take;
        if (p->body_left == 0) {
            if (p->pl) p->pl[p->pl_len] = 0;
            answered(p);
        }
    }
    return 0;
}

static void on_readable(player_t *p, char *scratch) {
    for (int i = 0; i < 4; i++) {
        ssize_t r = recv(p->fd, scratch, SCRATCH, MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (r <= 0) {
            reconnect(p);
            return;
        }
        g_bytes += (uint64_t)r;
        if (!g_hls) {
            g_media += (uint64_t)r;
            p->media_win += (uint64_t)r;
        } else if (hls_input(p, scratch, (size_t)r) != 0) {
            reconnect(p);
            return;
        }
    }
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 8 && argc != 9) {
        fprintf(stderr, "usage: hls_load flv|hls|seg PORT APP NAME N WARMUP_S MEASURE_S [PLAYLIST]\n");
        return 2;
    }
    g_mode = strcmp(argv[1], "hls") == 0 ? M_HLS : strcmp(argv[1], "seg") == 0 ? M_SEG : M_FLV;
    g_hls = g_mode != M_FLV;
    if (argc == 9)
        snprintf(g_playlist, sizeof g_playlist, "%s", argv[8]);
    else
        snprintf(g_playlist, sizeof g_playlist, "/%s/%s.m3u8", argv[3], argv[4]);
    snprintf(g_base, sizeof g_base, "%s", g_playlist);
    *(strrchr(g_base, '/') + 1) = 0;
    g_port = atoi(argv[2]);
    g_app = argv[3], g_name = argv[4];
    int n = atoi(argv[5]);
    double warm = atof(argv[6]), meas = atof(argv[7]);
    if (n <= 0 || n > 100000) return 2;
    struct rlimit rl = {(rlim_t)n + 64, (rlim_t)n + 64};
    setrlimit(RLIMIT_NOFILE, &rl);
    g_ep = epoll_create1(0);
    player_t *ps = calloc((size_t)n, sizeof *ps);
    char *scratch = malloc(SCRATCH);
    struct epoll_event *evs = malloc(sizeof *evs * 256);
    if (!ps || !scratch || !evs) return 2;
    for (int i = 0; i < n; i++) connect_player(&ps[i]);
    int64_t t0 = now_ms(), t_win = t0 + (int64_t)(warm * 1000), t_end = t_win + (int64_t)(meas * 1000);
    int64_t next_scan = t0;
    int in_win = 0;
    uint64_t b0 = 0, m0 = 0, r0 = 0, e0 = 0, c0 = 0;
    double cpu0 = 0;
    for (;;) {
        int64_t now = now_ms();
        if (!in_win && now >= t_win) {
            in_win = 1;
            b0 = g_bytes, m0 = g_media, r0 = g_requests, e0 = g_status_err, c0 = g_reconnects;
            for (int i = 0; i < n; i++) ps[i].media_win = 0;
            cpu0 = cpu_s();
            printf("WINDOW_START\n");
            fflush(stdout);
        }
        if (now >= t_end) break;
        if (now >= next_scan) {
            next_scan = now + 50;
            for (int i = 0; g_hls && i < n; i++)
                if (ps[i].req == R_NONE && ps[i].retry_at_ms && now >= ps[i].retry_at_ms) {
                    ps[i].retry_at_ms = 0;
                    ps[i].have_hint = 0;
                    reload(&ps[i]);
                }
        }
        int k = epoll_wait(g_ep, evs, 256, 20);
        for (int i = 0; i < k; i++) on_readable(evs[i].data.ptr, scratch);
    }
    double secs = (t_end - t_win) / 1000.0;
    uint64_t *pm = malloc(sizeof *pm * (size_t)n);
    if (!pm) return 2;
    for (int i = 0; i < n; i++) pm[i] = ps[i].media_win;
    qsort(pm, (size_t)n, sizeof *pm, cmp_u64);
    printf("{\"kind\": \"%s\", \"n\": %d, \"secs\": %.3f, \"bytes\": %llu, \"media\": %llu, "
           "\"player_media_min\": %llu, \"player_media_p1\": %llu, \"player_media_p50\": %llu, \"requests\": %llu, "
           "\"status_errors\": %llu, \"reconnects\": %llu, \"parts_skipped\": %llu, \"tool_cpu_s\": %.3f}\n",
           argv[1], n, secs, (unsigned long long)(g_bytes - b0), (unsigned long long)(g_media - m0),
           (unsigned long long)pm[0], (unsigned long long)pm[n / 100], (unsigned long long)pm[n / 2],
           (unsigned long long)(g_requests - r0), (unsigned long long)(g_status_err - e0),
           (unsigned long long)(g_reconnects - c0), (unsigned long long)g_skipped, cpu_s() - cpu0);
    fflush(stdout);
    return 0;
}
