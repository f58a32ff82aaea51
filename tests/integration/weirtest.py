"""weirtest: helpers for Weir's integration tests.

Starts the real daemon on ephemeral loopback ports with a temp config, drives
ffmpeg/ffprobe, and parses what comes back (framemd5 lists, FLV tags, raw
HTTP responses). Every subprocess call and socket read is bounded in time.
conftest.py turns these into fixtures; test modules import what they need.
"""

import contextlib
import copy
import faulthandler
import json
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

HOST = "127.0.0.1"

# Bounds used across the suite (seconds).
NODE_START_TIMEOUT = 10.0
NODE_STOP_TIMEOUT = 10.0
TOOL_TIMEOUT = 60.0


# ---------------------------------------------------------------- tools

def require_tool(name):
    """Path of a tool the suite drives. A missing tool fails the test: the
    suite never skips silently (the test setup must install it)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail("%s not found on PATH: install it (Debian package ffmpeg)" % name,
                    pytrace=False)
    return path


def weir_bin():
    path = os.environ.get("WEIR_BIN", "")
    if not path:
        build = os.environ.get("WEIR_BUILD_DIR", "")
        if build:
            path = os.path.join(build, "weir")
    if not path or not os.access(path, os.X_OK):
        pytest.fail("WEIR_BIN (or WEIR_BUILD_DIR/weir) must name the weir binary; got %r" % path,
                    pytrace=False)
    return path


def run(cmd, timeout=TOOL_TIMEOUT, check=False, **kw):
    """subprocess.run with a timeout, capturing text output."""
    try:
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=timeout, text=True,
                             errors="replace", **kw)
    except subprocess.TimeoutExpired as e:
        pytest.fail("timed out after %.0fs: %s\nstderr: %s" % (
            timeout, " ".join(cmd), _tail_text(e.stderr)), pytrace=False)
    if check and res.returncode != 0:
        pytest.fail("exit %d: %s\nstderr: %s" % (res.returncode, " ".join(cmd),
                                                _tail_text(res.stderr)), pytrace=False)
    return res


def _tail_text(s, n=40):
    if s is None:
        return ""
    if isinstance(s, bytes):
        s = s.decode("utf-8", "replace")
    return "\n".join(s.splitlines()[-n:])


def tail_file(path, n=60):
    try:
        with open(path, "r", errors="replace") as f:
            return _tail_text(f.read(), n)
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)


# ---------------------------------------------------------------- ports

def free_port(host=HOST):
    """A port that was free on host (127.0.0.1) a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_ports(n, host=HOST):
    """n distinct free ports on host (all sockets held until every port is
    chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_accepts(port, timeout=0.5, host=HOST):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- the watchdog

def watchdog_fixture(seconds):
    """An autouse fixture for a conftest.py: each test (with its fixtures)
    must finish within seconds; a hang fails the test with a traceback
    instead of stalling the suite."""

    @pytest.fixture(autouse=True)
    def _watchdog():
        def on_alarm(signum, frame):
            pytest.fail("test exceeded its %d s watchdog" % seconds)

        if threading.current_thread() is not threading.main_thread():
            # execnet sometimes starts an xdist worker's session on another
            # thread (pytest-dev/execnet#96), where no signal handler can be
            # set: then a hang dumps every thread's traceback and ends the
            # worker, which xdist reports as a crashed test (never a stall)
            faulthandler.dump_traceback_later(seconds, exit=True)
            try:
                yield
            finally:
                faulthandler.cancel_dump_traceback_later()
            return
        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)

    return _watchdog


# ---------------------------------------------------------------- the node

def deep_merge(base, over):
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


class Node:
    """One running weir process on loopback ports of host (any 127.0.0.0/8
    address; default 127.0.0.1), in its own directory. name (optional)
    prefixes its failure messages. env (optional) adds variables to the
    node's environment; an ASAN_OPTIONS given there is appended to the one
    inherited (e.g. a small quarantine, so that RSS tells what the node
    holds)."""

    def __init__(self, workdir, overrides=None, host=HOST, name=None, env=None, nofile=None):
        self.workdir = str(workdir)
        self.host = host
        self.name = name
        self.nofile = nofile  # RLIMIT_NOFILE (soft and hard) of the process, if set
        self.env = None
        if env:
            self.env = dict(os.environ)
            for k, v in env.items():
                if k == "ASAN_OPTIONS" and self.env.get(k):
                    v = self.env[k] + ":" + v
                self.env[k] = v
        os.makedirs(self.workdir, exist_ok=True)
        self.rtmp_port, self.http_port, self.api_port = free_ports(3, host)
        self.log_path = os.path.join(self.workdir, "weir.log")
        self.stderr_path = os.path.join(self.workdir, "weir.stderr")
        self.config_path = os.path.join(self.workdir, "weir.json")
        base = {
            "rtmp": {"listen": "%s:%d" % (host, self.rtmp_port)},
            "http_flv": {"listen": "%s:%d" % (host, self.http_port)},
            "api": {"listen": "%s:%d" % (host, self.api_port)},
            "storage": {"path": os.path.join(self.workdir, "weir.db")},
            "log": {"level": "debug", "file": self.log_path},
        }
        # WEIR_TEST_WORKERS=2 runs every node of the suite with that many
        # loops ("workers", README); a test's own overrides still win.
        if os.environ.get("WEIR_TEST_WORKERS"):
            w = os.environ["WEIR_TEST_WORKERS"]
            base["workers"] = w if w == "auto" else int(w)
        self.config = deep_merge(base, overrides or {})
        with open(self.config_path, "w") as f:
            json.dump(self.config, f, indent=2)
        self.proc = None
        self.returncode = None

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        """Starts weir and waits (bounded) until its three ports accept. The
        stderr file is appended to, so a restart keeps what came before (a
        sanitizer report of an earlier run included)."""
        preexec = None
        if self.nofile is not None:
            def preexec():
                resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen([weir_bin(), "-c", self.config_path], cwd=self.workdir,
                                         stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                         env=self.env, preexec_fn=preexec)
        deadline = time.monotonic() + NODE_START_TIMEOUT
        pending = {self.rtmp_port, self.http_port, self.api_port}
        who = "%s: " % self.name if self.name else ""
        while pending:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                pytest.fail("%sweir exited with %d during start-up\n%s" % (
                    who, self.returncode, self.diagnostics()), pytrace=False)
            pending = {p for p in pending if not port_accepts(p, host=self.host)}
            if pending and time.monotonic() > deadline:
                self.kill()
                pytest.fail("%sweir did not accept on %s ports %s within %.0fs\n%s" % (
                    who, self.host, sorted(pending), NODE_START_TIMEOUT, self.diagnostics()),
                    pytrace=False)
            if pending:
                time.sleep(0.05)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=NODE_STOP_TIMEOUT):
        """Signals the node and waits; returns the exit code (None if it had
        to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def stop_and_check(self):
        """Teardown: SIGTERM, bounded wait, exit code 0, no sanitizer report."""
        if self.proc is None:
            return
        rc = self.stop()
        errors = []
        if rc is None:
            errors.append("weir did not exit within %.0fs of SIGTERM (killed)" % NODE_STOP_TIMEOUT)
        elif rc != 0:
            errors.append("weir exited with %d after SIGTERM (want 0)" % rc)
        report = self.sanitizer_report()
        if report:
            errors.append("sanitizer report on stderr:\n" + report)
        if errors:
            pytest.fail("\n".join(errors) + "\n" + self.diagnostics(), pytrace=False)

    def sanitizer_report(self):
        try:
            with open(self.stderr_path, "r", errors="replace") as f:
                text = f.read()
        except OSError:
            return ""
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                       "WARNING: ThreadSanitizer"):
            i = text.find(marker)
            if i >= 0:
                return text[max(0, i - 200):i + 3000]
        return ""

    def log_text(self):
        parts = []
        for p in (self.log_path, self.stderr_path):
            try:
                with open(p, "r", errors="replace") as f:
                    parts.append(f.read())
            except OSError:
                pass
        return "\n".join(parts)

    def diagnostics(self, n=60):
        return "--- config %s\n%s\n--- log tail (%s)\n%s\n--- stderr tail\n%s" % (
            self.config_path, json.dumps(self.config), self.log_path,
            tail_file(self.log_path, n), tail_file(self.stderr_path, n))

    def cpu_seconds(self):
        """User + system CPU time of the node so far (/proc/PID/stat)."""
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[0] is the state (field 3): utime and stime are fields 14 and 15
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kb(self):
        """VmRSS of the node in kB."""
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS for pid %d" % self.pid)

    @property
    def api_url(self):
        return "http://%s:%d" % (self.host, self.api_port)

    def rtmp_url(self, app, name):
        return "rtmp://%s:%d/%s/%s" % (self.host, self.rtmp_port, app, name)

    def http_url(self, app, name):
        return "http://%s:%d/%s/%s.flv" % (self.host, self.http_port, app, name)

    def url(self, proto, app, name):
        if proto == "rtmp":
            return self.rtmp_url(app, name)
        if proto in ("http", "http_flv", "httpflv"):
            return self.http_url(app, name)
        raise ValueError(proto)


