"""RTMP ingest and playback: ffmpeg and rtmp_min against the real node."""

import signal
import socket
import time

import pytest

import rtmp_min
import weirtest
from weirtest import (HOST, describe_mismatch, find_run, framemd5, probe_packets, probe_streams,
                      publish_cmd, pull, pull_cmd, wait_live, wait_proc)

APP = "live"


def _assert_av(path):
    streams = probe_streams(path)
    assert "video" in streams and "audio" in streams, "streams in %s: %r" % (path, list(streams))
    v, a = streams["video"], streams["audio"]
    assert v["codec_name"] == "h264", v["codec_name"]
    assert a["codec_name"] == "aac", a["codec_name"]
    assert (v["width"], v["height"]) == (640, 360), (v["width"], v["height"])


def test_early_player_receives_whole_clip(node, procs, clip, tmp_path):
    """A player waiting before the publisher gets every video packet, in order."""
    n = node(stream={"unpublish_grace_ms": 2000, "play_wait_ms": 15000})
    url = n.rtmp_url(APP, "early")
    out = tmp_path / "early.flv"
    player = procs.spawn(pull_cmd(url, out), "player")
    time.sleep(1.5)
    assert player.poll() is None, "player gave up before the publisher came:\n%s" % (
        weirtest.proc_stderr(player))
    pub = procs.spawn(publish_cmd(clip.path, url), "publisher")
    rc = wait_proc(pub, clip.seconds + 20, "publisher")
    assert rc == 0, "publisher exited %d:\n%s" % (rc, weirtest.proc_stderr(pub))
    # The player ends on UnpublishNotify (or when the grace period is over).
    wait_proc(player, 15, "player")

    _assert_av(out)
    got = framemd5(out)
    src = clip.vmd5
    assert abs(len(got) - len(src)) <= 0.05 * len(src), "%d video packets, source has %d" % (
        len(got), len(src))
    assert len(got) >= len(src) - 2, "missing %d video packets" % (len(src) - len(got))
    assert got == src[:len(got)], describe_mismatch(got, src)


def test_midstream_player_starts_on_keyframe(node, procs, clip, tmp_path):
    """A player joining mid-stream starts at a key frame (the GOP cache) and
    then gets a gap-free run of the source; timestamps are the publisher's."""
    n = node()
    url = n.rtmp_url(APP, "mid")
    procs.spawn(publish_cmd(clip.path, url), "publisher")
    wait_live(n, APP, "mid")
    time.sleep(3.0)

    # rtmp_min: the first coded video message is a key frame carrying the
    # publisher's timestamp of that frame (not rebased to 0).
    c, _ = rtmp_min.open_player(HOST, n.rtmp_port, APP, "mid")
    with c:
        info = c.wait_status(5, {"NetStream.Play.Start", "NetStream.Play.StreamNotFound"})
        assert info["code"] == "NetStream.Play.Start", info
        first = c.read_until(lambda m: m.is_coded_video(), 5)
    assert first.is_video_keyframe(), "first video message is not a key frame: %r" % first
    assert first.timestamp in clip.key_ts, "first key frame ts %d is not one of the source's %r" % (
        first.timestamp, clip.key_ts)
    assert first.timestamp >= 1000, "timestamp %d: rebased, or not a late join" % first.timestamp

    out = tmp_path / "mid.flv"
    res = pull(url, out, seconds=4, timeout=25)
    assert out.exists() and out.stat().st_size > 0, "pull failed: %s" % res.stderr
    _assert_av(out)
    packets = probe_packets(out, "v")
    assert packets, "no video packets"
    flags = packets[0].get("flags", "")
    assert "K" in flags, "first video packet flags %r" % flags
    got = framemd5(out)
    i = find_run(got, clip.vmd5)
    assert i is not None, describe_mismatch(got, clip.vmd5)
    assert i % clip.gop_frames == 0, "run starts at source packet %d, not a key frame" % i
    assert i >= clip.gop_frames, "run starts at packet %d: not a mid-stream join" % i
    assert len(got) >= 3 * clip.fps, "only %d video packets in a 4 s pull" % len(got)


