#!/usr/bin/env python3
"""Records what ffmpeg sends when it publishes over RTMP, as seeds for
tests/fuzz/fuzz_rtmp_session.c.

Starts the weir binary on ephemeral loopback ports (temp config and
database), puts a TCP proxy in front of its RTMP port that copies every
client->server byte to a file, and publishes a test pattern with ffmpeg
(libx264 + AAC, 2 s) through the proxy. From the recording it writes, into
OUT_DIR (default tests/fuzz/corpus/rtmp_session):

  session      the whole session, cut after the last message that fits in
               --max-bytes (default 150000)
  connect      handshake and the connect command only
  publish      up to the first --short media messages after publish
  small-chunk  publish, re-chunked after a Set Chunk Size of 60 bytes
  aggregate    publish, with the media packed into aggregate messages

Usage: record_rtmp_session.py WEIR_BIN [OUT_DIR] [--max-bytes N] [--short N]
"""

import argparse
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HOST = "127.0.0.1"
HANDSHAKE = 1 + 2 * 1536


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("weir exited with %d during start-up" % proc.returncode)
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("weir did not accept on port %d" % port)


def pump(src, dst, record=None):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            if record is not None:
                record.append(b)
            dst.sendall(b)
    except OSError:
        pass
    for s in (dst, src):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def record(weir, seconds):
    """Runs weir, the proxy and ffmpeg; returns the client->server bytes."""
    work = tempfile.mkdtemp(prefix="weir-rec-")
    rtmp, http, api = free_port(), free_port(), free_port()
    conf = {"rtmp": {"listen": "%s:%d" % (HOST, rtmp)},
            "http_flv": {"listen": "%s:%d" % (HOST, http)},
            "api": {"listen": "%s:%d" % (HOST, api)},
            "storage": {"path": os.path.join(work, "weir.db")},
            "log": {"level": "info", "file": os.path.join(work, "weir.log")}}
    with open(os.path.join(work, "weir.json"), "w") as f:
        json.dump(conf, f)
    node = subprocess.Popen([weir, "-c", os.path.join(work, "weir.json")], cwd=work,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    lis = socket.socket()
    chunks = []
    try:
        wait_port(rtmp, node)
        lis.bind((HOST, 0))
        lis.listen(1)
        lis.settimeout(30)
        url = "rtmp://%s:%d/live/x" % (HOST, lis.getsockname()[1])
        ff = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
             "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
             "-f", "lavfi", "-i", "sine", "-t", str(seconds),
             "-c:v", "libx264", "-g", "25", "-c:a", "aac", "-f", "flv", url],
            stdin=subprocess.DEVNULL)
        cli, _ = lis.accept()
        srv = socket.create_connection((HOST, rtmp))
        back = threading.Thread(target=pump, args=(srv, cli), daemon=True)
        back.start()
        pump(cli, srv, chunks)
        if ff.wait(timeout=60) != 0:
            sys.exit("ffmpeg failed")
        back.join(5)
    finally:
        lis.close()
        node.terminate()
        node.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    return b"".join(chunks)


# ---- a small chunk stream model (what ffmpeg sends: no interleaving) ----

def parse(data):
    """[(csid, type, sid, ts, payload)] of the messages after the handshake,
    and the end offset of each."""
    pos, size = HANDSHAKE, 128
    state, out = {}, []
    while pos < len(data):
        b0 = data[pos]
        fmt, csid = b0 >> 6, b0 & 0x3f
        pos += 1
        if csid == 0:
            csid, pos = 64 + data[pos], pos + 1
        elif csid == 1:
            csid, pos = 64 + data[pos] + (data[pos + 1] << 8), pos + 2
        st = state.setdefault(csid, {"len": 0, "type": 0, "sid": 0, "ts": 0, "delta": 0})
        hdr = data[pos:pos + (11, 7, 3, 0)[fmt]]
        pos += len(hdr)
        if fmt <= 2:
            field = int.from_bytes(hdr[0:3], "big")
            if field == 0xffffff:
                field, pos = int.from_bytes(data[pos:pos + 4], "big"), pos + 4
            st["delta"] = field
            st["ts"] = field if fmt == 0 else st["ts"] + field
        else:
            st["ts"] += st["delta"]
        if fmt <= 1:
            st["len"], st["type"] = int.from_bytes(hdr[3:6], "big"), hdr[6]
        if fmt == 0:
            st["sid"] = struct.unpack("<I", hdr[7:11])[0]
        payload = b""
        while True:
            k = min(size, st["len"] - len(payload))
            payload += data[pos:pos + k]
            pos += k
            if len(payload) >= st["len"] or pos >= len(data):
                break
            pos += 1  # fmt 3 continuation basic header (csid < 64 from ffmpeg)
        if len(payload) < st["len"]:
            break
        out.append(((csid, st["type"], st["sid"], st["ts"], payload), pos))
        if st["type"] == 1:
            size = struct.unpack(">I", payload[:4])[0] & 0x7fffffff
    return out


