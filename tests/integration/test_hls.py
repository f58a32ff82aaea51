"""HLS over MPEG-TS from a real node (GET /{app}/{name}.m3u8 and
/{app}/{name}/{msn}.ts): ffmpeg decodes the playlist without a word; the
playlist's structure (target duration, media sequence, window, EXTINF);
segments start with PAT/PMT and a key frame, are the same bytes for every
request, and an old one 404s; sessions (token in the URIs) are listed with
protocol hls, kicked (403 after), end with play.stop after the idle timeout;
a signed-URL app refuses without a signature (401), drain refuses a new
session (503); keep-alive, pipelined requests, the connection not listed
nor found by id (404) while its HLS session is; LL-HLS parts and blocking reload; a republish
is a discontinuity, the end is EXT-X-ENDLIST, closing the stream over the
API ends its HLS sessions, a blocking reload that cannot be answered is 503
after three targets."""

import pathlib
import re
import time
import urllib.error
import urllib.request

import pytest

import weirtest
from apischema import Api
from test_api import wait_for
from weirtest import wait_live

APP = "live"
NAME = "cam"
HLS = {"segment_ms": 1000, "window": 3, "idle_timeout_s": 2}


def get(url, ua=None):
    """(status, headers, body) of a GET (with User-Agent ua: another client
    than the default urllib one, hls_sess.h)."""
    req = urllib.request.Request(url, headers={"User-Agent": ua} if ua else {})
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def base(n):
    return "http://%s:%d" % (n.host, n.http_port)


def parse_playlist(text):
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U", text
    tags = {}
    segs = []
    dur = None
    for ln in lines:
        m = re.match(r"#(EXT-X-[A-Z-]+):(.*)", ln)
        if m:
            tags[m.group(1)] = m.group(2)
        elif ln.startswith("#EXTINF:"):
            dur = float(ln[8:].split(",")[0])
        elif ln and not ln.startswith("#"):
            segs.append((dur, ln))
    return tags, segs


@pytest.fixture(scope="module")
def live(tmp_path_factory, clip):
    wd = tmp_path_factory.mktemp("hls")
    n = weirtest.Node(wd / "node", {"hls": HLS})
    procs = weirtest.Procs(wd)
    n.start()
    try:
        procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "publisher")
        wait_live(n, APP, NAME)
        yield n
    finally:
        procs.stop_all()
        n.stop_and_check()


def test_ffmpeg_decodes_the_playlist(live):
    res = weirtest.run([weirtest.require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-v", "error",
                        "-i", base(live) + "/live/cam.m3u8", "-t", "6", "-f", "null", "-"],
                       timeout=60)
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr[-2000:]


def test_playlist_and_segments(live):
    st, hdr, body = get(base(live) + "/live/cam.m3u8")
    assert st == 200 and hdr["Content-Type"] == "application/vnd.apple.mpegurl", (st, body)
    assert hdr["Cache-Control"] == "no-cache"
    tags, segs = parse_playlist(body.decode())
    assert 1 <= len(segs) <= HLS["window"], body
    assert int(tags["EXT-X-TARGETDURATION"]) >= max(round(d) for d, _ in segs), body
    uri = segs[0][1]
    m = re.match(r"cam/(\d+)\.ts\?hls_session=([A-Za-z0-9_-]{16,})$", uri)
    assert m, uri
    first_msn, token = int(m.group(1)), m.group(2)
    assert int(tags["EXT-X-MEDIA-SEQUENCE"]) == first_msn
    url = base(live) + "/live/" + uri
    st, hdr, seg = get(url)
    assert st == 200 and hdr["Content-Type"] == "video/mp2t" and len(seg) == int(hdr["Content-Length"])
    assert len(seg) % 188 == 0 and seg[0] == 0x47
    assert ((seg[1] & 0x1F) << 8 | seg[2]) == 0, "a segment starts with the PAT"
    st2, _, seg2 = get(url)
    assert st2 == 200 and seg2 == seg, "the same segment twice: the same bytes"
    tsfile = pathlib.Path(live.workdir) / "seg.ts"
    tsfile.write_bytes(seg)
    assert "K" in weirtest.probe_packets(tsfile, "v")[0]["flags"], "starts with a key frame"
    # the window slides: the media sequence advances, the old segment goes
    end = time.monotonic() + (HLS["window"] + 3) * HLS["segment_ms"] / 1000 + 1
    while time.monotonic() < end:  # the session stays (hls.idle_timeout_s)
        assert get(base(live) + "/live/cam.m3u8?hls_session=" + token)[0] == 200
        time.sleep(0.5)
    st, _, body = get(base(live) + "/live/cam.m3u8?hls_session=" + token)
    tags2, segs2 = parse_playlist(body.decode())
    assert int(tags2["EXT-X-MEDIA-SEQUENCE"]) > first_msn
    assert len(segs2) == HLS["window"], body
    assert all(("hls_session=" + token) in u for _, u in segs2)
    assert get(url)[0] == 404
    st, _, _ = get(base(live) + "/live/cam/%d.ts" % first_msn)
    assert st == 403  # a segment needs a session


