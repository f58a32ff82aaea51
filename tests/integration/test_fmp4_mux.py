"""The fMP4/CMAF muxer (node/codec/fmp4_mux.h) checked by FFmpeg: weir-fmp4
cuts an FLV into init.mp4 + fragments (~1 s at key frames, and 0.4 s
LL-HLS-style parts), and
  - init + all fragments is an MP4 that ffprobe reads as the source's codec
    and size with as many video frames, a duration within one frame, and
    that ffmpeg decodes without a word on stderr, to the same frames
    (framemd5 of the decoded pictures equals the source's);
  - init + any one fragment alone is accepted by ffprobe (what an HLS player
    fetches), with the fragment's own sample count; a fragment starting at
    a key frame also decodes cleanly;
  - the zero-copy output (header + sample references) and the flat one are
    the same bytes;
  - the RFC 6381 codecs parameter agrees with ffprobe's profile and level.
Sources: the suite's H.264 + AAC clip; a short H.264 clip with B-frames
(composition offsets); H.265 as Enhanced RTMP hvc1 and as legacy codec id
12 (built as test_hevc_ertmp does, FFmpeg 5.1 cannot write it); AV1 as
Enhanced RTMP av01 (libsvtav1, else libaom-av1, in an IVF; its av1C taken
from FFmpeg's MP4 of the same stream).
"""

import functools
import re
import struct
import types

import pytest

import weirtest
from test_hevc_ertmp import (NAL_AUD, NAL_IDR_N_LP, NAL_IDR_W_RADL, NAL_PPS, NAL_SPS, NAL_VPS,
                             build_hvcc, flv_tag, group_access_units, length_prefixed,
                             nal_type, split_annexb)
from weirtest import FLV_VIDEO

# A video decoder's log line ("[h264 @ 0x...]"), not the MP4 demuxer's.
DECODER_LOG = re.compile(r"^\[(h264|hevc|libdav1d|av1|libaom-av1) @ ")
FPS = 25
FRAME_MS = 1000 // FPS
W, H = 320, 240
SECONDS = 3


def ffmpeg(*args, timeout=120):
    cmd = [weirtest.require_tool("ffmpeg")] + weirtest.FFMPEG_COMMON + ["-y"] + list(args)
    weirtest.run(cmd, timeout=timeout, check=True)


def lavfi_video(seconds=SECONDS):
    return ["-f", "lavfi", "-i", "testsrc2=size=%dx%d:rate=%d" % (W, H, FPS), "-t", str(seconds)]


def flv_file(tags):
    out = bytearray(b"FLV\x01\x01" + struct.pack(">I", 9) + b"\x00\x00\x00\x00")
    for ttype, ts, body in tags:
        out += flv_tag(ttype, ts, body)
    return bytes(out)


@functools.lru_cache(maxsize=None)
def source_md5(path):
    return decoded_md5(path)


def decoded_md5(path):
    """framemd5 of the decoded video pictures (hash column only); FFmpeg
    must decode the whole file without a word on stderr."""
    cmd = [weirtest.require_tool("ffmpeg"), "-nostdin", "-v", "error", "-i", str(path),
           "-map", "0:v", "-f", "framemd5", "-"]
    res = weirtest.run(cmd, timeout=120)
    assert res.returncode == 0 and res.stderr == "", (path, res.stderr)
    return [ln.split(",")[-1].strip() for ln in res.stdout.splitlines()
            if ln and not ln.startswith("#")]


# ---------------------------------------------------------------- sources

@pytest.fixture(scope="module")
def bframes_clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("fmp4b")
    path = d / "bframes.flv"
    ffmpeg(*lavfi_video(), "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
           "-t", str(SECONDS), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast", "-bf", "3",
           "-g", str(FPS), "-c:a", "aac", "-f", "flv", str(path))
    return types.SimpleNamespace(path=path, frames=SECONDS * FPS, width=W, height=H,
                                 codec="h264", ref=path)


def hevc_source(d, legacy):
    raw = d / "clip.hevc"
    if not raw.exists():
        ffmpeg(*lavfi_video(), "-pix_fmt", "yuv420p", "-c:v", "libx265", "-x265-params",
               "keyint=%d:min-keyint=%d:scenecut=0:bframes=0:open-gop=0:log-level=error" % (FPS, FPS),
               "-f", "hevc", str(raw))
    nals = split_annexb(raw.read_bytes())
    params = {}
    for nal in nals:
        params.setdefault(nal_type(nal), nal)
    hvcc, _ = build_hvcc(params[NAL_VPS], params[NAL_SPS], params[NAL_PPS])
    if legacy:  # FLV codec id 12, AVCPacketType, SI24 composition time 0
        def head(key, pt):
            return bytes([(0x10 if key else 0x20) | 12, pt, 0, 0, 0])
    else:  # Enhanced RTMP: SequenceStart, CodedFrames (with cts), CodedFramesX
        def head(key, pt):
            if pt == 0:
                return bytes([0x90]) + b"hvc1"
            return bytes([0x91]) + b"hvc1\x00\x00\x00" if key else bytes([0xA3]) + b"hvc1"
    tags = [(FLV_VIDEO, 0, head(True, 0) + hvcc)]
    for i, au in enumerate(group_access_units(nals)):
        key = any(nal_type(n) in (NAL_IDR_W_RADL, NAL_IDR_N_LP) for n in au)
        coded = [n for n in au if nal_type(n) not in (NAL_VPS, NAL_SPS, NAL_PPS, NAL_AUD)]
        tags.append((FLV_VIDEO, i * FRAME_MS, head(key, 1) + length_prefixed(coded)))
    path = d / ("hevc_legacy.flv" if legacy else "hevc_ertmp.flv")
    path.write_bytes(flv_file(tags))
    return types.SimpleNamespace(path=path, frames=SECONDS * FPS, width=W, height=H,
                                 codec="hevc", ref=raw)


