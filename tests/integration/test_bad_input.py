"""Bad input against a real node (issue 8): every case gets a clean refusal
(an error reply or a closed connection), a log line, and the node keeps
serving a healthy HTTP-FLV player of another stream at full rate; the
sanitizer build finds no leak or bad access when the node stops.

One node for the module: ffmpeg publishes live/healthy in a loop and a raw
HTTP-FLV player reads it for the whole run. Its rate is measured before the
first case (the baseline) and checked after each case as a ratio to that
baseline, never against an absolute time or rate."""

import socket
import struct
import time

import pytest
import requests

import healthy
import relayutil
import rtmp_min
import weirtest
from healthy import APP, HEALTHY
from weirtest import HOST

TOKEN = "bad-input-token-0123456789abcdef"


@pytest.fixture(scope="module")
def h(tmp_path_factory, clip):
    d = tmp_path_factory.mktemp("bad_input")
    harness, procs = healthy.start(d, clip, {
        "api": {"token": TOKEN},
        "rtmp": {"max_message_size": 1 << 20, "max_chunk_streams": 16,
                 "handshake_timeout_ms": 1000},
        "http_flv": {"request_timeout_ms": 1500, "max_header_bytes": 4096},
    })
    yield harness
    healthy.stop(harness, procs)


def _api(n):
    from apischema import Api
    return Api(n.api_url, token=TOKEN)


def closed_within(sock, seconds):
    _, eof = weirtest.drain_until_eof(sock, seconds, 1 << 22)
    return eof


def raw(port, data, close_within=5.0, pace=None):
    """Sends data (at once, or one byte every pace seconds) and returns
    (what came back, closed by the node within close_within)."""
    s = socket.create_connection((HOST, port), timeout=5)
    try:
        try:
            if pace is None:
                s.sendall(data)
            else:
                for b in data:
                    s.sendall(bytes([b]))
                    time.sleep(pace)
        except (BrokenPipeError, ConnectionResetError):
            pass
        got = bytearray()
        deadline = time.monotonic() + close_within
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return bytes(got), True
            if not b:
                return bytes(got), True
            got += b
        return bytes(got), False
    finally:
        s.close()


def status_of(reply):
    line = reply.split(b"\r\n", 1)[0].decode("latin-1")
    assert line.startswith("HTTP/1."), "no status line: %r" % reply[:200]
    return int(line.split()[1])


# ------------------------------------------------------------------ RTMP

C0C1 = b"\x03" + b"\x00" * 1536


def rtmp_connected(n):
    c = rtmp_min.RtmpClient(HOST, n.rtmp_port, timeout=5)
    c.connect(APP)
    return c


def chunk0(csid, length, mtype, sid=0, ts=0):
    return bytes([csid]) + struct.pack(">I", ts)[1:] + struct.pack(">I", length)[1:] + \
        bytes([mtype]) + struct.pack("<I", sid)


@pytest.mark.parametrize("data,what", [
    (b"\x03" + b"\x00" * 700, "truncated C1"),
    (b"\xff" * 1537, "garbage C0"),
    (b"\x03" + b"\x00" * 1536 + b"\x01" * 10, "truncated C2"),
], ids=["truncated_c1", "garbage_c0", "truncated_c2"])
def test_rtmp_bad_handshake(h, data, what):
    h.mark()
    _, closed = raw(h.n.rtmp_port, data, close_within=4)
    assert closed, "%s: the node kept the connection open" % what
    h.expect_log("rtmp: ")
    h.assert_healthy(what)


def test_rtmp_absurd_chunk_stream_ids(h):
    """Chunk streams over rtmp.max_chunk_streams (16 here), with the largest
    csid the 3-byte form can carry: refused, connection closed."""
    h.mark()
    c = rtmp_connected(h.n)
    with c:
        out = bytearray()
        for i in range(40):
            csid = 65599 - i
            out += bytes([0x01]) + struct.pack("<H", csid - 64) + b"\x00\x00\x00" + \
                struct.pack(">I", 4)[1:] + bytes([rtmp_min.MSG_AUDIO]) + struct.pack("<I", 1) + \
                b"\xaf\x01\x00\x00"
        try:
            c.send_raw(bytes(out))
        except OSError:
            pass
        assert closed_within(c.sock, 4), "still open after 40 chunk streams"
    h.expect_log("chunk stream")
    h.assert_healthy("absurd csids")


