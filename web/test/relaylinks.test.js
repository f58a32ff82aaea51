// Unit tests of src/relaylinks.js (where a stream comes from and goes to)
// and of the small chart's paths (format.js sparkPath). Node >= 18.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { sourceNode, streamRoute } from '../src/relaylinks.js';
import { parseRoute, relayHash, sparkPath } from '../src/format.js';

const inst = (name, extra) => ({ name, status: 'active', current_url: 'rtmp://o/live/' + name, last_error: null,
    last_error_message: null, hops: 1, session_id: 7, ...extra });
const relay = (id, direction, app, name, streams, extra) => ({ id, direction, app, name, enabled: true,
    status: 'active', urls: ['rtmp://o/' + app], current_url: null, last_error: null, last_error_message: null,
    streams, ...extra });
const stream = { app: 'live', name: 'cam', publisher: { id: 7, protocol: 'rtmp', remote: '127.0.0.1:1' },
    continuity: { source_id: 'node-a.123' } };

test('sourceNode takes the node id of a source_id', () => {
    assert.equal(sourceNode('3f0c9a52-8d1e-4c59-a0d2-77b7f1c5e0aa.459917962967555'), '3f0c9a52-8d1e-4c59-a0d2-77b7f1c5e0aa');
    for (const bad of [null, undefined, '', 'nodot', '.5', 42])
        assert.equal(sourceNode(bad), null, String(bad));
});

test('streamRoute: pull and push relays of the stream, exact and *', () => {
    const relays = [
        relay('p1', 'pull', 'live', 'cam', [inst('cam')]),
        relay('p2', 'pull', 'live', '*', [inst('other')]),           // runs for another name: not listed
        relay('p3', 'pull', 'live', '*', [inst('cam', { hops: 3, session_id: 9 })]),
        relay('s1', 'push', 'live', '*', []),                        // pushes every stream of the app
        relay('s2', 'push', 'live', 'cam', [inst('cam', { current_url: 'rtmp://cdn/x', session_id: 11 })]),
        relay('x', 'push', 'other', 'cam', [inst('cam')]),           // another app
        relay('d', 'pull', 'live', 'cam', [], { enabled: false }),
    ];
    const rt = streamRoute(relays, [], stream, 'node-b');
    assert.deepEqual(rt.pulls.map((x) => x.id), ['p1', 'p3', 'd']);
    assert.deepEqual(rt.pushes.map((x) => x.id), ['s1', 's2']);
    const p3 = rt.pulls[1];
    assert.equal(p3.hops, 3);
    assert.equal(p3.session_id, 9);
    assert.equal(p3.url, 'rtmp://o/live/cam');
    assert.equal(rt.pulls[2].status, 'disabled');
    assert.equal(rt.pulls[2].url, 'rtmp://o/live', 'a relay without an instance shows its first URL');
    assert.equal(rt.pushes[1].url, 'rtmp://cdn/x');
    assert.equal(rt.pushes[0].hops, null);
    assert.equal(rt.origin, 'node-a');
    assert.equal(streamRoute(relays, [], stream, 'node-a').origin, null, 'its own timeline: no origin shown');
});

test('streamRoute: the publisher, another node pushing in, other nodes pulling', () => {
    const sess = (id, role, relay) => ({ id, role, protocol: 'rtmp', remote: '10.0.0.' + id + ':1935', relay,
        bytes_in: id * 100 });
    const sessions = [
        sess(7, 'relay', { direction: 'in', hops: 2, peer: 'node-up' }),
        sess(8, 'relay', { direction: 'in', hops: 1, peer: 'node-down' }),
        sess(9, 'player', null),
    ];
    const rt = streamRoute(null, sessions, stream, 'node-b');
    assert.deepEqual(rt.publisher, { id: 7, protocol: 'rtmp', remote: '10.0.0.7:1935',
        relay: { direction: 'in', hops: 2, peer: 'node-up' } });
    assert.deepEqual(rt.inLinks.map((s) => [s.id, s.relay.peer]), [[8, 'node-down']]);
    assert.equal(rt.inLinks[0].bytes_in, undefined, 'only what the page shows (it redraws on change)');
    assert.deepEqual(rt.pulls, []);
    const none = streamRoute([], [], null, 'node-b');
    assert.deepEqual(none, { pulls: [], pushes: [], publisher: null, inLinks: [], origin: null });
});

test('#/relays/ID routes to the relays page with that relay picked', () => {
    assert.deepEqual(parseRoute(relayHash('a b/c')), { view: 'relays', id: 'a b/c' });
    assert.deepEqual(parseRoute('#/relays/w3-pull'), { view: 'relays', id: 'w3-pull' });
    assert.deepEqual(parseRoute('#/relays'), { view: 'relays' });
    assert.deepEqual(parseRoute('#/relays/%E0'), { view: 'relays' });
});

test('sparkPath draws lines between gaps, scaled to the box', () => {
    assert.deepEqual(sparkPath([], [], 100, 10, 30), { line: '', fill: '' });
    const p = sparkPath([0, 10, 20, 30], [0, 100, null, 50], 100, 11, 30);
    // y: 0..110 (1.1 × the top value) over 11 px; x: 0..30 s over 100 px
    assert.equal(p.line, 'M0,11L33.3,1M100,6');
    assert.equal(p.fill, 'M0,11L0,11L33.3,1L33.3,11ZM100,11L100,6L100,11Z');
    // less than spanS of data: drawn at the right, the span at least spanS
    assert.equal(sparkPath([100, 110], [1, 1], 30, 10, 30).line, 'M20,0.9L30,0.9');
});
