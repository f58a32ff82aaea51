"""The API and dashboard over HTTPS (api.tls: api/https.c accepts and hands
libmicrohttpd one end of a socketpair, node/core/tls_pump.c terminates TLS
with the media listeners' certificates). curl and Python's ssl check the
chain against the test's own CA; the token is still required; a plaintext
client on the port is refused and counted (not_tls); clients that never
start their handshake are bounded by tls.max_handshakes and cut at
tls.handshake_timeout_ms; a dashboard file
of 1.5 MB and a 60 KB request body cross the pump's 16 KiB buffers; a
certificate reload (the API's route, then SIGHUP) is seen by the next
handshake; out of file descriptors the listener pauses and recovers (a
node of its own); weir --check-config accepts the keys and refuses api.tls
without a certificate. One node for the rest of the file."""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import time

import pytest

import tlsutil
import weirtest
from apischema import Api
from weirtest import Node

TOKEN = "api-tls-token-0123456789abcdef"
SERIAL_A, SERIAL_B, SERIAL_C = 0xA1, 0xB2, 0xC3
HS_TIMEOUT_MS, MAX_HS = 1000, 3
BIG = "big-5XQ2M7KD.js"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    tlsutil.make_ca(d)
    local = ["DNS:localhost", "IP:127.0.0.1"]
    certs = {k: tlsutil.make_cert(d, k, "localhost", s, local)
             for k, s in (("a", SERIAL_A), ("b", SERIAL_B), ("c", SERIAL_C))}
    p = {"dir": d, "ca": os.path.join(d, "ca.pem"), "certs": certs,
         "cert": os.path.join(d, "cert.pem"), "key": os.path.join(d, "key.pem")}
    _install(p, "a")
    return p


def _install(pki, which):
    shutil.copy(pki["certs"][which][0], pki["cert"])
    shutil.copy(pki["certs"][which][1], pki["key"])


@pytest.fixture(scope="module")
def node(tmp_path_factory, pki):
    wd = tmp_path_factory.mktemp("apitls")
    root = wd / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>Weir</title>"
                                     "<script type=module src=/assets/%s></script>" % BIG)
    # 1.5 MB that does not compress to nothing: many pump buffers each way
    line = "".join("%08x" % (i * 2654435761 % 2**32) for i in range(16))
    (root / "assets" / BIG).write_text("\n".join(line + str(i) for i in range(11000)))
    n = Node(wd / "node", {
        "tls": {"cert": pki["cert"], "key": pki["key"], "handshake_timeout_ms": HS_TIMEOUT_MS,
                "max_handshakes": MAX_HS},
        "api": {"tls": True, "token": TOKEN, "web_root": str(root)},
    })
    n.big = (root / "assets" / BIG).read_bytes()
    n.base = "https://localhost:%d" % n.api_port
    n.start()
    try:
        yield n
    finally:
        n.stop_and_check()


class TlsApi(Api):
    """Api (every answer checked against openapi.yaml) trusting the test's CA."""

    def __init__(self, base_url, ca, token=None):
        super().__init__(base_url, token=token)
        self.ca = ca

    def request(self, method, path, **kw):
        kw.setdefault("verify", self.ca)
        return super().request(method, path, **kw)


def _curl(*args, timeout=15):
    return weirtest.run([weirtest.require_tool("curl"), "-sS"] + list(args), timeout=timeout)


def _metric(api, name):
    for line in api.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[-1])
    raise AssertionError("no metric %s" % name)


def _served_serial(port):
    """The serial of the certificate a new handshake on port gets, or None."""
    r = tlsutil.openssl("s_client", "-connect", "127.0.0.1:%d" % port, stdin=b"")
    if b"BEGIN CERTIFICATE" not in r.stdout:
        return None
    x = tlsutil.openssl("x509", "-noout", "-serial", stdin=r.stdout)
    m = re.search(rb"serial=([0-9A-F]+)", x.stdout)
    return int(m.group(1), 16) if m else None


