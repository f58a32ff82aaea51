// dashboard.mjs: the browser half of the dashboard test (issue 7).
//
//   node tests/web/dashboard.mjs CONFIG.json
//
// Drives Debian's chromium, headless, through playwright-core (resolved from
// web/node_modules) against a real node that test_dashboard.py started (with
// ffmpeg publishing and three HTTP-FLV players). The page's contract is the
// data-testid list of /tmp/w6/web_spec.md (issue 7). Node 18 compatible.
//
// Talking to pytest: whatever has to happen outside the browser (checks over
// the REST API, the node's restart, the players' sockets) is asked of the
// Python side with a line `@@rpc {"op": ...}` on stdout; the answer is one
// JSON line on stdin, {"ok": true, "data": ...} or {"ok": false, "error": "..."}.
// The last line is `@@result {...}` (steps, failures, console messages,
// screenshots). Exit code: 0 all passed, 1 a check failed, 2 bad set-up.
//
// Every wait is bounded; the first failing step ends the scenario (later
// steps depend on its state) after a screenshot named failure-<step>.png.

import {
  check, die, firstInt, log, poll, rpc, runSteps, setUp, shooter, acceptDialogs, sleep, STEP_TIMEOUT_MS, tid,
} from './dashboard_lib.mjs';

const { cfg, playwright } = setUp('dashboard.mjs', ['base_url', 'token', 'web_dir', 'chromium', 'out_dir',
  'stream', 'publisher_id', 'player_ids', 'kick_id', 'node_id', 'version', 'relay', 'recording', 'origin_id']);

// ------------------------------------------------------------------ the browser

const result = { ok: false, steps: [], failures: [], console: [], dialogs: [], screenshots: [],
                 preview: null, preview_hls: null, recording: null, route: {}, audio_meter: null, timings_ms: {} };

// Console errors that a page cannot avoid, allowed only in the step that
// provokes them: Chromium logs every HTTP error answer and every refused
// connection of fetch() as "Failed to load resource". Anything else that is
// logged as an error, and every uncaught exception, fails the test.
const ALLOWED = {
  token: [/status of 401/],                                    // the page's first call and the wrong token
  'relay-invalid': [/status of 400/],                          // the API refusing the bad URL
  'close-stream': [/status of 404/],                           // polling the stream that was just closed
  restart: [/net::ERR_[A-Z_]+/, /status of 503/],              // the node is down for a moment
  // a page opened on a stream not published yet has no history (the page says nothing)
  route: [/status of 404 .* \S+\/history\?resolution=1s$/],
  'audio-meter': [/status of 404 .* \S+\/history\?resolution=1s$/],
};
let phase = 'start';

const STREAM = cfg.stream.app + '/' + cfg.stream.name;
const started = Date.now();

const browser = await playwright.chromium.launch({
  executablePath: cfg.chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run',
         '--disable-extensions', '--disable-background-networking'],
  timeout: 30000,
}).catch((e) => die('cannot start ' + cfg.chromium + ': ' + e.message));
log('chromium', browser.version());

const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
const page = await context.newPage();
page.setDefaultTimeout(STEP_TIMEOUT_MS);

page.on('console', (m) => {
  const loc = m.location() || {};
  const entry = { type: m.type(), text: m.text(), url: loc.url || '', phase,
                  t_ms: Date.now() - started };
  if (m.type() === 'error' || m.type() === 'warning') log('console.' + m.type(), entry.text, entry.url);
  if (m.type() !== 'error') return;
  entry.allowed = (ALLOWED[phase] || []).some((re) => re.test(entry.text + ' ' + entry.url));
  result.console.push(entry);
});
page.on('pageerror', (e) => {
  result.console.push({ type: 'pageerror', text: String(e && (e.stack || e.message) || e),
                        url: '', phase, allowed: false, t_ms: Date.now() - started });
  log('pageerror', e && e.message);
});
page.on('crash', () => {
  result.console.push({ type: 'crash', text: 'the page crashed', url: '', phase, allowed: false });
});
acceptDialogs(page, result, () => phase);
const shot = shooter(page, cfg.out_dir, result);

