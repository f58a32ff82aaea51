"""The operator tools against a real node and ffmpeg: weir-push, weir-pull
(RTMP and HTTP-FLV), weir-flv info/extract/fix/ts.

- a clip pushed at real-time pace comes back complete over RTMP and over
  HTTP-FLV (to stdout), decodable, with the tools' JSON summaries agreeing;
- `weir-flv info --json` agrees with ffprobe (codecs, size, frame counts);
- `extract` output (H.264 and Enhanced RTMP H.265 as Annex B, AAC as ADTS)
  decodes with ffmpeg with the source's frame counts;
- `ts` writes HEVC (Enhanced RTMP hvc1 and legacy codec id 12) as MPEG-TS
  that ffmpeg decodes without a word, every frame (the H.264 + AAC clip is
  in test_httpts.py);
- `fix` repairs timestamps shifted backwards and forwards;
- `--loop` keeps timestamps monotonic across the wrap;
- bad URLs, missing or non-FLV files, BadName, StreamNotFound, HTTP 404 and
  refused connections end with a clear message and the documented exit code.
"""

import json
import os
import signal
import struct
import subprocess
import time

import pytest

import rtmp_min
import weirtest
from weirtest import FLV_AUDIO, FLV_SCRIPT, FLV_VIDEO, parse_flv, proc_stderr, wait_proc

# The Enhanced RTMP HEVC clip fixture (module scope there, reused here).
from test_hevc_ertmp import hevc_flv  # noqa: F401  (pytest fixture)
from test_httpts import counted, ffmpeg_silent, legacy_hevc, weir_flv_ts

APP = "live"
# Exit codes (tools/common/tool_util.h, and each tool's --help).
EXIT_LOCAL, EXIT_USAGE, EXIT_NET, EXIT_REFUSED = 1, 2, 3, 4


def last_json(text):
    lines = [x for x in text.strip().splitlines() if x.startswith("{")]
    assert lines, "no JSON line in %r" % text[-500:]
    return json.loads(lines[-1])


def finish(p, timeout, stream="stdout"):
    """Waits for a background tool, asserts exit 0, returns its JSON summary."""
    rc = wait_proc(p, timeout, p.weir_name)
    assert rc == 0, "%s exited %d:\n%s" % (p.weir_name, rc, proc_stderr(p))
    with open(p.weir_stdout if stream == "stdout" else p.weir_stderr, errors="replace") as f:
        return last_json(f.read())


def decoded(path, fmt=None):
    """ffprobe -count_frames of every stream: {codec_type: stream dict}."""
    args = ["-count_frames", "-show_streams"]
    if fmt:
        args = ["-f", fmt] + args
    info = weirtest.ffprobe_json(path, *args, timeout=60)
    return {s["codec_type"]: s for s in info["streams"]}


def ffmpeg_decodes(path, fmt):
    """Decodes a raw elementary stream with ffmpeg; asserts no error output."""
    res = weirtest.run([weirtest.require_tool("ffmpeg"), "-hide_banner", "-nostdin",
                        "-v", "error", "-f", fmt, "-i", str(path), "-f", "null", "-"],
                       timeout=60)
    assert res.returncode == 0 and not res.stderr.strip(), \
        "ffmpeg -f %s failed on %s: %s" % (fmt, path, res.stderr[-2000:])


def write_flv(path, flags, tags):
    out = bytearray(b"FLV\x01" + bytes([flags]) + struct.pack(">I", 9) + b"\x00" * 4)
    for t in tags:
        ts = t.timestamp
        out += bytes([t.type]) + len(t.data).to_bytes(3, "big") + \
            (ts & 0xFFFFFF).to_bytes(3, "big") + bytes([(ts >> 24) & 0xFF]) + b"\x00\x00\x00"
        out += t.data + struct.pack(">I", 11 + len(t.data))
    path.write_bytes(bytes(out))


