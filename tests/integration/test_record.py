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
import signal

import weirtest
from relayutil import APP, api_of, assert_error, events_of, publish, wait_event, wait_for


def rec_files(root, ext=".flv"):
    """Finished files under root (sorted by name: the start time in it)."""
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in files if f.endswith(ext)]
    return sorted(out)


def parts_under(root):
    return [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".part")]


def assert_video_steps(p):
    """p's video timestamps go up, each step at least half the file's median
    step (a spliced frame inside the previous frame's interval fails)."""
    pk = weirtest.ffprobe_json(p, "-select_streams", "v", "-show_entries", "packet=dts")
    dts = [int(x["dts"]) for x in pk["packets"] if x.get("dts") not in (None, "N/A")]
    steps = sorted(b - a for a, b in zip(dts, dts[1:]))
    if not steps:
        return
    floor = steps[len(steps) // 2] / 2
    bad = [(a, b) for a, b in zip(dts, dts[1:]) if b - a < max(floor, 1)]
    assert not bad, (p, "video steps under %g: %s" % (floor, bad[:5]))


def recorded_video(paths, fmt="flv"):
    """The video packets (size, md5) of the files in order; each file must
    probe as fmt with H.264 and AAC, decode without an error, and have its
    video timestamps go up by at least half a frame each. (ffmpeg decodes
    with the timestamps passed through: its constant-rate null output,
    guessing 24.75 fps from a file with a reconnect gap in it, put two 40 ms
    frames in one slot and called that an error.)"""
    out = []
    for p in paths:
        info = weirtest.ffprobe_json(p, "-show_streams", "-show_format")
        kinds = {s["codec_type"]: s["codec_name"] for s in info["streams"]}
        assert kinds == {"video": "h264", "audio": "aac"}, (p, kinds)
        assert info["format"]["format_name"] == fmt, (p, info["format"])
        res = weirtest.run([weirtest.require_tool("ffmpeg")] + weirtest.FFMPEG_COMMON +
                           ["-v", "error", "-i", p, "-fps_mode", "passthrough",
                            "-enc_time_base", "-1", "-f", "null", "-"], timeout=60)
        assert res.returncode == 0 and not res.stderr.strip(), (p, res.stderr[-2000:])
        assert_video_steps(p)
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


def test_config_recorder_flv_segments_across_reconnect(node, procs, clip):
    """Segments cut at key frames every 3 s; the publisher reconnects within
    stream.unpublish_grace_ms and the same recording goes on (one
    record.start, one record.stop): the files hold the clip's packets from
    the first GOPs on, then the whole clip again."""
    n = node(recorders=[{"id": "all", "app": APP, "name": "*", "format": "flv", "segment_s": 3},
                        {"id": "allts", "app": APP, "name": "*", "format": "ts",
                         "segment_s": 3}], stream={"unpublish_grace_ms": 5000})
    api = api_of(n)
    root = os.path.join(n.workdir, "recordings")
    pub = publish(procs, n, clip, "cam1", loop=False)
    wait_event(api, "record.start", timeout=20, diag=[n], recorder="all", name="cam1")
    weirtest.wait_proc(pub, 60, "publisher")
    pub = publish(procs, n, clip, "cam1", loop=False)
    weirtest.wait_proc(pub, 60, "second publisher")
    stop = wait_event(api, "record.stop", timeout=30, diag=[n], name="cam1")
    assert stop[0]["reason"] == "stream_ended" and stop[0]["dropped_msgs"] == 0, stop
    assert len(events_of(api, "record.start", name="cam1", recorder="all")) == 1
    wait_event(api, "record.stop", timeout=30, diag=[n], name="cam1", recorder="allts")
    segs = wait_for("the last segment", lambda: events_of(
        api, "record.segment", name="cam1", recorder="all") if len(events_of(
            api, "record.segment", name="cam1", recorder="all")) >= 6 else None,
        timeout=20, diag=[n])
    files = rec_files(root)
    assert len(files) == len(segs), (files, segs)
    assert not parts_under(root)
    for e in segs:
        assert e["closed_cleanly"] is True and e["bytes"] > 0, e
        assert os.path.getsize(os.path.join(root, e["path"])) == e["bytes"], e
        assert e["path"].startswith("%s/cam1/" % APP), e
    # each file but the last holds 3 s (up to one more GOP)
    for e in sorted(segs, key=lambda e: e["recording_id"])[:-1]:
        assert 2900 <= e["duration_ms"] <= 4100, e
    got = recorded_video(files)
    second = got[-len(clip.vmd5):]
    assert second == clip.vmd5, "after the reconnect: %s" % weirtest.describe_mismatch(
        second, clip.vmd5)
    assert_contiguous(clip, got[:-len(clip.vmd5)], "before the reconnect")
    # the MPEG-TS recorder: the same frames (Annex B in TS, so counted, not hashed)
    ts_files = rec_files(root, ".ts")
    assert len(ts_files) == len(events_of(api, "record.segment", name="cam1", recorder="allts"))
    assert len(ts_files) >= 6, ts_files
    got_ts = recorded_video(ts_files, "mpegts")
    assert len(got_ts) == len(got), (len(got_ts), len(got))


def test_api_recorders_recordings_and_bad_input(node, procs, clip):
    n = node()
    api = api_of(n)
    root = os.path.join(n.workdir, "recordings")
    r = api.post("/api/v1/recorders", json={"app": APP, "name": "*", "format": "flv",
                                            "segment_s": 10})
    assert r.status_code == 201, r.text
    rec = r.json()
    rid = rec["id"]
    assert rec["source"] == "api" and rec["path"] == "{app}/{name}/{start_utc}", rec
    assert api.get("/api/v1/recorders").json()["recorders"] == [rec]
    # bad input: 400 naming the field
    for body, field in [
            ({"app": APP, "name": "*", "path": "../{name}/{seq}"}, "path"),
            ({"app": APP, "name": "*", "path": "/abs/{name}/{seq}"}, "path"),
            ({"app": APP, "name": "*", "path": "a/{app}/{start_utc}"}, "path"),
            ({"app": APP, "name": "*", "segment_s": 100000}, "segment_s"),
            ({"app": APP, "name": "*", "segment_s": -1}, "segment_s"),
            ({"app": APP, "name": "*", "format": "avi"}, "format"),
            ({"app": "a/b", "name": "*"}, "app"),
            ({"app": APP}, "name")]:
        assert_error(api.post("/api/v1/recorders", json=body), 400, "invalid_field", field)
    r = api.post("/api/v1/recorders", data='{"app":"live","name":"*","path":"{name}\\u0000/{seq}"}',
                 headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_field", "path")
    # the same template for the same streams as another recorder
    assert_error(api.post("/api/v1/recorders", json={"app": APP, "name": "cam9"}), 400,
                 "invalid_field", "path")
    assert_error(api.patch("/api/v1/recorders/" + rid, json={"segment_s": 999999}), 400,
                 "invalid_field", "segment_s")
    r = api.patch("/api/v1/recorders/" + rid, json={"segment_s": 4})
    assert r.status_code == 200 and r.json()["segment_s"] == 4, r.text
    # a GET body (source, one_off, etag: rendered only) sent back as it is
    got = api.get("/api/v1/recorders/" + rid).json()
    assert got["one_off"] is False and got["source"] == "api", got
    r = api.patch("/api/v1/recorders/" + rid, json=got)
    assert r.status_code == 200 and r.json()["segment_s"] == 4, r.text
    pub = publish(procs, n, clip, "cam2", loop=False)
    wait_event(api, "record.start", timeout=20, diag=[n], recorder=rid, name="cam2")
    weirtest.wait_proc(pub, 60, "publisher")
    wait_event(api, "record.stop", timeout=30, diag=[n], recorder=rid, name="cam2")
    items = wait_for("recordings", lambda: api.get(
        "/api/v1/recordings?app=%s&name=cam2" % APP).json()["recordings"], timeout=10)
    assert len(items) >= 2, items
    for it in items:
        assert set(it) >= {"id", "app", "name", "format", "start", "end", "duration_ms",
                           "bytes", "closed_cleanly"}, it
        assert it["closed_cleanly"] and it["format"] == "flv" and it["name"] == "cam2", it
    # paging
    page = api.get("/api/v1/recordings?limit=1").json()
    assert len(page["recordings"]) == 1 and page["next_after"] == items[0]["id"], page
    page2 = api.get("/api/v1/recordings?limit=1&after=%d" % page["next_after"]).json()
    assert page2["recordings"][0]["id"] == items[1]["id"], page2
    assert api.get("/api/v1/recordings?to=1000").json()["recordings"] == []
    assert len(api.get("/api/v1/recordings?from=2020-01-01T00:00:00Z").json()["recordings"]) == \
        len(items)
    assert_error(api.get("/api/v1/recordings?from=yesterday"), 400, "invalid_field", "from")
    # download, whole and ranges
    first = items[0]
    path = os.path.join(root, first["path"])
    data = open(path, "rb").read()
    r = api.get("/api/v1/recordings/%d/file" % first["id"])
    assert r.status_code == 200 and r.content == data, (r.status_code, len(r.content))
    assert r.headers["Content-Type"] == "video/x-flv"
    r = api.get("/api/v1/recordings/%d/file" % first["id"], headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == data[100:200], r.status_code
    assert r.headers["Content-Range"] == "bytes 100-199/%d" % len(data)
    r = api.get("/api/v1/recordings/%d/file" % first["id"], headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == data[-10:]
    r = api.get("/api/v1/recordings/%d/file" % first["id"],
                headers={"Range": "bytes=%d-" % len(data)})
    assert r.status_code == 416, r.status_code
    # delete removes the file and the row
    assert api.delete("/api/v1/recordings/%d" % first["id"]).status_code == 204
    assert not os.path.exists(path)
    assert api.get("/api/v1/recordings/%d" % first["id"]).status_code == 404
    # one-off: only a live stream; stop over the API
    assert api.post("/api/v1/streams/%s/nope/record" % APP).status_code == 404
    assert api.delete("/api/v1/recorders/" + rid).status_code == 204
    assert api.get("/api/v1/recorders/" + rid).status_code == 404
    pub = publish(procs, n, clip, "cam3", loop=True)
    wait_for("cam3 live", lambda: api.post("/api/v1/streams/%s/cam3/record" % APP).status_code ==
             201, timeout=20, interval=0.3)
    assert api.post("/api/v1/streams/%s/cam3/record" % APP).status_code == 409
    wait_event(api, "record.start", timeout=20, diag=[n], name="cam3")
    # listed among the recorders while it runs (for the dashboard)
    listed = api.get("/api/v1/recorders").json()["recorders"]
    once = [x for x in listed if x["one_off"]]
    assert len(once) == 1 and len(listed) == 1, listed
    assert once[0]["source"] == "once" and (once[0]["app"], once[0]["name"]) == (APP, "cam3")
    assert api.get("/api/v1/recorders/" + once[0]["id"]).json() == once[0]
    assert api.delete("/api/v1/streams/%s/cam3/record" % APP).status_code == 204
    assert api.get("/api/v1/recorders").json()["recorders"] == []
    assert api.delete("/api/v1/streams/%s/cam3/record" % APP).status_code == 404
    stop = wait_event(api, "record.stop", timeout=20, diag=[n], name="cam3")
    assert stop[0]["reason"] == "recorder_deleted" and stop[0]["recorder"] == once[0]["id"], stop
    seg = wait_event(api, "record.segment", timeout=20, diag=[n], name="cam3")
    assert seg[0]["recorder"] == stop[0]["recorder"] and seg[0]["bytes"] > 0, seg
    got = recorded_video([os.path.join(root, seg[0]["path"])])
    assert got and weirtest.find_run(got, clip.vmd5, cyclic=True) is not None


def assert_duration_as_ffprobe(path, item):
    """A repaired file's indexed duration_ms is what ffprobe reads from the
    file (within 300 ms or 5 %)."""
    probed = float(weirtest.ffprobe_json(path, "-show_format")["format"]["duration"]) * 1000
    assert item["duration_ms"] > 0, item
    assert abs(item["duration_ms"] - probed) <= max(300, probed * 0.05), (item, probed)


def test_kill9_partial_file_repaired_and_indexed(node, procs, clip):
    """FLV and MPEG-TS files open at kill -9: both repaired, indexed not
    closed cleanly, with their duration read back (FLV: its tags; TS: its
    first and last PTS) as ffprobe reads it."""
    n = node(recorders=[{"id": "r9", "app": APP, "name": "*"},
                        {"id": "r9ts", "app": APP, "name": "*", "format": "ts",
                         "path": "{app}/{name}/ts-{start_utc}"}])
    api = api_of(n)
    root = os.path.join(n.workdir, "recordings")
    publish(procs, n, clip, "cam9", loop=True)
    wait_event(api, "record.start", timeout=20, diag=[n], name="cam9")
    # the file's row is stored when it opens; wait for data on disk (the
    # writer's buffer is 256 KiB)
    wait_for("a .part with data", lambda: len([p for p in parts_under(root)
                                               if os.path.getsize(p) > 600000]) == 2,
             timeout=30, diag=[n])
    n.proc.send_signal(signal.SIGKILL)
    n.proc.wait(10)
    parts = parts_under(root)
    assert len(parts) == 2, parts
    procs.stop_all()
    n.start()
    api = api_of(n)
    items = wait_for("the repaired files", lambda: (lambda r: r if len(r) >= 2 else None)(
        api.get("/api/v1/recordings?name=cam9").json()["recordings"]), timeout=20, diag=[n])
    assert len(items) == 2, items
    for fmt, probe_fmt in [("flv", "flv"), ("ts", "mpegts")]:
        it = [i for i in items if i["format"] == fmt]
        part = [p for p in parts if p.endswith("." + fmt + ".part")]
        assert len(it) == 1 and len(part) == 1, (items, parts)
        it = it[0]
        assert it["closed_cleanly"] is False and it["bytes"] > 600000, it
        assert it["duration_ms"] > 1000, it
        final = os.path.join(root, it["path"])
        assert part[0] == final + ".part" and os.path.exists(final)
        assert os.path.getsize(final) == it["bytes"]
        assert_duration_as_ffprobe(final, it)
        got = recorded_video([final], probe_fmt)
        assert len(got) >= clip.gop_frames, (fmt, len(got))
        if fmt == "flv":  # TS holds Annex B: counted above, not hashed
            assert weirtest.find_run(got, clip.vmd5, cyclic=True) is not None, \
                weirtest.describe_mismatch(got, clip.vmd5)
    assert not parts_under(root)


def test_disk_full_and_deleted_folder_fail_then_resume(node, procs, clip, tmp_path):
    """record.root on a tmpfs of its own (the test runs as root, as CI
    does): a filler file takes all its space (ENOSPC: disk_full), then is
    removed (space comes back); then the folder is deleted under a running
    recording (io_error). Each time record.fail, the stream and the node go
    on, and clean segments come again by themselves."""
    mnt = tmp_path / "recfs"
    mnt.mkdir()
    res = weirtest.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)])
    assert res.returncode == 0, "cannot mount a tmpfs: %s" % res.stderr
    try:
        _disk_full_and_deleted_folder(node, procs, clip, str(mnt))
    finally:
        weirtest.run(["umount", "-l", str(mnt)])


def _clean_segments(api):
    return len(events_of(api, "record.segment", name="camf", closed_cleanly=True))


def _disk_full_and_deleted_folder(node, procs, clip, root):
    n = node(recorders=[{"id": "rf", "app": APP, "name": "*", "segment_s": 1}],
             record={"root": root})
    api = api_of(n)
    pub = publish(procs, n, clip, "camf", loop=True)
    wait_event(api, "record.segment", timeout=30, diag=[n], name="camf")
    filler = os.path.join(root, "filler")
    weirtest.run(["dd", "if=/dev/zero", "of=" + filler, "bs=64k"])  # ENOSPC ends it
    fail = wait_event(api, "record.fail", timeout=30, diag=[n], name="camf")
    assert fail[0]["reason"] == "disk_full", fail
    assert pub.poll() is None and api.get("/readyz").status_code == 200
    assert api.get("/api/v1/streams/%s/camf" % APP).status_code == 200
    os.unlink(filler)
    before = _clean_segments(api)
    wait_for("clean segments after space came back",
             lambda: _clean_segments(api) >= before + 2, timeout=60, diag=[n])
    weirtest.run(["rm", "-rf", os.path.join(root, APP)])
    fail = wait_event(api, "record.fail", timeout=30, diag=[n], name="camf", reason="io_error")
    before = _clean_segments(api)
    wait_for("clean segments after the folder was deleted",
             lambda: _clean_segments(api) >= before + 2, timeout=60, diag=[n])
    assert pub.poll() is None and api.get("/readyz").status_code == 200
    m = api.get("/metrics").text
    assert 'weir_record_failures_total{reason="disk_full"} ' in m, m[-2000:]
    line = [x for x in m.splitlines() if x.startswith('weir_record_failures_total{reason="disk_full"}')]
    assert int(line[0].split()[-1]) >= 1, line


MP4_FORMAT = "mov,mp4,m4a,3gp,3g2,mj2"  # ffprobe's format_name for .mp4


def top_boxes(path):
    """The types of the top-level boxes of an MP4 file, walked by size."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        if size == 1:
            size = int.from_bytes(data[pos + 8:pos + 16], "big")
        assert size >= 8 and pos + size <= len(data), (path, pos, size, len(data))
        out.append(data[pos + 4:pos + 8].decode("latin-1"))
        pos += size
    assert pos == len(data), (path, pos, len(data))
    return out


def assert_fragmented(path):
    """ftyp, moov, then moof + mdat pairs (at least two fragments)."""
    boxes = top_boxes(path)
    assert boxes[:2] == ["ftyp", "moov"], (path, boxes[:4])
    frags = boxes[2:]
    assert len(frags) >= 4 and frags == ["moof", "mdat"] * (len(frags) // 2), (path, boxes)


def test_fmp4_segments_and_kill9_repair(node, procs, clip):
    """An fmp4 recorder cuts a new .mp4 every 2 s (a fragment per GOP):
    the finished files probe as MP4, decode without a word, and their video
    packets are a contiguous run of the looped clip across the files'
    boundaries; after kill -9 the open .mp4.part (a torn fragment appended)
    is cut after its last complete fragment, indexed closed_cleanly false,
    and reads and decodes."""
    n = node(recorders=[{"id": "m4", "app": APP, "name": "*", "format": "fmp4",
                         "segment_s": 2}])
    api = api_of(n)
    root = os.path.join(n.workdir, "recordings")
    publish(procs, n, clip, "cam4", loop=True)
    segs = wait_for("two finished fMP4 files", lambda: (lambda s: s if len(s) >= 2 else None)(
        events_of(api, "record.segment", name="cam4")), timeout=40, diag=[n])
    # each fragment is flushed when cut: data on disk is whole fragments
    wait_for("a .part with a fragment", lambda: [p for p in parts_under(root)
                                                 if os.path.getsize(p) > 0],
             timeout=30, diag=[n])
    n.proc.send_signal(signal.SIGKILL)
    n.proc.wait(10)
    procs.stop_all()
    part = parts_under(root)
    assert len(part) == 1 and part[0].endswith(".mp4.part"), part
    segs = sorted(segs, key=lambda e: e["recording_id"])
    files = [os.path.join(root, e["path"]) for e in segs]
    for e, f in zip(segs, files):
        assert e["closed_cleanly"] is True and f.endswith(".mp4"), e
        assert os.path.getsize(f) == e["bytes"], e
        assert 1900 <= e["duration_ms"] <= 3100, e
        assert_fragmented(f)
    got = recorded_video(files, MP4_FORMAT)
    assert len(got) >= 2 * clip.gop_frames, len(got)
    assert weirtest.find_run(got, clip.vmd5, cyclic=True) is not None, \
        weirtest.describe_mismatch(got, clip.vmd5)
    size_before = os.path.getsize(part[0])
    # and a fragment torn in its moof (as a crash inside a write leaves it)
    with open(part[0], "ab") as f:
        f.write((4096).to_bytes(4, "big") + b"moof" + bytes(50))
    n.start()
    api = api_of(n)
    final = part[0][:-len(".part")]
    items = wait_for("the repaired file", lambda: [
        it for it in api.get("/api/v1/recordings?name=cam4").json()["recordings"]
        if it["closed_cleanly"] is False], timeout=20, diag=[n])
    assert len(items) == 1, items
    it = items[0]
    assert it["format"] == "fmp4" and os.path.join(root, it["path"]) == final, it
    assert os.path.exists(final) and not parts_under(root)
    assert 0 < it["bytes"] == os.path.getsize(final) <= size_before, (it, size_before)
    assert top_boxes(final)[:2] == ["ftyp", "moov"]
    assert_duration_as_ffprobe(final, it)
    got = recorded_video([final], MP4_FORMAT)
    assert got and weirtest.find_run(got, clip.vmd5, cyclic=True) is not None, \
        weirtest.describe_mismatch(got, clip.vmd5)
