"""The tools over WebSocket-FLV (tools/common/wsc.c, httpflv_client's ws
mode, tools/bench/ws.c): weir-pull over ws:// and wss:// (a test CA made
here, as in test_tls_clients.py) writes a file whose video and audio frame
hashes (ffmpeg framemd5) are a run of the published clip's, like an http://
pull of the same stream; the wrong CA fails with exit 3 naming the
certificate; a missing stream is a refusal (exit 4, HTTP 404); the tool
answers the node's pings (fast pings and a short idle cut here: a player
that did not would be closed with 1001) and its close frame reaches the node
(play.stop says the client closed the WebSocket). weir-bench with N ws://
players (and wss:// ones) reports them all delivered. One node for the
file, with an https listener."""

import json
import os

import pytest

import relayutil as ru
import tlsutil
import weirtest
from weirtest import Node, Procs, describe_mismatch, find_run, framemd5

APP, NAME = "live", "cam"
FRAMES = 30
PING_MS, IDLE_MS = 300, 1500
BENCH_PLAYERS = 4
CLIENT_CLOSED = "the client closed the WebSocket"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    tlsutil.make_ca(d)
    tlsutil.make_ca(d, "other", "Another CA")
    return {"ca": os.path.join(d, "ca.pem"), "other_ca": os.path.join(d, "other.pem"),
            "node": tlsutil.make_cert(d, "node", "localhost", 0x21,
                                      ["DNS:localhost", "IP:127.0.0.1"])}


@pytest.fixture(scope="module")
def live(tmp_path_factory, pki, clip):
    """One node (HTTP and HTTPS media ports) with live/cam published in a loop."""
    wd = tmp_path_factory.mktemp("toolsws")
    https = weirtest.free_port()
    n = Node(wd / "node", {"tls": {"cert": pki["node"][0], "key": pki["node"][1]},
                           "https": {"listen": "127.0.0.1:%d" % https},
                           "http_flv": {"ws_ping_ms": PING_MS, "ws_idle_timeout_ms": IDLE_MS}})
    n.https_port = https
    procs = Procs(wd)
    n.start()
    try:
        ru.publish(procs, n, clip, NAME)
        weirtest.wait_live(n, APP, NAME)
        yield n
    finally:
        procs.stop_all()
        n.stop_and_check()


@pytest.fixture(scope="module")
def clip_amd5(clip):
    return framemd5(clip.path, "a")


def _pull(url, out=None, *opts, frames=FRAMES):
    cmd = [weirtest.tool("weir-pull"), "--timeout", "15000", "--frames", str(frames)]
    cmd += list(opts) + [url] + ([str(out)] if out else [])
    return weirtest.run(cmd, timeout=60)


def _summary(r):
    return json.loads(r.stdout.strip().splitlines()[-1])


def _check_file(out, clip, clip_amd5):
    """The file's video and audio packets are a run of the clip's (looped)."""
    for kind, source in (("v", clip.vmd5), ("a", clip_amd5)):
        got = framemd5(out, kind)
        assert len(got) > 0, "no %s packets in %s" % (kind, out)
        assert find_run(got, source, cyclic=True) is not None, (
            kind, describe_mismatch(got, source))


def _ws_url(n, scheme="ws", host="127.0.0.1", name=NAME):
    port = n.https_port if scheme == "wss" else n.http_port
    return "%s://%s:%d/%s/%s.flv" % (scheme, host, port, APP, name)


def test_pull_ws_and_wss_match_http(live, pki, clip, clip_amd5, tmp_path):
    """ws:// and wss:// (verified by --ca) give the published frames, as an
    http:// pull of the same stream does."""
    urls = {"http": live.http_url(APP, NAME), "ws": _ws_url(live),
            "wss": _ws_url(live, "wss", "localhost")}
    for kind, url in urls.items():
        out = tmp_path / ("%s.flv" % kind)
        r = _pull(url, out, "--ca", pki["ca"])
        assert r.returncode == 0, (url, r.returncode, r.stderr)
        s = _summary(r)
        assert s["frames"] == FRAMES and s["first_frame_key"] is True, (url, s)
        assert s["stopped_by"] == "frames" and s["audio"] > 0, (url, s)
        want = ("http", "HTTP 200") if kind == "http" else ("ws", "HTTP 101")
        assert (s["protocol"], s["status"]) == want, (url, s)
        _check_file(out, clip, clip_amd5)


