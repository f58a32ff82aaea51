"""`workers: 2` (issue 23, a loop per core): plain HTTP-FLV and WebSocket-FLV
players are handed round-robin to the event loop and to one worker thread.
Players on both loops get the clip's frames, a kick over the API closes a
worker's player, the API's figures add up (the worker reports every second,
the stop event counts every byte; /metrics counts the worker's writes), and
closing the stream ends the players on both loops with the last chunk, or
for WebSocket-FLV the close frame the loop sends; a worker's WebSocket player
answers pings and echoes the client's close as the loop does. HTTP-TS players
(chunked, HTTP/1.0 and HTTPS) play on both loops: MPEG-TS from a key frame on, made
by the worker's copy of the stream, ended as the loop ends it. A worker's
player reports its queued_bytes (a stalled one shows them, a reading one
stays small), and a WebSocket client that floods pings and reads nothing is
counted as unread_replies on both loops."""

import re
import socket
import threading
import time

import weirtest
from apischema import Api
from test_api import FlvReader, all_events, sessions, wait_for
from test_hooks import metric
from test_httpts import check_pulled, clip_md5, pids_of  # noqa: F401 (clip_md5: a fixture)
from test_limits import refused
from test_workers_tls import assert_plays_clip, body, pki, tls_node_live  # noqa: F401 (pki)
from weirtest import dechunk
from wsclient import OP_CLOSE, OP_PING, WsClient, WsPlayer, close_payload, frame

APP = "live"
NAME = "cam"
PLAYERS = 6


def players(api):
    return {s["id"]: s for s in sessions(api, role="player")}


def test_players_on_two_loops(node, procs, clip, tmp_path):
    n = node(workers=2)
    api = Api(n.api_url)
    procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "publisher")
    weirtest.wait_live(n, APP, NAME)
    readers = [FlvReader(n, APP, NAME, keep=True) for _ in range(PLAYERS)]
    try:
        wait_for("%d players listed" % PLAYERS, lambda: len(players(api)) == PLAYERS, timeout=20)
        assert api.get("/api/v1/streams/%s/%s" % (APP, NAME)).json()["player_count"] == PLAYERS
        handed = {int(m) for m in re.findall(r"\[s(\d+)\] http-flv: handed to worker 1",
                                             n.log_text())}
        ids = set(players(api))
        assert handed and handed < ids, (handed, ids)  # both loops have players
        # The worker's players are counted too (its reports, every second).
        wait_for("every player's bytes_out in the API",
                 lambda: all(s["bytes_out"] > 50000 for s in players(api).values()), timeout=20)

        # A kick of a worker's player: gone from the list at once, its socket
        # closed by the worker, its stop event with the bytes written.
        victim_id = min(handed)
        port_of = {r.port: r for r in readers}
        victim = port_of[int(players(api)[victim_id]["remote"].rsplit(":", 1)[1])]
        assert api.delete("/api/v1/sessions/%d" % victim_id).status_code == 200
        assert victim_id not in players(api)
        wait_for("the kicked player's socket to close", lambda: victim.closed_at, timeout=5)
        kicked = wait_for("the kicked player's play.stop", lambda: [
            e for e in all_events(api) if e["type"] == "play.stop" and e["session_id"] == victim_id])
        assert kicked[0]["reason"] == "kicked", kicked
        assert kicked[0]["bytes_out"] >= len(victim.data) > 50000, (kicked, len(victim.data))

        # The others go on; then the stream closes: every player ends with
        # the last chunk, and its stop event counts exactly what it read.
        rest = [r for r in readers if r is not victim]
        before = [len(r.data) for r in rest]
        wait_for("the other players to get more",
                 lambda: all(len(r.data) > b + 100000 for r, b in zip(rest, before)), timeout=20)
        r = api.delete("/api/v1/streams/%s/%s" % (APP, NAME))
        assert r.status_code == 200 and r.json()["sessions"] == 1 + len(rest), r.text
        wait_for("every player's end of stream", lambda: all(r.closed_at for r in rest), timeout=10)
        wait_for("no players listed", lambda: not players(api), timeout=5)
        stops = {e["session_id"]: e for e in all_events(api)
                 if e["type"] == "play.stop" and e["protocol"] == "http-flv"}
        assert len(stops) == PLAYERS, stops
        ended = [e for s, e in stops.items() if s != victim_id]
        assert {e["reason"] for e in ended} == {"stream_ended"}, ended
        assert sorted(e["bytes_out"] for e in ended) == sorted(len(rd.data) for rd in rest)
        for i, rd in enumerate(rest):
            data, complete = dechunk(body(rd))
            assert complete, "player %d: no last chunk" % i
            assert_plays_clip(tmp_path / ("p%d.flv" % i), data, clip)
        # /metrics counts the worker's writes too (its report, every second):
        # the stream is over, so the messages written whole are the tags the
        # players read (the kicked one's unread ones too: at most 1.5 x; the
        # loop's alone would be about half)
        tags = sum(len(weirtest.parse_flv(dechunk(body(rd))[0])[1]) for rd in readers)
        wait_for("weir_player_messages_total >= the %d tags the players read" % tags,
                 lambda: metric(api, "weir_player_messages_total") >= tags, timeout=10)
        assert metric(api, "weir_player_messages_total") <= 1.5 * tags
        assert 0 < metric(api, "weir_player_writes_total") <= metric(
            api, "weir_player_messages_total")
    finally:
        for rd in readers:
            rd.close()


