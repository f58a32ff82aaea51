/* page: one page of an API list (?limit=&after=): at most limit items that
 * come after a cursor in the list's order, and the answer {"<key>": [...],
 * "next_after": <the cursor of the next page, or null>}. The handler walks
 * its list in cursor order from the cursor on, asks api_page_full() before
 * it renders each matching item and stops once it says so: a request
 * renders at most limit items, whatever the list's length.
 * Everything here runs on the loop thread (a request's handler). */
#ifndef WEIR_API_PAGE_H
#define WEIR_API_PAGE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct api_req api_req_t;

/* ?limit= of sessions, streams, relays and hooks (events: routes_events.c). */
#define API_PAGE_LIMIT_DEFAULT 1000
#define API_PAGE_LIMIT_MAX 1000

typedef struct {
    cJSON *items; /* the page so far */
    size_t limit, n;
    int more; /* a matching item follows the page: next_after is its predecessor's */
    int oom;
} api_page_t;

/* Reads ?limit= into p and starts an empty page. Returns 0, or -1 after a
 * reply (400 invalid_field naming limit; 500 out of memory). */
int api_page_begin(api_req_t *r, api_page_t *p);
/* Asked before the next matching item is rendered: 1 (and p->more set)
 * when the page already holds limit items or memory ran out, then the walk
 * stops; else 0. */
int api_page_full(api_page_t *p);
/* Adds item (taken; NULL: rendering ran out of memory). */
void api_page_add(api_page_t *p, cJSON *item);
/* An id cursor (sessions) as a JSON integer printed exactly: cJSON would
 * print 1839663302266890 as 1.83966330226689e+15, which a client reads
 * back as a float and sends as "1839663302266890.0". NULL: out of memory. */
cJSON *api_page_u64(uint64_t id);
/* Replies 200 {key: items, next_after: next if p->more, else null}, or 500
 * when memory ran out. Takes next (NULL is fine when !p->more) and the page. */
void api_page_reply(api_req_t *r, api_page_t *p, const char *key, cJSON *next);

#endif
