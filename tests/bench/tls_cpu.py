"""HTTPS-FLV against HTTP-FLV: the node's CPU seconds per delivered Gbit
with N players of one stream, same node, same publisher, runs alternating
http, https, http, https (2 s warm-up, then SECS measured). The players
are sockets drained without parsing (Python's ssl for https, TLS 1.3,
AES-GCM).
Usage: WEIR_BIN=build/weir python3 tests/bench/tls_cpu.py N SECS CLIP.flv
(a Release build; the clip as tests/integration/conftest.py makes it)."""
import json, os, selectors, socket, ssl, sys, tempfile, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from weirtest import Procs, publish_cmd, wait_live
from tls_bench_node import tls_bench_node

N = int(sys.argv[1]); SECS = float(sys.argv[2]); CLIP = sys.argv[3]
REQ = b"GET /live/b.flv HTTP/1.1\r\nHost: localhost\r\n\r\n"


def cpu(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def connect(kind, ctx):
    port = node.https_port if kind == "https" else node.http_port
    s = socket.create_connection(("127.0.0.1", port))
    if kind == "https":
        s = ctx.wrap_socket(s, server_hostname="localhost")
    s.sendall(REQ)
    s.setblocking(False)
    return s


def run(n, kind, ctx):
    sel = selectors.DefaultSelector()
    socks = [connect(kind, ctx) for _ in range(n)]
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    total = 0

    def pump(until):
        nonlocal total
        while time.monotonic() < until:
            for key, _ in sel.select(0.2):
                s = key.fileobj
                try:
                    while True:
                        d = s.recv(262144)
                        if not d:
                            break
                        total += len(d)
                        if not isinstance(s, ssl.SSLSocket) or not s.pending():
                            break
                except (BlockingIOError, ssl.SSLWantReadError):
                    continue
    pump(time.monotonic() + 2.0)  # warm-up: GOP bursts
    c0, b0, t0 = cpu(node.pid), total, time.monotonic()
    pump(t0 + SECS)
    c1, b1, t1 = cpu(node.pid), total, time.monotonic()
    for s in socks:
        s.close()
    time.sleep(1.0)
    gbit = (b1 - b0) * 8 / 1e9
    return {"kind": kind, "cpu_s": round(c1 - c0, 3), "gbit": round(gbit, 3),
            "mbit_per_player": round(gbit * 1e3 / n / (t1 - t0), 3),
            "cpu_s_per_gbit": round((c1 - c0) / gbit, 4)}


wd = tempfile.mkdtemp(prefix="tls-bench-")
node = tls_bench_node(wd, "info")
ctx = ssl.create_default_context(cafile=wd + "/cert.pem")
procs = Procs(wd)
node.start()
try:
    procs.spawn(publish_cmd(CLIP, node.rtmp_url("live", "b"), loop=True), "pub")
    wait_live(node, "live", "b")
    rows = [run(N, kind, ctx) for kind in ("http", "https", "http", "https")]
    for r in rows:
        print(json.dumps(r))
    cost = {k: sum(r["cpu_s_per_gbit"] for r in rows if r["kind"] == k) / 2
            for k in ("http", "https")}
    print(json.dumps({"players": N, "https_over_http": round(cost["https"] / cost["http"], 3)}))
finally:
    procs.stop_all()
    node.stop()
