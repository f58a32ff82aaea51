/* ban: publishes and plays refused for a while after a kick (see ban.h). */
#include "ban.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "common.h"
#include "conn_limits.h" /* conn_limits_addr_t */
#include "log.h"
#include "node.h"

typedef struct {
    conn_limits_addr_t addr;
    char app[STREAM_APP_MAX];
    char name[STREAM_NAME_MAX];
    int64_t until_ms; /* monotonic; 0: a free entry */
} ban_t;

struct ban_table {
    ban_t e[BAN_MAX];
};

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

/* The entry of (addr, app, name) in force at now_ms, or NULL. */
static ban_t *ban_find(struct ban_table *t, const conn_limits_addr_t *a, const char *app,
                       const char *name, int64_t now_ms)
{
    for (size_t i = 0; i < BAN_MAX; i++) {
        ban_t *b = &t->e[i];
        if (b->until_ms > now_ms && memcmp(&b->addr, a, sizeof *a) == 0 &&
            strcmp(b->app, app) == 0 && strcmp(b->name, name) == 0)
            return b;
    }
    return NULL;
}

/* A free or expired entry, else the one that expires first. */
static ban_t *ban_slot(struct ban_table *t, int64_t now_ms)
{
    ban_t *first = &t->e[0];
    for (size_t i = 0; i < BAN_MAX; i++) {
        ban_t *b = &t->e[i];
        if (b->until_ms <= now_ms)
            return b;
        if (b->until_ms < first->until_ms)
            first = b;
    }
    return first;
}

int ban_add(node_t *node, const char *app, const char *name, const char *remote, uint32_t secs,
            int64_t now_ms)
{
    conn_limits_addr_t a;
    struct ban_table *t = node->bans;
    if (!t || !app || !name || conn_limits_addr_from_remote(str_or_empty(remote), &a) != 0)
        return -1;
    if (secs < 1)
        secs = 1;
    if (secs > BAN_MAX_S)
        secs = BAN_MAX_S;
    int64_t until = now_ms + (int64_t)secs * 1000;
    ban_t *b = ban_find(t, &a, app, name, now_ms);
    if (!b) {
        b = ban_slot(t, now_ms);
        memset(b, 0, sizeof *b);
        b->addr = a;
        snprintf(b->app, sizeof b->app, "%s", app);
        snprintf(b->name, sizeof b->name, "%s", name);
    }
    if (until > b->until_ms)
        b->until_ms = until;
    return 0;
}

unsigned ban_count(node_t *node, int64_t now_ms)
{
    unsigned n = 0;
    for (size_t i = 0; node->bans && i < BAN_MAX; i++)
        n += node->bans->e[i].until_ms > now_ms;
    return n;
}

/* The admission step: a banned address's publish or play of the stream. */
static admit_code_t check_ban(void *arg, node_t *node, const admit_req_t *req, admit_done_cb cb,
                              void *cb_arg, void **wait, admit_result_t *out)
{
    (void)arg, (void)cb, (void)cb_arg, (void)wait;
    const sess_info_t *si = req->si;
    conn_limits_addr_t a;
    int64_t now = weir_mono_ms();
    if (!node->bans || !si->app || !si->name ||
        conn_limits_addr_from_remote(str_or_empty(si->remote), &a) != 0)
        return ADMIT_OK;
    const ban_t *b = ban_find(node->bans, &a, si->app, si->name, now);
    if (!b)
        return ADMIT_OK;
    char why[96];
    snprintf(why, sizeof why, "banned after a kick for %lld s more",
             (long long)((b->until_ms - now + 999) / 1000));
    log_info(si->id, "%s: %s/%s from %s refused: %s", si->protocol, si->app, si->name, si->remote,
             why);
    admit_deny(out, ADMIT_BANNED, why);
    out->logged = 1;
    return ADMIT_BANNED;
}

static const admit_step_t BAN_STEP = {"ban", ADMIT_ORDER_BAN, check_ban, NULL};

static void ban_module_close(void *arg)
{
    node_t *node = arg;
    free(node->bans);
    node->bans = NULL;
}

static const node_module_t BAN_MODULE = {.name = "bans", .after_close = ban_module_close};

int ban_install(node_t *node)
{
    if (node->bans)
        return 0;
    node->bans = calloc(1, sizeof *node->bans);
    if (!node->bans)
        return -1;
    if (node_add_module(node, &BAN_MODULE, node) != 0 ||
        admit_add_step(node, &BAN_STEP, NULL) != 0) {
        free(node->bans);
        node->bans = NULL;
        return -1;
    }
    return 0;
}
