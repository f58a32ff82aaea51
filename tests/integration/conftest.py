"""Fixtures for Weir's integration tests.

Run: WEIR_BIN=build/weir WEIR_BUILD_DIR=build /usr/bin/python3 -m pytest -v tests/integration

- node: factory; node(**overrides) starts weir on free loopback ports with a
  temp config (log.level debug, log.file and storage.path in the test's tmp
  dir) and returns a weirtest.Node. Teardown sends SIGTERM and asserts exit 0.
- procs: background subprocesses (publishers, players), ended at teardown
  before the nodes are stopped.
- clip / clip_gop4 / clip_heavy: test clips made once per session with ffmpeg.

A missing ffmpeg/ffprobe or weir binary fails the tests; nothing is skipped.
"""

import types

import pytest

import weirtest

# Each test (with its fixtures) must finish within this; a hang fails the
# test with a traceback instead of stalling the suite.
TEST_WATCHDOG_S = 150
_watchdog = weirtest.watchdog_fixture(TEST_WATCHDOG_S)


@pytest.fixture
def free_port():
    """Factory: free_port() -> a port free on 127.0.0.1."""
    return weirtest.free_port


@pytest.fixture
def node(tmp_path):
    """Factory: node(**overrides) -> started weirtest.Node. Overrides are
    config sections merged over the test defaults, e.g.
    node(stream={"play_wait_ms": 500})."""
    weirtest.weir_bin()  # fail early (not skip) without a binary
    nodes = []

    def start(**overrides):
        n = weirtest.Node(tmp_path / ("node%d" % len(nodes)), overrides)
        nodes.append(n)
        return n.start()

    yield start
    failures = []
    for n in nodes:
        try:
            n.stop_and_check()
        except pytest.fail.Exception as e:
            failures.append(str(e))
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


@pytest.fixture
def procs(node, tmp_path):
    """Background processes; depends on node so that it is torn down first
    (clients end before the node gets SIGTERM)."""
    p = weirtest.Procs(tmp_path)
    yield p
    p.stop_all()


def _make_clip(directory, name, seconds, gop, bitrate="800k", noise=False):
    ffmpeg = weirtest.require_tool("ffmpeg")
    weirtest.require_tool("ffprobe")
    path = directory / name
    src = "testsrc2=size=640x360:rate=25"
    if noise:
        src += ",noise=alls=30:allf=t+u"
    cmd = [ffmpeg] + weirtest.FFMPEG_COMMON + [
        "-y", "-f", "lavfi", "-i", src,
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", str(seconds),
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
        "-pix_fmt", "yuv420p", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-b:v", bitrate, "-c:a", "aac", "-b:a", "96k", "-f", "flv", str(path)]
    weirtest.run(cmd, timeout=120, check=True)
    packets = weirtest.probe_packets(path, "v")
    key_ts = [round(float(p["dts_time"]) * 1000) for p in packets if "K" in p.get("flags", "")]
    vmd5 = weirtest.framemd5(path, "v")
    assert len(vmd5) == len(packets) == seconds * 25, "clip %s: %d packets" % (name, len(packets))
    assert len(set(vmd5)) == len(vmd5), "clip %s has repeated video packets" % name
    return types.SimpleNamespace(
        path=path, seconds=seconds, gop_frames=gop, fps=25,
        nb_video=len(packets), vmd5=vmd5, key_ts=key_ts,
        video_ts=[round(float(p["dts_time"]) * 1000) for p in packets])


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip(media_dir):
    """10 s, 640x360, 25 fps H.264 (1 s GOP) + AAC, FLV."""
    return _make_clip(media_dir, "clip.flv", 10, 25)


@pytest.fixture(scope="session")
def clip_gop4(media_dir):
    """12 s, 4 s GOP: for time-to-first-frame tests."""
    return _make_clip(media_dir, "clip_gop4.flv", 12, 100)


@pytest.fixture(scope="session")
def clip_heavy(media_dir):
    """10 s at ~3 Mbit/s (noisy picture): fills slow players' buffers quickly."""
    return _make_clip(media_dir, "clip_heavy.flv", 10, 25, bitrate="3M", noise=True)
