/* weir-pull: plays an RTMP URL (tools/common/rtmp_client.h) or an HTTP-FLV or
 * WebSocket-FLV URL (tools/common/httpflv_client.h, the body read with the
 * node's FLV reader)
 * and writes the tags to an FLV file, stdout, or nowhere; prints a JSON
 * summary (bytes, bitrate, frame counts, time to the first video frame). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "flv_file.h"
#include "httpflv_client.h"
#include "rtmp_client.h"
#include "tool_tls.h"
#include "tool_util.h"

#define PULL_DEFAULT_TIMEOUT_MS 15000
#define PULL_SLICE_MS 200 /* longest wait before looking at signals and limits */
#define PULL_READ_SIZE 65536

typedef struct {
    FILE *out; /* NULL: discard */
    const char *out_name;
    const char *url;
    int http; /* http[s]:// or ws[s]:// */
    int ws;   /* ws[s]:// */
    double duration_s;
    long max_frames;
    int timeout_ms;
    int64_t request_ms; /* when play / GET was sent */
    int64_t end_ms;
    int64_t first_frame_ms; /* -1 until the first coded video frame */
    int first_frame_key;
    unsigned long tags, video, frames, keyframes, audio, data;
    unsigned long long bytes;
    uint32_t first_ts, last_ts;
    const char *stopped_by;
    char status[RTMP_CLIENT_STATUS_MAX + 32];
    flv_reader_t *reader; /* HTTP-FLV body parser */
} pull_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: weir-pull [options] URL [OUT.flv|-]\n"
            "\n"
            "Plays URL and writes what arrives as FLV: to OUT.flv, to stdout with \"-\",\n"
            "or nowhere when OUT is omitted (then it only counts and reports).\n"
            "URL is rtmp[s]://host[:port]/app/name, http[s]://host:port/app/name.flv\n"
            "(HTTP-FLV; chunked or plain bodies) or ws[s]://host:port/app/name.flv\n"
            "(WebSocket-FLV: the FLV stream in binary frames; pings are answered, and a\n"
            "close frame with code 1000 is sent when the tool stops). rtmps://, https://\n"
            "and wss:// are TLS first. Tags keep the bodies and timestamps received\n"
            "(RTMP |RtmpSampleAccess data messages are left out).\n"
            "\n"
            "  --duration SEC  stop SEC seconds after the request (fractions allowed)\n"
            "  --frames N      stop after N coded video frames\n"
            "  --timeout MS    connect timeout, play-start timeout (an RTMP server may\n"
            "                  hold the reply until a publisher comes) and the longest\n"
            "                  silence tolerated while playing (default %d)\n"
            "  --complex       RTMP: use the complex (digest) handshake\n" TOOL_TLS_HELP
            "  -h, --help      print this help and exit\n"
            "\n"
            "It stops at the end of the stream, on a limit above, or on SIGINT/SIGTERM;\n"
            "the output file is complete in every case. Then it prints one JSON line,\n"
            "to stdout (to stderr when the FLV goes to stdout):\n"
            "  {\"url\": u, \"protocol\": \"rtmp\"|\"http\"|\"ws\", \"status\": s, \"tags\": n,\n"
            "   \"video\": n, \"frames\": n, \"keyframes\": n, \"audio\": n, \"data\": n,\n"
            "   \"bytes\": n, \"bitrate_kbps\": k, \"first_frame_ms\": t|null,\n"
            "   \"first_frame_key\": b|null, \"first_ts\": ms|null, \"last_ts\": ms|null,\n"
            "   \"duration_s\": s, \"stopped_by\": \"eof\"|\"duration\"|\"frames\"|\"signal\"|\n"
            "   \"stalled\"}\n"
            "video counts video tags (sequence headers included), frames the coded\n"
            "video frames, bytes the tag bodies; first_frame_ms is the time from the\n"
            "play/GET request to the first coded video frame, first_frame_key whether\n"
            "that frame is a key frame; duration_s runs from the request to the end;\n"
            "status is the last RTMP status code, \"HTTP 200\", \"HTTP 101\" (ws) or\n"
            "\"WebSocket close N\" when the server closed the WebSocket with code N.\n"
            "\n"
            "Exit status:\n"
            "  0  stopped cleanly (end of stream, a limit, a signal)\n"
            "  1  output error (cannot write OUT)\n"
            "  2  usage error, bad URL\n"
            "  3  connection or protocol error (connect, TLS or WebSocket handshake,\n"
            "     timeout, bad FLV, a malformed WebSocket frame)\n"
            "  4  refused (e.g. NetStream.Play.StreamNotFound, HTTP 404)\n"
            "  5  nothing received for --timeout ms while playing (summary printed)\n",
            PULL_DEFAULT_TIMEOUT_MS);
}

