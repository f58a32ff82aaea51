/* events.js: the `#/events` view: the node's recent event log, newest first,
 * live.
 *
 * The first refresh() finds the newest event id with a few one-event
 * requests (format.js lastEventId) and reads the last INITIAL ids; later
 * refreshes follow the log with GET /api/v1/events?after=<next_after>
 * (cursor paging, at most MAX_PAGES pages per refresh). At most KEEP events
 * are listed.
 */
import { api } from './api.js';
import { h, setText, show, syncList } from './dom.js';
import { eventSummary, formatTime, lastEventId, mergeEvents } from './format.js';

const INITIAL = 200;
const PAGE = 1000;
const MAX_PAGES = 5;
const KEEP = 500;

function typeClass(type) {
    if (/fail|refused|kick|close/.test(type))
        return 'badge warn';
    if (/\.start$/.test(type))
        return 'badge ok';
    if (/\.stop$/.test(type))
        return 'badge';
    return 'badge info';
}

export function createEvents(ctx) {
    let cursor = null; /* next_after of the last page; null before the first refresh */
    let events = [];
    let rows = new Map();
    const el = {};

    function mount(root) {
        el.list = h('ol', { class: 'events', 'data-testid': 'events-list', reversed: true });
        el.empty = h('p', { class: 'empty', hidden: true, text: 'No events yet.' });
        el.filter = h('input', { type: 'search', placeholder: 'filter: type or text', 'aria-label': 'Filter events' });
        el.filter.addEventListener('input', update);
        el.count = h('span', { class: 'muted' });
        root.append(h('section', { class: 'panel' },
            h('div', { class: 'titlebar' }, h('h2', null, 'Events ', el.count), el.filter),
            el.list, el.empty));
        rows = new Map();
    }

    async function refresh() {
        if (cursor === null) {
            const last = await lastEventId(async (after) => {
                const r = await api.events(after, 1);
                return r && r.events && r.events.length ? r.events[0].id : null;
            });
            cursor = Math.max(0, last - INITIAL);
        }
        for (let i = 0; i < MAX_PAGES; i++) {
            const r = await api.events(cursor, PAGE);
            const page = r && Array.isArray(r.events) ? r.events : [];
            if (page.length)
                events = mergeEvents(events, page, KEEP);
            if (r && typeof r.next_after === 'number' && r.next_after >= cursor)
                cursor = r.next_after;
            if (page.length < PAGE)
                break;
        }
    }

    function createRow(ev) {
        const li = h('li', { class: 'event', 'data-testid': 'event-row', 'data-event-id': String(ev.id), 'data-type': ev.type });
        li.time_ = h('time', { class: 'when', datetime: ev.time, text: formatTime(ev.time) });
        li.type_ = h('span', { class: typeClass(ev.type), text: ev.type });
        li.text_ = h('span', { class: 'what', text: eventSummary(ev) });
        li.append(h('span', { class: 'id', text: '#' + ev.id }), li.time_, li.type_, li.text_);
        return li;
    }

    function update() {
        if (!el.list)
            return;
        const q = el.filter.value.trim().toLowerCase();
        const shown = q ? events.filter((ev) => (ev.type + ' ' + eventSummary(ev)).toLowerCase().indexOf(q) >= 0) : events;
        syncList(el.list, rows, shown, (ev) => ev.id, createRow, () => {});
        setText(el.count, cursor === null ? '' : '(' + shown.length + (q ? ' of ' + events.length : '') + ')');
        show(el.empty, cursor !== null && shown.length === 0);
    }

    function unmount() {
        rows = new Map();
    }

    return { mount, update, refresh, unmount };
}
