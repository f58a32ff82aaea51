"""The API document and its validator (apischema.py), checked without a running node."""

import copy
import json

import jsonschema
import pytest

from apischema import METHODS, ApiSchema

JSON = {"Content-Type": "application/json"}
# A relay or hook answer carries its entity tag (openapi.yaml: ETag).
TAGGED = {**JSON, "ETag": '"0123456789abcdef"'}


@pytest.fixture(scope="module")
def schema():
    return ApiSchema.load()


def example(schema, name, i=0):
    return copy.deepcopy(schema.doc["components"]["schemas"][name]["examples"][i])


def body(obj):
    return json.dumps(obj).encode()


def walk(node, path=""):
    """(json-pointer-ish path, dict) for every dict in the document."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, "%s/%s" % (path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, "%s/%d" % (path, i))


def media_examples(schema):
    """(where, schema, value) for every example next to a schema outside components/schemas:
    media types (responses, request bodies) and parameters."""
    for where, node in walk(schema.doc):
        if where.startswith("/components/schemas") or "schema" not in node:
            continue
        if "example" in node:
            yield where, node["schema"], node["example"]
        for name, ex in (node.get("examples") or {}).items():
            yield "%s/examples/%s" % (where, name), node["schema"], schema.deref(ex)["value"]


# -- the document ----------------------------------------------------------------------


def test_document_loads_and_is_openapi_3_1(schema):
    assert schema.doc["openapi"] == "3.1.0"
    assert schema.doc["info"]["version"] == "0.1.0"
    assert schema.operations()


def test_every_ref_resolves(schema):
    refs = [(where, node["$ref"]) for where, node in walk(schema.doc) if "$ref" in node]
    assert len(refs) > 50
    for where, ref in refs:
        assert ref.startswith("#/"), "%s: external $ref %s" % (where, ref)
        try:
            schema.resolver.resolve(ref)
        except jsonschema.RefResolutionError as e:
            pytest.fail("%s: $ref %s does not resolve: %s" % (where, ref, e))


def test_component_schemas_are_valid_2020_12(schema):
    for name, s in schema.doc["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(s)


def test_own_objects_are_closed(schema):
    """Every object schema except Event says additionalProperties: false (Event is open:
    later versions add event types and fields)."""
    for where, node in walk(schema.doc["components"]["schemas"]):
        if node.get("type") == "object" and where != "/Event":
            assert node.get("additionalProperties") is False, where + " is open"
            assert set(node.get("required", [])) <= set(node.get("properties", {})), where


# Routes that never need the token: /healthz, and the dashboard (a dashboard file name
# the node did not load is an unknown path: 401 without the token when one is set).
# The probes need no token unless api.health_public is false (then they answer 401).
PUBLIC = {"/healthz", "/readyz", "/", "/assets/{file}", "/{file}"}
NEVER_401 = {"/"}


def test_every_operation_documents_errors(schema):
    for template, item in schema.doc["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            statuses = set(item[method]["responses"])
            where = "%s %s" % (method.upper(), template)
            assert {"400", "413", "415", "500"} <= statuses, where
            assert any(s.startswith("2") for s in statuses), where
            assert ("401" in statuses) == (template not in NEVER_401), where
            # PUT creates what is missing: its path names no existing object; GET / is 404
            # when the node serves no dashboard
            assert ("404" in statuses) == (
                ("{" in template and method != "put") or template == "/"), where
            assert ("security" in item[method]) == (template in PUBLIC), where
            if template in PUBLIC:
                assert item[method]["security"] == [], where


def test_stream_detail_is_stream_plus_players(schema):
    """StreamDetail repeats Stream's properties (so both stay closed, plain objects);
    this keeps the copies equal."""
    s = schema.doc["components"]["schemas"]
    detail = copy.deepcopy(s["StreamDetail"])
    players = detail["properties"].pop("players")
    assert players == {"type": "array", "items": {"$ref": "#/components/schemas/Session"}}
    detail["required"].remove("players")
    for key in ("properties", "required", "additionalProperties", "type"):
        assert detail[key] == s["Stream"][key], key


def test_relay_schemas_share_the_spec_fields(schema):
    """RelaySpec (POST, PUT), RelayPatch and Relay repeat the spec's properties (so all
    stay closed, plain objects); this keeps the copies equal. The requests accept the
    Relay's read-only fields (a GET body can be sent back) and nothing else."""
    s = schema.doc["components"]["schemas"]
    spec, patch, relay = s["RelaySpec"], s["RelayPatch"], s["Relay"]
    spec_fields = ["id", "direction", "app", "name", "urls", "mode", "idle_timeout_s",
                   "retry_initial_ms", "retry_max_ms", "silence_timeout_ms", "failback", "enabled",
                   "tls_verify", "tls_ca", "source"]
    state = ["status", "current_url", "last_error", "last_error_message", "retries",
             "failovers", "bytes", "bitrate_kbps", "started_at", "streams", "etag"]
    assert list(relay["properties"]) == spec_fields + state
    assert relay["required"] == spec_fields + state
    assert list(spec["properties"]) == list(patch["properties"]) == spec_fields + state
    for f in spec_fields:
        assert spec["properties"][f] == patch["properties"][f] == relay["properties"][f], f
    for f in state:
        assert spec["properties"][f]["readOnly"] is True, f
        assert spec["properties"][f] == patch["properties"][f], f
    assert spec["required"] == ["direction", "app", "name", "urls"]
    assert "required" not in patch


