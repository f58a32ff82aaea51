/* routepanel.js: the stream page's "Comes from / goes to" panel: the pull
 * relays feeding the stream and its publisher (with the node that pushed it
 * here, when another node did), the node its timeline comes from, and the
 * push relays sending it on and the other nodes' relay links pulling it
 * (relaylinks.js streamRoute()). Each relay links to its row on the relays
 * page (`#/relays/ID`, which links back here), each session to its page.
 *
 * createRoutePanel(app) -> {el, refresh, update(stream, sessions, nodeId)}:
 * refresh() asks GET /api/v1/relays?app= at most every EVERY_MS (the detail
 * view calls it from its own refresh); update() draws. Runs on the page's
 * main thread; owns its DOM.
 */
import { api } from './api.js';
import { h, show } from './dom.js';
import { relayHash } from './format.js';
import { streamRoute } from './relaylinks.js';

const EVERY_MS = 3000;

const STATUS_CLASS = { active: 'ok', connecting: 'info', backoff: 'warn', failed: 'bad' };

function sessionLink(id) {
    return h('a', { href: '#/sessions/' + id, 'data-testid': 'route-session-link', text: 'session ' + id });
}

/** A relay's line: "pull relay ID [status] URL · hops N · session S". */
function relayLine(x, testid) {
    const li = h('li', { 'data-testid': testid, 'data-relay-id': x.id },
        (x.direction === 'pull' ? 'pull relay ' : 'push relay ') + (x.every ? '(every stream of the app) ' : ''),
        h('a', { href: relayHash(x.id), 'data-testid': 'route-relay-link', text: x.id }), ' ',
        h('span', { class: 'badge ' + (STATUS_CLASS[x.status] || ''), text: x.status }), ' ',
        x.direction === 'pull' ? 'from ' : 'to ', h('code', { 'data-testid': 'route-url', text: x.url || '–' }));
    if (x.hops !== null)
        li.append(' · ', h('span', { 'data-testid': 'route-hops', text: 'hops ' + x.hops }));
    if (x.session_id)
        li.append(' · ', sessionLink(x.session_id));
    if (x.last_error && x.status !== 'active')
        li.append(h('span', { class: 'muted', text: ' (' + x.last_error + ')' }));
    return li;
}

/** The line of another node's relay link: "pushed by node X (hops N) from REMOTE · session S". */
function linkLine(s, what, testid) {
    return h('li', { 'data-testid': testid, 'data-session-id': String(s.id) },
        what + ' node ', h('code', { 'data-testid': 'route-peer', text: s.relay.peer || 'unknown' }),
        ' (', h('span', { 'data-testid': 'route-hops', text: 'hops ' + s.relay.hops }), ') from ' + s.remote + ' · ',
        sessionLink(s.id));
}

export function createRoutePanel(app) {
    let relays = null;
    let at = 0;
    let drawn = '';
    const up = h('ul', { class: 'route', 'data-testid': 'stream-upstream' });
    const down = h('ul', { class: 'route', 'data-testid': 'stream-downstream' });
    const downNone = h('p', { class: 'muted', text: 'No push relay and no other node\'s relay link: only this node\'s players.' });
    const el = h('section', { class: 'panel', 'data-testid': 'stream-route' },
        h('h2', { text: 'Comes from' }), up, h('h2', { text: 'Goes to' }), down, downNone);

    async function refresh() {
        if (Date.now() - at < EVERY_MS)
            return;
        at = Date.now();
        const r = await api.relays({ app });
        relays = r && Array.isArray(r.relays) ? r.relays : [];
    }

    function update(stream, sessions, nodeId) {
        const rt = streamRoute(relays, sessions, stream, nodeId);
        const key = JSON.stringify(rt);
        if (key === drawn)
            return;
        drawn = key;
        const ups = rt.pulls.map((x) => relayLine(x, 'upstream-relay'));
        const p = rt.publisher;
        if (p && p.relay && p.relay.direction === 'in')
            ups.push(linkLine(p, 'pushed here by', 'upstream-node'));
        else if (p && !rt.pulls.some((x) => x.session_id === p.id))
            ups.push(h('li', { 'data-testid': 'upstream-publisher' },
                'publisher ' + p.protocol + ' from ' + p.remote + ' · ', sessionLink(p.id)));
        if (rt.origin)
            ups.push(h('li', { 'data-testid': 'upstream-origin' }, 'first published on node ',
                h('code', { text: rt.origin }), ' (its timeline, continuity.source_id)'));
        if (!ups.length)
            ups.push(h('li', { class: 'muted', text: stream ? 'no publisher now' : 'the stream is not on the node' }));
        up.replaceChildren(...ups);
        const downs = rt.pushes.map((x) => relayLine(x, 'downstream-relay'))
            .concat(rt.inLinks.map((s) => linkLine(s, 'pulled by', 'downstream-node')));
        down.replaceChildren(...downs);
        show(downNone, !downs.length);
    }

    return { el, refresh, update };
}
