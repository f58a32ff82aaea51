"""MPEG-TS: the muxer through weir-flv ts (the test clip; HEVC, as Enhanced
RTMP hvc1 and legacy codec id 12, is in test_tools.py, which has that
clip), and HTTP-TS playback
(GET /{app}/{name}.ts) from a real node: ffprobe sees H.264 + AAC with the
right frame counts, `ffmpeg -v error` decodes every frame without a word,
the decoded pictures are the source's from a key frame on, two players at
once, sessions listed with protocol http-ts (checked against openapi.yaml),
kicked through the API, and a publisher that comes back keeps the players'
TS decodable."""

import struct
import time

import pytest

import weirtest
from apischema import Api
from test_api import FlvReader, wait_for
from weirtest import FLV_VIDEO, dechunk, find_run, http_exchange, parse_flv, wait_live

APP = "live"
NAME = "cam"


def ffmpeg_silent(path, *out_opts):
    """ffmpeg -v error decodes path to null: exit 0 and not a word."""
    res = weirtest.run([weirtest.require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-v", "error",
                        "-i", str(path)] + list(out_opts) + ["-f", "null", "-"], timeout=90)
    assert res.returncode == 0 and not res.stderr.strip(), \
        "ffmpeg on %s said: %s" % (path, res.stderr[-2000:])


def counted(path):
    """ffprobe -count_frames: {codec_type: stream} (decodes: for small files)."""
    info = weirtest.ffprobe_json(path, "-count_frames", "-show_streams", timeout=60)
    return {s["codec_type"]: s for s in info["streams"]}