def test_bad_requests(live):
    for path in ("/live/cam.m3u8?_HLS_part=1", "/live/cam/01.ts", "/live/cam/x.ts"):
        st = get(base(live) + path)[0]
        assert st in (400, 404), (path, st)
    assert get(base(live) + "/live/cam.m3u8?_HLS_part=1")[0] == 400
    assert get(base(live) + "/live/nobody.m3u8")[0] == 404
    r = weirtest.http_exchange(live.http_port, b"HEAD /live/cam.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n",
                               body_bytes=1, body_seconds=0.5)
    assert r.status == 200 and r.body == b"" and int(r.header("content-length")) > 0, r
    r = weirtest.http_exchange(live.http_port, b"POST /live/cam.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status == 405, r


def test_session_listed_kicked_and_idle(live):
    api = Api(live.api_url)
    ua = "listed-player/1"  # a client of its own: a new session, the newest
    st, _, body = get(base(live) + "/live/cam.m3u8", ua=ua)
    token = re.search(r"hls_session=([A-Za-z0-9_-]+)", body.decode()).group(1)
    sessions = api.get("/api/v1/sessions", params={"protocol": "hls"}).json()["sessions"]
    assert len(sessions) >= 1 and all(s["protocol"] == "hls" for s in sessions), sessions
    sid = sessions[-1]["id"]
    assert sessions[-1]["role"] == "player" and sessions[-1]["bytes_out"] > 0, sessions
    assert api.get("/api/v1/sessions/%d" % sid).json()["protocol"] == "hls"
    players = api.get("/api/v1/streams/%s/%s" % (APP, NAME)).json()["players"]
    assert sid in [p["id"] for p in players], players
    assert 'weir_sessions{role="player",protocol="hls"}' in api.get("/metrics").text
    assert api.delete("/api/v1/sessions/%d" % sid).status_code == 200
    assert get(base(live) + "/live/cam.m3u8?hls_session=" + token)[0] == 403
    # the same client reloading the plain URL is the kicked session too
    assert get(base(live) + "/live/cam.m3u8", ua=ua)[0] == 403
    # another client's session, left idle: play.stop after hls.idle_timeout_s
    st, _, body = get(base(live) + "/live/cam.m3u8", ua="another-player/1")
    assert st == 200
    wait_for("no hls session", lambda: not api.get(
        "/api/v1/sessions", params={"protocol": "hls"}).json()["sessions"], timeout=8)
    evs = api.get("/api/v1/events", params={"limit": 1000}).json()["events"]
    stops = [e for e in evs if e["type"] == "play.stop" and e.get("protocol") == "hls"]
    assert len(stops) >= 2, stops


def test_admission_signed_url_and_drain(node, procs, clip):
    from test_auth import signed_query
    n = node(apps=[{"app": "sec", "play_secret": "hls-play-secret-0123"}], hls=HLS)
    api = Api(n.api_url)
    procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url("sec", "cam"), loop=True), "pub")
    wait_for("sec/cam", lambda: api.get("/api/v1/streams/sec/cam").status_code == 200)
    assert get(base(n) + "/sec/cam.m3u8")[0] == 401
    q = signed_query("hls-play-secret-0123", "sec", "cam")
    assert get(base(n) + "/sec/cam.m3u8?" + q)[0] == 200
    assert api.post("/api/v1/node/drain").status_code == 200
    # the admitted player goes on (its reloads of the plain URL are its
    # session, hls_sess.h); a new client is refused
    assert get(base(n) + "/sec/cam.m3u8?" + q)[0] == 200
    st, hdr, _ = get(base(n) + "/sec/cam.m3u8?" + q, ua="new-player/1")
    assert st == 503 and hdr["Retry-After"], st
    r = api.post("/api/v1/node/drain", json={"redirect_url": "http://edge-2.example:8080"})
    assert r.status_code == 200, r.text
    r = weirtest.http_exchange(n.http_port, b"GET /sec/cam.m3u8?%s HTTP/1.1\r\nHost: x\r\n\r\n"
                               % q.encode())
    assert r.status == 302, r
    assert r.header("location") == "http://edge-2.example:8080/sec/cam.m3u8?" + q, r


