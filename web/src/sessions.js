/* sessions.js: the `#/sessions` view, every session of the node with
 * filters (role, protocol, app, name: passed to GET /api/v1/sessions, so
 * only the page shown is fetched, PAGE at a time, with next_after to page
 * on), and the `#/sessions/<id>` page of one session (GET
 * /api/v1/sessions/{id}: client, URL and query, protocol, start time, bytes,
 * A/V timestamps, drops: every field the node gives) with a Kick button that
 * asks first. Each view owns its DOM from mount() to unmount().
 */
import { api, ApiError } from './api.js';
import { h, setText, show, syncList } from './dom.js';
import { formatBytes, formatDuration, formatKbps, formatWhen, secondsSince, streamHash, streamKey } from './format.js';

const PAGE = 100;

const COLS = [
    /* the two links first: inside the viewport on a phone, where the table scrolls sideways */
    ['id', 'Id'], ['stream', 'Stream'], ['role', 'Role'], ['protocol', 'Protocol'], ['remote', 'Remote'],
    ['bitrate-in', 'In'], ['bitrate-out', 'Out'], ['dropped', 'Dropped'], ['start', 'Started'],
];

function choice(name, label, values) {
    const el = h('select', { name, 'data-testid': 'session-filter-' + name, 'aria-label': label });
    for (const [v, t] of values)
        el.appendChild(h('option', { value: v, text: t }));
    return el;
}

export function createSessions(ctx) {
    const el = {};
    let rows = new Map();
    let list = [];
    let cursors = [null]; /* the `after` of each page seen */
    let page = 0;
    let next = null;

    function filters() {
        return {
            role: el.role.value, protocol: el.protocol.value, app: el.app.value.trim(),
            name: el.name.value.trim(), limit: PAGE, after: cursors[page],
        };
    }

    function mount(root) {
        el.role = choice('role', 'Role', [['', 'Any role'], ['publisher', 'publisher'], ['player', 'player'], ['relay', 'relay'], ['connecting', 'connecting']]);
        el.protocol = choice('protocol', 'Protocol', [['', 'Any protocol'], ['rtmp', 'rtmp'], ['http-flv', 'http-flv'], ['hls', 'hls'], ['ws-flv', 'ws-flv'], ['http-ts', 'http-ts']]);
        el.app = h('input', { type: 'search', name: 'app', placeholder: 'app', 'data-testid': 'session-filter-app', 'aria-label': 'App' });
        el.name = h('input', { type: 'search', name: 'name', placeholder: 'name', 'data-testid': 'session-filter-name', 'aria-label': 'Stream name' });
        el.count = h('span', { class: 'muted' });
        el.tbody = h('tbody');
        el.prev = h('button', { type: 'button', class: 'small', text: '← Prev', onclick: () => turn(-1) });
        el.next = h('button', { type: 'button', class: 'small', text: 'Next →', onclick: () => turn(1) });
        const again = () => { cursors = [null]; page = 0; ctx.pollNow(); };
        for (const x of [el.role, el.protocol])
            x.addEventListener('change', again);
        for (const x of [el.app, el.name])
            x.addEventListener('change', again);
        const head = h('tr', null, ...COLS.map(([, t]) => h('th', { scope: 'col', text: t })));
        root.append(h('section', { class: 'panel' },
            h('h2', { text: 'Sessions' }),
            h('div', { class: 'filters' }, el.role, el.protocol, el.app, el.name, el.count),
            h('div', { class: 'scroll' }, h('table', { class: 'grid', 'data-testid': 'all-sessions-table' }, h('thead', null, head), el.tbody)),
            h('div', { class: 'pager' }, el.prev, el.next)));
    }

    function turn(d) {
        if (d > 0 && next) {
            cursors[page + 1] = next;
            page++;
        } else if (d < 0 && page > 0) {
            page--;
        }
        ctx.pollNow();
    }

    async function refresh() {
        const r = await api.sessions(filters());
        list = r && Array.isArray(r.sessions) ? r.sessions : [];
        next = r ? r.next_after : null;
    }

    function createRow(s) {
        const tr = h('tr', { 'data-testid': 'all-session-row', 'data-session-id': String(s.id) });
        tr.cells_ = {};
        for (const [col] of COLS) {
            tr.cells_[col] = h('td', { 'data-col': col });
            tr.appendChild(tr.cells_[col]);
        }
        tr.cells_.id.appendChild(h('a', { href: '#/sessions/' + s.id, text: String(s.id) }));
        return tr;
    }

    function updateRow(tr, s) {
        const c = tr.cells_;
        setText(c.role, s.role);
        setText(c.protocol, s.protocol);
        if (s.app && s.name && !c.stream.firstChild)
            c.stream.appendChild(h('a', { href: streamHash(s.app, s.name), text: streamKey(s.app, s.name) }));
        setText(c.remote, s.remote);
        setText(c['bitrate-in'], formatKbps(s.bitrate_in_kbps));
        setText(c['bitrate-out'], formatKbps(s.bitrate_out_kbps));
        setText(c.dropped, s.dropped_frames);
        setText(c.start, formatWhen(s.start_time));
    }

    function update() {
        syncList(el.tbody, rows, list, (s) => s.id, createRow, updateRow);
        setText(el.count, list.length + ' on page ' + (page + 1));
        el.prev.disabled = page === 0;
        el.next.disabled = !next;
    }

    return { mount, update, refresh, unmount: () => { rows = new Map(); } };
}