async function text(locator) {
  return ((await locator.textContent({ timeout: 2000 })) || '').trim();
}

async function visible(sel) {
  return page.locator(sel).first().isVisible();
}

async function go(hash, readySel) {
  await page.evaluate((h) => { window.location.hash = h; }, hash);
  await page.locator(readySel).first().waitFor({ state: 'visible' });
}

// ------------------------------------------------------------------ the steps

async function stepToken() {
  phase = 'token';
  await page.goto(cfg.base_url + '/', { waitUntil: 'load' });
  await page.locator(tid('token-form')).waitFor({ state: 'visible' });
  await page.locator(tid('token-input')).fill('wrong-' + cfg.token);
  await page.locator(tid('token-submit')).click();
  await poll('token-error saying "wrong token"', async () =>
    (await visible(tid('token-error'))) && /wrong token/i.test(await text(page.locator(tid('token-error')))));
  check(await visible(tid('token-form')), 'the token form went away after a wrong token');

  await page.locator(tid('token-input')).fill(cfg.token);
  await page.locator(tid('token-submit')).click();
  await poll('node-id ' + cfg.node_id + ' after the right token', async () =>
    (await text(page.locator(tid('node-id')))).includes(cfg.node_id));
  check(!(await visible(tid('token-form'))), 'the token form is still shown after the right token');
  check(!(await visible(tid('token-error'))), 'token-error still shown after the right token');
  const stored = await page.evaluate(() => Object.keys(sessionStorage).map((k) => sessionStorage.getItem(k)));
  check(stored.includes(cfg.token), 'the token is not kept in sessionStorage (values: ' +
        JSON.stringify(stored.map((v) => (v || '').slice(0, 8) + '…')) + ')');
  phase = 'overview';
}

async function stepOverview() {
  phase = 'overview';
  await poll('node-version ' + cfg.version, async () =>
    (await text(page.locator(tid('node-version')))).includes(cfg.version));
  const want = { 'total-streams': 1, 'total-publishers': 1, 'total-players': cfg.player_ids.length,
                 'total-relays': 0 };
  for (const [id, n] of Object.entries(want)) {
    await poll(id + ' = ' + n, async () => firstInt(await text(page.locator(tid(id)))) === n);
  }
  for (const id of ['node-uptime', 'node-draining']) {
    check((await text(page.locator(tid(id)))).length > 0, id + ' is empty');
  }
  for (const id of ['chart-bitrate-in', 'chart-bitrate-out']) {
    await poll(id + ' holding a uPlot chart (canvas)', async () =>
      (await page.locator(tid(id) + ' canvas').count()) > 0);
  }
  const row = page.locator(tid('streams-table') + ' ' + tid('stream-row') + '[data-stream="' + STREAM + '"]');
  await row.waitFor({ state: 'visible' });
  const cell = (c) => text(row.locator('[data-col="' + c + '"]'));
  const { codec, width, height } = cfg.stream;
  const res = new RegExp('\\b' + width + '\\s*[×x]\\s*' + height + '\\b');
  await poll('the video cell of ' + STREAM + ' showing ' + codec + ' ' + width + '×' + height,
    async () => { const v = await cell('video'); return v.includes(codec) && res.test(v) ? v : false; });
  await poll('the players cell of ' + STREAM + ' = ' + cfg.player_ids.length, async () =>
    firstInt(await cell('players')) === cfg.player_ids.length);
  check((await cell('source')).includes(cfg.stream.source), 'source cell: ' + (await cell('source')));
  check((await cell('name')).includes(cfg.stream.name), 'name cell: ' + (await cell('name')));
  if (cfg.stream.audio) {
    check((await cell('audio')).includes(cfg.stream.audio), 'audio cell: ' + (await cell('audio')));
  }
  for (const c of ['bitrate-in', 'bitrate-out', 'uptime']) {
    check((await cell(c)).length > 0, 'the ' + c + ' cell of ' + STREAM + ' is empty');
  }
  check((await row.locator(tid('stream-chart')).count()) === 1, 'no stream-chart in the row of ' + STREAM);
  // Let the charts gather a few points before the picture.
  await sleep(2500);
  log('overview screenshot:', await shot('overview'));
}