# -- examples cannot drift -------------------------------------------------------------


def test_schema_examples_validate(schema):
    """Every `examples` list in components/schemas matches the schema it sits in."""
    checked = 0
    for where, node in walk(schema.doc["components"]["schemas"]):
        assert "example" not in node, where + ": use `examples` (a list) in schemas"
        for value in node.get("examples", []):
            schema.check(node, value, "example at /components/schemas" + where)
            checked += 1
    assert checked >= 30


def test_media_and_parameter_examples_validate(schema):
    checked = 0
    for where, s, value in media_examples(schema):
        if s.get("type") == "string" and isinstance(value, str):
            checked += 1
            continue
        schema.check(s, value, "example at " + where)
        checked += 1
    assert checked >= 15


def test_event_examples_use_declared_fields(schema):
    """Event is open for future fields; its examples still use only declared ones."""
    event = schema.doc["components"]["schemas"]["Event"]
    lists = event["examples"] + [e for ex in schema.doc["components"]["schemas"]["EventList"]
                                 ["examples"] for e in ex["events"]]
    for ev in lists:
        assert set(ev) <= set(event["properties"]), ev


def test_every_main_object_has_an_example(schema):
    for name in ("Error", "Node", "SessionSummary", "Stream", "StreamDetail", "Session",
                 "Event", "EventList", "StreamList", "SessionList", "NodePatch", "Health",
                 "Ready", "KickResult", "StreamCloseResult", "RelaySpec", "RelayPatch",
                 "RelayInstance", "Relay", "RelayList", "HookSpec", "Hook", "HookList",
                 "DrainRequest", "DrainState"):
        assert schema.doc["components"]["schemas"][name].get("examples"), name


# -- the validator ---------------------------------------------------------------------


