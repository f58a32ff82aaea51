"""WebSocket-FLV (RFC 6455 on the HTTP-FLV port, sess_wsflv.c) against a real
node, with a raw-socket client (wsclient.py): the upgrade and its accept
value, one FLV tag per binary frame that ffmpeg decodes to the published
frames, ping/pong both ways, the close handshake, the idle cut, a kick's
close frame, the session listing (protocol ws-flv, apischema-checked),
refusals as HTTP errors before the upgrade, and protocol errors closed
with 1002/1009."""

import hashlib
import hmac
import struct
import time

import pytest

import weirtest
from apischema import Api
from weirtest import (FLV_SCRIPT, Node, Procs, find_run, framemd5, describe_mismatch,
                      http_exchange, parse_flv, publish_cmd, wait_live)
from wsclient import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, WsClient,
                      accept_of, close_payload, frame, upgrade_request)

APP, NAME = "live", "cam"
SECURE, SECRET = "secure", "play-secret-for-ws"
PING_MS, IDLE_MS = 500, 2000


@pytest.fixture(scope="module")
def live(tmp_path_factory, clip):
    """One node (fast pings, a short idle cut, a signed-URL app) and live/cam
    published in a loop."""
    wd = tmp_path_factory.mktemp("wsflv")
    n = Node(wd / "node", {
        "http_flv": {"ws_ping_ms": PING_MS, "ws_idle_timeout_ms": IDLE_MS},
        "apps": [{"app": SECURE, "play_secret": SECRET}],
    })
    procs = Procs(wd)
    n.start()
    try:
        procs.spawn(publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "publisher")
        wait_live(n, APP, NAME)
        time.sleep(1.0)
        yield n
    finally:
        procs.stop_all()
        n.stop_and_check()


def _open(n, path="/%s/%s.flv" % (APP, NAME)):
    ws = WsClient(n.http_port, path)
    assert ws.status == 101, (ws.status, ws.headers)
    assert ws.headers.get("upgrade", "").lower() == "websocket", ws.headers
    assert "upgrade" in ws.headers.get("connection", "").lower(), ws.headers
    assert ws.headers.get("sec-websocket-accept") == accept_of(ws.key), ws.headers
    return ws


def _media(ws, seconds, pongs=True, seen=None):
    """Binary frame payloads for `seconds`, answering pings; other frames
    go to seen (a list) when given."""
    out = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        fin, op, payload = ws.recv_frame(5)
        assert fin, "fragmented server frame"
        if op == OP_BINARY:
            out.append(payload)
            continue
        if op == OP_PING and pongs:
            ws.send(frame(OP_PONG, payload))
        if seen is not None:
            seen.append((op, payload))
    return out


def _sessions(api, **params):
    r = api.get("/api/v1/sessions", params=dict(params, limit=100))
    assert r.status_code == 200, r.text
    return r.json()["sessions"]


def test_play_decodes_and_closes(live, clip, tmp_path):
    ws = _open(live)
    frames = _media(ws, 3.0)
    # The first frame is the FLV file header; every later one is one whole tag.
    assert frames[0][:3] == b"FLV" and len(frames[0]) == 13, frames[0][:16]
    for f in frames[1:]:
        size = int.from_bytes(f[1:4], "big")
        assert len(f) == 11 + size + 4, "a frame of %d bytes holds a tag of %d" % (len(f), size)
    # Our ping is answered with its payload, between media frames.
    ws.send(frame(OP_PING, b"weir?"))
    seen = []
    deadline = time.monotonic() + 3
    while (OP_PONG, b"weir?") not in seen and time.monotonic() < deadline:
        _media(ws, 0.2, seen=seen)
    assert (OP_PONG, b"weir?") in seen, seen
    # The close handshake: our code echoed, then the connection ends.
    ws.send(frame(OP_CLOSE, close_payload(1000, b"bye")))
    code, _ = ws.wait_close()
    assert code == 1000
    assert ws.wait_eof()
    ws.close()
    # What it got, checked once the connection is done (decoding takes longer
    # than the node's 2 s idle cut on a busy machine).
    data = b"".join(frames)
    flags, tags, used = parse_flv(data)
    assert used == len(data) and flags & 5 == 5
    assert tags[0].type == FLV_SCRIPT
    video = [t for t in tags if t.is_coded_video()]
    first = next(i for i, t in enumerate(tags) if t.is_coded_video())
    assert any(t.is_avc_sequence_header() for t in tags[:first]), "no sequence header first"
    assert tags[first].is_video_keyframe(), "first coded video is not a key frame"
    ts = [t.timestamp for t in video]
    assert ts == sorted(ts) and len(video) >= 2 * clip.fps, (len(video), ts[:5])
    # ffmpeg decodes it without a word, to the published frames.
    out = tmp_path / "ws.flv"
    out.write_bytes(data)
    res = weirtest.run([weirtest.require_tool("ffmpeg"), "-v", "error", "-i", str(out), "-f", "null",
                        "-"])
    assert res.returncode == 0 and res.stderr.strip() == "", res.stderr
    got = framemd5(out)
    i = find_run(got, clip.vmd5, cyclic=True)
    assert i is not None, describe_mismatch(got, clip.vmd5)


