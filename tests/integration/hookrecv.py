"""hookrecv: a webhook receiver for Weir's tests (integration and cluster).

A threaded HTTP server on 127.0.0.1 (ephemeral port) that records every POST
weir sends to it and answers as the test says:

    rx = HookReceiver()
    node(hooks=[{"id": "h1", "url": rx.url, "events": ["*"]}])
    rec = rx.wait_for("publish.start", timeout=10)   # or a predicate
    assert rx.verify_signature(rec, "s3cret")
    rx.close()

A record is a dict:
    path     request path without the query ("/hook")
    query    the query string ("" when none)
    headers  dict, header names lower-cased
    raw      the body bytes
    body     the body parsed as JSON (None if it is not JSON)
    type     body["type"] (or the X-Weir-Event header), None if neither
    t        time.monotonic() at arrival
    status   the status this receiver answered

Answers:
- decisions (body type "on_publish" / "on_play"): `decide(payload)` returns
  (status, delay_s); the default allows at once: (200, 0). The delay is spent
  before answering (bounded: close() cuts it short).
- notifications: `fail_next(n, status)` makes the next n notifications fail
  with status (retry tests); after that `notify_status` (default 200).

Everything is bounded: wait_for() has a timeout, delays end at close().
"""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOST = "127.0.0.1"
DECISION_TYPES = ("on_publish", "on_play")
MAX_BODY = 1 << 20  # refuse larger bodies (a test bug, not a payload)


def _allow(payload):
    return 200, 0.0


class HookReceiver:
    def __init__(self, path="/hook", tls=None):
        """tls: (cert file, key file): serve HTTPS with that certificate."""
        self.path = path
        self.scheme = "https" if tls else "http"
        self.decide = _allow            # fn(payload) -> (status, delay_s)
        self.notify_status = 200
        self._fail = []                 # statuses for the next notifications
        self._records = []
        self._cond = threading.Condition()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer((HOST, 0), self._handler_class())
        self._server.daemon_threads = True
        if tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="hookrecv", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ addresses

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        """The URL to give weir as a hook target."""
        return "%s://%s:%d%s" % (self.scheme, HOST, self.port, self.path)

    # ------------------------------------------------------------ behaviour

    def fail_next(self, n, status=500):
        """The next n notifications are answered with status (not 2xx: weir
        retries them)."""
        with self._cond:
            self._fail.extend([int(status)] * int(n))

    def _answer_for(self, rtype, body):
        """(status, delay_s) for one request."""
        if rtype in DECISION_TYPES:
            status, delay = self.decide(body)
            return int(status), float(delay)
        with self._cond:
            if self._fail:
                return self._fail.pop(0), 0.0
            return int(self.notify_status), 0.0

    # ------------------------------------------------------------ records

    def received(self, type=None):
        """Every record so far (a copy), or those of one type."""
        with self._cond:
            return [r for r in self._records if type is None or r["type"] == type]

    def unique(self, type=None):
        """Like received(), keeping only the first record of each payload id
        (what a receiver that drops duplicates would keep)."""
        seen, out = set(), []
        for r in self.received(type):
            key = (r["body"] or {}).get("id") if isinstance(r["body"], dict) else None
            if key is not None and key in seen:
                continue
            seen.add(key)
            out.append(r)
        return out

    def wait_for(self, pred, timeout=10.0):
        """The first record matching pred (a callable on the record, or an
        event type string); waits at most timeout seconds, then raises
        AssertionError listing what was seen."""
        if isinstance(pred, str):
            want = pred
            pred = lambda r: r["type"] == want  # noqa: E731
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for r in self._records:
                    if pred(r):
                        return r
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.2))
            seen = [(r["type"], r["status"], (r["body"] or {}).get("id")
                     if isinstance(r["body"], dict) else None) for r in self._records]
        raise AssertionError("no matching webhook within %.1fs; seen (type, answered, id): %s"
                             % (timeout, seen))

    @staticmethod
    def signature(raw, secret):
        """The X-Weir-Signature value weir must send for body raw."""
        if isinstance(secret, str):
            secret = secret.encode()
        return "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()

    def verify_signature(self, record, secret):
        """True when the record's X-Weir-Signature is the HMAC-SHA256 of its
        body with secret (constant-time compare)."""
        got = record["headers"].get("x-weir-signature", "")
        return hmac.compare_digest(got, self.signature(record["raw"], secret))

    def close(self):
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------ server

    def _handler_class(self):
        rx = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # quiet
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n < 0 or n > MAX_BODY:
                    self.send_error(413)
                    return
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw.decode("utf-8")) if raw else None
                except ValueError:
                    body = None
                rtype = body.get("type") if isinstance(body, dict) else None
                rtype = rtype or self.headers.get("X-Weir-Event")
                parts = urlsplit(self.path)
                rec = {
                    "path": parts.path, "query": parts.query,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "raw": raw, "body": body, "type": rtype, "t": time.monotonic(),
                    "status": None,
                }
                try:
                    status, delay = rx._answer_for(rtype, body)
                except Exception as e:  # a broken decide(): answer 500, keep the record
                    status, delay = 500, 0.0
                    rec["error"] = repr(e)
                rec["status"] = status
                with rx._cond:
                    rx._records.append(rec)
                    rx._cond.notify_all()
                if delay > 0 and rx._closing.wait(delay):
                    return
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # weir gave up (timeout) and closed

        return Handler