def read_response(sock, buf):
    """(status, headers dict, body, rest) of one response with Content-Length."""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        assert d, "closed before a response"
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    hdrs = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    n = int(hdrs["content-length"])
    while len(buf) < n:
        d = sock.recv(65536)
        assert d, "closed inside a body"
        buf += d
    return int(lines[0].split()[1]), hdrs, buf[:n], buf[n:]


def test_keep_alive(live):
    """Several requests on one connection: playlist, then its segments."""
    import socket
    with socket.create_connection((live.host, live.http_port), timeout=10) as s:
        s.sendall(b"GET /live/cam.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n")
        st, hdrs, body, rest = read_response(s, b"")
        assert st == 200 and hdrs["connection"] == "keep-alive", hdrs
        uris = [ln for ln in body.decode().splitlines() if ln and not ln.startswith("#")]
        for uri in uris[-2:]:
            s.sendall(b"GET /live/%s HTTP/1.1\r\nHost: x\r\n\r\n" % uri.encode())
            st, hdrs, seg, rest = read_response(s, rest)
            assert st == 200 and hdrs["content-type"] == "video/mp2t" and seg[0] == 0x47
        s.sendall(b"GET /live/cam/x.ts HTTP/1.1\r\nHost: x\r\n\r\n")
        st, hdrs, _, _ = read_response(s, rest)
        assert st == 400 and hdrs["connection"] == "close"


