// build.mjs: bundles the dashboard into web/dist/ (what the node serves, see
// api.web_root):
//
//   dist/index.html               src/index.html with the bundle's names filled in
//   dist/favicon.svg              the tab's icon
//   dist/assets/app-<hash>.js     src/main.js and what the overview's first render needs
//                                 (an ES module: <script type="module">)
//   dist/assets/chunk-<hash>.js   the rest, split by esbuild: the views other than the
//                                 overview (stream page with mpegts.js, relays, sessions,
//                                 events) and uPlot's charts, each loaded by import() when
//                                 first used; the code they share with app-*.js (preloaded
//                                 by index.html, <link rel="modulepreload">)
//   dist/assets/app-<hash>.css    src/style.css and uPlot's CSS
//   dist/assets/early-<hash>.js   src/early.js as it is: the overview's first requests,
//                                 started before the bundle has loaded
//   dist/assets/hls-<hash>.js     hls.js (light build, UMD: window.Hls), loaded by
//                                 preview.js only when the HLS preview is chosen
//                                 (its name reaches the bundle as WEIR_HLS_SRC)
//   dist/**/<file>.gz             each of them gzipped (served to clients that take gzip)
//
// Minified, no source maps, no external URLs (the page runs under the node's
// CSP: scripts and styles from 'self' only). Node >= 18:  node build.mjs
import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(here, 'src');
const dist = path.join(here, 'dist');
const assets = path.join(dist, 'assets');

const FAVICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">' +
    '<rect width="32" height="32" rx="6" fill="#1d2330"/>' +
    '<path d="M5 11h22M5 16h22M5 21h22" stroke="#2f6fd0" stroke-width="3" stroke-linecap="round"/></svg>\n';

function fail(msg) {
    console.error('build: ' + msg);
    process.exit(1);
}

fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(assets, { recursive: true });

/** Copies file to assets/<name>-<hash of its bytes>.js; returns that path. */
function copyHashed(file, name) {
    const bytes = fs.readFileSync(file);
    const out = path.join(assets, name + '-' + createHash('sha256').update(bytes).digest('hex').slice(0, 8).toUpperCase() + '.js');
    fs.writeFileSync(out, bytes);
    return out;
}
// early.js runs before the bundle, as it is (its own <script>). hls.js is
// not bundled (it would double the bundle every page load parses): loaded
// on demand.
const earlyFile = copyHashed(path.join(src, 'early.js'), 'early');
const hlsFile = copyHashed(path.join(here, 'node_modules', 'hls.js', 'dist', 'hls.light.min.js'), 'hls');

let result;
try {
    result = await esbuild.build({
        absWorkingDir: here,
        entryPoints: { app: path.join(src, 'main.js') },
        bundle: true,
        minify: true,
        sourcemap: false,
        format: 'esm',
        splitting: true,
        platform: 'browser',
        target: ['es2020'],
        outdir: assets,
        entryNames: '[name]-[hash]',
        chunkNames: 'chunk-[hash]',
        assetNames: '[name]-[hash]',
        loader: { '.css': 'css' },
        legalComments: 'eof',
        metafile: true,
        logLevel: 'warning',
        define: {
            'process.env.NODE_ENV': '"production"',
            WEIR_HLS_SRC: JSON.stringify(path.relative(dist, hlsFile).split(path.sep).join('/')),
        },
    });
} catch (e) {
    fail('esbuild failed' + (e && e.errors ? ' (' + e.errors.length + ' errors above)' : ': ' + e));
}

const outputs = Object.keys(result.metafile.outputs).map((p) => path.resolve(here, p));
const entry = Object.entries(result.metafile.outputs).filter(([p, o]) => o.entryPoint === 'src/main.js' && p.endsWith('.js'));
const css = outputs.filter((p) => p.endsWith('.css'));
if (entry.length !== 1 || css.length !== 1)
    fail('expected one entry .js and one .css output, got ' + outputs.map((p) => path.relative(here, p)).join(', '));
const appJs = path.resolve(here, entry[0][0]);
const chunks = outputs.filter((p) => p.endsWith('.js') && p !== appJs);
// what app-*.js imports statically: fetched with it, not after it has been parsed
const preload = entry[0][1].imports.filter((i) => i.kind === 'import-statement').map((i) => path.resolve(here, i.path));

const rel = (p) => path.relative(dist, p).split(path.sep).join('/');
let html = fs.readFileSync(path.join(src, 'index.html'), 'utf8');
const preloadTags = preload.map((p) => '<link rel="modulepreload" href="' + rel(p) + '">').join('\n');
for (const [key, value] of [['{{APP_JS}}', rel(appJs)], ['{{APP_CSS}}', rel(css[0])], ['{{EARLY_JS}}', rel(earlyFile)],
    ['{{APP_PRELOAD}}', preloadTags]]) {
    if (!html.includes(key))
        fail('src/index.html lacks ' + key);
    html = html.split(key).join(value);
}
if (/\{\{[A-Z_]+\}\}/.test(html))
    fail('src/index.html has an unknown placeholder: ' + /\{\{[A-Z_]+\}\}/.exec(html)[0]);
// No CDN: every src/href of the page is relative (or a fragment).
for (const m of html.matchAll(/\b(?:src|href)="([^"]*)"/g)) {
    if (/^[a-z][a-z0-9+.-]*:|^\/\//i.test(m[1]))
        fail('src/index.html refers to an external URL: ' + m[1]);
}
fs.writeFileSync(path.join(dist, 'index.html'), html);
fs.writeFileSync(path.join(dist, 'favicon.svg'), FAVICON);

// Precompressed copies (<file>.gz), served by the node to clients that take
// gzip (api/static.c); the originals stay for the others.
const files = [path.join(dist, 'index.html'), path.join(dist, 'favicon.svg'), appJs, ...chunks, css[0], earlyFile, hlsFile];
for (const f of files.slice())
    fs.writeFileSync(f + '.gz', zlib.gzipSync(fs.readFileSync(f), { level: 9 }));
let total = 0;
for (const f of files.flatMap((x) => [x, x + '.gz'])) {
    const size = fs.statSync(f).size;
    total += size;
    console.log(path.relative(here, f).padEnd(40) + String(size).padStart(9) + ' bytes');
}
// what the node logs at start ("dashboard: N files, B bytes"), for the README
console.log('dist: ' + files.length * 2 + ' files, ' + total + ' bytes');
// the overview's first render loads these (gzipped): index.html, early, app, its preloads, css
const first = [path.join(dist, 'index.html'), earlyFile, appJs, ...preload, css[0]];
console.log('first view: ' + first.length + ' files, ' + first.reduce((a, f) => a + fs.statSync(f + '.gz').size, 0) + ' bytes gzipped');
