"""Checks the node's HTTP answers against openapi.yaml, so the code and the document
cannot drift apart.

    schema = ApiSchema.load()                    # the repo's openapi.yaml
    schema.validate("GET", "/api/v1/node", 200, headers, body_bytes)

    api = Api("http://127.0.0.1:8090", token="t")
    r = api.get("/api/v1/streams")               # validated; AssertionError on drift
    api.schema.coverage                          # {(method, template, status), ...}

validate() fails (AssertionError) when the path or method is not in the document (except
for the document's catch-all answers in x-weir-unmatched-requests: 404 for an unknown
path, 405 with the right Allow for an unknown method), when the status is not documented
for the operation, when Content-Type is not one the document lists for that status, when a
required response header is missing or malformed, when a JSON body does not match its
schema, or when a 2xx answer accepted a path/query parameter the document rejects.

Uses Debian's python3-yaml, python3-jsonschema (4.10) and python3-requests.
"""

import json
import pathlib
import re
import urllib.parse
from datetime import datetime

import jsonschema
import requests
import yaml

DOC_PATH = pathlib.Path(__file__).resolve().parents[2] / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _is_date_time(value):
    """RFC 3339 date-time (jsonschema 4.10 needs an extra package for this format)."""
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(re.sub(r"[Zz]$", "+00:00", value).replace("t", "T"))
    return True


def format_checker():
    checker = jsonschema.FormatChecker()
    checker.checks("date-time", raises=ValueError)(_is_date_time)
    return checker


def _media_type(value):
    """'text/plain; version=0.0.4' -> ('text/plain', {'version': '0.0.4'})."""
    base, *params = (value or "").split(";")
    parsed = {}
    for p in params:
        key, _, val = p.strip().partition("=")
        if key:
            parsed[key.strip().lower()] = val.strip().strip('"')
    return base.strip().lower(), parsed


