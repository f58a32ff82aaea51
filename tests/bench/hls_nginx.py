"""Weir's HLS, LL-HLS and fMP4 against nginx-rtmp's HLS (issue 19, "Measured"):
CPU seconds per delivered Gbit at the same N of players, side by side in one
script, with every server's own delivered ratio.

Servers, all started here and fed the same clip by weir-push (looping, real
time), each pinned to CPU 0 (the load tool to CPU 1), all at nice -10 (as
run.sh --busy: the bench machine is shared):
  weir-hls: a Weir node with the defaults (hls.part_ms 0: classic HLS,
            2 s segments, window 6);
  weir-ll:  a Weir node with hls.part_ms 333 (LL-HLS);
  nginx:    nginx 1.22 + libnginx-mod-rtmp, one process (master_process off),
            `hls on` writing its fragments (hls_fragment 2s,
            hls_playlist_length 12s: Weir's segment and window) to a tmpfs
            folder (/dev/shm) that the same process serves over HTTP
            (sendfile on, access_log off).
Kinds (one run each per round, the order reversed every other round):
  weir flv         HTTP-FLV players of weir-hls (Weir's own reference);
  weir hls-ts      classic HLS players of weir-hls, MPEG-TS segments;
  weir hls-fmp4    the same, fMP4 (/live/b/index.fmp4.m3u8, .m4s);
  weir llhls-ts    LL-HLS players of weir-ll (blocking reload, parts);
  weir llhls-fmp4  the same, fMP4 parts;
  nginx hls-ts     classic HLS players of nginx-rtmp's files.
The players are hls_load.c (flv, seg: classic, hls: LL-HLS modes). Per run:
the server's CPU-s per delivered Gbit (every byte) and per media Gbit
(segment and part bodies), the delivered ratio (media bit rate per player over
the clip's FLV payload bit rate: MPEG-TS adds ~5% when a player keeps up; a
classic player's bytes come a segment at a time, so its ratio over SECS
varies by about a segment over SECS), the worst player's ratio, RSS growth per
player, requests per second, errors, the load tool's CPU and the machine's
load average at the start and the end of the run.

Usage: WEIR_BIN=build-rel/weir python3 tests/bench/hls_nginx.py N SECS CLIP.flv [ROUNDS [WARM]]
(weir-push is taken from WEIR_BIN's directory; run as root: nginx binds and
writes its files as the caller)."""
import json, os, shutil, statistics, subprocess, sys, tempfile, time, urllib.request
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from weirtest import Node, Procs, free_ports, wait_live  # noqa: E402
from bench_proc import NICE, boost, build_c, clip_kbps, cpu_s, loadavg, pin, push_cmd, rss_kb, wait_port  # noqa: E402

N = int(sys.argv[1]); SECS = float(sys.argv[2]); CLIP = os.path.abspath(sys.argv[3])
ROUNDS = int(sys.argv[4]) if len(sys.argv) > 4 else 2
WARM = float(sys.argv[5]) if len(sys.argv) > 5 else 5.0
BUILD = os.path.dirname(os.path.abspath(os.environ["WEIR_BIN"]))
KBPS = clip_kbps(CLIP)
KINDS = [("weir", "flv"), ("weir", "hls-ts"), ("weir", "hls-fmp4"), ("weir", "llhls-ts"),
         ("weir", "llhls-fmp4"), ("nginx", "hls-ts")]

NGINX_CONF = """worker_processes 1;
daemon off;
master_process off;
worker_rlimit_nofile 20000;
error_log %(wd)s/nginx-error.log warn;
pid %(wd)s/nginx.pid;
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
events { worker_connections 10000; }
rtmp {
    server {
        listen 127.0.0.1:%(rtmp)d;
        chunk_size 4096;
        application live {
            live on;
            hls on;
            hls_path %(shm)s/hls;
            hls_fragment 2s;
            hls_playlist_length 12s;
        }
    }
}
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
    server {
        listen 127.0.0.1:%(http)d;
        location /hls/ { root %(shm)s; add_header Cache-Control no-cache; }
    }
}
"""


def target(server, kind):
    """(pid, port, hls_load mode, playlist path or None)."""
    if server == "nginx":
        return nginx.pid, ng_http, "seg", "/hls/b.m3u8"
    node = ll if kind.startswith("llhls") else plain
    mode = {"flv": "flv", "hls": "seg", "llhls": "hls"}[kind.split("-")[0]]
    path = "/live/b/index.fmp4.m3u8" if kind.endswith("fmp4") else "/live/b.m3u8"
    return node.pid, node.http_port, mode, (None if mode == "flv" else path)