async function stepDetail() {
  phase = 'detail';
  const row = page.locator(tid('stream-row') + '[data-stream="' + STREAM + '"]');
  await row.locator(tid('stream-link')).click();
  const detail = page.locator(tid('stream-detail') + '[data-stream="' + STREAM + '"]');
  await detail.waitFor({ state: 'visible' });
  const hash = await page.evaluate(() => window.location.hash);
  const wantHash = '#/streams/' + encodeURIComponent(cfg.stream.app) + '/' + encodeURIComponent(cfg.stream.name);
  check(hash === wantHash, 'stream detail hash ' + hash + ', want ' + wantHash);

  const srow = (id) => detail.locator(tid('session-row') + '[data-session-id="' + id + '"]');
  await srow(cfg.publisher_id).waitFor({ state: 'visible' });
  check((await srow(cfg.publisher_id).getAttribute('data-role')) === 'publisher',
        'the publisher row has data-role ' + (await srow(cfg.publisher_id).getAttribute('data-role')));
  for (const id of cfg.player_ids) {
    await srow(id).waitFor({ state: 'visible' });
    check((await srow(id).getAttribute('data-role')) === 'player', 'player row ' + id + ' data-role');
    check((await srow(id).locator(tid('kick-button')).count()) === 1, 'no kick-button for session ' + id);
  }
  check((await srow(cfg.publisher_id).locator(tid('kick-button')).count()) === 1,
        'no kick-button for the publisher');
  check(await visible(tid('close-stream-button')), 'no close-stream-button');

  // The preview either plays (headless chromium with H.264) or says why not.
  result.preview = await poll('the preview playing or preview-note explaining', async () => {
    const note = page.locator(tid('preview-note'));
    if ((await note.count()) && (await note.first().isVisible())) {
      const t = await text(note.first());
      if (t) return { playing: false, note: t };
    }
    const v = page.locator(tid('preview'));
    if (await v.count()) {
      const ct = await v.first().evaluate((el) => el.currentTime || 0);
      if (ct > 0.5) return { playing: true, current_time: ct };
    }
    return false;
  }, 20000);
  log('preview:', JSON.stringify(result.preview));
  await sleep(1000);
  log('stream detail screenshot:', await shot('stream-detail'));
  await previewOverHls();
  await recordingsListed();
}

// The Recording panel: no recorder matches (the one-off the test started is
// not listed by the node), the finished file the test saw is listed, and its
// download link gives the whole file.
async function recordingsListed() {
  const want = cfg.recording;
  await poll('recording-status saying no recorder matches', async () =>
    /no recorder matches/i.test(await text(page.locator(tid('recording-status')))));
  const row = page.locator(tid('recording-row') + '[data-recording-id="' + want.id + '"]');
  await row.waitFor({ state: 'visible', timeout: 20000 });
  check((await text(row)).includes(want.path), 'the recording row lacks its path ' + want.path);
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 20000 }),
                                  row.locator(tid('recording-download')).click()]);
  const fs = await import('node:fs');
  const got = fs.statSync(await dl.path()).size;
  check(got === want.bytes, 'the downloaded recording has ' + got + ' bytes, want ' + want.bytes);
  check(dl.suggestedFilename() === want.path.split('/').pop(), 'download named ' + dl.suggestedFilename());
  result.recording = { id: want.id, bytes: got, name: dl.suggestedFilename() };
  log('recording downloaded:', JSON.stringify(result.recording));
}