def tool(name):
    """Absolute path of a tool built next to weir (weir-push, weir-pull, ...)
    in WEIR_BUILD_DIR; fails the test if it is not there."""
    build = os.environ.get("WEIR_BUILD_DIR", "")
    path = os.path.join(build, name)
    if not build or not os.access(path, os.X_OK):
        pytest.fail("WEIR_BUILD_DIR must hold %s (got %r)" % (name, build), pytrace=False)
    return os.path.abspath(path)


# ---------------------------------------------------------------- background processes

class Procs:
    """Background subprocesses of one test; whatever is left is ended at teardown."""

    def __init__(self, workdir):
        self.workdir = str(workdir)
        self.items = []
        self._n = 0

    def spawn(self, cmd, name=None, keep_stdout=False):
        """Starts cmd with its stderr in NAME.stderr of the test's dir; with
        keep_stdout, its stdout (e.g. a tool's JSON summary) in NAME.stdout,
        path in p.weir_stdout; else stdout is discarded."""
        self._n += 1
        name = name or "proc%d" % self._n
        err = os.path.join(self.workdir, "%s.stderr" % name)
        out = os.path.join(self.workdir, "%s.stdout" % name) if keep_stdout else None
        with open(err, "wb") as fe, open(out or os.devnull, "wb") as fo:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe)
        p.weir_name = name
        p.weir_stderr = err
        p.weir_stdout = out
        p.weir_cmd = cmd
        self.items.append(p)
        return p

    def stop_all(self):
        for p in self.items:
            if p.poll() is None:
                p.terminate()
        for p in self.items:
            try:
                p.wait(3)
            except subprocess.TimeoutExpired:
                p.kill()
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    pass


