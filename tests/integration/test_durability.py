"""Durability (issue 8): kill -9 of a node in the middle of a burst of relay and
hook changes over the API. After the restart every change that got a 2xx is
there, and the SQLite file passes PRAGMA integrity_check.

Four client threads each own four objects (two relays, two hooks) and change
only those, one request at a time, so the order of the changes of one object
is the order its thread sent them. Each request goes on a new connection
(http.client, no retries), and every answer is recorded: a 2xx answer's body
becomes the object's expected state (checked against what was sent), a
DELETE's 204 makes it expected absent. One thread kills the node with SIGKILL
right after it has sent request number N (N random) and before it reads the
answer, so at least that request is in flight at the kill; the other threads
are usually in the middle of theirs too. A request without an answer may have
been applied or not: the object must then be in its state before or after it.

Three rounds on the same database: burst, kill at a random point, copy the
crash image (db + -wal) and integrity-check the copy, restart, compare every
object with the model, integrity-check the live file. The next round starts
from the state found. The last restart is stopped with SIGTERM by the node
fixture (exit 0, no sanitizer report).
"""

import http.client
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import threading
import time

import pytest

import weirtest

THREADS = 4
RELAYS_PER_THREAD = 2
HOOKS_PER_THREAD = 2
ROUNDS = 3
MAX_REQUESTS_PER_ROUND = 400     # the burst's upper bound if the kill never came
KILL_AFTER = (60, 260)           # the kill follows the N-th request sent, N in this range
REQUEST_TIMEOUT_S = 10.0
BURST_TIMEOUT_S = 30.0           # one round's burst, bounded
RELAY_FIELDS = ("id", "direction", "app", "name", "urls", "mode", "idle_timeout_s",
                "retry_initial_ms", "retry_max_ms", "enabled", "source")
HOOK_FIELDS = ("id", "url", "events", "decide", "timeout_ms", "enabled", "secret_set",
               "source")
HOOK_EVENTS = ["publish.start", "publish.stop", "play.start", "play.stop"]


class NoAnswer(Exception):
    """The request got no (complete) answer: the node died under it."""


def request(port, method, path, body=None, after_send=None):
    """One request on a new connection. Returns (status, parsed JSON or None).
    Raises NoAnswer when the connection fails before a whole answer came;
    after_send() runs once the request bytes are written."""
    conn = http.client.HTTPConnection(weirtest.HOST, port, timeout=REQUEST_TIMEOUT_S)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            conn.request(method, path, body=data, headers=headers)
        except OSError as e:
            raise NoAnswer("send: %r" % e)
        if after_send is not None:
            after_send()
        try:
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise NoAnswer("answer: %r" % e)
        parsed = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode("utf-8", "replace")
        return resp.status, parsed
    finally:
        conn.close()


def spec(kind, rendered):
    fields = RELAY_FIELDS if kind == "relay" else HOOK_FIELDS
    return {k: rendered.get(k) for k in fields}


def sent_fields(kind, oid, body):
    """What a rendered object must show after body was applied by a PUT/POST."""
    want = {k: v for k, v in body.items() if k != "secret"}
    want["id"] = oid
    want["source"] = "api"
    if kind == "hook":
        want["secret_set"] = body.get("secret") is not None
    return want


def matches(state, want):
    return state is not None and all(state.get(k) == v for k, v in want.items())


class Obj:
    """One relay or hook and what the answers so far say about it."""

    def __init__(self, kind, oid, app=None):
        self.kind = kind
        self.id = oid
        self.app = app
        self.state = None         # expected spec (None: absent)
        self.unknown = None       # (op, want) of a request without an answer
        self.history = []         # (op, status or "no answer") in order

    @property
    def path(self):
        return "/api/v1/%ss/%s" % (self.kind, self.id)


def relay_body(obj, rng):
    direction = "pull" if obj.id.endswith("0") else "push"
    initial = rng.choice([100, 200, 500, 1000])
    body = {"direction": direction, "app": obj.app, "name": "*",
            "urls": ["rtmp://127.0.0.1:%d/src%d" % (rng.randint(1, 9), rng.randint(0, 999))],
            "retry_initial_ms": initial, "retry_max_ms": initial * rng.choice([1, 2, 10]),
            "enabled": rng.random() < 0.8}
    if direction == "pull":
        body["mode"] = "on_demand"
        body["idle_timeout_s"] = rng.randint(1, 300)
    return body


