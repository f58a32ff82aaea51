"""Self-test of rtmp_min, the suite's own RTMP client: the protocol-level
tests trust its reading of status codes and messages, so its AMF0 codec and
chunk reader are checked here against hand-built byte vectors (no node)."""

import socket
import struct
import threading

import pytest

import rtmp_min
from rtmp_min import EcmaArray, RtmpClient, RtmpError, Undefined, amf0_decode_all, amf0_encode


def _pair():
    a, b = socket.socketpair()
    a.settimeout(5)
    b.settimeout(5)
    return RtmpClient("test", 0, timeout=5, sock=a), b


def _h0(csid, ts, length, mtype, sid=1):
    return bytes([csid]) + ts.to_bytes(3, "big") + length.to_bytes(3, "big") + bytes([mtype]) + \
        struct.pack("<I", sid)


def test_amf0_known_bytes():
    assert amf0_encode("connect") == b"\x02\x00\x07connect"
    assert amf0_encode(1.0) == b"\x00" + struct.pack(">d", 1.0)
    assert amf0_encode(True) == b"\x01\x01"
    assert amf0_encode(None) == b"\x05"
    assert amf0_encode({"a": None}) == b"\x03\x00\x01a\x05\x00\x00\x09"
    assert amf0_encode(EcmaArray({"w": 2.0})) == (
        b"\x08\x00\x00\x00\x01\x00\x01w\x00" + struct.pack(">d", 2.0) + b"\x00\x00\x09")
    assert amf0_encode([1.0]) == b"\x0a\x00\x00\x00\x01\x00" + struct.pack(">d", 1.0)


def test_amf0_round_trip():
    values = [1.5, -2.0, True, False, "h\u00e9llo", "", None, Undefined(),
              {"a": 1.0, "b": "x", "c": {"d": [1.0, "s", None]}},
              EcmaArray({"width": 640.0, "height": 360.0}), "x" * 70000]
    got = amf0_decode_all(b"".join(amf0_encode(v) for v in values))
    assert got == values
    assert isinstance(got[9], EcmaArray) and not isinstance(got[8], EcmaArray)
    assert got[2] is True and got[3] is False


def test_amf0_decodes_date_and_typed_object():
    data = b"\x0b" + struct.pack(">d", 1234.0) + b"\x00\x00" + \
        b"\x10\x00\x03Foo\x00\x01k\x02\x00\x01v\x00\x00\x09"
    assert amf0_decode_all(data) == [1234.0, {"k": "v"}]


@pytest.mark.parametrize("data", [b"\x02\x00\x05ab", b"\x00\x01", b"\x03\x00\x01a", b"\x11"])
def test_amf0_malformed(data):
    with pytest.raises(RtmpError):
        amf0_decode_all(data)


def test_chunk_reader_formats():
    c, srv = _pair()
    with c, srv:
        a, b = bytes(range(200)), bytes(reversed(range(200)))
        stream = bytearray()
        # fmt 0 (ts 1000) split in two chunks at the default chunk size 128.
        stream += _h0(6, 1000, 200, 9) + a[:128] + b"\xc6" + a[128:]
        # fmt 3 starting a message: the delta is the fmt 0 timestamp (1000).
        stream += b"\xc6" + b[:128] + b"\xc6" + b[128:]
        # fmt 1 (delta 40, new length/type), fmt 2 (delta 40), fmt 3 (same delta).
        stream += b"\x46" + (40).to_bytes(3, "big") + (10).to_bytes(3, "big") + b"\x08" + b"C" * 10
        stream += b"\x86" + (40).to_bytes(3, "big") + b"D" * 10
        stream += b"\xc6" + b"E" * 10
        # Two messages interleaved, on a 1-byte and a 2-byte chunk stream id.
        x, y = b"x" * 200, b"y" * 200
        stream += _h0(4, 5, 200, 8) + x[:128]
        stream += b"\x00\x06" + _h0(0, 7, 200, 9)[1:] + y[:128]
        stream += b"\xc4" + x[128:] + b"\xc0\x06" + y[128:]
        # Set Chunk Size 4096, then a 300-byte message in one chunk on a
        # 3-byte chunk stream id (400).
        stream += _h0(2, 0, 4, 1, sid=0) + struct.pack(">I", 4096)
        stream += b"\x01" + bytes([(400 - 64) & 0xFF, (400 - 64) >> 8]) + \
            _h0(0, 9, 300, 9)[1:] + b"z" * 300
        # Extended timestamp, 5000 bytes: fmt 3 continuation repeats it.
        big = bytes(5000)
        stream += _h0(7, 0xFFFFFF, 5000, 9)[:1] + b"\xff\xff\xff" + _h0(7, 0, 5000, 9)[4:] + \
            struct.pack(">I", 0x01000000) + big[:4096] + b"\xc7" + struct.pack(">I", 0x01000000) + \
            big[4096:]
        srv.sendall(bytes(stream))

        got = [c.read_message(2) for _ in range(10)]
        want = [(9, 1000, a, 6), (9, 2000, b, 6), (8, 2040, b"C" * 10, 6), (8, 2080, b"D" * 10, 6),
                (8, 2120, b"E" * 10, 6), (8, 5, x, 4), (9, 7, y, 70),
                (1, 0, struct.pack(">I", 4096), 2),
                (9, 9, b"z" * 300, 400), (9, 0x01000000, big, 7)]
        assert [(m.type, m.timestamp, m.payload, m.csid) for m in got] == want
        assert c.in_chunk_size == 4096


