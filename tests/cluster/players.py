"""players: long-lived players for the cluster scenario, recording when each
FLV tag arrives, so that a test can measure time to the first frame and the
gap a player sees while its edge fails over.

- TagLog: an incremental FLV parser fed with (bytes, arrival time); keeps
  every tag's type, timestamp, first body bytes (enough for the predicates of
  weirtest.FlvTag), arrival time and, for coded video, the (size, md5)
  signature ffmpeg's framemd5 gives the same packet (to match the clip).
- HttpFlvPlayer: HTTP-FLV over a raw socket (HTTP/1.0: a plain body), read
  in a thread; a 302 is recorded, not followed (the test follows it).
- RtmpPlayer: the repo's weir-pull playing RTMP, its FLV on stdout read in a
  thread.
Every wait is bounded; close() ends the reader thread (and the process).
"""

import hashlib
import json
import os
import signal
import socket
import subprocess
import threading
import time

import weirtest
from relayutil import wait_for

# weir-pull gives up after this much silence; far longer than a failover gap
# should last, so a gap shows as a gap and not as a player that left.
PULL_SILENCE_MS = 20000
FLV_HEADER_LEN = 9 + 4  # header + PreviousTagSize0
KEEP_BODY = 5           # body bytes kept per tag (frame type, codec, packet type, CTS)


class TimedTag(weirtest.FlvTag):
    """weirtest.FlvTag (body cut to KEEP_BODY bytes) with its arrival time
    and, for coded video, the framemd5-style (size, md5) of the packet."""
    __slots__ = ("arrival", "sig")

    def __init__(self, ttype, timestamp, body, arrival):
        super().__init__(ttype, timestamp, bytes(body[:KEEP_BODY]))
        self.arrival = arrival
        self.sig = None
        if self.is_coded_video() and len(body) > KEEP_BODY:
            # framemd5 hashes the packet without the 5-byte FLV video header.
            pkt = bytes(body[KEEP_BODY:])
            self.sig = (len(pkt), hashlib.md5(pkt).hexdigest())


class TagLog:
    """Incremental FLV parsing of a byte stream (thread-safe reads)."""

    def __init__(self, what):
        self.what = what
        self._buf = bytearray()
        self._header_done = False
        self._tags = []
        self._lock = threading.Lock()
        self.error = None

    def feed(self, data, arrival):
        if self.error:
            return
        self._buf += data
        pos = 0
        buf = self._buf
        if not self._header_done:
            if len(buf) < FLV_HEADER_LEN:
                return
            if buf[:3] != b"FLV":
                self.error = "%s: no FLV signature: %r" % (self.what, bytes(buf[:16]))
                return
            pos = int.from_bytes(buf[5:9], "big") + 4
            self._header_done = True
        new = []
        while pos + 11 <= len(buf):
            size = int.from_bytes(buf[pos + 1:pos + 4], "big")
            end = pos + 11 + size
            if end + 4 > len(buf):
                break
            ttype = buf[pos] & 0x1F
            ts = int.from_bytes(buf[pos + 4:pos + 7], "big") | (buf[pos + 7] << 24)
            new.append(TimedTag(ttype, ts, memoryview(buf)[pos + 11:end], arrival))
            pos = end + 4
        del buf[:pos]
        with self._lock:
            self._tags += new

    def tags(self):
        with self._lock:
            return list(self._tags)

    def video(self):
        """The coded video frames so far."""
        return [t for t in self.tags() if t.is_coded_video()]


class _Player:
    """Common part: a TagLog, timing and bounded waits."""

    def __init__(self, what):
        self.what = what
        self.log = TagLog(what)
        self.t_connect = time.monotonic()
        self.closed_at = None

    def tags(self):
        return self.log.tags()

    def video(self):
        return self.log.video()

    def wait_video(self, frames, timeout):
        """Waits for `frames` coded video frames; returns the tags."""
        wait_for("%s: %d video frames" % (self.what, frames),
                 lambda: self.log.error or len(self.video()) >= frames or self.ended(),
                 timeout=timeout, interval=0.05)
        assert not self.log.error, self.log.error
        n = len(self.video())
        assert n >= frames, "%s: ended after %d of %d video frames%s" % (
            self.what, n, frames, self.ended_why())
        return self.tags()

    def first_frame_s(self):
        """Seconds from the connect to the first coded video frame, or None."""
        v = self.video()
        return v[0].arrival - self.t_connect if v else None

    def frames_since(self, t):
        return [f for f in self.video() if f.arrival > t]

    def ended(self):
        return self.closed_at is not None

    def ended_why(self):
        return ""


