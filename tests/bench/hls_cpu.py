"""LL-HLS against HTTP-FLV (issue 19, "Measured"): the node's CPU seconds per
delivered Gbit and RSS per player with N players of one stream, same node,
same publisher, PAIRS pairs of runs alternating flv, hls, flv, hls, ... (WARM s
warm-up, then SECS measured); ratios are per pair, then their median. The players are hls_load.c (built here with cc -O2), one
process, epoll: HTTP-FLV players read everything; LL-HLS players poll the
playlist with blocking reloads (_HLS_msn/_HLS_part of the preload hint) and
fetch every new part, one keep-alive connection each (see hls_load.c).
The tool's own CPU in the window is reported (it must stay well under one
core, or it is the limit).
RSS per player: (node VmRSS at the end of the window - VmRSS just before
the players connect) / N. The HLS state of the stream is made before the
first run (one playlist request; hls.idle_timeout_s is long), so the
baseline already holds the segments and a per-player copy of them would
show as hundreds of KB per player.
Usage: WEIR_BIN=build-rel/weir python3 tests/bench/hls_cpu.py N SECS CLIP.flv [WARM [PAIRS]]
(a Release build; a clip like tests/integration/conftest.py's clip_heavy)."""
import json, os, statistics, subprocess, sys, tempfile, time, urllib.request
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from weirtest import Node, Procs, publish_cmd, wait_live

N = int(sys.argv[1]); SECS = float(sys.argv[2]); CLIP = sys.argv[3]
WARM = float(sys.argv[4]) if len(sys.argv) > 4 else 4.0
PAIRS = int(sys.argv[5]) if len(sys.argv) > 5 else 2
HERE = os.path.dirname(os.path.abspath(__file__))


def cpu(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def run(kind):
    time.sleep(1.0)
    rss0 = node.rss_kb()
    p = subprocess.Popen([LOAD, kind, str(node.http_port), "live", "b", str(N), str(WARM), str(SECS)],
                         stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.strip() == "WINDOW_START", "hls_load: %r" % line
        c0 = cpu(node.pid)
        res = json.loads(p.stdout.readline())
        c1 = cpu(node.pid)
        rss1 = node.rss_kb()
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    gbit = res["bytes"] * 8 / 1e9
    media = res["media"] * 8 / 1e9
    return {"kind": kind, "node_cpu_s": round(c1 - c0, 3), "gbit": round(gbit, 3),
            "mbit_per_player": round(media * 1e3 / N / res["secs"], 3),
            "cpu_s_per_gbit": round((c1 - c0) / gbit, 4),
            "cpu_s_per_media_gbit": round((c1 - c0) / media, 4),
            "rss_per_player_kb": round((rss1 - rss0) / N, 2),
            "tool_cpu_pct": round(100 * res["tool_cpu_s"] / res["secs"], 1),
            "requests_per_s": round(res["requests"] / res["secs"]),
            "status_errors": res["status_errors"], "reconnects": res["reconnects"],
            "parts_skipped": res["parts_skipped"]}


wd = tempfile.mkdtemp(prefix="hls-bench-")
LOAD = wd + "/hls_load"
subprocess.run(["cc", "-O2", "-o", LOAD, HERE + "/hls_load.c"], check=True)
node = Node(wd + "/node", {
    "hls": {"part_ms": 333, "idle_timeout_s": 600},
    "limits": {"max_connections": 5000, "max_connections_per_address": 5000},
    "log": {"level": "warn"}})
procs = Procs(wd)
node.start()
try:
    procs.spawn(publish_cmd(CLIP, node.rtmp_url("live", "b"), loop=True), "pub")
    wait_live(node, "live", "b")
    urllib.request.urlopen("http://127.0.0.1:%d/live/b.m3u8" % node.http_port, timeout=30).read()
    time.sleep(2 * 2.0 * 6)  # twice a full window (hls.window x hls.segment_ms, the defaults)
    rows = []
    for _ in range(PAIRS):
        pair = {kind: run(kind) for kind in ("flv", "hls")}
        pair["hls"]["hls_over_flv_cpu_per_gbit"] = round(
            pair["hls"]["cpu_s_per_gbit"] / pair["flv"]["cpu_s_per_gbit"], 3)
        pair["hls"]["hls_over_flv_media_mbit"] = round(
            pair["hls"]["mbit_per_player"] / pair["flv"]["mbit_per_player"], 3)
        for kind in ("flv", "hls"):
            print(json.dumps(pair[kind]), flush=True)
            rows.append(pair[kind])

    def median(k, field):
        return statistics.median(r[field] for r in rows if r["kind"] == k)
    print(json.dumps({
        "players": N, "secs": SECS, "pairs": PAIRS,
        "hls_over_flv_cpu_per_gbit_median": median("hls", "hls_over_flv_cpu_per_gbit"),
        "hls_rss_per_player_kb_median": median("hls", "rss_per_player_kb"),
        "flv_rss_per_player_kb_median": median("flv", "rss_per_player_kb")}))
finally:
    procs.stop_all()
    node.stop()
