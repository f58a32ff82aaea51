"""A live HLS media playlist validator for the tests (RFC 8216 and its
LL-HLS successor, draft-pantos-hls-rfc8216bis): feed it each reload of one
playlist, in order; it raises AssertionError naming the rule and showing
the playlist when one is broken.

Rules checked on every playlist (section numbers of rfc8216bis):
- it starts with #EXTM3U (4.4.1.1); EXT-X-TARGETDURATION is present and
  every EXTINF, rounded to the nearest integer, is at most it (4.4.3.1);
- with EXT-X-PART-INF: every EXT-X-PART DURATION is at most PART-TARGET
  (4.4.3.7), the parts of one segment are numbered from 0 without a gap
  (the node's URIs `{msn}.{part}.ext`), a complete segment's parts add up
  to its EXTINF, PART-HOLD-BACK is at least twice PART-TARGET (4.4.3.8),
  and EXT-X-PRELOAD-HINT TYPE=PART names the part right after the last
  one listed (the next part of the open segment, or part 0 of the next
  segment) (4.4.5.3);
- the segment URIs are numbered from EXT-X-MEDIA-SEQUENCE on, one by one.
Between reloads (6.2.1, 6.2.2):
- EXT-X-MEDIA-SEQUENCE never decreases, nor does the last segment;
- a segment listed in both has the same URI, duration and discontinuity;
- EXT-X-DISCONTINUITY-SEQUENCE grows by the EXT-X-DISCONTINUITY tags of
  the segments that left the window (when they were all seen before);
- once EXT-X-ENDLIST, always EXT-X-ENDLIST.
And for a blocking reload (6.2.5.2): check_blocking(msn, part, text)
asserts the answer contains segment msn (or its part `part`, or later).
"""

import re

SEG_RE = re.compile(r"(?:^|/)(\d+)\.[a-z0-9]+(?:\?|$)")
PART_RE = re.compile(r"(?:^|/)(\d+)\.(\d+)\.[a-z0-9]+(?:\?|$)")


