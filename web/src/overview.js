/* overview.js: the `#/` view: the node's health (CPU, RSS, connections and
 * bandwidth against limits.*, failing relays, draining, with a drain /
 * undrain button that asks first), charts from the node's own history
 * (GET /api/v1/history: they survive a reload of the page and show an outage
 * as a gap), and the streams table: a search box, filters (app, source, has
 * players, problems), sortable columns, the streams with a problem first,
 * PAGE rows a page, a small bitrate chart per row shown. While main.js has
 * only the first page of a new list (ctx.state.streamsPartial) the count
 * says so; the problems-first order settles when the whole list is in.
 *
 * main.js polls GET /api/v1/node and the streams list (streamsQuery(): the
 * app filter goes to the node); refresh() adds the history's new points
 * (?since=) and, every RELAYS_EVERY_MS, the failing relays
 * (GET /api/v1/relays?status=failed). Only the page's rows are in the DOM.
 * The view owns its DOM and charts from mount() to unmount(); the filters,
 * sort and page live in ctx.ui.streams (kept while the tab lives).
 */
import { api } from './api.js';
import { h, setText, show, syncList } from './dom.js';
import { sparkline } from './spark.js';
import {
    audioLabel, formatBytes, formatDuration, formatKbps, formatWhen, historyAppend, historyData,
    secondsSince, selectStreams, streamHash, streamKey, streamProblems, trimNumber, videoLabel,
} from './format.js';

const PAGE = 50;
const RELAYS_EVERY_MS = 5000;
const MINUTES_EVERY_MS = 30000;
const HISTORY_MAX = { '1s': 900, '1m': 1440 };

function field(label, testid) {
    const value = h('dd', { 'data-testid': testid, text: '–' });
    return { el: h('div', { class: 'field' }, h('dt', { text: label }), value), value };
}

const STREAM_COLS = [
    ['name', 'Stream', true], ['problems', 'Problems', false], ['source', 'Source', true],
    ['video', 'Video', false], ['audio', 'Audio', false], ['bitrate-in', 'In', true],
    ['players', 'Players', true], ['bitrate-out', 'Out', true], ['uptime', 'Uptime', true],
];

/** A use against its limit: "12 / 10000 (0.1%)" or "12 (no limit)". */
function useText(use, fmt) {
    if (!use)
        return '–';
    const f = fmt || ((v) => String(v));
    if (!use.limit)
        return f(use.used) + ' (no limit)';
    return f(use.used) + ' / ' + f(use.limit) + ' (' + trimNumber((100 * use.used) / use.limit, 1) + '%)';
}

function healthFields() {
    return {
        cpu: field('CPU (one core = 100%)', 'health-cpu'),
        rss: field('Memory (RSS)', 'health-rss'),
        media: field('Media memory', 'health-media'),
        conns: field('Connections', 'health-connections'),
        slimit: field('Streams', 'health-streams'),
        bw: field('Bandwidth in / out', 'health-bandwidth'),
        relays: field('Failing relays', 'health-relays'),
    };
}

function select(testid, label, options) {
    const el = h('select', { 'data-testid': testid, 'aria-label': label });
    for (const [v, t] of options)
        el.appendChild(h('option', { value: v, text: t }));
    return el;
}

