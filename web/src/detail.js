/* detail.js: the `#/streams/<app>/<name>` view: one stream, its sessions
 * (publisher or relay link, players) with a Kick button each, a Close stream
 * button, where it comes from and goes to (routepanel.js: its pull and push
 * relays, linked to the relays page, and other nodes' relay links), the URLs
 * players use (HTTP-FLV, WebSocket-FLV, HTTP-TS, HLS), the stream's chart
 * from the node's history and the live preview.
 *
 * The stream comes from main.js's poll of GET /api/v1/streams?app=&name=
 * (streamsQuery(): only this stream; one that ends is simply absent);
 * refresh() fetches the stream's sessions with GET /api/v1/sessions?app=&name=
 * and the new points of GET /api/v1/streams/{app}/{name}/history. Kick is
 * DELETE /api/v1/sessions/{id}, Close DELETE /api/v1/streams/{app}/{name},
 * each after window.confirm.
 *
 * The preview plays HTTP-FLV or WebSocket-FLV (mpegts.js) or HLS (hls.js),
 * as chosen in preview-source, and recovers by
 * itself: when it fails or stalls it says why and starts again after
 * RETRY_MS while the stream is live; when the stream goes (unpublished,
 * node restarted) it waits for it to be live again. An audio-only stream
 * shows an audio meter. The Recording panel (recordings.js): whether the
 * stream is recorded, its recent files with download links. The view owns its DOM and the preview player from
 * mount() to unmount().
 */
import { api } from './api.js';
import { h, setText, show, syncList } from './dom.js';
import {
    audioLabel, formatBytes, formatDuration, formatKbps, historyAppend, historyData, mediaListen, mediaUrls,
    secondsSince, sortSessions, streamKey, videoLabel,
} from './format.js';
import { bitrateChart } from './charts.js';
import { canPreview, createPreview } from './preview.js';
import { createRecordings } from './recordings.js';
import { createRoutePanel } from './routepanel.js';

const RETRY_MS = 3000;
const URLS = [['flv', 'HTTP-FLV'], ['wsflv', 'WebSocket-FLV'], ['ts', 'HTTP-TS'], ['hls', 'HLS']];

const SESSION_COLS = [
    ['id', 'Id'], ['role', 'Role'], ['protocol', 'Protocol'], ['remote', 'Remote'],
    ['bytes-in', 'Bytes in'], ['bytes-out', 'Bytes out'], ['bitrate-in', 'In'], ['bitrate-out', 'Out'],
    ['dropped', 'Dropped frames'], ['queued', 'Queued'], ['uptime', 'Uptime'],
];

