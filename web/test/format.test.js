// Unit tests of src/format.js (the dashboard's pure helpers). Node >= 18:
//   node --test test/
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
    audioLabel, buildRelayBody, errorField, eventSummary, flvUrl, formatBytes, formatDuration, formatFps,
    formatKbps, formatKbpsShort, formError, formatTime, lastEventId, listenPort, mergeEvents, parseRoute,
    previewSupport, RELAY_FORM_FIELDS, secondsSince, Series, sortSessions, streamApiPath, streamHash,
    streamKey, trimNumber, videoLabel,
} from '../src/format.js';

test('trimNumber drops trailing zeros only', () => {
    assert.equal(trimNumber(2.5, 2), '2.5');
    assert.equal(trimNumber(3, 2), '3');
    assert.equal(trimNumber(10, 1), '10');
    assert.equal(trimNumber(100.04, 1), '100');
    assert.equal(trimNumber(0.125, 2), '0.13');
});

test('formatKbps picks the unit', () => {
    assert.equal(formatKbps(0), '0 kbit/s');
    assert.equal(formatKbps(812.54), '812.5 kbit/s');
    assert.equal(formatKbps(999.9), '999.9 kbit/s');
    assert.equal(formatKbps(1000), '1 Mbit/s');
    assert.equal(formatKbps(2512.3), '2.51 Mbit/s');
    assert.equal(formatKbps(1.2e6), '1.2 Gbit/s');
    for (const bad of [null, undefined, NaN, -1, Infinity])
        assert.equal(formatKbps(bad), '–', String(bad));
});

test('formatKbpsShort for chart axes', () => {
    assert.equal(formatKbpsShort(800), '800k');
    assert.equal(formatKbpsShort(2500), '2.5M');
    assert.equal(formatKbpsShort(1.25e6), '1.25G');
    assert.equal(formatKbpsShort(null), '');
});

test('formatBytes uses binary units', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(3.25 * 1024 * 1024), '3.25 MiB');
    assert.equal(formatBytes(20 * 1024 * 1024), '20 MiB');
    assert.equal(formatBytes(2 * 1024 ** 4), '2 TiB');
    assert.equal(formatBytes(-5), '–');
    assert.equal(formatBytes(undefined), '–');
});

test('formatDuration shows the two largest units', () => {
    assert.equal(formatDuration(0), '0 s');
    assert.equal(formatDuration(42.9), '42 s');
    assert.equal(formatDuration(185), '3 min 05 s');
    assert.equal(formatDuration(2 * 3600 + 3 * 60 + 59), '2 h 03 min');
    assert.equal(formatDuration(4 * 86400 + 7 * 3600 + 5), '4 d 07 h');
    assert.equal(formatDuration(-1), '–');
    assert.equal(formatDuration(null), '–');
});

test('secondsSince and formatTime', () => {
    const now = Date.parse('2026-11-24T10:01:00.500Z');
    assert.equal(secondsSince('2026-11-24T10:00:00.000Z', now), 60.5);
    assert.equal(secondsSince('2026-11-24T10:02:00.000Z', now), 0, 'a time in the future counts as 0');
    assert.equal(secondsSince('not a time', now), null);
    assert.equal(secondsSince(null, now), null);
    assert.equal(formatTime('2026-11-24T10:00:00.123Z'), '2026-11-24 10:00:00');
    assert.equal(formatTime(null), '–');
});

test('videoLabel has the codec, WxH and frame rate', () => {
    assert.equal(videoLabel({ codec: 'h264', width: 640, height: 360, frame_rate: 25 }), 'h264 640×360 25 fps');
    assert.equal(videoLabel({ codec: 'h264', width: 1920, height: 1080, frame_rate: 29.97 }), 'h264 1920×1080 29.97 fps');
    assert.equal(videoLabel({ codec: 'hevc', width: null, height: null, frame_rate: null }), 'hevc');
    assert.equal(videoLabel(null), '–');
    assert.equal(formatFps(23.976), '23.98');
});

test('audioLabel', () => {
    assert.equal(audioLabel({ codec: 'aac', sample_rate: 44100, channels: 2 }), 'aac 44.1 kHz stereo');
    assert.equal(audioLabel({ codec: 'mp3', sample_rate: 48000, channels: 1 }), 'mp3 48 kHz mono');
    assert.equal(audioLabel({ codec: 'opus', channels: 6 }), 'opus 6 ch');
    assert.equal(audioLabel(null), '–');
});

