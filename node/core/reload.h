/* reload: what SIGHUP does (README "Signals"), and the certificate reload
 * (POST /api/v1/node/reload-certs, and SIGHUP too: see node_reload_certs()).
 * It re-reads the config file
 * and applies what a restart would apply for these keys: the log file is
 * reopened at log.file (after logrotate renamed it: a new file at the
 * configured path) and log.level is set, unless a level was set over the
 * API, which stays (as at a restart); limits.* and the "apps" rules apply to
 * the sessions to come (conn_limits_set(): the per-address limits need a
 * restart when the address table is too small for them); a changed tls.ca
 * is the CA file of the relay links and webhook deliveries to come once it
 * loads (tls_client_set_default_ca()). Any other key that changed is named
 * in a warning and needs a restart. A config file that no longer loads is
 * logged and the log file is reopened at the path in use. Under systemd
 * (Type=notify) the reload is framed by RELOADING=1 and READY=1 (sdnotify.h).
 * Loop thread. */
#ifndef WEIR_RELOAD_H
#define WEIR_RELOAD_H

#include "node.h"

/* Runs the SIGHUP reload; logs "SIGHUP: reopened log <path> ..." when the
 * log file is reopened (or the error when it cannot be: logging goes on to
 * the old file). */
void node_reload(node_t *node);

#define NODE_RELOAD_NO_TLS (-2) /* node_reload_certs(): no TLS listener configured */

/* Loads the certificates named by c's tls.cert, tls.key and tls.sni again
 * (c: the config file re-read by SIGHUP, or node->conf for the API; by
 * names the caller in the log: "SIGHUP", "API"). Returns 0 (new TLS
 * handshakes use them, sessions up go on; node->conf's tls keys are c's),
 * NODE_RELOAD_NO_TLS, or -1 with the reason in err ("tls.cert: cannot load
 * ..."): logged, the running certificates stay. In every case the TLS
 * clients' cached contexts are dropped (tls_client_flush()): the next
 * relay link or webhook reads its CA file (tls.ca, a relay's tls_ca) again. */
int node_reload_certs(node_t *node, const conf_t *c, const char *by, char *err, size_t errlen);

#endif
