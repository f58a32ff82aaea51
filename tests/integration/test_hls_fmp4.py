"""HLS and LL-HLS over fMP4/CMAF from a real node
(GET /{app}/{name}/index.fmp4.m3u8, init-{id}.mp4, {msn}.m4s, {msn}.{part}.m4s):
ffprobe reads the playlist; ffmpeg decodes it without a word; the init
segment plus the listed segments, joined, hold the published packets byte
for byte (framemd5, across segment boundaries); LL-HLS parts join byte for
byte into their segment, key-frame parts are INDEPENDENT; the TS and fMP4
playlists share one media sequence; HLS answers count in the stream's
bytes_out (and the node's); the fMP4 rendition is dropped when no fMP4
request comes for hls.idle_timeout_s; the first media sequence number follows the
wall clock, so a stream's HLS state made again does not restart at 0; a
republish with other codec parameters gets a new EXT-X-MAP after an
EXT-X-DISCONTINUITY; H.265 (Enhanced RTMP hvc1) plays too, and AV1
(Enhanced RTMP av01): ffprobe reads its playlist, its samples are the
published temporal units and decode to the published pictures."""

import hashlib
import re
import time

import pytest

import weirtest
from apischema import Api
from test_api import wait_for
from test_fmp4_mux import av1_clip, decoded_md5, ivf_frames, source_md5  # noqa: F401 (a fixture)
from test_hevc_ertmp import hevc_flv  # noqa: F401 (a fixture)
from test_hls import base, get
from weirtest import describe_mismatch, find_run, framemd5, wait_live

APP = "live"
NAME = "cam"
HLS = {"segment_ms": 1000, "window": 5, "part_ms": 250, "idle_timeout_s": 2}
FMP4 = "/%s/%s/index.fmp4.m3u8"


def segments(text):
    """[(msn, uri)] of the complete segments listed."""
    return [(int(re.match(r"(\d+)\.m4s", ln).group(1)), ln) for ln in text.splitlines()
            if ln and not ln.startswith("#")]


def maps(text):
    return re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text)


def after_map(text, uri):
    """The playlist text after the EXT-X-MAP line of uri."""
    return text.split('#EXT-X-MAP:URI="%s"\n' % uri, 1)[1]


def token_of(text):
    return re.search(r"hls_session=([A-Za-z0-9_-]+)", text).group(1)


def playlist(n, name, token=None, nsegs=1, timeout=20):
    """The fMP4 playlist once it lists nsegs complete segments."""
    def ready():
        url = base(n) + FMP4 % (APP, name) + ("?hls_session=" + token if token else "")
        st, hdr, body = get(url)
        assert st == 200, (st, body)
        assert hdr["Content-Type"] == "application/vnd.apple.mpegurl"
        t = body.decode()
        return len(segments(t)) >= nsegs and t
    return wait_for("%d fMP4 segments" % nsegs, ready, timeout=timeout)


def fetch(n, name, uri):
    st, hdr, body = get(base(n) + "/%s/%s/%s" % (APP, name, uri))
    assert st == 200, (uri, st, body[:200])
    assert hdr["Content-Type"] == "video/mp4" and int(hdr["Content-Length"]) == len(body)
    return body


@pytest.fixture(scope="module")
def live(tmp_path_factory, clip):
    wd = tmp_path_factory.mktemp("hlsfmp4")
    n = weirtest.Node(wd / "node", {"hls": HLS, "stream": {"unpublish_grace_ms": 8000}})
    procs = weirtest.Procs(wd)
    n.start()
    try:
        procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "publisher")
        wait_live(n, APP, NAME)
        n.procs = procs
        yield n
    finally:
        procs.stop_all()
        n.stop_and_check()


