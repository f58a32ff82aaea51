"""The installed node (README "Install"): `cmake --install` into a temporary
DESTDIR, the installed binary started from another working folder on the
installed config (listeners moved to free loopback ports, storage to a temp
folder), a publish and an HTTP-FLV play, the dashboard from the installed
share folder through the API port, sd_notify's READY/RELOADING/STOPPING on a
$NOTIFY_SOCKET of the test's own; --version and --check-config; the Debian
package (cpack -G DEB) checked with dpkg-deb --info and --contents; and
`systemd-analyze verify` on the unit.

Run: WEIR_BUILD_DIR=build /usr/bin/python3 -m pytest -v -s tests/install
(ctest "install" in a build without sanitizers)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

import weirtest
from weirtest import publish_cmd, pull, probe_streams, run, wait_live

TOOLS = ("weir", "weir-push", "weir-pull", "weir-flv", "weir-bench")
DEPENDS = ("libevent-2.1-7", "libmicrohttpd12", "libcjson1", "libsqlite3-0", "libssl3")


def cache_value(build_dir, key):
    with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split("=", 1)[1].strip()
    raise AssertionError("%s not in CMakeCache.txt" % key)


def find_one(root, name):
    hits = [os.path.join(d, name) for d, _, files in os.walk(root) if name in files]
    assert len(hits) == 1, "%s installed %d times under %s: %r" % (name, len(hits), root, hits)
    return hits[0]


class Staged:
    """The tree `cmake --install` wrote under DESTDIR, and where things are."""

    def __init__(self, root, prefix):
        self.root = root
        self.prefix = prefix
        self.bindir = os.path.join(root + prefix, "bin")
        self.bin = os.path.join(self.bindir, "weir")
        self.config = find_one(root, "weir.json")
        self.unit = find_one(root, "weir.service")
        self.web = os.path.join(root + prefix, "share", "weir", "web")


@pytest.fixture(scope="module")
def staged(build_dir, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("destdir"))
    env = dict(os.environ, DESTDIR=root)
    t0 = time.monotonic()
    res = run(["cmake", "--install", build_dir], timeout=60, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "web/dist is not built" not in res.stderr, res.stderr
    print("\ncmake --install: %.1f s" % (time.monotonic() - t0))
    return Staged(root, cache_value(build_dir, "CMAKE_INSTALL_PREFIX"))


def test_install_puts_every_file_in_place(staged):
    for tool in TOOLS:
        path = os.path.join(staged.bindir, tool)
        assert os.access(path, os.X_OK), "%s not installed" % path
    assert os.path.isfile(os.path.join(staged.web, "index.html")), os.listdir(staged.root)
    assert os.path.isfile(os.path.join(os.path.dirname(staged.config), "README.weir.json"))
    conf = json.load(open(staged.config))
    assert conf["storage"]["path"] == "/var/lib/weir/weir.db", conf["storage"]
    assert conf["api"]["web_root"] == "web", conf["api"]
    assert conf["log"]["file"] == "", conf["log"]  # stderr: the journal
    unit = open(staged.unit).read()
    config_path = staged.config[len(staged.root):]
    assert "ExecStart=%s/bin/weir -c %s\n" % (staged.prefix, config_path) in unit, unit
    for line in ("Type=notify", "ExecReload=/bin/sh -c 'kill -HUP $$MAINPID'", "DynamicUser=yes",
                 "StateDirectory=weir", "ProtectSystem=strict", "NoNewPrivileges=yes",
                 "LimitNOFILE=16384"):
        assert line + "\n" in unit, "%s not in the unit" % line


def _notify_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.2)
    return s


def _wait_notify(sock, want, proc, timeout=10.0):
    """The next datagrams until one holds the line want; returns them."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            assert proc.poll() is None, "weir exited with %s" % proc.returncode
            continue
        got.append(msg)
        if want in msg.split("\n"):
            return got
    pytest.fail("no %s on NOTIFY_SOCKET within %.0f s (got %r)" % (want, timeout, got),
                pytrace=False)