def test_websocket_players_on_two_loops(node, procs, clip, tmp_path):
    n = node(workers=2)
    api = Api(n.api_url)
    procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "publisher")
    weirtest.wait_live(n, APP, NAME)
    ws = [WsPlayer(n.http_port, "/%s/%s.flv" % (APP, NAME)) for _ in range(PLAYERS)]
    try:
        wait_for("%d ws-flv players listed" % PLAYERS,
                 lambda: len(sessions(api, protocol="ws-flv")) == PLAYERS, timeout=20)
        handed = {int(m) for m in re.findall(r"\[s(\d+)\] ws-flv: handed to worker 1",
                                             n.log_text())}
        listed = {s["id"]: s for s in sessions(api, protocol="ws-flv")}
        assert handed and handed < set(listed), (handed, set(listed))  # both loops
        by_port = {p.port: p for p in ws}
        sid = {by_port[int(s["remote"].rsplit(":", 1)[1])]: i for i, s in listed.items()}
        on_worker = [p for p in ws if sid[p] in handed]
        on_loop = [p for p in ws if sid[p] not in handed]
        wait_for("media on every player", lambda: all(len(p.frames) > 200 for p in ws), timeout=30)

        # A worker's player answers our ping with its payload, between frames.
        on_worker[0].send(frame(OP_PING, b"worker?"))
        wait_for("the worker's pong", lambda: b"worker?" in on_worker[0].pongs, timeout=5)

        # The client's close: echoed, then the end, on both loops alike.
        closers = [on_loop[0], on_worker[0]]
        for p in closers:
            p.send(frame(OP_CLOSE, close_payload(1000, b"bye")))
        wait_for("the close echoed and the connection closed",
                 lambda: all(p.eof for p in closers), timeout=10)
        assert [p.close_code for p in closers] == [1000, 1000]
        def stops_of(players):
            ids = {sid[p] for p in players}
            got = [e for e in all_events(api)
                   if e["type"] == "play.stop" and e["session_id"] in ids]
            return got if len(got) == len(ids) else None

        stops = wait_for("the closers' play.stop", lambda: stops_of(closers))
        assert {e["protocol"] for e in stops} == {"ws-flv"}, stops
        assert stops[0]["reason"] == stops[1]["reason"] == "eof", stops  # loop's = worker's

        # A kick of a worker's player: the close code the loop sends (1008).
        kicked = on_worker[1]
        assert api.delete("/api/v1/sessions/%d" % sid[kicked]).status_code == 200
        wait_for("the kicked player's close and EOF", lambda: kicked.eof, timeout=10)
        assert kicked.close_code == 1008, kicked.close_code
        assert wait_for("its play.stop", lambda: stops_of([kicked]))[0]["reason"] == "kicked"

        # The stream's end: every other player gets the loop's close code (1000).
        rest = [p for p in ws if p not in closers and p is not kicked]
        before = [len(p.frames) for p in rest]
        wait_for("the others to get more",
                 lambda: all(len(p.frames) > b + 25 for p, b in zip(rest, before)), timeout=20)
        r = api.delete("/api/v1/streams/%s/%s" % (APP, NAME))
        assert r.status_code == 200, r.text
        wait_for("every player's close and EOF", lambda: all(p.eof for p in rest), timeout=10)
        assert [p.close_code for p in rest] == [1000] * len(rest), [p.close_code for p in rest]
        wait_for("no players listed", lambda: not sessions(api, role="player"), timeout=5)
        stops = {e["session_id"]: e for e in all_events(api)
                 if e["type"] == "play.stop" and e["protocol"] == "ws-flv"}
        assert len(stops) == PLAYERS, stops
        assert {stops[sid[p]]["reason"] for p in rest} == {"stream_ended"}, stops
        # Every byte read is counted in the stop event, on both loops.
        for p in ws:
            assert stops[sid[p]]["bytes_out"] == p.nbytes, (sid[p], stops[sid[p]], p.nbytes)
        # And every byte the worker read: our ping and close (a pong to the
        # node's ping sent as it closed may be unread).
        for p, ours in ((closers[0], 11), (closers[1], 13 + 11)):
            assert p.request + ours <= stops[sid[p]]["bytes_in"] <= p.sent, (stops[sid[p]], p.sent)
        for i, p in enumerate(ws):
            data = p.flv()
            _, tags, used = weirtest.parse_flv(data)
            assert used == len(data) and len(tags) + 1 == len(p.frames), "player %d" % i
            assert_plays_clip(tmp_path / ("ws%d.flv" % i), data, clip)
    finally:
        for p in ws:
            p.close()


