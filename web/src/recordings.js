/* recordings.js: the stream page's Recording panel: whether the stream is
 * recorded (the recorders of GET /api/v1/recorders whose app and name match
 * it, `*` matching any; one-off recordings, POST .../record, are not listed
 * there) and its most recent files (GET /api/v1/recordings?app=&name=) with
 * download links (GET /api/v1/recordings/{id}/file).
 *
 * createRecordings(app, name) -> {el, refresh, update}: the detail view calls
 * refresh() from its own (at most every EVERY_MS it asks the node) and
 * update() to draw. Files are read incrementally: the first refresh from
 * SINCE_MS ago, later ones only after the newest id seen (the list is in id
 * order), at most PAGES pages of PAGE_LIMIT a refresh; the newest RECENT are
 * kept. A download with an API token is fetched by the page (the token goes
 * in a header, which a plain link cannot send) and saved from a blob, so the
 * file is held in the browser's memory; without a token the link is followed.
 * Runs on the page's main thread; owns its DOM.
 */
import { api } from './api.js';
import { h, setText, show, syncList } from './dom.js';
import { formatBytes, formatDuration, formatWhen } from './format.js';

const EVERY_MS = 5000;
const SINCE_MS = 24 * 3600 * 1000;
const PAGES = 4;
const PAGE_LIMIT = 1000;
const RECENT = 10;

const matches = (pat, v) => pat === '*' || pat === v;

export function createRecordings(app, name) {
    let at = 0;
    let recorders = null; /* the matching ones, once asked */
    let files = []; /* newest first, at most RECENT */
    let lastId = null;
    let rows = new Map();
    const status = h('p', { 'data-testid': 'recording-status', text: '–' });
    const tbody = h('tbody');
    const none = h('p', { class: 'empty', 'data-testid': 'recordings-empty', text: 'No recorded files of this stream (in the last 24 h).' });
    const el = h('section', { class: 'panel', 'data-testid': 'recordings' },
        h('h2', { text: 'Recording' }), status,
        h('div', { class: 'scroll' }, h('table', { class: 'grid' },
            h('thead', null, h('tr', null, ...['File', 'Start', 'Duration', 'Size', 'Format', ''].map((t) => h('th', { text: t })))),
            tbody)),
        none);

    async function refreshRecorders() {
        const all = [];
        let after;
        for (let i = 0; i < PAGES; i++) {
            const r = await api.recorders(after);
            all.push(...(r && Array.isArray(r.recorders) ? r.recorders : []));
            if (!r || !r.next_after)
                break;
            after = r.next_after;
        }
        recorders = all.filter((x) => matches(x.app, app) && matches(x.name, name));
    }

    async function refreshFiles() {
        for (let i = 0; i < PAGES; i++) {
            const r = await api.recordings(lastId === null
                ? { app, name, from: Date.now() - SINCE_MS, limit: PAGE_LIMIT }
                : { app, name, after: lastId, limit: PAGE_LIMIT });
            const page = r && Array.isArray(r.recordings) ? r.recordings : [];
            if (page.length)
                lastId = page[page.length - 1].id;
            files = page.slice(-RECENT).reverse().concat(files).slice(0, RECENT);
            if (!r || !r.next_after)
                return;
        }
    }

    async function refresh() {
        if (Date.now() - at < EVERY_MS)
            return;
        at = Date.now();
        await Promise.all([refreshRecorders(), refreshFiles()]);
    }

    async function download(f, a, ev) {
        if (!api.hasToken())
            return; /* the link is followed */
        ev.preventDefault();
        try {
            const blob = await api.download(a.getAttribute('href'));
            const url = URL.createObjectURL(blob);
            const save = h('a', { href: url, download: a.getAttribute('download') });
            document.body.appendChild(save);
            save.click();
            save.remove();
            setTimeout(() => URL.revokeObjectURL(url), 60000);
        } catch (e) {
            setText(status, 'Download of file ' + f.id + ' failed: ' + e.message);
        }
    }

    function createRow(f) {
        const base = f.path.split('/').pop();
        const a = h('a', { href: '/api/v1/recordings/' + encodeURIComponent(String(f.id)) + '/file',
            download: base, 'data-testid': 'recording-download', text: 'Download' });
        a.addEventListener('click', (ev) => download(f, a, ev));
        return h('tr', { 'data-testid': 'recording-row', 'data-recording-id': String(f.id) },
            h('td', { text: f.path }), h('td', { text: formatWhen(f.start) }),
            h('td', { text: formatDuration(f.duration_ms / 1000) }), h('td', { text: formatBytes(f.bytes) }),
            h('td', { text: f.format + (f.closed_cleanly ? '' : ' (repaired)') }), h('td', null, a));
    }

    function update() {
        if (recorders !== null) {
            setText(status, recorders.length
                ? 'Recorded by ' + recorders.map((x) => x.id + ' (' + x.format + (x.enabled ? '' : ', disabled') +
                    (x.segment_s ? ', ' + x.segment_s + ' s files' : '') + ')').join(', ')
                : 'No recorder matches this stream (one-off recordings are not listed by the node).');
        }
        syncList(tbody, rows, files, (f) => f.id, createRow, () => {});
        show(none, files.length === 0);
    }

    return { el, refresh, update };
}
