/* relaylinks.js: where a stream comes from and goes to, from the API's
 * answers (pure, no DOM; unit-tested in test/relaylinks.test.js). The stream
 * page (detail.js) draws it; the relays page links back with streamHash().
 *
 * - upstream: this node's pull relays feeding the stream (GET
 *   /api/v1/relays?app=: the relay for its exact name, or a `*` relay's
 *   instance of that name), and its publisher session, which is another
 *   node's relay link when that node pushed the stream here (a session with
 *   `relay.direction` "in": `peer` is that node, `hops` its hop count);
 * - downstream: this node's push relays of the stream, and other nodes'
 *   relay links playing it (a "in" relay session that is not the publisher);
 * - origin: the node whose timeline the stream carries (the node id part of
 *   `continuity.source_id`, `<node id>.<session id>`), when not this node.
 */

/** The instance of relay r that feeds or sends app/name (itself for an exact
 *  name, a `*` relay's instance of that name, or null when it has none). */
function instanceOf(r, name) {
    if (r.name === name)
        return r.streams && r.streams.length ? r.streams[0] : null;
    return (r.streams || []).find((i) => i.name === name) || null;
}

/** A relay of the stream as the page lists it. */
function relayItem(r, name) {
    const inst = instanceOf(r, name);
    const src = inst || r;
    return {
        id: r.id,
        direction: r.direction,
        enabled: r.enabled,
        every: r.name === '*',
        running: !!inst,
        status: r.enabled ? src.status : 'disabled',
        url: src.current_url || (r.urls && r.urls.length ? r.urls[0] : null),
        hops: inst ? inst.hops : null,
        session_id: inst ? inst.session_id : null,
        last_error: src.last_error_message || src.last_error || null,
    };
}

/** What the page shows of a session (not its changing counters). */
function brief(s) {
    return { id: s.id, protocol: s.protocol, remote: s.remote, relay: s.relay || null };
}

/** The node id of a source_id (`<node id>.<n>`), or null. */
export function sourceNode(sourceId) {
    if (typeof sourceId !== 'string' || !sourceId)
        return null;
    const dot = sourceId.lastIndexOf('.');
    return dot > 0 ? sourceId.slice(0, dot) : null;
}

/**
 * The stream's route: {pulls, pushes, publisher, inLinks, origin}.
 * relays: the relays of the stream's app (null: not known yet, empty
 * lists); sessions: the stream's sessions; stream: the Stream (or null);
 * nodeId: this node's id.
 */
export function streamRoute(relays, sessions, stream, nodeId) {
    const app = stream ? stream.app : null;
    const name = stream ? stream.name : null;
    const mine = (relays || []).filter((r) => r.app === app && (r.name === name || r.name === '*'));
    const pulls = mine.filter((r) => r.direction === 'pull').map((r) => relayItem(r, name))
        .filter((x) => !x.every || x.running); /* a `*` pull feeds only the names it runs for */
    const pushes = mine.filter((r) => r.direction === 'push').map((r) => relayItem(r, name));
    const pubId = stream && stream.publisher ? stream.publisher.id : null;
    const pub = (sessions || []).find((s) => s.id === pubId) || (stream && stream.publisher) || null;
    const inLinks = (sessions || []).filter((s) => s.id !== pubId && s.relay && s.relay.direction === 'in')
        .map(brief);
    const node = stream && stream.continuity ? sourceNode(stream.continuity.source_id) : null;
    return { pulls, pushes, publisher: pub ? brief(pub) : null, inLinks, origin: node && node !== nodeId ? node : null };
}
