"""TLS listeners (node/core/tls.c, conn_tls.c) against a real node with real
clients: ffmpeg publishes and plays over rtmps:// and plays HTTP-FLV over
https://, WebSocket-FLV over wss://, curl checks the chain against the test's own CA and ALPN,
openssl s_client checks SNI selection and that TLS 1.1 is refused; the
certificate reload under live TLS players (none dropped, new handshakes
see the new serial), an invalid new certificate refused with the old one
kept, plaintext on a TLS port and TLS on a plaintext port refused, the
handshake timeout and bound. The CA and certificates are made here with
openssl req / openssl x509 (EC P-256: fast)."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

import tlsutil
import weirtest
from apischema import Api
from weirtest import Node, Procs, publish_cmd, pull_cmd

APP, NAME = "live", "cam"
SNI_HOST = "media.example.test"
SERIAL_A, SERIAL_B, SERIAL_C, SERIAL_SNI = 0xA1, 0xB2, 0xC3, 0x5E1
HS_TIMEOUT_MS, MAX_HS = 1000, 6


_openssl = tlsutil.openssl
_make_cert = tlsutil.make_cert


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    tlsutil.make_ca(d)
    local = ["DNS:localhost", "IP:127.0.0.1"]
    certs = {k: _make_cert(d, k, "localhost", s, local)
             for k, s in (("a", SERIAL_A), ("b", SERIAL_B), ("c", SERIAL_C))}
    certs["sni"] = _make_cert(d, "sni", SNI_HOST, SERIAL_SNI, ["DNS:" + SNI_HOST])
    # The node's configured paths; the test replaces their contents.
    for src, dst in ((certs["a"][0], "cert.pem"), (certs["a"][1], "key.pem")):
        shutil.copy(src, os.path.join(d, dst))
    return {"dir": d, "ca": os.path.join(d, "ca.pem"), "certs": certs,
            "cert": os.path.join(d, "cert.pem"), "key": os.path.join(d, "key.pem")}


@pytest.fixture(scope="module")
def live(tmp_path_factory, pki, clip):
    """A node with rtmps.listen and https.listen, live/cam published over rtmps://."""
    wd = tmp_path_factory.mktemp("tls")
    rtmps_port, https_port = weirtest.free_ports(2)
    n = Node(wd / "node", {
        "tls": {"cert": pki["cert"], "key": pki["key"],
                "sni": [{"host": SNI_HOST, "cert": pki["certs"]["sni"][0],
                         "key": pki["certs"]["sni"][1]}],
                "handshake_timeout_ms": HS_TIMEOUT_MS, "max_handshakes": MAX_HS},
        "rtmps": {"listen": "127.0.0.1:%d" % rtmps_port},
        "https": {"listen": "127.0.0.1:%d" % https_port},
    })
    n.rtmps_port, n.https_port = rtmps_port, https_port
    n.rtmps_url = "rtmps://127.0.0.1:%d/%s/%s" % (rtmps_port, APP, NAME)
    n.https_url = "https://localhost:%d/%s/%s.flv" % (https_port, APP, NAME)
    procs = Procs(wd)
    n.start()
    try:
        procs.spawn(publish_cmd(clip.path, n.rtmps_url, loop=True), "publisher")
        weirtest.wait_live(n, APP, NAME)
        yield n
    finally:
        procs.stop_all()
        n.stop_and_check()


def _metric(api, line_prefix):
    for line in api.get("/metrics").text.splitlines():
        if line.startswith(line_prefix + " "):
            return int(line.split()[-1])
    raise AssertionError("no metric %s" % line_prefix)


def _served_serial(port, servername=None, extra=()):
    """The serial (int) of the certificate the node serves, or None when the
    handshake fails."""
    args = ["s_client", "-connect", "127.0.0.1:%d" % port] + list(extra)
    if servername:
        args += ["-servername", servername]
    r = _openssl(*args, stdin=b"")
    if b"BEGIN CERTIFICATE" not in r.stdout:
        return None
    x = _openssl("x509", "-noout", "-serial", stdin=r.stdout)
    m = re.search(rb"serial=([0-9A-F]+)", x.stdout)
    return int(m.group(1), 16) if m else None


def _check_flv(path):
    res = weirtest.run([weirtest.require_tool("ffmpeg"), "-v", "error", "-i", str(path), "-f",
                        "null", "-"])
    assert res.returncode == 0 and res.stderr.strip() == "", res.stderr
    assert weirtest.probe_streams(path), "no streams in %s" % path


