"""`workers: 2` with TLS players (issue 23): HTTPS-FLV and wss:// players are
handed to the worker thread with their TLS state (the SSL object and any
record held back go with the socket), and play there as on the loop: every
player's bytes are a run of the clip, a player that stops reading gets whole
tags afterwards (writes retried from the record buffer on the worker), a
worker's wss player answers pings, a kick ends a worker's TLS player with
its stop event counting what it read, and the stream's end gives the HTTPS
players their last chunk and the wss players the close frame 1000, with
their sessions listed as TLS all along."""

import re
import socket
import ssl
import threading
import time

import pytest

import tlsutil
import weirtest
from apischema import Api
from test_api import FlvReader, all_events, sessions, wait_for
from weirtest import dechunk, describe_mismatch, find_run, framemd5
from wsclient import OP_PING, WsPlayer, frame

APP, NAME = "live", "cam"
HTTPS_PLAYERS = 4
WSS_PLAYERS = 2


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    ca = tlsutil.make_ca(d)
    cert, key = tlsutil.make_cert(d, "node", "localhost", 0x77,
                                  ["DNS:localhost", "IP:127.0.0.1"])
    return {"ca": ca, "cert": cert, "key": key}


class HttpsReader(FlvReader):
    """An HTTPS-FLV player reading in a thread, as FlvReader (rcvbuf: a small
    receive buffer; paused: reads nothing until resume())."""

    def __init__(self, port, ctx, rcvbuf=None, paused=False):  # pylint: disable=super-init-not-called
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(30)
        raw.connect(("127.0.0.1", port))
        self.port = raw.getsockname()[1]
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.sock.sendall(b"GET /%s/%s.flv HTTP/1.1\r\nHost: localhost\r\n\r\n" % (
            APP.encode(), NAME.encode()))
        self.bytes = 0
        self.data = bytearray()
        self.closed_at = None
        self.go = threading.Event()
        if not paused:
            self.go.set()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def resume(self):
        self.go.set()

    def _run(self):
        self.go.wait(60)
        super()._run()


def body(reader):
    """The response body a reader got (after a 200 head)."""
    head, _, rest = bytes(reader.data).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:80]
    return rest


def assert_plays_clip(out, data, clip):
    """FLV data (written to out) decodes to a run of the clip's frames."""
    out.write_bytes(data)
    got = framemd5(out)
    assert len(got) >= 25, "%s: only %d video frames" % (out.name, len(got))
    assert find_run(got, clip.vmd5, cyclic=True) is not None, \
        "%s: %s" % (out.name, describe_mismatch(got, clip.vmd5))


def tls_node_live(node, procs, pki, clip):
    """A node with workers: 2 and HTTPS and RTMPS listeners, APP/NAME
    published (the clip, looped). Returns (node, its Api, the HTTPS port, a
    client context); node.rtmps_port is the RTMPS one."""
    https_port, rtmps_port = weirtest.free_ports(2)
    n = node(workers=2, tls={"cert": pki["cert"], "key": pki["key"]},
             https={"listen": "127.0.0.1:%d" % https_port},
             rtmps={"listen": "127.0.0.1:%d" % rtmps_port})
    n.rtmps_port = rtmps_port
    procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "publisher")
    weirtest.wait_live(n, APP, NAME)
    return n, Api(n.api_url), https_port, ssl.create_default_context(cafile=pki["ca"])


