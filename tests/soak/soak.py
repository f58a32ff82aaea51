#!/usr/bin/python3
"""Weir soak: two real nodes (origin and edge) on loopback under churn for N
minutes, checking that memory and open fds stay flat after a warm-up and that
the nodes log no errors. Memory is judged three ways: RSS (bounded slope),
the heap less SQLite's share (Weir's own memory: must be flat) and SQLite's
share (its page cache fills up to storage.cache_kb as the event log grows,
and must stay under it). Run on purpose (not part of ctest):

    tests/soak/soak.py --weir build/weir --minutes 10

Churn (every count and rate bounded): an ffmpeg publisher on the origin,
killed and restarted every ~45 s; a pull relay on the edge created over the
API, disabled/enabled or deleted/re-created every ~60 s; 20-40 concurrent
players (HTTP-FLV on raw sockets, RTMP on tests/integration/rtmp_min, a few
ffmpeg RTMP players) on both nodes, each living 2-20 s; the API polled about
every second; a kick every ~30 s. RSS, heap, SQLite memory, fds, sessions and
bytes are sampled every 5 s into samples.csv in the output folder. See tests/soak/README.md.
Exit code 0 on PASS, 1 on FAIL, 2 on a set-up error.
"""

import argparse
import collections
import csv
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import pytest  # noqa: E402  (weirtest reports failures with pytest.fail)
import rtmp_min  # noqa: E402
import weirtest  # noqa: E402

APP = "live"
STREAM = "soak"
RELAY_ID = "soak-pull"
SAMPLE_EVERY_S = 5.0
FFMPEG_PLAYERS_MAX = 3        # concurrent ffmpeg RTMP players (CPU: 2 shared cores)
PLAYER_LIFE_S = (2.0, 20.0)
PUBLISH_CYCLE_S = (35.0, 55.0)  # ~45 s on average
RELAY_CYCLE_S = (50.0, 70.0)    # ~60 s
KICK_CYCLE_S = (20.0, 40.0)     # ~30 s
API_POLL_S = 1.0
STUCK_GRACE_S = 10.0          # a player must be gone this long after its stop
SESSION_SAMPLE_EVERY = 5      # 1 socket player in 5 looks itself up in /api/v1/sessions
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info |warn |error) (.*)$")


def now():
    return time.monotonic()