def test_second_publisher_is_refused(node, procs, clip):
    n = node()
    url = n.rtmp_url(APP, "dup")
    first = procs.spawn(publish_cmd(clip.path, url, loop=True), "publisher")
    wait_live(n, APP, "dup")

    c, _, code = rtmp_min.open_publisher(HOST, n.rtmp_port, APP, "dup")
    c.close()
    assert code == "NetStream.Publish.BadName", code

    res = weirtest.run(publish_cmd(clip.path, url), timeout=20)
    assert res.returncode != 0, "second ffmpeg publisher was accepted"

    # The first publisher is unaffected and the stream still plays.
    assert first.poll() is None, "first publisher ended:\n%s" % weirtest.proc_stderr(first)
    wait_live(n, APP, "dup", timeout=5)


def test_publish_start_status(node):
    n = node()
    c, sid, code = rtmp_min.open_publisher(HOST, n.rtmp_port, APP, "fresh")
    with c:
        assert code == "NetStream.Publish.Start", code


@pytest.mark.parametrize("wait_ms", [0, 500])
def test_unknown_stream_not_found(node, wait_ms):
    n = node(stream={"play_wait_ms": wait_ms})
    c, _ = rtmp_min.open_player(HOST, n.rtmp_port, APP, "nobody")
    with c:
        t0 = time.monotonic()
        info = c.wait_status(5, {"NetStream.Play.Start", "NetStream.Play.StreamNotFound"})
        elapsed = time.monotonic() - t0
    assert info["code"] == "NetStream.Play.StreamNotFound", info
    assert elapsed >= wait_ms / 1000.0 - 0.05, "answered after %.2fs, before play_wait_ms" % elapsed
    assert elapsed < wait_ms / 1000.0 + 1.5, "answered after %.2fs" % elapsed


@pytest.mark.parametrize("how", ["sigint", "sigkill"])
def test_unpublish_notify_and_republish(node, procs, clip, how):
    """Publisher leaves (cleanly or by a dropped connection): the player gets
    NetStream.Play.UnpublishNotify, stays connected for the grace period, and
    gets media again when a publisher comes back."""
    n = node(stream={"unpublish_grace_ms": 8000})
    url = n.rtmp_url(APP, "gone")
    pub = procs.spawn(publish_cmd(clip.path, url, loop=True), "publisher")
    c, _ = rtmp_min.open_player(HOST, n.rtmp_port, APP, "gone", timeout=15)
    with c:
        info = c.wait_status(15, {"NetStream.Play.Start", "NetStream.Play.StreamNotFound"})
        assert info["code"] == "NetStream.Play.Start", info
        c.read_until(lambda m: m.is_coded_video(), 10)

        pub.send_signal(signal.SIGINT if how == "sigint" else signal.SIGKILL)
        wait_proc(pub, 10, "publisher")
        info = c.wait_status(5, {"NetStream.Play.UnpublishNotify", "NetStream.Play.Stop"})
        assert info["code"] == "NetStream.Play.UnpublishNotify", info

        procs.spawn(publish_cmd(clip.path, url, loop=True), "republisher")
        m = c.read_until(lambda m: m.is_coded_video(), 10)
        assert m.is_video_keyframe(), "first video after the republish is not a key frame: %r" % m


