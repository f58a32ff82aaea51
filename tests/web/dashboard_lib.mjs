// dashboard_lib.mjs: what the browser halves of the dashboard tests
// (dashboard.mjs, dashboard_scale.mjs) share: reading their config, finding
// playwright-core, talking to pytest (`@@rpc` lines out, one JSON answer
// line in, `@@result` last) and bounded waits. Node 18 compatible.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

export const STEP_TIMEOUT_MS = 15000;
const RPC_TIMEOUT_MS = 60000;

// ------------------------------------------------------------------ set-up

export function die(msg) {
  process.stdout.write('@@result ' + JSON.stringify({ ok: false, setup_error: msg }) + '\n');
  process.exit(2);
}

/** The config named on the command line (with the keys `need`), playwright
 *  (from its web_dir) and its out_dir made; dies (exit 2) when not there. */
export function setUp(script, need) {
  if (process.argv.length < 3) die('usage: node ' + script + ' CONFIG.json');
  let cfg;
  try {
    cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  } catch (e) {
    die('cannot read the config ' + process.argv[2] + ': ' + e.message);
  }
  for (const k of need) {
    if (cfg[k] === undefined) die('config lacks ' + k);
  }
  let playwright;
  try {
    playwright = createRequire(path.join(cfg.web_dir, 'package.json'))('playwright-core');
  } catch (e) {
    die('playwright-core not found from ' + cfg.web_dir + ' (run `npm --prefix web ci`): ' + e.message);
  }
  fs.mkdirSync(cfg.out_dir, { recursive: true });
  return { cfg, playwright };
}

// ------------------------------------------------------------------ talking to pytest

const answers = [];
const waiters = [];
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    msg = { ok: false, error: 'unparsable answer from pytest: ' + line };
  }
  const w = waiters.shift();
  if (w) w(msg); else answers.push(msg);
});

export function log(...args) {
  process.stdout.write('[dashboard] ' + args.join(' ') + '\n');
}

export async function rpc(op, args = {}) {
  process.stdout.write('@@rpc ' + JSON.stringify({ op, ...args }) + '\n');
  const msg = answers.length ? answers.shift()
    : await withTimeout(new Promise((resolve) => waiters.push(resolve)), RPC_TIMEOUT_MS,
                        'answer from pytest to ' + op);
  if (!msg.ok) throw new Error('check over the API (' + op + ') failed: ' + msg.error);
  return msg.data;
}

export function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out after ' + ms + ' ms: ' + what)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Calls fn() (async) until it returns a truthy value (returned); throws naming
 *  `what` and the last value seen after timeout ms. Exceptions of fn count as
 *  "not yet" (the DOM changes under it) and the last one is reported. */
export async function poll(what, fn, timeout = STEP_TIMEOUT_MS, interval = 150) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = 'error: ' + e.message.split('\n')[0];
    }
    if (Date.now() >= deadline) break;
    await sleep(interval);
  }
  throw new Error('timed out after ' + timeout + ' ms waiting for ' + what +
                  ' (last: ' + JSON.stringify(last) + ')');
}

export function check(cond, msg) {
  if (!cond) throw new Error(msg);
}


export const tid = (id) => '[data-testid="' + id + '"]';
export const firstInt = (s) => {
  const m = /-?\d+/.exec(s || '');
  return m ? Number(m[0]) : null;
};


/** Runs steps ([name, async fn] in order) into result (steps, failures):
 *  the first failing one ends the run after shot('failure-<name>');
 *  setPhase(name) before each (what console errors are allowed in). */
export async function runSteps(steps, result, shot, setPhase) {
  for (const [name, fn] of steps) {
    if (setPhase) setPhase(name);
    const t = Date.now();
    try {
      await fn();
      result.steps.push({ step: name, ok: true, ms: Date.now() - t });
      log('step', name, 'ok', Date.now() - t, 'ms');
    } catch (e) {
      result.steps.push({ step: name, ok: false, ms: Date.now() - t });
      result.failures.push(name + ': ' + e.message);
      log('step', name, 'FAILED:', e.message);
      await shot('failure-' + name).catch((err) => log('no failure screenshot:', err.message));
      break;
    }
  }
}

/** Accepts every dialog of page (window.confirm: the tests' "yes"), noting
 *  it in result.dialogs with phase() at the time. */
export function acceptDialogs(page, result, phase) {
  page.on('dialog', async (d) => {
    result.dialogs.push({ type: d.type(), message: d.message(), phase: phase() });
    await d.accept().catch(() => {});
  });
}

/** shot(name): a full-page screenshot of page into outDir/<name>.png, listed
 *  in result.screenshots; returns its path. */
export function shooter(page, outDir, result) {
  return async (name) => {
    const file = path.join(outDir, name + '.png');
    await page.screenshot({ path: file, fullPage: true });
    result.screenshots.push(file);
    return file;
  };
}
