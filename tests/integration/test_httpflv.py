"""HTTP-FLV playback: ffmpeg as a player, and raw-socket protocol checks."""

import time

import pytest

import rtmp_min
import weirtest
from weirtest import (FLV_SCRIPT, Node, Procs, dechunk, describe_mismatch,
                      find_run, framemd5, http_exchange, parse_flv, probe_packets, probe_streams,
                      publish_cmd, pull, wait_live)

APP = "live"
NAME = "cam"
CORS = "https://player.example.test"


@pytest.fixture(scope="module")
def live(tmp_path_factory, clip):
    """One node, live stream live/cam published by a looping ffmpeg, shared
    by the read-only tests of this module."""
    wd = tmp_path_factory.mktemp("httpflv")
    n = Node(wd / "node", {"http_flv": {"cors_origin": CORS}})
    procs = Procs(wd)
    n.start()
    try:
        procs.spawn(publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "publisher")
        wait_live(n, APP, NAME)
        time.sleep(2.0)  # live for a while: a new player joins mid-stream
        yield n
    finally:
        procs.stop_all()
        n.stop_and_check()


def _get(path, version="1.1", extra=b""):
    host = b"Host: 127.0.0.1\r\n" if version == "1.1" else b""
    return b"GET " + path.encode() + b" HTTP/" + version.encode() + b"\r\n" + host + extra + b"\r\n"


def _check_flv_start(data, min_video):
    """FLV header, onMetaData first, sequence headers before coded frames,
    first coded video a key frame, timestamps not rebased and ordered."""
    assert data[:4] == b"FLV\x01", "body starts with %r" % data[:16]
    flags, tags, _ = parse_flv(data)
    assert flags & 0x05 == 0x05, "FLV header flags 0x%02x: audio and video expected" % flags
    assert tags, "no complete FLV tag"
    assert tags[0].type == FLV_SCRIPT, "first tag is %r, not script data" % tags[0]
    meta = rtmp_min.amf0_decode_all(tags[0].data)
    assert meta[0] == "onMetaData", meta[:1]
    assert meta[1].get("width") == 640 and meta[1].get("height") == 360, meta[1]

    def first(pred):
        return next((i for i, t in enumerate(tags) if pred(t)), None)

    i_vseq = first(lambda t: t.is_avc_sequence_header())
    i_aseq = first(lambda t: t.is_aac_sequence_header())
    i_video = first(lambda t: t.is_coded_video())
    i_audio = first(lambda t: t.is_coded_audio())
    assert i_video is not None and i_audio is not None, \
        "no coded audio/video in %d tags" % len(tags)
    assert i_vseq is not None and i_vseq < i_video, "AVC sequence header missing or late"
    assert i_aseq is not None and i_aseq < i_audio, "AAC sequence header missing or late"
    v0 = tags[i_video]
    assert v0.is_video_keyframe(), "first coded video tag is not a key frame: %r" % v0
    assert v0.timestamp >= 1000, "first video timestamp %d: rebased?" % v0.timestamp
    video = [t for t in tags if t.is_coded_video()]
    assert len(video) >= min_video, "only %d video tags" % len(video)
    ts = [t.timestamp for t in video]
    assert ts == sorted(ts), "video timestamps go backwards"
    return tags


def test_ffmpeg_pull(live, clip, tmp_path):
    out = tmp_path / "http.flv"
    res = pull(live.http_url(APP, NAME), out, seconds=4, timeout=25)
    assert out.exists() and out.stat().st_size > 0, "pull failed: %s" % res.stderr
    streams = probe_streams(out)
    assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
    assert (streams["video"]["width"], streams["video"]["height"]) == (640, 360)
    packets = probe_packets(out, "v")
    assert packets and "K" in packets[0].get("flags", ""), "first video packet is not a key frame"
    got = framemd5(out)
    i = find_run(got, clip.vmd5, cyclic=True)
    assert i is not None, describe_mismatch(got, clip.vmd5)
    assert i % clip.gop_frames == 0, "run starts at source packet %d, not a key frame" % i
    assert len(got) >= 3 * clip.fps, "only %d video packets in a 4 s pull" % len(got)


def test_get_http11_is_chunked(live):
    r = http_exchange(live.http_port, _get("/%s/%s.flv" % (APP, NAME)),
                      body_bytes=4 << 20, body_seconds=2.5)
    assert r.status == 200, r
    assert r.header("content-type") == "video/x-flv", r
    assert r.header("access-control-allow-origin") == CORS, r
    assert (r.header("transfer-encoding") or "").lower() == "chunked", r
    assert r.header("content-length") is None, r
    assert not r.eof, "server closed a live HTTP/1.1 stream"
    data, complete = dechunk(r.body)
    assert not complete, "chunked body ended while the stream is live"
    # 2.5 s: the cached GOP (25 frames) plus live frames.
    _check_flv_start(data, min_video=45)