class TsReader(FlvReader):
    """An HTTP-TS player (HTTP/1.1: chunked, or HTTP/1.0: a plain body to
    the close; ctx: over TLS to port), read by a thread, keeping every
    byte."""

    def __init__(self, port, version, ctx=None):
        host = "Host: localhost\r\n" if version == "1.1" else ""
        req = ("GET /%s/%s.ts HTTP/%s\r\n%s\r\n" % (APP, NAME, version, host)).encode()
        self.version = "https" if ctx else version
        raw = socket.create_connection((weirtest.HOST, port), timeout=30)
        self.port = raw.getsockname()[1]
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost") if ctx else raw
        self.sock.sendall(req)
        self.bytes = 0
        self.data = bytearray()
        self.closed_at = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def ts(self):
        """The MPEG-TS bytes and whether the response ended as it must (the
        last chunk; HTTP/1.0: the close)."""
        b = body(self)
        if self.version != "1.0":
            return dechunk(b)
        return b, self.closed_at is not None


class Stalled:
    """A player that sent its request and reads nothing (a 4 KB window)."""

    def __init__(self, n, request):
        self.sock = weirtest.http_open(n.http_port, request, rcvbuf=4096)
        self.port = self.sock.getsockname()[1]


def handed_ids(n, proto):
    return {int(m) for m in re.findall(r"\[s(\d+)\] %s: handed to worker 1" % proto,
                                       n.log_text())}


def by_port(listed, clients):
    """{client: session id} by the client's local port."""
    port = {c.port: c for c in clients}
    return {port[int(s["remote"].rsplit(":", 1)[1])]: i for i, s in listed.items()
            if int(s["remote"].rsplit(":", 1)[1]) in port}


