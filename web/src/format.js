/* format.js: the dashboard's pure helpers (no DOM, no fetch), shared by the
 * views and unit-tested by web/test/format.test.js under Node (>= 18).
 *
 * Everything here is a function of its arguments: formatting of bitrates,
 * byte counts, durations and codecs; hash routes; the relay form's body and
 * the mapping of API error messages to form fields; bounded histories for the
 * charts; merging of event pages. Nothing is kept between calls except in
 * the objects a caller owns (Series).
 */

const DASH = '–';

/** A number with at most `digits` decimals, trailing zeros dropped. */
export function trimNumber(v, digits) {
    const s = Number(v).toFixed(digits);
    return s.indexOf('.') < 0 ? s : s.replace(/\.?0+$/, '');
}

/**
 * A bitrate given in kbit/s (the API's unit) for people: "812.5 kbit/s",
 * "2.51 Mbit/s", "1.2 Gbit/s". null, undefined, NaN or a negative value: "–".
 */
export function formatKbps(kbps) {
    if (kbps === null || kbps === undefined || !Number.isFinite(kbps) || kbps < 0)
        return DASH;
    if (kbps < 1000)
        return trimNumber(kbps, 1) + ' kbit/s';
    if (kbps < 1e6)
        return trimNumber(kbps / 1000, 2) + ' Mbit/s';
    return trimNumber(kbps / 1e6, 2) + ' Gbit/s';
}

/** A short bitrate for chart axes: "800k", "2.5M", "1.2G". */
export function formatKbpsShort(kbps) {
    if (kbps === null || kbps === undefined || !Number.isFinite(kbps))
        return '';
    const a = Math.abs(kbps);
    if (a < 1000)
        return trimNumber(kbps, 1) + 'k';
    if (a < 1e6)
        return trimNumber(kbps / 1000, 2) + 'M';
    return trimNumber(kbps / 1e6, 2) + 'G';
}

/** A byte count: "512 B", "1.5 KiB", "3.25 MiB", "1.07 GiB", "2 TiB". */
export function formatBytes(n) {
    if (n === null || n === undefined || !Number.isFinite(n) || n < 0)
        return DASH;
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let v = n;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
    }
    return (i === 0 ? String(Math.round(v)) : trimNumber(v, v < 10 ? 2 : 1)) + ' ' + units[i];
}

function pad2(n) {
    return n < 10 ? '0' + n : String(n);
}

/**
 * A duration in seconds, the two largest units: "42 s", "3 min 05 s",
 * "2 h 03 min", "4 d 07 h". Fractions are dropped; bad input: "–".
 */
export function formatDuration(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0)
        return DASH;
    const s = Math.floor(seconds);
    if (s < 60)
        return s + ' s';
    if (s < 3600)
        return Math.floor(s / 60) + ' min ' + pad2(s % 60) + ' s';
    if (s < 86400)
        return Math.floor(s / 3600) + ' h ' + pad2(Math.floor((s % 3600) / 60)) + ' min';
    return Math.floor(s / 86400) + ' d ' + pad2(Math.floor((s % 86400) / 3600)) + ' h';
}

/** Seconds from an RFC 3339 time to nowMs (never negative); null if unparsable. */
export function secondsSince(iso, nowMs) {
    if (typeof iso !== 'string')
        return null;
    const t = Date.parse(iso);
    if (!Number.isFinite(t))
        return null;
    return Math.max(0, (nowMs - t) / 1000);
}

/** "2026-11-24T10:00:00.123Z" → "2026-11-24 10:00:00" (UTC, as the API gives it). */
export function formatTime(iso) {
    if (typeof iso !== 'string' || iso.length < 19)
        return iso ? String(iso) : DASH;
    return iso.slice(0, 10) + ' ' + iso.slice(11, 19);
}

/** The one time format of the page: formatTime() with its zone, "2026-11-24 10:00:00 UTC". */
export function formatWhen(iso) {
    const t = formatTime(iso);
    return t === DASH ? t : t + ' UTC';
}

