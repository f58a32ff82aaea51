/* rtmp_cmd: a client's AMF0 command decoded the same way on both loops
 * (sess_rtmp.c on the event loop, rtmp_play_worker.c on a worker thread):
 * its values, its name and its transaction id, or why it is a protocol
 * error.
 * Threads: any (nothing shared; logs on the given session id).
 */
#ifndef WEIR_RTMP_CMD_H
#define WEIR_RTMP_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "amf0.h"

/* The values of a command that are decoded (more is a protocol error). */
#define RTMP_MAX_CMD_VALUES 16

typedef struct {
    amf0_value_t vals[RTMP_MAX_CMD_VALUES];
    size_t n;         /* values decoded */
    const char *name; /* vals[0] */
    double txn;       /* vals[1], 0 when absent */
} rtmp_cmd_t;

/* Decodes the command's len bytes at p into cmd: 0 (free it with
 * rtmp_cmd_free()), or -1 with *why, the session's end (static: a bad
 * AMF0 command, or one without a name; logged at warn on sess_id; nothing
 * to free). */
int rtmp_cmd_decode(rtmp_cmd_t *cmd, uint64_t sess_id, const uint8_t *p, uint32_t len,
                    const char **why);
void rtmp_cmd_free(rtmp_cmd_t *cmd);

#endif
