/* rtmp_handshake: RTMP handshake, server and client roles (pure: no I/O).
 *
 * Server: feed C0+C1 then C2; after C0+C1 the answer S0+S1+S2 is available
 * from rtmp_hs_output(). If C1 carries a valid digest (the HMAC-SHA256 scheme
 * of Flash Player / FMLE / OBS / librtmp, schema 0 or 1) the server answers
 * with the complex scheme; otherwise with the simple one (S2 echoes C1).
 * Client: C0+C1 are available right after rtmp_hs_new(); feed S0+S1+S2, then
 * C2 is available and the handshake is done. (C2 is in fact produced as soon
 * as S1 is in, before S2, as the spec allows: a server that holds S2 until it
 * has C2 does not stall the client.) In complex mode the client fails only when the server
 * proved complex (valid S1 digest) and S2 is not signed over our C1 digest;
 * an S1 without a digest is taken as a simple answer, C2 echoes S1, and S2 is
 * not checked.
 * Error strings are static and start with "handshake: ".
 * HMAC-SHA256 and random bytes come from OpenSSL's libcrypto.
 * Threads: pure, no globals: any thread may call it on its own objects.
 */
#ifndef WEIR_RTMP_HANDSHAKE_H
#define WEIR_RTMP_HANDSHAKE_H

#include "common.h"

#define RTMP_HS_SIZE 1536

typedef struct rtmp_hs rtmp_hs_t;

typedef enum { RTMP_HS_SERVER, RTMP_HS_CLIENT } rtmp_hs_role_t;

/* complex: client role only; 1 sends a digest C1 (schema 1, like librtmp),
 * 0 a simple one. Returns NULL on allocation (or random generator) failure. */
rtmp_hs_t *rtmp_hs_new(rtmp_hs_role_t role, int complex);
void rtmp_hs_free(rtmp_hs_t *hs);

/* Consumes up to len bytes and sets *used. Returns PARSE_OK once the
 * handshake is complete (bytes after it are not consumed), PARSE_NEED_MORE,
 * or PARSE_ERR_PROTO with *err a static string (bad version byte, or, in the
 * client role, a server S2 that does not match). */
parse_rc_t rtmp_hs_feed(rtmp_hs_t *hs, const uint8_t *src, size_t len, size_t *used,
                        const char **err);

/* Bytes to send now (may be empty); the pointer stays valid until the next
 * feed. Call rtmp_hs_output_done() once they are queued. Output accumulates
 * until then, and may still hold S0+S1+S2 or C2 when feed returns PARSE_OK:
 * send it before anything else. */
void rtmp_hs_output(const rtmp_hs_t *hs, const uint8_t **data, size_t *len);
void rtmp_hs_output_done(rtmp_hs_t *hs);

/* After the peer's first packet: 1 if the peer used the complex scheme (a
 * client created with complex=0 does not look, and says 0). */
int rtmp_hs_peer_complex(const rtmp_hs_t *hs);

/* Exposed for tests: the digest offset in a 1536-byte packet for schema 0
 * (digest after 8+4 bytes) or 1 (after 8+764+4), and validation of a C1/S1
 * digest with the given key. Returns the digest offset, or -1. */
int rtmp_hs_find_digest(const uint8_t pkt[RTMP_HS_SIZE], const uint8_t *key, size_t keylen);

#endif