export function createOverview(ctx) {
    const ui = ctx.ui.streams;
    let charts = [];
    let mounted = false;
    let loadCharts = null; /* uPlot (charts.js): not on the first render's path, loaded after it */
    let f = {};
    let hf = {};
    let c = {};
    let rows = new Map();
    let failing = new Set();
    let failingCount = null;
    let relaysAt = 0;
    let minutesAt = 0;

    function hist() {
        return ctx.nodeHistory[ui.range] || null;
    }

    function source(fields, scale) {
        return { data: () => historyData(hist(), fields, scale) };
    }

    function mountControls() {
        c.search = h('input', { type: 'search', placeholder: 'Search app/name or source', 'data-testid': 'stream-search', 'aria-label': 'Search streams' });
        c.search.value = ui.q;
        c.app = select('stream-filter-app', 'App', [['', 'All apps']]);
        c.source = select('stream-filter-source', 'Source', [['', 'All sources']]);
        c.players = select('stream-filter-players', 'Players', [['', 'Any players'], ['yes', 'With players'], ['no', 'Without players']]);
        c.problems = h('input', { type: 'checkbox', 'data-testid': 'stream-filter-problems' });
        c.problems.checked = ui.problems;
        c.count = h('span', { class: 'muted', 'data-testid': 'streams-count' });
        /* the same sorts as the column headers, for a phone where they scroll out of view */
        c.sort = select('stream-sort', 'Sort by', STREAM_COLS.filter((x) => x[2]).flatMap(([col, t]) =>
            [[col + ':asc', 'Sort: ' + t + ' ↑'], [col + ':desc', 'Sort: ' + t + ' ↓']]));
        c.sort.addEventListener('change', () => {
            [ui.sort, ui.dir] = c.sort.value.split(':');
            ui.page = 0;
            update();
        });
        c.prev = h('button', { type: 'button', class: 'small', 'data-testid': 'page-prev', text: '← Prev' });
        c.next = h('button', { type: 'button', class: 'small', 'data-testid': 'page-next', text: 'Next →' });
        c.pageInfo = h('span', { class: 'muted', 'data-testid': 'page-info' });
        const changed = () => {
            ui.q = c.search.value;
            ui.app = c.app.value;
            ui.source = c.source.value;
            ui.players = c.players.value;
            ui.problems = c.problems.checked;
            ui.page = 0;
            update();
        };
        c.search.addEventListener('input', changed);
        for (const el of [c.app, c.source, c.players, c.problems])
            el.addEventListener('change', changed);
        c.app.addEventListener('change', () => ctx.pollNow());
        c.prev.addEventListener('click', () => { ui.page = Math.max(0, ui.page - 1); update(); });
        c.next.addEventListener('click', () => { ui.page++; update(); });
        return h('div', { class: 'filters' }, c.search, c.app, c.source, c.players, c.sort,
            h('label', { class: 'check' }, c.problems, ' Problems only'), c.count);
    }

    function sortHeader(col, title, sortable) {
        if (!sortable)
            return h('th', { scope: 'col', text: title });
        const b = h('button', { type: 'button', class: 'sort', 'data-testid': 'sort-' + col, text: title });
        b.addEventListener('click', () => {
            ui.dir = ui.sort === col && ui.dir === 'asc' ? 'desc' : 'asc';
            ui.sort = col;
            ui.page = 0;
            update();
        });
        const th = h('th', { scope: 'col', 'data-sort': col }, b);
        return th;
    }

    function mountHealth() {
        f = {
            id: field('Node id', 'node-id'),
            version: field('Version', 'node-version'),
            uptime: field('Uptime', 'node-uptime'),
            draining: field('Draining', 'node-draining'),
            streams: field('Streams', 'total-streams'),
            publishers: field('Publishers', 'total-publishers'),
            players: field('Players', 'total-players'),
            relays: field('Relays', 'total-relays'),
        };
        hf = healthFields();
        f.drain = h('button', { type: 'button', class: 'danger', 'data-testid': 'drain-button', text: 'Drain', onclick: toggleDrain });
        return h('section', { class: 'panel', 'data-testid': 'node-health' },
            h('div', { class: 'titlebar' }, h('h2', { text: 'Node' }), f.drain),
            h('dl', { class: 'fields' }, f.id.el, f.version.el, f.uptime.el, f.draining.el),
            h('dl', { class: 'fields totals' }, f.streams.el, f.publishers.el, f.players.el, f.relays.el),
            h('dl', { class: 'fields' }, ...Object.values(hf).map((x) => x.el)));
    }

    function mountCharts() {
        f.inNow = h('span', { class: 'now' });
        f.outNow = h('span', { class: 'now' });
        f.range = select('history-range', 'Chart range', [['1s', 'last 15 min'], ['1m', 'last 24 h']]);
        f.range.value = ui.range;
        f.range.addEventListener('change', () => {
            ui.range = f.range.value;
            minutesAt = 0;
            refresh().then(update, () => {});
        });
        const boxes = {
            in: h('div', { class: 'chart', 'data-testid': 'chart-bitrate-in' }),
            out: h('div', { class: 'chart', 'data-testid': 'chart-bitrate-out' }),
            cpu: h('div', { class: 'chart', 'data-testid': 'chart-cpu' }),
            conns: h('div', { class: 'chart', 'data-testid': 'chart-connections' }),
        };
        const fig = (title, now, box) => h('figure', { class: 'panel' }, h('figcaption', null, title, now || ''), box);
        const el = h('section', { class: 'charts' },
            h('p', { class: 'charts-head' }, 'History kept by the node ', f.range),
            fig('Bitrate in ', f.inNow, boxes.in), fig('Bitrate out ', f.outNow, boxes.out),
            fig('CPU, % of one core', null, boxes.cpu), fig('Connections', null, boxes.conns));
        loadCharts = () => import('./charts.js').then((m) => {
            if (!mounted)
                return;
            charts = [
                m.bitrateChart(boxes.in, 'in', 'in', source(['bitrate_in_kbps'])),
                m.bitrateChart(boxes.out, 'out', 'out', source(['bitrate_out_kbps'])),
                m.valueChart(boxes.cpu, 'cpu', '#7a4cc2', source(['cpu_percent']), (v) => trimNumber(v, 1) + '%', (v) => v + '%'),
                m.valueChart(boxes.conns, 'connections', '#1c7c45', source(['connections']), (v) => String(Math.round(v)), (v) => String(v)),
            ];
            for (const ch of charts)
                ch.update();
        }, (e) => ctx.notify('Charts not loaded: ' + (e && e.message ? e.message : e), true));
        return el;
    }

    function mount(root) {
        const head = h('tr', null, ...STREAM_COLS.map(([col, t, s]) => sortHeader(col, t, s)),
            h('th', { scope: 'col', text: 'Last 2 min' }));
        c.tbody = h('tbody');
        c.empty = h('p', { class: 'empty', text: 'No streams. Publish one, e.g. with ffmpeg to rtmp://<node>/live/test.' });
        mounted = true;
        root.append(mountHealth(), mountCharts(),
            h('section', { class: 'panel' },
                h('h2', { text: 'Streams' }),
                mountControls(),
                h('div', { class: 'scroll' },
                    h('table', { class: 'grid', 'data-testid': 'streams-table' }, h('thead', null, head), c.tbody)),
                c.empty,
                h('div', { class: 'pager' }, c.prev, c.pageInfo, c.next)));
        rows = new Map();
    }

    function createRow(r) {
        const s = r.s;
        const tr = h('tr', { 'data-testid': 'stream-row', 'data-stream': r.key });
        tr.cells_ = {};
        for (const [col] of STREAM_COLS) {
            const td = h('td', { 'data-col': col });
            tr.cells_[col] = td;
            tr.appendChild(td);
        }
        const link = h('a', { 'data-testid': 'stream-link', href: streamHash(s.app, s.name), text: r.key });
        tr.state_ = h('span', { class: 'badge warn', text: 'unpublished', hidden: true });
        tr.cells_.name.append(link, ' ', tr.state_);
        const box = h('div', { class: 'spark', 'data-testid': 'stream-chart' });
        tr.appendChild(h('td', { class: 'sparkcell' }, box));
        tr.chart_ = sparkline(box, ctx.history.stream(r.key));
        return tr;
    }

    function updateRow(tr, r) {
        const s = r.s;
        const cl = tr.cells_;
        setText(cl.problems, r.problems.join(', '));
        cl.problems.className = r.problems.length ? 'bad' : '';
        setText(cl.source, s.source);
        setText(cl.video, videoLabel(s.video));
        setText(cl.audio, audioLabel(s.audio));
        setText(cl['bitrate-in'], formatKbps(s.bitrate_in_kbps));
        setText(cl.players, s.player_count);
        setText(cl['bitrate-out'], formatKbps(s.bitrate_out_kbps));
        setText(cl.uptime, formatDuration(secondsSince(s.start_time, Date.now())));
        cl.uptime.title = 'since ' + formatWhen(s.start_time);
        show(tr.state_, s.state !== 'live');
        tr.chart_.update();
    }

    function options(sel, values) {
        const want = [''].concat([...values].sort());
        const have = [...sel.options].map((o) => o.value);
        if (want.join('\n') === have.join('\n'))
            return;
        const first = sel.options[0].text;
        const keep = sel.value;
        sel.replaceChildren(...want.map((v) => h('option', { value: v, text: v || first })));
        sel.value = want.includes(keep) ? keep : '';
    }

    function updateHealth(node) {
        setText(f.id.value, node.id);
        setText(f.version.value, node.version);
        setText(f.uptime.value, formatDuration(node.uptime_s));
        setText(f.draining.value, node.draining
            ? 'yes' + (node.drain && node.drain.since ? ' (since ' + formatWhen(node.drain.since) + ')' : '')
            : 'no');
        f.draining.value.className = node.draining ? 'warn' : '';
        setText(f.drain, node.draining ? 'Undrain' : 'Drain');
        setText(f.streams.value, node.counts.streams);
        setText(f.publishers.value, node.counts.publishers);
        setText(f.players.value, node.counts.players);
        setText(f.relays.value, node.counts.relays);
        setText(f.inNow, formatKbps(node.bitrate_in_kbps));
        setText(f.outNow, formatKbps(node.bitrate_out_kbps));
        const lim = node.limits || {};
        setText(hf.cpu.value, node.cpu ? trimNumber(node.cpu.process_percent, 1) + '% (machine ' + trimNumber(node.cpu.machine_percent, 1) + '%)' : '–');
        hf.cpu.value.className = node.cpu && node.cpu.process_percent > 80 ? 'warn' : '';
        setText(hf.rss.value, node.memory ? formatBytes(node.memory.rss_bytes) : '–');
        setText(hf.media.value, node.memory ? useText({ used: node.memory.media_bytes, limit: node.memory.media_limit_bytes }, formatBytes) : '–');
        setText(hf.conns.value, useText(lim.connections));
        setText(hf.slimit.value, useText(lim.streams));
        setText(hf.bw.value, formatKbps(node.bitrate_in_kbps) + ' / ' + formatKbps(node.bitrate_out_kbps));
        setText(hf.relays.value, failingCount === null ? '–' : String(failingCount));
        hf.relays.value.className = failingCount ? 'warn' : '';
    }

    function updateStreams() {
        const streams = ctx.state.streams || [];
        for (const s of streams)
            ctx.apps.add(s.app);
        options(c.app, ctx.apps);
        options(c.source, new Set(streams.map((s) => s.source)));
        const list = selectStreams(streams, ui, (s) => streamProblems(s, failing));
        const pages = Math.max(1, Math.ceil(list.length / PAGE));
        ui.page = Math.min(ui.page, pages - 1);
        const shown = list.slice(ui.page * PAGE, ui.page * PAGE + PAGE);
        syncList(c.tbody, rows, shown, (r) => r.key, createRow, updateRow, (tr) => tr.chart_.destroy());
        c.sort.value = ui.sort + ':' + ui.dir;
        for (const th of c.tbody.parentNode.querySelectorAll('th[data-sort]'))
            th.setAttribute('aria-sort', th.getAttribute('data-sort') === ui.sort ? (ui.dir === 'asc' ? 'ascending' : 'descending') : 'none');
        const partial = ctx.state.streamsPartial;
        setText(c.count, partial ? list.length + ' of the first ' + streams.length + ' streams (loading the rest…)'
            : list.length + ' of ' + streams.length + ' streams');
        if (!ctx.firstRender && shown.length) {
            /* the Performance API mark the browser test reads (first render at scale) */
            ctx.firstRender = true;
            performance.mark('weir:streams-first-render', { detail: { streams: streams.length, partial } });
        }
        setText(c.pageInfo, 'page ' + (ui.page + 1) + ' of ' + pages);
        c.prev.disabled = ui.page === 0;
        c.next.disabled = ui.page >= pages - 1;
        show(c.empty, list.length === 0);
    }

    function update() {
        const node = ctx.state.node;
        if (node)
            updateHealth(node);
        for (const ch of charts)
            ch.update();
        updateStreams();
        if (loadCharts && ctx.state.streams) {
            const load = loadCharts;
            loadCharts = null;
            load();
        }
    }

    async function refreshHistory() {
        const now = Date.now();
        const res = ui.range;
        const have = ctx.nodeHistory[res];
        if (res === '1m' && have && now - minutesAt < MINUTES_EVERY_MS)
            return;
        const since = res === '1s' && have && have.t.length ? have.t[have.t.length - 1] : undefined;
        const more = await api.history(res, since);
        ctx.nodeHistory[res] = since === undefined ? more : historyAppend(have, more, HISTORY_MAX[res]);
        if (res === '1m')
            minutesAt = now;
    }

    async function refreshRelays() {
        if (Date.now() - relaysAt < RELAYS_EVERY_MS)
            return;
        relaysAt = Date.now();
        const r = await api.failingRelays();
        const list = r && Array.isArray(r.relays) ? r.relays : [];
        failingCount = list.length;
        failing = new Set(list.filter((x) => x.app && x.name && x.name !== '*').map((x) => streamKey(x.app, x.name)));
    }

    async function refresh() {
        await Promise.all([refreshHistory(), refreshRelays()]);
    }

    async function toggleDrain() {
        const node = ctx.state.node;
        if (!node)
            return;
        const undrain = node.draining;
        const msg = undrain
            ? 'Undrain the node? It accepts new publishers and players again.'
            : 'Drain the node? It refuses new publishers and players (sessions up go on) until undrained.';
        if (!window.confirm(msg))
            return;
        f.drain.disabled = true;
        try {
            await (undrain ? api.undrain() : api.drain());
            ctx.notify(undrain ? 'Node undrained' : 'Node draining');
            ctx.pollNow();
        } catch (e) {
            ctx.notify((undrain ? 'Undrain' : 'Drain') + ' failed: ' + e.message, true);
        } finally {
            f.drain.disabled = false;
        }
    }

    function streamsQuery() {
        return ui.app ? { app: ui.app } : {};
    }

    function unmount() {
        mounted = false;
        for (const ch of charts)
            ch.destroy();
        for (const tr of rows.values())
            tr.chart_.destroy();
        charts = [];
        rows = new Map();
    }

    return { mount, update, unmount, refresh, streamsQuery };
}
