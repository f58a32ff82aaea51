"""Per-app publish and play auth (issue 8, the "apps" config; node/codec/app_auth.h)
against a real weir: signed URLs (HMAC-SHA256 over "<app>/<name>:<expires>")
for ffmpeg publishing over RTMP and for HTTP-FLV players (curl), address
ranges (a client bound to 127.0.0.2 against an allow list of 127.0.0.1/32),
the refusal statuses and descriptions, the log lines (without the secret or
the signature), the weir_auth_refused_total counters, a relay pull that
carries a signed URL, and config errors that stop the node from starting.
Throughout, a player of a stream of an app without rules keeps receiving.
"""

import hashlib
import hmac
import json
import re
import subprocess
import time

import pytest

import rtmp_min
import weirtest
from relayutil import FlvPlayer, api_of, stream_live, wait_active, wait_for

PUB_SECRET = "publish-secret-for-tests"
PLAY_SECRET = "play-secret-for-the-tests"
APP = "live"
OPEN_APP = "open"  # not listed, and no "*": no rules


def sign(secret, app, name, expires):
    msg = ("%s/%s:%d" % (app, name, expires)).encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def signed_query(secret, app, name, ttl=600, expires=None):
    e = int(time.time()) + ttl if expires is None else expires
    return "expires=%d&sign=%s" % (e, sign(secret, app, name, e))


def refused(api, point, reason):
    text = api.get("/metrics").text
    series = 'weir_auth_refused_total{point="%s",reason="%s"}' % (point, reason)
    m = re.search(r"^%s (\d+)$" % re.escape(series), text, re.M)
    assert m, "no series %s in /metrics" % series
    return int(m.group(1))


def all_refused(api):
    return {(p, r): refused(api, p, r) for p in ("publish", "play")
            for r in ("expired", "bad_signature", "missing_signature", "address")}


def curl_flv(port, target, source="127.0.0.1", seconds=2):
    """curl GET of target from source; returns (HTTP status, body bytes)."""
    curl = weirtest.require_tool("curl")
    res = subprocess.run(
        [curl, "-s", "-o", "-", "-w", "\n%{http_code}", "--interface", source,
         "--max-time", str(seconds), "http://127.0.0.1:%d%s" % (port, target)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        timeout=seconds + 10)
    body, _, code = res.stdout.rpartition(b"\n")
    return int(code), body


def rtmp_status(port, cmd, name, app=APP, timeout=10.0):
    """publish or play name with rtmp_min; returns the first onStatus info
    (code, description), or {"code": "(connection closed)"}."""
    c = rtmp_min.RtmpClient(weirtest.HOST, port, timeout=timeout)
    try:
        c.connect(app)
        sid = c.create_stream()
        if cmd == "publish":
            c.send_command(sid, "publish", 0, None, name, "live", csid=8)
            return c.wait_status(timeout)
        c.play(name, sid)
        return c.wait_status(timeout, {"NetStream.Play.Start", "NetStream.Play.Failed",
                                       "NetStream.Play.StreamNotFound"})
    except rtmp_min.RtmpClosed:
        return {"code": "(connection closed)"}
    finally:
        c.close()


def ffmpeg_publish_fails(n, clip, name_with_query):
    """A foreground ffmpeg publish (no loop) is refused: it exits non-zero
    well before the clip's length."""
    t0 = time.monotonic()
    res = weirtest.run(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, name_with_query)),
                       timeout=60)
    took = time.monotonic() - t0
    assert res.returncode != 0, "ffmpeg publish of %s was not refused" % name_with_query
    assert took < clip.seconds - 2, "ffmpeg took %.1f s to be refused" % took
    return res


@pytest.fixture
def healthy(node, procs, clip):
    """A node with "apps" rules for live, and a player of open/healthy (no
    rules) that must keep receiving; yields (node, player)."""
    n = node(apps=[{
        "app": APP,
        "publish_secret": PUB_SECRET,
        "play_secret": PLAY_SECRET,
        "publish_allow": ["127.0.0.0/8"],
        "play_allow": ["127.0.0.1/32", "::1"],
    }])
    api = api_of(n)
    procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(OPEN_APP, "healthy"), loop=True),
                name="healthy-pub")
    wait_for("open/healthy live", lambda: stream_live(api, OPEN_APP, "healthy"), timeout=15)
    p = FlvPlayer(n.http_port, OPEN_APP, "healthy")
    p.wait_video(10, timeout=15)
    yield n, p
    p.close()


def assert_still_receiving(p, before, what):
    frames = lambda: sum(1 for t in p.tags() if t.is_coded_video())
    wait_for("%s: the healthy player keeps receiving" % what, lambda: frames() > before + 10,
             timeout=10)
    assert p.closed_at is None, "the healthy player was disconnected"


