"""Webhooks (issue 6) against a real weir with a real SQLite file: the hooks
REST API (CRUD, validation, 404/409, restore after restart), notifications
(publish/play start and stop, node.start, node.heartbeat) with their
signature and retries, and the authorizing hooks on_publish / on_play (deny,
allow, query string, timeout policy) over RTMP and HTTP-FLV.

The receiver is hookrecv.HookReceiver; every payload it gets is also checked
against the `webhooks` entry of openapi.yaml for its type, and every API
answer against the document (apischema.Api). ffmpeg publishes the test clip.
"""

import re
import time

import pytest

import rtmp_min
import weirtest
from apischema import default_schema
from hookrecv import HookReceiver
from relayutil import (APP, api_of, assert_error, events_of, publish, stream_live,
                       wait_for)

SECRET = "s3cret-for-tests"
HOOK_STATE = ("queued", "delivered", "failed", "dropped", "retries", "last_status",
              "last_error", "last_delivery_at", "etag")
FAST_WEBHOOKS = {"retry_initial_ms": 100, "retry_max_ms": 200}
TIME_RE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


@pytest.fixture
def rx():
    r = HookReceiver()
    yield r
    r.close()


# ------------------------------------------------------------------ helpers

def spec_of(hook):
    """A rendered hook without its live state."""
    return {k: v for k, v in hook.items() if k not in HOOK_STATE}


def hooks_of(api):
    r = api.get("/api/v1/hooks")
    assert r.status_code == 200, r.text
    return r.json()["hooks"]


def get_hook(api, hid):
    r = api.get("/api/v1/hooks/%s" % hid)
    assert r.status_code == 200, r.text
    return r.json()


def create_hook(api, body):
    r = api.post("/api/v1/hooks", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def check_payload(rec, node_id=None):
    """The request is a webhook the document describes: its body matches the
    schema of webhooks[type], and the headers name the type and the id."""
    body = rec["body"]
    assert isinstance(body, dict), rec
    sch = default_schema()
    hooks = sch.doc["webhooks"]
    assert body.get("type") in hooks, "undocumented webhook type: %r" % body
    s = hooks[body["type"]]["post"]["requestBody"]["content"]["application/json"]["schema"]
    sch.check(s, body, "webhook %s" % body["type"])
    h = rec["headers"]
    assert h.get("content-type", "").startswith("application/json"), h
    assert h.get("x-weir-event") == body["type"], h
    assert h.get("x-weir-delivery") == str(body["id"]), h
    assert h.get("user-agent", "").startswith("weir/"), h
    assert re.fullmatch(TIME_RE, body["time"]), body
    if node_id is not None:
        assert body["node_id"] == node_id and h.get("x-weir-node") == node_id, (body, h)
    return body


def node_id(api):
    return api.get("/api/v1/node").json()["id"]


def metric(api, series):
    """The value of one series of /metrics, e.g. 'weir_node_draining' or
    'weir_webhook_queued{hook="h1"}'."""
    text = api.get("/metrics").text
    m = re.search(r"^%s (\S+)$" % re.escape(series), text, re.M)
    assert m, "no series %s in /metrics" % series
    return float(m.group(1))


def rtmp_publish_code(port, name, timeout=10.0):
    """Publishes app live / name with rtmp_min; returns (first onStatus code
    or "(connection closed)", seconds it took). No media is sent."""
    t0 = time.monotonic()
    try:
        c, _, code = rtmp_min.open_publisher(weirtest.HOST, port, APP, name, timeout=timeout)
        c.close()
    except rtmp_min.RtmpClosed:
        code = "(connection closed)"
    return code, time.monotonic() - t0


def flv_get(port, target, body_bytes=1, body_seconds=0.3, timeout=10.0):
    """GET target on the HTTP-FLV port; returns the response with its head
    and the body read until body_bytes or body_seconds."""
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % target).encode()
    return weirtest.http_exchange(port, req, body_bytes=body_bytes, body_seconds=body_seconds,
                                  timeout=timeout)


