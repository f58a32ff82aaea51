"""The dashboard at scale, in a real browser (issue 22): a node with 1000 live
streams, each a raw RTMP publisher of tests/integration/rtmp_min.py (no
encoder: a connection, an AAC header and a few bytes of audio every
KEEPALIVE_S, so that 1000 of them cost the test a few sockets' worth of
CPU), plus one stream of the test clip published by ffmpeg with two HTTP-FLV
players. dashboard_scale.mjs measures the first render of the streams
table and the page's CPU (Chromium's own task time, over CPU_WINDOW_S of a
still page), uses search, filters, sorting and paging, drains and undrains
the node through the confirmation, reloads the page and finds the charts'
history again (kept by the node), and checks at 1280 px and at 390 px that
no action is outside the viewport; the preview recovers by itself when the
clip's publisher goes and comes back.

Screenshots: tmp_path/screens (printed), also $WEIR_TEST_OUTPUT/web-scale/.
The measured numbers are printed ("dashboard-scale: ...") for
tests/bench/RESULTS.md.
"""

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import relayutil
import rtmp_min
import weirtest
from apischema import Api
from test_dashboard import (WEB_DIR, WEB_DIST, Scenario, _require_browser_setup, collect,
                            run_script)

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboard_scale.mjs")
TOKEN = "w22-dashboard-scale-token-0123456789"
N_STREAMS = 1000
APPS = 5                 # a0..a4, 200 streams each
KEEPALIVE_S = 2.0        # each raw publisher sends this often (rtmp.idle_timeout_ms is 30 s)
SCRIPT_TIMEOUT_S = 200.0
# Bounds the browser side checks (the goal: first render under 1 s and
# under 10% of one core; asserted with room for a busy 2-core CI machine, the
# measured values are printed).
FIRST_RENDER_MAX_MS = 3000
PAGE_CPU_MAX = 0.25
# What the first render loads (the document, scripts, CSS; gzipped, headers
# included; API answers aside): about 17 KB now, over 100 KB when the whole
# bundle (mpegts.js, uPlot) was on its path. Bytes, not time: holds on any machine.
FIRST_VIEW_MAX_BYTES = 48 * 1024


class Crowd:
    """N raw RTMP publishers (live on the node) and a thread that keeps them sending."""

    def __init__(self, n, count):
        self.n = n
        self.clients = []
        self.stop_ev = threading.Event()
        names = [("a%d" % (i % APPS), "s%04d" % i) for i in range(count)]
        with ThreadPoolExecutor(8) as pool:
            for c in pool.map(self._open, names):
                self.clients.append(c)
        self.t = threading.Thread(target=self._keepalive, daemon=True)
        self.t.start()

    def _open(self, key):
        c, sid, code = rtmp_min.open_publisher(self.n.host, self.n.rtmp_port, *key, timeout=30)
        assert code == "NetStream.Publish.Start", (key, code)
        c.sid_ = sid
        c.send_audio(sid, 0, b"\xaf\x00\x12\x10")  # AAC LC, 44.1 kHz, stereo
        return c

    def _keepalive(self):
        ts = 0
        while not self.stop_ev.wait(KEEPALIVE_S):
            ts += int(KEEPALIVE_S * 1000)
            for c in self.clients:
                try:
                    c.send_audio(c.sid_, ts, b"\xaf\x01" + b"\x00" * 32)
                except OSError:
                    pass

    def close(self):
        self.stop_ev.set()
        self.t.join(10)
        for c in self.clients:
            c.close()


