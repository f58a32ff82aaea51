"""`workers: 2` (issue 23, a loop per core, phase 1): plain HTTP-FLV players
are handed round-robin to the event loop and to one worker thread. Players on
both loops get the clip's frames, a kick over the API closes a worker's
player, the API's figures add up (the worker reports every second, the stop
event counts every byte; /metrics counts the worker's writes), and closing the stream ends the players on both
loops with the last chunk."""

import re

import weirtest
from apischema import Api
from test_api import FlvReader, all_events, sessions, wait_for
from test_hooks import metric
from weirtest import dechunk, describe_mismatch, find_run, framemd5

APP = "live"
NAME = "cam"
PLAYERS = 6


def body(reader):
    """The response body a reader got (after a 200 head)."""
    head, _, rest = bytes(reader.data).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:80]
    return rest


def players(api):
    return {s["id"]: s for s in sessions(api, role="player")}


def test_players_on_two_loops(node, procs, clip, tmp_path):
    n = node(workers=2)
    api = Api(n.api_url)
    procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "publisher")
    weirtest.wait_live(n, APP, NAME)
    readers = [FlvReader(n, APP, NAME, keep=True) for _ in range(PLAYERS)]
    try:
        wait_for("%d players listed" % PLAYERS, lambda: len(players(api)) == PLAYERS, timeout=20)
        assert api.get("/api/v1/streams/%s/%s" % (APP, NAME)).json()["player_count"] == PLAYERS
        handed = {int(m) for m in re.findall(r"\[s(\d+)\] http-flv: handed to worker 1",
                                             n.log_text())}
        ids = set(players(api))
        assert handed and handed < ids, (handed, ids)  # both loops have players
        # The worker's players are counted too (its reports, every second).
        wait_for("every player's bytes_out in the API",
                 lambda: all(s["bytes_out"] > 50000 for s in players(api).values()), timeout=20)

        # A kick of a worker's player: gone from the list at once, its socket
        # closed by the worker, its stop event with the bytes written.
        victim_id = min(handed)
        port_of = {r.port: r for r in readers}
        victim = port_of[int(players(api)[victim_id]["remote"].rsplit(":", 1)[1])]
        assert api.delete("/api/v1/sessions/%d" % victim_id).status_code == 200
        assert victim_id not in players(api)
        wait_for("the kicked player's socket to close", lambda: victim.closed_at, timeout=5)
        kicked = wait_for("the kicked player's play.stop", lambda: [
            e for e in all_events(api) if e["type"] == "play.stop" and e["session_id"] == victim_id])
        assert kicked[0]["reason"] == "kicked", kicked
        assert kicked[0]["bytes_out"] >= len(victim.data) > 50000, (kicked, len(victim.data))

        # The others go on; then the stream closes: every player ends with
        # the last chunk, and its stop event counts exactly what it read.
        rest = [r for r in readers if r is not victim]
        before = [len(r.data) for r in rest]
        wait_for("the other players to get more",
                 lambda: all(len(r.data) > b + 100000 for r, b in zip(rest, before)), timeout=20)
        r = api.delete("/api/v1/streams/%s/%s" % (APP, NAME))
        assert r.status_code == 200 and r.json()["sessions"] == 1 + len(rest), r.text
        wait_for("every player's end of stream", lambda: all(r.closed_at for r in rest), timeout=10)
        wait_for("no players listed", lambda: not players(api), timeout=5)
        stops = {e["session_id"]: e for e in all_events(api)
                 if e["type"] == "play.stop" and e["protocol"] == "http-flv"}
        assert len(stops) == PLAYERS, stops
        ended = [e for s, e in stops.items() if s != victim_id]
        assert {e["reason"] for e in ended} == {"stream_ended"}, ended
        assert sorted(e["bytes_out"] for e in ended) == sorted(len(rd.data) for rd in rest)
        for i, rd in enumerate(rest):
            data, complete = dechunk(body(rd))
            assert complete, "player %d: no last chunk" % i
            out = tmp_path / ("p%d.flv" % i)
            out.write_bytes(data)
            got = framemd5(out)
            assert len(got) >= 25, "player %d: only %d video frames" % (i, len(got))
            assert find_run(got, clip.vmd5, cyclic=True) is not None, \
                "player %d: %s" % (i, describe_mismatch(got, clip.vmd5))
        # /metrics counts the worker's writes too (its report, every second):
        # the stream is over, so the messages written whole are the tags the
        # players read (the kicked one's unread ones too: at most 1.5 x; the
        # loop's alone would be about half)
        tags = sum(len(weirtest.parse_flv(dechunk(body(rd))[0])[1]) for rd in readers)
        wait_for("weir_player_messages_total >= the %d tags the players read" % tags,
                 lambda: metric(api, "weir_player_messages_total") >= tags, timeout=10)
        assert metric(api, "weir_player_messages_total") <= 1.5 * tags
        assert 0 < metric(api, "weir_player_writes_total") <= metric(
            api, "weir_player_messages_total")
    finally:
        for rd in readers:
            rd.close()
