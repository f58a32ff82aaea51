/* weir-fmp4: an FLV file to fragmented MP4 (CMAF) with the node's fMP4
 * muxer (node/codec/fmp4_mux.h): init.mp4 and one file per fragment, cut
 * as an HLS segmenter would (at key frames, or every N ms as LL-HLS parts).
 * It checks the muxer against real players (tests/integration/
 * test_fmp4_mux.py runs ffprobe and ffmpeg on its output) and lets an
 * operator look at what Weir's HLS will serve for a recorded stream.
 *
 * The whole file is read into memory first (bounded by TOOL_MAX_BYTES):
 * cutting needs the next sample's time, as a live segmenter has it when
 * that sample arrives. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flv_file.h"
#include "fmp4_mux.h"
#include "tool_util.h"

#define TOOL_MAX_BYTES (1024u * 1024 * 1024)
#define TOOL_DEFAULT_FRAG_MS 1000
#define TOOL_PATH_MAX 4096

typedef struct {
    fmp4_track_t track;
    int have;
    fmp4_sample_t *s; /* data points into bodies the tool owns */
    size_t n, cap;
} tool_track_t;

typedef struct {
    tool_track_t video, audio;
    uint8_t **bodies; /* every tag body kept, freed at the end */
    size_t nbodies, capbodies;
    size_t bytes;
} tool_input_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: weir-fmp4 IN.flv OUTDIR [--frag-ms MS | --part-ms MS] [--flat]\n"
            "\n"
            "Writes OUTDIR/init.mp4 (ftyp + moov) and OUTDIR/frag-NNNNN.m4s (moof +\n"
            "mdat) from an FLV file: H.264, H.265 (legacy id 12 or Enhanced RTMP hvc1)\n"
            "or AV1 (Enhanced RTMP av01) video, AAC audio; the first sequence header of\n"
            "each is used. Fragments are cut at the first key frame at least --frag-ms\n"
            "(default %d) after the fragment's start; with --part-ms, every MS of video\n"
            "regardless of key frames (LL-HLS parts). Audio goes with the video of the\n"
            "same time. init.mp4 followed by the fragments is a playable MP4.\n"
            "The first line on stdout is init.mp4 and the tracks' RFC 6381 codecs\n"
            "(an HLS CODECS attribute).\n"
            "--flat writes each fragment from one buffer (fmp4_mux_frag_write) instead\n"
            "of the header plus references to the samples (fmp4_mux_frag_iov); the\n"
            "bytes are the same. Then one line per fragment: file, sequence number,\n"
            "start ms, video and audio samples, bytes.\n"
            "\n"
            "Exit status: 0 success; 1 file error (missing, not FLV, corrupt, no\n"
            "supported track, write error); 2 usage error.\n",
            TOOL_DEFAULT_FRAG_MS);
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap * 2 : 256;
    while (c < need)
        c *= 2;
    void *q = realloc(p, c * elem);
    if (!q) {
        fprintf(stderr, "weir-fmp4: out of memory\n");
        exit(TOOL_EXIT_LOCAL);
    }
    *cap = c;
    return q;
}

static uint8_t *keep_body(tool_input_t *in, const flv_tag_t *tag)
{
    uint8_t *b = malloc(tag->len ? tag->len : 1);
    if (!b) {
        fprintf(stderr, "weir-fmp4: out of memory\n");
        exit(TOOL_EXIT_LOCAL);
    }
    memcpy(b, tag->body, tag->len);
    in->bodies = grow(in->bodies, &in->capbodies, in->nbodies + 1, sizeof *in->bodies);
    in->bodies[in->nbodies++] = b;
    in->bytes += tag->len;
    return b;
}

/* One audio or video tag: the track's sequence header (the first one), or
 * a sample once the track exists. */
static void add_tag(tool_input_t *in, const flv_tag_t *tag)
{
    int video = tag->type == FLV_TAG_VIDEO;
    tool_track_t *t = video ? &in->video : &in->audio;
    const char *err;
    fmp4_sample_t s;
    uint8_t *body = keep_body(in, tag);
    if (!t->have) {
        int rc = video ? fmp4_mux_track_video(&t->track, 1, body, tag->len, &err)
                       : fmp4_mux_track_audio(&t->track, 1, body, tag->len, &err);
        t->have = rc == 0;
        return;
    }
    int rc = video ? fmp4_mux_sample_video(&t->track, body, tag->len, tag->ts, &s)
                   : fmp4_mux_sample_audio(&t->track, body, tag->len, tag->ts, &s);
    if (rc != 0)
        return;
    t->s = grow(t->s, &t->cap, t->n + 1, sizeof *t->s);
    t->s[t->n++] = s;
}

