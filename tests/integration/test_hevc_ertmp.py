"""Enhanced RTMP: HEVC (FourCC hvc1) published and played through the node.

FFmpeg 5.1 cannot mux Enhanced RTMP, so the test builds the FLV itself from
an x265 Annex B stream: NAL units are split at 3- and 4-byte start codes,
grouped into access units, the HEVCDecoderConfigurationRecord (hvcC) is
built from the VPS/SPS/PPS (profile, tier and level copied from the SPS's
profile_tier_level), and every frame becomes an extended video tag
(0x90 SequenceStart, 0x91 key CodedFrames with a composition time, 0xA3
inter CodedFramesX without one).

The built FLV is published with weir-push and played with weir-pull (the
operator tools, on Weir's own blocking RTMP client), once by a
player waiting before the publisher and once by a player joining mid-stream;
the received tag bodies are compared with the source byte for byte.
"""

import json
import os
import struct
import subprocess
import time
import types

import pytest

import rtmp_min
import weirtest
from weirtest import FLV_SCRIPT, FLV_VIDEO, parse_flv, proc_stderr, wait_proc

APP = "live"
FPS = 25
FRAME_MS = 1000 // FPS
SECONDS = 4
GOP = 25
WIDTH, HEIGHT = 320, 240

NAL_VPS, NAL_SPS, NAL_PPS, NAL_AUD = 32, 33, 34, 35
NAL_IDR_W_RADL, NAL_IDR_N_LP = 19, 20
NAL_PREFIX_SEI = 39

# Enhanced RTMP video header byte: IsExHeader | FrameType << 4 | PacketType.
EX_HEADER = 0x80
FRAME_KEY, FRAME_INTER = 1, 2
PKT_SEQUENCE_START, PKT_CODED_FRAMES, PKT_CODED_FRAMES_X = 0, 1, 3
FOURCC = b"hvc1"


# ---------------------------------------------------------------- HEVC Annex B

def split_annexb(data):
    """NAL units of an Annex B byte stream (3- or 4-byte start codes; the
    zero byte of a 4-byte start code, and any trailing_zero_8bits, are not
    part of the preceding NAL unit)."""
    starts = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = data.find(b"\x00\x00\x01", i + 3)
    nals = []
    for k, s in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else len(data)
        nal = data[s:end].rstrip(b"\x00")
        if nal:
            nals.append(nal)
    return nals


def nal_type(nal):
    return (nal[0] >> 1) & 0x3F


def is_vcl(t):
    return t < 32


def group_access_units(nals):
    """Access units: a new one starts at a VPS/SPS/PPS/AUD/prefix SEI, or at
    a slice with first_slice_segment_in_pic_flag, once the current unit has
    a slice (H.265 7.4.2.4.4)."""
    aus, cur, has_vcl = [], [], False
    for nal in nals:
        t = nal_type(nal)
        starts_au = (t in (NAL_VPS, NAL_SPS, NAL_PPS, NAL_AUD, NAL_PREFIX_SEI)
                     or 41 <= t <= 44 or 48 <= t <= 55
                     or (is_vcl(t) and len(nal) > 2 and nal[2] & 0x80))
        if starts_au and has_vcl:
            aus.append(cur)
            cur, has_vcl = [], False
        cur.append(nal)
        has_vcl = has_vcl or is_vcl(t)
    if has_vcl:
        aus.append(cur)
    return aus


def unescape_rbsp(payload):
    """Removes emulation prevention bytes (00 00 03 -> 00 00)."""
    out = bytearray()
    zeros = 0
    for b in payload:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


class BitReader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def u(self, n):
        v = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3]
            v = (v << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self):
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            assert zeros < 32, "bad Exp-Golomb code"
        return (1 << zeros) - 1 + self.u(zeros)