def test_valid_answers_pass(schema):
    ok = [
        ("GET", "/api/v1/node", example(schema, "Node")),
        ("PATCH", "/api/v1/node", example(schema, "Node")),
        ("GET", "/api/v1/streams", example(schema, "StreamList")),
        ("GET", "/api/v1/streams/live/test", example(schema, "StreamDetail")),
        ("DELETE", "/api/v1/streams/live/test", example(schema, "StreamCloseResult")),
        ("GET", "/api/v1/sessions?role=player&protocol=http-flv", example(schema, "SessionList")),
        ("GET", "/api/v1/sessions/1", example(schema, "Session")),
        ("DELETE", "/api/v1/sessions/3", example(schema, "KickResult")),
        ("GET", "/api/v1/events?after=41&limit=2", example(schema, "EventList")),
        ("GET", "/api/v1/relays", example(schema, "RelayList")),
        ("GET", "/healthz", {"status": "ok"}),
        ("GET", "/readyz", {"status": "ready"}),
    ]
    for method, path, obj in ok:
        assert schema.validate(method, path, 200, JSON, body(obj))
    tagged = [
        ("GET", "/api/v1/relays/cam1-from-origin", example(schema, "Relay")),
        ("PUT", "/api/v1/relays/edge-push", example(schema, "Relay", 1)),
        ("PATCH", "/api/v1/relays/cam1-from-origin", example(schema, "Relay")),
    ]
    for method, path, obj in tagged:
        assert schema.validate(method, path, 200, TAGGED, body(obj))
        # an entity answer without its ETag header is drift
        with pytest.raises(AssertionError, match="missing header ETag"):
            schema.validate(method, path, 200, JSON, body(obj))
    schema.validate("GET", "/readyz", 503, JSON, body({"status": "not_ready",
                                                        "reasons": ["stopping"]}))
    schema.validate("GET", "/metrics", 200, {"content-type": "text/plain; version=0.0.4"},
                    b"weir_streams 0\n")
    schema.validate("POST", "/api/v1/relays", 201, TAGGED, body(example(schema, "Relay")))
    schema.validate("PUT", "/api/v1/relays/r1", 201, TAGGED, body(example(schema, "Relay")))
    schema.validate("DELETE", "/api/v1/relays/r1", 204, {}, b"")
    schema.validate("PUT", "/api/v1/relays/r1", 412, JSON, body(
        {"error": {"code": "precondition_failed", "message": "If-Match: r1 has changed"}}))


def test_relay_answers_are_checked(schema):
    relay = example(schema, "Relay")
    relay["streams"][0]["status"] = "running"
    with pytest.raises(AssertionError, match="status"):
        schema.validate("GET", "/api/v1/relays/r1", 200, TAGGED, body(relay))
    relay = example(schema, "Relay", 1)
    del relay["source"]
    with pytest.raises(AssertionError, match="source"):
        schema.validate("GET", "/api/v1/relays/r1", 200, TAGGED, body(relay))
    relay = example(schema, "Relay", 1)
    relay["mode"] = "push"
    with pytest.raises(AssertionError, match="mode"):
        schema.validate("GET", "/api/v1/relays/r1", 200, TAGGED, body(relay))
    # POST answers 201, never 200; DELETE has no body
    with pytest.raises(AssertionError, match="status 200 not documented"):
        schema.validate("POST", "/api/v1/relays", 200, JSON, body(example(schema, "Relay")))
    with pytest.raises(AssertionError, match="no body"):
        schema.validate("DELETE", "/api/v1/relays/r1", 204, JSON, b"{}")
    # conflicts are documented where they happen, with their code
    schema.validate("POST", "/api/v1/relays", 409, JSON,
                    body({"error": {"code": "conflict", "message": "id: relay r1 already exists"}}))
    with pytest.raises(AssertionError, match="status 409 not documented"):
        schema.validate("GET", "/api/v1/relays/r1", 409, JSON,
                        body({"error": {"code": "conflict", "message": "x"}}))
    # a 2xx PUT with an id the document rejects means code and document disagree
    with pytest.raises(AssertionError, match="accepted path parameter id"):
        schema.validate("PUT", "/api/v1/relays/a%20b", 201, TAGGED, body(example(schema, "Relay")))


def test_events_validate_each_type(schema):
    for i, ev in enumerate(example(schema, "Event", i) for i in range(4)):
        schema.validate("GET", "/api/v1/events", 200, JSON,
                        body({"events": [ev], "next_after": ev["id"]}))
    future = {"id": 9, "type": "relay.start", "time": "2026-11-24T10:00:00.000Z",
              "upstream": "rtmp://a/b"}
    schema.validate("GET", "/api/v1/events", 200, JSON,
                    body({"events": [future], "next_after": 9}))


