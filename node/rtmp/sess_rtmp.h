/* sess_rtmp: the RTMP server session on an accepted connection (loop
 * thread). sess_rtmp_start() attaches the protocol state to a new conn_t
 * made with SESS_RTMP_PROTO; on failure the connection is closed. */
#ifndef WEIR_SESS_RTMP_H
#define WEIR_SESS_RTMP_H

#include "conn.h"

extern const conn_proto_t SESS_RTMP_PROTO;

void sess_rtmp_start(conn_t *c);

#endif
