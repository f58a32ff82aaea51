/* reload: what SIGHUP does (README "Signals"). It re-reads the config file
 * and applies what a restart would apply for two keys: the log file is
 * reopened at log.file (after logrotate renamed it: a new file at the
 * configured path) and log.level is set, unless a level was set over the
 * API, which stays (as at a restart). Any other key that changed is named
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

#endif
