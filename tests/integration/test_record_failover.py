"""A recording at an edge goes on in the same file across a relay
failover between two origins of the same source (issue 21): one file, that
grows after origin1 is killed and holds only the clip's packets, with no
record.segment until the recorder is deleted.
"""

import os
import signal

import weirtest
from relayutil import (APP, api_of, create_relay, events_of, publish, relay_body, stream_live,
                       wait_active, wait_event, wait_for)
from test_record import parts_under, recorded_video

GRACE_MS = 5000


def test_relay_failover_continues_the_recording(node, procs, clip):
    """Two origins publish the same clip (the second on a clock 1000 s
    ahead); the edge pulls [origin1, origin2] and records; origin1 is
    killed: the edge's one file goes on past the failover."""
    o1, o2 = node(), node()
    publish(procs, o1, clip, "s")
    cmd = weirtest.publish_cmd(clip.path, o2.rtmp_url(APP, "s"), loop=True)
    cmd[-3:-3] = ["-output_ts_offset", "1000"]
    procs.spawn(cmd, name="publish-s-origin2")
    for o in (o1, o2):
        wait_for("live/s on an origin", lambda o=o: stream_live(api_of(o), APP, "s"),
                 timeout=15, diag=[o])
    e = node(stream={"unpublish_grace_ms": GRACE_MS},
             relay={"connect_timeout_ms": 3000, "on_demand_wait_ms": 4000})
    api = api_of(e)
    root = os.path.join(e.workdir, "recordings")
    r = api.post("/api/v1/recorders", json={"app": APP, "name": "*", "format": "flv"})
    assert r.status_code == 201, r.text
    rec = r.json()["id"]
    rid = create_relay(api, relay_body("pull", [o1.rtmp_url(APP, "s"), o2.rtmp_url(APP, "s")],
                                       name="s", mode="always"))["id"]
    wait_active(api, rid, timeout=15, diag=[o1, e])
    wait_event(api, "record.start", timeout=20, diag=[e], name="s")
    # 2 s of media on disk before the kill (the writer's buffer is 256 KiB)
    wait_for("a .part with data", lambda: [p for p in parts_under(root)
                                           if os.path.getsize(p) > 280000],
             timeout=30, diag=[e])
    o1.send_signal(signal.SIGKILL)
    assert o1.proc.wait(10) == -signal.SIGKILL
    o1.proc = None  # killed on purpose: not for the teardown's clean-exit check
    part = parts_under(root)
    assert len(part) == 1, part
    size_at_kill = os.path.getsize(part[0])
    wait_event(api, "relay.failover", timeout=GRACE_MS / 1000 + 15, diag=[e], relay_id=rid)
    wait_for("the file growing after the failover",
             lambda: os.path.getsize(part[0]) > size_at_kill + 500000, timeout=30, diag=[e])
    assert parts_under(root) == part
    assert events_of(api, "record.segment", name="s") == []
    assert len(events_of(api, "record.start", name="s")) == 1
    assert api.delete("/api/v1/recorders/" + rec).status_code == 204
    seg = wait_event(api, "record.segment", timeout=20, diag=[e], name="s")
    assert len(seg) == 1 and seg[0]["closed_cleanly"], seg
    path = os.path.join(root, seg[0]["path"])
    assert path + ".part" == part[0]
    got = recorded_video([path])
    assert len(got) >= 4 * 25, len(got)
    known = set(clip.vmd5)
    assert all(h in known for h in got), "packets that are not the clip's"
    assert seg[0]["duration_ms"] >= 4000, seg