def parse_sps(nal):
    """The fields of an SPS that hvcC needs (H.265 7.3.2.2), plus the size."""
    rbsp = unescape_rbsp(nal[2:])
    r = BitReader(rbsp)
    r.u(4)  # sps_video_parameter_set_id
    max_sub_layers_minus1 = r.u(3)
    temporal_id_nesting = r.u(1)
    # profile_tier_level(1, max_sub_layers_minus1): the general part is 12
    # bytes (profile space/tier/idc, 32 compatibility flags, 48 constraint
    # bits, level_idc), byte aligned right after the first byte.
    general_ptl = rbsp[1:13]
    r.pos += 96
    present = [(r.u(1), r.u(1)) for _ in range(max_sub_layers_minus1)]
    if max_sub_layers_minus1 > 0:
        r.pos += 2 * (8 - max_sub_layers_minus1)
    for profile_present, level_present in present:
        r.pos += 88 * profile_present + 8 * level_present
    r.ue()  # sps_seq_parameter_set_id
    chroma_format_idc = r.ue()
    if chroma_format_idc == 3:
        r.u(1)  # separate_colour_plane_flag
    width, height = r.ue(), r.ue()
    if r.u(1):  # conformance_window_flag (4:2:0 units of 2 pixels)
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
        sub_w = 2 if chroma_format_idc in (1, 2) else 1
        sub_h = 2 if chroma_format_idc == 1 else 1
        width -= sub_w * (left + right)
        height -= sub_h * (top + bottom)
    return types.SimpleNamespace(
        general_ptl=general_ptl, max_sub_layers_minus1=max_sub_layers_minus1,
        temporal_id_nesting=temporal_id_nesting, chroma_format_idc=chroma_format_idc,
        width=width, height=height,
        bit_depth_luma_minus8=r.ue(), bit_depth_chroma_minus8=r.ue())


def build_hvcc(vps, sps, pps):
    """HEVCDecoderConfigurationRecord (ISO/IEC 14496-15, 8.3.3.1)."""
    info = parse_sps(sps)
    ptl = info.general_ptl
    out = bytearray([1])                       # configurationVersion
    out += ptl[0:1]                            # profile_space, tier_flag, profile_idc
    out += ptl[1:5]                            # general_profile_compatibility_flags
    out += ptl[5:11]                           # general_constraint_indicator_flags
    out += ptl[11:12]                          # general_level_idc
    out += struct.pack(">H", 0xF000)           # min_spatial_segmentation_idc 0
    out.append(0xFC)                           # parallelismType 0
    out.append(0xFC | info.chroma_format_idc)
    out.append(0xF8 | info.bit_depth_luma_minus8)
    out.append(0xF8 | info.bit_depth_chroma_minus8)
    out += struct.pack(">H", 0)                # avgFrameRate: unspecified
    # constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3
    out.append(((info.max_sub_layers_minus1 + 1) << 3) | (info.temporal_id_nesting << 2) | 3)
    arrays = [(NAL_VPS, vps), (NAL_SPS, sps), (NAL_PPS, pps)]
    out.append(len(arrays))
    for t, nal in arrays:
        out.append(0x80 | t)                   # array_completeness 1, NAL_unit_type
        out += struct.pack(">HH", 1, len(nal)) + nal
    return bytes(out), info


# ---------------------------------------------------------------- FLV

def flv_tag(ttype, ts, body):
    head = bytes([ttype]) + len(body).to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big")
    head += bytes([(ts >> 24) & 0xFF]) + b"\x00\x00\x00"
    return head + body + struct.pack(">I", 11 + len(body))


def video_header(frame_type, packet_type):
    return bytes([EX_HEADER | (frame_type << 4) | packet_type]) + FOURCC


def frame_type_of(body):
    return (body[0] >> 4) & 0x07


def length_prefixed(nals):
    return b"".join(struct.pack(">I", len(n)) + n for n in nals)


