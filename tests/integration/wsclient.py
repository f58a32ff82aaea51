"""A minimal WebSocket client (RFC 6455) on a raw socket, for the tests: it
sends what a test asks for, malformed frames included (unmasked, reserved
bits, unknown opcodes, fragmented control frames), and reads the server's
frames one at a time."""

import base64
import hashlib
import os
import socket
import struct
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def accept_of(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def upgrade_request(path, key=None, version="13", extra=b"", http="1.1"):
    """The upgrade request's bytes; key=None leaves the key out."""
    lines = ["GET %s HTTP/%s" % (path, http), "Host: 127.0.0.1", "Upgrade: websocket",
             "Connection: Upgrade"]
    if version is not None:
        lines.append("Sec-WebSocket-Version: %s" % version)
    if key is not None:
        lines.append("Sec-WebSocket-Key: %s" % key)
    return ("\r\n".join(lines) + "\r\n").encode() + extra + b"\r\n"


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length_form=None):
    """A client frame; length_form 16 or 64 forces an extended length."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if length_form == 64 or (length_form is None and n > 0xffff):
        head = struct.pack(">BBQ", b0, m | 127, n)
    elif length_form == 16 or (length_form is None and n > 125):
        head = struct.pack(">BBH", b0, m | 126, n)
    else:
        head = struct.pack(">BB", b0, m | n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(c ^ key[i & 3] for i, c in enumerate(payload))


def close_payload(code, reason=b""):
    return struct.pack(">H", code) + reason


class Closed(Exception):
    """The server closed the TCP connection."""


class WsClient:
    def __init__(self, port, path, timeout=10.0, rcvbuf=None, tls=None):
        """tls: an ssl.SSLContext for wss:// (server name "localhost")."""
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # before connect, so the window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""
        self.sock.sendall(upgrade_request(path, self.key))
        self.status, self.headers = self._read_head(timeout)

    def _read_head(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        return status, headers

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no data from the server in time")
        self.sock.settimeout(left)
        data = self.sock.recv(65536)
        if not data:
            raise Closed()
        self.buf += data

    def send(self, data):
        self.sock.sendall(data)

    def recv_frame(self, timeout=5.0):
        """(fin, opcode, payload) of the next server frame; server frames
        must not be masked nor use reserved bits."""
        deadline = time.monotonic() + timeout
        while True:
            f = self._take()
            if f is not None:
                return f
            self._fill(deadline)

    def _take(self):
        b = self.buf
        if len(b) < 2:
            return None
        assert b[0] & 0x70 == 0, "server frame with reserved bits: %r" % b[:2]
        assert b[1] & 0x80 == 0, "masked server frame"
        n, off = b[1] & 0x7f, 2
        if n == 126:
            if len(b) < 4:
                return None
            n, off = struct.unpack(">H", b[2:4])[0], 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, off = struct.unpack(">Q", b[2:10])[0], 10
        if len(b) < off + n:
            return None
        self.buf = b[off + n:]
        return bool(b[0] & 0x80), b[0] & 0x0f, b[off:off + n]

    def wait_close(self, timeout=5.0, on_frame=None):
        """Reads frames until a close frame: its (code or None, reason)."""
        deadline = time.monotonic() + timeout
        while True:
            fin, op, payload = self.recv_frame(deadline - time.monotonic())
            if op == OP_CLOSE:
                if len(payload) >= 2:
                    return struct.unpack(">H", payload[:2])[0], payload[2:]
                return None, b""
            if on_frame:
                on_frame(fin, op, payload)

    def wait_eof(self, timeout=5.0):
        """True once the server closes the TCP connection (data is dropped)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self.buf = b""
                self._fill(deadline)
        except (Closed, ConnectionResetError):
            return True

    def close(self):
        self.sock.close()


class WsPlayer(WsClient):
    """A WebSocket-FLV player read by a thread: it counts every byte read
    (the 101 head included) and sent (the request included), keeps the
    binary frames, answers the node's pings, and notes our pings' pongs and
    the close frame, then the EOF. tls: an ssl.SSLContext for wss://."""

    def __init__(self, port, path, tls=None):
        self.nbytes = 0
        self.lock = threading.Lock()  # the reader's pongs and the test's frames
        super().__init__(port, path, tls=tls)
        assert self.status == 101, (self.status, self.headers)
        self.request = self.sent = len(upgrade_request(path, self.key))
        self.port = self.sock.getsockname()[1]
        self.frames, self.pongs = [], []
        self.close_code = None
        self.eof = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def send(self, data):
        with self.lock:
            self.sent += len(data)
            super().send(data)

    def _fill(self, deadline):
        before = len(self.buf)
        try:
            super()._fill(deadline)
        finally:
            self.nbytes += len(self.buf) - before

    def _run(self):
        try:
            while self.close_code is None:
                try:
                    _, op, payload = self.recv_frame(1.0)
                except TimeoutError:
                    continue
                if op == OP_BINARY:
                    self.frames.append(payload)
                elif op == OP_PING:
                    self.send(frame(OP_PONG, payload))
                elif op == OP_PONG:
                    self.pongs.append(payload)
                elif op == OP_CLOSE:
                    self.close_code = int.from_bytes(payload[:2], "big") if payload else 0
            while True:  # the node closes the connection after its close frame
                self.buf = b""
                self._fill(time.monotonic() + 30)
        except (Closed, ConnectionResetError, OSError):
            self.eof = True

    def flv(self):
        return b"".join(self.frames)
