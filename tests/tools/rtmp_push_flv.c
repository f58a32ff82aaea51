/* rtmp_push_flv: publishes an FLV file to an RTMP URL, tag by tag, with
 * Weir's blocking RTMP client (any codec, Enhanced RTMP included: tag
 * bodies are sent as they are). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "flv.h"
#include "rtmp_client.h"

#define PUSH_READ_SIZE 65536
#define PUSH_MAX_TAG RTMP_CLIENT_MAX_MESSAGE
#define PUSH_DEFAULT_TIMEOUT_MS 10000

/* AMF0 string "onMetaData" and the "@setDataFrame" FFmpeg puts before it. */
static const uint8_t ON_METADATA[] = {0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e',
                                      't',  'a',  'D',  'a', 't', 'a'};
static const uint8_t SET_DATA_FRAME[] = {0x02, 0x00, 0x0d, '@', 's', 'e', 't', 'D',
                                         'a',  't',  'a',  'F', 'r', 'a', 'm', 'e'};

typedef struct {
    rtmp_client_t *client;
    int fast;
    int paced;         /* the pacing clock has started */
    int64_t start_ms;  /* wall clock of the first tag */
    uint32_t first_ts; /* its timestamp */
    uint8_t *scratch;  /* @setDataFrame + metadata */
    unsigned long video, audio, data, skipped;
    unsigned long long bytes;
} push_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rtmp_push_flv [options] FILE.flv rtmp://host[:port]/app/name\n"
            "\n"
            "Publishes every tag of FILE.flv to the RTMP URL: audio (8) and video (9)\n"
            "bodies as they are (Enhanced RTMP too), script data (18) as data messages\n"
            "(\"@setDataFrame\" is put before onMetaData, as FFmpeg does). Tags are paced\n"
            "in real time by their timestamps unless --fast.\n"
            "\n"
            "  --fast          send as fast as the connection allows\n"
            "  --complex       use the complex (digest) handshake\n"
            "  --timeout MS    connect/publish/send timeout (default %d)\n"
            "  -h, --help      print this help and exit\n"
            "\n"
            "On success prints to stdout {\"video\": n, \"audio\": n, \"data\": n,\n"
            "\"skipped\": n, \"bytes\": n} (tags sent per type, other tag types skipped,\n"
            "payload bytes sent).\n"
            "\n"
            "Exit status: 0 when every tag was sent; 1 on a connection, publish or file\n"
            "error (the reason, e.g. NetStream.Publish.BadName, goes to stderr); 2 on a\n"
            "usage error.\n",
            PUSH_DEFAULT_TIMEOUT_MS);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Waits until the tag's time has come (timestamps relative to the first). */
static void pace(push_t *p, uint32_t ts)
{
    if (p->fast)
        return;
    if (!p->paced) {
        p->paced = 1;
        p->start_ms = weir_mono_ms();
        p->first_ts = ts;
        return;
    }
    uint32_t delta = ts - p->first_ts;
    if (delta > 0x7fffffffu)
        return; /* a timestamp before the first one: send now */
    int64_t wait = p->start_ms + (int64_t)delta - weir_mono_ms();
    if (wait > 0)
        sleep_ms(wait);
}

/* Sends one tag. Returns 0 or -1 (message printed). */
static int send_tag(push_t *p, const flv_tag_t *t)
{
    const uint8_t *body = t->body;
    uint32_t len = t->len;
    switch (t->type) {
    case FLV_TAG_AUDIO: p->audio++; break;
    case FLV_TAG_VIDEO: p->video++; break;
    case FLV_TAG_SCRIPT:
        p->data++;
        if (len >= sizeof ON_METADATA && memcmp(body, ON_METADATA, sizeof ON_METADATA) == 0) {
            if (len > PUSH_MAX_TAG - sizeof SET_DATA_FRAME) {
                fprintf(stderr, "rtmp_push_flv: metadata tag of %u bytes too big\n", len);
                return -1;
            }
            memcpy(p->scratch, SET_DATA_FRAME, sizeof SET_DATA_FRAME);
            memcpy(p->scratch + sizeof SET_DATA_FRAME, body, len);
            body = p->scratch;
            len += (uint32_t)sizeof SET_DATA_FRAME;
        }
        break;
    default: p->skipped++; return 0;
    }
    pace(p, t->ts);
    if (rtmp_client_send(p->client, t->type, t->ts, body, len) != 0) {
        fprintf(stderr, "rtmp_push_flv: %s\n", rtmp_client_error(p->client));
        return -1;
    }
    p->bytes += len;
    return 0;
}