def decoded_md5(path):
    """MD5 of every decoded video picture, in output order."""
    res = weirtest.run([weirtest.require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-v", "error",
                        "-i", str(path), "-map", "0:v", "-f", "framemd5", "-"], timeout=90)
    assert res.returncode == 0, res.stderr[-2000:]
    return [line.rsplit(",", 1)[1].strip() for line in res.stdout.splitlines()
            if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def clip_md5(clip):
    return decoded_md5(clip.path)


def weir_flv_ts(src, out):
    res = weirtest.run([weirtest.tool("weir-flv"), "ts", str(src), str(out)], timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


# ---------------------------------------------------------------- the muxer

def test_flv_ts_h264_aac(clip, clip_md5, tmp_path):
    out = tmp_path / "clip.ts"
    summary = weir_flv_ts(clip.path, out)
    assert "%d random access points" % len(clip.key_ts) in summary, summary
    assert out.stat().st_size % 188 == 0
    ffmpeg_silent(out)
    got = weirtest.probe_streams(out)
    assert got["video"]["codec_name"] == "h264" and got["audio"]["codec_name"] == "aac", got
    assert (got["video"]["width"], got["video"]["height"]) == (640, 360)
    assert int(got["audio"]["sample_rate"]) == 44100
    assert len(weirtest.probe_packets(out, "a")) == len(weirtest.probe_packets(clip.path, "a"))
    md5 = decoded_md5(out)
    assert len(md5) == clip.nb_video and md5 == clip_md5, "decoded pictures differ"
    # DTS = the FLV timestamp (90 kHz), key frames where the source has them
    packets = weirtest.probe_packets(out, "v")
    assert [round(float(p["dts_time"]) * 1000) for p in packets] == clip.video_ts
    keys = [round(float(p["dts_time"]) * 1000) for p in packets if "K" in p["flags"]]
    assert keys == clip.key_ts


def legacy_hevc(src, path):
    """The Enhanced RTMP clip rewritten with legacy codec id 12 headers."""
    _, tags, _ = parse_flv(src.path.read_bytes())
    out = bytearray(b"FLV\x01\x01" + struct.pack(">I", 9) + b"\x00" * 4)
    for t in tags:
        body = t.data
        if t.type == FLV_VIDEO:
            ft, pt = (body[0] >> 4) & 7, body[0] & 0x0F
            if pt == 0:
                body = bytes([0x1C, 0, 0, 0, 0]) + body[5:]
            elif pt == 1:
                body = bytes([(ft << 4) | 12, 1]) + body[5:8] + body[8:]
            else:
                body = bytes([(ft << 4) | 12, 1, 0, 0, 0]) + body[5:]
        ts = t.timestamp
        out += bytes([t.type]) + len(body).to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big")
        out += bytes([ts >> 24]) + b"\x00\x00\x00" + body + struct.pack(">I", 11 + len(body))
    path.write_bytes(bytes(out))
    return path


# ---------------------------------------------------------------- HTTP-TS

@pytest.fixture(scope="module")
def live(tmp_path_factory, clip):
    """One node, live/cam published by a looping ffmpeg."""
    wd = tmp_path_factory.mktemp("httpts")
    n = weirtest.Node(wd / "node", {})
    procs = weirtest.Procs(wd)
    n.start()
    try:
        procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "publisher")
        wait_live(n, APP, NAME)
        time.sleep(1.5)  # a player joins mid-stream, at the cached key frame
        yield n
    finally:
        procs.stop_all()
        n.stop_and_check()


def ts_url(n, app=APP, name=NAME):
    return "http://127.0.0.1:%d/%s/%s.ts" % (n.http_port, app, name)


def pids_of(data):
    return [((data[i + 1] & 0x1F) << 8) | data[i + 2] for i in range(0, len(data) - 187, 188)]


@pytest.mark.parametrize("version", ["1.1", "1.0"])
def test_http_ts_response(live, version):
    host = "Host: x\r\n" if version == "1.1" else ""
    req = ("GET /%s/%s.ts HTTP/%s\r\n%s\r\n" % (APP, NAME, version, host)).encode()
    r = http_exchange(live.http_port, req, body_bytes=1 << 20, body_seconds=1.5)
    assert r.status == 200, r
    assert r.header("content-type") == "video/mp2t", r
    chunked = (r.header("transfer-encoding") or "").lower() == "chunked"
    assert chunked == (version == "1.1"), r
    data = dechunk(r.body)[0] if chunked else r.body
    assert len(data) > 100 * 188
    data = data[:len(data) // 188 * 188]
    assert all(data[i] == 0x47 for i in range(0, len(data), 188)), "lost packet alignment"
    pids = pids_of(data)
    assert pids[:3] == [0, 0x1000, 0x100], "PAT, PMT, then the key frame's video: %r" % pids[:3]
    assert data[2 * 188 + 5] & 0x40, "the first video packet has no random_access_indicator"
    assert 0x101 in pids, "no audio"


def test_http_ts_head_and_bad_paths(live):
    r = http_exchange(live.http_port, b"HEAD /live/cam.ts HTTP/1.1\r\nHost: x\r\n\r\n",
                      body_bytes=1, body_seconds=0.5)
    assert r.status == 200 and r.header("content-type") == "video/mp2t" and r.body == b""
    for path in (b"/live/nobody.ts", b"/live/.ts", b"/live/cam.tsx", b"/cam.ts"):
        r = http_exchange(live.http_port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.status == 404, (path, r)


def pull_ts(url, out, seconds):
    return [weirtest.require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-v", "error", "-y",
            "-rw_timeout", "20000000", "-i", url, "-t", str(seconds), "-c", "copy",
            "-f", "mpegts", str(out)]


def check_ts_across_splice(out, sizes):
    """A TS pulled across a continuation with other parameter sets (a relay
    failover to another source): decodes without a word, in every size.
    The splice may shorten one frame interval below 1/fps, which ffmpeg's
    null output (timestamps in 1/fps by default) would call non-monotonic:
    its time base is set to the TS's 90 kHz."""
    ffmpeg_silent(out, "-enc_time_base", "1:90000")
    info = weirtest.ffprobe_json(out, "-select_streams", "v", "-show_entries",
                                 "frame=width,height", timeout=60)
    got = {(f["width"], f["height"]) for f in info["frames"]}
    assert got == sizes, "decoded picture sizes %r, want %r" % (got, sizes)


def check_pulled(out, clip, clip_md5, min_frames):
    ffmpeg_silent(out)
    got = weirtest.probe_streams(out)
    assert got["video"]["codec_name"] == "h264" and got["audio"]["codec_name"] == "aac", got
    md5 = decoded_md5(out)
    assert len(md5) >= min_frames, "only %d pictures" % len(md5)
    i = find_run(md5, clip_md5, cyclic=True)
    assert i is not None, "the pictures are not a run of the source's"
    assert i % clip.gop_frames == 0, "starts at source picture %d, not a key frame" % i


def test_two_players_sessions_and_kick(node, procs, clip, clip_md5, tmp_path):
    n = node()
    api = Api(n.api_url)
    procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "publisher")
    wait_live(n, APP, NAME)
    outs = [tmp_path / ("p%d.ts" % i) for i in range(2)]
    players = [procs.spawn(pull_ts(ts_url(n), o, 4), "player%d" % i) for i, o in enumerate(outs)]
    victim = FlvReader(n, APP, NAME, ext=".ts")
    listed = wait_for("3 http-ts sessions", lambda: (lambda s: len(s) == 3 and s)(
        api.get("/api/v1/sessions", params={"protocol": "http-ts"}).json()["sessions"]))
    assert {(s["role"], s["app"], s["name"]) for s in listed} == {("player", APP, NAME)}
    assert len(api.get("/api/v1/streams/%s/%s" % (APP, NAME)).json()["players"]) == 3
    metrics = api.get("/metrics").text
    assert 'weir_sessions{role="player",protocol="http-ts"} 3' in metrics
    sid = next(s["id"] for s in listed if s["remote"].endswith(":%d" % victim.port))
    t0 = time.monotonic()
    r = api.delete("/api/v1/sessions/%d" % sid)
    assert r.status_code == 200 and r.json()["kicked"]["id"] == sid
    wait_for("the kicked player to be closed", lambda: victim.closed_at is not None, timeout=2)
    assert victim.closed_at - t0 < 1.0 and victim.bytes > 0
    victim.close()
    for p in players:
        assert weirtest.wait_proc(p, 30, p.weir_name) == 0, weirtest.proc_stderr(p)
    for o in outs:
        check_pulled(o, clip, clip_md5, 3 * clip.fps)
    evs = api.get("/api/v1/events", params={"limit": 1000}).json()["events"]
    stop = [e for e in evs if e["type"] == "play.stop" and e["session_id"] == sid]
    assert len(stop) == 1 and stop[0]["protocol"] == "http-ts" and stop[0]["reason"] == "kicked"
    starts = [e for e in evs if e["type"] == "play.start" and e["protocol"] == "http-ts"]
    assert len(starts) == 3, starts


def test_republish_keeps_ts_decodable(node, procs, clip, clip_md5, tmp_path):
    """The publisher leaves and comes back within the grace period: the
    TS player stays and what it got decodes without an error."""
    n = node(stream={"unpublish_grace_ms": 5000})
    pub = procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "pub1")
    wait_live(n, APP, NAME)
    out = tmp_path / "across.ts"
    # 8 s of media: the republish's gap (a new ffmpeg starting, slow on a
    # busy machine) must still leave 4 s of pictures.
    player = procs.spawn(pull_ts(ts_url(n), out, 8), "player")
    time.sleep(2.5)
    weirtest.interrupt(pub)
    time.sleep(0.5)
    procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "pub2")
    assert weirtest.wait_proc(player, 40, "player") == 0, weirtest.proc_stderr(player)
    ffmpeg_silent(out)
    md5 = decoded_md5(out)
    assert len(md5) >= 4 * clip.fps, "only %d pictures across the republish" % len(md5)
    assert set(md5) <= set(clip_md5), "pictures that are not the source's"