// The preview switched to HLS (hls.js, loaded on demand): it must play, a
// first frame (the picture's size) and then a playhead that moves on; then
// back to HTTP-FLV for the later steps, once its HLS viewer session is gone.
async function previewOverHls() {
  const v = page.locator(tid('preview'));
  await page.locator(tid('preview-source')).selectOption('hls');
  const first = await poll('the HLS preview showing a first frame', async () => {
    const st = await v.evaluate((el) => ({ via: el.getAttribute('data-via'), w: el.videoWidth,
      h: el.videoHeight, t: el.currentTime, ready: el.readyState }));
    const note = page.locator(tid('preview-note'));
    const said = (await note.isVisible()) ? await text(note) : '';
    check(!/stopped|not available/.test(said), 'the HLS preview failed: ' + said);
    return st.via === 'hls' && st.ready >= 2 && st.w > 0 ? st : false;
  }, 30000);
  check(first.w === cfg.stream.width && first.h === cfg.stream.height,
        'HLS preview picture ' + first.w + 'x' + first.h);
  const moved = await poll('the HLS preview playhead to move on by 1 s', async () => {
    const t = await v.evaluate((el) => el.currentTime);
    return t >= first.t + 1 ? t : false;
  }, 20000);
  const m3u8 = await page.evaluate(() => performance.getEntriesByType('resource')
    .filter((e) => /\.m3u8(\?|$)/.test(e.name)).length);
  check(m3u8 > 0, 'the HLS preview fetched no playlist');
  result.preview_hls = { first_frame: first, current_time: moved, playlists: m3u8 };
  log('HLS preview:', JSON.stringify(result.preview_hls));
  await page.locator(tid('preview-source')).selectOption('flv');
  await poll('the preview back on HTTP-FLV', async () => (await v.getAttribute('data-via')) === 'flv', 20000);
  // the HLS viewer session ends (hls.idle_timeout_s) and leaves the sessions table
  await poll('the HLS preview session to leave the sessions table', async () =>
    (await page.locator(tid('session-row') + ' [data-col="protocol"]').allTextContents())
      .every((p) => p.trim() !== 'hls'), 20000);
}

async function stepKick() {
  phase = 'kick';
  const detail = page.locator(tid('stream-detail') + '[data-stream="' + STREAM + '"]');
  const srow = (id) => detail.locator(tid('session-row') + '[data-session-id="' + id + '"]');
  await srow(cfg.kick_id).locator(tid('kick-button')).click();
  await poll('the row of kicked session ' + cfg.kick_id + ' to go', async () =>
    (await srow(cfg.kick_id).count()) === 0);
  const api = await rpc('check_kicked', { id: cfg.kick_id });
  log('after the kick, sessions over the API:', JSON.stringify(api));
  for (const id of cfg.player_ids.filter((i) => i !== cfg.kick_id).concat([cfg.publisher_id])) {
    check((await srow(id).count()) === 1, 'session ' + id + ' is no longer listed after kicking ' + cfg.kick_id);
  }
}