def test_websockets_library_plays(live, tmp_path):
    """An independent RFC 6455 client (Debian's python3-websockets, which
    checks every frame and answers pings itself) plays, and its close
    handshake completes with 1000."""
    import asyncio
    import websockets

    async def play():
        uri = "ws://127.0.0.1:%d/%s/%s.flv" % (live.http_port, APP, NAME)
        async with websockets.connect(uri, max_size=1 << 22) as ws:
            got = []
            deadline = time.monotonic() + 2.5
            while time.monotonic() < deadline:
                msg = await asyncio.wait_for(ws.recv(), 5)
                assert isinstance(msg, bytes), "a text message: %r" % msg[:40]
                got.append(msg)
            await ws.close(1000, "done")
            return got, ws.close_code

    frames, code = asyncio.run(play())
    assert code == 1000, code
    data = b"".join(frames)
    _, tags, used = parse_flv(data)
    assert used == len(data) and len(frames) == len(tags) + 1
    out = tmp_path / "lib.flv"
    out.write_bytes(data)
    res = weirtest.run([weirtest.require_tool("ffmpeg"), "-v", "error", "-i", str(out), "-f",
                        "null", "-"])
    assert res.returncode == 0 and res.stderr.strip() == "", res.stderr


def test_listed_as_ws_flv(live):
    api = Api(live.api_url)
    ws = _open(live)
    try:
        _media(ws, 0.5)
        mine = _sessions(api, protocol="ws-flv")
        assert len(mine) == 1, mine
        s = mine[0]
        assert (s["role"], s["app"], s["name"]) == ("player", APP, NAME), s
        assert api.get("/api/v1/sessions/%d" % s["id"]).json()["protocol"] == "ws-flv"
        assert all(x["protocol"] != "ws-flv" for x in _sessions(api, protocol="http-flv"))
        metrics = api.get("/metrics").text
        assert 'weir_sessions{role="player",protocol="ws-flv"} 1' in metrics, metrics[:2000]
    finally:
        ws.close()


def test_kick_sends_close(live):
    api = Api(live.api_url)
    ws = _open(live)
    _media(ws, 0.5)
    sid = _sessions(api, protocol="ws-flv")[0]["id"]
    t0 = time.monotonic()
    r = api.delete("/api/v1/sessions/%d" % sid)
    assert r.status_code == 200, r.text
    code, _ = ws.wait_close(on_frame=lambda fin, op, p: None)
    assert code == 1008, code
    assert ws.wait_eof() and time.monotonic() - t0 < 2
    ws.close()
    evs = api.get("/api/v1/events", params={"limit": 1000}).json()["events"]
    stop = [e for e in evs if e["type"] == "play.stop" and e["session_id"] == sid]
    assert len(stop) == 1 and stop[0]["reason"] == "kicked" and stop[0]["protocol"] == "ws-flv"


def test_kick_behind_keeps_framing(live):
    """A kick while the client has read nothing for 2 s (its window small):
    every frame before the close frame is whole. (Whether the node's writes
    stopped mid-frame depends on the kernel's socket buffers; the step that
    finishes such a frame is unit-tested in stream_test.)"""
    api = Api(live.api_url)
    ws = WsClient(live.http_port, "/%s/%s.flv" % (APP, NAME), rcvbuf=4096)
    assert ws.status == 101
    for _ in range(4):  # the socket buffers fill up
        ws.send(frame(OP_PONG))  # unsolicited pongs keep it from the idle cut
        time.sleep(0.5)
    sid = _sessions(api, protocol="ws-flv")[0]["id"]
    assert api.delete("/api/v1/sessions/%d" % sid).status_code == 200
    frames = []
    code, _ = ws.wait_close(on_frame=lambda fin, op, p: frames.append((op, p)))
    assert code == 1008, code
    assert all(op in (OP_BINARY, OP_PING) for op, _ in frames), frames[:3]
    frames = [x for x in frames if x[0] == OP_BINARY]
    assert len(frames) > 5
    for _, f in frames[1:]:
        assert len(f) == 11 + int.from_bytes(f[1:4], "big") + 4, "a torn frame"
    parse_flv(b"".join(p for _, p in frames))
    assert ws.wait_eof()
    ws.close()