/** A Unix time in ms as formatWhen() shows it. */
export function formatWhenMs(ms) {
    return Number.isFinite(ms) ? formatWhen(new Date(ms).toISOString()) : DASH;
}

/** A frame rate: 25 → "25", 29.97 → "29.97", 23.976 → "23.98". */
export function formatFps(fps) {
    return trimNumber(fps, 2);
}

/**
 * A stream's video track in one line: "h264 640×360 25 fps"; unknown parts
 * are left out; no track: "–".
 */
export function videoLabel(video) {
    if (!video || !video.codec)
        return DASH;
    const parts = [video.codec];
    if (video.width && video.height)
        parts.push(video.width + '×' + video.height);
    if (typeof video.frame_rate === 'number' && video.frame_rate > 0)
        parts.push(formatFps(video.frame_rate) + ' fps');
    return parts.join(' ');
}

/** A stream's audio track in one line: "aac 44.1 kHz stereo"; no track: "–". */
export function audioLabel(audio) {
    if (!audio || !audio.codec)
        return DASH;
    const parts = [audio.codec];
    if (audio.sample_rate)
        parts.push(trimNumber(audio.sample_rate / 1000, 2) + ' kHz');
    if (audio.channels === 1)
        parts.push('mono');
    else if (audio.channels === 2)
        parts.push('stereo');
    else if (audio.channels)
        parts.push(audio.channels + ' ch');
    return parts.join(' ');
}

/* ---- routes ------------------------------------------------------------ */

/** "app/name", the key the page uses for a stream (data-stream, histories). */
export function streamKey(app, name) {
    return app + '/' + name;
}

/** The hash route of a relay's row on the relays page (`#/relays/ID`). */
export function relayHash(id) {
    return '#/relays/' + encodeURIComponent(id);
}

/** The hash route of a stream's detail: app and name percent-encoded. */
export function streamHash(app, name) {
    return '#/streams/' + encodeURIComponent(app) + '/' + encodeURIComponent(name);
}

/** The API path of a stream (`/api/v1/streams/{app}/{name}`, both encoded). */
export function streamApiPath(app, name) {
    return '/api/v1/streams/' + encodeURIComponent(app) + '/' + encodeURIComponent(name);
}

/**
 * Parses location.hash into a route: {view: 'overview'} for "", "#", "#/"
 * and anything unknown; {view: 'stream', app, name}; {view: 'relays'} and
 * {view: 'relays', id} (`#/relays/ID`: that relay's row picked out);
 * {view: 'events'}; {view: 'sessions'}; {view: 'session', id}.
 */
