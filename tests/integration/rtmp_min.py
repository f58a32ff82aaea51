"""rtmp_min: a minimal, independent RTMP client for protocol-level tests.

It shares no code with the node: it is the tests' own reading of the RTMP
spec, used to check exact onStatus codes and message contents.

What it does:
- simple (version 3, unsigned) handshake;
- chunk writer: one fmt 0 header per message, fmt 3 continuations, outgoing
  chunk size 128 until set_chunk_size() sends Set Chunk Size;
- chunk reader: fmt 0-3 (with the RTMP 1.0 rule that a fmt 3 chunk starting
  a message after a fmt 0 header reuses that header's timestamp as delta),
  extended timestamps, Set Chunk Size and Abort from the server, Window
  Acknowledgement Size (it acknowledges), User Control ping (it answers);
- AMF0 encode/decode: number, boolean, string, long string, object, null,
  undefined, ECMA array, strict array, date, typed object.

Every blocking call takes a timeout; nothing here blocks forever.
"""

import os
import socket
import struct
import time

# Message type ids (RTMP 1.0, section 5.4 and 7.1).
MSG_SET_CHUNK_SIZE = 1
MSG_ABORT = 2
MSG_ACK = 3
MSG_USER_CONTROL = 4
MSG_WINDOW_ACK_SIZE = 5
MSG_SET_PEER_BANDWIDTH = 6
MSG_AUDIO = 8
MSG_VIDEO = 9
MSG_DATA_AMF3 = 15
MSG_COMMAND_AMF3 = 17
MSG_DATA_AMF0 = 18
MSG_COMMAND_AMF0 = 20

UC_STREAM_BEGIN = 0
UC_STREAM_EOF = 1
UC_SET_BUFFER_LENGTH = 3
UC_PING_REQUEST = 6
UC_PING_RESPONSE = 7

CSID_CONTROL = 2
CSID_COMMAND = 3
CSID_AUDIO = 4
CSID_VIDEO = 6
CSID_DATA = 5

HANDSHAKE_SIZE = 1536


class RtmpError(Exception):
    """Protocol violation seen by the client, or an _error reply."""


class RtmpClosed(RtmpError):
    """The server closed the connection (EOF or reset)."""


# ---------------------------------------------------------------- AMF0

AMF0_NUMBER = 0x00
AMF0_BOOLEAN = 0x01
AMF0_STRING = 0x02
AMF0_OBJECT = 0x03
AMF0_NULL = 0x05
AMF0_UNDEFINED = 0x06
AMF0_REFERENCE = 0x07
AMF0_ECMA_ARRAY = 0x08
AMF0_OBJECT_END = 0x09
AMF0_STRICT_ARRAY = 0x0A
AMF0_DATE = 0x0B
AMF0_LONG_STRING = 0x0C
AMF0_XML_DOCUMENT = 0x0F
AMF0_TYPED_OBJECT = 0x10


class EcmaArray(dict):
    """A dict that encodes as an AMF0 ECMA array (and is what one decodes to)."""


class Undefined:
    """The AMF0 undefined value."""

    def __repr__(self):
        return "Undefined"

    def __eq__(self, other):
        return isinstance(other, Undefined)

    def __hash__(self):
        return 0


def _amf0_key(k):
    raw = k.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise ValueError("AMF0 property name too long")
    return struct.pack(">H", len(raw)) + raw


