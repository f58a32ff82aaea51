"""The fMP4 muxer's output in a browser: Chromium's Media Source Extensions
(what hls.js and other browser HLS players feed) take weir-fmp4's init.mp4
and its 0.4 s parts (most starting between key frames) of the suite's
H.264 + AAC clip and of an AV1 clip (test_fmp4_mux's), in one SourceBuffer,
without an error; the buffer is one range covering the clip; played at 8x
it ends, every video frame decoded, at the source's size. (Chromium on
Linux has no H.265 decoder; FFmpeg checks H.265 in test_fmp4_mux.)

Missing chromium, node or web/node_modules fail the test (never skip).
"""

import json
import os
import shutil
import subprocess

import pytest

import weirtest
from test_fmp4_mux import av1_clip  # noqa: F401 (a fixture)

HERE = os.path.dirname(os.path.abspath(__file__))
WEB_DIR = os.path.join(os.path.dirname(os.path.dirname(HERE)), "web")
SCRIPT = os.path.join(HERE, "fmp4_mse.mjs")
FRAME_S = 0.04


def browser_tools():
    chromium = os.environ.get("WEIR_CHROMIUM", "/usr/bin/chromium")
    node = shutil.which("node")
    playwright = os.path.join(WEB_DIR, "node_modules", "playwright-core", "package.json")
    needs = [("chromium (apt-get install chromium)", os.access(chromium, os.X_OK)),
             ("node (apt-get install nodejs)", node is not None),
             ("web/node_modules (npm --prefix web ci)", os.path.isfile(playwright))]
    missing = [what for what, ok in needs if not ok]
    if missing:
        pytest.fail("missing: " + ", ".join(missing), pytrace=False)
    return chromium, node


def play_in_chromium(flv, out):
    """weir-fmp4 --part-ms 400 of flv into out, then fmp4_mse.mjs: its result."""
    chromium, node = browser_tools()
    out.mkdir()
    res = weirtest.run([weirtest.tool("weir-fmp4"), str(flv), str(out), "--part-ms", "400"],
                       timeout=60)
    assert res.returncode == 0, res.stderr
    codecs = res.stdout.splitlines()[0].split()[1]
    res = subprocess.run([node, SCRIPT, WEB_DIR, chromium, str(out), codecs],
                         capture_output=True, text=True, timeout=90)
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout.strip().splitlines()[-1])
    assert r["supported"], "Chromium does not support %s" % codecs
    assert r["error"] is None, r
    return r


def check_played(r, seconds, frames, width, height):
    assert len(r["ranges"]) == 1, r  # no gap between parts
    start, end = r["ranges"][0]
    assert start < 0.1 and abs(end - seconds) < 0.1, r
    assert r["ended"] and abs(r["currentTime"] - end) < FRAME_S, r
    assert r["decoded"] == frames and r["presented"] > 0, r
    assert (r["width"], r["height"]) == (width, height), r


def test_h264_aac_parts_in_chromium_mse(clip, tmp_path):
    r = play_in_chromium(clip.path, tmp_path / "h264")
    check_played(r, clip.seconds, clip.nb_video, 640, 360)


def test_av1_parts_in_chromium_mse(av1_clip, tmp_path):  # noqa: F811 (the fixture)
    r = play_in_chromium(av1_clip.path, tmp_path / "av1")
    check_played(r, av1_clip.frames * FRAME_S, av1_clip.frames, av1_clip.width, av1_clip.height)
