/* main.js: the dashboard's entry point.
 *
 * - Router: location.hash picks the view (format.js parseRoute): `#/`
 *   overview + streams, `#/streams/<app>/<name>` a stream, `#/relays`,
 *   `#/events`, `#/sessions`. One view is mounted at a time in <main
 *   id="view">. Only the overview is in the page's first script; the other
 *   views (and with them mpegts.js and uPlot) are loaded with import() when
 *   first shown (LAZY).
 * - Polling: about every POLL_MS, GET /api/v1/node and, for a view that
 *   shows streams, GET /api/v1/streams with the view's filters
 *   (view.streamsQuery(): the overview's app filter, the stream page's
 *   app and name), at most every LIST_EVERY_MS when the node has more than
 *   MANY_STREAMS (kept in ctx.state, and as bitrate histories in
 *   ctx.history), then the view's own refresh() (history, sessions,
 *   relays, events), then its update(). A query not fetched whole yet
 *   (the first load, another app filter or view) is fetched in two: its
 *   first FIRST_PAGE streams, drawn at once (ctx.state.streamsPartial),
 *   then the rest (listInTwo()). A hidden tab polls every
 *   POLL_HIDDEN_MS.
 * - Token: an answer 401 shows the token form and pauses polling; the token
 *   given is kept in sessionStorage (api.js) and polling resumes. A 401
 *   after a token was sent says "wrong token".
 * - Connection: while the node does not answer (or answers 5xx) the
 *   conn-status banner says it is reconnecting; polling goes on and the
 *   banner goes when the node answers again (no new token asked: it is kept).
 */
import 'uplot/dist/uPlot.min.css';
import './style.css';

import { api, ApiError, hasToken, onAuthNeeded, onReachability, setToken, Unreachable } from './api.js';
import { h, setText, show } from './dom.js';
import { parseRoute, Series, streamKey } from './format.js';
import { createOverview } from './overview.js';

const POLL_MS = 1000;
const POLL_HIDDEN_MS = 15000; /* the tab is in the background */
const MANY_STREAMS = 200;
const LIST_EVERY_MS = 3000;
const FIRST_PAGE = 50; /* a new list query: this many drawn first, the rest fetched after (early.js asks the same) */
const NODE_POINTS = 300; /* 5 min of the node's bitrates at 1 s */
const STREAM_POINTS = 120; /* 2 min per stream */

const $ = (id) => document.getElementById(id);

/* ---- shared state --------------------------------------------------------- */

const streamSeries = new Map();

const ctx = {
    /* streamsPartial: streams holds only the first page of a new query, the rest is coming */
    state: { node: null, streams: null, streamsPartial: false },
    /* the overview's table settings, kept across views */
    ui: { streams: { q: '', app: '', source: '', players: '', problems: false, sort: 'name', dir: 'asc', page: 0, range: '1s' } },
    nodeHistory: {}, /* GET /api/v1/history answers by resolution (overview.js) */
    apps: new Set(), /* every app seen: the app filter's choices */
    pollNow: () => pollNow(),
    history: {
        nodeIn: new Series(NODE_POINTS, 1),
        nodeOut: new Series(NODE_POINTS, 1),
        /** The bitrate-in history of a stream, made on first use. */
        stream(key) {
            let s = streamSeries.get(key);
            if (!s) {
                s = new Series(STREAM_POINTS, 1);
                streamSeries.set(key, s);
            }
            return s;
        },
    },
    notify,
};

function record(node, streams) {
    const t = Date.now() / 1000;
    ctx.history.nodeIn.push(t, [node.bitrate_in_kbps]);
    ctx.history.nodeOut.push(t, [node.bitrate_out_kbps]);
    if (!streams)
        return;
    const keys = new Set();
    for (const s of streams) {
        const key = streamKey(s.app, s.name);
        keys.add(key);
        ctx.history.stream(key).push(t, [s.bitrate_in_kbps]);
    }
    for (const key of streamSeries.keys())
        if (!keys.has(key))
            streamSeries.delete(key);
}

/* ---- messages -------------------------------------------------------------- */

let toastTimer = null;

/** A short message at the bottom of the page (error: shown in red, longer). */
function notify(text, error) {
    const el = $('toast');
    setText(el, text);
    el.className = error ? 'toast error' : 'toast';
    show(el, true);
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => show(el, false), error ? 8000 : 4000);
}

