"""systemd's readiness protocol (node/core/sdnotify.c, README "Install"):
READY=1 once the listeners accept, RELOADING=1 (with MONOTONIC_USEC) and
READY=1 around a SIGHUP reload, STOPPING=1 at SIGTERM; to a socket path or
an abstract "@name"; a NOTIFY_SOCKET that is no socket address is logged and
the node runs on. tests/install checks the same on the installed binary."""

import os
import signal
import socket
import time

import pytest

from weirtest import Node


def _recv_until(sock, want, timeout=10.0):
    got = []
    deadline = time.monotonic() + timeout
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            got.append(sock.recv(4096).decode())
        except socket.timeout:
            continue
        if want in got[-1].split("\n"):
            return got
    pytest.fail("no %s within %.0f s (got %r)" % (want, timeout, got), pytrace=False)


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_ready_reloading_stopping(tmp_path, abstract):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = "weir-test-%d-%d" % (os.getpid(), time.monotonic_ns())
        sock.bind("\0" + name)
        env_value = "@" + name
    else:
        env_value = str(tmp_path / "notify.sock")
        sock.bind(env_value)
    with sock:
        n = Node(tmp_path / "n", env={"NOTIFY_SOCKET": env_value})
        n.start()
        try:
            got = _recv_until(sock, "READY=1")
            assert len(got) == 1, got  # nothing before it
            n.send_signal(signal.SIGHUP)
            got = _recv_until(sock, "READY=1")
            assert got[0].startswith("RELOADING=1\nMONOTONIC_USEC="), got
            assert int(got[0].split("MONOTONIC_USEC=")[1]) > 0, got
        finally:
            n.stop_and_check()  # SIGTERM, exit 0, no sanitizer report
        _recv_until(sock, "STOPPING=1", timeout=1.0)  # sent before the exit


def test_a_bad_notify_socket_is_logged_and_the_node_runs(tmp_path):
    n = Node(tmp_path / "n", env={"NOTIFY_SOCKET": "relative/notify.sock"})
    n.start()
    try:
        deadline = time.monotonic() + 5
        while "sd_notify" not in n.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 'NOTIFY_SOCKET "relative/notify.sock" is not a socket path' in n.log_text()
        assert n.alive()
    finally:
        n.stop_and_check()
