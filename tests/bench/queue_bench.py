#!/usr/bin/env python3
"""queue_bench.py: the loop-to-worker queue and the shared-message choice of
`workers: n` (issue 23), measured by queue_bench.c. See README.md here.

Usage: queue_bench.py [--repeat R] [--quick] [--results FILE | --no-write] [--work DIR]

Builds queue_bench.c with node/core/wq.c (cc -O2), runs the queue matrix
(wq against the lock-free ring, 1..3 consumers, 1/100/1000 streams' rates
and saturation) and the message matrix (a shared refcounted message against
a copy per consumer, 200 B / 8 KB / 64 KB, 1..3 consumers, payload read or
not), each pair of variants side by side in alternating order, R times;
then writes medians, paired ratios with their spread, and what each option
costs the node at 1000 streams x 3 workers as a new section at the top of
RESULTS.md (after the marker line). Exit 1 when a run fails its own checks
(an item lost, repeated or out of order, or a lost wake-up).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MARKER = "<!-- new sections go below this line, newest first -->"

MSGS_PER_STREAM = 77            # the bench clip: 30 video + 47 audio messages/s
VIDEO_PER_S, AUDIO_PER_S = 30, 47
VIDEO_BYTES = 2_500_000 // 8 // 30   # 2.5 Mbit/s at 30 fps: 10416 B a frame
STREAMS = [1, 100, 1000]
SIZES = [200, 8192, 65536]
# Per payload size: messages a second and messages per msg run (the first
# 300 untimed: queue_bench.c's WARMUP), about 0.2 s each.
MSG_RATES = {200: 40000, 8192: 20000, 65536: 4000}
MSG_COUNTS = {200: 8300, 8192: 4300, 65536: 1300}
MODES = ["base", "shared", "pad", "copy"]
RUN_TIMEOUT_S = 30


def parse_args(argv):
    opts = {"repeat": 3, "results": os.path.join(HERE, "RESULTS.md"), "work": None,
            "quick": False}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--quick":
            opts["quick"], opts["repeat"] = True, 1
        elif a == "--no-write":
            opts["results"] = None
        elif a in ("--repeat", "--results", "--work") and i + 1 < len(argv):
            opts[a[2:]] = int(argv[i + 1]) if a == "--repeat" else argv[i + 1]
            i += 1
        else:
            sys.exit(__doc__)
        i += 1
    if opts["repeat"] < 1:
        sys.exit("--repeat: at least 1")
    return opts


def build(work):
    exe = os.path.join(work, "queue_bench")
    subprocess.run(["cc", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-pthread",
                    "-I", os.path.join(ROOT, "node", "core"), "-o", exe,
                    os.path.join(HERE, "queue_bench.c"),
                    os.path.join(ROOT, "node", "core", "wq.c")], check=True)
    return exe


def run_one(exe, args):
    env = dict(os.environ, QB_PIN="1" if (os.cpu_count() or 1) >= 2 else "0")
    p = subprocess.run([exe] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=RUN_TIMEOUT_S, env=env)
    if p.returncode != 0:
        sys.exit("queue_bench %s failed (%d): %s" % (" ".join(map(str, args)), p.returncode,
                                                     p.stderr.strip()))
    r = json.loads(p.stdout)
    if r["lost_wakes"]:
        sys.exit("queue_bench %s: %d lost wake-ups" % (" ".join(map(str, args)),
                                                      r["lost_wakes"]))
    return r


def queue_metrics(r):
    items = r["items"]
    return {
        "prod_ns": r["prod_push_s"] / items * 1e9,   # wall time inside the pushes
        "prod_cpu_ns": r["prod_cpu_s"] / items * 1e9,
        "cons_cpu_ns": r["cons_cpu_s"] / items * 1e9,
        "items_s": items / r["wall_s"],
        # the producer's time in its pushes (pinned alone on its CPU: its CPU
        # time there), not its pacing sleeps; the consumers' whole thread CPU
        "cpu_s_per_m": (r["prod_push_s"] + r["cons_cpu_s"]) / items * 1e6,
        "efd_per_item": r["efd_writes"] / items,
        "wakes_per_item": r["wakes"] / items,
        "refused": r["refused"],
    }


def msg_metrics(r):
    c = r["consumers"]
    prod, cons = r["prod_mean_ns"], r["cons_mean_ns"]
    return {"prod_ns": prod, "cons_ns": cons, "total_ns": prod + c * cons,
            "prod_med_ns": r["prod_med_ns"], "cons_med_ns": r["cons_med_ns"],
            "cpu_ns": (r["prod_cpu_s"] + r["cons_cpu_s"]) / r["messages"] * 1e9}


def run_queue_matrix(exe, opts, log):
    """{(consumers, streams or 0): {impl: [metrics per rep]}}"""
    out = {}
    loads = [0, 1000] if opts["quick"] else STREAMS + [0]
    for rep in range(opts["repeat"]):
        for c in (1, 2, 3):
            for s in loads:
                rate = s * MSGS_PER_STREAM
                ms = 250 if s == 0 else 400
                impls = ["wq", "spsc"] if (rep + c + s) % 2 == 0 else ["spsc", "wq"]
                for impl in impls:
                    m = queue_metrics(run_one(exe, ["queue", impl, c, rate, ms]))
                    out.setdefault((c, s), {}).setdefault(impl, []).append(m)
                    log("queue %-4s c=%d streams=%-4s %s" % (
                        impl, c, s or "sat", " ".join("%s=%.4g" % kv for kv in m.items())))
    return out


def run_msg_matrix(exe, opts, log):
    """{(consumers, size, touch): {mode: [metrics per rep]}}"""
    out = {}
    consumers = (3,) if opts["quick"] else (1, 2, 3)
    for rep in range(opts["repeat"]):
        for c in consumers:
            for size in SIZES:
                for touch in (0, 1):
                    order = MODES if (rep + c + touch) % 2 == 0 else MODES[::-1]
                    for mode in order:
                        n = MSG_COUNTS[size]
                        m = msg_metrics(run_one(exe, ["msg", mode, c, size, n, touch,
                                                      MSG_RATES[size]]))
                        out.setdefault((c, size, touch), {}).setdefault(mode, []).append(m)
                        log("msg %-6s c=%d size=%-5d touch=%d %s" % (
                            mode, c, size, touch,
                            " ".join("%s=%.4g" % kv for kv in m.items())))
    return out


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def spread(vals):
    """'median (min-max)' of paired ratios."""
    return "%.2f (%.2f-%.2f)" % (statistics.median(vals), min(vals), max(vals))


def paired(a_rows, b_rows, key):
    return [b[key] / a[key] for a, b in zip(a_rows, b_rows) if a[key] > 0]


def queue_table(q):
    lines = [
        "| consumers | load (items/s per queue) | producer ns/item wq, spsc | consumer CPU ns/item"
        " wq, spsc | CPU-s per M items wq, spsc | spsc/wq CPU per item: median (min-max) |"
        " items/s wq, spsc | eventfd writes per item wq, spsc | consumer wakes per item wq, spsc |",
        "|--:|---|---|---|---|---|---|---|---|"]
    for (c, s), d in sorted(q.items(), key=lambda kv: (kv[0][0], kv[0][1] or 10 ** 9)):
        w, l = d["wq"], d["spsc"]
        load = "saturation" if s == 0 else "%d streams: %d" % (s, s * MSGS_PER_STREAM)
        lines.append("| %d | %s | %.0f, %.0f | %.0f, %.0f | %.3f, %.3f | %s | %s | %.3f, %.3f | "
                     "%.3f, %.3f |" % (
                         c, load, med(w, "prod_ns"), med(l, "prod_ns"), med(w, "cons_cpu_ns"),
                         med(l, "cons_cpu_ns"), med(w, "cpu_s_per_m"), med(l, "cpu_s_per_m"),
                         spread(paired(w, l, "cpu_s_per_m")),
                         "%.2fM, %.2fM" % (med(w, "items_s") / 1e6, med(l, "items_s") / 1e6)
                         if s == 0 else "(paced)",
                         med(w, "efd_per_item"), med(l, "efd_per_item"),
                         med(w, "wakes_per_item"), med(l, "wakes_per_item")))
    return lines


def msg_table(m):
    lines = [
        "| consumers | payload | payload read | producer ns/msg base, shared, pad, copy |"
        " consumer ns/item base, shared, pad, copy | per message over base (producer +"
        " all consumers), ns: shared, pad, copy | copy/shared of that: median (min-max) |",
        "|--:|--:|--:|---|---|---|---|"]
    for (c, size, touch), d in sorted(m.items()):
        over = {k: [r["total_ns"] - b["total_ns"] for r, b in zip(d[k], d["base"])]
                for k in ("shared", "pad", "copy")}
        ratios = [cp / sh for cp, sh in zip(over["copy"], over["shared"]) if sh > 0]
        lines.append("| %d | %s | %s | %s | %s | %s | %s |" % (
            c, "%d B" % size if size < 1024 else "%d KB" % (size // 1024),
            "yes" if touch else "no",
            ", ".join("%.0f" % med(d[k], "prod_ns") for k in MODES),
            ", ".join("%.0f" % med(d[k], "cons_ns") for k in MODES),
            ", ".join("%.0f" % statistics.median(over[k]) for k in ("shared", "pad", "copy")),
            spread(ratios) if ratios else "n/a"))
    return lines


def over_base(m, c, size, touch, mode, key):
    """The median over the pairs of mode's key less base's (ns)."""
    d = m[(c, size, touch)]
    return statistics.median(r[key] - b[key] for r, b in zip(d[mode], d["base"]))


def per_message_ns(m, c, touch, mode, key="total_ns"):
    """The option's own cost for one message of the clip's mix (audio at the
    200 B point; video at VIDEO_BYTES, between the 8 KB and 64 KB points)."""
    a = over_base(m, c, 200, touch, mode, key)
    v8, v64 = over_base(m, c, 8192, touch, mode, key), over_base(m, c, 65536, touch, mode, key)
    v = v8 + (v64 - v8) * (VIDEO_BYTES - 8192) / (65536 - 8192)
    return (AUDIO_PER_S * a + VIDEO_PER_S * v) / MSGS_PER_STREAM


def perspective(q, m):
    """Lines: what each option costs at 1000 streams x 3 workers."""
    c = 3
    msgs = 1000 * MSGS_PER_STREAM
    items = msgs * c
    out = ["1000 streams of the bench clip (2.66 Mbit/s: %d messages/s each, %d video frames of "
           "about %d B and %d audio frames, costed at the 200 B point; video between the 8 KB and "
           "64 KB points) with players on 3 workers fed by the loop: %d messages/s, %d queue "
           "items/s. Shares of one core = ns x rate." % (
               MSGS_PER_STREAM, VIDEO_PER_S, VIDEO_BYTES, AUDIO_PER_S, msgs, items), ""]
    if (c, 1000) in q:
        for impl in ("wq", "spsc"):
            cost = med(q[(c, 1000)][impl], "cpu_s_per_m") * items / 1e6
            out.append("- the hand-off through %s (pushes + the workers' wakes and pops, measured "
                       "at that rate): %.1f%% of one core" % (impl, cost * 100))
    if (c, 200, 0) not in m:
        return out
    share = {}
    for mode, name in (("copy", "(b) a copy per worker (Weir now)"),
                       ("shared", "(a) one shared message, atomic refcount"),
                       ("pad", "(a') the same, refcount on its own cache line")):
        for touch in (0, 1):
            ns = per_message_ns(m, c, touch, mode)
            loop = per_message_ns(m, c, touch, mode, "prod_ns")
            share[(mode, touch)] = ns * msgs / 1e9
            out.append("- %s%s: %.0f ns a message, %.1f%% of one core, of which the loop "
                       "thread %.1f%%" % (name, ", payload read once per worker" if touch else "",
                                          ns, ns * msgs / 1e7, loop * msgs / 1e7))
    out.append("- (b) less (a): %.1f%% of one core (%.1f%% with the payload read)" % (
        (share[("copy", 0)] - share[("shared", 0)]) * 100,
        (share[("copy", 1)] - share[("shared", 1)]) * 100))
    gop = 2 * 2_661_600 // 8
    out.append("- memory: (b) keeps a copy of each stream's ring and GOP cache per worker (about "
               "one 2 s GOP, %.2f MB, each): %.1f GB more at 1000 streams x 3 workers; (a) keeps "
               "one (the workers' rings hold pointers)" % (gop / 1e6, gop * 1000 * c / 1e9))
    out.append("- the bench clip itself (1 stream, 3 workers): (b) %.3f%% of one core, (a) "
               "%.3f%%" % (share[("copy", 0)] / 1000 * 100, share[("shared", 0)] / 1000 * 100))
    return out


def machine_line():
    cc = subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout
    load = open("/proc/loadavg").read().split()[:3]
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "?"
    return ("- machine: %d CPUs, load average %s at the start; %s; Weir %s (node/core/wq.c as "
            "built)" % (os.cpu_count(), " ".join(load), cc.splitlines()[0] if cc else "cc ?",
                        commit))


def write_section(path, text):
    old = open(path).read() if os.path.exists(path) else "# Fan-out benchmark results\n\n" + MARKER
    if MARKER not in old:
        old = old.rstrip("\n") + "\n\n" + MARKER + "\n"
    before, after = old.split(MARKER, 1)
    with open(path, "w") as f:
        f.write(before + MARKER + "\n\n" + text + "\n" + after.lstrip("\n"))


def main():
    opts = parse_args(sys.argv[1:])
    work = opts["work"] or tempfile.mkdtemp(prefix="queue-bench-")
    os.makedirs(work, exist_ok=True)
    raw = open(os.path.join(work, "runs.log"), "w")

    def log(line):
        raw.write(line + "\n")

    t0 = time.monotonic()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    machine = machine_line()
    exe = build(work)
    q = run_queue_matrix(exe, opts, log)
    m = run_msg_matrix(exe, opts, log)
    took = time.monotonic() - t0
    raw.close()
    cmd = "tests/bench/queue_bench.py" + (" --quick" if opts["quick"] else "") + \
        " --repeat %d" % opts["repeat"]
    sec = ["## %s — the loop-to-worker queue and the shared message (issue 23)%s" % (
        started, ", quick" if opts["quick"] else ""), "",
        "- command: `%s` (took %.0f s; every run's line in `%s`)" % (cmd, took,
                                                                    os.path.join(work, "runs.log")),
        machine,
        "- %d run(s) of each variant; the variants of one cell run back to back in alternating "
        "order and ratios are taken per pair, then the median and the spread (min-max) of the "
        "pairs. Producer and consumers are threads of one process; the producer pinned to CPU 0, "
        "every consumer to CPU 1 (`QB_PIN=1`): 2-4 threads on 2 shared cores, so 2 and 3 "
        "consumers take turns on one core." % opts["repeat"],
        "", "### Queue: wq (mutex + eventfd) against a lock-free SPSC ring", ""]
    sec += queue_table(q)
    sec += ["", "### Shared message: atomic refcount against a copy per consumer "
            "(hand-off through the SPSC ring, outside the timed regions)", ""]
    sec += msg_table(m)
    sec += ["", "### In perspective", ""] + perspective(q, m) + [""]
    text = "\n".join(sec)
    print(text)
    if opts["results"]:
        write_section(opts["results"], text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