/* ---- connection banner ----------------------------------------------------- */

let connProblem = null; /* null when the node answers */

function setConn(problem) {
    connProblem = problem;
    document.body.classList.toggle('stale', !!problem); /* the values shown are the last known */
    const el = $('conn-status');
    if (problem) {
        setText(el, problem);
        el.className = 'conn-status down';
        show(el, true);
    } else {
        setText(el, 'connected');
        el.className = 'conn-status';
        show(el, false);
    }
}

onReachability((up) => {
    if (!up)
        setConn('Node unreachable — reconnecting…');
    else if (connProblem && /unreachable/.test(connProblem))
        setConn(null);
});

/* ---- token ------------------------------------------------------------------ */

let authWait = false;

function askToken(wrong) {
    authWait = true;
    const form = $('token-form');
    show(form, true);
    show($('view'), false);
    const err = $('token-error');
    setText(err, wrong ? 'Wrong token: the node refused it (401). Check api.token in the node\'s configuration.' : '');
    show(err, wrong);
    const input = $('token-input');
    input.value = '';
    input.focus();
}

onAuthNeeded((hadToken) => askToken(hadToken));

function initTokenForm() {
    const form = $('token-form');
    form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const value = $('token-input').value.trim();
        if (!value) {
            setText($('token-error'), 'Enter the token.');
            show($('token-error'), true);
            return;
        }
        setToken(value);
        authWait = false;
        $('token-submit').disabled = true;
        pollNow();
    });
}

function tokenAccepted() {
    if ($('token-form').hidden)
        return;
    show($('token-form'), false);
    show($('token-error'), false);
    show($('view'), true);
    $('token-submit').disabled = false;
}

/* ---- router ------------------------------------------------------------------ */

let view = null;
let viewGen = 0; /* bumped at every route change: a late refresh of the old view is dropped */

/* The views other than the overview (the first page most people open) are
 * loaded when first shown: the stream page brings mpegts.js and uPlot, which
 * the overview's first render does without. */
const LAZY = {
    stream: () => import('./detail.js').then((m) => (r) => m.createDetail(ctx, r.app, r.name)),
    relays: () => import('./relays.js').then((m) => (r) => m.createRelays(ctx, r.id)),
    events: () => import('./events.js').then((m) => () => m.createEvents(ctx)),
    sessions: () => import('./sessions.js').then((m) => () => m.createSessions(ctx)),
    session: () => import('./sessions.js').then((m) => (r) => m.createSession(ctx, r.id)),
};

/** The view of a route: at once for the overview, else once its module is in. */
function viewFor(r) {
    const load = LAZY[r.view];
    return load ? load().then((make) => make(r)) : Promise.resolve(createOverview(ctx));
}

async function route() {
    const r = parseRoute(window.location.hash);
    if (view)
        view.unmount();
    view = null;
    const root = $('view');
    root.replaceChildren();
    const gen = ++viewGen;
    listAt = 0;
    listKey = null;
    listWhole = null;
    for (const a of document.querySelectorAll('nav a[data-view]')) {
        const nav = r.view === 'stream' ? 'overview' : r.view === 'session' ? 'sessions' : r.view;
        const on = a.getAttribute('data-view') === nav;
        if (on)
            a.setAttribute('aria-current', 'page');
        else
            a.removeAttribute('aria-current');
    }
    document.title = (r.view === 'stream' ? streamKey(r.app, r.name) + ' – ' : '') + 'Weir dashboard';
    let next;
    try {
        next = await viewFor(r);
    } catch (e) {
        if (gen === viewGen)
            root.replaceChildren(h('p', { class: 'panel form-error', 'data-testid': 'view-error',
                text: 'This view could not be loaded (' + describe(e) + '). Reload the page to try again.' }));
        return;
    }
    if (gen !== viewGen)
        return; /* another route came meanwhile */
    view = next;
    view.mount(root);
    view.update();
    pollNow();
}

/* ---- polling ------------------------------------------------------------------ */

let timer = null;
let running = false;
let again = false; /* pollNow() during a poll: one more right after */
let listAt = 0; /* when the streams list was last fetched */
let listKey = null; /* with which query */
let listWhole = null; /* the query whose whole list ctx.state.streams holds */

