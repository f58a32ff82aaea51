// The player URLs of a dashboard served over HTTPS (api.tls): https:// and
// wss:// on https.listen, since such a page may not load http:// or ws://
// media. Node >= 18: node --test test/
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { mediaListen, mediaUrls } from '../src/format.js';

const LISTEN = { http_flv: '0.0.0.0:8080', https: '0.0.0.0:8443' };

test('a page over HTTPS uses https.listen with https:// and wss://', () => {
    const m = mediaListen(LISTEN, 'https:');
    assert.deepEqual(m, { listen: '0.0.0.0:8443', secure: true });
    assert.deepEqual(mediaUrls('node.example', m.listen, 'live', 'a b', m.secure), {
        flv: 'https://node.example:8443/live/a%20b.flv',
        wsflv: 'wss://node.example:8443/live/a%20b.flv',
        ts: 'https://node.example:8443/live/a%20b.ts',
        hls: 'https://node.example:8443/live/a%20b.m3u8',
    });
});

test('a page over HTTP, or a node without https.listen, keeps the HTTP-FLV port', () => {
    assert.deepEqual(mediaListen(LISTEN, 'http:'), { listen: '0.0.0.0:8080', secure: false });
    assert.deepEqual(mediaListen({ http_flv: '0.0.0.0:8080', https: null }, 'https:'),
        { listen: '0.0.0.0:8080', secure: false });
    assert.equal(mediaUrls('h', '0.0.0.0:8080', 'live', 'x').wsflv, 'ws://h:8080/live/x.flv');
});