def amf0_encode(value):
    """Encodes one Python value as AMF0 bytes."""
    if value is None:
        return bytes([AMF0_NULL])
    if isinstance(value, Undefined):
        return bytes([AMF0_UNDEFINED])
    if isinstance(value, bool):
        return bytes([AMF0_BOOLEAN, 1 if value else 0])
    if isinstance(value, (int, float)):
        return bytes([AMF0_NUMBER]) + struct.pack(">d", float(value))
    if isinstance(value, str):
        raw = value.encode("utf-8")
        if len(raw) <= 0xFFFF:
            return bytes([AMF0_STRING]) + struct.pack(">H", len(raw)) + raw
        return bytes([AMF0_LONG_STRING]) + struct.pack(">I", len(raw)) + raw
    if isinstance(value, EcmaArray):
        out = bytearray([AMF0_ECMA_ARRAY]) + struct.pack(">I", len(value))
        for k, v in value.items():
            out += _amf0_key(k) + amf0_encode(v)
        return bytes(out + b"\x00\x00" + bytes([AMF0_OBJECT_END]))
    if isinstance(value, dict):
        out = bytearray([AMF0_OBJECT])
        for k, v in value.items():
            out += _amf0_key(k) + amf0_encode(v)
        return bytes(out + b"\x00\x00" + bytes([AMF0_OBJECT_END]))
    if isinstance(value, (list, tuple)):
        out = bytearray([AMF0_STRICT_ARRAY]) + struct.pack(">I", len(value))
        for v in value:
            out += amf0_encode(v)
        return bytes(out)
    raise TypeError("cannot AMF0-encode %r" % type(value))


def amf0_encode_all(values):
    return b"".join(amf0_encode(v) for v in values)


class _Amf0Reader:
    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise RtmpError("AMF0: truncated at byte %d (need %d)" % (self.pos, n))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def utf8(self, n):
        return self.take(n).decode("utf-8", errors="replace")

    def props(self, into):
        while True:
            klen = self.u16()
            if klen == 0:
                if self.u8() != AMF0_OBJECT_END:
                    raise RtmpError("AMF0: empty property name without object end")
                return into
            key = self.utf8(klen)
            into[key] = self.value()

    def value(self):
        marker = self.u8()
        if marker == AMF0_NUMBER:
            return struct.unpack(">d", self.take(8))[0]
        if marker == AMF0_BOOLEAN:
            return self.u8() != 0
        if marker == AMF0_STRING:
            return self.utf8(self.u16())
        if marker in (AMF0_LONG_STRING, AMF0_XML_DOCUMENT):
            return self.utf8(self.u32())
        if marker == AMF0_OBJECT:
            return self.props({})
        if marker == AMF0_NULL:
            return None
        if marker == AMF0_UNDEFINED:
            return Undefined()
        if marker == AMF0_ECMA_ARRAY:
            self.u32()  # count is advisory; the end marker terminates
            return self.props(EcmaArray())
        if marker == AMF0_STRICT_ARRAY:
            return [self.value() for _ in range(self.u32())]
        if marker == AMF0_DATE:
            ms = struct.unpack(">d", self.take(8))[0]
            self.take(2)
            return ms
        if marker == AMF0_TYPED_OBJECT:
            self.utf8(self.u16())
            return self.props({})
        raise RtmpError("AMF0: unsupported marker 0x%02x at byte %d" % (marker, self.pos - 1))


def amf0_decode_all(data):
    """Decodes every AMF0 value in data; raises RtmpError on malformed input."""
    r = _Amf0Reader(data)
    out = []
    while r.pos < len(r.data):
        out.append(r.value())
    return out


# ---------------------------------------------------------------- messages

