#!/usr/bin/python3
"""Helpers of tests/bench/run.sh (Debian's python3, standard library only).

  bench_util.py clip-kbps FILE.flv
      audio+video payload bitrate of an FLV file in kbit/s (sequence headers
      and metadata left out), the --expected-kbps of the reference runs.

  bench_util.py run --server-pid PID --server NAME --proto P --n N --rep R
                    --out RUNS.jsonl [--baseline-s S] -- weir-bench ARGS...
      runs one weir-bench (with --json-every-second added), samples the
      server's CPU time and RSS from /proc every 0.2 s, prints one line and
      appends one JSON record to RUNS.jsonl.

  bench_util.py summary RUNS.jsonl --results RESULTS.md --title T
                    [--note TEXT ...]
      medians per (server, protocol, N), ratios, and a fresh section written
      into RESULTS.md (newest first).

Windows: the baseline RSS is the median over the bench's "warmup" phase (the
publisher alone) or, without a publisher, over --baseline-s seconds before
the bench starts. The measurement window is the span between the first and
the last per-second report in the bench's "measure" phase, which lies inside
the bench's own window (it opens after the ramp, once every player has its
first video frame).
"""
import json
import os
import statistics
import subprocess
import sys
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- clip


def clip_kbps(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:3] != b"FLV":
        sys.exit("%s: not an FLV file" % path)
    pos = int.from_bytes(data[5:9], "big") + 4
    payload = 0
    first = None
    last = {8: [0, 0], 9: [0, 0]}  # type: [previous, last] rebased timestamps
    while pos + 11 <= len(data):
        ttype = data[pos] & 0x1F
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | data[pos + 7] << 24
        body = data[pos + 11:pos + 11 + size]
        if len(body) < size:
            break
        seq = False
        if ttype == 9 and size >= 2 and body[0] & 0x0F in (7, 12) and body[1] == 0:
            seq = True
        if ttype == 8 and size >= 2 and body[0] >> 4 == 10 and body[1] == 0:
            seq = True
        if ttype in (8, 9) and not seq:
            payload += size
            first = ts if first is None else first
            last[ttype] = [last[ttype][1], ts - first]
        pos += 11 + size + 4
    if first is None:
        sys.exit("%s: no media tags" % path)
    # The loop length of ref_server: one frame past the last tag of either kind.
    v, a = last[9], last[8]
    dur_ms = max(v[1] + (v[1] - v[0] if v[1] > v[0] else 33),
                 a[1] + (a[1] - a[0] if a[1] > a[0] else 23))
    return payload * 8 / dur_ms  # bits per ms = kbit/s


# ---------------------------------------------------------------- sampling


def read_cpu0():
    """(busy, softirq+irq) ticks of CPU 0 from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu0 "):
                v = [int(x) for x in line.split()[1:9]]
                # user nice system idle iowait irq softirq steal
                return v[0] + v[1] + v[2] + v[5] + v[6], v[5] + v[6]
    return 0, 0


def read_proc(pid):
    """(cpu_ticks, rss_kb) of pid, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        with open("/proc/%d/status" % pid) as f:
            status = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    rss = 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return ticks, rss


class Sampler(threading.Thread):
    def __init__(self, pid, period=0.2):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.samples = []  # (t, ticks, rss_kb, cpu0 busy ticks, cpu0 irq+softirq ticks)
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            s = read_proc(self.pid)
            if s is None:
                break
            self.samples.append((time.monotonic(), s[0], s[1]) + read_cpu0())
            self.stop.wait(self.period)

    def between(self, t0, t1):
        return [s for s in self.samples if t0 <= s[0] <= t1]


def pct(d, key):
    if not isinstance(d, dict):
        return None
    return d.get(key)


def fmt(v, spec=".1f", none="-"):
    return none if v is None else format(v, spec)


