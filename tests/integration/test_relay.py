"""Relays (issue 5) between real weir processes on loopback: push and pull
over RTMP and HTTP-FLV, on-demand pulls and their idle stop, failover,
recovery after an origin restart, durability over kill -9, loop and hop-limit
protection, config-file relays. Every relay is set up through the REST API
(apischema.Api checks each answer against openapi.yaml) except the
config-file one; ffmpeg publishes the test clip.
"""

import re
import signal
import time

import pytest

import weirtest
from relayutil import (APP, FlvPlayer, all_events, api_of, assert_error,
                       assert_not_found_http, assert_not_found_rtmp, check_stream_start,
                       create_relay, events_of, get_relay, list_relays, publish, relay_body,
                       relay_sessions, rtmp_first_video, rtmp_play, sessions, spec_of, stream_live,
                       stream_of, wait_active, wait_event, wait_for, wait_relay)
from weirtest import describe_mismatch, find_run, framemd5, probe_streams

# Relay timeouts short enough for a test; retry delays come from FAST_RETRY.
RELAY_CONF = {"connect_timeout_ms": 3000, "on_demand_wait_ms": 4000}


def app_url(n, proto="rtmp"):
    """The app-level URL of a node (for name "*" relays)."""
    if proto == "rtmp":
        return "rtmp://127.0.0.1:%d/%s" % (n.rtmp_port, APP)
    return "http://127.0.0.1:%d/%s" % (n.http_port, APP)


def upstream_links(api, name):
    """Sessions on a serving node that play app/name for someone else: our
    tests' relays appear there as players or relays (no other player is
    connected); the node's own outgoing relay links are left out."""
    own = {i["session_id"] for r in list_relays(api) for i in r["streams"]}
    return [s for s in sessions(api) if s["role"] in ("player", "relay")
            and s["app"] == APP and s["name"] == name and s["id"] not in own]


def metrics(api):
    """/metrics as {series with labels: value}."""
    out = {}
    for line in api.get("/metrics").text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def wait_origin_live(api_o, name, nodes):
    wait_for("%s/%s live on the origin" % (APP, name), lambda: stream_live(api_o, APP, name),
             timeout=15, diag=nodes)


def assert_clip_run(path, clip, min_frames, what):
    """The video packets of path are a contiguous run of the (looped) clip's,
    starting on a key frame; audio is there too."""
    streams = probe_streams(path)
    assert "video" in streams and "audio" in streams, "%s: streams %r" % (what, list(streams))
    got = framemd5(path)
    assert len(got) >= min_frames, "%s: only %d video packets" % (what, len(got))
    i = find_run(got, clip.vmd5, cyclic=True)
    assert i is not None, "%s: %s" % (what, describe_mismatch(got, clip.vmd5))
    assert i % clip.gop_frames == 0, "%s: starts at clip packet %d, not a key frame" % (what, i)


# ------------------------------------------------------------------ 1. API

