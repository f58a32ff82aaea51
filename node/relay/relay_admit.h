/* relay_admit: the relay layer's step of the admission chain (admit.h):
 * relay loop protection. A request that carries relay parameters (hop
 * count, via list) is checked by relay_check_request(); a refusal is
 * recorded as a relay.refused event. Owns nothing; loop thread only. */
#ifndef WEIR_RELAY_ADMIT_H
#define WEIR_RELAY_ADMIT_H

struct node;

/* Adds the step (ADMIT_ORDER_RELAY) to node's chain. Returns 0, or -1 when
 * the chain is full. */
int relay_admit_install(struct node *node);

#endif
