/* conn_limits: admission of accepted client connections (limits.* in the config)
 * and the refusal counters of every limit (weir_limit_refused_total).
 *
 * Pure: no sockets; the caller passes monotonic milliseconds. The node asks
 * conn_limits_admit() for each accepted RTMP or HTTP-FLV connection (its own
 * outgoing relay links are not counted) and calls conn_limits_release() when an
 * admitted one closes.
 *
 * Per-address state (open connections and a token bucket) lives in a table
 * allocated once: at most 2 x max_connections + 1024 addresses
 * (LIMITS_ADDR_UNLIMITED when max_connections is 0), about 56 bytes each,
 * touched only as it is used. An address with no open connection is idle: it
 * is forgotten once its bucket is full again, or earlier, oldest first, when
 * a new address needs its entry. With max_connections set, more addresses
 * than that never hold a connection, so a new address always finds an entry;
 * without it, a connection from a new address when every entry holds open
 * connections is refused as max_connections. The table is only used when
 * max_connections_per_address or new_connections_per_address_per_s is set.
 * Threads: the table belongs to the node; loop thread only.
 */
#ifndef WEIR_CONN_LIMITS_H
#define WEIR_CONN_LIMITS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Every limit that refuses or closes a connection, in /metrics order. */
typedef enum {
    LIMIT_MAX_CONNECTIONS = 0,
    LIMIT_MAX_CONNECTIONS_PER_ADDRESS,
    LIMIT_NEW_CONNECTIONS_PER_ADDRESS,
    LIMIT_MAX_STREAMS,
    LIMIT_MAX_MESSAGE_SIZE,
    LIMIT_MAX_CHUNK_STREAMS,
    LIMIT_HANDSHAKE_TIMEOUT,
    LIMIT_IDLE_TIMEOUT,
    LIMIT_SLOW_PLAYER,
    LIMIT_REQUEST_TIMEOUT,
    LIMIT_HEADER_TOO_LARGE,
    LIMIT_UNREAD_REPLIES,              /* a peer that makes the node reply and reads no replies */
    LIMIT_API_CONNECTIONS_PER_ADDRESS, /* api.max_connections_per_address (api/http.c) */
    LIMIT_FILE_DESCRIPTORS,            /* a client connection near RLIMIT_NOFILE (fdlimit.h) */
    LIMIT_MAX_MEMORY,        /* a publish refused: media memory over limits.max_memory_mb */
    LIMIT_MAX_METADATA_SIZE, /* a data message (onMetaData) over the AMF0 decoder's bounds */
    LIMIT_TLS_HANDSHAKES,    /* a TLS connection over tls.max_handshakes in progress */
    LIMIT_TLS_HANDSHAKE_TIMEOUT, /* a TLS handshake not done in tls.handshake_timeout_ms */
    LIMIT_KINDS
} limit_kind_t;

#define LIMITS_ADDR_UNLIMITED 65536u /* address entries when max_connections is 0 */
#define LIMITS_LOG_INTERVAL_MS 10000 /* one refusal line per limit at most this often */

/* A remote address: IPv4 as IPv4-mapped IPv6. */
typedef struct {
    uint8_t b[16];
} conn_limits_addr_t;

typedef struct conn_limits conn_limits_t;

/* The label of a limit in /metrics ("max_connections", ...). */
const char *conn_limits_kind_name(limit_kind_t k);

/* The address of an AF_INET or AF_INET6 socket address: 0, or -1 for any
 * other family. */
int conn_limits_addr_from_sockaddr(const struct sockaddr *sa, conn_limits_addr_t *out);
/* The same from a connection's remote text ("1.2.3.4:5678",
 * "[2001:db8::1]:5678"): 0 or -1. Gives what conn_limits_addr_from_sockaddr()
 * gave for the same address. */
int conn_limits_addr_from_remote(const char *remote, conn_limits_addr_t *out);

/* max_connections, max_per_address: 0 for no limit; rate_per_s: new
 * connections per address per second (burst 2 x rate), 0 for none. seed
 * keys the address hash. NULL when out of memory. */
conn_limits_t *conn_limits_new(uint32_t max_connections, uint32_t max_per_address,
                               uint32_t rate_per_s, uint64_t seed);
void conn_limits_free(conn_limits_t *l);
/* New limits for the connections to come (SIGHUP); the open ones stay.
 * Returns 0, or -1 (nothing changed) when the per-address limits would need
 * an address table that l has not (both were 0 at conn_limits_new()) or a
 * larger one (max_connections raised past what it was sized for). */
int conn_limits_set(conn_limits_t *l, uint32_t max_connections, uint32_t max_per_address,
                    uint32_t rate_per_s);

/* A new connection from a (NULL: an address of another family, counted in
 * the total only). Returns 0 (admitted: call conn_limits_release() when it
 * closes) or -1 with the limit in *why (nothing to release). Checks, in
 * order: max_connections, the address's token bucket (every connection
 * that passes it takes a token), max_connections_per_address. */
int conn_limits_admit(conn_limits_t *l, const conn_limits_addr_t *a, int64_t now_ms,
                      limit_kind_t *why);
/* An admitted connection from a closed. */
void conn_limits_release(conn_limits_t *l, const conn_limits_addr_t *a);

/* Admitted connections open now. */
size_t conn_limits_open(const conn_limits_t *l);
/* Addresses in the table now (0 when no per-address limit is set). */
size_t conn_limits_addresses(const conn_limits_t *l);
/* Entries the table can hold (0 when no per-address limit is set). */
size_t conn_limits_capacity(const conn_limits_t *l);

/* Counts one refusal by limit k. Returns 1 when a line should be logged
 * now (at most one per LIMITS_LOG_INTERVAL_MS per limit), with the number
 * of refusals not logged since the last line in *suppressed; 0 otherwise. */
int conn_limits_refused(conn_limits_t *l, limit_kind_t k, int64_t now_ms, uint64_t *suppressed);
/* Counts one refusal by limit k whose session logs it itself. */
void conn_limits_count(conn_limits_t *l, limit_kind_t k);
/* Refusals by limit k so far. */
uint64_t conn_limits_refused_total(const conn_limits_t *l, limit_kind_t k);
/* For the tick: refusals of k not yet logged whose interval is over (they
 * are then reported as logged), else 0. */
uint64_t conn_limits_unlogged(conn_limits_t *l, limit_kind_t k, int64_t now_ms);

#endif
