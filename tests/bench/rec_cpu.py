"""Recording cost and its effect on fan-out (issue 21, "Measured"): one Weir
node pinned to CPU 0 (it, the publishers and weir-bench at nice -10), STREAMS publishers (weir-push, looping the clip in real
time) on rec/s0 .. rec/sK, and a fan-out stream live/b that weir-bench
publishes itself and plays to PLAYERS players (pinned to CPU 1, through
bench_util.py run: delivered ratio, worst player, latency p99, node CPU).

Per format (flv, fmp4, ...), in one node and one run, with the streams
publishing throughout:
  idle-off    SECS s of the STREAMS publishers alone: the node's CPU
  idle-on     the same with a recorder {"app": "rec", "name": "*", format,
              "segment_s": 10} (POST /api/v1/recorders) writing every stream
              under record.root (a folder under /tmp): the node's CPU and
              weir_record_bytes_total's growth; CPU-s per recorded Gbit =
              (idle-on CPU - idle-off CPU) / recorded Gbit, the total node
              CPU per recorded Gbit beside it
  fanout-off  PLAYERS players of live/b without recording (the reference)
  fanout-on   the same while the recorder writes every rec/ stream
The order is reversed for every other format. The recorder is deleted and
its files removed after each format (the folder is removed at the end).
Every phase line carries the machine's load average, the writer queue's
depth, dropped messages and failures.

Usage: WEIR_BIN=$PWD/build-rel/weir python3 tests/bench/rec_cpu.py STREAMS PLAYERS SECS CLIP.flv
         [FORMATS [PROTO]]
FORMATS: comma-separated (default flv,fmp4); PROTO: rtmp (default) or http-flv.
weir-push and weir-bench are taken from WEIR_BIN's directory."""
import json, os, re, shutil, sys, tempfile, time, urllib.request
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from weirtest import Node, Procs, wait_live  # noqa: E402
from bench_proc import bench_run, boost, cpu_s, loadavg, pin, push_cmd  # noqa: E402

STREAMS, PLAYERS, SECS = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
CLIP = os.path.abspath(sys.argv[4])
FORMATS = sys.argv[5].split(",") if len(sys.argv) > 5 else ["flv", "fmp4"]
PROTO = sys.argv[6] if len(sys.argv) > 6 else "rtmp"
BUILD = os.path.dirname(os.path.abspath(os.environ["WEIR_BIN"]))