def write(hs, msgs, chunk_size):
    """Handshake, a Set Chunk Size when chunk_size is not 128, then msgs
    (fmt 0 headers); the messages' own Set Chunk Size are left out."""
    out = [hs]
    if chunk_size != 128:
        out.append(bytes([2]) + b"\0\0\0" + (4).to_bytes(3, "big") + b"\x01" +
                   b"\0\0\0\0" + chunk_size.to_bytes(4, "big"))
    for csid, typ, sid, ts, p in msgs:
        if typ == 1:
            continue
        out.append(bytes([csid]) + min(ts, 0xffffff).to_bytes(3, "big") +
                   len(p).to_bytes(3, "big") + bytes([typ]) + struct.pack("<I", sid))
        if ts >= 0xffffff:
            out.append(ts.to_bytes(4, "big"))
        for off in range(0, max(len(p), 1), chunk_size):
            if off:
                out.append(bytes([0xc0 | csid]))
            out.append(p[off:off + chunk_size])
    return b"".join(out)


def aggregate(msgs, per):
    """Media messages packed into aggregates of up to `per` tags."""
    out, group = [], []

    def flush():
        if not group:
            return
        body = b"".join(bytes([t]) + len(p).to_bytes(3, "big") +
                        (ts & 0xffffff).to_bytes(3, "big") + bytes([ts >> 24]) + b"\0\0\0" +
                        p + (11 + len(p)).to_bytes(4, "big") for _, t, _, ts, p in group)
        c, _, sid, ts, _ = group[0]
        out.append((c, 22, sid, ts, body))
        group.clear()

    for m in msgs:
        if m[1] in (8, 9):
            group.append(m)
            if len(group) == per:
                flush()
        else:
            flush()
            out.append(m)
    flush()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weir")
    ap.add_argument("out", nargs="?",
                    default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "corpus", "rtmp_session"))
    ap.add_argument("--max-bytes", type=int, default=150000)
    ap.add_argument("--short", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=2)
    a = ap.parse_args()
    weir = os.path.abspath(a.weir)
    data = record(weir, a.seconds)
    msgs = parse(data)
    if len(data) < HANDSHAKE or not msgs:
        sys.exit("nothing recorded (%d bytes)" % len(data))
    hs = data[:HANDSHAKE]
    cut = max([end for _, end in msgs if end <= a.max_bytes] or [HANDSHAKE])
    names = [m[4][3:3 + m[4][1] * 256 + m[4][2]] if m[1] == 20 else b"" for m, _ in msgs]
    first_media = next(i for i, (m, _) in enumerate(msgs) if m[1] in (8, 9))
    short = [m for m, _ in msgs[:first_media + a.short]]
    seeds = {
        "session": data[:cut],
        "connect": data[:msgs[names.index(b"connect")][1]],
        "publish": data[:msgs[first_media + a.short - 1][1]],
        "small-chunk": write(hs, short, 60),
        "aggregate": write(hs, aggregate(short, 4), 4096),
    }
    os.makedirs(a.out, exist_ok=True)
    for name, b in seeds.items():
        with open(os.path.join(a.out, name), "wb") as f:
            f.write(b)
        print("%-12s %7d bytes" % (name, len(b)))
    print("recorded %d bytes, %d messages" % (len(data), len(msgs)))


if __name__ == "__main__":
    main()