/** The streams list the view shows, or null when it is not due (or not shown). */
function listDue() {
    const q = view && view.streamsQuery ? view.streamsQuery() : null;
    if (!q)
        return null;
    const key = JSON.stringify(q);
    const many = (ctx.state.streams || []).length > MANY_STREAMS;
    if (key === listKey && many && Date.now() - listAt < LIST_EVERY_MS)
        return null;
    listAt = Date.now();
    listKey = key;
    return q;
}

/**
 * The node and the list of a query not fetched whole yet: the first
 * FIRST_PAGE streams (one small request) are drawn at once, as a partial
 * list, then the rest is fetched: {node, list: {streams, complete}}.
 */
async function listInTwo(q, gen) {
    const [node, head] = await Promise.all([api.node(), api.streams({ ...q, limit: FIRST_PAGE })]);
    const first = head && Array.isArray(head.streams) ? head.streams : [];
    if (!head || !head.next_after)
        return { node, list: { streams: first, complete: true } };
    ctx.state.node = node;
    ctx.state.streams = first;
    ctx.state.streamsPartial = true;
    if (view && gen === viewGen)
        view.update();
    const rest = await api.streamsAll({ ...q, after: head.next_after });
    return { node, list: { streams: first.concat(rest.streams), complete: rest.complete } };
}

function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(poll, ms);
}

/* A poll now (not through a timer: the first one, at the page's start,
 * draws as soon as early.js's answers are in), or right after the one under way. */
function pollNow() {
    if (running)
        again = true;
    else
        poll();
}

function describe(e) {
    if (e instanceof ApiError)
        return 'HTTP ' + e.status + (e.message ? ': ' + e.message : '');
    return e && e.message ? e.message : String(e);
}

async function poll() {
    clearTimeout(timer);
    if (authWait)
        return; /* resumed by the token form */
    running = true;
    const started = Date.now();
    const gen = viewGen;
    try {
        const q = listDue();
        const key = q ? JSON.stringify(q) : null;
        const { node, list } = q && key !== listWhole ? await listInTwo(q, gen)
            : await Promise.all([api.node(), q ? api.streamsAll(q) : null]).then(([n, l]) => ({ node: n, list: l }));
        const streams = list && Array.isArray(list.streams) ? list.streams : null;
        ctx.state.node = node;
        if (streams) {
            ctx.state.streams = streams;
            ctx.state.streamsPartial = false;
            listWhole = key;
        }
        record(node, streams);
        tokenAccepted();
        setText($('node-label'), node.id ? node.id.slice(0, 8) + ' · v' + node.version : '');
        if (view && gen === viewGen)
            await view.refresh();
        if (connProblem)
            setConn(null);
    } catch (e) {
        if (e instanceof ApiError && e.status === 401) {
            /* the token form is shown (onAuthNeeded) */
        } else if (e instanceof Unreachable) {
            /* the banner is shown (onReachability) */
        } else if (e instanceof ApiError && e.status >= 500) {
            setConn('Node unavailable (' + describe(e) + ') — reconnecting…');
        } else {
            notify('Update failed: ' + describe(e), true);
        }
    } finally {
        running = false;
    }
    if (view && gen === viewGen) {
        try {
            view.update();
        } catch (e) {
            notify('Display failed: ' + describe(e), true);
        }
    }
    if (authWait) {
        $('token-submit').disabled = false;
        return;
    }
    const period = document.hidden ? POLL_HIDDEN_MS : POLL_MS;
    if (again) {
        again = false;
        schedule(0);
    } else {
        schedule(Math.max(100, period - (Date.now() - started)));
    }
}

/* ---- start ---------------------------------------------------------------------- */

function start() {
    initTokenForm();
    setConn(null);
    window.addEventListener('hashchange', route);
    document.addEventListener('visibilitychange', () => {
        if (!document.hidden && !authWait)
            pollNow();
    });
    /* Unexpected failures become a message on the page, not a console error. */
    window.addEventListener('unhandledrejection', (ev) => {
        ev.preventDefault();
        notify('Error: ' + describe(ev.reason), true);
    });
    if (!hasToken())
        setText($('token-hint'), 'This node asks for its API token (api.token).');
    route();
}

start();