def test_rtmp_publish_signed_and_refused(healthy, procs, clip):
    n, player = healthy
    api = api_of(n)
    frames0 = sum(1 for t in player.tags() if t.is_coded_video())
    base = all_refused(api)

    # Right signature: ffmpeg publishes, the stream is live under its bare name.
    q = signed_query(PUB_SECRET, APP, "cam")
    procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, "cam?" + q), loop=True),
                name="signed-pub")
    wait_for("live/cam live", lambda: stream_live(api, APP, "cam"), timeout=15)
    names = [s["name"] for s in api.get("/api/v1/streams").json()["streams"]]
    assert "cam" in names and not any("?" in x or "sign" in x for x in names), names

    # Wrong, expired, missing: ffmpeg fails; nothing is published.
    bad = "expires=%d&sign=%s" % (int(time.time()) + 600, "0" * 64)
    ffmpeg_publish_fails(n, clip, "cam2?" + bad)
    expired = signed_query(PUB_SECRET, APP, "cam2", expires=int(time.time()) - 5)
    ffmpeg_publish_fails(n, clip, "cam2?" + expired)
    ffmpeg_publish_fails(n, clip, "cam2")
    # A signature for another stream name is wrong for this one.
    ffmpeg_publish_fails(n, clip, "cam2?" + signed_query(PUB_SECRET, APP, "cam"))
    assert not stream_live(api, APP, "cam2")

    # The statuses and their descriptions (rtmp_min).
    info = rtmp_status(n.rtmp_port, "publish", "cam3?" + bad)
    assert info.get("code") == "NetStream.Publish.BadName", info
    assert info.get("description") == "Unauthorized: bad signature", info
    info = rtmp_status(n.rtmp_port, "publish",
                       "cam3?" + signed_query(PUB_SECRET, APP, "cam3", expires=1000))
    assert info.get("description") == "Unauthorized: signature expired", info
    info = rtmp_status(n.rtmp_port, "publish", "cam3")
    assert info.get("description") == "Unauthorized: signature missing", info
    # The signature may come with the app (tcUrl / connect app) instead.
    info = rtmp_status(n.rtmp_port, "publish", "cam3",
                       app="%s?%s" % (APP, signed_query(PUB_SECRET, APP, "cam3")))
    assert info.get("code") == "NetStream.Publish.Start", info

    # RTMP play: signed with the play secret, not the publish one.
    info = rtmp_status(n.rtmp_port, "play", "cam?" + signed_query(PUB_SECRET, APP, "cam"))
    assert info.get("code") == "NetStream.Play.Failed", info
    assert info.get("description") == "Unauthorized: bad signature", info
    info = rtmp_status(n.rtmp_port, "play", "cam?" + signed_query(PLAY_SECRET, APP, "cam"))
    assert info.get("code") == "NetStream.Play.Start", info

    got = all_refused(api)
    assert got[("publish", "bad_signature")] - base[("publish", "bad_signature")] == 3, got
    assert got[("publish", "expired")] - base[("publish", "expired")] == 2, got
    assert got[("publish", "missing_signature")] - base[("publish", "missing_signature")] == 2
    assert got[("play", "bad_signature")] - base[("play", "bad_signature")] == 1, got
    assert got[("publish", "address")] == base[("publish", "address")], got

    # The log names the refusals, never the secret or a signature.
    log = n.log_text()
    assert re.search(r"rtmp: publish live/cam2 from 127\.0\.0\.1:\d+ refused: bad signature",
                     log), n.diagnostics()
    assert "refused: signature expired" in log and "refused: signature missing" in log
    assert PUB_SECRET not in log and PLAY_SECRET not in log
    assert "0" * 64 not in log and sign(PUB_SECRET, APP, "cam3", 1000) not in log

    assert_still_receiving(player, frames0, "after the RTMP refusals")


