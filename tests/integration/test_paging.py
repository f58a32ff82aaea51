"""Paging and filters on the API's lists, and unknown query parameters, against
a real node (issue 18): enough sessions (raw RTMP publishers from rtmp_min,
raw HTTP-FLV players), streams, relays (created over the API, on_demand or
disabled, so they start nothing), hooks and events to page through with
small limits. Every answer is checked against openapi.yaml (apischema.Api),
including that the parameters a 2xx answer accepted are valid there."""

import urllib.parse

import pytest

import rtmp_min
import weirtest
from apischema import Api
from relayutil import assert_error, create_relay, relay_body, wait_for

# 12 streams on two apps: 2 of "a", 10 of "b" (names sort differently from
# their creation order), each with a raw RTMP publisher.
STREAMS = [("b", "s%02d" % i) for i in (9, 3, 7, 1, 5, 0, 2, 8, 4, 6)] + [("a", "z"), ("a", "y")]
PLAYERS = 25  # HTTP-FLV players, spread over the streams


def walk(api, path, key, limit, **params):
    """Follows next_after from the first page to the last; returns the items
    and the number of pages. Each page holds at most limit items, and only
    the last page has next_after null."""
    items, after, pages = [], None, 0
    while True:
        q = dict(params, limit=limit)
        if after is not None:
            q["after"] = after
        r = api.get(path, params=q)
        assert r.status_code == 200, "%s %r -> %d %s" % (path, q, r.status_code, r.text)
        body = r.json()
        page = body[key]
        pages += 1
        assert len(page) <= limit, body
        items += page
        after = body["next_after"]
        if after is None:
            return items, pages
        assert len(page) == limit, "a page before the last is full: %r" % body
        assert pages < 1000, "the walk does not end"


def ids(items, key="id"):
    return [x[key] for x in items]


@pytest.fixture
def crowd(node):
    """A node with STREAMS published (raw RTMP) and PLAYERS HTTP-FLV players."""
    n = node()
    api = Api(n.api_url)
    clients = []
    for app, name in STREAMS:
        c, _, code = rtmp_min.open_publisher(n.host, n.rtmp_port, app, name)
        clients.append(c)
        assert code == "NetStream.Publish.Start", code
    for i in range(PLAYERS):
        app, name = STREAMS[i % len(STREAMS)]
        req = ("GET /%s/%s.flv HTTP/1.1\r\nHost: x\r\n\r\n" % (app, name)).encode()
        clients.append(weirtest.http_open(n.http_port, req, timeout=30))
    want = len(STREAMS) + PLAYERS
    wait_for("%d sessions" % want,
             lambda: len(api.get("/api/v1/sessions").json()["sessions"]) == want)
    yield n, api
    for c in clients:
        c.close()


