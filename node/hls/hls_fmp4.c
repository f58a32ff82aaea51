/* hls_fmp4: the fMP4/CMAF rendition of a stream's HLS timeline (see
 * hls_fmp4.h). */
#include "hls_fmp4.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flv.h"
#include "fmp4_mux.h"
#include "log.h"

#define LOOKAHEAD_MSGS 256 /* messages searched for a track's next DTS */

/* A refcounted byte block (an init segment, a fragment header), sent by
 * reference: the cache holds one reference, each evbuffer one more. */
typedef struct {
    uint32_t refs;
    size_t len;
    uint8_t data[];
} blob_t;

/* A sample's bytes: sg->msgs[msg]->payload + off, len bytes. */
typedef struct {
    uint32_t msg, off, len;
} piece_t;

typedef struct {
    int built;
    blob_t *hdr; /* moof + mdat header; NULL: no sample (an empty answer) */
    piece_t *pieces;
    uint32_t npieces;
    uint64_t len; /* header + samples */
} frag_t;

/* The fragments of one segment: by part, or frags[0] for a segment without parts. */
typedef struct {
    uint64_t msn;
    frag_t frags[HLS_SEG_MAX_PARTS];
} fseg_t;

typedef struct {
    int used;
    uint64_t id;
    msg_t *vseq, *aseq; /* references: the tracks' records point into them */
    fmp4_track_t tracks[2];
    size_t ntracks;
    const fmp4_track_t *video, *audio; /* into tracks, or NULL */
    blob_t *bytes;
} finit_t;

struct hls_fmp4 {
    fseg_t *segs[HLS_FMP4_SLOTS]; /* by msn % HLS_FMP4_SLOTS */
    finit_t inits[HLS_FMP4_INITS];
    int unsupported_logged;
};

static blob_t *blob_new(size_t len)
{
    blob_t *b = malloc(sizeof *b + len);
    if (b) {
        b->refs = 1;
        b->len = len;
    }
    return b;
}

static void blob_unref(blob_t *b)
{
    if (b && --b->refs == 0)
        free(b);
}

static void blob_cleanup(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    blob_unref(arg);
}

void hls_msg_unref_cb(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    msg_unref(arg);
}

hls_fmp4_t *hls_fmp4_new(void)
{
    return calloc(1, sizeof(hls_fmp4_t));
}

static void frag_clear(frag_t *fr)
{
    blob_unref(fr->hdr);
    free(fr->pieces);
    memset(fr, 0, sizeof *fr);
}

static void fseg_free(fseg_t *fs)
{
    if (!fs)
        return;
    for (unsigned i = 0; i < HLS_SEG_MAX_PARTS; i++)
        frag_clear(&fs->frags[i]);
    free(fs);
}

static void init_clear(finit_t *in)
{
    msg_unref(in->vseq);
    msg_unref(in->aseq);
    blob_unref(in->bytes);
    memset(in, 0, sizeof *in);
}

void hls_fmp4_free(hls_fmp4_t *f)
{
    if (!f)
        return;
    for (unsigned i = 0; i < HLS_FMP4_SLOTS; i++)
        fseg_free(f->segs[i]);
    for (unsigned i = 0; i < HLS_FMP4_INITS; i++)
        init_clear(&f->inits[i]);
    free(f);
}

/* ---- init segments ------------------------------------------------------ */

/* The tracks of sg's sequence headers that fMP4 carries, into in. */
static int init_tracks(hls_fmp4_t *f, finit_t *in, const hls_segment_t *sg)
{
    const char *err = NULL;
    if (sg->vseq && fmp4_mux_track_video(&in->tracks[in->ntracks], HLS_FMP4_VIDEO_TRACK,
                                         sg->vseq->payload, sg->vseq->len, &err) == 0)
        in->video = &in->tracks[in->ntracks++];
    if (sg->aseq && fmp4_mux_track_audio(&in->tracks[in->ntracks], HLS_FMP4_AUDIO_TRACK,
                                         sg->aseq->payload, sg->aseq->len, &err) == 0)
        in->audio = &in->tracks[in->ntracks++];
    if (in->ntracks)
        return 0;
    if (!f->unsupported_logged) {
        f->unsupported_logged = 1;
        log_warn(0, "hls: fMP4: no track fMP4 carries (H.264, H.265, AV1, AAC)%s%s",
                 err ? ": " : "", err ? err : "");
    }
    return NODE_EPROTO;
}