@pytest.fixture(scope="module")
def hevc_flv(tmp_path_factory):
    """The HEVC clip as an Enhanced RTMP FLV, plus what a player must get."""
    ffmpeg = weirtest.require_tool("ffmpeg")
    d = tmp_path_factory.mktemp("hevc")
    raw = d / "clip.hevc"
    weirtest.run([ffmpeg] + weirtest.FFMPEG_COMMON + [
        "-y", "-f", "lavfi", "-i", "testsrc2=size=%dx%d:rate=%d" % (WIDTH, HEIGHT, FPS),
        "-t", str(SECONDS), "-pix_fmt", "yuv420p", "-c:v", "libx265",
        "-x265-params",
        "keyint=%d:min-keyint=%d:scenecut=0:bframes=0:open-gop=0:log-level=error" % (GOP, GOP),
        "-f", "hevc", str(raw)], timeout=120, check=True)
    data = raw.read_bytes()
    nals = split_annexb(data)
    params = {}
    for nal in nals:
        params.setdefault(nal_type(nal), nal)
    for t, what in ((NAL_VPS, "VPS"), (NAL_SPS, "SPS"), (NAL_PPS, "PPS")):
        assert t in params, "x265 output has no %s" % what
    hvcc, sps = build_hvcc(params[NAL_VPS], params[NAL_SPS], params[NAL_PPS])

    # Our SPS reading must agree with ffprobe's.
    probe = weirtest.ffprobe_json(raw, "-show_streams", "-select_streams", "v")["streams"][0]
    assert (sps.width, sps.height) == (WIDTH, HEIGHT), (sps.width, sps.height)
    assert probe["profile"] == "Main" and hvcc[1] & 0x1F == 1, (probe["profile"], hvcc[1])
    assert hvcc[12] == int(probe["level"]), "level_idc %d, ffprobe says %s" % (hvcc[12],
                                                                              probe["level"])

    aus = group_access_units(nals)
    assert len(aus) == SECONDS * FPS, "%d access units, want %d" % (len(aus), SECONDS * FPS)
    frames = []
    for i, au in enumerate(aus):
        key = any(nal_type(n) in (NAL_IDR_W_RADL, NAL_IDR_N_LP) for n in au)
        coded = [n for n in au if nal_type(n) not in (NAL_VPS, NAL_SPS, NAL_PPS, NAL_AUD)]
        if key:
            body = video_header(FRAME_KEY, PKT_CODED_FRAMES) + b"\x00\x00\x00"  # SI24 cts 0
        else:
            body = video_header(FRAME_INTER, PKT_CODED_FRAMES_X)
        frames.append(types.SimpleNamespace(ts=i * FRAME_MS, key=key,
                                            body=body + length_prefixed(coded)))
    key_index = [i for i, f in enumerate(frames) if f.key]
    assert key_index == list(range(0, len(frames), GOP)), "key frames at %r" % key_index

    seq_body = video_header(FRAME_KEY, PKT_SEQUENCE_START) + hvcc
    assert seq_body[0] == 0x90 and frames[0].body[0] == 0x91 and frames[1].body[0] == 0xA3
    meta = rtmp_min.amf0_encode("onMetaData") + rtmp_min.amf0_encode(rtmp_min.EcmaArray([
        ("duration", float(SECONDS)), ("width", float(WIDTH)), ("height", float(HEIGHT)),
        ("framerate", float(FPS)), ("videocodecid", float(int.from_bytes(FOURCC, "big"))),
        ("encoder", "weir test_hevc_ertmp")]))
    flv = bytearray(b"FLV\x01\x01" + struct.pack(">I", 9) + b"\x00\x00\x00\x00")
    flv += flv_tag(FLV_SCRIPT, 0, meta)
    flv += flv_tag(FLV_VIDEO, 0, seq_body)
    for f in frames:
        flv += flv_tag(FLV_VIDEO, f.ts, f.body)
    path = d / "clip_hevc.flv"
    path.write_bytes(bytes(flv))
    return types.SimpleNamespace(path=path, hvcc=hvcc, seq_body=seq_body, frames=frames,
                                 key_index=key_index, meta=meta)


# ---------------------------------------------------------------- tools

def finish(p, timeout):
    """Waits for a tool; asserts exit 0; returns its stdout."""
    rc = wait_proc(p, timeout, p.weir_name)
    assert rc == 0, "%s exited %d:\n%s" % (p.weir_name, rc, proc_stderr(p))
    with open(p.weir_stdout) as f:
        return f.read()


def received(path, summary_text):
    """Tags of a pulled FLV, checked against the tool's JSON summary."""
    data = path.read_bytes()
    _, tags, consumed = parse_flv(data)
    assert consumed == len(data), "%s: %d trailing bytes" % (path, len(data) - consumed)
    summary = json.loads(summary_text.strip().splitlines()[-1])
    videos = [t for t in tags if t.type == FLV_VIDEO]
    assert summary["video"] == len(videos), (summary, len(videos))
    assert summary["tags"] == len(tags), (summary, len(tags))
    assert summary["bytes"] == sum(len(t.data) for t in tags), summary
    assert summary["first_frame_ms"] is not None, summary
    return tags, videos, summary


def check_start(tags, videos, src, who):
    """Metadata first, then SequenceStart with the exact hvcC, then a key frame."""
    assert len(videos) >= 2, "%s got %d video tags" % (who, len(videos))
    first_video = tags.index(videos[0])
    scripts = [t for t in tags[:first_video] if t.type == FLV_SCRIPT]
    assert scripts, "%s: no onMetaData before the video" % who
    values = rtmp_min.amf0_decode_all(scripts[0].data)
    assert values[0] == "onMetaData", "%s: first data message %r" % (who, values[:1])
    assert values[1]["videocodecid"] == int.from_bytes(FOURCC, "big"), values[1]
    seq = videos[0].data
    assert seq[0] == 0x90 and seq[1:5] == FOURCC, "%s: first video tag %r" % (who, seq[:8])
    assert seq[5:] == src.hvcc, "%s: hvcC differs from the published one" % who
    assert videos[0].data == src.seq_body
    assert frame_type_of(videos[1].data) == FRAME_KEY, \
        "%s: first coded frame header 0x%02x is not a key frame" % (who, videos[1].data[0])


