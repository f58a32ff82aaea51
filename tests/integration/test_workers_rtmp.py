"""`workers: 2` (issue 23): RTMP viewers are handed round-robin to the event
loop and to a worker thread with their chunk parser (rtmp_play_worker.h).
On both loops: the players get a run of the clip's frames, an unpublish
within the grace period gives UnpublishNotify then PublishNotify and media
again; a worker's player kicked over the API ends with `kicked`, and one
that sends deleteStream ends with `eof` (on a worker the connection then
closes) and a play.stop whose bytes_out is what the client read."""

import re
import signal

import rtmp_min
import weirtest
from apischema import Api
from test_api import all_events, sessions, wait_for
from test_workers import assert_plays_clip
from weirtest import HOST, publish_cmd, pull_cmd, wait_proc

APP = "live"
NAME = "cam"
PULLS = 3
CLIENTS = 4


def handed(n):
    """The session ids the node's log says went to worker 1."""
    return {int(m) for m in re.findall(r"\[s(\d+)\] rtmp: handed to worker 1", n.log_text())}


def player_ids(api):
    return {s["id"] for s in sessions(api, role="player")}


def open_client(n):
    """An RTMP player past Play.Start: (client, stream id, its session id)."""
    c, sid = rtmp_min.open_player(HOST, n.rtmp_port, APP, NAME, timeout=15)
    info = c.wait_status(15, {"NetStream.Play.Start", "NetStream.Play.StreamNotFound"})
    assert info["code"] == "NetStream.Play.Start", info
    return c, sid, int(info["clientid"])


def read_to_eof(c, timeout):
    """Reads (and counts) everything until the node closes the connection."""
    try:
        c.read_until(lambda m: False, timeout)
    except rtmp_min.RtmpClosed:
        return
    raise AssertionError("the connection stayed open")


def stop_event(api, sid):
    return wait_for("s%d's play.stop" % sid, lambda: [
        e for e in all_events(api) if e["type"] == "play.stop" and e["session_id"] == sid],
        timeout=10)[0]


def test_rtmp_players_on_two_loops(node, procs, clip, tmp_path):
    n = node(workers=2, stream={"unpublish_grace_ms": 10000})
    api = Api(n.api_url)
    url = n.rtmp_url(APP, NAME)
    pub = procs.spawn(publish_cmd(clip.path, url, loop=True), "publisher")
    weirtest.wait_live(n, APP, NAME)

    # ffmpeg players, one play after the other: round-robin puts them on both loops.
    outs = [tmp_path / ("pull%d.flv" % i) for i in range(PULLS)]
    pulls = []
    for i, out in enumerate(outs):
        pulls.append(procs.spawn(pull_cmd(url, out, seconds=4), "pull%d" % i))
        wait_for("pull %d listed" % i, lambda: len(player_ids(api)) == i + 1, timeout=15)
    pull_ids = player_ids(api)
    on_worker = wait_for("a pull handed to worker 1", lambda: handed(n) & pull_ids, timeout=5)
    assert pull_ids - on_worker, (pull_ids, handed(n))  # and one on the loop

    # rtmp_min players (they show status messages), also on both loops.
    clients = [open_client(n) for _ in range(CLIENTS)]
    try:
        ids = {cid for _, _, cid in clients}
        wait_for("two clients on worker 1", lambda: len(handed(n) & ids) == 2, timeout=5)
        workers = [x for x in clients if x[2] in handed(n)]
        loops = [x for x in clients if x[2] not in handed(n)]
        assert len(workers) == 2 and len(loops) == 2, (ids, handed(n))

        for i, p in enumerate(pulls):
            wait_proc(p, 30, "pull%d" % i)
            assert p.returncode == 0, weirtest.proc_stderr(p)
        for out in outs:
            assert_plays_clip(out, out.read_bytes(), clip)

        # The publisher leaves within the grace period and comes back.
        pub.send_signal(signal.SIGINT)
        wait_proc(pub, 10, "publisher")
        for c, _, cid in clients:
            info = c.wait_status(15, {"NetStream.Play.UnpublishNotify", "NetStream.Play.Stop",
                                      "NetStream.Play.PublishNotify"})
            assert info["code"] == "NetStream.Play.UnpublishNotify", (cid, info)
        procs.spawn(publish_cmd(clip.path, url, loop=True), "republisher")
        for c, _, cid in clients:
            info = c.wait_status(15, {"NetStream.Play.PublishNotify", "NetStream.Play.Stop",
                                      "NetStream.Play.UnpublishNotify"})
            assert info["code"] == "NetStream.Play.PublishNotify", (cid, info)
            m = c.read_until(lambda m: m.is_coded_video(), 15)
            assert m.is_video_keyframe(), (cid, m)

        # A worker's player kicked over the API.
        kc, _, kid = workers[0]
        assert api.delete("/api/v1/sessions/%d" % kid).status_code == 200
        read_to_eof(kc, 10)
        assert stop_event(api, kid)["reason"] == "kicked"

        # deleteStream from a worker's player: the play ends, the connection closes.
        dc, dsid, did = workers[1]
        dc.delete_stream(dsid)
        read_to_eof(dc, 10)
        ev = stop_event(api, did)
        assert ev["reason"] == "eof" and ev["message"] == "deleteStream", ev
        assert ev["bytes_out"] == dc.bytes_in, (ev, dc.bytes_in)

        # The loop's players play on.
        for c, _, cid in loops:
            assert c.read_until(lambda m: m.is_coded_video(), 10), cid
        assert {cid for _, _, cid in loops} <= player_ids(api)
    finally:
        for c, _, _ in clients:
            c.close()