def test_playlist_decodes_to_the_published_packets(live, clip, tmp_path):
    text = playlist(live, NAME, nsegs=3)
    assert "#EXT-X-VERSION:9" in text and len(maps(text)) == 1, text
    token = token_of(text)
    m = re.match(r"init-(\d+)\.mp4\?hls_session=" + token + "$", maps(text)[0])
    assert m, maps(text)
    init = fetch(live, NAME, maps(text)[0])
    assert init[4:8] == b"ftyp" and b"moov" in init
    segs = segments(text)
    assert int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1)) == segs[0][0]
    body = [fetch(live, NAME, uri) for _, uri in segs]
    assert all(b[4:8] == b"moof" for b in body)
    # the same segment twice: the same bytes (built once)
    assert fetch(live, NAME, segs[0][1]) == body[0]
    # an init segment no held segment uses, a segment not held: 404
    for uri in ("init-7.mp4", "%d.m4s" % (segs[0][0] - 10)):
        st, _, _ = get(base(live) + "/%s/%s/%s?hls_session=%s" % (APP, NAME, uri, token))
        assert st == 404, (uri, st)
    joined = tmp_path / "joined.mp4"
    joined.write_bytes(init + b"".join(body))
    got = weirtest.probe_streams(joined)
    assert got["video"]["codec_name"] == "h264" and got["audio"]["codec_name"] == "aac", got
    assert (got["video"]["width"], got["video"]["height"]) == (640, 360)
    res = weirtest.run([weirtest.require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-v", "error",
                        "-i", str(joined), "-f", "null", "-"], timeout=60)
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr[-2000:]
    # every published video packet, byte for byte, across the segment boundaries
    md5 = framemd5(joined)
    assert len(md5) >= 2 * clip.fps, len(md5)
    assert find_run(md5, clip.vmd5, cyclic=True) is not None, describe_mismatch(md5, clip.vmd5)
    # ffprobe and ffmpeg read the playlist itself
    info = weirtest.ffprobe_json(base(live) + FMP4 % (APP, NAME), "-show_streams", timeout=60)
    assert {s["codec_name"] for s in info["streams"]} == {"h264", "aac"}, info
    res = weirtest.run([weirtest.require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-v", "error",
                        "-i", base(live) + FMP4 % (APP, NAME), "-t", "3", "-f", "null", "-"],
                       timeout=60)
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr[-2000:]
    # the TS playlist lists the same media sequence numbers (both fetched
    # now, back to back: the reads above may outlast the window on a busy
    # machine)
    now = playlist(live, NAME, token=token)
    ts = get(base(live) + "/%s/%s.m3u8?hls_session=%s" % (APP, NAME, token))[2].decode()
    ts_msns = [int(m) for m in re.findall(r"^cam/(\d+)\.ts", ts, re.M)]
    assert set(ts_msns) & {msn for msn, _ in segments(now)}, (ts, now)


def test_ll_parts_join_into_their_segment(live):
    text = playlist(live, NAME, nsegs=2)
    token = token_of(text)
    assert "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES" in text and "#EXT-X-PART-INF" in text
    msn, uri = segments(text)[-1]
    parts = re.findall(r'#EXT-X-PART:DURATION=[0-9.]+,URI="(%d\.\d+\.m4s[^"]*)"(,INDEPENDENT=YES)?'
                       % msn, text)
    assert len(parts) >= 2, text
    assert parts[0][1], "a segment's first part starts with a key frame: %s" % text
    seg = fetch(live, NAME, uri)
    assert b"".join(fetch(live, NAME, u) for u, _ in parts) == seg
    hint = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="((\d+)\.(\d+)\.m4s[^"]*)"', text)
    assert hint, text
    st, _, body = get(base(live) + FMP4 % (APP, NAME) + "?hls_session=%s&_HLS_msn=%s&_HLS_part=%s"
                      % (token, hint.group(2), hint.group(3)))
    assert st == 200 and hint.group(1).split("?")[0] in body.decode(), body
    part = fetch(live, NAME, hint.group(1))
    assert part[4:8] == b"moof", part[:16]


def test_bytes_out_counts_hls(live):
    api = Api(live.api_url)
    text = playlist(live, NAME, nsegs=1)
    before = api.get("/api/v1/streams/%s/%s" % (APP, NAME)).json()["bytes_out"]
    node_before = api.get("/api/v1/node").json()["bytes_out"]
    got = sum(len(fetch(live, NAME, uri)) for _, uri in segments(text)[-2:])
    st, _, ts = get(base(live) + "/%s/%s.m3u8?hls_session=%s" % (APP, NAME, token_of(text)))
    assert st == 200
    got += len(ts)
    wait_for("stream bytes_out", lambda: api.get("/api/v1/streams/%s/%s" % (APP, NAME))
             .json()["bytes_out"] >= before + got, timeout=10)
    wait_for("node bytes_out", lambda: api.get("/api/v1/node").json()["bytes_out"]
             >= node_before + got, timeout=10)
    listed = api.get("/api/v1/streams").json()["streams"]
    mine = [s for s in listed if s["app"] == APP and s["name"] == NAME]
    assert mine and mine[0]["bytes_out"] >= before + got, mine