def test_pipelined_requests_and_the_connection_not_listed(live):
    """Requests sent back to back on one connection (the first two in one
    write, so the second is read with the first head) are all answered, in
    order, on the same connection; the connection carrying them is not
    listed as a session of its own (its HLS session is)."""
    import socket
    api = Api(live.api_url)
    with socket.create_connection((live.host, live.http_port), timeout=10) as s:
        s.sendall(b"GET /live/cam.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"HEAD /live/cam.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n")
        st, hdrs, body, rest = read_response(s, b"")
        assert st == 200 and hdrs["connection"] == "keep-alive", hdrs
        while b"\r\n\r\n" not in rest:
            d = s.recv(65536)
            assert d, "closed before the pipelined HEAD was answered"
            rest += d
        head, rest = rest.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200") and b"keep-alive" in head.lower(), head
        uri = [ln for ln in body.decode().splitlines() if ln and not ln.startswith("#")][-1]
        token = re.search(r"hls_session=([A-Za-z0-9_-]+)", uri).group(1)
        s.sendall(b"GET /live/%s HTTP/1.1\r\nHost: x\r\n\r\n" % uri.encode() +
                  b"GET /live/cam.m3u8?hls_session=%s HTTP/1.1\r\nHost: x\r\n\r\n" % token.encode())
        st, hdrs, seg, rest = read_response(s, rest)
        assert st == 200 and hdrs["content-type"] == "video/mp2t" and seg[0] == 0x47, hdrs
        assert hdrs["connection"] == "keep-alive", hdrs
        assert get(base(live) + "/live/" + uri)[2] == seg, uri
        st, hdrs, body, rest = read_response(s, rest)
        assert st == 200 and body.startswith(b"#EXTM3U") and hdrs["connection"] == "keep-alive", hdrs
        assert token.encode() in body, body
        sessions = api.get("/api/v1/sessions").json()["sessions"]
        assert [x for x in sessions if x["protocol"] == "http-flv"] == [], sessions
        assert any(x["protocol"] == "hls" for x in sessions), sessions
        m = re.search(r'^weir_sessions\{role="connecting",protocol="http-flv"\} (\d+)$',
                      api.get("/metrics").text, re.M)
        assert m is None or m.group(1) == "0", m.group(0)


def test_carrier_connection_is_not_a_session(live):
    """The connection carrying HLS requests (its id is in the node's log)
    is not found by GET nor DELETE /api/v1/sessions/{id} (404) and goes on
    serving; the HLS session it carries is found and kicked (403 after)."""
    import socket
    api = Api(live.api_url)
    req = b"GET /live/cam.m3u8%s HTTP/1.1\r\nHost: x\r\nUser-Agent: carrier-test/1\r\n\r\n"
    with socket.create_connection((live.host, live.http_port), timeout=10) as s:
        s.sendall(req % b"")
        st, _, body, rest = read_response(s, b"")
        assert st == 200, body
        token = re.search(rb"hls_session=([A-Za-z0-9_-]+)", body).group(1)
        line = "http-flv: connection from %s:%d" % s.getsockname()
        found = []

        def carrier_logged():
            found[:] = re.findall(r"\[s(\d+)\] " + re.escape(line) + "$", live.log_text(), re.M)
            return found
        wait_for("the carrier's id in the log", carrier_logged, timeout=10)
        cid = int(found[0])
        hls = [x for x in api.get("/api/v1/sessions", params={"protocol": "hls"}).json()["sessions"]
               if x["id"] > cid]
        assert len(hls) == 1, hls
        hid = hls[0]["id"]
        r = api.get("/api/v1/sessions/%d" % cid)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
        r = api.delete("/api/v1/sessions/%d" % cid)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
        s.sendall(req % (b"?hls_session=" + token))  # not kicked: still served
        st, hdrs, body, rest = read_response(s, rest)
        assert st == 200 and hdrs["connection"] == "keep-alive" and token in body, hdrs
        assert api.get("/api/v1/sessions/%d" % hid).json()["protocol"] == "hls"
        r = api.delete("/api/v1/sessions/%d" % hid)
        assert r.status_code == 200 and r.json()["kicked"]["id"] == hid, r.text
        s.sendall(req % (b"?hls_session=" + token))
        st, _, body, _ = read_response(s, rest)
        assert st == 403, body
    assert api.get("/api/v1/sessions/%d" % hid).status_code == 404


LL = {"segment_ms": 1000, "window": 3, "part_ms": 250, "idle_timeout_s": 5}


def test_ll_hls_parts_and_blocking_reload(node, procs, clip):
    """LL-HLS over TS parts: EXT-X-PART / PRELOAD-HINT / SERVER-CONTROL, a
    segment is its parts' bytes, a blocking reload for the next part returns
    once the playlist lists it (not before), the preload hint's part is held
    until it exists, a far-ahead _HLS_msn is 400; ffmpeg decodes it."""
    n = node(hls=LL)
    procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "pub")
    wait_live(n, APP, NAME)
    st, _, body = get(base(n) + "/live/cam.m3u8")
    assert st == 200, body
    text = body.decode()
    token = re.search(r"hls_session=([A-Za-z0-9_-]+)", text).group(1)
    assert "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES" in text and "#EXT-X-PART-INF" in text, text
    # wait for a complete segment with its parts listed
    def listed():
        t = get(base(n) + "/live/cam.m3u8?hls_session=" + token)[2].decode()
        segs = parse_playlist(t)[1]
        return len(segs) >= 2 and t
    text = wait_for("two segments", listed, timeout=10)
    lines = text.splitlines()
    last_uri = parse_playlist(text)[1][-1][1]
    msn = int(re.match(r"cam/(\d+)\.ts", last_uri).group(1))
    parts = [re.search(r'URI="([^"]+)"', ln).group(1) for ln in lines
             if ln.startswith("#EXT-X-PART:") and ("cam/%d." % msn) in ln]
    assert len(parts) >= 2, text  # a segment is its parts, byte for byte
    seg = get(base(n) + "/live/" + last_uri)[2]
    assert b"".join(get(base(n) + "/live/" + u)[2] for u in parts) == seg
    # blocking reload for the preload hint's part: answered once it exists
    hint = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="cam/(\d+)\.(\d+)\.ts', text)
    assert hint, text
    hmsn, hpart = int(hint.group(1)), int(hint.group(2))
    t0 = time.monotonic()
    st, _, body = get(base(n) + "/live/cam.m3u8?hls_session=%s&_HLS_msn=%d&_HLS_part=%d"
                      % (token, hmsn, hpart))
    took = time.monotonic() - t0
    assert st == 200 and took < 3 * LL["segment_ms"] / 1000, (st, took)
    assert ("cam/%d.%d.ts" % (hmsn, hpart)) in body.decode(), body
    st, hdr, part = get(base(n) + "/live/cam/%d.%d.ts?hls_session=%s" % (hmsn, hpart, token))
    assert st == 200 and len(part) > 0 and part[0] == 0x47 and hdr["Content-Type"] == "video/mp2t"
    assert get(base(n) + "/live/cam.m3u8?hls_session=%s&_HLS_msn=%d" % (token, hmsn + 50))[0] == 400
    # the preload hint of a fresh playlist is held until the part exists
    text = get(base(n) + "/live/cam.m3u8?hls_session=" + token)[2].decode()
    hint = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"', text).group(1)
    st, _, part = get(base(n) + "/live/" + hint)
    assert st == 200 and part[0] == 0x47
    res = weirtest.run([weirtest.require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-v", "error",
                        "-i", base(n) + "/live/cam.m3u8", "-t", "4", "-f", "null", "-"], timeout=60)
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr[-2000:]


