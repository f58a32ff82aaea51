"""Drain (issue 6): POST /api/v1/node/drain and /undrain against a real weir
with a real SQLite file. A draining node refuses new players (HTTP-FLV 503
with Retry-After, or a 302 to the scheduler's URL; RTMP connect rejected),
says so on /readyz, /metrics, GET /api/v1/node, the event log and the
webhooks, keeps its running sessions, and stays drained across a restart.
Every API answer is checked against openapi.yaml (apischema.Api).
"""

import re
import time

import rtmp_min
import weirtest
from relayutil import APP, FlvPlayer, api_of, assert_error, events_of, publish, stream_live, \
    wait_for
from test_hooks import flv_get, metric, rx  # noqa: F401 (rx: the receiver fixture)

TIME_RE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def rtmp_connect_error(port):
    """Connects to app live with rtmp_min; returns the _error text, or None
    when the connect was accepted."""
    with rtmp_min.RtmpClient(weirtest.HOST, port, timeout=10) as c:
        try:
            c.connect(APP)
        except rtmp_min.RtmpClosed as e:
            return "closed: %s" % e
        except rtmp_min.RtmpError as e:
            return str(e)
    return None


def readyz(api):
    r = api.get("/readyz")
    return r.status_code, r.json()


def settings(d):
    """A drain object without its live count (drain.remaining)."""
    return {k: v for k, v in d.items() if k != "remaining"}


def drain(api, body=None):
    r = api.post("/api/v1/node/drain", json=body) if body is not None else \
        api.post("/api/v1/node/drain")
    assert r.status_code == 200, r.text
    return r.json()