def read_tags(path):
    data = path.read_bytes()
    _, tags, consumed = parse_flv(data)
    assert consumed == len(data), "%s: %d trailing bytes" % (path, len(data) - consumed)
    return tags


# ---------------------------------------------------------------- help

@pytest.mark.parametrize("name", ["weir-push", "weir-pull", "weir-flv", "weir-fmp4"])
def test_help_and_usage_errors(name):
    res = weirtest.run([weirtest.tool(name), "--help"], timeout=10)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("usage: %s" % name), res.stdout[:200]
    assert "Exit status" in res.stdout, "--help does not document the exit codes"
    res = weirtest.run([weirtest.tool(name)], timeout=10)
    assert res.returncode == EXIT_USAGE, (res.returncode, res.stderr)
    assert "%s:" % name in res.stderr and "--help" in res.stderr, res.stderr
    res = weirtest.run([weirtest.tool(name), "--no-such-option", "x"], timeout=10)
    assert res.returncode == EXIT_USAGE, (res.returncode, res.stderr)


# ---------------------------------------------------------------- push / pull

def test_push_then_pull_over_rtmp_and_httpflv(node, procs, clip, tmp_path):
    """Players waiting before the publisher get the whole clip: the RTMP one
    into a file, the HTTP-FLV one on stdout; both decode like the source."""
    n = node(stream={"play_wait_ms": 20000, "unpublish_grace_ms": 300},
             http_flv={"wait_for_stream": True})
    rtmp_out = tmp_path / "rtmp.flv"
    http_out = tmp_path / "http.flv"
    rtmp_player = procs.spawn([weirtest.tool("weir-pull"), "--timeout", "20000",
                                n.rtmp_url(APP, "t"), str(rtmp_out)], "rtmp_player", keep_stdout=True)
    with open(http_out, "wb") as fo, open(tmp_path / "http_player.stderr", "wb") as fe:
        http_player = subprocess.Popen(
            [weirtest.tool("weir-pull"), "--timeout", "20000", n.http_url(APP, "t"), "-"],
            stdin=subprocess.DEVNULL, stdout=fo, stderr=fe)
    http_player.weir_name, http_player.weir_stderr = "http_player", str(
        tmp_path / "http_player.stderr")
    http_player.weir_cmd, http_player.weir_stdout = [], str(http_out)
    procs.items.append(http_player)
    time.sleep(0.5)
    assert rtmp_player.poll() is None and http_player.poll() is None, \
        "a player gave up before the publisher came"

    pusher = procs.spawn([weirtest.tool("weir-push"), str(clip.path), n.rtmp_url(APP, "t")], "pusher", keep_stdout=True)
    push = finish(pusher, clip.seconds + 20)
    src_tags = read_tags(clip.path)
    assert push["video"] == sum(t.type == FLV_VIDEO for t in src_tags), push
    assert push["tags"] == len(src_tags), push
    assert push["loops"] == 1 and push["stopped_by"] == "end", push
    assert push["duration_s"] >= clip.seconds - 1.0, "not paced in real time: %r" % push
    assert push["bitrate_kbps"] > 100, push
    with open(pusher.weir_stderr) as f:
        progress = [x for x in f if "kbit/s" in x]
    assert len(progress) >= clip.seconds - 2, "progress lines: %r" % progress

    rtmp = finish(rtmp_player, 20)
    http = finish(http_player, 20, stream="stderr")
    for who, summary, path in (("rtmp", rtmp, rtmp_out), ("http", http, http_out)):
        assert summary["protocol"] == who, summary
        assert summary["stopped_by"] == "eof", summary
        assert abs(summary["frames"] - clip.nb_video) <= 2, (who, summary)
        assert summary["first_frame_key"] is True, (who, summary)
        assert summary["first_frame_ms"] is not None and summary["first_frame_ms"] >= 0
        assert summary["bitrate_kbps"] > 0, summary
        tags = read_tags(path)
        assert summary["tags"] == len(tags), (who, summary, len(tags))
        assert summary["bytes"] == sum(len(t.data) for t in tags), (who, summary)
        streams = decoded(path)
        v, a = streams.get("video"), streams.get("audio")
        assert v and a, "%s: streams %r" % (who, list(streams))
        assert (v["codec_name"], a["codec_name"]) == ("h264", "aac"), (who, v, a)
        assert (v["width"], v["height"]) == (640, 360), (who, v["width"], v["height"])
        assert abs(int(v["nb_read_frames"]) - clip.nb_video) <= 2, (who, v["nb_read_frames"])
    assert http["status"] == "HTTP 200", http
    assert n.alive(), "node died:\n%s" % n.diagnostics()


