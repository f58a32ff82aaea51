/* relay_hops: the bounds of relay loop protection on the wire, shared by
 * the server sessions that read it (X-Weir-Hops and X-Weir-Via headers,
 * the RTMP hops/via query) and the relay links that send it: the via list
 * of node ids and the error text a refusal carries, and the parser of the
 * RTMP form. Pure; layer codec, usable from any thread. */
#ifndef WEIR_RELAY_HOPS_H
#define WEIR_RELAY_HOPS_H

#include <stddef.h>

#define RELAY_VIA_MAX 1024 /* comma-separated node ids, with its NUL */
#define RELAY_ERR_MAX 256

/* How a serving node's refusal of a relay request begins (see
 * relay_check_request()): the error text, also the RTMP status description
 * a refused link reads back to tell a loop from other refusals. */
#define RELAY_HOPS_LOOP_TEXT "relay loop"
#define RELAY_HOPS_LIMIT_TEXT "relay hop limit"

/* 1 if text (a refusal's description, may be NULL) begins with
 * RELAY_HOPS_LOOP_TEXT or RELAY_HOPS_LIMIT_TEXT: retrying cannot help. */
int relay_hops_refusal_is_loop(const char *text);

/* Parses the relay parameters from an RTMP stream name's query
 * ("weir_hops=2&weir_via=a,b&x=y"): *hops 0 and via "" when absent. Returns
 * 0, or -1 for a malformed hop count. via gets at most vialen-1 bytes. */
int relay_hops_parse_query(const char *query, unsigned *hops, char *via, size_t vialen);

#endif
