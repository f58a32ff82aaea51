/* relays.js: the `#/relays` view: the node's relays (status, current URL,
 * last error, retries; the stream, or a `*` relay's running streams, linked
 * to the stream page; `#/relays/ID` points out one row) with Enable/Disable (PATCH {"enabled": ...}) and
 * Delete (after window.confirm) per row, and the form that adds one
 * (POST /api/v1/relays: push, pull always, pull on demand) or, after Edit
 * on a row, changes it (PUT /api/v1/relays/{id}: the relay as read, with the
 * form's direction, mode, app, name and URLs; its other settings kept).
 *
 * refresh() fetches GET /api/v1/relays; the API's validation errors
 * ("urls[0]: ...", "app: ...", "id: ... already exists") are shown next to
 * the field they name (format.js formError), others under the form.
 */
import { api } from './api.js';
import { h, setText, show, syncList } from './dom.js';
import {
    buildRelayBody, formatBytes, formatDuration, formatKbps, formError, RELAY_FORM_FIELDS, secondsSince,
    streamHash,
} from './format.js';

const STREAM_LINKS_MAX = 10; /* a `*` relay's streams linked in its row, at most */

const COLS = [
    ['id', 'Id'], ['direction', 'Direction'], ['stream', 'Stream'], ['status', 'Status'],
    ['current-url', 'Current URL'], ['last-error', 'Last error'], ['retries', 'Retries'],
    ['traffic', 'Relayed'],
];

/** The status cell's text and badge class of a relay. */
function statusOf(r) {
    if (!r.enabled)
        return { text: 'disabled', cls: 'badge' };
    const cls = { active: 'ok', connecting: 'info', backoff: 'warn', failed: 'bad', idle: '' }[r.status] || '';
    let text = r.status;
    if (r.status === 'active' && r.started_at)
        text += ' ' + formatDuration(secondsSince(r.started_at, Date.now()));
    return { text, cls: 'badge ' + cls };
}

/** The stream cell's links: the relay's stream (exact name) or the streams a
 *  `*` relay runs for, each to its stream page (which links back here). */
function streamLinks(r) {
    const link = (name) => h('a', { href: streamHash(r.app, name), 'data-testid': 'relay-stream-link', text: r.app + '/' + name });
    if (r.name !== '*')
        return [link(r.name)];
    const names = (r.streams || []).map((i) => i.name);
    const out = [r.app + '/* (' + names.length + ' running)'];
    for (const n of names.slice(0, STREAM_LINKS_MAX))
        out.push(' ', link(n));
    if (names.length > STREAM_LINKS_MAX)
        out.push(' …');
    return out;
}