def test_ffmpeg_plays_rtmps_and_https(live, tmp_path):
    for url, out in ((live.rtmps_url, tmp_path / "rtmps.flv"),
                     (live.https_url, tmp_path / "https.flv")):
        r = weirtest.pull(url, out, 2, timeout=20)
        assert r.returncode == 0, (url, r.stderr)
        _check_flv(out)


def test_curl_verifies_and_alpn(live, pki, tmp_path):
    out = tmp_path / "curl.flv"
    r = weirtest.run([weirtest.require_tool("curl"), "-sS", "-v", "--cacert", pki["ca"],
                      "--max-time", "2", "-o", str(out), live.https_url], timeout=10)
    # 28: the live body was still coming when --max-time ended it
    assert r.returncode == 28, r.stderr
    assert re.search(r"ALPN.*accepted.*http/1\.1", r.stderr), r.stderr
    assert "SSL certificate verify ok" in r.stderr, r.stderr
    data = out.read_bytes()
    assert data[:3] == b"FLV" and len(data) > 20000, data[:16]
    # Without the CA the same URL is refused by curl (the chain is the test's own).
    r = weirtest.run([weirtest.require_tool("curl"), "-sS", "--max-time", "2", "-o",
                      os.devnull, live.https_url], timeout=10)
    assert r.returncode == 60, r.stderr


def test_wss_plays(live, pki):
    """WebSocket-FLV as wss:// on the HTTPS port: the upgrade, then FLV tags
    in binary frames, listed as ws-flv with tls."""
    import ssl
    from wsclient import OP_BINARY, WsClient
    ws = WsClient(live.https_port, "/%s/%s.flv" % (APP, NAME),
                  tls=ssl.create_default_context(cafile=pki["ca"]))
    try:
        assert ws.status == 101, (ws.status, ws.headers)
        kinds = set()
        for _ in range(40):
            fin, op, payload = ws.recv_frame()
            if op == OP_BINARY and payload[:3] != b"FLV":
                kinds.add(payload[0] & 0x1f)
        assert {8, 9} <= kinds, kinds
        sess = Api(live.api_url).get("/api/v1/sessions", params={"protocol": "ws-flv"}).json()
        assert [s["tls"] for s in sess["sessions"]] == [True], sess
    finally:
        ws.sock.close()


def test_sessions_show_tls(live, tmp_path):
    api = Api(live.api_url)
    p = Procs(tmp_path)
    try:
        p.spawn(pull_cmd(live.https_url, tmp_path / "p.flv", seconds=5), "player")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            sess = api.get("/api/v1/sessions").json()["sessions"]
            tls = {(s["role"], s["protocol"]) for s in sess if s["tls"]}
            if ("player", "http-flv") in tls:
                break
            time.sleep(0.2)
        assert ("publisher", "rtmp") in tls and ("player", "http-flv") in tls, sess
        assert all(not s["tls"] for s in sess if s["role"] == "connecting"), sess
        assert _metric(api, 'weir_tls_sessions{protocol="http-flv"}') >= 1
        assert _metric(api, "weir_tls_handshakes_total") >= 2
        listen = api.get("/api/v1/node").json()["listen"]
        assert listen["rtmps"] == "127.0.0.1:%d" % live.rtmps_port, listen
        assert listen["https"] == "127.0.0.1:%d" % live.https_port, listen
    finally:
        p.stop_all()


def test_sni_selects_certificate(live):
    assert _served_serial(live.https_port, SNI_HOST) == SERIAL_SNI
    assert _served_serial(live.rtmps_port, SNI_HOST.upper()) == SERIAL_SNI
    assert _served_serial(live.https_port, "other.example.test") in (SERIAL_A, SERIAL_B,
                                                                      SERIAL_C)
    assert _served_serial(live.https_port) in (SERIAL_A, SERIAL_B, SERIAL_C)


def test_tls11_refused(live):
    api = Api(live.api_url)
    before = _metric(api, 'weir_tls_handshake_failures_total{reason="version"}')
    # SECLEVEL=0 so that the client itself offers TLS 1.1: the node must refuse it.
    assert _served_serial(live.https_port, extra=["-tls1_1", "-cipher",
                                                  "DEFAULT@SECLEVEL=0"]) is None
    assert _served_serial(live.https_port, extra=["-tls1_2"]) is not None
    deadline = time.monotonic() + 3
    while _metric(api, 'weir_tls_handshake_failures_total{reason="version"}') == before:
        assert time.monotonic() < deadline, "TLS 1.1 refusal not counted"
        time.sleep(0.1)


