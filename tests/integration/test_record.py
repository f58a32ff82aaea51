"""Recording (issue 21) against a real weir: recorders from the config file
and the API write FLV files off the event loop, cut at key frames, indexed
in SQLite and listed, downloaded (with Range) and deleted over the API; a
node killed with kill -9 leaves a ".part" file that the next start repairs
and indexes as not closed cleanly; a full disk or a read-only folder makes
record.fail while the stream goes on, and recording resumes by itself.
Every produced file is read by ffprobe and its video packets (framemd5)
are a contiguous run of the published clip's, across segment boundaries.
"""

import os
import resource
import signal
import time

import weirtest
from relayutil import APP, api_of, assert_error, events_of, publish, wait_event, wait_for


def rec_files(root):
    """Finished files under root (sorted by name: the start time in it)."""
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in files if f.endswith(".flv")]
    return sorted(out)


def recorded_video(paths):
    """The video packets (size, md5) of the files in order; each file must
    probe as FLV with H.264 and AAC."""
    out = []
    for p in paths:
        info = weirtest.ffprobe_json(p, "-show_streams", "-show_format")
        kinds = {s["codec_type"]: s["codec_name"] for s in info["streams"]}
        assert kinds == {"video": "h264", "audio": "aac"}, (p, kinds)
        assert info["format"]["format_name"] == "flv", (p, info["format"])
        res = weirtest.run([weirtest.require_tool("ffmpeg")] + weirtest.FFMPEG_COMMON +
                           ["-v", "error", "-i", p, "-f", "null", "-"], timeout=60)
        assert res.returncode == 0 and not res.stderr.strip(), (p, res.stderr[-2000:])
        out += weirtest.framemd5(p, "v")
    return out


def assert_contiguous(clip, got, what):
    """got is a run of the clip's video packets that reaches its end and
    misses at most its first two GOPs (a recorder starts at the GOP cache)."""
    i = weirtest.find_run(got, clip.vmd5)
    assert i is not None, "%s: %s" % (what, weirtest.describe_mismatch(got, clip.vmd5))
    assert i <= 2 * clip.gop_frames, "%s: starts at packet %d" % (what, i)
    assert i + len(got) == len(clip.vmd5), "%s: ends at %d of %d" % (
        what, i + len(got), len(clip.vmd5))


def test_config_recorder_flv_segments(node, procs, clip):
    n = node(recorders=[{"id": "all", "app": APP, "name": "*", "format": "flv",
                         "segment_s": 3}])
    api = api_of(n)
    root = os.path.join(n.workdir, "recordings")
    pub = publish(procs, n, clip, "cam1", loop=False)
    wait_event(api, "record.start", timeout=20, diag=[n], recorder="all", name="cam1")
    weirtest.wait_proc(pub, 60, "publisher")
    stop = wait_event(api, "record.stop", timeout=30, diag=[n], name="cam1")
    assert stop[0]["reason"] == "stream_ended"
    segs = wait_for("the last segment", lambda: [
        e for e in events_of(api, "record.segment", name="cam1")] if len(
        events_of(api, "record.segment", name="cam1")) >= 3 else None, timeout=20, diag=[n])
    files = rec_files(root)
    assert len(files) == len(segs) >= 3, (files, segs)
    assert not [f for d, _, fs in os.walk(root) for f in fs if f.endswith(".part")]
    for e in segs:
        assert e["closed_cleanly"] is True and e["bytes"] > 0, e
        assert os.path.getsize(os.path.join(root, e["path"])) == e["bytes"], e
        assert e["path"].startswith("%s/cam1/" % APP), e
    # cut at key frames every 3 s: each file but the last holds 3 s (+1 GOP)
    for e in sorted(segs, key=lambda e: e["recording_id"])[:-1]:
        assert 2900 <= e["duration_ms"] <= 4100, e
    assert_contiguous(clip, recorded_video(files), "segments")