def _wait(cond, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_curl_verifies_and_the_token_is_required(node, pki):
    url = node.base + "/api/v1/version"
    r = _curl("-v", "--cacert", pki["ca"], "-H", "Authorization: Bearer " + TOKEN, url)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["api_version"], r.stdout
    assert "SSL certificate verify ok" in r.stderr, r.stderr
    assert re.search(r"ALPN.*accepted.*http/1\.1", r.stderr), r.stderr
    # Without the token: 401, over TLS as over plaintext.
    r = _curl("--cacert", pki["ca"], "-o", os.devnull, "-w", "%{http_code}", url)
    assert r.returncode == 0 and r.stdout == "401", (r.stdout, r.stderr)
    # Without the test's CA curl refuses the chain (60).
    r = _curl("-o", os.devnull, url)
    assert r.returncode == 60, r.stderr
    api = TlsApi(node.base, pki["ca"], TOKEN)
    info = api.get("/api/v1/node").json()
    assert info["listen"]["api"] == "127.0.0.1:%d" % node.api_port
    assert TlsApi(node.base, pki["ca"]).get("/api/v1/node").status_code == 401


def test_dashboard_and_large_bodies_cross_the_pump(node, pki):
    anon = TlsApi(node.base, pki["ca"])
    r = anon.get("/")
    assert r.status_code == 200 and BIG in r.text, r.text[:200]
    csp = r.headers["Content-Security-Policy"]
    assert "https:" in csp and "wss:" in csp, csp
    r = anon.get("/assets/" + BIG, headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    assert len(r.content) > 1_000_000 and r.content == node.big
    # A request body of 60 KB (over the pump's 16 KiB buffer) reaches the
    # handler whole: refused for its unknown field, by name.
    api = TlsApi(node.base, pki["ca"], TOKEN)
    body = json.dumps({"x_unknown": "a" * 60000})
    r = api.patch("/api/v1/node", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "x_unknown" in r.json()["error"]["message"], r.text


def test_plaintext_client_is_refused(node, pki):
    api = TlsApi(node.base, pki["ca"], TOKEN)
    before = _metric(api, 'weir_tls_handshake_failures_total{reason="not_tls"}')
    with socket.create_connection(("127.0.0.1", node.api_port), timeout=10) as s:
        s.sendall(b"GET /api/v1/version HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
    assert b"HTTP/" not in data, data[:200]  # no plaintext answer: closed
    r = _curl("--max-time", "10", "http://127.0.0.1:%d/api/v1/version" % node.api_port)
    assert r.returncode in (52, 56), (r.returncode, r.stderr)
    _wait(lambda: _metric(api, 'weir_tls_handshake_failures_total{reason="not_tls"}')
          >= before + 2, "plaintext clients not counted as not_tls")
    assert re.search(r"api: TLS handshake with 127\.0\.0\.1:\d+ failed \(not_tls\)",
                     node.log_text())
    assert api.get("/healthz").status_code == 200


def test_silent_clients_are_bounded_and_cut_at_the_handshake_timeout(node, pki):
    """tls.max_handshakes silent clients hold every handshake slot: one more
    is closed at accept (tls_handshakes); each silent one is cut at
    tls.handshake_timeout_ms (timeout), and a real client gets in again."""
    api = TlsApi(node.base, pki["ca"], TOKEN)
    before = _metric(api, 'weir_tls_handshake_failures_total{reason="timeout"}')
    refused = _metric(api, 'weir_limit_refused_total{limit="tls_handshakes"}')
    t0 = time.monotonic()
    idle = [socket.create_connection(("127.0.0.1", node.api_port)) for _ in range(MAX_HS)]
    try:
        # The API cannot be asked meanwhile (every handshake slot is taken);
        # the node accepts in connection order, so this one comes after them.
        over = socket.create_connection(("127.0.0.1", node.api_port), timeout=10)
        try:
            assert over.recv(10) == b""  # closed at once: over tls.max_handshakes
        except ConnectionResetError:
            pass
        over.close()
        tlsutil.wait_closed(idle, HS_TIMEOUT_MS / 100)
    finally:
        for s in idle:
            s.close()
    assert time.monotonic() - t0 >= HS_TIMEOUT_MS / 1000 * 0.9
    assert _metric(api, 'weir_limit_refused_total{limit="tls_handshakes"}') == refused + 1
    assert _metric(api, 'weir_tls_handshake_failures_total{reason="timeout"}') == before + MAX_HS
    assert _metric(api, "weir_tls_handshakes_in_progress") == 0


def test_out_of_fds_pauses_the_listener_and_recovers(tmp_path, pki):
    """The API's TLS listener on a node limited to 64 fds: silent clients
    from 5 addresses (16 each, the per-address limit) take every fd, so
    accept() fails with EMFILE: the listener pauses as the media listeners
    do (node_accept_failed(): a line naming the error, the pending clients
    closed rather than left hanging); once the clients go, a client gets
    the API again."""
    n = Node(tmp_path / "node", {
        "tls": {"cert": pki["cert"], "key": pki["key"], "handshake_timeout_ms": 60000,
                "max_handshakes": 1000},
        "api": {"tls": True, "token": TOKEN},
    }, nofile=64)
    n.start()
    socks = []
    try:
        for i in range(5):
            for _ in range(16):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind(("127.0.0.%d" % (60 + i), 0))
                s.settimeout(10)
                s.connect(("127.0.0.1", n.api_port))
                socks.append(s)
        _wait(lambda: "api: accept failed: Too many open files" in n.log_text(),
              "no accept failure logged", timeout=15)
        # the pending clients were taken and closed: some of the 80 see the end
        def closed(s):
            try:
                s.setblocking(False)
                return s.recv(1) == b""
            except BlockingIOError:
                return False
            except OSError:
                return True
        _wait(lambda: sum(1 for s in socks if closed(s)) > 0, "no pending client closed")
        assert n.alive()
    finally:
        for s in socks:
            s.close()
    url = "https://localhost:%d/api/v1/version" % n.api_port
    r = None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        r = _curl("--cacert", pki["ca"], "-H", "Authorization: Bearer " + TOKEN, url)
        if r.returncode == 0:
            break
        time.sleep(0.2)
    assert r.returncode == 0 and json.loads(r.stdout)["api_version"], (r.stdout, r.stderr)
    lines = n.log_text().count("api: accept failed")
    assert 1 <= lines <= 5, lines  # one line per interval, not one per failed accept
    n.stop_and_check()


def test_certificate_reload_is_seen_by_new_handshakes(node, pki):
    api = TlsApi(node.base, pki["ca"], TOKEN)
    ctx = ssl.create_default_context(cafile=pki["ca"])
    held = ctx.wrap_socket(socket.create_connection(("127.0.0.1", node.api_port), timeout=10),
                           server_hostname="localhost")
    try:
        assert _served_serial(node.api_port) == SERIAL_A
        _install(pki, "b")
        r = api.post("/api/v1/node/reload-certs")
        assert r.status_code == 200, r.text
        assert int(r.json()["certificates"][0]["serial"], 16) == SERIAL_B
        assert _served_serial(node.api_port) == SERIAL_B
        _install(pki, "c")
        node.send_signal(signal.SIGHUP)
        _wait(lambda: _served_serial(node.api_port) == SERIAL_C, "SIGHUP did not reload")
        # The connection made before the reloads goes on with its session.
        held.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert held.recv(4096).startswith(b"HTTP/1.1 200"), "the held connection was dropped"
    finally:
        held.close()
        _install(pki, "a")


def test_check_config(tmp_path, pki):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"api": {"tls": True},
                                "tls": {"cert": pki["cert"], "key": pki["key"]}}))
    r = weirtest.run([weirtest.weir_bin(), "--check-config", str(good)], timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.stdout, r.stderr)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"api": {"tls": True}}))
    r = weirtest.run([weirtest.weir_bin(), "--check-config", str(bad)], timeout=30)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "api.tls: needs tls.cert and tls.key" in r.stderr, r.stderr