async function stepRelays() {
  phase = 'relays';
  const r = cfg.relay;
  await page.locator(tid('nav-relays')).click();
  await page.locator(tid('relay-form')).waitFor({ state: 'visible' });
  await page.locator(tid('relays-table')).waitFor({ state: 'attached' });
  const form = page.locator(tid('relay-form'));
  const field = (n) => form.locator('[name="' + n + '"]');
  await field('direction').selectOption('pull');
  await field('mode').selectOption('always');
  await field('id').fill(r.id);
  await field('app').fill(r.app);
  await field('name').fill(r.name);
  await field('urls').fill(r.bad_url);

  phase = 'relay-invalid';
  await form.locator(tid('relay-submit')).click();
  const urlsError = form.locator(tid('field-error') + '[data-field="urls"]');
  const errText = await poll('field-error next to urls', async () =>
    (await urlsError.count()) && (await urlsError.first().isVisible()) && (await text(urlsError.first())));
  log('urls field error:', JSON.stringify(errText));
  const relays = await rpc('relays');
  check(!relays.some((x) => x.id === r.id), 'relay ' + r.id + ' exists after the invalid form');
  log('relays with the error screenshot:', await shot('relays-error'));

  phase = 'relays';
  await field('urls').fill(r.url);
  await form.locator(tid('relay-submit')).click();
  const row = page.locator(tid('relays-table') + ' ' + tid('relay-row') + '[data-relay-id="' + r.id + '"]');
  await row.waitFor({ state: 'visible' });
  check(!((await urlsError.count()) && (await urlsError.first().isVisible()) && (await text(urlsError.first()))),
        'the urls field error is still shown after a valid relay was created');
  const created = await rpc('relay_state', { id: r.id, want: 'enabled' });
  check(created.direction === 'pull' && created.mode === 'always' && created.app === r.app &&
        created.name === r.name && JSON.stringify(created.urls) === JSON.stringify([r.url]),
        'the relay created through the form is ' + JSON.stringify(created));
  await poll('relay row showing status active', async () => /\bactive\b/i.test(await text(row)), 20000);
  await sleep(500);
  log('relays screenshot:', await shot('relays'));
  await pullRoute(r);

  // Edit: the form takes the relay's values; saving PUTs it with a second URL
  await row.locator(tid('relay-edit')).click();
  await poll('the form holding the relay to edit', async () => (await field('id').inputValue()) === r.id &&
    (await field('urls').inputValue()) === r.url);
  await field('urls').fill(r.url + '\n' + r.url.replace('/src', '/src2'));
  await form.locator(tid('relay-submit')).click();
  const edited = await poll('the relay with two URLs over the API', async () => {
    const x = await rpc('relay_state', { id: r.id, want: 'enabled' });
    return x && x.urls.length === 2 ? x : false;
  });
  check(edited.app === r.app && edited.name === r.name && edited.mode === 'always',
        'the edit changed more than the URLs: ' + JSON.stringify(edited));
  await poll('the form back to adding', async () => (await text(form.locator(tid('relay-submit')))) === 'Add relay');

  await row.locator(tid('relay-toggle')).click();
  await rpc('relay_state', { id: r.id, want: 'disabled' });
  await poll('relay row showing the relay disabled (idle/disabled)', async () =>
    /\b(idle|disabled)\b/i.test(await text(row)));

  const nDialogs = result.dialogs.length;
  await row.locator(tid('relay-delete')).click();
  await poll('relay row ' + r.id + ' to go', async () => (await row.count()) === 0);
  check(result.dialogs.slice(nDialogs).some((d) => d.type === 'confirm'),
        'relay-delete did not ask window.confirm first');
  await rpc('relay_state', { id: r.id, want: 'absent' });
}

// The pull relay made through the form, both ways: its row links to the
// stream it feeds, whose page names the relay (URL, hops, the origin node)
// and links back to the relay's row, picked out.
async function pullRoute(r) {
  const row = page.locator(tid('relays-table') + ' ' + tid('relay-row') + '[data-relay-id="' + r.id + '"]');
  await row.locator(tid('relay-stream-link')).click();
  const detail = tid('stream-detail') + '[data-stream="' + r.app + '/' + r.name + '"]';
  await page.locator(detail).waitFor({ state: 'visible' });
  const up = page.locator(tid('stream-upstream') + ' ' + tid('upstream-relay') + '[data-relay-id="' + r.id + '"]');
  await poll('the stream page naming pull relay ' + r.id + ' as active, with its URL and hops', async () =>
    (await up.count()) && /\bactive\b/.test(await text(up)) &&
    (await text(up.locator(tid('route-url')))) === r.url &&
    /^hops \d+$/.test(await text(up.locator(tid('route-hops'))).catch(() => '')), 20000);
  await poll('the stream page naming the origin node ' + cfg.origin_id, async () =>
    (await text(page.locator(tid('upstream-origin')))).includes(cfg.origin_id), 10000);
  result.route.pull = await text(up);
  log('pull route:', result.route.pull);
  await shot('route-pull');
  await up.locator(tid('route-relay-link')).click();
  await poll('#/relays/' + r.id + ' with its row picked out', async () =>
    (await page.evaluate(() => window.location.hash)) === '#/relays/' + encodeURIComponent(r.id) &&
    /\bpicked\b/.test((await row.getAttribute('class')) || ''));
}