def wait_proc(p, timeout, what=None):
    """Waits for a background process; fails the test (with its stderr) on timeout."""
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)
        pytest.fail("%s did not finish within %.0fs: %s\n%s" % (
            what or getattr(p, "weir_name", "process"), timeout,
            " ".join(getattr(p, "weir_cmd", [])), tail_file(getattr(p, "weir_stderr", ""))),
            pytrace=False)


def interrupt(p, timeout=10):
    """SIGINT (ffmpeg finishes its output file), bounded wait, then kill."""
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
    return p.returncode


def proc_stderr(p):
    return tail_file(getattr(p, "weir_stderr", ""), 40)


# ---------------------------------------------------------------- ffmpeg / ffprobe

FFMPEG_COMMON = ["-hide_banner", "-nostdin", "-loglevel", "warning"]


def publish_cmd(clip, url, loop=False):
    cmd = [require_tool("ffmpeg")] + FFMPEG_COMMON
    if loop:
        cmd += ["-stream_loop", "-1"]
    return cmd + ["-re", "-i", str(clip), "-c", "copy", "-f", "flv", url]


def pull_cmd(url, out, seconds=None, rw_timeout_s=20):
    """ffmpeg copying url to an FLV file. -rw_timeout bounds every read."""
    cmd = [require_tool("ffmpeg")] + FFMPEG_COMMON + [
        "-y", "-rw_timeout", str(int(rw_timeout_s * 1e6)), "-i", url, "-c", "copy"]
    if seconds is not None:
        cmd += ["-t", str(seconds)]
    return cmd + ["-f", "flv", str(out)]


