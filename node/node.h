/* node: the process-wide media plane: the libevent loop, the listeners, the
 * connection table and the hub. One node_t per process, passed explicitly. */
#ifndef WEIR_NODE_H
#define WEIR_NODE_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>
#include <stdint.h>
#include <sys/queue.h>

#include "conf.h"
#include "stream.h"

typedef struct conn conn_t;
TAILQ_HEAD(conn_list, conn);

#define NODE_READ_BUF (64 * 1024)

typedef struct node {
    struct event_base *base;
    conf_t conf;
    hub_t *hub;
    struct evconnlistener *rtmp_lis;
    struct evconnlistener *http_lis;
    struct event tick_ev;
    struct event reap_ev;
    struct event sigint_ev, sigterm_ev;
    struct conn_list conns;
    struct conn_list reap;
    size_t nconns;
    uint64_t next_sess_id;
    int stopping;
    int events_ready;            /* tick, reap and signal events are assigned */
    uint8_t rbuf[NODE_READ_BUF]; /* shared read buffer: parsers copy what they keep */
} node_t;

/* Creates the loop, binds the listeners and installs signal handlers.
 * Returns NULL with a message in err (e.g. "cannot listen on ...: Address
 * already in use"). The node keeps its own copy of conf. */
node_t *node_new(const conf_t *conf, char *err, size_t errlen);
/* Runs until SIGINT/SIGTERM; then closes every session. Returns 0. */
int node_run(node_t *node);
void node_free(node_t *node);

#endif
