/* ref_server: the ideal HTTP-FLV fan-out reference of the benchmark.
 *
 * Not part of the node. tests/bench/run.sh builds it with `cc -O2` and runs
 * it next to Weir and nginx-rtmp, so that Weir's cost per delivered Gbit can
 * be read as a ratio to the kernel's cost of moving the same bytes.
 *
 *   ref_server [-l ADDR] [-p PORT] FILE.flv
 *
 * The FLV file is loaded into memory once. Its tags are paced in real time by
 * their timestamps and looped, the timestamps increasing from loop to loop.
 * Every tag (11-byte header, body, PreviousTagSize) is a slice of the loaded
 * file; before a tag is sent, its 4 timestamp bytes are patched in place,
 * once, and the same bytes go to every player with one write() each.
 *
 * A connection's first read must hold the request line ("GET " plus anything;
 * nothing else is parsed). The answer is one write: a minimal HTTP/1.0 200
 * (Content-Type video/x-flv, Connection: close, plain body), the FLV header,
 * onMetaData and the AVC and AAC sequence headers. The player then waits for
 * the next key frame and from there gets every tag.
 *
 * Per player: the socket and one byte of state (waiting for a key frame, or
 * live). There is no queue: a write that would block or is short closes the
 * player (counted as "dropped" in the summary on stderr at exit). Sockets get
 * a 4 MB send buffer so that a player that reads in batches does not hit this.
 *
 * Single-threaded, epoll plus a timerfd. SIGINT/SIGTERM print the summary
 * and exit 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define REF_SNDBUF (4 * 1024 * 1024)
#define REF_MAX_EVENTS 256

enum { TAG_AUDIO = 8, TAG_VIDEO = 9, TAG_SCRIPT = 18 };
enum { P_FREE = 0, P_REQUEST, P_WAIT_KEY, P_LIVE };

typedef struct {
    size_t off;  /* start of the tag header in the file */
    size_t len;  /* header + body + PreviousTagSize */
    uint32_t ts; /* rebased to the clip's first media tag */
    int key;     /* video key frame */
} ref_tag_t;

