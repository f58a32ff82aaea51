"""Relay (and hook) changes over the API agree with SQLite after every
outcome (issue 16, items 5 and 6).

- With the database's write lock held by another process (this test, with
  python's sqlite3, for longer than the node's busy_timeout of 5 s), a PUT,
  POST or DELETE of a relay is answered 503 and changes nothing: not the
  relay the API shows (GET, while the change waits and after), not its
  running link (the URL its attempts go to, its relay.fail events), not the
  table (read after the lock is released, and after a restart). Once the
  lock is released the same requests commit, and the answer, memory and
  SQLite agree, also after a restart.
- A PUT and a DELETE of the same object sent at once, 50 times: no 500, each
  answer is one the document allows, and what they say about their order
  (a PUT that replaced went before the DELETE, one that created went after)
  is what GET and the table show, and what a restart brings back.
- Two POSTs of one id at once: one is created, the other is a conflict.

Every answer is checked against openapi.yaml (apischema.Api).
"""

import json
import signal
import sqlite3
import subprocess
import threading
import time

import pytest
import requests

import weirtest
from relayutil import (APP, all_events, api_of, assert_error, get_relay, list_relays, spec_of,
                       wait_for)

BUSY_TIMEOUT_S = 5.0        # storage/storage.c: busy_timeout=5000
LOCKED_ANSWER_S = 40.0      # a change behind event batches that each wait out the timeout
ROUNDS = 50
RETRY = {"retry_initial_ms": 300, "retry_max_ms": 600}


def dead_url(name="x"):
    """A URL nothing listens on: a pull relay to it keeps failing, and each
    attempt is a relay.fail event naming the URL."""
    return "rtmp://127.0.0.1:%d/%s/%s" % (weirtest.free_port(), APP, name)


def pull_always(url, name, app=APP):
    body = {"direction": "pull", "app": app, "name": name, "urls": [url], "mode": "always"}
    body.update(RETRY)
    return body


def stored(db, table="relays"):
    """{id: spec} as the table holds it now (a reader beside the node)."""
    con = sqlite3.connect(db, timeout=10)
    try:
        return {i: json.loads(s) for i, s in con.execute("SELECT id, spec FROM %s" % table)}
    finally:
        con.close()


def stored_spec(row):
    """The configuration fields of a stored relay, as spec_of() shows them."""
    return {k: row.get(k) for k in ("id", "direction", "app", "name", "urls", "mode",
                                    "idle_timeout_s", "retry_initial_ms", "retry_max_ms",
                                    "enabled", "source")}


class WriteLock:
    """The database's write lock, held by this process (BEGIN IMMEDIATE)
    until release(); the node's writes wait out their busy timeout and
    fail."""

    def __init__(self, db):
        self.con = sqlite3.connect(db, timeout=10, isolation_level=None)
        self.con.execute("BEGIN IMMEDIATE")
        self.since = time.monotonic()

    def release(self):
        held = time.monotonic() - self.since
        self.con.execute("ROLLBACK")
        self.con.close()
        return held


def fails_of(api, rid, after):
    return [e for e in all_events(api, after) if e["type"] == "relay.fail" and
            e.get("relay_id") == rid]


def last_event_id(api):
    ev = all_events(api)
    return ev[-1]["id"] if ev else 0


def wait_fail_to(api, rid, url, after, diag):
    """Waits for a relay.fail of rid after event id `after`; every such
    event names url (the link runs with that spec and no other)."""
    evs = wait_for("relay.fail of %s" % rid, lambda: fails_of(api, rid, after), timeout=15,
                   diag=diag)
    assert {e["url"] for e in evs} == {url}, evs
    return evs


def locked_request(n, db, method, path, body, during=None):
    """method path with the write lock held until its answer came; during(),
    if given, runs while the request waits. Returns the answer."""
    api = api_of(n)
    api.timeout = LOCKED_ANSWER_S
    lock = WriteLock(db)
    out = {}
    th = threading.Thread(target=lambda: out.update(r=api.request(method, path, json=body)))
    try:
        th.start()
        if during is not None:
            time.sleep(0.5)
            during()
        th.join(LOCKED_ANSWER_S + 5)
    finally:
        held = lock.release()
    assert not th.is_alive(), "%s %s: no answer within %.0fs" % (method, path, LOCKED_ANSWER_S)
    assert held > BUSY_TIMEOUT_S, "the lock was held only %.1fs" % held
    return out["r"]


def restart(n):
    assert n.stop() == 0
    n.start()


# ------------------------------------------------------------------ (a) a locked database

