"""weir-bench, the load generator: a functional check against a real node.

Its in-process publisher sends the clip, 20 players play it over RTMP or
HTTP-FLV for 5 s, and the final JSON must show every player receiving the
whole stream, starting on a key frame after its sequence header, with
latency figures from the probes. No timing assertion: this is not the
benchmark (tests/bench/ is).
"""

import json
import os

import pytest

import weirtest

APP = "live"
PLAYERS = 20
DURATION_S = 5
# Publisher setup, 1 s warm-up, ramp, 5 s window, and room for a slow
# (sanitizer) build; weir-bench bounds itself well within this.
BENCH_TIMEOUT_S = 60


def bench_bin():
    build = os.environ.get("WEIR_BUILD_DIR", "")
    path = os.path.join(build, "weir-bench") if build else ""
    if not path or not os.access(path, os.X_OK):
        pytest.fail("WEIR_BUILD_DIR must hold the weir-bench binary; got %r" % path,
                    pytrace=False)
    return path


def run_bench(args, timeout=BENCH_TIMEOUT_S):
    res = weirtest.run([bench_bin()] + args, timeout=timeout)
    # A sanitizer build reports on stderr (leaks at exit included).
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        assert marker not in res.stderr, "weir-bench %r:\n%s" % (args, res.stderr[-4000:])
    return res


def final_json(res):
    """The last stdout line: weir-bench's final JSON object."""
    lines = [l for l in res.stdout.splitlines() if l.strip()]
    assert lines, "no JSON on stdout (exit %d)\nstderr:\n%s" % (res.returncode, res.stderr[-3000:])
    try:
        return json.loads(lines[-1])
    except ValueError as e:
        pytest.fail("last stdout line is not JSON (%s): %r" % (e, lines[-1][:500]), pytrace=False)


def check_run(report, res, node):
    why = "report %s\nstderr:\n%s\n%s" % (json.dumps(report, indent=1), res.stderr[-3000:],
                                          node.diagnostics(20))
    assert res.returncode == 0, "exit %d\n%s" % (res.returncode, why)
    assert report["players"] == PLAYERS, why
    assert report["started"] == PLAYERS and report["connected"] == PLAYERS, why
    assert report["receiving"] == PLAYERS, why
    assert report["errors"] == {}, why
    assert report["ratio"] is not None and report["ratio"] >= 0.99, why
    assert report["player_ratio"]["min"] >= 0.95, why
    assert report["keyframe_starts"] == {"ok": PLAYERS, "total": PLAYERS}, why
    ttff = report["ttff_ms"]
    assert ttff["count"] == PLAYERS and ttff["p50"] is not None and ttff["p99"] is not None, why
    lat = report["latency_ms"]
    assert lat is not None and lat["samples"] > 0, why
    for k in ("p50", "p99", "max"):
        assert isinstance(lat[k], (int, float)) and lat[k] >= 0, why
    assert lat["p50"] <= lat["p99"] <= lat["max"], why
    assert report["publisher"]["messages"] > 0 and report["publisher"]["kbps"] > 0, why
    assert report["delivered_kbps"] > 0 and report["expected_kbps"] > 0, why
    assert abs(report["duration_s"] - DURATION_S) < 1.0, why
    # One human line per second on stderr.
    assert "weir-bench:" in res.stderr and "receiving" in res.stderr, res.stderr[-2000:]


@pytest.mark.parametrize("proto", ["rtmp", "http"])
def test_bench_publisher_and_players(node, clip, proto):
    n = node()
    name = "bench_" + proto
    res = run_bench(["--publish", str(clip.path), "--publish-url", n.rtmp_url(APP, name),
                     "--players", str(PLAYERS), "--url", n.url(proto, APP, name),
                     "--duration", str(DURATION_S), "--warmup", "1", "--probes", "5"])
    report = final_json(res)
    check_run(report, res, n)
    assert report["protocol"] == ("rtmp" if proto == "rtmp" else "http-flv")


def test_bench_without_publisher_counts_errors(node):
    """No publisher and no such stream: every player fails with a counted
    reason (HTTP 404), latency is null, and the run still completes."""
    n = node()
    res = run_bench(["--players", "4", "--url", n.http_url(APP, "missing"), "--duration", "0.5",
                     "--quiet"])
    report = final_json(res)
    assert res.returncode == 0, res.stderr
    assert report["errors"] == {"http_status": 4}, report
    assert "404" in report["error_examples"]["http_status"], report
    assert report["latency_ms"] is None and report["ratio"] is None, report
    assert report["keyframe_starts"] == {"ok": 0, "total": 4}, report


def test_bench_help():
    res = run_bench(["--help"], timeout=10)
    assert res.returncode == 0, res.stderr
    for opt in ("--players", "--url", "--ramp", "--duration", "--probes", "--batch-ms",
                "--publish", "--publish-url", "--expected-kbps", "--json-every-second",
                "keyframe_starts", "latency_ms"):
        assert opt in res.stdout, "--help does not mention %s" % opt


@pytest.mark.parametrize("args, message", [
    (["--players", "2", "--url", "ftp://127.0.0.1/live/x"], "expected rtmp://"),
    (["--players", "2", "--url", "rtmp://127.0.0.1:1935/live"], "missing stream name"),
    (["--players", "2", "--url", "http://127.0.0.1:8080/"], "missing path"),
    (["--players", "2", "--url", "rtmp://127.0.0.1:99999/live/x"], "port"),
    (["--publish", "x.flv", "--publish-url", "http://127.0.0.1/live/x.flv", "--players", "0"],
     "expected rtmp://"),
    (["--players", "-1", "--url", "rtmp://127.0.0.1/live/x"], "--players"),
    (["--players", "2"], "--url is required"),
    (["--players", "2", "--url", "rtmp://127.0.0.1/live/x", "--bogus"], "unknown option"),
])
def test_bench_usage_errors(args, message):
    res = run_bench(args, timeout=10)
    assert res.returncode == 2, "exit %d for %r\nstderr: %s" % (res.returncode, args, res.stderr)
    assert message in res.stderr, "stderr for %r: %s" % (args, res.stderr)
    assert res.stdout == "", res.stdout
