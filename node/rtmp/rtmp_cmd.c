/* rtmp_cmd: a client's command decoded (see rtmp_cmd.h). */
#include "rtmp_cmd.h"

#include "log.h"

int rtmp_cmd_decode(rtmp_cmd_t *cmd, uint64_t sess_id, const uint8_t *p, uint32_t len,
                    const char **why)
{
    const char *err = NULL;
    cmd->n = 0;
    if (amf0_decode_all(p, len, cmd->vals, RTMP_MAX_CMD_VALUES, &cmd->n, &err) != 0) {
        log_warn(sess_id, "rtmp: bad command: %s", err ? err : "amf0 error");
        *why = "protocol error: bad AMF0 command";
        return -1;
    }
    cmd->name = cmd->n > 0 ? amf0_str(&cmd->vals[0]) : NULL;
    cmd->txn = cmd->n > 1 ? amf0_num(&cmd->vals[1], 0) : 0;
    if (!cmd->name) {
        log_warn(sess_id, "rtmp: command without a name");
        rtmp_cmd_free(cmd);
        *why = "protocol error: command without a name";
        return -1;
    }
    return 0;
}

void rtmp_cmd_free(rtmp_cmd_t *cmd)
{
    amf0_values_free(cmd->vals, cmd->n);
    cmd->n = 0;
}
