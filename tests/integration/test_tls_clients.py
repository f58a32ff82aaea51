"""TLS clients (node/core/tls_client.c, relay links over TLS): a relay chain
origin -> edge over rtmps:// and https:// with a private CA (the node's
tls.ca and a relay's tls_ca), a push relay to an rtmps:// target, a wrong CA
(relay.fail reason tls_verify, then tls_verify: false lets it through) and a
TLS client against a plaintext port (tls_handshake); webhooks to an https://
receiver (signature checked) and to one whose CA the node does not trust (a
delivery failure "tls_verify: ..."); weir-pull and weir-push over rtmps and
https; a certificate reload under live TLS players. One origin and one edge
for the file; the PKI is made with the openssl CLI (tlsutil.py)."""

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess

import pytest

import relayutil as ru
import tlsutil
import weirtest
from hookrecv import HookReceiver
from weirtest import Node, Procs

APP, NAME = "live", "cam"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    tlsutil.make_ca(d)
    tlsutil.make_ca(d, "other", "Another CA")
    local = ["DNS:localhost", "IP:127.0.0.1"]
    return {"ca": os.path.join(d, "ca.pem"), "other_ca": os.path.join(d, "other.pem"),
            "origin": tlsutil.make_cert(d, "origin", "localhost", 0x11, local),
            "edge": tlsutil.make_cert(d, "edge", "localhost", 0x22, local),
            "hook": tlsutil.make_cert(d, "hook", "localhost", 0x33, local),
            "stranger": tlsutil.make_cert(d, "stranger", "localhost", 0x44, local, ca="other")}


def _tls_node(wd, name, pki, cert):
    rtmps, https = weirtest.free_ports(2)
    n = Node(wd / name, {
        "tls": {"cert": pki[cert][0], "key": pki[cert][1], "ca": pki["ca"]},
        "rtmps": {"listen": "127.0.0.1:%d" % rtmps},
        "https": {"listen": "127.0.0.1:%d" % https},
        "relay": {"connect_timeout_ms": 3000},
    }, name=name)
    n.rtmps_port, n.https_port = rtmps, https
    return n


@pytest.fixture(scope="module")
def chain(tmp_path_factory, pki, clip):
    """origin (live/cam published) and edge, both with TLS listeners and
    tls.ca the test CA."""
    wd = tmp_path_factory.mktemp("tlsc")
    origin, edge = _tls_node(wd, "origin", pki, "origin"), _tls_node(wd, "edge", pki, "edge")
    procs = Procs(wd)
    started = []
    try:
        for n in (origin, edge):
            n.start()
            started.append(n)
        ru.publish(procs, origin, clip, NAME)
        weirtest.wait_live(origin, APP, NAME)
        yield origin, edge
    finally:
        procs.stop_all()
        for n in started:
            n.stop_and_check()


def _play_check(node, app, name, tmp_path):
    out = tmp_path / ("%s-%s.flv" % (app, name))
    r = weirtest.pull(node.rtmp_url(app, name), out, 2, timeout=30)
    assert r.returncode == 0, r.stderr
    assert set(weirtest.probe_streams(out)) >= {"video", "audio"}


def test_pull_over_rtmps_and_https(chain, tmp_path):
    """Pulls verified against tls.ca (rtmps:// by IP, https:// by name), and
    plays at the edge."""
    origin, edge = chain
    api = ru.api_of(edge)
    urls = {"rtmps": "rtmps://127.0.0.1:%d/%s/%s" % (origin.rtmps_port, APP, NAME),
            "hflv": "https://localhost:%d/%s/%s.flv" % (origin.https_port, APP, NAME)}
    for app, url in urls.items():
        rel = ru.create_relay(api, ru.relay_body("pull", [url], name=NAME, app=app,
                                                 mode="always"))
        assert rel["tls_verify"] is True and rel["tls_ca"] is None, rel
        ru.wait_active(api, rel["id"], timeout=20, diag=[edge, origin])
        _play_check(edge, app, NAME, tmp_path)
    # The origin serves both links over TLS (other Weir nodes' links: role relay).
    sess = ru.api_of(origin).get("/api/v1/sessions", params={"role": "relay"}).json()
    tls = {s["protocol"] for s in sess["sessions"] if s["tls"]}
    assert {"rtmp", "http-flv"} <= tls, sess


