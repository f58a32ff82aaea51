/* weir-flv: FLV file inspection and repair with the node's FLV codec.
 *   info     tags, codecs, GOPs, timestamp gaps and backward jumps;
 *   extract  H.264/H.265 as Annex B and AAC as ADTS;
 *   fix      timestamps from zero and monotonic, fresh onMetaData;
 *   ts       MPEG-TS, as HTTP-TS players get it.
 * Codec payload parsing is in node/codec/media_cfg.c, file reading and
 * writing in tools/common/flv_file.c; the commands in tools/flv/
 * (flvtool.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flvtool.h"
#include "tool_util.h"

#define FLV_DEFAULT_GAP_MS 1000
#define FLV_DEFAULT_JITTER_MS 500

static void usage(FILE *out)
{
    fprintf(out,
            "usage: weir-flv info FILE.flv [--json] [--tags] [--gap MS]\n"
            "       weir-flv extract FILE.flv [--video OUT.h264|OUT.h265] [--audio OUT.aac]\n"
            "       weir-flv fix IN.flv OUT.flv [--gap MS] [--jitter MS]\n"
            "       weir-flv ts IN.flv OUT.ts\n"
            "\n"
            "info     summarizes the file: tags per type, video and audio codecs (H.264,\n"
            "         H.265 legacy and Enhanced RTMP FourCCs, AAC, ...), width/height\n"
            "         from onMetaData, frames, key frames, GOPs (count, min/avg/max in\n"
            "         frames and ms), duration (video timestamp span plus one frame\n"
            "         interval), timestamp gaps over --gap ms (default %d) and backward\n"
            "         jumps within the video or the audio, with tag index and byte offset.\n"
            "         --tags lists every tag first; --json prints one JSON object:\n"
            "         video_codec, audio_codec, width, height, tags, video_tags,\n"
            "         audio_tags, script_tags, video_frames, audio_frames, keyframes,\n"
            "         gops {count, min_frames, avg_frames, max_frames, min_ms, avg_ms,\n"
            "         max_ms}, video_interval_ms, audio_interval_ms, first_ts, last_ts,\n"
            "         duration_ms, gaps [...], jumps [...] (each {stream, index, offset,\n"
            "         from_ms, to_ms, delta_ms}), gap_count, jump_count.\n"
            "extract  writes the video as an Annex B elementary stream (parameter sets\n"
            "         from the sequence header before every key frame that lacks them)\n"
            "         and AAC as ADTS. At least one of --video/--audio.\n"
            "fix      rewrites timestamps to start at 0 and never decrease: a jump\n"
            "         forward over --gap ms (default %d) or backward over --jitter ms\n"
            "         (default %d) is closed to one frame interval; smaller backward\n"
            "         steps are clamped. Tag order is kept; the old onMetaData is\n"
            "         replaced by a fresh one first (duration, width/height, framerate,\n"
            "         videocodecid, audiocodecid).\n"
            "ts       writes MPEG-TS with the node's muxer, the bytes an HTTP-TS player\n"
            "         gets (H.264/H.265 + AAC; PAT/PMT and parameter sets before every\n"
            "         key frame). Tags of other codecs are skipped and counted.\n"
            "\n"
            "Exit status: 0 success; 1 file error (missing, not FLV, corrupt, unsupported\n"
            "codec for extract, write error); 2 usage error.\n",
            FLV_DEFAULT_GAP_MS, FLV_DEFAULT_GAP_MS, FLV_DEFAULT_JITTER_MS);
}

/* ---- main --------------------------------------------------------------- */

static int parse_ms(const char *opt, const char *arg, uint32_t *out)
{
    long v;
    if (tool_parse_long(arg, 1, 86400000L, &v) != 0) {
        fprintf(stderr, "weir-flv: %s: expected milliseconds (1..86400000)\n", opt);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},        {"tags", no_argument, NULL, 'T'},
        {"gap", required_argument, NULL, 'g'},   {"jitter", required_argument, NULL, 'J'},
        {"video", required_argument, NULL, 'v'}, {"audio", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    int json = 0, list = 0, o;
    uint32_t gap_ms = FLV_DEFAULT_GAP_MS, jitter_ms = FLV_DEFAULT_JITTER_MS;
    const char *vout = NULL, *aout = NULL;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'j': json = 1; break;
        case 'T': list = 1; break;
        case 'g':
            if (parse_ms("--gap", optarg, &gap_ms) != 0)
                return TOOL_EXIT_USAGE;
            break;
        case 'J':
            if (parse_ms("--jitter", optarg, &jitter_ms) != 0)
                return TOOL_EXIT_USAGE;
            break;
        case 'v': vout = optarg; break;
        case 'a': aout = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return TOOL_EXIT_USAGE;
        }
    }
    int nargs = argc - optind;
    const char *cmd = nargs > 0 ? argv[optind] : "";
    if (strcmp(cmd, "info") == 0 && nargs == 2)
        return flvtool_info(argv[optind + 1], json, list, gap_ms);
    if (strcmp(cmd, "extract") == 0 && nargs == 2) {
        if (!vout && !aout) {
            fprintf(stderr, "weir-flv: extract: give --video OUT and/or --audio OUT\n");
            return TOOL_EXIT_USAGE;
        }
        return flvtool_extract(argv[optind + 1], vout, aout);
    }
    if (strcmp(cmd, "fix") == 0 && nargs == 3)
        return flvtool_fix(argv[optind + 1], argv[optind + 2], gap_ms, jitter_ms);
    if (strcmp(cmd, "ts") == 0 && nargs == 3)
        return flvtool_ts(argv[optind + 1], argv[optind + 2]);
    fprintf(stderr,
            "weir-flv: expected info FILE, extract FILE, fix IN OUT or ts IN OUT (see --help)\n");
    return TOOL_EXIT_USAGE;
}