def test_fmp4_dropped_when_idle_then_msn_follows_the_wall_clock(live):
    """The fMP4 rendition goes after hls.idle_timeout_s without an fMP4
    request while TS players go on. The first msn is the Unix time in
    tenths of a second: after the stream's HLS state is dropped (idle) and
    made again, the media sequence goes on above the old one instead of
    restarting at 0."""
    t0 = time.time()
    text = playlist(live, NAME, nsegs=1)
    first = segments(text)[0][0]
    assert first > 10 * (t0 - 3600), first  # started within the hour, in 100 ms units
    old_last = segments(text)[-1][0]
    fmp4_gone = "hls: %s/%s fMP4 rendition stopped (no requests)" % (APP, NAME)
    gone_before = live.log_text().count(fmp4_gone)

    def ts_only():
        st, _, _ = get(base(live) + "/%s/%s.m3u8?hls_session=%s" % (APP, NAME, token_of(text)))
        assert st == 200, st
        return live.log_text().count(fmp4_gone) > gone_before
    wait_for("the fMP4 rendition dropped", ts_only, timeout=20)
    old_last = max(old_last, segments(playlist(live, NAME, nsegs=1))[-1][0])
    stopped = "hls: %s/%s stopped (no requests)" % (APP, NAME)
    count = live.log_text().count(stopped)
    wait_for("the HLS state dropped", lambda: live.log_text().count(stopped) > count, timeout=20)
    t1 = time.time()
    text = playlist(live, NAME, nsegs=1)
    again = segments(text)[0][0]
    assert again > old_last and again >= int(10 * t1) - 50, (old_last, again, t1)
    ts = get(base(live) + "/%s/%s.m3u8" % (APP, NAME))[2].decode()
    assert int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", ts).group(1)) >= again


def test_republish_with_new_parameters_is_a_new_map(live, clip, tmp_path):
    """Another publisher with other codec parameters (320x240) within the
    grace period: the playlist goes on with EXT-X-DISCONTINUITY and a new
    EXT-X-MAP whose init segment has the new size; a same-source splice
    would have neither."""
    src = tmp_path / "small.flv"
    weirtest.run([weirtest.require_tool("ffmpeg")] + weirtest.FFMPEG_COMMON + [
        "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
        "-f", "lavfi", "-i", "sine=frequency=880:sample_rate=48000", "-t", "3",
        "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-keyint_min", "25",
        "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", str(src)],
        timeout=120, check=True)
    name = "re"
    pub = live.procs.spawn(weirtest.publish_cmd(src, live.rtmp_url(APP, name),
                                                loop=True), "pub-small")
    wait_live(live, APP, name)
    text = playlist(live, name, nsegs=1)
    token = token_of(text)
    assert len(maps(text)) == 1 and "#EXT-X-DISCONTINUITY\n" not in text, text
    pub.kill()
    pub.wait()
    live.procs.spawn(weirtest.publish_cmd(clip.path, live.rtmp_url(APP, name), loop=True),
                     "pub-big")

    def new_map():
        t = get(base(live) + FMP4 % (APP, name) + "?hls_session=" + token)[2].decode()
        return len(maps(t)) == 2 and len(segments(after_map(t, maps(t)[1]))) >= 1 and t
    text = wait_for("a second EXT-X-MAP", new_map, timeout=20)
    first_map, second_map = maps(text)
    assert first_map != second_map
    lines = text.splitlines()
    i = lines.index('#EXT-X-MAP:URI="%s"' % second_map)
    assert lines[i - 1] == "#EXT-X-DISCONTINUITY", lines[i - 3:i + 2]
    # every request first, then the probes: a probe on a loaded machine can
    # outlast hls.idle_timeout_s (2 s here), after which the session is gone
    seg_uri = segments(after_map(text, second_map))[0][1]
    inits = [fetch(live, name, uri) for uri in (first_map, second_map)]
    seg = fetch(live, name, seg_uri)
    sizes = []
    for k, init in enumerate(inits):
        f = tmp_path / ("init-%d.mp4" % k)
        f.write_bytes(init)
        v = weirtest.probe_streams(f)["video"]
        sizes.append((v["width"], v["height"]))
    assert sizes == [(320, 240), (640, 360)], sizes
    joined = tmp_path / "after.mp4"
    joined.write_bytes(inits[1] + seg)
    res = weirtest.run([weirtest.require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-v", "error",
                        "-i", str(joined), "-f", "null", "-"], timeout=60)
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr[-2000:]