@pytest.mark.parametrize("length", [(1 << 20) + 1, 0xFFFFFF], ids=["limit_plus_1", "max_24bit"])
def test_rtmp_message_over_the_limit(h, length):
    h.mark()
    c = rtmp_connected(h.n)
    with c:
        try:
            c.send_raw(chunk0(rtmp_min.CSID_VIDEO, length, rtmp_min.MSG_VIDEO, 1) + b"\x17" * 64)
        except OSError:
            pass
        assert closed_within(c.sock, 4), "still open after a %d-byte message header" % length
    h.expect_log("chunk stream")
    h.assert_healthy("message of %d bytes" % length)


def test_rtmp_interleaving_abuse_is_bounded(h):
    """16 chunk streams each announcing a message at the size limit and
    sending a little of it, then nothing: the node must not reserve the
    announced sizes (16 MB here) up front nor stall; the idle connection is
    dropped at rtmp.idle_timeout_ms or kept, but the node stays small."""
    h.mark()
    rss0 = h.n.rss_kb()
    clients = []
    try:
        for _ in range(8):
            c = rtmp_connected(h.n)
            clients.append(c)
            out = bytearray()
            for i in range(14):
                out += chunk0(10 + i, 1 << 20, rtmp_min.MSG_VIDEO, 1) + b"\x17" * 128
            c.send_raw(bytes(out))
        time.sleep(0.5)
        grown_mb = (h.n.rss_kb() - rss0) / 1024.0
        # 8 connections x 14 announced 1 MB messages = 112 MB if reserved up front
        assert grown_mb < 48, "RSS grew %.0f MB for 8 x 14 partial messages" % grown_mb
        h.assert_healthy("interleaved partial messages")
    finally:
        for c in clients:
            c.close()


def test_rtmp_missing_extended_timestamp(h):
    """A fmt 0 header that announces an extended timestamp (0xFFFFFF) and the
    connection ends before it: nothing to wait for, closed cleanly."""
    h.mark()
    c = rtmp_connected(h.n)
    c.send_raw(bytes([rtmp_min.CSID_VIDEO]) + b"\xff\xff\xff" + struct.pack(">I", 5)[1:] +
               bytes([rtmp_min.MSG_VIDEO]) + struct.pack("<I", 1) + b"\x00\x00")
    c.sock.shutdown(socket.SHUT_WR)
    assert closed_within(c.sock, 4)
    c.close()
    h.expect_log("closed")
    h.assert_healthy("missing extended timestamp")


def amf_connect(payload_obj_bytes):
    """A connect command whose command object is the given raw AMF0 bytes."""
    return rtmp_min.amf0_encode("connect") + rtmp_min.amf0_encode(1.0) + payload_obj_bytes


@pytest.mark.parametrize("obj,what", [
    (b"\x03" + b"\x00\x01a\x03" * 3000, "deep nesting"),
    (b"\x0a\x00\x0f\x42\x40" + b"\x0a\x00\x0f\x42\x40" * 100, "deep strict arrays"),
    (b"\x0c\x7f\xff\xff\xff" + b"x" * 1000, "huge long string, truncated"),
    (b"\x02\x00\x10abc", "truncated string"),
    (b"\x03\x00\x03app\x02\x00\x04live\x00\x03tc", "truncated object"),
    (b"\x00\x40\x59", "truncated number"),
    (b"\x0d\xfe\x11", "unknown markers"),
], ids=["nesting", "arrays", "long_string", "trunc_string", "trunc_object", "trunc_number",
        "unknown"])
def test_rtmp_bad_amf0(h, obj, what):
    h.mark()
    c = rtmp_min.RtmpClient(HOST, h.n.rtmp_port, timeout=5)
    with c:
        c.handshake()
        try:
            c.write_message(rtmp_min.CSID_COMMAND, rtmp_min.MSG_COMMAND_AMF0, 0, 0, amf_connect(obj))
        except OSError:
            pass
        assert closed_within(c.sock, 4), "%s: still open" % what
    h.expect_log("rtmp: bad command")
    h.assert_healthy("AMF0 " + what)


def test_rtmp_commands_out_of_order(h):
    h.mark()
    # play before connect
    c = rtmp_min.RtmpClient(HOST, h.n.rtmp_port, timeout=5)
    with c:
        c.handshake()
        c.send_command(1, "play", 0, None, HEALTHY, -2.0, csid=8)
        assert closed_within(c.sock, 4), "play before connect: still open"
    h.expect_log("'play' before connect")
    # connect twice
    h.mark()
    c = rtmp_connected(h.n)
    with c:
        c.send_command(0, "connect", 2, {"app": APP})
        assert closed_within(c.sock, 4), "a second connect: still open"
    h.expect_log("already connected")
    # publish twice on one connection: the second is refused, the first goes on
    h.mark()
    c, sid, code = rtmp_min.open_publisher(HOST, h.n.rtmp_port, APP, "twice")
    with c:
        assert code == "NetStream.Publish.Start", code
        sid2 = c.create_stream()
        code2 = c.publish("twice", sid2, timeout=5)
        assert code2 == "NetStream.Publish.BadName", code2
    h.expect_log("already publishing or playing")
    h.assert_healthy("commands out of order")