def test_push_loop_keeps_timestamps_monotonic(node, procs, media_dir, tmp_path):
    """A 2 s clip pushed with --loop: a player sees video timestamps rising
    by one frame interval at every wrap; SIGTERM ends the push cleanly."""
    short = media_dir / "short_2s.flv"
    if not short.exists():
        weirtest.run([weirtest.require_tool("ffmpeg")] + weirtest.FFMPEG_COMMON + [
            "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "2",
            "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-f", "flv", str(short)], timeout=60, check=True)
    n = node(stream={"play_wait_ms": 10000})
    url = n.rtmp_url(APP, "loop")
    out = tmp_path / "loop.flv"
    player = procs.spawn([weirtest.tool("weir-pull"), "--duration", "5.5", url, str(out)], "player", keep_stdout=True)
    time.sleep(0.3)
    pusher = procs.spawn([weirtest.tool("weir-push"), "--loop", str(short), url], "pusher", keep_stdout=True)
    pulled = finish(player, 20)
    assert pulled["stopped_by"] == "duration", pulled
    pusher.send_signal(signal.SIGTERM)
    push = finish(pusher, 10)
    assert push["stopped_by"] == "signal" and push["loops"] >= 2, push

    # Each pass starts one frame (40 ms) after the last timestamp of the
    # previous one, whichever stream carried it.
    src = read_tags(short)
    src_video = [t.timestamp for t in src if t.type == FLV_VIDEO and t.is_coded_video()]
    last_ts = max(t.timestamp for t in src)
    wrap_step = last_ts + 40 - src_video[-1]
    got = read_tags(out)
    for kind in (FLV_VIDEO, FLV_AUDIO):
        ts = [t.timestamp for t in got if t.type == kind and (t.is_coded_video()
                                                               or t.is_coded_audio())]
        assert len(ts) >= 100, "only %d frames of type %d in 5.5 s" % (len(ts), kind)
        steps = [b - a for a, b in zip(ts, ts[1:])]
        assert all(s > 0 for s in steps), "type %d timestamps not increasing: %r" % (
            kind, [(i, s) for i, s in enumerate(steps) if s <= 0][:5])
        assert ts[-1] >= 4000, "the loop did not continue the timestamps: last %d" % ts[-1]
        if kind == FLV_VIDEO:
            assert set(steps) <= {40, wrap_step}, "video steps %r" % sorted(set(steps))
            assert steps.count(wrap_step) >= 1, "no wrap seen"


# ---------------------------------------------------------------- weir-flv

