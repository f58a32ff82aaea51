"""Browser players against real nodes (issue 19), all at once in one
headless Chromium (players.mjs), each in its own browser context (its own
connection pool: see test_hls_ll.py's keep-alive test for why it matters
here): hls.js plays the HLS playlist of a node with 1 s segments and, in
lowLatencyMode, the LL-HLS playlist (333 ms parts) of a second node, from
a page of another origin (through the node's CORS header, as a web site's
player would); mpegts.js plays HTTP-FLV and WebSocket-FLV from the first
node; hls.js also plays both nodes' fMP4 playlists
(/{app}/{name}/index.fmp4.m3u8: HLS and LL-HLS over fMP4), loading only
.m4s media. ffmpeg publishes the suite's clip in a loop to both. Each player
must show a first frame, then its playhead and its decoded frame count
must advance, with no fatal error, at the source's picture size; hls.js
on the LL-HLS playlist must load parts (it did use LL-HLS), on the
classic playlist whole segments.

play_in_browser() takes any list of players: a playlist URL of another
variant is one more row of the same browser run.

Missing chromium, node or web/node_modules fail the test (never skip).
"""

import json
import os
import subprocess

import pytest

from test_fmp4_mse import WEB_DIR, browser_tools
from weirtest import published_nodes

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "players.mjs")
APP, NAME = "live", "cam"
HLS = {"segment_ms": 1000, "window": 6, "idle_timeout_s": 10}
LL_HLS = dict(HLS, part_ms=333)
WATCH_MS = 6000
FIRST_FRAME_TIMEOUT_MS = 30000


def play_in_browser(players, watch_ms=WATCH_MS, timeout_ms=FIRST_FRAME_TIMEOUT_MS, extra=None):
    """Runs players.mjs; {player id: its record}. extra: more of its config
    (page, browser_args)."""
    chromium, node = browser_tools()
    cfg = dict(extra or {}, watch_ms=watch_ms, timeout_ms=timeout_ms, players=players)
    res = subprocess.run([node, SCRIPT, WEB_DIR, chromium, json.dumps(cfg)],
                         capture_output=True, text=True,
                         timeout=(timeout_ms + watch_ms) / 1000 + 60)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return {r["id"]: r for r in out["players"]}


@pytest.fixture(scope="module")
def played(tmp_path_factory, clip):
    """Two nodes (HLS; LL-HLS), each fed the clip in a loop, and the six
    players' records from one browser run."""
    configs = {"hls": {"hls": HLS}, "llhls": {"hls": LL_HLS}}
    with published_nodes(tmp_path_factory.mktemp("players"), clip.path, configs,
                         APP, NAME) as (nodes, _):
        hls, ll = ("%s:%d" % (n.host, n.http_port) for n in nodes.values())
        yield play_in_browser([
            {"id": "hls", "lib": "hls", "url": "http://%s/%s/%s.m3u8" % (hls, APP, NAME)},
            {"id": "ll-hls", "lib": "hls", "low_latency": True,
             "url": "http://%s/%s/%s.m3u8" % (ll, APP, NAME)},
            {"id": "http-flv", "lib": "mpegts", "type": "flv",
             "url": "http://%s/%s/%s.flv" % (hls, APP, NAME)},
            {"id": "ws-flv", "lib": "mpegts", "type": "flv",
             "url": "ws://%s/%s/%s.flv" % (hls, APP, NAME)},
            {"id": "hls-fmp4", "lib": "hls",
             "url": "http://%s/%s/%s/index.fmp4.m3u8" % (hls, APP, NAME)},
            {"id": "ll-hls-fmp4", "lib": "hls", "low_latency": True,
             "url": "http://%s/%s/%s/index.fmp4.m3u8" % (ll, APP, NAME)},
        ])


def check_plays(r):
    assert not r["fatal"], json.dumps(r, indent=1)
    first, last = r["first"], r["last"]
    assert first["frames"] > 0, "no first frame within %d ms: %r" % (FIRST_FRAME_TIMEOUT_MS, r)
    # the playhead advances over the watch (at least half of real time: a
    # busy machine may stall a little), and the decoder with it: the frames
    # decoded match what the playhead played at the clip's 25 fps (a decoder
    # that stops while the playhead runs on, or the reverse, fails). Played
    # is the advance less the forward seeks (jumped_s, players.mjs): after a
    # stall hls.js jumps to the live edge, which advances the playhead
    # without decoding; at least a quarter of real time must be played
    # without such jumps. The frames are held to the playhead, not to the
    # wall clock: on a loaded machine (ASan node, Chromium, the integration
    # suite beside it) hls.js once decoded 71 frames in 6 s while playing at
    # half rate.
    advance = last["currentTime"] - first["currentTime"]
    played = advance - r["jumped_s"]
    print("%s: advance %.2f s, jumped %.2f s in %d seeks, frames %d, first frame %d ms"
          % (r["id"], advance, r["jumped_s"], r["seeks"], last["frames"] - first["frames"],
             r["first_frame_ms"]))
    assert advance >= WATCH_MS / 2000, r
    assert played >= WATCH_MS / 4000, r
    assert last["frames"] - first["frames"] >= 0.8 * 25 * played, r
    # and frames reach the screen (requestVideoFrameCallback: headless
    # Chromium composites at a lower rate than the decoder's, so fewer)
    assert last["presented"] - first["presented"] >= 5, r
    assert (last["width"], last["height"]) == (640, 360), r


@pytest.mark.parametrize("pid", ["hls", "ll-hls", "http-flv", "ws-flv", "hls-fmp4",
                                 "ll-hls-fmp4"])
def test_browser_player_plays(played, pid):
    r = played[pid]
    check_plays(r)
    if pid in ("hls", "hls-fmp4"):
        assert r["segments_loaded"] >= 2 and r["parts_loaded"] == 0, r
    if pid in ("ll-hls", "ll-hls-fmp4"):
        assert r["parts_loaded"] >= 3, r  # hls.js did go low-latency
    if pid in ("hls", "ll-hls"):
        assert r["frag_exts"] == [".ts"], r
    if pid.endswith("-fmp4"):
        assert r["frag_exts"] == [".m4s"] and r["init_requests"] >= 1, r
