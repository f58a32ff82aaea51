"""scheduler: the small external scheduler of the cluster scenario.

It knows the nodes only by their API address and talks to them only over
REST (every answer checked against openapi.yaml by apischema.Api) and the
webhooks they send it (tests/integration/hookrecv.py receives them):

- configure(): on every node a hook "scheduler" pointing at the scheduler
  (all events, "?node=<name>" in its URL so that a record names its sender;
  on the origin it also decides on_publish); on each mid a pull relay of
  live/* on demand from the origin; on each edge a pull relay of live/* on
  demand from [its primary mid, the other mid].
- on_publish decisions: allows every stream name but the denied ones
  (answers 403 to those) and keeps a list of what it decided.
- the cluster view: per node, the heartbeats (last one, when), node.start,
  drain state, publish/play events; a node is up while its heartbeats keep
  coming (HEARTBEAT_MISSED intervals of silence mark it down).
- drain()/undrain(): POST /api/v1/node/drain|undrain.

A hook that cannot be set up (POST /hooks refused, or an answer that does
not match openapi.yaml) is recorded in hook_errors rather than raised, so the
relays still get configured; the tests that need webhooks assert that list
is empty.
"""

import threading
import time
from urllib.parse import parse_qs

from apischema import Api
from hookrecv import HookReceiver
from relayutil import create_relay, relay_body

HOOK_ID = "scheduler"
HEARTBEAT_S = 1          # events.heartbeat_interval_s of every node
HEARTBEAT_MISSED = 3     # silent intervals before a node counts as down
DECISION_TIMEOUT_MS = 3000


