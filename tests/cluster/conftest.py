"""Fixtures for the multi-tier cluster scenario (tests/cluster).

Run: WEIR_BIN=build/weir WEIR_BUILD_DIR=build /usr/bin/python3 -m pytest -v tests/cluster

The helpers of tests/integration (weirtest, relayutil, apischema, rtmp_min,
hookrecv) are imported from there, and its session clip fixtures are reused
(loaded from its conftest.py under another module name).
"""

import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.join(os.path.dirname(HERE), "integration")
for _p in (INTEGRATION, HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import weirtest  # noqa: E402 (after the path set-up)

_spec = importlib.util.spec_from_file_location("weir_integration_conftest",
                                               os.path.join(INTEGRATION, "conftest.py"))
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)

# The clip fixtures of the integration suite (session scope, made once).
media_dir = _integration.media_dir
clip = _integration.clip

# Each test (and the module set-up it triggers) must finish within this.
TEST_WATCHDOG_S = 120
_watchdog = weirtest.watchdog_fixture(TEST_WATCHDOG_S)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Prints the scenario's measurements; with WEIR_CLUSTER_RESULTS=path
    also writes them there as Markdown, with the command that ran."""
    import datetime
    import shlex

    import cluster

    if not cluster.MEASUREMENTS:
        return
    tr = terminalreporter
    tr.section("cluster measurements")
    for what, s in cluster.MEASUREMENTS:
        tr.write_line("%-60s %s" % (what, "%.3f s" % s if s is not None else "none"))
    path = os.environ.get("WEIR_CLUSTER_RESULTS")
    if not path:
        return
    env = " ".join("%s=%s" % (k, shlex.quote(os.environ[k]))
                   for k in ("WEIR_BIN", "WEIR_BUILD_DIR", "WEIR_CLUSTER_RESULTS")
                   if os.environ.get(k))
    cmd = "%s %s -m pytest %s" % (env, sys.executable, " ".join(
        shlex.quote(a) for a in config.invocation_params.args))
    passed = len(tr.stats.get("passed", []))
    failed = len(tr.stats.get("failed", [])) + len(tr.stats.get("error", []))
    lines = [
        "# Cluster scenario: measurements",
        "",
        "Written by tests/cluster (conftest.py) on %s UTC; %d passed, %d failed or errors." % (
            datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S"), passed, failed),
        "",
        "Command (from %s):" % os.getcwd(),
        "",
        "    " + cmd,
        "",
        "| measurement | seconds |",
        "|---|---|",
    ]
    lines += ["| %s | %s |" % (w, "%.3f" % s if s is not None else "none")
              for w, s in cluster.MEASUREMENTS]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    tr.write_line("written to %s" % path)
