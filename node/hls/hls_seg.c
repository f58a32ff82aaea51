#include "hls_seg.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flv.h"
#include "log.h"

#define HLS_SEG_SLOTS (HLS_SEG_WINDOW_MAX + HLS_SEG_SPARE + 1)

struct hls_seg {
    hls_seg_cfg_t cfg;
    hls_seg_update_fn on_update;
    void *arg;
    hls_segment_t *segs[HLS_SEG_SLOTS]; /* oldest first; the last is open when `open` */
    unsigned nsegs;
    int open;
    uint64_t next_msn;
    msg_t *vseq, *aseq; /* the sequence headers in effect */
    int headers_changed; /* since the last segment started: a new map_id */
    uint64_t map_id;
    int has_video;
    int pending_disc; /* the next segment starts with EXT-X-DISCONTINUITY */
    int ended;
    /* the open part of the open segment */
    uint32_t part_first, part_start_ts;
    int part_indep;
    int forced_logged;
    /* the frame spacing of the leading track (video, else audio): a part is
     * cut before it would grow past part_ms */
    int spaced;
    uint32_t lead_ts, spacing_ms;
    hls_seg_stats_t st;
};

hls_seg_t *hls_seg_new(const hls_seg_cfg_t *cfg, hls_seg_update_fn on_update, void *arg)
{
    hls_seg_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->cfg = *cfg;
    if (h->cfg.window < 1)
        h->cfg.window = 1;
    if (h->cfg.window > HLS_SEG_WINDOW_MAX)
        h->cfg.window = HLS_SEG_WINDOW_MAX;
    if (h->cfg.segment_ms < 100)
        h->cfg.segment_ms = 100;
    if (h->cfg.part_ms && h->cfg.part_ms < 50)
        h->cfg.part_ms = 50;
    if (h->cfg.part_ms > h->cfg.segment_ms)
        h->cfg.part_ms = h->cfg.segment_ms;
    /* the longest segment must fit in HLS_SEG_MAX_PARTS parts */
    uint32_t least = (hls_seg_max_ms(h) + HLS_SEG_MAX_PARTS - 2) / (HLS_SEG_MAX_PARTS - 1);
    if (h->cfg.part_ms && h->cfg.part_ms < least)
        h->cfg.part_ms = least;
    h->on_update = on_update;
    h->arg = arg;
    h->next_msn = cfg->first_msn;
    return h;
}

static void segment_free(hls_segment_t *s)
{
    for (uint32_t i = 0; i < s->nmsgs; i++)
        msg_unref(s->msgs[i]);
    free(s->msgs);
    msg_unref(s->vseq);
    msg_unref(s->aseq);
    free(s);
}

void hls_seg_free(hls_seg_t *h)
{
    if (!h)
        return;
    for (unsigned i = 0; i < h->nsegs; i++)
        segment_free(h->segs[i]);
    msg_unref(h->vseq);
    msg_unref(h->aseq);
    free(h);
}

uint32_t hls_seg_max_ms(const hls_seg_t *h)
{
    uint32_t m = 4 * h->cfg.segment_ms;
    return m < 10000 ? 10000 : m;
}

static hls_segment_t *open_seg(const hls_seg_t *h)
{
    return h->open ? h->segs[h->nsegs - 1] : NULL;
}

static void drop_oldest(hls_seg_t *h)
{
    segment_free(h->segs[0]);
    memmove(h->segs, h->segs + 1, (h->nsegs - 1) * sizeof h->segs[0]);
    h->nsegs--;
}

/* Keeps window + HLS_SEG_SPARE complete segments (and the open one). */
static void trim(hls_seg_t *h)
{
    unsigned complete = h->nsegs - (h->open ? 1 : 0);
    while (complete > h->cfg.window + HLS_SEG_SPARE) {
        drop_oldest(h);
        complete--;
    }
}

static int32_t span(uint32_t from, uint32_t to)
{
    return (int32_t)(to - from);
}

static void close_part(hls_seg_t *h, hls_segment_t *s, uint32_t end_ts)
{
    if (!h->cfg.part_ms || s->nmsgs == h->part_first || s->nparts >= HLS_SEG_MAX_PARTS)
        return;
    int32_t d = span(h->part_start_ts, end_ts);
    s->parts[s->nparts++] = (hls_part_t){h->part_first, s->nmsgs - h->part_first,
                                         d > 0 ? (uint32_t)d : 1, h->part_indep};
    if (h->on_update)
        h->on_update(h->arg, s->msn, s->nparts);
}

static void close_segment(hls_seg_t *h, hls_segment_t *s, uint32_t end_ts)
{
    close_part(h, s, end_ts);
    int32_t d = span(s->start_ts, end_ts);
    s->dur_ms = d > 0 ? (uint32_t)d : 1;
    s->complete = 1;
    h->open = 0;
    h->st.segments++;
    trim(h);
    if (h->on_update)
        h->on_update(h->arg, s->msn, s->nparts);
}