def test_flv_info_agrees_with_ffprobe(clip):
    res = weirtest.run([weirtest.tool("weir-flv"), "info", "--json", str(clip.path)], timeout=30)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    streams = weirtest.probe_streams(clip.path)
    v, a = streams["video"], streams["audio"]
    assert info["video_codec"] == v["codec_name"] == "h264", info
    assert info["audio_codec"] == a["codec_name"] == "aac", info
    assert (info["width"], info["height"]) == (v["width"], v["height"]) == (640, 360), info
    assert info["video_frames"] == clip.nb_video == len(weirtest.probe_packets(clip.path, "v"))
    assert info["audio_frames"] == len(weirtest.probe_packets(clip.path, "a")), info
    assert info["keyframes"] == len(clip.key_ts), info
    gops = info["gops"]
    assert gops["count"] == len(clip.key_ts), gops
    assert gops["min_frames"] == gops["max_frames"] == clip.gop_frames, gops
    assert gops["avg_ms"] == 1000, gops
    assert info["duration_ms"] == clip.seconds * 1000, info
    assert info["gaps"] == [] and info["jumps"] == [], info

    res = weirtest.run([weirtest.tool("weir-flv"), "info", "--tags", str(clip.path)], timeout=30)
    assert res.returncode == 0, res.stderr
    assert "video: h264 640x360, %d frames" % clip.nb_video in res.stdout, res.stdout[-800:]
    assert res.stdout.count(" key\n") == len(clip.key_ts), "per-tag listing misses key frames"


def test_flv_extract_h264_and_aac_decode(clip, tmp_path):
    vout, aout = tmp_path / "out.h264", tmp_path / "out.aac"
    res = weirtest.run([weirtest.tool("weir-flv"), "extract", str(clip.path), "--video", str(vout),
                        "--audio", str(aout)], timeout=60)
    assert res.returncode == 0, res.stderr
    ffmpeg_decodes(vout, "h264")
    ffmpeg_decodes(aout, "aac")
    v = decoded(vout, "h264")["video"]
    assert (v["codec_name"], v["width"], v["height"]) == ("h264", 640, 360), v
    assert int(v["nb_read_frames"]) == clip.nb_video, v["nb_read_frames"]
    a = decoded(aout, "aac")["audio"]
    assert int(a["nb_read_frames"]) == len(weirtest.probe_packets(clip.path, "a")), a
    assert (a["codec_name"], int(a["sample_rate"])) == ("aac", 44100), a


def test_flv_extract_enhanced_hevc(hevc_flv, tmp_path):  # noqa: F811
    res = weirtest.run([weirtest.tool("weir-flv"), "info", "--json", str(hevc_flv.path)], timeout=30)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["video_codec"] == "hevc" and info["video_frames"] == len(hevc_flv.frames), info
    assert info["keyframes"] == len(hevc_flv.key_index), info
    out = tmp_path / "out.h265"
    res = weirtest.run([weirtest.tool("weir-flv"), "extract", str(hevc_flv.path), "--video", str(out)],
                       timeout=60)
    assert res.returncode == 0, res.stderr
    ffmpeg_decodes(out, "hevc")
    v = decoded(out, "hevc")["video"]
    assert (v["codec_name"], v["width"], v["height"]) == ("hevc", 320, 240), v
    assert int(v["nb_read_frames"]) == len(hevc_flv.frames), v["nb_read_frames"]


@pytest.mark.parametrize("flavour", ["enhanced", "legacy"])
def test_flv_ts_hevc_decodes(hevc_flv, tmp_path, flavour):  # noqa: F811
    src = hevc_flv.path if flavour == "enhanced" else legacy_hevc(hevc_flv, tmp_path / "l.flv")
    out = tmp_path / "hevc.ts"
    weir_flv_ts(src, out)
    ffmpeg_silent(out)
    v = counted(out)["video"]
    assert (v["codec_name"], v["width"], v["height"]) == ("hevc", 320, 240), v
    assert int(v["nb_read_frames"]) == len(hevc_flv.frames)
    keys = [p for p in weirtest.probe_packets(out, "v") if "K" in p["flags"]]
    assert len(keys) == len(hevc_flv.key_index)


