"""TLS fan-out cost (issue 20, "Measured"): the node's CPU seconds per
delivered Gbit for N RTMPS and HTTPS-FLV players against the same N over
plaintext RTMP and HTTP-FLV, one node, one script, every player's delivered
ratio. The node (pinned to CPU 0) has rtmp, rtmps, http and https listeners
and a fresh self-signed P-256 certificate (tls_bench_node.py), at nice -10; each run is
one weir-bench (pinned to CPU 1, through bench_util.py run) whose own
publisher sends CLIP over plaintext RTMP, 3 s alone, then N players of one
kind (TLS verified against the certificate with --ca; TLS 1.3, AES-128-GCM,
the OpenSSL default), started at RAMP per second, SECS s measured after
every player has its first frame.
Kinds per round: rtmp, rtmps, http-flv, https-flv, the order reversed every
other round. Kernel TLS is not tried: see RESULTS.md (no tls module on the
bench kernel).
Per run one JSON line: delivered ratio (all players) and worst player's,
node CPU-s per delivered Gbit, latency p50/p99, TTFF p99, errors, weir-bench's
own CPU, the machine's load average at start and end; then per N the medians
and rtmps/rtmp, https/http.

Usage: WEIR_BIN=$PWD/build-rel/weir python3 tests/bench/tls_fanout.py "N1 N2" SECS CLIP.flv [ROUNDS]
(weir-bench from WEIR_BIN's directory)."""
import json, os, shutil, statistics, sys, tempfile
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from weirtest import Procs  # noqa: E402
from bench_proc import bench_run, pin  # noqa: E402
from tls_bench_node import tls_bench_node  # noqa: E402

NS = [int(x) for x in sys.argv[1].split()]
SECS, CLIP = float(sys.argv[2]), os.path.abspath(sys.argv[3])
ROUNDS = int(sys.argv[4]) if len(sys.argv) > 4 else 2
BUILD = os.path.dirname(os.path.abspath(os.environ["WEIR_BIN"]))
KINDS = ["rtmp", "rtmps", "http-flv", "https-flv"]
# Players start at RAMP per second (every kind alike; the window opens after
# the ramp). With the default tls.max_handshakes (256 at once) and a ramp of
# 500/s, a node starved of CPU by foreign load refused 93-167 of 500 TLS
# players ("tls_handshakes reached"): the bench allows every player's
# handshake at once; the handshake limit is tls_handshake.py's subject.
RAMP = 200
MAX_HANDSHAKES = 4096
FIELDS = ("ratio", "min_player_ratio", "cpu_pct", "cpu_s_per_gbit", "lat_p50", "lat_p99", "ttff_p99",
          "errors", "bench_cpu_pct", "cpu0_busy_pct", "load_start", "load_end", "error")


def url(kind):
    return {"rtmp": node.rtmp_url("live", "b"),
            "rtmps": "rtmps://localhost:%d/live/b" % node.rtmps_port,
            "http-flv": node.http_url("live", "b"),
            "https-flv": "https://localhost:%d/live/b.flv" % node.https_port}[kind]


wd = tempfile.mkdtemp(prefix="tls-fanout-")
node = tls_bench_node(wd, "warn", rtmps=True, nofile=20000, max_handshakes=MAX_HANDSHAKES)
procs = Procs(wd)
node.start()
pin(node.pid, 0)
try:
    for n in NS:
        rows = []
        for r in range(ROUNDS):
            for kind in (KINDS if r % 2 == 0 else KINDS[::-1]):
                rec = bench_run(BUILD, wd, node.pid, kind,
                                n, SECS, CLIP, node.rtmp_url("live", "b"), url(kind),
                                "%s-%d-%d" % (kind, n, r), ["--ca", wd + "/cert.pem"], ramp=RAMP)
                row = {"kind": kind, "n": n, "round": r + 1}
                row.update({k: rec[k] for k in FIELDS if k in rec})
                print(json.dumps(row), flush=True)
                rows.append(row)
        med = {k: statistics.median(x["cpu_s_per_gbit"] for x in rows
                                    if x["kind"] == k and x.get("cpu_s_per_gbit"))
               for k in KINDS}
        print(json.dumps({"players": n, "secs": SECS, "rounds": ROUNDS, "cpu_s_per_gbit_median": med,
                          "rtmps_over_rtmp": round(med["rtmps"] / med["rtmp"], 3),
                          "https_over_http": round(med["https-flv"] / med["http-flv"], 3),
                          "worst_player": {k: min(x.get("min_player_ratio") or 0 for x in rows if x["kind"] == k)
                                           for k in KINDS}}), flush=True)
finally:
    procs.stop_all()
    node.stop()
    shutil.rmtree(wd, ignore_errors=True)
