/* rtmp_pull_flv: plays an RTMP URL with Weir's blocking RTMP client and
 * writes what arrives to an FLV file, tag bodies and timestamps exactly as
 * received; prints a one-line JSON summary. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "flv.h"
#include "rtmp_client.h"

#define PULL_DEFAULT_TIMEOUT_MS 15000
#define PULL_SLICE_MS 200 /* longest wait before looking at signals and limits */

typedef struct {
    FILE *out;
    const char *path;
    unsigned long messages, video, audio, data;
    unsigned long long bytes;
    int64_t play_ms;        /* when play was sent */
    int64_t first_video_ms; /* after play_ms; -1 until a video message */
} pull_t;

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rtmp_pull_flv [options] rtmp://host[:port]/app/name OUT.flv\n"
            "\n"
            "Plays the RTMP URL and writes an FLV file: the header, then one tag per\n"
            "audio, video and data message, with the bodies and timestamps received\n"
            "(|RtmpSampleAccess and other '|' data messages are left out). Stops at the\n"
            "end of the stream, after --duration or after --max-video video messages,\n"
            "or on SIGINT/SIGTERM (the file is completed in every case).\n"
            "\n"
            "  --duration SEC  stop this long after the play started (fractions allowed)\n"
            "  --max-video N   stop after N video messages (sequence headers count)\n"
            "  --timeout MS    connect timeout, play-start timeout (a server may hold\n"
            "                  the reply until a publisher comes) and longest silence\n"
            "                  tolerated while playing (default %d)\n"
            "  --complex       use the complex (digest) handshake\n"
            "  -h, --help      print this help and exit\n"
            "\n"
            "On success, and on exit status 3, prints to stdout:\n"
            "  {\"messages\": n, \"video\": n, \"audio\": n, \"data\": n, \"bytes\": n,\n"
            "   \"first_video_ms\": t, \"last_status\": \"...\"}\n"
            "messages counts the tags written, bytes their body bytes, first_video_ms\n"
            "the time from sending play to the first video message (null if none).\n"
            "\n"
            "Exit status: 0 on a clean stop; 1 on a connection, play or file error (the\n"
            "reason, e.g. NetStream.Play.StreamNotFound, goes to stderr); 2 on a usage\n"
            "error; 3 when nothing arrived for --timeout ms.\n",
            PULL_DEFAULT_TIMEOUT_MS);
}

/* A data message whose first AMF0 string starts with '|' (|RtmpSampleAccess):
 * a player instruction, not stream data. */
static int is_player_instruction(const rtmp_msg_t *m)
{
    return m->len >= 4 && m->payload[0] == 0x02 && rd_be16(m->payload + 1) >= 1 &&
           m->payload[3] == '|';
}

/* Appends one tag. Returns 0 or -1 (message printed). */
static int write_tag(pull_t *p, const rtmp_msg_t *m)
{
    uint8_t hdr[FLV_TAG_HEADER_SIZE], prev[FLV_PREV_SIZE];
    flv_write_tag_header(hdr, m->type, m->len, m->timestamp);
    flv_write_prev_size(prev, m->len);
    if (fwrite(hdr, 1, sizeof hdr, p->out) != sizeof hdr ||
        (m->len && fwrite(m->payload, 1, m->len, p->out) != m->len) ||
        fwrite(prev, 1, sizeof prev, p->out) != sizeof prev) {
        fprintf(stderr, "rtmp_pull_flv: %s: %s\n", p->path, strerror(errno));
        return -1;
    }
    p->messages++;
    p->bytes += m->len;
    return 0;
}

/* Reads until a limit, the end of the stream or an error. Returns the exit
 * status. */