def test_flv_fix_repairs_broken_timestamps(clip, tmp_path):
    """Tags from 3 s to 5 s shifted 2.5 s back, later ones 60 s forward:
    info reports the jumps and gaps; fix makes the timestamps start at 0 and
    never decrease, keeps every media tag in order, writes new metadata."""
    flags, tags, _ = parse_flv(clip.path.read_bytes())
    broken = []
    for t in tags:
        ts = t.timestamp
        if 3000 <= ts < 5000:
            ts -= 2500
        elif ts >= 5000:
            ts += 60000
        broken.append(weirtest.FlvTag(t.type, ts + 700, t.data))
    src = tmp_path / "broken.flv"
    write_flv(src, flags, broken)

    res = weirtest.run([weirtest.tool("weir-flv"), "info", "--json", str(src)], timeout=30)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert {j["stream"] for j in info["jumps"]} == {"video", "audio"}, info["jumps"]
    assert {g["stream"] for g in info["gaps"]} == {"video", "audio"}, info["gaps"]
    assert all(j["delta_ms"] < -2000 and j["offset"] > 0 for j in info["jumps"]), info["jumps"]
    assert all(g["delta_ms"] > 60000 for g in info["gaps"]), info["gaps"]

    out = tmp_path / "fixed.flv"
    res = weirtest.run([weirtest.tool("weir-flv"), "fix", str(src), str(out)], timeout=30)
    assert res.returncode == 0, res.stderr
    fixed = read_tags(out)
    assert fixed[0].type == FLV_SCRIPT, fixed[0]
    name, meta = rtmp_min.amf0_decode_all(fixed[0].data)[:2]
    assert name == "onMetaData", name
    assert (meta["width"], meta["height"]) == (640, 360), meta
    assert (meta["videocodecid"], meta["audiocodecid"]) == (7, 10), meta
    assert 9.5 <= meta["duration"] <= 10.5, meta

    media_in = [t for t in broken if t.type in (FLV_AUDIO, FLV_VIDEO)]
    media_out = [t for t in fixed if t.type in (FLV_AUDIO, FLV_VIDEO)]
    assert [t.data for t in media_out] == [t.data for t in media_in], "tags changed or reordered"
    ts = [t.timestamp for t in fixed]
    assert ts[0] == 0 and min(ts) == 0, ts[:5]
    steps = [b - a for a, b in zip(ts, ts[1:])]
    assert all(s >= 0 for s in steps), "timestamps decrease after fix"
    assert max(steps) <= 100, "a gap is left: %d ms" % max(steps)
    assert 9500 <= ts[-1] <= 10500, ts[-1]
    assert [m for m in fixed if m.type == FLV_SCRIPT] == [fixed[0]], "old metadata kept"

    info = json.loads(weirtest.run([weirtest.tool("weir-flv"), "info", "--json", str(out)],
                                   timeout=30, check=True).stdout)
    assert info["gaps"] == [] and info["jumps"] == [] and info["first_ts"] == 0, info
    packets = weirtest.probe_packets(out, "v")
    assert len(packets) == clip.nb_video, len(packets)
    dts = [float(p["dts_time"]) for p in packets]
    src_dts = float(weirtest.probe_packets(clip.path, "v")[0]["dts_time"])
    assert dts == sorted(dts) and dts[0] == src_dts, (dts[:5], src_dts)


def test_flv_corrupt_files_fail_clearly(clip, tmp_path):
    flv = weirtest.tool("weir-flv")
    res = weirtest.run([flv, "info", str(tmp_path / "missing.flv")], timeout=10)
    assert res.returncode == EXIT_LOCAL and "No such file" in res.stderr, res.stderr
    notflv = tmp_path / "not.flv"
    notflv.write_bytes(b"RIFF0000WAVEfmt ")
    for args in (["info", str(notflv)], ["extract", str(notflv), "--video", "/dev/null"],
                 ["fix", str(notflv), str(tmp_path / "x.flv")]):
        res = weirtest.run([flv] + args, timeout=10)
        assert res.returncode == EXIT_LOCAL and "not an FLV file" in res.stderr, (args, res.stderr)

    # A huge tag size: the reader's bound, reported with the offset.
    data = bytearray(clip.path.read_bytes())
    huge = tmp_path / "huge.flv"
    huge.write_bytes(bytes(data[:13]) + b"\x09\xff\xff\xff" + b"\x00" * 7)
    res = weirtest.run([flv, "info", str(huge)], timeout=10)
    assert res.returncode == EXIT_LOCAL and "tag too big" in res.stderr, res.stderr

    # A NAL length running past its tag: extract stops with the tag's offset.
    flags, tags, _ = parse_flv(bytes(data))
    k = next(i for i, t in enumerate(tags) if t.type == FLV_VIDEO and t.is_coded_video())
    body = bytearray(tags[k].data)
    body[5:9] = struct.pack(">I", 0x7FFFFFF0)
    tags[k] = weirtest.FlvTag(FLV_VIDEO, tags[k].timestamp, bytes(body))
    bad = tmp_path / "badnal.flv"
    write_flv(bad, flags, tags)
    res = weirtest.run([flv, "extract", str(bad), "--video", str(tmp_path / "o.h264")],
                       timeout=10)
    assert res.returncode == EXIT_LOCAL, (res.returncode, res.stderr)
    assert "NAL unit length runs past the tag" in res.stderr and "offset" in res.stderr, \
        res.stderr


