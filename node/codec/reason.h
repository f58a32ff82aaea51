/* reason: why a session, a relay link or a relay attempt ended, as one
 * documented enum that every event ("reason") and relay ("last_error")
 * carries; the human text goes next to it ("message"). A scheduler switches
 * on the code; the set only grows (openapi.yaml: Reason).
 * Threads: pure, no state: any thread. */
#ifndef WEIR_REASON_H
#define WEIR_REASON_H

typedef enum {
    REASON_NONE = 0,             /* "": not ended, or no reason known */
    REASON_EOF,                  /* the peer closed the connection */
    REASON_KICKED,               /* closed over the API (a session's or a stream's DELETE) */
    REASON_TIMEOUT,              /* a handshake, request, connect or idle timeout */
    REASON_SLOW,                 /* a reader (player, push target) that did not keep up */
    REASON_PROTOCOL,             /* the peer broke the protocol */
    REASON_REPLACED,             /* a new publisher took the stream over */
    REASON_STREAM_ENDED,         /* the stream ended (its publisher left for good) */
    REASON_SHUTDOWN,             /* the node stops */
    REASON_ERROR,                /* an I/O error, out of memory, anything else */
    REASON_NOT_FOUND,            /* the upstream does not have the stream */
    REASON_LOOP,                 /* a relay loop was refused */
    REASON_HOP_LIMIT,            /* the relay hop limit was reached */
    REASON_UPSTREAM_REFUSED,     /* the upstream refused (status, auth, drain) */
    REASON_UPSTREAM_UNREACHABLE, /* the upstream's name or address did not answer */
    REASON_UPSTREAM_CLOSED,      /* the upstream closed the link */
    REASON_UPSTREAM_SILENT,      /* no media from the upstream for too long */
    REASON_IDLE,                 /* an on-demand relay without players stopped */
    REASON_RELAY_CHANGED,        /* the relay's spec changed (or its URL left the list) */
    REASON_RELAY_DELETED,        /* the relay was deleted (or disabled) */
    REASON_LOCAL_ENDED,          /* a push relay's local stream ended */
    REASON_REFUSED,              /* admission refused the request (app rules, hooks, limits) */
    REASON_DRAIN,                /* the node is draining and takes nothing new */
    REASON_DONE,                 /* the session did what it was for (a HEAD answered) */
    REASON_TLS_VERIFY,           /* the upstream's certificate did not verify (chain, name) */
    REASON_TLS_HANDSHAKE,        /* the TLS handshake with the upstream failed or timed out */
    REASON_NCODES
} reason_t;

/* The code's name ("eof", "kicked", "upstream_silent", ...; "" for
 * REASON_NONE and out-of-range values). */
const char *reason_name(reason_t r);

#endif