/* A data message whose first AMF0 string starts with '|' (|RtmpSampleAccess):
 * a player instruction, not stream data. */
static int is_player_instruction(const uint8_t *body, uint32_t len)
{
    return len >= 4 && body[0] == 0x02 && rd_be16(body + 1) >= 1 && body[3] == '|';
}

/* Counts and writes one tag. Returns 0, or an exit status. */
static int on_tag(pull_t *p, uint8_t type, uint32_t ts, const uint8_t *body, uint32_t len)
{
    if (type != FLV_TAG_AUDIO && type != FLV_TAG_VIDEO && type != FLV_TAG_SCRIPT)
        return 0;
    if (type == FLV_TAG_SCRIPT && is_player_instruction(body, len))
        return 0;
    if (p->out && flv_file_write_tag(p->out, type, ts, body, len) != 0) {
        fprintf(stderr, "weir-pull: %s: %s\n", p->out_name, strerror(errno));
        return TOOL_EXIT_LOCAL;
    }
    if (p->tags++ == 0)
        p->first_ts = ts;
    p->last_ts = ts;
    p->bytes += len;
    if (type == FLV_TAG_AUDIO) {
        p->audio++;
    } else if (type == FLV_TAG_SCRIPT) {
        p->data++;
    } else {
        p->video++;
        flv_video_info_t vi;
        if (flv_video_inspect(body, len, &vi) == 0 && !vi.seq_header && !vi.seq_end &&
            !vi.is_command) {
            if (p->frames++ == 0) {
                p->first_frame_ms = weir_mono_ms() - p->request_ms;
                p->first_frame_key = vi.keyframe;
            }
            if (vi.keyframe)
                p->keyframes++;
        }
    }
    return 0;
}

/* Checks the stop conditions; returns the reason, or NULL to go on. */
static const char *should_stop(const pull_t *p, int64_t now)
{
    if (tool_stop_requested())
        return "signal";
    if (p->max_frames > 0 && p->frames >= (unsigned long)p->max_frames)
        return "frames";
    if (p->duration_s > 0 && now >= p->request_ms + (int64_t)(p->duration_s * 1000.0))
        return "duration";
    return NULL;
}

static int slice_ms(const pull_t *p, int64_t now)
{
    int wait = PULL_SLICE_MS;
    if (p->duration_s > 0) {
        int64_t left = p->request_ms + (int64_t)(p->duration_s * 1000.0) - now;
        if (left < wait)
            wait = left > 0 ? (int)left : 0;
    }
    return wait;
}

static int stalled(pull_t *p)
{
    fprintf(stderr, "weir-pull: nothing received for %d ms (%s)\n", p->timeout_ms,
            p->status[0] ? p->status : "no status");
    p->stopped_by = "stalled";
    return TOOL_EXIT_STALLED;
}

static int pull_rtmp(pull_t *p, int complex)
{
    char err[RTMP_CLIENT_ERR_MAX + 64];
    rtmp_client_t *c = rtmp_client_connect(p->url, p->timeout_ms, complex, err, sizeof err);
    if (!c) {
        fprintf(stderr, "weir-pull: %s\n", err);
        return strstr(err, "rejected") ? TOOL_EXIT_REFUSED : TOOL_EXIT_NET;
    }
    p->request_ms = weir_mono_ms();
    int rc = rtmp_client_play(c, p->timeout_ms, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "weir-pull: %s\n", err);
        rtmp_client_close(c);
        return rc == NODE_ENOTFOUND ? TOOL_EXIT_REFUSED : TOOL_EXIT_NET;
    }
    int64_t last_msg = weir_mono_ms();
    rc = 0;
    for (;;) {
        snprintf(p->status, sizeof p->status, "%s", rtmp_client_last_status(c));
        int64_t now = weir_mono_ms();
        if ((p->stopped_by = should_stop(p, now)) != NULL)
            break;
        if (now - last_msg >= p->timeout_ms) {
            rc = stalled(p);
            break;
        }
        rtmp_msg_t m;
        rtmp_client_rc_t r = rtmp_client_read(c, &m, slice_ms(p, now));
        if (r == RTMP_CLIENT_TIMEOUT)
            continue;
        if (r == RTMP_CLIENT_EOF) {
            p->stopped_by = "eof";
            break;
        }
        if (r == RTMP_CLIENT_ERROR) {
            fprintf(stderr, "weir-pull: %s\n", rtmp_client_error(c));
            rc = TOOL_EXIT_NET;
            break;
        }
        last_msg = weir_mono_ms();
        rc = on_tag(p, m.type, m.timestamp, m.payload, m.len);
        free(m.payload);
        if (rc != 0)
            break;
    }
    snprintf(p->status, sizeof p->status, "%s", rtmp_client_last_status(c));
    rtmp_client_close(c);
    return rc;
}

