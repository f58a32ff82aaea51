// fmp4_mse.mjs: Chromium's Media Source Extensions play weir-fmp4's output
// (init.mp4 + fragments), as hls.js and every browser HLS player feed it.
//
//   node tests/web/fmp4_mse.mjs WEB_DIR CHROMIUM DIR CODECS
//
// Appends DIR/init.mp4 and DIR/frag-*.m4s in order to one SourceBuffer of
// type video/mp4; codecs="CODECS", then plays the whole at 8x, muted, and
// prints one JSON line: supported, error (a SourceBuffer or media error),
// the buffered ranges, the playhead at the end, the video frames decoded
// and presented (requestVideoFrameCallback), and the picture size. Every
// wait is bounded. Exit code 0 (the Python side judges), 2 bad set-up.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const PLAY_TIMEOUT_MS = 20000;
const [webDir, chromium, dir, codecs] = process.argv.slice(2);
let playwright;
try {
  playwright = createRequire(path.join(webDir, 'package.json'))('playwright-core');
} catch (e) {
  console.error('playwright-core not found from ' + webDir + ': ' + e.message);
  process.exit(2);
}
const names = ['init.mp4', ...fs.readdirSync(dir).filter((f) => f.startsWith('frag-')).sort()];
const segments = names.map((f) => fs.readFileSync(path.join(dir, f)).toString('base64'));

const browser = await playwright.chromium.launch({
  executablePath: chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run',
         '--autoplay-policy=no-user-gesture-required'],
});
try {
  const page = await browser.newPage();
  await page.setContent('<video id="v" muted></video>');
  const result = await page.evaluate(async ({ segments, codecs, timeoutMs }) => {
    const type = `video/mp4; codecs="${codecs}"`;
    if (!MediaSource.isTypeSupported(type)) return { supported: false };
    const v = document.getElementById('v');
    const ms = new MediaSource();
    v.src = URL.createObjectURL(ms);
    await new Promise((r) => ms.addEventListener('sourceopen', r, { once: true }));
    const sb = ms.addSourceBuffer(type);
    let error = null;
    sb.addEventListener('error', () => { error = 'SourceBuffer error'; });
    v.addEventListener('error', () => { error = 'media error: ' + (v.error && v.error.message); });
    for (const s of segments) {
      sb.appendBuffer(Uint8Array.from(atob(s), (c) => c.charCodeAt(0)));
      await new Promise((r) => sb.addEventListener('updateend', r, { once: true }));
      if (error) return { supported: true, error };
    }
    ms.endOfStream();
    let presented = 0;
    const count = () => { presented++; v.requestVideoFrameCallback(count); };
    v.requestVideoFrameCallback(count);
    v.playbackRate = 8;
    await v.play().catch((e) => { error = 'play: ' + e; });
    await new Promise((r) => { v.addEventListener('ended', r, { once: true }); setTimeout(r, timeoutMs); });
    const ranges = [];
    for (let i = 0; i < v.buffered.length; i++) ranges.push([v.buffered.start(i), v.buffered.end(i)]);
    return { supported: true, error, ranges, ended: v.ended, currentTime: v.currentTime,
             decoded: v.getVideoPlaybackQuality().totalVideoFrames, presented,
             width: v.videoWidth, height: v.videoHeight };
  }, { segments, codecs, timeoutMs: PLAY_TIMEOUT_MS });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
