/* weir-push: publishes an FLV file over RTMP at real-time pace, optionally
 * looping with increasing timestamps, with the node's blocking RTMP client
 * (rtmp_client.h) and FLV reader (flv.h). Tag bodies are sent as they are
 * (any codec, Enhanced RTMP included); onMetaData is sent wrapped in
 * "@setDataFrame" as FFmpeg does. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flv_file.h"
#include "rtmp_client.h"
#include "tool_tls.h"
#include "tool_util.h"

#define PUSH_DEFAULT_TIMEOUT_MS 10000
#define PUSH_PROGRESS_MS 1000
#define PUSH_DEFAULT_FRAME_MS 40 /* --loop step when the file has < 2 video tags */

static const uint8_t SET_DATA_FRAME[] = {0x02, 0x00, 0x0d, '@', 's', 'e', 't', 'D',
                                         'a',  't',  'a',  'F', 'r', 'a', 'm', 'e'};

typedef struct {
    rtmp_client_t *client;
    flv_file_t *file;
    const char *path;
    int fast, loop;
    int64_t start_ms, next_progress_ms;
    uint32_t first_ts; /* first tag's timestamp in the file */
    uint32_t offset;   /* added to (ts - first_ts) in this pass */
    uint32_t max_out;  /* highest timestamp sent in this pass */
    uint32_t frame_ms; /* one video frame interval (from the first pass) */
    uint32_t last_video_ts;
    int have_video_ts;
    unsigned long passes; /* completed passes over the file */
    unsigned long tags, video, audio, data, skipped;
    unsigned long long bytes;
    uint8_t *scratch; /* "@setDataFrame" + a metadata body */
} push_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: weir-push [options] FILE.flv rtmp[s]://host[:port]/app/name\n"
            "\n"
            "Publishes every tag of FILE.flv to the RTMP URL at real-time pace (a tag\n"
            "is sent when its timestamp is due): audio and video bodies as they are\n"
            "(Enhanced RTMP too), script data as data messages (onMetaData wrapped in\n"
            "@setDataFrame, as FFmpeg sends it). Publishing is RTMP only: rtmp:// or\n"
            "rtmps:// (RTMP over TLS); http[s]:// and ws[s]:// are play-only (weir-pull).\n"
            "\n"
            "  --loop          repeat the file until interrupted; each pass continues the\n"
            "                  timestamps (last timestamp + one video frame interval)\n"
            "  --fast          send as fast as the connection allows (no pacing)\n"
            "  --complex       use the complex (digest) handshake\n"
            "  --timeout MS    connect/publish/send timeout (default %d)\n" TOOL_TLS_HELP
            "  -h, --help      print this help and exit\n"
            "\n"
            "Progress goes to stderr once a second (elapsed time, bytes sent, average\n"
            "bitrate, tags, loop pass). At the end one JSON line goes to stdout:\n"
            "  {\"video\": n, \"audio\": n, \"data\": n, \"skipped\": n, \"tags\": n,\n"
            "   \"bytes\": n, \"duration_s\": s, \"bitrate_kbps\": k, \"loops\": n,\n"
            "   \"last_ts\": ms, \"stopped_by\": \"end\"|\"signal\"}\n"
            "(tags sent per type, other tag types skipped, payload bytes, complete\n"
            "passes over the file). SIGINT/SIGTERM end the publication cleanly.\n"
            "\n"
            "Exit status:\n"
            "  0  the file was sent (or the push was interrupted by a signal)\n"
            "  1  file error: missing, not FLV, corrupt\n"
            "  2  usage error, bad URL\n"
            "  3  connection error: resolve, connect, handshake, timeout, connection lost\n"
            "  4  refused by the server (e.g. NetStream.Publish.BadName)\n",
            PUSH_DEFAULT_TIMEOUT_MS);
}

static double elapsed_s(const push_t *p)
{
    return (double)(weir_mono_ms() - p->start_ms) / 1000.0;
}

static double bitrate_kbps(const push_t *p)
{
    double s = elapsed_s(p);
    return s > 0 ? (double)p->bytes * 8.0 / 1000.0 / s : 0.0;
}

