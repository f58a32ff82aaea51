"""Small helpers shared by hls_nginx.py, rec_cpu.py and tls_fanout.py: a
process's CPU seconds, the machine's load average, pinning to a core, the
weir-push publisher command, the stream bitrate of a clip (bench_util.py's)
and waiting for a TCP port. Standard library only."""
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


def pin(pid, core):
    """Binds pid to one core when the machine has more than one."""
    if os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(pid, {core})


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
