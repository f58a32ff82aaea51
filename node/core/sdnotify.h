/* sdnotify: the service manager's readiness protocol (sd_notify(3)) without
 * libsystemd. When systemd starts the node with Type=notify it sets
 * $NOTIFY_SOCKET to an AF_UNIX datagram socket (a path, or "@name" in the
 * abstract namespace); the node sends "READY=1" once its listeners accept,
 * "RELOADING=1" ... "READY=1" around a SIGHUP reload and "STOPPING=1" at
 * SIGTERM. Without $NOTIFY_SOCKET every call is a no-op. No state of its
 * own: any thread (the node calls it from main() and the loop thread).
 */
#ifndef WEIR_SDNOTIFY_H
#define WEIR_SDNOTIFY_H

/* Sends state ("READY=1\nSTATUS=...", newline-separated assignments) in one
 * datagram to $NOTIFY_SOCKET. Returns 1 when sent, 0 when $NOTIFY_SOCKET is
 * unset or empty, -1 when it is malformed or the send failed (logged as a
 * warning: the service manager then times the start out, which says more
 * than the node could). */
int sdnotify_send(const char *state);

/* "RELOADING=1" with MONOTONIC_USEC (which systemd 253's Type=notify-reload
 * asks for), then the reload, is followed by sdnotify_send("READY=1"). */
int sdnotify_reloading(void);

#endif