def test_pull_ws_pongs_and_sends_close_1000(live, tmp_path):
    """Playing longer than the node's idle cut, the tool is not cut (it
    answers the pings: the node still talks at the end, no close from it),
    and it ends with a close frame: the node's play.stop for the session
    says the client closed it (not a dropped connection)."""
    api = ru.api_of(live)
    before = len(ru.events_of(api, "play.stop", protocol="ws-flv"))
    r = _pull(_ws_url(live), None, "--duration", str(IDLE_MS / 600), frames=10 ** 6)
    assert r.returncode == 0, r.stderr
    s = _summary(r)
    assert (s["stopped_by"], s["status"]) == ("duration", "HTTP 101"), s
    assert s["frames"] > 0, s
    stops = ru.wait_for("a new ws-flv play.stop", lambda: (
        lambda e: e if len(e) > before else None)(
        ru.events_of(api, "play.stop", protocol="ws-flv")), timeout=15, diag=[live])
    # Every tool session of this file ends with the tool's close frame.
    assert {(e["reason"], e["message"]) for e in stops} == {("eof", CLIENT_CLOSED)}, stops


def test_pull_wss_wrong_ca_and_refusals(live, pki, tmp_path):
    url = _ws_url(live, "wss", "localhost")
    for opts in (["--ca", pki["other_ca"]], []):
        r = _pull(url, None, *opts)
        assert r.returncode == 3, (opts, r.returncode, r.stderr)
        assert "certificate verify failed" in r.stderr, r.stderr
        assert r.stdout.strip() == "", r.stdout
    r = _pull(url, None, "--insecure", frames=5)
    assert r.returncode == 0, r.stderr
    r = _pull(_ws_url(live, name="none"), None)
    assert r.returncode == 4 and "HTTP 404" in r.stderr, (r.returncode, r.stderr)
    # The RTMP port does not speak HTTP: a connection error, not a hang.
    r = _pull("ws://127.0.0.1:%d/%s/%s.flv" % (live.rtmp_port, APP, NAME), None, "--timeout",
              "3000")
    assert r.returncode == 3, (r.returncode, r.stderr)


def _bench(*args):
    r = weirtest.run([weirtest.tool("weir-bench"), "--quiet"] + list(args), timeout=90)
    assert r.stdout.strip(), "no JSON (exit %d): %s" % (r.returncode, r.stderr[-2000:])
    return r, json.loads(r.stdout.strip().splitlines()[-1])


def test_bench_ws_players_all_delivered(live, pki, clip):
    """weir-bench's publisher and N ws:// players: every player receives
    the whole window (drained, so the counts are exact); each ends with a
    close frame. Then wss:// players of the live stream, verified by --ca."""
    api = ru.api_of(live)
    name = "benchws"
    r, rep = _bench("--publish", str(clip.path), "--publish-url", live.rtmp_url(APP, name),
                    "--players", str(BENCH_PLAYERS), "--url", _ws_url(live, name=name),
                    "--duration", "2", "--warmup", "1")
    why = json.dumps(rep) + "\n" + r.stderr[-2000:]
    assert r.returncode == 0, why
    assert rep["protocol"] == "ws-flv" and rep["errors"] == {}, why
    assert rep["connected"] == BENCH_PLAYERS and rep["receiving"] == BENCH_PLAYERS, why
    assert rep["keyframe_starts"] == {"ok": BENCH_PLAYERS, "total": BENCH_PLAYERS}, why
    assert rep["ratio"] >= 0.99 and rep["player_ratio"]["min"] >= 0.95, why
    stops = ru.wait_for("%d play.stop of %s" % (BENCH_PLAYERS, name), lambda: (
        lambda e: e if len(e) >= BENCH_PLAYERS else None)(
        ru.events_of(api, "play.stop", protocol="ws-flv", name=name)), timeout=15, diag=[live])
    assert {e["message"] for e in stops} == {CLIENT_CLOSED}, stops

    r, rep = _bench("--ca", pki["ca"], "--players", "2", "--duration", "1", "--url",
                    _ws_url(live, "wss", "localhost"))
    why = json.dumps(rep) + "\n" + r.stderr[-2000:]
    assert r.returncode == 0 and rep["errors"] == {}, why
    assert rep["receiving"] == 2 and rep["keyframe_starts"]["ok"] == 2, why
    r, rep = _bench("--ca", pki["other_ca"], "--players", "2", "--duration", "0.5", "--url",
                    _ws_url(live, "wss", "localhost"))
    assert r.returncode == 0 and rep["errors"] == {"handshake": 2}, rep
    assert "certificate verify failed" in rep["error_examples"]["handshake"], rep