def test_installed_node_runs_from_another_folder(staged, clip, tmp_path):
    """The installed binary on the installed config: ready only when it
    listens, serves the installed dashboard, carries a stream, reloads and
    stops under the readiness protocol."""
    rtmp, http, api = weirtest.free_ports(3)
    conf = json.load(open(staged.config))
    conf["rtmp"]["listen"] = "127.0.0.1:%d" % rtmp
    conf["http_flv"]["listen"] = "127.0.0.1:%d" % http
    conf["api"]["listen"] = "127.0.0.1:%d" % api
    conf["storage"]["path"] = str(tmp_path / "state" / "weir.db")
    with open(staged.config, "w") as f:  # the installed file, edited as an operator would
        json.dump(conf, f, indent=2)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    notify = _notify_socket(str(tmp_path / "notify.sock"))
    stderr_path = tmp_path / "weir.stderr"
    env = dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify.sock"))
    t0 = time.monotonic()
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen([staged.bin, "-c", staged.config], cwd=str(elsewhere),
                                stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env)
    publisher = None
    try:
        _wait_notify(notify, "READY=1", proc)
        ready_s = time.monotonic() - t0
        for port in (rtmp, http, api):  # READY=1 comes after the listeners
            assert weirtest.port_accepts(port), "port %d not accepting at READY=1" % port
        log = stderr_path.read_text()
        want = "from %s (api.web_root web, in " % staged.web
        assert want in log, "dashboard not served from the installed share folder:\n" + log
        print("\nREADY=1 %.2f s after exec; %s" % (ready_s, next(
            line for line in log.splitlines() if "dashboard:" in line)))

        with urllib.request.urlopen("http://127.0.0.1:%d/" % api, timeout=5) as r:
            assert r.status == 200
            body = r.read()
        assert body == open(os.path.join(staged.web, "index.html"), "rb").read()

        publisher = subprocess.Popen(
            publish_cmd(clip.path, "rtmp://127.0.0.1:%d/live/installed" % rtmp, loop=True),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        node = type("N", (), {"rtmp_port": rtmp, "host": "127.0.0.1"})
        wait_live(node, "live", "installed")
        out = tmp_path / "play.flv"
        res = pull("http://127.0.0.1:%d/live/installed.flv" % http, out, seconds=2, timeout=20)
        assert out.exists() and out.stat().st_size > 0, res.stderr
        streams = probe_streams(out)
        assert streams["video"]["codec_name"] == "h264", streams
        assert streams["audio"]["codec_name"] == "aac", streams

        proc.send_signal(signal.SIGHUP)
        got = _wait_notify(notify, "READY=1", proc)
        assert any("RELOADING=1" in m.split("\n") for m in got), got
        assert "MONOTONIC_USEC=" in got[0], got
        assert proc.poll() is None
    finally:
        if publisher:
            weirtest.interrupt(publisher)
        proc.send_signal(signal.SIGTERM)
    _wait_notify(notify, "STOPPING=1", proc)
    assert proc.wait(15) == 0, stderr_path.read_text()[-3000:]
    assert os.path.isfile(tmp_path / "state" / "weir.db")


def test_version_and_check_config(staged, tmp_path):
    res = run([staged.bin, "--version"], timeout=10)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "weir 0.1.0", lines
    assert any(line.startswith("build: ") for line in lines), lines
    assert any(line.startswith("libraries: libevent ") for line in lines), lines
    assert "share folder: %s/share/weir " % staged.prefix in res.stdout, res.stdout

    res = run([staged.bin, "--check-config", staged.config], timeout=10)
    assert (res.returncode, res.stdout) == (0, "ok\n"), res.stderr

    bad = tmp_path / "bad.json"
    for doc, key in (({"rtmp": {"chunk_sise": 4096}}, "rtmp.chunk_sise: unknown key"),
                     ({"limits": {"max_connections": -1}}, "limits.max_connections: must be"),
                     ({"api": {"web_root": 1}}, "api.web_root: expected a string")):
        bad.write_text(json.dumps(doc))
        res = run([staged.bin, "--check-config", str(bad)], timeout=10)
        assert res.returncode == 1 and key in res.stderr, (doc, res.returncode, res.stderr)
        assert str(bad) in res.stderr and res.stdout == "", res.stderr
    res = run([staged.bin, "--check-config", str(tmp_path / "missing.json")], timeout=10)
    assert res.returncode == 1 and "No such file" in res.stderr, res.stderr


def test_debian_package(build_dir, staged, tmp_path):
    if not shutil.which("dpkg-deb"):
        pytest.fail("dpkg-deb not found (Debian's dpkg)", pytrace=False)
    t0 = time.monotonic()
    res = run(["cpack", "-G", "DEB", "-B", str(tmp_path),
               "--config", os.path.join(build_dir, "CPackConfig.cmake")], timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    debs = [p for p in os.listdir(tmp_path) if p.endswith(".deb")]
    assert len(debs) == 1, os.listdir(tmp_path)
    deb = str(tmp_path / debs[0])
    info = run(["dpkg-deb", "--info", deb], timeout=30, check=True).stdout
    print("\ncpack -G DEB: %.1f s, %s (%d bytes)\n%s" % (
        time.monotonic() - t0, debs[0], os.path.getsize(deb), info))
    depends = next(line for line in info.splitlines() if line.strip().startswith("Depends:"))
    for pkg in DEPENDS:
        assert pkg in depends, "%s not in %s" % (pkg, depends)
    assert "libasan" not in depends, depends  # a sanitizer build is not packaged
    conffile = staged.config[len(staged.root):]
    assert conffile in run(["dpkg-deb", "--info", deb, "conffiles"], timeout=30).stdout
    for script in ("postinst", "prerm", "postrm"):
        assert " %s" % script in info, "%s missing:\n%s" % (script, info)

    contents = run(["dpkg-deb", "--contents", deb], timeout=30, check=True).stdout
    names = {line.split()[-1] for line in contents.splitlines()}
    p = "." + staged.prefix
    want = ["%s/bin/%s" % (p, t) for t in TOOLS] + [
        "%s/share/weir/web/index.html" % p, "." + conffile,
        "%s/lib/systemd/system/weir.service" % p, "%s/share/doc/weir/README.md" % p]
    missing = [w for w in want if w not in names]
    assert not missing, "not in the package: %r\n%s" % (missing, contents)


def test_systemd_analyze_verify(staged, tmp_path):
    """The unit as systemd reads it. Its ExecStart names the installed
    paths, which exist only under DESTDIR here: verified on a copy pointing
    there."""
    tool = shutil.which("systemd-analyze")
    if not tool:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    unit = open(staged.unit).read()
    config_path = staged.config[len(staged.root):]
    unit = unit.replace("%s/bin/weir" % staged.prefix, staged.bin)
    unit = unit.replace(config_path, staged.config)
    copy = tmp_path / "weir.service"
    copy.write_text(unit)
    res = run([tool, "verify", str(copy)], timeout=60)
    out = (res.stdout + res.stderr).strip()
    assert res.returncode == 0 and not out, out
