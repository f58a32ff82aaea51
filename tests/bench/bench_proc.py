"""Small helpers shared by hls_nginx.py, rec_cpu.py and tls_fanout.py: a
process's CPU seconds, the machine's load average, pinning to a core, the
weir-push publisher command, the stream bitrate of a clip (bench_util.py's)
and waiting for a TCP port. Standard library only."""
import json
import os
import socket
import subprocess
import time

from bench_util import clip_kbps  # noqa: F401  (re-exported)


def cpu_s(pid):
    """User + system CPU seconds of pid so far (/proc/PID/stat)."""
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def loadavg():
    """The 1-minute load average, rounded (2 cores on the bench machine)."""
    return round(os.getloadavg()[0], 2)


NICE = -10  # what run.sh --busy gives its servers and weir-bench


def threads(pid):
    """pid's thread ids (affinity and nice are per thread on Linux)."""
    try:
        return [int(t) for t in os.listdir("/proc/%d/task" % pid)]
    except OSError:
        return [pid]


def boost(pid):
    """Raises the priority of pid's threads to NICE (root only; else left as
    it is) so that foreign load on a shared machine takes less from the bench."""
    for tid in threads(pid):
        try:
            os.setpriority(os.PRIO_PROCESS, tid, NICE)
        except OSError:
            pass


def pin(pid, core):
    """Binds pid's threads to one core when the machine has more than one,
    and boosts them."""
    if os.cpu_count() and os.cpu_count() > 1:
        for tid in threads(pid):
            try:
                os.sched_setaffinity(tid, {core})
            except OSError:
                pass
    boost(pid)


def push_cmd(build, clip, url):
    """weir-push looping clip to url at real-time pace (C, a fraction of a
    percent of a core per 2.6 Mbit/s stream, so that 100 of them fit)."""
    return [os.path.join(build, "weir-push"), "--loop", clip, url]


def wait_port(port, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("port %d did not accept within %.0f s" % (port, timeout))


def build_c(src, out):
    subprocess.run(["cc", "-O2", "-o", out, src], check=True)
    return out


def bench_run(build, wd, pid, proto, n, secs, clip, publish_url, url, tag, extra=(), ramp=500):
    """One weir-bench run through bench_util.py run (pinned to CPU 1): its
    in-process publisher sends clip to publish_url (3 s alone first), n
    players play url (ramp 500/s, 5 latency probes, the others read every
    20 ms), secs s measured. Returns bench_util's record (ratio,
    min_player_ratio, cpu_pct, cpu_s_per_gbit, lat_p50/p99, ttff_p99,
    errors, bench_cpu_pct, ...; "error" when the run failed), at NICE, with the
    machine's load average at its start and end."""
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(wd, "runs.jsonl")
    load0 = loadavg()
    subprocess.run(["nice", "-n", str(NICE), "taskset", "-c", "1", "/usr/bin/python3", os.path.join(here, "bench_util.py"), "run",
                    "--server-pid", str(pid), "--server", "weir", "--proto", proto,
                    "--n", str(n), "--rep", "1", "--out", out,
                    "--log", os.path.join(wd, tag + ".bench.log"), "--",
                    os.path.join(build, "weir-bench"), "--publish", clip, "--publish-url", publish_url,
                    "--warmup", "3", "--players", str(n), "--url", url, "--ramp", str(ramp),
                    "--duration", str(secs), "--probes", "5", "--batch-ms", "20"] + list(extra),
                   check=True, timeout=secs + 180, stdout=subprocess.DEVNULL)
    rec = json.loads(open(out).read().splitlines()[-1])
    rec.update({"load_start": load0, "load_end": loadavg()})
    return rec