def test_errors_validate(schema):
    def err(code):
        return body({"error": {"code": code, "message": "x"}})
    schema.validate("GET", "/api/v1/sessions/9", 404, JSON, err("not_found"))
    schema.validate("PATCH", "/api/v1/node", 400, JSON, err("invalid_field"))
    schema.validate("PATCH", "/api/v1/node", 400, JSON, err("bad_request"))
    schema.validate("PATCH", "/api/v1/node", 415, JSON, err("unsupported_media_type"))
    schema.validate("PATCH", "/api/v1/node", 413, JSON, err("payload_too_large"))
    schema.validate("GET", "/metrics", 401, {**JSON, "WWW-Authenticate": "Bearer"},
                    err("unauthorized"))
    # the code must fit the status
    with pytest.raises(AssertionError, match="code"):
        schema.validate("GET", "/api/v1/sessions/9", 404, JSON, err("bad_request"))


def test_missing_required_field_fails(schema):
    node = example(schema, "Node")
    del node["uptime_s"]
    with pytest.raises(AssertionError, match="uptime_s"):
        schema.validate("GET", "/api/v1/node", 200, JSON, body(node))
    ev = example(schema, "Event")
    del ev["time"]
    with pytest.raises(AssertionError, match="time"):
        schema.validate("GET", "/api/v1/events", 200, JSON,
                        body({"events": [ev], "next_after": 1}))


def test_wrong_type_fails(schema):
    stream = example(schema, "StreamDetail")
    stream["player_count"] = "2"
    with pytest.raises(AssertionError, match="player_count"):
        schema.validate("GET", "/api/v1/streams/live/test", 200, JSON, body(stream))
    ev = example(schema, "Event", 2)
    ev["session_id"] = "3"
    with pytest.raises(AssertionError, match="session_id"):
        schema.validate("GET", "/api/v1/events", 200, JSON,
                        body({"events": [ev], "next_after": 5}))


def test_extra_field_and_bad_values_fail(schema):
    session = example(schema, "Session")
    session["secret"] = 1
    with pytest.raises(AssertionError, match="secret"):
        schema.validate("GET", "/api/v1/sessions/1", 200, JSON, body(session))
    session = example(schema, "Session")
    session["role"] = "viewer"
    with pytest.raises(AssertionError, match="role"):
        schema.validate("GET", "/api/v1/sessions/1", 200, JSON, body(session))
    for bad_time in ("2026-11-24 10:00:00.123Z", "2026-11-24T10:00:00Z",
                     "2026-11-24T10:00:00.123+01:00", "2026-13-24T10:00:00.123Z"):
        session["role"], session["start_time"] = "player", bad_time
        with pytest.raises(AssertionError, match="start_time"):
            schema.validate("GET", "/api/v1/sessions/1", 200, JSON, body(session))


def test_undocumented_status_fails(schema):
    with pytest.raises(AssertionError, match="status 404 not documented"):
        schema.validate("GET", "/api/v1/node", 404, JSON,
                        body({"error": {"code": "not_found", "message": "x"}}))
    with pytest.raises(AssertionError, match="status 401 not documented"):
        schema.validate("GET", "/", 401, JSON,
                        body({"error": {"code": "unauthorized", "message": "x"}}))


def test_undocumented_path_fails(schema):
    with pytest.raises(AssertionError, match="not in openapi.yaml"):
        schema.validate("GET", "/api/v1/nodes", 200, JSON, body({}))
    with pytest.raises(AssertionError, match="not in openapi.yaml"):
        schema.validate("GET", "/api/v1/streams/live", 200, JSON, body({"streams": []}))
    # the contract's catch-all: an unknown path is a 404 with an Error body (one segment
    # paths are dashboard files: /{file})
    assert schema.validate("GET", "/api/nope", 404, JSON, body(
        {"error": {"code": "not_found", "message": "no route /api/nope"}})) is None