def api(method, path, body=None):
    req = urllib.request.Request(node.api_url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        data = r.read()
    return json.loads(data) if data else None


def metrics():
    text = urllib.request.urlopen(node.api_url + "/metrics", timeout=30).read().decode()
    out = {}
    for m in re.finditer(r"^(weir_(?:record|streams|recordings)[a-z_]*)(\{[^}]*\})? (\d+)$", text, re.M):
        out[m.group(1) + (m.group(2) or "")] = int(m.group(3))
    return out


def wait_metric(name, want, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if metrics().get(name, 0) == want:
            return
        time.sleep(0.5)
    raise RuntimeError("%s did not reach %d within %.0f s (%r)" % (name, want, timeout, metrics()))


def rec_state(m0, m1, dt):
    fails = sum(v - m0.get(k, 0) for k, v in m1.items() if k.startswith("weir_record_failures_total"))
    return {"recorded_gbit": round((m1["weir_record_bytes_total"] - m0["weir_record_bytes_total"]) * 8 / 1e9, 4),
            "recorded_mbit_s": round((m1["weir_record_bytes_total"] - m0["weir_record_bytes_total"]) * 8 / 1e6
                                     / dt, 1),
            "files": m1["weir_record_files_total"] - m0["weir_record_files_total"],
            "dropped_msgs": m1["weir_record_dropped_msgs_total"] - m0["weir_record_dropped_msgs_total"],
            "failures": fails, "queue_depth_end": m1["weir_record_queue_depth"]}


def idle(fmt, on):
    time.sleep(1.0)
    load0, m0, c0, t0 = loadavg(), metrics(), cpu_s(node.pid), time.monotonic()
    time.sleep(SECS)
    c1, t1, m1 = cpu_s(node.pid), time.monotonic(), metrics()
    row = {"phase": "idle-" + ("on" if on else "off"), "format": fmt, "streams": STREAMS,
           "node_cpu_pct": round(100 * (c1 - c0) / (t1 - t0), 1), "node_cpu_s": round(c1 - c0, 3),
           "load_start": load0, "load_end": loadavg()}
    row.update(rec_state(m0, m1, t1 - t0))
    return row


def fanout(fmt, on):
    tag = "%s-%s-%s" % (fmt, "on" if on else "off", PLAYERS)
    url = node.rtmp_url("live", "b") if PROTO == "rtmp" else node.http_url("live", "b")
    m0, t0 = metrics(), time.monotonic()
    r = bench_run(BUILD, wd, node.pid, PROTO, PLAYERS, SECS, CLIP, node.rtmp_url("live", "b"), url, tag)
    row = {"phase": "fanout-" + ("on" if on else "off"), "format": fmt, "players": PLAYERS,
           "proto": PROTO, "load_start": r["load_start"], "load_end": r["load_end"]}
    for k in ("error", "ratio", "min_player_ratio", "lat_p50", "lat_p99", "ttff_p99", "cpu_pct",
              "cpu_s_per_gbit", "errors", "bench_cpu_pct", "cpu0_busy_pct"):
        if k in r:
            row[k] = r[k]
    row.update(rec_state(m0, metrics(), time.monotonic() - t0))
    return row


wd = tempfile.mkdtemp(prefix="rec-bench-", dir="/tmp")
root = wd + "/rec"
os.makedirs(root)
node = Node(wd + "/node", {"record": {"root": root},
                           "limits": {"max_connections": 5000, "max_connections_per_address": 5000},
                           "log": {"level": "warn"}}, nofile=20000)
procs = Procs(wd)
node.start()
pin(node.pid, 0)
try:
    for i in range(STREAMS):
        boost(procs.spawn(push_cmd(BUILD, CLIP, node.rtmp_url("rec", "s%d" % i)), "pub%d" % i).pid)
    wait_metric("weir_streams", STREAMS, timeout=60.0)
    wait_live(node, "rec", "s%d" % (STREAMS - 1))
    time.sleep(3.0)
    rows = []
    for k, fmt in enumerate(FORMATS):
        rec_id = None

        def start():
            global rec_id
            rec_id = api("POST", "/api/v1/recorders", {"app": "rec", "name": "*", "format": fmt,
                                                       "segment_s": 10})["id"]
            wait_metric("weir_recordings", STREAMS, timeout=60.0)

        def stop():
            api("DELETE", "/api/v1/recorders/" + rec_id)
            wait_metric("weir_recordings", 0, timeout=60.0)
            for e in os.listdir(root):
                shutil.rmtree(os.path.join(root, e), ignore_errors=True)

        off = [lambda: idle(fmt, False), lambda: fanout(fmt, False)]
        on = [start, lambda: idle(fmt, True), lambda: fanout(fmt, True), stop]
        for step in (off + on if k % 2 == 0 else [on[0]] + on[1:3][::-1] + [on[3]] + off[::-1]):
            row = step()
            if row:
                print(json.dumps(row), flush=True)
                rows.append(row)
        by = {r["phase"]: r for r in rows if r["format"] == fmt}
        gbit = by["idle-on"]["recorded_gbit"]
        fo, fn = by["fanout-off"], by["fanout-on"]
        print(json.dumps({
            "format": fmt, "streams": STREAMS, "players": PLAYERS,
            "recorded_mbit_s": by["idle-on"]["recorded_mbit_s"],
            "cpu_s_per_recorded_gbit": round((by["idle-on"]["node_cpu_s"] - by["idle-off"]["node_cpu_s"]) / gbit, 4)
            if gbit else None,
            "node_cpu_s_per_recorded_gbit_total": round(by["idle-on"]["node_cpu_s"] / gbit, 4) if gbit else None,
            "fanout_ratio_off_on": [fo.get("ratio"), fn.get("ratio")],
            "fanout_min_player_off_on": [fo.get("min_player_ratio"), fn.get("min_player_ratio")],
            "latency_p99_ms_off_on": [fo.get("lat_p99"), fn.get("lat_p99")]}), flush=True)
finally:
    procs.stop_all()
    node.stop()
    shutil.rmtree(wd, ignore_errors=True)