def test_republish_is_a_discontinuity(node, procs, clip):
    """A new publisher within the grace period (another timeline): the
    playlist goes on (media sequence up, the session kept) with
    EXT-X-DISCONTINUITY before the new publisher's first segment."""
    n = node(hls=HLS)
    pub = procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "pub1")
    wait_live(n, APP, NAME)
    st, _, body = get(base(n) + "/live/cam.m3u8")
    assert st == 200 and "#EXT-X-DISCONTINUITY\n" not in body.decode()
    token = re.search(r"hls_session=([A-Za-z0-9_-]+)", body.decode()).group(1)
    first = int(parse_playlist(body.decode())[0]["EXT-X-MEDIA-SEQUENCE"])
    time.sleep(1.5)
    pub.kill()
    pub.wait()
    procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "pub2")

    def disc():
        t = get(base(n) + "/live/cam.m3u8?hls_session=" + token)[2].decode()
        return "#EXT-X-DISCONTINUITY\n" in t and t
    text = wait_for("a discontinuity", disc, timeout=10)
    assert int(parse_playlist(text)[0]["EXT-X-MEDIA-SEQUENCE"]) >= first
    lines = text.splitlines()
    i = lines.index("#EXT-X-DISCONTINUITY")
    uri = next(ln for ln in lines[i:] if ln and not ln.startswith("#"))
    st, _, seg = get(base(n) + "/live/" + uri)
    assert st == 200 and seg[0] == 0x47 and ((seg[1] & 0x1F) << 8 | seg[2]) == 0


def test_stream_end_is_endlist(node, procs, clip):
    """The stream ends (grace over): the last playlist has EXT-X-ENDLIST and
    its segments stay; a new session then gets 404."""
    n = node(hls=HLS, stream={"unpublish_grace_ms": 300})
    pub = procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "pub")
    wait_live(n, APP, NAME)
    st, _, body = get(base(n) + "/live/cam.m3u8")
    token = re.search(r"hls_session=([A-Za-z0-9_-]+)", body.decode()).group(1)
    time.sleep(1)
    pub.kill()
    pub.wait()

    def ended():
        t = get(base(n) + "/live/cam.m3u8?hls_session=" + token)[2].decode()
        return "#EXT-X-ENDLIST" in t and t
    text = wait_for("EXT-X-ENDLIST", ended, timeout=10)
    uri = parse_playlist(text)[1][-1][1]
    assert get(base(n) + "/live/" + uri)[0] == 200
    # the same client's plain URL is its session (the last playlist); a new
    # client gets 404
    assert "#EXT-X-ENDLIST" in get(base(n) + "/live/cam.m3u8")[2].decode()
    assert get(base(n) + "/live/cam.m3u8", ua="new-player/1")[0] == 404