/** pick: the id of a relay to point out (`#/relays/ID`, from a stream page), or undefined. */
export function createRelays(ctx, pick) {
    let relays = null;
    let rows = new Map();
    const el = {};
    const busy = new Set(); /* relay ids with a request under way */
    let editing = null; /* the relay the form changes (as read), or null: it adds one */

    function formField(name, label, input, hint) {
        const err = h('p', { class: 'field-error', 'data-testid': 'field-error', 'data-field': name, hidden: true });
        el.errors[name] = err;
        el.inputs[name] = input;
        return h('div', { class: 'form-field form-field-' + name },
            h('label', { for: 'relay-' + name, text: label }), input,
            hint ? h('p', { class: 'hint', text: hint }) : null, err);
    }

    function mount(root) {
        el.errors = {};
        el.inputs = {};
        el.tbody = h('tbody');
        el.empty = h('p', { class: 'empty', hidden: true, text: 'No relays.' });
        const head = h('tr', null, ...COLS.map(([, t]) => h('th', { scope: 'col', text: t })),
            h('th', { scope: 'col', text: '' }));

        const direction = h('select', { id: 'relay-direction', name: 'direction' },
            h('option', { value: 'pull', text: 'pull (from a remote server into this node)' }),
            h('option', { value: 'push', text: 'push (from this node to a remote server)' }));
        const mode = h('select', { id: 'relay-mode', name: 'mode' },
            h('option', { value: 'always', text: 'always' }),
            h('option', { value: 'on_demand', text: 'on demand (while players watch)' }));
        direction.addEventListener('change', syncMode);
        el.formError = h('p', { class: 'form-error', 'data-testid': 'relay-form-error', role: 'alert', hidden: true });
        el.submit = h('button', { type: 'submit', 'data-testid': 'relay-submit', text: 'Add relay' });
        el.cancel = h('button', { type: 'button', 'data-testid': 'relay-cancel', text: 'Cancel', hidden: true, onclick: () => edit(null) });
        el.title = h('h2', { text: 'Add a relay' });
        el.form = h('form', { class: 'relay-form', 'data-testid': 'relay-form', novalidate: true },
            formField('direction', 'Direction', direction),
            formField('mode', 'Mode (pull)', mode),
            formField('app', 'App', h('input', { id: 'relay-app', name: 'app', type: 'text', autocomplete: 'off', placeholder: 'live' })),
            formField('name', 'Stream name', h('input', { id: 'relay-name', name: 'name', type: 'text', autocomplete: 'off', placeholder: 'cam1 or *' })),
            formField('urls', 'URLs (one per line, tried in order)', h('textarea', {
                id: 'relay-urls', name: 'urls', rows: 3, spellcheck: 'false',
                placeholder: 'rtmp://origin.example/live/cam1\nhttp://origin.example:8080/live/cam1.flv',
            })),
            formField('id', 'Id (optional)', h('input', { id: 'relay-id', name: 'id', type: 'text', autocomplete: 'off', placeholder: 'made by the node when empty' })),
            h('div', { class: 'form-actions' }, el.submit, el.cancel, el.formError));
        el.form.addEventListener('submit', (ev) => {
            ev.preventDefault();
            submit();
        });

        root.append(
            h('section', { class: 'panel' },
                h('h2', { text: 'Relays' }),
                h('div', { class: 'scroll' },
                    h('table', { class: 'grid', 'data-testid': 'relays-table' }, h('thead', null, head), el.tbody)),
                el.empty,
                h('p', { class: 'hint', text: 'A relay link that fails or is kicked reconnects by itself (with backoff, through its URLs in order); disable the relay to stop it.' })),
            h('section', { class: 'panel' }, el.title, el.form));
        syncMode();
        rows = new Map();
    }

    function syncMode() {
        el.inputs.mode.disabled = el.inputs.direction.value !== 'pull';
    }

    async function refresh() {
        const r = await api.relays();
        relays = r && Array.isArray(r.relays) ? r.relays : [];
    }

    function createRow(r) {
        const tr = h('tr', { 'data-testid': 'relay-row', 'data-relay-id': r.id });
        tr.cells_ = {};
        for (const [col] of COLS) {
            const td = h('td', { 'data-col': col });
            tr.cells_[col] = td;
            tr.appendChild(td);
        }
        /* Spaces around the badge: the row's text reads "... relayed/cam active ..." (not
         * "camactive"), for people who copy it and for text searches. */
        tr.badge_ = h('span');
        tr.cells_.status.append(' ', tr.badge_, ' ');
        tr.source_ = h('span', { class: 'muted' });
        tr.cells_.id.append(tr.idText_ = document.createTextNode(''), ' ', tr.source_);
        tr.toggle_ = h('button', { type: 'button', class: 'small', 'data-testid': 'relay-toggle' });
        tr.toggle_.addEventListener('click', () => toggle(tr.relay_));
        tr.delete_ = h('button', { type: 'button', class: 'small danger', 'data-testid': 'relay-delete', text: 'Delete' });
        tr.delete_.addEventListener('click', () => remove(tr.relay_));
        tr.edit_ = h('button', { type: 'button', class: 'small', 'data-testid': 'relay-edit', text: 'Edit' });
        tr.edit_.addEventListener('click', () => edit(tr.relay_));
        tr.appendChild(h('td', { class: 'actions' }, tr.toggle_, ' ', tr.edit_, ' ', tr.delete_));
        return tr;
    }

    function updateRow(tr, r) {
        tr.relay_ = r;
        const c = tr.cells_;
        if (tr.idText_.data !== r.id)
            tr.idText_.data = r.id;
        setText(tr.source_, r.source === 'config' ? '(config file)' : '');
        setText(c.direction, r.direction + (r.direction === 'pull' && r.mode ? ' · ' + r.mode.replace('_', ' ') : ''));
        const names = r.app + '/' + r.name + ':' + (r.streams || []).map((i) => i.name).join('/');
        if (tr.names_ !== names) {
            tr.names_ = names;
            c.stream.replaceChildren(...streamLinks(r));
        }
        const st = statusOf(r);
        setText(tr.badge_, st.text);
        tr.badge_.className = st.cls;
        setText(c['current-url'], r.current_url || (r.urls.length ? r.urls[0] : '–'));
        c['current-url'].title = r.urls.join('\n');
        setText(c['last-error'], r.last_error_message || r.last_error || '–');
        setText(c.retries, r.retries + (r.failovers ? ' (' + r.failovers + ' failovers)' : ''));
        setText(c.traffic, formatBytes(r.bytes) + (r.bitrate_kbps ? ' · ' + formatKbps(r.bitrate_kbps) : ''));
        setText(tr.toggle_, r.enabled ? 'Disable' : 'Enable');
        tr.toggle_.disabled = busy.has(r.id);
        tr.delete_.disabled = busy.has(r.id);
        tr.edit_.disabled = r.source === 'config'; /* read-only over the API */
    }

    function update() {
        if (!el.tbody)
            return;
        const list = relays || [];
        syncList(el.tbody, rows, list, (r) => r.id, createRow, updateRow);
        show(el.empty, relays !== null && list.length === 0);
        const picked = pick !== undefined ? rows.get(pick) : null;
        if (picked && !picked.classList.contains('picked')) {
            picked.classList.add('picked');
            picked.setAttribute('aria-current', 'true');
            picked.scrollIntoView({ block: 'center' });
        }
    }

    /* Re-reads the list after a change, quietly: the next poll does it anyway. */
    async function reload() {
        try {
            await refresh();
        } catch (e) {
            /* the poll shows connection problems */
        }
        update();
    }

    async function toggle(r) {
        if (!r || busy.has(r.id))
            return;
        busy.add(r.id);
        update();
        try {
            await api.patchRelay(r.id, { enabled: !r.enabled });
            ctx.notify((r.enabled ? 'Disabled' : 'Enabled') + ' relay ' + r.id);
        } catch (e) {
            ctx.notify('Relay ' + r.id + ': ' + e.message, true);
        }
        busy.delete(r.id);
        await reload();
    }

    async function remove(r) {
        if (!r || busy.has(r.id))
            return;
        if (!window.confirm('Delete the relay ' + r.id + ' (' + r.direction + ' ' + r.app + '/' + r.name + ')?'))
            return;
        busy.add(r.id);
        update();
        try {
            await api.deleteRelay(r.id);
            relays = (relays || []).filter((x) => x.id !== r.id);
            ctx.notify('Deleted relay ' + r.id);
        } catch (e) {
            ctx.notify('Relay ' + r.id + ': ' + e.message, true);
        }
        busy.delete(r.id);
        await reload();
    }

    /** Fills the form with relay r to change it (null: back to adding). */
    function edit(r) {
        editing = r;
        clearErrors();
        setText(el.title, r ? 'Edit relay ' + r.id : 'Add a relay');
        setText(el.submit, r ? 'Save relay' : 'Add relay');
        show(el.cancel, !!r);
        el.inputs.id.readOnly = !!r;
        const v = r ? { id: r.id, direction: r.direction, mode: r.mode || 'always', app: r.app, name: r.name, urls: r.urls.join('\n') }
            : { id: '', direction: 'pull', mode: 'always', app: '', name: '', urls: '' };
        for (const name of RELAY_FORM_FIELDS)
            el.inputs[name].value = v[name];
        syncMode();
        if (r)
            el.form.scrollIntoView({ block: 'nearest' });
    }

    function clearErrors() {
        for (const name of RELAY_FORM_FIELDS) {
            setText(el.errors[name], '');
            show(el.errors[name], false);
            el.inputs[name].removeAttribute('aria-invalid');
        }
        setText(el.formError, '');
        show(el.formError, false);
    }

    async function submit() {
        clearErrors();
        const values = {};
        for (const name of RELAY_FORM_FIELDS)
            values[name] = el.inputs[name].value;
        const body = buildRelayBody(values);
        el.submit.disabled = true;
        try {
            if (editing) {
                const spec = { ...editing, ...body };
                if (spec.direction !== 'pull')
                    delete spec.mode;
                await api.putRelay(editing.id, spec);
                ctx.notify('Saved relay ' + editing.id);
                edit(null);
                await reload();
                return;
            }
            const created = await api.createRelay(body);
            ctx.notify('Added relay ' + (created && created.id ? created.id : ''));
            for (const name of ['id', 'app', 'name', 'urls'])
                el.inputs[name].value = '';
            if (created && created.id && relays && !relays.some((x) => x.id === created.id))
                relays = relays.concat([created]);
            update();
            await reload();
        } catch (e) {
            const fe = formError(e, RELAY_FORM_FIELDS);
            if (fe.field) {
                setText(el.errors[fe.field], fe.message);
                show(el.errors[fe.field], true);
                el.inputs[fe.field].setAttribute('aria-invalid', 'true');
                el.inputs[fe.field].focus();
            } else {
                setText(el.formError, fe.message);
                show(el.formError, true);
            }
        } finally {
            el.submit.disabled = false;
        }
    }

    function unmount() {
        rows = new Map();
    }

    return { mount, update, refresh, unmount };
}