def test_changes_refused_under_a_held_write_lock_change_nothing(node):
    n = node()
    api = api_of(n)
    db = n.config["storage"]["path"]
    url_a, url_b, url_c = dead_url("a"), dead_url("b"), dead_url("c")
    r = api.put("/api/v1/relays/r1", json=pull_always(url_a, "one"))
    assert r.status_code == 201, r.text
    r1 = spec_of(r.json())
    wait_fail_to(api, "r1", url_a, 0, [n])

    # PUT under the lock: 503; meanwhile and after, the relay is as it was.
    def still_a():
        assert spec_of(get_relay(api, "r1")) == r1, "changed before it was stored"
    r = locked_request(n, db, "PUT", "/api/v1/relays/r1", pull_always(url_b, "one"), still_a)
    assert_error(r, 503, "unavailable")
    assert "nothing changed" in r.json()["error"]["message"], r.text
    mark = last_event_id(api)
    assert spec_of(get_relay(api, "r1")) == r1
    assert {k: stored_spec(v) for k, v in stored(db).items()} == {"r1": r1}
    wait_fail_to(api, "r1", url_a, mark, [n])  # the link still goes to url_a

    # POST under the lock: 503, no relay r2 anywhere, nothing of it runs.
    r = locked_request(n, db, "POST", "/api/v1/relays",
                       dict(pull_always(url_c, "two", app="other"), id="r2"))
    assert_error(r, 503, "unavailable")
    mark = last_event_id(api)
    assert_error(api.get("/api/v1/relays/r2"), 404, "not_found")
    assert sorted(stored(db)) == ["r1"]

    # DELETE under the lock: 503, r1 still there and still running.
    r = locked_request(n, db, "DELETE", "/api/v1/relays/r1", None)
    assert_error(r, 503, "unavailable")
    assert spec_of(get_relay(api, "r1")) == r1
    assert sorted(stored(db)) == ["r1"]
    wait_fail_to(api, "r1", url_a, mark, [n])
    assert fails_of(api, "r2", 0) == [], "the refused POST ran"

    # A restart brings back what SQLite holds: r1 as first created.
    restart(n)
    assert {x["id"]: spec_of(x) for x in list_relays(api)} == {"r1": r1}

    # Lock released: the same changes commit, answers, memory and SQLite agree.
    r = api.put("/api/v1/relays/r1", json=pull_always(url_b, "one"))
    assert r.status_code == 200, r.text
    r1b = spec_of(r.json())
    assert r1b["urls"] == [url_b] and spec_of(get_relay(api, "r1")) == r1b
    assert stored_spec(stored(db)["r1"]) == r1b
    wait_fail_to(api, "r1", url_b, last_event_id(api), [n])
    r = api.post("/api/v1/relays", json=dict(pull_always(url_c, "two", app="other"), id="r2"))
    assert r.status_code == 201, r.text
    r2 = spec_of(r.json())
    r = api.delete("/api/v1/relays/r1")
    assert r.status_code == 204, r.text
    assert_error(api.get("/api/v1/relays/r1"), 404, "not_found")
    assert {k: stored_spec(v) for k, v in stored(db).items()} == {"r2": r2}
    restart(n)
    assert {x["id"]: spec_of(x) for x in list_relays(api)} == {"r2": r2}
    assert {k: stored_spec(v) for k, v in stored(db).items()} == {"r2": r2}


# ------------------------------------------------------------------ (b) PUT and DELETE at once