// A push relay of the stream and another node's push into this one (made
// over the API by pytest): the stream page's "Goes to" and "Comes from",
// linked to and from the relays page; then both relays go.
async function stepRoute() {
  phase = 'route';
  const set = await rpc('route_setup');
  await go('#/streams/' + encodeURIComponent(cfg.stream.app) + '/' + encodeURIComponent(cfg.stream.name),
           tid('stream-detail') + '[data-stream="' + STREAM + '"]');
  const down = page.locator(tid('stream-downstream') + ' ' + tid('downstream-relay') + '[data-relay-id="' + set.push_id + '"]');
  await poll('"Goes to" naming push relay ' + set.push_id + ' as active with its URL', async () =>
    (await down.count()) && /\bactive\b/.test(await text(down)) &&
    (await text(down.locator(tid('route-url')))) === set.push_url, 20000);
  result.route.push = await text(down);
  await shot('route-push');
  await down.locator(tid('route-relay-link')).click();
  const row = page.locator(tid('relay-row') + '[data-relay-id="' + set.push_id + '"]');
  await poll('the push relay\'s row picked out', async () => /\bpicked\b/.test((await row.getAttribute('class')) || ''));
  await row.locator(tid('relay-stream-link')).click();
  await page.locator(tid('stream-detail') + '[data-stream="' + STREAM + '"]').waitFor({ state: 'visible' });

  await go('#/streams/live/fromorigin', tid('stream-detail') + '[data-stream="live/fromorigin"]');
  const via = page.locator(tid('stream-upstream') + ' ' + tid('upstream-node'));
  await poll('"Comes from" naming the node that pushed it, ' + set.origin_id + ', hops ' + set.in_hops, async () =>
    (await via.count()) && (await text(via.locator(tid('route-peer')))) === set.origin_id &&
    (await text(via.locator(tid('route-hops')))) === 'hops ' + set.in_hops, 20000);
  result.route.push_in = await text(via);
  log('route:', JSON.stringify(result.route));
  await shot('route-push-in');
  await rpc('route_teardown');
}

// An audio-only stream (ffmpeg publishing the clip's AAC sine, no video): the
// preview shows the level meter instead of a picture, and the level moves.
async function stepAudioMeter() {
  phase = 'audio-meter';
  await rpc('tone_start');
  await go('#/streams/live/tone', tid('stream-detail') + '[data-stream="live/tone"]');
  const meter = page.locator(tid('audio-meter'));
  await meter.waitFor({ state: 'visible', timeout: 20000 });
  check(await page.locator(tid('preview')).isHidden(), 'the video box is shown for an audio-only stream');
  const level = page.locator(tid('audio-meter-level'));
  const seen = new Set();
  await poll('the audio meter showing a level that moves (3 different non-zero levels)', async () => {
    const v = Number(await level.getAttribute('data-level'));
    if (v > 0.01) seen.add(Math.round(v * 1000));
    return seen.size >= 3;
  }, 30000);
  const width = await level.evaluate((e) => e.getBoundingClientRect().width);
  result.audio_meter = { levels: [...seen].slice(0, 10), bar_px: width };
  log('audio meter:', JSON.stringify(result.audio_meter));
  check(width > 0, 'the meter bar has no width');
  await shot('audio-meter');
  await rpc('tone_stop');
}