/* The cached init of id, or a new one made from sg (the oldest evicted). */
static int init_get(hls_fmp4_t *f, const hls_segment_t *sg, finit_t **out)
{
    finit_t *slot = &f->inits[0];
    for (unsigned i = 0; i < HLS_FMP4_INITS; i++) {
        finit_t *in = &f->inits[i];
        if (in->used && in->id == sg->map_id) {
            *out = in;
            return 0;
        }
        if (!in->used || (slot->used && in->id < slot->id))
            slot = in;
    }
    init_clear(slot);
    slot->vseq = sg->vseq ? msg_ref(sg->vseq) : NULL;
    slot->aseq = sg->aseq ? msg_ref(sg->aseq) : NULL;
    int rc = init_tracks(f, slot, sg);
    size_t len = 0;
    if (rc == 0)
        rc = fmp4_mux_init(slot->tracks, slot->ntracks, NULL, 0, &len);
    if (rc == 0 && (slot->bytes = blob_new(len)) == NULL)
        rc = NODE_ENOMEM;
    if (rc == 0)
        rc = fmp4_mux_init(slot->tracks, slot->ntracks, slot->bytes->data, len, &len);
    if (rc != 0) {
        init_clear(slot);
        return rc == NODE_ENOMEM ? rc : NODE_EPROTO;
    }
    slot->used = 1;
    slot->id = sg->map_id;
    *out = slot;
    return 0;
}

/* Adds a block to out by reference. */
static int add_blob(struct evbuffer *out, blob_t *b)
{
    b->refs++;
    if (evbuffer_add_reference(out, b->data, b->len, blob_cleanup, b) != 0) {
        b->refs--;
        return NODE_ENOMEM;
    }
    return 0;
}

int64_t hls_fmp4_init(hls_fmp4_t *f, const hls_seg_t *h, uint64_t id, struct evbuffer *out)
{
    const hls_segment_t *sg = NULL;
    for (uint64_t msn = hls_seg_next_msn(h); msn-- > 0;) {
        const hls_segment_t *s = hls_seg_get(h, msn);
        if (!s)
            break;
        if (s->map_id == id) {
            sg = s;
            break;
        }
    }
    if (!sg)
        return NODE_ENOTFOUND;
    finit_t *in;
    int rc = init_get(f, sg, &in);
    if (rc != 0)
        return rc;
    if (out && add_blob(out, in->bytes) != 0)
        return NODE_ENOMEM;
    return (int64_t)in->bytes->len;
}

/* ---- fragments ---------------------------------------------------------- */

/* The samples of one track in a fragment being built. */
typedef struct {
    const fmp4_track_t *track;
    fmp4_sample_t *samples;
    uint32_t *msgs; /* the message index of each sample */
    size_t n;
} track_run_t;

/* Appends m's sample (sg->msgs[i]) to r, its DTS kept non-decreasing. */
static void add_sample(track_run_t *r, const msg_t *m, uint32_t i)
{
    fmp4_sample_t s;
    int video = r->track->codec != FMP4_AAC;
    int rc = video ? fmp4_mux_sample_video(r->track, m->payload, m->len, m->ts, &s)
                   : fmp4_mux_sample_audio(r->track, m->payload, m->len, m->ts, &s);
    if (rc != 0)
        return; /* no sample (a command, an empty frame) or not this codec */
    if (r->n && s.dts_ms < r->samples[r->n - 1].dts_ms)
        s.dts_ms = r->samples[r->n - 1].dts_ms;
    r->samples[r->n] = s;
    r->msgs[r->n++] = i;
}

/* The DTS of the first message of type after sg->msgs[end - 1] (in sg, then
 * in the next segment), or FMP4_DTS_NONE. */
static int64_t next_dts(const hls_seg_t *h, const hls_segment_t *sg, uint32_t end, uint8_t type)
{
    const hls_segment_t *s = sg;
    uint32_t i = end;
    for (unsigned seen = 0; s && seen < LOOKAHEAD_MSGS; seen++, i++) {
        if (i >= s->nmsgs) {
            s = s == sg ? hls_seg_get(h, sg->msn + 1) : NULL;
            i = 0;
            if (!s || !s->nmsgs)
                break;
        }
        if (s->msgs[i]->type == type)
            return s->msgs[i]->ts;
    }
    return FMP4_DTS_NONE;
}

/* The header block and pieces of a fragment from the filled runs. */
static int frag_finish(frag_t *fr, const hls_segment_t *sg, uint32_t seq, const track_run_t *tr,
                       const fmp4_run_t *runs, size_t nruns)
{
    size_t total = 0, len;
    for (size_t k = 0; k < nruns; k++)
        total += runs[k].n;
    fr->built = 1;
    if (total == 0)
        return 0; /* nothing fMP4 carries: an empty part */
    int rc = fmp4_mux_frag_header(seq, runs, nruns, NULL, 0, &len);
    if (rc != 0)
        return rc;
    fr->hdr = blob_new(len);
    fr->pieces = malloc(total * sizeof *fr->pieces);
    if (!fr->hdr || !fr->pieces)
        return NODE_ENOMEM;
    rc = fmp4_mux_frag_header(seq, runs, nruns, fr->hdr->data, len, &len);
    if (rc != 0)
        return rc;
    fr->len = len;
    for (size_t k = 0; k < nruns; k++)
        for (size_t j = 0; j < runs[k].n; j++) {
            const fmp4_sample_t *s = &runs[k].samples[j];
            uint32_t i = tr[k].msgs[j];
            uint32_t off = (uint32_t)(s->data - sg->msgs[i]->payload);
            fr->pieces[fr->npieces++] = (piece_t){i, off, (uint32_t)s->len};
            fr->len += s->len;
        }
    return 0;
}