def flv_plays(port, target):
    """An HTTP-FLV GET of target is answered 200 and media flows: returns the
    seconds until 50 kB of body had arrived."""
    t0 = time.monotonic()
    r = flv_get(port, target, body_bytes=50000, body_seconds=10)
    assert r.status == 200, r
    assert len(r.body) >= 50000, r
    return time.monotonic() - t0


# ------------------------------------------------------------------ 1. the API

def test_hooks_api_crud_validation_and_restore(node, rx):
    cfg_hook = {"id": "cfg", "url": rx.url, "events": ["node.start"]}
    n = node(hooks=[cfg_hook])
    api = api_of(n)
    hooks = hooks_of(api)
    assert [h["id"] for h in hooks] == ["cfg"], hooks
    assert hooks[0]["source"] == "config" and hooks[0]["secret_set"] is False, hooks

    # POST with url and events only: an id is made; defaults; live state.
    h = create_hook(api, {"url": rx.url, "events": ["*"]})
    hid = h["id"]
    assert re.fullmatch(r"h-[0-9a-f]{12}", hid), hid
    assert (h["url"], h["events"], h["decide"], h["timeout_ms"], h["enabled"],
            h["secret_set"], h["source"]) == (rx.url, ["*"], [], 5000, True, False, "api"), h
    assert (h["queued"], h["delivered"], h["failed"], h["dropped"], h["retries"]) == (
        0, 0, 0, 0, 0), h
    assert h["last_status"] is None and h["last_error"] is None, h
    assert "secret" not in h
    assert get_hook(api, hid) == h
    assert sorted(x["id"] for x in hooks_of(api)) == sorted(["cfg", hid])

    # PUT creates (201) then replaces (200); the secret is never shown.
    body = {"url": rx.url + "?site=eu1", "events": ["publish.start", "play.stop"],
            "decide": ["on_publish"], "timeout_ms": 1500, "secret": SECRET}
    r1 = api.put("/api/v1/hooks/auth", json=body)
    assert r1.status_code == 201, r1.text
    assert r1.json()["secret_set"] is True and "secret" not in r1.json(), r1.text
    assert SECRET not in r1.text
    r2 = api.put("/api/v1/hooks/auth", json=body)
    assert r2.status_code == 200, r2.text
    assert spec_of(r2.json()) == spec_of(r1.json())
    assert (r2.json()["url"], r2.json()["events"], r2.json()["decide"],
            r2.json()["timeout_ms"]) == (body["url"], body["events"], ["on_publish"], 1500)
    # A GET body can be PUT back; without a secret it has none any more.
    r3 = api.put("/api/v1/hooks/auth", json=get_hook(api, "auth"))
    assert r3.status_code == 200, r3.text
    assert r3.json()["secret_set"] is False, r3.text
    assert spec_of(r3.json()) == dict(spec_of(r1.json()), secret_set=False)
    r4 = api.put("/api/v1/hooks/auth", json=dict(body, enabled=False))
    assert r4.status_code == 200 and r4.json()["enabled"] is False, r4.text
    assert r4.json()["secret_set"] is True

    # Validation: 400 invalid_field naming the field; nothing created.
    ok = {"url": rx.url, "events": ["publish.start"]}
    cases = [
        ({"events": ["*"]}, "url"),
        ({"url": rx.url}, "events"),
        (dict(ok, url="wss://127.0.0.1:1/x"), "url"),
        (dict(ok, url="ftp://127.0.0.1/x"), "url"),
        (dict(ok, url="http://" + "a" * 520 + "/x"), "url"),
        (dict(ok, events=[]), "events"),
        (dict(ok, events=["publish.start", "play.start", "nope"]), "events[2]"),
        (dict(ok, events=["publish.start", "publish.start"]), "events"),
        (dict(ok, events=["*", "publish.start"]), "events"),
        (dict(ok, events="*"), "events"),
        (dict(ok, decide=["on_connect"]), "decide"),
        (dict(ok, timeout_ms=50), "timeout_ms"),
        (dict(ok, timeout_ms=60001), "timeout_ms"),
        (dict(ok, secret=""), "secret"),
        (dict(ok, secret="x" * 257), "secret"),
        (dict(ok, enabled="yes"), "enabled"),
        (dict(ok, id="bad id"), "id"),
        (dict(ok, colour="blue"), "colour"),
    ]
    before = sorted(x["id"] for x in hooks_of(api))
    for bad, field in cases:
        assert_error(api.post("/api/v1/hooks", json=bad), 400, "invalid_field", field)
    err = assert_error(api.post("/api/v1/hooks", json=dict(ok, events=["play.start", "a", "x"])),
                       400, "invalid_field", "events[1]")
    assert "'a'" in err["message"], err
    assert_error(api.put("/api/v1/hooks/bad!id", json=ok), 400, "invalid_field", "id")
    assert_error(api.put("/api/v1/hooks/auth", json=dict(ok, id="other")), 400, "invalid_field",
                 "id")
    assert sorted(x["id"] for x in hooks_of(api)) == before

    # Conflicts: an id in use; config-file hooks are read-only.
    assert_error(api.post("/api/v1/hooks", json=dict(ok, id="auth")), 409, "conflict")
    assert_error(api.post("/api/v1/hooks", json=dict(ok, id="cfg")), 409, "conflict")
    assert_error(api.put("/api/v1/hooks/cfg", json=ok), 409, "conflict")
    assert_error(api.delete("/api/v1/hooks/cfg"), 409, "conflict")
    assert get_hook(api, "cfg")["source"] == "config"

    # Unknown ids; DELETE.
    assert_error(api.get("/api/v1/hooks/nope"), 404, "not_found")
    assert_error(api.delete("/api/v1/hooks/nope"), 404, "not_found")
    for method, status in (("DELETE", 204), ("GET", 404), ("DELETE", 404)):
        r = api.request(method, "/api/v1/hooks/%s" % hid)
        assert r.status_code == status, (method, r.status_code, r.text)
    assert r.json()["error"]["code"] == "not_found"

    # Stored: the same after a restart (the secret too: still set).
    kept = {x["id"]: spec_of(x) for x in hooks_of(api)}
    assert set(kept) == {"cfg", "auth"}, kept
    assert kept["auth"]["secret_set"] is True
    assert n.stop() == 0
    n.start()
    assert {x["id"]: spec_of(x) for x in hooks_of(api)} == kept