export function parseRoute(hash) {
    const h = (hash || '').replace(/^#/, '');
    if (h === '/relays')
        return { view: 'relays' };
    const mr = /^\/relays\/([^/]+)$/.exec(h);
    if (mr) {
        try {
            return { view: 'relays', id: decodeURIComponent(mr[1]) };
        } catch (e) {
            return { view: 'relays' };
        }
    }
    if (h === '/events')
        return { view: 'events' };
    if (h === '/sessions')
        return { view: 'sessions' };
    const ms = /^\/sessions\/([0-9]{1,16})$/.exec(h);
    if (ms)
        return { view: 'session', id: Number(ms[1]) };
    const m = /^\/streams\/([^/]+)\/(.+)$/.exec(h);
    if (m) {
        try {
            const app = decodeURIComponent(m[1]);
            const name = decodeURIComponent(m[2]);
            if (app && name)
                return { view: 'stream', app, name };
        } catch (e) {
            /* malformed escape: fall through to the overview */
        }
    }
    return { view: 'overview' };
}

/* ---- small charts ------------------------------------------------------- */

/**
 * The SVG paths of a small line chart (spark.js) of values v at times t
 * (seconds; null values are gaps) in a w × h box: x from the first point
 * (or spanS before the last, if that is earlier) to the last, y from 0 to
 * 1.1 × the largest value (at least 1). {line, fill}: "" when no point.
 */
export function sparkPath(t, v, w, h, spanS) {
    const n = Math.min(t.length, v.length);
    if (!n)
        return { line: '', fill: '' };
    const x1 = t[n - 1];
    const x0 = Math.min(t[0], x1 - spanS);
    let top = 1;
    for (let i = 0; i < n; i++)
        if (v[i] !== null && v[i] * 1.1 > top)
            top = v[i] * 1.1;
    const X = (x) => Math.round(((x - x0) / (x1 - x0)) * w * 10) / 10;
    const Y = (y) => Math.round((h - (y / top) * h) * 10) / 10;
    let line = '';
    let fill = '';
    let run = [];
    const close = () => {
        if (run.length) {
            line += 'M' + run.join('L');
            fill += 'M' + run[0].split(',')[0] + ',' + h + 'L' + run.join('L') + 'L' + run[run.length - 1].split(',')[0] + ',' + h + 'Z';
        }
        run = [];
    };
    for (let i = 0; i < n; i++) {
        if (v[i] === null || v[i] === undefined || !Number.isFinite(v[i]))
            close();
        else
            run.push(X(t[i]) + ',' + Y(Math.max(0, v[i])));
    }
    close();
    return { line, fill };
}

/* ---- preview ----------------------------------------------------------- */

/**
 * The port of a "host:port" listen address ("0.0.0.0:8080", "[::]:8080");
 * null if there is none.
 */
export function listenPort(listen) {
    if (typeof listen !== 'string')
        return null;
    const m = /:(\d{1,5})$/.exec(listen);
    if (!m)
        return null;
    const p = Number(m[1]);
    return p > 0 && p < 65536 ? p : null;
}

/**
 * The HTTP-FLV URL of a stream on the node the page came from:
 * http://<hostname>:<port of listen.http_flv>/<app>/<name>.flv, with app and
 * each '/'-separated part of name percent-encoded. hostname is
 * location.hostname (an IPv6 address may come with or without brackets).
 * null when the listen address has no port. secure: https:// (the port is
 * then https.listen's, see mediaListen()).
 */
export function flvUrl(hostname, httpFlvListen, app, name, secure = false) {
    const port = listenPort(httpFlvListen);
    if (port === null)
        return null;
    let host = hostname || '127.0.0.1';
    if (host.indexOf(':') >= 0 && host[0] !== '[')
        host = '[' + host + ']';
    const path = encodeURIComponent(app) + '/' + name.split('/').map(encodeURIComponent).join('/');
    return (secure ? 'https://' : 'http://') + host + ':' + port + '/' + path + '.flv';
}

/* MSE type strings per codec the FLV demuxer of mpegts.js handles. */
const VIDEO_MSE = {
    h264: 'video/mp4; codecs="avc1.42E01E"',
    avc: 'video/mp4; codecs="avc1.42E01E"',
    hevc: 'video/mp4; codecs="hvc1.1.6.L93.B0"',
    h265: 'video/mp4; codecs="hvc1.1.6.L93.B0"',
};
const AUDIO_MSE = {
    aac: 'audio/mp4; codecs="mp4a.40.2"',
    mp3: 'audio/mpeg',
};

/**
 * Whether the page can preview a stream. features is mpegts.getFeatureList()
 * (or null when mpegts.js is missing); isTypeSupported is
 * MediaSource.isTypeSupported (or null). Returns {ok: true, hasVideo,
 * hasAudio} or {ok: false, note} with the note to show.
 */
export function previewSupport(video, audio, features, isTypeSupported) {
    if (!features || !features.mseLivePlayback || typeof isTypeSupported !== 'function')
        return { ok: false, note: 'preview not available: this browser cannot play live streams (no MSE)' };
    const vcodec = video && video.codec ? String(video.codec).toLowerCase() : null;
    const acodec = audio && audio.codec ? String(audio.codec).toLowerCase() : null;
    if (!vcodec && !acodec)
        return { ok: false, note: 'preview: waiting for the stream\'s media info' };
    const can = (type) => {
        try {
            return !!type && isTypeSupported(type);
        } catch (e) {
            return false;
        }
    };
    if (vcodec && !can(VIDEO_MSE[vcodec]))
        return { ok: false, note: 'preview not available for ' + video.codec };
    let hasAudio = !!acodec;
    if (acodec && !can(AUDIO_MSE[acodec])) {
        if (!vcodec)
            return { ok: false, note: 'preview not available for ' + audio.codec };
        hasAudio = false; /* play the video alone */
    }
    return { ok: true, hasVideo: !!vcodec, hasAudio };
}

/* ---- relays ------------------------------------------------------------ */

/** The relay form's fields, named like the API's RelaySpec fields. */
export const RELAY_FORM_FIELDS = ['id', 'direction', 'mode', 'app', 'name', 'urls'];

/**
 * The body of POST /api/v1/relays from the form's values (strings): fields
 * trimmed; `id` left out when empty (the node makes one); `urls` one per
 * non-empty line; `mode` only for pull (empty: left out, the node's
 * default). Values are not checked here: the API's errors are shown instead.
 */
export function buildRelayBody(values) {
    const v = values || {};
    const str = (x) => (x === undefined || x === null ? '' : String(x).trim());
    const body = {};
    const id = str(v.id);
    if (id)
        body.id = id;
    body.direction = str(v.direction) || 'push';
    if (body.direction === 'pull' && str(v.mode))
        body.mode = str(v.mode);
    body.app = str(v.app);
    body.name = str(v.name);
    body.urls = str(v.urls).split(/\r?\n/).map((u) => u.trim()).filter((u) => u.length > 0);
    return body;
}

/**
 * The top-level field an API error message names ("urls[0]: scheme ...",
 * "app: too long", "id: relay x already exists"), if it is one of fields;
 * else null.
 */
export function errorField(message, fields) {
    if (typeof message !== 'string')
        return null;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(\[\d+\])?(\.[A-Za-z0-9_.[\]]*)?:/.exec(message);
    if (!m)
        return null;
    return fields.indexOf(m[1]) >= 0 ? m[1] : null;
}

/**
 * Splits an API error for a form: {field, message} where field is the form
 * field named by the message (see errorField) or null for the form-wide
 * error. err is {status, code, message}.
 */
export function formError(err, fields) {
    const message = err && err.message ? err.message : 'request failed';
    const field = err && (err.code === 'invalid_field' || err.code === 'conflict')
        ? errorField(message, fields) : null;
    return { field, message };
}

/* ---- histories --------------------------------------------------------- */

/**
 * A bounded time series for a chart: at most `max` points, the oldest
 * dropped first. data() is uPlot's [[t...], [a...], [b...]] (t in seconds).
 */
export class Series {
    constructor(max, lines) {
        this.max = max;
        this.lines = lines || 1;
        this.t = [];
        this.v = [];
        for (let i = 0; i < this.lines; i++)
            this.v.push([]);
    }
    /** Adds a point; values has `lines` numbers (null for a gap). */
    push(tSec, values) {
        const n = this.t.length;
        if (n && tSec <= this.t[n - 1])
            return; /* out of order or duplicate: ignored */
        this.t.push(tSec);
        for (let i = 0; i < this.lines; i++)
            this.v[i].push(values[i] === undefined ? null : values[i]);
        if (this.t.length > this.max) {
            const drop = this.t.length - this.max;
            this.t.splice(0, drop);
            for (const a of this.v)
                a.splice(0, drop);
        }
    }
    get length() {
        return this.t.length;
    }
    data() {
        return [this.t].concat(this.v);
    }
}

/**
 * Merges a page of events (oldest first, as the API gives them) into a
 * newest-first list, dropping ids already there and keeping at most max.
 * Returns a new array.
 */
export function mergeEvents(newestFirst, page, max) {
    const seen = new Set(newestFirst.map((e) => e.id));
    const fresh = page.filter((e) => e && typeof e.id === 'number' && !seen.has(e.id));
    fresh.sort((a, b) => b.id - a.id);
    const out = fresh.concat(newestFirst);
    out.sort((a, b) => b.id - a.id);
    return out.slice(0, max);
}

/** The fields of an event other than id, type and time, as "k=v" text. */
export function eventSummary(ev) {
    const parts = [];
    for (const k of Object.keys(ev)) {
        if (k === 'id' || k === 'type' || k === 'time')
            continue;
        const v = ev[k];
        parts.push(k + '=' + (v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v)));
    }
    return parts.join(' ');
}