def _refused_quickly(port, payload, timeout=3.0):
    """Sends payload on a new connection; the node must close it within
    timeout. Returns what came back (never an HTTP or RTMP answer)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        s.sendall(payload)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
        else:
            pytest.fail("port %d did not close the connection" % port)
    except socket.timeout:
        pytest.fail("port %d did not close the connection within %.1fs" % (port, timeout))
    finally:
        s.close()
    return got


def test_plaintext_on_tls_port_refused(live):
    api = Api(live.api_url)
    before = _metric(api, 'weir_tls_handshake_failures_total{reason="not_tls"}')
    got = _refused_quickly(live.https_port, b"GET /live/cam.flv HTTP/1.1\r\nHost: x\r\n\r\n")
    assert not got.startswith(b"HTTP"), got[:64]
    got = _refused_quickly(live.rtmps_port, b"\x03" + b"\x00" * 1536)
    assert len(got) < 1537, "an RTMP handshake answered in plaintext"
    assert _metric(api, 'weir_tls_handshake_failures_total{reason="not_tls"}') >= before + 2
    # A plaintext player over ffmpeg fails too, and the node goes on.
    r = weirtest.run(pull_cmd("rtmp://127.0.0.1:%d/%s/%s" % (live.rtmps_port, APP, NAME),
                              os.devnull, seconds=1, rw_timeout_s=3), timeout=15)
    assert r.returncode != 0
    assert live.alive()


def test_tls_on_plaintext_port_refused(live):
    for port in (live.http_port, live.rtmp_port):
        t0 = time.monotonic()
        assert _served_serial(port) is None
        assert time.monotonic() - t0 < 5
    assert live.alive()
    assert Api(live.api_url).get("/api/v1/node").status_code == 200


def test_handshake_timeout_and_bound(live):
    api = Api(live.api_url)
    t_before = _metric(api, 'weir_limit_refused_total{limit="tls_handshake_timeout"}')
    b_before = _metric(api, 'weir_limit_refused_total{limit="tls_handshakes"}')
    idle = [socket.create_connection(("127.0.0.1", live.rtmps_port)) for _ in range(MAX_HS)]
    try:
        time.sleep(0.3)
        over = socket.create_connection(("127.0.0.1", live.rtmps_port), timeout=3)
        assert over.recv(10) == b""  # closed at once: over tls.max_handshakes
        over.close()
        # each cut by the handshake timeout (an alert may come first)
        tlsutil.wait_closed(idle, HS_TIMEOUT_MS / 1000 + 2)
    finally:
        for s in idle:
            s.close()
    assert _metric(api, 'weir_limit_refused_total{limit="tls_handshakes"}') >= b_before + 1
    assert _metric(api, 'weir_limit_refused_total{limit="tls_handshake_timeout"}') >= \
        t_before + MAX_HS
    # A real client gets in again.
    assert _served_serial(live.rtmps_port) is not None


def _install(pki, which):
    cert, key = pki["certs"][which]
    shutil.copy(cert, pki["cert"])
    shutil.copy(key, pki["key"])


def _player_ids(api):
    return {s["id"] for s in api.get("/api/v1/sessions").json()["sessions"]
            if s["role"] == "player" and s["tls"]}


def test_reload_under_live_players(live, pki, tmp_path):
    api = Api(live.api_url)
    p = Procs(tmp_path)
    players = [p.spawn(pull_cmd(live.rtmps_url, tmp_path / ("r%d.flv" % i), rw_timeout_s=5),
                       "rtmps%d" % i) for i in range(2)]
    players += [p.spawn(pull_cmd(live.https_url, tmp_path / ("h%d.flv" % i), rw_timeout_s=5),
                        "https%d" % i) for i in range(2)]
    try:
        deadline = time.monotonic() + 10
        while len(_player_ids(api)) < 4:
            assert time.monotonic() < deadline, api.get("/api/v1/sessions").json()
            time.sleep(0.2)
        ids = _player_ids(api)
        old = _served_serial(live.https_port)
        new = SERIAL_B if old != SERIAL_B else SERIAL_C
        _install(pki, "b" if new == SERIAL_B else "c")
        r = api.post("/api/v1/node/reload-certs")
        assert r.status_code == 200, r.text
        assert int(r.json()["certificates"][0]["serial"], 16) == new
        assert r.json()["certificates"][1]["host"] == SNI_HOST
        assert _served_serial(live.https_port) == new
        assert _served_serial(live.rtmps_port) == new

        # An invalid certificate: refused with the reason, the running one stays.
        with open(pki["cert"], "w") as f:
            f.write("not a certificate\n")
        r = api.post("/api/v1/node/reload-certs")
        assert r.status_code == 409, r.text
        assert r.json()["error"]["message"].startswith("tls.cert: cannot load"), r.text
        # A key that does not match.
        shutil.copy(pki["certs"]["a"][0], pki["cert"])
        shutil.copy(pki["certs"]["c"][1], pki["key"])
        r = api.post("/api/v1/node/reload-certs")
        assert r.status_code == 409 and "tls.key" in r.text, r.text
        assert _served_serial(live.https_port) == new
        assert "certificates not reloaded" in live.log_text()

        # SIGHUP reloads too.
        _install(pki, "a")
        live.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while _served_serial(live.https_port) != SERIAL_A:
            assert time.monotonic() < deadline, "SIGHUP did not reload the certificate"
            time.sleep(0.2)

        time.sleep(1.0)
        assert ids <= _player_ids(api), "a player was dropped by the reload"
        for pl in players:
            assert pl.poll() is None, weirtest.proc_stderr(pl)
        assert _metric(api, 'weir_tls_cert_reloads_total{result="refused"}') >= 2
    finally:
        p.stop_all()
        _install(pki, "a")


def test_blocked_tls_player_gets_whole_tags(live, pki):
    """A TLS player that stops reading (its socket fills: the node's writes
    block mid-record and are retried from the connection's record buffer)
    and then reads again gets an intact FLV stream: every tag whole."""
    import ssl
    ctx = ssl.create_default_context(cafile=pki["ca"])
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(5)
    raw.connect(("127.0.0.1", live.https_port))
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    try:
        s.sendall(b"GET /%s/%s.flv HTTP/1.0\r\nHost: localhost\r\n\r\n" % (
            APP.encode(), NAME.encode()))
        time.sleep(2.0)  # not reading: the node's socket buffer fills and its writes block
        data = bytearray()
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            d = s.recv(65536)
            if not d:
                break
            data += d
    finally:
        s.close()
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"), head[:80]
    _, tags, _ = weirtest.parse_flv(body)
    assert len(tags) > 50, len(tags)
    assert any(t.type == 9 for t in tags) and any(t.type == 8 for t in tags)


def test_ktls_on_plays_and_counts(pki, clip, tmp_path):
    """tls.ktls: true asks OpenSSL for kernel TLS. Where the kernel takes a
    session's sending it is counted as offload="send", elsewhere (this
    project's machines: no tls module) as offload="none" with one warning;
    either way the player gets the stream, and every handshake is counted
    once."""
    (https_port,) = weirtest.free_ports(1)
    n = Node(tmp_path / "node", {
        "tls": {"cert": pki["cert"], "key": pki["key"], "ktls": True},
        "https": {"listen": "127.0.0.1:%d" % https_port},
    })
    procs = Procs(tmp_path)
    n.start()
    try:
        procs.spawn(publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "publisher")
        weirtest.wait_live(n, APP, NAME)
        for i in range(2):
            out = tmp_path / ("ktls%d.flv" % i)
            r = weirtest.pull("https://localhost:%d/%s/%s.flv" % (https_port, APP, NAME),
                              out, 2, timeout=20)
            assert r.returncode == 0, r.stderr
            _check_flv(out)
        api = Api(n.api_url)
        hs = _metric(api, "weir_tls_handshakes_total")
        sent = _metric(api, 'weir_tls_ktls_total{offload="send"}')
        none = _metric(api, 'weir_tls_ktls_total{offload="none"}')
        assert hs >= 2 and sent + none == hs, (hs, sent, none)
        with open(n.log_path) as f:  # (log_text() has stderr too, where warnings repeat)
            warned = f.read().count("tls.ktls is on but the kernel did not take")
        assert warned == (1 if none else 0), (none, warned)
        ktls_module = os.path.isdir("/sys/module/tls")
        if not ktls_module:
            assert none == hs, "no tls kernel module, yet %d sessions offloaded" % sent
    finally:
        procs.stop_all()
        n.stop_and_check()
