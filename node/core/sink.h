/* sink: where a protocol session writes its private bytes (replies,
 * control frames, the last bytes of a response), whichever loop owns the
 * connection: conn_sink() (conn.h) for the event loop's connections, the
 * worker's own for a player handed to a worker thread (worker.h). A
 * protocol that writes only through a sink runs on either.
 * Threads: a sink is used on the thread that owns its connection only.
 */
#ifndef WEIR_SINK_H
#define WEIR_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "stream.h"

typedef struct sink {
    /* Queues len bytes of private output after what is queued (they go out
     * before the player's next message, once its current one is whole).
     * 0, NODE_ELIMIT over the connection's bound (it is closed), or
     * NODE_ENOMEM. */
    int (*send)(void *arg, const void *data, size_t len);
    /* The same, but the bytes go before the private output already
     * queued: the rest of a media frame partly written, which must stay
     * whole ahead of a control frame queued meanwhile (a pong queued while
     * a frame was half out waits behind it). Only while out->player's
     * message is partly written (nothing private has gone out since). */
    int (*send_first)(void *arg, const void *data, size_t len);
    void *arg;
    player_t *player;   /* the session's player while attached, or NULL */
    uint64_t sess_id;   /* for log lines */
    const char *remote; /* the peer, for log lines */
} sink_t;

#endif