def test_hevc_enhanced_rtmp_early_and_late_players(node, procs, hevc_flv, tmp_path):
    """A waiting player gets every HEVC tag exactly as published; a player
    joining mid-stream gets the SequenceStart, then a gap-free run starting
    at a key frame; the node survives."""
    src = hevc_flv
    n = node(stream={"play_wait_ms": 20000, "unpublish_grace_ms": 500})
    url = n.rtmp_url(APP, "hevc")
    pull, push = weirtest.tool("weir-pull"), weirtest.tool("weir-push")
    early_out, late_out = tmp_path / "early.flv", tmp_path / "late.flv"

    early = procs.spawn([pull, "--timeout", "25000", "--frames", str(len(src.frames)),
                               url, str(early_out)], "early_player", keep_stdout=True)
    time.sleep(0.5)
    assert early.poll() is None, "player gave up before the publisher came:\n%s" % (
        proc_stderr(early))
    pusher = procs.spawn([push, str(src.path), url], "pusher", keep_stdout=True)
    time.sleep(1.5)
    assert pusher.poll() is None, "publisher ended early:\n%s" % proc_stderr(pusher)
    late = procs.spawn([pull, "--timeout", "15000", url, str(late_out)], "late_player", keep_stdout=True)

    push_summary = json.loads(finish(pusher, SECONDS + 20).strip().splitlines()[-1])
    assert push_summary["video"] == len(src.frames) + 1, push_summary
    early_tags, early_videos, _ = received(early_out, finish(early, 20))
    late_tags, late_videos, _ = received(late_out, finish(late, 20))
    assert n.alive(), "node died:\n%s" % n.diagnostics()

    # The early player: everything, in order, byte for byte, same timestamps.
    check_start(early_tags, early_videos, src, "early player")
    want = [src.seq_body] + [f.body for f in src.frames]
    got = [t.data for t in early_videos]
    assert len(got) == len(want), "early player got %d video tags, want %d" % (len(got), len(want))
    for k, (g, w) in enumerate(zip(got, want)):
        assert g == w, "early player video tag #%d differs (%d vs %d bytes, header %r vs %r)" % (
            k, len(g), len(w), g[:8], w[:8])
    assert [t.timestamp for t in early_videos[1:]] == [f.ts for f in src.frames]

    # The late player: SequenceStart, then source frames i.. to the end.
    check_start(late_tags, late_videos, src, "late player")
    bodies = [t.data for t in late_videos[1:]]
    source = [f.body for f in src.frames]
    i = weirtest.find_run(bodies, source)
    assert i is not None, "late player: %s" % weirtest.describe_mismatch(bodies, source)
    assert i in src.key_index, "late player starts at source frame %d, not a key frame" % i
    assert i > 0, "the late player was not late (got the stream from frame 0)"
    assert i + len(bodies) == len(source), "late player stops at frame %d of %d" % (
        i + len(bodies), len(source))
    assert [t.timestamp for t in late_videos[1:]] == [f.ts for f in src.frames[i:]], \
        "late player timestamps are not the publisher's"


def test_hevc_second_publisher_and_missing_stream_fail_clearly(node, procs, hevc_flv, tmp_path):
    """The tools exit non-zero naming the status code: BadName for a second
    publisher of a live stream, StreamNotFound for a stream nobody publishes."""
    n = node(stream={"play_wait_ms": 300})
    url = n.rtmp_url(APP, "busy")
    push = weirtest.tool("weir-push")
    first = procs.spawn([push, str(hevc_flv.path), url], "first_publisher", keep_stdout=True)
    weirtest.wait_live(n, APP, "busy")

    res = weirtest.run([push, "--fast", str(hevc_flv.path), url], timeout=30)
    assert res.returncode != 0, "a second publisher was accepted: %s" % res.stdout
    assert "NetStream.Publish.BadName" in res.stderr, res.stderr

    res = weirtest.run([weirtest.tool("weir-pull"), "--timeout", "5000",
                        n.rtmp_url(APP, "nobody"), str(tmp_path / "none.flv")], timeout=30)
    assert res.returncode != 0, "playing a missing stream succeeded: %s" % res.stdout
    assert "NetStream.Play.StreamNotFound" in res.stderr, res.stderr

    finish(first, SECONDS + 20)
    assert n.alive(), "node died:\n%s" % n.diagnostics()
