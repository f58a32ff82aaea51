"""Signals other than SIGINT/SIGTERM (test_cli.py has those): SIGHUP reopens
the log file (logrotate's postrotate) and reloads log.level; SIGUSR1 and
SIGUSR2 are logged and ignored. In every case the node lives on."""

import json
import os
import signal
import time

import pytest

import rtmp_min
import weirtest
from relayutil import wait_for
from apischema import Api


def read(path):
    try:
        with open(path, "r", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def rewrite_config(n, **sections):
    """Changes the node's config file in place (what an operator edits before a HUP)."""
    n.config = weirtest.deep_merge(n.config, sections)
    with open(n.config_path, "w") as f:
        json.dump(n.config, f, indent=2)


def events_of(api, type_):
    r = api.get("/api/v1/events", params={"after": 0, "limit": 1000})
    assert r.status_code == 200, r.text
    return [e for e in r.json()["events"] if e["type"] == type_]


def test_sighup_after_rotation_reopens_the_log_and_playing_goes_on(node, procs, clip, tmp_path):
    n = node()
    pub = procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url("live", "hup"), loop=True),
                      "publisher")
    weirtest.wait_live(n, "live", "hup")
    out = tmp_path / "player.flv"
    player = procs.spawn(weirtest.pull_cmd(n.rtmp_url("live", "hup"), out), "player")
    wait_for("the player to receive", lambda: out.exists() and out.stat().st_size > 50000)

    rotated = n.log_path + ".1"
    os.rename(n.log_path, rotated)  # what logrotate does before its postrotate HUP
    n.send_signal(signal.SIGHUP)
    wait_for("the SIGHUP line in a new %s" % n.log_path,
             lambda: "SIGHUP: reopened log %s" % n.log_path in read(n.log_path))
    assert "SIGHUP: reopening the log file" in read(rotated), read(rotated)[-2000:]
    assert "SIGHUP: reopened log" not in read(rotated)
    assert n.alive(), n.diagnostics()

    # New lines go to the new file only: a new session logs its connection (debug).
    rotated_size = os.path.getsize(rotated)
    size0 = out.stat().st_size
    weirtest.wait_live(n, "live", "hup")
    wait_for("a new session logged in the new file",
             lambda: "rtmp: connection from" in read(n.log_path))
    assert os.path.getsize(rotated) == rotated_size, "the rotated file still grows"
    wait_for("the player to keep receiving", lambda: out.stat().st_size > size0 + 50000)
    for p in (pub, player):
        assert p.poll() is None, "%s ended:\n%s" % (p.weir_name, weirtest.proc_stderr(p))
    assert n.alive(), n.diagnostics()


def test_sighup_reloads_log_level_unless_set_over_the_api(node):
    n = node()
    api = Api(n.api_url)
    assert api.get("/api/v1/node").json()["log_level"] == "debug"

    rewrite_config(n, log={"level": "info"})
    n.send_signal(signal.SIGHUP)
    wait_for("log.level info", lambda: api.get("/api/v1/node").json()["log_level"] == "info")
    ev = wait_for("a config.change event", lambda: events_of(api, "config.change"))
    assert ev[-1]["key"] == "log.level" and ev[-1]["value"] == "info", ev
    assert ev[-1]["by"] == "sighup", ev
    assert "SIGHUP: log.level info (was debug)" in read(n.log_path)

    # A key that needs a restart is named, not applied.
    rewrite_config(n, rtmp={"chunk_size": 8192})
    n.send_signal(signal.SIGHUP)
    wait_for("the restart warning", lambda: "SIGHUP: rtmp.chunk_size changed" in read(n.log_path))

    # A level set over the API stays, as at a restart.
    r = api.patch("/api/v1/node", json={"log_level": "warn"})
    assert r.status_code == 200, r.text
    rewrite_config(n, log={"level": "debug"})
    n.send_signal(signal.SIGHUP)
    wait_for("the API-level warning",
             lambda: "SIGHUP: log.level debug in %s not applied" % n.config_path
             in read(n.log_path))
    assert api.get("/api/v1/node").json()["log_level"] == "warn"
    assert n.alive(), n.diagnostics()


