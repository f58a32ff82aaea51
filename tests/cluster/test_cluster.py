"""The multi-tier scenario of issue 6, end to end, with real weir processes.

One origin, two mids, three edges (cluster.py: each on its own loopback
address, its own folder and ports) and the test's scheduler (scheduler.py),
which configures every tier over REST only and keeps its view of the cluster
from the webhooks the nodes send it. ffmpeg publishes the test clip at the
origin; players at the edges: weir-pull over RTMP and a Python HTTP-FLV
reader, both recording when each frame arrives.

The tests share one cluster (module fixture) and run in file order:
  1. every edge's RTMP and HTTP-FLV players get the clip, key frame first;
  2. the scheduler sees heartbeats from every node and the publish/play events;
  3. time to first frame of a cold stream pulled on demand through two tiers;
  4. kill -9 of the mid serving edge1 and edge2: their players stay connected
     and go on after a gap (measured) once the edges fail over to the other mid,
     which carries the same source: the splice is exact (no frame replayed or
     skipped);
  5. the killed mid restarts on its own address and announces itself;
  6. draining edge2: a new HTTP-FLV player is sent to edge3 (302), a new RTMP
     player is refused, the old players go on;
  7. an authorizing hook denies a stream key: that publisher stays out.
Measurements go to cluster.MEASUREMENTS (printed at the end; see conftest.py).
"""

import time
import types
from urllib.parse import urlsplit

import pytest

import rtmp_min
import weirtest
from cluster import ADDRESSES, APP, EDGES, MIDS, ClusterNode, measure
from players import (HttpFlvPlayer, RtmpPlayer, assert_clip_frames, assert_monotonic,
                     continuity_breaks, largest_gap)
from relayutil import check_stream_start, publish, stream_live, stream_of, wait_for
from scheduler import HEARTBEAT_MISSED, HEARTBEAT_S, Scheduler

STREAM = "main"
DENIED = "blocked"   # the stream key the scheduler refuses
NODE_CONF = {
    "events": {"heartbeat_interval_s": HEARTBEAT_S},
    "relay": {"connect_timeout_ms": 3000, "on_demand_wait_ms": 4000},
}
# The mids keep two GOPs (README, "Seamless upstream failover"): an edge that
# fails over to a mid gets a burst reaching back past its players' last frame
# however the kill falls between key frames, so the splice is always exact.
# With one GOP, a kill landing just before the next key frame goes on from
# that key frame (last_splice same_source) and may skip the frames between.
MID_CONF = dict(NODE_CONF, stream={"gop_cache": 2})
FAILOVER_MAX_GAP_S = 5.0    # "within a few seconds"
UNAFFECTED_MAX_GAP_S = 2.0  # players of the surviving mid
FPS = 25
HEARTBEAT_FIELDS = ("streams", "publishers", "players", "sessions", "relays_active",
                    "bitrate_in_kbps", "bitrate_out_kbps", "cpu_percent", "rss_bytes",
                    "draining", "uptime_s", "version")


# ------------------------------------------------------------------ the cluster

@pytest.fixture(scope="module")
def cl(tmp_path_factory, clip):
    weirtest.weir_bin()
    weirtest.tool("weir-pull")
    base = tmp_path_factory.mktemp("cluster")
    st = types.SimpleNamespace(base=base, clip=clip, nodes={}, players={}, extra=[],
                               procs=weirtest.Procs(base), sched=Scheduler(deny_names={DENIED}))
    try:
        for name in ADDRESSES:
            conf = MID_CONF if name in MIDS else NODE_CONF
            st.nodes[name] = ClusterNode(name, base / name, conf).start()
        for n in st.nodes.values():
            st.sched.add_node(n)
        st.sched.configure("origin", MIDS, EDGES)
        st.publisher = publish(st.procs, st.nodes["origin"], clip, STREAM)
        wait_for("live/%s on the origin" % STREAM,
                 lambda: stream_live(st.sched.apis["origin"], APP, STREAM),
                 timeout=15, diag=[st.nodes["origin"]])
        yield st
    finally:
        _teardown(st)


