/* dom.js: tiny DOM helpers for the views (no framework). Elements are
 * created once per view and then updated in place, so that rows a person
 * (or a test) is about to click are not replaced under the pointer. */

/**
 * Creates an element: h('td', {class: 'num', 'data-col': 'players'}, 'text', child).
 * Attributes: `class`, `text` (textContent), `on<event>` (listener), others
 * set with setAttribute; false/null/undefined attributes are skipped.
 */
export function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
        for (const k of Object.keys(attrs)) {
            const v = attrs[k];
            if (v === false || v === null || v === undefined)
                continue;
            if (k === 'class')
                el.className = v;
            else if (k === 'text')
                el.textContent = v;
            else if (k.startsWith('on') && typeof v === 'function')
                el.addEventListener(k.slice(2), v);
            else
                el.setAttribute(k, v === true ? '' : String(v));
        }
    }
    for (const c of children) {
        if (c === null || c === undefined || c === false)
            continue;
        el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return el;
}

/** Sets textContent only when it changed (keeps selections and layout calm). */
export function setText(el, text) {
    const t = text === null || text === undefined ? '' : String(text);
    if (el.textContent !== t)
        el.textContent = t;
}

/** Shows or hides an element with the `hidden` attribute. */
export function show(el, visible) {
    if (el.hidden === !!visible)
        el.hidden = !visible;
}

/**
 * Keeps the children of `parent` in step with `items`: one element per key,
 * made by create(item) the first time, updated by update(el, item) every
 * time, removed when its key is gone (after onRemove(el), if given), in the
 * order of items. `parent` holds only these elements. Returns the Map
 * key -> element (pass it back next time).
 */
export function syncList(parent, map, items, keyOf, create, update, onRemove) {
    const seen = new Set();
    let prev = null;
    for (const item of items) {
        const key = keyOf(item);
        seen.add(key);
        let el = map.get(key);
        if (!el) {
            el = create(item);
            map.set(key, el);
        }
        update(el, item);
        const want = prev ? prev.nextSibling : parent.firstChild;
        if (want !== el)
            parent.insertBefore(el, want);
        prev = el;
    }
    for (const [key, el] of map) {
        if (!seen.has(key)) {
            if (onRemove)
                onRemove(el);
            el.remove();
            map.delete(key);
        }
    }
    return map;
}
