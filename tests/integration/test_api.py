"""The control API against a real node with a real SQLite file: ffmpeg
publishes, raw HTTP-FLV sockets and ffmpeg play, and every API answer is
checked against openapi.yaml (apischema.Api)."""

import os
import re
import signal
import sqlite3
import threading
import time

import pytest

import weirtest
from apischema import Api

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def wait_for(what, fn, timeout=10.0, interval=0.1):
    """Polls fn() until it returns a true value; fails naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    pytest.fail("timed out after %.0fs waiting for %s (last: %r)" % (timeout, what, last),
                pytrace=False)


class FlvReader:
    """An HTTP-FLV player on a raw socket, reading in a thread: counts bytes
    (keep: keeps them in .data too) and notes when the server closes the
    connection (ext ".ts": HTTP-TS)."""

    def __init__(self, node, app, name, ext=".flv", keep=False):
        req = ("GET /%s/%s%s HTTP/1.1\r\nHost: x\r\n\r\n" % (app, name, ext)).encode()
        self.sock = weirtest.http_open(node.http_port, req, timeout=30)
        self.port = self.sock.getsockname()[1]
        self.bytes = 0
        self.data = bytearray() if keep else None
        self.closed_at = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while True:
                b = self.sock.recv(65536)
                if not b:
                    break
                self.bytes += len(b)
                if self.data is not None:
                    self.data += b
        except OSError:
            pass
        self.closed_at = time.monotonic()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.thread.join(5)


@pytest.fixture
def api_node(node):
    """Factory: api_node(**overrides) -> (node, Api)."""
    def start(**overrides):
        n = node(**overrides)
        token = overrides.get("api", {}).get("token")
        return n, Api(n.api_url, token=token)
    return start


def publish(procs, n, clip, app="live", name="test"):
    p = procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(app, name), loop=True),
                    name="publish-%s" % name)
    return p


def stream_of(api, app="live", name="test"):
    r = api.get("/api/v1/streams/%s/%s" % (app, name))
    return r.json() if r.status_code == 200 else None


def sessions(api, **filters):
    r = api.get("/api/v1/sessions", params=filters)
    assert r.status_code == 200, r.text
    return r.json()["sessions"]


def all_events(api, after=0):
    out = []
    while True:
        r = api.get("/api/v1/events", params={"after": after, "limit": 1000})
        assert r.status_code == 200, r.text
        page = r.json()
        out += page["events"]
        if not page["events"]:
            return out
        after = page["next_after"]


def payload_kbps(clip):
    """Media payload bitrate of the clip (FLV tag bodies: what the node counts)."""
    with open(clip.path, "rb") as f:
        _, tags, _ = weirtest.parse_flv(f.read())
    return sum(len(t.data) for t in tags) * 8 / 1000.0 / clip.seconds


# ------------------------------------------------------------------ node

def test_node_identity_and_addresses(api_node):
    n, api = api_node()
    # The start-up probes of the RTMP and HTTP-FLV ports are sessions until
    # the node has read their close: on a busy machine that can be after the
    # first request.
    wait_for("the port probes' sessions to close",
             lambda: api.get("/api/v1/node").json()["counts"]["sessions"] == 0)
    r = api.get("/api/v1/node")
    assert r.status_code == 200
    body = r.json()
    assert UUID_RE.match(body["id"]), body["id"]
    assert body["version"] == "0.1.0"
    assert body["listen"] == {"rtmp": "127.0.0.1:%d" % n.rtmp_port,
                              "http_flv": "127.0.0.1:%d" % n.http_port,
                              "api": "127.0.0.1:%d" % n.api_port,
                              "rtmps": None, "https": None}
    assert body["counts"] == {"streams": 0, "publishers": 0, "players": 0, "relay_links": 0,
                              "relays": 0, "sessions": 0}
    assert body["storage"]["path"].endswith("weir.db")
    assert body["log_level"] == "debug"
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ready"}


# ------------------------------------------------------------------ streams

def test_stream_reports_codecs_resolution_and_bitrate(api_node, procs, clip):
    n, api = api_node()
    publish(procs, n, clip)
    wait_for("the stream", lambda: stream_of(api))
    # The bitrate window is 5 s: let it fill with steady input.
    time.sleep(7)
    st = stream_of(api)
    assert st["state"] == "live" and st["source"] == "rtmp"
    assert st["publisher"]["protocol"] == "rtmp"
    v, a = st["video"], st["audio"]
    assert (v["codec"], v["width"], v["height"]) == ("h264", 640, 360), v
    assert v["profile"] == "High" and v["level"], v
    assert abs(v["frame_rate"] - 25) <= 1.5, v
    assert (a["codec"], a["sample_rate"], a["channels"]) == ("aac", 44100, 1), a
    assert a["profile"] == "LC", a
    want = payload_kbps(clip)
    assert abs(st["bitrate_in_kbps"] - want) <= 0.15 * want, (st["bitrate_in_kbps"], want)
    assert st["bytes_in"] > 0 and st["player_count"] == 0
    assert st["gop_cache"]["gops"] == 1 and st["gop_cache"]["bytes"] > 0
    listed = api.get("/api/v1/streams").json()["streams"]
    assert [(s["app"], s["name"]) for s in listed] == [("live", "test")]
    node_body = api.get("/api/v1/node").json()
    assert node_body["counts"]["streams"] == 1 and node_body["counts"]["publishers"] == 1
    assert node_body["bitrate_in_kbps"] > 0.5 * want


def test_kick_player_disconnects_it_and_others_continue(api_node, procs, clip):
    n, api = api_node()
    publish(procs, n, clip)
    wait_for("the stream", lambda: stream_of(api))
    players = [FlvReader(n, "live", "test") for _ in range(3)]
    try:
        wait_for("3 players", lambda: len(sessions(api, role="player")) == 3)
        listed = sessions(api, role="player", protocol="http-flv", app="live", name="test")
        assert len(listed) == 3
        by_port = {int(s["remote"].rsplit(":", 1)[1]): s for s in listed}
        victim = players[0]
        sid = by_port[victim.port]["id"]
        assert api.get("/api/v1/sessions/%d" % sid).json()["role"] == "player"
        detail = stream_of(api)
        assert sorted(p["id"] for p in detail["players"]) == sorted(s["id"] for s in listed)

        before = [p.bytes for p in players]
        t0 = time.monotonic()
        r = api.delete("/api/v1/sessions/%d" % sid)
        assert r.status_code == 200 and r.json()["kicked"]["id"] == sid
        # Gone from the list at once, its connection closed within 1 s.
        assert sid not in [s["id"] for s in sessions(api)]
        assert api.get("/api/v1/sessions/%d" % sid).status_code == 404
        assert api.delete("/api/v1/sessions/%d" % sid).status_code == 404
        wait_for("the kicked player's connection to close",
                 lambda: victim.closed_at is not None, timeout=2)
        assert victim.closed_at - t0 < 1.0, victim.closed_at - t0
        # The others keep receiving.
        time.sleep(2)
        for p, b in zip(players[1:], before[1:]):
            assert p.closed_at is None
            assert p.bytes > b + 50000, (p.bytes, b)
        assert len(sessions(api, role="player")) == 2
        evs = all_events(api)
        kick = [e for e in evs if e["type"] == "session.kick"]
        assert len(kick) == 1 and kick[0]["session_id"] == sid and kick[0]["by"] == "api"
        stop = [e for e in evs if e["type"] == "play.stop" and e["session_id"] == sid]
        assert len(stop) == 1 and stop[0]["reason"] == "kicked", stop
        assert stop[0]["message"] == "kicked by the API", stop
        assert stop[0]["bytes_out"] > 0 and stop[0]["duration_ms"] >= 0
    finally:
        for p in players:
            p.close()


def test_delete_stream_ends_publisher_and_players(api_node, procs, clip):
    n, api = api_node()
    pub = publish(procs, n, clip)
    wait_for("the stream", lambda: stream_of(api))
    players = [FlvReader(n, "live", "test") for _ in range(2)]
    rtmp_player = procs.spawn(weirtest.pull_cmd(n.rtmp_url("live", "test"),
                                                 procs.workdir + "/rtmp.flv"), name="rtmp-play")
    try:
        wait_for("3 players", lambda: len(sessions(api, role="player")) == 3)
        r = api.delete("/api/v1/streams/live/test")
        assert r.status_code == 200
        assert r.json() == {"closed": {"app": "live", "name": "test"}, "sessions": 4}
        wait_for("HTTP-FLV players closed", lambda: all(p.closed_at for p in players), 5)
        weirtest.wait_proc(pub, 10, "the publisher (ffmpeg) after its stream was closed")
        weirtest.wait_proc(rtmp_player, 15, "the RTMP player after its stream was closed")
        wait_for("no sessions", lambda: sessions(api) == [], 5)
        assert api.get("/api/v1/streams/live/test").status_code == 404
        assert api.delete("/api/v1/streams/live/test").status_code == 404
        evs = all_events(api)
        closes = [e for e in evs if e["type"] == "stream.close"]
        assert len(closes) == 1 and closes[0]["sessions"] == 4
        # Issue 18: a code to switch on, the text next to it.
        stops = {e["type"]: e for e in evs if e["type"] == "publish.stop"}
        assert (stops["publish.stop"]["reason"], stops["publish.stop"]["message"]) == (
            "kicked", "stream closed by the API"), stops
        plays = [e for e in evs if e["type"] == "play.stop"]
        assert len(plays) == 3 and {e["reason"] for e in plays} == {"stream_ended"}, plays
    finally:
        for p in players:
            p.close()


# ------------------------------------------------------------------ events

def test_events_in_order_with_a_working_cursor(api_node, procs, clip):
    n, api = api_node()
    pub = publish(procs, n, clip)
    wait_for("the stream", lambda: stream_of(api))
    player = FlvReader(n, "live", "test")
    wait_for("the player", lambda: sessions(api, role="player"))
    time.sleep(1)
    player.close()
    wait_for("the player's end", lambda: not sessions(api, role="player"))
    weirtest.interrupt(pub)
    wait_for("publish.stop", lambda: any(e["type"] == "publish.stop" for e in all_events(api)))

    evs = all_events(api)
    types = [e["type"] for e in evs]
    assert types == ["node.start", "publish.start", "play.start", "play.stop",
                     "publish.stop"], types
    ids = [e["id"] for e in evs]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert evs[0]["node_id"] == api.get("/api/v1/node").json()["id"]
    ps = evs[1]
    assert (ps["app"], ps["name"], ps["protocol"]) == ("live", "test", "rtmp")
    stop = evs[4]
    assert stop["session_id"] == ps["session_id"]
    assert stop["bytes_in"] > 10000 and stop["duration_ms"] > 500
    play = evs[3]
    assert play["protocol"] == "http-flv" and play["bytes_out"] > 0

    # Page through with limit=1: the same events, each once, in order.
    after, paged = 0, []
    for _ in range(20):
        page = api.get("/api/v1/events", params={"after": after, "limit": 1}).json()
        if not page["events"]:
            assert page["next_after"] == after
            break
        assert len(page["events"]) == 1
        paged += page["events"]
        after = page["next_after"]
    assert [e["id"] for e in paged] == ids
    # A cursor in the middle; one past the end.
    mid = api.get("/api/v1/events", params={"after": ids[1]}).json()
    assert [e["id"] for e in mid["events"]] == ids[2:]
    end = api.get("/api/v1/events", params={"after": ids[-1] + 100}).json()
    assert end == {"events": [], "next_after": ids[-1] + 100}


# ------------------------------------------------------------------ errors

def test_auth_and_error_statuses(api_node):
    n, api = api_node(api={"token": "s3cret-token", "max_body_bytes": 1024})
    anon = Api(n.api_url)
    wrong = Api(n.api_url, token="s3cret-tokeN")
    # 401 everywhere but the probes, without revealing which routes exist.
    assert anon.get("/healthz").status_code == 200
    assert anon.get("/readyz").status_code == 200
    for path in ("/api/v1/node", "/api/v1/streams", "/metrics", "/api/v1/version", "/nope"):
        r = anon.get(path)
        assert r.status_code == 401, path
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert r.json()["error"]["code"] == "unauthorized"
        assert wrong.get(path).status_code == 401
    assert anon.delete("/api/v1/sessions/1").status_code == 401
    # 404
    assert api.get("/api/v1/nope").json()["error"]["code"] == "not_found"
    assert api.get("/api/v1/streams/live/none").status_code == 404
    assert api.get("/api/v1/sessions/999999").status_code == 404
    # 405 with Allow
    r = api.post("/api/v1/streams", json={})
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"
    r = api.put("/api/v1/node", json={})
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD, PATCH"
    # 400: malformed JSON, wrong type, unknown field, bad parameters; each names the field.
    r = api.patch("/api/v1/node", data=b'{"log_level": ', headers={
        "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    r = api.patch("/api/v1/node", json=["log_level"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    r = api.patch("/api/v1/node", json={"log_level": 3})
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("log_level:")
    r = api.patch("/api/v1/node", json={"log_level": "loud"})
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("log_level:")
    r = api.patch("/api/v1/node", json={"level'; DROP TABLE events;--": "x"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_field"
    for params, field in (({"limit": 0}, "limit"), ({"limit": "abc"}, "limit"),
                          ({"limit": 1001}, "limit"), ({"after": -1}, "after")):
        r = api.get("/api/v1/events", params=params)
        assert r.status_code == 400 and r.json()["error"]["message"].startswith(field + ":")
    r = api.get("/api/v1/sessions", params={"role": "viewer"})
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("role:")
    r = api.get("/api/v1/sessions", params={"protocol": "dash"})  # hls is one now (test_hls.py)
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("protocol:")
    r = api.get("/api/v1/sessions/abc")
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("id:")
    # 413: by Content-Length up front, and a chunked body that grows over the limit.
    r = api.patch("/api/v1/node", json={"log_level": "x" * 2000})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

    def chunks():
        yield b'{"log_level": "'
        for _ in range(40):
            yield b"x" * 100
        yield b'"}'
    r = api.patch("/api/v1/node", data=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    # 415
    r = api.patch("/api/v1/node", data=b"log_level=debug",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    # A good PATCH still works after all that.
    r = api.patch("/api/v1/node", json={"log_level": "info"})
    assert r.status_code == 200 and r.json()["log_level"] == "info"
    # The API counts answers by status.
    m = api.get("/metrics").text
    for status in ("200", "400", "401", "404", "405", "413", "415"):
        assert re.search(r'^weir_api_requests_total\{status="%s"\} [1-9]' % status, m, re.M), \
            status


def test_probes_need_the_token_when_not_public(api_node):
    n, api = api_node(api={"token": "s3cret-token", "health_public": False})
    anon = Api(n.api_url)
    for path in ("/healthz", "/readyz"):
        r = anon.get(path)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", path
        assert api.get(path).status_code == 200, path


def test_head_answers_every_get_route_and_bodies_only_where_taken(api_node):
    n, api = api_node()
    for path in ("/healthz", "/readyz", "/metrics", "/api/v1/node", "/api/v1/streams",
                 "/api/v1/sessions", "/api/v1/events", "/api/v1/relays", "/api/v1/hooks",
                 "/api/v1/version"):
        g = api.get(path)
        h = api.head(path)
        assert h.status_code == g.status_code == 200, path
        assert h.content == b"", path
        assert h.headers["Content-Type"] == g.headers["Content-Type"], path
        assert int(h.headers["Content-Length"]) > 0, path
    # A missing resource: HEAD answers 404 too; the dashboard's page (503 without a
    # built web root) answers HEAD as it answers GET.
    assert api.head("/api/v1/sessions/999999").status_code == 404
    assert api.head("/").status_code == api.get("/").status_code
    # A body on an operation that takes none: 400, named; nothing happens.
    for method, path in (("GET", "/api/v1/streams"), ("DELETE", "/api/v1/sessions/999999"),
                         ("POST", "/api/v1/node/undrain")):
        r = api.request(method, path, json={"x": 1})
        assert r.status_code == 400, (method, path, r.text)
        err = r.json()["error"]
        assert err["code"] == "bad_request"
        assert err["message"] == "%s %s takes no body" % (method, path), err
    # An empty body is no body.
    assert api.request("POST", "/api/v1/node/undrain", data=b"").status_code == 200


def test_version_names_the_contract_build_and_capabilities(api_node):
    n, api = api_node()
    v = api.get("/api/v1/version").json()
    node = api.get("/api/v1/node").json()
    assert v["version"] == node["version"]
    assert re.fullmatch(r"1\.\d+", v["api_version"]), v
    assert v["build"]["libevent"] and v["build"]["libmicrohttpd"] and v["build"]["openssl"]
    for cap in ("rtmp.publish", "http_flv.play", "relays.pull", "relays.failover", "drain",
                "events.cursor", "head", "health.public"):
        assert cap in v["capabilities"], (cap, v["capabilities"])


def test_undrain_of_an_undrained_node_records_nothing(api_node):
    n, api = api_node()
    before = [e["type"] for e in all_events(api)]
    r = api.post("/api/v1/node/undrain")
    assert r.status_code == 200 and r.json()["draining"] is False
    assert api.post("/api/v1/node/drain").status_code == 200
    assert api.post("/api/v1/node/undrain").status_code == 200
    assert api.post("/api/v1/node/undrain").status_code == 200
    types = [e["type"] for e in all_events(api)][len(before):]
    # node.drained (the node has no session) if a tick came before the undrain.
    assert types in (["node.drain", "node.undrain"],
                     ["node.drain", "node.drained", "node.undrain"]), types


def test_push_relay_refuses_a_mode(api_node):
    n, api = api_node()
    body = {"direction": "push", "app": "live", "name": "cam",
            "urls": ["rtmp://127.0.0.1:1/live/cam"]}
    r = api.post("/api/v1/relays", json=dict(body, mode="always"))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"].startswith("mode: a push relay has no mode"), r.text
    assert api.get("/api/v1/relays").json()["relays"] == []
    r = api.post("/api/v1/relays", json=dict(body, mode=None))
    assert r.status_code == 201 and r.json()["mode"] is None, r.text


def test_non_loopback_api_needs_a_token(tmp_path):
    n = weirtest.Node(tmp_path / "n", {"api": {"listen": "0.0.0.0:%d" % weirtest.free_port()}})
    res = weirtest.run([weirtest.weir_bin(), "-c", n.config_path], timeout=10, cwd=n.workdir)
    assert res.returncode == 1
    assert "api.token" in res.stderr and "loopback" in res.stderr, res.stderr


def test_unusable_database_stops_the_start_naming_the_file(tmp_path):
    n = weirtest.Node(tmp_path / "n")
    db = n.config["storage"]["path"]
    with open(db, "wb") as f:
        f.write(b"this is not a database, just some text " * 200)
    res = weirtest.run([weirtest.weir_bin(), "-c", n.config_path], timeout=10, cwd=n.workdir)
    assert res.returncode == 1
    assert db in res.stderr, res.stderr
    # A database written by a newer weir is refused too (and left as it is).
    os.unlink(db)
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()
    res = weirtest.run([weirtest.weir_bin(), "-c", n.config_path], timeout=10, cwd=n.workdir)
    assert res.returncode == 1 and db in res.stderr and "newer" in res.stderr, res.stderr
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 99
    con.close()


# ------------------------------------------------------------------ durability

def test_node_id_events_and_settings_survive_kill_9(api_node, procs, clip):
    n, api = api_node()
    node_id = api.get("/api/v1/node").json()["id"]
    assert api.patch("/api/v1/node", json={"log_level": "warn"}).status_code == 200
    pub = publish(procs, n, clip)
    wait_for("the stream", lambda: stream_of(api))
    player = FlvReader(n, "live", "test")
    wait_for("play.start", lambda: any(e["type"] == "play.start" for e in all_events(api)))
    before = all_events(api)
    n.proc.send_signal(signal.SIGKILL)
    n.proc.wait(10)
    player.close()
    weirtest.wait_proc(pub, 15, "the publisher after the node was killed")

    n.start()
    body = api.get("/api/v1/node").json()
    assert body["id"] == node_id
    assert body["log_level"] == "warn"
    after = all_events(api)
    assert after[:len(before)] == before
    new = after[len(before):]
    assert new and new[0]["type"] == "node.start" and new[0]["id"] > before[-1]["id"]
    con = sqlite3.connect(n.config["storage"]["path"])
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    # Session ids are unique across restarts (start ms << 10, then a counter): a
    # stored id of the first run names nobody in the second.
    old_ids = {e["session_id"] for e in before if "session_id" in e}
    assert old_ids and all(isinstance(i, int) and 0 < i < 10 ** 15 for i in old_ids), old_ids
    pub = publish(procs, n, clip)
    wait_for("the stream again", lambda: stream_of(api))
    new_ids = {s["id"] for s in sessions(api)}
    assert all(isinstance(i, int) for i in new_ids), new_ids
    assert new_ids and min(new_ids) > max(old_ids), (old_ids, new_ids)
    for i in old_ids:
        assert api.delete("/api/v1/sessions/%d" % i).status_code == 404


def test_storage_write_failures_are_counted_and_streaming_goes_on(api_node, procs, clip,
                                                                   tmp_path):
    # A database at its size cap (storage.max_size_mb): every later write
    # fails as on a full disk.
    n, api = api_node(storage={"max_size_mb": 1})
    api.get("/api/v1/node")
    n.stop()
    con = sqlite3.connect(n.config["storage"]["path"])
    con.execute("CREATE TABLE filler (b BLOB)")
    con.execute("INSERT INTO filler VALUES (zeroblob(2000000))")
    con.commit()
    con.close()
    n.start()
    pub = publish(procs, n, clip)
    wait_for("the stream", lambda: stream_of(api))
    reader = FlvReader(n, "live", "test")
    try:
        # Short plays: two events each, more than the free space left.
        for _ in range(100):
            FlvReader(n, "live", "test").close()
        time.sleep(2)
        assert reader.bytes > 50000 and reader.closed_at is None
        body = wait_for("storage write errors",
                        lambda: api.get("/api/v1/node").json()["storage"]["write_errors"] > 0
                        and api.get("/api/v1/node").json())
        assert body["counts"]["players"] == 1
        m = api.get("/metrics").text
        assert re.search(r"^weir_storage_write_errors_total [1-9]", m, re.M), m
        # A change is acknowledged only once it is stored (the settings
        # table may still have room in its page; then it really is there).
        r = api.patch("/api/v1/node", json={"log_level": "info"})
        assert r.status_code in (200, 503), r.text
        con = sqlite3.connect(n.config["storage"]["path"])
        row = con.execute("SELECT value FROM settings WHERE key = 'log.level'").fetchone()
        con.close()
        assert (row == ("info",)) == (r.status_code == 200), (row, r.status_code)
        assert "storage:" in n.log_text()
        assert pub.poll() is None
    finally:
        reader.close()


# ------------------------------------------------------------------ metrics

def vm_kb(n, field):
    """A field of the node's /proc/PID/status in kB (VmData, VmRSS ...)."""
    with open("/proc/%d/status" % n.pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for pid %d" % (field, n.pid))


def test_metrics_exposition(api_node, procs, clip):
    n, api = api_node()
    publish(procs, n, clip)
    wait_for("the stream", lambda: stream_of(api))
    reader = FlvReader(n, "live", "test")
    try:
        wait_for("the player", lambda: sessions(api, role="player"))
        time.sleep(2)
        r = api.get("/metrics")
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        samples = {}
        for line in r.text.splitlines():
            if line.startswith("#"):
                assert re.match(r"^# (HELP|TYPE) weir_[a-z_]+ ", line), line
                continue
            m = re.match(r'^(weir_[a-z_]+)(\{[^}]*\})? (-?[0-9.e+]+)$', line)
            assert m, "bad exposition line: %r" % line
            samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
        assert samples["weir_streams"] == 1
        assert samples['weir_sessions{role="publisher",protocol="rtmp"}'] == 1
        assert samples['weir_sessions{role="player",protocol="http-flv"}'] == 1
        assert samples['weir_stream_players{app="live",name="test"}'] == 1
        assert samples['weir_stream_bitrate_in_bits_per_second{app="live",name="test"}'] > 100000
        assert samples["weir_bytes_in_total"] > 0 and samples["weir_bytes_out_total"] > 0
        assert samples['weir_build_info{version="0.1.0"}'] == 1
        # memory: RSS as /proc sees it, SQLite's share (the event log was read and written),
        # and glibc's heap counters (near 0 under a sanitizer, which has its own heap): what
        # malloc handed out lies within the data mappings (VmData), not within RSS, since a
        # large calloc'd block is not resident until it is touched
        vmrss = n.rss_kb() * 1024
        rss = samples["weir_process_resident_memory_bytes"]
        assert 0.8 * vmrss < rss < 1.25 * vmrss, (rss, vmrss)
        assert 10000 < samples["weir_storage_sqlite_memory_bytes"] < rss
        vmdata = vm_kb(n, "VmData") * 1024
        assert 0 <= samples["weir_process_heap_in_use_bytes"] < vmdata, (samples, vmdata)
        assert 0 <= samples["weir_process_heap_free_bytes"] < vmdata, (samples, vmdata)
    finally:
        reader.close()