class Stats:
    """Counters shared by the churn threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.c = collections.Counter()
        self.problems = []   # hard failures seen during the run (strings)

    def inc(self, key, n=1):
        with self.lock:
            self.c[key] += n

    def problem(self, text):
        with self.lock:
            if len(self.problems) < 200:
                self.problems.append(text)
            self.c["problems"] += 1


# ------------------------------------------------------------------ process probes

# SQLite's memory besides its page cache: prepared statements, schema, lookaside (about 250 kB
# measured with an empty cache)
SQLITE_OVERHEAD_KB = 1024

# samples.csv column -> the node's /metrics gauge (bytes)
MEM_GAUGES = {"heap_kb": "weir_process_heap_in_use_bytes",
              "heap_free_kb": "weir_process_heap_free_bytes",
              "sqlite_kb": "weir_storage_sqlite_memory_bytes"}


def parse_gauges(text, gauges):
    """The values of the named unlabelled gauges in a Prometheus text page."""
    want = set(gauges.values())
    out = {}
    for ln in text.splitlines():
        parts = ln.split()
        if len(parts) == 2 and parts[0] in want:
            out[parts[0]] = int(float(parts[1]))
    return out


def proc_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


# ------------------------------------------------------------------ players

class Player:
    """One player; subclasses read in a thread until stop() or the server
    closes. end: 'left' (we stopped it), 'server_closed', 'refused' (404 or
    StreamNotFound), 'error'."""
    kind = "?"

    def __init__(self, ctx, node, life):
        self.ctx = ctx
        self.node = node
        self.life = life
        self.t0 = now()
        self.deadline = self.t0 + life
        self.stop_at = None
        self.end_at = None
        self.end = None
        self.error = None
        self.started = False      # 200 / Play.Start
        self.video_frames = 0
        self.video_bytes = 0
        self.bytes = 0
        self.local = None         # "host:port" as the node sees it
        self.kicked_at = None
        self.checked_in_api = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def alive(self):
        return self.end_at is None

    def _main(self):
        try:
            self.run()
            if self.end is None:
                self.end = "left" if self.stop_at else "server_closed"
        except Exception as e:  # noqa: BLE001 - every failure is recorded
            if self.stop_at is not None:
                self.end = "left"
            else:
                self.end = "error"
                self.error = "%s: %s" % (type(e).__name__, e)
        finally:
            self.end_at = now()

    def stop(self):
        if self.stop_at is None:
            self.stop_at = now()
            self._interrupt()

    def _got_video(self, nbytes):
        self.video_frames += 1
        self.video_bytes += nbytes
        if self.video_frames == 1 and self.local and self.checked_in_api is None and \
                self.ctx.next_session_check():
            self.checked_in_api = self.ctx.api_has_session(self.node, self.local)


class FlvPlayer(Player):
    kind = "http-flv"

    def __init__(self, ctx, node, life):
        super().__init__(ctx, node, life)
        self.sock = None
        self.http11 = random.random() < 0.5

    def _interrupt(self):
        s = self.sock
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def run(self):
        ver = "1.1" if self.http11 else "1.0"
        req = ("GET /%s/%s.flv HTTP/%s\r\nHost: %s\r\n\r\n" % (APP, STREAM, ver, self.node.host)
               ).encode()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock = s
        try:
            s.settimeout(10)
            s.connect((self.node.host, self.node.http_port))
            self.local = "%s:%d" % s.getsockname()
            s.sendall(req)
            buf = bytearray()
            head = None
            chunked = False
            pos = 0
            s.settimeout(0.5)
            while self.stop_at is None:
                try:
                    b = s.recv(65536)
                except socket.timeout:
                    if head is None and now() - self.t0 > 15:
                        raise TimeoutError("no response head within 15 s")
                    continue
                if not b:
                    return
                self.bytes += len(b)
                buf += b
                if head is None:
                    i = buf.find(b"\r\n\r\n")
                    if i < 0:
                        continue
                    head = bytes(buf[:i]).decode("latin-1")
                    del buf[:i + 4]
                    status = int(head.split(" ")[1])
                    if status != 200:
                        self.end = "refused" if status == 404 else "error"
                        if status != 404:
                            self.error = "HTTP %d" % status
                        return
                    self.started = True
                    chunked = "chunked" in head.lower()
                    pos = 13
                    if chunked:
                        self._dechunker = _Dechunker()
                if chunked:
                    data = self._dechunker.feed(buf)
                    buf.clear()
                    if not hasattr(self, "_body"):
                        self._body = bytearray()
                    self._body += data
                    body = self._body
                else:
                    body = buf
                if len(body) >= 3 and body[:3] != b"FLV" and pos == 13:
                    raise ValueError("no FLV signature: %r" % bytes(body[:16]))
                while len(body) >= pos + 11:
                    size = int.from_bytes(body[pos + 1:pos + 4], "big")
                    if len(body) < pos + 11 + size + 4:
                        break
                    ttype = body[pos] & 0x1F
                    if ttype == 9 and size >= 2:
                        codec = body[pos + 11] & 0x0F
                        if codec != 7 or body[pos + 12] == 1:
                            self._got_video(size)
                    pos += 11 + size + 4
                if pos > 1 << 16:
                    del body[:pos]
                    pos = 0
        finally:
            s.close()


class _Dechunker:
    """Incremental HTTP/1.1 chunked decoding (the node's HTTP/1.1 FLV answers)."""

    def __init__(self):
        self.buf = bytearray()
        self.left = 0      # bytes left in the current chunk
        self.state = "size"

    def feed(self, data):
        self.buf += data
        out = bytearray()
        while True:
            if self.state == "size":
                i = self.buf.find(b"\r\n")
                if i < 0:
                    break
                line = bytes(self.buf[:i]).split(b";")[0].strip()
                del self.buf[:i + 2]
                self.left = int(line, 16)
                self.state = "data" if self.left else "end"
            elif self.state == "data":
                n = min(self.left, len(self.buf))
                out += self.buf[:n]
                del self.buf[:n]
                self.left -= n
                if self.left:
                    break
                self.state = "crlf"
            elif self.state == "crlf":
                if len(self.buf) < 2:
                    break
                del self.buf[:2]
                self.state = "size"
            else:
                break
        return bytes(out)


class RtmpPlayer(Player):
    kind = "rtmp"

    def __init__(self, ctx, node, life):
        super().__init__(ctx, node, life)
        self.client = None

    def _interrupt(self):
        c = self.client
        if c is not None:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def run(self):
        c = rtmp_min.RtmpClient(self.node.host, self.node.rtmp_port, timeout=15)
        self.client = c
        try:
            self.local = "%s:%d" % c.sock.getsockname()
            if self.stop_at is not None:
                return
            c.connect(APP)
            sid = c.create_stream()
            c.play(STREAM, sid)
            info = c.wait_status(15, {"NetStream.Play.Start", "NetStream.Play.StreamNotFound",
                                      "NetStream.Play.Failed"})
            if info.get("code") != "NetStream.Play.Start":
                self.end = "refused"
                return
            self.started = True
            while self.stop_at is None:
                try:
                    m = c.read_message(60)
                except TimeoutError:
                    continue
                except (rtmp_min.RtmpClosed, OSError):
                    return
                self.bytes = c.bytes_in
                if m.type == rtmp_min.MSG_VIDEO and m.is_coded_video():
                    self._got_video(len(m.payload))
        finally:
            self.bytes = c.bytes_in
            c.close()


class FfmpegPlayer(Player):
    """ffmpeg playing RTMP and writing FLV to a pipe; counts the bytes."""
    kind = "ffmpeg"

    def __init__(self, ctx, node, life):
        super().__init__(ctx, node, life)
        self.proc = None

    def _interrupt(self):
        p = self.proc
        if p is not None and p.poll() is None:
            p.terminate()

    def run(self):
        url = self.node.rtmp_url(APP, STREAM)
        cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-rw_timeout",
               "15000000", "-i", url, "-c", "copy", "-f", "flv", "pipe:1"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        try:
            if self.stop_at is not None:
                self.proc.terminate()
            while True:
                b = self.proc.stdout.read1(65536)
                if not b:
                    break
                if not self.started:
                    self.started = True
                self.bytes += len(b)
            # bytes of FLV, mostly video: counted as video once past the header
            if self.bytes > 4096:
                self.video_frames = 1
                self.video_bytes = self.bytes
        finally:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc.stdout.close()
            if self.stop_at is None and self.proc.returncode != 0 and not self.started:
                self.end = "refused"


# ------------------------------------------------------------------ the run

class Soak:
    def __init__(self, args):
        self.args = args
        self.stats = Stats()
        self.stop_ev = threading.Event()
        self.players_stop = threading.Event()
        self.players = []          # every Player ever started
        self.plock = threading.Lock()
        self.seen_sessions = {}    # node name -> set of remotes seen as players in polls
        self.last_sessions = {}    # node name -> [session dicts] of the last poll
        self.events = {}           # node name -> [events]
        self.cursor = {}
        self.samples = []
        self.pub = None
        self.publisher_starts = 0
        self.relay_cycles = collections.Counter()
        self.kicks = []            # (player, session id, status)
        self._check_n = 0
        self.nodes = {}
        self.sess = {}
        self.api_lock = threading.Lock()

    # ---- helpers

    def next_session_check(self):
        with self.plock:
            self._check_n += 1
            return self._check_n % SESSION_SAMPLE_EVERY == 1

    def api_has_session(self, node, local):
        """A player's own look-up: is its connection a player session in the API?"""
        try:
            r = requests.get(node.api_url + "/api/v1/sessions", params={"role": "player"},
                             timeout=5)
        except requests.RequestException as e:
            self.stats.problem("session look-up on %s: %s" % (node.name, e))
            return False
        if r.status_code != 200:
            self.stats.problem("GET /api/v1/sessions on %s -> %d" % (node.name, r.status_code))
            return False
        return any(s["remote"] == local for s in r.json()["sessions"])

    def api(self, node, method, path, **kw):
        kw.setdefault("timeout", 5)
        return requests.request(method, node.api_url + path, **kw)

    # ---- setup

    def make_clip(self):
        path = os.path.join(self.args.out, "clip.flv")
        cmd = ["ffmpeg"] + weirtest.FFMPEG_COMMON + [
            "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "10",
            "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
            "-pix_fmt", "yuv420p", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0",
            "-b:v", "800k", "-c:a", "aac", "-b:a", "96k", "-f", "flv", path]
        subprocess.run(cmd, check=True, timeout=120, stdin=subprocess.DEVNULL)
        return path

    def start_nodes(self):
        common = {"log": {"level": "info"}, "api": {"web_root": ""},
                  "relay": {"connect_timeout_ms": 3000, "on_demand_wait_ms": 5000}}
        if self.args.cache_kb:
            common["storage"] = {"cache_kb": self.args.cache_kb}
        for name, host in (("origin", "127.0.0.1"), ("edge", "127.0.0.2")):
            n = weirtest.Node(os.path.join(self.args.out, name), common, host=host, name=name)
            n.start()
            self.nodes[name] = n
            self.events[name] = []
            self.cursor[name] = 0
            self.seen_sessions[name] = set()
            self.last_sessions[name] = []

    def relay_body(self, mode):
        o = self.nodes["origin"]
        if mode == "always":
            return {"direction": "pull", "app": APP, "name": STREAM, "mode": "always",
                    "urls": ["rtmp://%s:%d/%s/%s" % (o.host, o.rtmp_port, APP, STREAM)],
                    "retry_initial_ms": 200, "retry_max_ms": 1000}
        return {"direction": "pull", "app": APP, "name": "*", "mode": "on_demand",
                "idle_timeout_s": 5,
                "urls": ["rtmp://%s:%d/%s" % (o.host, o.rtmp_port, APP)],
                "retry_initial_ms": 200, "retry_max_ms": 1000}

    def put_relay(self, mode):
        r = self.api(self.nodes["edge"], "PUT", "/api/v1/relays/" + RELAY_ID,
                     json=self.relay_body(mode))
        if r.status_code not in (200, 201):
            self.stats.problem("PUT relay (%s) -> %d %s" % (mode, r.status_code, r.text[:200]))

    # ---- churn threads

    def _sleep(self, s):
        return self.stop_ev.wait(s)

    def publisher_loop(self):
        o = self.nodes["origin"]
        cmd = ["ffmpeg"] + weirtest.FFMPEG_COMMON + [
            "-stream_loop", "-1", "-re", "-i", self.clip, "-c", "copy", "-f", "flv",
            o.rtmp_url(APP, STREAM)]
        errlog = open(os.path.join(self.args.out, "publisher.stderr"), "ab")
        k = 0
        try:
            while not self.stop_ev.is_set():
                self.pub = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=errlog)
                self.publisher_starts += 1
                if self._sleep(random.uniform(*PUBLISH_CYCLE_S)):
                    break
                if self.pub.poll() is not None:
                    self.stats.problem("publisher exited by itself with %d" % self.pub.returncode)
                # Alternate a hard kill (no FIN of the RTMP session) and SIGINT (ffmpeg's
                # deleteStream/close).
                self.pub.send_signal(signal.SIGKILL if k % 2 == 0 else signal.SIGINT)
                k += 1
                try:
                    self.pub.wait(10)
                except subprocess.TimeoutExpired:
                    self.pub.kill()
                    self.pub.wait(5)
                self.stats.inc("publisher_kills")
                if self._sleep(random.uniform(0.5, 3.0)):
                    break
        finally:
            if self.pub is not None and self.pub.poll() is None:
                self.pub.kill()
                self.pub.wait(5)
            errlog.close()

    def relay_loop(self):
        k = 0
        modes = ["always", "on_demand"]
        while not self._sleep(random.uniform(*RELAY_CYCLE_S)):
            e = self.nodes["edge"]
            try:
                if k % 2 == 0:
                    r = self.api(e, "PATCH", "/api/v1/relays/" + RELAY_ID, json={"enabled": False})
                    ok = r.status_code == 200
                    self._sleep(random.uniform(1.0, 4.0))
                    r2 = self.api(e, "PATCH", "/api/v1/relays/" + RELAY_ID, json={"enabled": True})
                    ok = ok and r2.status_code == 200
                    kind = "disable_enable"
                else:
                    r = self.api(e, "DELETE", "/api/v1/relays/" + RELAY_ID)
                    ok = r.status_code == 204
                    self._sleep(random.uniform(1.0, 4.0))
                    mode = modes[(k // 2) % 2]
                    self.put_relay(mode)
                    kind = "delete_recreate_" + mode
            except requests.RequestException as ex:
                self.stats.problem("relay churn: %s" % ex)
                ok = False
                kind = "error"
            if ok:
                self.relay_cycles[kind] += 1
            else:
                self.stats.problem("relay churn %d (%s) got an unexpected status" % (k, kind))
            k += 1

    def kick_loop(self):
        while not self._sleep(random.uniform(*KICK_CYCLE_S)):
            with self.plock:
                cands = [p for p in self.players if p.alive() and p.started and p.local and
                         p.stop_at is None and now() - p.t0 > 2 and p.deadline - now() > 3]
            if not cands:
                continue
            p = random.choice(cands)
            sid = None
            for s in self.last_sessions.get(p.node.name, []):
                if s.get("remote") == p.local:
                    sid = s["id"]
            if sid is None:
                continue
            try:
                p.kicked_at = now()
                r = self.api(p.node, "DELETE", "/api/v1/sessions/%d" % sid)
                self.kicks.append((p, sid, r.status_code))
                self.stats.inc("kicks")
            except requests.RequestException as ex:
                self.stats.problem("kick: %s" % ex)

    def poll_loop(self):
        sessions = {n: requests.Session() for n in self.nodes}
        try:
            while not self._sleep(API_POLL_S):
                for name, n in self.nodes.items():
                    self._poll_one(name, n, sessions[name])
        finally:
            for s in sessions.values():
                s.close()

    def _poll_one(self, name, n, s):
        def get(path, **params):
            t0 = now()
            try:
                r = s.get(n.api_url + path, params=params, timeout=5)
            except requests.RequestException as ex:
                self.stats.problem("poll %s %s: %s" % (name, path, ex))
                return None
            self.stats.inc("api_requests")
            dt = now() - t0
            with self.stats.lock:
                self.stats.c["api_slowest_ms"] = max(self.stats.c["api_slowest_ms"],
                                                     int(dt * 1000))
            if r.status_code != 200:
                self.stats.inc("api_non_200")
                self.stats.problem("poll %s %s -> %d %s" % (name, path, r.status_code,
                                                            r.text[:200]))
                return None
            return r
        get("/api/v1/streams")
        r = get("/api/v1/sessions")
        if r is not None:
            ss = r.json()["sessions"]
            self.last_sessions[name] = ss
            self.seen_sessions[name].update(x["remote"] for x in ss if x["role"] == "player")
        r = get("/metrics")
        if r is not None and "weir_" not in r.text:
            self.stats.problem("/metrics of %s has no weir_ series" % name)
        get("/api/v1/node")
        for _ in range(20):
            r = get("/api/v1/events", after=self.cursor[name], limit=1000)
            if r is None:
                break
            page = r.json()
            self.events[name] += page["events"]
            if not page["events"]:
                break
            self.cursor[name] = page["next_after"]

    def players_loop(self):
        names = list(self.nodes)
        target = random.randint(self.args.players_min, self.args.players_max)
        retarget = now() + 20
        while not self.players_stop.is_set():
            t = now()
            if t >= retarget:
                target = random.randint(self.args.players_min, self.args.players_max)
                retarget = t + random.uniform(10, 30)
            with self.plock:
                live = [p for p in self.players if p.alive()]
                for p in live:
                    if p.stop_at is None and t >= p.deadline:
                        p.stop()
                    if p.stop_at is not None and t - p.stop_at > STUCK_GRACE_S and \
                            not getattr(p, "stuck", False):
                        p.stuck = True
                        self.stats.problem("%s player on %s (%s) still running %.0f s after "
                                           "its stop" % (p.kind, p.node.name, p.local,
                                                         t - p.stop_at))
                n_live = len(live)
                n_ff = sum(1 for p in live if p.kind == "ffmpeg")
                # Join at most 3 per tick (0.2 s): a bounded join rate.
                for _ in range(min(3, max(0, target - n_live))):
                    node = self.nodes[random.choice(names)]
                    life = random.uniform(*PLAYER_LIFE_S)
                    x = random.random()
                    if x < 0.08 and n_ff < FFMPEG_PLAYERS_MAX:
                        cls = FfmpegPlayer
                        n_ff += 1
                    elif x < 0.35:
                        cls = RtmpPlayer
                    else:
                        cls = FlvPlayer
                    self.players.append(cls(self, node, life).start())
                    self.stats.inc("players_started")
            self.players_stop.wait(0.2)
        # Leave: stop everyone, wait (bounded) for them to end.
        with self.plock:
            for p in self.players:
                p.stop()
        deadline = now() + STUCK_GRACE_S + 5
        for p in self.players:
            p.thread.join(max(0.1, deadline - now()))

    # ---- sampling

    def sample(self, t_rel, phase):
        for name, n in self.nodes.items():
            row = {"t_s": round(t_rel, 1), "phase": phase, "node": name}
            try:
                row["rss_kb"] = proc_rss_kb(n.pid)
                row["fds"] = proc_fds(n.pid)
            except OSError as e:
                self.stats.problem("%s: cannot read /proc: %s (node gone?)" % (name, e))
                continue
            try:
                j = self.api(n, "GET", "/api/v1/node").json()
                row["sessions"] = j["counts"]["sessions"]
                row["players"] = j["counts"]["players"]
                row["publishers"] = j["counts"]["publishers"]
                row["bytes_out"] = j["bytes_out"]
                row["bitrate_out_kbps"] = j["bitrate_out_kbps"]
            except (requests.RequestException, ValueError, KeyError) as e:
                self.stats.problem("%s: sample GET /api/v1/node: %s" % (name, e))
            try:
                r = self.api(n, "GET", "/metrics")
                g = parse_gauges(r.text, MEM_GAUGES)
                for key, metric in MEM_GAUGES.items():
                    if metric in g:
                        row[key] = g[metric] // 1024
            except requests.RequestException as e:
                self.stats.problem("%s: sample GET /metrics: %s" % (name, e))
            with self.plock:
                row["harness_players"] = sum(1 for p in self.players
                                             if p.alive() and p.node is n)
            self.samples.append(row)

    # ---- main

    def run(self):
        a = self.args
        os.environ["WEIR_BIN"] = os.path.abspath(a.weir)
        print("soak: output in %s" % a.out, flush=True)
        self.clip = self.make_clip()
        self.start_nodes()
        time.sleep(1.0)
        self.baseline = {n: proc_fds(x.pid) for n, x in self.nodes.items()}
        self.rss_start = {n: proc_rss_kb(x.pid) for n, x in self.nodes.items()}
        for n in self.nodes.values():
            print("soak: %s pid %d on %s (rtmp %d, http %d, api %d), %d fds, RSS %d kB" % (
                n.name, n.pid, n.host, n.rtmp_port, n.http_port, n.api_port,
                self.baseline[n.name], self.rss_start[n.name]), flush=True)
        self.put_relay("on_demand")
        self.relay_cycles["created"] += 1

        t_start = now()
        self.t_start = t_start
        threads = [threading.Thread(target=f, daemon=True, name=f.__name__) for f in (
            self.publisher_loop, self.relay_loop, self.kick_loop, self.poll_loop)]
        tp = threading.Thread(target=self.players_loop, daemon=True)
        for t in threads:
            t.start()
        time.sleep(2.0)  # the publisher's first seconds
        tp.start()
        duration = a.minutes * 60.0
        next_sample = t_start
        next_print = t_start + 60
        while now() - t_start < duration:
            if now() >= next_sample:
                self.sample(now() - t_start, "run")
                next_sample += SAMPLE_EVERY_S
            if now() >= next_print:
                rows = self.samples[-2:]
                print("soak: %3.0f s  %s" % (now() - t_start, "  ".join(
                    "%s rss %d kB fds %d sess %s" % (r["node"], r["rss_kb"], r["fds"],
                                                    r.get("sessions")) for r in rows)),
                      flush=True)
                next_print += 60
            for n in self.nodes.values():
                if not n.alive():
                    self.stats.problem("%s exited during the run with %s" % (
                        n.name, n.proc.returncode))
                    duration = 0
            time.sleep(0.2)
        self.t_end_run = now() - t_start

        # Wind down: players leave, churn stops, the publisher goes, the relay is deleted.
        self.players_stop.set()
        tp.join(STUCK_GRACE_S + 30)
        self.stop_ev.set()
        for t in threads:
            t.join(30)
        alive_threads = [t.name for t in threads + [tp] if t.is_alive()]
        if alive_threads:
            self.stats.problem("harness threads still running: %s" % alive_threads)
        try:
            r = self.api(self.nodes["edge"], "DELETE", "/api/v1/relays/" + RELAY_ID)
            if r.status_code != 204:
                self.stats.problem("final DELETE relay -> %d" % r.status_code)
        except requests.RequestException as e:
            self.stats.problem("final DELETE relay: %s" % e)
        # Last events (with play.stop of the last players); sessions left.
        time.sleep(2.0)
        with requests.Session() as s:
            for name, n in self.nodes.items():
                self._poll_one(name, n, s)
        self.sessions_left = {}
        for name, n in self.nodes.items():
            try:
                ss = self.api(n, "GET", "/api/v1/sessions").json()["sessions"]
            except (requests.RequestException, ValueError) as e:
                ss = [{"error": str(e)}]
            self.sessions_left[name] = ss
        # fds back to the baseline (bounded wait: grace periods, idle timers).
        self.fds_end = {}
        deadline = now() + a.settle_s
        while True:
            self.fds_end = {n: proc_fds(x.pid) for n, x in self.nodes.items()}
            if all(abs(self.fds_end[n] - self.baseline[n]) <= 2 for n in self.nodes) or \
                    now() >= deadline:
                break
            time.sleep(0.5)
        self.sample(now() - t_start, "end")
        self.rss_end = {n: proc_rss_kb(x.pid) for n, x in self.nodes.items()}
        self.exit_codes = {n: x.stop() for n, x in self.nodes.items()}
        self.write_csv()
        return self.report()

    # ---- results

    def write_csv(self):
        path = os.path.join(self.args.out, "samples.csv")
        cols = ["t_s", "phase", "node", "rss_kb", "heap_kb", "heap_free_kb", "sqlite_kb", "fds",
                "sessions", "players", "publishers", "bytes_out", "bitrate_out_kbps",
                "harness_players"]
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            for r in self.samples:
                w.writerow(r)
        self.csv_path = path
        with open(os.path.join(self.args.out, "players.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["kind", "node", "local", "start_s", "life_s", "lived_s", "end",
                        "started", "video_frames", "bytes", "kicked", "in_api", "error"])
            for p in self.players:
                w.writerow([p.kind, p.node.name, p.local, round(p.t0 - self.t_start, 1),
                            round(p.life, 1),
                            round((p.end_at or now()) - p.t0, 1), p.end, p.started,
                            p.video_frames, p.bytes, p.kicked_at is not None,
                            p.checked_in_api, p.error or ""])

    def scan_logs(self):
        levels = {}
        warns = collections.Counter()
        errors = []
        for name, n in self.nodes.items():
            cnt = collections.Counter()
            with open(n.log_path, errors="replace") as f:
                for line in f:
                    m = LOG_LINE.match(line.rstrip("\n"))
                    if not m:
                        continue
                    lvl = m.group(1).strip()
                    cnt[lvl] += 1
                    msg = m.group(2)
                    if lvl == "error":
                        errors.append("%s: %s" % (name, line.rstrip()))
                    if lvl == "warn":
                        warns["%s: %s" % (name, normalize(msg))] += 1
            levels[name] = cnt
        return levels, warns, errors

    def report(self):
        a = self.args
        fails = []
        out = []

        def line(s=""):
            out.append(s)

        warm = a.warmup_min * 60.0
        run_end = self.t_end_run
        line("=" * 78)
        line("Weir soak: %.1f min run (warm-up %.1f min), output %s" % (
            run_end / 60, a.warmup_min, a.out))
        line("-" * 78)
        line("%-8s %9s %9s %9s %9s %13s %9s %9s" % (
            "node", "RSS0 kB", "RSSwarm", "RSSend", "RSSmax", "slope kB/10m", "1stmin", "lastmin"))
        flat = {}
        for name in self.nodes:
            rows = [r for r in self.samples if r["node"] == name and r["phase"] == "run"
                    and "rss_kb" in r]
            post = [r for r in rows if r["t_s"] >= warm]
            if len(post) < 6:
                fails.append("%s: only %d samples after warm-up" % (name, len(post)))
                continue
            xs = [r["t_s"] for r in post]
            ys = [r["rss_kb"] for r in post]
            slope = linreg_slope(xs, ys) * 600.0  # kB per 10 min
            first = median([r["rss_kb"] for r in post if r["t_s"] < warm + 60])
            last = median([r["rss_kb"] for r in post if r["t_s"] >= run_end - 60])
            pct = 100.0 * (last - first) / first
            fds = [r["fds"] for r in post]
            flat[name] = dict(slope=slope, first=first, last=last, pct=pct,
                              fd_min=min(fds), fd_max=max(fds))
            line("%-8s %9d %9d %9d %9d %13.0f %9d %9d" % (
                name, self.rss_start[name], post[0]["rss_kb"], self.rss_end[name],
                max(r["rss_kb"] for r in rows), slope, first, last))
            if slope > a.rss_slope_kb:
                fails.append("%s: RSS slope %.0f kB per 10 min after warm-up (bound %d)" % (
                    name, slope, a.rss_slope_kb))
            if abs(pct) > a.rss_pct:
                fails.append("%s: RSS last-minute median %d kB is %.1f%% off the first "
                             "post-warm-up minute's %d kB (bound %.0f%%)" % (
                                 name, last, pct, first, a.rss_pct))
        # The heap, from the node's /metrics: what malloc has handed out, and the part of it
        # that is SQLite's (page cache, statements). RSS alone cannot tell a cache filling up
        # from a leak; the heap less SQLite's part is Weir's own memory and must be flat.
        line("-" * 78)
        line("%-8s %10s %10s %10s %10s %14s %16s" % (
            "node", "heap1 kB", "heapEnd", "sqlite1", "sqliteEnd", "heap kB/10m",
            "heap-sqlite/10m"))
        for name in self.nodes:
            post = [r for r in self.samples if r["node"] == name and r["phase"] == "run"
                    and r["t_s"] >= warm and "heap_kb" in r and "sqlite_kb" in r]
            if len(post) < 6:
                fails.append("%s: only %d heap samples after warm-up (is /metrics there?)" % (
                    name, len(post)))
                continue
            xs = [r["t_s"] for r in post]
            heap_slope = linreg_slope(xs, [r["heap_kb"] for r in post]) * 600.0
            own_slope = linreg_slope(xs, [r["heap_kb"] - r["sqlite_kb"] for r in post]) * 600.0
            line("%-8s %10d %10d %10d %10d %14.0f %16.0f" % (
                name, post[0]["heap_kb"], post[-1]["heap_kb"], post[0]["sqlite_kb"],
                post[-1]["sqlite_kb"], heap_slope, own_slope))
            cache_kb = a.cache_kb or 2048
            sqlite_max = max(r["sqlite_kb"] for r in post)
            if sqlite_max > cache_kb + SQLITE_OVERHEAD_KB:
                fails.append("%s: SQLite held %d kB, over storage.cache_kb %d + %d kB for "
                             "statements and schema" % (name, sqlite_max, cache_kb,
                                                        SQLITE_OVERHEAD_KB))
            if own_slope > a.heap_slope_kb:
                fails.append("%s: heap less SQLite's grows %.0f kB per 10 min after warm-up "
                             "(bound %d)" % (name, own_slope, a.heap_slope_kb))
        # fds: what the churn allows on one node: every player, the publisher, relay links
        # (both ends), the harness's API connections (poller, sampler, kick, look-ups),
        # a listener-accepted connection not yet closed per churn event.
        fd_bound = a.players_max + 12
        line("-" * 78)
        line("%-8s %8s %8s %8s %10s %8s %8s" % ("node", "fd base", "min", "max", "max-min",
                                              "bound", "end"))
        for name in self.nodes:
            f = flat.get(name)
            if not f:
                continue
            spread = f["fd_max"] - f["fd_min"]
            line("%-8s %8d %8d %8d %10d %8d %8d" % (
                name, self.baseline[name], f["fd_min"], f["fd_max"], spread, fd_bound,
                self.fds_end[name]))
            if spread > fd_bound:
                fails.append("%s: fds spread %d after warm-up (bound %d)" % (
                    name, spread, fd_bound))
            if abs(self.fds_end[name] - self.baseline[name]) > 2:
                fails.append("%s: %d fds at the end, baseline %d (want +-2 within %d s)" % (
                    name, self.fds_end[name], self.baseline[name], a.settle_s))

        # Work done.
        ps = self.players
        by_kind = collections.Counter(p.kind for p in ps)
        ends = collections.Counter(p.end for p in ps)
        started = [p for p in ps if p.started]
        with_video = [p for p in started if p.video_frames > 0]
        vbytes = sum(p.video_bytes for p in ps)
        line("-" * 78)
        line("players started      %d (%s)" % (len(ps), ", ".join(
            "%s %d" % kv for kv in sorted(by_kind.items()))))
        line("  ends               %s" % ", ".join("%s %d" % kv for kv in sorted(
            ends.items(), key=lambda kv: str(kv[0]))))
        line("  got 200/Play.Start %d, received video %d (%.1f MB of video)" % (
            len(started), len(with_video), vbytes / 1e6))
        maxc = max((r.get("harness_players", 0) for r in self.samples), default=0)
        line("  concurrent (sampled per node) max %d" % maxc)
        errs = [p for p in ps if p.end == "error"]
        for p in errs[:5]:
            line("  error: %s on %s (%s) after %.1f s: %s" % (
                p.kind, p.node.name, p.local, (p.end_at or 0) - p.t0, p.error))
        min_players = int(run_end / 60 * 30)
        if len(with_video) < min_players:
            fails.append("only %d players received video (want >= %d: 30 per minute)" % (
                len(with_video), min_players))
        if started and len(with_video) < 0.9 * len(started):
            fails.append("%d of %d started players got no video frame" % (
                len(started) - len(with_video), len(started)))
        if len(errs) > max(3, 0.02 * len(ps)):
            fails.append("%d players ended in an error (see players.csv)" % len(errs))
        stuck = [p for p in ps if getattr(p, "stuck", False) or p.alive()]
        line("  stuck past their lifetime: %d" % len(stuck))
        if stuck:
            fails.append("%d players stuck past their lifetime" % len(stuck))

        # The node's view: play.start for every socket player that started, play.stop too.
        line("-" * 78)
        for name in self.nodes:
            evs = self.events[name]
            ec = collections.Counter(e["type"] for e in evs)
            line("events %-6s %s" % (name, ", ".join("%s %d" % kv for kv in sorted(ec.items()))))
        missing_start, missing_stop = [], []
        for p in started:
            if p.kind == "ffmpeg" or not p.local:
                continue
            evs = self.events[p.node.name]
            st = [e for e in evs if e["type"] == "play.start" and e.get("remote") == p.local]
            sp = [e for e in evs if e["type"] == "play.stop" and e.get("remote") == p.local]
            if not st:
                missing_start.append(p)
            elif not sp:
                missing_stop.append(p)
        nsock = sum(1 for p in started if p.kind != "ffmpeg")
        line("socket players started %d: without play.start event %d, without play.stop %d" % (
            nsock, len(missing_start), len(missing_stop)))
        if missing_start:
            fails.append("%d started players have no play.start event (e.g. %s on %s)" % (
                len(missing_start), missing_start[0].local, missing_start[0].node.name))
        if missing_stop:
            fails.append("%d players have no play.stop event after they left (e.g. %s on %s)"
                         % (len(missing_stop), missing_stop[0].local,
                            missing_stop[0].node.name))
        checked = [p for p in ps if p.checked_in_api is not None]
        not_found = [p for p in checked if not p.checked_in_api]
        polled = [p for p in started if p.kind != "ffmpeg" and p.local and
                  (p.end_at or 0) - p.t0 >= 5]
        seen = [p for p in polled if p.local in self.seen_sessions[p.node.name]]
        line("players looking themselves up in /api/v1/sessions: %d, found %d" % (
            len(checked), len(checked) - len(not_found)))
        line("players living >= 5 s seen by the 1 s sessions poll: %d of %d" % (
            len(seen), len(polled)))
        if not checked:
            fails.append("no player looked itself up in the API")
        if not_found:
            fails.append("%d players not in /api/v1/sessions while playing (e.g. %s on %s)" % (
                len(not_found), not_found[0].local, not_found[0].node.name))
        if polled and len(seen) < 0.95 * len(polled):
            fails.append("only %d of %d players living >= 5 s were seen by the sessions poll"
                         % (len(seen), len(polled)))
        left_players = {n: [s for s in ss if s.get("role") != "relay"]
                        for n, ss in self.sessions_left.items()}
        for n, ss in left_players.items():
            if ss:
                fails.append("%s: %d sessions left after every client went: %s" % (
                    n, len(ss), json.dumps(ss)[:300]))

        # Churn.
        line("-" * 78)
        pub_starts = [e for e in self.events["origin"] if e["type"] == "publish.start"]
        line("publisher starts %d (kills %d), publish.start events on the origin %d" % (
            self.publisher_starts, self.stats.c["publisher_kills"], len(pub_starts)))
        want_pub = int(run_end / max(PUBLISH_CYCLE_S)) - 1
        if self.stats.c["publisher_kills"] < max(1, want_pub):
            fails.append("only %d publisher restarts (want >= %d)" % (
                self.stats.c["publisher_kills"], max(1, want_pub)))
        if len(pub_starts) < self.publisher_starts - 1:
            fails.append("%d publisher starts but %d publish.start events" % (
                self.publisher_starts, len(pub_starts)))
        restarts = sum(v for k, v in self.relay_cycles.items() if k != "created")
        rstart = [e for e in self.events["edge"] if e["type"] == "relay.start"]
        line("relay restarts %d (%s), relay.start events on the edge %d" % (
            restarts, ", ".join("%s %d" % kv for kv in sorted(self.relay_cycles.items())),
            len(rstart)))
        want_rel = int(run_end / max(RELAY_CYCLE_S)) - 1
        if restarts < max(1, want_rel):
            fails.append("only %d relay restarts (want >= %d)" % (restarts, max(1, want_rel)))
        if len(rstart) < restarts:
            fails.append("%d relay restarts but only %d relay.start events" % (
                restarts, len(rstart)))
        kick_ok = [k for k in self.kicks if k[2] == 200]
        kick_closed = [k for k in kick_ok if k[0].end_at is not None and k[0].end in
                       ("server_closed", "error") and k[0].end_at - k[0].kicked_at < 5]
        line("kicks %d (200: %d, player closed by the node within 5 s: %d)" % (
            len(self.kicks), len(kick_ok), len(kick_closed)))
        if not kick_ok:
            fails.append("no kick succeeded")
        if len(kick_closed) < len(kick_ok):
            fails.append("%d kicked players were not closed within 5 s" % (
                len(kick_ok) - len(kick_closed)))
        line("API requests %d (non-200 %d, slowest %d ms)" % (
            self.stats.c["api_requests"], self.stats.c["api_non_200"],
            self.stats.c["api_slowest_ms"]))
        if self.stats.c["api_requests"] < run_end * 8:
            fails.append("only %d API requests in %.0f s" % (self.stats.c["api_requests"],
                                                             run_end))
        bytes_out = {n: max((r.get("bytes_out", 0) for r in self.samples if r["node"] == n),
                            default=0) for n in self.nodes}
        line("bytes out (node counters): %s" % ", ".join(
            "%s %.1f MB" % (n, b / 1e6) for n, b in bytes_out.items()))

        # Logs.
        levels, warns, errors = self.scan_logs()
        line("-" * 78)
        for n, c in levels.items():
            line("log %-6s %s" % (n, ", ".join("%s %d" % kv for kv in sorted(c.items()))))
        line("top warnings (by message, numbers replaced by N):")
        for msg, cnt in warns.most_common(a.top_warnings):
            line("  %6d  %s" % (cnt, msg[:150]))
        for e in errors[:10]:
            line("  ERROR LINE: %s" % e[:200])
        if errors:
            fails.append("%d error lines in the node logs" % len(errors))
        for n, x in self.nodes.items():
            rep = x.sanitizer_report()
            if rep:
                fails.append("%s: sanitizer report on stderr" % n)
            if self.exit_codes[n] != 0:
                fails.append("%s: exit code %r after SIGTERM (want 0)" % (n, self.exit_codes[n]))
        line("exit codes after SIGTERM: %s" % self.exit_codes)
        for p in self.stats.problems[:20]:
            line("problem: %s" % p)
        if self.stats.problems:
            fails.append("%d problems during the run (listed above)" % len(self.stats.problems))
        line("samples: %s" % self.csv_path)
        line("=" * 78)
        if fails:
            line("FAIL")
            for f in fails:
                line("  - " + f)
        else:
            line("PASS")
        text = "\n".join(out)
        print(text, flush=True)
        with open(os.path.join(a.out, "summary.txt"), "w") as f:
            f.write(text + "\n")
        return 1 if fails else 0


def normalize(msg):
    msg = re.sub(r"^\[(s\d+|node)\] ", "", msg)
    msg = re.sub(r"\d+\.\d+\.\d+\.\d+:\d+", "ADDR", msg)
    msg = re.sub(r"\d+", "N", msg)
    return msg


def median(xs):
    xs = sorted(xs)
    if not xs:
        return 0
    k = len(xs) // 2
    return xs[k] if len(xs) % 2 else (xs[k - 1] + xs[k]) / 2


def linreg_slope(xs, ys):
    n = len(xs)
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weir", required=True, help="the weir binary")
    ap.add_argument("--minutes", type=float, default=10.0, help="run time (default 10)")
    ap.add_argument("--warmup-min", type=float, default=2.0,
                    help="warm-up excluded from the flatness checks (default 2)")
    ap.add_argument("--out", default=None, help="output folder (default: a new temp dir)")
    ap.add_argument("--players-min", type=int, default=20)
    ap.add_argument("--players-max", type=int, default=40)
    ap.add_argument("--rss-slope-kb", type=int, default=1024,
                    help="bound on the RSS regression slope after warm-up, kB per 10 min "
                         "(default 1024)")
    ap.add_argument("--heap-slope-kb", type=int, default=256,
                    help="bound on the growth of the heap less SQLite's part, kB per 10 min "
                         "after warm-up (default 256)")
    ap.add_argument("--cache-kb", type=int, default=0,
                    help="the nodes' storage.cache_kb (default: the node's own, 2048); SQLite's "
                         "page cache fills up to it as the event log grows, and RSS with it")
    ap.add_argument("--rss-pct", type=float, default=10.0,
                    help="bound on last-minute vs first post-warm-up minute RSS median, %% "
                         "(default 10)")
    ap.add_argument("--settle-s", type=int, default=20,
                    help="how long fds may take to come back to the baseline at the end")
    ap.add_argument("--top-warnings", type=int, default=10)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    if a.minutes * 60 < a.warmup_min * 60 + 90:
        ap.error("--minutes must leave at least 90 s after the warm-up")
    if not os.access(a.weir, os.X_OK):
        ap.error("--weir %s is not an executable" % a.weir)
    if a.seed is not None:
        random.seed(a.seed)
    a.out = a.out or tempfile.mkdtemp(prefix="weir-soak-")
    os.makedirs(a.out, exist_ok=True)
    s = Soak(a)
    try:
        rc = s.run()
    except (Exception, pytest.fail.Exception) as e:  # set-up failures (weirtest.Node)
        print("soak: set-up error: %s" % e, file=sys.stderr)
        for n in s.nodes.values():
            n.kill()
        return 2
    finally:
        s.stop_ev.set()
        s.players_stop.set()
        for n in s.nodes.values():
            n.kill()
    return rc


if __name__ == "__main__":
    sys.exit(main())
