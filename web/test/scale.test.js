/* Unit tests of the streams table's selection (filters, problems first,
 * sorting), the node's history as chart data (gaps as nulls, appending
 * ?since= answers), the stream's URLs and the sessions routes (format.js). */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
    formatWhen, formatWhenMs, historyAppend, historyData, mediaUrls, parseRoute, selectStreams, streamProblems,
} from '../src/format.js';

const S = (app, name, more) => ({
    app, name, state: 'live', source: 'rtmp', video: { codec: 'h264' }, audio: { codec: 'aac' },
    bitrate_in_kbps: 100, bitrate_out_kbps: 0, player_count: 0, start_time: '2026-11-24T10:00:00.000Z',
    gop_cache: { drops: 0 }, continuity: { skipped_messages: 0 }, ...more,
});

test('streamProblems names what is wrong', () => {
    assert.deepEqual(streamProblems(S('a', 'ok')), []);
    assert.deepEqual(streamProblems(S('a', 'x', { video: null })), ['audio only']);
    assert.deepEqual(streamProblems(S('a', 'x', { video: null, audio: null, bitrate_in_kbps: 0 })), ['no video', 'no data']);
    assert.deepEqual(streamProblems(S('a', 'x', { state: 'unpublished', bitrate_in_kbps: 0 })), ['publisher gone']);
    assert.deepEqual(streamProblems(S('a', 'x', { gop_cache: { drops: 3 } })), ['dropped frames (3)']);
    assert.deepEqual(streamProblems(S('a', 'x'), new Set(['a/x'])), ['relay failing']);
});

test('selectStreams filters, puts problems first, then sorts', () => {
    const list = [
        S('b', 'n2', { player_count: 5 }), S('a', 'n1'), S('a', 'bad', { video: null }),
        S('c', 'z', { source: 'relay', player_count: 1 }),
    ];
    const keys = (o) => selectStreams(list, o, (s) => streamProblems(s)).map((r) => r.key);
    assert.deepEqual(keys({}), ['a/bad', 'a/n1', 'b/n2', 'c/z']);
    assert.deepEqual(keys({ sort: 'players', dir: 'desc' }), ['a/bad', 'b/n2', 'c/z', 'a/n1']);
    assert.deepEqual(keys({ sort: 'name', dir: 'desc' }), ['a/bad', 'c/z', 'b/n2', 'a/n1']);
    assert.deepEqual(keys({ app: 'a' }), ['a/bad', 'a/n1']);
    assert.deepEqual(keys({ source: 'relay' }), ['c/z']);
    assert.deepEqual(keys({ players: 'yes' }), ['b/n2', 'c/z']);
    assert.deepEqual(keys({ players: 'no' }), ['a/bad', 'a/n1']);
    assert.deepEqual(keys({ problems: true }), ['a/bad']);
    assert.deepEqual(keys({ q: ' N2 ' }), ['b/n2']);
    assert.deepEqual(keys({ q: 'relay' }), ['c/z'], 'the search looks at the source too');
});

test('historyData draws an outage as a gap', () => {
    const body = { interval_ms: 1000, t: [1000, 2000, 6000, 7000], a: [1, 2, 3, 4], b: [0, 0, 0, 0] };
    assert.deepEqual(historyData(body, ['a'], 10), [[1, 2, 3, 6, 7], [10, 20, null, 30, 40]]);
    assert.deepEqual(historyData(body, ['a', 'b'])[2], [0, 0, null, 0, 0]);
    assert.deepEqual(historyData(null, ['a']), [[], []]);
    const min = { interval_ms: 60000, t: [0, 60000, 120000], a: [1, 2, 3] };
    assert.deepEqual(historyData(min, ['a'])[1], [1, 2, 3], 'no gap between minutes');
});

test('historyAppend adds later points and keeps at most max', () => {
    const body = { resolution: '1s', interval_ms: 1000, t: [1000, 2000], a: [1, 2] };
    historyAppend(body, { resolution: '1s', interval_ms: 1000, t: [2000, 3000, 4000], a: [9, 3, 4] }, 3);
    assert.deepEqual(body.t, [2000, 3000, 4000]);
    assert.deepEqual(body.a, [2, 3, 4]);
    const fresh = { resolution: '1m', t: [0], a: [1] };
    assert.equal(historyAppend(body, fresh, 10), fresh, 'another resolution replaces it');
    assert.equal(historyAppend(body, { t: [] }, 10), body);
});

test('mediaUrls gives every player URL of a stream', () => {
    assert.deepEqual(mediaUrls('node.example', '0.0.0.0:8080', 'live', 'a b'), {
        flv: 'http://node.example:8080/live/a%20b.flv',
        wsflv: 'ws://node.example:8080/live/a%20b.flv',
        ts: 'http://node.example:8080/live/a%20b.ts',
        hls: 'http://node.example:8080/live/a%20b.m3u8',
    });
    assert.equal(mediaUrls('h', '', 'live', 'x'), null);
});

test('sessions routes and the one time format', () => {
    assert.deepEqual(parseRoute('#/sessions'), { view: 'sessions' });
    assert.deepEqual(parseRoute('#/sessions/459921025752043'), { view: 'session', id: 459921025752043 });
    assert.deepEqual(parseRoute('#/sessions/x'), { view: 'overview' });
    assert.equal(formatWhen('2026-11-24T10:00:00.123Z'), '2026-11-24 10:00:00 UTC');
    assert.equal(formatWhen(null), '–');
    assert.equal(formatWhenMs(Date.parse('2026-11-24T10:00:00Z')), '2026-11-24 10:00:00 UTC');
});