def test_http_flv_play_signed_and_by_address(healthy, procs, clip):
    n, player = healthy
    api = api_of(n)
    frames0 = sum(1 for t in player.tags() if t.is_coded_video())
    procs.spawn(weirtest.publish_cmd(
        clip.path, n.rtmp_url(APP, "cam?" + signed_query(PUB_SECRET, APP, "cam")), loop=True),
        name="signed-pub")
    wait_for("live/cam live", lambda: stream_live(api, APP, "cam"), timeout=15)
    base = all_refused(api)

    code, body = curl_flv(n.http_port, "/live/cam.flv?" + signed_query(PLAY_SECRET, APP, "cam"))
    assert code == 200 and body[:3] == b"FLV" and len(body) > 10000, (code, len(body))
    # Upper-case hex and the parameters in another order are the same signature.
    e = int(time.time()) + 60
    code, _ = curl_flv(n.http_port, "/live/cam.flv?sign=%s&x=1&expires=%d" % (
        sign(PLAY_SECRET, APP, "cam", e).upper(), e), seconds=1)
    assert code == 200

    code, body = curl_flv(n.http_port, "/live/cam.flv?" + signed_query(
        PLAY_SECRET, APP, "cam", expires=int(time.time()) - 1))
    assert (code, body) == (401, b"401 Unauthorized: signature expired\n"), (code, body)
    code, body = curl_flv(n.http_port, "/live/cam.flv?" + signed_query(PUB_SECRET, APP, "cam"))
    assert (code, body) == (401, b"401 Unauthorized: bad signature\n"), (code, body)
    q = signed_query(PLAY_SECRET, APP, "cam")
    code, _ = curl_flv(n.http_port, "/live/cam.flv?%s&%s" % (q, q))  # repeated
    assert code == 401
    code, body = curl_flv(n.http_port, "/live/cam.flv")
    assert (code, body) == (401, b"401 Unauthorized: signature missing\n"), (code, body)
    r = weirtest.http_exchange(n.http_port, b"GET /live/cam.flv HTTP/1.1\r\nHost: x\r\n\r\n",
                               timeout=5)
    assert r.status == 401 and r.header("www-authenticate") == "Signed-URL", r

    # From 127.0.0.2: not in play_allow, however good the signature.
    code, body = curl_flv(n.http_port, "/live/cam.flv?" + q, source="127.0.0.2")
    assert (code, body) == (403, b"403 Forbidden: address not allowed\n"), (code, body)
    # ... while 127.0.0.2 may publish (publish_allow 127.0.0.0/8) and play an
    # app without rules.
    code, body = curl_flv(n.http_port, "/open/healthy.flv", source="127.0.0.2", seconds=1)
    assert code == 200 and body[:3] == b"FLV"

    got = all_refused(api)
    delta = {k: got[k] - base[k] for k in got}
    assert delta == {("play", "expired"): 1, ("play", "bad_signature"): 2,
                     ("play", "missing_signature"): 2, ("play", "address"): 1,
                     ("publish", "expired"): 0, ("publish", "bad_signature"): 0,
                     ("publish", "missing_signature"): 0, ("publish", "address"): 0}, delta
    log = n.log_text()
    assert re.search(r"http-flv: play live/cam from 127\.0\.0\.2:\d+ refused: address not allowed",
                     log), n.diagnostics()
    assert PLAY_SECRET not in log and q.split("sign=")[1] not in log

    assert_still_receiving(player, frames0, "after the HTTP-FLV refusals")


def test_relay_pull_carries_a_signed_url(node, procs, clip):
    """An edge pulling from an origin whose app needs signed plays: the
    relay's URL carries the signature (relay requests are not exempt)."""
    origin = node(apps=[{"app": APP, "play_secret": PLAY_SECRET}])
    oapi = api_of(origin)
    procs.spawn(weirtest.publish_cmd(clip.path, origin.rtmp_url(APP, "cam"), loop=True),
                name="origin-pub")
    wait_for("origin live/cam", lambda: stream_live(oapi, APP, "cam"), timeout=15)
    q = signed_query(PLAY_SECRET, APP, "cam", ttl=3600)
    edge = node(relays=[
        {"id": "signed", "direction": "pull", "app": APP, "name": "cam", "mode": "always",
         "urls": [origin.rtmp_url(APP, "cam") + "?" + q]},
        {"id": "unsigned", "direction": "pull", "app": APP, "name": "cam2", "mode": "always",
         "urls": [origin.rtmp_url(APP, "cam")]}])
    eapi = api_of(edge)
    wait_active(eapi, "signed", timeout=15, diag=edge.diagnostics)
    p = FlvPlayer(edge.http_port, APP, "cam")
    try:
        p.wait_video(10, timeout=15)
    finally:
        p.close()
    wait_for("the unsigned pull is refused by the origin",
             lambda: refused(oapi, "play", "missing_signature") >= 1, timeout=15)
    assert not stream_live(eapi, APP, "cam2")
    # the edge's log names the upstream but not its signature
    log = edge.log_text()
    assert origin.rtmp_url(APP, "cam") + "?..." in log
    assert q.split("sign=")[1] not in log, q


@pytest.mark.parametrize("apps,msg", [
    ([{"app": APP, "publish_allow": ["10.0.0.0/33"]}],
     "apps[0].publish_allow[0]: expected an address range"),
    ([{"app": APP}, {"app": APP}], 'apps[1].app: duplicate app "live" (also apps[0])'),
    ([{"app": "*", "play_secret": "too-short"}], "apps[0].play_secret: shorter than 16 bytes"),
])
def test_bad_apps_config_stops_the_start(tmp_path, apps, msg):
    cfg = tmp_path / "weir.json"
    cfg.write_text(json.dumps({
        "rtmp": {"listen": "127.0.0.1:%d" % weirtest.free_port()},
        "http_flv": {"listen": "127.0.0.1:%d" % weirtest.free_port()},
        "api": {"listen": "127.0.0.1:%d" % weirtest.free_port()},
        "storage": {"path": str(tmp_path / "weir.db")},
        "apps": apps}))
    res = weirtest.run([weirtest.weir_bin(), "-c", str(cfg)], timeout=20, cwd=str(tmp_path))
    assert res.returncode != 0, res
    assert msg in res.stderr, res.stderr
    assert "too-short" not in res.stderr