static int load(const char *path, tool_input_t *in)
{
    char err[FLV_FILE_ERR_MAX];
    flv_file_t *f = flv_file_open(path, err, sizeof err);
    if (!f) {
        fprintf(stderr, "weir-fmp4: %s\n", err);
        return -1;
    }
    flv_tag_t tag;
    uint64_t off;
    int rc;
    while ((rc = flv_file_next(f, &tag, &off)) == 1 && in->bytes < TOOL_MAX_BYTES)
        if (tag.type == FLV_TAG_VIDEO || tag.type == FLV_TAG_AUDIO)
            add_tag(in, &tag);
    if (rc < 0)
        fprintf(stderr, "weir-fmp4: %s\n", flv_file_error(f));
    else if (rc == 1)
        fprintf(stderr, "weir-fmp4: %s: over %u bytes of media\n", path, TOOL_MAX_BYTES);
    flv_file_close(f);
    if (rc == 0 && !(in->video.have && in->video.n) && !(in->audio.have && in->audio.n)) {
        fprintf(stderr, "weir-fmp4: %s: no H.264/H.265/AV1 or AAC samples\n", path);
        return -1;
    }
    return rc == 0 ? 0 : -1;
}

static int write_file(const char *dir, const char *name, const fmp4_iov_t *iov, size_t n)
{
    char path[TOOL_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    int ok = f != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = iov[i].len == 0 || fwrite(iov[i].p, 1, iov[i].len, f) == iov[i].len;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        perror(path);
    return ok ? 0 : -1;
}

/* The tracks with samples, numbered 1.. in order (video first). */
static size_t tracks(tool_input_t *in, tool_track_t **out)
{
    size_t n = 0;
    if (in->video.have && in->video.n)
        out[n++] = &in->video;
    if (in->audio.have && in->audio.n)
        out[n++] = &in->audio;
    for (size_t i = 0; i < n; i++)
        out[i]->track.id = (uint32_t)i + 1;
    return n;
}

/* init.mp4, and its line on stdout: the file and the CODECS attribute. */
static int write_init(const char *dir, tool_track_t **tt, size_t n)
{
    fmp4_track_t t[2];
    char codecs[2 * FMP4_CODEC_STRING_MAX] = "";
    for (size_t i = 0; i < n; i++) {
        t[i] = tt[i]->track;
        char one[FMP4_CODEC_STRING_MAX];
        if (fmp4_mux_codec_string(&t[i], one, sizeof one) == 0)
            snprintf(codecs + strlen(codecs), sizeof codecs - strlen(codecs), "%s%s", i ? "," : "",
                     one);
    }
    size_t len;
    fmp4_mux_init(t, n, NULL, 0, &len);
    uint8_t *buf = malloc(len);
    int rc = buf ? fmp4_mux_init(t, n, buf, len, &len) : NODE_ENOMEM;
    fmp4_iov_t iov = {buf, len};
    if (rc == 0)
        rc = write_file(dir, "init.mp4", &iov, 1);
    else
        fprintf(stderr, "weir-fmp4: init segment: error %d\n", rc);
    if (rc == 0)
        printf("init.mp4 %s\n", codecs);
    free(buf);
    return rc;
}

/* Writes one fragment of runs, as references (iov) or flat. */
static int write_frag(const char *dir, uint32_t seq, const fmp4_run_t *runs, size_t nruns, int flat)
{
    char name[64];
    snprintf(name, sizeof name, "frag-%05u.m4s", seq);
    size_t len, count;
    int rc = flat ? fmp4_mux_frag_write(seq, runs, nruns, NULL, 0, &len)
                  : fmp4_mux_frag_header(seq, runs, nruns, NULL, 0, &len);
    uint8_t *buf = rc == 0 ? malloc(len) : NULL;
    fmp4_iov_t *iov = NULL;
    if (buf && flat) {
        rc = fmp4_mux_frag_write(seq, runs, nruns, buf, len, &len);
        count = 1;
        iov = malloc(sizeof *iov);
        if (iov)
            iov[0] = (fmp4_iov_t){buf, len};
    } else if (buf) {
        rc = fmp4_mux_frag_header(seq, runs, nruns, buf, len, &len);
        fmp4_mux_frag_iov(buf, len, runs, nruns, NULL, 0, &count);
        iov = malloc(count * sizeof *iov);
        if (iov)
            fmp4_mux_frag_iov(buf, len, runs, nruns, iov, count, &count);
    }
    if (rc == 0 && iov)
        rc = write_file(dir, name, iov, count);
    else
        fprintf(stderr, "weir-fmp4: %s: error %d\n", name, rc ? rc : NODE_ENOMEM);
    free(iov);
    free(buf);
    return rc == 0 && iov ? 0 : -1;
}

/* The run of track t in the fragment ending before end_ms (INT64_MAX: the
 * last), starting at sample *next; advances *next. */
static fmp4_run_t run_until(const tool_track_t *t, size_t *next, int64_t end_ms)
{
    fmp4_run_t r = {&t->track, t->s + *next, 0, FMP4_DTS_NONE};
    size_t i = *next;
    while (i < t->n && t->s[i].dts_ms < end_ms)
        i++;
    r.n = i - *next;
    if (i < t->n)
        r.next_dts_ms = t->s[i].dts_ms;
    *next = i;
    return r;
}

/* Cuts: the leader track (video, else audio) starts a fragment at a sample
 * (a key frame unless part_ms) at least frag_ms after the current start. */
static int cut_all(const char *dir, tool_track_t **tt, size_t n, uint32_t frag_ms, int parts,
                   int flat)
{
    const tool_track_t *lead = tt[0];
    size_t next[2] = {0, 0}, i = 1;
    int64_t start = lead->s[0].dts_ms;
    uint32_t seq = 1;
    while (1) {
        while (i < lead->n && !((parts || lead->s[i].key) && lead->s[i].dts_ms - start >= frag_ms))
            i++;
        int64_t end = i < lead->n ? lead->s[i].dts_ms : INT64_MAX;
        fmp4_run_t runs[2];
        size_t samples = 0;
        for (size_t k = 0; k < n; k++) {
            runs[k] = run_until(tt[k], &next[k], end);
            samples += runs[k].n;
        }
        if (samples && write_frag(dir, seq, runs, n, flat) != 0)
            return -1;
        if (samples)
            printf("frag-%05u.m4s %u %lld %zu %zu %zu\n", seq, seq, (long long)start, runs[0].n,
                   n > 1 ? runs[1].n : (size_t)0, fmp4_mux_frag_payload_len(runs, n));
        seq += samples != 0;
        if (end == INT64_MAX)
            return 0;
        start = end;
        i++;
    }
}

static void input_free(tool_input_t *in)
{
    for (size_t i = 0; i < in->nbodies; i++)
        free(in->bodies[i]);
    free(in->bodies);
    free(in->video.s);
    free(in->audio.s);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"frag-ms", required_argument, NULL, 'f'},
                                         {"part-ms", required_argument, NULL, 'p'},
                                         {"flat", no_argument, NULL, 'F'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    long ms = TOOL_DEFAULT_FRAG_MS;
    int parts = 0, flat = 0, o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'f':
        case 'p':
            if (tool_parse_long(optarg, 1, 86400000L, &ms) != 0) {
                fprintf(stderr, "weir-fmp4: expected milliseconds (1..86400000)\n");
                return TOOL_EXIT_USAGE;
            }
            parts = o == 'p';
            break;
        case 'F': flat = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return TOOL_EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "weir-fmp4: expected IN.flv OUTDIR (see --help)\n");
        return TOOL_EXIT_USAGE;
    }
    tool_input_t in;
    memset(&in, 0, sizeof in);
    tool_track_t *tt[2];
    int rc = load(argv[optind], &in);
    size_t n = rc == 0 ? tracks(&in, tt) : 0;
    if (rc == 0)
        rc = write_init(argv[optind + 1], tt, n);
    if (rc == 0)
        rc = cut_all(argv[optind + 1], tt, n, (uint32_t)ms, parts, flat);
    input_free(&in);
    return rc == 0 ? TOOL_EXIT_OK : TOOL_EXIT_LOCAL;
}