def test_undocumented_method_fails_unless_405_with_allow(schema):
    err = body({"error": {"code": "method_not_allowed", "message": "x"}})
    with pytest.raises(AssertionError, match="PUT is not documented"):
        schema.validate("PUT", "/api/v1/node", 200, JSON, body(example(schema, "Node")))
    schema.validate("PUT", "/api/v1/node", 405, {**JSON, "Allow": "GET, HEAD, PATCH"}, err)
    schema.validate("POST", "/api/v1/sessions/7", 405, {**JSON, "Allow": "DELETE, GET, HEAD"},
                    err)
    with pytest.raises(AssertionError, match="Allow"):
        schema.validate("PUT", "/api/v1/node", 405, JSON, err)
    with pytest.raises(AssertionError, match="Allow is"):
        schema.validate("PUT", "/api/v1/node", 405, {**JSON, "Allow": "GET, PATCH"}, err)
    # HEAD is implied by GET: the GET's answer, without a body
    schema.validate("HEAD", "/api/v1/node", 200, JSON, b"")
    with pytest.raises(AssertionError, match="HEAD answer with a body"):
        schema.validate("HEAD", "/api/v1/node", 200, JSON, body(example(schema, "Node")))
    with pytest.raises(AssertionError, match="HEAD is not documented"):
        schema.validate("HEAD", "/api/v1/node/drain", 200, JSON, b"")


def test_headers_and_content_type(schema):
    err = body({"error": {"code": "unauthorized", "message": "x"}})
    with pytest.raises(AssertionError, match="WWW-Authenticate"):
        schema.validate("GET", "/api/v1/node", 401, JSON, err)
    with pytest.raises(AssertionError, match="Content-Type"):
        schema.validate("GET", "/healthz", 200, {"Content-Type": "text/html"},
                        body({"status": "ok"}))
    with pytest.raises(AssertionError, match="Content-Type"):
        schema.validate("GET", "/metrics", 200, {"Content-Type": "text/plain"}, b"")
    schema.validate("GET", "/healthz", 200, {"content-type": "application/json; charset=utf-8"},
                    body({"status": "ok"}))
    schema.validate("GET", "/metrics", 200,
                    {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}, b"")
    with pytest.raises(AssertionError, match="not JSON"):
        schema.validate("GET", "/healthz", 200, JSON, b"ok")


def test_2xx_with_a_rejected_parameter_fails(schema):
    """A 200 for a parameter the document rejects means code and document disagree."""
    ok = body(example(schema, "EventList", 1))
    for query in ("limit=0", "limit=1001", "after=-1", "after=x"):
        with pytest.raises(AssertionError, match="accepted query parameter"):
            schema.validate("GET", "/api/v1/events?" + query, 200, JSON, ok)
    with pytest.raises(AssertionError, match="accepted query parameter role"):
        schema.validate("GET", "/api/v1/sessions?role=viewer", 200, JSON,
                        body({"sessions": []}))
    with pytest.raises(AssertionError, match="accepted path parameter id"):
        schema.validate("GET", "/api/v1/sessions/0", 200, JSON, body(example(schema, "Session")))
    # the same requests answered 400 are fine
    schema.validate("GET", "/api/v1/events?limit=0", 400, JSON,
                    body({"error": {"code": "invalid_field", "message": "limit: 1..1000"}}))


def test_literal_segments_win_over_templates(schema):
    s = ApiSchema(copy.deepcopy(schema.doc))
    paths = s.doc["paths"]
    paths["/api/v1/streams/{app}/live"] = {}
    paths["/api/v1/streams/special/{name}"] = {}
    assert s.match_path("/api/v1/streams/a/b") == (
        "/api/v1/streams/{app}/{name}", {"app": "a", "name": "b"})
    assert s.match_path("/api/v1/streams/a/live")[0] == "/api/v1/streams/{app}/live"
    assert s.match_path("/api/v1/streams/special/x")[0] == "/api/v1/streams/special/{name}"
    # leftmost literal wins when both could match
    assert s.match_path("/api/v1/streams/special/live")[0] == "/api/v1/streams/special/{name}"
    # literal document paths are never taken by a template
    assert schema.match_path("/api/v1/streams")[0] == "/api/v1/streams"
    assert schema.match_path("/api/v1/sessions/12") == ("/api/v1/sessions/{id}", {"id": "12"})
    # percent-encoded segments are decoded; empty segments match nothing
    assert schema.match_path("/api/v1/streams/live/a%2Fb")[1] == {"app": "live", "name": "a/b"}
    assert schema.match_path("/api/v1/streams/live/")[0] is None


