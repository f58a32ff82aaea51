/* reason: the names of the end reasons (see reason.h). */
#include "reason.h"

static const char *const NAMES[REASON_NCODES] = {
    [REASON_NONE] = "",
    [REASON_EOF] = "eof",
    [REASON_KICKED] = "kicked",
    [REASON_TIMEOUT] = "timeout",
    [REASON_SLOW] = "slow",
    [REASON_PROTOCOL] = "protocol",
    [REASON_REPLACED] = "replaced",
    [REASON_STREAM_ENDED] = "stream_ended",
    [REASON_SHUTDOWN] = "shutdown",
    [REASON_ERROR] = "error",
    [REASON_NOT_FOUND] = "not_found",
    [REASON_LOOP] = "loop",
    [REASON_HOP_LIMIT] = "hop_limit",
    [REASON_UPSTREAM_REFUSED] = "upstream_refused",
    [REASON_UPSTREAM_UNREACHABLE] = "upstream_unreachable",
    [REASON_UPSTREAM_CLOSED] = "upstream_closed",
    [REASON_UPSTREAM_SILENT] = "upstream_silent",
    [REASON_IDLE] = "idle",
    [REASON_RELAY_CHANGED] = "relay_changed",
    [REASON_RELAY_DELETED] = "relay_deleted",
    [REASON_LOCAL_ENDED] = "local_ended",
    [REASON_REFUSED] = "refused",
    [REASON_DRAIN] = "drain",
    [REASON_DONE] = "done",
    [REASON_TLS_VERIFY] = "tls_verify",
    [REASON_TLS_HANDSHAKE] = "tls_handshake",
};

const char *reason_name(reason_t r)
{
    return (unsigned)r < REASON_NCODES && NAMES[r] ? NAMES[r] : "";
}