# ---------------------------------------------------------------- errors

def test_push_pull_errors_are_clear(node, procs, clip, tmp_path, free_port):
    push, pull = weirtest.tool("weir-push"), weirtest.tool("weir-pull")
    n = node(stream={"play_wait_ms": 300})
    url = n.rtmp_url(APP, "busy")

    for cmd in ([push, str(clip.path), "http://127.0.0.1/live/x"],
                [push, str(clip.path), "rtmp://127.0.0.1"],
                [pull, "ftp://127.0.0.1/live/x"],
                [pull, "http://127.0.0.1:8080"]):
        res = weirtest.run(cmd, timeout=10)
        assert res.returncode == EXIT_USAGE and "bad URL" in res.stderr, (cmd, res.stderr)

    res = weirtest.run([push, str(tmp_path / "missing.flv"), url], timeout=10)
    assert res.returncode == EXIT_LOCAL and "No such file" in res.stderr, res.stderr
    notflv = tmp_path / "not.flv"
    notflv.write_text("hello")
    res = weirtest.run([push, str(notflv), url], timeout=10)
    assert res.returncode == EXIT_LOCAL and "not an FLV file" in res.stderr, res.stderr

    closed = "rtmp://127.0.0.1:%d/live/x" % free_port()
    res = weirtest.run([push, "--timeout", "3000", str(clip.path), closed], timeout=10)
    assert res.returncode == EXIT_NET and "refused" in res.stderr, res.stderr

    first = procs.spawn([push, str(clip.path), url], "first_publisher", keep_stdout=True)
    weirtest.wait_live(n, APP, "busy")
    res = weirtest.run([push, "--fast", str(clip.path), url], timeout=20)
    assert res.returncode == EXIT_REFUSED, (res.returncode, res.stderr)
    assert "NetStream.Publish.BadName" in res.stderr, res.stderr

    res = weirtest.run([pull, "--timeout", "5000", n.rtmp_url(APP, "nobody")], timeout=20)
    assert res.returncode == EXIT_REFUSED, (res.returncode, res.stderr)
    assert "NetStream.Play.StreamNotFound" in res.stderr, res.stderr
    res = weirtest.run([pull, "--timeout", "5000", n.http_url(APP, "nobody")], timeout=20)
    assert res.returncode == EXIT_REFUSED and "HTTP 404" in res.stderr, res.stderr

    # Omitting OUT discards the media and only reports.
    res = weirtest.run([pull, "--duration", "1.5", url], timeout=20)
    assert res.returncode == 0, res.stderr
    summary = last_json(res.stdout)
    assert summary["frames"] > 0 and summary["first_frame_key"] is True, summary
    assert summary["stopped_by"] == "duration", summary

    first.send_signal(signal.SIGTERM)
    assert finish(first, 10)["stopped_by"] == "signal"
    assert n.alive(), "node died:\n%s" % n.diagnostics()