def test_player_gets_onmetadata(node, procs, clip):
    """ffmpeg sends @setDataFrame; players get onMetaData, before any video."""
    n = node()
    procs.spawn(publish_cmd(clip.path, n.rtmp_url(APP, "meta"), loop=True), "publisher")
    wait_live(n, APP, "meta")
    c, _ = rtmp_min.open_player(HOST, n.rtmp_port, APP, "meta")
    with c:
        info = c.wait_status(5, {"NetStream.Play.Start", "NetStream.Play.StreamNotFound"})
        assert info["code"] == "NetStream.Play.Start", info
        seen = []
        meta = None
        deadline = time.monotonic() + 5
        while meta is None:
            m = c.read_message(max(0.1, deadline - time.monotonic()))
            seen.append(m)
            if m.is_data():
                vals = m.amf()
                assert vals and vals[0] != "@setDataFrame", "player got @setDataFrame: %r" % vals
                if vals[0] == "onMetaData":
                    meta = vals
        assert not any(x.is_coded_video() for x in seen), "video before onMetaData"
    assert len(meta) >= 2 and isinstance(meta[1], dict), meta
    props = meta[1]
    assert props.get("width") == 640 and props.get("height") == 360, props
    assert props.get("videocodecid") == 7 and props.get("audiocodecid") == 10, props


# ---------------------------------------------------------------- rtmp_min publisher

def _clip_tags(clip, max_ms):
    with open(clip.path, "rb") as f:
        _, tags, _ = weirtest.parse_flv(f.read())
    script = [t for t in tags if t.type == weirtest.FLV_SCRIPT]
    meta = rtmp_min.amf0_decode_all(script[0].data) if script else None
    media = [t for t in tags if t.type in (weirtest.FLV_AUDIO, weirtest.FLV_VIDEO)
             and t.timestamp < max_ms]
    return meta, media


def _publish_paced(c, sid, meta, media, interleave):
    """Sends metadata then the media tags in real time (by timestamp)."""
    if meta:
        c.send_data(sid, 0, ["@setDataFrame"] + meta)
    t0 = time.monotonic()
    i = 0
    while i < len(media):
        t = media[i]
        delay = t0 + t.timestamp / 1000.0 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        nxt = media[i + 1] if i + 1 < len(media) else None
        if interleave and nxt is not None and nxt.type != t.type:
            c.write_interleaved([
                (rtmp_min.CSID_VIDEO if x.type == weirtest.FLV_VIDEO else rtmp_min.CSID_AUDIO,
                 x.type, sid, x.timestamp, x.data) for x in (t, nxt)])
            i += 2
            continue
        if t.type == weirtest.FLV_VIDEO:
            c.send_video(sid, t.timestamp, t.data)
        else:
            c.send_audio(sid, t.timestamp, t.data)
        i += 1


@pytest.mark.parametrize("chunk_size, interleave, amf3",
                         [(128, True, False), (4096, False, False), (60000, False, False),
                          (4096, False, True)],
                         ids=["chunk128-interleaved", "chunk4096", "chunk60000",
                              "amf3-wrapped-commands-and-data"])
