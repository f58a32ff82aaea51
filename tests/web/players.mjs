// players.mjs: real browser players against a live node (issue 19): hls.js
// plays HLS and LL-HLS playlists, mpegts.js plays HTTP-FLV and WebSocket-FLV,
// all at once in one Debian chromium (headless, playwright-core
// from web/node_modules).
//
//   node tests/web/players.mjs WEB_DIR CHROMIUM CONFIG_JSON
//
// CONFIG_JSON: {"watch_ms": N,
//   "timeout_ms": N, "players": [{"id": "...", "lib": "hls" | "mpegts",
//   "url": "...", "low_latency": bool (hls), "max_live_sync_rate": hls.js's
//   maxLiveSyncPlaybackRate (default 1: no catching up), "type": "flv"
//   (mpegts)}], "page": optional {"cert", "key" (PEM paths), "host"}: the
//   page is served over HTTPS with that certificate and opened as
//   https://host:port/ (the caller maps host with --host-resolver-rules and
//   makes Chromium trust the certificate), "browser_args": optional extra
//   Chromium flags}
// The page (with both libraries) is served by this script on a loopback
// port, so every player's request is a cross-origin one to the node, as a
// web site's would be (the node's CORS header lets it through), within the
// loopback address space (Chromium's local network access checks block a
// page of unknown address from loopback). Each player
// starts muted; once its video has a first frame it is watched for
// watch_ms; then one JSON line on stdout: per player the playhead and the
// decoded frame count at the first frame and at the end, fatal errors,
// frames presented (requestVideoFrameCallback), and for hls.js the parts
// and segments loaded, the file extensions of their URLs (frag_exts: ".ts",
// ".m4s"), the init segments requested (fMP4), its latency estimate and
// lag_ms: [ms since start,
// now less the playhead's program date] every 200 ms of the watch. Every wait is bounded
// (timeout_ms for the first frame). Exit code 0 (the Python side judges),
// 2 bad set-up.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';

const [webDir, chromium, configJson] = process.argv.slice(2);
let cfg;
let playwright;
try {
  cfg = JSON.parse(configJson);
  playwright = createRequire(path.join(webDir, 'package.json'))('playwright-core');
} catch (e) {
  console.error('set-up: ' + e.message);
  process.exit(2);
}
const script = (rel) => fs.readFileSync(path.join(webDir, 'node_modules', rel), 'utf8');
const libs = script('hls.js/dist/hls.min.js') + '\n' + script('mpegts.js/dist/mpegts.js');

const pageHtml = '<!doctype html><body><script src="/libs.js"></script></body>';
const servePage = (req, res) => {
  const js = req.url === '/libs.js';
  res.writeHead(200, { 'Content-Type': js ? 'text/javascript' : 'text/html' });
  res.end(js ? libs : pageHtml);
};
const server = cfg.page
  ? https.createServer({ cert: fs.readFileSync(cfg.page.cert), key: fs.readFileSync(cfg.page.key) },
                       servePage)
  : http.createServer(servePage);
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const pageUrl = (cfg.page ? 'https://' + cfg.page.host : 'http://127.0.0.1') + ':' +
  server.address().port + '/players.html';

const browser = await playwright.chromium.launch({
  executablePath: chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run',
         '--autoplay-policy=no-user-gesture-required'].concat(cfg.browser_args || []),
});
// Each player in its own browser context (its own connection pool, as
// separate tabs of separate sites would be), all at once.
async function playOne(p) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const messages = [];
  page.on('console', (m) => { if (m.type() === 'error') messages.push(m.text()); });
  await page.goto(pageUrl);
  const rec = await page.evaluate(runPlayer, { p, cfg });
  rec.console = messages.slice(0, 20);
  await context.close();
  return rec;
}

try {
  const result = await Promise.all(cfg.players.map(playOne));
  console.log(JSON.stringify({ players: result }));
} finally {
  await browser.close();
  server.close();
}

