#include "conn_limits.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

static const char *const NAMES[LIMIT_KINDS] = {
    "max_connections",
    "max_connections_per_address",
    "new_connections_per_address",
    "max_streams",
    "max_message_size",
    "max_chunk_streams",
    "handshake_timeout",
    "idle_timeout",
    "slow_player",
    "request_timeout",
    "header_too_large",
    "unread_replies",
    "api_connections_per_address",
    "file_descriptors",
    "max_memory",
    "max_metadata_size",
    "tls_handshakes",
    "tls_handshake_timeout",
};

/* One address: in a hash chain while used; on the idle list (oldest
 * first) while it has no open connection but its bucket is remembered; on
 * the free list otherwise. */
typedef struct {
    conn_limits_addr_t addr;
    uint32_t conns;
    uint32_t hnext;      /* hash chain */
    uint32_t prev, next; /* idle list, or free list (next only) */
    uint32_t bucket;
    int64_t tokens;  /* in thousandths of a token: exact refills */
    int64_t last_ms; /* tokens counted up to then */
} entry_t;

struct conn_limits {
    uint32_t max_conns, max_per_addr, rate;
    int64_t burst;   /* thousandths of a token */
    uint64_t k0, k1; /* hash key */
    size_t open;
    /* the address table (cap 0: not used) */
    entry_t *e;
    uint32_t *buckets;
    uint32_t cap, nbuckets, high; /* entries [0, high) have been used once */
    uint32_t used;
    uint32_t free_head;
    uint32_t idle_head, idle_tail;
    /* refusals */
    uint64_t refused[LIMIT_KINDS];
    uint64_t unlogged[LIMIT_KINDS];
    int64_t logged_ms[LIMIT_KINDS];
    int logged_once[LIMIT_KINDS];
};

const char *conn_limits_kind_name(limit_kind_t k)
{
    return (unsigned)k < LIMIT_KINDS ? NAMES[k] : "?";
}

int conn_limits_addr_from_sockaddr(const struct sockaddr *sa, conn_limits_addr_t *out)
{
    memset(out, 0, sizeof *out);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        out->b[10] = out->b[11] = 0xff;
        memcpy(&out->b[12], &in->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(out->b, &in6->sin6_addr, 16);
        return 0;
    }
    return -1;
}

int conn_limits_addr_from_remote(const char *remote, conn_limits_addr_t *out)
{
    char host[64];
    memset(out, 0, sizeof *out);
    if (remote[0] == '[') {
        const char *end = strchr(remote, ']');
        size_t n = end ? (size_t)(end - remote - 1) : 0;
        if (!end || n == 0 || n >= sizeof host)
            return -1;
        memcpy(host, remote + 1, n);
        host[n] = '\0';
        return inet_pton(AF_INET6, host, out->b) == 1 ? 0 : -1;
    }
    const char *colon = strrchr(remote, ':');
    size_t n = colon ? (size_t)(colon - remote) : 0;
    if (!colon || n == 0 || n >= sizeof host)
        return -1;
    memcpy(host, remote, n);
    host[n] = '\0';
    out->b[10] = out->b[11] = 0xff;
    return inet_pton(AF_INET, host, &out->b[12]) == 1 ? 0 : -1;
}

/* ---- the address table ---------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint32_t addr_bucket(const conn_limits_t *l, const conn_limits_addr_t *a)
{
    uint64_t w0, w1;
    memcpy(&w0, a->b, 8);
    memcpy(&w1, a->b + 8, 8);
    uint64_t h = mix(w0 ^ l->k0);
    h = mix(h ^ w1 ^ l->k1);
    return (uint32_t)(h & (l->nbuckets - 1));
}

static uint32_t table_find(const conn_limits_t *l, const conn_limits_addr_t *a, uint32_t b)
{
    for (uint32_t i = l->buckets[b]; i != NIL; i = l->e[i].hnext)
        if (memcmp(l->e[i].addr.b, a->b, 16) == 0)
            return i;
    return NIL;
}

static void idle_unlink(conn_limits_t *l, uint32_t i)
{
    entry_t *e = &l->e[i];
    if (e->prev != NIL)
        l->e[e->prev].next = e->next;
    else
        l->idle_head = e->next;
    if (e->next != NIL)
        l->e[e->next].prev = e->prev;
    else
        l->idle_tail = e->prev;
    e->prev = e->next = NIL;
}

static void idle_append(conn_limits_t *l, uint32_t i)
{
    entry_t *e = &l->e[i];
    e->next = NIL;
    e->prev = l->idle_tail;
    if (l->idle_tail != NIL)
        l->e[l->idle_tail].next = i;
    else
        l->idle_head = i;
    l->idle_tail = i;
}

/* Takes an idle entry out of the table onto the free list. */
static void table_remove(conn_limits_t *l, uint32_t i)
{
    entry_t *e = &l->e[i];
    uint32_t *pp = &l->buckets[e->bucket];
    while (*pp != i)
        pp = &l->e[*pp].hnext;
    *pp = e->hnext;
    e->hnext = NIL;
    e->next = l->free_head;
    l->free_head = i;
    l->used--;
}

