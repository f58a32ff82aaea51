#include "stream_cont.h"

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

/* Media of a continuing publisher that the players already have: with the
 * same source, its ts is at or before the old publisher's last on the
 * track. The first media message decides whether the source is the same:
 * its ts lies between back_ms (the GOP cache's span plus 0.5 s, at least
 * 1.5 s, at most STREAM_SAME_SOURCE_BACK_MS) before the old publisher's
 * last and the wall-clock gap plus STREAM_SAME_SOURCE_AHEAD_MS after it.
 * Returns 1 to drop the message. */
static int is_replay(stream_timeline_t *t, int track, uint32_t ts, int64_t now_ms)
{
    if (t->pending && !t->source_decided) {
        t->source_decided = 1;
        if (t->old_in_seen && t->media_seen) {
            int64_t d = (int32_t)(ts - t->old_in_last);
            int64_t gap = now_ms - t->media_last_ms;
            t->same_source = d >= -t->back_ms && d <= gap + STREAM_SAME_SOURCE_AHEAD_MS;
        }
        if (!t->same_source)
            memset(t->dup, 0, sizeof t->dup);
    }
    if (!t->dup[track])
        return 0;
    if ((int32_t)(ts - t->dup_until[track]) <= 0)
        return 1;
    t->dup[track] = 0; /* past the old publisher's last: the rest is new */
    return 0;
}

int stream_cont_drop(stream_cont_t *c, uint8_t type, uint8_t flags, uint32_t ts, int64_t now_ms)
{
    stream_timeline_t *t = &c->tl;
    if (t->wait_key && type == FLV_TAG_VIDEO && (flags & MSG_F_SEQHDR))
        t->wait_video = 1; /* the new publisher has video: wait for its key frame */
    if (!is_media(type, flags))
        return 0;
    if (is_replay(t, track_of(type), ts, now_ms)) {
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

/* The first media message of a continuation: anchors the timeline so that
 * it gets the last output ts plus the wall-clock gap. */
static void anchor(stream_cont_t *c, uint32_t ts, int64_t now_ms)
{
    stream_timeline_t *t = &c->tl;
    int64_t gap = t->media_seen ? now_ms - t->media_last_ms : 0;
    uint32_t jump = gap < 1                                 ? 1
                    : gap > (int64_t)STREAM_CONT_GAP_MAX_MS ? STREAM_CONT_GAP_MAX_MS
                                                            : (uint32_t)gap;
    if (t->same_source) {
        if (!t->restamp)
            t->ts_offset = 0; /* the publisher's own time went on: keep it */
    } else {
        t->ts_offset = t->media_seen ? t->media_last + jump - ts : 0;
    }
    t->pending = 0;
    t->restamp = 1;
    c->stats.count++;
    c->stats.last_gap_ms = gap;
    log_info(c->sess_id,
             "stream %s/%s: continued by s%llu after a %lld ms gap (%s; continuation %llu, "
             "%llu messages dropped in all)",
             c->app, c->name, (unsigned long long)c->sess_id, (long long)gap,
             t->same_source ? "same source, timestamps kept" : "restamped",
             (unsigned long long)c->stats.count, (unsigned long long)c->stats.dropped);
}

uint32_t stream_cont_out_ts(stream_cont_t *c, uint8_t type, uint8_t flags, uint32_t ts,
                            int64_t now_ms)
{
    stream_timeline_t *t = &c->tl;
    int track = track_of(type);
    uint32_t out;
    if (t->pending && is_media(type, flags))
        anchor(c, ts, now_ms);
    if (t->pending)
        out = t->media_seen ? t->media_last : ts; /* headers before the first media */
    else if (t->restamp)
        out = ts + t->ts_offset;
    else
        return ts;
    if (t->track_seen[track] && (int32_t)(out - t->track_last[track]) < 0)
        out = t->track_last[track];
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
    t->in_seen[track] = 1;
    t->in_last[track] = in;
    if (!t->media_seen || (int32_t)(out - t->media_last) > 0)
        t->media_last = out;
    t->media_seen = 1;
    t->media_last_ms = now_ms;
}