def test_push_to_rtmps(chain, tmp_path):
    origin, edge = chain
    api = ru.api_of(origin)
    url = "rtmps://localhost:%d/pushed/%s" % (edge.rtmps_port, NAME)
    rel = ru.create_relay(api, ru.relay_body("push", [url], name=NAME, tls_ca=None))
    ru.wait_active(api, rel["id"], timeout=20, diag=[origin, edge])
    _play_check(edge, "pushed", NAME, tmp_path)
    sess = ru.api_of(edge).get("/api/v1/sessions", params={"role": "relay"}).json()
    assert any(s["app"] == "pushed" and s["tls"] for s in sess["sessions"]), sess


def test_wrong_ca_fails_with_tls_verify(chain, pki, tmp_path):
    """A relay's own tls_ca that did not sign the origin's certificate: the
    link fails as tls_verify (event and relay state), retried, never up;
    tls_verify: false then lets the same URL through."""
    origin, edge = chain
    api = ru.api_of(edge)
    url = "rtmps://127.0.0.1:%d/%s/%s" % (origin.rtmps_port, APP, NAME)
    rel = ru.create_relay(api, ru.relay_body("pull", [url], name=NAME, app="wrongca",
                                             mode="always", tls_ca=pki["other_ca"]))
    rid = rel["id"]
    assert rel["tls_ca"] == pki["other_ca"], rel
    fails = ru.wait_event(api, "relay.fail", relay_id=rid, diag=[edge])
    assert fails[0]["reason"] == "tls_verify", fails
    assert "certificate verify failed" in fails[0]["message"], fails
    st = ru.wait_relay(api, rid, lambda r: r["last_error"] == "tls_verify", "last_error",
                       diag=[edge])
    assert st["status"] != "active", st
    assert "certificate verify failed" in st["last_error_message"], st
    r = api.patch("/api/v1/relays/%s" % rid, json={"tls_verify": False})
    assert r.status_code == 200, r.text
    assert r.json()["tls_verify"] is False
    ru.wait_active(api, rid, timeout=20, diag=[edge])
    _play_check(edge, "wrongca", NAME, tmp_path)


def test_tls_to_plaintext_port_fails_with_tls_handshake(chain):
    origin, edge = chain
    api = ru.api_of(edge)
    url = "rtmps://127.0.0.1:%d/%s/%s" % (origin.rtmp_port, APP, NAME)
    rel = ru.create_relay(api, ru.relay_body("pull", [url], name=NAME, app="plain",
                                             mode="always"))
    fails = ru.wait_event(api, "relay.fail", relay_id=rel["id"], timeout=20, diag=[edge])
    assert fails[0]["reason"] == "tls_handshake", fails
    assert edge.alive() and origin.alive()


def test_bad_tls_fields_refused(chain):
    api = ru.api_of(chain[1])
    r = api.post("/api/v1/relays", json=ru.relay_body("pull", ["rtmps://h/a/b"], name="b",
                                                      mode="always", tls_verify="no"))
    ru.assert_error(r, 400, "invalid_field", "tls_verify")
    r = api.post("/api/v1/relays", json=ru.relay_body("pull", ["rtmps://h/a/b"], name="b",
                                                      mode="always", tls_ca=""))
    ru.assert_error(r, 400, "invalid_field", "tls_ca")


