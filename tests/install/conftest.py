"""Fixtures of the install test (test_install.py): the integration suite's
helpers (tests/integration/weirtest.py) and its test clip, and the build
folder whose install is tested (WEIR_BUILD_DIR)."""

import importlib.util
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.join(HERE, "..", "integration")
sys.path.insert(0, INTEGRATION)

import weirtest  # noqa: E402

_watchdog = weirtest.watchdog_fixture(120)


def _integration_conftest():
    spec = importlib.util.spec_from_file_location(
        "weir_integration_conftest", os.path.join(INTEGRATION, "conftest.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def clip(tmp_path_factory):
    """4 s, 640x360, 25 fps H.264 (1 s GOP) + AAC, FLV (the integration
    suite's clip, shorter)."""
    return _integration_conftest()._make_clip(tmp_path_factory.mktemp("media"), "clip.flv", 4, 25)


@pytest.fixture(scope="session")
def build_dir():
    path = os.environ.get("WEIR_BUILD_DIR", "")
    if not path or not os.path.isfile(os.path.join(path, "CMakeCache.txt")):
        pytest.fail("WEIR_BUILD_DIR must name a configured and built CMake folder; got %r" % path,
                    pytrace=False)
    return path
