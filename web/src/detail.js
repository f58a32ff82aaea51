/* detail.js: the `#/streams/<app>/<name>` view: one stream, its sessions
 * (publisher or relay link, players) with a Kick button each, a Close stream
 * button and the live preview.
 *
 * The stream comes from main.js's poll of GET /api/v1/streams (a stream that
 * ends is simply absent: no 404 polling); refresh() fetches the stream's
 * sessions with GET /api/v1/sessions?app=&name=. Kick is
 * DELETE /api/v1/sessions/{id}; Close is DELETE /api/v1/streams/{app}/{name}
 * after window.confirm. The view owns its DOM and the preview player from
 * mount() to unmount().
 */
import { api } from './api.js';
import { h, setText, show, syncList } from './dom.js';
import {
    audioLabel, flvUrl, formatBytes, formatDuration, formatKbps, secondsSince, sortSessions, streamKey,
    videoLabel,
} from './format.js';
import { canPreview, createPreview } from './preview.js';

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
    let previewDone = false; /* started once, or failed: no automatic restart */
    let gone = new Set(); /* sessions kicked from here, hidden until the list agrees */

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
        el.video = h('video', { 'data-testid': 'preview', muted: true, playsinline: true, controls: true, preload: 'none' });
        el.video.muted = true;
        el.note = h('p', { class: 'note', 'data-testid': 'preview-note', hidden: true });
        el.restart = h('button', { type: 'button', text: 'Restart preview', hidden: true, onclick: restartPreview });
        el.tbody = h('tbody');
        el.noSessions = h('p', { class: 'empty', text: 'No sessions.', hidden: true });
        const head = h('tr', null, ...SESSION_COLS.map(([, t]) => h('th', { scope: 'col', text: t })), h('th', { scope: 'col', text: '' }));
        root.append(h('div', { 'data-testid': 'stream-detail', 'data-stream': key },
            h('p', { class: 'crumbs' }, h('a', { href: '#/', text: '← Overview' })),
            h('section', { class: 'panel' },
                h('div', { class: 'titlebar' }, h('h2', null, key + ' ', el.state), el.close),
                el.missing,
                h('dl', { class: 'fields' }, ...Object.values(el.f).map((x) => x.el))),
            h('section', { class: 'panel' },
                h('h2', { text: 'Preview' }),
                h('div', { class: 'preview' }, el.video),
                el.note, el.restart),
            h('section', { class: 'panel' },
                h('h2', { text: 'Sessions' }),
                h('div', { class: 'scroll' },
                    h('table', { class: 'grid', 'data-testid': 'sessions-table' }, h('thead', null, head), el.tbody)),
                el.noSessions)));
        preview = createPreview(el.video, el.note);
    }

    function stream() {
        return (ctx.state.streams || []).find((s) => s.app === app && s.name === name) || null;
    }

    async function refresh() {
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
        tr.cells_ = {};
        for (const [col] of SESSION_COLS) {
            const td = h('td', { 'data-col': col });
            tr.cells_[col] = td;
            tr.appendChild(td);
        }
        const kick = h('button', { type: 'button', class: 'small', 'data-testid': 'kick-button', text: 'Kick' });
        kick.addEventListener('click', () => kickSession(s.id, kick));
        tr.appendChild(h('td', null, kick));
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

    function updatePreview(s) {
        if (!s || s.state !== 'live') {
            if (preview.playing) {
                preview.stop();
                preview.say('preview stopped: the stream is not live');
                show(el.restart, false);
            }
            return;
        }
        if (previewDone || !ctx.state.node)
            return;
        const sup = canPreview(s.video, s.audio);
        if (!sup.ok) {
            preview.say(sup.note);
            if (sup.note.indexOf('waiting') < 0)
                previewDone = true;
            return;
        }
        const url = flvUrl(window.location.hostname, ctx.state.node.listen.http_flv, app, name);
        if (!url) {
            preview.say('preview not available: the node has no HTTP-FLV port');
            previewDone = true;
            return;
        }
        previewDone = true;
        preview.start(url, sup);
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
        show(el.restart, previewDone && !preview.playing && !!s && s.state === 'live');
        const list = sortSessions(sessions.filter((x) => !gone.has(x.id)));
        syncList(el.tbody, rows, list, (x) => x.id, createRow, updateRow);
        show(el.noSessions, list.length === 0);
    }

    async function kickSession(id, button) {
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
        preview.say('');
        update();
    }

    function unmount() {
        if (preview)
            preview.stop();
        preview = null;
        rows = new Map();
    }

    return { mount, update, refresh, unmount };
}
