/* relay_admit: relay loop protection, a step of admission (see
 * relay_admit.h). */
#include "relay_admit.h"

#include <stdio.h>

#include "admit.h"
#include "node.h"
#include "relay.h"

static admit_code_t check_relay(void *arg, node_t *node, const admit_req_t *req, admit_done_cb cb,
                                void *cb_arg, void **wait, admit_result_t *out)
{
    (void)arg, (void)cb, (void)cb_arg, (void)wait;
    const char *via = req->via ? req->via : "";
    char err[ADMIT_WHY_MAX];
    admit_code_t code = ADMIT_RELAY_BAD;
    if (req->relay_error) {
        snprintf(err, sizeof err, "%s", req->relay_error);
    } else if (req->hops == 0 && !via[0]) {
        return ADMIT_OK; /* an ordinary client */
    } else if (relay_check_request(node, req->hops, via, err, sizeof err) == 0) {
        return ADMIT_OK;
    } else {
        code = req->hops > node->conf.relay_max_hops ? ADMIT_RELAY_HOPS : ADMIT_RELAY_LOOP;
    }
    admit_deny(out, code, err);
    snprintf(out->desc, sizeof out->desc, "%s", err);
    relay_refused_event(node, req->si, req->hops, via, admit_reason(code), err);
    return code;
}

static const admit_step_t RELAY_STEP = {"relay", ADMIT_ORDER_RELAY, check_relay, NULL};

int relay_admit_install(node_t *node)
{
    return admit_add_step(node, &RELAY_STEP, NULL);
}