static int pull_loop(pull_t *p, rtmp_client_t *c, double duration_s, long max_video, int timeout_ms)
{
    int64_t stop_at = duration_s > 0 ? p->play_ms + (int64_t)(duration_s * 1000.0) : 0;
    int64_t last_msg = weir_mono_ms();
    while (!stop_signal) {
        int64_t now = weir_mono_ms();
        if (stop_at && now >= stop_at)
            return 0;
        if (now - last_msg >= timeout_ms) {
            fprintf(stderr, "rtmp_pull_flv: nothing received for %d ms (last status %s)\n",
                    timeout_ms, rtmp_client_last_status(c));
            return 3;
        }
        int wait = PULL_SLICE_MS;
        if (stop_at && stop_at - now < wait)
            wait = (int)(stop_at - now);
        rtmp_msg_t m;
        rtmp_client_rc_t rc = rtmp_client_read(c, &m, wait);
        if (rc == RTMP_CLIENT_TIMEOUT)
            continue;
        if (rc == RTMP_CLIENT_EOF)
            return 0;
        if (rc == RTMP_CLIENT_ERROR) {
            fprintf(stderr, "rtmp_pull_flv: %s\n", rtmp_client_error(c));
            return 1;
        }
        last_msg = weir_mono_ms();
        int keep = m.type != RTMP_MSG_DATA_AMF0 || !is_player_instruction(&m);
        if (keep && (m.type == RTMP_MSG_AUDIO || m.type == RTMP_MSG_VIDEO ||
                     m.type == RTMP_MSG_DATA_AMF0)) {
            int wrc = write_tag(p, &m);
            if (wrc == 0 && m.type == RTMP_MSG_VIDEO) {
                if (p->video++ == 0)
                    p->first_video_ms = last_msg - p->play_ms;
            } else if (wrc == 0) {
                if (m.type == RTMP_MSG_AUDIO)
                    p->audio++;
                else
                    p->data++;
            }
            free(m.payload);
            if (wrc != 0)
                return 1;
            if (max_video > 0 && p->video >= (unsigned long)max_video)
                return 0;
        } else {
            free(m.payload);
        }
    }
    return 0;
}

static void print_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"duration", required_argument, NULL, 'd'}, {"max-video", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 't'},  {"complex", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    double duration_s = 0;
    long max_video = 0;
    int timeout_ms = PULL_DEFAULT_TIMEOUT_MS, complex = 0, o;
    char *end;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'd':
            duration_s = strtod(optarg, &end);
            if (*end || !(duration_s > 0) || duration_s > 86400) {
                fprintf(stderr, "rtmp_pull_flv: --duration: expected seconds (0..86400]\n");
                return 2;
            }
            break;
        case 'n':
            max_video = strtol(optarg, &end, 10);
            if (*end || max_video <= 0) {
                fprintf(stderr, "rtmp_pull_flv: --max-video: expected a positive count\n");
                return 2;
            }
            break;
        case 't':
            timeout_ms = (int)strtol(optarg, &end, 10);
            if (*end || timeout_ms <= 0) {
                fprintf(stderr, "rtmp_pull_flv: --timeout: expected a positive number of ms\n");
                return 2;
            }
            break;
        case 'c': complex = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 2;
    }
    const char *url = argv[optind];
    pull_t p;
    memset(&p, 0, sizeof p);
    p.path = argv[optind + 1];
    p.first_video_ms = -1;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    char err[RTMP_CLIENT_ERR_MAX + 64];
    rtmp_client_t *c = rtmp_client_connect(url, timeout_ms, complex, err, sizeof err);
    if (!c) {
        fprintf(stderr, "rtmp_pull_flv: %s\n", err);
        return 1;
    }
    p.out = fopen(p.path, "wb");
    if (!p.out) {
        fprintf(stderr, "rtmp_pull_flv: %s: %s\n", p.path, strerror(errno));
        rtmp_client_close(c);
        return 1;
    }
    int rc = 1;
    uint8_t fhdr[FLV_HEADER_SIZE + FLV_PREV_SIZE];
    size_t fhlen = flv_write_file_header(fhdr, 1, 1);
    p.play_ms = weir_mono_ms();
    if (fwrite(fhdr, 1, fhlen, p.out) != fhlen)
        fprintf(stderr, "rtmp_pull_flv: %s: %s\n", p.path, strerror(errno));
    else if (rtmp_client_play(c, timeout_ms, err, sizeof err) != 0)
        fprintf(stderr, "rtmp_pull_flv: %s\n", err);
    else
        rc = pull_loop(&p, c, duration_s, max_video, timeout_ms);
    if (fclose(p.out) != 0 && rc == 0) {
        fprintf(stderr, "rtmp_pull_flv: %s: %s\n", p.path, strerror(errno));
        rc = 1;
    }
    if (rc == 0 || rc == 3) {
        printf("{\"messages\": %lu, \"video\": %lu, \"audio\": %lu, \"data\": %lu, "
               "\"bytes\": %llu, \"first_video_ms\": ",
               p.messages, p.video, p.audio, p.data, p.bytes);
        if (p.first_video_ms >= 0)
            printf("%lld", (long long)p.first_video_ms);
        else
            printf("null");
        printf(", \"last_status\": ");
        print_json_string(rtmp_client_last_status(c));
        printf("}\n");
    }
    rtmp_client_close(c);
    return rc;
}