def at_once(api, reqs):
    """Sends the requests (method, path, body) from one thread each, released
    together; returns their answers in the same order."""
    gate = threading.Barrier(len(reqs))
    out = [None] * len(reqs)

    def one(i, method, path, body):
        gate.wait(5)
        out[i] = api.request(method, path, json=body)

    threads = [threading.Thread(target=one, args=(i,) + req) for i, req in enumerate(reqs)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert not any(th.is_alive() for th in threads), "a request got no answer"
    return out


RELAY_FIELDS = ("id", "direction", "app", "name", "urls", "mode", "idle_timeout_s",
                "retry_initial_ms", "retry_max_ms", "enabled", "source")
HOOK_FIELDS = ("id", "url", "events", "decide", "timeout_ms", "enabled", "source")


def body_of(kind, k):
    if kind == "relays":
        return {"direction": "push", "app": APP, "name": "*",
                "urls": ["rtmp://127.0.0.1:1/live%d" % k], "retry_initial_ms": 100 + k,
                "retry_max_ms": 5000}
    return {"url": "http://127.0.0.1:1/hook%d" % k, "events": ["publish.start"],
            "timeout_ms": 1000 + k}


def shown(kind, obj):
    fields = RELAY_FIELDS if kind == "relays" else HOOK_FIELDS
    return None if obj is None else {k: obj.get(k) for k in fields}


def sent(kind, oid, body):
    return dict(body, id=oid, source="api")


def expected_final(existed, put, delete):
    """What the two answers say is left: True (the PUT's object), False
    (nothing), or an error naming what cannot be."""
    if existed and (put, delete) == (200, 204):
        return False  # the PUT replaced it, then the DELETE removed it
    if existed and (put, delete) == (201, 204):
        return True   # the DELETE went first, the PUT created it again
    if not existed and (put, delete) == (201, 204):
        return False  # the PUT created it, the DELETE removed it
    if not existed and (put, delete) == (201, 404):
        return True   # the DELETE found nothing, the PUT created it
    return "answers %d (PUT) and %d (DELETE) with the object %s before" % (
        put, delete, "there" if existed else "absent")


def check_round(api, db, kind, oid, k, existed):
    path = "/api/v1/%s/%s" % (kind, oid)
    body = body_of(kind, k)
    put, delete = at_once(api, [("PUT", path, body), ("DELETE", path, None)])
    where = "round %d (%s before): PUT %d %s / DELETE %d %s" % (
        k, "there" if existed else "absent", put.status_code, put.text[:200],
        delete.status_code, delete.text[:200])
    final = expected_final(existed, put.status_code, delete.status_code)
    assert final in (True, False), "%s: %s" % (where, final)
    want = sent(kind, oid, body)
    assert {f: put.json().get(f) for f in want} == want, where
    got = api.get(path)
    if final:
        assert got.status_code == 200, where
        assert {f: got.json().get(f) for f in want} == want, where
    else:
        assert_error(got, 404, "not_found")
    row = stored(db, kind).get(oid)
    if final:  # the table holds the spec as sent ("source" is implied there)
        want_row = {f: v for f, v in want.items() if f != "source"}
        assert row is not None and {f: row.get(f) for f in want_row} == want_row, (where, row)
    else:
        assert row is None, (where, row)
    return shown(kind, got.json()) if final else None


def put_delete_rounds(n, kind, oid):
    api = api_of(n)
    db = n.config["storage"]["path"]
    path = "/api/v1/%s/%s" % (kind, oid)
    state = None
    outcomes = {}
    for k in range(ROUNDS):
        existed = k % 2 == 0
        if existed and state is None:
            assert api.put(path, json=body_of(kind, 1000 + k)).status_code == 201
        elif not existed and state is not None:
            assert api.delete(path).status_code == 204
        state = check_round(api, db, kind, oid, k, existed)
        key = ("there" if existed else "absent", "PUT last" if state else "DELETE last")
        outcomes[key] = outcomes.get(key, 0) + 1
    print("%s: %r" % (kind, outcomes))
    restart(n)
    got = api.get(path)
    assert (shown(kind, got.json()) if got.status_code == 200 else None) == state
    assert (oid in stored(db, kind)) == (state is not None)


def test_put_and_delete_of_one_relay_at_once(node):
    n = node()
    put_delete_rounds(n, "relays", "race")
    assert "out of memory" not in n.log_text()


def test_put_and_delete_of_one_hook_at_once(node):
    n = node()
    put_delete_rounds(n, "hooks", "race")
    assert "out of memory" not in n.log_text()


@pytest.mark.parametrize("kind", ["relays", "hooks"])
def test_two_posts_of_one_id_at_once(node, kind):
    n = node()
    api = api_of(n)
    db = n.config["storage"]["path"]
    for k in range(10):
        oid = "dup%d" % k
        a = dict(body_of(kind, 1), id=oid)
        b = dict(body_of(kind, 2), id=oid)
        ra, rb = at_once(api, [("POST", "/api/v1/" + kind, a), ("POST", "/api/v1/" + kind, b)])
        codes = sorted([ra.status_code, rb.status_code])
        assert codes == [201, 409], (k, ra.text, rb.text)
        won = a if ra.status_code == 201 else b
        lost = rb if ra.status_code == 201 else ra
        assert_error(lost, 409, "conflict", "id")
        want = sent(kind, oid, won)
        assert {f: api.get("/api/v1/%s/%s" % (kind, oid)).json().get(f) for f in want} == want
        row = stored(db, kind)[oid]
        assert {f: row.get(f) for f in want if f != "source"} == {
            f: v for f, v in want.items() if f != "source"}


# ------------------------------------------------------------------ stopping with changes queued

def test_stop_with_changes_waiting_for_their_turn(node):
    """SIGTERM while changes wait behind a locked write: the node stores them
    one after another before it stops (exit 0, no sanitizer report), and
    what a restart shows agrees with every answer that came."""
    n = node()
    api = api_of(n)
    api.timeout = LOCKED_ANSWER_S
    db = n.config["storage"]["path"]
    ids = ["s%d" % i for i in range(4)]
    answers = {}

    def put(oid):
        try:
            answers[oid] = api.put("/api/v1/relays/" + oid, json=body_of("relays", 7)).status_code
        except requests.RequestException:
            answers[oid] = None  # the node stopped before it answered

    lock = WriteLock(db)
    threads = [threading.Thread(target=put, args=(oid,)) for oid in ids]
    try:
        for th in threads:
            th.start()
            time.sleep(0.1)
        time.sleep(0.5)
        n.send_signal(signal.SIGTERM)
        time.sleep(1.0)
    finally:
        lock.release()
    for th in threads:
        th.join(LOCKED_ANSWER_S + 5)
    try:
        rc = n.proc.wait(weirtest.NODE_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        rc = "still running %.0f s after SIGTERM" % weirtest.NODE_STOP_TIMEOUT
    assert rc == 0, "%s\n%s" % (rc, n.diagnostics())
    n.returncode = rc
    assert not n.sanitizer_report()
    print("answers: %r" % answers)
    assert set(answers.values()) <= {201, 503, None}, answers
    n.start()
    there = {x["id"] for x in list_relays(api)}
    for oid, status in answers.items():
        if status == 201:
            assert oid in there, (answers, there)
        elif status == 503:
            assert oid not in there, (answers, there)
    assert there == set(stored(db)), (there, sorted(stored(db)))


# ------------------------------------------------------------------ ETag / If-Match (issue 18)

@pytest.mark.parametrize("kind", ["relays", "hooks"])
def test_etag_and_if_match_keep_two_writers_apart(node, kind):
    """Every relay and hook carries an ETag (header and `etag` field) of its
    configuration; a PUT/PATCH/DELETE with a stale If-Match is a 412 that
    changes nothing; the tag is stable for the same configuration, across a
    restart too."""
    n = node()
    api = api_of(n)
    if kind == "relays":
        body = {"id": "e1", "direction": "pull", "app": APP, "name": "cam",
                "urls": ["rtmp://127.0.0.1:1/live/cam"], "mode": "on_demand"}
        changed = dict(body, retry_max_ms=9000)
    else:
        body = {"id": "e1", "url": "http://127.0.0.1:1/hook", "events": ["config.change"]}
        changed = dict(body, timeout_ms=3000)
    path = "/api/v1/%s/e1" % kind
    r = api.put(path, json=body)
    assert r.status_code == 201, r.text
    tag = r.headers["ETag"]
    assert r.json()["etag"] == tag
    g = api.get(path)
    assert g.headers["ETag"] == tag and g.json()["etag"] == tag
    listed = api.get("/api/v1/" + kind).json()[kind]
    assert [o["etag"] for o in listed] == [tag]
    # the same configuration again: the same tag (and nothing written)
    r = api.put(path, json=body, headers={"If-Match": tag})
    assert r.status_code == 200 and r.headers["ETag"] == tag, r.text
    # writer A changes it with the tag it read...
    r = api.put(path, json=changed, headers={"If-Match": tag})
    assert r.status_code == 200, r.text
    new_tag = r.headers["ETag"]
    assert new_tag != tag
    # ...writer B, holding the old tag, is refused and changes nothing
    for method, b in (("PUT", body), ("DELETE", None)) + ((("PATCH", {"enabled": False}),)
                                                         if kind == "relays" else ()):
        r = api.request(method, path, json=b, headers={"If-Match": tag})
        assert_error(r, 412, "precondition_failed")
        assert new_tag in r.json()["error"]["message"]
    assert api.get(path).headers["ETag"] == new_tag
    # "*": anything that exists; a weak tag never matches
    assert api.put(path, json=changed, headers={"If-Match": "*"}).status_code == 200
    assert_error(api.put(path, json=changed, headers={"If-Match": "W/" + new_tag}), 412,
                 "precondition_failed")
    # stable across a restart (the key is kept in SQLite)
    n.proc.send_signal(signal.SIGTERM)
    n.proc.wait(15)
    n.start()
    assert api.get(path).headers["ETag"] == new_tag
    r = api.delete(path, headers={"If-Match": new_tag})
    assert r.status_code == 204, r.text
    # a missing object never matches
    assert_error(api.put(path, json=body, headers={"If-Match": "*"}), 412, "precondition_failed")
    assert api.get(path).status_code == 404
