"""An fMP4 recording goes on in the same file across a publisher that
reconnects within stream.unpublish_grace_ms (issue 21): one file, whose
video packets are the clip's across the reconnect (framemd5), and a new
file when the codec parameters change (another picture size). The relay
failover case is in test_record_failover.py (its own file: they run side
by side).
"""

import os

import weirtest
from relayutil import APP, api_of, events_of, wait_event
from test_failover import clip_small  # noqa: F401 (a fixture: 320x180, other codec parameters)
from test_record import MP4_FORMAT, parts_under, recorded_video

GRACE_MS = 3000


def _picture(path):
    v = [s for s in weirtest.ffprobe_json(path, "-show_streams")["streams"]
         if s["codec_type"] == "video"]
    return (v[0]["width"], v[0]["height"])


def test_fmp4_reconnect_continues_and_codec_change_cuts(node, procs, clip, clip_small):  # noqa: F811
    n = node(recorders=[{"id": "c4", "app": APP, "name": "*", "format": "fmp4"}],
             stream={"unpublish_grace_ms": GRACE_MS})
    api = api_of(n)
    root = os.path.join(n.workdir, "recordings")
    url = n.rtmp_url(APP, "camc")
    for i in range(2):  # 3 s of the clip, a reconnect, 3 s of it again
        cmd = weirtest.publish_cmd(clip.path, url)
        cmd[-3:-3] = ["-t", "3"]
        weirtest.wait_proc(procs.spawn(cmd, name="publish-%d" % i), 60, "publisher %d" % i)
    cmd = weirtest.publish_cmd(clip_small, url)
    cmd[-3:-3] = ["-t", "3"]
    weirtest.wait_proc(procs.spawn(cmd, name="publish-small"), 60, "third publisher")
    wait_event(api, "record.stop", timeout=30, diag=[n], name="camc")
    segs = sorted(events_of(api, "record.segment", name="camc"), key=lambda e: e["recording_id"])
    assert len(segs) == 2, segs  # the reconnect continued the file; the codec change cut it
    assert len(events_of(api, "record.start", name="camc")) == 1
    assert not parts_under(root)
    files = [os.path.join(root, e["path"]) for e in segs]
    assert all(e["closed_cleanly"] and f.endswith(".mp4") for e, f in zip(segs, files)), segs
    assert [_picture(f) for f in files] == [(640, 360), (320, 180)]
    got = recorded_video(files[:1], MP4_FORMAT)
    # the second publish starts at the clip's first packet
    j = max((k for k, h in enumerate(got) if h == clip.vmd5[0]), default=0)
    before, after = got[:j], got[j:]
    assert len(after) >= 2 * 25 and after == clip.vmd5[:len(after)], \
        "after the reconnect: %s" % weirtest.describe_mismatch(after, clip.vmd5)
    i = weirtest.find_run(before, clip.vmd5)
    assert len(before) >= 25 and i is not None and i <= 2 * clip.gop_frames, \
        "before the reconnect: %s" % weirtest.describe_mismatch(before, clip.vmd5)
    assert 4000 <= segs[0]["duration_ms"] <= 8000, segs[0]
    assert len(recorded_video(files[1:], MP4_FORMAT)) >= 2 * 25


def test_fmp4_of_h264_with_mp3_leaves_the_audio_out_and_says_so(node, procs, clip):
    """fMP4 recording carries AAC only: a stream of H.264 with MP3 audio is
    recorded as its video alone, and the node says so once in its log,
    naming the file (it was left out silently before)."""
    n = node(recorders=[{"id": "m3", "app": APP, "name": "*", "format": "fmp4"}])
    api = api_of(n)
    root = os.path.join(n.workdir, "recordings")
    cmd = [weirtest.require_tool("ffmpeg"), "-v", "error", "-re", "-i", clip.path, "-t", "3",
           "-c:v", "copy", "-c:a", "libmp3lame", "-ar", "44100", "-b:a", "64k", "-f", "flv",
           n.rtmp_url(APP, "mp3")]
    weirtest.wait_proc(procs.spawn(cmd, name="publish-mp3"), 60, "mp3 publisher")
    wait_event(api, "record.stop", timeout=30, diag=[n], name="mp3")
    segs = events_of(api, "record.segment", name="mp3")
    assert len(segs) == 1 and segs[0]["closed_cleanly"], segs
    path = os.path.join(root, segs[0]["path"])
    streams = weirtest.ffprobe_json(path, "-count_packets", "-show_streams")["streams"]
    assert [s["codec_type"] for s in streams] == ["video"], streams
    assert int(streams[0]["nb_read_packets"]) >= 2 * 25, streams  # 3 s of 25 fps video
    with open(n.log_path) as f:
        warned = [l for l in f if "has no track in this fMP4 file" in l]
    assert len(warned) == 1 and "the audio" in warned[0] and segs[0]["path"] in warned[0], warned
