#!/usr/bin/env python3
"""The layer rules of STYLE.md section 2 on every #include "..." (issue 17).

Reads node/, api/, storage/, conf/ and tools/; each file belongs to the layer
of its directory (LAYER_OF_DIR). An include names a header by its file name
(CMake puts each layer's directory on the include path), so every header name
must be unique. Fails, naming the file and the include, when
  - a file includes a header of a layer it may not use (USES: the layers
    below it, and the siblings a rule names), unless the pair is in ALLOW,
    the list of known debts;
  - an ALLOW entry no longer occurs (the debt is paid: remove the line);
  - files include each other in a loop (any layer; a.h -> b.h -> a.h);
  - an include names no header of the tree, or a header name is ambiguous.
Usage: check_layers.py [ROOT] (default: the repository of this script).
Exit 0 when clean, 1 with one line per problem on stderr.
"""

import os
import re
import sys

# Directory (relative to the root) -> layer. The longest prefix wins.
LAYER_OF_DIR = {
    "node/codec": "codec",
    "node/core": "core",
    "conf": "core",  # node_t and the hub hold a conf_t; conf.c logs via log.h
    "storage": "storage",
    "node/rtmp": "rtmp",
    "node/httpflv": "httpflv",
    "node/hls": "hls",
    "node/relay": "relay",
    "node/cluster": "cluster",
    "node/record": "record",
    "api": "api",
    "node/main.c": "main",
    "tools": "tools",
}

# The layers each layer may include (itself included).
BELOW_FEATURES = {"codec", "core", "storage"}
USES = {
    "codec": {"codec"},
    "core": {"codec", "core"},
    "storage": {"codec", "core", "storage"},
    "rtmp": BELOW_FEATURES | {"rtmp"},
    "httpflv": BELOW_FEATURES | {"httpflv", "hls"},
    # HLS: the segmenter and (later) the serving of one stream's HLS timeline.
    "hls": BELOW_FEATURES | {"hls"},
    "cluster": BELOW_FEATURES | {"cluster"},
    # A relay link speaks RTMP through the rtmp room's control handling
    # (rtmp_ctrl.h); relay events go through core's event sink (node_event()).
    "relay": BELOW_FEATURES | {"relay", "rtmp"},
    # Recording: a stream tap and a writer thread; the index through storage.
    "record": BELOW_FEATURES | {"record"},
    "api": BELOW_FEATURES | {"rtmp", "httpflv", "hls", "relay", "cluster", "record", "api"},
    "main": BELOW_FEATURES | {"rtmp", "httpflv", "hls", "relay", "cluster", "record", "api",
                              "main"},
    # The operator tools link the pure codecs alone.
    "tools": {"codec", "tools"},
}

# Known debts: (file, included header) pairs that break the rules today.
# Each is named in issue 17's report; a new violation is never added here.
ALLOW = set()

SCAN_DIRS = ["node", "api", "storage", "conf", "tools"]
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(rel):
    best = None
    for d, layer in LAYER_OF_DIR.items():
        if rel == d or rel.startswith(d + "/"):
            if best is None or len(d) > len(best[0]):
                best = (d, layer)
    return best[1] if best else None


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), "..", ".."))
    problems = []
    files = []
    for top in SCAN_DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames[:] = sorted(d for d in dirnames if d != "node_modules")
            for f in sorted(filenames):
                if f.endswith((".c", ".h")):
                    files.append(os.path.relpath(os.path.join(dirpath, f), root))

    headers = {}
    for rel in files:
        if rel.endswith(".h"):
            headers.setdefault(os.path.basename(rel), []).append(rel)
    for name, where in sorted(headers.items()):
        if len(where) > 1:
            problems.append("header name %s is ambiguous: %s" % (name, ", ".join(where)))

    graph = {}
    used_allow = set()
    for rel in files:
        layer = layer_of(rel)
        if layer is None:
            problems.append("%s: in no layer (add its directory to LAYER_OF_DIR)" % rel)
            continue
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        graph[rel] = []
        for inc in INCLUDE_RE.findall(text):
            if "/" in inc:
                target = os.path.normpath(os.path.join(os.path.dirname(rel), inc))
                if target not in files:
                    problems.append('%s: #include "%s": no such file in the tree' % (rel, inc))
                    continue
            elif inc in headers:
                target = headers[inc][0]
            else:
                problems.append('%s: #include "%s": no header of that name' % (rel, inc))
                continue
            graph[rel].append(target)
            tlayer = layer_of(target)
            if tlayer in USES[layer]:
                continue
            if (rel, inc) in ALLOW:
                used_allow.add((rel, inc))
                continue
            problems.append('%s: #include "%s": layer %s may not use layer %s (%s)' %
                            (rel, inc, layer, tlayer, target))

    for rel, inc in sorted(ALLOW - used_allow):
        problems.append('allow-list: %s: #include "%s" is not a violation any more: '
                        'remove it from ALLOW' % (rel, inc))

    # Include cycles: strongly connected components of the file graph.
    index, low, stack, on, sccs = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, []):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, []):
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    for comp in sccs:
        problems.append("include cycle: %s" % " <-> ".join(comp))

    for p in problems:
        print("check_layers: " + p, file=sys.stderr)
    if problems:
        print("check_layers: %d problem(s)" % len(problems), file=sys.stderr)
        return 1
    print("check_layers: %d files, %d includes, %d allowed debts: ok" %
          (len(graph), sum(len(v) for v in graph.values()), len(ALLOW)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