@pytest.fixture(scope="module")
def hevc_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fmp4h")


def ivf_frames(data):
    """Frame payloads of an IVF file."""
    off, out = struct.unpack("<H", data[6:8])[0], []
    while off + 12 <= len(data):
        size = struct.unpack("<I", data[off:off + 4])[0]
        out.append(data[off + 12:off + 12 + size])
        off += 12 + size
    return out


def box_payload(data, name):
    i = data.find(name)
    assert i >= 4, "no %r box" % name
    size = struct.unpack(">I", data[i - 4:i])[0]
    return data[i + 4:i - 4 + size]


@pytest.fixture(scope="module")
def av1_clip(tmp_path_factory):
    encoders = weirtest.run([weirtest.require_tool("ffmpeg"), "-hide_banner", "-encoders"]).stdout
    if "libsvtav1" in encoders:
        enc = ["-c:v", "libsvtav1", "-preset", "12", "-g", str(FPS)]
    else:
        assert "libaom-av1" in encoders, "this FFmpeg has no AV1 encoder (libsvtav1, libaom-av1)"
        enc = ["-c:v", "libaom-av1", "-cpu-used", "8", "-usage", "realtime", "-g", str(FPS)]
    d = tmp_path_factory.mktemp("fmp4a")
    ivf, mp4 = d / "clip.ivf", d / "clip.mp4"
    ffmpeg(*lavfi_video(), "-pix_fmt", "yuv420p", *enc, "-f", "ivf", str(ivf))
    ffmpeg("-i", str(ivf), "-c", "copy", str(mp4))
    av1c = box_payload(mp4.read_bytes(), b"av1C")
    keys = [("K" in p.get("flags", "")) for p in weirtest.probe_packets(ivf, "v")]
    frames = ivf_frames(ivf.read_bytes())
    assert len(frames) == len(keys) == SECONDS * FPS, (len(frames), len(keys))
    tags = [(FLV_VIDEO, 0, bytes([0x90]) + b"av01" + av1c)]
    for i, (tu, key) in enumerate(zip(frames, keys)):
        tags.append((FLV_VIDEO, i * FRAME_MS, bytes([0x91 if key else 0xA1]) + b"av01" + tu))
    path = d / "av1.flv"
    path.write_bytes(flv_file(tags))
    return types.SimpleNamespace(path=path, frames=len(frames), width=W, height=H,
                                 codec="av1", ref=ivf)


# ---------------------------------------------------------------- checks

def mux(src, out, *opts):
    out.mkdir()
    res = weirtest.run([weirtest.tool("weir-fmp4"), str(src), str(out)] + list(opts),
                       timeout=60)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    lines = res.stdout.splitlines()
    init, codecs = lines[0].split()
    assert init == "init.mp4", lines[0]
    frags = []
    for line in lines[1:]:
        name, seq, start, nv, na, nbytes = line.split()
        frags.append(types.SimpleNamespace(path=out / name, seq=int(seq), start=int(start),
                                           video=int(nv), audio=int(na)))
    assert [f.seq for f in frags] == list(range(1, len(frags) + 1))
    return types.SimpleNamespace(codecs=codecs, frags=frags)


def concat(out, parts, name):
    path = out / name
    path.write_bytes(b"".join(p.read_bytes() for p in parts))
    return path


def check_whole(src, out, frags):
    mp4 = concat(out, [out / "init.mp4"] + [f.path for f in frags], "all.mp4")
    md5 = decoded_md5(mp4)
    info = weirtest.ffprobe_json(mp4, "-count_packets", "-show_streams", "-show_format")
    video = [s for s in info["streams"] if s["codec_type"] == "video"][0]
    assert video["codec_name"] == src.codec, video
    assert (video["width"], video["height"]) == (src.width, src.height), video
    assert int(video["nb_read_packets"]) == src.frames == sum(f.video for f in frags)
    duration = float(video["duration"])
    assert abs(duration - src.frames / FPS) <= 1.0 / FPS + 1e-6, duration
    assert md5 == source_md5(src.ref)
    return info


