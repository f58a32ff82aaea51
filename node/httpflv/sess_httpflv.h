/* sess_httpflv: the HTTP-FLV server session on an accepted connection
 * (loop thread). sess_httpflv_start() attaches the protocol state to a new
 * conn_t made with SESS_HTTPFLV_PROTO; on failure the connection is
 * closed. */
#ifndef WEIR_SESS_HTTPFLV_H
#define WEIR_SESS_HTTPFLV_H

#include "conn.h"

extern const conn_proto_t SESS_HTTPFLV_PROTO;

void sess_httpflv_start(conn_t *c);

#endif