/* Feeds HTTP body bytes through the FLV reader. Returns 0 or an exit status. */
static int feed_http(pull_t *p, const uint8_t *buf, size_t n)
{
    size_t off = 0;
    while (off < n) {
        size_t used = 0;
        flv_tag_t tag;
        const char *err = NULL;
        parse_rc_t prc = flv_reader_feed(p->reader, buf + off, n - off, &used, &tag, &err);
        off += used;
        if (prc == PARSE_OK) {
            int rc = on_tag(p, tag.type, tag.ts, tag.body, tag.len);
            if (rc != 0)
                return rc;
            if (should_stop(p, weir_mono_ms()))
                return 0;
        } else if (prc != PARSE_NEED_MORE) {
            fprintf(stderr, "weir-pull: HTTP body: %s\n", err ? err : "bad FLV");
            return TOOL_EXIT_NET;
        }
    }
    return 0;
}

static int pull_http(pull_t *p)
{
    char err[HTTPFLV_ERR_MAX + 64];
    int status = 0;
    p->request_ms = weir_mono_ms();
    httpflv_client_t *c = httpflv_client_open(p->url, p->timeout_ms, &status, err, sizeof err);
    if (!c) {
        fprintf(stderr, "weir-pull: %s\n", err);
        return status ? TOOL_EXIT_REFUSED : TOOL_EXIT_NET;
    }
    snprintf(p->status, sizeof p->status, "HTTP %d", status);
    uint8_t *buf = malloc(PULL_READ_SIZE);
    p->reader = flv_reader_new(FLV_FILE_MAX_TAG);
    int rc = 0;
    if (!buf || !p->reader) {
        fprintf(stderr, "weir-pull: out of memory\n");
        rc = TOOL_EXIT_LOCAL;
    }
    int64_t last_data = weir_mono_ms();
    while (rc == 0) {
        int64_t now = weir_mono_ms();
        if ((p->stopped_by = should_stop(p, now)) != NULL)
            break;
        if (now - last_data >= p->timeout_ms) {
            rc = stalled(p);
            break;
        }
        size_t got = 0;
        httpflv_rc_t r = httpflv_client_read(c, buf, PULL_READ_SIZE, &got, slice_ms(p, now));
        if (r == HTTPFLV_TIMEOUT)
            continue;
        if (r == HTTPFLV_EOF) {
            p->stopped_by = "eof";
            break;
        }
        if (r == HTTPFLV_ERROR) {
            fprintf(stderr, "weir-pull: %s\n", httpflv_client_error(c));
            rc = TOOL_EXIT_NET;
            break;
        }
        last_data = weir_mono_ms();
        rc = feed_http(p, buf, got);
    }
    free(buf);
    flv_reader_free(p->reader);
    if (httpflv_client_ws_close_code(c))
        snprintf(p->status, sizeof p->status, "WebSocket close %u",
                 httpflv_client_ws_close_code(c));
    httpflv_client_close(c);
    return rc;
}

static int print_summary(pull_t *p, FILE *to)
{
    double dur = (double)(p->end_ms - p->request_ms) / 1000.0;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "url", p->url);
    cJSON_AddStringToObject(o, "protocol", p->ws ? "ws" : p->http ? "http" : "rtmp");
    cJSON_AddStringToObject(o, "status", p->status);
    cJSON_AddNumberToObject(o, "tags", (double)p->tags);
    cJSON_AddNumberToObject(o, "video", (double)p->video);
    cJSON_AddNumberToObject(o, "frames", (double)p->frames);
    cJSON_AddNumberToObject(o, "keyframes", (double)p->keyframes);
    cJSON_AddNumberToObject(o, "audio", (double)p->audio);
    cJSON_AddNumberToObject(o, "data", (double)p->data);
    cJSON_AddNumberToObject(o, "bytes", (double)p->bytes);
    cJSON_AddNumberToObject(o, "bitrate_kbps",
                            tool_round(dur > 0 ? (double)p->bytes * 8 / 1000 / dur : 0, 1));
    tool_json_num_or_null(o, "first_frame_ms", p->frames > 0, (double)p->first_frame_ms);
    if (p->frames > 0)
        cJSON_AddBoolToObject(o, "first_frame_key", p->first_frame_key);
    else
        cJSON_AddNullToObject(o, "first_frame_key");
    tool_json_num_or_null(o, "first_ts", p->tags > 0, p->first_ts);
    tool_json_num_or_null(o, "last_ts", p->tags > 0, p->last_ts);
    cJSON_AddNumberToObject(o, "duration_s", tool_round(dur, 3));
    cJSON_AddStringToObject(o, "stopped_by", p->stopped_by ? p->stopped_by : "error");
    return tool_json_emit(to, o);
}