def pull(url, out, seconds, timeout):
    """Foreground pull of `seconds` of media into out; returns CompletedProcess."""
    return run(pull_cmd(url, out, seconds), timeout=timeout)


def ffprobe_json(path, *args, timeout=30):
    cmd = [require_tool("ffprobe"), "-v", "error", "-print_format", "json"] + list(args) + [
        str(path)]
    res = run(cmd, timeout=timeout)
    if res.returncode != 0:
        pytest.fail("ffprobe failed on %s: %s" % (path, _tail_text(res.stderr)), pytrace=False)
    return json.loads(res.stdout)


def probe_streams(path):
    """{'video': stream dict, 'audio': stream dict} (missing kinds absent)."""
    info = ffprobe_json(path, "-show_streams")
    out = {}
    for s in info.get("streams", []):
        out.setdefault(s.get("codec_type"), s)
    return out


def probe_packets(path, select="v"):
    """Packets of one stream kind (ffprobe -show_packets), in file order."""
    info = ffprobe_json(path, "-select_streams", select, "-show_packets")
    return info.get("packets", [])


def framemd5(path, select="v"):
    """[(size, md5)] of the packets of one stream, timestamps ignored."""
    cmd = [require_tool("ffmpeg")] + FFMPEG_COMMON + [
        "-i", str(path), "-map", "0:%s" % select, "-c", "copy", "-f", "framemd5", "-"]
    res = run(cmd, timeout=60)
    if res.returncode != 0:
        pytest.fail("framemd5 failed on %s: %s" % (path, _tail_text(res.stderr)), pytrace=False)
    out = []
    for line in res.stdout.splitlines():
        if not line or line.startswith("#"):
            continue
        f = [x.strip() for x in line.split(",")]
        out.append((int(f[4]), f[5]))
    return out


def find_run(received, source, cyclic=False):
    """Index i such that received == source[i:i+len(received)] (indices
    modulo len(source) if cyclic, for a looped publisher), else None."""
    if not received:
        return None
    n = len(source)
    for i in range(n):
        if source[i] != received[0]:
            continue
        if cyclic:
            ok = all(received[k] == source[(i + k) % n] for k in range(len(received)))
        else:
            ok = received == source[i:i + len(received)]
        if ok:
            return i
    return None


def describe_mismatch(received, source):
    """A short explanation of where received first leaves the source."""
    if not received:
        return "received no packets"
    if received[0] not in source:
        return "first received packet %r is not in the source" % (received[0],)
    i = source.index(received[0])
    for k, pkt in enumerate(received):
        if i + k >= len(source):
            return "received %d packets past the end of the source (from source #%d)" % (
                len(received) - k, i)
        if source[i + k] != pkt:
            return "diverges at received #%d (source #%d): %r != %r" % (
                k, i + k, pkt, source[i + k])
    return "no mismatch"


# ---------------------------------------------------------------- FLV

FLV_AUDIO = 8
FLV_VIDEO = 9
FLV_SCRIPT = 18


class FlvTag:
    __slots__ = ("type", "timestamp", "data")

    def __init__(self, ttype, timestamp, data):
        self.type = ttype
        self.timestamp = timestamp
        self.data = data

    def is_video_keyframe(self):
        return self.type == FLV_VIDEO and len(self.data) > 0 and (self.data[0] >> 4) == 1

    def is_avc_sequence_header(self):
        return (self.type == FLV_VIDEO and len(self.data) >= 2
                and (self.data[0] & 0x0F) == 7 and self.data[1] == 0)

    def is_aac_sequence_header(self):
        return (self.type == FLV_AUDIO and len(self.data) >= 2
                and (self.data[0] >> 4) == 10 and self.data[1] == 0)

    def is_coded_video(self):
        if self.type != FLV_VIDEO or len(self.data) < 2:
            return False
        return self.data[1] == 1 if (self.data[0] & 0x0F) == 7 else True

    def is_coded_audio(self):
        if self.type != FLV_AUDIO or len(self.data) < 2:
            return False
        return self.data[1] == 1 if (self.data[0] >> 4) == 10 else True

    def __repr__(self):
        return "FlvTag(type=%d, ts=%d, len=%d)" % (self.type, self.timestamp, len(self.data))


