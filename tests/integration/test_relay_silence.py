"""A hung upstream (issue 18): per-relay silence_timeout_ms against real
nodes.

An origin is fed by ffmpeg; an edge pulls it through two TCP proxies A and B
(urls [A, B], the same origin behind both, so the failover is a same-source
splice). A proxy can freeze the connections it carries: the TCP connections
stay up, the origin's bytes are read and dropped, so the edge's link is up and
gets no media: a hung upstream. An RTMP player at the edge times every video
frame; the gap it sees across the failover is printed (run pytest with -s).

1. The relay starts with silence_timeout_ms 5000 and is PATCHed to 1000 while
   its link runs: the link is kept (same session, no event), and when A
   freezes the running link fails after ~1 s (upstream_silent) and fails over
   to B: the player's gap is about 1-2 s.
2. silence_timeout_ms is PATCHed to null (the node's relay.connect_timeout_ms,
   set to 3000 here): B frozen, the link fails after ~3 s: the default still
   applies to relays that do not set the field (10 s unless configured).
3. failback: true with urls [A, B, C]: A hangs (to B); probes of A fail
   while it hangs; once A is healthy the relay returns to it (the player's
   gap at that switch is printed too).
"""

import socket
import threading
import time

import pytest

import weirtest
from relayutil import (APP, TimedRtmpPlayer, api_of, create_relay, events_of, get_relay,
                       publish, relay_body, stream_live, wait_active, wait_for)

CONNECT_TIMEOUT_MS = 3000
GRACE_MS = 8000


class FreezingProxy:
    """A TCP proxy to 127.0.0.1:target. freeze() makes every connection it
    carries now drop what the target sends (the client gets nothing more,
    the connection stays up); later connections are carried normally."""

    def __init__(self, target, http=False):
        self.target = target
        self.http = http  # url(): an HTTP-FLV URL
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((weirtest.HOST, 0))
        self.lsock.listen(8)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []  # [client, upstream, frozen flag (a list of one bool)]
        self.stopping = False
        self.hang = False  # new connections are frozen from the start
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def url(self, name):
        if self.http:
            return "http://%s:%d/%s/%s.flv" % (weirtest.HOST, self.port, APP, name)
        return "rtmp://%s:%d/%s/%s" % (weirtest.HOST, self.port, APP, name)

    def _accept(self):
        while not self.stopping:
            try:
                client, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                up = socket.create_connection((weirtest.HOST, self.target), timeout=5)
            except OSError:
                client.close()
                continue
            frozen = [self.hang]
            with self.lock:
                self.conns.append((client, up, frozen))
            for src, dst, drop in ((client, up, [False]), (up, client, frozen)):
                threading.Thread(target=self._pump, args=(src, dst, drop), daemon=True).start()

    def _pump(self, src, dst, drop):
        try:
            src.settimeout(0.2)
        except OSError:  # closed by close() already
            return
        while not self.stopping:
            try:
                b = src.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not b:
                break
            if drop[0]:
                continue
            try:
                dst.sendall(b)
            except OSError:
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def freeze(self):
        with self.lock:
            for _, _, frozen in self.conns:
                frozen[0] = True
            return len(self.conns)

    def close(self):
        self.stopping = True
        self.lsock.close()
        with self.lock:
            for c, u, _ in self.conns:
                c.close()
                u.close()
        self.thread.join(2)


def _video_after(player, t):
    return [m for m in [m for _, m in player.timed()] if m.arrival > t and m.is_coded_video()]


def _gap_across(player, t_freeze, what):
    """The longest time between two video frames the player got around the
    freeze (from the last frame before it to 3 s of frames after the
    failover): what a viewer sees as the outage."""
    frames = [m for m in [m for _, m in player.timed()] if m.is_coded_video()]
    before = [m for m in frames if m.arrival <= t_freeze]
    assert before, "%s: no video before the freeze" % what
    window = [before[-1]] + [m for m in frames if m.arrival > t_freeze]
    gaps = [b.arrival - a.arrival for a, b in zip(window, window[1:])]
    assert gaps, "%s: no video after the freeze" % what
    return max(gaps)


def _session_of(api, rid):
    streams = get_relay(api, rid)["streams"]
    assert len(streams) == 1, streams
    return streams[0]["session_id"]