def test_sighup_with_a_broken_config_reopens_the_log_and_keeps_running(node):
    n = node()
    with open(n.config_path, "w") as f:
        f.write('{"log": {"level": ')
    rotated = n.log_path + ".1"
    os.rename(n.log_path, rotated)
    n.send_signal(signal.SIGHUP)
    wait_for("the reopened log", lambda: "SIGHUP: reopened log %s" % n.log_path
             in read(n.log_path))
    assert "SIGHUP: config not reloaded: %s: invalid JSON" % n.config_path in read(rotated)
    assert weirtest.port_accepts(n.rtmp_port)
    assert n.alive(), n.diagnostics()


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGUSR2], ids=["SIGUSR1", "SIGUSR2"])
def test_sigusr_is_logged_and_ignored(node, sig):
    n = node()
    line = "received %s, which has no use: ignored" % sig.name
    for k in (1, 2):  # one at a time: the kernel merges a signal sent while one is pending
        n.send_signal(sig)
        wait_for("%d lines '%s'" % (k, line), lambda: read(n.log_path).count(line) == k)
    time.sleep(0.2)
    assert n.alive(), n.diagnostics()
    assert weirtest.port_accepts(n.api_port)


def test_sighup_reloads_limits_and_apps_keeping_sessions(node):
    """limits.* and "apps" apply to new sessions after a SIGHUP; a publisher
    and a player already up stay; a per-address table too small for the new
    limits.max_connections is named as needing a restart."""
    n = node()
    api = Api(n.api_url)
    up, sid, code = rtmp_min.open_publisher(n.host, n.rtmp_port, "live", "up")
    assert code == "NetStream.Publish.Start", code
    player, _ = rtmp_min.open_player(n.host, n.rtmp_port, "live", "up")
    try:
        player.wait_status(10, codes=("NetStream.Play.Start",))
        rewrite_config(n, limits={"max_streams": 1, "max_connections": 500},
                       apps=[{"app": "closed", "publish_deny": ["127.0.0.0/8", "::1"]}])
        n.send_signal(signal.SIGHUP)
        wait_for("the apps reloaded", lambda: "SIGHUP: apps reloaded (1 rules)" in read(n.log_path))
        limits = api.get("/api/v1/node").json()["limits"]
        assert limits["streams"]["limit"] == 1, limits
        assert limits["connections"]["limit"] == 500, limits
        keys = {e["key"]: e for e in events_of(api, "config.change") if e["by"] == "sighup"}
        assert keys["limits.max_streams"]["value"] == "1", keys
        assert "apps" in keys and "value" not in keys["apps"], keys
        # new sessions get the new rules: a second stream is one too many,
        # and the app "closed" refuses this address
        for app in ("other", "closed"):
            c, _, code = rtmp_min.open_publisher(n.host, n.rtmp_port, app, "new")
            c.close()
            assert code == "NetStream.Publish.BadName", (app, code)
        assert "SIGHUP: limits.max_streams 1 (was" in read(n.log_path)
        # the sessions up stay
        sessions = api.get("/api/v1/sessions", params={"app": "live"}).json()["sessions"]
        assert sorted(s["role"] for s in sessions) == ["player", "publisher"], sessions
        up.send_video(sid, 0, b"\x17\x01\x00\x00\x00" + b"\x00" * 64)

        # the address table was sized for the start's limits.max_connections
        rewrite_config(n, limits={"max_streams": 1, "max_connections": 900000})
        n.send_signal(signal.SIGHUP)
        wait_for("the restart warning",
                 lambda: "SIGHUP: limits.max_connections changed" in read(n.log_path))
        assert api.get("/api/v1/node").json()["limits"]["connections"]["limit"] == 500
        assert n.alive(), n.diagnostics()
    finally:
        up.close()
        player.close()