typedef struct {
    uint8_t *file;
    ref_tag_t *tags; /* media tags, in file order */
    size_t ntags;
    uint64_t loop_ms; /* clip length: the timestamp step between loops */
    uint8_t *head;    /* HTTP head + FLV header + metadata + seq headers */
    size_t head_len;

    uint8_t *state; /* indexed by fd */
    int *live;      /* fds in P_WAIT_KEY or P_LIVE, dense */
    int nlive;
    int maxfd;

    uint64_t accepted, dropped, closed, sent_msgs;
} ref_t;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static uint32_t be24(const uint8_t *p)
{
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static uint32_t tag_ts(const uint8_t *h)
{
    return (uint32_t)h[7] << 24 | be24(h + 4);
}

static void set_tag_ts(uint8_t *h, uint32_t ts)
{
    h[4] = (uint8_t)(ts >> 16);
    h[5] = (uint8_t)(ts >> 8);
    h[6] = (uint8_t)ts;
    h[7] = (uint8_t)(ts >> 24);
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* Appends len bytes to the growing head buffer. */
static void head_add(ref_t *r, const void *p, size_t len)
{
    uint8_t *n = realloc(r->head, r->head_len + len);
    if (!n)
        die("realloc");
    memcpy(n + r->head_len, p, len);
    r->head = n;
    r->head_len += len;
}

/* Loads the file, indexes its media tags and builds the join head.
 * Returns 0, or -1 with a message on stderr. */
static int load_clip(ref_t *r, const char *path)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(path);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    r->file = malloc(size ? size : 1);
    if (!r->file)
        die("malloc");
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, r->file + got, size - got);
        if (n <= 0) {
            perror(path);
            close(fd);
            return -1;
        }
        got += (size_t)n;
    }
    close(fd);

    const uint8_t *f = r->file;
    if (size < 13 || memcmp(f, "FLV", 3) != 0) {
        fprintf(stderr, "%s: not an FLV file\n", path);
        return -1;
    }
    size_t pos = be24(f + 5) << 8 | f[8]; /* header size, normally 9 */
    pos += 4;
    if (pos > size) {
        fprintf(stderr, "%s: bad FLV header\n", path);
        return -1;
    }

    static const char http[] = "HTTP/1.0 200 OK\r\n"
                               "Content-Type: video/x-flv\r\n"
                               "Connection: close\r\n\r\n";
    head_add(r, http, sizeof http - 1);
    uint8_t flvh[13] = {'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0};
    head_add(r, flvh, sizeof flvh);

    r->tags = calloc(size / 15 + 1, sizeof *r->tags);
    if (!r->tags)
        die("calloc");
    int have_meta = 0, have_vseq = 0, have_aseq = 0;
    int64_t base = -1;
    uint32_t last_v = 0, prev_v = 0, last_a = 0, prev_a = 0;
    while (pos + 11 <= size) {
        uint8_t *h = r->file + pos;
        size_t body = be24(h + 1);
        size_t len = 11 + body + 4;
        if (pos + len > size)
            break; /* truncated last tag */
        uint8_t type = h[0] & 0x1f;
        const uint8_t *b = h + 11;
        int seq = 0;
        if (type == TAG_VIDEO && body >= 2 && (b[0] & 0x0f) == 7 && b[1] == 0)
            seq = 1;
        if (type == TAG_AUDIO && body >= 2 && (b[0] >> 4) == 10 && b[1] == 0)
            seq = 1;
        if (type == TAG_SCRIPT || seq) {
            /* Metadata and the first sequence header of each kind go into the
             * join head at timestamp 0; repeats are ignored. */
            int *have = type == TAG_SCRIPT  ? &have_meta
                        : type == TAG_VIDEO ? &have_vseq
                                            : &have_aseq;
            if (!*have) {
                set_tag_ts(h, 0);
                head_add(r, h, len);
                *have = 1;
            }
        } else if (type == TAG_VIDEO || type == TAG_AUDIO) {
            uint32_t ts = tag_ts(h);
            if (base < 0)
                base = ts;
            uint32_t rts = ts >= (uint32_t)base ? ts - (uint32_t)base : 0;
            ref_tag_t *t = &r->tags[r->ntags++];
            t->off = pos;
            t->len = len;
            t->ts = rts;
            t->key = type == TAG_VIDEO && body >= 1 && (b[0] >> 4) == 1;
            if (type == TAG_VIDEO) {
                prev_v = last_v;
                last_v = rts;
            } else {
                prev_a = last_a;
                last_a = rts;
            }
        }
        pos += len;
    }
    if (!r->ntags || !have_vseq) {
        fprintf(stderr, "%s: no media tags or no AVC sequence header\n", path);
        return -1;
    }
    /* One loop lasts until one frame after the last tag of either kind. */
    uint64_t v_end = (uint64_t)last_v + (last_v > prev_v ? last_v - prev_v : 33);
    uint64_t a_end = (uint64_t)last_a + (last_a > prev_a ? last_a - prev_a : 23);
    r->loop_ms = v_end > a_end ? v_end : a_end;
    fprintf(stderr, "ref_server: %s: %zu media tags, loop %llu ms, head %zu bytes\n", path,
            r->ntags, (unsigned long long)r->loop_ms, r->head_len);
    return 0;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void arm_timer(int tfd, uint64_t due_ns)
{
    struct itimerspec it = {0};
    it.it_value.tv_sec = (time_t)(due_ns / 1000000000u);
    it.it_value.tv_nsec = (long)(due_ns % 1000000000u);
    if (it.it_value.tv_sec == 0 && it.it_value.tv_nsec == 0)
        it.it_value.tv_nsec = 1;
    if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &it, NULL) != 0)
        die("timerfd_settime");
}

/* Forgets a player (after close), keeping the live list dense. */
static void forget(ref_t *r, int fd)
{
    if (r->state[fd] == P_WAIT_KEY || r->state[fd] == P_LIVE) {
        for (int i = 0; i < r->nlive; i++) {
            if (r->live[i] == fd) {
                r->live[i] = r->live[--r->nlive];
                break;
            }
        }
    }
    r->state[fd] = P_FREE;
    close(fd);
}

static void accept_all(ref_t *r, int lfd, int ep)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                perror("accept4");
            return;
        }
        if (fd >= r->maxfd) {
            close(fd);
            continue;
        }
        int one = 1, sndbuf = REF_SNDBUF;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) != 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            continue;
        }
        r->state[fd] = P_REQUEST;
        r->accepted++;
    }
}

