"""Handshake rate under load (issue 20, "Measured"): new TLS connections per
second the node (one event-loop thread: one core) accepts on its
https.listen while N HTTPS-FLV players of one stream keep full rate.

Runs, same node, back to back:
  players   weir-bench: N https:// players + its own RTMP publisher (SECS s)
  both      the same while K `openssl s_time -new` clients open new TLS
            connections (full handshake, TLS 1.3, ECDHE + ECDSA P-256,
            certificate verified, then closed) as fast as they are answered
  flood     the K handshake clients alone for SECS s
For each: the players' delivered ratio (all players, and the worst one),
their errors, the node's CPU share, the handshakes the node completed per
second besides the players' own (weir_tls_handshakes_total over the run,
less N), failures (weir_tls_handshake_failures_total: the clients' last
handshakes cut off when they are stopped count here) and refusals
(weir_limit_refused_total); the share of the run the node was runnable
but waiting for a CPU (schedstat: the machine's other load); and handshakes per node CPU-second (in "both"
the CPU less the players-only run's share): what one core could complete.
The handshake clients use CPU too: on a machine with few cores the rate is
bounded by them as much as by the node (the node's CPU share says which).

Usage: WEIR_BIN=build/weir WEIR_BENCH=build/weir-bench \\
       python3 tests/bench/tls_handshake.py N SECS CLIP.flv [K]
(a Release build; the clip as tests/integration/conftest.py makes it)."""
import json, os, re, subprocess, sys, tempfile, time, urllib.request
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from bench_util import read_proc
from tls_bench_node import tls_bench_node

N = int(sys.argv[1]); SECS = float(sys.argv[2]); CLIP = sys.argv[3]
K = int(sys.argv[4]) if len(sys.argv) > 4 else 4
BENCH = os.environ.get("WEIR_BENCH", os.path.join(os.path.dirname(os.environ["WEIR_BIN"]),
                                                  "weir-bench"))


def metric_sum(name):
    """The sum of every series of name in the node's /metrics."""
    with urllib.request.urlopen(node.api_url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(int(float(v)) for v in
               re.findall(r"^%s(?:\{[^}]*\})? (\S+)$" % re.escape(name), text, re.M))


def counters():
    return {k: metric_sum("weir_" + k) for k in
            ("tls_handshakes_total", "tls_handshake_failures_total", "limit_refused_total")}


def flood(k, secs):
    """k sequential-handshake clients for secs s (Popen list)."""
    return [subprocess.Popen(["openssl", "s_time", "-connect", "127.0.0.1:%d" % https_port,
                              "-new", "-time", str(int(secs) + 1), "-CAfile", wd + "/cert.pem",
                              "-verify", "1"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL) for _ in range(k)]


def players():
    """weir-bench's final JSON: N players + its publisher for SECS s."""
    r = subprocess.run([BENCH, "--players", str(N), "--url",
                        "https://127.0.0.1:%d/live/b.flv" % https_port, "--ca", wd + "/cert.pem",
                        "--publish", CLIP, "--publish-url",
                        "rtmp://127.0.0.1:%d/live/b" % node.rtmp_port, "--duration", str(SECS),
                        "--setup-timeout", "30000"],
                       capture_output=True, text=True, timeout=SECS + 180)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


fanout_cpu_pct = [0.0]  # the players-only run's node CPU share


def run_delay_s():
    """Seconds the node's threads were runnable but waiting for a CPU
    (/proc/PID/schedstat): how much the machine's other load held it back."""
    with open("/proc/%d/schedstat" % node.pid) as f:
        return int(f.read().split()[1]) / 1e9


def run(kind):
    c0, t0, p0, w0 = counters(), time.monotonic(), read_proc(node.pid)[0], run_delay_s()
    procs = flood(K, SECS + 60) if kind != "players" else []
    try:
        b = players() if kind != "flood" else None
        if kind == "flood":
            time.sleep(SECS)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
    c1, t1, p1, w1 = counters(), time.monotonic(), read_proc(node.pid)[0], run_delay_s()
    dt, cpu_s = t1 - t0, (p1 - p0) / os.sysconf("SC_CLK_TCK")
    # the players' own handshakes (one each) are not the flood's
    hs = c1["tls_handshakes_total"] - c0["tls_handshakes_total"] - (N if b else 0)
    row = {"run": kind, "seconds": round(dt, 1), "node_cpu_pct": round(cpu_s / dt * 100, 1),
           "node_waiting_pct": round((w1 - w0) / dt * 100, 1),
           "handshakes_per_s": round(hs / dt, 1),
           "handshake_failures": c1["tls_handshake_failures_total"]
           - c0["tls_handshake_failures_total"],
           "refused": c1["limit_refused_total"] - c0["limit_refused_total"]}
    if kind == "players":
        fanout_cpu_pct[0] = row["node_cpu_pct"]
    if kind != "players":
        # the node's CPU the handshakes took (in "both": less the players'
        # share of the players-only run): handshakes one core could complete
        hs_cpu = cpu_s - (fanout_cpu_pct[0] / 100 * dt if b else 0)
        row["handshakes_per_node_cpu_s"] = round(hs / hs_cpu) if hs_cpu > 0.05 else None
    if b is not None:
        row.update(players=b["players"], receiving=b["receiving"], ratio=b["ratio"],
                   player_ratio_min=b["player_ratio"]["min"], errors=b["errors"],
                   bench_cpu_pct=b["bench_cpu_pct"])
    time.sleep(2.0)  # the players' sessions and the stream end
    return row


wd = tempfile.mkdtemp(prefix="tls-hs-bench-")
node = tls_bench_node(wd)
https_port = node.https_port
node.start()
try:
    rows = [run(kind) for kind in ("players", "both", "flood")]
    for r in rows:
        print(json.dumps(r))
finally:
    node.stop()