def _teardown(st):
    for p in list(st.players.values()) + st.extra:
        p.close()
    st.procs.stop_all()
    failures = []
    for n in st.nodes.values():
        try:
            n.stop_and_check()
        except pytest.fail.Exception as e:
            failures.append("%s: %s" % (n.name, e))
    st.sched.close()
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


def diag(cl, *names):
    return "\n".join(cl.nodes[n].diagnostics(30) for n in names) + "\n" + cl.sched.describe()


def wait_view(cl, what, fn, timeout):
    """wait_for() on the scheduler's view; a timeout fails with that view
    (and each node's count of deliveries to the scheduler)."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if not got:
        pytest.fail("timed out after %.1fs waiting for %s\n%s" % (
            timeout, what, cl.sched.describe()), pytrace=False)
    return got


def player_key(edge, proto):
    return "%s/%s" % (edge, proto)


def edge_players(cl, edges=EDGES):
    return [(player_key(e, p), cl.players[player_key(e, p)]) for e in edges
            for p in ("rtmp", "http") if player_key(e, p) in cl.players]


def start_players(cl, edge, name, tag=""):
    """An RTMP and an HTTP-FLV player of live/name at edge."""
    n = cl.nodes[edge]
    rp = RtmpPlayer(n.rtmp_url(APP, name), cl.base, "pull-%s-%s%s" % (edge, name, tag))
    hp = HttpFlvPlayer(n.host, n.http_port, "/%s/%s.flv" % (APP, name))
    return rp, hp


def wait_frames_after(players, t, frames, timeout):
    """Waits until each (key, player) has `frames` video frames that arrived after t."""
    deadline = time.monotonic() + timeout
    for key, p in players:
        wait_for("%s: %d video frames after t" % (key, frames),
                 lambda: len(p.frames_since(t)) >= frames or p.ended(),
                 timeout=max(0.1, deadline - time.monotonic()), interval=0.1)
        assert not p.ended(), "%s was disconnected%s" % (key, p.ended_why())


# ------------------------------------------------------------------ 1. players at every edge

def test_players_at_every_edge_get_the_stream(cl):
    for e in EDGES:
        rp, hp = start_players(cl, e, STREAM)
        cl.players[player_key(e, "rtmp")] = rp
        cl.players[player_key(e, "http")] = hp
    for key, p in edge_players(cl):
        tags = p.wait_video(2 * FPS, timeout=20)
        if isinstance(p, HttpFlvPlayer):
            assert p.status == 200, "%s: HTTP %s" % (key, p.status)
        check_stream_start(tags, key)
        assert_clip_frames(p.video(), cl.clip, key)
        assert_monotonic(tags, key)
        measure("first frame of live/%s at %s (first players: edge pulls on demand)" % (
            STREAM, key),
                p.first_frame_s())
    # Each edge pulls from its primary mid, each mid from the origin.
    for e in EDGES:
        rel = cl.sched.relay(e)
        inst = [i for i in rel["streams"] if i["name"] == STREAM]
        primary = cl.sched.primary_mid(e)
        assert inst and inst[0]["status"] == "active", (e, rel)
        assert inst[0]["current_url"].startswith(cl.nodes[primary].app_url(
            "http" if e == "edge2" else "rtmp")), (e, primary, inst)
    for m in MIDS:
        st = stream_of(cl.sched.apis[m], APP, STREAM)
        assert st and st["source"] == "relay", (m, st)


# ------------------------------------------------------------------ 2. the scheduler's view

def test_scheduler_sees_heartbeats_and_events_from_every_node(cl):
    sched = cl.sched
    assert not sched.hook_errors, "the scheduler could not set its hooks: %s" % sched.hook_errors
    for name in ADDRESSES:
        hb = wait_view(cl, "2 heartbeats from %s" % name,
                       lambda: len(sched.events("node.heartbeat", name)) >= 2 and
                       sched.last_heartbeat(name), timeout=3 * HEARTBEAT_S + 3)
        body = hb["body"]
        missing = [f for f in HEARTBEAT_FIELDS if f not in body]
        assert not missing, "%s heartbeat lacks %s: %r" % (name, missing, body)
        assert body["draining"] is False, (name, body)
        assert sched.node_ids.get(body["node_id"]) == name, (name, body["node_id"])
        hbs = sched.events("node.heartbeat", name)
        assert hbs[-1]["t"] - hbs[-2]["t"] <= 2.5 * HEARTBEAT_S, \
            "%s: heartbeats arrived %.2fs apart (payload ids, times: %s)" % (
                name, hbs[-1]["t"] - hbs[-2]["t"],
                [(r["body"].get("id"), r["body"].get("time")) for r in hbs[-3:]])
    assert all(v["up"] for v in sched.view().values()), sched.describe()

    # The publisher at the origin: decided by the scheduler, then publish.start.
    pub = sched.wait_event("publish.start", "origin", timeout=5, app=APP, name=STREAM)
    assert pub["body"]["protocol"] == "rtmp", pub["body"]
    allowed = [d for d in sched.decided("on_publish", STREAM) if d[0] == "origin"]
    assert allowed and all(d[2] for d in allowed), allowed
    assert allowed[0][1]["protocol"] == "rtmp" and allowed[0][1]["hops"] == 0, allowed

    # Every edge reported its two players.
    for e in EDGES:
        hp = cl.players[player_key(e, "http")]
        sched.wait_event("play.start", e, timeout=5, app=APP, name=STREAM, protocol="http-flv",
                         remote="127.0.0.1:%d" % hp.local_port)
        sched.wait_event("play.start", e, timeout=5, app=APP, name=STREAM, protocol="rtmp")
    # The relays report what they pull.
    for name in MIDS + EDGES:
        sched.wait_event("relay.start", name, timeout=5, name=STREAM)


# ------------------------------------------------------------------ 3. cold stream

@pytest.mark.parametrize("proto, edge", [("http", "edge1"), ("rtmp", "edge3")])
def test_cold_stream_time_to_first_frame(cl, proto, edge):
    name = "cold%s" % proto
    origin = cl.nodes["origin"]
    pub = publish(cl.procs, origin, cl.clip, name)
    try:
        wait_for("live/%s on the origin" % name,
                 lambda: stream_live(cl.sched.apis["origin"], APP, name), timeout=15,
                 diag=[origin])
        primary = cl.sched.primary_mid(edge)
        for n in (primary, edge):
            assert stream_of(cl.sched.apis[n], APP, name) is None, \
                "%s already has live/%s before any player asked" % (n, name)
        n = cl.nodes[edge]
        if proto == "http":
            p = HttpFlvPlayer(n.host, n.http_port, "/%s/%s.flv" % (APP, name))
        else:
            p = RtmpPlayer(n.rtmp_url(APP, name), cl.base, "pull-cold-%s" % edge)
        cl.extra.append(p)
        check_stream_start(p.wait_video(1, timeout=15), p.what)
        ttff = p.first_frame_s()
        measure("cold live/%s at %s over %s: connect -> first video frame (edge -> %s -> "
                "origin, on demand)" % (name, edge, proto.upper(), primary), ttff)
        # It came through both tiers, one hop each.
        hops = {}
        for node in (edge, primary):
            inst = [i for i in cl.sched.relay(node)["streams"] if i["name"] == name]
            assert inst and inst[0]["status"] == "active", (node, inst)
            hops[node] = inst[0]["hops"]
        assert hops == {edge: 1, primary: 2}, hops
        assert ttff < 10.0, "cold start took %.2fs" % ttff
        p.close()
    finally:
        weirtest.interrupt(pub)


# ------------------------------------------------------------------ 4. kill a mid

def test_kill_mid_edges_fail_over_players_stay(cl):
    victim = cl.sched.primary_mid("edge1")
    assert cl.sched.primary_mid("edge2") == victim
    survivor = [m for m in MIDS if m != victim][0]
    assert cl.sched.primary_mid("edge3") == survivor
    affected = edge_players(cl, ("edge1", "edge2"))
    others = edge_players(cl, ("edge3",))
    assert len(affected) == 4 and len(others) == 2, sorted(cl.players)
    now = time.monotonic()
    for key, p in affected + others:
        assert p.frames_since(now - 1.0), "%s is not receiving before the kill%s" % (
            key, p.ended_why())

    t_kill = time.monotonic()
    cl.nodes[victim].kill9()

    # Every player goes on: 2 s of video after the kill, connection kept.
    wait_frames_after(affected + others, t_kill, 2 * FPS, timeout=20)
    problems = []
    for key, p in affected:
        gap, _ = largest_gap(p.video(), t_kill)
        measure("failover gap of %s (kill -9 %s)" % (key, victim), gap)
        if gap > FAILOVER_MAX_GAP_S:
            problems.append("%s: gap %.2fs > %.1fs" % (key, gap, FAILOVER_MAX_GAP_S))
        # Both mids carry the origin's stream (the same source): the edge
        # splices exactly, so the frames after the kill go on with the
        # clip's next frame: no jump, nothing replayed, nothing skipped.
        since = [f for f in p.video() if f.arrival > t_kill - 1.0]
        breaks = continuity_breaks(since, cl.clip)
        for f, jump in breaks:
            measure("content jump of %s at the failover (s of media; < 0 replayed)" % key,
                    jump / FPS if jump is not None else None)
        alien = [f for f, jump in breaks if jump is None]
        if alien:
            problems.append("%s: %d frames after the kill are no packets of the clip" % (
                key, len(alien)))
        jumps = [j for _, j in breaks if j is not None]
        if jumps:
            problems.append("%s: the failover to the same source jumps in the clip by %s "
                            "frames (want an exact splice: none)" % (key, jumps))
        try:
            assert_monotonic(p.tags(), key)
        except AssertionError as e:
            problems.append(str(e))
    for key, p in others:
        gap, _ = largest_gap(p.video(), t_kill)
        measure("largest gap of %s (its mid %s kept running)" % (key, survivor), gap)
        if gap > UNAFFECTED_MAX_GAP_S:
            problems.append("%s (on %s): gap %.2fs" % (key, survivor, gap))
    assert not problems, "\n".join(problems) + "\n" + diag(cl, "edge1", "edge2")

    # Every node names the origin's stream as its source, and the edges say
    # how they went on: an exact splice.
    origin_src = stream_of(cl.sched.apis["origin"], APP, STREAM)["continuity"]["source_id"]
    origin_id = [i for i, name in cl.sched.node_ids.items() if name == "origin"][0]
    assert origin_src and origin_src.startswith(origin_id + "."), (origin_src, origin_id)
    for n in (survivor, "edge1", "edge2", "edge3"):
        k = stream_of(cl.sched.apis[n], APP, STREAM)["continuity"]
        assert k["source_id"] == origin_src, (n, k, origin_src)
        if n in ("edge1", "edge2"):
            assert k["last_splice"] == "exact" and k["continuations"] == 1, (n, k)
    # The edges now pull from the survivor; they said so.
    for e in ("edge1", "edge2"):
        inst = [i for i in cl.sched.relay(e)["streams"] if i["name"] == STREAM]
        assert inst and inst[0]["status"] == "active", (e, inst)
        assert cl.nodes[survivor].host in inst[0]["current_url"], (e, inst)
        assert inst[0]["failovers"] >= 1, (e, inst)
        cl.sched.wait_event("relay.failover", e, timeout=5, name=STREAM)
    # The scheduler notices the silent mid.
    wait_view(cl, "the scheduler marks %s down" % victim, lambda: not cl.sched.is_up(victim),
              timeout=HEARTBEAT_MISSED * HEARTBEAT_S + 3)
    assert all(cl.sched.is_up(n) for n in ADDRESSES if n != victim), cl.sched.describe()


def test_killed_mid_restarts_and_announces_itself(cl):
    victim = "mid1"
    n = cl.nodes[victim]
    if n.alive():
        pytest.fail("%s was not killed by the previous test" % victim, pytrace=False)
    t0 = time.monotonic()
    n.start()  # same address, ports, folder: the hook and relay are in its SQLite file
    cl.sched.rx.wait_for(lambda r: r["type"] == "node.start" and
                         cl.sched.sender(r) == victim and r["t"] > t0, timeout=10)
    wait_view(cl, "%s up again in the scheduler's view" % victim,
              lambda: cl.sched.is_up(victim), timeout=3 * HEARTBEAT_S + 3)


# ------------------------------------------------------------------ 5. drain

def test_drain_edge_sends_new_players_away_keeps_old(cl):
    drained, target = cl.nodes["edge2"], cl.nodes["edge3"]
    api = cl.sched.apis["edge2"]
    r = cl.sched.drain("edge2", redirect_url=target.http_base, retry_after_s=5)
    assert r.status_code == 200, "POST /node/drain -> %d %s" % (r.status_code, r.text)
    t_drain = time.monotonic()
    body = r.json()
    assert body["draining"] is True, body
    assert body["drain"]["redirect_url"] == target.http_base, body

    # A new HTTP-FLV player: 302 to the same path on edge3; following it plays.
    path = "/%s/%s.flv" % (APP, STREAM)
    hp = HttpFlvPlayer(drained.host, drained.http_port, path)
    cl.extra.append(hp)
    status = hp.wait_head(timeout=5)
    assert status == 302, "new HTTP-FLV player at the draining edge got %s" % status
    loc = hp.headers.get("location")
    assert loc == target.http_base + path, loc
    u = urlsplit(loc)
    hp2 = HttpFlvPlayer(u.hostname, u.port, u.path)
    cl.extra.append(hp2)
    check_stream_start(hp2.wait_video(FPS, timeout=10), hp2.what)
    measure("redirected HTTP-FLV player: first frame at %s after the 302" % target.name,
            hp2.first_frame_s())

    # A new RTMP player is refused at connect.
    rp = RtmpPlayer(drained.rtmp_url(APP, STREAM), cl.base, "pull-drained")
    cl.extra.append(rp)
    rc = rp.wait_exit(10)
    assert rc == 4, "weir-pull at the draining edge: exit %r%s" % (rc, rp.ended_why())
    assert "NetConnection.Connect.Rejected" in rp.stderr_text(), rp.stderr_text()
    assert not rp.video(), "the refused RTMP player got video"

    # The old players of edge2 go on.
    wait_frames_after(edge_players(cl, ("edge2",)), t_drain, 2 * FPS, timeout=10)

    r = api.get("/readyz")
    assert r.status_code == 503 and "draining" in r.json()["reasons"], r.text
    cl.sched.wait_event("node.drain", "edge2", timeout=5, redirect_url=target.http_base)
    wait_view(cl, "a draining heartbeat from edge2", lambda: any(
        rec["body"].get("draining") is True for rec in cl.sched.events("node.heartbeat", "edge2")
        if rec["t"] > t_drain), timeout=3 * HEARTBEAT_S + 2)


# ------------------------------------------------------------------ 6. authorizing hook

def test_denied_stream_key_stays_out(cl):
    origin = cl.nodes["origin"]
    api = cl.sched.apis["origin"]
    assert not cl.sched.hook_errors, "the scheduler could not set its hooks: %s" % \
        cl.sched.hook_errors

    # rtmp_min: the exact status, and the query string reaches the scheduler.
    c, _, code = rtmp_min.open_publisher(origin.host, origin.rtmp_port, APP,
                                         DENIED + "?key=k1", timeout=10)
    with c:
        assert code == "NetStream.Publish.BadName", "publish of a denied key: %s" % code
        assert "NetStream.Publish.Start" not in c.statuses, c.statuses
    d = [x for x in cl.sched.decided("on_publish", DENIED) if x[1].get("query") == "key=k1"]
    assert d and d[0][0] == "origin" and d[0][2] is False, cl.sched.decisions
    assert d[0][1]["protocol"] == "rtmp", d

    # ffmpeg: refused, and live/blocked never appears at the origin.
    pub = publish(cl.procs, origin, cl.clip, DENIED, loop=False)
    seen = []
    deadline = time.monotonic() + 12
    while pub.poll() is None and time.monotonic() < deadline:
        st = stream_of(api, APP, DENIED)
        if st:
            seen.append(st)
            break
        time.sleep(0.1)
    rc = weirtest.interrupt(pub) if pub.poll() is None else pub.returncode
    assert not seen, "live/%s appeared at the origin: %r" % (DENIED, seen[:1])
    assert rc not in (0, None), "ffmpeg publishing a denied key exited %r" % rc
    assert "Publish.Start" not in weirtest.proc_stderr(pub)
    assert len(cl.sched.decided("on_publish", DENIED)) >= 2, cl.sched.decisions
    assert not cl.sched.events("publish.start", "origin", name=DENIED)