def test_chunk_writer_and_interleaving_round_trip():
    c, srv = _pair()
    reader = RtmpClient("test", 0, timeout=5, sock=srv)
    with c, reader:
        big = bytes(range(256)) * 3
        c.write_message(6, 9, 1, 40, big)
        assert c.out_chunk_size == 128
        c.set_chunk_size(300)
        c.write_interleaved([(4, 8, 1, 0x1000000, b"a" * 700), (6, 9, 1, 80, b"v" * 650)])
        got = [reader.read_message(2) for _ in range(4)]
    assert [(m.type, m.timestamp, m.payload) for m in got] == [
        (9, 40, big), (1, 0, struct.pack(">I", 300)), (8, 0x1000000, b"a" * 700),
        (9, 80, b"v" * 650)]


def test_acknowledges_window_and_answers_ping():
    c, srv = _pair()
    peer = RtmpClient("test", 0, timeout=5, sock=srv)
    with c, peer:
        srv.sendall(_h0(2, 0, 4, 5, sid=0) + struct.pack(">I", 1000) +
                    _h0(2, 0, 6, 4, sid=0) + struct.pack(">HI", 6, 777))
        srv.sendall(_h0(6, 0, 120, 9) + b"q" * 120)
        for _ in range(8):
            srv.sendall(b"\xc6" + b"q" * 120)
        msgs = [c.read_message(2) for _ in range(11)]
        assert c.window == 1000
        assert [m.type for m in msgs] == [5, 4] + [9] * 9
        replies = {m.type: m for m in (peer.read_message(2), peer.read_message(2))}
        assert sorted(replies) == [3, 4], replies
        assert replies[4].payload == struct.pack(">HI", 7, 777)
        assert struct.unpack(">I", replies[3].payload)[0] >= 1000


def test_handshake_and_connect_against_fake_server():
    a, b = socket.socketpair()
    b.settimeout(5)
    c = RtmpClient("test", 0, timeout=5, sock=a)
    result = {}

    def server():
        def take(n):
            buf = b""
            while len(buf) < n:
                chunk = b.recv(n - len(buf))
                assert chunk
                buf += chunk
            return buf
        c0c1 = take(1 + 1536)
        s1 = b"\x00" * 8 + bytes(range(256)) * 6
        b.sendall(b"\x03" + s1[:1536] + c0c1[1:])
        result["c2_ok"] = take(1536) == s1[:1536]
        peer = RtmpClient("test", 0, timeout=5, sock=b)
        cmd = peer.read_message(3)
        result["connect"] = cmd.amf()
        reply = rtmp_min.amf0_encode_all(
            ["_result", 1.0, {"fmsVer": "x"},
             {"level": "status", "code": "NetConnection.Connect.Success"}])
        b.sendall(_h0(3, 0, len(reply), 20, sid=0) + reply)

    t = threading.Thread(target=server)
    t.start()
    with c:
        info = c.connect("live")
    t.join(5)
    b.close()
    assert result.get("c2_ok"), "C2 did not echo S1"
    assert result["connect"][0] == "connect" and result["connect"][2]["app"] == "live"
    assert info["code"] == "NetConnection.Connect.Success"