static int append(hls_seg_t *h, hls_segment_t *s, msg_t *m)
{
    if (s->nmsgs == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 64;
        if (cap > HLS_SEG_MAX_MSGS)
            cap = HLS_SEG_MAX_MSGS;
        msg_t **n = s->nmsgs < cap ? realloc(s->msgs, cap * sizeof *n) : NULL;
        if (!n) {
            h->st.dropped_msgs++;
            return NODE_ENOMEM;
        }
        s->msgs = n;
        s->cap = cap;
    }
    s->msgs[s->nmsgs++] = msg_ref(m);
    return 0;
}

static int start_segment(hls_seg_t *h, msg_t *m, int key, int64_t wall_ms)
{
    if (h->nsegs == HLS_SEG_SLOTS)
        drop_oldest(h);
    hls_segment_t *s = calloc(1, sizeof *s);
    if (!s) {
        h->st.dropped_msgs++;
        return NODE_ENOMEM;
    }
    s->msn = h->next_msn++;
    s->start_ts = m->ts;
    s->wall_ms = wall_ms;
    s->discontinuity = h->pending_disc;
    h->st.discontinuities += (uint64_t)h->pending_disc;
    h->pending_disc = 0;
    s->vseq = h->vseq ? msg_ref(h->vseq) : NULL;
    s->aseq = h->aseq ? msg_ref(h->aseq) : NULL;
    if (h->headers_changed || s->msn == h->cfg.first_msn)
        h->map_id = s->msn;
    h->headers_changed = 0;
    s->map_id = h->map_id;
    h->segs[h->nsegs++] = s;
    h->open = 1;
    h->part_first = 0;
    h->part_start_ts = m->ts;
    h->part_indep = key || !h->has_video;
    return append(h, s, m);
}

/* 1 when m ends the open segment s: a key frame (any frame without video)
 * past the target or after a change; any frame past the bounds. */
static int cut_due(hls_seg_t *h, const hls_segment_t *s, const msg_t *m, int key)
{
    int32_t d = span(s->start_ts, m->ts);
    if ((key || !h->has_video) && (d >= (int32_t)h->cfg.segment_ms || h->pending_disc))
        return 1;
    if (d < (int32_t)hls_seg_max_ms(h) && s->nmsgs < HLS_SEG_MAX_MSGS)
        return 0;
    h->st.forced_cuts++;
    if (!h->forced_logged) {
        h->forced_logged = 1;
        log_warn(0, "hls: no key frame for %d ms (or %u messages): segment %llu cut without one",
                 (int)d, (unsigned)s->nmsgs, (unsigned long long)s->msn);
    }
    return 1;
}

/* A sequence header: a different one than in effect, or a new track once
 * segments exist, is a discontinuity (and a new init segment). */
static void header(hls_seg_t *h, msg_t *m)
{
    msg_t **slot = m->type == FLV_TAG_VIDEO ? &h->vseq : &h->aseq;
    if (m->type == FLV_TAG_VIDEO)
        h->has_video = 1;
    if (*slot ? (*slot)->len != m->len || memcmp((*slot)->payload, m->payload, m->len) != 0
              : h->next_msn != h->cfg.first_msn) {
        h->pending_disc = 1;
        h->headers_changed = 1;
    }
    msg_unref(*slot);
    *slot = msg_ref(m);
}

/* Records the leading track's frame spacing (bounded to 15% of a part). */
static void note_spacing(hls_seg_t *h, const msg_t *m)
{
    if ((m->type == FLV_TAG_VIDEO) != h->has_video)
        return;
    int32_t d = span(h->lead_ts, m->ts);
    if (h->spaced && d > 0)
        h->spacing_ms = (uint32_t)d < h->cfg.part_ms * 15 / 100 ? (uint32_t)d
                                                                 : h->cfg.part_ms * 15 / 100;
    h->lead_ts = m->ts;
    h->spaced = 1;
}

/* 1 when m starts a new part of s: the open part would otherwise grow past
 * part_ms with its next frame (RFC 8216bis: a part is at most the part
 * target, and all but a segment's last at least 85% of it). */
static int part_due(const hls_seg_t *h, const hls_segment_t *s, const msg_t *m)
{
    if (!h->cfg.part_ms || s->nparts >= HLS_SEG_MAX_PARTS - 1 || s->nmsgs == h->part_first)
        return 0;
    return span(h->part_start_ts, m->ts) + (int32_t)h->spacing_ms >= (int32_t)h->cfg.part_ms;
}

