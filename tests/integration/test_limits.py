"""Limits against a real node (issue 8): connections in total and per
address, new connections per address per second, streams, the handshake and
idle timeouts, a player that takes nothing, message size, chunk streams and
the HTTP request limits. Each over-limit case is refused cleanly, moves its
weir_limit_refused_total series by exactly the expected amount, leaves a log
line, and the node keeps serving a healthy HTTP-FLV player at full rate; when
the over-limit connections go away, new ones are accepted again. A flood of
half-sent requests to the API port (issue 16) neither shuts 127.0.0.1 out
while it is held nor leaves the API dead after it, and a node out of file
descriptors neither spins nor loses its API.

Per-address cases bind the client sockets to other loopback addresses
(127.0.0.2 and up): the healthy publisher and player use 127.0.0.1."""

import re
import socket
import struct
import time

import pytest
import requests

import healthy
import relayutil
import rtmp_min
import weirtest
from apischema import Api
from healthy import APP
from weirtest import HOST

LIMITS = ("max_connections", "max_connections_per_address", "new_connections_per_address",
          "max_streams", "max_message_size", "max_chunk_streams", "handshake_timeout",
          "idle_timeout", "slow_player", "request_timeout", "header_too_large",
          "unread_replies", "api_connections_per_address", "file_descriptors",
          "max_memory", "max_metadata_size", "tls_handshakes", "tls_handshake_timeout")
C0C1 = b"\x03" + b"\x00" * 1536
HS_REPLY = 1 + 2 * 1536


class Harness(healthy.Harness):
    """The healthy node, plus the weir_limit_refused_total series as they
    were at mark()."""

    def __init__(self, n, player, baseline_bps):
        super().__init__(n, player, baseline_bps)
        self.before = None

    def mark(self):
        super().mark()
        self.before = refused(self.n)

    def expect_refused(self, **deltas):
        """Every series moved by exactly deltas[limit] (0 when not named)."""
        want = {k: self.before[k] + deltas.get(k, 0) for k in LIMITS}
        deadline = time.monotonic() + 3.0
        got = refused(self.n)
        while got != want and time.monotonic() < deadline:
            time.sleep(0.1)
            got = refused(self.n)
        assert got == want, "weir_limit_refused_total: want %r, got %r" % (
            {k: v for k, v in want.items() if v != self.before[k]},
            {k: v for k, v in got.items() if v != self.before[k]})

    def refused_now(self):
        return refused(self.n)


def metrics_text(n):
    r = requests.get(n.api_url + "/metrics", timeout=5)
    assert r.status_code == 200, r.text
    return r.text


def refused(n):
    text = metrics_text(n)
    out = {}
    for k in LIMITS:
        m = re.search(r'^weir_limit_refused_total\{limit="%s"\} (\d+)$' % k, text, re.M)
        assert m, "no weir_limit_refused_total series for %s" % k
        out[k] = int(m.group(1))
    return out


def connecting_sessions(n):
    text = metrics_text(n)
    total = 0
    for proto in ("rtmp", "http-flv"):
        m = re.search(r'^weir_sessions\{role="connecting",protocol="%s"\} (\d+)$' % proto,
                      text, re.M)
        total += int(m.group(1))
    return total


def start_harness(d, clip, overrides, **node_kw):
    return healthy.start(d, clip, overrides, harness=Harness, **node_kw)


def stop_harness(h, procs):
    healthy.stop(h, procs)


