"""Players that stop reading: bounded memory, disconnected, and no harm to
the other players of the stream."""

import time

import rtmp_min
import weirtest
from weirtest import HOST, describe_mismatch, find_run, framemd5, publish_cmd, pull_cmd, wait_live

APP = "live"
NAME = "busy"
QUEUE_MS = 1000
MAX_QUEUE_BYTES = 2000000
SLOW_TIMEOUT_MS = 3000
GOP_MS = 1000
# A stalled player first fills the kernel buffers: on loopback the node's
# send buffer starts at ~2.8 MB (10 segments of 64 KB, doubled), some 7 s of
# this ~3 Mbit/s stream. From then on the node holds the player's backlog:
# it is behind by more than queue_ms (plus the GOP cache span) ~2 s later,
# and is cut slow_timeout_ms after that.
CUT_AFTER_STALL_MAX_S = (QUEUE_MS + GOP_MS + SLOW_TIMEOUT_MS) / 1000.0 + 2.5
CUT_AFTER_STALL_MIN_S = SLOW_TIMEOUT_MS / 1000.0 - 0.5
DISCONNECT_DEADLINE_S = 25.0
RSS_MARGIN_KB = 40 * 1024
GOOD_PULL_S = 8


def test_stalled_players_are_cut_off(node, procs, clip_heavy, tmp_path):
    n = node(player={"queue_ms": QUEUE_MS, "max_queue_bytes": MAX_QUEUE_BYTES,
                     "slow_timeout_ms": SLOW_TIMEOUT_MS})
    procs.spawn(publish_cmd(clip_heavy.path, n.rtmp_url(APP, NAME), loop=True), "publisher")
    wait_live(n, APP, NAME)
    time.sleep(1.0)
    rss0 = n.rss_kb()

    # Two players that never read, with tiny receive windows.
    http = weirtest.http_open(n.http_port,
                              b"GET /%s/%s.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % (
                                  APP.encode(), NAME.encode()), rcvbuf=4096)
    rtmp, _ = rtmp_min.open_player(HOST, n.rtmp_port, APP, NAME, rcvbuf=4096)
    stalled = {"http": (http, n.http_port), "rtmp": (rtmp.sock, n.rtmp_port)}
    try:
        info = rtmp.wait_status(5, {"NetStream.Play.Start", "NetStream.Play.StreamNotFound"})
        assert info["code"] == "NetStream.Play.Start", info
        t0 = time.monotonic()

        # A normal player at the same time must get the stream at full rate.
        good_out = tmp_path / "good.flv"
        good = procs.spawn(pull_cmd(n.rtmp_url(APP, NAME), good_out, seconds=GOOD_PULL_S),
                           "good-player")

        gone_at = {}
        samples = {name: [] for name in stalled}  # (t, node-side send queue bytes)
        rss_max = rss0
        good_done_at = None
        while time.monotonic() - t0 < DISCONNECT_DEADLINE_S:
            assert n.alive(), "node died:\n%s" % n.diagnostics()
            rss_max = max(rss_max, n.rss_kb())
            now = time.monotonic() - t0
            for name, (sock, port) in stalled.items():
                if name not in gone_at:
                    info = weirtest.tcp_socket(port, sock.getsockname()[1])
                    if info is None or info[0] != "ESTABLISHED":
                        gone_at[name] = now
                    else:
                        samples[name].append((now, info[1]))
            if good_done_at is None and good.poll() is not None:
                good_done_at = now
            if good_done_at is not None and len(gone_at) == len(stalled):
                break
            time.sleep(0.1)

        assert rss_max <= rss0 + RSS_MARGIN_KB, "RSS grew from %d kB to %d kB" % (rss0, rss_max)
        for name in stalled:
            assert name in gone_at, "stalled %s player still connected after %.1fs\n%s" % (
                name, time.monotonic() - t0, n.diagnostics(20))
            # When the node's send queue to it stopped growing, the node
            # started holding this player's backlog itself.
            top = max(q for _, q in samples[name])
            stall_at = next(t for t, q in samples[name] if q >= 0.9 * top)
            cut = gone_at[name] - stall_at
            assert CUT_AFTER_STALL_MIN_S <= cut <= CUT_AFTER_STALL_MAX_S, \
                "stalled %s player cut %.1fs after its socket filled (%d bytes at %.1fs), " \
                "want %.1f..%.1fs" % (name, cut, top, stall_at, CUT_AFTER_STALL_MIN_S,
                                      CUT_AFTER_STALL_MAX_S)
        # Once drained, the stalled sockets see the end (EOF or reset), after
        # a bounded amount of data.
        for name, (sock, _) in stalled.items():
            got, eof = weirtest.drain_until_eof(sock, 10, 64 << 20)
            assert eof, "stalled %s player: no EOF after %d bytes" % (name, got)
            assert got < MAX_QUEUE_BYTES + (8 << 20), "stalled %s player drained %d bytes" % (
                name, got)

        assert good_done_at is not None, "good player did not finish:\n%s" % (
            weirtest.proc_stderr(good))
        assert good_done_at <= GOOD_PULL_S + 4, "good player took %.1fs for %d s of media" % (
            good_done_at, GOOD_PULL_S)
        got = framemd5(good_out)
        want = 0.9 * clip_heavy.fps * GOOD_PULL_S
        assert len(got) >= want, "good player got %d frames, want >= %d" % (len(got), want)
        i = find_run(got, clip_heavy.vmd5, cyclic=True)
        assert i is not None, "good player lost frames: %s" % describe_mismatch(
            got, clip_heavy.vmd5)
    finally:
        http.close()
        rtmp.close()
    assert n.alive(), "node died:\n%s" % n.diagnostics()
