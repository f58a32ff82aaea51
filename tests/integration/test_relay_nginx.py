"""Relays against another server: nginx with the RTMP module (Debian's
libnginx-mod-rtmp) on loopback. Weir pushes a published stream to nginx, and
pulls a stream published to nginx. nginx runs with its own prefix, config,
pid and logs in the test's tmp dir (no system-wide config), started by the
test and stopped after it.

Skipped, saying why, only when nginx or its RTMP module is not installed
(.ci/setup installs both).
"""

import os
import shutil
import signal
import subprocess
import time

import pytest

import weirtest
from relayutil import (APP, api_of, create_relay, relay_body, rtmp_first_video, stream_live,
                       wait_active, wait_for, FlvPlayer, check_stream_start)
from weirtest import describe_mismatch, find_run, framemd5, probe_streams

RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"


class Nginx:
    def __init__(self, workdir):
        self.dir = str(workdir)
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        self.port = weirtest.free_port()
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.error_log = os.path.join(self.dir, "logs", "error.log")
        with open(self.conf, "w") as f:
            f.write("""worker_processes 1;
daemon off;
master_process off;
error_log %(log)s info;
pid %(dir)s/nginx.pid;
load_module %(mod)s;
events { worker_connections 256; }
rtmp {
    server {
        listen 127.0.0.1:%(port)d;
        chunk_size 4096;
        application live {
            live on;
        }
    }
}
""" % {"log": self.error_log, "dir": self.dir, "mod": RTMP_MODULE, "port": self.port})
        self.proc = None

    def start(self):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        with open(os.path.join(self.dir, "nginx.stderr"), "wb") as err:
            self.proc = subprocess.Popen(
                [nginx, "-p", self.dir, "-c", self.conf, "-e", self.error_log],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        deadline = time.monotonic() + 10
        while not weirtest.port_accepts(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("nginx did not start on port %d:\n%s\n%s" % (
                    self.port, weirtest.tail_file(os.path.join(self.dir, "nginx.stderr")),
                    weirtest.tail_file(self.error_log)), pytrace=False)
            time.sleep(0.05)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def url(self, name):
        return "rtmp://127.0.0.1:%d/%s/%s" % (self.port, APP, name)

    def log(self):
        return weirtest.tail_file(self.error_log, 40)


def _nginx_missing():
    if not (shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK)):
        return "nginx is not installed (Debian package nginx; .ci/setup installs it)"
    if not os.path.exists(RTMP_MODULE):
        return "%s is missing (Debian package libnginx-mod-rtmp; .ci/setup installs it)" % (
            RTMP_MODULE)
    return None


@pytest.fixture
def nginx(tmp_path, procs):
    """A started nginx-rtmp (after procs, so it is stopped after the players)."""
    why = _nginx_missing()
    if why:
        pytest.skip(why)
    n = Nginx(tmp_path / "nginx").start()
    yield n
    n.stop()


def _assert_clip(path, clip, what):
    streams = probe_streams(path)
    assert "video" in streams and "audio" in streams, "%s: streams %r" % (what, list(streams))
    assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
    got = framemd5(path)
    assert len(got) >= 2 * clip.fps, "%s: only %d video packets" % (what, len(got))
    # nginx may start a player anywhere in a GOP; the packets are still a run of the clip.
    assert find_run(got, clip.vmd5, cyclic=True) is not None, "%s: %s" % (
        what, describe_mismatch(got, clip.vmd5))


def test_push_from_weir_to_nginx(node, procs, nginx, clip, tmp_path):
    w = node(relay={"connect_timeout_ms": 3000})
    api = api_of(w)
    rid = create_relay(api, relay_body("push", ["rtmp://127.0.0.1:%d/%s" % (nginx.port, APP)]))[
        "id"]
    procs.spawn(weirtest.publish_cmd(clip.path, w.rtmp_url(APP, "n"), loop=True), "publisher")
    rel = wait_for("the push to nginx up", lambda: (lambda r: r if r["status"] == "active" else
                                                    None)(api.get("/api/v1/relays/%s" % rid).json()),
                   timeout=15, diag=[w])
    assert rel["streams"][0]["current_url"] == nginx.url("n"), rel

    out = tmp_path / "from-nginx.flv"
    res = weirtest.pull(nginx.url("n"), out, seconds=3, timeout=25)
    assert out.exists() and out.stat().st_size > 0, "pull from nginx failed: %s\n%s\n%s" % (
        res.stderr, nginx.log(), w.diagnostics(30))
    _assert_clip(out, clip, "player of nginx")
    assert api.get("/api/v1/relays/%s" % rid).json()["status"] == "active"


def test_pull_from_nginx_into_weir(node, procs, nginx, clip, tmp_path):
    procs.spawn(weirtest.publish_cmd(clip.path, nginx.url("m"), loop=True), "publisher")
    # Published to nginx once a player of nginx gets video.
    probe = tmp_path / "probe.flv"
    deadline = time.monotonic() + 15
    while True:
        weirtest.pull(nginx.url("m"), probe, seconds=0.5, timeout=15)
        if probe.exists() and probe.stat().st_size > 1000:
            break
        assert time.monotonic() < deadline, "nothing to play at nginx:\n%s" % nginx.log()
        time.sleep(0.3)

    w = node(relay={"connect_timeout_ms": 3000})
    api = api_of(w)
    rid = create_relay(api, relay_body("pull", [nginx.url("m")], name="m", mode="always"))["id"]
    wait_active(api, rid, timeout=10, diag=[w])
    st = wait_for("live/m on Weir", lambda: stream_live(api, APP, "m"), timeout=10, diag=[w])
    assert st["source"] == "relay", st

    rtmp_first_video(w.rtmp_port, APP, "m", frames=3)
    fp = FlvPlayer(w.http_port, APP, "m")
    try:
        check_stream_start(fp.wait_video(10, timeout=10), fp.what)
    finally:
        fp.close()
    out = tmp_path / "from-weir.flv"
    weirtest.pull(w.rtmp_url(APP, "m"), out, seconds=3, timeout=25)
    _assert_clip(out, clip, "player of Weir")
    got = framemd5(out)
    i = find_run(got, clip.vmd5, cyclic=True)
    assert i % clip.gop_frames == 0, "Weir's player starts at clip packet %d, not a key frame" % i