def test_tls_players_on_two_loops(node, procs, pki, clip, tmp_path):
    n, api, https_port, ctx = tls_node_live(node, procs, pki, clip)
    # The first two readers (handed one to each loop: round-robin) stop
    # reading for a while with a small buffer: their writes block mid-record.
    readers = [HttpsReader(https_port, ctx, rcvbuf=4096, paused=True) for _ in range(2)]
    readers += [HttpsReader(https_port, ctx) for _ in range(HTTPS_PLAYERS - 2)]
    wss = [WsPlayer(https_port, "/%s/%s.flv" % (APP, NAME), tls=ctx)
           for _ in range(WSS_PLAYERS)]
    try:
        total = HTTPS_PLAYERS + WSS_PLAYERS
        wait_for("%d players listed" % total,
                 lambda: len(sessions(api, role="player")) == total, timeout=20)
        listed = {s["id"]: s for s in sessions(api, role="player")}
        assert all(s["tls"] for s in listed.values()), listed
        handed = {int(m) for m in re.findall(r"\[s(\d+)\] (?:http|ws)-flv: handed to worker 1",
                                             n.log_text())}
        assert handed and handed < set(listed), (handed, set(listed))  # both loops
        port_sid = {int(s["remote"].rsplit(":", 1)[1]): i for i, s in listed.items()}
        on_worker = [r for r in readers + wss if port_sid[r.port] in handed]
        assert on_worker, "no TLS player on the worker"

        # The paused readers: whole tags once they read again (checked at the end).
        time.sleep(2.0)
        for rd in readers[:2]:
            rd.resume()
        wait_for("media on every HTTPS player",
                 lambda: all(len(r.data) > 300000 for r in readers), timeout=30)
        wait_for("media on every wss player",
                 lambda: all(len(p.frames) > 200 for p in wss), timeout=30)

        # A wss player on the worker, if there is one, answers our ping.
        for p in wss:
            if port_sid[p.port] in handed:
                p.send(frame(OP_PING, b"tls-worker?"))
                wait_for("the worker's pong over TLS", lambda: b"tls-worker?" in p.pongs,
                         timeout=5)

        # A kick of a worker's TLS player: closed, counted.
        victim = on_worker[-1]
        vid = port_sid[victim.port]
        assert api.delete("/api/v1/sessions/%d" % vid).status_code == 200
        kicked = wait_for("the kicked player's play.stop", lambda: [
            e for e in all_events(api) if e["type"] == "play.stop" and e["session_id"] == vid])
        assert kicked[0]["reason"] == "kicked", kicked
        assert kicked[0]["bytes_out"] > 100000, kicked

        # The stream's end: the last chunk, the close frame 1000.
        rest_https = [r for r in readers if r is not victim]
        rest_wss = [p for p in wss if p is not victim]
        r = api.delete("/api/v1/streams/%s/%s" % (APP, NAME))
        assert r.status_code == 200, r.text
        wait_for("every HTTPS player's end", lambda: all(r.closed_at for r in rest_https),
                 timeout=15)
        wait_for("every wss player's close frame",
                 lambda: all(p.close_code is not None for p in rest_wss), timeout=15)
        assert [p.close_code for p in rest_wss] == [1000] * len(rest_wss)
        wait_for("no players listed", lambda: not sessions(api, role="player"), timeout=5)
        stops = {e["session_id"]: e for e in all_events(api) if e["type"] == "play.stop"}
        for rd in rest_https:
            e = stops[port_sid[rd.port]]
            assert e["reason"] == "stream_ended", e
        for i, rd in enumerate(rest_https):
            data, complete = dechunk(body(rd))
            assert complete, "HTTPS player %d: no last chunk" % i
            _, tags, _ = weirtest.parse_flv(data)  # every tag whole
            assert len(tags) > 100, len(tags)
            assert_plays_clip(tmp_path / ("https%d.flv" % i), data, clip)
        for i, p in enumerate(rest_wss):
            assert_plays_clip(tmp_path / ("wss%d.flv" % i), b"".join(p.frames), clip)
    finally:
        for rd in readers:
            rd.close()
        for p in wss:
            p.sock.close()


def test_rtmps_players_on_two_loops(node, procs, pki, clip, tmp_path):
    """RTMPS viewers go to the worker too: ffmpeg pulls over rtmps://, one on
    each loop (round-robin), both listed as TLS, each file a run of the clip."""
    n, api, _, _ = tls_node_live(node, procs, pki, clip)
    url = "rtmps://127.0.0.1:%d/%s/%s" % (n.rtmps_port, APP, NAME)
    outs = [tmp_path / ("rtmps%d.flv" % i) for i in range(2)]
    pulls = [procs.spawn(weirtest.pull_cmd(url, out, seconds=6), "rtmps%d" % i)
             for i, out in enumerate(outs)]
    wait_for("2 RTMPS players listed", lambda: len(
        [s for s in sessions(api, role="player") if s["protocol"] == "rtmp" and s["tls"]]) == 2,
        timeout=20)
    ids = {s["id"] for s in sessions(api, role="player")}
    handed = {int(m) for m in re.findall(r"\[s(\d+)\] rtmp: handed to worker 1", n.log_text())}
    assert len(handed & ids) == 1, (handed, ids)  # one on each loop
    for p in pulls:
        assert p.wait(timeout=60) == 0, "ffmpeg pull failed"
    for out in outs:
        data = out.read_bytes()
        assert_plays_clip(tmp_path / ("check-" + out.name), data, clip)