def test_api_validation_conflicts_and_idempotent_put(node):
    n = node()
    api = api_of(n)
    assert list_relays(api) == []
    nowhere = "rtmp://127.0.0.1:%d/live" % weirtest.free_port()

    # POST without an id: a generated one; the relay rendered with its state.
    rel = create_relay(api, relay_body("push", [nowhere]))
    rid = rel["id"]
    assert re.fullmatch(r"r-[0-9a-f]{12}", rid), rid
    assert (rel["direction"], rel["app"], rel["name"], rel["urls"]) == ("push", APP, "*",
                                                                      [nowhere]), rel
    assert rel["mode"] is None and rel["enabled"] is True and rel["source"] == "api", rel
    assert (rel["retry_initial_ms"], rel["retry_max_ms"]) == (200, 1000), rel
    assert rel["status"] == "idle" and rel["streams"] == [], rel
    assert rel["bytes"] == 0 and rel["retries"] == 0 and rel["failovers"] == 0, rel
    assert spec_of(get_relay(api, rid)) == spec_of(rel)
    assert [r["id"] for r in list_relays(api)] == [rid]

    r = api.patch("/api/v1/relays/%s" % rid, json={"enabled": False})
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is False
    assert spec_of(r.json()) == dict(spec_of(rel), enabled=False)
    assert_error(api.patch("/api/v1/relays/%s" % rid, json={"urls": ["ftp://127.0.0.1/live"]}),
                 400, "invalid_field", "urls[0]")
    assert get_relay(api, rid)["urls"] == [nowhere], "a refused PATCH changed the relay"

    # PUT: 201 then 200 for the same body, one relay.
    body = relay_body("pull", ["rtmp://127.0.0.1:1/tv"], app="tv", mode="on_demand",
                      idle_timeout_s=5)
    r1 = api.put("/api/v1/relays/p1", json=body)
    assert r1.status_code == 201, r1.text
    r2 = api.put("/api/v1/relays/p1", json=body)
    assert r2.status_code == 200, r2.text
    assert spec_of(r1.json()) == spec_of(r2.json())
    assert r2.json()["id"] == "p1" and r2.json()["source"] == "api"
    assert sorted(r["id"] for r in list_relays(api)) == sorted([rid, "p1"])
    # Replacing changes it; a GET body can be PUT back as is.
    r3 = api.put("/api/v1/relays/p1", json=dict(body, idle_timeout_s=7))
    assert r3.status_code == 200 and r3.json()["idle_timeout_s"] == 7, r3.text
    r4 = api.put("/api/v1/relays/p1", json=get_relay(api, "p1"))
    assert r4.status_code == 200, r4.text
    assert spec_of(r4.json()) == spec_of(r3.json())

    # Validation: 400 invalid_field naming the field; nothing created.
    ok_pull = relay_body("pull", ["rtmp://127.0.0.1:1/x"], app="v", mode="on_demand")
    cases = [
        (relay_body("push", ["ftp://127.0.0.1/live"]), "urls[0]"),
        (dict(ok_pull, urls=["wss://127.0.0.1/live"]), "urls[0]"),
        (relay_body("push", ["https://127.0.0.1/live"]), "urls[0]"),
        (dict(ok_pull, urls=["rtmp://127.0.0.1:1/x", "ftp://127.0.0.1/x"]), "urls[1]"),
        ({k: v for k, v in ok_pull.items() if k != "app"}, "app"),
        (dict(ok_pull, urls=[]), "urls"),
        (relay_body("push", [nowhere], mode="on_demand"), "mode"),
        (relay_body("push", ["http://127.0.0.1:1/live"]), "urls[0]"),
        (dict(ok_pull, retry_initial_ms=2000, retry_max_ms=1000), "retry_max_ms"),
        (dict(ok_pull, colour="blue"), "colour"),
        # The node's own listeners.
        (dict(ok_pull, urls=[app_url(n, "rtmp")]), "urls[0]"),
        (dict(ok_pull, urls=[app_url(n, "http")]), "urls[0]"),
        (dict(ok_pull, urls=["rtmp://localhost:%d/live" % n.rtmp_port]), "urls[0]"),
        (dict(ok_pull, urls=["rtmp://127.0.0.1:1/x", app_url(n, "rtmp")]), "urls[1]"),
        (relay_body("push", [app_url(n, "rtmp")], app="v"), "urls[0]"),
    ]
    for bad, field in cases:
        assert_error(api.post("/api/v1/relays", json=bad), 400, "invalid_field", field)
    assert_error(api.put("/api/v1/relays/bad!id", json=ok_pull), 400, "invalid_field", "id")
    assert sorted(r["id"] for r in list_relays(api)) == sorted([rid, "p1"])

    # Conflicts: a second pull feeding the same stream of an app.
    pa = relay_body("pull", ["rtmp://127.0.0.1:1/live"], mode="on_demand")
    assert api.put("/api/v1/relays/pa", json=pa).status_code == 201
    for clash in (dict(pa, name="cam", urls=["rtmp://127.0.0.1:1/live/cam"]),
                  dict(pa, urls=["rtmp://127.0.0.1:2/live"]),
                  dict(pa, name="cam", mode="always", urls=["rtmp://127.0.0.1:1/live/cam"])):
        assert_error(api.post("/api/v1/relays", json=clash), 409, "conflict")
    assert_error(api.put("/api/v1/relays/p2", json=dict(body)), 409, "conflict")  # tv/* again
    # Not a clash: another app, a push, the relay replacing itself.
    create_relay(api, dict(pa, app="other"))
    create_relay(api, relay_body("push", [nowhere]))
    exact = dict(pa, name="cam", urls=["rtmp://127.0.0.1:1/live/cam"])
    assert api.put("/api/v1/relays/pa", json=exact).status_code == 200
    create_relay(api, dict(exact, name="cam2", urls=["rtmp://127.0.0.1:1/live/cam2"]))
    assert_error(api.post("/api/v1/relays", json=pa), 409, "conflict")  # "*" over cam, cam2

    # Unknown ids; DELETE.
    assert_error(api.get("/api/v1/relays/nope"), 404, "not_found")
    assert_error(api.patch("/api/v1/relays/nope", json={"enabled": False}), 404, "not_found")
    assert_error(api.delete("/api/v1/relays/nope"), 404, "not_found")
    r = api.delete("/api/v1/relays/%s" % rid)
    assert r.status_code == 204 and r.content == b"", r.text
    assert_error(api.get("/api/v1/relays/%s" % rid), 404, "not_found")
    assert_error(api.delete("/api/v1/relays/%s" % rid), 404, "not_found")
    kept = {r["id"]: spec_of(r) for r in list_relays(api)}
    assert len(kept) == 5 and rid not in kept, kept

    # The API relays are stored: the same after a restart.
    assert n.stop() == 0
    n.start()
    assert {r["id"]: spec_of(r) for r in list_relays(api)} == kept


# ------------------------------------------------------------------ 2. push

