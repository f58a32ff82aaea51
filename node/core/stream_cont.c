#include "stream_cont.h"

#include <stdio.h>
#include <string.h>

#include "flv.h"
#include "log.h"
#include "stream.h" /* STREAM_CONT_*, STREAM_SAME_SOURCE_* */

void stream_cont_init(stream_cont_t *c, const char *app, const char *name)
{
    memset(c, 0, sizeof *c);
    c->app = app;
    c->name = name;
}

void stream_cont_restart(stream_cont_t *c)
{
    memset(&c->tl, 0, sizeof c->tl);
}

static int track_of(uint8_t type)
{
    return type == FLV_TAG_AUDIO   ? STREAM_TRACK_AUDIO
           : type == FLV_TAG_VIDEO ? STREAM_TRACK_VIDEO
                                   : STREAM_TRACK_DATA;
}

/* Audio or video that is not a sequence header. */
static int is_media(uint8_t type, uint8_t flags)
{
    return (type == FLV_TAG_VIDEO || type == FLV_TAG_AUDIO) && !(flags & MSG_F_SEQHDR);
}

void stream_cont_begin(stream_cont_t *c, uint64_t sess_id, int64_t cached_span_ms, int has_video)
{
    stream_timeline_t *t = &c->tl;
    c->sess_id = sess_id;
    /* A same-source upstream starts with its GOP cache: at most about the
     * cached span before the live edge. */
    t->back_ms = (cached_span_ms > 1000 ? cached_span_ms : 1000) + 500;
    if (t->back_ms > STREAM_SAME_SOURCE_BACK_MS)
        t->back_ms = STREAM_SAME_SOURCE_BACK_MS;
    t->old_in_seen = 0;
    for (int k = STREAM_TRACK_AUDIO; k <= STREAM_TRACK_VIDEO; k++) {
        t->dup[k] = t->in_seen[k];
        t->dup_until[k] = t->in_last[k];
        if (t->in_seen[k] && (!t->old_in_seen || (int32_t)(t->in_last[k] - t->old_in_last) > 0))
            t->old_in_last = t->in_last[k];
        t->old_in_seen |= t->in_seen[k];
        t->in_seen[k] = 0;
    }
    t->source_decided = t->same_source = 0;
    t->exact_named = t->exact = t->named_other = 0;
    t->shift = 0;
    memset(t->overlap, 0, sizeof t->overlap);
    memset(t->resumed, 0, sizeof t->resumed);
    t->pending = 1;
    t->dedup = 1;
    t->wait_key = 1;
    t->wait_video = has_video;
    t->wait_from_ms = 0;
}

/* While a continuation waits for its key frame: 1 if this audio/video
 * message (not a sequence header) ends the wait, 0 to drop it. */
static int may_start(stream_cont_t *c, uint8_t type, uint8_t flags, int64_t now_ms)
{
    stream_timeline_t *t = &c->tl;
    if (!t->wait_from_ms)
        t->wait_from_ms = now_ms;
    if (type == FLV_TAG_VIDEO && (flags & MSG_F_KEY))
        return 1;
    if (type != FLV_TAG_AUDIO)
        return 0;
    if (!t->wait_video)
        return 1;
    if (now_ms - t->wait_from_ms < STREAM_CONT_KEY_WAIT_MS)
        return 0;
    log_info(c->sess_id, "stream %s/%s: no video key frame for %d ms, continuing with audio",
             c->app, c->name, STREAM_CONT_KEY_WAIT_MS);
    return 1;
}

/* The first media message of a continuation decides whether the source
 * is the same: its ts (less the named source's shift) lies between back_ms
 * (the GOP cache's span plus 0.5 s, at least 1.5 s, at most
 * STREAM_SAME_SOURCE_BACK_MS; that maximum when the source is named the
 * same) before the old publisher's last and the wall-clock gap plus
 * STREAM_SAME_SOURCE_AHEAD_MS after it. A named source is spliced exactly
 * only when its timestamps fit too (a stale identity does not); two
 * different names are different sources whatever their timestamps. */