class Message:
    """One reassembled RTMP message."""

    __slots__ = ("type", "stream_id", "timestamp", "payload", "csid", "arrival")

    def __init__(self, mtype, stream_id, timestamp, payload, csid, arrival):
        self.type = mtype
        self.stream_id = stream_id
        self.timestamp = timestamp
        self.payload = payload
        self.csid = csid
        self.arrival = arrival  # time.monotonic() when the last chunk arrived

    def amf(self):
        """The AMF0 values of a command or data message."""
        if self.type in (MSG_COMMAND_AMF0, MSG_DATA_AMF0):
            return amf0_decode_all(self.payload)
        if self.type in (MSG_COMMAND_AMF3, MSG_DATA_AMF3):
            # AMF3 commands start with a format byte, then AMF0 values.
            return amf0_decode_all(self.payload[1:])
        raise RtmpError("message type %d carries no AMF" % self.type)

    def is_command(self):
        return self.type in (MSG_COMMAND_AMF0, MSG_COMMAND_AMF3)

    def is_data(self):
        return self.type in (MSG_DATA_AMF0, MSG_DATA_AMF3)

    def command_name(self):
        if not (self.is_command() or self.is_data()):
            return None
        vals = self.amf()
        return vals[0] if vals and isinstance(vals[0], str) else None

    def status_info(self):
        """The info object of an onStatus command, or None."""
        if not self.is_command():
            return None
        vals = self.amf()
        if len(vals) >= 4 and vals[0] == "onStatus" and isinstance(vals[3], dict):
            return vals[3]
        return None

    # FLV video tag body: frame type in the high nibble, codec in the low.
    def is_video_keyframe(self):
        return self.type == MSG_VIDEO and len(self.payload) > 0 and (self.payload[0] >> 4) == 1

    def is_avc_sequence_header(self):
        return (self.type == MSG_VIDEO and len(self.payload) >= 2
                and (self.payload[0] & 0x0F) == 7 and self.payload[1] == 0)

    def is_aac_sequence_header(self):
        return (self.type == MSG_AUDIO and len(self.payload) >= 2
                and (self.payload[0] >> 4) == 10 and self.payload[1] == 0)

    def is_coded_video(self):
        """A video message carrying a frame (not an AVC sequence header or end of sequence)."""
        if self.type != MSG_VIDEO or len(self.payload) < 2:
            return False
        if (self.payload[0] & 0x0F) == 7:
            return self.payload[1] == 1
        return True

    def __repr__(self):
        return "Message(type=%d, sid=%d, ts=%d, len=%d)" % (
            self.type, self.stream_id, self.timestamp, len(self.payload))


class _ChunkStream:
    __slots__ = ("timestamp", "delta", "length", "type", "stream_id", "ext", "buf",
                 "msg_timestamp")

    def __init__(self):
        self.timestamp = 0
        self.delta = 0
        self.length = 0
        self.type = 0
        self.stream_id = 0
        self.ext = False
        self.buf = None          # bytearray while a message is being assembled
        self.msg_timestamp = 0


def _basic_header(fmt, csid):
    if 2 <= csid <= 63:
        return bytes([(fmt << 6) | csid])
    if 64 <= csid <= 319:
        return bytes([fmt << 6, csid - 64])
    if 320 <= csid <= 65599:
        v = csid - 64
        return bytes([(fmt << 6) | 1, v & 0xFF, v >> 8])
    raise ValueError("bad chunk stream id %d" % csid)


# ---------------------------------------------------------------- client