def attrs(value):
    """The attribute list of a tag: {NAME: str} (quotes removed)."""
    out = {}
    for m in re.finditer(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', value):
        out[m.group(1)] = m.group(2).strip('"')
    return out


class Playlist:
    """One media playlist, parsed."""

    def __init__(self, text):
        self.text = text
        lines = text.splitlines()
        if not lines or lines[0] != "#EXTM3U":
            raise AssertionError("4.4.1.1: no #EXTM3U first line\n" + text)
        self.tags = {}
        self.segments = []  # dicts: msn, uri, duration, discontinuity, parts
        self.open_parts = []  # parts after the last segment URI (the open segment)
        self.hint = None
        pending = {"duration": None, "discontinuity": False}
        for ln in lines[1:]:
            m = re.match(r"#(EXT[A-Z0-9-]*)(?::(.*))?$", ln)
            if m:
                self._tag(m.group(1), m.group(2) or "", pending)
            elif ln and not ln.startswith("#"):
                self.segments.append({"uri": ln, "duration": pending["duration"],
                                      "discontinuity": pending["discontinuity"],
                                      "parts": self.open_parts})
                self.open_parts = []
                pending = {"duration": None, "discontinuity": False}
        self.media_sequence = int(self.tags.get("EXT-X-MEDIA-SEQUENCE", "0"))
        self.disc_sequence = int(self.tags.get("EXT-X-DISCONTINUITY-SEQUENCE", "0"))
        for i, s in enumerate(self.segments):
            s["msn"] = self.media_sequence + i
        self.endlist = "EXT-X-ENDLIST" in self.tags

    def _tag(self, name, value, pending):
        if name == "EXTINF":
            pending["duration"] = float(value.split(",")[0])
        elif name == "EXT-X-DISCONTINUITY":
            pending["discontinuity"] = True
        elif name == "EXT-X-PART":
            a = attrs(value)
            self.open_parts.append({"uri": a["URI"], "duration": float(a["DURATION"]),
                                    "independent": a.get("INDEPENDENT") == "YES"})
        elif name == "EXT-X-PRELOAD-HINT":
            self.hint = attrs(value)
        else:
            self.tags[name] = value

    @property
    def last_msn(self):
        return self.media_sequence + len(self.segments) - 1

    def all_parts(self):
        """[(msn, part index, part)] in playlist order (the open segment last)."""
        out = []
        for msn, parts in [(s["msn"], s["parts"]) for s in self.segments] + \
                [(self.last_msn + 1, self.open_parts)]:
            for p in parts:
                m = PART_RE.search(p["uri"])
                if not m or int(m.group(1)) != msn:
                    raise AssertionError("part %s is not of segment %d\n%s"
                                         % (p["uri"], msn, self.text))
                out.append((msn, int(m.group(2)), p))
        return out

    def has(self, msn, part=None):
        """Whether the playlist holds segment msn complete, or (part given)
        that part of it (or anything later)."""
        if msn <= self.last_msn:
            return True
        if part is None:
            return False
        return any((m, i) >= (msn, part) for m, i, _ in self.all_parts())


def check_playlist(pl):
    """The rules of one playlist (see the module's comment)."""
    def fail(rule):
        raise AssertionError(rule + "\n" + pl.text)
    if "EXT-X-TARGETDURATION" not in pl.tags:
        fail("4.4.3.1: no EXT-X-TARGETDURATION")
    target = int(pl.tags["EXT-X-TARGETDURATION"])
    for s in pl.segments:
        if s["duration"] is None:
            fail("4.4.4.1: segment %s has no EXTINF" % s["uri"])
        if int(s["duration"] + 0.5) > target:
            fail("4.4.3.1: EXTINF %.3f of %s rounds above the target %d"
                 % (s["duration"], s["uri"], target))
        m = SEG_RE.search(s["uri"])
        if not m or int(m.group(1)) != s["msn"]:
            fail("segment %s is not msn %d (media sequence + position)" % (s["uri"], s["msn"]))
    if "EXT-X-PART-INF" in pl.tags:
        check_parts(pl, fail)


def check_parts(pl, fail):
    part_target = float(attrs(pl.tags["EXT-X-PART-INF"])["PART-TARGET"])
    control = attrs(pl.tags.get("EXT-X-SERVER-CONTROL", ""))
    if float(control.get("PART-HOLD-BACK", "0")) < 2 * part_target:
        fail("4.4.3.8: PART-HOLD-BACK below twice PART-TARGET %.3f" % part_target)
    parts = pl.all_parts()
    for msn, i, p in parts:
        if p["duration"] > part_target + 0.0005:
            fail("4.4.4.9: part %s of %.3f s is over PART-TARGET %.3f"
                 % (p["uri"], p["duration"], part_target))
    for (m0, i0, _), (m1, i1, p1) in zip(parts, parts[1:]):
        if not ((m1 == m0 and i1 == i0 + 1) or (m1 > m0 and i1 == 0)):
            fail("parts out of order or with a gap: %s after %d.%d" % (p1["uri"], m0, i0))
    for s in pl.segments:
        if s["parts"]:
            total = sum(p["duration"] for p in s["parts"])
            if PART_RE.search(s["parts"][0]["uri"]).group(2) == "0" and \
                    abs(total - s["duration"]) > 0.002 * (len(s["parts"]) + 1):
                fail("segment %s of %.3f s, its parts add up to %.3f"
                     % (s["uri"], s["duration"], total))
    if not pl.endlist:
        if not pl.hint or pl.hint.get("TYPE") != "PART":
            fail("4.4.5.3: no EXT-X-PRELOAD-HINT TYPE=PART")
        m = PART_RE.search(pl.hint["URI"])
        if parts:
            lm, li, _ = parts[-1]
            want = [(lm, li + 1)]
            if lm <= pl.last_msn:  # the last part closed its segment
                want = [(lm + 1, 0)]
        else:
            want = [(pl.last_msn + 1, 0)]
        if not m or (int(m.group(1)), int(m.group(2))) not in want:
            fail("4.4.5.3: the preload hint %s is not the next part %s" % (pl.hint["URI"], want))


class Validator:
    """Feed every reload of one live playlist in order with feed(text)."""

    def __init__(self):
        self.prev = None
        self.count = 0

    def feed(self, text):
        pl = Playlist(text)
        check_playlist(pl)
        if self.prev is not None:
            check_reload(self.prev, pl)
        self.prev = pl
        self.count += 1
        return pl

    def check_blocking(self, msn, part, text):
        """A blocking reload's answer (_HLS_msn=msn, _HLS_part=part or None):
        valid, consistent with the last one, and holding what was asked."""
        pl = self.feed(text)
        if not pl.has(msn, part) and not pl.endlist:
            raise AssertionError("6.2.5.2: a blocking reload for %d.%s answered without it\n%s"
                                 % (msn, part, text))
        return pl


def check_reload(old, new):
    def fail(rule):
        raise AssertionError(rule + "\n--- before:\n" + old.text + "\n--- after:\n" + new.text)
    if new.media_sequence < old.media_sequence:
        fail("6.2.1: EXT-X-MEDIA-SEQUENCE went back")
    if new.last_msn < old.last_msn:
        fail("6.2.1: the last segment went back")
    if old.endlist and not new.endlist:
        fail("6.2.1: EXT-X-ENDLIST went away")
    by_msn = {s["msn"]: s for s in old.segments}
    for s in new.segments:
        o = by_msn.get(s["msn"])
        if o and (o["uri"], o["duration"], o["discontinuity"]) != \
                (s["uri"], s["duration"], s["discontinuity"]):
            fail("6.2.1: segment %d changed between reloads" % s["msn"])
    gone = range(old.media_sequence, new.media_sequence)
    if all(m in by_msn for m in gone):
        want = old.disc_sequence + sum(by_msn[m]["discontinuity"] for m in gone)
        if new.disc_sequence != want:
            fail("6.2.2: EXT-X-DISCONTINUITY-SEQUENCE %d, expected %d"
                 % (new.disc_sequence, want))
    elif new.disc_sequence < old.disc_sequence:
        fail("6.2.2: EXT-X-DISCONTINUITY-SEQUENCE went back")