def hook_body(obj, rng, enabled=None):
    body = {"url": "http://127.0.0.1:9/%s/%d" % (obj.id, rng.randint(0, 99999)),
            # In the node's own order (it renders the types in that order).
            "events": [e for e in HOOK_EVENTS if rng.random() < 0.5] or ["*"],
            "decide": rng.choice([[], ["on_publish"], ["on_play"], ["on_publish", "on_play"]]),
            "timeout_ms": rng.randint(100, 60000),
            "enabled": rng.random() < 0.8 if enabled is None else enabled}
    if rng.random() < 0.5:
        body["secret"] = "k%08x" % rng.getrandbits(32)
    return body


def next_change(obj, rng):
    """(op, method, path, body, want, ok statuses): a create if the object is
    absent, else an update, a disable or a delete. want: the expected spec
    fields after it (None: absent; for a PATCH, filled in from the state)."""
    coll = "/api/v1/%ss" % obj.kind
    make = relay_body if obj.kind == "relay" else hook_body
    if obj.state is None:
        body = make(obj, rng)
        if rng.random() < 0.5:
            return ("create", "POST", coll, dict(body, id=obj.id),
                    sent_fields(obj.kind, obj.id, body), (201,))
        return "create", "PUT", obj.path, body, sent_fields(obj.kind, obj.id, body), (201,)
    r = rng.random()
    if r < 0.25:
        return "delete", "DELETE", obj.path, None, None, (204,)
    if r < 0.5:
        if obj.kind == "relay":
            enabled = not obj.state["enabled"]
            return ("disable" if not enabled else "enable", "PATCH", obj.path,
                    {"enabled": enabled}, dict(obj.state, enabled=enabled), (200,))
        body = hook_body(obj, rng, enabled=False)
        return "disable", "PUT", obj.path, body, sent_fields("hook", obj.id, body), (200,)
    if obj.kind == "relay" and rng.random() < 0.3:
        initial = rng.choice([100, 300, 700])
        patch = {"retry_initial_ms": initial, "retry_max_ms": initial * 4}
        return "update", "PATCH", obj.path, patch, dict(obj.state, **patch), (200,)
    body = make(obj, rng)
    return "update", "PUT", obj.path, body, sent_fields(obj.kind, obj.id, body), (200,)