static void progress(push_t *p)
{
    int64_t now = weir_mono_ms();
    if (now < p->next_progress_ms)
        return;
    p->next_progress_ms = now + PUSH_PROGRESS_MS;
    fprintf(stderr, "weir-push: %7.1f s  %10.1f kB  %8.1f kbit/s  %8lu tags  loop %lu\n",
            elapsed_s(p), (double)p->bytes / 1000.0, bitrate_kbps(p), p->tags, p->passes + 1);
}

/* Waits until the tag's time has come; returns early on a stop signal. */
static void pace(push_t *p, uint32_t ts)
{
    if (p->fast)
        return;
    for (;;) {
        int64_t now = weir_mono_ms();
        int64_t due = p->start_ms + (int64_t)ts;
        if (now >= due || tool_stop_requested())
            return;
        int64_t next = due < p->next_progress_ms ? due : p->next_progress_ms;
        tool_sleep_ms(next - now);
        progress(p);
    }
}

/* Sends one tag at output time ts. Returns 0, or an exit status. */
static int send_tag(push_t *p, const flv_tag_t *t, uint32_t ts)
{
    const uint8_t *body = t->body;
    uint32_t len = t->len;
    if (t->type == FLV_TAG_SCRIPT && flv_is_onmetadata(body, len)) {
        memcpy(p->scratch, SET_DATA_FRAME, sizeof SET_DATA_FRAME);
        memcpy(p->scratch + sizeof SET_DATA_FRAME, body, len);
        body = p->scratch;
        len += (uint32_t)sizeof SET_DATA_FRAME;
    }
    pace(p, ts);
    if (tool_stop_requested())
        return 0;
    if (rtmp_client_send(p->client, t->type, ts, body, len) != 0) {
        fprintf(stderr, "weir-push: %s\n", rtmp_client_error(p->client));
        return TOOL_EXIT_NET;
    }
    p->tags++;
    p->bytes += len;
    if (t->type == FLV_TAG_VIDEO)
        p->video++;
    else if (t->type == FLV_TAG_AUDIO)
        p->audio++;
    else
        p->data++;
    progress(p);
    return 0;
}

/* Output timestamp of a file timestamp in the current pass. */
static uint32_t out_ts(const push_t *p, uint32_t ts)
{
    uint32_t rel = ts - p->first_ts;
    if (rel > 0x7fffffffu)
        rel = 0; /* before the first tag: clamp rather than wrap */
    return p->offset + rel;
}

/* One pass over the file. Returns 0, or an exit status. */
static int push_pass(push_t *p)
{
    flv_tag_t tag;
    uint64_t off;
    int rc;
    while (!tool_stop_requested() && (rc = flv_file_next(p->file, &tag, &off)) == 1) {
        if (tag.type != FLV_TAG_AUDIO && tag.type != FLV_TAG_VIDEO && tag.type != FLV_TAG_SCRIPT) {
            p->skipped++;
            continue;
        }
        if (p->passes == 0 && flv_file_tags(p->file) == 1)
            p->first_ts = tag.ts;
        uint32_t ts = out_ts(p, tag.ts);
        if (p->passes == 0 && tag.type == FLV_TAG_VIDEO) {
            /* The loop step: the last positive video timestamp delta. */
            if (p->have_video_ts && tag.ts > p->last_video_ts)
                p->frame_ms = tag.ts - p->last_video_ts;
            p->last_video_ts = tag.ts;
            p->have_video_ts = 1;
        }
        if (ts > p->max_out)
            p->max_out = ts;
        int src = send_tag(p, &tag, ts);
        if (src != 0)
            return src;
    }
    if (tool_stop_requested())
        return 0;
    if (rc < 0) {
        fprintf(stderr, "weir-push: %s\n", flv_file_error(p->file));
        return TOOL_EXIT_LOCAL;
    }
    if (flv_file_tags(p->file) == 0) {
        fprintf(stderr, "weir-push: %s: no FLV tags\n", p->path);
        return TOOL_EXIT_LOCAL;
    }
    if (p->passes == 0 && flv_file_truncated(p->file))
        fprintf(stderr, "weir-push: %s: ignoring a truncated last tag (%llu bytes)\n", p->path,
                (unsigned long long)flv_file_truncated(p->file));
    p->passes++;
    return 0;
}