def test_audio_only_stream(node, procs, clip, tmp_path):
    """An audio-only stream plays as audio-only TS (PCR on the audio PID,
    PAT/PMT every second, so a player may join at any time)."""
    n = node()
    cmd = [weirtest.require_tool("ffmpeg")] + weirtest.FFMPEG_COMMON + [
        "-stream_loop", "-1", "-re", "-i", str(clip.path), "-vn", "-c:a", "copy", "-f", "flv",
        n.rtmp_url(APP, "radio")]
    procs.spawn(cmd, "publisher")
    api = Api(n.api_url)
    wait_for("the audio-only stream", lambda: api.get(
        "/api/v1/streams/%s/radio" % APP).status_code == 200)
    time.sleep(1.3)  # join between two PAT/PMTs
    out = tmp_path / "radio.ts"
    p = procs.spawn(pull_ts(ts_url(n, name="radio"), out, 3), "player")
    assert weirtest.wait_proc(p, 30, "player") == 0, weirtest.proc_stderr(p)
    ffmpeg_silent(out)
    got = counted(out)
    assert set(got) == {"audio"} and got["audio"]["codec_name"] == "aac", got
    assert int(got["audio"]["nb_read_frames"]) >= 2 * 44100 // 1024, got["audio"]


def test_admission_signed_url_and_drain(node, procs, clip):
    """HTTP-TS goes through HTTP-FLV's admission: a signed URL for an app
    with a play secret (401 without), and 503 while the node drains."""
    from test_auth import signed_query
    n = node(apps=[{"app": "sec", "play_secret": "ts-play-secret-0123"}])
    api = Api(n.api_url)
    procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url("sec", "cam"), loop=True), "pub")
    wait_for("sec/cam", lambda: api.get("/api/v1/streams/sec/cam").status_code == 200)

    def get(target):
        return http_exchange(n.http_port, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target.encode(),
                             body_bytes=4096, body_seconds=0.5)
    r = get("/sec/cam.ts")
    assert r.status == 401 and b"signature missing" in r.body, r
    r = get("/sec/cam.ts?" + signed_query("ts-play-secret-0123", "sec", "cam"))
    assert r.status == 200 and r.header("content-type") == "video/mp2t", r
    assert api.post("/api/v1/node/drain").status_code == 200
    r = get("/sec/cam.ts?" + signed_query("ts-play-secret-0123", "sec", "cam"))
    assert r.status == 503 and r.header("retry-after"), r