def test_sessions_pages_and_filters(crowd):
    n, api = crowd
    r = api.get("/api/v1/sessions")
    every = r.json()["sessions"]
    assert r.json()["next_after"] is None  # the default limit holds them all
    assert len(every) == len(STREAMS) + PLAYERS
    assert ids(every) == sorted(ids(every)), "sessions come in id order"
    for limit in (1, 4, 7, 37):
        got, pages = walk(api, "/api/v1/sessions", "sessions", limit)
        assert ids(got) == ids(every), "limit %d" % limit
        assert pages == -(-len(every) // limit), "a full last page says it is the last"
    # Filters apply before the page is cut, and combine with AND.
    players, _ = walk(api, "/api/v1/sessions", "sessions", 6, protocol="http-flv")
    assert len(players) == PLAYERS and {s["role"] for s in players} == {"player"}
    pubs, _ = walk(api, "/api/v1/sessions", "sessions", 5, role="publisher")
    assert sorted((s["app"], s["name"]) for s in pubs) == sorted(STREAMS)
    on_a, _ = walk(api, "/api/v1/sessions", "sessions", 2, app="a")
    assert {s["app"] for s in on_a} == {"a"} and len(on_a) == 2 + sum(
        1 for i in range(PLAYERS) if STREAMS[i % len(STREAMS)][0] == "a")
    one, _ = walk(api, "/api/v1/sessions", "sessions", 1, app="b", name="s03", role="player")
    want = sum(1 for i in range(PLAYERS) if STREAMS[i % len(STREAMS)] == ("b", "s03"))
    assert [(s["app"], s["name"], s["role"]) for s in one] == [("b", "s03", "player")] * want
    # A cursor past every id: an empty last page.
    r = api.get("/api/v1/sessions", params={"after": ids(every)[-1]})
    assert r.json() == {"sessions": [], "next_after": None}


def test_sessions_walk_while_the_list_changes(crowd):
    """Sessions that stay open are seen once each; one that closes before the
    walk reaches it is not seen; one that opens during the walk comes at the
    end (ids only grow)."""
    n, api = crowd
    every = ids(api.get("/api/v1/sessions").json()["sessions"])
    r = api.get("/api/v1/sessions", params={"limit": 15})
    first = r.json()
    seen = ids(first["sessions"])
    assert seen == every[:15] and first["next_after"] == every[14]
    # Kick a player already seen and one not yet seen (the first 12 are the
    # publishers); open a new player.
    assert api.delete("/api/v1/sessions/%d" % every[13]).status_code == 200
    assert api.delete("/api/v1/sessions/%d" % every[25]).status_code == 200
    req = b"GET /b/s01.flv HTTP/1.1\r\nHost: x\r\n\r\n"
    late = weirtest.http_open(n.http_port, req, timeout=30)
    try:
        wait_for("the new player", lambda: len(api.get("/api/v1/sessions").json()["sessions"])
                 == len(every) - 1)
        rest, _ = walk(api, "/api/v1/sessions", "sessions", 4)  # from the start, to compare
        after_first, after = [], first["next_after"]
        while after is not None:
            page = api.get("/api/v1/sessions", params={"after": after, "limit": 4}).json()
            after_first += ids(page["sessions"])
            after = page["next_after"]
        assert every[25] not in after_first
        want = [i for i in every[15:] if i != every[25]] + [ids(rest)[-1]]
        assert after_first == want, "missing %r, extra %r, first %r, rest %r" % (
            sorted(set(want) - set(after_first)), sorted(set(after_first) - set(want)),
            first["next_after"], len(ids(rest)))
        assert ids(rest)[-1] > every[-1], "the new session comes last"
        assert len(set(seen + after_first)) == len(seen + after_first), "nothing twice"
    finally:
        late.close()


def test_streams_pages_and_filters(crowd):
    n, api = crowd
    r = api.get("/api/v1/streams")
    every = [(s["app"], s["name"]) for s in r.json()["streams"]]
    assert r.json()["next_after"] is None
    assert every == sorted(STREAMS), "streams come ordered by app, then name"
    for limit in (1, 5, 12):
        got, _ = walk(api, "/api/v1/streams", "streams", limit)
        assert [(s["app"], s["name"]) for s in got] == every, "limit %d" % limit
    r = api.get("/api/v1/streams", params={"limit": 2})
    assert r.json()["next_after"] == "a/z"  # the last item's <app>/<name>
    # The cursor percent-encoded by hand, as a client building the URL would.
    r = api.get("/api/v1/streams?limit=2&after=" + urllib.parse.quote("b/s04", safe=""))
    assert [s["name"] for s in r.json()["streams"]] == ["s05", "s06"]
    b, _ = walk(api, "/api/v1/streams", "streams", 3, app="b")
    assert [s["name"] for s in b] == ["s%02d" % i for i in range(10)]
    one = api.get("/api/v1/streams", params={"app": "a", "name": "y"}).json()
    assert [(s["app"], s["name"]) for s in one["streams"]] == [("a", "y")]
    assert api.get("/api/v1/streams", params={"name": "nope"}).json() == {
        "streams": [], "next_after": None}
    # A cursor that names no stream still places the walk: after "a/zz" come the b streams.
    r = api.get("/api/v1/streams", params={"after": "a/zz", "limit": 1})
    assert [s["name"] for s in r.json()["streams"]] == ["s00"]
    for bad in ("nocursor", "a/", "/b"):
        assert_error(api.get("/api/v1/streams", params={"after": bad}), 400, "invalid_field",
                     "after")


def test_relays_pages_and_filters(node):
    n = node()
    api = Api(n.api_url)
    made = []
    for i in range(20):  # on demand: nothing starts without a player
        body = relay_body("pull", ["rtmp://127.0.0.1:1/src/x"], app="p%d" % (i % 2),
                          name="cam%02d" % i, mode="on_demand", id="pull-%02d" % (19 - i))
        made.append(create_relay(api, body)["id"])
    for i in range(10):  # disabled: a push relay that starts nothing
        body = relay_body("push", ["rtmp://127.0.0.1:1/dst/x"], app="q", name="cam%02d" % i,
                          enabled=False, id="push-%02d" % i)
        made.append(create_relay(api, body)["id"])
    r = api.get("/api/v1/relays")
    every = ids(r.json()["relays"])
    assert every == sorted(made) and r.json()["next_after"] is None
    for limit in (1, 7, 30):
        got, _ = walk(api, "/api/v1/relays", "relays", limit)
        assert ids(got) == every, "limit %d" % limit
    push, _ = walk(api, "/api/v1/relays", "relays", 3, direction="push")
    assert ids(push) == ["push-%02d" % i for i in range(10)]
    pull, _ = walk(api, "/api/v1/relays", "relays", 6, direction="pull", app="p1")
    assert len(pull) == 10 and {x["app"] for x in pull} == {"p1"}
    idle, _ = walk(api, "/api/v1/relays", "relays", 11, status="idle")
    assert ids(idle) == every
    assert api.get("/api/v1/relays", params={"status": "active"}).json() == {
        "relays": [], "next_after": None}
    named = api.get("/api/v1/relays", params={"name": "cam03"}).json()["relays"]
    assert sorted(ids(named)) == ["pull-16", "push-03"]
    # A relay deleted during a walk is not seen; the others are, once.
    page = api.get("/api/v1/relays", params={"limit": 10}).json()
    assert api.delete("/api/v1/relays/%s" % every[15]).status_code in (200, 204)
    rest, after = [], page["next_after"]
    while after is not None:
        p = api.get("/api/v1/relays", params={"after": after, "limit": 10}).json()
        rest += ids(p["relays"])
        after = p["next_after"]
    assert ids(page["relays"]) + rest == [x for x in every if x != every[15]]
    assert_error(api.get("/api/v1/relays", params={"status": "up"}), 400, "invalid_field",
                 "status")
    assert_error(api.get("/api/v1/relays", params={"direction": "both"}), 400, "invalid_field",
                 "direction")


def test_hooks_pages_and_filter(node):
    n = node()
    api = Api(n.api_url)
    for i in range(9):
        body = {"id": "h%d" % i, "url": "http://127.0.0.1:1/x", "events": ["storage.lost"],
                "enabled": i % 3 == 0}
        assert api.post("/api/v1/hooks", json=body).status_code == 201
    every = ids(api.get("/api/v1/hooks").json()["hooks"])
    assert every == ["h%d" % i for i in range(9)]
    for limit in (1, 2, 9):
        got, _ = walk(api, "/api/v1/hooks", "hooks", limit)
        assert ids(got) == every
    on, _ = walk(api, "/api/v1/hooks", "hooks", 2, enabled="true")
    assert ids(on) == ["h0", "h3", "h6"]
    off, _ = walk(api, "/api/v1/hooks", "hooks", 4, enabled="false")
    assert len(off) == 6 and all(not h["enabled"] for h in off)
    assert_error(api.get("/api/v1/hooks", params={"enabled": "yes"}), 400, "invalid_field",
                 "enabled")


def test_events_type_filter(crowd):
    n, api = crowd
    every = api.get("/api/v1/events", params={"limit": 1000}).json()["events"]
    starts = [e["id"] for e in every if e["type"] == "publish.start"]
    assert len(starts) == len(STREAMS)
    r = api.get("/api/v1/events", params={"type": "publish.start", "limit": 1000}).json()
    assert ids(r["events"]) == starts and r["next_after"] == starts[-1]
    both = [e["id"] for e in every if e["type"] in ("publish.start", "play.start")]
    # Walked in small pages: the limit counts matching events; next_after
    # keeps its contract (the last id, or after when none).
    got, after = [], 0
    while True:
        page = api.get("/api/v1/events", params={"type": "play.start,publish.start",
                                                  "after": after, "limit": 4}).json()
        assert len(page["events"]) <= 4
        got += ids(page["events"])
        if not page["events"]:
            assert page["next_after"] == after
            break
        after = page["next_after"]
    assert got == both
    assert api.get("/api/v1/events", params={"type": "no.such"}).json() == {
        "events": [], "next_after": 0}
    for bad in ("", "Publish.start", "a,,b", "a,", "a b"):
        assert_error(api.get("/api/v1/events", params={"type": bad}), 400, "invalid_field", "type")


def test_limits_and_cursors_are_checked(node):
    n = node()
    api = Api(n.api_url)
    for path in ("/api/v1/sessions", "/api/v1/streams", "/api/v1/relays", "/api/v1/hooks",
                 "/api/v1/events"):
        for bad in ("0", "1001", "-1", "x", ""):
            assert_error(api.get(path, params={"limit": bad}), 400, "invalid_field", "limit")
        assert api.get(path, params={"limit": 1000}).status_code == 200
    for bad in ("x", "-1", "9007199254740993"):
        assert_error(api.get("/api/v1/sessions", params={"after": bad}), 400, "invalid_field",
                     "after")
    for bad in ("viewer", ""):
        assert_error(api.get("/api/v1/sessions", params={"role": bad}), 400, "invalid_field",
                     "role")


# Every route, with a parameter it does not take: refused before anything happens.
UNKNOWN = [
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/api/v1/node"),
    ("PATCH", "/api/v1/node"), ("GET", "/api/v1/version"), ("POST", "/api/v1/node/drain"),
    ("POST", "/api/v1/node/undrain"), ("GET", "/api/v1/streams"),
    ("GET", "/api/v1/streams/live/x"), ("DELETE", "/api/v1/streams/live/x"),
    ("GET", "/api/v1/sessions"), ("GET", "/api/v1/sessions/1"),
    ("DELETE", "/api/v1/sessions/1"), ("GET", "/api/v1/events"), ("GET", "/api/v1/relays"),
    ("POST", "/api/v1/relays"), ("GET", "/api/v1/relays/r"), ("PUT", "/api/v1/relays/r"),
    ("PATCH", "/api/v1/relays/r"), ("DELETE", "/api/v1/relays/r"), ("GET", "/api/v1/hooks"),
    ("POST", "/api/v1/hooks"), ("GET", "/api/v1/hooks/h"), ("PUT", "/api/v1/hooks/h"),
    ("DELETE", "/api/v1/hooks/h"),
]


def test_unknown_query_parameters_are_refused(node):
    n = node()
    api = Api(n.api_url)
    for method, path in UNKNOWN:
        r = api.request(method, path + "?x=1")
        err = assert_error(r, 400, "invalid_field", "x: unknown query parameter")
        takes_params = path in ("/api/v1/sessions", "/api/v1/streams", "/api/v1/relays",
                                "/api/v1/hooks", "/api/v1/events") or (
                                    method == "DELETE" and path.startswith("/api/v1/sessions/"))
        assert takes_params or "none" in err["message"], err
    # A parameter without a value, one named like another route's, a
    # cache-buster, and a known one next to an unknown one: all refused.
    for q in ("t", "t=123", "limit=5&t=1", "role=player"):
        assert_error(api.get("/api/v1/streams?" + q), 400, "invalid_field")
    assert_error(api.get("/api/v1/node?limit=1"), 400, "invalid_field", "limit")
    assert api.head("/api/v1/node?x=1").status_code == 400
    # Nothing happened: the node is not draining.
    assert api.get("/api/v1/node").json()["draining"] is False
    # The message names what the route takes.
    err = assert_error(api.get("/api/v1/hooks?x=1"), 400, "invalid_field", "x")
    assert "enabled, limit, after" in err["message"], err
