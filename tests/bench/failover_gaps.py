#!/usr/bin/python3
"""Failover gaps, measured on purpose (issue 18; not part of CI).

What a player at an edge sees when the edge's upstream is killed with
SIGKILL, over --kills kills in each of two cases, with real weir processes
on loopback (each on its own 127.0.4.x address) and an HTTP-FLV player that
times every tag:

  same source       origin (ffmpeg publishes the 25 fps test clip in a
                    loop) -> mid1 and mid2 (always-on pulls) -> edge (pull
                    with urls [mid1, mid2]). The mid the edge uses is killed,
                    then restarted; the edge fails over to the other mid,
                    which carries the same origin stream: an exact splice.
  different source  origin1 and origin2, each with its own ffmpeg publisher
                    of the clip -> edge (urls [origin1, origin2]). The
                    origin in use is killed (its publisher with it), then
                    restarted and published again: the edge goes on at the
                    other origin's next key frame, restamped.

For each kill: the player's largest gap between two video frames around the
kill (arrival times; the clip's frame spacing is 40 ms), and where its frames
jump in the clip (frames skipped > 0 or replayed < 0; none for an exact
splice). Prints p50 and max of the gaps and the jumps, and appends them to
--results (Markdown) when given.

    /usr/bin/python3 tests/bench/failover_gaps.py --build build --kills 10

--build is a build folder with weir in it (ASan or not: say which in the
results). Every wait is bounded; a kill whose player does not go on within
20 s fails the run.
"""

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "integration"), os.path.join(HERE, "..", "cluster")]

import conftest  # noqa: E402  (the integration tests' clip maker)
import weirtest  # noqa: E402
from players import HttpFlvPlayer, continuity_breaks, largest_gap  # noqa: E402
from relayutil import (APP, api_of, create_relay, publish, relay_body,  # noqa: E402
                       stream_live, wait_active, wait_for)

NAME = "s"
GRACE_MS = 5000
RELAY_CONF = {"connect_timeout_ms": 3000}
FRAMES = 50  # video frames the player gets before each kill and after it


NODES = []


class Node(weirtest.Node):
    def kill9(self):
        self.proc.kill()
        self.proc.wait(10)


def node(base, name, host, **conf):
    n = Node(os.path.join(base, name), conf, host=host, name=name)
    NODES.append(n)
    n.start()
    return n


def pull(api, urls):
    body = relay_body("pull", urls, name=NAME, mode="always")
    return create_relay(api, body)["id"]


def current_url(api, rid):
    return api.get("/api/v1/relays/%s" % rid).json().get("current_url")


def wait_frames(player, since, what, frames=FRAMES):
    wait_for(what, lambda: len(player.frames_since(since)) >= frames or player.ended(),
             timeout=20, interval=0.05)
    if player.ended():
        raise SystemExit("%s: the player was disconnected%s" % (what, player.ended_why()))


def measure_kill(player, clip, victim, what):
    """Kills victim, waits for FRAMES frames after it; (gap s, [jumps])."""
    wait_frames(player, time.monotonic(), what + ": frames before the kill", frames=25)
    t_kill = time.monotonic()
    victim.kill9()
    wait_frames(player, t_kill, what + ": frames after the kill")
    gap, _ = largest_gap(player.video(), t_kill)
    frames = [f for f in player.video() if f.arrival > t_kill - 1.0]
    jumps = [j for _, j in continuity_breaks(frames, clip)]
    print("%s: gap %.0f ms, jumps %s" % (what, gap * 1000, jumps or "none"), flush=True)
    return gap, jumps