static void decide_source(stream_cont_t *c, uint32_t ts, int64_t now_ms)
{
    stream_timeline_t *t = &c->tl;
    t->source_decided = 1;
    if (t->old_in_seen && t->media_seen && !t->named_other) {
        int64_t d = (int32_t)(ts - t->shift - t->old_in_last);
        int64_t gap = now_ms - t->media_last_ms;
        int64_t back = t->exact_named ? STREAM_SAME_SOURCE_BACK_MS : t->back_ms;
        t->same_source = d >= -back && d <= gap + STREAM_SAME_SOURCE_AHEAD_MS;
    }
    t->exact = t->exact_named && t->same_source;
    if (t->exact)
        t->wait_key = 0; /* each track resumes on its own (stream_cont_drop()) */
    else if (t->exact_named)
        log_warn(c->sess_id,
                 "stream %s/%s: the new upstream names the same source %s but its timestamps "
                 "do not fit the old ones: restamped, from its next key frame",
                 c->app, c->name, c->src.in_id);
    if (!t->same_source)
        memset(t->dup, 0, sizeof t->dup);
}

/* Media of a continuing publisher that the players already have: with the
 * same source, its ts (less the shift) is at or before the old publisher's
 * last on the track. Returns 1 to drop the message. */
static int is_replay(stream_cont_t *c, int track, uint32_t ts, int64_t now_ms)
{
    stream_timeline_t *t = &c->tl;
    if (t->pending && !t->source_decided)
        decide_source(c, ts, now_ms);
    if (!t->dup[track])
        return 0;
    if ((int32_t)(ts - t->shift - t->dup_until[track]) <= 0) {
        t->overlap[track] = 1;
        return 1;
    }
    t->dup[track] = 0; /* past the old publisher's last: the rest is new */
    return 0;
}

/* Exact splice: 1 to drop this message of a track that has not resumed:
 * video that did not overlap waits for a key frame; audio frames stand
 * alone. */
static int exact_wait(stream_timeline_t *t, int track, uint8_t flags)
{
    if (t->resumed[track])
        return 0;
    if (track == STREAM_TRACK_VIDEO && !t->overlap[track] && !(flags & MSG_F_KEY))
        return 1;
    t->resumed[track] = 1;
    return 0;
}

int stream_cont_drop(stream_cont_t *c, uint8_t type, uint8_t flags, uint32_t ts, int64_t now_ms)
{
    stream_timeline_t *t = &c->tl;
    if (t->wait_key && type == FLV_TAG_VIDEO && (flags & MSG_F_SEQHDR))
        t->wait_video = 1; /* the new publisher has video: wait for its key frame */
    if (!is_media(type, flags))
        return 0;
    int track = track_of(type);
    if (is_replay(c, track, ts, now_ms) || (t->exact && exact_wait(t, track, flags))) {
        c->stats.dropped++;
        return 1;
    }
    if (t->wait_key) {
        if (!may_start(c, type, flags, now_ms)) {
            c->stats.dropped++;
            return 1;
        }
        t->wait_key = 0;
    }
    return 0;
}

int stream_cont_same_header(const stream_cont_t *c, const msg_t *cached, const uint8_t *payload,
                            uint32_t len)
{
    return c->tl.dedup && cached && cached->len == len &&
           memcmp(cached->payload, payload, len) == 0;
}

/* The stream takes the publisher's source (stream_source_t): its
 * upstream's identity, or its own id (kept through a continuation). */
static void source_take(stream_cont_t *c, int continuing)
{
    stream_source_t *src = &c->src;
    if (src->next_id[0]) {
        memcpy(src->in_id, src->next_id, sizeof src->in_id);
        src->in_off = src->next_off;
        src->own_id[0] = '\0';
    } else {
        if (!continuing || !src->own_id[0])
            memcpy(src->own_id, src->next_own, sizeof src->own_id);
        src->in_id[0] = '\0';
    }
}

void stream_cont_source(stream_cont_t *c, const char *src_id, uint32_t src_off, const char *own_id)
{
    stream_source_t *src = &c->src;
    stream_timeline_t *t = &c->tl;
    snprintf(src->next_id, sizeof src->next_id, "%s",
             src_id && relay_source_id_valid(src_id) ? src_id : "");
    src->next_off = src_off;
    snprintf(src->next_own, sizeof src->next_own, "%s", own_id);
    if (!t->pending) {
        source_take(c, 0);
        return;
    }
    t->exact_named = src->next_id[0] && strcmp(src->next_id, src->in_id) == 0;
    t->named_other = src->next_id[0] && src->in_id[0] && !t->exact_named;
    t->shift = t->exact_named ? src_off - src->in_off : 0;
}

const char *stream_cont_splice_name(stream_splice_t k)
{
    switch (k) {
    case STREAM_SPLICE_EXACT: return "exact";
    case STREAM_SPLICE_SAME_SOURCE: return "same_source";
    case STREAM_SPLICE_RESTAMPED: return "restamped";
    case STREAM_SPLICE_NONE: break;
    }
    return NULL;
}