def check_each(out, frags, decode):
    """init + each fragment alone, as an HLS player fetches it: one FFmpeg
    run reads them all (an input each) and writes each one's packets as
    framemd5; its MP4 demuxer must say nothing, and each file must hold the
    fragment's own sample counts. With decode (fragments that start at a
    key frame), a second run decodes them all without a word. A part that
    does not start at a key frame cannot be decoded alone (players start at
    an independent part), so the decoder's complaints while FFmpeg probes
    it are not counted."""
    inputs, outputs = [], []
    for k, f in enumerate(frags):
        one = concat(out, [out / "init.mp4", f.path], "one-%d.mp4" % k)
        inputs += ["-i", str(one)]
        outputs += ["-map", str(k), "-c", "copy", "-copyinkf", "-f", "framemd5", str(out / ("one-%d.md5" % k))]
    ffmpeg_v = [weirtest.require_tool("ffmpeg"), "-nostdin", "-v", "error", "-y"]
    res = weirtest.run(ffmpeg_v + inputs + outputs, timeout=120)
    demuxer = [ln for ln in res.stderr.splitlines() if not DECODER_LOG.match(ln)]
    assert res.returncode == 0 and not demuxer, res.stderr
    for k, f in enumerate(frags):
        lines = [ln for ln in (out / ("one-%d.md5" % k)).read_text().splitlines()
                 if ln and not ln.startswith("#")]
        streams = [int(ln.split(",")[0]) for ln in lines]
        assert (streams.count(0), streams.count(1)) == (f.video, f.audio), (f.path.name, k)
    if decode:
        assert res.stderr == "", res.stderr
        nulls = []
        for k in range(len(frags)):
            nulls += ["-map", "%d:v" % k, "-f", "null", "-"]
        res = weirtest.run(ffmpeg_v + inputs + nulls, timeout=120)
        assert res.returncode == 0 and res.stderr == "", res.stderr


def expected_codecs_h264_aac(path):
    """The codecs parameter ffprobe's profile and level imply for an
    H.264 High + AAC-LC source (the constraint byte left open)."""
    streams = weirtest.probe_streams(path)
    assert streams["video"]["profile"] == "High" and streams["audio"]["profile"] == "LC"
    return r"avc1\.64[0-9a-f]{2}%02x,mp4a\.40\.2" % streams["video"]["level"]


def check_source(src, tmp_path, audio_frames=None):
    seg = mux(src.path, tmp_path / "seg")
    frags = seg.frags
    src.codecs_seen = seg.codecs
    assert len(frags) >= 2 and all(1000 <= b.start - a.start <= 1000 + 2 * FRAME_MS
                                   for a, b in zip(frags, frags[1:])), [f.start for f in frags]
    info = check_whole(src, tmp_path / "seg", frags)
    check_each(tmp_path / "seg", frags, decode=True)
    if audio_frames is not None:
        audio = [s for s in info["streams"] if s["codec_type"] == "audio"][0]
        assert audio["codec_name"] == "aac"
        assert int(audio["nb_read_packets"]) == audio_frames == sum(f.audio for f in frags)

    parts = mux(src.path, tmp_path / "parts", "--part-ms", "400").frags
    assert all(abs(b.start - a.start - 400) < 2 * FRAME_MS for a, b in zip(parts, parts[1:]))
    check_whole(src, tmp_path / "parts", parts)
    check_each(tmp_path / "parts", parts, decode=False)

    flat = mux(src.path, tmp_path / "flat", "--part-ms", "400", "--flat").frags
    for a, b in zip(parts, flat):
        assert a.path.read_bytes() == b.path.read_bytes(), a.path.name
    return frags


def audio_count(path):
    return len(weirtest.probe_packets(path, "a"))


def test_h264_aac_clip(clip, tmp_path):
    src = types.SimpleNamespace(path=clip.path, frames=clip.nb_video, width=640, height=360,
                                codec="h264", ref=clip.path)
    check_source(src, tmp_path, audio_frames=audio_count(clip.path))
    assert re.fullmatch(expected_codecs_h264_aac(clip.path), src.codecs_seen), src.codecs_seen


def test_h264_bframes(bframes_clip, tmp_path):
    check_source(bframes_clip, tmp_path, audio_frames=audio_count(bframes_clip.path))
    assert re.fullmatch(expected_codecs_h264_aac(bframes_clip.path), bframes_clip.codecs_seen)


@pytest.mark.parametrize("legacy", [False, True], ids=["ertmp_hvc1", "legacy_id12"])
def test_hevc(hevc_dir, tmp_path, legacy):
    src = hevc_source(hevc_dir, legacy)
    check_source(src, tmp_path)
    level = weirtest.probe_streams(src.ref)["video"]["level"]
    assert src.codecs_seen == "hvc1.1.6.L%d.90" % level, src.codecs_seen  # Main, progressive


def test_av1(av1_clip, tmp_path):
    check_source(av1_clip, tmp_path)
    assert re.fullmatch(r"av01\.0\.\d\dM\.08", av1_clip.codecs_seen), av1_clip.codecs_seen