int hls_seg_push(hls_seg_t *h, msg_t *m, int64_t wall_ms)
{
    if (h->ended || (m->type != FLV_TAG_VIDEO && m->type != FLV_TAG_AUDIO))
        return 0;
    if (m->flags & MSG_F_SEQHDR) {
        header(h, m);
        return 0;
    }
    int key = m->type == FLV_TAG_VIDEO && (m->flags & MSG_F_KEY);
    if (m->type == FLV_TAG_VIDEO)
        h->has_video = 1;
    note_spacing(h, m);
    hls_segment_t *s = open_seg(h);
    if (!s)
        return h->has_video && !key ? 0 : start_segment(h, m, key, wall_ms);
    if (cut_due(h, s, m, key)) {
        close_segment(h, s, m->ts);
        return start_segment(h, m, key, wall_ms);
    }
    if (part_due(h, s, m)) {
        close_part(h, s, m->ts);
        h->part_first = s->nmsgs;
        h->part_start_ts = m->ts;
        h->part_indep = key || !h->has_video;
    }
    return append(h, s, m);
}

void hls_seg_discontinuity(hls_seg_t *h)
{
    if (h->nsegs)
        h->pending_disc = 1;
}

/* Closes the open segment at its last message. */
static void close_open(hls_seg_t *h)
{
    hls_segment_t *s = open_seg(h);
    if (s && s->nmsgs) {
        /* the last message's ts plus one frame's worth is unknown: its own */
        uint32_t end = s->msgs[s->nmsgs - 1]->ts;
        close_segment(h, s, span(s->start_ts, end) > 0 ? end : s->start_ts + 1);
    }
}

void hls_seg_end(hls_seg_t *h)
{
    close_open(h);
    h->ended = 1;
}

void hls_seg_break(hls_seg_t *h)
{
    close_open(h);
    hls_seg_discontinuity(h);
}

uint64_t hls_seg_next_msn(const hls_seg_t *h)
{
    return h->next_msn;
}

const hls_segment_t *hls_seg_get(const hls_seg_t *h, uint64_t msn)
{
    if (!h->nsegs || msn < h->segs[0]->msn)
        return NULL;
    uint64_t i = msn - h->segs[0]->msn;
    return i < h->nsegs ? h->segs[i] : NULL;
}

int hls_seg_ready(const hls_seg_t *h, uint64_t msn, int part)
{
    if (h->ended)
        return 1;
    const hls_segment_t *o = open_seg(h);
    uint64_t next = h->next_msn; /* msn of the segment after the open one */
    uint64_t last_listed = o ? o->msn : next ? next - 1 : 0;
    if (msn > last_listed + 2)
        return -1;
    if (part < 0 || !o || msn < o->msn)
        return msn < (o ? o->msn : next) ? 1 : 0;
    return msn == o->msn && (unsigned)part < o->nparts ? 1 : 0;
}

/* The window: the last `window` complete segments, and the open one when
 * it has parts. Returns the index of the first and sets *n. */
static unsigned listed(const hls_seg_t *h, unsigned *n)
{
    const hls_segment_t *o = open_seg(h);
    unsigned complete = h->nsegs - (o ? 1 : 0);
    unsigned first = complete > h->cfg.window ? complete - h->cfg.window : 0;
    *n = complete - first + (o && h->cfg.part_ms && o->nparts ? 1 : 0);
    return first;
}

unsigned hls_seg_describe(const hls_seg_t *h, hls_seg_desc_t *descs, hls_part_desc_t *parts,
                          hls_playlist_t *pl)
{
    unsigned n, first = listed(h, &n);
    uint64_t disc_listed = 0;
    uint32_t from_edge = 0, parts_until = 3 * h->cfg.segment_ms;
    for (unsigned k = n; k-- > 0;) { /* newest first: parts near the edge only */
        const hls_segment_t *s = h->segs[first + k];
        hls_seg_desc_t *d = &descs[k];
        hls_part_desc_t *p = parts + (size_t)k * HLS_SEG_MAX_PARTS;
        *d = (hls_seg_desc_t){s->msn, s->dur_ms, s->discontinuity, s->wall_ms, p, 0, s->map_id};
        if (h->cfg.part_ms && from_edge < parts_until) {
            for (unsigned j = 0; j < s->nparts; j++)
                p[j] = (hls_part_desc_t){s->parts[j].dur_ms, s->parts[j].independent};
            d->nparts = s->nparts;
        }
        from_edge += s->dur_ms;
        disc_listed += (uint64_t)s->discontinuity;
    }
    pl->target_ms = h->cfg.segment_ms;
    pl->part_target_ms = h->cfg.part_ms;
    for (unsigned i = first + n; i < h->nsegs; i++) /* the open one, if not listed */
        disc_listed += (uint64_t)h->segs[i]->discontinuity;
    pl->disc_seq = h->st.discontinuities - disc_listed;
    pl->segs = descs;
    pl->nsegs = n;
    pl->ended = h->ended;
    return n;
}

void hls_seg_stats(const hls_seg_t *h, hls_seg_stats_t *out)
{
    *out = h->st;
}
