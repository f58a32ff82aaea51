/* tls_sni: Weir's own part of TLS server name indication: which configured
 * host name (tls.sni[].host) a client's server name selects. Names are
 * compared without regard to case, a trailing dot on the client's name is
 * ignored, and a pattern "*.example.com" stands for exactly one more label
 * ("a.example.com", not "example.com" nor "a.b.example.com"). An exact
 * match wins over a wildcard; among equals, the first listed wins.
 *
 * Pure: no shared state, no I/O; any thread.
 */
#ifndef WEIR_TLS_SNI_H
#define WEIR_TLS_SNI_H

#include <stddef.h>

#define TLS_SNI_NAME_MAX 253 /* a DNS name's length at most (no trailing dot) */

/* 1 if pattern is a host name tls.sni may list: labels of letters, digits
 * and '-' (1..63 bytes, not starting or ending with '-'), joined by '.',
 * TLS_SNI_NAME_MAX bytes at most, optionally "*." followed by such a name
 * of two labels or more. 0 otherwise. */
int tls_sni_pattern_valid(const char *pattern);

/* 1 if the client's server name (len bytes, not NUL-terminated) is one
 * pattern stands for, 0 otherwise (also for any name with a byte that no
 * host name has). */
int tls_sni_match(const char *pattern, const char *name, size_t len);

/* The index of the pattern that name selects (an exact match first, then
 * the first wildcard that matches), or -1: the default certificate. */
int tls_sni_pick(const char *const *patterns, size_t n, const char *name, size_t len);

#endif
