"""relayutil: helpers shared by the relay tests (test_relay.py, test_relay_nginx.py).

REST calls on /api/v1/relays (every answer checked against openapi.yaml by
apischema.Api), polling with a bound, events and sessions, and players that
check what a relayed stream starts with: an HTTP-FLV reader on a raw socket
(in a thread, so it can stay connected while the test looks elsewhere) and
an RTMP player on rtmp_min. Every wait here is bounded in time.
"""

import socket
import threading
import time

import pytest

import rtmp_min
import weirtest
from apischema import Api

APP = "live"

# Small delays so that failures and recoveries show within a test's time.
FAST_RETRY = {"retry_initial_ms": 200, "retry_max_ms": 1000}


def api_of(n):
    return Api(n.api_url)


def wait_for(what, fn, timeout=10.0, interval=0.1, diag=None):
    """Polls fn() until it returns a true value and returns it; fails naming
    `what` (and the nodes' log tails of diag, a list of nodes) on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    extra = ""
    for n in diag or []:
        extra += "\n" + n.diagnostics(40)
    pytest.fail("timed out after %.1fs waiting for %s (last: %r)%s" % (timeout, what, last, extra),
                pytrace=False)


# ------------------------------------------------------------------ relays over the API

def relay_body(direction, urls, name="*", app=APP, **fields):
    body = {"direction": direction, "app": app, "name": name, "urls": list(urls)}
    body.update(FAST_RETRY)
    body.update(fields)
    return body


def create_relay(api, body):
    """POST /relays; asserts 201 and returns the relay."""
    r = api.post("/api/v1/relays", json=body)
    assert r.status_code == 201, "POST /relays %r -> %d %s" % (body, r.status_code, r.text)
    return r.json()


def get_relay(api, rid):
    r = api.get("/api/v1/relays/%s" % rid)
    assert r.status_code == 200, "GET /relays/%s -> %d %s" % (rid, r.status_code, r.text)
    return r.json()


def list_relays(api):
    r = api.get("/api/v1/relays")
    assert r.status_code == 200, r.text
    return r.json()["relays"]


def wait_relay(api, rid, pred, what, timeout=10.0, diag=None, interval=0.1):
    """Polls GET /relays/{id} until pred(relay) holds; returns the relay."""
    return wait_for("relay %s: %s" % (rid, what),
                    lambda: (lambda rel: rel if pred(rel) else None)(get_relay(api, rid)),
                    timeout=timeout, diag=diag, interval=interval)


def wait_active(api, rid, timeout=10.0, diag=None):
    return wait_relay(api, rid, lambda rel: rel["status"] == "active", "status active",
                      timeout=timeout, diag=diag)


def spec_of(rel):
    """The configuration fields of a rendered relay (live state left out)."""
    keys = ("id", "direction", "app", "name", "urls", "mode", "idle_timeout_s",
            "retry_initial_ms", "retry_max_ms", "enabled", "source")
    return {k: rel.get(k) for k in keys}


def assert_error(r, status, code, field=None):
    """An error answer: status, {"error": {"code", "message"}}; with field,
    the message starts with it (invalid_field names the field)."""
    assert r.status_code == status, "want %d %s, got %d %s" % (status, code, r.status_code, r.text)
    err = r.json()["error"]
    assert err["code"] == code, err
    if field is not None:
        assert err["message"].startswith(field), "message %r does not start with %r" % (
            err["message"], field)
    return err


# ------------------------------------------------------------------ streams, sessions, events

def stream_of(api, app, name):
    r = api.get("/api/v1/streams/%s/%s" % (app, name))
    return r.json() if r.status_code == 200 else None


def stream_live(api, app, name):
    st = stream_of(api, app, name)
    return st if st and st.get("state") == "live" else None


def sessions(api, **filters):
    r = api.get("/api/v1/sessions", params=filters)
    assert r.status_code == 200, r.text
    return r.json()["sessions"]


def relay_sessions(api):
    return sessions(api, role="relay")


def all_events(api, after=0):
    out = []
    for _ in range(1000):
        r = api.get("/api/v1/events", params={"after": after, "limit": 1000})
        assert r.status_code == 200, r.text
        page = r.json()
        out += page["events"]
        if not page["events"]:
            return out
        after = page["next_after"]
    raise AssertionError("more than a million events")


def events_of(api, etype, **match):
    """Events of a type whose fields equal match."""
    return [e for e in all_events(api) if e["type"] == etype and
            all(e.get(k) == v for k, v in match.items())]


def wait_event(api, etype, timeout=10.0, diag=None, **match):
    return wait_for("event %s %r" % (etype, match), lambda: events_of(api, etype, **match),
                    timeout=timeout, diag=diag)


def publish(procs, n, clip, name, app=APP, loop=True):
    return procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(app, name), loop=loop),
                       name="publish-%s-%d" % (name, n.rtmp_port))


# ------------------------------------------------------------------ players

def check_stream_start(items, what):
    """items: FLV tags or RTMP messages in arrival order (same predicates).
    The first coded video frame is a key frame and comes after the AVC
    sequence header. Returns the first coded video item."""
    first = None
    seen_seq = False
    for it in items:
        if it.is_avc_sequence_header():
            seen_seq = True
        if it.is_coded_video():
            first = it
            break
    assert first is not None, "%s: no coded video frame in %d items" % (what, len(items))
    assert seen_seq, "%s: first video frame before any AVC sequence header" % what
    assert first.is_video_keyframe(), "%s: first video frame is not a key frame: %r" % (
        what, first)
    return first


class _SocketReader:
    """Sends an HTTP request and reads the answer in a thread until the
    server closes or close() is called; each read goes to _feed(bytes,
    arrival). closed_at is set when the reading ends."""

    def _start(self, port, req, what, timeout, sock=None):
        """sock: a connected socket that sent the request already (e.g. TLS)."""
        self.what = what
        self.sock = sock or weirtest.http_open(port, req, timeout=timeout)
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.closed_at = None
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stopping:
            try:
                b = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not b:
                break
            self._feed(b, time.monotonic())
        self.closed_at = time.monotonic()

    def close(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
        self.thread.join(5)


class FlvPlayer(_SocketReader):
    """An HTTP-FLV player on a raw socket: sends the GET (with extra header
    lines) and reads in a thread until closed or stopped."""

    def __init__(self, port, app, name, headers=(), timeout=30.0):
        lines = ["GET /%s/%s.flv HTTP/1.1" % (app, name), "Host: 127.0.0.1"] + list(headers)
        req = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.buf = bytearray()
        self._start(port, req, "HTTP-FLV player of %s/%s on port %d" % (app, name, port), timeout)

    def _feed(self, b, now):
        with self.lock:
            self.buf += b

    def data(self):
        with self.lock:
            return bytes(self.buf)

    def head(self):
        """(status, {lower name: value}, body) once the head is in, else None."""
        data = self.data()
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep:
            return None
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers, body

    def wait_head(self, timeout):
        wait_for(self.what + ": response head", self.head, timeout=timeout, interval=0.05)
        return self.head()

    def tags(self):
        """The FLV tags received so far (the body dechunked if chunked)."""
        got = self.head()
        if not got:
            return []
        status, headers, body = got
        assert status == 200, "%s: HTTP %d" % (self.what, status)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body, _ = weirtest.dechunk(body)
        if len(body) < 13:
            return []
        _, tags, _ = weirtest.parse_flv(body)
        return tags

    def wait_video(self, frames, timeout):
        """Waits until `frames` coded video frames have arrived; returns the tags."""
        wait_for("%s: %d video frames" % (self.what, frames),
                 lambda: sum(1 for t in self.tags() if t.is_coded_video()) >= frames,
                 timeout=timeout, interval=0.1)
        return self.tags()


def rtmp_play(port, app, name, timeout=10.0):
    """Plays app/name with rtmp_min. Returns (client, info of the first
    Play.Start/StreamNotFound/Failed status, seconds it took). The caller
    closes the client."""
    t0 = time.monotonic()
    c, _ = rtmp_min.open_player(weirtest.HOST, port, app, name, timeout=timeout)
    try:
        info = c.wait_status(timeout, {"NetStream.Play.Start", "NetStream.Play.StreamNotFound",
                                       "NetStream.Play.Failed"})
    except rtmp_min.RtmpClosed:
        info = {"code": "(connection closed)"}
    except Exception:
        c.close()
        raise
    return c, info, time.monotonic() - t0


def rtmp_first_video(port, app, name, timeout=10.0, frames=1):
    """Plays app/name with rtmp_min and checks the start of the stream (see
    check_stream_start). Returns the messages up to `frames` coded video frames."""
    c, info, _ = rtmp_play(port, app, name, timeout)
    with c:
        assert info.get("code") == "NetStream.Play.Start", "play %s/%s on %d: %r" % (
            app, name, port, info)
        msgs = []
        deadline = time.monotonic() + timeout
        nvideo = 0
        while nvideo < frames:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "play %s/%s on %d: %d of %d video frames in %.0fs" % (
                app, name, port, nvideo, frames, timeout)
            m = c.read_message(remaining)
            if m.type in (rtmp_min.MSG_AUDIO, rtmp_min.MSG_VIDEO):
                msgs.append(m)
                if m.is_coded_video():
                    nvideo += 1
    check_stream_start(msgs, "RTMP player of %s/%s on port %d" % (app, name, port))
    return msgs


def assert_not_found_rtmp(port, app, name, within, what):
    """An RTMP play of app/name gets StreamNotFound (or Play.Failed) within
    `within` seconds, not Play.Start and not a hang."""
    c, info, elapsed = rtmp_play(port, app, name, timeout=within + 5)
    c.close()
    assert info.get("code") in ("NetStream.Play.StreamNotFound", "NetStream.Play.Failed"), \
        "%s: %r" % (what, info)
    assert elapsed <= within, "%s: answered after %.2fs (want within %.1fs)" % (
        what, elapsed, within)
    return info, elapsed


def assert_not_found_http(port, app, name, within, what):
    t0 = time.monotonic()
    r = weirtest.http_exchange(port, ("GET /%s/%s.flv HTTP/1.1\r\nHost: x\r\n\r\n" % (
        app, name)).encode(), timeout=within + 5)
    elapsed = time.monotonic() - t0
    assert r.status == 404, "%s: %r" % (what, r)
    assert elapsed <= within, "%s: answered after %.2fs (want within %.1fs)" % (
        what, elapsed, within)
    return elapsed


# ------------------------------------------------------------------ timed players (failover)

class TimedFlvPlayer(_SocketReader):
    """An HTTP/1.0 FLV player (plain body, no chunking) that parses tags as
    they arrive in a thread and keeps (arrival monotonic time, FlvTag) for
    each; closed_at is set when the server closes."""

    def __init__(self, port, app, name, timeout=30.0):
        req = ("GET /%s/%s.flv HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" % (app, name)).encode()
        self.items = []
        self.status = None
        self.buf = bytearray()
        self.head_done = False
        self.pos = 0
        self._start(port, req, "HTTP-FLV player of %s/%s on port %d" % (app, name, port), timeout)

    def _feed(self, b, now):
        buf = self.buf
        buf += b
        if not self.head_done:
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                return
            self.status = int(buf[:i].split(b" ")[1])
            del buf[:i + 4]
            self.head_done = True
            self.pos = 13  # FLV header and PreviousTagSize0
        pos = self.pos
        new = []
        while len(buf) >= pos + 11:
            size = int.from_bytes(buf[pos + 1:pos + 4], "big")
            if len(buf) < pos + 11 + size + 4:
                break
            ts = int.from_bytes(buf[pos + 4:pos + 7], "big") | (buf[pos + 7] << 24)
            new.append((now, weirtest.FlvTag(buf[pos] & 0x1F, ts,
                                             bytes(buf[pos + 11:pos + 11 + size]))))
            pos += 11 + size + 4
        if pos > 1 << 20:
            del buf[:pos]
            pos = 0
        self.pos = pos
        with self.lock:
            self.items.extend(new)

    def timed(self):
        """[(arrival, FlvTag)] so far."""
        with self.lock:
            return list(self.items)


class TimedRtmpPlayer:
    """An RTMP player (rtmp_min) reading in a thread: keeps the audio/video
    messages (each has .arrival) and the onStatus codes with their arrival;
    closed_at is set when the server closes."""

    def __init__(self, port, app, name, timeout=15.0):
        self.what = "RTMP player of %s/%s on port %d" % (app, name, port)
        self.client, info, _ = rtmp_play(port, app, name, timeout)
        if info.get("code") != "NetStream.Play.Start":
            self.client.close()
            raise AssertionError("%s: %r" % (self.what, info))
        self.lock = threading.Lock()
        self.media = []
        self.statuses = []
        self.closed_at = None
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        # A long read timeout: a timeout in the middle of a chunk would lose
        # its bytes. close() shuts the socket down to end the read.
        while not self.stopping:
            try:
                m = self.client.read_message(60)
            except TimeoutError:
                continue
            except (rtmp_min.RtmpClosed, OSError):
                break
            except Exception:  # a protocol error ends the player too
                break
            with self.lock:
                if m.type in (rtmp_min.MSG_AUDIO, rtmp_min.MSG_VIDEO):
                    self.media.append(m)
                else:
                    info = m.status_info() if m.is_command() else None
                    if info is not None:
                        self.statuses.append((m.arrival, info.get("code")))
        self.closed_at = time.monotonic()

    def timed(self):
        """[(arrival, Message)] of the audio and video so far."""
        with self.lock:
            return [(m.arrival, m) for m in self.media]

    def close(self):
        self.stopping = True
        try:
            self.client.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(5)
        self.client.close()
