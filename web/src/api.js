/* api.js: the dashboard's client of the node's REST API (openapi.yaml).
 *
 * Every call goes to a relative URL (/api/v1/...) on the origin that served
 * the page, with `Authorization: Bearer <token>` when the operator gave a
 * token (kept in sessionStorage under TOKEN_KEY for the browser tab's life).
 * A call resolves with the parsed JSON body (null for 204) or rejects with:
 * - ApiError: the node answered 4xx/5xx; status, code and message come from
 *   its Error body ({"error": {"code", "message"}});
 * - ApiError with status 401 (code "unauthorized"): the token is missing or
 *   wrong; listeners registered with onAuthNeeded() are told;
 * - Unreachable: no answer (connection refused, reset, timeout after
 *   TIMEOUT_MS); listeners registered with onReachability() are told, and
 *   told again (true) at the next answer of any kind.
 * The module holds only the token and the listener lists.
 */

import { streamApiPath } from './format.js';

export const TOKEN_KEY = 'weir.token';
const TIMEOUT_MS = 5000;

export class ApiError extends Error {
    constructor(status, code, message) {
        super(message);
        this.name = 'ApiError';
        this.status = status;
        this.code = code;
    }
}

export class Unreachable extends Error {
    constructor(message) {
        super(message);
        this.name = 'Unreachable';
    }
}

let token = null;
try {
    token = window.sessionStorage.getItem(TOKEN_KEY);
} catch (e) {
    token = null; /* storage disabled: the token lives in memory only */
}

const reachListeners = [];
const authListeners = [];
let reachable = null;

/** Calls fn(isReachable) whenever reachability changes. */
export function onReachability(fn) {
    reachListeners.push(fn);
}

/** Calls fn(hadToken) when the node answers 401. */
export function onAuthNeeded(fn) {
    authListeners.push(fn);
}

function setReachable(v) {
    if (reachable === v)
        return;
    reachable = v;
    for (const fn of reachListeners)
        fn(v);
}

export function hasToken() {
    return !!token;
}

/** Sets (or with an empty value forgets) the token sent with every call. */
export function setToken(t) {
    token = t || null;
    try {
        if (token)
            window.sessionStorage.setItem(TOKEN_KEY, token);
        else
            window.sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) {
        /* storage disabled: kept in memory */
    }
}

/**
 * The answer early.js already asked for (method, path): a promise of
 * {resp, text} (the Response and its body, read), once, or null.
 * Such a request has no TIMEOUT_MS abort of its own: it was started before
 * this module ran; the browser's own timeouts bound it.
 */
function takeEarly(method, path) {
    const early = window.weirEarly;
    const key = method + ' ' + path;
    if (!early || !early[key])
        return null;
    const p = early[key];
    delete early[key];
    return p;
}

/**
 * One API call. method: GET, POST, PATCH, PUT, DELETE; path: "/api/v1/...";
 * body: an object sent as JSON, or undefined.
 */
export async function request(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (token)
        headers.Authorization = 'Bearer ' + token;
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
        headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
    }
    const ctl = new AbortController();
    init.signal = ctl.signal;
    const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
    let resp;
    let text;
    try {
        const early = takeEarly(method, path);
        if (early) {
            ({ resp, text } = await early);
        } else {
            resp = await fetch(path, init);
            text = await resp.text();
        }
    } catch (e) {
        setReachable(false);
        throw new Unreachable('node unreachable');
    } finally {
        clearTimeout(timer);
    }
    setReachable(true);
    let data = null;
    if (text) {
        try {
            data = JSON.parse(text);
        } catch (e) {
            data = null;
        }
    }
    if (resp.ok)
        return data;
    const err = data && data.error ? data.error : {};
    const apiErr = new ApiError(resp.status, err.code || 'http_' + resp.status,
        err.message || ('HTTP ' + resp.status));
    if (resp.status === 401) {
        const had = !!token;
        for (const fn of authListeners)
            fn(had);
    }
    throw apiErr;
}

/** The body of a GET of path (a file: not JSON) as a Blob, with the token. */
export async function download(path) {
    const headers = token ? { Authorization: 'Bearer ' + token } : {};
    let resp;
    try {
        resp = await fetch(path, { headers, cache: 'no-store', credentials: 'omit' });
    } catch (e) {
        setReachable(false);
        throw new Unreachable('node unreachable');
    }
    setReachable(true);
    if (!resp.ok)
        throw new ApiError(resp.status, 'http_' + resp.status, 'HTTP ' + resp.status);
    return resp.blob();
}

/** "?k=v&..." of the params that are set, or "". */
function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {}))
        if (v !== undefined && v !== null && v !== '')
            q.set(k, String(v));
    const t = q.toString();
    return t ? '?' + t : '';
}

export const api = {
    node: () => request('GET', '/api/v1/node'),
    /** params: the list's filters and paging (app, name, limit, after). */
    streams: (params) => request('GET', '/api/v1/streams' + query(params)),
    /** Every page of the list (limit 1000 a page, at most maxPages), from
     *  params.after when given: {streams, complete}. */
    async streamsAll(params, maxPages) {
        const all = [];
        let after = params ? params.after : undefined;
        for (let i = 0; i < (maxPages || 10); i++) {
            const r = await request('GET', '/api/v1/streams' + query({ ...params, limit: 1000, after }));
            const page = r && Array.isArray(r.streams) ? r.streams : [];
            all.push(...page);
            if (!r || !r.next_after)
                return { streams: all, complete: true };
            after = r.next_after;
        }
        return { streams: all, complete: false };
    },
    history: (resolution, since) => request('GET', '/api/v1/history' + query({ resolution, since })),
    streamHistory: (app, name, resolution, since) =>
        request('GET', streamApiPath(app, name) + '/history' + query({ resolution, since })),
    drain: () => request('POST', '/api/v1/node/drain'),
    undrain: () => request('POST', '/api/v1/node/undrain'),
    sessions: (params) => request('GET', '/api/v1/sessions' + query(params)),
    session: (id) => request('GET', '/api/v1/sessions/' + encodeURIComponent(String(id))),
    failingRelays: () => request('GET', '/api/v1/relays' + query({ status: 'failed' })),
    putRelay: (id, spec) => request('PUT', '/api/v1/relays/' + encodeURIComponent(id), spec),
    streamSessions: (app, name) =>
        request('GET', '/api/v1/sessions?' + new URLSearchParams({ app, name }).toString()),
    closeStream: (app, name) => request('DELETE', streamApiPath(app, name)),
    kickSession: (id) => request('DELETE', '/api/v1/sessions/' + encodeURIComponent(String(id))),
    /** params: the list's filters (app, name, status, direction). */
    relays: (params) => request('GET', '/api/v1/relays' + query(params)),
    recorders: (after) => request('GET', '/api/v1/recorders' + query({ after })),
    /** params: app, name, from, to, after, limit. */
    recordings: (params) => request('GET', '/api/v1/recordings' + query(params)),
    download,
    hasToken,
    createRelay: (spec) => request('POST', '/api/v1/relays', spec),
    patchRelay: (id, patch) => request('PATCH', '/api/v1/relays/' + encodeURIComponent(id), patch),
    deleteRelay: (id) => request('DELETE', '/api/v1/relays/' + encodeURIComponent(id)),
    events: (after, limit) =>
        request('GET', '/api/v1/events?after=' + encodeURIComponent(String(after)) +
            '&limit=' + encodeURIComponent(String(limit))),
};