def kill_loop(base, name, host, upstreams, clip, kills, label, before_kill, after_kill):
    """An edge pulling from upstreams (always on) and an HTTP-FLV player of
    it; kills the upstream in use `kills` times, with before_kill(victim)
    and after_kill(victim) around each. Returns [(gap s, [jumps])]."""
    edge = node(base, name, host, relay=RELAY_CONF, stream={"unpublish_grace_ms": GRACE_MS})
    api = api_of(edge)
    rid = pull(api, [u.rtmp_url(APP, NAME) for u in upstreams])
    wait_active(api, rid, timeout=15)
    player = HttpFlvPlayer(edge.host, edge.http_port, "/%s/%s.flv" % (APP, NAME))
    out = []
    try:
        for k in range(kills):
            url = current_url(api, rid)
            victim = [u for u in upstreams if u.rtmp_url(APP, NAME) == url][0]
            before_kill(victim)
            out.append(measure_kill(player, clip, victim, "%s, kill %d (%s)" % (
                label, k + 1, victim.name)))
            after_kill(victim)
    finally:
        player.close()
    return out


def live_on(n):
    wait_for("live/s on %s" % n.name, lambda: stream_live(api_of(n), APP, NAME), timeout=15)


def same_source(base, procs, clip, kills):
    origin = node(base, "origin", "127.0.4.1")
    publish(procs, origin, clip, NAME)
    live_on(origin)
    mids = [node(base, "mid%d" % i, "127.0.4.%d" % (i + 1), relay=RELAY_CONF) for i in (1, 2)]
    for m in mids:
        rid = pull(api_of(m), [origin.rtmp_url(APP, NAME)])
        wait_active(api_of(m), rid, timeout=15)

    def other_is_live(victim):
        live_on([m for m in mids if m is not victim][0])

    # a restarted mid's relay comes back from its SQLite file
    return kill_loop(base, "edge", "127.0.4.9", mids, clip, kills, "same source",
                     other_is_live, lambda victim: victim.start())


def different_source(base, procs, clip, kills):
    origins = [node(base, "origin%d" % i, "127.0.4.%d" % (i + 10)) for i in (1, 2)]
    pubs = {}

    def start_publisher(o):
        pubs[o.name] = publish(procs, o, clip, NAME)
        live_on(o)

    def restart(o):
        weirtest.interrupt(pubs[o.name])
        o.start()
        start_publisher(o)

    for o in origins:
        start_publisher(o)
    return kill_loop(base, "edge2", "127.0.4.19", origins, clip, kills, "different source",
                     lambda victim: None, restart)


def summary(label, runs):
    gaps = sorted(g * 1000 for g, _ in runs)
    jumps = [j for _, js in runs for j in js]
    exact = sum(1 for _, js in runs if not js)
    return ("| %s | %d | %.0f | %.0f | %.0f | %d of %d | %s |" % (
        label, len(runs), min(gaps), statistics.median(gaps), max(gaps), exact, len(runs),
        ", ".join("%+d" % j for j in jumps) or "none"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, help="build folder with weir")
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--results", default=None, help="append the Markdown table here")
    ap.add_argument("--note", default="", help="a line for the results (build type, machine)")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    os.environ["WEIR_BIN"] = os.path.join(build, "weir")
    os.environ["WEIR_BUILD_DIR"] = build
    base = a.work or tempfile.mkdtemp(prefix="weir-failover-")
    os.makedirs(base, exist_ok=True)
    clip = conftest._make_clip(pathlib.Path(base), "clip.flv", 10, 25)
    procs = weirtest.Procs(base)
    try:
        same = same_source(os.path.join(base, "same"), procs, clip, a.kills)
        diff = different_source(os.path.join(base, "diff"), procs, clip, a.kills)
    finally:
        procs.stop_all()
        for n in NODES:
            if n.proc and n.proc.poll() is None:
                n.stop()
    lines = ["", "### Failover gaps, %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
             "", a.note, "",
             "| case | kills | gap min (ms) | p50 (ms) | max (ms) | kills with no jump | jumps "
             "(frames; < 0 replayed) |",
             "|---|---|---|---|---|---|---|",
             summary("same source (mid killed)", same),
             summary("different source (origin killed)", diff)]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.results:
        with open(a.results, "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