def test_hevc_plays_over_fmp4(live, hevc_flv, tmp_path):  # noqa: F811
    """H.265 published as Enhanced RTMP hvc1: the fMP4 rendition's init is
    hvc1 and its samples are the published frames, byte for byte."""
    name = "hevc"
    live.procs.spawn([weirtest.tool("weir-push"), "--loop", str(hevc_flv.path),
                      live.rtmp_url(APP, name)], "pub-hevc")
    wait_live(live, APP, name)
    text = playlist(live, name, nsegs=2)
    init = fetch(live, name, maps(text)[0])
    assert b"hvc1" in init and b"hvcC" in init
    body = [fetch(live, name, uri) for _, uri in segments(text)]
    joined = tmp_path / "hevc.mp4"
    joined.write_bytes(init + b"".join(body))
    v = weirtest.probe_streams(joined)["video"]
    assert v["codec_name"] == "hevc" and (v["width"], v["height"]) == (320, 240), v
    res = weirtest.run([weirtest.require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-v", "error",
                        "-i", str(joined), "-f", "null", "-"], timeout=60)
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr[-2000:]
    want = []
    for f in hevc_flv.frames:
        sample = f.body[8:] if f.key else f.body[5:]
        want.append((len(sample), hashlib.md5(sample).hexdigest()))
    got = framemd5(joined)
    assert len(got) >= 25 and find_run(got, want, cyclic=True) is not None, \
        describe_mismatch(got, want)


def strip_leading_td(tu):
    """An AV1 temporal unit without its leading temporal delimiter OBU (an
    MP4 sample carries none: AV1-ISOBMFF 2.4)."""
    h = tu[0]
    if (h >> 3) & 0x0F != 2 or not h & 0x02:
        return tu
    i, size, shift = 2 if h & 0x04 else 1, 0, 0
    while True:
        b = tu[i]
        i += 1
        size |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return tu[i + size:]


def test_av1_plays_over_fmp4(live, av1_clip, tmp_path):  # noqa: F811
    """AV1 published as Enhanced RTMP av01 (SequenceStart with the
    AV1CodecConfigurationRecord, then CodedFrames): ffprobe reads the fMP4
    playlist as AV1 of the source's size; the init is av01/av1C; the
    segments' samples are the published temporal units byte for byte (less
    the leading temporal delimiter), and decode to the published pictures
    (framemd5 of the decoded frames), across segment boundaries."""
    name = "av1"
    live.procs.spawn([weirtest.tool("weir-push"), "--loop", str(av1_clip.path),
                      live.rtmp_url(APP, name)], "pub-av1")
    wait_live(live, APP, name)
    text = playlist(live, name, nsegs=3)
    # the listed segments first: they leave the window (5 s) while a slow
    # ffprobe runs
    init = fetch(live, name, maps(text)[0])
    assert b"av01" in init and b"av1C" in init
    joined = tmp_path / "av1.mp4"
    joined.write_bytes(init + b"".join(fetch(live, name, uri) for _, uri in segments(text)))
    info = weirtest.ffprobe_json(base(live) + FMP4 % (APP, name) + "?hls_session=" +
                                 token_of(text), "-show_streams", timeout=60)
    v = [st for st in info["streams"] if st["codec_type"] == "video"]
    assert len(v) == 1 and v[0]["codec_name"] == "av1", info
    assert (v[0]["width"], v[0]["height"]) == (av1_clip.width, av1_clip.height), v
    want = [(len(t), hashlib.md5(t).hexdigest())
            for t in map(strip_leading_td, ivf_frames(av1_clip.ref.read_bytes()))]
    got = framemd5(joined)
    assert len(got) >= 2 * 25 and find_run(got, want, cyclic=True) is not None, \
        describe_mismatch(got, want)
    pictures = decoded_md5(joined)
    assert len(pictures) == len(got)
    assert find_run(pictures, source_md5(av1_clip.ref), cyclic=True) is not None, \
        describe_mismatch(pictures, source_md5(av1_clip.ref))
