#include "flvtool.h"

void flvtool_ivl_add(flvtool_ivl_t *s, uint32_t ts)
{
    if (s->have && ts > s->last && ts - s->last <= FLV_IVL_MAX)
        s->hist[ts - s->last]++;
    s->last = ts;
    s->have = 1;
}

uint32_t flvtool_ivl_mode(const flvtool_ivl_t *s)
{
    uint32_t best = 0;
    for (uint32_t d = 1; d <= FLV_IVL_MAX; d++)
        if (s->hist[d] > s->hist[best])
            best = d;
    return s->hist[best] ? best : 0;
}