test('routes: hashes round-trip through parseRoute', () => {
    assert.deepEqual(parseRoute(''), { view: 'overview' });
    assert.deepEqual(parseRoute('#/'), { view: 'overview' });
    assert.deepEqual(parseRoute('#/nonsense'), { view: 'overview' });
    assert.deepEqual(parseRoute('#/relays'), { view: 'relays' });
    assert.deepEqual(parseRoute('#/events'), { view: 'events' });
    assert.equal(streamHash('live', 'dash'), '#/streams/live/dash');
    for (const [app, name] of [['live', 'dash'], ['a b', 'c/d'], ['ü?', '#x%y']]) {
        assert.deepEqual(parseRoute(streamHash(app, name)), { view: 'stream', app, name }, app + '/' + name);
    }
    assert.deepEqual(parseRoute('#/streams/%E0%A4%A/x'), { view: 'overview' }, 'a malformed escape');
    assert.deepEqual(parseRoute('#/streams/live/'), { view: 'overview' });
    assert.equal(streamKey('live', 'dash'), 'live/dash');
    assert.equal(streamApiPath('a b', 'c/d'), '/api/v1/streams/a%20b/c%2Fd');
});

test('listenPort and flvUrl', () => {
    assert.equal(listenPort('0.0.0.0:8080'), 8080);
    assert.equal(listenPort('[::]:18080'), 18080);
    assert.equal(listenPort('127.0.0.1'), null);
    assert.equal(listenPort('host:0'), null);
    assert.equal(listenPort('host:70000'), null);
    assert.equal(listenPort(undefined), null);
    assert.equal(flvUrl('192.168.1.5', '0.0.0.0:8080', 'live', 'dash'), 'http://192.168.1.5:8080/live/dash.flv');
    assert.equal(flvUrl('::1', '[::]:8080', 'live', 'a/b c'), 'http://[::1]:8080/live/a/b%20c.flv');
    assert.equal(flvUrl('[::1]', '[::]:8080', 'live', 'x'), 'http://[::1]:8080/live/x.flv');
    assert.equal(flvUrl('h', 'nowhere', 'live', 'x'), null);
});

test('previewSupport asks MSE about each codec', () => {
    const mse = { mseLivePlayback: true };
    const only = (...ok) => (t) => ok.some((s) => t.indexOf(s) >= 0);
    const h264 = { codec: 'h264' };
    const aac = { codec: 'aac' };
    assert.deepEqual(previewSupport(h264, aac, mse, only('avc1', 'mp4a')), { ok: true, hasVideo: true, hasAudio: true });
    assert.deepEqual(previewSupport(h264, aac, mse, only('avc1')), { ok: true, hasVideo: true, hasAudio: false },
        'video alone when the audio cannot play');
    const no = previewSupport(h264, aac, mse, only('mp4a'));
    assert.equal(no.ok, false);
    assert.match(no.note, /not available for h264/);
    assert.equal(previewSupport({ codec: 'vp6' }, null, mse, () => true).ok, false, 'a codec without an MSE type');
    assert.equal(previewSupport(null, aac, mse, only('avc1')).ok, false);
    assert.match(previewSupport(null, null, mse, () => true).note, /waiting/);
    assert.match(previewSupport(h264, aac, null, () => true).note, /no MSE/);
    assert.match(previewSupport(h264, aac, { mseLivePlayback: false }, () => true).note, /no MSE/);
    assert.equal(previewSupport(h264, null, mse, () => { throw new Error('x'); }).ok, false, 'a throwing isTypeSupported');
});

test('buildRelayBody makes the POST body from the form', () => {
    assert.deepEqual(buildRelayBody({ id: '', direction: 'pull', mode: 'always', app: ' live ', name: 'cam',
        urls: ' rtmp://a/live/cam \n\n http://b:8080/live/cam.flv\r\n' }),
    { direction: 'pull', mode: 'always', app: 'live', name: 'cam',
        urls: ['rtmp://a/live/cam', 'http://b:8080/live/cam.flv'] });
    assert.deepEqual(buildRelayBody({ id: 'p1', direction: 'push', mode: 'always', app: 'live', name: '*',
        urls: 'rtmp://cdn/ingest' }),
    { id: 'p1', direction: 'push', app: 'live', name: '*', urls: ['rtmp://cdn/ingest'] }, 'no mode for push');
    assert.deepEqual(buildRelayBody({ direction: 'pull', mode: '', app: 'a', name: 'b', urls: '' }),
        { direction: 'pull', app: 'a', name: 'b', urls: [] });
    assert.deepEqual(buildRelayBody({}), { direction: 'push', app: '', name: '', urls: [] });
});

