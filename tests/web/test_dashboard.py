"""The dashboard in a real browser (issue 7).

A real node (api.token set, api.web_root = <repo>/web/dist), ffmpeg publishing
the test clip in a loop, three HTTP-FLV players; Debian's chromium, headless,
driven by playwright-core (web/node_modules) from dashboard.mjs. That script
does the browser part and asks this side, over its stdin/stdout (see its
header), for what happens outside the browser: checks over the REST API
(every answer checked against openapi.yaml by apischema.Api), the players'
sockets, and the node's restart.

Missing chromium, node, web/node_modules or web/dist fail the test (CI
installs and builds them through .ci/setup); nothing is skipped.

Screenshots go to the test's tmp_path/screens (the path is printed), and also
to $WEIR_TEST_OUTPUT/web/ when that is set.
"""

import json
import os
import select
import shutil
import subprocess
import time

import pytest

import relayutil
import weirtest
from apischema import Api

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEB_DIR = os.path.join(REPO, "web")
# The built page; WEIR_WEB_DIST may name another build of it (for debugging).
WEB_DIST = os.environ.get("WEIR_WEB_DIST") or os.path.join(WEB_DIR, "dist")
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboard.mjs")

TOKEN = "w3-dashboard-token-0123456789"
APP = "live"
STREAM = "dash"
N_PLAYERS = 3
PUSH_ID = "w22-push"        # this node's push relay of live/dash (the stream page's "Goes to")
PUSH_IN_ID = "w22-in"       # the origin's push into this node (live/fromorigin's "Comes from")
SCRIPT_TIMEOUT_S = 200.0


# ------------------------------------------------------------------ prerequisites

