"""cluster: the nodes of the multi-tier scenario.

Each node is a real weir process (weirtest.Node: its own folder, config,
log and SQLite file) listening on its OWN loopback address, so that killing
a node frees exactly its addresses and a restart can take them back:

    origin  127.0.1.1
    mid1    127.0.2.1     mid2   127.0.2.2
    edge1   127.0.3.1     edge2  127.0.3.2     edge3  127.0.3.3

Any address of 127.0.0.0/8 is local on Linux without setup; no network
namespaces are used (they need privileges the CI runner does not have).
"""

import weirtest

APP = "live"

ADDRESSES = {
    "origin": "127.0.1.1",
    "mid1": "127.0.2.1",
    "mid2": "127.0.2.2",
    "edge1": "127.0.3.1",
    "edge2": "127.0.3.2",
    "edge3": "127.0.3.3",
}
MIDS = ("mid1", "mid2")
EDGES = ("edge1", "edge2", "edge3")


class ClusterNode(weirtest.Node):
    """weirtest.Node on the node's own loopback address (ADDRESSES[name])."""

    def __init__(self, name, workdir, overrides=None):
        super().__init__(workdir, overrides, host=ADDRESSES[name], name=name)

    def kill9(self):
        """kill -9; returns when the process is gone."""
        self.proc.kill()
        self.proc.wait(10)

    @property
    def http_base(self):
        """The HTTP-FLV base URL (scheme, host, port), e.g. a drain redirect."""
        return "http://%s:%d" % (self.host, self.http_port)

    def app_url(self, proto, app=APP):
        """The app-level URL another node pulls "*" from."""
        if proto == "rtmp":
            return "rtmp://%s:%d/%s" % (self.host, self.rtmp_port, app)
        return "http://%s:%d/%s" % (self.host, self.http_port, app)

    def __repr__(self):
        return "<%s %s>" % (self.name, self.host)


# ------------------------------------------------------------------ measurements

# (what, seconds) recorded by the tests; conftest prints them at the end of
# the run and, with WEIR_CLUSTER_RESULTS=path, writes them there (Markdown).
MEASUREMENTS = []


def measure(what, seconds):
    MEASUREMENTS.append((what, seconds))
    print("MEASURED %s: %s" % (what, "%.3f s" % seconds if seconds is not None else "none"))