class Burst:
    """THREADS workers changing their own objects until the node dies (or
    MAX_REQUESTS_PER_ROUND requests were sent, or BURST_TIMEOUT_S passed)."""

    def __init__(self, node, objs_by_thread, seed, kill_after):
        self.node = node
        self.objs_by_thread = objs_by_thread
        self.seed = seed
        self.kill_after = kill_after
        self.lock = threading.Lock()
        self.sent = 0
        self.killed = threading.Event()
        self.killed_at_sent = None
        self.errors = []
        self.answered = 0
        self.no_answer = 0

    def _after_send(self):
        with self.lock:
            self.sent += 1
            if self.sent == self.kill_after and not self.killed.is_set():
                self.node.proc.send_signal(signal.SIGKILL)
                self.killed_at_sent = self.sent
                self.killed.set()

    def _worker(self, t):
        rng = random.Random("%s/%d" % (self.seed, t))
        objs = self.objs_by_thread[t]
        deadline = time.monotonic() + BURST_TIMEOUT_S
        while time.monotonic() < deadline:
            with self.lock:
                if self.sent >= MAX_REQUESTS_PER_ROUND:
                    return
            obj = rng.choice(objs)
            op, method, path, body, want, ok = next_change(obj, rng)
            try:
                status, answer = request(self.node.api_port, method, path, body,
                                         after_send=self._after_send)
            except NoAnswer:
                with self.lock:
                    self.no_answer += 1
                obj.history.append((op, method, "no answer"))
                obj.unknown = (op, want)
                return  # the node is gone (the kill); this thread's burst ends
            with self.lock:
                self.answered += 1
            obj.history.append((op, method, status))
            if status not in ok:
                self.errors.append("%s %s %s -> %d %r (want %s; history %r)" % (
                    obj.kind, obj.id, method, status, answer, ok, obj.history))
                return
            if op == "delete":
                obj.state = None
                continue
            got = spec(obj.kind, answer if isinstance(answer, dict) else {})
            if not matches(got, want):
                self.errors.append("%s %s %s %r -> %d, body %r does not show %r" % (
                    obj.kind, obj.id, method, body, status, answer, want))
                return
            obj.state = got

    def run(self):
        threads = [threading.Thread(target=self._worker, args=(t,), daemon=True)
                   for t in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(BURST_TIMEOUT_S + REQUEST_TIMEOUT_S + 5)
        assert not any(th.is_alive() for th in threads), "a burst thread did not end"


def read_all(api_port, kind):
    status, body = request(api_port, "GET", "/api/v1/%ss" % kind)
    assert status == 200, (status, body)
    return {x["id"]: spec(kind, x) for x in body[kind + "s"]}


def integrity(path):
    con = sqlite3.connect(path, timeout=10)
    try:
        return [row[0] for row in con.execute("PRAGMA integrity_check").fetchall()]
    finally:
        con.close()


def crash_image_integrity(db, dest):
    """integrity_check of a copy of the files as the kill left them (the copy,
    not the original, is recovered by sqlite3, so the node's own restart
    still starts from the crash image)."""
    os.makedirs(dest, exist_ok=True)
    copy = os.path.join(dest, "weir.db")
    for suffix in ("", "-wal"):
        if os.path.exists(db + suffix):
            shutil.copyfile(db + suffix, copy + suffix)
    return integrity(copy)


def test_acknowledged_relay_and_hook_changes_survive_kill_9(node, tmp_path):
    n = node()
    db = n.config["storage"]["path"]
    seed = os.environ.get("WEIR_DURABILITY_SEED") or "%x" % random.getrandbits(32)
    objs_by_thread = [
        [Obj("relay", "t%d-r%d" % (t, k), app="dur%d%d" % (t, k))
         for k in range(RELAYS_PER_THREAD)] +
        [Obj("hook", "t%d-h%d" % (t, k)) for k in range(HOOKS_PER_THREAD)]
        for t in range(THREADS)]
    objs = [o for group in objs_by_thread for o in group]
    rng = random.Random(seed)
    totals = []
    for rnd in range(ROUNDS):
        kill_after = rng.randint(*KILL_AFTER)
        burst = Burst(n, objs_by_thread, "%s/%d" % (seed, rnd), kill_after)
        for o in objs:
            o.history = []
            o.unknown = None
        burst.run()
        where = "seed %s round %d (kill after request %d)" % (seed, rnd, kill_after)
        assert not burst.errors, "%s: unexpected answers:\n%s\n%s" % (
            where, "\n".join(burst.errors), n.diagnostics())
        assert burst.killed.is_set(), "%s: the burst ended after %d requests without the kill" % (
            where, burst.sent)
        n.proc.wait(10)
        assert n.proc.returncode == -signal.SIGKILL, (where, n.proc.returncode)
        assert burst.no_answer >= 1, where  # the killer's own request at least
        totals.append([kill_after, burst.answered, burst.no_answer])

        check = crash_image_integrity(db, str(tmp_path / ("crash%d" % rnd)))
        assert check == ["ok"], "%s: crash image integrity_check: %r" % (where, check)

        n.start()
        found = {"relay": read_all(n.api_port, "relay"), "hook": read_all(n.api_port, "hook")}
        lost = []
        unanswered = []
        for o in objs:
            actual = found[o.kind].pop(o.id, None)
            if o.unknown is None:
                ok = actual == o.state
                expect = "%r" % (o.state,)
            else:
                op, want = o.unknown
                after = actual is None if want is None else matches(actual, want)
                ok = actual == o.state or after
                unanswered.append("%s %s %s: %s" % (o.kind, o.id, op, (
                    "unchanged" if actual == o.state else "applied")))
                expect = "%r (before the unanswered %s) or %r" % (o.state, op, want)
            if not ok:
                lost.append("%s %s: after the restart %r, expected %s; its requests this round: "
                            "%r" % (o.kind, o.id, actual, expect, o.history[-12:]))
            o.state = actual  # the next round starts from what is there
        stray = {k: sorted(v) for k, v in found.items() if v}
        assert not lost and not stray, "%s: changes lost over kill -9:\n%s\nobjects no one " \
            "made: %r\n%s" % (where, "\n".join(lost), stray, n.diagnostics())
        check = integrity(db)
        assert check == ["ok"], "%s: integrity_check after restart: %r" % (where, check)
        totals[-1].append(unanswered)
        print("%s: %d answered, %d without an answer: %s" % (
            where, burst.answered, burst.no_answer, "; ".join(unanswered)))

    # Every round did real work before its kill.
    assert all(t[1] >= KILL_AFTER[0] // 2 for t in totals), totals
    con = sqlite3.connect(db, timeout=10)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        con.close()


# ------------------------------------------- the database deleted or locked while running

def _relay_post(api_port, oid):
    return request(api_port, "POST", "/api/v1/relays", {
        "id": oid, "direction": "push", "app": "live", "name": "*",
        "urls": ["rtmp://127.0.0.1:9/x"]})


def _db_files(db):
    return [db + suffix for suffix in ("", "-wal", "-shm")]


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_lost_database_turns_not_ready_and_refuses_changes(node, tmp_path, how):
    """The database files deleted (or the file replaced by a copy) under a
    running node: the node notices within about a second, logs it at error
    level, sends a storage.lost webhook, /readyz answers 503 storage_lost, and
    changes that need storage are refused (503) instead of acknowledged; after
    a restart (deleted case) the node has a new id and the API relay is gone."""
    from apischema import Api, default_schema
    from hookrecv import HookReceiver
    with HookReceiver() as rx:
        n = node(hooks=[{"id": "lost", "url": rx.url, "events": ["storage.lost"]}])
        api = Api(n.api_url)
        db = n.config["storage"]["path"]
        old_id = api.get("/api/v1/node").json()["id"]
        status, _ = _relay_post(n.api_port, "before")
        assert status == 201
        assert api.get("/readyz").status_code == 200

        if how == "deleted":
            for f in _db_files(db):
                if os.path.exists(f):
                    os.remove(f)
        else:
            shutil.copy(db, db + ".copy")
            os.replace(db + ".copy", db)
        deadline = time.monotonic() + 5
        r = api.get("/readyz")
        while r.status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
            r = api.get("/readyz")
        assert r.status_code == 503, r.text
        assert "storage_lost" in r.json()["reasons"], r.json()
        rec = rx.wait_for("storage.lost", timeout=5)
        body = rec["body"]
        doc = default_schema()
        s = doc.doc["webhooks"]["storage.lost"]["post"]["requestBody"]["content"][
            "application/json"]["schema"]
        doc.check(s, body, "webhook storage.lost")
        assert body["path"] == db and body["message"] == "%s was %s" % (db, how), body
        assert body["reason"] == "error", body
        lines = [ln for ln in n.log_text().splitlines()
                 if "storage: %s was %s while the node runs" % (db, how) in ln]
        assert lines and " error " in lines[0], n.diagnostics()

        status, answer = _relay_post(n.api_port, "after")
        assert status == 503, answer
        assert answer["error"]["message"].startswith("storage lost:"), answer
        r = api.patch("/api/v1/node", json={"log_level": "info"})
        assert r.status_code == 503 and "storage lost" in r.text, r.text
        r = api.post("/api/v1/node/drain", json={})
        assert r.status_code == 503 and "storage lost" in r.text, r.text
        ids = [x["id"] for x in api.get("/api/v1/relays").json()["relays"]]
        assert "after" not in ids and "before" in ids, ids

        assert n.stop() == 0, n.diagnostics()
        if how == "deleted":
            n.start()
            api = Api(n.api_url)
            assert api.get("/api/v1/node").json()["id"] != old_id
            assert api.get("/api/v1/relays").json()["relays"] == []
            assert api.get("/readyz").status_code == 200


def test_sigterm_with_writes_waiting_on_a_locked_database_is_bounded(node):
    """Another process holds the write lock (BEGIN EXCLUSIVE) and several relay
    POSTs wait on it (each would take the 5 s busy timeout): SIGTERM exits 0
    within the busy timeout plus 3 s, and says how many writes were lost."""
    n = node()
    db = n.config["storage"]["path"]
    # timeout: the node's own start-up writes (node.start, the ETag key on a first
    # start) may hold the lock a moment; test_relay_changes' lock holder waits too.
    lock = sqlite3.connect(db, timeout=10, isolation_level=None)
    answers = []
    try:
        lock.execute("BEGIN EXCLUSIVE")

        def post(i):
            try:
                answers.append(_relay_post(n.api_port, "locked%d" % i)[0])
            except NoAnswer:
                answers.append("no answer")

        threads = [threading.Thread(target=post, args=(i,), daemon=True) for i in range(5)]
        for t in threads:
            t.start()
        time.sleep(1.0)  # every request queued behind the first busy write
        t0 = time.monotonic()
        rc = n.stop(signal.SIGTERM, timeout=30)
        elapsed = time.monotonic() - t0
    finally:
        lock.rollback()
        lock.close()
    for t in threads:
        t.join(10)
    assert rc == 0, n.diagnostics()
    assert elapsed < 5.0 + 3.0, "SIGTERM took %.1f s\n%s" % (elapsed, n.diagnostics())
    assert 201 not in answers, answers
    assert re.search(r"storage: stopping: \d+ events and \d+ changes not written \(the "
                     r"database is locked by another process", n.log_text()), n.diagnostics()