def test_rtmp_min_publish_relayed_exactly(node, clip, chunk_size, interleave, amf3):
    """Every audio/video message a publisher sends reaches a waiting player
    with the same payload and timestamp, whatever the publisher's chunking,
    and whether its commands and data come AMF0 (20, 18) or AMF3-wrapped
    (17, 15); the player gets onMetaData as AMF0 either way."""
    n = node()
    meta, media = _clip_tags(clip, 3000)
    player, _ = rtmp_min.open_player(HOST, n.rtmp_port, APP, "exact", timeout=15)
    pub, sid, code = rtmp_min.open_publisher(HOST, n.rtmp_port, APP, "exact", amf3=amf3)
    with player, pub:
        assert code == "NetStream.Publish.Start", code
        if chunk_size != 128:
            pub.set_chunk_size(chunk_size)
        info = player.wait_status(5, {"NetStream.Play.Start", "NetStream.Play.StreamNotFound"})
        assert info["code"] == "NetStream.Play.Start", info
        _publish_paced(pub, sid, meta, media, interleave)
        want = len(media)
        got = []
        metas = []
        meta_types = []
        deadline = time.monotonic() + 5
        while len(got) < want and time.monotonic() < deadline:
            try:
                m = player.read_message(max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
            if m.type in (rtmp_min.MSG_AUDIO, rtmp_min.MSG_VIDEO):
                got.append(m)
            elif m.is_data():
                metas.append(m.amf())
                meta_types.append(m.type)

    sent = [(t.type, t.timestamp, t.data) for t in media]
    recv = [(m.type, m.timestamp, m.payload) for m in got]
    for kind in (weirtest.FLV_VIDEO, weirtest.FLV_AUDIO):
        s = [x for x in sent if x[0] == kind]
        r = [x for x in recv if x[0] == kind]
        assert len(r) == len(s), "type %d: received %d of %d messages" % (kind, len(r), len(s))
        for k, (a, b) in enumerate(zip(r, s)):
            assert a[1] == b[1], "type %d message %d: timestamp %d, sent %d" % (kind, k, a[1], b[1])
            assert a[2] == b[2], "type %d message %d (ts %d): payload differs" % (kind, k, b[1])
    if meta:
        onmeta = [v for v in metas if v and v[0] == "onMetaData"]
        assert onmeta, "no onMetaData among the data messages %r" % metas
        assert not any(v and v[0] == "@setDataFrame" for v in metas), metas
        assert onmeta[0][1].get("width") == 640, onmeta[0]
        assert all(m_type == rtmp_min.MSG_DATA_AMF0 for m_type in meta_types), meta_types


# ---------------------------------------------------------------- limits and takeover

def _assert_closed_within(sock, seconds, what):
    got, eof = weirtest.drain_until_eof(sock, seconds, 1 << 20)
    assert eof, "%s: connection still open after %.1fs (%d bytes read)" % (what, seconds, got)


def test_publish_takeover(node, procs, clip):
    """With publish_takeover, a new publisher replaces the live one."""
    n = node(stream={"publish_takeover": True})
    url = n.rtmp_url(APP, "take")
    old = procs.spawn(publish_cmd(clip.path, url, loop=True), "old-publisher")
    wait_live(n, APP, "take")
    c, sid, code = rtmp_min.open_publisher(HOST, n.rtmp_port, APP, "take")
    with c:
        assert code == "NetStream.Publish.Start", code
        wait_proc(old, 10, "kicked publisher")


def test_oversized_message_closes_connection(node):
    n = node(rtmp={"max_message_size": 65536})
    c, sid, code = rtmp_min.open_publisher(HOST, n.rtmp_port, APP, "big")
    with c:
        assert code == "NetStream.Publish.Start", code
        # A fmt 0 header announcing a 100000-byte video message, and its first chunk.
        head = bytes([rtmp_min.CSID_VIDEO]) + b"\x00\x00\x00" + (100000).to_bytes(3, "big") + \
            bytes([rtmp_min.MSG_VIDEO]) + sid.to_bytes(4, "little")
        try:
            c.send_raw(head + b"\x17" + b"\x00" * 127)
        except OSError:
            pass
        _assert_closed_within(c.sock, 3, "message over rtmp.max_message_size")
    assert n.alive()
    c2, _, code = rtmp_min.open_publisher(HOST, n.rtmp_port, APP, "big")
    with c2:
        assert code == "NetStream.Publish.Start", "node unusable after the bad peer: %s" % code


@pytest.mark.parametrize("c0", [b"\x06", b"GET / HTTP/1.1\r\n\r\n"], ids=["version6", "http"])
def test_bad_handshake_closes_connection(node, c0):
    n = node()
    with socket.create_connection((HOST, n.rtmp_port), timeout=5) as s:
        s.sendall(c0 + b"\x00" * (1536 if len(c0) == 1 else 0))
        _assert_closed_within(s, 3, "bad C0")
    assert n.alive()


def test_handshake_timeout(node):
    n = node(rtmp={"handshake_timeout_ms": 500})
    with socket.create_connection((HOST, n.rtmp_port), timeout=5) as s:
        t0 = time.monotonic()
        s.sendall(b"\x03" + b"\x00" * 100)  # C0 and part of C1, then silence
        _assert_closed_within(s, 3, "stalled handshake")
        elapsed = time.monotonic() - t0
    assert elapsed >= 0.4, "closed after %.2fs, before handshake_timeout_ms" % elapsed
