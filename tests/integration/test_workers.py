"""`workers: 2` (issue 23, a loop per core, phase 1): plain HTTP-FLV players
are handed round-robin to the event loop and to one worker thread. Players on
both loops get the clip's frames, a kick over the API closes a worker's
player, the API's figures add up (the worker reports every second, the stop
event counts every byte), and closing the stream ends the players on both
loops with the last chunk."""

import re
import threading
import time

import pytest

import weirtest
from apischema import Api
from weirtest import dechunk, describe_mismatch, find_run, framemd5

APP = "live"
NAME = "cam"
PLAYERS = 6


def wait_for(what, fn, timeout=15.0, interval=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    pytest.fail("timed out after %.0fs waiting for %s (last: %r)" % (timeout, what, last),
                pytrace=False)


class Reader:
    """A raw-socket HTTP/1.1 FLV player that keeps every byte, in a thread."""

    def __init__(self, node):
        req = ("GET /%s/%s.flv HTTP/1.1\r\nHost: x\r\n\r\n" % (APP, NAME)).encode()
        self.sock = weirtest.http_open(node.http_port, req, timeout=30)
        self.data = bytearray()
        self.eof = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while True:
                b = self.sock.recv(65536)
                if not b:
                    break
                self.data += b
        except OSError:
            pass
        self.eof = True

    def body(self):
        head, _, body = bytes(self.data).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head[:80]
        return body

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.thread.join(5)


def sessions(api):
    r = api.get("/api/v1/sessions", params={"role": "player"})
    assert r.status_code == 200, r.text
    return {s["id"]: s for s in r.json()["sessions"]}


def events(api, kind):
    r = api.get("/api/v1/events", params={"limit": 1000})
    assert r.status_code == 200, r.text
    return [e for e in r.json()["events"] if e["type"] == kind]


def test_players_on_two_loops(node, procs, clip, tmp_path):
    n = node(workers=2)
    api = Api(n.api_url)
    procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "publisher")
    weirtest.wait_live(n, APP, NAME)
    readers = [Reader(n) for _ in range(PLAYERS)]
    try:
        wait_for("%d players listed" % PLAYERS, lambda: len(sessions(api)) == PLAYERS)
        assert api.get("/api/v1/streams/%s/%s" % (APP, NAME)).json()["player_count"] == PLAYERS
        handed = {int(m) for m in re.findall(r"\[s(\d+)\] http-flv: handed to worker 1",
                                             n.log_text())}
        ids = set(sessions(api))
        assert handed and handed < ids, (handed, ids)  # both loops have players
        # The worker's players are counted too (its reports, every second).
        wait_for("every player's bytes_out in the API",
                 lambda: all(s["bytes_out"] > 50000 for s in sessions(api).values()))

        # A kick of a worker's player: gone from the list at once, its socket
        # closed by the worker, its stop event with the bytes written.
        victim_id = min(handed)
        port_of = {r.sock.getsockname()[1]: r for r in readers}
        victim = port_of[int(sessions(api)[victim_id]["remote"].rsplit(":", 1)[1])]
        assert api.delete("/api/v1/sessions/%d" % victim_id).status_code == 200
        assert victim_id not in sessions(api)
        wait_for("the kicked player's socket to close", lambda: victim.eof, timeout=5)
        kicked = wait_for("the kicked player's play.stop", lambda: [
            e for e in events(api, "play.stop") if e["session_id"] == victim_id])
        assert kicked[0]["reason"] == "kicked", kicked
        assert kicked[0]["bytes_out"] >= len(victim.data) > 50000, (kicked, len(victim.data))

        # The others go on; then the stream closes: every player ends with
        # the last chunk, and its stop event counts exactly what it read.
        rest = [r for r in readers if r is not victim]
        before = [len(r.data) for r in rest]
        wait_for("the other players to get more",
                 lambda: all(len(r.data) > b + 100000 for r, b in zip(rest, before)))
        r = api.delete("/api/v1/streams/%s/%s" % (APP, NAME))
        assert r.status_code == 200 and r.json()["sessions"] == 1 + len(rest), r.text
        wait_for("every player's end of stream", lambda: all(r.eof for r in rest), timeout=10)
        wait_for("no players listed", lambda: not sessions(api), timeout=5)
        stops = {e["session_id"]: e for e in events(api, "play.stop")
                 if e["protocol"] == "http-flv"}  # not wait_live()'s RTMP probe
        assert len(stops) == PLAYERS, stops
        ended = [e for s, e in stops.items() if s != victim_id]
        assert {e["reason"] for e in ended} == {"stream_ended"}, ended
        assert sorted(e["bytes_out"] for e in ended) == sorted(len(rd.data) for rd in rest)
        for i, rd in enumerate(rest):
            data, complete = dechunk(rd.body())
            assert complete, "player %d: no last chunk" % i
            out = tmp_path / ("p%d.flv" % i)
            out.write_bytes(data)
            got = framemd5(out)
            assert len(got) >= 25, "player %d: only %d video frames" % (i, len(got))
            assert find_run(got, clip.vmd5, cyclic=True) is not None, \
                "player %d: %s" % (i, describe_mismatch(got, clip.vmd5))
    finally:
        for rd in readers:
            rd.close()