def cc_breaks(data):
    """The TS packets whose continuity_counter does not follow their PID's
    previous one (payload packets count up by 1 mod 16; none: unchanged)."""
    last, breaks = {}, []
    for i in range(0, len(data) - 187, 188):
        pid = ((data[i + 1] & 0x1F) << 8) | data[i + 2]
        payload, cc = data[i + 3] & 0x10, data[i + 3] & 0x0F
        if pid in last and cc != ((last[pid] + 1) % 16 if payload else last[pid]):
            breaks.append((i // 188, pid, last[pid], cc))
        last[pid] = cc
    return breaks


def test_http_ts_players_on_two_loops(node, procs, clip, clip_md5, pki, tmp_path):  # noqa: F811
    n, api, https_port, ctx = tls_node_live(node, procs, pki, clip)
    time.sleep(1.5)  # players join mid-stream, at the cached key frame
    # Round-robin from the loop: each kind gets one player on each loop.
    readers = [TsReader(n.http_port, v) for v in ("1.1", "1.1", "1.0", "1.0")]
    readers += [TsReader(https_port, "1.1", ctx) for _ in range(2)]
    try:
        listed = wait_for("6 http-ts players listed", lambda: (lambda s: len(s) == 6 and s)(
            {s["id"]: s for s in sessions(api, protocol="http-ts")}), timeout=20)
        sid = by_port(listed, readers)
        assert {listed[sid[r]]["tls"] for r in readers} == {False, True}, listed
        handed = handed_ids(n, "http-ts")
        for v in ("1.1", "1.0", "https"):
            on = sorted(sid[r] in handed for r in readers if r.version == v)
            assert on == [False, True], (v, handed, sid)  # one on each loop
        wait_for("media on every player", lambda: all(r.bytes > 400000 for r in readers),
                 timeout=40)
        r = api.delete("/api/v1/streams/%s/%s" % (APP, NAME))
        assert r.status_code == 200, r.text
        wait_for("every player's end", lambda: all(rd.closed_at for rd in readers), timeout=10)
        wait_for("no players listed", lambda: not sessions(api, role="player"), timeout=5)
        stops = {e["session_id"]: e for e in all_events(api)
                 if e["type"] == "play.stop" and e["protocol"] == "http-ts"}
        assert set(stops) == set(sid.values()), stops
        for i, rd in enumerate(readers):
            e = stops[sid[rd]]
            assert e["reason"] == "stream_ended", e
            assert e["bytes_out"] == len(rd.data), (i, e, len(rd.data))  # worker's too
            data, complete = rd.ts()
            assert complete, "player %d (%s): no proper end" % (i, rd.version)
            assert len(data) % 188 == 0 and data[:1] == b"\x47", "player %d: not TS" % i
            # PAT, PMT, then a key frame's video (random access), counters unbroken
            assert pids_of(data)[:3] == [0, 0x1000, 0x100], (i, pids_of(data)[:3])
            assert data[2 * 188 + 5] & 0x40, "player %d: no random access at the start" % i
            assert cc_breaks(data) == [], (i, cc_breaks(data)[:5])
            out = tmp_path / ("p%d.ts" % i)
            out.write_bytes(data)
            fmt = weirtest.ffprobe_json(out, "-show_format")["format"]["format_name"]
            assert fmt == "mpegts", (i, fmt)
            # decodes without a word, H.264 + AAC, a run of the clip from a key frame
            check_pulled(out, clip, clip_md5, 2 * clip.fps)
    finally:
        for rd in readers:
            rd.close()


def ws_flood(n, until):
    """A WebSocket-FLV client that floods pings (125-byte payloads) and reads
    nothing, until the node closes it or until() holds (at most 30 s)."""
    c = WsClient(n.http_port, "/%s/%s.flv" % (APP, NAME), rcvbuf=4096)
    assert c.status == 101, c.status
    batch = frame(OP_PING, bytes(125)) * 512
    c.sock.settimeout(0.5)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and not until():
            try:
                c.sock.sendall(batch)
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
    finally:
        c.sock.close()


def test_worker_player_queued_and_unread_replies(node, procs, clip_heavy):
    n = node(workers=2, player={"slow_timeout_ms": 60000})
    api = Api(n.api_url)
    # The heavy clip fills a stalled player's socket buffers (MBs on loopback) in seconds.
    procs.spawn(weirtest.publish_cmd(clip_heavy.path, n.rtmp_url(APP, NAME), loop=True),
                "publisher")
    weirtest.wait_live(n, APP, NAME)
    req = ("GET /%s/%s.flv HTTP/1.1\r\nHost: x\r\n\r\n" % (APP, NAME)).encode()
    # A stalled player and a reading one on each loop (round-robin).
    stalled = [Stalled(n, req) for _ in range(2)]
    reading = [FlvReader(n, APP, NAME) for _ in range(2)]
    try:
        listed = wait_for("4 players listed", lambda: (lambda s: len(s) == 4 and s)(players(api)),
                          timeout=20)
        sid = by_port(listed, stalled + reading)
        handed = handed_ids(n, "http-flv")
        assert sorted(sid[s] in handed for s in stalled) == [False, True], (handed, sid)
        assert sorted(sid[r] in handed for r in reading) == [False, True], (handed, sid)

        def queued():
            now = players(api)
            return {c: now[i]["queued_bytes"] for c, i in sid.items()}

        # A stalled player's bytes wait, the worker's too (its report, every second).
        got = wait_for("the stalled players' queued_bytes",
                       lambda: (lambda q: all(q[s] > 65536 for s in stalled) and q)(queued()),
                       timeout=30, interval=0.5)
        for _ in range(3):  # the reading ones stay small, on both loops
            assert all(got[r] < 256 * 1024 for r in reading), got
            time.sleep(1)
            got = queued()
        for s in stalled:
            s.sock.close()

        # Replies not read: the loop's limit, counted for both loops' players.
        before = refused(n)
        for k in (1, 2):
            ws_flood(n, lambda: refused(n)["unread_replies"] >= before["unread_replies"] + k)
        after = wait_for("2 unread_replies", lambda: (lambda r: r["unread_replies"] == before[
            "unread_replies"] + 2 and r)(refused(n)), timeout=10)
        assert after["slow_player"] == before["slow_player"], (before, after)
        logged = dict(re.findall(r"\[s(\d+)\] \S+: \S+ reads no replies \((\d+) bytes queued\)",
                                 n.log_text()))
        assert len(logged) == 2, logged
        assert all((1 << 20) < int(q) <= (1 << 20) + 4096 for q in logged.values()), logged
        ws_handed = handed_ids(n, "ws-flv")
        stops = [e for e in all_events(api)
                 if e["type"] == "play.stop" and e["protocol"] == "ws-flv"]
        assert len(stops) == 2 and len({e["session_id"] for e in stops} & ws_handed) == 1, (
            stops, ws_handed)  # one on each loop
        assert stops[0]["reason"] == stops[1]["reason"] == "slow", stops
    finally:
        for s in stalled:
            s.sock.close()
        for r in reading:
            r.close()