def test_operations_lists_every_method(schema):
    ops = schema.operations()
    methods = {(m, t) for m, t, _ in ops}
    assert methods == {
        ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
        ("GET", "/api/v1/node"), ("PATCH", "/api/v1/node"), ("GET", "/api/v1/version"),
        ("GET", "/api/v1/streams"),
        ("GET", "/api/v1/streams/{app}/{name}"), ("DELETE", "/api/v1/streams/{app}/{name}"),
        ("GET", "/api/v1/history"), ("GET", "/api/v1/streams/{app}/{name}/history"),
        ("GET", "/api/v1/sessions"),
        ("GET", "/api/v1/sessions/{id}"), ("DELETE", "/api/v1/sessions/{id}"),
        ("GET", "/api/v1/events"),
        ("GET", "/api/v1/relays"), ("POST", "/api/v1/relays"),
        ("GET", "/api/v1/relays/{id}"), ("PUT", "/api/v1/relays/{id}"),
        ("PATCH", "/api/v1/relays/{id}"), ("DELETE", "/api/v1/relays/{id}"),
        ("POST", "/api/v1/node/drain"), ("POST", "/api/v1/node/undrain"),
        ("POST", "/api/v1/node/reload-certs"),
        ("GET", "/api/v1/hooks"), ("POST", "/api/v1/hooks"),
        ("GET", "/api/v1/hooks/{id}"), ("PUT", "/api/v1/hooks/{id}"),
        ("DELETE", "/api/v1/hooks/{id}"),
        ("GET", "/api/v1/recorders"), ("POST", "/api/v1/recorders"),
        ("GET", "/api/v1/recorders/{id}"), ("PUT", "/api/v1/recorders/{id}"),
        ("PATCH", "/api/v1/recorders/{id}"), ("DELETE", "/api/v1/recorders/{id}"),
        ("POST", "/api/v1/streams/{app}/{name}/record"),
        ("DELETE", "/api/v1/streams/{app}/{name}/record"),
        ("GET", "/api/v1/recordings"), ("GET", "/api/v1/recordings/{id}"),
        ("DELETE", "/api/v1/recordings/{id}"), ("GET", "/api/v1/recordings/{id}/file"),
        ("GET", "/"), ("GET", "/assets/{file}"), ("GET", "/{file}"),
    }
    assert all(m.lower() in METHODS for m, _ in methods)


def test_webhooks_cover_every_type_with_a_closed_payload(schema):
    """One `webhooks` entry per notification type plus on_publish / on_play; each
    payload schema is a closed object whose `type` is that entry's name, with an example."""
    types = schema.doc["components"]["schemas"]["HookEventType"]["enum"]
    hooks = schema.doc["webhooks"]
    assert set(hooks) == set(types) | {"on_publish", "on_play"}
    for name, item in hooks.items():
        s = schema.deref(item["post"]["requestBody"]["content"]["application/json"]["schema"])
        assert s["additionalProperties"] is False, name
        assert s["properties"]["type"]["const"] == name, name
        assert {"id", "type", "node_id", "time"} <= set(s["required"]), name
        assert s["examples"], name


def test_hook_schemas_share_the_spec_fields(schema):
    """HookSpec (POST, PUT) and Hook repeat the spec's properties; the request
    accepts the Hook's read-only fields (a GET body can be PUT back) and the
    write-only secret."""
    s = schema.doc["components"]["schemas"]
    spec, hook = s["HookSpec"], s["Hook"]
    spec_fields = ["id", "url", "events", "decide", "timeout_ms"]
    state = ["secret_set", "source", "queued", "delivered", "failed", "dropped", "retries",
             "last_status", "last_error", "last_delivery_at", "etag"]
    tls = ["tls_verify", "tls_ca"]
    assert list(hook["properties"]) == spec_fields + ["enabled"] + tls + state
    assert hook["required"] == list(hook["properties"])
    assert list(spec["properties"]) == spec_fields + ["secret", "enabled"] + tls + state
    for f in spec_fields + tls:
        assert spec["properties"][f] == hook["properties"][f], f
    for f in state:
        assert spec["properties"][f]["readOnly"] is True, f
    assert spec["properties"]["secret"]["writeOnly"] is True
    assert spec["required"] == ["url", "events"]


