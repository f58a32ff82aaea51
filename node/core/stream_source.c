/* The source identity of the hub's streams (stream.h: hub_set_source_prefix(),
 * stream_source(), stream_player_source(); the timeline keeps it, stream_cont.h). Loop
 * thread only. */
#include <stdio.h>
#include <sys/random.h>

#include "common.h"
#include "stream_internal.h"

void hub_set_source_prefix(hub_t *hub, const char *prefix)
{
    if (prefix && prefix[0] && strlen(prefix) < sizeof hub->src_prefix &&
        relay_source_id_valid(prefix)) {
        snprintf(hub->src_prefix, sizeof hub->src_prefix, "%s", prefix);
        return;
    }
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = (uint64_t)weir_wall_ms();
    snprintf(hub->src_prefix, sizeof hub->src_prefix, "%016llx", (unsigned long long)r);
}

void stream_source_publish(stream_t *s, const publisher_t *pub)
{
    char own[RELAY_SOURCE_ID_MAX];
    snprintf(own, sizeof own, "%s.%llu", s->hub->src_prefix, (unsigned long long)pub->sess_id);
    stream_cont_source(&s->cont, pub->src_id, pub->src_off, own);
}

const char *stream_source(const stream_t *s, uint32_t *off)
{
    return stream_cont_source_id(&s->cont, off);
}

const char *stream_player_source(const player_t *p, uint32_t *off)
{
    *off = 0;
    return p->stream ? stream_source(p->stream, off) : "";
}