class ScaleScenario(Scenario):
    """Answers dashboard_scale.mjs: the node's drain state, the clip's publisher."""

    def __init__(self, n, api, procs, clip):
        self.n, self.api, self.procs, self.clip = n, api, procs, clip
        self.pub = None

    def op_draining(self, want):
        relayutil.wait_for("draining %s" % want,
                           lambda: self.api.get("/api/v1/node").json()["draining"] == want,
                           timeout=10, diag=[self.n])
        return want

    def op_ws_player(self):
        """The page's preview is a ws-flv session of live/real."""
        got = relayutil.wait_for(
            "a ws-flv player of live/real",
            lambda: [s for s in relayutil.sessions(self.api, app="live", name="real")
                     if s["protocol"] == "ws-flv" and s["role"] == "player"],
            timeout=15, diag=[self.n])
        return got[0]["id"]

    def op_publisher_stop(self):
        weirtest.interrupt(self.pub)
        relayutil.wait_for("live/real to be gone",
                           lambda: relayutil.stream_of(self.api, "live", "real") is None,
                           timeout=20, diag=[self.n])
        return True

    def op_publisher_start(self):
        self.pub = relayutil.publish(self.procs, self.n, self.clip, "real", app="live", loop=True)
        relayutil.wait_for("live/real live again",
                           lambda: relayutil.stream_live(self.api, "live", "real"), timeout=20,
                           diag=[self.n])
        return True


def test_dashboard_at_1000_streams(node, procs, clip, tmp_path):
    chromium, node_bin = _require_browser_setup()
    n = node(api={"token": TOKEN, "web_root": WEB_DIST},
             limits={"max_connections_per_address": 0, "max_connections": 4000,
                     "max_streams": 4000})
    api = Api(n.api_url, token=TOKEN)
    scenario = ScaleScenario(n, api, procs, clip)
    t0 = time.monotonic()
    crowd = Crowd(n, N_STREAMS)
    players = []
    try:
        made_s = time.monotonic() - t0
        scenario.op_publisher_start()
        for _ in range(2):
            players.append(relayutil.FlvPlayer(n.http_port, "live", "real"))
        counts = relayutil.wait_for(
            "%d streams" % (N_STREAMS + 1),
            lambda: (lambda c: c if c["streams"] == N_STREAMS + 1 else None)(
                api.get("/api/v1/node").json()["counts"]), timeout=60, diag=[n])
        print("dashboard-scale: %d raw publishers made in %.1fs; node counts %s" % (
            N_STREAMS, made_s, json.dumps(counts)))
        screens = tmp_path / "screens"
        config = {
            "base_url": n.api_url, "token": TOKEN, "web_dir": WEB_DIR, "chromium": chromium,
            "out_dir": str(screens), "streams": N_STREAMS + 1, "apps": APPS,
            "first_render_max_ms": FIRST_RENDER_MAX_MS, "page_cpu_max": PAGE_CPU_MAX,
            "first_view_max_bytes": FIRST_VIEW_MAX_BYTES,
        }
        config_path = tmp_path / "scale-config.json"
        config_path.write_text(json.dumps(config, indent=2))
        rc, result, py_failures = run_script(node_bin, str(config_path), scenario,
                                             str(tmp_path / "dashboard-scale.log"),
                                             script=SCRIPT, timeout_s=SCRIPT_TIMEOUT_S)
        node_cpu = n.cpu_seconds()
    finally:
        for p in players:
            p.close()
        crowd.close()

    result = collect(result, rc, "dashboard_scale", screens, "web-scale",
                     str(tmp_path / "dashboard-scale.log"))
    print("dashboard-scale: measured %s; node CPU so far %.1fs" % (
        json.dumps(result.get("measured")), node_cpu))
    print("dashboard-scale: steps %s" % ", ".join(
        "%s %s %dms" % (s["step"], "ok" if s["ok"] else "FAILED", s["ms"])
        for s in result["steps"]))
    failures = list(result.get("failures", []))
    failures += ["(API side) %s: %s" % (what, err) for what, err in py_failures]
    assert not failures and rc == 0, "dashboard scale test failed (exit %r):\n%s" % (
        rc, "\n".join(failures))
    assert len(result["steps"]) == result["n_steps"], result["steps"]
