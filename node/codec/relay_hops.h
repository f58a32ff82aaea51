/* relay_hops: the relay information on the wire, shared by the server
 * sessions and the relay links:
 *  - loop protection, sent up the chain with a relay request (X-Weir-Hops
 *    and X-Weir-Via headers, the RTMP weir_hops/weir_via query): the via
 *    list of node ids, the error text a refusal carries, and the parser of
 *    the RTMP form;
 *  - the source identity, sent down the chain in the answer to a relay
 *    request (HTTP-FLV: an X-Weir-Source header; RTMP: a weir_source
 *    property of NetStream.Play.Start's info object) and with a push
 *    relay's publish (weir_source in the stream name's query):
 *    "<id>:<offset>", the
 *    id of the stream's timeline (set where it is published, kept by every
 *    node that relays it) and the offset (ms, mod 2^32) of the answering
 *    node's timestamps on it. Two upstreams with the same id carry the same
 *    frames, their timestamps differing by the offsets' difference.
 * Pure; layer codec, usable from any thread. */
#ifndef WEIR_RELAY_HOPS_H
#define WEIR_RELAY_HOPS_H

#include <stddef.h>
#include <stdint.h>

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

/* The weir_source parameter of an RTMP stream name's query (a push
 * relay's publish names the source of what it pushes): its value into out
 * (outlen bytes; "" when absent or too long), for relay_source_parse(). */
void relay_hops_query_source(const char *query, char *out, size_t outlen);

/* Source identity: ids are 1..RELAY_SOURCE_ID_MAX-1 bytes of
 * [A-Za-z0-9._-]; the wire form is "<id>:<offset>" (offset decimal,
 * 0..4294967295), at most RELAY_SOURCE_MAX bytes with its NUL. */
#define RELAY_SOURCE_ID_MAX 80
#define RELAY_SOURCE_MAX (RELAY_SOURCE_ID_MAX + 11)
#define RELAY_SOURCE_HEADER "X-Weir-Source"
#define RELAY_SOURCE_PROP "weir_source"

/* 1 if id is a valid source id. */
int relay_source_id_valid(const char *id);
/* Parses the wire form (NULL: absent) into id (RELAY_SOURCE_ID_MAX bytes)
 * and *off. Returns 0, or -1 (absent or malformed: id is "" then). */
int relay_source_parse(const char *text, char id[RELAY_SOURCE_ID_MAX], uint32_t *off);
/* Writes the wire form of (id, off) into out (RELAY_SOURCE_MAX bytes).
 * Returns 0, or -1 for an invalid id (out is "" then). */
int relay_source_format(char out[RELAY_SOURCE_MAX], const char *id, uint32_t off);

#endif