def test_get_http10_closes(live):
    r = http_exchange(live.http_port, _get("/%s/%s.flv" % (APP, NAME), version="1.0"),
                      body_bytes=4 << 20, body_seconds=2.0)
    assert r.status == 200, r
    assert r.header("content-type") == "video/x-flv", r
    assert r.header("transfer-encoding") is None, "chunked sent to an HTTP/1.0 client: %r" % r
    assert (r.header("connection") or "").lower() == "close", r
    assert r.header("access-control-allow-origin") == CORS, r
    _check_flv_start(r.body, min_video=35)


def test_head_has_no_body(live):
    r = http_exchange(live.http_port,
                      b"HEAD /%s/%s.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % (
                          APP.encode(), NAME.encode()),
                      body_bytes=1, body_seconds=1.0)
    assert r.status == 200, r
    assert r.header("content-type") == "video/x-flv", r
    assert r.body == b"", "HEAD got %d body bytes: %r" % (len(r.body), r.body[:32])


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_unknown_stream_404(live, method):
    t0 = time.monotonic()
    r = http_exchange(live.http_port, b"%s /%s/nobody.flv HTTP/1.1\r\nHost: x\r\n\r\n" % (
        method.encode(), APP.encode()))
    assert r.status == 404, r
    assert time.monotonic() - t0 < 1.0, "404 took long without wait_for_stream"


@pytest.mark.parametrize("request_bytes", [
    b"hello\r\n\r\n",
    b"GET /live/cam.flv HTTX/1.1\r\nHost: x\r\n\r\n",
    b"GET /live/cam.flv HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n",
    b"GET /live/cam.flv HTTP/1.1\r\nBad Header: 1\r\n\r\n",
    b"GET /live/\x01cam.flv HTTP/1.1\r\nHost: x\r\n\r\n",
], ids=["not-http", "bad-version", "header-no-colon", "header-name-space", "control-byte"])
def test_malformed_request_400(live, request_bytes):
    r = http_exchange(live.http_port, request_bytes)
    assert r.status == 400, r


def test_header_too_large_431(live):
    req = (b"GET /live/cam.flv HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20000 +
           b"\r\n\r\n")
    r = http_exchange(live.http_port, req)
    assert r.status == 431, r


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_other_methods_405(live, method):
    r = http_exchange(live.http_port, b"%s /live/cam.flv HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 0\r\n\r\n" % method.encode())
    assert r.status == 405, r


def test_wait_for_stream(node, procs, clip):
    """With wait_for_stream, a request for a stream that is not live yet
    waits play_wait_ms: it gets the stream if it starts, else 404."""
    n = node(http_flv={"wait_for_stream": True}, stream={"play_wait_ms": 1500})

    t0 = time.monotonic()
    r = http_exchange(n.http_port, _get("/%s/never.flv" % APP), timeout=6)
    elapsed = time.monotonic() - t0
    assert r.status == 404, r
    assert 1.3 <= elapsed < 4.0, "404 after %.2fs; play_wait_ms is 1.5 s" % elapsed

    n2 = node(http_flv={"wait_for_stream": True}, stream={"play_wait_ms": 10000})
    s = weirtest.http_open(n2.http_port, _get("/%s/soon.flv" % APP), timeout=10)
    try:
        time.sleep(0.5)
        procs.spawn(publish_cmd(clip.path, n2.rtmp_url(APP, "soon")), "publisher")
        r = weirtest.read_response(s, body_bytes=4 << 20, body_seconds=2.5, timeout=10)
    finally:
        s.close()
    assert r.status == 200, r
    data, _ = dechunk(r.body)
    flags, tags, _ = parse_flv(data)
    video = [t for t in tags if t.is_coded_video()]
    assert video and video[0].is_video_keyframe(), "no key frame first: %r" % video[:1]
    # It waited from the start: it gets the first frame of the clip.
    assert video[0].timestamp == clip.video_ts[0], video[0]


def test_request_timeout(node):
    """An unfinished request head is dropped after http_flv.request_timeout_ms."""
    n = node(http_flv={"request_timeout_ms": 500})
    s = weirtest.http_open(n.http_port, b"GET /live/cam.flv HTTP/1.1\r\nHost: x\r\n")
    try:
        t0 = time.monotonic()
        got, eof = weirtest.drain_until_eof(s, 3, 4096)
        elapsed = time.monotonic() - t0
    finally:
        s.close()
    assert eof, "connection still open after 3 s"
    assert elapsed >= 0.4, "closed after %.2fs, before request_timeout_ms" % elapsed