# ------------------------------------------------------------------ 2. notifications

def test_publish_and_play_notifications_signed(node, rx, procs, clip, tmp_path):
    n = node(webhooks=FAST_WEBHOOKS,
             hooks=[{"id": "cfg", "url": rx.url, "events": ["node.start"]}])
    api = api_of(n)
    nid = node_id(api)
    # node.start reaches the config-file hook (hooks start before it is emitted).
    start = check_payload(rx.wait_for("node.start", timeout=10), nid)
    assert start["version"] and start["id"] >= 1, start

    hid = create_hook(api, {"url": rx.url, "events": ["publish.start", "publish.stop",
                                                      "play.start", "play.stop"],
                            "secret": SECRET})["id"]
    pub = publish(procs, n, clip, "hk", loop=False)
    wait_for("live/hk live", lambda: stream_live(api, APP, "hk"), timeout=15, diag=[n])
    out = tmp_path / "play.flv"
    weirtest.pull(n.http_url(APP, "hk"), out, 2, timeout=30)
    weirtest.wait_proc(pub, 30, "publisher")

    got = {}
    for t in ("publish.start", "play.start", "play.stop", "publish.stop"):
        rec = rx.wait_for(t, timeout=15)
        assert rx.verify_signature(rec, SECRET), rec["headers"]
        assert not rx.verify_signature(rec, SECRET + "x")
        got[t] = check_payload(rec, nid)
        assert (got[t]["app"], got[t]["name"]) == (APP, "hk"), got[t]
    assert got["publish.start"]["protocol"] == "rtmp"
    assert got["play.start"]["protocol"] == "http-flv"
    assert got["publish.start"]["session_id"] == got["publish.stop"]["session_id"]
    assert got["play.start"]["session_id"] == got["play.stop"]["session_id"]
    assert got["publish.stop"]["bytes_in"] > 100000, got["publish.stop"]
    assert got["play.stop"]["bytes_out"] > 100000, got["play.stop"]
    assert got["publish.stop"]["duration_ms"] >= 1000, got["publish.stop"]
    assert "dropped_frames" in got["play.stop"]
    # The ids are the event log's ids.
    for t, body in got.items():
        logged = events_of(api, t, session_id=body["session_id"])
        assert [e["id"] for e in logged] == [body["id"]], (t, logged, body)
    # Only the types asked for went to this hook; the config hook got node.start only.
    assert {r["type"] for r in rx.received()} == {"node.start", "publish.start",
                                                  "publish.stop", "play.start", "play.stop"}
    h = wait_for("hook state", lambda: (lambda x: x if x["delivered"] == 4 else None)(
        get_hook(api, hid)), timeout=5)
    assert (h["failed"], h["dropped"], h["queued"], h["last_status"]) == (0, 0, 0, 200), h
    assert re.fullmatch(TIME_RE, h["last_delivery_at"]), h
    assert metric(api, 'weir_webhook_delivered_total{hook="%s"}' % hid) == 4
    assert metric(api, 'weir_webhook_queued{hook="%s"}' % hid) == 0