/* Parses the options into p. Returns -1 to go on, or an exit status. */
static int parse_args(pull_t *p, int argc, char **argv, int *complex)
{
    static const struct option opts[] = {{"duration", required_argument, NULL, 'd'},
                                         {"frames", required_argument, NULL, 'n'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"complex", no_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         TOOL_TLS_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    long v;
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (tool_tls_option(o, optarg))
            continue;
        switch (o) {
        case 'd':
            if (tool_parse_seconds(optarg, 86400, &p->duration_s) != 0) {
                fprintf(stderr, "weir-pull: --duration: expected seconds (0..86400]\n");
                return TOOL_EXIT_USAGE;
            }
            break;
        case 'n':
            if (tool_parse_long(optarg, 1, 1000000000L, &p->max_frames) != 0) {
                fprintf(stderr, "weir-pull: --frames: expected a positive count\n");
                return TOOL_EXIT_USAGE;
            }
            break;
        case 't':
            if (tool_parse_long(optarg, 1, 3600000, &v) != 0) {
                fprintf(stderr, "weir-pull: --timeout: expected milliseconds (1..3600000)\n");
                return TOOL_EXIT_USAGE;
            }
            p->timeout_ms = (int)v;
            break;
        case 'c': *complex = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return TOOL_EXIT_USAGE;
        }
    }
    int nargs = argc - optind;
    if (nargs < 1 || nargs > 2) {
        fprintf(stderr, "weir-pull: expected URL [OUT.flv|-] (see --help)\n");
        return TOOL_EXIT_USAGE;
    }
    if (tool_tls_apply("weir-pull") != 0)
        return TOOL_EXIT_USAGE;
    p->url = argv[optind];
    p->out_name = nargs == 2 ? argv[optind + 1] : NULL;
    char err[RTMP_CLIENT_ERR_MAX + HTTPFLV_ERR_MAX];
    url_scheme_t sch = url_scheme(p->url);
    p->ws = sch == URL_SCHEME_WS || sch == URL_SCHEME_WSS;
    if (p->ws || sch == URL_SCHEME_HTTP || sch == URL_SCHEME_HTTPS) {
        httpflv_url_t hu;
        p->http = 1;
        if (httpflv_url_parse(p->url, &hu, err, sizeof err) == 0)
            return -1;
    } else {
        url_rtmp_t ru;
        if (url_rtmp_parse(p->url, &ru, err, sizeof err) == 0)
            return -1;
    }
    fprintf(stderr, "weir-pull: bad URL: %s\n", err);
    return TOOL_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    pull_t p;
    memset(&p, 0, sizeof p);
    p.timeout_ms = PULL_DEFAULT_TIMEOUT_MS;
    p.first_frame_ms = -1;
    int complex = 0;
    int rc = parse_args(&p, argc, argv, &complex);
    if (rc >= 0)
        return rc;
    FILE *report = stdout;
    if (p.out_name && strcmp(p.out_name, "-") == 0) {
        p.out = stdout;
        p.out_name = "stdout";
        report = stderr;
    } else if (p.out_name && !(p.out = fopen(p.out_name, "wb"))) {
        fprintf(stderr, "weir-pull: %s: %s\n", p.out_name, strerror(errno));
        return TOOL_EXIT_LOCAL;
    }
    tool_install_stop_signals();
    rc = 0;
    if (p.out && flv_file_write_header(p.out, 1, 1) != 0) {
        fprintf(stderr, "weir-pull: %s: %s\n", p.out_name, strerror(errno));
        rc = TOOL_EXIT_LOCAL;
    }
    if (rc == 0)
        rc = p.http ? pull_http(&p) : pull_rtmp(&p, complex);
    p.end_ms = weir_mono_ms();
    if (p.out && p.out != stdout && fclose(p.out) != 0 && rc == 0) {
        fprintf(stderr, "weir-pull: %s: %s\n", p.out_name, strerror(errno));
        rc = TOOL_EXIT_LOCAL;
    } else if (p.out == stdout && fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "weir-pull: stdout: %s\n", strerror(errno));
        rc = TOOL_EXIT_LOCAL;
    }
    if ((rc == 0 || rc == TOOL_EXIT_STALLED) && print_summary(&p, report) != 0) {
        fprintf(stderr, "weir-pull: cannot write the summary\n");
        rc = TOOL_EXIT_LOCAL;
    }
    return rc;
}