def test_webhooks_over_https(chain, pki):
    """A hook to an HTTPS receiver signed by tls.ca gets signed deliveries; a
    receiver with a certificate from another CA gets none, and the hook's
    last_error names tls_verify."""
    origin = chain[0]
    api = ru.api_of(origin)
    with HookReceiver(tls=pki["hook"]) as good, HookReceiver(tls=pki["stranger"]) as bad:
        assert good.url.startswith("https://127.0.0.1:"), good.url
        ids = []
        for rx in (good, bad):
            r = api.post("/api/v1/hooks", json={"url": rx.url, "events": ["play.start"],
                                                "secret": "s3cret", "timeout_ms": 3000})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        weirtest.wait_live(origin, APP, NAME)  # a player: play.start
        rec = good.wait_for("play.start", timeout=20)
        assert good.verify_signature(rec, "s3cret"), rec["headers"]
        assert not good.verify_signature(rec, "other")
        hook = ru.wait_for("hook %s last_error" % ids[1],
                           lambda: (lambda h: h if (h.get("last_error") or "") else None)(
                               api.get("/api/v1/hooks/%s" % ids[1]).json()),
                           timeout=20, diag=[origin])
        assert hook["last_error"].startswith("tls_verify: certificate verify failed"), hook
        assert not bad.received(), "delivered despite an untrusted certificate"
        for hid in ids:
            assert api.delete("/api/v1/hooks/%s" % hid).status_code == 204


def _hook_error(api, hid, origin):
    return ru.wait_for("hook %s last_error" % hid,
                       lambda: (lambda h: h if (h.get("last_error") or "") else None)(
                           api.get("/api/v1/hooks/%s" % hid).json()),
                       timeout=20, diag=[origin])


def test_webhook_per_hook_tls_verify_and_ca(chain, pki):
    """Receivers whose certificate comes from a CA the node's tls.ca is not:
    a hook with that CA as its own tls_ca gets signed deliveries, one with
    tls_verify false gets them too, the same hook without either fails with
    tls_verify. The API shows both fields."""
    origin = chain[0]
    api = ru.api_of(origin)
    with HookReceiver(tls=pki["stranger"]) as with_ca, \
            HookReceiver(tls=pki["stranger"]) as no_verify, \
            HookReceiver(tls=pki["stranger"]) as plain:
        extra = ({"tls_ca": pki["other_ca"]}, {"tls_verify": False}, {})
        ids = []
        for rx, x in zip((with_ca, no_verify, plain), extra):
            body = dict({"url": rx.url, "events": ["play.start"], "secret": "s3cret",
                         "timeout_ms": 3000}, **x)
            r = api.post("/api/v1/hooks", json=body)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        shown = api.get("/api/v1/hooks/%s" % ids[0]).json()
        assert shown["tls_ca"] == pki["other_ca"] and shown["tls_verify"] is True, shown
        shown = api.get("/api/v1/hooks/%s" % ids[1]).json()
        assert shown["tls_ca"] is None and shown["tls_verify"] is False, shown
        weirtest.wait_live(origin, APP, NAME)  # a player: play.start
        for rx in (with_ca, no_verify):
            rec = rx.wait_for("play.start", timeout=20)
            assert rx.verify_signature(rec, "s3cret"), rec["headers"]
        hook = _hook_error(api, ids[2], origin)
        assert hook["last_error"].startswith("tls_verify: certificate verify failed"), hook
        assert not plain.received(), "delivered despite an untrusted certificate"
        for hid in ids:
            assert api.delete("/api/v1/hooks/%s" % hid).status_code == 204


def _set_tls_ca(node, ca):
    node.config["tls"]["ca"] = ca
    with open(node.config_path, "w") as f:
        json.dump(node.config, f, indent=2)
    node.send_signal(signal.SIGHUP)