def parse_flv(data):
    """Parses an FLV byte string (possibly cut short). Returns (flags, tags,
    consumed): flags of the header, every complete tag, bytes consumed.
    Raises AssertionError on a malformed header or PreviousTagSize."""
    data = bytes(data)
    assert data[:3] == b"FLV", "no FLV signature: %r" % data[:16]
    assert data[3] == 1, "FLV version %d" % data[3]
    flags = data[4]
    hlen = struct.unpack(">I", data[5:9])[0]
    assert hlen >= 9, "FLV header length %d" % hlen
    pos = hlen
    assert data[pos:pos + 4] == b"\x00\x00\x00\x00", "PreviousTagSize0 is not 0"
    pos += 4
    tags = []
    while pos + 11 <= len(data):
        ttype = data[pos] & 0x1F
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | (data[pos + 7] << 24)
        end = pos + 11 + size
        if end + 4 > len(data):
            break
        prev = struct.unpack(">I", data[end:end + 4])[0]
        assert prev == 11 + size, "PreviousTagSize %d after a tag of %d bytes at offset %d" % (
            prev, size, pos)
        assert ttype in (FLV_AUDIO, FLV_VIDEO, FLV_SCRIPT), \
            "tag type %d at offset %d" % (ttype, pos)
        tags.append(FlvTag(ttype, ts, data[pos + 11:end]))
        pos = end + 4
    return flags, tags, pos


# ---------------------------------------------------------------- raw HTTP

class HttpResponse:
    def __init__(self, version, status, reason, headers, body, eof):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (lower-case name, value)
        self.body = body        # raw bytes after the head (still chunked if chunked)
        self.eof = eof          # the server closed the connection

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def __repr__(self):
        return "HttpResponse(%s %d %s, %r, body %d bytes, eof=%s)" % (
            self.version, self.status, self.reason, self.headers, len(self.body), self.eof)


def http_open(port, request, rcvbuf=None, timeout=5.0):
    """Connects to the node's HTTP port and sends raw request bytes; returns
    the socket (the caller closes it)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            # Before connect(), so the advertised window is small from the start.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect((HOST, port))
        try:
            s.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything
    except Exception:
        s.close()
        raise
    return s


def read_response(s, body_bytes=0, body_seconds=0.0, timeout=5.0):
    """Reads a response head within timeout, then up to body_bytes of body
    for at most body_seconds (or until EOF). A reset counts as EOF."""
    buf = bytearray()
    eof = False
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in buf:
        chunk = _recv_until(s, deadline)
        if chunk is None:
            raise AssertionError("no complete response head within %.1fs; got %r" % (
                timeout, bytes(buf[:300])))
        if not chunk:
            eof = True
            break
        buf += chunk
    head, sep, body = bytes(buf).partition(b"\r\n\r\n")
    assert sep, "connection closed before the end of the response head: %r" % bytes(buf[:300])
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    assert len(parts) >= 2 and parts[0].startswith("HTTP/1."), "bad status line %r" % lines[0]
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        assert colon, "bad header line %r" % line
        headers.append((name.strip().lower(), value.strip()))
    body = bytearray(body)
    if not eof and body_seconds > 0:
        deadline = time.monotonic() + body_seconds
        while len(body) < body_bytes:
            chunk = _recv_until(s, deadline)
            if chunk is None:
                break
            if not chunk:
                eof = True
                break
            body += chunk
    return HttpResponse(parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "",
                        headers, bytes(body), eof)


def http_exchange(port, request, body_bytes=0, body_seconds=0.0, timeout=5.0, rcvbuf=None):
    """Sends raw request bytes on a new connection and reads the response
    (see read_response). Returns HttpResponse."""
    s = http_open(port, request, rcvbuf=rcvbuf, timeout=timeout)
    try:
        return read_response(s, body_bytes, body_seconds, timeout)
    finally:
        s.close()


def _recv_until(s, deadline):
    """bytes, b'' on EOF/reset, None on timeout."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    s.settimeout(remaining)
    try:
        return s.recv(65536)
    except socket.timeout:
        return None
    except ConnectionResetError:
        return b""