def test_failed_delivery_is_retried_with_the_same_id(node, rx):
    n = node(webhooks=FAST_WEBHOOKS)
    api = api_of(n)
    hid = create_hook(api, {"url": rx.url, "events": ["config.change"], "timeout_ms": 1000})["id"]
    rx.fail_next(2, 500)
    r = api.patch("/api/v1/node", json={"log_level": "info"})
    assert r.status_code == 200, r.text
    ok = rx.wait_for(lambda rec: rec["type"] == "config.change" and rec["status"] == 200,
                     timeout=10)
    recs = rx.received("config.change")
    assert [x["status"] for x in recs] == [500, 500, 200], [x["status"] for x in recs]
    assert len({x["body"]["id"] for x in recs}) == 1, [x["body"] for x in recs]
    assert len({x["raw"] for x in recs}) == 1, "a retry changed the body"
    assert len(rx.unique("config.change")) == 1
    body = check_payload(ok)
    assert (body["key"], body["value"], body["by"]) == ("log.level", "info", "api"), body
    # The backoff: retries come after a delay, not at once.
    assert recs[1]["t"] - recs[0]["t"] >= 0.08, [x["t"] for x in recs]
    h = wait_for("hook counters", lambda: (lambda x: x if x["delivered"] == 1 else None)(
        get_hook(api, hid)), timeout=5)
    assert (h["failed"], h["retries"], h["dropped"], h["last_status"]) == (2, 2, 0, 200), h
    assert metric(api, 'weir_webhook_failed_total{hook="%s"}' % hid) == 2
    assert metric(api, 'weir_webhook_retries_total{hook="%s"}' % hid) == 2
    assert metric(api, 'weir_webhook_delivered_total{hook="%s"}' % hid) == 1


def test_hook_url_without_a_path_posts_to_root(node):
    with HookReceiver(path="/") as rx:
        n = node()
        api = api_of(n)
        bare = "http://127.0.0.1:%d" % rx.port
        h = create_hook(api, {"url": bare, "events": ["config.change"]})
        assert h["url"] == bare
        assert api.patch("/api/v1/node", json={"log_level": "info"}).status_code == 200
        rec = rx.wait_for(lambda rec: rec["type"] == "config.change", timeout=10)
        assert rec["path"] == "/" and rec["status"] == 200, rec


def test_attempts_exhausted_are_dropped(node, rx):
    n = node(webhooks=dict(FAST_WEBHOOKS, max_attempts=2))
    api = api_of(n)
    hid = create_hook(api, {"url": rx.url, "events": ["config.change"]})["id"]
    rx.notify_status = 503
    assert api.patch("/api/v1/node", json={"log_level": "info"}).status_code == 200
    h = wait_for("the event dropped", lambda: (lambda x: x if x["dropped"] == 1 else None)(
        get_hook(api, hid)), timeout=10, diag=[n])
    assert (h["delivered"], h["failed"], h["queued"], h["last_status"]) == (0, 2, 0, 503), h
    assert len(rx.received("config.change")) == 2
    assert metric(api, 'weir_webhook_dropped_total{hook="%s"}' % hid) == 1