def test_push_follows_the_published_stream(node, procs, clip, tmp_path):
    b = node(stream={"unpublish_grace_ms": 1000})
    a = node(stream={"unpublish_grace_ms": 1000}, relay=RELAY_CONF)
    api_a, api_b = api_of(a), api_of(b)
    target = app_url(b)
    rid = create_relay(api_a, relay_body("push", [target]))["id"]

    pub = publish(procs, a, clip, "x")
    wait_for("live/x on B", lambda: stream_live(api_b, APP, "x"), timeout=15, diag=[a, b])
    rel = wait_active(api_a, rid, diag=[a, b])
    assert rel["current_url"] == target + "/x", rel
    assert len(rel["streams"]) == 1, rel
    inst = rel["streams"][0]
    assert (inst["name"], inst["status"], inst["current_url"], inst["hops"]) == (
        "x", "active", target + "/x", 1), inst
    assert rel["started_at"] and inst["started_at"], rel
    links = relay_sessions(api_a)
    assert [s["id"] for s in links] == [inst["session_id"]], (links, inst)
    assert (links[0]["app"], links[0]["name"], links[0]["protocol"]) == (APP, "x", "rtmp"), links
    start = events_of(api_a, "relay.start", relay_id=rid)
    assert len(start) == 1, start
    assert (start[0]["direction"], start[0]["app"], start[0]["name"], start[0]["url"],
            start[0]["session_id"]) == ("push", APP, "x", target + "/x", inst["session_id"]), start
    # The push names the source of what it pushes: B's stream is on A's timeline.
    src_a = stream_of(api_a, APP, "x")["continuity"]["source_id"]
    assert src_a and src_a.startswith(api_a.get("/api/v1/node").json()["id"] + "."), src_a
    assert stream_of(api_b, APP, "x")["continuity"]["source_id"] == src_a

    # A player on B gets the stream from a key frame, and the clip's packets.
    fp = FlvPlayer(b.http_port, APP, "x")
    try:
        tags = fp.wait_video(30, timeout=10)
        check_stream_start(tags, fp.what)
    finally:
        fp.close()
    out = tmp_path / "b.flv"
    weirtest.pull(b.rtmp_url(APP, "x"), out, seconds=3, timeout=25)
    assert_clip_run(out, clip, 2 * clip.fps, "RTMP player on B")

    # The counters grow; /metrics has the relay series.
    b1 = get_relay(api_a, rid)["bytes"]
    time.sleep(1.0)
    rel = get_relay(api_a, rid)
    assert rel["bytes"] > b1 + 20000, (b1, rel["bytes"])
    assert rel["bitrate_kbps"] > 100, rel
    mx = metrics(api_a)
    assert mx["weir_relays"] == 1 and mx['weir_relay_instances{status="active"}'] == 1, mx
    assert mx['weir_relay_starts_total{id="%s"}' % rid] == 1, mx
    assert mx['weir_relay_bytes_total{id="%s"}' % rid] > b1, mx
    assert mx['weir_relay_bitrate_bps{id="%s"}' % rid] > 100000, mx

    # A second stream of the app: a second instance of the "*" relay.
    pub_y = publish(procs, a, clip, "y")
    wait_for("live/y on B", lambda: stream_live(api_b, APP, "y"), timeout=15, diag=[a, b])
    rel = wait_relay(api_a, rid, lambda r: len(r["streams"]) == 2 and all(
        i["status"] == "active" for i in r["streams"]), "2 active instances", diag=[a, b])
    assert sorted(i["name"] for i in rel["streams"]) == ["x", "y"], rel
    assert rel["bytes"] >= sum(i["bytes"] for i in rel["streams"]) > 0, rel
    assert len(relay_sessions(api_a)) == 2

    # x's publisher stops: x's push stops, B's x goes away; y goes on.
    weirtest.interrupt(pub)
    stop = wait_event(api_a, "relay.stop", timeout=8, diag=[a, b], relay_id=rid)
    assert (stop[0]["name"], stop[0]["session_id"]) == ("x", inst["session_id"]), stop
    wait_for("live/x gone from B", lambda: stream_of(api_b, APP, "x") is None, timeout=8,
             diag=[a, b])
    rel = get_relay(api_a, rid)
    assert rel["status"] == "active" and [i["name"] for i in rel["streams"]] == ["y"], rel
    assert stream_live(api_b, APP, "y")
    assert [s["name"] for s in relay_sessions(api_a)] == ["y"]

    weirtest.interrupt(pub_y)
    wait_relay(api_a, rid, lambda r: r["status"] == "idle" and r["streams"] == [],
               "idle without instances", timeout=8, diag=[a])
    wait_for("live/y gone from B", lambda: stream_of(api_b, APP, "y") is None, timeout=8,
             diag=[a, b])
    assert relay_sessions(api_a) == []
    assert len(events_of(api_a, "relay.stop", relay_id=rid)) == 2
    assert not events_of(api_a, "relay.fail", relay_id=rid), "a stopped publisher is not a failure"


# ------------------------------------------------------------------ 3. pull always