// In the page: one player; resolves to its record.
async function runPlayer({ p, cfg }) {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function attach(p, v, rec) {
    if (p.lib === 'hls') {
      if (!window.Hls.isSupported()) { rec.fatal.push('Hls.isSupported() is false'); return null; }
      const hls = new window.Hls({ lowLatencyMode: !!p.low_latency, debug: false,
                                   maxLiveSyncPlaybackRate: p.max_live_sync_rate || 1 });
      hls.on(window.Hls.Events.ERROR, (_e, d) => {
        (d.fatal ? rec.fatal : rec.nonfatal).push(d.type + '/' + d.details);
      });
      hls.on(window.Hls.Events.FRAG_LOADING, (_e, d) => {
        if (d.frag.sn === 'initSegment') rec.init_requests++; // fMP4's EXT-X-MAP
      });
      hls.on(window.Hls.Events.FRAG_LOADED, (_e, d) => {
        if (d.part) rec.parts_loaded++; else rec.segments_loaded++;
        const f = d.part || d.frag;
        const ext = (new URL(f.url).pathname.match(/\.[a-z0-9]+$/) || ['?'])[0];
        if (!rec.frag_exts.includes(ext)) rec.frag_exts.push(ext);
      });
      hls.loadSource(p.url);
      hls.attachMedia(v);
      return { stats: () => ({ latency: hls.latency, target_latency: hls.targetLatency }),
               // the playhead's age: now less its EXT-X-PROGRAM-DATE-TIME
               // (the node stamps a segment with its first frame's arrival)
               lag: () => (hls.playingDate ? Date.now() - hls.playingDate.getTime() : null),
               destroy: () => hls.destroy() };
    }
    const mp = window.mpegts;
    if (!mp.getFeatureList().mseLivePlayback) { rec.fatal.push('no MSE live playback'); return null; }
    const player = mp.createPlayer({ type: p.type || 'flv', isLive: true, url: p.url },
                                   { enableWorker: false, liveBufferLatencyChasing: false });
    player.on(mp.Events.ERROR, (type, detail) => rec.fatal.push(type + '/' + detail));
    player.attachMediaElement(v);
    player.load();
    return { stats: () => ({}), lag: () => null, destroy: () => player.destroy() };
  }

  async function one(p) {
    const rec = { id: p.id, fatal: [], nonfatal: [], parts_loaded: 0, segments_loaded: 0,
                  init_requests: 0, frag_exts: [],
                  presented: 0, first: null, last: null, lag_ms: [] };
    const v = document.createElement('video');
    v.muted = true;
    v.autoplay = true;
    document.body.appendChild(v);
    v.addEventListener('error', () => rec.fatal.push('media: ' + (v.error && v.error.message)));
    // Forward jumps of the playhead while watched (jumped_s): hls.js seeks
    // to the live edge after a stall, which moves currentTime without
    // decoding. The playhead before a seek is the last timeupdate's (at
    // most ~250 ms old: a jump may be overstated by that much).
    let watching = false, lastTime = 0;
    rec.jumped_s = 0;
    rec.seeks = 0;
    v.addEventListener('timeupdate', () => { if (!v.seeking) lastTime = v.currentTime; });
    v.addEventListener('seeking', () => {
      if (watching) { rec.seeks++; rec.jumped_s += Math.max(0, v.currentTime - lastTime); }
      lastTime = v.currentTime;
    });
    const count = () => { rec.presented++; v.requestVideoFrameCallback(count); };
    v.requestVideoFrameCallback(count);
    const pl = attach(p, v, rec);
    if (!pl) return rec;
    const snap = () => ({ t: performance.now(), currentTime: v.currentTime,
                          frames: v.getVideoPlaybackQuality().totalVideoFrames,
                          dropped: v.getVideoPlaybackQuality().droppedVideoFrames,
                          presented: rec.presented, width: v.videoWidth, height: v.videoHeight });
    const t0 = performance.now();
    while (performance.now() - t0 < cfg.timeout_ms && !rec.fatal.length) {
      if (v.readyState >= 2 && v.getVideoPlaybackQuality().totalVideoFrames > 0) break;
      if (v.paused && v.readyState >= 2) v.play().catch(() => {});
      await sleep(100);
    }
    rec.first_frame_ms = performance.now() - t0;
    rec.first = snap();
    lastTime = v.currentTime;
    watching = true;
    if (rec.first.frames > 0 && !rec.fatal.length) {
      if (v.paused) await v.play().catch((e) => rec.fatal.push('play: ' + e));
      const end = performance.now() + cfg.watch_ms;
      while (performance.now() < end && !rec.fatal.length) {
        await sleep(200);
        const lag = pl.lag();
        if (lag !== null) rec.lag_ms.push([Math.round(performance.now() - t0), lag]);
      }
    }
    rec.last = snap();
    watching = false;
    Object.assign(rec, pl.stats());
    pl.destroy();
    return rec;
  }
  return one(p);
}