/** Sessions of a stream in display order: publisher, relay links, players, by id. */
export function sortSessions(sessions) {
    const rank = { publisher: 0, relay: 1, player: 2 };
    return sessions.slice().sort((a, b) => {
        const ra = rank[a.role] === undefined ? 3 : rank[a.role];
        const rb = rank[b.role] === undefined ? 3 : rank[b.role];
        return ra - rb || a.id - b.id;
    });
}

/**
 * The id of the newest event, found with few small requests instead of
 * reading the whole log: probe(after) resolves to the id of the first event
 * with an id greater than `after` (GET /api/v1/events?after=..&limit=1), or
 * null when there is none. Ids increase but may have gaps. Resolves to 0 for
 * an empty log. Bounded: at most about 2 * 53 probes.
 */
export async function lastEventId(probe) {
    let lo = await probe(0);
    if (lo === null || lo === undefined)
        return 0;
    /* lo: an existing id. Grow a step until nothing lies beyond lo + step. */
    let hi = null;
    let step = 256;
    for (let i = 0; i < 53 && hi === null; i++) {
        const r = await probe(lo + step);
        if (r === null || r === undefined)
            hi = lo + step;
        else
            lo = r;
        step *= 2;
    }
    if (hi === null)
        return lo;
    /* The newest id is in [lo, hi]: halve. */
    for (let i = 0; i < 60 && hi - lo > 1; i++) {
        const mid = Math.floor((lo + hi) / 2);
        const r = await probe(mid);
        if (r === null || r === undefined)
            hi = mid;
        else
            lo = r;
    }
    const r = await probe(lo);
    return r === null || r === undefined ? lo : r;
}

