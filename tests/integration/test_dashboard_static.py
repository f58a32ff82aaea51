"""The node serving the dashboard's files (api.web_root, api/static.c) from
memory: the routes /, /assets/{file} and /{file}, their headers, and that
no request reaches a file the node did not load at start. Every answer is
checked against openapi.yaml (apischema.Api). The page itself is tested in
a real browser by tests/web."""

import os
import socket

import pytest

import weirtest
from apischema import Api

TOKEN = "dashboard-static-token-0123456789"
ASSET = "app-5XQ2M7KD.js"      # content-hashed, as esbuild names it
PLAIN = "logo.svg"             # not hashed


@pytest.fixture
def web_root(tmp_path):
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>Weir</title>"
                                     "<script type=module src=/assets/%s></script>" % ASSET)
    (root / "assets" / ASSET).write_text("console.log('weir');\n")
    (root / "assets" / PLAIN).write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /\n")
    (root / ".hidden").write_text("not served")
    (root / "assets" / "deeper").mkdir()
    (root / "assets" / "deeper" / "x.js").write_text("not served")
    # a file next to the root that a traversal would reach
    (tmp_path / "secret.txt").write_text("must never be served")
    return root


def raw_get(port, target, timeout=5.0):
    """One GET with the target sent as is (no client-side normalisation of
    `..` or `%2e`); returns the status code."""
    with socket.create_connection((weirtest.HOST, port), timeout=timeout) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % target).encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    assert line.startswith("HTTP/1."), "no status line for %s: %r" % (target, data[:200])
    return int(line.split()[1])


def test_serves_the_loaded_files_with_security_headers(node, web_root):
    n = node(api={"web_root": str(web_root), "token": TOKEN})
    anon = Api(n.api_url)  # the dashboard's files are public: no token

    r = anon.get("/")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert ASSET in r.text
    assert r.headers["Cache-Control"] == "no-cache"  # the page names the current assets
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, csp

    r = anon.get("/assets/" + ASSET)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert r.text == "console.log('weir');\n"
    assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"

    r = anon.get("/assets/" + PLAIN)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "image/svg+xml"
    assert r.headers["Cache-Control"] == "no-cache"

    r = anon.get("/robots.txt")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"

    # the API itself still wants the token
    assert anon.get("/api/v1/node").status_code == 401
    assert Api(n.api_url, token=TOKEN).get("/api/v1/node").status_code == 200
    assert "dashboard: 4 files" in n.log_text()


def test_nothing_else_is_reachable(node, web_root):
    n = node(api={"web_root": str(web_root), "token": TOKEN})
    anon = Api(n.api_url)
    authed = Api(n.api_url, token=TOKEN)
    for path in ("/assets/nope.js", "/.hidden", "/assets/deeper", "/nope.html",
                 "/weir.json", "/weir.db"):
        # a name not loaded is an unknown path: 401 without the token, 404 with it
        assert anon.get(path).status_code == 401, path
        r = authed.get(path)
        assert r.status_code == 404, path
    # traversal, sent raw so that no client normalises it
    for target in ("/assets/../../secret.txt", "/../secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt",
                   "/assets/deeper/x.js", "/assets//" + ASSET, "/%2e%2e/secret.txt",
                   "/assets/" + ASSET + "%00.txt"):
        status = raw_get(n.api_port, target)
        assert status in (400, 401, 404), (target, status)
    # only GET
    r = anon.request("POST", "/", data=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 405
    assert "GET" in r.headers.get("Allow", "")


def test_not_built_is_503_and_off_is_404(node, tmp_path):
    missing = tmp_path / "no-such-dist"
    n = node(api={"web_root": str(missing)})
    r = Api(n.api_url).get("/")
    assert r.status_code == 503
    assert str(missing) in r.text and "npm --prefix web run build" in r.text
    assert "not found; build it with" in n.log_text()
    assert n.alive()

    off = node(api={"web_root": ""})
    r = Api(off.api_url).get("/")
    assert r.status_code == 404
    assert "dashboard: off" in off.log_text()


def test_over_the_bounds_refuses_to_start(tmp_path):
    root = tmp_path / "big"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("x")
    for i in range(300):  # over API_STATIC_MAX_FILES (256)
        (root / "assets" / ("f%03d.js" % i)).write_text("x")
    n = weirtest.Node(tmp_path / "n", {"api": {"web_root": str(root)}})
    with pytest.raises(pytest.fail.Exception):
        n.start()
    assert n.returncode not in (None, 0)
    text = n.log_text()
    assert "api.web_root" in text and "more than 256 files" in text, text[-2000:]


def test_the_default_config_names_web_dist():
    """conf/weir.json names the dashboard relative to its own folder, so a
    node started with it from any working folder serves web/dist."""
    import json
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "conf", "weir.json")) as f:
        conf = json.load(f)
    assert conf["api"]["web_root"] == "../web/dist"


def test_precompressed_copies_and_head(node, web_root):
    """<file>.gz (web/build.mjs makes one per file) is sent, with
    Content-Encoding: gzip and the original's type, to a client that takes
    gzip; the others get the original; HEAD answers the same headers without
    a body."""
    import gzip
    import requests
    body = "console.log('weir');\n"
    (web_root / "assets" / (ASSET + ".gz")).write_bytes(gzip.compress(body.encode()))
    n = node(api={"web_root": str(web_root)})
    url = n.api_url + "/assets/" + ASSET
    gz = requests.get(url, headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert gz.status_code == 200 and gz.headers.get("Content-Encoding") == "gzip", gz.headers
    assert gz.text == body  # decoded by the client
    assert gz.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert gz.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert gz.headers["Vary"] == "Accept-Encoding"
    for ae in ("identity", "gzip;q=0", "br"):
        plain = requests.get(url, headers={"Accept-Encoding": ae}, timeout=10)
        assert plain.status_code == 200 and "Content-Encoding" not in plain.headers, (ae, plain.headers)
        assert plain.text == body
    head = requests.head(url, headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Encoding"] == "gzip"
    assert int(head.headers["Content-Length"]) == len(gzip.compress(body.encode()))
    head = requests.head(n.api_url + "/", headers={"Accept-Encoding": "identity"}, timeout=10)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) > 0