def test_server_pings_and_idle_cut(live):
    ws = _open(live)
    seen = []
    t0 = time.monotonic()
    try:
        _media(ws, IDLE_MS / 1000.0 + 2, pongs=False, seen=seen)
    except Exception:  # noqa: BLE001 - the close (or EOF) ends the reading
        pass
    pings = [p for op, p in seen if op == OP_PING]
    closes = [p for op, p in seen if op == OP_CLOSE]
    assert len(pings) >= 2, seen
    assert closes and struct.unpack(">H", closes[0][:2])[0] == 1001, seen
    assert ws.wait_eof()
    took = time.monotonic() - t0
    assert IDLE_MS / 1000.0 <= took < IDLE_MS / 1000.0 + 1.5, took
    ws.close()


def test_data_frames_are_ignored(live):
    ws = _open(live)
    _media(ws, 0.3)
    ws.send(frame(OP_TEXT, b"hello"))
    ws.send(frame(OP_BINARY, b"a" * 1000, fin=False) + frame(OP_CONT, b"b" * 1000))
    more = _media(ws, 1.0)
    assert len(more) > 10, "the stream stopped after data frames"
    ws.close()


@pytest.mark.parametrize("bad,code", [
    (frame(OP_BINARY, b"x", mask=False), 1002),
    (frame(OP_BINARY, b"x", rsv=4), 1002),
    (frame(3, b"x"), 1002),
    (frame(OP_PING, b"x", fin=False), 1002),
    (frame(OP_PING, b"x" * 126), 1002),
    (frame(OP_CONT, b"x"), 1002),
    (frame(OP_CLOSE, close_payload(1005)), 1002),
    (frame(OP_BINARY, b"x" * 70000), 1009),
    (frame(0xB, b"x"), 1002),
    (frame(OP_BINARY, b"a", fin=False) + frame(OP_TEXT, b"b"), 1002),
    (frame(OP_BINARY, b"x" * 40000, fin=False) + frame(OP_CONT, b"y" * 40000), 1009),
    (struct.pack(">BBQ", 0x80 | OP_BINARY, 0x80 | 127, 1 << 62) + b"\0\0\0\0", 1009),
    (frame(OP_CLOSE, close_payload(999)), 1002),
    (frame(OP_CLOSE, close_payload(1004)), 1002),
    (frame(OP_CLOSE, b"\x03"), 1002),
], ids=["unmasked", "rsv", "opcode", "fragmented-ping", "long-ping", "bare-cont",
        "close-1005", "oversized", "control-opcode", "data-inside-fragments",
        "oversized-fragments", "huge-length-header", "close-999", "close-1004",
        "close-1-byte"])
def test_protocol_errors_close(live, bad, code):
    ws = _open(live)
    _media(ws, 0.2)
    ws.send(bad)
    got, _ = ws.wait_close(on_frame=lambda fin, op, p: None)
    assert got == code
    assert ws.wait_eof()
    ws.close()


def _signed(name, ok=True):
    e = int(time.time()) + 600
    sig = hmac.new(SECRET.encode(), ("%s/%s:%d" % (SECURE, name, e)).encode(),
                   hashlib.sha256).hexdigest()
    return "/%s/%s.flv?expires=%d&sign=%s" % (SECURE, name, e, sig if ok else "0" * 64)


# The requests are made when each test runs (a lambda), not when pytest
# collects them: a signed URL made at collection expires on a slow run.
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


@pytest.mark.parametrize("make,status", [
    (lambda: upgrade_request(_signed("cam", ok=False), key=KEY), 401),
    (lambda: upgrade_request("/%s/cam.flv" % SECURE, key=KEY), 401),
    (lambda: upgrade_request(_signed("cam"), key=KEY), 404),  # admitted: no stream
    (lambda: upgrade_request("/%s/nobody.flv" % APP, key=KEY), 404),
    (lambda: upgrade_request("/%s/%s.flv" % (APP, NAME)), 400),  # no key
    (lambda: upgrade_request("/%s/%s.flv" % (APP, NAME), key="c2hvcnQ="), 400),
    (lambda: upgrade_request("/%s/%s.flv" % (APP, NAME), key=KEY, version="8"), 426),
    (lambda: upgrade_request("/%s/%s.flv" % (APP, NAME), key=KEY, http="1.0"), 400),
    (lambda: upgrade_request("/%s/%s.ts" % (APP, NAME), key=KEY), 400),
], ids=["bad-signature", "no-signature", "signed-no-stream", "unknown", "no-key", "short-key",
        "version-8", "http-1.0", "ts-path"])
def test_refused_before_upgrade(live, make, status):
    r = http_exchange(live.http_port, make())
    assert r.status == status, r
    if status == 426:
        assert r.header("sec-websocket-version") == "13", r
    assert r.header("upgrade") is None and r.header("connection") == "close", r
