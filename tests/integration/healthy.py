"""healthy: a node that serves one healthy stream while a test abuses it.

ffmpeg publishes live/healthy in a loop and a raw HTTP-FLV player reads it
for the whole module; its rate before the first case is the baseline.
After each case, Harness.assert_healthy() checks the node is alive and the
player's rate over WINDOW_S is at least MIN_RATIO of that baseline: a ratio
against the same player, never an absolute time or rate. Used by
test_bad_input.py and test_limits.py."""

import time

import relayutil
import weirtest
from apischema import Api

APP = "live"
HEALTHY = "healthy"
WINDOW_S = 1.5
MIN_RATIO = 0.6


class Harness:
    def __init__(self, n, player, baseline_bps):
        self.n = n
        self.player = player
        self.baseline_bps = baseline_bps
        self.log_pos = 0

    def _log(self):
        with open(self.n.log_path, "r", errors="replace") as f:
            return f.read()

    def mark(self):
        """Starts a case: expect_log() looks only at lines written after this."""
        self.log_pos = len(self._log())

    def new_log(self):
        return self._log()[self.log_pos:]

    def expect_log(self, pattern, timeout=3.0):
        relayutil.wait_for("a log line with %r after the case" % pattern,
                           lambda: pattern in self.new_log(), timeout=timeout, interval=0.05,
                           diag=[self.n])

    def assert_healthy(self, what):
        assert self.n.alive(), "node died after %s\n%s" % (what, self.n.diagnostics())
        assert self.player.closed_at is None, "the healthy player was closed after %s" % what
        before = len(self.player.data())
        time.sleep(WINDOW_S)
        rate = (len(self.player.data()) - before) / WINDOW_S
        assert rate >= MIN_RATIO * self.baseline_bps, (
            "after %s the healthy player got %.0f B/s, baseline %.0f B/s" % (
                what, rate, self.baseline_bps))


def start(d, clip, overrides, harness=Harness, **node_kw):
    """A started node in d with overrides (and weirtest.Node's node_kw, e.g.
    nofile), its healthy stream and player: (harness(n, player, baseline),
    procs). Stop with stop()."""
    weirtest.weir_bin()
    n = weirtest.Node(d / "node", overrides, **node_kw).start()
    procs = weirtest.Procs(d)
    api = Api(n.api_url, token=n.config.get("api", {}).get("token") or None)
    player = None
    try:
        procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, HEALTHY), loop=True),
                    "healthy-publisher")
        relayutil.wait_for("live/healthy to be published",
                           lambda: relayutil.stream_live(api, APP, HEALTHY),
                           timeout=15, diag=[n])
        player = relayutil.FlvPlayer(n.http_port, APP, HEALTHY, timeout=600)
        relayutil.wait_for("the healthy player's first bytes",
                           lambda: len(player.data()) > 20000, timeout=10, diag=[n])
        before = len(player.data())
        time.sleep(3 * WINDOW_S)
        baseline = (len(player.data()) - before) / (3 * WINDOW_S)
        assert baseline > 20000, "baseline rate %.0f B/s: the clip is not flowing" % baseline
        return harness(n, player, baseline), procs
    except BaseException:
        if player is not None:
            player.close()
        procs.stop_all()
        n.stop_and_check()
        raise


def stop(h, procs):
    h.player.close()
    procs.stop_all()
    h.n.stop_and_check()