static int push_run(push_t *p)
{
    p->start_ms = weir_mono_ms();
    p->next_progress_ms = p->start_ms + PUSH_PROGRESS_MS;
    for (;;) {
        int rc = push_pass(p);
        if (rc != 0 || !p->loop || tool_stop_requested())
            return rc;
        p->offset = p->max_out + (p->frame_ms ? p->frame_ms : PUSH_DEFAULT_FRAME_MS);
        if (flv_file_rewind(p->file) != 0) {
            fprintf(stderr, "weir-push: %s\n", flv_file_error(p->file));
            return TOOL_EXIT_LOCAL;
        }
    }
}

static int print_summary(push_t *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "video", (double)p->video);
    cJSON_AddNumberToObject(o, "audio", (double)p->audio);
    cJSON_AddNumberToObject(o, "data", (double)p->data);
    cJSON_AddNumberToObject(o, "skipped", (double)p->skipped);
    cJSON_AddNumberToObject(o, "tags", (double)p->tags);
    cJSON_AddNumberToObject(o, "bytes", (double)p->bytes);
    cJSON_AddNumberToObject(o, "duration_s", tool_round(elapsed_s(p), 3));
    cJSON_AddNumberToObject(o, "bitrate_kbps", tool_round(bitrate_kbps(p), 1));
    cJSON_AddNumberToObject(o, "loops", (double)p->passes);
    cJSON_AddNumberToObject(o, "last_ts", (double)p->max_out);
    cJSON_AddStringToObject(o, "stopped_by", tool_stop_requested() ? "signal" : "end");
    if (tool_json_emit(stdout, o) != 0) {
        fprintf(stderr, "weir-push: cannot write the summary\n");
        return TOOL_EXIT_LOCAL;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"loop", no_argument, NULL, 'l'},
                                         {"fast", no_argument, NULL, 'f'},
                                         {"complex", no_argument, NULL, 'c'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         TOOL_TLS_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    push_t p;
    memset(&p, 0, sizeof p);
    int complex = 0, o;
    long timeout_ms = PUSH_DEFAULT_TIMEOUT_MS;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (tool_tls_option(o, optarg))
            continue;
        switch (o) {
        case 'l': p.loop = 1; break;
        case 'f': p.fast = 1; break;
        case 'c': complex = 1; break;
        case 't':
            if (tool_parse_long(optarg, 1, 3600000, &timeout_ms) != 0) {
                fprintf(stderr, "weir-push: --timeout: expected milliseconds (1..3600000)\n");
                return TOOL_EXIT_USAGE;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return TOOL_EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "weir-push: expected FILE.flv and an rtmp:// URL (see --help)\n");
        return TOOL_EXIT_USAGE;
    }
    if (tool_tls_apply("weir-push") != 0)
        return TOOL_EXIT_USAGE;
    p.path = argv[optind];
    const char *url = argv[optind + 1];
    char err[RTMP_CLIENT_ERR_MAX + FLV_FILE_ERR_MAX];
    url_rtmp_t parsed;
    if (url_rtmp_parse(url, &parsed, err, sizeof err) != 0) {
        fprintf(stderr, "weir-push: bad URL: %s\n", err);
        return TOOL_EXIT_USAGE;
    }
    p.file = flv_file_open(p.path, err, sizeof err);
    if (!p.file) {
        fprintf(stderr, "weir-push: %s\n", err);
        return TOOL_EXIT_LOCAL;
    }
    p.scratch = malloc(FLV_FILE_MAX_TAG + sizeof SET_DATA_FRAME);
    if (!p.scratch) {
        fprintf(stderr, "weir-push: out of memory\n");
        flv_file_close(p.file);
        return TOOL_EXIT_LOCAL;
    }
    tool_install_stop_signals();
    int rc = 0, prc;
    p.client = rtmp_client_connect(url, (int)timeout_ms, complex, err, sizeof err);
    if (!p.client) {
        fprintf(stderr, "weir-push: %s\n", err);
        rc = strstr(err, "rejected") ? TOOL_EXIT_REFUSED : TOOL_EXIT_NET;
    } else if ((prc = rtmp_client_publish(p.client, (int)timeout_ms, err, sizeof err)) != 0) {
        fprintf(stderr, "weir-push: %s\n", err);
        rc = prc == NODE_EBUSY ? TOOL_EXIT_REFUSED : TOOL_EXIT_NET;
    } else {
        rc = push_run(&p);
    }
    rtmp_client_close(p.client);
    flv_file_close(p.file);
    free(p.scratch);
    if (rc == 0)
        rc = print_summary(&p);
    return rc;
}
