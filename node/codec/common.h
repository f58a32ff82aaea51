/* Weir: shared result codes and small helpers used by every module.
 * Threads: any; weir_mono_ms()/weir_wall_ms() read the clock, nothing here
 * keeps state.
 */
#ifndef WEIR_COMMON_H
#define WEIR_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define WEIR_VERSION "0.1.0"

/* Result of an incremental parser fed bytes. */
typedef enum {
    PARSE_OK = 0,          /* a unit (message, request, stage) is complete */
    PARSE_NEED_MORE = 1,   /* all input consumed, more bytes needed */
    PARSE_ERR_PROTO = -1,  /* malformed input; *err names the problem */
    PARSE_ERR_TOO_BIG = -2 /* a bound was exceeded; *err names it */
} parse_rc_t;

/* Generic status codes: functions return 0 or one of these (negative). */
enum {
    NODE_OK = 0,
    NODE_ENOMEM = -1,
    NODE_EINVAL = -2,
    NODE_EPROTO = -3,
    NODE_EBUSY = -4,
    NODE_ENOTFOUND = -5,
    NODE_EIO = -6,
    NODE_ELIMIT = -7,
    NODE_EMEMORY = -8, /* a memory bound (limits.max_memory_mb) is reached */
    NODE_EPRECOND = -9 /* an If-Match precondition failed (HTTP 412) */
};

/* Monotonic clock in milliseconds: timeouts, pacing, lag accounting. */
static inline int64_t weir_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wall clock (Unix time) in milliseconds: reported times, the event log. */
static inline int64_t weir_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The value of one hex digit (either case), or -1. */
static inline int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static inline uint32_t rd_be16(const uint8_t *p)
{
    return ((uint32_t)p[0] << 8) | p[1];
}
static inline uint32_t rd_be24(const uint8_t *p)
{
    return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
}
static inline uint32_t rd_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint32_t rd_le32(const uint8_t *p)
{
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}
static inline void wr_be16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void wr_be24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 16);
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)v;
}
static inline void wr_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void wr_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

#endif