@pytest.mark.parametrize("name", [
    "", "x" * 5000, "..", "a/../b", "a/b", "bad\x01name", "\xff\xfe", "../healthy",
], ids=["empty", "too_long", "dotdot", "dotdot_path", "slash", "control", "non_utf8", "escape"])
def test_rtmp_bad_stream_names(h, name):
    h.mark()
    c = rtmp_connected(h.n)
    with c:
        sid = c.create_stream()
        # the name as raw bytes: AMF0 strings are UTF-8, these may not be
        raw_name = name.encode("latin-1")
        payload = rtmp_min.amf0_encode("publish") + rtmp_min.amf0_encode(0.0) + b"\x05" + \
            (b"\x02" + struct.pack(">H", len(raw_name)) + raw_name if len(raw_name) < 65536
             else b"") + rtmp_min.amf0_encode("live")
        c.write_message(8, rtmp_min.MSG_COMMAND_AMF0, sid, 0, payload)
        info = c.wait_status(5)
        assert info.get("code") == "NetStream.Publish.BadName", (name[:20], info)
    h.expect_log("invalid stream name")
    names = {(s["app"], s["name"]) for s in _api(h.n).get("/api/v1/streams").json()["streams"]}
    assert names == {(APP, HEALTHY)}, names
    h.assert_healthy("stream name %r" % name[:20])


# ------------------------------------------------------------------ HTTP-FLV

@pytest.mark.parametrize("req,statuses", [
    (b"GET /" + b"a" * 10000 + b".flv HTTP/1.1\r\n\r\n", (414, 431)),
    (b"GET /live/healthy.flv HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", (400,)),
    (b"GET /live/healthy.flv HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
     (400,)),
    (b"GET /live/healthy.flv HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", (400,)),
    (b"GET /live/healthy.flv HTTP/1.1\r\nContent-Length: 5\r\n\r\nGET /", (400,)),
    (b"GET /live/healthy.flv HTTP/1.1\r\nContent-Length: -1\r\n\r\n", (400,)),
    (b"GET /live/healthy.flv HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", (400,)),
    (b"GET /live/%00.flv HTTP/1.1\r\n\r\n", (400, 404)),
    (b"GET /live/..%2fhealthy.flv HTTP/1.1\r\n\r\n", (400, 404)),
    (b"GET /live/a\x01b.flv HTTP/1.1\r\n\r\n", (400,)),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 100, (400,)),
], ids=["long_line", "dup_cl", "cl_and_chunked", "chunked_body", "body", "negative_cl", "huge_cl",
        "nul", "dotdot", "control", "tls_hello"])
def test_httpflv_bad_requests(h, req, statuses):
    h.mark()
    reply, closed = raw(h.n.http_port, req, close_within=4)
    assert status_of(reply) in statuses, reply[:300]
    assert closed, "connection kept open after a bad request"
    h.expect_log("http-flv: ")
    h.assert_healthy("HTTP-FLV %r" % req[:40])


def test_httpflv_slowloris(h):
    """Headers a byte at a time: cut at http_flv.request_timeout_ms (1.5 s)."""
    h.mark()
    t0 = time.monotonic()
    s = socket.create_connection((HOST, h.n.http_port), timeout=5)
    closed = False
    try:
        for b in b"GET /live/healthy.flv HTTP/1.1\r\nX-Slow: " + b"a" * 100:
            try:
                s.sendall(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.1)
            if time.monotonic() - t0 > 6:
                break
        if not closed:
            closed = closed_within(s, 3)
    finally:
        s.close()
    assert closed, "a slow request head was not cut"
    assert time.monotonic() - t0 < 6
    h.expect_log("request timeout")
    h.assert_healthy("slowloris on HTTP-FLV")


# ------------------------------------------------------------------ API

def api_raw(h, head, body=b"", close_within=5.0):
    return raw(h.n.api_port, head + body, close_within=close_within)


def test_api_long_request_line_and_headers(h):
    h.mark()
    reply, _ = api_raw(h, b"GET /api/v1/" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(reply) in (414, 431, 400), reply[:200]
    reply, _ = api_raw(h, b"GET /api/v1/node HTTP/1.1\r\nHost: x\r\n" +
                       b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(200)) + b"\r\n")
    assert status_of(reply) in (431, 400, 413), reply[:200]
    h.assert_healthy("long API request")