def test_pull_always_brings_the_stream_before_players(node, procs, clip, tmp_path):
    o = node()
    api_o = api_of(o)
    publish(procs, o, clip, "cam")
    wait_origin_live(api_o, "cam", [o])
    b = node(relay=RELAY_CONF)
    api_b = api_of(b)
    src = o.rtmp_url(APP, "cam")
    rid = create_relay(api_b, relay_body("pull", [src], name="cam", mode="always"))["id"]

    st = wait_for("live/cam on B", lambda: stream_live(api_b, APP, "cam"), timeout=10,
                  diag=[o, b])
    assert st["source"] == "relay" and st["player_count"] == 0, st
    rel = wait_active(api_b, rid, diag=[o, b])
    inst = rel["streams"][0]
    assert (inst["name"], inst["status"], inst["current_url"], inst["hops"]) == (
        "cam", "active", src, 1), inst
    links = relay_sessions(api_b)
    assert [s["id"] for s in links] == [inst["session_id"]], (links, inst)
    assert links[0]["remote"] == "127.0.0.1:%d" % o.rtmp_port, links
    assert len(upstream_links(api_o, "cam")) == 1

    rtmp_first_video(b.rtmp_port, APP, "cam", frames=5)
    out = tmp_path / "b.flv"
    weirtest.pull(b.rtmp_url(APP, "cam"), out, seconds=3, timeout=25)
    assert_clip_run(out, clip, 2 * clip.fps, "RTMP player on B")
    # Still the one link to the origin.
    assert len(upstream_links(api_o, "cam")) == 1

    # Disabled: the pull stops; enabled again: it comes back.
    r = api_b.patch("/api/v1/relays/%s" % rid, json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False, r.text
    wait_relay(api_b, rid, lambda r: r["status"] == "idle", "idle once disabled", timeout=5,
               diag=[b])
    wait_for("no link at the origin", lambda: upstream_links(api_o, "cam") == [], timeout=5)
    assert relay_sessions(api_b) == [] and not stream_live(api_b, APP, "cam")
    assert len(events_of(api_b, "relay.stop", relay_id=rid)) == 1
    r = api_b.patch("/api/v1/relays/%s" % rid, json={"enabled": True})
    assert r.status_code == 200, r.text
    wait_active(api_b, rid, diag=[o, b])
    wait_for("live/cam on B again", lambda: stream_live(api_b, APP, "cam"), timeout=5)
    # Deleted: the pull stops.
    assert api_b.delete("/api/v1/relays/%s" % rid).status_code == 204
    wait_for("no link at the origin", lambda: upstream_links(api_o, "cam") == [], timeout=5)
    assert relay_sessions(api_b) == [] and not stream_live(api_b, APP, "cam")


def test_reapplied_relay_keeps_its_link_and_players(node, procs, clip):
    """Issue 18: a scheduler re-applies its desired state every pass. An identical PUT,
    a PATCH of retry bounds and a new URL list that still holds the current upstream
    keep the running link (same session, no relay.stop/start) and its player; a list
    without the current upstream fails over (relay.failover) and the player stays."""
    o1, o2 = node(), node()
    for o in (o1, o2):
        publish(procs, o, clip, "cam")
        wait_origin_live(api_of(o), "cam", [o])
    b = node(relay=RELAY_CONF)
    api = api_of(b)
    u1, u2 = o1.rtmp_url(APP, "cam"), o2.rtmp_url(APP, "cam")
    body = relay_body("pull", [u1], name="cam", mode="always")
    rid = create_relay(api, body)["id"]
    link = wait_active(api, rid, diag=[o1, b])["streams"][0]["session_id"]
    player = FlvPlayer(b.http_port, APP, "cam")
    wait_for("the player's first bytes", lambda: len(player.data()) > 10000, timeout=10)
    path = "/api/v1/relays/%s" % rid

    def link_of():
        return get_relay(api, rid)["streams"][0]["session_id"]

    changes = [("PUT", body), ("PATCH", {"retry_max_ms": 5000}),
               ("PUT", dict(body, urls=[u2, u1], retry_max_ms=5000))]
    for method, change in changes:
        r = api.request(method, path, json=change)
        assert r.status_code == 200, (method, change, r.text)
        assert link_of() == link, (method, change)
    time.sleep(0.5)
    assert events_of(api, "relay.stop", relay_id=rid) == []
    assert len(events_of(api, "relay.start", relay_id=rid)) == 1
    rel = get_relay(api, rid)
    assert (rel["retry_max_ms"], rel["urls"], rel["current_url"]) == (5000, [u2, u1], u1), rel
    assert player.closed_at is None

    r = api.put(path, json=dict(body, urls=[u2], retry_max_ms=5000))
    assert r.status_code == 200, r.text
    fo = wait_event(api, "relay.failover", relay_id=rid, diag=[b])[0]
    assert (fo["from_url"], fo["to_url"]) == (u1, u2), fo
    rel = wait_for("the link to the new upstream", lambda: (lambda x: x if x[
        "current_url"] == u2 and x["status"] == "active" else None)(get_relay(api, rid)),
        timeout=10, diag=[b])
    assert rel["streams"][0]["session_id"] != link
    seen = len(player.data())
    wait_for("bytes after the failover", lambda: len(player.data()) > seen + 10000, timeout=10)
    assert player.closed_at is None
    player.close()


def test_relay_links_are_marked_and_not_counted_as_players(node, procs, clip):
    """Issue 18: a chain with 2 real viewers on the edge and 1 on the origin reports 1
    player on the origin (not 2): the edge's link is a session with role relay and a
    relay object (direction in, its hops, the edge's node id as peer), counted in
    relay_links; its play.start says so; the edge shows its own link as direction out."""
    o = node()
    api_o = api_of(o)
    publish(procs, o, clip, "m")
    wait_origin_live(api_o, "m", [o])
    e = node(relay=RELAY_CONF)
    api_e = api_of(e)
    rid = create_relay(api_e, relay_body("pull", [o.rtmp_url(APP, "m")], name="m",
                                         mode="always"))["id"]
    wait_active(api_e, rid, diag=[o, e])
    edge_id = api_e.get("/api/v1/node").json()["id"]
    viewers = [FlvPlayer(e.http_port, APP, "m") for _ in range(2)] + [
        FlvPlayer(o.http_port, APP, "m")]
    try:
        for v in viewers:
            v.wait_video(1, timeout=10)
        links = wait_for("the edge's link on the origin",
                         lambda: [s for s in sessions(api_o) if s["role"] == "relay"], timeout=5)
        assert len(links) == 1, links
        assert links[0]["relay"] == {"direction": "in", "hops": 1, "peer": edge_id}, links
        assert [s["relay"] for s in sessions(api_o) if s["role"] == "player"] == [None]
        st = stream_of(api_o, APP, "m")
        assert (st["player_count"], st["relay_links"]) == (1, 1), st
        counts = api_o.get("/api/v1/node").json()["counts"]
        assert (counts["players"], counts["relay_links"]) == (1, 1), counts
        starts = [ev for ev in events_of(api_o, "play.start") if "relay" in ev]
        assert len(starts) == 1 and starts[0]["relay"]["peer"] == edge_id, starts
        own = [s for s in sessions(api_e) if s["role"] == "relay"]
        assert [s["relay"]["direction"] for s in own] == ["out"], own
        st_e = stream_of(api_e, APP, "m")
        assert (st_e["player_count"], st_e["relay_links"]) == (2, 0), st_e
    finally:
        for v in viewers:
            v.close()


def test_kicked_relay_links_are_held_off_and_own_links_are_not_kicked(node, procs, clip):
    """Issue 18: kicking another node's link into this one holds that peer off the stream
    for relay.kick_hold_s (it would reconnect at once otherwise); kicking this node's own
    link is a 409 that points at the relay; DELETE ?ban_s=N bans any client's address
    from the stream for N s."""
    o = node(relay={"kick_hold_s": 2})
    api_o = api_of(o)
    publish(procs, o, clip, "k")
    wait_origin_live(api_o, "k", [o])
    e = node(relay=RELAY_CONF)
    api_e = api_of(e)
    rid = create_relay(api_e, relay_body("pull", [o.rtmp_url(APP, "k")], name="k",
                                         mode="always"))["id"]
    wait_active(api_e, rid, diag=[o, e])
    own = [s for s in sessions(api_e) if s["role"] == "relay"][0]
    assert_error(api_e.delete("/api/v1/sessions/%d" % own["id"]), 409, "conflict")
    link = wait_for("the link on the origin",
                    lambda: [s for s in sessions(api_o) if s["role"] == "relay"], timeout=5)[0]
    t0 = time.monotonic()
    r = api_o.delete("/api/v1/sessions/%d" % link["id"])
    assert r.status_code == 200, r.text
    kick = events_of(api_o, "session.kick")[-1]
    assert (kick["ban_s"], kick["reason"]) == (2, "kicked"), kick
    fails = wait_event(api_e, "relay.fail", relay_id=rid, diag=[e])
    assert fails[0]["reason"] == "upstream_closed", fails  # the kick itself
    wait_event(api_e, "relay.fail", relay_id=rid, reason="upstream_refused", diag=[e])
    wait_active(api_e, rid, timeout=15, diag=[o, e])
    back = time.monotonic() - t0
    assert back >= 1.8, "the kicked link came back after %.2f s, within its hold" % back
    print("kicked relay link back after %.2f s (hold 2 s)" % back)

    # ?ban_s for a client: the same address is refused, another stream is not
    viewer = FlvPlayer(o.http_port, APP, "k")
    viewer.wait_video(1, timeout=10)
    sid = [s for s in sessions(api_o) if s["role"] == "player"][0]["id"]
    assert api_o.delete("/api/v1/sessions/%d?ban_s=2" % sid).status_code == 200
    r = weirtest.http_exchange(o.http_port, b"GET /live/k.flv HTTP/1.1\r\nHost: x\r\n\r\n",
                               timeout=5)
    assert r.status == 403 and b"banned" in r.body, r
    time.sleep(2.2)
    again = FlvPlayer(o.http_port, APP, "k")
    again.wait_video(1, timeout=10)
    sid2 = [s for s in sessions(api_o) if s["role"] == "player"][0]["id"]
    assert_error(api_o.delete("/api/v1/sessions/%d?ban_s=999999" % sid2), 400, "invalid_field")
    again.close()
    viewer.close()


# ------------------------------------------------------------------ 4. on demand

@pytest.mark.parametrize("upstream", ["rtmp", "http"])
def test_on_demand_pull_shared_by_players_and_stopped_when_idle(node, procs, clip, tmp_path,
                                                               upstream):
    o = node()
    api_o = api_of(o)
    publish(procs, o, clip, "od")
    wait_origin_live(api_o, "od", [o])
    e = node(relay=RELAY_CONF)
    api_e = api_of(e)
    base = app_url(o, upstream)
    want_url = base + ("/od" if upstream == "rtmp" else "/od.flv")
    rid = create_relay(api_e, relay_body("pull", [base], mode="on_demand", idle_timeout_s=2))["id"]

    # Nothing is pulled before a player asks.
    time.sleep(1.0)
    assert relay_sessions(api_e) == [] and stream_of(api_e, APP, "od") is None
    assert upstream_links(api_o, "od") == []
    assert get_relay(api_e, rid)["status"] == "idle"

    fp = FlvPlayer(e.http_port, APP, "od")
    try:
        status, _, _ = fp.wait_head(timeout=10)
        assert status == 200, "edge HTTP-FLV player: %d\n%s" % (status, e.diagnostics())
        check_stream_start(fp.wait_video(5, timeout=10), fp.what)
        out = tmp_path / "edge.flv"
        player = procs.spawn(weirtest.pull_cmd(e.rtmp_url(APP, "od"), out, seconds=4),
                             "rtmp-player")
        wait_for("2 players on the edge",
                 lambda: (stream_of(api_e, APP, "od") or {}).get("player_count") == 2,
                 timeout=10, diag=[e])
        # One pull serves both.
        assert len(upstream_links(api_o, "od")) == 1, upstream_links(api_o, "od")
        assert len(relay_sessions(api_e)) == 1, relay_sessions(api_e)
        assert stream_of(api_e, APP, "od")["source"] == "relay"
        rel = get_relay(api_e, rid)
        assert rel["status"] == "active" and len(rel["streams"]) == 1, rel
        assert (rel["streams"][0]["name"], rel["streams"][0]["current_url"]) == (
            "od", want_url), rel
        weirtest.wait_proc(player, 25, "the edge RTMP player")
        assert_clip_run(out, clip, 3 * clip.fps, "edge RTMP player")
        assert fp.closed_at is None, "the HTTP-FLV player was cut off"
        check_stream_start(fp.tags(), fp.what)
    finally:
        fp.close()

    # Idle stop: idle_timeout_s 2 after the last player left (ticks are 250 ms).
    left = time.monotonic()
    wait_event(api_e, "relay.stop", timeout=6, diag=[e], relay_id=rid, name="od")
    idle = time.monotonic() - left
    assert 1.5 <= idle <= 3.5, "pull stopped %.2fs after the last player left (idle 2 s)" % idle
    wait_for("no link from the edge at the origin", lambda: upstream_links(api_o, "od") == [],
             timeout=3, diag=[o, e])
    assert relay_sessions(api_e) == []
    assert get_relay(api_e, rid)["status"] == "idle"


# ------------------------------------------------------------------ 5. not found

@pytest.mark.parametrize("origin_wait_ms", [0, 10000], ids=["origin-refuses", "origin-holds"])
def test_on_demand_missing_stream_is_not_found_not_a_hang(node, origin_wait_ms):
    o = node(stream={"play_wait_ms": origin_wait_ms})
    e = node(stream={"play_wait_ms": 0}, relay={"on_demand_wait_ms": 2000,
                                                  "connect_timeout_ms": 3000})
    api_e = api_of(e)
    rid = create_relay(api_e, relay_body("pull", [app_url(o)], mode="on_demand",
                                         idle_timeout_s=2))["id"]
    within = 2.0 + 1.5
    _, t_rtmp = assert_not_found_rtmp(e.rtmp_port, APP, "missing", within, "edge RTMP player")
    t_http = assert_not_found_http(e.http_port, APP, "missing2", within, "edge HTTP-FLV player")
    # The origin says no at once to a relay request, whatever its play_wait_ms (issue 18):
    # the players need not wait it out.
    assert t_rtmp < 1.5 and t_http < 1.5, (t_rtmp, t_http)
    if origin_wait_ms == 0:
        fails = events_of(api_e, "relay.fail", relay_id=rid, name="missing")
        assert fails and "StreamNotFound" in fails[0].get("error", ""), fails
    wait_for("no relay session left on the edge", lambda: relay_sessions(api_e) == [],
             timeout=3, diag=[e])
    wait_relay(api_e, rid, lambda r: r["status"] in ("idle", "failed"), "idle or failed",
               timeout=3, diag=[e])


def test_missing_stream_is_not_found_at_once_through_two_on_demand_tiers(node):
    """Issue 18: edge -> mid -> origin, on-demand pulls at both, the stream exists nowhere,
    every node with the default 10 s play wait: players at the edge hear "not found" in
    well under a second, not after the origin's wait."""
    o = node()
    m = node(relay=RELAY_CONF)
    e = node(relay=RELAY_CONF)
    create_relay(api_of(m), relay_body("pull", [app_url(o)], mode="on_demand"))
    create_relay(api_of(e), relay_body("pull", [app_url(m)], mode="on_demand"))
    times = []
    for i in range(5):
        _, t = assert_not_found_rtmp(e.rtmp_port, APP, "nowhere%d" % i, 3.0, "edge RTMP player")
        times.append(t)
        times.append(assert_not_found_http(e.http_port, APP, "nowhere-h%d" % i, 3.0,
                                           "edge HTTP-FLV player"))
    times.sort()
    print("not found through two tiers: p50 %.0f ms, max %.0f ms over %d requests" % (
        1000 * times[len(times) // 2], 1000 * times[-1], len(times)))
    assert times[-1] < 1.5, times


# ------------------------------------------------------------------ 6. origin restart

def test_pull_always_recovers_after_origin_kill_9(node, procs, clip):
    o = node()
    api_o = api_of(o)
    pub = publish(procs, o, clip, "k")
    wait_origin_live(api_o, "k", [o])
    b = node(relay=RELAY_CONF)
    api_b = api_of(b)
    rid = create_relay(api_b, relay_body("pull", [o.rtmp_url(APP, "k")], name="k",
                                         mode="always"))["id"]
    wait_active(api_b, rid, diag=[o, b])

    o.send_signal(signal.SIGKILL)
    o.proc.wait(10)
    weirtest.wait_proc(pub, 15, "the publisher of the killed origin")
    rel = wait_relay(api_b, rid, lambda r: r["status"] == "backoff" and r["last_error"],
                     "backoff with last_error", timeout=8, diag=[b], interval=0.03)
    assert rel["streams"][0]["status"] == "backoff" and rel["streams"][0]["last_error"], rel
    assert events_of(api_b, "relay.fail", relay_id=rid), "no relay.fail event"
    wait_for("live/k gone from B", lambda: not stream_live(api_b, APP, "k"), timeout=5)

    o.start()
    publish(procs, o, clip, "k")
    rel = wait_active(api_b, rid, timeout=15, diag=[o, b])
    assert rel["retries"] == 0, rel
    wait_for("live/k back on B", lambda: stream_live(api_b, APP, "k"), timeout=5, diag=[b])
    rtmp_first_video(b.rtmp_port, APP, "k", frames=3)
    assert len(events_of(api_b, "relay.start", relay_id=rid)) >= 2


# ------------------------------------------------------------------ 7. failover

def test_failover_to_the_second_url(node, procs, clip):
    o = node()
    api_o = api_of(o)
    publish(procs, o, clip, "f")
    wait_origin_live(api_o, "f", [o])
    b = node(relay=RELAY_CONF)
    api_b = api_of(b)
    bad = "rtmp://127.0.0.1:%d/live/f" % weirtest.free_port()
    good = o.rtmp_url(APP, "f")
    rid = create_relay(api_b, relay_body("pull", [bad, good], name="f", mode="always"))["id"]
    rel = wait_active(api_b, rid, diag=[o, b])
    assert rel["current_url"] == good and rel["streams"][0]["current_url"] == good, rel
    assert rel["failovers"] >= 1 and rel["streams"][0]["failovers"] >= 1, rel
    fo = events_of(api_b, "relay.failover", relay_id=rid)
    assert fo, "no relay.failover event"
    assert (fo[0]["direction"], fo[0]["app"], fo[0]["name"]) == ("pull", APP, "f"), fo
    assert bad in fo[0].values() and good in fo[0].values(), fo
    fails = events_of(api_b, "relay.fail", relay_id=rid, url=bad)
    assert fails and fails[0].get("error"), fails
    mx = metrics(api_b)
    assert mx['weir_relay_failovers_total{id="%s"}' % rid] >= 1, mx
    assert mx['weir_relay_failures_total{id="%s"}' % rid] >= 1, mx
    rtmp_first_video(b.rtmp_port, APP, "f", frames=3)


# ------------------------------------------------------------------ 8. three tiers

def test_three_tiers_set_up_over_rest_are_byte_exact(node, procs, clip, tmp_path):
    o = node()
    api_o = api_of(o)
    publish(procs, o, clip, "t")
    wait_origin_live(api_o, "t", [o])
    m = node(relay=RELAY_CONF)
    e = node(relay=RELAY_CONF)
    api_m, api_e = api_of(m), api_of(e)
    rm = create_relay(api_m, relay_body("pull", [app_url(o, "http")], mode="on_demand",
                                        idle_timeout_s=10))["id"]
    re_ = create_relay(api_e, relay_body("pull", [app_url(m, "rtmp")], mode="on_demand",
                                         idle_timeout_s=10))["id"]

    out = tmp_path / "edge.flv"
    res = weirtest.pull(e.rtmp_url(APP, "t"), out, seconds=4, timeout=30)
    assert out.exists() and out.stat().st_size > 0, "edge pull failed: %s\n%s\n%s" % (
        res.stderr, m.diagnostics(30), e.diagnostics(30))
    assert_clip_run(out, clip, 3 * clip.fps, "player at the edge")

    # The path: edge -> mid (1 hop), mid -> origin (2 hops), one link each.
    inst_e = get_relay(api_e, re_)["streams"]
    inst_m = get_relay(api_m, rm)["streams"]
    assert [(i["name"], i["status"], i["hops"]) for i in inst_e] == [("t", "active", 1)], inst_e
    assert [(i["name"], i["status"], i["hops"]) for i in inst_m] == [("t", "active", 2)], inst_m
    assert inst_m[0]["current_url"] == app_url(o, "http") + "/t.flv", inst_m
    assert len(upstream_links(api_o, "t")) == 1
    assert len(upstream_links(api_m, "t")) == 1
    assert stream_of(api_m, APP, "t")["source"] == "relay"
    assert stream_of(api_e, APP, "t")["source"] == "relay"


# ------------------------------------------------------------------ 9. kill -9

def test_api_relay_restored_after_kill_9(node, procs, clip):
    o = node()
    api_o = api_of(o)
    publish(procs, o, clip, "r")
    wait_origin_live(api_o, "r", [o])
    b = node(relay=RELAY_CONF)
    api_b = api_of(b)
    rid = create_relay(api_b, relay_body("pull", [o.rtmp_url(APP, "r")], name="r",
                                         mode="always"))["id"]
    before = spec_of(wait_active(api_b, rid, diag=[o, b]))

    b.send_signal(signal.SIGKILL)
    b.proc.wait(10)
    b.start()
    listed = list_relays(api_b)
    assert [spec_of(r) for r in listed] == [before], listed
    assert listed[0]["source"] == "api"
    wait_active(api_b, rid, timeout=10, diag=[o, b])
    st = wait_for("live/r back on B", lambda: stream_live(api_b, APP, "r"), timeout=5)
    assert st["source"] == "relay", st
    rtmp_first_video(b.rtmp_port, APP, "r", frames=3)


# ------------------------------------------------------------------ 10. loops, hop limit

@pytest.mark.parametrize("upstream", ["rtmp", "http"])
def test_pull_loop_between_two_nodes_is_refused(node, upstream):
    conf = {"relay": {"on_demand_wait_ms": 3000, "connect_timeout_ms": 3000},
            "stream": {"play_wait_ms": 500}}
    a = node(**conf)
    b = node(**conf)
    api_a, api_b = api_of(a), api_of(b)
    create_relay(api_a, relay_body("pull", [app_url(b, upstream)], mode="on_demand",
                                   idle_timeout_s=2))
    create_relay(api_b, relay_body("pull", [app_url(a, upstream)], mode="on_demand",
                                   idle_timeout_s=2))

    assert_not_found_rtmp(a.rtmp_port, APP, "loop", 3.0 + 1.5, "player asking A for live/loop")
    refused = wait_for("a relay.refused event", lambda: (
        [("A", e) for e in events_of(api_a, "relay.refused")] +
        [("B", e) for e in events_of(api_b, "relay.refused")]), timeout=3, diag=[a, b])
    loops = [(w, e) for w, e in refused if e.get("reason") == "loop"]
    assert loops, refused
    other = api_b if loops[0][0] == "A" else api_a
    assert events_of(other, "relay.fail"), "no relay.fail on the node whose request was refused"

    # Nobody keeps trying.
    time.sleep(2.5)
    assert relay_sessions(api_a) == [] and relay_sessions(api_b) == []
    # The relay that was refused shows it (issue 18: it showed idle once the player left).
    assert [r["status"] for r in list_relays(other)] == ["failed"], list_relays(other)

    def attempts():
        return sum(1 for api in (api_a, api_b) for e in all_events(api)
                   if e["type"] in ("relay.start", "relay.fail", "relay.refused"))
    n1 = attempts()
    assert n1 <= 10, "%d relay events for one player request" % n1
    time.sleep(2.0)
    assert attempts() == n1, "relay attempts go on after the loop was refused"
    assert relay_sessions(api_a) == [] and relay_sessions(api_b) == []


def test_hop_limit_on_a_chain(node, procs, clip):
    o = node()
    api_o = api_of(o)
    publish(procs, o, clip, "h")
    wait_origin_live(api_o, "h", [o])
    m = node(relay=dict(RELAY_CONF, max_hops=1), stream={"play_wait_ms": 500})
    e = node(relay=dict(RELAY_CONF, on_demand_wait_ms=3000), stream={"play_wait_ms": 0})
    api_m, api_e = api_of(m), api_of(e)
    rm = create_relay(api_m, relay_body("pull", [app_url(o)], mode="on_demand",
                                        idle_timeout_s=2))["id"]
    create_relay(api_e, relay_body("pull", [app_url(m)], mode="on_demand", idle_timeout_s=2))

    # edge -> mid -> origin is two hops; mid allows one.
    assert_not_found_rtmp(e.rtmp_port, APP, "h", 3.0 + 1.5, "player at the edge")

    # mid refused to pull (it would be the second hop), saying why.
    rel = wait_relay(api_m, rm, lambda r: r["last_error"] == "hop_limit",
                     "last_error hop_limit", timeout=3, diag=[m, e])
    assert "hop limit" in rel["last_error_message"], rel
    assert rel["status"] in ("idle", "failed"), rel
    assert upstream_links(api_o, "h") == [], "mid pulled from the origin past its hop limit"
    assert not events_of(api_m, "relay.start") and not events_of(api_e, "relay.start")

    # One hop is within the limit: a player at mid gets the stream.
    rtmp_first_video(m.rtmp_port, APP, "h", frames=3)


def test_serving_side_refuses_loops_and_too_many_hops(node, procs, clip):
    n = node(relay={"max_hops": 3})
    api = api_of(n)
    me = api.get("/api/v1/node").json()["id"]
    publish(procs, n, clip, "s")
    wait_origin_live(api, "s", [n])

    # Within the limit, someone else's path: served.
    rtmp_first_video(n.rtmp_port, APP, "s?weir_hops=3&weir_via=other-node", frames=2)
    fp = FlvPlayer(n.http_port, APP, "s", headers=["X-Weir-Hops: 3", "X-Weir-Via: other-node"])
    try:
        check_stream_start(fp.wait_video(2, timeout=5), fp.what)
    finally:
        fp.close()
    assert events_of(api, "relay.refused") == []

    for q in ("weir_hops=4&weir_via=other-node", "weir_hops=1&weir_via=other-node,%s" % me):
        c, info, _ = rtmp_play(n.rtmp_port, APP, "s?" + q, timeout=5)
        c.close()
        assert info.get("code") != "NetStream.Play.Start", (q, info)
    for hdrs in (["X-Weir-Hops: 4", "X-Weir-Via: other-node"],
                 ["X-Weir-Hops: 1", "X-Weir-Via: other-node,%s" % me]):
        req = "GET /live/s.flv HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n" % "\r\n".join(hdrs)
        r = weirtest.http_exchange(n.http_port, req.encode(), timeout=5)
        # 508 Loop Detected: what a requesting node recognises as a loop refusal.
        assert r.status == 508, (hdrs, r)
    refused = wait_for("4 relay.refused events",
                       lambda: (lambda ev: ev if len(ev) >= 4 else None)(
                           events_of(api, "relay.refused")), timeout=3)
    reasons = sorted(e.get("reason", "") for e in refused)
    assert reasons == ["hop_limit", "hop_limit", "loop", "loop"], refused
    for e in refused:
        assert ("hop limit" if e["reason"] == "hop_limit" else "loop") in e["message"], e


# ------------------------------------------------------------------ 11. config file

def test_config_file_relay_runs_and_is_read_only(node, procs, clip):
    o = node()
    api_o = api_of(o)
    publish(procs, o, clip, "c")
    wait_origin_live(api_o, "c", [o])
    cfg = dict(relay_body("pull", [o.rtmp_url(APP, "c")], name="c", mode="always"),
               id="cfg-pull")
    b = node(relay=RELAY_CONF, relays=[cfg])
    api_b = api_of(b)

    listed = list_relays(api_b)
    assert [(r["id"], r["source"]) for r in listed] == [("cfg-pull", "config")], listed
    rel = wait_active(api_b, "cfg-pull", diag=[o, b])
    assert rel["source"] == "config" and rel["urls"] == cfg["urls"], rel
    st = wait_for("live/c on B", lambda: stream_live(api_b, APP, "c"), timeout=5)
    assert st["source"] == "relay", st
    rtmp_first_video(b.rtmp_port, APP, "c", frames=3)

    body = {k: v for k, v in cfg.items() if k != "id"}
    assert_error(api_b.put("/api/v1/relays/cfg-pull", json=body), 409, "conflict")
    assert_error(api_b.patch("/api/v1/relays/cfg-pull", json={"enabled": False}), 409,
                 "conflict")
    assert_error(api_b.delete("/api/v1/relays/cfg-pull"), 409, "conflict")
    assert_error(api_b.post("/api/v1/relays", json=cfg), 409, "conflict")
    # Unchanged and still running.
    rel = get_relay(api_b, "cfg-pull")
    assert rel["status"] == "active" and rel["enabled"] is True, rel
    assert [r["id"] for r in list_relays(api_b)] == ["cfg-pull"]
