"""GOP cache: a late player starts at once with gop_cache 1, and waits for
the next key frame with gop_cache 0. The clip has a 4 s GOP; the player
joins about 2 s into the first GOP, so the two behaviours are 2 s apart."""

import time

import rtmp_min
from weirtest import HOST, publish_cmd

APP = "live"
JOIN_AFTER_S = 2.0


def _late_join(n, procs, clip, name):
    """Publishes clip; a probe waiting before the publisher marks when the
    first video arrives; a player joins JOIN_AFTER_S later. Returns (time
    from play to the first coded video, that message, the probe's first
    video message)."""
    probe, _ = rtmp_min.open_player(HOST, n.rtmp_port, APP, name, timeout=15)
    with probe:
        procs.spawn(publish_cmd(clip.path, n.rtmp_url(APP, name)), "publisher")
        info = probe.wait_status(15, {"NetStream.Play.Start", "NetStream.Play.StreamNotFound"})
        assert info["code"] == "NetStream.Play.Start", info
        live_first = probe.read_until(lambda m: m.is_coded_video(), 10)
        time.sleep(max(0.0, live_first.arrival + JOIN_AFTER_S - time.monotonic()))

        c, _ = rtmp_min.open_player(HOST, n.rtmp_port, APP, name)
        with c:
            t_play = time.monotonic()
            info = c.wait_status(5, {"NetStream.Play.Start", "NetStream.Play.StreamNotFound"})
            assert info["code"] == "NetStream.Play.Start", info
            first = c.read_until(lambda m: m.is_coded_video(), 8)
            return first.arrival - t_play, first, live_first


def test_gop_cache_on_starts_at_once(node, procs, clip_gop4):
    n = node(stream={"gop_cache": 1})
    delay, first, live_first = _late_join(n, procs, clip_gop4, "cached")
    assert live_first.timestamp == clip_gop4.key_ts[0], live_first
    assert first.is_video_keyframe(), "first video message is not a key frame: %r" % first
    assert delay < 1.5, "first video frame after %.2fs with the GOP cache on" % delay
    # The cached GOP starts at the clip's first key frame (ts as published).
    assert first.timestamp == clip_gop4.key_ts[0], "first frame ts %d, want %d" % (
        first.timestamp, clip_gop4.key_ts[0])


def test_gop_cache_off_waits_for_key_frame(node, procs, clip_gop4):
    n = node(stream={"gop_cache": 0})
    delay, first, _ = _late_join(n, procs, clip_gop4, "uncached")
    assert first.is_video_keyframe(), "first video message is not a key frame: %r" % first
    # Joined ~2 s into the first 4 s GOP: the next key frame is the second.
    assert first.timestamp == clip_gop4.key_ts[1], \
        "first frame ts %d, want the next key frame %d" % (first.timestamp, clip_gop4.key_ts[1])
    assert 0.8 < delay < 3.5, "first video frame after %.2fs (next key frame ~2 s away)" % delay