def _require_browser_setup():
    """(chromium, node) paths; fails (never skips) naming what to install."""
    chromium = os.environ.get("WEIR_CHROMIUM", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        pytest.fail("%s not found: install Debian's chromium (`apt-get install -y chromium`, "
                    ".ci/setup does it) or set WEIR_CHROMIUM" % chromium, pytrace=False)
    node = shutil.which("node")
    if node is None:
        pytest.fail("node not found on PATH: install Debian's nodejs", pytrace=False)
    if not os.path.isfile(os.path.join(WEB_DIR, "node_modules", "playwright-core", "package.json")):
        pytest.fail("web/node_modules/playwright-core missing: run `npm --prefix web ci` "
                    "(.ci/setup does it)", pytrace=False)
    index = os.path.join(WEB_DIST, "index.html")
    if not os.path.isfile(index):
        pytest.fail(index + " missing: run `npm --prefix web run build` "
                    "(.ci/setup does it)", pytrace=False)
    # A dist older than its sources would test yesterday's page.
    built = os.path.getmtime(index)
    src = os.path.join(WEB_DIR, "src") if WEB_DIST == os.path.join(WEB_DIR, "dist") else "/nonexistent"
    for root, _, files in os.walk(src):
        for f in files:
            p = os.path.join(root, f)
            if os.path.getmtime(p) > built + 1:
                pytest.fail("web/dist is older than %s: run `npm --prefix web run build`" % (
                    os.path.relpath(p, REPO)), pytrace=False)
    return chromium, node


# ------------------------------------------------------------------ the Python side of the scenario

class Scenario:
    """Answers dashboard.mjs's requests (ops) with checks over the API."""

    def __init__(self, n, api, pub, players, ids, publisher_id):
        self.n = n
        self.api = api
        self.pub = pub
        self.players = players      # FlvPlayer in the order of ids
        self.ids = ids              # their session ids
        self.publisher_id = publisher_id

    def _session_ids(self):
        return {s["id"] for s in relayutil.sessions(self.api)}

    def op_check_kicked(self, id):
        """The kicked player's session is gone (and its socket closed); the
        other players and the publisher remain and keep receiving."""
        others = [i for i in self.ids if i != id] + [self.publisher_id]
        assert id in self.ids, "kicked %r, not one of the test's players %r" % (id, self.ids)

        def state():
            ids = self._session_ids()
            return ids if id not in ids else None
        ids = relayutil.wait_for("session %d to go after the kick" % id, state, timeout=10,
                                 diag=[self.n])
        missing = [i for i in others if i not in ids]
        assert not missing, "sessions %r went with the kick of %d (left: %r)" % (
            missing, id, sorted(ids))
        kicked = self.players[self.ids.index(id)]
        relayutil.wait_for("the kicked player's socket to close",
                           lambda: kicked.closed_at is not None, timeout=5)
        for p, i in zip(self.players, self.ids):
            if i == id:
                continue
            assert p.closed_at is None, "player %d was closed by the kick of %d" % (i, id)
            before = len(p.data())
            relayutil.wait_for("player %d still receiving after the kick" % i,
                               lambda: len(p.data()) > before, timeout=5)
        events = relayutil.events_of(self.api, "session.kick", session_id=id)
        assert events and events[-1].get("by") == "api", "session.kick events: %r" % events
        return sorted(ids)

    def op_relays(self):
        return relayutil.list_relays(self.api)

    def op_relay_state(self, id, want):
        """Waits until relay `id` is enabled, disabled or absent; returns it (or None)."""
        def state():
            r = self.api.get("/api/v1/relays/%s" % id)
            if want == "absent":
                return r.status_code == 404
            if r.status_code != 200:
                return None
            rel = r.json()
            return rel if rel["enabled"] == (want == "enabled") else None
        got = relayutil.wait_for("relay %s %s" % (id, want), state, timeout=10, diag=[self.n])
        return got if isinstance(got, dict) else None

    def op_events(self):
        keep = ("id", "type", "session_id", "relay_id")
        return [{k: e[k] for k in keep if k in e} for e in relayutil.all_events(self.api)]

    def op_check_closed(self):
        """Close stream: the stream is gone, the publisher and every player ended."""
        relayutil.wait_for("stream %s/%s to be gone" % (APP, STREAM),
                           lambda: relayutil.stream_of(self.api, APP, STREAM) is None,
                           timeout=10, diag=[self.n])
        weirtest.wait_proc(self.pub, 15, "the publisher (ffmpeg) after close stream")
        for p, i in zip(self.players, self.ids):
            relayutil.wait_for("player %d to be closed by close stream" % i,
                               lambda: p.closed_at is not None, timeout=10)
        left = [s for s in relayutil.sessions(self.api, app=APP, name=STREAM)]
        assert not left, "sessions of %s/%s after close stream: %r" % (APP, STREAM, left)
        ev = relayutil.events_of(self.api, "stream.close", app=APP, name=STREAM)
        assert ev and ev[-1].get("by") == "api", "stream.close events: %r" % ev
        return ev[-1]

    def op_node_stop(self):
        rc = self.n.stop()
        assert rc == 0, "weir exited with %r after SIGTERM for the restart\n%s" % (
            rc, self.n.diagnostics())
        report = self.n.sanitizer_report()
        assert not report, "sanitizer report before the restart:\n" + report
        return rc

    def op_node_start(self):
        self.n.start()
        relayutil.wait_for("the API after the restart",
                           lambda: self.api.get("/api/v1/node").status_code == 200, timeout=10)
        return self.n.pid

    # -------- where a stream comes from and goes to (issue 22), the audio meter

    def op_route_setup(self):
        """A push relay of this node (live/dash to the origin) and the origin's
        push into this node (live/src as live/fromorigin: its publisher is the
        origin's relay link, peer the origin's id)."""
        origin_api = relayutil.api_of(self.origin)
        out = relayutil.create_relay(self.api, relayutil.relay_body(
            "push", [self.origin.rtmp_url(APP, "dashcopy")], name=STREAM, app=APP, id=PUSH_ID))
        relayutil.create_relay(origin_api, relayutil.relay_body(
            "push", [self.n.rtmp_url("live", "fromorigin")], name="src", app="live", id=PUSH_IN_ID))
        relayutil.wait_active(self.api, PUSH_ID, timeout=20, diag=[self.n, self.origin])
        relayutil.wait_active(origin_api, PUSH_IN_ID, timeout=20, diag=[self.n, self.origin])
        pub = relayutil.wait_for("live/fromorigin live with the origin's relay link publishing", lambda: (
            lambda st: st if st and st["publisher"] else None)(relayutil.stream_live(self.api, "live", "fromorigin")),
            timeout=20, diag=[self.n])
        link = [s for s in relayutil.sessions(self.api, app="live", name="fromorigin")
                if s["id"] == pub["publisher"]["id"]]
        assert link and link[0]["relay"] and link[0]["relay"]["direction"] == "in", link
        return {"push_id": PUSH_ID, "push_url": out["urls"][0], "origin_id": origin_api.get(
            "/api/v1/node").json()["id"], "in_hops": link[0]["relay"]["hops"]}

    def op_route_teardown(self):
        """Both push relays deleted; no relay session of live/dash left (the
        close-stream step counts the stream's sessions)."""
        for api, rid in ((self.api, PUSH_ID), (relayutil.api_of(self.origin), PUSH_IN_ID)):
            r = api.delete("/api/v1/relays/%s" % rid)
            assert r.status_code == 204, (rid, r.status_code, r.text)
        relayutil.wait_for("no relay session of %s/%s" % (APP, STREAM), lambda: not [
            s for s in relayutil.sessions(self.api, app=APP, name=STREAM) if s["role"] == "relay"],
            timeout=15, diag=[self.n])
        return True

    def op_tone_start(self):
        """live/tone: the clip's AAC sine alone (no video), published by ffmpeg."""
        cmd = [weirtest.require_tool("ffmpeg")] + weirtest.FFMPEG_COMMON + [
            "-stream_loop", "-1", "-re", "-i", str(self.clip.path), "-vn", "-c:a", "copy",
            "-f", "flv", self.n.rtmp_url("live", "tone")]
        self.tone = self.procs.spawn(cmd, name="publish-tone")
        st = relayutil.wait_for("live/tone live with AAC audio and no video", lambda: (
            lambda x: x if x and x["audio"] and x["audio"]["codec"] == "aac" else None)(
                relayutil.stream_live(self.api, "live", "tone")), timeout=20, diag=[self.n])
        assert st["video"] is None, st["video"]
        return st["audio"]

    def op_tone_stop(self):
        weirtest.interrupt(self.tone)
        return True

    def handle(self, req):
        op = req.pop("op")
        fn = getattr(self, "op_" + op, None)
        if fn is None:
            return {"ok": False, "error": "unknown op %r" % op}
        try:
            return {"ok": True, "data": fn(**req)}
        except (AssertionError, pytest.fail.Exception) as e:
            return {"ok": False, "error": str(e)}


def run_script(node_bin, config_path, scenario, log_path, script=SCRIPT,
               timeout_s=SCRIPT_TIMEOUT_S):
    """Runs script (dashboard.mjs), answering its requests; returns (exit
    code, result, failures of the Python side)."""
    proc = subprocess.Popen([node_bin, script, config_path], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    result = None
    py_failures = []
    deadline = time.monotonic() + timeout_s
    buf = b""
    try:
        with open(log_path, "w") as log:
            fd = proc.stdout.fileno()
            eof = False
            while not eof:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail("%s did not finish within %.0fs; its output: %s\n%s" % (
                        os.path.basename(script), timeout_s, log_path,
                        weirtest.tail_file(log_path)), pytrace=False)
                ready, _, _ = select.select([fd], [], [], min(remaining, 1.0))
                if not ready:
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    eof = True
                    chunk = b"\n"
                buf += chunk
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    line = raw.decode("utf-8", "replace")
                    if not line:
                        continue
                    log.write(line + "\n")
                    log.flush()
                    if line.startswith("@@rpc "):
                        req = json.loads(line[6:])
                        what = dict(req)
                        answer = scenario.handle(req)
                        if not answer["ok"]:
                            py_failures.append((what, answer["error"]))
                        log.write("@@answer " + json.dumps(answer)[:2000] + "\n")
                        try:
                            proc.stdin.write((json.dumps(answer) + "\n").encode())
                            proc.stdin.flush()
                        except BrokenPipeError:
                            pass
                    elif line.startswith("@@result "):
                        result = json.loads(line[9:])
                    else:
                        print(line)
        rc = proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    return rc, result, py_failures


def collect(result, rc, what, screens, out_name, log_path):
    """The end of a browser script's run: its screenshots listed (and copied
    to $WEIR_TEST_OUTPUT/out_name when set); fails when it gave no result or
    could not start. Returns the result."""
    shots = (result or {}).get("screenshots", [])
    print("%s: screenshots in %s: %s" % (what, screens, ", ".join(
        os.path.basename(s) for s in shots)))
    out = os.environ.get("WEIR_TEST_OUTPUT", "")
    if out and shots:
        dest = os.path.join(out, out_name)
        os.makedirs(dest, exist_ok=True)
        for s in shots:
            shutil.copy(s, dest)
        print("%s: screenshots copied to %s" % (what, dest))
    if result is None:
        pytest.fail("%s.mjs exited with %r without a result; its output:\n%s" % (
            what, rc, weirtest.tail_file(log_path)), pytrace=False)
    if result.get("setup_error"):
        pytest.fail("%s.mjs could not start: %s" % (what, result["setup_error"]), pytrace=False)
    return result


# ------------------------------------------------------------------ the test

def record_once(n, api):
    """A one-off recording of the stream in 1 s files (README "Recording"),
    stopped once a file is finished; returns that file's row (the stream
    page lists it with a download link)."""
    r = api.post("/api/v1/streams/%s/%s/record" % (APP, STREAM),
                 json={"format": "flv", "segment_s": 1})
    assert r.status_code == 201, (r.status_code, r.text)

    def finished():
        rows = api.get("/api/v1/recordings", params={"app": APP, "name": STREAM}).json()["recordings"]
        return next((x for x in rows if x["bytes"] > 0 and x["duration_ms"] > 0), None)
    row = relayutil.wait_for("a finished 1 s recording of %s/%s" % (APP, STREAM), finished,
                             timeout=30, interval=0.3, diag=[n])
    # stopped, so that the file stays among the page's most recent ones
    r = api.delete("/api/v1/streams/%s/%s/record" % (APP, STREAM))
    assert r.status_code == 204, (r.status_code, r.text)
    return row


def test_dashboard(node, procs, clip, tmp_path):
    chromium, node_bin = _require_browser_setup()
    # 1 s HLS segments: the HLS preview's first frame comes soon; its viewer
    # session ends 3 s after the preview goes back to HTTP-FLV
    n = node(api={"token": TOKEN, "web_root": WEB_DIST},
             hls={"segment_ms": 1000, "window": 6, "idle_timeout_s": 3},
             record={"root": str(tmp_path / "rec")})
    api = Api(n.api_url, token=TOKEN)

    pub = relayutil.publish(procs, n, clip, STREAM, app=APP, loop=True)
    # The relay added through the form pulls from a second node (a node
    # refuses a relay of its own listener).
    origin = node()
    relayutil.publish(procs, origin, clip, "src", app="live", loop=True)
    live = relayutil.wait_for("stream %s/%s to go live with its video size" % (APP, STREAM),
                              lambda: (lambda st: st if st and st["video"] and
                                       st["video"].get("width") else None)(
                                  relayutil.stream_live(api, APP, STREAM)),
                              timeout=20, diag=[n])
    assert (live["video"]["codec"], live["video"]["width"], live["video"]["height"]) == \
        ("h264", 640, 360), live["video"]

    players = []
    try:
        for _ in range(N_PLAYERS):
            p = relayutil.FlvPlayer(n.http_port, APP, STREAM)
            players.append(p)
            p.wait_video(3, timeout=15)
        by_remote = {s["remote"]: s["id"] for s in relayutil.sessions(api, role="player")}
        ids = []
        for p in players:
            remote = "%s:%d" % p.sock.getsockname()
            assert remote in by_remote, "no player session from %s: %r" % (remote, by_remote)
            ids.append(by_remote[remote])
        publisher_id = live["publisher"]["id"]
        node_info = api.get("/api/v1/node").json()
        recording = record_once(n, api)

        screens = tmp_path / "screens"
        config = {
            "base_url": n.api_url,
            "token": TOKEN,
            "web_dir": WEB_DIR,
            "chromium": chromium,
            "out_dir": str(screens),
            "stream": {"app": APP, "name": STREAM, "codec": "h264", "width": 640, "height": 360,
                       "audio": "aac", "source": "rtmp"},
            "publisher_id": publisher_id,
            "player_ids": ids,
            "kick_id": ids[1],
            "node_id": node_info["id"],
            "origin_id": relayutil.api_of(origin).get("/api/v1/node").json()["id"],
            "version": node_info["version"],
            "recording": recording,
            "relay": {"id": "w3-pull", "app": "relayed", "name": "cam",
                      "bad_url": "ftp://127.0.0.1/live/cam",
                      "url": origin.rtmp_url("live", "src")},
        }
        config_path = tmp_path / "dashboard-config.json"
        config_path.write_text(json.dumps(config, indent=2))
        scenario = Scenario(n, api, pub, players, ids, publisher_id)
        scenario.origin, scenario.procs, scenario.clip = origin, procs, clip

        t0 = time.monotonic()
        rc, result, py_failures = run_script(node_bin, str(config_path), scenario,
                                             str(tmp_path / "dashboard.log"))
        elapsed = time.monotonic() - t0
    finally:
        for p in players:
            p.close()

    print("dashboard: browser part took %.1fs" % elapsed)
    result = collect(result, rc, "dashboard", screens, "web", str(tmp_path / "dashboard.log"))
    print("dashboard: route %s; audio meter %s" % (json.dumps(result.get("route")),
                                                   json.dumps(result.get("audio_meter"))))
    print("dashboard: steps %s; preview %s; HLS preview %s; timings %s" % (
        ", ".join("%s %s %dms" % (s["step"], "ok" if s["ok"] else "FAILED", s["ms"])
                  for s in result["steps"]), json.dumps(result.get("preview")),
        json.dumps(result.get("preview_hls")),
        json.dumps(result.get("timings_ms"))))
    failures = list(result.get("failures", []))
    failures += ["(API side) %s: %s" % (what, err) for what, err in py_failures
                 if not any(err in x for x in failures)]
    done = [s["step"] for s in result["steps"] if s["ok"]]
    assert not failures and rc == 0, "dashboard test failed (exit %r; steps passed: %s):\n%s" % (
        rc, done, "\n".join(failures))
    assert len(done) == 10, "not every step ran: %s" % done