def test_sighup_applies_a_changed_tls_ca(chain, pki):
    """tls.ca changed in the config file applies at SIGHUP to the deliveries
    to come (logged, a config.change event); a CA file that does not load is
    refused with the running one kept."""
    origin = chain[0]
    api = ru.api_of(origin)
    with HookReceiver(tls=pki["stranger"]) as rx:
        r = api.post("/api/v1/hooks", json={"url": rx.url, "events": ["play.start"],
                                            "timeout_ms": 3000})
        assert r.status_code == 201, r.text
        hid = r.json()["id"]
        try:
            weirtest.wait_live(origin, APP, NAME)
            hook = _hook_error(api, hid, origin)
            assert hook["last_error"].startswith("tls_verify:"), hook
            missing = os.path.join(os.path.dirname(pki["ca"]), "missing-ca.pem")
            _set_tls_ca(origin, missing)
            ru.wait_for("tls.ca refused", lambda: "SIGHUP: tls.ca not changed: tls.ca: cannot "
                        "load %s" % missing in origin.log_text(), timeout=10, diag=[origin])
            assert "tls.ca changed" not in origin.log_text()  # no "needs a restart" either
            _set_tls_ca(origin, pki["other_ca"])
            ru.wait_for("tls.ca applied", lambda: "SIGHUP: tls.ca %s (was %s)" % (
                pki["other_ca"], pki["ca"]) in origin.log_text(), timeout=10, diag=[origin])
            # The failed delivery's retry (or a new one) verifies against the new CA.
            weirtest.wait_live(origin, APP, NAME)
            rx.wait_for("play.start", timeout=30)
            ev = api.get("/api/v1/events", params={"type": "config.change"}).json()
            assert any(e["key"] == "tls.ca" and e["value"] == pki["other_ca"] and
                       e["by"] == "sighup" for e in ev["events"]), ev
        finally:
            _set_tls_ca(origin, pki["ca"])
            ru.wait_for("tls.ca restored", lambda: "SIGHUP: tls.ca %s (was %s)" % (
                pki["ca"], pki["other_ca"]) in origin.log_text(), timeout=10, diag=[origin])
            assert api.delete("/api/v1/hooks/%s" % hid).status_code == 204


def _pull_tool(url, *opts):
    return weirtest.run([weirtest.tool("weir-pull"), "--timeout", "15000", "--frames", "10"]
                        + list(opts) + [url], timeout=40)


