"""Fixtures for the dashboard's browser test (tests/web).

Run: WEIR_BIN=build/weir WEIR_BUILD_DIR=build /usr/bin/python3 -m pytest -v tests/web
(needs /usr/bin/chromium, `npm --prefix web ci` and `npm --prefix web run build`).

The helpers of tests/integration (weirtest, relayutil, apischema) are imported
from there, and its fixtures (node, procs, clip) are reused: its conftest.py is
loaded under another module name, as tests/cluster does.
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

# The integration suite's fixtures: a real node per test, its background
# processes (ended before the node), and the session's test clip.
node = _integration.node
procs = _integration.procs
media_dir = _integration.media_dir
clip = _integration.clip

# The whole scenario (with a node restart) must finish within this; ctest's
# TIMEOUT (300 s) is above it so that the watchdog's traceback is what shows.
TEST_WATCHDOG_S = 240
_watchdog = weirtest.watchdog_fixture(TEST_WATCHDOG_S)
