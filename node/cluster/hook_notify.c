/* hook_notify: the webhook manager's notifications (hooks.h,
 * hooks_internal.h): queues, delivery and retries.
 *
 * Notifications: per hook a FIFO of waiting events (at most
 * webhooks.queue_max; a new event when full drops the oldest waiting one)
 * plus the one being delivered ("cur", in flight or waiting for its retry
 * deadline, checked by hook_mgr_tick()). Payload texts are encoded once per
 * event and shared (refcounted) by every hook's queue.
 * Counters per hook: delivered (2xx), failed (attempts that got no 2xx),
 * retries (attempts after the first), dropped (events given up: queue
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common.h"
#include "hooks_internal.h"
#include "log.h"
#include "node.h"

/* Delay before attempt n+1 after n failed ones (webhooks.retry_*_ms). */
static int64_t backoff_ms(hook_mgr_t *m, uint32_t failures)
{
    const conf_t *c = &m->node->conf;
    return spec_store_backoff_ms(c->webhooks_retry_initial_ms, c->webhooks_retry_max_ms, failures,
                                 &m->rng);
}

/* 1 if the line may be logged now, with note set to "" or to " (N more
 * since the last message)"; else counts it as held back. */
static int limiter_pass(limiter_t *l, int64_t now_ms, char *note, size_t notelen)
{
    if (l->last_ms && now_ms - l->last_ms < HOOK_LOG_INTERVAL_MS) {
        l->held++;
        return 0;
    }
    note[0] = '\0';
    if (l->held)
        snprintf(note, notelen, " (%llu more since the last message)", (unsigned long long)l->held);
    l->held = 0;
    l->last_ms = now_ms;
    return 1;
}

static void body_unref(body_t *b)
{
    if (b && --b->refs == 0)
        free(b);
}

static void item_free(item_t *it)
{
    if (!it)
        return;
    body_unref(it->body);
    free(it);
}

static void kick(hook_mgr_t *m)
{
    event_active(m->kick, EV_TIMEOUT, 1);
}

static void notify_done(call_t *c)
{
    hook_t *h = c->owner;
    hook_mgr_t *m = h->m;
    int64_t now = weir_mono_ms();
    h->call = NULL;
    h->last_status = c->status;
    h->last_wall_ms = weir_wall_ms();
    item_t *it = h->cur;
    if (hook_call_ok(c)) {
        h->last_error[0] = '\0';
        h->delivered++;
        h->cur = NULL;
        item_free(it);
    } else {
        hook_call_result(c, h->last_error, sizeof h->last_error);
        h->failed++;
        if (it->attempts >= m->node->conf.webhooks_max_attempts) {
            char note[64];
            h->dropped++;
            if (limiter_pass(&h->giveup_log, now, note, sizeof note))
                log_warn(0, "webhook %s: event %llu (%s) dropped after %u attempts: %s%s",
                         h->spec.id, (unsigned long long)it->body->id, it->body->type,
                         (unsigned)it->attempts, h->last_error, note);
            h->cur = NULL;
            item_free(it);
        } else {
            h->retry_at_ms = now + backoff_ms(m, it->attempts);
            log_debug(0, "webhook %s: event %llu attempt %u failed: %s", h->spec.id,
                      (unsigned long long)it->body->id, (unsigned)it->attempts, h->last_error);
        }
    }
    hook_call_free(c);
    hook_notify_pump(h, now);
}

void hook_notify_pump(hook_t *h, int64_t now_ms)
{
    while (!h->call) {
        if (!h->cur) {
            item_t *it = h->q_head;
            if (!it)
                return;
            h->q_head = it->next;
            if (!h->q_head)
                h->q_tail = NULL;
            h->nq--;
            it->next = NULL;
            h->cur = it;
            h->retry_at_ms = 0;
        }
        if (h->retry_at_ms > now_ms)
            return;
        item_t *it = h->cur;
        char delivery[24], err[HOOK_ERR_MAX];
        snprintf(delivery, sizeof delivery, "%llu", (unsigned long long)it->body->id);
        it->attempts++;
        if (it->attempts > 1)
            h->retries++;
        h->call = hook_call_start(h->m, &h->spec, it->body->type, delivery, it->body->text,
                                  it->body->len, notify_done, h, err, sizeof err);
        if (h->call)
            return;
        /* Could not even start: a failed attempt, retried later. */
        h->failed++;
        snprintf(h->last_error, sizeof h->last_error, "%s", err);
        h->last_status = 0;
        if (it->attempts >= h->m->node->conf.webhooks_max_attempts) {
            h->dropped++;
            log_warn(0, "webhook %s: event %llu dropped: %s", h->spec.id,
                     (unsigned long long)it->body->id, err);
            h->cur = NULL;
            item_free(it);
            continue;
        }
        h->retry_at_ms = now_ms + backoff_ms(h->m, it->attempts);
        return;
    }
}