def cmd_run(argv):
    opts, cmd = parse_opts(argv)
    pid = int(opts["server-pid"])
    n = int(opts["n"])
    sampler = Sampler(pid)
    sampler.start()
    t_base0 = time.monotonic()
    time.sleep(float(opts.get("baseline-s", "0")))
    t_base1 = time.monotonic()

    log = open(opts["log"], "w") if "log" in opts else subprocess.DEVNULL
    t_start = time.monotonic()
    proc = subprocess.Popen(cmd + ["--json-every-second"], stdout=subprocess.PIPE,
                            stderr=log, text=True)
    reports, final = [], None
    for line in proc.stdout:
        now = time.monotonic()
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if "t_s" in obj:
            reports.append((now, obj))
        else:
            final = obj
    rc = proc.wait()
    sampler.stop.set()
    sampler.join()
    server_alive = read_proc(pid) is not None

    warm = [t for t, o in reports if o.get("phase") == "warmup"]
    if warm:
        base = sampler.between(warm[0] - 1.0, warm[-1])
    else:
        base = sampler.between(t_base0, t_base1)
    meas = [t for t, o in reports if o.get("phase") == "measure"]
    rec = {"server": opts["server"], "proto": opts["proto"], "n": n, "rep": int(opts["rep"]),
           "bench_rc": rc, "server_alive": server_alive, "final": final}
    win = sampler.between(meas[0], meas[-1]) if len(meas) >= 2 else []
    if final is None or len(win) < 2 or not base:
        rec["error"] = "no final JSON or measurement window too short (rc %d, %d samples)" % (
            rc, len(win))
    else:
        dt = win[-1][0] - win[0][0]
        cpu = (win[-1][1] - win[0][1]) / CLK_TCK / dt  # cores
        cpu0_busy = (win[-1][3] - win[0][3]) / CLK_TCK / dt
        cpu0_irq = (win[-1][4] - win[0][4]) / CLK_TCK / dt
        rss_run = statistics.median(s[2] for s in win)
        rss_base = statistics.median(s[2] for s in base)
        gbps = (final.get("delivered_kbps") or 0) / 1e6
        rec.update({
            "window_s": round(dt, 2),
            "ratio": final.get("ratio"),
            "min_player_ratio": pct(final.get("player_ratio"), "min"),
            "cpu_pct": round(cpu * 100, 1),
            "cpu_s_per_gbit": round(cpu / gbps, 4) if gbps > 0 else None,
            # Everything CPU 0 did (user, system, irq, softirq): the server
            # plus the loopback softirq work run there, which the kernel
            # does not charge to any process, plus any foreign load.
            "cpu0_busy_pct": round(cpu0_busy * 100, 1),
            "cpu0_softirq_pct": round(cpu0_irq * 100, 1),
            "cpu0_s_per_gbit": round(cpu0_busy / gbps, 4) if gbps > 0 else None,
            "rss_base_kb": rss_base,
            "rss_run_kb": rss_run,
            "rss_per_player_kb": round((rss_run - rss_base) / n, 2),
            "ttff_p50": pct(final.get("ttff_ms"), "p50"),
            "ttff_p99": pct(final.get("ttff_ms"), "p99"),
            "lat_p50": pct(final.get("latency_ms"), "p50"),
            "lat_p99": pct(final.get("latency_ms"), "p99"),
            "kf_ok": pct(final.get("keyframe_starts"), "ok"),
            "kf_total": pct(final.get("keyframe_starts"), "total"),
            "connected": final.get("connected"),
            "errors": {k: v for k, v in (final.get("errors") or {}).items() if v},
            "bench_cpu_pct": final.get("bench_cpu_pct"),
        })
    with open(opts["out"], "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(run_line(rec), flush=True)
    return 0


def run_line(r):
    head = "%-9s %-8s N=%-5d rep %d" % (r["server"], r["proto"], r["n"], r["rep"])
    if "error" in r:
        return head + "  FAILED: " + r["error"]
    err = ",".join("%s:%d" % kv for kv in sorted(r["errors"].items())) or "-"
    return (head + "  ratio %s (min player %s)  cpu %5.1f%%  %s cpu-s/Gbit (CPU 0: %s)"
            "  rss/player %s KB  ttff p50/p99 %s/%s ms"
            "  latency p50/p99 %s/%s ms  keyframe starts %s/%s  errors %s  bench cpu %s%%"
            "  CPU 0 busy %s%% (softirq %s%%)"
            % (fmt(r["ratio"], ".4f"), fmt(r.get("min_player_ratio"), ".4f"), r["cpu_pct"],
               fmt(r["cpu_s_per_gbit"], ".3f"), fmt(r.get("cpu0_s_per_gbit"), ".3f"),
               fmt(r["rss_per_player_kb"], ".2f"), fmt(r["ttff_p50"], ".0f"),
               fmt(r["ttff_p99"], ".0f"), fmt(r["lat_p50"], ".1f"), fmt(r["lat_p99"], ".1f"),
               r["kf_ok"], r["kf_total"], err, fmt(r["bench_cpu_pct"], ".0f"),
               fmt(r.get("cpu0_busy_pct"), ".1f"), fmt(r.get("cpu0_softirq_pct"), ".1f")))


def parse_opts(argv):
    opts, rest = {}, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            rest = argv[i + 1:]
            break
        if not a.startswith("--") or i + 1 >= len(argv):
            sys.exit("bench_util.py: bad argument %r" % a)
        key = a[2:]
        if key == "note":
            opts.setdefault("note", []).append(argv[i + 1])
        else:
            opts[key] = argv[i + 1]
        i += 2
    return opts, rest


# ---------------------------------------------------------------- summary

SERVERS = ("weir", "weir2", "weirm", "nginx", "ref")
FIELDS = ("ratio", "min_player_ratio", "cpu_pct", "cpu0_busy_pct", "cpu0_softirq_pct",
          "cpu_s_per_gbit", "cpu0_s_per_gbit", "rss_per_player_kb", "ttff_p50", "ttff_p99",
          "lat_p50", "lat_p99")


def median_of(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def ratio_str(a, b, min_den=0.0):
    if a is None or b is None or b <= min_den:
        return "n/a"
    return "%.2f" % (a / b)


def variant_rows(med, ns, server):
    """(protocol, N, Weir's medians, server's medians) for each protocol and N
    that server (a Weir variant: weir2, weirm) ran."""
    for proto in ("rtmp", "http-flv"):
        for n in ns:
            v = med.get((server, proto, n), {})
            if v:
                yield proto, n, med.get(("weir", proto, n), {}), v


def cmd_summary(argv):
    opts, rest = parse_opts(argv[1:])
    runs = [json.loads(l) for l in open(argv[0]) if l.strip()]
    groups = {}
    for r in runs:
        groups.setdefault((r["server"], r["proto"], r["n"]), []).append(r)
    ns = sorted({k[2] for k in groups})
    med = {}
    lines = []
    lines.append("| server | protocol | N | runs | delivered/ expected | min player ratio "
                 "| server CPU % | CPU-s/ Gbit | CPU 0 busy % (softirq) "
                 "| CPU 0 s/Gbit | RSS/ player KB | TTFF p50/p99 ms "
                 "| latency p50/p99 ms | keyframe starts (worst run) | errors |")
    lines.append("|---|---|" + "--:|" * 12 + "---|")
    for n in ns:
        for proto in ("rtmp", "http-flv"):
            for s in SERVERS:
                rows = groups.get((s, proto, n))
                if not rows:
                    continue
                ok = [r for r in rows if "error" not in r]
                m = {k: median_of(ok, k) for k in FIELDS}
                med[(s, proto, n)] = m
                kf = [(r["kf_ok"], r["kf_total"]) for r in ok if r.get("kf_total")]
                kf_worst = "%d/%d" % min(kf, key=lambda x: x[0] / x[1]) if kf else "-"
                errs = {}
                for r in ok:
                    for k, v in r.get("errors", {}).items():
                        errs[k] = errs.get(k, 0) + v
                failed = len(rows) - len(ok)
                err = ", ".join("%s %d" % kv for kv in sorted(errs.items()))
                if failed:
                    err = (err + ", " if err else "") + "%d run(s) failed" % failed
                cells = [s, proto, str(n), str(len(ok)), fmt(m["ratio"], ".4f"),
                         fmt(m["min_player_ratio"], ".4f"), fmt(m["cpu_pct"], ".1f"),
                         fmt(m["cpu_s_per_gbit"], ".3f"),
                         "%s (%s)" % (fmt(m["cpu0_busy_pct"], ".1f"),
                                      fmt(m["cpu0_softirq_pct"], ".1f")),
                         fmt(m["cpu0_s_per_gbit"], ".3f"),
                         fmt(m["rss_per_player_kb"], ".2f"),
                         "%s/%s" % (fmt(m["ttff_p50"], ".0f"), fmt(m["ttff_p99"], ".0f")),
                         "%s/%s" % (fmt(m["lat_p50"], ".1f"), fmt(m["lat_p99"], ".1f")),
                         kf_worst, err or "-"]
                lines.append("| " + " | ".join(cells) + " |")

    rlines = []
    rlines.append("| N | CPU-s/Gbit Weir HTTP-FLV / ref | CPU-s/Gbit Weir RTMP / ref "
                  "| CPU-s/Gbit Weir RTMP / nginx-rtmp | the same three in CPU 0 s/Gbit "
                  "| RSS/player Weir RTMP / nginx-rtmp "
                  "| RSS/player KB: Weir RTMP, Weir HTTP-FLV, nginx-rtmp, ref |")
    rlines.append("|--:|--:|--:|--:|---|--:|---|")
    for n in ns:
        wr = med.get(("weir", "rtmp", n), {})
        wh = med.get(("weir", "http-flv", n), {})
        ng = med.get(("nginx", "rtmp", n), {})
        rf = med.get(("ref", "http-flv", n), {})
        c = "cpu_s_per_gbit"
        cs = "cpu0_s_per_gbit"
        m = "rss_per_player_kb"
        rlines.append("| %d | %s | %s | %s | %s, %s, %s | %s | %s, %s, %s, %s |" % (
            n, ratio_str(wh.get(c), rf.get(c)), ratio_str(wr.get(c), rf.get(c)),
            ratio_str(wr.get(c), ng.get(c)), ratio_str(wh.get(cs), rf.get(cs)),
            ratio_str(wr.get(cs), rf.get(cs)), ratio_str(wr.get(cs), ng.get(cs)),
            ratio_str(wr.get(m), ng.get(m), 0.05),
            fmt(wr.get(m), ".2f"), fmt(wh.get(m), ".2f"), fmt(ng.get(m), ".2f"),
            fmt(rf.get(m), ".2f")))

    w2lines = []
    if any(k[0] == "weir2" for k in med):
        w2lines.append("| protocol | N | CPU-s/Gbit workers:2 / workers:1 | latency p99 ms "
                       "workers:1, workers:2 | TTFF p99 ms workers:1, workers:2 | delivered "
                       "workers:1, workers:2 |")
        w2lines.append("|---|--:|--:|---|---|---|")
        for proto, n, w1, w2 in variant_rows(med, ns, "weir2"):
            w2lines.append("| %s | %d | %s | %s, %s | %s, %s | %s, %s |" % (
                proto, n, ratio_str(w2.get("cpu_s_per_gbit"), w1.get("cpu_s_per_gbit")),
                fmt(w1.get("lat_p99"), ".1f"), fmt(w2.get("lat_p99"), ".1f"),
                fmt(w1.get("ttff_p99"), ".0f"), fmt(w2.get("ttff_p99"), ".0f"),
                fmt(w1.get("ratio"), ".4f"), fmt(w2.get("ratio"), ".4f")))

    wmlines = []
    if any(k[0] == "weirm" for k in med):
        wmlines.append("| protocol | N | CPU-s/Gbit merge_ms 20 / weir | CPU-s/Gbit merge_ms 20 "
                       "/ nginx-rtmp | latency p99 ms weir, merge_ms 20, nginx-rtmp "
                       "| delivered weir, merge_ms 20 |")
        wmlines.append("|---|--:|--:|--:|---|---|")
        for proto, n, w1, wm in variant_rows(med, ns, "weirm"):
            ng = med.get(("nginx", "rtmp", n), {})
            wmlines.append("| %s | %d | %s | %s | %s, %s, %s | %s, %s |" % (
                proto, n, ratio_str(wm.get("cpu_s_per_gbit"), w1.get("cpu_s_per_gbit")),
                ratio_str(wm.get("cpu_s_per_gbit"), ng.get("cpu_s_per_gbit")),
                fmt(w1.get("lat_p99"), ".1f"), fmt(wm.get("lat_p99"), ".1f"),
                fmt(ng.get("lat_p99"), ".1f"),
                fmt(w1.get("ratio"), ".4f"), fmt(wm.get("ratio"), ".4f")))

    per_run = ["```"] + [run_line(r) for r in runs] + ["```"]
    section = ["## %s" % opts.get("title", "run"), ""]
    for note in opts.get("note", []):
        section.append(note)
    section += ["", "Medians per server, protocol and N:", ""] + lines
    section += ["", "Ratios of the medians (the RSS ratio is n/a when the denominator is under "
                "0.05 KB):", ""] + rlines
    if w2lines:
        section += ["", "`workers: 2` (weir2) against `workers: 1` (weir):", ""]
        section += w2lines
    if wmlines:
        section += ["", "Merged writes (weirm: `player.merge_ms: 20`) against weir and "
                    "nginx-rtmp:", ""] + wmlines
    section += ["", "<details><summary>Every run</summary>", ""] + per_run
    section += ["", "</details>", ""]
    text = "\n".join(section)
    print("\n".join(lines))
    print()
    print("\n".join(rlines))
    for extra in (w2lines, wmlines):
        if extra:
            print()
            print("\n".join(extra))

    path = opts.get("results")
    if path:
        marker = "<!-- new sections go below this line, newest first -->"
        if os.path.exists(path):
            old = open(path).read()
        else:
            old = ("# Fan-out benchmark results\n\nWritten by `tests/bench/run.sh` (see "
                   "README.md in this directory for the columns and the caveats).\n\n"
                   + marker + "\n")
        if marker not in old:
            old = old.rstrip("\n") + "\n\n" + marker + "\n"
        head, tail = old.split(marker, 1)
        with open(path, "w") as f:
            f.write(head + marker + "\n\n" + text + "\n" + tail.lstrip("\n"))
    return 0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "clip-kbps":
        print("%.1f" % clip_kbps(argv[0]))
        return 0
    if cmd == "run":
        return cmd_run(argv)
    if cmd == "summary":
        return cmd_summary(argv)
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
