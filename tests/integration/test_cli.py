"""Command line, configuration errors, listen errors and signals."""

import os
import signal
import socket
import time

import pytest

import weirtest
from weirtest import HOST, Node, run, weir_bin


def test_version():
    res = run([weir_bin(), "--version"], timeout=10)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines, "--version printed nothing on stdout (stderr: %r)" % res.stderr
    assert lines[0].strip() == "weir 0.1.0", lines


def test_help():
    res = run([weir_bin(), "--help"], timeout=10)
    assert res.returncode == 0, res.stderr
    assert "-c" in res.stdout, "--help does not describe -c: %r" % res.stdout
    assert "--version" in res.stdout, "--help does not mention --version: %r" % res.stdout


def test_unknown_option_fails():
    res = run([weir_bin(), "--no-such-option"], timeout=10)
    assert res.returncode != 0
    assert res.stderr.strip(), "no message on stderr"


def _run_config(tmp_path, overrides):
    """Writes a config (free loopback ports, temp paths) plus overrides and
    runs weir on it; a bad config must make it exit on its own."""
    n = Node(tmp_path / "cfg", overrides)
    return run([weir_bin(), "-c", n.config_path], timeout=10, cwd=n.workdir)


@pytest.mark.parametrize("overrides, path", [
    ({"rtmp": {"chunk_sise": 4096}}, "rtmp.chunk_sise"),
    ({"player": {"queue_msec": 100}}, "player.queue_msec"),
    ({"stream": {"gop_cache": 1, "publish_takover": True}}, "stream.publish_takover"),
], ids=["rtmp", "player", "stream"])
def test_unknown_key_is_rejected(tmp_path, overrides, path):
    res = _run_config(tmp_path, overrides)
    assert res.returncode != 0, "weir accepted an unknown key %s" % path
    assert path in res.stderr, "stderr does not name %s: %r" % (path, res.stderr)


def test_unknown_section_is_rejected(tmp_path):
    res = _run_config(tmp_path, {"rtmpp": {"listen": "127.0.0.1:1"}})
    assert res.returncode != 0
    assert "rtmpp" in res.stderr, res.stderr


@pytest.mark.parametrize("overrides, path", [
    ({"rtmp": {"chunk_size": "4096"}}, "rtmp.chunk_size"),
    ({"rtmp": {"chunk_size": 4096.5}}, "rtmp.chunk_size"),
    ({"http_flv": {"wait_for_stream": 1}}, "http_flv.wait_for_stream"),
    ({"log": {"level": 3}}, "log.level"),
    ({"stream": {"play_wait_ms": -1}}, "stream.play_wait_ms"),
    ({"http_flv": {"cors_origin": None}}, "http_flv.cors_origin"),
    ({"rtmp": {"listen": 1935}}, "rtmp.listen"),
], ids=["string-for-int", "fraction", "int-for-bool", "int-for-level", "negative",
        "null-for-string", "int-for-listen"])
def test_wrong_type_is_rejected(tmp_path, overrides, path):
    res = _run_config(tmp_path, overrides)
    assert res.returncode != 0, "weir accepted %r" % overrides
    assert path in res.stderr, "stderr does not name %s: %r" % (path, res.stderr)


@pytest.mark.parametrize("overrides, path", [
    ({"rtmp": {"chunk_size": 1}}, "rtmp.chunk_size"),
    ({"rtmp": {"listen": "nonsense"}}, "rtmp.listen"),
    ({"log": {"level": "verbose"}}, "log.level"),
    ({"rtmp": {"listen": "127.0.0.1:0"}}, "rtmp.listen"),
    ({"http_flv": {"listen": "127.0.0.1:0"}}, "http_flv.listen"),
    ({"api": {"listen": "127.0.0.1:0"}}, "api.listen"),
], ids=["out-of-range", "bad-listen", "bad-level", "rtmp-port-0", "http-flv-port-0",
        "api-port-0"])
