"""A page served over HTTPS plays the node's TLS media (issue 20), in one
headless Chromium (players.mjs): mpegts.js plays WebSocket-FLV over
`wss://` and HTTP-FLV over `https://`, hls.js plays HLS over `https://`,
all from the node's https.listen; and the same stream's plain `ws://` URL
on the node's plaintext port is blocked by the browser as mixed content,
which is why a web page needs HTTPS media at all.

The test makes its own certificate (tlsutil, EC P-256) for the names
page.test and media.test; Chromium resolves both to 127.0.0.1
(--host-resolver-rules) and trusts exactly that certificate's key
(--ignore-certificate-errors-spki-list with its SPKI hash: only that key,
not any certificate). Names rather than 127.0.0.1 because Chromium
treats loopback IP literals and localhost as potentially trustworthy and
would let http/ws to them through from an HTTPS page. The page is served
over HTTPS by players.mjs with the same certificate. One node, one browser.

Missing chromium, node or web/node_modules fail the test (never skip).
"""

import base64
import hashlib
import json

import pytest

import tlsutil
import weirtest
from test_players import check_plays, play_in_browser
from weirtest import published_nodes

APP, NAME = "live", "cam"
PAGE_HOST, MEDIA_HOST = "page.test", "media.test"
HLS = {"segment_ms": 1000, "window": 6, "idle_timeout_s": 10}


def spki_hash(key):
    """base64(sha256(SubjectPublicKeyInfo DER)) of the key's public half, as
    --ignore-certificate-errors-spki-list takes it."""
    r = tlsutil.openssl("pkey", "-in", key, "-pubout", "-outform", "DER")
    assert r.returncode == 0, r.stderr
    return base64.b64encode(hashlib.sha256(r.stdout).digest()).decode()


@pytest.fixture(scope="module")
def played(tmp_path_factory, clip):
    """One node with https.listen fed the clip; the players' records from one
    browser run of an HTTPS page."""
    d = str(tmp_path_factory.mktemp("pki"))
    tlsutil.make_ca(d)
    cert, key = tlsutil.make_cert(d, "leaf", MEDIA_HOST, 2001,
                                  ["DNS:" + MEDIA_HOST, "DNS:" + PAGE_HOST])
    https_port, = weirtest.free_ports(1)
    configs = {"tls": {"tls": {"cert": cert, "key": key}, "hls": HLS,
                       "https": {"listen": "127.0.0.1:%d" % https_port}}}
    with published_nodes(tmp_path_factory.mktemp("tlsweb"), clip.path, configs,
                         APP, NAME) as (nodes, _):
        n = nodes["tls"]
        secure = "%s:%d/%s/%s" % (MEDIA_HOST, https_port, APP, NAME)
        plain = "%s:%d/%s/%s" % (MEDIA_HOST, n.http_port, APP, NAME)
        page = {"cert": cert, "key": key, "host": PAGE_HOST}
        args = ["--host-resolver-rules=MAP %s 127.0.0.1, MAP %s 127.0.0.1"
                % (PAGE_HOST, MEDIA_HOST),
                "--ignore-certificate-errors-spki-list=" + spki_hash(key)]
        records = play_in_browser([
            {"id": "wss-flv", "lib": "mpegts", "type": "flv", "url": "wss://%s.flv" % secure},
            {"id": "https-flv", "lib": "mpegts", "type": "flv",
             "url": "https://%s.flv" % secure},
            {"id": "https-hls", "lib": "hls", "url": "https://%s.m3u8" % secure},
            {"id": "ws-mixed", "lib": "mpegts", "type": "flv", "url": "ws://%s.flv" % plain},
        ], extra={"page": page, "browser_args": args})
        yield records


@pytest.mark.parametrize("pid", ["wss-flv", "https-flv", "https-hls"])
def test_https_page_plays_tls_media(played, pid):
    r = played[pid]
    check_plays(r)
    if pid == "https-hls":
        assert r["segments_loaded"] >= 2, r


def test_plain_ws_from_https_page_is_mixed_content(played):
    """The same stream over ws:// from the HTTPS page: the browser refuses it
    (mpegts.js reports a fatal error, no frame), and says why."""
    r = played["ws-mixed"]
    assert r["fatal"], json.dumps(r, indent=1)
    assert r["first"]["frames"] == 0 and r["last"]["frames"] == 0, r
    said = " ".join(r["fatal"] + r["console"])
    # Chromium: "Mixed Content: The page at 'https://...' ... attempted to
    # connect to the insecure WebSocket endpoint 'ws://...'. This request has
    # been blocked"; the WebSocket constructor throws a SecurityError
    assert ("Mixed Content" in said or "insecure WebSocket" in said), said
