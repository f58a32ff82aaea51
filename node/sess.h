/* sess: the protocol sessions on an accepted connection. Each start function
 * attaches its protocol state to a new conn_t; on failure the connection is
 * closed. */
#ifndef WEIR_SESS_H
#define WEIR_SESS_H

#include "conn.h"

extern const conn_proto_t SESS_RTMP_PROTO;
extern const conn_proto_t SESS_HTTPFLV_PROTO;

void sess_rtmp_start(conn_t *c);
void sess_httpflv_start(conn_t *c);

#endif