def tcp_from(src, port, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((src, 0))
        s.settimeout(timeout)
        s.connect((HOST, port))
    except Exception:
        s.close()
        raise
    return s


def recv_exact_or_eof(s, n, timeout):
    """Up to n bytes; stops early at EOF or reset. Returns (bytes, eof)."""
    got = bytearray()
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            b = s.recv(n - len(got))
        except socket.timeout:
            break
        except ConnectionResetError:
            return bytes(got), True
        if not b:
            return bytes(got), True
        got += b
    return bytes(got), False


def rtmp_accepted(src, port):
    """An RTMP connection from src that the node accepted: it answers C0C1
    with S0S1S2 (and then waits for C2). Returns the socket."""
    s = tcp_from(src, port)
    s.sendall(C0C1)
    got, eof = recv_exact_or_eof(s, HS_REPLY, 5.0)
    if len(got) != HS_REPLY:
        s.close()
        pytest.fail("RTMP connection from %s not accepted (%d bytes, eof %s)" % (
            src, len(got), eof), pytrace=False)
    return s


def rtmp_refused(src, port):
    """An RTMP connection from src closed by the node at once, with no
    handshake reply."""
    s = tcp_from(src, port)
    try:
        try:
            s.sendall(C0C1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        got, eof = recv_exact_or_eof(s, HS_REPLY, 3.0)
        assert eof and got == b"", "expected a refusal from the node, got %d bytes (eof %s)" % (
            len(got), eof)
    finally:
        s.close()


def http_refused(src, port):
    """An HTTP-FLV connection from src over a limit: a 503 with Retry-After
    written before the close. The request is not sent first (the node writes
    the answer without reading), so no reset can overtake it."""
    s = tcp_from(src, port)
    try:
        got, eof = recv_exact_or_eof(s, 4096, 3.0)
    finally:
        s.close()
    assert eof, "the node kept a refused HTTP-FLV connection open"
    assert got.startswith(b"HTTP/1.1 503 "), got[:200]
    assert b"\r\nRetry-After: 1\r\n" in got, got[:200]


def close_all(n, socks, baseline):
    for s in socks:
        s.close()
    socks.clear()
    relayutil.wait_for("connections to be closed on the node",
                       lambda: connecting_sessions(n) == baseline, timeout=5, diag=[n])


# ---------------------------------------------------------------- connections

CONN_MAX = 12
CONN_PER_ADDRESS = 4
MAX_STREAMS = 3


@pytest.fixture(scope="module")
def hc(tmp_path_factory, clip):
    h, procs = start_harness(tmp_path_factory.mktemp("limits_conn"), clip, {
        "limits": {"max_connections": CONN_MAX, "max_connections_per_address": CONN_PER_ADDRESS,
                   "max_streams": MAX_STREAMS},
        # long enough that held connections stay while a case runs
        "rtmp": {"handshake_timeout_ms": 60000, "idle_timeout_ms": 60000},
        "http_flv": {"request_timeout_ms": 60000},
        "stream": {"unpublish_grace_ms": 0},
    })
    yield h
    stop_harness(h, procs)


def test_limits_listed_in_metrics(hc):
    text = metrics_text(hc.n)
    assert "# TYPE weir_limit_refused_total counter" in text
    for k in LIMITS:
        assert re.search(r'^weir_limit_refused_total\{limit="%s"\} \d+$' % k, text, re.M), k


def test_max_connections_per_address(hc):
    hc.mark()
    base = connecting_sessions(hc.n)
    held = [rtmp_accepted("127.0.0.2", hc.n.rtmp_port) for _ in range(CONN_PER_ADDRESS)]
    try:
        rtmp_refused("127.0.0.2", hc.n.rtmp_port)
        http_refused("127.0.0.2", hc.n.http_port)
        hc.expect_refused(max_connections_per_address=2)
        hc.expect_log("connection from 127.0.0.2:")
        hc.expect_log("refused: max_connections_per_address (%d) reached" % CONN_PER_ADDRESS)
        # another address is not affected
        held.append(rtmp_accepted("127.0.0.3", hc.n.rtmp_port))
        hc.assert_healthy("connections over the per-address limit")
        # when they go away, the address is accepted again, as often as before
        close_all(hc.n, held, base)
        held += [rtmp_accepted("127.0.0.2", hc.n.rtmp_port) for _ in range(CONN_PER_ADDRESS)]
        rtmp_refused("127.0.0.2", hc.n.rtmp_port)
        hc.expect_refused(max_connections_per_address=3)
        # the second refusal line within 10 s is suppressed (counted, not logged)
        assert hc.new_log().count("max_connections_per_address (%d) reached" %
                                  CONN_PER_ADDRESS) == 1, hc.new_log()[-3000:]
    finally:
        close_all(hc.n, held, base)


def test_max_connections(hc):
    hc.mark()
    base = connecting_sessions(hc.n)
    # the healthy publisher and player hold 2 of CONN_MAX
    room = CONN_MAX - 2
    held = []
    try:
        src = 4
        while len(held) < room:
            for _ in range(min(CONN_PER_ADDRESS, room - len(held))):
                held.append(rtmp_accepted("127.0.0.%d" % src, hc.n.rtmp_port))
            src += 1
        fresh = "127.0.0.%d" % (src + 1)  # an address with no connection
        rtmp_refused(fresh, hc.n.rtmp_port)
        http_refused(fresh, hc.n.http_port)
        rtmp_refused("127.0.0.1", hc.n.rtmp_port)
        hc.expect_refused(max_connections=3)
        hc.expect_log("refused: max_connections (%d) reached" % CONN_MAX)
        hc.assert_healthy("connections over max_connections")
        # one goes away: one more is accepted, then refused again
        held.pop().close()
        relayutil.wait_for("one connection to be closed on the node",
                           lambda: connecting_sessions(hc.n) == base + room - 1, timeout=5,
                           diag=[hc.n])
        held.append(rtmp_accepted(fresh, hc.n.rtmp_port))
        rtmp_refused(fresh, hc.n.rtmp_port)
        hc.expect_refused(max_connections=4)
        close_all(hc.n, held, base)
        # all room is back
        for i in range(room):
            held.append(rtmp_accepted("127.0.0.%d" % (20 + i // CONN_PER_ADDRESS),
                                      hc.n.rtmp_port))
        hc.expect_refused(max_connections=4)
    finally:
        close_all(hc.n, held, base)


def publisher_from(src, n, name):
    """An RTMP publisher of live/name on a socket bound to src; returns
    (client, first onStatus code)."""
    c = rtmp_min.RtmpClient(HOST, n.rtmp_port, sock=tcp_from(src, n.rtmp_port))
    try:
        c.connect(APP)
        sid = c.create_stream()
        code = c.publish(name, sid)
    except Exception:
        c.close()
        raise
    return c, code


def stream_count(n):
    return len(relayutil.api_of(n).get("/api/v1/streams").json()["streams"])


def test_max_streams(hc):
    hc.mark()
    pubs = []
    try:
        # live/healthy is one of MAX_STREAMS
        for i in range(MAX_STREAMS - 1):
            c, code = publisher_from("127.0.0.%d" % (30 + i), hc.n, "s%d" % i)
            pubs.append(c)
            assert code == "NetStream.Publish.Start", code
        c, code = publisher_from("127.0.0.40", hc.n, "over")
        with c:
            assert code == "NetStream.Publish.BadName", code
            assert "NetStream.Publish.BadName" in c.statuses
            _, eof = weirtest.drain_until_eof(c.sock, 3.0, 1 << 20)
            assert eof, "the refused publisher's connection stays open"
        # a player waiting for a stream that does not exist would make one more
        r = weirtest.http_exchange(hc.n.http_port, b"GET /live/nope.flv HTTP/1.1\r\n"
                                   b"Host: x\r\n\r\n")
        assert r.status == 404, r  # http_flv.wait_for_stream is off: no stream is made
        hc.expect_refused(max_streams=1)
        hc.expect_log("too many streams")
        hc.assert_healthy("a publish over max_streams")
        # one stream ends: the publish goes through
        pubs.pop().close()
        relayutil.wait_for("the stream to be gone", lambda: stream_count(hc.n) == MAX_STREAMS - 1,
                           timeout=5, diag=[hc.n])
        time.sleep(0.6)  # the hub forgets an ended stream at its next tick (250 ms)
        c, code = publisher_from("127.0.0.41", hc.n, "over")
        pubs.append(c)
        assert code == "NetStream.Publish.Start", code
        hc.expect_refused(max_streams=1)
    finally:
        for c in pubs:
            c.close()


# ---------------------------------------------------------------- rate

RATE = 2  # per address per second; burst 4


@pytest.fixture(scope="module")
def hr(tmp_path_factory, clip):
    h, procs = start_harness(tmp_path_factory.mktemp("limits_rate"), clip, {
        "limits": {"new_connections_per_address_per_s": RATE},
        "rtmp": {"handshake_timeout_ms": 60000},
    })
    yield h
    stop_harness(h, procs)


def test_new_connections_per_address(hr):
    hr.mark()
    base = connecting_sessions(hr.n)
    held = []
    try:
        t0 = time.monotonic()
        for _ in range(2 * RATE):
            s = rtmp_accepted("127.0.0.2", hr.n.rtmp_port)
            s.close()  # closing gives no token back
        rtmp_refused("127.0.0.2", hr.n.rtmp_port)
        # less than one token refilled in the time taken, else the case proves nothing
        assert time.monotonic() - t0 < 0.9 / RATE, "the burst took too long"
        held.append(rtmp_accepted("127.0.0.3", hr.n.rtmp_port))  # another address
        hr.expect_refused(new_connections_per_address=1)
        hr.expect_log("refused: new_connections_per_address (%d) reached" % RATE)
        hr.assert_healthy("a burst of connections")
        # WINDOW_S later (> 1/RATE) a token is back
        held.append(rtmp_accepted("127.0.0.2", hr.n.rtmp_port))
        hr.expect_refused(new_connections_per_address=1)
    finally:
        close_all(hr.n, held, base)


# ---------------------------------------------------------------- protocol limits

@pytest.fixture(scope="module")
def hp(tmp_path_factory, clip):
    h, procs = start_harness(tmp_path_factory.mktemp("limits_proto"), clip, {
        "rtmp": {"handshake_timeout_ms": 1000, "idle_timeout_ms": 1500,
                 "max_message_size": 1 << 20, "max_chunk_streams": 8},
        "http_flv": {"request_timeout_ms": 1000, "max_header_bytes": 1024},
        "player": {"queue_ms": 1000, "slow_timeout_ms": 2000},
    })
    yield h
    stop_harness(h, procs)


def closed_within(sock, seconds):
    _, eof = weirtest.drain_until_eof(sock, seconds, 1 << 24)
    return eof


def test_handshake_timeout(hp):
    hp.mark()
    s = tcp_from("127.0.0.2", hp.n.rtmp_port)
    with s:
        t0 = time.monotonic()
        assert closed_within(s, 4.0), "a silent connection was not closed"
        took = time.monotonic() - t0
    assert 0.8 <= took <= 2.5, took
    hp.expect_refused(handshake_timeout=1)
    hp.expect_log("rtmp: handshake timeout from 127.0.0.2:")
    hp.assert_healthy("a silent connection")


def test_silent_publisher_closed_at_idle_timeout(hp):
    hp.mark()
    c, code = publisher_from("127.0.0.2", hp.n, "silent")
    with c:
        assert code == "NetStream.Publish.Start", code
        t0 = time.monotonic()
        assert closed_within(c.sock, 5.0), "a silent publisher was not closed"
        took = time.monotonic() - t0
    assert 1.2 <= took <= 3.0, took
    hp.expect_refused(idle_timeout=1)
    hp.expect_log("idle for 1500 ms")
    hp.assert_healthy("a silent publisher")


def chunk0(csid, length, mtype, sid=0, ts=0):
    return bytes([csid]) + struct.pack(">I", ts)[1:] + struct.pack(">I", length)[1:] + \
        bytes([mtype]) + struct.pack("<I", sid)


def test_max_message_size(hp):
    hp.mark()
    c = rtmp_min.RtmpClient(HOST, hp.n.rtmp_port, timeout=5)
    with c:
        c.connect(APP)
        try:
            c.send_raw(chunk0(rtmp_min.CSID_VIDEO, (1 << 20) + 1, rtmp_min.MSG_VIDEO, 1) + b"\x17" * 64)
        except OSError:
            pass
        assert closed_within(c.sock, 4), "still open after a message over the limit"
    hp.expect_refused(max_message_size=1)
    hp.expect_log("message too big")
    hp.assert_healthy("a message over max_message_size")


def test_max_metadata_size(hp):
    """An onMetaData past the AMF0 bounds (40000 keys, 0.7 MB here under the 1 MiB
    max_message_size; a 3 MB one takes the same path under the default 8 MiB) is
    dropped: counted each time, logged at warn once per publisher; the publisher
    goes on."""
    hp.mark()
    big = {"k%05d" % i: 1.0 for i in range(40000)}
    c, sid, code = rtmp_min.open_publisher(HOST, hp.n.rtmp_port, APP, "bigmeta", timeout=5)
    with c:
        assert code == "NetStream.Publish.Start", code
        for _ in range(2):
            c.send_data(sid, 0, ["@setDataFrame", "onMetaData", big])
        c.send_data(sid, 0, ["@setDataFrame", "onMetaData", {"width": 640.0, "height": 360.0}])
        hp.expect_refused(max_metadata_size=2)
        hp.expect_log("rtmp: dropping a data message of")
        assert hp.new_log().count("rtmp: dropping a data message of") == 1, hp.new_log()
        assert " warn  " in [ln for ln in hp.new_log().splitlines()
                             if "dropping a data message" in ln][0]
        assert not closed_within(c.sock, 0.3), "the publisher was closed"
        streams = requests.get(hp.n.api_url + "/api/v1/streams", timeout=5).json()["streams"]
        assert [s for s in streams if s["name"] == "bigmeta"], streams
    hp.assert_healthy("an onMetaData over the AMF0 bounds")


def test_max_chunk_streams(hp):
    hp.mark()
    c = rtmp_min.RtmpClient(HOST, hp.n.rtmp_port, timeout=5)
    with c:
        c.connect(APP)
        out = bytearray()
        for i in range(12):
            out += chunk0(10 + i, 4, rtmp_min.MSG_AUDIO, 1) + b"\xaf\x01\x00\x00"
        try:
            c.send_raw(bytes(out))
        except OSError:
            pass
        assert closed_within(c.sock, 4), "still open after 12 chunk streams"
    hp.expect_refused(max_chunk_streams=1)
    hp.expect_log("too many chunk streams")
    hp.assert_healthy("chunk streams over the limit")


def test_unread_replies(hp):
    """A client that sends commands and never reads the replies: once more
    than 1 MB of replies wait for its socket, the next command closes it,
    counted as unread_replies; memory stays bounded."""
    hp.mark()
    c = rtmp_min.RtmpClient(HOST, hp.n.rtmp_port, timeout=5, rcvbuf=4096)
    with c:
        c.connect(APP)
        one = b"".join(c._chunks(rtmp_min.CSID_COMMAND, rtmp_min.MSG_COMMAND_AMF0, 0, 0,
                                 rtmp_min.amf0_encode_all(["createStream", 2.0, None])))
        sent, closed = 0, False
        deadline = time.monotonic() + 20
        c.sock.settimeout(0.5)
        batch = one * 2000
        while time.monotonic() < deadline and sent < 400000:
            try:
                c.sock.sendall(batch)
                sent += 2000
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            except socket.timeout:
                if hp.refused_now().get("unread_replies", 0) > hp.before["unread_replies"]:
                    closed = True
                    break
        assert closed or hp.refused_now()["unread_replies"] > hp.before["unread_replies"], (
            "still open after %d unread createStream replies" % sent)
    hp.expect_refused(unread_replies=1)
    hp.expect_log("reads no replies")
    # The bound: closed at the first command past 1 MB of waiting replies
    # (RSS would not tell under ASan, whose quarantine holds freed memory).
    m = re.search(r"reads no replies \((\d+) bytes queued\)", hp.new_log())
    assert m, hp.new_log()[-2000:]
    assert (1 << 20) < int(m.group(1)) <= (1 << 20) + 4096, m.group(0)
    hp.assert_healthy("a client reading no replies")


def test_request_timeout(hp):
    hp.mark()
    s = tcp_from("127.0.0.2", hp.n.http_port)
    with s:
        s.sendall(b"GET /live/healthy.flv HTTP/1.1\r\n")
        got, eof = recv_exact_or_eof(s, 4096, 4.0)
    assert eof and got.startswith(b"HTTP/1.1 408 "), got[:200]
    hp.expect_refused(request_timeout=1)
    hp.expect_log("request timeout from 127.0.0.2:")
    hp.assert_healthy("a slow request")


def test_header_too_large(hp):
    hp.mark()
    req = b"GET /live/healthy.flv HTTP/1.1\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n"
    r = weirtest.http_exchange(hp.n.http_port, req)
    assert r.status == 431, r
    hp.expect_refused(header_too_large=1)
    hp.expect_log("http-flv: 431")
    hp.assert_healthy("a request head over the limit")


def test_player_taking_nothing_is_cut(hp, clip_heavy, procs):
    """A player with a zero receive window (it never reads) on a heavy
    stream: closed once it is behind for player.slow_timeout_ms, counted as
    slow_player; the healthy player goes on."""
    procs.spawn(weirtest.publish_cmd(clip_heavy.path, hp.n.rtmp_url(APP, "heavy"), loop=True),
                "heavy-publisher")
    weirtest.wait_live(hp.n, APP, "heavy")
    hp.mark()
    s = weirtest.http_open(hp.n.http_port, b"GET /live/heavy.flv HTTP/1.1\r\nHost: x\r\n\r\n",
                           rcvbuf=4096)
    try:
        def cut():
            return refused(hp.n)["slow_player"] > hp.before["slow_player"]
        relayutil.wait_for("the stalled player to be cut", cut, timeout=30, interval=0.5,
                           diag=[hp.n])
        hp.expect_refused(slow_player=1)
        hp.expect_log("slow player")
        assert closed_within(s, 10.0), "the cut player's connection stays open"
    finally:
        s.close()
    hp.assert_healthy("a player taking nothing")


# ---------------------------------------------------------------- memory (issue 16)
# A publisher that grows the GOP cache, a client that floods pings and reads
# nothing, and players that hold the node over limits.max_memory_mb. The
# node runs with a small AddressSanitizer quarantine (when it is an ASan
# build), so that its RSS tells what it holds: freed memory is not kept.

GOP_MAX_BYTES = 8 << 20
MAX_MEMORY_MB = 48
BIG_FRAME = 512 * 1024
AVC_SEQ = bytes([0x17, 0, 0, 0, 0, 1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0xc0, 0x1e,
                 1, 0, 4, 0x68, 0xce, 0x3c, 0x80])


@pytest.fixture(scope="module")
def hm(tmp_path_factory, clip):
    h, procs = start_harness(tmp_path_factory.mktemp("limits_mem"), clip, {
        "rtmp": {"max_message_size": 1 << 20},
        "stream": {"gop_cache_max_bytes": GOP_MAX_BYTES, "unpublish_grace_ms": 0},
        "player": {"max_queue_bytes": 64 << 20, "queue_ms": 1000, "slow_timeout_ms": 60000},
        "limits": {"max_memory_mb": MAX_MEMORY_MB},
    }, env={"ASAN_OPTIONS": "quarantine_size_mb=8:thread_local_quarantine_size_kb=64"})
    yield h
    stop_harness(h, procs)


def metric(n, name):
    m = re.search(r"^%s (\d+)$" % name, metrics_text(n), re.M)
    assert m, "no %s in /metrics" % name
    return int(m.group(1))


def big_publisher(n, name):
    """An RTMP publisher of app/name that has sent its AVC sequence header
    and one small key frame. Returns (client, stream id)."""
    c = rtmp_min.RtmpClient(HOST, n.rtmp_port, timeout=10)
    c.connect(APP)
    sid = c.create_stream()
    assert c.publish(name, sid) == "NetStream.Publish.Start"
    c.set_chunk_size(65536)
    c.send_video(sid, 0, AVC_SEQ)
    c.send_video(sid, 0, b"\x17\x01\x00\x00\x00" + b"\x65" + bytes(999))
    return c, sid


def push_inter(c, sid, count, max_s, on_batch=None):
    """Sends up to count BIG_FRAME inter frames within max_s; on_batch()
    after every 16. Returns how many went."""
    inter = b"\x27\x01\x00\x00\x00" + b"\x41" + bytes(BIG_FRAME - 1)
    t0, ts, sent = time.monotonic(), 0, 0
    while sent < count and time.monotonic() - t0 < max_s:
        ts += 40
        c.send_video(sid, ts, inter)
        sent += 1
        if on_batch and sent % 16 == 0:
            on_batch()
    return sent


def test_gop_cache_bounded(hm):
    """One key frame, then only 512 KB inter frames: the GOP cache stops at
    stream.gop_cache_max_bytes, is dropped to the live edge once (counted,
    logged once), and neither the node's media memory nor its RSS grow with
    what is sent."""
    hm.mark()
    drops0 = metric(hm.n, "weir_gop_cache_dropped_total")
    rss0 = hm.n.rss_kb()
    mem, rss = [], []

    def sample():
        mem.append(metric(hm.n, "weir_media_memory_bytes"))
        rss.append(hm.n.rss_kb())

    c, sid = big_publisher(hm.n, "big")
    with c:
        sent = push_inter(c, sid, 320, 40, sample)
        assert sent * BIG_FRAME >= 120 << 20, "only %d frames went in 40 s" % sent
        st = Api(hm.n.api_url).get("/api/v1/streams/%s/big" % APP).json()
        g = st["gop_cache"]
        assert g["bytes"] <= GOP_MAX_BYTES and g["gops"] == 0 and g["drops"] == 1, g
    assert metric(hm.n, "weir_gop_cache_dropped_total") == drops0 + 1
    # the cache, a frame in flight and the healthy stream; never what was sent
    assert max(mem) <= GOP_MAX_BYTES + 4 * BIG_FRAME + (8 << 20), mem
    grown_mb = (max(rss) - rss0) / 1024
    assert grown_mb < 64, "RSS grew by %.0f MB while %d MB were sent: %r" % (
        grown_mb, sent * BIG_FRAME >> 20, rss)
    # flat: the second half of the run adds nothing
    half = len(rss) // 2
    assert max(rss[half:]) - max(rss[:half]) < 16 * 1024, rss
    hm.expect_log("stream live/big: GOP cache dropped to the live edge")
    assert hm.new_log().count("GOP cache dropped to the live edge") == 1
    hm.assert_healthy("a publisher growing its GOP cache")


def test_ping_flood_bounded(hm):
    """Ping requests from a client that reads nothing, right after the
    handshake: closed once 1 MB of replies wait (counted as unread_replies,
    logged with the bytes queued); RSS does not follow the flood."""
    hm.mark()
    rss0 = hm.n.rss_kb()
    c = rtmp_min.RtmpClient(HOST, hm.n.rtmp_port, timeout=5, rcvbuf=4096)
    with c:
        c.handshake()
        ping = b"".join(c._chunks(rtmp_min.CSID_CONTROL, rtmp_min.MSG_USER_CONTROL, 0, 0,
                                  struct.pack(">HI", rtmp_min.UC_PING_REQUEST, 7)))
        batch = ping * 4096
        sent, closed = 0, False
        deadline = time.monotonic() + 20
        c.sock.settimeout(0.5)
        while time.monotonic() < deadline and sent < (256 << 20):
            try:
                c.sock.sendall(batch)
                sent += len(batch)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            except socket.timeout:
                if hm.refused_now()["unread_replies"] > hm.before["unread_replies"]:
                    closed = True
                    break
        assert closed, "still open after %d bytes of ping requests" % sent
    hm.expect_refused(unread_replies=1)
    hm.expect_log("reads no replies")
    m = re.search(r"rtmp: \S+ reads no replies \((\d+) bytes queued\)", hm.new_log())
    assert m, hm.new_log()[-2000:]
    assert (1 << 20) < int(m.group(1)) <= (1 << 20) + 4096, m.group(0)
    assert (hm.n.rss_kb() - rss0) / 1024 < 32, "RSS grew by %d kB" % (hm.n.rss_kb() - rss0)
    hm.assert_healthy("a ping flood")


def test_node_memory_bound(hm):
    """Players that hold a stream's frames take the node over
    limits.max_memory_mb: the stream's GOP cache goes, a new publisher is
    refused (max_memory, NetStream.Publish.BadName), the healthy stream is
    untouched; once the players let go, publishing works again."""
    hm.mark()
    api = Api(hm.n.api_url)
    c, sid = big_publisher(hm.n, "held")
    stalled = weirtest.http_open(hm.n.http_port,
                                 b"GET /live/held.flv HTTP/1.1\r\nHost: x\r\n\r\n", rcvbuf=4096)
    try:
        with c:
            # the stalled player holds everything after its start in the ring
            push_inter(c, sid, (MAX_MEMORY_MB << 20) // BIG_FRAME + 24, 40)
            assert metric(hm.n, "weir_media_memory_bytes") > MAX_MEMORY_MB << 20
            # a key frame starts a new cache; over the bound, with more than
            # its share held, the stream drops it at once
            drops0 = metric(hm.n, "weir_gop_cache_dropped_total")
            c.send_video(sid, 100000, b"\x17\x01\x00\x00\x00" + b"\x65" + bytes(999))
            c.send_video(sid, 100040, b"\x27\x01\x00\x00\x00" + b"\x41" + bytes(999))
            hm.expect_log("over limits.max_memory_mb (%d bytes): dropped 1 GOP caches"
                          % (MAX_MEMORY_MB << 20))
            assert metric(hm.n, "weir_gop_cache_dropped_total") == drops0 + 1
            late = rtmp_min.RtmpClient(HOST, hm.n.rtmp_port, timeout=10)
            with late:
                late.connect(APP)
                code = late.publish("late", late.create_stream())
            assert code == "NetStream.Publish.BadName", code
            hm.expect_refused(max_memory=1)
            hm.expect_log("refused: media memory over limits.max_memory_mb")
            assert api.get("/api/v1/streams/%s/held" % APP).json()["gop_cache"]["gops"] == 0
            hm.assert_healthy("the node over its memory bound")
    finally:
        stalled.close()
    relayutil.wait_for("media memory back under the bound",
                       lambda: metric(hm.n, "weir_media_memory_bytes") < MAX_MEMORY_MB << 20,
                       timeout=10, diag=[hm.n])
    again = rtmp_min.RtmpClient(HOST, hm.n.rtmp_port, timeout=10)
    with again:
        again.connect(APP)
        assert again.publish("late", again.create_stream()) == "NetStream.Publish.Start"
    hm.assert_healthy("the node back under its memory bound")


# ---------------------------------------------------------------- the API port

API_PER_ADDRESS = 16          # api.max_connections_per_address (the default)
API_TOTAL = 256               # the API's connection limit in all (api/http.c)
API_TIMEOUT_S = 2             # api.connection_timeout_s, short to keep the case short
HALF_HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"  # no blank line: never complete


@pytest.fixture(scope="module")
def ha(tmp_path_factory, clip):
    h, procs = start_harness(tmp_path_factory.mktemp("limits_api"), clip, {
        "api": {"connection_timeout_s": API_TIMEOUT_S},
    })
    yield h
    stop_harness(h, procs)


def half_heads(port, sources, per_source):
    """per_source connections from each address in sources, then on each a
    request head that never ends, sent in one quick pass so that the API's
    idle timers all start together (as in the flood of issue 16, where they
    then all expired in the same run). Returns the sockets (the node closes
    a refused one; sending on it may fail)."""
    socks = []
    try:
        for src in sources:
            for _ in range(per_source):
                socks.append(tcp_from(src, port))
    except Exception:
        for s in socks:
            s.close()
        raise
    for s in socks:
        try:
            s.sendall(HALF_HEAD)
        except OSError:
            pass
    return socks


def healthz_within(n, seconds, what):
    """GET /healthz from 127.0.0.1 answers 200 within seconds."""
    t0 = time.monotonic()
    try:
        r = requests.get(n.api_url + "/healthz", timeout=seconds)
    except requests.RequestException as e:
        pytest.fail("/healthz %s: no answer within %.1f s (%s)\n%s" % (
            what, seconds, e, n.diagnostics()), pytrace=False)
    took = time.monotonic() - t0
    assert r.status_code == 200 and took <= seconds, (what, r.status_code, took)
    return took


def test_api_connections_per_address(ha):
    """Half-sent heads from 6 addresses, 24 each: 16 per address are held,
    8 per address refused (counted, logged); /healthz from 127.0.0.1
    answers within 1 s all the while."""
    ha.mark()
    sources = ["127.0.0.%d" % i for i in range(2, 8)]
    socks = half_heads(ha.n.api_port, sources, API_PER_ADDRESS + 8)
    try:
        ha.expect_refused(api_connections_per_address=8 * len(sources))
        ha.expect_log("api: connection from 127.0.0.2 refused: "
                      "api.max_connections_per_address (%d) reached" % API_PER_ADDRESS)
        for _ in range(5):
            healthz_within(ha.n, 1.0, "while 96 half-sent requests are held")
            time.sleep(0.1)
        ha.assert_healthy("a flood of half-sent API requests")
    finally:
        for s in socks:
            s.close()
    # the addresses get their room back (once the node has seen the closes:
    # MHD runs its accepts before it reads the EOFs of the same turn)
    time.sleep(1.0)
    more = half_heads(ha.n.api_port, sources[:1], API_PER_ADDRESS)
    try:
        ha.expect_refused(api_connections_per_address=8 * len(sources))
        healthz_within(ha.n, 1.0, "with a flooding address back at its limit")
    finally:
        for s in more:
            s.close()


def test_api_recovers_after_flood(ha):
    """Half-sent heads from 20 addresses, 16 each: the API's 256 are all
    taken and the rest wait in the backlog. They are held past the API's
    connection timeout (the node closes them), then closed: /healthz from
    127.0.0.1 answers within 1 s, before and after the close (it used to
    stay dead for good: issue 16)."""
    ha.mark()
    sources = ["127.0.0.%d" % i for i in range(10, 30)]
    socks = half_heads(ha.n.api_port, sources, API_PER_ADDRESS)
    try:
        assert len(socks) > API_TOTAL
        time.sleep(2 * API_TIMEOUT_S + 1.5)
        # the node timed the first ones out: they see the close
        _, eof = recv_exact_or_eof(socks[0], 4096, 1.0)
        assert eof, "the API did not time out a half-sent request"
        healthz_within(ha.n, 1.0, "after the API timed the flood out")
    finally:
        for s in socks:
            s.close()
    for _ in range(10):
        healthz_within(ha.n, 1.0, "after the flood closed")
        time.sleep(0.1)
    r = requests.get(ha.n.api_url + "/metrics", timeout=1.0)
    assert r.status_code == 200
    ha.expect_refused()  # 16 per address: none over the limit
    ha.assert_healthy("a flood of the API past its connection limit")


# ---------------------------------------------------------------- out of file descriptors

NOFILE = 256                # RLIMIT_NOFILE of this node (soft and hard)
FD_SPARE = 64               # fdlimit_spare(256): fds client connections leave free
MAX_ACCEPT_FAIL_LINES = 50  # "accept failed" lines over the whole case, at most
MAX_CPU_SHARE = 0.3         # node CPU time / wall time while the connections are held


@pytest.fixture(scope="module")
def hf(tmp_path_factory, clip):
    """The healthy node itself runs under the 256-fd limit."""
    h, procs = start_harness(tmp_path_factory.mktemp("limits_fds"), clip, {
        "rtmp": {"handshake_timeout_ms": 60000},
        "http_flv": {"request_timeout_ms": 60000},
    }, nofile=NOFILE)
    yield h
    stop_harness(h, procs)


def open_many(port_of, sources, per_source):
    """per_source TCP connections from each address; port_of(i) picks the
    port of the i-th. The node may close any of them."""
    socks = []
    for src in sources:
        for _ in range(per_source):
            socks.append(tcp_from(src, port_of(len(socks))))
    return socks


def cpu_share(n, t0, cpu0):
    return (n.cpu_seconds() - cpu0) / (time.monotonic() - t0)


def test_out_of_file_descriptors(hf):
    """400 connections to the RTMP and HTTP-FLV ports of a node limited to
    256 fds: the last 64 fds stay free (the rest refused, counted as
    file_descriptors), /healthz answers within 1 s, the node stays idle.
    Then API connections take those fds too, and more clients come: accept
    fails with EMFILE, the listeners pause (no spin, a few lines), and the
    pending clients are closed, not left hanging. When it is all over, a
    new player gets media."""
    n = hf.n
    assert "open files: the hard limit %d is below" % NOFILE in hf._log(), \
        "no warning about RLIMIT_NOFILE at start"
    hf.mark()
    media = []
    t0, cpu0 = time.monotonic(), n.cpu_seconds()
    try:
        media = open_many(lambda i: n.rtmp_port if i % 2 == 0 else n.http_port,
                          ["127.0.0.%d" % i for i in range(2, 10)], 50)
        relayutil.wait_for("client connections refused as file_descriptors",
                           lambda: hf.refused_now()["file_descriptors"] > 0, timeout=5,
                           diag=[n])
        hf.expect_log("refused: file_descriptors (%d) reached" % NOFILE)
        while time.monotonic() - t0 < 4:
            healthz_within(n, 1.0, "with 400 client connections under a 256-fd limit")
            time.sleep(0.2)
        share = cpu_share(n, t0, cpu0)
        print("400 connections held: node CPU %.1f%% of wall time" % (100 * share))
        assert share < MAX_CPU_SHARE, "the node used %.0f%% CPU" % (100 * share)
        hf.assert_healthy("400 connections under a 256-fd limit")
        exhaust_and_recover(hf)
    finally:
        for s in media:
            s.close()
    lines = hf.new_log().count("accept failed")
    print("accept failure lines: %d, refused as file_descriptors: %d" % (
        lines, hf.refused_now()["file_descriptors"]))
    assert lines < MAX_ACCEPT_FAIL_LINES, "%d accept failure lines" % lines
    healthz_within(n, 1.0, "after the connections closed")
    weirtest.wait_live(n, APP, healthy.HEALTHY)
    hf.assert_healthy("running out of file descriptors")


def exhaust_and_recover(hf):
    """The API takes the fds left (16 per address from 5 addresses: more
    than FD_SPARE), then 40 more clients: the listeners fail with EMFILE and
    pause; those clients are closed. Then the API connections close and
    /healthz answers within 1 s."""
    n = hf.n
    api = half_heads(n.api_port, ["127.0.0.%d" % i for i in range(40, 45)], API_PER_ADDRESS)
    extra = []
    try:
        time.sleep(0.5)
        t0, cpu0 = time.monotonic(), n.cpu_seconds()
        extra = open_many(lambda i: n.rtmp_port if i % 2 == 0 else n.http_port,
                          ["127.0.0.50", "127.0.0.51"], 20)
        hf.expect_log("accept failed: Too many open files")
        closed = sum(1 for s in extra if recv_exact_or_eof(s, 4096, 3.0)[1])
        assert closed == len(extra), "%d of %d clients left hanging" % (
            len(extra) - closed, len(extra))
        time.sleep(max(0.0, 3 - (time.monotonic() - t0)))
        share = cpu_share(n, t0, cpu0)
        print("out of fds: node CPU %.1f%% of wall time" % (100 * share))
        assert share < MAX_CPU_SHARE, "out of fds, the node used %.0f%% CPU" % (100 * share)
        hf.assert_healthy("running out of file descriptors")
    finally:
        for s in api + extra:
            s.close()
    for _ in range(5):
        healthz_within(n, 1.0, "once the API connections closed")
        time.sleep(0.1)