/* The request: one read, "GET " at its start, nothing else looked at. */
static void on_request(ref_t *r, int fd, int ep)
{
    char buf[2048];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    if (n < 4 || memcmp(buf, "GET ", 4) != 0) {
        r->closed++;
        forget(r, fd);
        return;
    }
    ssize_t w = write(fd, r->head, r->head_len);
    if (w != (ssize_t)r->head_len) {
        r->dropped++;
        forget(r, fd);
        return;
    }
    r->state[fd] = P_WAIT_KEY;
    r->live[r->nlive++] = fd;
}

/* Sends one tag to every player: one write each. */
static void fan_out(ref_t *r, const ref_tag_t *t)
{
    const uint8_t *p = r->file + t->off;
    for (int i = 0; i < r->nlive;) {
        int fd = r->live[i];
        if (r->state[fd] == P_WAIT_KEY) {
            if (!t->key) {
                i++;
                continue;
            }
            r->state[fd] = P_LIVE;
        }
        ssize_t w = write(fd, p, t->len);
        if (w != (ssize_t)t->len) {
            /* Would block, short, or the peer is gone: the player ends. */
            if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
                r->closed++;
            else
                r->dropped++;
            forget(r, fd); /* moves the last entry to i */
            continue;
        }
        i++;
    }
    r->sent_msgs++;
}

static int listen_on(const char *addr, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "ref_server: bad address %s\n", addr);
        exit(2);
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "ref_server: bind %s:%d: %s\n", addr, port, strerror(errno));
        exit(1);
    }
    if (listen(fd, 4096) != 0)
        die("listen");
    return fd;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: ref_server [-l ADDR] [-p PORT] FILE.flv\n"
                 "  serves FILE.flv as a looping live HTTP-FLV stream (GET /anything)\n"
                 "  -l ADDR  listen address (default 127.0.0.1)\n"
                 "  -p PORT  listen port (default 8081)\n");
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1";
    int port = 8081, opt;
    while ((opt = getopt(argc, argv, "l:p:h")) != -1) {
        switch (opt) {
        case 'l': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1 || port <= 0 || port > 65535) {
        usage(stderr);
        return 2;
    }

    ref_t r = {0};
    if (load_clip(&r, argv[optind]) != 0)
        return 1;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    r.maxfd = rl.rlim_cur > 1048576 ? 1048576 : (int)rl.rlim_cur;
    r.state = calloc((size_t)r.maxfd, 1);
    r.live = calloc((size_t)r.maxfd, sizeof *r.live);
    if (!r.state || !r.live)
        die("calloc");

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int lfd = listen_on(addr, port);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (ep < 0 || tfd < 0)
        die("epoll/timerfd");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.fd = tfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);

    uint64_t start = now_ns();
    uint64_t loop = 0;
    size_t next = 0;
    arm_timer(tfd, start);
    struct epoll_event evs[REF_MAX_EVENTS];
    while (!stop_flag) {
        int n = epoll_wait(ep, evs, REF_MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                accept_all(&r, lfd, ep);
            } else if (fd == tfd) {
                uint64_t expirations;
                if (read(tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
                    die("read timerfd");
                /* Send every tag that is due, then sleep until the next one. */
                for (;;) {
                    const ref_tag_t *t = &r.tags[next];
                    uint64_t ts = loop * r.loop_ms + t->ts;
                    uint64_t due = start + ts * 1000000u;
                    if (due > now_ns()) {
                        arm_timer(tfd, due);
                        break;
                    }
                    set_tag_ts(r.file + t->off, (uint32_t)ts);
                    fan_out(&r, t);
                    if (++next == r.ntags) {
                        next = 0;
                        loop++;
                    }
                }
            } else if (fd >= 0 && fd < r.maxfd && r.state[fd] == P_REQUEST) {
                on_request(&r, fd, ep);
            }
        }
    }
    fprintf(stderr,
            "ref_server: accepted %llu, players now %d, dropped (would block) %llu, "
            "closed by peer %llu, messages %llu\n",
            (unsigned long long)r.accepted, r.nlive, (unsigned long long)r.dropped,
            (unsigned long long)r.closed, (unsigned long long)r.sent_msgs);
    return 0;
}
