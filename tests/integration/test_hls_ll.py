"""LL-HLS over MPEG-TS against the RFC 8216bis rules (hlsvalidate.py) and
bad input (issue 19): a player's chain of blocking reloads (each for the
part the preload hint names) and plain reloads, every answer valid,
consistent with the one before, and holding the part asked for; bogus
_HLS_msn / _HLS_part values (far ahead, huge, negative) answered 400 at
once, never held; a request pipelined behind a held one answered as soon
as the held one is; more blocking requests than the node holds
(HLS_HELD_MAX, 10000): 503 beyond it at once, the held ones kept, the node
answering its API and other players meanwhile, the slots freed when the
clients go."""

import re
import resource
import selectors
import socket
import time

import pytest

import hlsvalidate
import weirtest
from apischema import Api
from test_api import wait_for
from weirtest import wait_live

APP, NAME = "live", "cam"
LL = {"segment_ms": 1000, "window": 4, "part_ms": 333, "idle_timeout_s": 10}
HELD_MAX = 10000  # HLS_HELD_MAX in node/hls/sess_hls.c
OVER = 200


def get(url, timeout=15, agent=None):
    """(status, body text, seconds taken) of a GET (agent: its User-Agent)."""
    import urllib.error
    import urllib.request
    t0 = time.monotonic()
    req = urllib.request.Request(url, headers={"User-Agent": agent} if agent else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(), time.monotonic() - t0
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace"), time.monotonic() - t0


@pytest.fixture(scope="module")
def live(tmp_path_factory, clip):
    with weirtest.published_nodes(tmp_path_factory.mktemp("hls_ll"), clip.path,
                                  {"node": {"hls": LL}}, APP, NAME) as (nodes, _):
        yield nodes["node"]


def playlist_url(n, token=None, msn=None, part=None):
    url = "http://%s:%d/%s/%s.m3u8" % (n.host, n.http_port, APP, NAME)
    q = [k + "=" + str(v) for k, v in
         (("hls_session", token), ("_HLS_msn", msn), ("_HLS_part", part)) if v is not None]
    return url + ("?" + "&".join(q) if q else "")


def first_playlist(n):
    st, text, _ = get(playlist_url(n))
    assert st == 200, text
    return re.search(r"hls_session=([A-Za-z0-9_-]+)", text).group(1), text


def test_blocking_reload_chain_is_valid(live):
    """A low-latency player's reloads over 25 parts (about 8 s): each
    blocking reload asks for the part the last preload hint named, every
    second one is followed by a plain reload; every answer passes the
    validator and holds the part asked for, and comes within three target
    durations; a whole segment's parts also come, and its msn advances."""
    token, text = first_playlist(live)
    v = hlsvalidate.Validator()
    pl = v.feed(text)
    first_last = pl.last_msn
    for i in range(25):
        m = hlsvalidate.PART_RE.search(pl.hint["URI"])
        msn, part = int(m.group(1)), int(m.group(2))
        st, text, took = get(playlist_url(live, token, msn, part))
        assert st == 200 and took < 3 * LL["segment_ms"] / 1000, (st, took, text)
        pl = v.check_blocking(msn, part, text)
        if i % 2:
            st, text, _ = get(playlist_url(live, token))
            assert st == 200, text
            pl = v.feed(text)
    # a blocking reload for a whole segment (no _HLS_part)
    msn = pl.last_msn + 1
    st, text, took = get(playlist_url(live, token, msn))
    assert st == 200 and took < 3 * LL["segment_ms"] / 1000, (st, took)
    pl = v.check_blocking(msn, None, text)
    assert pl.last_msn >= first_last + 4, (first_last, text)
    assert v.count == 1 + 25 + 12 + 1


def test_validator_catches_broken_playlists(live):
    """The validator is not a check that cannot fail: a real playlist
    passes, and it with one rule broken at a time does not."""
    _, text = first_playlist(live)
    time.sleep(1.5)
    _, text = first_playlist(live)
    pl = hlsvalidate.Playlist(text)
    hlsvalidate.check_playlist(pl)
    target = int(pl.tags["EXT-X-TARGETDURATION"])
    hint = pl.hint["URI"]
    broken = [
        text.replace("#EXT-X-TARGETDURATION:%d" % target, "#EXT-X-TARGETDURATION:0"),
        re.sub(r"PART-TARGET=[0-9.]+", "PART-TARGET=0.100", text),
        text.replace(hint, re.sub(r"\.(\d+)\.ts", lambda m: ".%d.ts" % (int(m.group(1)) + 1),
                                  hint)),
        text.replace("#EXT-X-MEDIA-SEQUENCE:%d" % pl.media_sequence,
                     "#EXT-X-MEDIA-SEQUENCE:%d" % (pl.media_sequence + 1)),
    ]
    for b in broken:
        assert b != text
        with pytest.raises(AssertionError):
            hlsvalidate.check_playlist(hlsvalidate.Playlist(b))
    v = hlsvalidate.Validator()
    v.feed(text)
    with pytest.raises(AssertionError):  # the media sequence goes back
        later = text.replace("#EXT-X-MEDIA-SEQUENCE:%d" % pl.media_sequence,
                             "#EXT-X-MEDIA-SEQUENCE:%d" % (pl.media_sequence - 1))
        check = hlsvalidate.Playlist(later)
        hlsvalidate.check_reload(pl, check)
    with pytest.raises(AssertionError):  # a blocking answer without the part
        v.check_blocking(pl.last_msn + 2, 0, text)


@pytest.mark.parametrize("query", [
    "_HLS_msn={far}",
    "_HLS_msn={far}&_HLS_part=0",
    "_HLS_msn=9223372036854775807",
    "_HLS_msn=99999999999999999999999",
    "_HLS_msn=-1",
    "_HLS_msn={next}&_HLS_part=1000000",
    "_HLS_msn={next}&_HLS_part=-1",
    "_HLS_msn=1e3",
    "_HLS_msn=",
], ids=["far", "far-part", "int64-max", "overflow", "negative", "huge-part", "negative-part",
        "float", "empty"])
def test_bogus_msn_answered_at_once(live, query):
    """A bogus blocking reload is 400 at once (never held): far ahead (more
    than two segments past the playlist), out of range, malformed; a huge
    part index of the next segment is 400 as well, or at most held as long
    as a blocking reload may be (three targets) and then answered."""
    token, text = first_playlist(live)
    last = hlsvalidate.Playlist(text).last_msn
    q = query.format(far=last + 50, next=last + 1)
    st, body, took = get(playlist_url(live, token) + "&" + q)
    if "_HLS_part=1000000" in q:
        assert st in (400, 503) and took < 3 * LL["segment_ms"] / 1000 + 2, (st, took, body)
    else:
        assert st == 400 and took < 2, (q, st, took, body)


def open_blocking(n, path, count, deadline):
    """count sockets, each with one blocking request sent: [socket]."""
    req = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode()
    socks = []
    try:
        for _ in range(count):
            assert time.monotonic() < deadline, "only %d connections opened in time" % len(socks)
            s = socket.create_connection((n.host, n.http_port), timeout=10)
            socks.append(s)
            s.sendall(req)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def answers(socks, seconds):
    """{socket: first bytes} of the sockets that answered (or closed)
    within seconds."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    got = {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.2):
            try:
                got[key.fileobj] = key.fileobj.recv(4096)
            except OSError as e:
                got[key.fileobj] = str(e).encode()
            sel.unregister(key.fileobj)
    sel.close()
    return got


def test_held_requests_are_bounded(node, procs, clip):
    """HELD_MAX + OVER blocking reloads for a segment that does not come
    (the publisher is gone, its grace period runs): OVER are answered 503
    with Retry-After at once, HELD_MAX stay held; meanwhile the API and a
    plain playlist request answer; when the clients close, a new blocking
    reload is held again (slots freed) rather than refused."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = HELD_MAX + OVER + 1000
    assert hard >= need, "RLIMIT_NOFILE hard limit %d is below %d" % (hard, need)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    hls = dict(LL, segment_ms=6000)  # held up to 18 s: time to open them all on a busy machine
    n = node(hls=hls, stream={"unpublish_grace_ms": 60000},
             limits={"max_connections": HELD_MAX + OVER + 500,
                     "max_connections_per_address": 0})
    pub = procs.spawn(weirtest.publish_cmd(clip.path, n.rtmp_url(APP, NAME), loop=True), "pub")
    wait_live(n, APP, NAME)
    token, text = first_playlist(n)
    pub.kill()
    pub.wait()
    msn = hlsvalidate.Playlist(text).last_msn + 2
    path = "/%s/%s.m3u8?hls_session=%s&_HLS_msn=%d" % (APP, NAME, token, msn)
    hold_s = 3 * hls["segment_ms"] / 1000
    t0 = time.monotonic()
    socks = open_blocking(n, path, HELD_MAX + OVER, t0 + hold_s - 5)
    try:
        got = answers(socks, 1.0)
        api = Api(n.api_url)
        # responsive while they are held
        assert api.get("/healthz").status_code == 200
        st, body, took = get(playlist_url(n, token))
        assert st == 200 and took < 3, (st, took)
        got.update(answers([s for s in socks if s not in got], 1.0))
        assert time.monotonic() - t0 < hold_s, "too slow to tell held from expired"
        refused = [b for b in got.values() if b.startswith(b"HTTP/1.1 503")]
        assert len(refused) == OVER == len(got), (len(refused), len(got), list(got.values())[:3])
        assert all(b"Retry-After:" in b for b in refused), refused[0]
    finally:
        for s in socks:
            s.close()
    # the slots are freed: a new blocking reload is held again (no answer
    # within a second), not refused
    def held_again():
        with socket.create_connection((n.host, n.http_port), timeout=10) as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
            s.settimeout(1.0)
            try:
                s.recv(100)
                return False  # an answer, or closed
            except socket.timeout:
                return True
    wait_for("a blocking reload held again", held_again, timeout=10)


@pytest.mark.parametrize("ext,magic", [("flv", b"FLV"), ("ts", b"\x47")])
@pytest.mark.parametrize("pipelined", [False, True], ids=["after", "pipelined"])
def test_keep_alive_hls_then_stream(live, ext, magic, pipelined):
    """A browser reuses an idle keep-alive connection of the origin for its
    next request: after a playlist, an HTTP-FLV or HTTP-TS request on the
    same connection (sent after the answer, or pipelined in the same write)
    must be served as on a new one."""
    from test_hls import read_response
    nxt = b"GET /live/cam.%s HTTP/1.0\r\nHost: x\r\n\r\n" % ext.encode()
    with socket.create_connection((live.host, live.http_port), timeout=10) as s:
        s.sendall(b"GET /live/cam.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n" + (nxt if pipelined else b""))
        st, hdrs, _, rest = read_response(s, b"")
        assert st == 200 and hdrs["connection"] == "keep-alive", hdrs
        if not pipelined:
            s.sendall(nxt)
        data = rest
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 3:
            d = s.recv(65536)
            if not d:
                break
            data += d
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200"), head
        assert body.startswith(magic), body[:16]


def test_pipelined_behind_a_held_reload_is_served_at_once(live):
    """A plain reload pipelined behind a blocking reload (a chain of them,
    each for the part the last answer's preload hint names, so each is
    held until its part is cut, about part_ms) is answered as soon as the
    held one is: not on the node's next 250 ms tick. The gap between the
    two answers, measured over the trials whose reload was held, is under
    100 ms in all but two (waiting for the tick, a gap is uniform in
    0-250 ms: all but two of twelve under 100 ms by chance is under 1 in
    300)."""
    from test_hls import read_response
    # a client of its own (User-Agent): the other tests' sessions stay untouched
    req = "GET /%s HTTP/1.1\r\nHost: x\r\nUser-Agent: pipelining-player/1\r\n\r\n"
    held, gaps = [], []
    with socket.create_connection((live.host, live.http_port), timeout=15) as s:
        s.sendall((req % ("%s/%s.m3u8" % (APP, NAME))).encode())
        st, _, body, _ = read_response(s, b"")
        assert st == 200, body
        token = re.search(r"hls_session=([A-Za-z0-9_-]+)", body.decode()).group(1)
        pl = hlsvalidate.Playlist(body.decode())
        plain = (req % ("%s/%s.m3u8?hls_session=%s" % (APP, NAME, token))).encode()
        for _ in range(36):
            if len(held) == 12:
                break
            m = hlsvalidate.PART_RE.search(pl.hint["URI"])
            msn, part = int(m.group(1)), int(m.group(2))
            path = playlist_url(live, token, msn, part).split("/", 3)[3]
            t0 = time.monotonic()
            s.sendall((req % path).encode() + plain)
            st, hdrs, body, rest = read_response(s, b"")
            t1 = time.monotonic()
            assert st == 200 and hdrs["connection"] == "keep-alive", (st, hdrs, body)
            pl = hlsvalidate.Playlist(body.decode())
            assert pl.has(msn, part), (msn, part, body)
            st2, _, body2, rest = read_response(s, rest)
            t2 = time.monotonic()
            assert st2 == 200 and not rest, (st2, body2, rest)
            if t1 - t0 >= 0.1:
                held.append(t1 - t0)
                gaps.append(t2 - t1)
    assert len(held) == 12, ("too few reloads were held", held)
    gaps.sort()
    assert gaps[-3] < 0.1, ("pipelined answers waited", gaps)


def test_reloads_of_the_plain_url_are_one_session(live):
    """hlsdemux, VLC and ffmpeg reload the playlist URL they were given, with
    no token: the same player (address and user agent) is one session."""
    api = Api(live.api_url)

    def starts():
        evs = api.get("/api/v1/events", params={"limit": 1000}).json()["events"]
        return len([e for e in evs if e["type"] == "play.start" and e.get("protocol") == "hls"])
    before = starts()
    # a User-Agent of its own: another test's session of the same address
    # and agent, not timed out yet, would take these reloads
    for _ in range(3):
        assert get(playlist_url(live), agent="plain-url-reloader/1")[0] == 200
    wait_for("a play.start", lambda: starts() > before, timeout=5)
    time.sleep(1)  # events of later sessions, if any, are stored by now
    assert starts() - before == 1