class ApiSchema:
    def __init__(self, doc):
        self.doc = doc
        self.resolver = jsonschema.RefResolver.from_schema(doc)
        self.format_checker = format_checker()
        self.coverage = set()  # (METHOD, template, status) seen by Api

    @classmethod
    def load(cls, path=DOC_PATH):
        with open(path, encoding="utf-8") as f:
            return cls(yaml.safe_load(f))

    # -- document helpers --------------------------------------------------

    def deref(self, node):
        """Follows $ref (a Reference Object) until a plain object remains."""
        while isinstance(node, dict) and "$ref" in node:
            node = self.resolver.resolve(node["$ref"])[1]
        return node

    def validator(self, schema):
        return jsonschema.Draft202012Validator(
            schema, resolver=self.resolver, format_checker=self.format_checker)

    def check(self, schema, instance, what):
        """Raises AssertionError listing every way instance fails schema."""
        errors = sorted(self.validator(schema).iter_errors(instance),
                        key=lambda e: list(e.absolute_path))
        if errors:
            lines = ["%s: %s" % ("/".join(map(str, e.absolute_path)) or "(root)", e.message)
                     for e in errors[:10]]
            raise AssertionError("%s does not match the document:\n  %s\ninstance: %s" % (
                what, "\n  ".join(lines), json.dumps(instance)[:2000]))

    def operations(self):
        """Every documented (METHOD, template, status)."""
        out = set()
        for template, item in self.doc["paths"].items():
            for method in METHODS:
                if method in item:
                    out.update((method.upper(), template, status)
                               for status in item[method]["responses"])
        return out

    def match_path(self, url_path):
        """-> (template, {param: raw value}) or (None, {}). Literal segments win over
        {templates}, leftmost first: /a/b beats /a/{x} beats /{x}/b."""
        segments = url_path.split("/")
        best = None
        for template in self.doc["paths"]:
            tsegs = template.split("/")
            if len(tsegs) != len(segments):
                continue
            params, rank = {}, []
            for t, s in zip(tsegs, segments):
                m = re.fullmatch(r"\{(\w+)\}", t)
                if m and s:
                    params[m.group(1)] = urllib.parse.unquote(s)
                    rank.append(0)
                elif t == s:
                    rank.append(1)
                else:
                    break
            else:
                if best is None or rank > best[0]:
                    best = (rank, template, params)
        return (best[1], best[2]) if best else (None, {})

    # -- validation --------------------------------------------------------

    def validate(self, method, url_path, status, headers, body_bytes):
        """Checks one answer; returns the matched path template (or None for an unknown
        path). url_path may carry a query string."""
        method = method.upper()
        status = str(status)
        split = urllib.parse.urlsplit(url_path)
        where = "%s %s -> %s" % (method, url_path, status)
        headers = {k.lower(): v for k, v in dict(headers or {}).items()}

        template, path_params = self.match_path(split.path)
        unmatched = self.doc.get("x-weir-unmatched-requests", {})
        if template is None:
            op, label = unmatched.get("unknown-path"), "unknown path"
            assert op and status in op["responses"], (
                "%s: path %s is not in openapi.yaml (an unknown path may only answer %s)"
                % (where, split.path, sorted((op or {}).get("responses", {}))))
        else:
            item = self.doc["paths"][template]
            op = item.get(method.lower())
            if method == "HEAD" and op is None and "get" in item:
                assert not body_bytes, "%s: a HEAD answer with a body" % where
                op = item["get"]
                body_bytes = None
            label = "%s %s" % (method, template)
            if op is None:
                op, label = unmatched.get("unknown-method"), "unknown method on " + template
                assert op and status in op["responses"], (
                    "%s: %s is not documented for %s (an unknown method may only answer %s)"
                    % (where, method, template, sorted((op or {}).get("responses", {}))))
                if status == "405":
                    self._check_allow(where, item, headers.get("allow"))
            assert status in op["responses"], "%s: status %s not documented for %s (has %s)" % (
                where, status, label, sorted(op["responses"]))
            if status.startswith("2"):
                self._check_params(where, item, op, path_params, split.query)

        self._check_response(where, self.deref(op["responses"][status]), headers, body_bytes)
        return template

    def _check_allow(self, where, item, allow):
        assert allow, "%s: 405 without an Allow header" % where
        documented = {m.upper() for m in METHODS if m in item}
        if "GET" in documented:
            documented.add("HEAD")
        got = {m.strip().upper() for m in allow.split(",") if m.strip()}
        assert got == documented, "%s: Allow is %r, openapi.yaml documents %s" % (
            where, allow, ", ".join(sorted(documented)))

    def _check_params(self, where, item, op, path_params, query):
        """A 2xx answer means the node accepted the parameters: they must be valid."""
        given = {("path", k): v for k, v in path_params.items()}
        for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
            given[("query", k)] = v
        for p in item.get("parameters", []) + op.get("parameters", []):
            p = self.deref(p)
            key = (p["in"], p["name"])
            if key not in given:
                assert not p.get("required"), "%s: required %s parameter %s missing" % (
                    where, p["in"], p["name"])
                continue
            value = given[key]
            if self.deref(p["schema"]).get("type") == "integer" and re.fullmatch(r"-?\d+", value):
                value = int(value)
            self.check(p["schema"], value, "%s: accepted %s parameter %s=%r" % (
                where, p["in"], p["name"], given[key]))

    def _check_response(self, where, response, headers, body_bytes):
        for name, header in response.get("headers", {}).items():
            header = self.deref(header)
            value = headers.get(name.lower())
            if value is None:
                assert not header.get("required"), "%s: missing header %s" % (where, name)
                continue
            self.check(header["schema"], value, "%s: header %s" % (where, name))

        content = response.get("content")
        if body_bytes is None:  # HEAD: the GET's headers, no body to check
            return
        if not content:
            assert not body_bytes, "%s: the document lists no body, got %r" % (
                where, body_bytes[:200])
            return
        got_type, got_params = _media_type(headers.get("content-type"))
        for key, media in content.items():
            doc_type, doc_params = _media_type(key)
            if doc_type == got_type and all(got_params.get(k) == v
                                            for k, v in doc_params.items()):
                break
        else:
            raise AssertionError("%s: Content-Type %r is not one of %s" % (
                where, headers.get("content-type"), sorted(content)))
        if got_type != "application/json":
            return
        try:
            body = json.loads(body_bytes.decode("utf-8"))
        except ValueError as e:
            raise AssertionError("%s: body is not JSON (%s): %r" % (where, e, body_bytes[:200]))
        self.check(media["schema"], body, "%s: body" % where)


_default_schema = None


def default_schema():
    """The repo's openapi.yaml, loaded once, so coverage adds up over a test run."""
    global _default_schema
    if _default_schema is None:
        _default_schema = ApiSchema.load()
    return _default_schema


class Api:
    """requests against a node's API; every answer is checked against the document."""

    def __init__(self, base_url, token=None, schema=None, timeout=10):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.schema = schema or default_schema()
        self.timeout = timeout

    def request(self, method, path, **kw):
        headers = dict(kw.pop("headers", None) or {})
        if self.token is not None:
            headers.setdefault("Authorization", "Bearer " + self.token)
        kw.setdefault("timeout", self.timeout)
        r = requests.request(method, self.base_url + path, headers=headers, **kw)
        template = self.schema.validate(method, r.request.path_url, r.status_code,
                                        r.headers, r.content)
        self.schema.coverage.add((method.upper(), template, str(r.status_code)))
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)