def test_bad_value_is_rejected(tmp_path, overrides, path):
    res = _run_config(tmp_path, overrides)
    assert res.returncode != 0, "weir accepted %r" % overrides
    assert path in res.stderr, "stderr does not name %s: %r" % (path, res.stderr)


def test_invalid_json_is_rejected(tmp_path):
    cfg = tmp_path / "broken.json"
    cfg.write_text('{"rtmp": {"listen": "127.0.0.1:1935",,}}')
    res = run([weir_bin(), "-c", str(cfg)], timeout=10, cwd=str(tmp_path))
    assert res.returncode != 0
    assert res.stderr.strip(), "no message on stderr"


def test_missing_config_file(tmp_path):
    missing = str(tmp_path / "nope.json")
    res = run([weir_bin(), "-c", missing], timeout=10, cwd=str(tmp_path))
    assert res.returncode != 0
    assert "nope.json" in res.stderr, res.stderr


def test_fifo_config_file_is_refused(tmp_path):
    """A FIFO as the config file (no writer) must not block the start."""
    fifo = str(tmp_path / "weir.json")
    os.mkfifo(fifo)
    t0 = time.monotonic()
    res = run([weir_bin(), "-c", fifo], timeout=10, cwd=str(tmp_path))
    assert res.returncode != 0
    assert time.monotonic() - t0 < 5
    assert fifo in res.stderr and "not a regular file" in res.stderr, res.stderr


@pytest.mark.parametrize("section", ["rtmp", "http_flv"])
def test_port_in_use(tmp_path, section):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind((HOST, 0))
        busy.listen(1)
        addr = "%s:%d" % (HOST, busy.getsockname()[1])
        res = _run_config(tmp_path, {section: {"listen": addr}})
    assert res.returncode != 0, "weir started although %s was taken" % addr
    assert addr in res.stderr, "stderr does not name %s: %r" % (addr, res.stderr)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_exits_zero(tmp_path, sig):
    n = Node(tmp_path / "n").start()
    try:
        time.sleep(0.3)
        assert n.alive()
        rc = n.stop(sig)
        assert rc == 0, "exit code %r after %s\n%s" % (rc, sig.name, n.diagnostics())
        assert not n.sanitizer_report(), n.sanitizer_report()
        assert os.path.getsize(n.log_path) > 0, "log.file %s is empty" % n.log_path
    finally:
        n.kill()


def test_sigterm_with_open_sessions(node, procs, clip, tmp_path):
    """SIGTERM with a publisher, players, a connection that never did the
    handshake and an unfinished HTTP request head: exit 0, promptly."""
    n = node()
    pub = procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url("live", "term"), loop=True),
                      "publisher")
    weirtest.wait_live(n, "live", "term")
    rtmp_player = procs.spawn(weirtest.pull_cmd(n.rtmp_url("live", "term"), tmp_path / "r.flv"),
                              "rtmp-player")
    http_player = procs.spawn(weirtest.pull_cmd(n.http_url("live", "term"), tmp_path / "h.flv"),
                              "http-player")
    idle = socket.create_connection((HOST, n.rtmp_port), timeout=5)  # no handshake
    idle_http = socket.create_connection((HOST, n.http_port), timeout=5)
    idle_http.sendall(b"GET /live/term.flv HTTP/1.1\r\n")  # unfinished head
    try:
        time.sleep(2.0)
        for p in (pub, rtmp_player, http_player):
            assert p.poll() is None, "%s ended early:\n%s" % (p.weir_name, weirtest.proc_stderr(p))
        t0 = time.monotonic()
        rc = n.stop(signal.SIGTERM)
        elapsed = time.monotonic() - t0
        assert rc == 0, "exit code %r after SIGTERM\n%s" % (rc, n.diagnostics())
        assert elapsed < 5.0, "SIGTERM took %.1fs" % elapsed
    finally:
        idle.close()
        idle_http.close()
