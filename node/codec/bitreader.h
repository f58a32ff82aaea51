/* bitreader: an MSB-first bit reader over a byte buffer, with the
 * Exp-Golomb codes of H.264/H.265 (ue(v), se(v)), for the record parsers
 * of media_info.
 *
 * Pure: no shared state; any thread (a br_t is the caller's).
 */
#ifndef WEIR_BITREADER_H
#define WEIR_BITREADER_H

#include <stddef.h>
#include <stdint.h>

/* MSB-first reader. A read past the end, or a value out of its range,
 * sets the sticky err and yields 0; callers check err at their
 * checkpoints, so nothing read after an error is ever used. */
typedef struct {
    const uint8_t *p;
    size_t len; /* bytes */
    size_t pos; /* bits consumed */
    int err;
} br_t;

void br_init(br_t *b, const uint8_t *p, size_t len);
/* Bits not read yet. */
size_t br_left(const br_t *b);
/* The next n <= 32 bits. */
uint32_t br_u(br_t *b, unsigned n);
/* Skips n bits. */
void br_skip(br_t *b, size_t n);
/* ue(v) (H.264 9.1); 32 or more leading zeros are an error. */
uint32_t br_ue(br_t *b);
/* ue(v) above max is an error. */
uint32_t br_ue_max(br_t *b, uint32_t max);
/* se(v) (H.264 9.1.1). */
int32_t br_se(br_t *b);

#endif