export function createDetail(ctx, app, name) {
    const key = streamKey(app, name);
    let sessions = [];
    let rows = new Map();
    let el = {};
    let preview = null;
    let previewDone = false; /* the browser cannot play it: no automatic restart */
    let retryAt = 0; /* the preview starts again then (after a failure) */
    let hist = null; /* the stream's history (1 s) */
    let chart = null;
    let gone = new Set(); /* sessions kicked from here, hidden until the list agrees */
    const recordings = createRecordings(app, name);
    const routePanel = createRoutePanel(app);

    function fieldRow(label) {
        const dd = h('dd', { text: '–' });
        return { el: h('div', { class: 'field' }, h('dt', { text: label }), dd), dd };
    }

    function mount(root) {
        el.state = h('span', { class: 'badge' });
        el.missing = h('p', { class: 'empty', hidden: true, text: 'This stream is not on the node (it ended, or is not published yet).' });
        el.f = {
            source: fieldRow('Source'), video: fieldRow('Video'), audio: fieldRow('Audio'),
            bin: fieldRow('Bitrate in'), bout: fieldRow('Bitrate out'), players: fieldRow('Players'),
            uptime: fieldRow('Uptime'), bytes: fieldRow('Bytes in / out'),
        };
        el.close = h('button', { class: 'danger', type: 'button', 'data-testid': 'close-stream-button', text: 'Close stream', onclick: closeStream });
        /* no controls: a live stream has no seek bar; a click plays (autoplay refused) */
        el.video = h('video', { 'data-testid': 'preview', muted: true, playsinline: true, preload: 'none', title: 'click to play' });
        el.video.addEventListener('click', () => { el.video.play().catch(() => {}); });
        el.video.muted = true;
        el.note = h('p', { class: 'note', 'data-testid': 'preview-note', hidden: true });
        el.restart = h('button', { type: 'button', text: 'Restart preview', hidden: true, onclick: restartPreview });
        el.via = h('select', { 'data-testid': 'preview-source', 'aria-label': 'Preview over' },
            h('option', { value: 'flv', text: 'HTTP-FLV' }), h('option', { value: 'wsflv', text: 'WebSocket-FLV' }),
            h('option', { value: 'hls', text: 'HLS' }));
        el.via.value = ctx.ui.previewVia || 'flv';
        el.via.addEventListener('change', () => { ctx.ui.previewVia = el.via.value; restartPreview(); });
        el.meterBar = h('div', { class: 'meter-bar', 'data-testid': 'audio-meter-level' });
        el.meter = h('div', { class: 'meter', 'data-testid': 'audio-meter', hidden: true, title: 'audio level' }, el.meterBar);
        el.urls = h('dl', { class: 'urls', 'data-testid': 'stream-urls' });
        el.chartBox = h('div', { class: 'chart', 'data-testid': 'stream-history-chart' });
        el.tbody = h('tbody');
        el.noSessions = h('p', { class: 'empty', text: 'No sessions.', hidden: true });
        /* the Kick column first: inside the viewport on a phone, where the table scrolls sideways */
        const head = h('tr', null, h('th', { scope: 'col', text: '' }), ...SESSION_COLS.map(([, t]) => h('th', { scope: 'col', text: t })));
        root.append(h('div', { 'data-testid': 'stream-detail', 'data-stream': key },
            h('p', { class: 'crumbs' }, h('a', { href: '#/', text: '← Overview' })),
            h('section', { class: 'panel' },
                h('div', { class: 'titlebar' }, h('h2', null, key + ' ', el.state), el.close),
                el.missing,
                h('dl', { class: 'fields' }, ...Object.values(el.f).map((x) => x.el))),
            routePanel.el,
            h('figure', { class: 'panel' }, h('figcaption', null, 'Bitrate in (history kept by the node, last 15 min)'), el.chartBox),
            h('section', { class: 'panel' },
                h('h2', { text: 'Play it' }), el.urls),
            h('section', { class: 'panel' },
                h('div', { class: 'titlebar' }, h('h2', { text: 'Preview' }), el.via),
                h('div', { class: 'preview' }, el.video), el.meter,
                el.note, el.restart),
            h('section', { class: 'panel' },
                h('h2', { text: 'Sessions' }),
                h('div', { class: 'scroll' },
                    h('table', { class: 'grid', 'data-testid': 'sessions-table' }, h('thead', null, head), el.tbody)),
                el.noSessions),
            recordings.el));
        preview = createPreview(el.video, el.note);
        chart = bitrateChart(el.chartBox, 'in', 'in', { data: () => historyData(hist, ['bitrate_kbps']) });
    }

    function updateUrls() {
        const node = ctx.state.node;
        const m = node ? mediaListen(node.listen, window.location.protocol) : null;
        const u = m ? mediaUrls(window.location.hostname, m.listen, app, name, m.secure) : null;
        if (!u || el.urls.childElementCount)
            return;
        for (const [k, label] of URLS) {
            const code = h('code', { 'data-testid': 'url-' + k, text: u[k] });
            el.urls.append(h('dt', { text: label }), h('dd', null, code));
        }
    }

    function stream() {
        return (ctx.state.streams || []).find((s) => s.app === app && s.name === name) || null;
    }

    async function refreshHistory() {
        const since = hist && hist.t.length ? hist.t[hist.t.length - 1] : undefined;
        try {
            const more = await api.streamHistory(app, name, '1s', since);
            hist = since === undefined ? more : historyAppend(hist, more, 900);
        } catch (e) {
            if (!(e && e.status === 404)) /* 404: no history (yet) */
                throw e;
        }
    }

    async function refresh() {
        await Promise.all([refreshHistory(), recordings.refresh(), routePanel.refresh()]);
        const r = await api.streamSessions(app, name);
        const all = r && Array.isArray(r.sessions) ? r.sessions : [];
        sessions = all.filter((s) => s.app === app && s.name === name);
        const ids = new Set(sessions.map((s) => s.id));
        for (const id of gone)
            if (!ids.has(id))
                gone.delete(id);
    }

    function createRow(s) {
        const tr = h('tr', { 'data-testid': 'session-row', 'data-session-id': String(s.id), 'data-role': s.role });
        const kick = h('button', { type: 'button', class: 'small', 'data-testid': 'kick-button', text: 'Kick' });
        kick.addEventListener('click', () => kickSession(s.id, kick));
        tr.appendChild(h('td', null, kick));
        tr.cells_ = {};
        for (const [col] of SESSION_COLS) {
            const td = h('td', { 'data-col': col });
            tr.cells_[col] = td;
            tr.appendChild(td);
        }
        return tr;
    }

    function updateRow(tr, s) {
        const c = tr.cells_;
        if (tr.getAttribute('data-role') !== s.role)
            tr.setAttribute('data-role', s.role);
        setText(c.id, s.id);
        setText(c.role, s.role);
        setText(c.protocol, s.protocol);
        setText(c.remote, s.remote);
        setText(c['bytes-in'], formatBytes(s.bytes_in));
        setText(c['bytes-out'], formatBytes(s.bytes_out));
        setText(c['bitrate-in'], formatKbps(s.bitrate_in_kbps));
        setText(c['bitrate-out'], formatKbps(s.bitrate_out_kbps));
        setText(c.dropped, s.dropped_frames);
        setText(c.queued, formatBytes(s.queued_bytes));
        setText(c.uptime, formatDuration(secondsSince(s.start_time, Date.now())));
    }

    function previewFailed() {
        /* mpegts.js or the <video> stopped it (its note says why): try again soon */
        if (!preview.playing && !retryAt)
            retryAt = Date.now() + RETRY_MS;
    }

    function updatePreview(s) {
        if (!s || s.state !== 'live') {
            if (preview.playing)
                preview.stop();
            preview.say(s ? 'the publisher is gone: the preview resumes when the stream is live again'
                : 'the stream is not on the node: the preview resumes when it is published again');
            retryAt = 0;
            return;
        }
        if (previewDone || !ctx.state.node)
            return;
        if (preview.playing && preview.stalled()) {
            preview.stop();
            preview.say('preview stalled (no new frames): restarting');
            retryAt = Date.now();
        }
        previewFailed();
        if (preview.playing || Date.now() < retryAt)
            return;
        const sup = canPreview(s.video, s.audio);
        if (!sup.ok) {
            preview.say(sup.note);
            if (sup.note.indexOf('waiting') < 0)
                previewDone = true;
            return;
        }
        const m = mediaListen(ctx.state.node.listen, window.location.protocol);
        const u = mediaUrls(window.location.hostname, m.listen, app, name, m.secure);
        if (!u) {
            preview.say('preview not available: the node has no HTTP-FLV port');
            previewDone = true;
            return;
        }
        retryAt = 0;
        const via = el.via.value;
        preview.start(via === 'wsflv' ? u.wsflv : via === 'hls' ? u.hls : u.flv, sup, via);
        const audioOnly = !s.video && !!s.audio;
        show(el.meter, audioOnly);
        el.video.hidden = audioOnly;
        if (audioOnly)
            preview.meter(el.meterBar);
    }

    function update() {
        const s = stream();
        show(el.missing, !s);
        el.close.disabled = !s;
        if (s) {
            setText(el.state, s.state);
            el.state.className = 'badge ' + (s.state === 'live' ? 'ok' : 'warn');
            setText(el.f.source.dd, s.source);
            setText(el.f.video.dd, videoLabel(s.video));
            setText(el.f.audio.dd, audioLabel(s.audio));
            setText(el.f.bin.dd, formatKbps(s.bitrate_in_kbps));
            setText(el.f.bout.dd, formatKbps(s.bitrate_out_kbps));
            setText(el.f.players.dd, s.player_count);
            setText(el.f.uptime.dd, formatDuration(secondsSince(s.start_time, Date.now())));
            setText(el.f.bytes.dd, formatBytes(s.bytes_in) + ' / ' + formatBytes(s.bytes_out));
        } else {
            setText(el.state, 'gone');
            el.state.className = 'badge warn';
        }
        updatePreview(s);
        updateUrls();
        if (chart)
            chart.update();
        show(el.restart, !!s && s.state === 'live');
        const list = sortSessions(sessions.filter((x) => !gone.has(x.id)));
        syncList(el.tbody, rows, list, (x) => x.id, createRow, updateRow);
        show(el.noSessions, list.length === 0);
        routePanel.update(s, sessions, ctx.state.node ? ctx.state.node.id : null);
        recordings.update();
    }

    async function kickSession(id, button) {
        const who = sessions.find((x) => x.id === id);
        const what = who ? who.role + (who.remote ? ' ' + who.remote : '') : 'session';
        const warn = who && who.role === 'publisher' ? ' The stream loses its publisher.' : who && who.role === 'relay' ? ' A relay link reconnects by itself.' : '';
        if (!window.confirm('Kick session ' + id + ' (' + what + ')?' + warn))
            return;
        button.disabled = true;
        try {
            const r = await api.kickSession(id);
            gone.add(id);
            const k = r && r.kicked ? r.kicked : { id, role: 'session' };
            ctx.notify('Kicked session ' + id + ' (' + k.role + (k.remote ? ', ' + k.remote : '') + ')');
            update();
        } catch (e) {
            ctx.notify('Kick failed: ' + e.message, true);
            button.disabled = false;
        }
    }

    async function closeStream() {
        if (!window.confirm('Close the stream ' + key + '? Its publisher and all players are disconnected.'))
            return;
        el.close.disabled = true;
        try {
            const r = await api.closeStream(app, name);
            preview.stop();
            ctx.notify('Closed ' + key + ': ' + (r ? r.sessions : 0) + ' session(s) disconnected');
            window.location.hash = '#/';
        } catch (e) {
            ctx.notify('Close failed: ' + e.message, true);
            el.close.disabled = false;
        }
    }

    function restartPreview() {
        previewDone = false;
        retryAt = 0;
        preview.stop();
        preview.say('');
        update();
    }

    function unmount() {
        if (preview)
            preview.stop();
        if (chart)
            chart.destroy();
        chart = null;
        preview = null;
        rows = new Map();
    }

    return { mount, update, refresh, unmount, streamsQuery: () => ({ app, name }) };
}