def test_drain_refuses_new_players_and_keeps_old_ones(node, rx, procs, clip):
    n = node(hooks=[{"id": "sched", "url": rx.url, "events": ["node.drain", "node.undrain"]}])
    api = api_of(n)
    node0 = api.get("/api/v1/node").json()
    assert node0["draining"] is False and node0["drain"] is None, node0
    assert readyz(api)[0] == 200
    assert metric(api, "weir_node_draining") == 0

    publish(procs, n, clip, "cam", loop=True)
    wait_for("live/cam live", lambda: stream_live(api, APP, "cam"), timeout=15, diag=[n])
    old_flv = FlvPlayer(n.http_port, APP, "cam")
    old_rtmp, _ = rtmp_min.open_player(weirtest.HOST, n.rtmp_port, APP, "cam", timeout=10)
    try:
        old_flv.wait_video(3, 15)
        info = old_rtmp.wait_status(10, {"NetStream.Play.Start", "NetStream.Play.StreamNotFound"})
        assert info.get("code") == "NetStream.Play.Start", info

        # Drain without a body: 503 + Retry-After 30 for new HTTP-FLV players.
        nd = drain(api)
        assert nd["draining"] is True, nd
        assert nd["drain"]["redirect_url"] is None and nd["drain"]["retry_after_s"] == 30, nd
        assert re.fullmatch(TIME_RE, nd["drain"]["since"]), nd
        code, body = readyz(api)
        assert code == 503 and "draining" in body["reasons"], body
        assert metric(api, "weir_node_draining") == 1
        r = flv_get(n.http_port, "/%s/cam.flv" % APP)
        assert r.status == 503 and r.header("retry-after") == "30", r
        err = rtmp_connect_error(n.rtmp_port)
        assert err and "NetConnection.Connect.Rejected" in err and "draining" in err, err

        # With a redirect: a 302 to the URL + the original request target.
        nd2 = drain(api, {"redirect_url": "http://edge-2.example:8080", "retry_after_s": 7})
        assert settings(nd2["drain"]) == {"redirect_url": "http://edge-2.example:8080",
                                          "retry_after_s": 7, "since": nd["drain"]["since"]}, nd2
        # The publisher and both old players (a refused one may not be closed yet).
        assert nd2["drain"]["remaining"] >= 3, nd2
        r = flv_get(n.http_port, "/%s/cam.flv?token=x" % APP)
        assert r.status == 302, r
        assert r.header("location") == "http://edge-2.example:8080/%s/cam.flv?token=x" % APP, r
        assert rtmp_connect_error(n.rtmp_port), "RTMP connect accepted while draining"

        # The players from before go on receiving.
        before_flv = len(old_flv.data())
        deadline = time.monotonic() + 3
        nvideo = 0
        while time.monotonic() < deadline:
            try:
                m = old_rtmp.read_message(max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
            if m.type == rtmp_min.MSG_VIDEO:
                nvideo += 1
        assert nvideo >= 25, "old RTMP player got %d video messages in 3 s" % nvideo
        assert len(old_flv.data()) > before_flv + 50000, "old HTTP-FLV player stalled"
        assert old_flv.closed_at is None
        assert stream_live(api, APP, "cam")

        # Bad bodies change nothing.
        for bad, field in (({"redirect_url": "ftp://x"}, "redirect_url"),
                           ({"redirect_url": "http://a b"}, "redirect_url"),
                           ({"retry_after_s": 0}, "retry_after_s"),
                           ({"retry_after_s": 3601}, "retry_after_s"),
                           ({"colour": 1}, "colour")):
            assert_error(api.post("/api/v1/node/drain", json=bad), 400, "invalid_field", field)
        assert settings(api.get("/api/v1/node").json()["drain"]) == settings(nd2["drain"])

        # Undrain: ready again, new players welcome.
        r = api.post("/api/v1/node/undrain")
        assert r.status_code == 200, r.text
        assert r.json()["draining"] is False and r.json()["drain"] is None, r.text
        assert readyz(api)[0] == 200
        assert metric(api, "weir_node_draining") == 0
        assert rtmp_connect_error(n.rtmp_port) is None
        newp = FlvPlayer(n.http_port, APP, "cam")
        try:
            assert newp.wait_head(10)[0] == 200
        finally:
            newp.close()
    finally:
        old_flv.close()
        old_rtmp.close()

    # Events and webhooks.
    drains = events_of(api, "node.drain")
    assert [(e["redirect_url"] if "redirect_url" in e else None, e["retry_after_s"], e["by"])
            for e in drains] == [(None, 30, "api"), ("http://edge-2.example:8080", 7, "api")], \
        drains
    assert [e["by"] for e in events_of(api, "node.undrain")] == ["api"]
    rx.wait_for("node.undrain", timeout=10)
    assert [r["type"] for r in rx.received()] == ["node.drain", "node.drain", "node.undrain"]
    assert rx.received("node.drain")[1]["body"]["retry_after_s"] == 7


def test_drain_survives_a_restart(node):
    n = node()
    api = api_of(n)
    nd = drain(api, {"retry_after_s": 12})
    assert n.stop() == 0
    n.start()
    got = api.get("/api/v1/node").json()
    assert got["draining"] is True, got
    # (remaining may count the start's port probes until they are closed)
    assert settings(got["drain"]) == settings(nd["drain"]), (got["drain"], nd["drain"])
    code, body = readyz(api)
    assert code == 503 and "draining" in body["reasons"], body
    r = flv_get(n.http_port, "/%s/any.flv" % APP)
    assert r.status == 503 and r.header("retry-after") == "12", r
    assert rtmp_connect_error(n.rtmp_port)
    # Undrained, it stays undrained after the next restart.
    assert api.post("/api/v1/node/undrain").status_code == 200
    assert n.stop() == 0
    n.start()
    assert api.get("/api/v1/node").json()["draining"] is False
    assert readyz(api)[0] == 200


def test_heartbeat_says_draining(node, rx):
    n = node(events={"heartbeat_interval_s": 1},
             hooks=[{"id": "hb", "url": rx.url, "events": ["node.heartbeat"]}])
    api = api_of(n)
    rx.wait_for("node.heartbeat", timeout=5)
    t0 = time.monotonic()
    drain(api)
    t1 = time.monotonic()
    rx.wait_for(lambda r: r["type"] == "node.heartbeat" and r["t"] > t1, timeout=5)
    before = [r["body"]["draining"] for r in rx.received() if r["t"] < t0]
    after = [r["body"]["draining"] for r in rx.received() if r["t"] > t1]
    assert before and not any(before), before
    assert after and all(after), after
