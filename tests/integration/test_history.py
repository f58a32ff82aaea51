"""The node's history (GET /api/v1/history and
/api/v1/streams/{app}/{name}/history, issue 22) against a real node: a raw
RTMP publisher (rtmp_min) sends small video frames; the node's and the
stream's points come once a second with their times, the stream's bitrate and
frame rate are there, `since` returns only later points, the minute
resolution has the current minute, a publisher that stops and comes back
leaves a gap in the stream's times (not zeros), a stream just published
answers 200 (no point yet) rather than 404, and bad input is a 400 naming
the parameter. Every answer is checked against openapi.yaml."""

import threading
import time

import rtmp_min
from apischema import Api
from relayutil import assert_error, wait_for

STREAM = "/api/v1/streams/live/h/history"


class Sender:
    """Publishes live/h and sends a 2 KB video frame every 40 ms until stopped."""

    def __init__(self, n):
        self.c, self.sid, code = rtmp_min.open_publisher(n.host, n.rtmp_port, "live", "h")
        assert code == "NetStream.Publish.Start", code
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        ts = 0
        while not self.stop_ev.wait(0.04):
            try:
                self.c.send_video(self.sid, ts, b"\x17\x01\x00\x00\x00" + b"\x00" * 2048)
            except OSError:
                return
            ts += 40

    def stop(self):
        self.stop_ev.set()
        self.t.join(10)
        self.c.close()


def columns_ok(body, names):
    n = len(body["t"])
    for k in names:
        assert len(body[k]) == n, (k, body)
    assert body["t"] == sorted(set(body["t"])), "times increase: %r" % body["t"]
    step = body["interval_ms"]
    assert all(t % step == 0 for t in body["t"]), body["t"]
    return n


def stream_points(api, want):
    r = api.get(STREAM)
    assert r.status_code == 200, (r.status_code, r.text)  # live: points or none yet, never 404
    body = r.json()
    live = [i for i, b in enumerate(body["bitrate_kbps"]) if b > 0 and body["fps"][i] > 0]
    return body if len(live) >= want else None


def test_history(node):
    n = node()
    api = Api(n.api_url)
    s = Sender(n)
    try:
        # just published: 200 at once (no point yet, or the first), not 404
        first = api.get(STREAM)
        assert first.status_code == 200, (first.status_code, first.text)
        assert columns_ok(first.json(), ["bitrate_kbps", "fps", "players"]) <= 2, first.text
        body = wait_for("3 stream points with bitrate and fps", lambda: stream_points(api, 3),
                        timeout=30)
        columns_ok(body, ["bitrate_kbps", "fps", "players"])
        assert body["resolution"] == "1s"
        assert max(body["bitrate_kbps"]) > 100, body  # 2 KB x 25/s: about 400 kbit/s
        assert 10 < max(body["fps"]) < 40, body
        node_h = api.get("/api/v1/history").json()
        k = columns_ok(node_h, ["bitrate_in_kbps", "bitrate_out_kbps", "connections",
                                "players", "streams", "cpu_percent", "rss_bytes"])
        assert k >= 3 and max(node_h["streams"]) == 1 and max(node_h["connections"]) >= 1
        assert max(node_h["rss_bytes"]) > 1 << 20 and max(node_h["bitrate_in_kbps"]) > 100
        now_ms = time.time() * 1000
        assert abs(node_h["t"][-1] - now_ms) < 60000, (node_h["t"][-1], now_ms)
        # since: only the later points
        since = node_h["t"][-2]
        later = api.get("/api/v1/history", params={"since": since}).json()
        assert later["t"] and all(t > since for t in later["t"]), (since, later["t"])
        assert later["t"][0] == node_h["t"][-1]
        # minutes: the current one, averaged so far
        m = api.get(STREAM, params={"resolution": "1m"}).json()
        assert m["resolution"] == "1m" and m["interval_ms"] == 60000
        assert columns_ok(m, ["bitrate_kbps", "fps", "players"]) >= 1
        assert m["bitrate_kbps"][-1] > 0
    finally:
        s.stop()
    # off the air: the history stays; no point while the stream is gone
    wait_for("stream gone", lambda: api.get("/api/v1/streams/live/h").status_code == 404)
    gone_at = time.time() * 1000
    before = api.get(STREAM).json()["t"]
    wait_for("2 s of node points without the stream",
             lambda: sum(1 for t in api.get("/api/v1/history").json()["t"] if t > gone_at) >= 2,
             timeout=30)
    s = Sender(n)
    try:
        after = wait_for("a new stream point",
                         lambda: [t for t in api.get(STREAM).json()["t"] if t > before[-1]],
                         timeout=30)
        assert after[0] - before[-1] >= 2000, "a gap, not zeros: %r then %r" % (before, after)
    finally:
        s.stop()
    # bad input
    assert_error(api.get("/api/v1/history", params={"resolution": "5s"}), 400,
                 "invalid_field", "resolution")
    assert_error(api.get(STREAM, params={"since": "-1"}), 400, "invalid_field", "since")
    assert_error(api.get("/api/v1/history", params={"limit": "3"}), 400, "invalid_field",
                 "limit")
    assert_error(api.get("/api/v1/streams/live/nope/history"), 404, "not_found")
