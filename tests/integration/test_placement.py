"""Placement figures (issue 18) against a real weir: GET /api/v1/node carries
cpu, memory, fds, limits and headroom, plausible against what /proc says of
the node's process; the headroom falls as connections fill
limits.max_connections; a drain counts its remaining client sessions down
and records node.drained (event and webhook) once the last one leaves, never
before, once per drain. Every API answer is checked against openapi.yaml
(apischema.Api), every webhook against its payload schema.
"""

import os
import socket
import time

import rtmp_min
import weirtest
from relayutil import APP, FlvPlayer, api_of, events_of, publish, stream_live, wait_for
from test_hooks import check_payload, rx  # noqa: F401 (rx: the receiver fixture)


def node_info(api):
    r = api.get("/api/v1/node")
    assert r.status_code == 200, r.text
    return r.json()


def node_when(api, what, pred, timeout=5, diag=None):
    """GET /api/v1/node until pred(answer) holds; the answer."""
    def once():
        o = node_info(api)
        return o if pred(o) else None
    return wait_for(what, once, timeout=timeout, diag=diag)


def proc_soft_nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise AssertionError("no Max open files for %d" % pid)


def proc_cores():
    with open("/proc/stat") as f:
        return sum(1 for line in f if line.startswith("cpu") and line[3].isdigit())


def test_figures_are_plausible_and_headroom_follows_connections(node):
    n = node(limits={"max_connections": 20, "max_streams": 5},
             rtmp={"handshake_timeout_ms": 60000})
    api = api_of(n)
    time.sleep(1.3)  # a full sampling window
    o = node_when(api, "a CPU sample", lambda o: o["cpu"]["cores"] > 0)
    cpu, mem, fds, lim = o["cpu"], o["memory"], o["fds"], o["limits"]
    assert cpu["cores"] == proc_cores(), cpu
    assert 0 <= cpu["process_percent"] <= 100 * cpu["cores"], cpu
    assert 0 <= cpu["machine_percent"] <= 100, cpu
    # The process's CPU time, as /proc says it (sampled up to a second ago).
    assert 0 < cpu["process_seconds"] <= n.cpu_seconds() + 0.02, (cpu, n.cpu_seconds())
    assert cpu["process_seconds"] >= n.cpu_seconds() - 1.5, (cpu, n.cpu_seconds())
    rss = n.rss_kb() * 1024
    assert rss / 2 <= mem["rss_bytes"] <= rss * 2, (mem, rss)
    assert mem["media_bytes"] >= 0 and mem["media_limit_bytes"] > 0, mem
    assert 0 < fds["open"] <= fds["limit"], fds
    assert fds["limit"] == proc_soft_nofile(n.pid), fds
    assert abs(fds["open"] - len(os.listdir("/proc/%d/fd" % n.pid))) <= 8, fds
    assert lim["connections"] == {"used": 0, "limit": 20}, lim
    assert lim["streams"] == {"used": 0, "limit": 5}, lim
    assert lim["bandwidth_in_kbps"]["limit"] is None, lim
    assert lim["bandwidth_out_kbps"]["limit"] is None, lim
    assert 0 <= o["headroom"] <= 1, o
    idle = o["headroom"]
    assert idle > 0.5, o  # an idle node: only its own CPU and fds use anything
    fds0 = fds["open"]

    # Ten idle TCP connections (no handshake) take half of max_connections.
    conns = [socket.create_connection((weirtest.HOST, n.rtmp_port), timeout=5)
             for _ in range(10)]
    try:
        busy = node_when(api, "10 connections counted",
                         lambda o: o["limits"]["connections"]["used"] == 10 and
                         o["fds"]["open"] >= fds0 + 10)
        assert busy["limits"]["connections"]["limit"] == 20, busy
        assert 0 <= busy["headroom"] <= 0.5 < idle, (busy, idle)
        if busy["cpu"]["process_percent"] < 50:
            assert busy["headroom"] == 0.5 and busy["headroom_by"] == "connections", busy
        assert busy["fds"]["open"] <= busy["fds"]["limit"], busy
    finally:
        for c in conns:
            c.close()
    after = node_when(api, "the connections gone",
                      lambda o: o["limits"]["connections"]["used"] == 0)
    assert after["headroom"] > 0.5, after


def drained_events(api):
    return events_of(api, "node.drained")


def test_drain_counts_down_and_reports_drained_once(node, procs, clip, rx):
    n = node(webhooks={"retry_initial_ms": 100, "retry_max_ms": 200},
             hooks=[{"id": "sched", "url": rx.url, "events": ["node.drained"]}])
    api = api_of(n)
    assert node_info(api)["drain"] is None
    pub = publish(procs, n, clip, "cam", loop=True)
    wait_for("live/cam live", lambda: stream_live(api, APP, "cam"), timeout=15, diag=[n])
    flv = [FlvPlayer(n.http_port, APP, "cam") for _ in range(2)]
    rtmp, _ = rtmp_min.open_player(weirtest.HOST, n.rtmp_port, APP, "cam", timeout=10)
    try:
        for p in flv:
            p.wait_video(1, 15)
        info = rtmp.wait_status(10, {"NetStream.Play.Start", "NetStream.Play.StreamNotFound"})
        assert info.get("code") == "NetStream.Play.Start", info
        node_when(api, "4 sessions", lambda o: o["counts"]["sessions"] == 4)

        r = api.post("/api/v1/node/drain")
        assert r.status_code == 200, r.text
        assert r.json()["drain"]["remaining"] == 4, r.json()  # the publisher and 3 players
        left = 4
        for close in (flv[0].close, flv[1].close, rtmp.close):
            close()
            left -= 1
            node_when(api, "remaining %d" % left, lambda o: o["drain"]["remaining"] == left,
                      diag=[n])
            time.sleep(0.4)  # more than a tick: node.drained would be there by now
            assert drained_events(api) == [], "node.drained with %d sessions open" % left
            assert rx.received("node.drained") == []
        assert stream_live(api, APP, "cam")
    finally:
        for p in flv:
            p.close()
        rtmp.close()

    # The last session (the publisher) leaves: node.drained, once.
    t0 = time.monotonic()
    weirtest.interrupt(pub, 10)
    ev = wait_for("node.drained", lambda: drained_events(api), timeout=5, diag=[n])
    took = time.monotonic() - t0
    assert node_info(api)["drain"]["remaining"] == 0
    assert len(ev) == 1 and ev[0]["duration_ms"] >= 0, ev
    assert took < 3, took
    check_payload(rx.wait_for("node.drained", timeout=10), node_info(api)["id"])

    # Draining again with new settings is the same drain: no second event.
    assert api.post("/api/v1/node/drain", json={"retry_after_s": 5}).status_code == 200
    time.sleep(0.6)
    assert len(drained_events(api)) == 1
    # Not draining: nothing, whatever the count.
    assert api.post("/api/v1/node/undrain").status_code == 200
    time.sleep(0.6)
    assert len(drained_events(api)) == 1
    # A new drain of the empty node: node.drained again, at the next tick.
    assert api.post("/api/v1/node/drain").status_code == 200
    wait_for("a second node.drained", lambda: len(drained_events(api)) == 2, timeout=3)
    time.sleep(0.6)
    assert len(drained_events(api)) == 2
    wait_for("a second node.drained webhook", lambda: len(rx.unique("node.drained")) == 2,
             timeout=10)
    for rec in rx.unique("node.drained"):
        check_payload(rec)
