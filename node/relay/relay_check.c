/* relay_check: the serving side of relay loop protection (see relay.h):
 * the check of a relay request's hops and via list, and its relay.refused
 * event, recorded through the node's event sink. Loop thread only. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "conn.h"
#include "node.h"
#include "relay.h"
#include "relay_hops.h"

int relay_check_request(node_t *node, unsigned hops, const char *via, char *err, size_t errlen)
{
    unsigned max = node->conf.relay_max_hops;
    if (hops > max) {
        snprintf(err, errlen, RELAY_HOPS_LIMIT_TEXT " %u reached (request carries %u hops)", max,
                 hops);
        return -1;
    }
    const char *me = node_id(node);
    size_t ml = strlen(me);
    if (via && ml) {
        for (const char *p = via; *p;) {
            const char *comma = strchr(p, ',');
            size_t l = comma ? (size_t)(comma - p) : strlen(p);
            if (l == ml && memcmp(p, me, ml) == 0) {
                snprintf(err, errlen,
                         RELAY_HOPS_LOOP_TEXT ": this node (%s) is already on the path", me);
                return -1;
            }
            if (!comma)
                break;
            p = comma + 1;
        }
    }
    return 0;
}

void relay_refused_event(node_t *node, const sess_info_t *si, unsigned hops, const char *via,
                         reason_t why, const char *reason)
{
    cJSON *f = conn_event_fields(si);
    if (f) {
        cJSON_AddNumberToObject(f, "hops", hops);
        cJSON_AddStringToObject(f, "via", via);
        cJSON_AddStringToObject(f, "reason", reason_name(why));
        cJSON_AddStringToObject(f, "message", reason);
    }
    node_event(node, "relay.refused", f);
}