def test_shutdown_delivers_the_stop_events(node, rx):
    """SIGTERM closes every session; their stop events still reach the hooks
    (webhooks.shutdown_flush_ms) before the node exits."""
    n = node(webhooks=dict(FAST_WEBHOOKS, shutdown_flush_ms=5000),
             hooks=[{"id": "acct", "url": rx.url, "events": ["publish.start", "publish.stop"]}])
    c, _, code = rtmp_min.open_publisher(weirtest.HOST, n.rtmp_port, APP, "bye")
    try:
        assert code == "NetStream.Publish.Start", code
        start = check_payload(rx.wait_for("publish.start", timeout=10))
        assert rx.received("publish.stop") == []
        t0 = time.monotonic()
        assert n.stop() == 0, n.diagnostics()
        took = time.monotonic() - t0
    finally:
        c.close()
    stops = rx.received("publish.stop")
    assert len(stops) == 1, [r["type"] for r in rx.received()]
    stop = check_payload(stops[0])
    assert stop["session_id"] == start["session_id"], (start, stop)
    assert (stop["reason"], stop["message"]) == ("shutdown", "node shutting down"), stop
    assert took < 5, "the flush waited for nothing: %.2f s" % took
    assert "webhook notifications before exiting" in n.log_text(), n.diagnostics()


def test_heartbeat_at_the_configured_interval(node, rx):
    n = node(events={"heartbeat_interval_s": 1},
             hooks=[{"id": "hb", "url": rx.url, "events": ["node.heartbeat"]}])
    api = api_of(n)
    nid = node_id(api)
    rx.wait_for(lambda r: len(rx.received("node.heartbeat")) >= 3, timeout=10)
    beats = rx.received("node.heartbeat")[:3]
    for b in beats:
        body = check_payload(b, nid)
        assert body["draining"] is False and body["streams"] == 0, body
        assert body["version"] and body["uptime_s"] >= 0 and body["rss_bytes"] > 0, body
    gaps = [b["t"] - a["t"] for a, b in zip(beats, beats[1:])]
    assert all(0.5 <= g <= 2.0 for g in gaps), gaps
    assert beats[0]["body"]["id"] < beats[1]["body"]["id"] < beats[2]["body"]["id"]
    assert {r["type"] for r in rx.received()} == {"node.heartbeat"}


# ------------------------------------------------------------------ 3. authorizing

def decide_hook(rx, points, timeout_ms=2000):
    return {"id": "auth", "url": rx.url, "events": ["publish.start"], "decide": points,
            "timeout_ms": timeout_ms}


def test_on_publish_deny_keeps_the_publisher_out(node, rx, procs, clip):
    n = node(hooks=[decide_hook(rx, ["on_publish"])])
    api = api_of(n)
    rx.decide = lambda p: (403, 0)

    code, _ = rtmp_publish_code(n.rtmp_port, "denied?token=bad")
    assert code == "NetStream.Publish.BadName", code
    d = check_payload(rx.wait_for("on_publish", timeout=5), node_id(api))
    assert (d["app"], d["name"], d["query"], d["protocol"], d["hops"]) == (
        APP, "denied", "token=bad", "rtmp", 0), d
    assert re.fullmatch(r"d-\d+", d["id"]), d
    assert d["remote"].startswith("127.0.0.1:"), d

    # ffmpeg is kept out too: it ends, the stream never appears.
    p = publish(procs, n, clip, "denied2", loop=False)
    rc = weirtest.wait_proc(p, 20, "denied ffmpeg publisher")
    assert rc != 0, "ffmpeg published although the hook denied it"
    assert api.get("/api/v1/streams/%s/denied2" % APP).status_code == 404
    assert rx.received("publish.start") == []
    assert events_of(api, "publish.start") == []
    assert metric(api, 'weir_webhook_decisions_total{point="on_publish",result="deny"}') == 2
    assert metric(api, 'weir_webhook_decisions_total{point="on_publish",result="allow"}') == 0