/* ---- the node's history (GET /api/v1/history, .../history of a stream) -- */

/**
 * uPlot data ([[t s...], [a...], ...]) from a history answer: columns
 * `fields` of body, each multiplied by scale (1 if absent); a null point is
 * put where two points are more than 1.5 intervals apart, so that an outage
 * is drawn as a gap and not as a line across it.
 */
export function historyData(body, fields, scale) {
    const k = scale || 1;
    const out = [[]].concat(fields.map(() => []));
    if (!body || !Array.isArray(body.t))
        return out;
    const step = body.interval_ms || 1000;
    for (let i = 0; i < body.t.length; i++) {
        if (i > 0 && body.t[i] - body.t[i - 1] > step * 1.5) {
            out[0].push((body.t[i - 1] + step) / 1000);
            for (let f = 0; f < fields.length; f++)
                out[f + 1].push(null);
        }
        out[0].push(body.t[i] / 1000);
        for (let f = 0; f < fields.length; f++) {
            const col = body[fields[f]];
            out[f + 1].push(col && Number.isFinite(col[i]) ? col[i] * k : null);
        }
    }
    return out;
}

/**
 * Appends the points of `more` (an answer to ?since=) to `body` (both
 * history answers), keeping at most max points; returns body.
 */
export function historyAppend(body, more, max) {
    if (!more || !Array.isArray(more.t) || !more.t.length)
        return body;
    if (!body || body.resolution !== more.resolution)
        return more;
    const last = body.t.length ? body.t[body.t.length - 1] : -1;
    const keys = Object.keys(more).filter((key) => Array.isArray(more[key]));
    for (let i = 0; i < more.t.length; i++) {
        if (more.t[i] <= last)
            continue;
        for (const key of keys)
            (body[key] = body[key] || []).push(more[key][i]);
    }
    const drop = body.t.length - max;
    if (drop > 0)
        for (const key of keys)
            body[key].splice(0, drop);
    return body;
}

/* ---- the streams table --------------------------------------------------- */