def _freeze_and_measure(api_e, e, rid, proxy, player, to_url, what):
    """Freezes proxy, waits for the failover to to_url and for video after it;
    returns (seconds to the relay.fail, player's gap in seconds)."""
    fails_before = len(events_of(api_e, "relay.fail", relay_id=rid))
    t_freeze = time.monotonic()
    assert proxy.freeze() >= 1
    fail = wait_for("%s: relay.fail" % what,
                    lambda: events_of(api_e, "relay.fail", relay_id=rid)[fails_before:],
                    timeout=CONNECT_TIMEOUT_MS / 1000 + 10, interval=0.05, diag=[e])[0]
    t_fail = time.monotonic() - t_freeze
    assert fail["reason"] == "upstream_silent", fail
    assert fail["message"].startswith("upstream silent for "), fail
    wait_for("%s: active on %s" % (what, to_url),
             lambda: get_relay(api_e, rid)["current_url"] == to_url and
             get_relay(api_e, rid)["status"] == "active", timeout=10, diag=[e])
    wait_for("%s: 3 s of video after the failover" % what,
             lambda: len(_video_after(player, t_freeze + t_fail)) >= 75, timeout=15, diag=[e])
    assert player.closed_at is None, "%s: the player was disconnected" % what
    return t_fail, _gap_across(player, t_freeze, what)


def _origin(node, procs, clip):
    o = node()
    publish(procs, o, clip, "s")
    wait_for("live/s on the origin", lambda: stream_live(api_of(o), APP, "s"), timeout=15,
             diag=[o])
    return o


def _edge(node):
    e = node(stream={"unpublish_grace_ms": GRACE_MS},
             relay={"connect_timeout_ms": CONNECT_TIMEOUT_MS})
    return e, api_of(e)


def test_silent_upstream_fails_over_after_silence_timeout(node, procs, clip):
    o = _origin(node, procs, clip)
    a, b = FreezingProxy(o.rtmp_port), FreezingProxy(o.rtmp_port)
    player = None
    try:
        e, api_e = _edge(node)
        rel = create_relay(api_e, relay_body("pull", [a.url("s"), b.url("s")], name="s",
                                             mode="always", silence_timeout_ms=5000))
        rid = rel["id"]
        assert rel["silence_timeout_ms"] == 5000 and rel["failback"] is False, rel
        wait_active(api_e, rid, timeout=15, diag=[o, e])
        player = TimedRtmpPlayer(e.rtmp_port, APP, "s")
        wait_for("video at the edge's player", lambda: len(_video_after(player, 0)) >= 50,
                 timeout=15, diag=[e])

        # A change of only silence_timeout_ms keeps the running link.
        sid = _session_of(api_e, rid)
        nevents = len(events_of(api_e, "relay.stop", relay_id=rid) +
                      events_of(api_e, "relay.start", relay_id=rid))
        r = api_e.patch("/api/v1/relays/%s" % rid, json={"silence_timeout_ms": 1000})
        assert r.status_code == 200, r.text
        assert r.json()["silence_timeout_ms"] == 1000
        time.sleep(0.5)
        assert _session_of(api_e, rid) == sid
        assert len(events_of(api_e, "relay.stop", relay_id=rid) +
                   events_of(api_e, "relay.start", relay_id=rid)) == nevents

        # 1. A hangs: the running link takes the new 1000 ms.
        t1, gap1 = _freeze_and_measure(api_e, e, rid, a, player, b.url("s"), "silence 1000")
        fo = events_of(api_e, "relay.failover", relay_id=rid)
        assert fo and fo[-1]["from_url"] == a.url("s") and fo[-1]["to_url"] == b.url("s"), fo
        assert 0.9 <= t1 < 2.5, "silence_timeout_ms 1000: failed after %.2f s" % t1
        assert gap1 < 2.5, "silence_timeout_ms 1000: the player saw a %.2f s gap" % gap1

        # 2. null: the node's relay.connect_timeout_ms again (quiet, too).
        sid = _session_of(api_e, rid)
        r = api_e.patch("/api/v1/relays/%s" % rid, json={"silence_timeout_ms": None})
        assert r.status_code == 200, r.text
        assert r.json()["silence_timeout_ms"] is None
        assert _session_of(api_e, rid) == sid
        t2, gap2 = _freeze_and_measure(api_e, e, rid, b, player, a.url("s"), "silence null")
        assert CONNECT_TIMEOUT_MS / 1000 - 0.1 <= t2 < CONNECT_TIMEOUT_MS / 1000 + 1.5, \
            "silence null: failed after %.2f s" % t2
        print("\nhung upstream: silence_timeout_ms 1000: relay.fail after %.0f ms, the player's "
              "gap %.0f ms; null (relay.connect_timeout_ms %d): relay.fail after %.0f ms, gap "
              "%.0f ms" % (t1 * 1000, gap1 * 1000, CONNECT_TIMEOUT_MS, t2 * 1000, gap2 * 1000))
        assert player.closed_at is None
    finally:
        if player:
            player.close()
        a.close()
        b.close()