def test_on_publish_allow_lets_the_publisher_in(node, rx, procs, clip):
    n = node(hooks=[decide_hook(rx, ["on_publish"])])
    api = api_of(n)
    seen = []
    rx.decide = lambda p: (seen.append(p["name"]) or 204, 0.3)  # allow, after a while
    p = publish(procs, n, clip, "allowed", loop=True)
    wait_for("live/allowed live", lambda: stream_live(api, APP, "allowed"), timeout=15, diag=[n])
    dec = rx.wait_for("on_publish", timeout=5)
    start = rx.wait_for("publish.start", timeout=10)
    assert dec["t"] < start["t"], "publish.start before the decision"
    assert seen == ["allowed"], seen
    assert start["body"]["name"] == "allowed"
    assert p.poll() is None, weirtest.proc_stderr(p)
    assert metric(api, 'weir_webhook_decisions_total{point="on_publish",result="allow"}') == 1


def test_play_query_reaches_the_hook_and_http_flv_deny_is_403(node, rx, procs, clip):
    n = node(hooks=[decide_hook(rx, ["on_play"])])
    api = api_of(n)
    publish(procs, n, clip, "cam", loop=True)
    wait_for("live/cam live", lambda: stream_live(api, APP, "cam"), timeout=15, diag=[n])

    rx.decide = lambda p: (200, 0) if "token=good" in p["query"] else (403, 0)
    r = flv_get(n.http_port, "/%s/cam.flv?token=bad&x=1" % APP)
    assert r.status == 403, r
    d = check_payload(rx.wait_for("on_play", timeout=5))
    assert (d["app"], d["name"], d["query"], d["protocol"], d["hops"]) == (
        APP, "cam", "token=bad&x=1", "http-flv", 0), d
    wait_for("no player session after the 403",
             lambda: not api.get("/api/v1/sessions", params={"role": "player"}).json()
             ["sessions"], timeout=5)

    flv_plays(n.http_port, "/%s/cam.flv?token=good" % APP)
    queries = [x["body"]["query"] for x in rx.received("on_play")]
    assert queries == ["token=bad&x=1", "token=good"], queries

    # RTMP: the query of the stream name.
    c, info, _ = _rtmp_play(n.rtmp_port, "cam?token=bad")
    c.close()
    assert info.get("code") == "NetStream.Play.Failed", info
    assert "denied" in info.get("description", ""), info
    assert rx.received("on_play")[-1]["body"]["query"] == "token=bad"
    assert rx.received("on_play")[-1]["body"]["protocol"] == "rtmp"


def test_timeout_policy_denies_publish_and_allows_play(node, rx, procs, clip):
    n = node(hooks=[decide_hook(rx, ["on_publish", "on_play"], timeout_ms=300)])
    api = api_of(n)
    # A hook slower than its timeout: publish denied (default policy).
    rx.decide = lambda p: (200, 3.0)
    code, took = rtmp_publish_code(n.rtmp_port, "slow")
    assert code == "NetStream.Publish.BadName", code
    assert 0.25 <= took < 2.5, took
    assert api.get("/api/v1/streams/%s/slow" % APP).status_code == 404

    # Play: allowed on timeout (default policy). Publishing is answered at once.
    rx.decide = lambda p: (200, 0) if p["type"] == "on_publish" else (403, 3.0)
    publish(procs, n, clip, "cam", loop=True)
    wait_for("live/cam live", lambda: stream_live(api, APP, "cam"), timeout=15, diag=[n])
    took = flv_plays(n.http_port, "/%s/cam.flv" % APP)
    assert 0.25 <= took < 2.5, took
    series = 'weir_webhook_decisions_total{point="%s",result="%s"}'
    assert metric(api, series % ("on_publish", "timeout_deny")) == 1
    assert metric(api, series % ("on_play", "timeout_allow")) == 1


def _rtmp_play(port, name, timeout=10.0):
    from relayutil import rtmp_play
    return rtmp_play(port, APP, name, timeout=timeout)