test('errorField and formError map API messages to fields', () => {
    const F = RELAY_FORM_FIELDS;
    assert.equal(errorField('urls[0]: scheme ftp is not supported', F), 'urls');
    assert.equal(errorField('urls: at least one URL is required', F), 'urls');
    assert.equal(errorField('app: expected 1 to 64 printable ASCII characters', F), 'app');
    assert.equal(errorField('id: relay x already exists', F), 'id');
    assert.equal(errorField('retry_max_ms: must be >= retry_initial_ms', F), null, 'not a form field');
    assert.equal(errorField('relays are not running', F), null);
    assert.equal(errorField(undefined, F), null);
    assert.deepEqual(formError({ status: 400, code: 'invalid_field', message: 'urls[0]: scheme ftp is not supported' }, F),
        { field: 'urls', message: 'urls[0]: scheme ftp is not supported' });
    assert.deepEqual(formError({ status: 409, code: 'conflict', message: 'id: relay w3 already exists' }, F),
        { field: 'id', message: 'id: relay w3 already exists' });
    assert.deepEqual(formError({ status: 503, code: 'unavailable', message: 'app: x' }, F),
        { field: null, message: 'app: x' }, 'only validation errors go to a field');
    assert.deepEqual(formError(null, F), { field: null, message: 'request failed' });
});

test('Series keeps the newest points in order', () => {
    const s = new Series(3, 2);
    s.push(1, [10, 20]);
    s.push(2, [11]);
    s.push(2, [99, 99]); // duplicate time: ignored
    s.push(1.5, [99, 99]); // older: ignored
    assert.deepEqual(s.data(), [[1, 2], [10, 11], [20, null]]);
    s.push(3, [12, 22]);
    s.push(4, [13, 23]);
    assert.equal(s.length, 3);
    assert.deepEqual(s.data(), [[2, 3, 4], [11, 12, 13], [null, 22, 23]]);
});

test('mergeEvents: newest first, no duplicates, bounded', () => {
    let list = mergeEvents([], [{ id: 1 }, { id: 2 }, { id: 3 }], 4);
    assert.deepEqual(list.map((e) => e.id), [3, 2, 1]);
    list = mergeEvents(list, [{ id: 3 }, { id: 4 }, { id: 5 }, { id: 'x' }, null], 4);
    assert.deepEqual(list.map((e) => e.id), [5, 4, 3, 2]);
});

test('eventSummary and sortSessions', () => {
    assert.equal(eventSummary({ id: 1, type: 'session.kick', time: 't', session_id: 3, app: 'live', by: 'api' }),
        'session_id=3 app=live by=api');
    assert.equal(eventSummary({ id: 2, type: 'relay.refused', time: 't', via: ['a', 'b'] }), 'via=["a","b"]');
    const sorted = sortSessions([{ id: 5, role: 'player' }, { id: 9, role: 'publisher' }, { id: 2, role: 'player' },
        { id: 7, role: 'relay' }, { id: 1, role: 'other' }]);
    assert.deepEqual(sorted.map((s) => s.id), [9, 7, 2, 5, 1]);
});

test('lastEventId finds the newest id with few probes', async () => {
    for (const ids of [[], [1], [1, 2, 3], [5, 6, 700, 701, 90000], Array.from({ length: 5000 }, (_, i) => i * 3 + 1)]) {
        let probes = 0;
        const probe = async (after) => {
            probes++;
            const next = ids.find((id) => id > after);
            return next === undefined ? null : next;
        };
        const want = ids.length ? ids[ids.length - 1] : 0;
        assert.equal(await lastEventId(probe), want, 'ids ' + ids.slice(-3));
        assert.ok(probes <= 60, probes + ' probes for ' + ids.length + ' ids');
    }
});
