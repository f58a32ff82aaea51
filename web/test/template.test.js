// Checks of src/index.html, the page's shell that build.mjs fills in: the
// elements main.js looks up by id exist with the test ids the browser test
// (tests/web/dashboard.mjs) uses, and nothing runs inline (the node's CSP
// allows scripts from 'self' only).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

const html = fs.readFileSync(new URL('../src/index.html', import.meta.url), 'utf8');
const main = fs.readFileSync(new URL('../src/main.js', import.meta.url), 'utf8');

test('the shell has the placeholders build.mjs fills in', () => {
    assert.match(html, /<link rel="stylesheet" href="\{\{APP_CSS\}\}">/);
    // an ES module (deferred as `defer` was: it runs after the document is parsed);
    // the chunks it imports are preloaded beside it
    assert.match(html, /<script type="module" src="\{\{APP_JS\}\}"><\/script>/);
    assert.match(html, /<script type="module" src="\{\{APP_JS\}\}"><\/script>\s*\{\{APP_PRELOAD\}\}/);
    // early.js (the overview's first requests) runs before the bundle
    assert.match(html, /<script src="\{\{EARLY_JS\}\}"><\/script>\s*<script type="module" src="\{\{APP_JS\}\}">/);
});

test('no inline script, no event handler attributes, no external URL', () => {
    for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
        assert.match(m[1], /\bsrc=/, 'a script without src');
        assert.equal(m[2].trim(), '', 'an inline script');
    }
    assert.doesNotMatch(html, /\son[a-z]+=/i, 'an inline event handler');
    assert.doesNotMatch(html, /\b(?:src|href)="(?:[a-z]+:|\/\/)/i, 'an external URL');
});

test('every element main.js looks up by id is in the shell', () => {
    const ids = new Set([...main.matchAll(/\$\('([a-z-]+)'\)/g)].map((m) => m[1]));
    assert.ok(ids.size >= 8, 'ids found in main.js: ' + [...ids]);
    for (const id of ids)
        assert.match(html, new RegExp('id="' + id + '"'), 'no element with id ' + id);
});

test('the shell carries the test ids of the navigation, the token form and the banner', () => {
    for (const tid of ['nav-overview', 'nav-relays', 'nav-events', 'conn-status', 'token-form', 'token-input',
        'token-submit', 'token-error']) {
        const n = html.split('data-testid="' + tid + '"').length - 1;
        assert.equal(n, 1, tid + ' appears ' + n + ' times');
    }
    assert.match(html, /href="#\/relays"[^>]*data-testid="nav-relays"/);
    assert.match(html, /href="#\/events"[^>]*data-testid="nav-events"/);
    assert.match(html, /<div id="conn-status"[^>]* hidden>/, 'the banner starts hidden');
    assert.match(html, /<form id="token-form"[^>]* hidden>/, 'the token form starts hidden');
});