/* Builds the fragment of sg->msgs[first, first + count). */
static int frag_build(frag_t *fr, const finit_t *in, const hls_seg_t *h, const hls_segment_t *sg,
                      uint32_t first, uint32_t count, uint32_t seq)
{
    track_run_t tr[2] = {{in->video, NULL, NULL, 0}, {in->audio, NULL, NULL, 0}};
    fmp4_run_t runs[2];
    size_t nruns = 0;
    int rc = 0;
    for (size_t k = 0; k < 2 && rc == 0; k++) {
        if (!tr[k].track)
            continue;
        tr[k].samples = malloc((count ? count : 1) * sizeof *tr[k].samples);
        tr[k].msgs = malloc((count ? count : 1) * sizeof *tr[k].msgs);
        if (!tr[k].samples || !tr[k].msgs)
            rc = NODE_ENOMEM;
    }
    for (uint32_t i = first; rc == 0 && i < first + count; i++) {
        const msg_t *m = sg->msgs[i];
        track_run_t *r = m->type == FLV_TAG_VIDEO ? &tr[0] : &tr[1];
        if (r->track)
            add_sample(r, m, i);
    }
    for (size_t k = 0; k < 2 && rc == 0; k++) {
        if (!tr[k].track)
            continue;
        uint8_t type = k == 0 ? FLV_TAG_VIDEO : FLV_TAG_AUDIO;
        int64_t nd = next_dts(h, sg, first + count, type);
        if (nd != FMP4_DTS_NONE && tr[k].n && nd < tr[k].samples[tr[k].n - 1].dts_ms)
            nd = FMP4_DTS_NONE; /* a new timeline follows */
        runs[nruns++] = (fmp4_run_t){tr[k].track, tr[k].samples, tr[k].n, nd};
    }
    if (rc == 0) {
        track_run_t used[2];
        size_t u = 0;
        for (size_t k = 0; k < 2; k++)
            if (tr[k].track)
                used[u++] = tr[k];
        rc = frag_finish(fr, sg, seq, used, runs, nruns);
    }
    for (size_t k = 0; k < 2; k++) {
        free(tr[k].samples);
        free(tr[k].msgs);
    }
    return rc;
}

/* The fragment of sg's part (or the whole of a segment without parts),
 * built on first use. */
static int frag_get(hls_fmp4_t *f, const hls_seg_t *h, const hls_segment_t *sg, unsigned part,
                    const frag_t **out)
{
    fseg_t **slot = &f->segs[sg->msn % HLS_FMP4_SLOTS];
    if (*slot && (*slot)->msn != sg->msn) {
        fseg_free(*slot);
        *slot = NULL;
    }
    if (!*slot && (*slot = calloc(1, sizeof **slot)) == NULL)
        return NODE_ENOMEM;
    (*slot)->msn = sg->msn;
    frag_t *fr = &(*slot)->frags[part];
    *out = fr;
    if (fr->built)
        return 0;
    finit_t *in;
    int rc = init_get(f, sg, &in);
    uint32_t first = sg->nparts ? sg->parts[part].first : 0;
    uint32_t count = sg->nparts ? sg->parts[part].count : sg->nmsgs;
    uint32_t seq = (uint32_t)(sg->msn * HLS_SEG_MAX_PARTS + part + 1);
    if (rc == 0)
        rc = frag_build(fr, in, h, sg, first, count, seq);
    if (rc != 0) {
        frag_clear(fr);
        if (rc != NODE_ENOMEM && rc != NODE_EPROTO)
            log_warn(0, "hls: fMP4: segment %llu part %u: fragment not built (%d)",
                     (unsigned long long)sg->msn, part, rc);
    }
    return rc;
}

/* Adds a fragment's bytes to out by reference. */
static int frag_add(const frag_t *fr, const hls_segment_t *sg, struct evbuffer *out)
{
    if (!fr->hdr)
        return 0;
    if (add_blob(out, fr->hdr) != 0)
        return NODE_ENOMEM;
    for (uint32_t i = 0; i < fr->npieces; i++) {
        const piece_t *p = &fr->pieces[i];
        msg_t *m = msg_ref(sg->msgs[p->msg]);
        if (evbuffer_add_reference(out, m->payload + p->off, p->len, hls_msg_unref_cb, m) != 0) {
            msg_unref(m);
            return NODE_ENOMEM;
        }
    }
    return 0;
}

int64_t hls_fmp4_bytes(hls_fmp4_t *f, const hls_seg_t *h, const hls_segment_t *sg, int part,
                       struct evbuffer *out)
{
    unsigned from = part >= 0 ? (unsigned)part : 0;
    unsigned to = part >= 0 ? from + 1 : sg->nparts ? sg->nparts : 1;
    int64_t n = 0;
    for (unsigned p = from; p < to; p++) {
        const frag_t *fr;
        int rc = frag_get(f, h, sg, p, &fr);
        if (rc == 0 && out)
            rc = frag_add(fr, sg, out);
        if (rc != 0)
            return rc;
        n += (int64_t)fr->len;
    }
    return n;
}