async function stepEvents() {
  phase = 'events';
  await page.locator(tid('nav-events')).click();
  await page.locator(tid('events-list')).waitFor({ state: 'visible' });
  const api = await rpc('events');       // [{id, type, session_id?, relay_id?}] oldest first
  const newest = api[api.length - 1].id;
  const rows = page.locator(tid('events-list') + ' ' + tid('event-row'));
  const ids = await poll('events-list reaching event ' + newest, async () => {
    const got = await rows.evaluateAll((els) => els.map((e) => [Number(e.getAttribute('data-event-id')),
                                                                  e.getAttribute('data-type')]));
    return got.length && got[0][0] >= newest ? got : false;
  });
  const byId = new Map(api.map((e) => [e.id, e]));
  for (let i = 0; i < ids.length; i++) {
    const [id, type] = ids[i];
    check(Number.isInteger(id) && id > 0, 'event-row ' + i + ' has data-event-id ' + id);
    if (i > 0) check(id < ids[i - 1][0], 'events not newest first: ' + ids[i - 1][0] + ' then ' + id);
    if (byId.has(id)) check(byId.get(id).type === type, 'event ' + id + ' data-type ' + type + ', API says ' + byId.get(id).type);
  }
  const shown = new Set(ids.map((x) => x[0]));
  const kick = api.find((e) => e.type === 'session.kick' && e.session_id === cfg.kick_id);
  check(kick, 'no session.kick event for ' + cfg.kick_id + ' over the API');
  check(shown.has(kick.id), 'the session.kick event ' + kick.id + ' is not listed');
  check(ids.length >= 5, 'only ' + ids.length + ' events listed');
  log('events listed:', ids.length, 'newest', ids[0][0]);
  log('events screenshot:', await shot('events'));
}

async function stepCloseStream() {
  phase = 'close-stream';
  await go('#/streams/' + encodeURIComponent(cfg.stream.app) + '/' + encodeURIComponent(cfg.stream.name),
           tid('stream-detail') + '[data-stream="' + STREAM + '"]');
  const nDialogs = result.dialogs.length;
  await page.locator(tid('close-stream-button')).click();
  await poll('a window.confirm for close stream', async () =>
    result.dialogs.slice(nDialogs).some((d) => d.type === 'confirm'), 5000);
  await rpc('check_closed');
  await go('#/', tid('streams-table'));
  await poll('the row of ' + STREAM + ' to leave the streams table', async () =>
    (await page.locator(tid('stream-row') + '[data-stream="' + STREAM + '"]').count()) === 0);
  await sleep(1500);  // the page settles (polls once or twice) before the next phase
}

async function stepRestart() {
  phase = 'restart';
  const status = page.locator(tid('conn-status'));
  const t0 = Date.now();
  await rpc('node_stop');
  await poll('conn-status saying reconnecting', async () =>
    (await status.count()) && (await status.first().isVisible()) && /reconnecting/i.test(await text(status.first())));
  result.timings_ms.banner_after_stop = Date.now() - t0;
  log('reconnecting screenshot:', await shot('reconnecting'));
  await rpc('node_start');
  const t1 = Date.now();
  await poll('conn-status to clear (hidden or "connected")', async () => {
    if (!(await status.count()) || !(await status.first().isVisible())) return true;
    const t = await text(status.first());
    return !/reconnecting|unreachable/i.test(t) && /connected/i.test(t);
  }, 20000);
  result.timings_ms.banner_cleared_after_start = Date.now() - t1;
  await poll('node-id again after the restart', async () =>
    (await text(page.locator(tid('node-id')))).includes(cfg.node_id));
  check(!(await visible(tid('token-form'))), 'the page asked for the token again after the restart');
  phase = 'end';
  await sleep(2000);  // a few polls of normal operation after the restart
}

const STEPS = [['token', stepToken], ['overview', stepOverview], ['detail', stepDetail], ['kick', stepKick],
               ['relays', stepRelays], ['route', stepRoute], ['audio-meter', stepAudioMeter], ['events', stepEvents], ['close-stream', stepCloseStream],
               ['restart', stepRestart]];

await runSteps(STEPS, result, shot);

const bad = result.console.filter((c) => !c.allowed);
if (bad.length) {
  result.failures.push(bad.length + ' console error(s) or page error(s):\n' +
    bad.map((c) => '  [' + c.phase + '] ' + c.type + ': ' + c.text + (c.url ? ' (' + c.url + ')' : '')).join('\n'));
}
result.ok = result.failures.length === 0;
result.timings_ms.total = Date.now() - started;
await browser.close().catch(() => {});
process.stdout.write('@@result ' + JSON.stringify(result) + '\n');
process.exit(result.ok ? 0 : 1);