@pytest.mark.parametrize("proto", ["rtmp", "http"])
def test_failback_returns_to_the_first_url(node, procs, clip, proto):
    """failback: true, urls [A, B, C]: A hangs (its new connections too), the
    relay fails over to B. While A stays hung, the background probes of A
    (every retry_max_ms, 1 s here) fail and the relay stays on B; once A is
    healthy, a probe gets its first key frame and the relay returns to A
    (relay.failover B -> A; B's link stopped as replaced). C is never used;
    the player is kept throughout and its gap at the failback is printed."""
    o = _origin(node, procs, clip)
    port = o.http_port if proto == "http" else o.rtmp_port
    a, b, c = (FreezingProxy(port, http=proto == "http") for _ in range(3))
    player = None
    try:
        e, api_e = _edge(node)
        rid = create_relay(api_e, relay_body("pull", [a.url("s"), b.url("s"), c.url("s")],
                                             name="s", mode="always", silence_timeout_ms=1000,
                                             failback=True))["id"]
        wait_active(api_e, rid, timeout=15, diag=[o, e])
        assert get_relay(api_e, rid)["current_url"] == a.url("s")
        player = TimedRtmpPlayer(e.rtmp_port, APP, "s")
        wait_for("video at the edge's player", lambda: len(_video_after(player, 0)) >= 50,
                 timeout=15, diag=[e])
        a.hang = True
        _, gap_ab = _freeze_and_measure(api_e, e, rid, a, player, b.url("s"), "A hangs")
        # Probes of A are tried (and fail) while it hangs; the relay stays on B.
        n_a = len(a.conns)
        wait_for("a probe of A", lambda: len(a.conns) > n_a, timeout=5, diag=[e])
        assert get_relay(api_e, rid)["current_url"] == b.url("s")
        a.hang = False
        t_ok = time.monotonic()
        fb = wait_for("failback to A", lambda: [x for x in events_of(
            api_e, "relay.failover", relay_id=rid) if x["to_url"] == a.url("s")],
            timeout=CONNECT_TIMEOUT_MS / 1000 + 5, diag=[e])[0]
        t_back = time.monotonic() - t_ok
        assert fb["from_url"] == b.url("s") and fb["error"].startswith("failback"), fb
        stops = events_of(api_e, "relay.stop", relay_id=rid, url=b.url("s"))
        assert stops and stops[-1]["reason"] == "replaced", stops
        wait_for("active on A", lambda: get_relay(api_e, rid)["current_url"] == a.url("s") and
                 get_relay(api_e, rid)["status"] == "active", timeout=5, diag=[e])
        t_fb = time.monotonic()
        wait_for("3 s of video after the failback", lambda: len(_video_after(player, t_fb)) >= 75,
                 timeout=15, diag=[e])
        gap_ba = _gap_across(player, t_ok, "failback")
        assert len(c.conns) == 0, "C was tried"
        assert player.closed_at is None
        print("\nfailback (%s): A hangs -> B, player gap %.0f ms; A healthy again -> back to A %.1f s "
              "later, player gap %.0f ms" % (proto, gap_ab * 1000, t_back, gap_ba * 1000))
        # The same source: the splice goes on at the next key frame (1 s GOP).
        assert gap_ba < 2.0, "failback: the player saw a %.2f s gap" % gap_ba
    finally:
        if player:
            player.close()
        for p in (a, b, c):
            p.close()
