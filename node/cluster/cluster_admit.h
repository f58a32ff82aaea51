/* cluster_admit: the cluster's steps of the admission chain (admit.h):
 * drain, the "apps" rules and the authorizing hooks. It owns nothing but
 * the hooks step's waiting decisions (freed by core's admit). Loop thread
 * only. */
#ifndef WEIR_CLUSTER_ADMIT_H
#define WEIR_CLUSTER_ADMIT_H

struct node;

/* Adds the drain (ADMIT_ORDER_DRAIN), ban (ADMIT_ORDER_BAN, ban.h), rules
 * (ADMIT_ORDER_RULES) and hooks (ADMIT_ORDER_HOOKS) steps to node's chain; the hooks step decides through
 * node->hooks (NULL: no hook decides). Returns 0, or -1 when the chain is
 * full. */
int cluster_admit_install(struct node *node);

#endif