/**
 * What is wrong with a stream, in words (empty: nothing): not live, no
 * video, no data coming in, GOP cache drops, messages skipped at a
 * continuation, a failing relay (failingRelays: a Set of "app/name").
 */
export function streamProblems(s, failingRelays) {
    const p = [];
    if (s.state !== 'live')
        p.push('publisher gone');
    if (!s.video)
        p.push(s.audio ? 'audio only' : 'no video');
    if (s.state === 'live' && !(s.bitrate_in_kbps > 0))
        p.push('no data');
    if (s.gop_cache && s.gop_cache.drops > 0)
        p.push('dropped frames (' + s.gop_cache.drops + ')');
    if (s.continuity && s.continuity.skipped_messages > 0)
        p.push('skipped at a takeover (' + s.continuity.skipped_messages + ')');
    if (failingRelays && failingRelays.has(streamKey(s.app, s.name)))
        p.push('relay failing');
    return p;
}

const SORT_KEYS = {
    name: (s) => streamKey(s.app, s.name),
    source: (s) => s.source || '',
    'bitrate-in': (s) => s.bitrate_in_kbps || 0,
    'bitrate-out': (s) => s.bitrate_out_kbps || 0,
    players: (s) => s.player_count || 0,
    uptime: (s) => -(Date.parse(s.start_time) || 0),
};

/** The columns the streams table sorts by. */
export const STREAM_SORTS = Object.keys(SORT_KEYS);

/**
 * The streams a table shows, in order: those matching q (a substring of
 * "app/name" or the source, any case), app, source, players ("yes": with
 * players, "no": without) and problems (true: only those with one), the
 * ones with a problem first (problemsOf(s): an array), then by sort
 * (STREAM_SORTS) in dir ('asc' or 'desc'), then by name.
 */
export function selectStreams(streams, opts, problemsOf) {
    const o = opts || {};
    const q = (o.q || '').trim().toLowerCase();
    const rows = [];
    for (const s of streams) {
        if (o.app && s.app !== o.app)
            continue;
        if (o.source && s.source !== o.source)
            continue;
        if (o.players === 'yes' && !(s.player_count > 0))
            continue;
        if (o.players === 'no' && s.player_count > 0)
            continue;
        if (q && streamKey(s.app, s.name).toLowerCase().indexOf(q) < 0 &&
            (s.source || '').toLowerCase().indexOf(q) < 0)
            continue;
        const problems = problemsOf(s);
        if (o.problems && !problems.length)
            continue;
        rows.push({ s, problems, key: streamKey(s.app, s.name) });
    }
    const by = SORT_KEYS[o.sort] || SORT_KEYS.name;
    const sign = o.dir === 'desc' ? -1 : 1;
    rows.sort((a, b) => {
        const pa = a.problems.length ? 0 : 1;
        const pb = b.problems.length ? 0 : 1;
        if (pa !== pb)
            return pa - pb;
        const x = by(a.s);
        const y = by(b.s);
        if (x < y)
            return -sign;
        if (x > y)
            return sign;
        return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
    });
    return rows;
}

/**
 * The URLs players use for a stream on the node the page came from (null
 * where the node has no HTTP port): HTTP-FLV, WebSocket-FLV (the same path
 * with Upgrade: websocket), HTTP-TS and HLS.
 */
export function mediaUrls(hostname, httpFlvListen, app, name, secure = false) {
    const flv = flvUrl(hostname, httpFlvListen, app, name, secure);
    if (!flv)
        return null;
    const base = flv.slice(0, -'.flv'.length);
    return { flv, wsflv: flv.replace(/^http/, 'ws'), ts: base + '.ts', hls: base + '.m3u8' };
}

/**
 * The media port a page may use, from the node's listen addresses and the
 * page's location.protocol: a page served over HTTPS (api.tls) cannot load
 * http:// or ws:// media (mixed content), so it uses https.listen when the
 * node has one. { listen, secure }.
 */
export function mediaListen(listen, pageProtocol) {
    if (pageProtocol === 'https:' && listen.https)
        return { listen: listen.https, secure: true };
    return { listen: listen.http_flv, secure: false };
}
