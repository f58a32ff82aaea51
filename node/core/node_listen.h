/* node_listen: the node's listeners (node_listen.c), for node.c: a
 * listening socket with the node's accept path (admission, refusals, the
 * pause while accept() fails), and the periodic line for refusals not yet
 * logged. The pause and the socket helpers other listeners use are in
 * node.h (node_listen_socket(), node_accept_*()). Loop thread only.
 */
#ifndef WEIR_NODE_LISTEN_H
#define WEIR_NODE_LISTEN_H

#include <stdint.h>

#include <event2/listener.h>

#include "node.h"

/* A listener on addr ("host:port") whose connections go through the
 * node's admission to p's session (p: the listener's pause, set up here,
 * owned by the node). NULL with a message in err naming `what`. */
struct evconnlistener *node_listen_on(node_t *node, const char *what, const char *addr,
                                      node_accept_pause_t *p, char *err, size_t errlen);
/* Logs the refusals of each admission limit not logged yet, once their
 * interval is over (from the node's tick). */
void node_listen_log_refusals(node_t *node, int64_t now_ms);

#endif