@pytest.mark.parametrize("head,want", [
    (b"POST /api/v1/relays HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400),
    (b"POST /api/v1/relays HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400),
    (b"POST /api/v1/relays HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400),
    (b"POST /api/v1/relays HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n", 400),
], ids=["dup_cl", "cl_and_chunked", "bad_chunk", "huge_chunk"])
def test_api_framing(h, head, want):
    head = head.replace(b"Host: x\r\n", b"Host: x\r\nAuthorization: Bearer " + TOKEN.encode() +
                        b"\r\n")
    h.mark()
    reply, _ = api_raw(h, head)
    # 413 is also a clean answer to a chunk size that no body limit allows
    assert status_of(reply) in (want, 413), reply[:300]
    assert relayutil.list_relays(_api(h.n)) == [], "a framing-broken request created a relay"
    h.assert_healthy("API framing")


def test_api_slowloris_does_not_block_others(h):
    """Twenty connections trickling headers, ten from each of two addresses
    (within api.max_connections_per_address, whose refusals test_limits.py
    covers); the API still answers at once."""
    socks = []
    try:
        for i in range(20):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.settimeout(5)
            s.bind(("127.0.0.%d" % (2 + i % 2), 0))
            s.connect((HOST, h.n.api_port))
            s.sendall(b"GET /api/v1/node HTTP/1.1\r\nX-Slow: a")
        t0 = time.monotonic()
        r = requests.get(h.n.api_url + "/api/v1/node",
                         headers={"Authorization": "Bearer " + TOKEN}, timeout=5)
        assert r.status_code == 200
        assert time.monotonic() - t0 < 2.0
    finally:
        for s in socks:
            s.close()
    h.assert_healthy("API slowloris")


@pytest.mark.parametrize("body,field", [
    (b"[" * 5000 + b"]" * 5000, None),
    (b'{"id":' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}", None),
    (b'{"id": 5, "direction": "pull", "mode": "always", "app": "live", "name": "x",'
     b' "urls": ["rtmp://127.0.0.1:1/live/x"]}', "id"),
    (b'{"id": "r1", "direction": ["pull"], "mode": "always", "app": "live", "name": "x",'
     b' "urls": ["rtmp://127.0.0.1:1/live/x"]}', "direction"),
    (b'{"id": "r1", "direction": "pull", "mode": "always", "app": "live", "name": "x",'
     b' "urls": "rtmp://127.0.0.1:1/live/x"}', "urls"),
    (b'{"id": "r1\'; DROP TABLE relays;--", "direction": "pull", "mode": "always",'
     b' "app": "live", "name": "x", "urls": ["rtmp://127.0.0.1:1/live/x"]}', "id"),
    (b'\xff\xfe{}', None),
], ids=["deep_array", "deep_object", "id_number", "direction_array", "urls_string", "sql_id",
        "not_utf8"])
def test_api_bad_json(h, body, field):
    r = requests.post(h.n.api_url + "/api/v1/relays", data=body, timeout=5,
                      headers={"Authorization": "Bearer " + TOKEN,
                               "Content-Type": "application/json"})
    assert r.status_code == 400, (r.status_code, r.text[:300])
    err = r.json()["error"]
    assert err["code"] and err["message"]
    if field:
        assert field in err["message"], err
    assert relayutil.list_relays(_api(h.n)) == []
    h.assert_healthy("API JSON %r" % body[:30])


def test_api_sql_metacharacters_are_data(h):
    """Names with SQL metacharacters where the API accepts them (a hook's
    URL path, a stream name in a route) are stored and matched as data."""
    api = _api(h.n)
    url = "http://127.0.0.1:9/hook?q='OR'1'='1';DROP%20TABLE%20hooks;--"
    r = api.post("/api/v1/hooks", json={"id": "h1", "url": url, "events": ["stream.close"]})
    assert r.status_code in (200, 201), r.text
    try:
        got = api.get("/api/v1/hooks/h1").json()
        assert got["url"] == url
        r = api.get("/api/v1/streams/live/x';DROP TABLE events;--")
        assert r.status_code == 404
        assert api.get("/api/v1/events?limit=1").status_code == 200
    finally:
        assert api.delete("/api/v1/hooks/h1").status_code in (200, 204)
    h.assert_healthy("SQL metacharacters")


def test_node_summary_after_the_abuse(h):
    """Last: the node still answers, counts the healthy sessions only, and its
    own log shows no error lines for a bad peer (warnings are expected)."""
    sessions = relayutil.sessions(_api(h.n))
    roles = sorted((s["role"], s["app"], s["name"]) for s in sessions)
    assert roles == [("player", APP, HEALTHY), ("publisher", APP, HEALTHY)], roles
    errors = [ln for ln in h.n.log_text().splitlines() if "Z ERROR " in ln]
    assert not errors, "\n".join(errors[:20])