/** Every member of obj as [dotted key, text] pairs, nested objects flattened. */
function flatten(obj, prefix, out) {
    for (const [k, v] of Object.entries(obj || {})) {
        const key = prefix ? prefix + '.' + k : k;
        if (v && typeof v === 'object' && !Array.isArray(v))
            flatten(v, key, out);
        else
            out.push([key, /(_time|since)$/.test(k) ? formatWhen(v) : /bytes/.test(k) && typeof v === 'number' ? formatBytes(v) + ' (' + v + ')' : Array.isArray(v) ? v.join(', ') : v === null ? '–' : String(v)]);
    }
    return out;
}

export function createSession(ctx, id) {
    const el = {};
    let s = null;
    let gone = false;

    function mount(root) {
        el.fields = h('dl', { class: 'fields', 'data-testid': 'session-fields' });
        el.kick = h('button', { type: 'button', class: 'danger', 'data-testid': 'kick-button', text: 'Kick', onclick: kick });
        el.missing = h('p', { class: 'empty', hidden: true, text: 'This session is closed.' });
        el.uptime = h('span', { class: 'muted' });
        root.append(h('div', { 'data-testid': 'session-detail', 'data-session-id': String(id) },
            h('p', { class: 'crumbs' }, h('a', { href: '#/sessions', text: '← Sessions' })),
            h('section', { class: 'panel' },
                h('div', { class: 'titlebar' }, h('h2', null, 'Session ' + id + ' ', el.uptime), el.kick),
                el.missing, el.fields)));
    }

    async function refresh() {
        try {
            s = await api.session(id);
            gone = false;
        } catch (e) {
            if (!(e instanceof ApiError && e.status === 404))
                throw e;
            gone = true;
        }
    }

    function update() {
        show(el.missing, gone);
        el.kick.disabled = gone || !s;
        if (!s)
            return;
        setText(el.uptime, formatDuration(secondsSince(s.start_time, Date.now())));
        const pairs = flatten(s, '', []);
        syncList(el.fields, new Map([...el.fields.children].map((x) => [x.getAttribute('data-key'), x])), pairs, (p) => p[0],
            (p) => h('div', { class: 'field', 'data-key': p[0] }, h('dt', { text: p[0] }), h('dd')),
            (div, p) => setText(div.lastChild, p[1]));
    }

    async function kick() {
        if (!window.confirm('Kick session ' + id + (s ? ' (' + s.role + ', ' + s.remote + ')' : '') + '? Its client is disconnected.'))
            return;
        try {
            await api.kickSession(id);
            ctx.notify('Kicked session ' + id);
            ctx.pollNow();
        } catch (e) {
            ctx.notify('Kick failed: ' + e.message, true);
        }
    }

    return { mount, update, refresh, unmount: () => {} };
}
