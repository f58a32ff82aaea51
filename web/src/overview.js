/* overview.js: the `#/` view: the node (id, version, uptime, draining),
 * its totals, two charts of its bitrate in and out, and the streams table
 * with a small bitrate chart per row.
 *
 * It fetches nothing itself: main.js polls GET /api/v1/node and
 * GET /api/v1/streams and keeps the histories (ctx.history); update() shows
 * them. The view owns its DOM and charts from mount() to unmount().
 */
import { h, setText, show, syncList } from './dom.js';
import { bitrateChart, sparkline } from './charts.js';
import {
    audioLabel, formatDuration, formatKbps, formatTime, secondsSince, streamHash, streamKey, videoLabel,
} from './format.js';

function field(label, testid) {
    const value = h('dd', { 'data-testid': testid, text: '–' });
    return { el: h('div', { class: 'field' }, h('dt', { text: label }), value), value };
}

const STREAM_COLS = [
    ['name', 'Stream'], ['source', 'Source'], ['video', 'Video'], ['audio', 'Audio'],
    ['bitrate-in', 'In'], ['players', 'Players'], ['bitrate-out', 'Out'], ['uptime', 'Uptime'],
];

export function createOverview(ctx) {
    let charts = [];
    let f = {};
    let tbody = null;
    let empty = null;
    let rows = new Map();

    function mount(root) {
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
        f.inNow = h('span', { class: 'now' });
        f.outNow = h('span', { class: 'now' });
        const inBox = h('div', { class: 'chart', 'data-testid': 'chart-bitrate-in' });
        const outBox = h('div', { class: 'chart', 'data-testid': 'chart-bitrate-out' });
        const head = h('tr', null, ...STREAM_COLS.map(([, t]) => h('th', { scope: 'col', text: t })),
            h('th', { scope: 'col', text: 'Last 2 min' }));
        tbody = h('tbody');
        empty = h('p', { class: 'empty', text: 'No streams. Publish one, e.g. with ffmpeg to rtmp://<node>/live/test.' });
        root.append(
            h('section', { class: 'panel' },
                h('h2', { text: 'Node' }),
                h('dl', { class: 'fields' }, f.id.el, f.version.el, f.uptime.el, f.draining.el),
                h('dl', { class: 'fields totals' }, f.streams.el, f.publishers.el, f.players.el, f.relays.el)),
            h('section', { class: 'charts' },
                h('figure', { class: 'panel' }, h('figcaption', null, 'Bitrate in ', f.inNow, h('span', { class: 'muted', text: ' · last 5 min' })), inBox),
                h('figure', { class: 'panel' }, h('figcaption', null, 'Bitrate out ', f.outNow, h('span', { class: 'muted', text: ' · last 5 min' })), outBox)),
            h('section', { class: 'panel' },
                h('h2', { text: 'Streams' }),
                h('div', { class: 'scroll' },
                    h('table', { class: 'grid', 'data-testid': 'streams-table' }, h('thead', null, head), tbody)),
                empty));
        charts = [
            bitrateChart(inBox, 'in', 'in', ctx.history.nodeIn),
            bitrateChart(outBox, 'out', 'out', ctx.history.nodeOut),
        ];
        rows = new Map();
    }

    function createRow(s) {
        const key = streamKey(s.app, s.name);
        const tr = h('tr', { 'data-testid': 'stream-row', 'data-stream': key });
        tr.cells_ = {};
        for (const [col] of STREAM_COLS) {
            const td = h('td', { 'data-col': col });
            tr.cells_[col] = td;
            tr.appendChild(td);
        }
        const link = h('a', { 'data-testid': 'stream-link', href: streamHash(s.app, s.name), text: key });
        tr.state_ = h('span', { class: 'badge warn', text: 'unpublished', hidden: true });
        tr.cells_.name.append(link, ' ', tr.state_);
        const box = h('div', { class: 'spark', 'data-testid': 'stream-chart' });
        tr.appendChild(h('td', { class: 'sparkcell' }, box));
        tr.chart_ = sparkline(box, ctx.history.stream(key));
        return tr;
    }

    function updateRow(tr, s) {
        const c = tr.cells_;
        const now = Date.now();
        setText(c.source, s.source);
        setText(c.video, videoLabel(s.video));
        setText(c.audio, audioLabel(s.audio));
        setText(c['bitrate-in'], formatKbps(s.bitrate_in_kbps));
        setText(c.players, s.player_count);
        setText(c['bitrate-out'], formatKbps(s.bitrate_out_kbps));
        setText(c.uptime, formatDuration(secondsSince(s.start_time, now)));
        c.uptime.title = 'since ' + formatTime(s.start_time) + ' UTC';
        show(tr.state_, s.state !== 'live');
        tr.chart_.update();
    }

    function update() {
        const node = ctx.state.node;
        if (node) {
            setText(f.id.value, node.id);
            setText(f.version.value, node.version);
            setText(f.uptime.value, formatDuration(node.uptime_s));
            setText(f.draining.value, node.draining
                ? 'yes' + (node.drain && node.drain.since ? ' (since ' + formatTime(node.drain.since) + ')' : '')
                : 'no');
            f.draining.value.className = node.draining ? 'warn' : '';
            setText(f.streams.value, node.counts.streams);
            setText(f.publishers.value, node.counts.publishers);
            setText(f.players.value, node.counts.players);
            setText(f.relays.value, node.counts.relays);
            setText(f.inNow, formatKbps(node.bitrate_in_kbps));
            setText(f.outNow, formatKbps(node.bitrate_out_kbps));
        }
        for (const c of charts)
            c.update();
        const streams = ctx.state.streams || [];
        syncList(tbody, rows, streams, (s) => streamKey(s.app, s.name), createRow, updateRow,
            (tr) => tr.chart_.destroy());
        show(empty, streams.length === 0);
    }

    function unmount() {
        for (const c of charts)
            c.destroy();
        for (const tr of rows.values())
            tr.chart_.destroy();
        charts = [];
        rows = new Map();
    }

    return { mount, update, unmount, refresh: async () => {} };
}