def test_tools_over_rtmps_and_https(chain, pki, clip):
    """weir-pull over rtmps:// and https:// with --ca (and --insecure); no CA:
    exit 3 naming the certificate; weir-push to an rtmps:// listener."""
    origin, edge = chain
    rtmps = "rtmps://127.0.0.1:%d/%s/%s" % (origin.rtmps_port, APP, NAME)
    https = "https://localhost:%d/%s/%s.flv" % (origin.https_port, APP, NAME)
    for url in (rtmps, https):
        r = _pull_tool(url, "--ca", pki["ca"])
        assert r.returncode == 0, (url, r.stderr)
        summary = json.loads(r.stdout.strip().splitlines()[-1])
        assert summary["frames"] == 10 and summary["first_frame_key"] is True, summary
        r = _pull_tool(url)
        assert r.returncode == 3, (url, r.returncode, r.stderr)
        assert "certificate verify failed" in r.stderr, r.stderr
    r = _pull_tool(rtmps, "--insecure")
    assert r.returncode == 0, r.stderr
    r = _pull_tool(rtmps, "--ca", "/nonexistent.pem")
    assert r.returncode == 2 and "--ca" in r.stderr, r.stderr
    push = "rtmps://localhost:%d/toolpush/%s" % (edge.rtmps_port, NAME)
    p = subprocess.Popen([weirtest.tool("weir-push"), "--ca", pki["ca"], "--loop", str(clip.path),
                          push], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        r = _pull_tool(edge.rtmp_url("toolpush", NAME))
        assert r.returncode == 0, r.stderr
    finally:
        p.terminate()
        _, err = p.communicate(timeout=20)
    assert p.returncode == 0, err


def _bench(*args):
    r = weirtest.run([weirtest.tool("weir-bench"), "--quiet"] + list(args), timeout=60)
    return r, json.loads(r.stdout.strip().splitlines()[-1])


def test_bench_over_tls(chain, pki, clip):
    """weir-bench publishes over rtmps:// and plays over https:// (--ca);
    without the CA every player fails as handshake."""
    origin, edge = chain
    r, rep = _bench("--ca", pki["ca"], "--publish", str(clip.path), "--publish-url",
                    "rtmps://127.0.0.1:%d/bench/%s" % (edge.rtmps_port, NAME), "--players", "4",
                    "--url", "https://localhost:%d/bench/%s.flv" % (edge.https_port, NAME),
                    "--duration", "1", "--warmup", "1")
    assert r.returncode == 0, r.stderr
    assert rep["protocol"] == "http-flv" and rep["errors"] == {}, rep
    assert rep["receiving"] == 4 and rep["keyframe_starts"]["ok"] == 4, rep
    assert rep["publisher"]["messages"] > 0, rep
    r, rep = _bench("--players", "3", "--duration", "0.5", "--url",
                    "https://localhost:%d/%s/%s.flv" % (origin.https_port, APP, NAME))
    assert r.returncode == 0, r.stderr
    assert rep["errors"] == {"handshake": 3}, rep
    assert "certificate verify failed" in rep["error_examples"]["handshake"], rep


class _TlsReader(ru._SocketReader):
    """An HTTPS-FLV player on a verified ssl socket, read in a thread
    (relayutil's reader): counts bytes; closed_at is set if it ends."""

    def __init__(self, port, path, ctx):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.serial = int(sock.getpeercert()["serialNumber"], 16)
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path.encode())
        self.bytes = 0
        self._start(port, None, "https player", 10, sock=sock)

    def _feed(self, b, now):
        self.bytes += len(b)

    def close(self):
        self.stopping = True  # the thread ends before the TLS socket closes
        self.thread.join(5)
        self.sock.close()


def _serial_of(port, ctx):
    """The serial of the certificate a new verified handshake gets."""
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                         server_hostname="localhost") as s:
        return int(s.getpeercert()["serialNumber"], 16)


RELOAD_PLAYERS = 50  # as the issue asks


def test_reload_under_live_tls_players(chain, pki, tmp_path):
    """Certificate reload with RELOAD_PLAYERS HTTPS players on: none is
    disconnected and each keeps receiving; a new handshake sees the new
    serial. (Runs last: the origin keeps the new certificate.)"""
    origin = chain[0]
    ctx = ssl.create_default_context(cafile=pki["ca"])
    path = "/%s/%s.flv" % (APP, NAME)
    readers = [_TlsReader(origin.https_port, path, ctx) for _ in range(RELOAD_PLAYERS)]
    try:
        assert {r.serial for r in readers} == {0x11}
        ru.wait_for("every player receiving", lambda: all(r.bytes > 20000 for r in readers),
                    timeout=20, diag=[origin])
        cert, key = tlsutil.make_cert(os.path.dirname(pki["ca"]), "origin2", "localhost", 0x55,
                                      ["DNS:localhost", "IP:127.0.0.1"])
        shutil.copy(cert, pki["origin"][0])
        shutil.copy(key, pki["origin"][1])
        r = ru.api_of(origin).post("/api/v1/node/reload-certs")
        assert r.status_code == 200, r.text
        assert _serial_of(origin.https_port, ctx) == 0x55
        before = [r.bytes for r in readers]
        ru.wait_for("every player still receiving after the reload",
                    lambda: all(r.bytes > b + 20000 for r, b in zip(readers, before)),
                    timeout=20, diag=[origin])
        assert [r.closed_at for r in readers] == [None] * RELOAD_PLAYERS
    finally:
        for r in readers:
            r.close()