class Scheduler:
    def __init__(self, deny_names=()):
        self.deny_names = set(deny_names)
        self.rx = HookReceiver(path="/hook")
        self.rx.decide = self._decide
        self.nodes = {}          # name -> ClusterNode
        self.apis = {}           # name -> apischema.Api
        self.node_ids = {}       # node_id (GET /api/v1/node "id") -> name
        self.hook_errors = []    # (node name, what went wrong)
        self.relays = {}         # node name -> relay id
        self.decisions = []      # (node name, decision payload, allowed)
        self._lock = threading.Lock()

    def close(self):
        self.rx.close()

    # ------------------------------------------------------------ set-up over REST

    def add_node(self, node):
        api = Api(node.api_url)
        r = api.get("/api/v1/node")
        assert r.status_code == 200, "%s: GET /api/v1/node -> %d %s" % (
            node.name, r.status_code, r.text)
        self.nodes[node.name] = node
        self.apis[node.name] = api
        self.node_ids[r.json()["id"]] = node.name

    def hook_url(self, name):
        return "%s?node=%s" % (self.rx.url, name)

    def set_hook(self, name, decide=()):
        """POST /api/v1/hooks on node `name` pointing at this scheduler."""
        body = {"id": HOOK_ID, "url": self.hook_url(name), "events": ["*"],
                "decide": list(decide), "timeout_ms": DECISION_TIMEOUT_MS}
        try:
            r = self.apis[name].post("/api/v1/hooks", json=body)
        except AssertionError as e:  # the answer does not match openapi.yaml
            self.hook_errors.append((name, "POST /api/v1/hooks: %s" % e))
            return
        if r.status_code != 201:
            self.hook_errors.append((name, "POST /api/v1/hooks -> %d %s" % (
                r.status_code, r.text[:300])))

    def set_pull(self, name, upstreams):
        """An on-demand pull relay of live/* on node `name` from the nodes
        `upstreams` (in failover order); mids pull over RTMP from the origin,
        edge pulls alternate RTMP and HTTP-FLV (both kinds fail over)."""
        proto = "http" if name in ("mid2", "edge2") else "rtmp"
        urls = [self.nodes[u].app_url(proto) for u in upstreams]
        rel = create_relay(self.apis[name], relay_body("pull", urls, mode="on_demand",
                                                       idle_timeout_s=30))
        self.relays[name] = rel["id"]
        return rel

    def configure(self, origin, mids, edges):
        """The whole cluster: hooks everywhere (the origin's decides
        on_publish), mids pull from the origin, edges from their mids: the
        first two edges from mids[0] then mids[1], the others from mids[1]
        then mids[0]."""
        for name in [origin] + list(mids) + list(edges):
            self.set_hook(name, decide=["on_publish"] if name == origin else [])
        for m in mids:
            self.set_pull(m, [origin])
        for i, e in enumerate(edges):
            primary = mids[0] if i < 2 else mids[1]
            other = mids[1] if primary == mids[0] else mids[0]
            self.set_pull(e, [primary, other])

    def primary_mid(self, edge):
        """The mid an edge pulls from first (its relay's urls[0])."""
        url = self.relay(edge)["urls"][0]
        for name, n in self.nodes.items():
            if n.host in url and (":%d/" % n.rtmp_port in url or ":%d/" % n.http_port in url):
                return name
        raise AssertionError("%s: urls[0] %s is no node" % (edge, url))

    def relay(self, name):
        r = self.apis[name].get("/api/v1/relays/%s" % self.relays[name])
        assert r.status_code == 200, r.text
        return r.json()

    # ------------------------------------------------------------ drain

    def drain(self, name, redirect_url=None, retry_after_s=None):
        body = {}
        if redirect_url is not None:
            body["redirect_url"] = redirect_url
        if retry_after_s is not None:
            body["retry_after_s"] = retry_after_s
        return self.apis[name].post("/api/v1/node/drain", json=body)

    def undrain(self, name):
        return self.apis[name].post("/api/v1/node/undrain")

    # ------------------------------------------------------------ decisions

    def _decide(self, payload):
        """hookrecv's decide(): (status, delay)."""
        allowed = True
        if payload.get("type") == "on_publish" and payload.get("name") in self.deny_names:
            allowed = False
        with self._lock:
            self.decisions.append((self.node_ids.get(payload.get("node_id")), payload, allowed))
        return (200 if allowed else 403), 0.0

    def decided(self, point, name):
        """[(node, payload, allowed)] of the decisions on point for stream name."""
        with self._lock:
            return [d for d in self.decisions
                    if d[1].get("type") == point and d[1].get("name") == name]

    # ------------------------------------------------------------ the cluster view

    @staticmethod
    def sender(rec):
        """The node a webhook came from (the ?node= of its hook URL)."""
        return (parse_qs(rec["query"]).get("node") or [None])[0]

    def events(self, etype=None, node=None, **match):
        """Notifications received (duplicates by payload id dropped), in
        arrival order, optionally of one type, from one node, with fields."""
        out = []
        seen = set()
        # Event ids are per node (each node's event log): a duplicate is the
        # same (sender, id). hookrecv's unique() is for one node only.
        for rec in self.rx.received(etype):
            body = rec["body"] if isinstance(rec["body"], dict) else {}
            if rec["type"] in ("on_publish", "on_play"):
                continue
            key = (self.sender(rec), body.get("id"))
            if key[1] is not None and key in seen:
                continue
            seen.add(key)
            if node is not None and self.sender(rec) != node:
                continue
            if all(body.get(k) == v for k, v in match.items()):
                out.append(rec)
        return out

    def wait_event(self, etype, node, timeout=10.0, **match):
        """The first notification of etype from node with the fields match."""
        def pred(rec):
            body = rec["body"] if isinstance(rec["body"], dict) else {}
            return (rec["type"] == etype and self.sender(rec) == node and
                    all(body.get(k) == v for k, v in match.items()))
        return self.rx.wait_for(pred, timeout=timeout)

    def last_heartbeat(self, node):
        hb = self.events("node.heartbeat", node)
        return hb[-1] if hb else None

    def is_up(self, node, now=None):
        hb = self.last_heartbeat(node)
        now = time.monotonic() if now is None else now
        return hb is not None and now - hb["t"] <= HEARTBEAT_MISSED * HEARTBEAT_S

    def view(self):
        """{node: {"up", "heartbeats", "started", "draining", "publishes",
        "plays"}}: what the scheduler knows from webhooks alone."""
        out = {}
        for name in self.nodes:
            hb = self.last_heartbeat(name)
            out[name] = {
                "up": self.is_up(name),
                "heartbeats": len(self.events("node.heartbeat", name)),
                "started": len(self.events("node.start", name)),
                "draining": bool(hb and hb["body"].get("draining")),
                "publishes": sorted({r["body"].get("name") for r in
                                     self.events("publish.start", name)} - {None}),
                "plays": len(self.events("play.start", name)),
            }
        return out

    def describe(self):
        lines = ["scheduler view (from webhooks):"]
        for name, v in self.view().items():
            lines.append("  %-7s %s" % (name, v))
        if self.hook_errors:
            lines.append("hook set-up errors: %s" % self.hook_errors)
        lines.append("the nodes' view of the scheduler's hook (GET /api/v1/hooks/%s):" % HOOK_ID)
        for name, api in self.apis.items():
            try:
                r = api.get("/api/v1/hooks/%s" % HOOK_ID, timeout=2)
                got = r.json() if r.status_code == 200 else r.status_code
                if isinstance(got, dict):
                    got = {k: got.get(k) for k in ("queued", "delivered", "failed", "dropped",
                                                   "retries", "last_status", "last_error")}
            except Exception as e:  # a killed node, a drifting document: diagnostics only
                got = repr(e)[:200]
            lines.append("  %-7s %s" % (name, got))
        return "\n".join(lines)