# -- the dashboard ---------------------------------------------------------------------

CSP = ("default-src 'self'; connect-src 'self' http: https: ws: wss:; media-src 'self' blob:; "
       "worker-src 'self' blob:; img-src 'self' data:; style-src 'self'")
DASH_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                "X-Frame-Options": "DENY", "Content-Security-Policy": CSP,
                "Vary": "Accept-Encoding"}


def test_dashboard_answers(schema):
    page = {**DASH_HEADERS, "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-cache"}
    assert schema.validate("GET", "/", 200, page, b"<!doctype html>") == "/"
    assert schema.validate("GET", "/index.html", 200, page, b"<!doctype html>") == "/{file}"
    js = {**DASH_HEADERS, "Content-Type": "text/javascript; charset=utf-8",
          "Cache-Control": "public, max-age=31536000, immutable"}
    assert schema.validate("GET", "/assets/app-5XQ2M7KD.js", 200, js, b"x") == "/assets/{file}"
    svg = {**DASH_HEADERS, "Content-Type": "image/svg+xml", "Cache-Control": "no-cache"}
    assert schema.validate("GET", "/favicon.svg", 200, svg, b"<svg/>") == "/{file}"
    # the API's own one-segment routes win over /{file}
    for path in ("/healthz", "/readyz", "/metrics"):
        assert schema.match_path(path)[0] == path
    # not built: 503 text with the same security headers
    schema.validate("GET", "/", 503, {**DASH_HEADERS, "Content-Type": "text/plain"},
                    b"dashboard not available")
    with pytest.raises(AssertionError, match="missing header X-Frame-Options"):
        schema.validate("GET", "/", 503, {**DASH_HEADERS, "X-Frame-Options": None,
                                          "Content-Type": "text/plain"}, b"x")


def test_dashboard_headers_and_types_are_checked(schema):
    page = {**DASH_HEADERS, "Content-Type": "text/html", "Cache-Control": "no-cache"}
    for name in DASH_HEADERS:
        headers = {k: v for k, v in page.items() if k != name}
        with pytest.raises(AssertionError, match="missing header " + name):
            schema.validate("GET", "/", 200, headers, b"x")
    with pytest.raises(AssertionError, match="Cache-Control"):
        schema.validate("GET", "/", 200, {**page, "Cache-Control": "no-store"}, b"x")
    with pytest.raises(AssertionError, match="Content-Security-Policy"):
        schema.validate("GET", "/", 200, {**page, "Content-Security-Policy": "default-src *"},
                        b"x")
    # an asset is never HTML
    with pytest.raises(AssertionError, match="Content-Type"):
        schema.validate("GET", "/assets/app.js", 200, page, b"x")
    # a 2xx for a dotfile means the node served a name it must skip
    with pytest.raises(AssertionError, match="accepted path parameter file"):
        schema.validate("GET", "/assets/.env", 200, {**page, "Content-Type": "text/plain"},
                        b"x")
    # errors of these routes are the API's usual ones
    schema.validate("GET", "/assets/nope.js", 404, JSON,
                    body({"error": {"code": "not_found", "message": "no such route"}}))
    schema.validate("GET", "/nope.js", 401, {**JSON, "WWW-Authenticate": "Bearer"},
                    body({"error": {"code": "unauthorized", "message": "x"}}))
    with pytest.raises(AssertionError, match="status 401 not documented"):
        schema.validate("GET", "/", 401, {**JSON, "WWW-Authenticate": "Bearer"},
                        body({"error": {"code": "unauthorized", "message": "x"}}))