/* Streams the file through the FLV reader, sending each tag. */
static int push_file(push_t *p, FILE *f, const char *path)
{
    flv_reader_t *r = flv_reader_new(PUSH_MAX_TAG);
    uint8_t *buf = malloc(PUSH_READ_SIZE);
    int rc = -1;
    unsigned long tags = 0;
    size_t since_tag = 0; /* bytes consumed since the last complete tag */
    if (!r || !buf) {
        fprintf(stderr, "rtmp_push_flv: out of memory\n");
        goto out;
    }
    for (;;) {
        size_t n = fread(buf, 1, PUSH_READ_SIZE, f);
        if (n == 0) {
            if (ferror(f)) {
                fprintf(stderr, "rtmp_push_flv: %s: read error\n", path);
                goto out;
            }
            break;
        }
        size_t off = 0;
        while (off < n) {
            size_t used = 0;
            flv_tag_t tag;
            const char *err = NULL;
            parse_rc_t prc = flv_reader_feed(r, buf + off, n - off, &used, &tag, &err);
            off += used;
            since_tag += used;
            if (prc == PARSE_OK) {
                tags++;
                since_tag = 0;
                if (send_tag(p, &tag) != 0)
                    goto out;
            } else if (prc != PARSE_NEED_MORE) {
                fprintf(stderr, "rtmp_push_flv: %s: %s\n", path, err ? err : "bad FLV");
                goto out;
            }
        }
    }
    if (tags == 0) {
        fprintf(stderr, "rtmp_push_flv: %s: no FLV tags\n", path);
        goto out;
    }
    if (since_tag > FLV_PREV_SIZE)
        fprintf(stderr, "rtmp_push_flv: %s: ignoring a truncated last tag\n", path);
    rc = 0;
out:
    free(buf);
    flv_reader_free(r);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"fast", no_argument, NULL, 'f'},
                                         {"complex", no_argument, NULL, 'c'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    push_t p;
    memset(&p, 0, sizeof p);
    int complex = 0, timeout_ms = PUSH_DEFAULT_TIMEOUT_MS, o;
    char *end;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'f': p.fast = 1; break;
        case 'c': complex = 1; break;
        case 't':
            timeout_ms = (int)strtol(optarg, &end, 10);
            if (*end || timeout_ms <= 0) {
                fprintf(stderr, "rtmp_push_flv: --timeout: expected a positive number of ms\n");
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 2;
    }
    const char *path = argv[optind], *url = argv[optind + 1];
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "rtmp_push_flv: %s: %s\n", path, strerror(errno));
        return 1;
    }
    p.scratch = malloc(PUSH_MAX_TAG);
    if (!p.scratch) {
        fprintf(stderr, "rtmp_push_flv: out of memory\n");
        fclose(f);
        return 1;
    }
    char err[RTMP_CLIENT_ERR_MAX + 64];
    int rc = 1;
    p.client = rtmp_client_connect(url, timeout_ms, complex, err, sizeof err);
    if (!p.client) {
        fprintf(stderr, "rtmp_push_flv: %s\n", err);
    } else if (rtmp_client_publish(p.client, timeout_ms, err, sizeof err) != 0) {
        fprintf(stderr, "rtmp_push_flv: %s\n", err);
    } else if (push_file(&p, f, path) == 0) {
        rc = 0;
    }
    rtmp_client_close(p.client);
    fclose(f);
    free(p.scratch);
    if (rc == 0)
        printf("{\"video\": %lu, \"audio\": %lu, \"data\": %lu, \"skipped\": %lu, "
               "\"bytes\": %llu}\n",
               p.video, p.audio, p.data, p.skipped, p.bytes);
    return rc;
}