/* The tokens of e at now_ms (refilled, at most the burst). */
static void refill(const conn_limits_t *l, entry_t *e, int64_t now_ms)
{
    if (now_ms > e->last_ms) {
        e->tokens += (now_ms - e->last_ms) * (int64_t)l->rate;
        if (e->tokens > l->burst)
            e->tokens = l->burst;
        e->last_ms = now_ms;
    }
}

/* Forgets the oldest idle addresses whose bucket is full again (at most
 * two per call: O(1)). */
static void forget_refilled(conn_limits_t *l, int64_t now_ms)
{
    for (int n = 0; n < 2 && l->idle_head != NIL; n++) {
        uint32_t i = l->idle_head;
        entry_t *e = &l->e[i];
        if (l->rate) {
            refill(l, e, now_ms);
            if (e->tokens < l->burst)
                return;
        }
        idle_unlink(l, i);
        table_remove(l, i);
    }
}

/* A fresh entry for a in bucket b, or NIL when every entry holds open
 * connections. */
static uint32_t table_add(conn_limits_t *l, const conn_limits_addr_t *a, uint32_t b, int64_t now_ms)
{
    uint32_t i;
    if (l->free_head != NIL) {
        i = l->free_head;
        l->free_head = l->e[i].next;
    } else if (l->high < l->cap) {
        i = l->high++;
    } else if (l->idle_head != NIL) {
        i = l->idle_head; /* the address idle the longest */
        idle_unlink(l, i);
        table_remove(l, i);
        l->free_head = l->e[i].next;
    } else {
        return NIL;
    }
    entry_t *e = &l->e[i];
    e->addr = *a;
    e->conns = 0;
    e->bucket = b;
    e->tokens = l->burst;
    e->last_ms = now_ms;
    e->prev = e->next = NIL;
    e->hnext = l->buckets[b];
    l->buckets[b] = i;
    l->used++;
    return i;
}

/* The address entries a table for max_connections holds. */
static uint64_t table_cap(uint32_t max_connections)
{
    return max_connections ? 2ull * max_connections + 1024 : LIMITS_ADDR_UNLIMITED;
}

conn_limits_t *conn_limits_new(uint32_t max_connections, uint32_t max_per_address,
                               uint32_t rate_per_s, uint64_t seed)
{
    conn_limits_t *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->max_conns = max_connections;
    l->max_per_addr = max_per_address;
    l->rate = rate_per_s;
    l->burst = 2000 * (int64_t)rate_per_s;
    l->k0 = mix(seed ^ 0x9e3779b97f4a7c15ULL);
    l->k1 = mix(l->k0 ^ seed);
    l->free_head = l->idle_head = l->idle_tail = NIL;
    if (max_per_address || rate_per_s) {
        uint64_t cap = table_cap(max_connections);
        uint32_t nb = 1024;
        while (nb < cap)
            nb <<= 1;
        l->cap = (uint32_t)cap;
        l->nbuckets = nb;
        /* calloc: large tables come as untouched zero pages. */
        l->e = calloc(l->cap, sizeof *l->e);
        l->buckets = malloc(nb * sizeof *l->buckets);
        if (!l->e || !l->buckets) {
            conn_limits_free(l);
            return NULL;
        }
        memset(l->buckets, 0xff, nb * sizeof *l->buckets); /* NIL */
    }
    return l;
}

