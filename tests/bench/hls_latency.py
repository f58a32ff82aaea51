"""HLS and LL-HLS latency to hls.js's playhead in headless Chromium (issue 19).

Two nodes, each fed the clip by ffmpeg -re in a loop (loopback: the
publisher's send time is the node's arrival time, within a millisecond):
one with LL-HLS (hls.segment_ms 2000, hls.part_ms 333; hls.js with
lowLatencyMode), one with classic HLS (2 s segments). tests/web/players.mjs
plays both at once and samples, every 200 ms, now less the playhead's
program date (hls.playingDate: the segment's EXT-X-PROGRAM-DATE-TIME, which
the node stamps with the wall clock at which the segment's first frame
arrived, plus the playhead's offset into the segment); the samples of the
first WARM_S seconds are dropped. Prints one JSON line per variant: p50,
p90, max, samples.

Usage: WEIR_BIN=build/weir python3 tests/bench/hls_latency.py CLIP.flv [WATCH_S]
(a Release build; the clip as tests/integration/conftest.py makes it;
needs chromium, node and web/node_modules as tests/web does).
"""
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from weirtest import Node, Procs, publish_cmd, wait_live  # noqa: E402

WEB_DIR = os.path.join(HERE, "..", "..", "web")
SCRIPT = os.path.join(HERE, "..", "web", "players.mjs")
WARM_S = 8
# hls.js's maxLiveSyncPlaybackRate: up to this speed it plays to reach its
# target latency (PART-HOLD-BACK with LL-HLS); 1 (its default) never catches up
RATE = float(os.environ.get("HLS_SYNC_RATE", "1.5"))
VARIANTS = {"ll-hls": {"segment_ms": 2000, "part_ms": 333, "window": 6},
            "hls": {"segment_ms": 2000, "window": 6}}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    clip = sys.argv[1]
    watch_s = float(sys.argv[2]) if len(sys.argv) > 2 else 30
    work = "/tmp/weir-hls-latency"
    os.makedirs(work, exist_ok=True)
    nodes = {k: Node(os.path.join(work, k), {"hls": v, "log": {"level": "info"}})
             for k, v in VARIANTS.items()}
    procs = Procs(work)
    try:
        for k, n in nodes.items():
            n.start()
            procs.spawn(publish_cmd(clip, n.rtmp_url("live", "lat"), loop=True), "pub-" + k)
        for n in nodes.values():
            wait_live(n, "live", "lat")
        players = [{"id": k, "lib": "hls", "low_latency": "part_ms" in VARIANTS[k],
                    "max_live_sync_rate": RATE,
                    "url": "http://%s:%d/live/lat.m3u8" % (n.host, n.http_port)}
                   for k, n in nodes.items()]
        cfg = {"watch_ms": watch_s * 1000, "timeout_ms": 30000, "players": players}
        res = subprocess.run(["node", SCRIPT, WEB_DIR, os.environ.get("WEIR_CHROMIUM",
                              "/usr/bin/chromium"), json.dumps(cfg)],
                             capture_output=True, text=True, timeout=watch_s + 120)
        if res.returncode != 0:
            sys.exit("players.mjs failed: " + res.stderr[-2000:])
        for r in json.loads(res.stdout.strip().splitlines()[-1])["players"]:
            start = r["first_frame_ms"] + WARM_S * 1000
            lags = [lag / 1000 for t, lag in r["lag_ms"] if t >= start]
            if r["fatal"] or not lags:
                print(json.dumps({"variant": r["id"], "error": r["fatal"] or "no samples"}))
                continue
            print(json.dumps({"variant": r["id"], "hls": VARIANTS[r["id"]], "sync_rate": RATE,
                              "p50_s": round(statistics.median(lags), 3),
                              "p90_s": round(pct(lags, 90), 3), "max_s": round(max(lags), 3),
                              "samples": len(lags),
                              "first_frame_s": round(r["first_frame_ms"] / 1000, 2),
                              "hlsjs_latency_s": r.get("latency"),
                              "hlsjs_target_s": r.get("target_latency"),
                              "parts_loaded": r["parts_loaded"],
                              "segments_loaded": r["segments_loaded"]}))
    finally:
        procs.stop_all()
        for n in nodes.values():
            n.stop()


if __name__ == "__main__":
    main()