static void hook_enqueue(hook_t *h, body_t *b, int64_t now_ms)
{
    item_t *it = calloc(1, sizeof *it);
    if (!it) {
        h->dropped++;
        log_warn(0, "webhook %s: event %llu dropped: out of memory", h->spec.id,
                 (unsigned long long)b->id);
        return;
    }
    it->body = b;
    b->refs++;
    uint32_t max = h->m->node->conf.webhooks_queue_max;
    if (h->nq >= max && h->q_head) {
        item_t *old = h->q_head;
        h->q_head = old->next;
        if (!h->q_head)
            h->q_tail = NULL;
        h->nq--;
        h->dropped++;
        char note[64];
        if (limiter_pass(&h->overflow_log, now_ms, note, sizeof note))
            log_warn(0,
                     "webhook %s: queue full (%u waiting): dropped the oldest, event %llu (%s)%s",
                     h->spec.id, (unsigned)max, (unsigned long long)old->body->id, old->body->type,
                     note);
        item_free(old);
    }
    if (h->q_tail)
        h->q_tail->next = it;
    else
        h->q_head = it;
    h->q_tail = it;
    h->nq++;
}

void hook_mgr_notify(hook_mgr_t *m, const char *type, const cJSON *payload)
{
    if (!m || !type || !payload)
        return;
    int any = 0;
    for (hook_t *h = m->hooks; h && !any; h = h->next)
        any = h->spec.enabled && hook_spec_wants(&h->spec, type);
    if (!any)
        return;
    char *text = cJSON_PrintUnformatted(payload);
    size_t len = text ? strlen(text) : 0;
    body_t *b = text ? malloc(sizeof *b + len + 1) : NULL;
    if (!b) {
        cJSON_free(text);
        log_warn(0, "webhooks: %s not delivered: out of memory", type);
        return;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(payload, "id");
    b->refs = 1; /* ours until the loop ends */
    b->id = cJSON_IsNumber(id) && id->valuedouble > 0 ? (uint64_t)id->valuedouble : 0;
    snprintf(b->type, sizeof b->type, "%s", type);
    b->len = len;
    memcpy(b->text, text, len + 1);
    cJSON_free(text);
    int64_t now = weir_mono_ms();
    for (hook_t *h = m->hooks; h; h = h->next)
        if (h->spec.enabled && hook_spec_wants(&h->spec, type))
            hook_enqueue(h, b, now);
    body_unref(b);
    kick(m); /* deliveries start from the loop, not inside the emitter */
}

size_t hook_mgr_pending(const hook_mgr_t *m)
{
    size_t n = 0;
    for (const hook_t *h = m ? m->hooks : NULL; h; h = h->next)
        n += h->nq + (h->cur ? 1 : 0);
    return n;
}

void hook_mgr_tick(hook_mgr_t *m, int64_t now_ms)
{
    if (!m)
        return;
    for (hook_t *h = m->hooks; h; h = h->next)
        if (h->cur && !h->call && h->retry_at_ms <= now_ms)
            hook_notify_pump(h, now_ms);
}

void hook_notify_clear(hook_t *h)
{
    hook_call_free(h->call);
    h->call = NULL;
    item_free(h->cur);
    h->cur = NULL;
    item_t *it;
    while ((it = h->q_head) != NULL) {
        h->q_head = it->next;
        item_free(it);
    }
    h->q_tail = NULL;
    h->nq = 0;
}

void hook_notify_kick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hook_mgr_t *m = arg;
    int64_t now = weir_mono_ms();
    for (hook_t *h = m->hooks; h; h = h->next)
        hook_notify_pump(h, now);
}
