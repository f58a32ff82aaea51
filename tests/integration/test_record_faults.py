"""Recording faults (issue 21) against a real weir, in one node whose
record.root is an ext4 image the test loop-mounts (the test runs as root,
as CI does): a read-only folder (a bind mount of the stream's folder onto
itself, remounted read-only: root's writes fail with EROFS whatever the
file modes say, and the file already open stays on the writable mount) and
a writer stalled by a frozen file system (fsfreeze: every write blocks), so
that the bounded queue fills. Each time the recording fails with a
record.fail (permission, queue_full), an HTTP-FLV player and the publisher
go on unaffected, and recording resumes by itself once the folder is
writable or the file system thawed.
"""

import os
import re
import time

import weirtest
from relayutil import APP, TimedFlvPlayer, api_of, events_of, publish, wait_event, wait_for


def _mount_image(tmp_path):
    img, mnt = tmp_path / "rec.img", tmp_path / "recfs"
    mnt.mkdir()
    with open(img, "wb") as f:
        f.truncate(64 << 20)
    res = weirtest.run(["mkfs.ext4", "-q", "-F", str(img)])
    assert res.returncode == 0, res.stderr
    res = weirtest.run(["mount", "-o", "loop", str(img), str(mnt)])
    assert res.returncode == 0, "cannot loop-mount an ext4 image: %s" % res.stderr
    return str(mnt)


def _video_frames(player):
    return sum(1 for _, m in player.timed() if m.is_coded_video())


def _metric(api, line_start):
    lines = [x for x in api.get("/metrics").text.splitlines() if x.startswith(line_start)]
    assert len(lines) == 1, (line_start, lines)
    return int(lines[0].split()[-1])


def _assert_players_unaffected(player, pub, api, frames_before, seconds):
    """The player got (nearly) every frame of the last seconds and the
    stream and the node are fine."""
    got = _video_frames(player) - frames_before
    assert got >= seconds * 25 * 0.7, "player got %d frames in %.1f s" % (got, seconds)
    assert player.closed_at is None, "the player was disconnected"
    assert pub.poll() is None and api.get("/readyz").status_code == 200
    assert api.get("/api/v1/streams/%s/camx" % APP).status_code == 200


def _clean_segments(api):
    return len(events_of(api, "record.segment", name="camx", closed_cleanly=True))


def test_read_only_folder_and_stalled_writer(node, procs, clip, tmp_path):
    mnt = _mount_image(tmp_path)
    folder = os.path.join(mnt, APP, "camx")
    mounts = []  # what to undo, last first
    try:
        n = node(recorders=[{"id": "rx", "app": APP, "name": "*", "segment_s": 1}],
                 record={"root": mnt, "queue_max_msgs": 100})
        api = api_of(n)
        pub = publish(procs, n, clip, "camx", loop=True)
        wait_event(api, "record.segment", timeout=30, diag=[n], name="camx")
        player = TimedFlvPlayer(n.http_port, APP, "camx")
        try:
            _read_only(api, n, pub, player, folder, mounts)
            _stalled(api, n, pub, player, mnt, mounts)
        finally:
            player.close()
    finally:
        for cmd in reversed(mounts):
            weirtest.run(cmd)
        weirtest.run(["umount", "-l", mnt])


def _read_only(api, n, pub, player, folder, mounts):
    """A read-only folder: record.fail permission, then clean files again."""
    wait_for("the player's first frames", lambda: _video_frames(player) >= 25, timeout=20,
             diag=[n])
    _bind_read_only(folder, mounts)
    t0, f0 = time.monotonic(), _video_frames(player)
    fail = wait_event(api, "record.fail", timeout=30, diag=[n], name="camx")
    assert fail[0]["reason"] == "permission", fail
    time.sleep(2.0)  # the writer retries (1 s, 2 s) and fails again: the stream goes on
    assert len(events_of(api, "record.fail", name="camx")) == 1  # sent once
    _assert_players_unaffected(player, pub, api, f0, time.monotonic() - t0 - 1)
    assert weirtest.run(mounts.pop()).returncode == 0  # writable again
    before = _clean_segments(api)
    wait_for("clean files after the folder became writable",
             lambda: _clean_segments(api) >= before + 2, timeout=60, diag=[n])
    assert _metric(api, 'weir_record_failures_total{reason="permission"}') >= 1


def _bind_read_only(folder, mounts):
    """folder bound onto itself, read-only. The writer cuts a file every
    second; one it opens through the new bind before the remount makes the
    remount fail ("mount point is busy"): then the bind goes (lazily) and
    the pair is tried again, at most 10 times."""
    res = None
    for _ in range(10):
        assert weirtest.run(["mount", "--bind", folder, folder]).returncode == 0
        res = weirtest.run(["mount", "-o", "remount,bind,ro", folder])
        if res.returncode == 0:
            mounts.append(["umount", folder])
            return
        assert "busy" in res.stderr, res.stderr
        assert weirtest.run(["umount", "-l", folder]).returncode == 0
        time.sleep(0.1)
    raise AssertionError("no read-only bind of %s in 10 tries: %s" % (folder, res.stderr))


def _stalled(api, n, pub, player, mnt, mounts):
    """A writer blocked in write(): the queue (100 messages) fills, the
    recording drops (record.fail queue_full, counted, logged) and goes on
    after the thaw; players never wait for the disk."""
    dropped0 = _metric(api, "weir_record_dropped_msgs_total")
    assert weirtest.run(["fsfreeze", "--freeze", mnt]).returncode == 0
    mounts.append(["fsfreeze", "--unfreeze", mnt])
    t0, f0 = time.monotonic(), _video_frames(player)
    fail = wait_event(api, "record.fail", timeout=30, diag=[n], name="camx", reason="queue_full")
    wait_for("messages dropped", lambda: _metric(api, "weir_record_dropped_msgs_total") >
             dropped0 + 50, timeout=20, diag=[n])
    _assert_players_unaffected(player, pub, api, f0, time.monotonic() - t0 - 1)
    assert re.search(r"record: %s/camx: the writer's queue is full" % APP, n.log_text())
    assert _metric(api, 'weir_record_failures_total{reason="queue_full"}') >= 1
    assert weirtest.run(mounts.pop()).returncode == 0  # thawed
    before = _clean_segments(api)
    wait_for("clean files after the thaw", lambda: _clean_segments(api) >= before + 2,
             timeout=60, diag=[n])
    assert re.search(r"record: %s/camx: writing again after \d+ dropped messages" % APP,
                     n.log_text())
    assert fail[0]["recorder"] == "rx"
