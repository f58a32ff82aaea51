"""WebSocket-FLV against HTTP-FLV: the node's CPU seconds per delivered Gbit
with N players of one stream, same node, same publisher, runs alternating
http, ws, http, ws (2 s warm-up, then SECS measured). The players are raw
sockets drained without parsing (HTTP/1.1, so HTTP-FLV is chunked: 4 iovecs
a tag, as WebSocket-FLV), the idle cut is set high so pings need no answer.
Usage: WEIR_BIN=build/weir python3 tests/bench/wsflv_cpu.py N SECS CLIP.flv
(a Release build; the clip as tests/integration/conftest.py makes it)."""
import base64, json, os, selectors, shutil, socket, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from weirtest import Node, Procs, publish_cmd, wait_live

N = int(sys.argv[1]); SECS = float(sys.argv[2]); CLIP = sys.argv[3]

def req(kind):
    if kind == "ws":
        key = base64.b64encode(os.urandom(16)).decode()
        return ("GET /live/b.flv HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n" % key).encode()
    return b"GET /live/b.flv HTTP/1.1\r\nHost: x\r\n\r\n"

def cpu(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

def run(n, kind):
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", n_.http_port))
        s.sendall(req(kind)); s.setblocking(False)
        sel.register(s, selectors.EVENT_READ); socks.append(s)
    t_end = time.monotonic() + 2.0  # warm-up: GOP bursts
    total = 0
    def pump(until):
        nonlocal total
        while time.monotonic() < until:
            for key, _ in sel.select(0.2):
                try:
                    d = key.fileobj.recv(262144)
                except BlockingIOError:
                    continue
                total += len(d)
    pump(t_end)
    c0, b0, t0 = cpu(n_.pid), total, time.monotonic()
    pump(t0 + SECS)
    c1, b1, t1 = cpu(n_.pid), total, time.monotonic()
    for s in socks: s.close()
    time.sleep(1.0)
    gbit = (b1 - b0) * 8 / 1e9
    return {"kind": kind, "cpu_s": round(c1 - c0, 3), "gbit": round(gbit, 3),
            "mbit_per_player": round(gbit * 1e3 / n / (t1 - t0), 3),
            "cpu_s_per_gbit": round((c1 - c0) / gbit, 4)}

import tempfile
wd = tempfile.mkdtemp(prefix="wsflv-bench-")
n_ = Node(wd + "/node", {"http_flv": {"ws_idle_timeout_ms": 3600000},
                         "limits": {"max_connections": 5000, "max_connections_per_address": 5000}, "log": {"level": "info"}})
procs = Procs(wd); n_.start()
try:
    procs.spawn(publish_cmd(CLIP, n_.rtmp_url("live", "b"), loop=True), "pub")
    wait_live(n_, "live", "b"); time.sleep(1)
    res = []
    for kind in ("http", "ws", "http", "ws"):
        r = run(N, kind); print(json.dumps(r)); res.append(r)
finally:
    procs.stop_all(); n_.stop()
    shutil.rmtree(wd, ignore_errors=True)