def test_stream_close_ends_hls_sessions(node, procs, clip):
    """DELETE /api/v1/streams/{app}/{name} ends the stream's HLS sessions as
    it ends its other players: counted in `sessions`, gone from
    /api/v1/sessions at once, play.stop (stream_ended); a blocking reload
    held meanwhile and later requests of the session are 403."""
    import socket
    n = node(hls=dict(HLS, segment_ms=2000))
    api = Api(n.api_url)
    procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "pub")
    wait_live(n, APP, NAME)
    st, _, body = get(base(n) + "/live/cam.m3u8")
    assert st == 200, body
    token = re.search(r"hls_session=([A-Za-z0-9_-]+)", body.decode()).group(1)
    hid = api.get("/api/v1/sessions", params={"protocol": "hls"}).json()["sessions"][0]["id"]
    last = int(re.match(r"cam/(\d+)\.ts", parse_playlist(body.decode())[1][-1][1]).group(1))
    with socket.create_connection((n.host, n.http_port), timeout=10) as held:
        held.sendall(b"GET /live/cam.m3u8?hls_session=%s&_HLS_msn=%d HTTP/1.1\r\nHost: x\r\n\r\n"
                     % (token.encode(), last + 2))
        r = api.delete("/api/v1/streams/%s/%s" % (APP, NAME))
        assert r.status_code == 200 and r.json()["sessions"] == 2, r.text  # publisher, HLS
        assert api.get("/api/v1/sessions", params={"protocol": "hls"}).json()["sessions"] == []
        assert api.get("/api/v1/sessions/%d" % hid).status_code == 404
        st, _, answer, _ = read_response(held, b"")
        assert st == 403, answer
    assert get(base(n) + "/live/cam.m3u8?hls_session=" + token)[0] == 403

    def stop():
        evs = api.get("/api/v1/events", params={"limit": 1000}).json()["events"]
        return [e for e in evs if e["type"] == "play.stop" and e.get("session_id") == hid]
    stops = wait_for("the HLS session's play.stop", stop, timeout=10)
    assert (stops[0]["protocol"], stops[0]["reason"], stops[0]["message"]) == (
        "hls", "stream_ended", "stream closed by the API"), stops


def test_blocking_reload_is_bounded_in_time(node, procs, clip):
    """A blocking reload for a segment that does not come (the publisher is
    gone, the grace period runs) is answered 503 after three targets."""
    n = node(hls=HLS, stream={"unpublish_grace_ms": 30000})
    pub = procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "pub")
    wait_live(n, APP, NAME)
    st, _, body = get(base(n) + "/live/cam.m3u8")
    token = re.search(r"hls_session=([A-Za-z0-9_-]+)", body.decode()).group(1)
    pub.kill()
    pub.wait()
    time.sleep(0.5)
    last = parse_playlist(get(base(n) + "/live/cam.m3u8?hls_session=" + token)[2].decode())[1]
    msn = int(re.match(r"cam/(\d+)\.ts", last[-1][1]).group(1)) + 2
    t0 = time.monotonic()
    st, hdr, _ = get(base(n) + "/live/cam.m3u8?hls_session=%s&_HLS_msn=%d" % (token, msn))
    took = time.monotonic() - t0
    assert st == 503 and hdr["Retry-After"], st
    assert 2.5 < took < 3 * HLS["segment_ms"] / 1000 + 1.5, took


def test_playlist_waits_for_the_stream(node, procs, clip):
    """With http_flv.wait_for_stream (or a relay's on-demand pull, through
    the same hub wait), a playlist request for a stream not live yet waits
    for it, then for its first segment."""
    import threading
    n = node(hls=HLS, http_flv={"wait_for_stream": True})
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("r", get(base(n) + "/live/cam.m3u8")))
    t.start()
    time.sleep(0.5)
    assert "r" not in got
    procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "pub")
    t.join(20)
    st, hdr, body = got["r"]
    assert st == 200 and parse_playlist(body.decode())[1], body


def test_on_demand_pull_for_a_playlist(node, procs, clip):
    """At an edge, the first playlist request starts the on-demand pull (as
    an HTTP-FLV request does), and the playlist comes once it is live."""
    from relayutil import api_of, create_relay, relay_body
    o = node()
    procs.spawn(weirtest.publish_cmd(clip.path, o.rtmp_url(APP, "od"), loop=True), "pub")
    wait_live(o, APP, "od")
    e = node(hls=HLS, relay={"connect_timeout_ms": 3000, "on_demand_wait_ms": 4000})
    up = "rtmp://%s:%d/%s" % (o.host, o.rtmp_port, APP)
    create_relay(api_of(e), relay_body("pull", [up], mode="on_demand"))
    st, _, body = get(base(e) + "/live/od.m3u8")
    assert st == 200 and parse_playlist(body.decode())[1], (st, body)
    api = Api(e.api_url)
    s = api.get("/api/v1/streams/%s/od" % APP).json()
    assert s["players"] and s["players"][0]["protocol"] == "hls", s