def dechunk(body):
    """Decodes HTTP/1.1 chunked data. Returns (data, complete) where complete
    means the terminating zero-size chunk was seen; a cut-short final chunk is
    returned partially. Raises AssertionError on bad framing."""
    out = bytearray()
    pos = 0
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            return bytes(out), False
        size_field = body[pos:eol].split(b";")[0].strip()
        assert size_field and all(c in b"0123456789abcdefABCDEF" for c in size_field), \
            "bad chunk size line %r at %d" % (body[pos:eol], pos)
        size = int(size_field, 16)
        if size == 0:
            return bytes(out), True
        start = eol + 2
        if start + size > len(body):
            out += body[start:]
            return bytes(out), False
        out += body[start:start + size]
        assert body[start + size:start + size + 2] in (b"\r\n", b"\r", b""), \
            "chunk of %d bytes at %d not followed by CRLF" % (size, start)
        pos = start + size + 2


# ---------------------------------------------------------------- sockets seen from the node

TCP_STATES = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
    6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING",
}


def tcp_socket(local_port, remote_port):
    """(state, tx_queue bytes) of the IPv4 socket local_port -> remote_port
    as /proc/net/tcp shows it, or None if there is none. For a node-side
    socket, tx_queue is what the node wrote that the peer has not taken."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, st = fields[1], fields[2], int(fields[3], 16)
            if int(local.split(":")[1], 16) == local_port and \
                    int(remote.split(":")[1], 16) == remote_port:
                return TCP_STATES.get(st, str(st)), int(fields[4].split(":")[0], 16)
    return None


def tcp_state(local_port, remote_port):
    """State name of the socket local_port -> remote_port, or None."""
    info = tcp_socket(local_port, remote_port)
    return info[0] if info else None


def drain_until_eof(sock, timeout, limit):
    """Reads and discards until EOF/reset. Returns (bytes read, reached EOF)."""
    total = 0
    deadline = time.monotonic() + timeout
    while total <= limit:
        chunk = _recv_until(sock, deadline)
        if chunk is None:
            return total, False
        if not chunk:
            return total, True
        total += len(chunk)
    return total, False


# ---------------------------------------------------------------- liveness

def wait_live(node, app, name, timeout=15.0):
    """Plays app/name with rtmp_min until the first coded video message
    arrives (a waiting player, so it may be called before the publisher
    starts). Returns that message; fails the test if it never comes."""
    import rtmp_min
    deadline = time.monotonic() + timeout
    c, _ = rtmp_min.open_player(getattr(node, "host", HOST), node.rtmp_port, app, name,
                                timeout=timeout)
    with c:
        info = c.wait_status(max(0.1, deadline - time.monotonic()),
                             {"NetStream.Play.Start", "NetStream.Play.StreamNotFound"})
        assert info.get("code") == "NetStream.Play.Start", \
            "stream %s/%s did not go live: %r" % (app, name, info)
        return c.read_until(lambda m: m.is_coded_video(), max(0.1, deadline - time.monotonic()))


@contextlib.contextmanager
def published_nodes(workdir, clip, configs, app="live", name="cam"):
    """Nodes started in workdir/KEY, one per configs entry {KEY: overrides},
    each fed clip in a loop by ffmpeg as app/name and live; yields
    ({KEY: Node}, Procs) (more background processes may be spawned there);
    then the processes end and every node is stopped and checked."""
    nodes = {k: Node(os.path.join(str(workdir), k), o) for k, o in configs.items()}
    procs = Procs(workdir)
    try:
        for k, n in nodes.items():
            n.start()
            procs.spawn(publish_cmd(clip, n.rtmp_url(app, name), loop=True), "pub-" + k)
        for n in nodes.values():
            wait_live(n, app, name)
        yield nodes, procs
    finally:
        procs.stop_all()
        for n in nodes.values():
            n.stop_and_check()