int conn_limits_set(conn_limits_t *l, uint32_t max_connections, uint32_t max_per_address,
                    uint32_t rate_per_s)
{
    if ((max_per_address || rate_per_s) && (!l->cap || table_cap(max_connections) > l->cap))
        return -1;
    l->max_conns = max_connections;
    l->max_per_addr = max_per_address;
    l->rate = rate_per_s;
    l->burst = 2000 * (int64_t)rate_per_s;
    return 0;
}

void conn_limits_free(conn_limits_t *l)
{
    if (!l)
        return;
    free(l->e);
    free(l->buckets);
    free(l);
}

int conn_limits_admit(conn_limits_t *l, const conn_limits_addr_t *a, int64_t now_ms,
                      limit_kind_t *why)
{
    if (l->max_conns && l->open >= l->max_conns) {
        *why = LIMIT_MAX_CONNECTIONS;
        return -1;
    }
    if (l->cap && a) {
        forget_refilled(l, now_ms);
        uint32_t b = addr_bucket(l, a);
        uint32_t i = table_find(l, a, b);
        if (i == NIL && (i = table_add(l, a, b, now_ms)) == NIL) {
            *why = LIMIT_MAX_CONNECTIONS; /* the table is full of open connections */
            return -1;
        }
        entry_t *e = &l->e[i];
        if (l->rate) {
            refill(l, e, now_ms);
            if (e->tokens < 1000) {
                *why = LIMIT_NEW_CONNECTIONS_PER_ADDRESS;
                return -1;
            }
            e->tokens -= 1000;
        }
        if (l->max_per_addr && e->conns >= l->max_per_addr) {
            *why = LIMIT_MAX_CONNECTIONS_PER_ADDRESS;
            return -1;
        }
        if (e->conns++ == 0 && (e->prev != NIL || l->idle_head == i))
            idle_unlink(l, i);
    }
    l->open++;
    return 0;
}

void conn_limits_release(conn_limits_t *l, const conn_limits_addr_t *a)
{
    if (l->open)
        l->open--;
    if (!l->cap || !a)
        return;
    uint32_t i = table_find(l, a, addr_bucket(l, a));
    if (i == NIL || l->e[i].conns == 0)
        return; /* not admitted through conn_limits_admit(): nothing to undo */
    entry_t *e = &l->e[i];
    if (--e->conns > 0)
        return;
    if (l->rate)
        idle_append(l, i); /* its bucket is remembered until full again */
    else
        table_remove(l, i);
}

size_t conn_limits_open(const conn_limits_t *l)
{
    return l->open;
}

size_t conn_limits_addresses(const conn_limits_t *l)
{
    return l->used;
}

size_t conn_limits_capacity(const conn_limits_t *l)
{
    return l->cap;
}

/* ---- refusals --------------------------------------------------------------- */

int conn_limits_refused(conn_limits_t *l, limit_kind_t k, int64_t now_ms, uint64_t *suppressed)
{
    if ((unsigned)k >= LIMIT_KINDS)
        return 0;
    l->refused[k]++;
    if (l->logged_once[k] && now_ms - l->logged_ms[k] < LIMITS_LOG_INTERVAL_MS) {
        l->unlogged[k]++;
        return 0;
    }
    *suppressed = l->unlogged[k];
    l->unlogged[k] = 0;
    l->logged_ms[k] = now_ms;
    l->logged_once[k] = 1;
    return 1;
}

void conn_limits_count(conn_limits_t *l, limit_kind_t k)
{
    if ((unsigned)k < LIMIT_KINDS)
        l->refused[k]++;
}

uint64_t conn_limits_refused_total(const conn_limits_t *l, limit_kind_t k)
{
    return (unsigned)k < LIMIT_KINDS ? l->refused[k] : 0;
}

uint64_t conn_limits_unlogged(conn_limits_t *l, limit_kind_t k, int64_t now_ms)
{
    if ((unsigned)k >= LIMIT_KINDS || !l->unlogged[k] ||
        now_ms - l->logged_ms[k] < LIMITS_LOG_INTERVAL_MS)
        return 0;
    uint64_t n = l->unlogged[k];
    l->unlogged[k] = 0;
    l->logged_ms[k] = now_ms;
    return n;
}