def run(server, kind):
    pid, port, mode, path = target(server, kind)
    time.sleep(1.0)
    load0, rss0 = loadavg(), rss_kb(pid)
    cmd = ["nice", "-n", str(NICE), "taskset", "-c", "1", LOAD, mode, str(port), "live", "b", str(N), str(WARM), str(SECS)]
    p = subprocess.Popen(cmd + ([path] if path else []), stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.strip() == "WINDOW_START", "hls_load: %r" % line
        c0 = cpu_s(pid)
        res = json.loads(p.stdout.readline())
        c1 = cpu_s(pid)
        rss1 = rss_kb(pid)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    gbit, media = res["bytes"] * 8 / 1e9, res["media"] * 8 / 1e9
    per_player = lambda b: round(b * 8 / res["secs"] / (KBPS * 1e3), 3)  # noqa: E731
    return {"server": server, "kind": kind, "n": N, "cpu_s": round(c1 - c0, 3),
            "cpu_pct": round(100 * (c1 - c0) / res["secs"], 1), "gbit": round(gbit, 3),
            "cpu_s_per_gbit": round((c1 - c0) / gbit, 4) if gbit else None,
            "cpu_s_per_media_gbit": round((c1 - c0) / media, 4) if media else None,
            "ratio": per_player(res["media"] / N), "min_player_ratio": per_player(res["player_media_min"]),
            "p1_player_ratio": per_player(res["player_media_p1"]),
            "rss_per_player_kb": round((rss1 - rss0) / N, 2),
            "requests_per_s": round(res["requests"] / res["secs"]),
            "status_errors": res["status_errors"], "reconnects": res["reconnects"],
            "skipped": res["parts_skipped"],
            "tool_cpu_pct": round(100 * res["tool_cpu_s"] / res["secs"], 1),
            "load_start": load0, "load_end": loadavg()}


def nginx_live(timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            body = urllib.request.urlopen("http://127.0.0.1:%d/hls/b.m3u8" % ng_http, timeout=5).read()
            if body.count(b"#EXTINF") >= 3:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("nginx-rtmp wrote no playlist of 3 fragments in %.0f s" % timeout)


wd = tempfile.mkdtemp(prefix="hls-nginx-")
shm = tempfile.mkdtemp(prefix="hls-nginx-", dir="/dev/shm")
LOAD = build_c(os.path.join(HERE, "hls_load.c"), wd + "/hls_load")
over = {"limits": {"max_connections": 5000, "max_connections_per_address": 5000},
        "log": {"level": "warn"}}
plain = Node(wd + "/weir-hls", dict(over, hls={"idle_timeout_s": 600}), nofile=20000)
ll = Node(wd + "/weir-ll", dict(over, hls={"part_ms": 333, "idle_timeout_s": 600}), nofile=20000)
ng_rtmp, ng_http = free_ports(2)
with open(wd + "/nginx.conf", "w") as f:
    f.write(NGINX_CONF % {"wd": wd, "shm": shm, "rtmp": ng_rtmp, "http": ng_http})
procs = Procs(wd)
nginx = None
try:
    for node in (plain, ll):
        node.start()
        pin(node.pid, 0)
    nginx = procs.spawn(["taskset", "-c", "0", "nginx", "-p", wd, "-c", wd + "/nginx.conf"], "nginx")
    boost(nginx.pid)
    wait_port(ng_rtmp)
    for node in (plain, ll):
        boost(procs.spawn(push_cmd(BUILD, CLIP, node.rtmp_url("live", "b")), "pub-%d" % node.http_port).pid)
    boost(procs.spawn(push_cmd(BUILD, CLIP, "rtmp://127.0.0.1:%d/live/b" % ng_rtmp), "pub-nginx").pid)
    for node in (plain, ll):
        wait_live(node, "live", "b")
        for pl in ("/live/b.m3u8", "/live/b/index.fmp4.m3u8"):  # the stream's HLS state, both containers
            urllib.request.urlopen("http://127.0.0.1:%d%s" % (node.http_port, pl), timeout=30).read()
    nginx_live()
    time.sleep(2 * 2.0 * 6)  # twice a full window (6 segments of 2 s)
    rows = []
    for r in range(ROUNDS):
        for server, kind in (KINDS if r % 2 == 0 else KINDS[::-1]):
            row = run(server, kind)
            row["round"] = r + 1
            print(json.dumps(row), flush=True)
            rows.append(row)
    med = {}
    for server, kind in KINDS:
        sel = [x for x in rows if (x["server"], x["kind"]) == (server, kind)]
        med["%s %s" % (server, kind)] = {k: statistics.median(x[k] for x in sel)
                                         for k in ("cpu_s_per_gbit", "cpu_s_per_media_gbit", "ratio",
                                                   "min_player_ratio", "rss_per_player_kb")}
    ref = med["nginx hls-ts"]["cpu_s_per_media_gbit"]
    flv = med["weir flv"]["cpu_s_per_media_gbit"]
    print(json.dumps({"players": N, "secs": SECS, "rounds": ROUNDS, "clip_kbps": round(KBPS, 1),
                      "medians": med,
                      "over_nginx_hls_per_media_gbit": {k: round(v["cpu_s_per_media_gbit"] / ref, 3)
                                                        for k, v in med.items()},
                      "over_weir_flv_per_media_gbit": {k: round(v["cpu_s_per_media_gbit"] / flv, 3)
                                                       for k, v in med.items()}}), flush=True)
finally:
    procs.stop_all()
    for node in (plain, ll):
        if node.alive():
            node.stop()
    shutil.rmtree(shm, ignore_errors=True)
    shutil.rmtree(wd, ignore_errors=True)