class RtmpClient:
    """One RTMP connection. Methods raise RtmpClosed, RtmpError or TimeoutError."""

    def __init__(self, host, port, timeout=10.0, rcvbuf=None, sock=None):
        """Connects to host:port, or wraps an already connected sock."""
        self.host = host
        self.port = port
        self.timeout = timeout
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                if rcvbuf is not None:
                    # Before connect(), so the advertised window is small from the start.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
                sock.settimeout(timeout)
                sock.connect((host, port))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except Exception:
                sock.close()
                raise
        self.sock = sock
        self._rx = bytearray()
        self._in = {}
        self.in_chunk_size = 128
        self.out_chunk_size = 128
        self.window = 0
        self.bytes_in = 0
        self._last_ack = 0
        self._txn = 1
        self.statuses = []      # every onStatus code seen, in order
        self.app = None

    # ---- lifecycle

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- raw I/O

    def _recv_some(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("rtmp_min: timed out waiting for data")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("rtmp_min: timed out waiting for data") from None
        except (ConnectionResetError, BrokenPipeError) as e:
            raise RtmpClosed("connection reset: %s" % e) from None
        if not data:
            raise RtmpClosed("server closed the connection")
        self._rx += data
        self.bytes_in += len(data)
        return len(data)

    def _need(self, n, deadline):
        while len(self._rx) < n:
            self._recv_some(deadline)

    def _take(self, n, deadline):
        self._need(n, deadline)
        b = bytes(self._rx[:n])
        del self._rx[:n]
        return b

    def send_raw(self, data):
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    # ---- handshake

    def handshake(self):
        deadline = time.monotonic() + self.timeout
        c1 = struct.pack(">II", 0, 0) + os.urandom(HANDSHAKE_SIZE - 8)
        self.send_raw(b"\x03" + c1)
        s0 = self._take(1, deadline)
        if s0[0] != 3:
            raise RtmpError("handshake: S0 version %d" % s0[0])
        s1 = self._take(HANDSHAKE_SIZE, deadline)
        s2 = self._take(HANDSHAKE_SIZE, deadline)
        # S2 should echo C1's random bytes (time2 may differ).
        if s2[8:] != c1[8:]:
            raise RtmpError("handshake: S2 does not echo C1")
        self.send_raw(s1)

    # ---- chunk writer

    def write_message(self, csid, mtype, stream_id, timestamp, payload):
        self.send_raw(b"".join(self._chunks(csid, mtype, stream_id, timestamp, payload)))

    def _chunks(self, csid, mtype, stream_id, timestamp, payload):
        payload = bytes(payload)
        ts = timestamp & 0xFFFFFFFF
        ext = ts >= 0xFFFFFF
        ext_bytes = struct.pack(">I", ts) if ext else b""
        head = bytearray(_basic_header(0, csid))
        head += struct.pack(">I", 0xFFFFFF if ext else ts)[1:]
        head += struct.pack(">I", len(payload))[1:]
        head += bytes([mtype]) + struct.pack("<I", stream_id) + ext_bytes
        chunks = []
        pos = 0
        while True:
            n = min(self.out_chunk_size, len(payload) - pos)
            prefix = bytes(head) if pos == 0 else _basic_header(3, csid) + ext_bytes
            chunks.append(prefix + payload[pos:pos + n])
            pos += n
            if pos >= len(payload):
                return chunks

    def write_interleaved(self, messages):
        """Writes several messages (csid, type, stream_id, timestamp, payload),
        each on its own chunk stream, with their chunks alternating."""
        csids = [m[0] for m in messages]
        if len(set(csids)) != len(csids):
            raise ValueError("interleaved messages need distinct chunk streams")
        queues = [self._chunks(*m) for m in messages]
        out = bytearray()
        while any(queues):
            for q in queues:
                if q:
                    out += q.pop(0)
        self.send_raw(bytes(out))

    def set_chunk_size(self, size):
        """Sends Set Chunk Size and uses size for every later message."""
        self.write_message(CSID_CONTROL, MSG_SET_CHUNK_SIZE, 0, 0, struct.pack(">I", size))
        self.out_chunk_size = size

    # When true, commands go as AMF3 command messages (type 17) and data as
    # AMF3 data messages (type 15): a 0x00 format byte, then AMF0 values, as
    # Flash Player sends them with objectEncoding 3.
    amf3_messages = False

    def send_command(self, stream_id, name, txn, cmd_obj, *args, csid=CSID_COMMAND):
        payload = amf0_encode_all([name, txn, cmd_obj] + list(args))
        if self.amf3_messages:
            self.write_message(csid, MSG_COMMAND_AMF3, stream_id, 0, b"\x00" + payload)
        else:
            self.write_message(csid, MSG_COMMAND_AMF0, stream_id, 0, payload)

    def _user_control(self, event, data):
        self.write_message(CSID_CONTROL, MSG_USER_CONTROL, 0, 0, struct.pack(">H", event) + data)

    # ---- chunk reader

    def _read_chunk(self, deadline):
        """Reads one chunk; returns a complete Message or None."""
        b0 = self._take(1, deadline)[0]
        fmt = b0 >> 6
        csid = b0 & 0x3F
        if csid == 0:
            csid = 64 + self._take(1, deadline)[0]
        elif csid == 1:
            b = self._take(2, deadline)
            csid = 64 + b[0] + (b[1] << 8)
        st = self._in.get(csid)
        if st is None:
            if fmt != 0:
                raise RtmpError("chunk stream %d starts with fmt %d" % (csid, fmt))
            st = self._in[csid] = _ChunkStream()
        starting = st.buf is None
        if fmt == 0:
            h = self._take(11, deadline)
            ts = int.from_bytes(h[0:3], "big")
            st.length = int.from_bytes(h[3:6], "big")
            st.type = h[6]
            st.stream_id = struct.unpack("<I", h[7:11])[0]
            st.ext = ts == 0xFFFFFF
            if st.ext:
                ts = struct.unpack(">I", self._take(4, deadline))[0]
            st.timestamp = ts
            st.delta = ts  # RTMP 1.0 5.3.1.2.4: a following fmt 3 reuses it as delta
        elif fmt in (1, 2):
            h = self._take(7 if fmt == 1 else 3, deadline)
            delta = int.from_bytes(h[0:3], "big")
            if fmt == 1:
                st.length = int.from_bytes(h[3:6], "big")
                st.type = h[6]
            st.ext = delta == 0xFFFFFF
            if st.ext:
                delta = struct.unpack(">I", self._take(4, deadline))[0]
            st.delta = delta
            st.timestamp = (st.timestamp + delta) & 0xFFFFFFFF
        else:
            if st.ext:
                self._take(4, deadline)
            if starting:
                st.timestamp = (st.timestamp + st.delta) & 0xFFFFFFFF
        if fmt != 3 and not starting:
            raise RtmpError("chunk stream %d: new header (fmt %d) inside a message" % (csid, fmt))
        if starting:
            st.buf = bytearray()
            st.msg_timestamp = st.timestamp
        n = min(self.in_chunk_size, st.length - len(st.buf))
        st.buf += self._take(n, deadline)
        if len(st.buf) < st.length:
            return None
        msg = Message(st.type, st.stream_id, st.msg_timestamp, bytes(st.buf), csid,
                      time.monotonic())
        st.buf = None
        return msg

    def _handle_control(self, msg):
        if msg.type == MSG_SET_CHUNK_SIZE:
            size = struct.unpack(">I", msg.payload[:4])[0] & 0x7FFFFFFF
            if size < 1:
                raise RtmpError("Set Chunk Size %d" % size)
            self.in_chunk_size = size
        elif msg.type == MSG_ABORT:
            csid = struct.unpack(">I", msg.payload[:4])[0]
            if csid in self._in:
                self._in[csid].buf = None
        elif msg.type == MSG_WINDOW_ACK_SIZE:
            self.window = struct.unpack(">I", msg.payload[:4])[0]
        elif msg.type == MSG_USER_CONTROL and len(msg.payload) >= 2:
            event = struct.unpack(">H", msg.payload[:2])[0]
            if event == UC_PING_REQUEST:
                self._user_control(UC_PING_RESPONSE, msg.payload[2:6])
        elif msg.is_command():
            info = msg.status_info()
            if info is not None and isinstance(info.get("code"), str):
                self.statuses.append(info["code"])

    def _maybe_ack(self):
        if self.window and self.bytes_in - self._last_ack >= self.window:
            self._last_ack = self.bytes_in
            self.write_message(CSID_CONTROL, MSG_ACK, 0, 0,
                               struct.pack(">I", self.bytes_in & 0xFFFFFFFF))

    def read_message(self, timeout=None):
        """Returns the next complete message (control messages included)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            msg = self._read_chunk(deadline)
            self._maybe_ack()
            if msg is not None:
                self._handle_control(msg)
                return msg

    def read_until(self, pred, timeout):
        """Reads messages until pred(msg) is true; returns that message."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("rtmp_min: no matching message within %.1fs" % timeout)
            msg = self.read_message(remaining)
            if pred(msg):
                return msg

    def collect(self, pred, duration):
        """Reads for duration seconds; returns the messages for which pred holds.
        Stops early (returning what it has) if the server closes."""
        out = []
        deadline = time.monotonic() + duration
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return out
            try:
                msg = self.read_message(remaining)
            except TimeoutError:
                return out
            except RtmpClosed:
                return out
            if pred(msg):
                out.append(msg)

    def wait_status(self, timeout, codes=None):
        """Returns the info object of the next onStatus (whose code is in
        codes, if given; other onStatus messages are skipped)."""
        def match(m):
            info = m.status_info()
            return info is not None and (codes is None or info.get("code") in codes)
        return self.read_until(match, timeout).status_info()

    # ---- commands

    def _next_txn(self):
        self._txn += 1
        return self._txn

    def _wait_result(self, txn, timeout):
        def match(m):
            if not m.is_command():
                return False
            vals = m.amf()
            return (len(vals) >= 2 and vals[0] in ("_result", "_error")
                    and isinstance(vals[1], float) and int(vals[1]) == txn)
        msg = self.read_until(match, timeout)
        vals = msg.amf()
        if vals[0] == "_error":
            raise RtmpError("command %d failed: %r" % (txn, vals[2:]))
        return vals

    def connect(self, app, timeout=None):
        """Handshake (if not done), connect(app); returns the _result info object."""
        self.handshake()
        self.app = app
        cmd = {
            "app": app,
            "type": "nonprivate",
            "flashVer": "FMLE/3.0 (compatible; rtmp_min)",
            "tcUrl": "rtmp://%s:%d/%s" % (self.host, self.port, app),
            "fpad": False,
            "capabilities": 15.0,
            "audioCodecs": 3191.0,
            "videoCodecs": 252.0,
            "videoFunction": 1.0,
            "objectEncoding": 0.0,
        }
        self.send_command(0, "connect", 1, cmd)
        vals = self._wait_result(1, self.timeout if timeout is None else timeout)
        return vals[3] if len(vals) > 3 else None

    def create_stream(self, timeout=None):
        txn = self._next_txn()
        self.send_command(0, "createStream", txn, None)
        vals = self._wait_result(txn, self.timeout if timeout is None else timeout)
        if len(vals) < 4 or not isinstance(vals[3], float):
            raise RtmpError("createStream: no stream id in %r" % (vals,))
        return int(vals[3])

    def publish(self, name, stream_id, kind="live", timeout=None):
        """Sends publish; returns the code of the first onStatus reply."""
        self.send_command(stream_id, "publish", 0, None, name, kind, csid=8)
        info = self.wait_status(self.timeout if timeout is None else timeout)
        return info.get("code")

    def play(self, name, stream_id, start=-2.0, buffer_ms=1000):
        """Sends Set Buffer Length and play; read the replies with wait_status()."""
        self._user_control(UC_SET_BUFFER_LENGTH, struct.pack(">II", stream_id, buffer_ms))
        self.send_command(stream_id, "play", 0, None, name, float(start), csid=8)

    def delete_stream(self, stream_id):
        self.send_command(0, "deleteStream", 0, None, float(stream_id))

    # ---- media (publisher side)

    def send_audio(self, stream_id, timestamp, payload):
        self.write_message(CSID_AUDIO, MSG_AUDIO, stream_id, timestamp, payload)

    def send_video(self, stream_id, timestamp, payload):
        self.write_message(CSID_VIDEO, MSG_VIDEO, stream_id, timestamp, payload)

    def send_data(self, stream_id, timestamp, values):
        if self.amf3_messages:
            self.write_message(CSID_DATA, MSG_DATA_AMF3, stream_id, timestamp,
                               b"\x00" + amf0_encode_all(values))
        else:
            self.write_message(CSID_DATA, MSG_DATA_AMF0, stream_id, timestamp,
                               amf0_encode_all(values))


def open_player(host, port, app, name, timeout=10.0, rcvbuf=None):
    """Connects, creates a stream and sends play. Returns (client, stream_id);
    the caller reads the onStatus replies."""
    c = RtmpClient(host, port, timeout=timeout, rcvbuf=rcvbuf)
    try:
        c.connect(app)
        sid = c.create_stream()
        c.play(name, sid)
    except Exception:
        c.close()
        raise
    return c, sid


def open_publisher(host, port, app, name, timeout=10.0, amf3=False):
    """Connects and publishes (with AMF3-wrapped messages if amf3). Returns
    (client, stream_id, first onStatus code)."""
    c = RtmpClient(host, port, timeout=timeout)
    c.amf3_messages = amf3
    try:
        c.connect(app)
        c.send_command(0, "releaseStream", c._next_txn(), None, name)
        c.send_command(0, "FCPublish", c._next_txn(), None, name)
        sid = c.create_stream()
        code = c.publish(name, sid)
    except Exception:
        c.close()
        raise
    return c, sid, code