const char *stream_cont_source_id(const stream_cont_t *c, uint32_t *off)
{
    const stream_source_t *src = &c->src;
    *off = 0;
    if (src->own_id[0])
        return src->own_id;
    if (src->in_id[0])
        *off = src->in_off + (c->tl.restamp ? c->tl.ts_offset : 0);
    return src->in_id;
}

/* The first media message of a continuation: anchors the timeline so that
 * it gets the last output ts plus the wall-clock gap, and at least its
 * track's last plus that track's frame interval. */
static void anchor(stream_cont_t *c, uint8_t type, uint32_t ts, int64_t now_ms)
{
    stream_timeline_t *t = &c->tl;
    int64_t gap = t->media_seen ? now_ms - t->media_last_ms : 0;
    uint32_t jump = gap < 1                                 ? 1
                    : gap > (int64_t)STREAM_CONT_GAP_MAX_MS ? STREAM_CONT_GAP_MAX_MS
                                                            : (uint32_t)gap;
    int k = track_of(type);
    if (t->same_source) { /* its time went on: the old offset, less a named shift */
        t->ts_offset = (t->restamp ? t->ts_offset : 0) - t->shift;
    } else {
        /* restamped: no sooner than the end of the track's last frame (its
         * interval), even when the new upstream answered within a frame */
        int32_t need =
            t->track_seen[k] ? (int32_t)(t->track_last[k] + t->in_step[k] - t->media_last) : 0;
        if (need > (int32_t)jump)
            jump = (uint32_t)need;
        t->ts_offset = t->media_seen ? t->media_last + jump - ts : 0;
    }
    source_take(c, 1);
    c->stats.last_splice = t->exact && t->overlap[k] ? STREAM_SPLICE_EXACT
                           : t->same_source          ? STREAM_SPLICE_SAME_SOURCE
                                                     : STREAM_SPLICE_RESTAMPED;
    t->pending = 0;
    t->restamp = 1;
    c->stats.count++;
    c->stats.last_gap_ms = gap;
    log_info(c->sess_id,
             "stream %s/%s: continued by s%llu after a %lld ms gap (%s; continuation %llu, "
             "%llu messages dropped in all)",
             c->app, c->name, (unsigned long long)c->sess_id, (long long)gap,
             c->stats.last_splice == STREAM_SPLICE_EXACT ? "same source, spliced exactly"
             : t->same_source ? "same source, timestamps kept, from its key frame"
                              : "restamped",
             (unsigned long long)c->stats.count, (unsigned long long)c->stats.dropped);
}

uint32_t stream_cont_out_ts(stream_cont_t *c, uint8_t type, uint8_t flags, uint32_t ts,
                            int64_t now_ms)
{
    stream_timeline_t *t = &c->tl;
    int track = track_of(type);
    uint32_t out;
    if (t->pending && is_media(type, flags))
        anchor(c, type, ts, now_ms);
    if (t->pending)
        out = t->media_seen ? t->media_last : ts; /* headers before the first media */
    else if (t->restamp)
        out = ts + t->ts_offset;
    else
        return ts;
    /* No track goes back; audio and video never repeat a timestamp either
     * (MPEG-TS and MP4 need strictly increasing decode times). */
    int32_t back = (int32_t)(out - t->track_last[track]);
    if (t->track_seen[track] && (back < 0 || (back == 0 && is_media(type, flags))))
        out = t->track_last[track] + (is_media(type, flags) ? 1 : 0);
    return out;
}

void stream_cont_note(stream_cont_t *c, uint8_t type, uint8_t flags, uint32_t in, uint32_t out,
                      int64_t now_ms)
{
    stream_timeline_t *t = &c->tl;
    int track = track_of(type);
    t->track_seen[track] = 1;
    t->track_last[track] = out;
    if (!is_media(type, flags))
        return;
    int32_t step = (int32_t)(in - t->in_last[track]);
    if (t->in_seen[track] && step > 0 && step <= (int32_t)STREAM_CONT_STEP_MAX_MS)
        t->in_step[track] = (uint32_t)step;
    t->in_seen[track] = 1;
    t->in_last[track] = in;
    if (!t->media_seen || (int32_t)(out - t->media_last) > 0)
        t->media_last = out;
    t->media_seen = 1;
    t->media_last_ms = now_ms;
}