class HttpFlvPlayer(_Player):
    """GET http://host:port/path over HTTP/1.0, body read in a thread."""

    def __init__(self, host, port, path, timeout=10.0):
        super().__init__("HTTP-FLV player of %s:%d%s" % (host, port, path))
        self.host, self.port, self.path = host, port, path
        self.status = None
        self.headers = {}
        self._stopping = False
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.local_port = self.sock.getsockname()[1]
        self.sock.sendall(("GET %s HTTP/1.0\r\nHost: %s:%d\r\n\r\n" % (
            path, host, port)).encode())
        self._head_timeout = timeout
        self.thread = threading.Thread(target=self._run, daemon=True, name=self.what)
        self.thread.start()

    def _run(self):
        head = bytearray()
        deadline = time.monotonic() + self._head_timeout
        self.sock.settimeout(0.2)
        try:
            while not self._stopping:
                try:
                    b = self.sock.recv(65536)
                except socket.timeout:
                    if self.status is None and time.monotonic() > deadline:
                        break
                    continue
                now = time.monotonic()
                if not b:
                    break
                if self.status is None:
                    head += b
                    if b"\r\n\r\n" not in head:
                        continue
                    h, _, body = bytes(head).partition(b"\r\n\r\n")
                    lines = h.decode("latin-1").split("\r\n")
                    for line in lines[1:]:
                        k, _, v = line.partition(":")
                        self.headers[k.strip().lower()] = v.strip()
                    self.status = int(lines[0].split(" ")[1])
                    if self.status != 200:
                        break
                    b = body
                if b:
                    self.log.feed(b, now)
        except OSError:
            pass
        self.closed_at = time.monotonic()

    def wait_head(self, timeout=10.0):
        """The response status (fails the test if none comes in time)."""
        wait_for(self.what + ": response head",
                 lambda: self.status is not None or self.ended(), timeout=timeout,
                 interval=0.02)
        assert self.status is not None, "%s: closed without a response" % self.what
        return self.status

    def close(self):
        self._stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
        self.thread.join(5)


class RtmpPlayer(_Player):
    """weir-pull playing an RTMP URL; its FLV output read from a pipe."""

    def __init__(self, url, workdir, name):
        super().__init__("RTMP player (weir-pull) of %s" % url)
        self.url = url
        self.stderr_path = os.path.join(str(workdir), "%s.stderr" % name)
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [weirtest.tool("weir-pull"), "--timeout", str(PULL_SILENCE_MS), url, "-"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        self.thread = threading.Thread(target=self._run, daemon=True, name=self.what)
        self.thread.start()

    def _run(self):
        fd = self.proc.stdout.fileno()
        try:
            while True:
                b = os.read(fd, 65536)
                if not b:
                    break
                self.log.feed(b, time.monotonic())
        except OSError:
            pass
        self.closed_at = time.monotonic()

    def stderr_text(self):
        return weirtest.tail_file(self.stderr_path, 20)

    def summary(self):
        """weir-pull's JSON summary (its last stderr line), or None."""
        for line in reversed(self.stderr_text().splitlines()):
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    return None
        return None

    def ended_why(self):
        return " (weir-pull exit %r: %s)" % (self.proc.poll(), self.stderr_text())

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.thread.join(5)
        self.proc.stdout.close()


# ------------------------------------------------------------------ analysis

def largest_gap(frames, since):
    """(gap seconds, the frame that ended it) over the coded video frames
    that arrived after `since` (the gap before the first of them counts from
    `since`). (None, None) if none arrived."""
    after = [f for f in frames if f.arrival > since]
    if not after:
        return None, None
    best, end = after[0].arrival - since, after[0]
    prev = after[0].arrival
    for f in after[1:]:
        if f.arrival - prev > best:
            best, end = f.arrival - prev, f
        prev = f.arrival
    return best, end


def assert_monotonic(tags, what):
    """Timestamps of the audio and video tags never go back."""
    last = {}
    for i, t in enumerate(tags):
        if t.type not in (weirtest.FLV_AUDIO, weirtest.FLV_VIDEO):
            continue
        if t.type in last:
            assert t.timestamp >= last[t.type], \
                "%s: %s timestamp goes back at tag #%d: %d after %d" % (
                    what, "video" if t.type == weirtest.FLV_VIDEO else "audio", i,
                    t.timestamp, last[t.type])
        last[t.type] = t.timestamp


def assert_clip_frames(frames, clip, what):
    """The coded video frames are consecutive packets of the (looped) clip."""
    sigs = [f.sig for f in frames]
    assert sigs, "%s: no video frames" % what
    i = weirtest.find_run(sigs, clip.vmd5, cyclic=True)
    assert i is not None, "%s: %d video frames are not a run of the clip's: %s" % (
        what, len(sigs), weirtest.describe_mismatch(sigs, clip.vmd5))
    return i


def continuity_breaks(frames, clip):
    """[(frame, jump)] for the frames that do not follow their predecessor in
    the (looped) clip: where a player skipped or replayed packets (e.g.
    across a failover). jump is in frames: > 0 skipped, < 0 replayed, None
    when a frame is no packet of the clip."""
    where = {sig: i for i, sig in enumerate(clip.vmd5)}
    n = len(clip.vmd5)
    out = []
    for a, b in zip(frames, frames[1:]):
        ia, ib = where.get(a.sig), where.get(b.sig)
        if ia is None or ib is None:
            out.append((b, None))
            continue
        jump = (ib - (ia + 1)) % n
        if jump:
            out.append((b, jump - n if jump > n // 2 else jump))
    return out
