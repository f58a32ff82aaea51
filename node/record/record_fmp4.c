/* record_fmp4: a recorded file's fMP4 tracks and open fragment (see
 * record_fmp4.h). Writer thread only. */
#include "record_fmp4.h"

#include <stdlib.h>
#include <string.h>

#include "flv.h"

/* One track of the file: [0] audio, [1] video. */
typedef struct {
    int present;
    fmp4_track_t track;
    uint8_t *hdr; /* the sequence header body the track points into */
    fmp4_sample_t *samples;
    size_t *offs; /* each sample's offset in buf */
    size_t n, cap;
    uint8_t *buf; /* the fragment's coded bytes of this track, in order */
    size_t len, buf_cap;
} rtrack_t;

struct record_fmp4 {
    rtrack_t t[2];
    uint8_t *init;
    size_t init_len;
    uint8_t *frag_hdr;
    size_t frag_hdr_cap;
    uint32_t seq;       /* the last fragment's sequence number */
    uint32_t first_dts; /* of the open fragment */
};

static int track_new(rtrack_t *t, int video, const uint8_t *body, uint32_t len)
{
    const char *why = NULL;
    if (!body)
        return -1;
    t->hdr = malloc(len ? len : 1);
    if (!t->hdr)
        return -1;
    memcpy(t->hdr, body, len);
    int rc = video ? fmp4_mux_track_video(&t->track, 1, t->hdr, len, &why)
                   : fmp4_mux_track_audio(&t->track, 2, t->hdr, len, &why);
    t->present = rc == 0;
    return rc == 0 ? 0 : -1;
}

void record_fmp4_free(record_fmp4_t *m)
{
    if (!m)
        return;
    for (int i = 0; i < 2; i++) {
        free(m->t[i].hdr);
        free(m->t[i].samples);
        free(m->t[i].offs);
        free(m->t[i].buf);
    }
    free(m->init);
    free(m->frag_hdr);
    free(m);
}

record_fmp4_t *record_fmp4_new(const uint8_t *audio_hdr, uint32_t audio_len,
                               const uint8_t *video_hdr, uint32_t video_len, const char **err)
{
    record_fmp4_t *m = calloc(1, sizeof *m);
    if (!m) {
        *err = "out of memory";
        return NULL;
    }
    track_new(&m->t[1], 1, video_hdr, video_len);
    track_new(&m->t[0], 0, audio_hdr, audio_len);
    fmp4_track_t tracks[2];
    size_t nt = 0;
    for (int i = 1; i >= 0; i--)
        if (m->t[i].present)
            tracks[nt++] = m->t[i].track;
    *err = "no sequence header of a codec fMP4 carries here (H.264, H.265, AV1, AAC)";
    if (nt == 0 || fmp4_mux_init(tracks, nt, NULL, 0, &m->init_len) != 0) {
        record_fmp4_free(m);
        return NULL;
    }
    m->init = malloc(m->init_len);
    if (!m->init || fmp4_mux_init(tracks, nt, m->init, m->init_len, &m->init_len) != 0) {
        *err = "the init segment could not be written";
        record_fmp4_free(m);
        return NULL;
    }
    return m;
}

void record_fmp4_init_segment(const record_fmp4_t *m, const uint8_t **p, size_t *len)
{
    *p = m->init;
    *len = m->init_len;
}

static int pending(const record_fmp4_t *m)
{
    return m->t[0].n > 0 || m->t[1].n > 0;
}

int record_fmp4_cut_due(const record_fmp4_t *m, uint8_t type, int key, uint32_t dts,
                        uint32_t len)
{
    if (!pending(m))
        return 0;
    const rtrack_t *t = &m->t[type == FLV_TAG_VIDEO];
    if (type == FLV_TAG_VIDEO && key && t->present)
        return 1;
    if (dts - m->first_dts >= RECORD_FMP4_FRAG_MS && dts - m->first_dts < 0x80000000u)
        return 1;
    return m->t[0].len + m->t[1].len + len > RECORD_FMP4_FRAG_BYTES || t->n >= FMP4_MAX_SAMPLES;
}

/* Room for one more sample of need bytes. */
static int grow(rtrack_t *t, size_t need)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        fmp4_sample_t *s = realloc(t->samples, cap * sizeof *s);
        if (s)
            t->samples = s;
        size_t *o = realloc(t->offs, cap * sizeof *o);
        if (o)
            t->offs = o;
        if (!s || !o)
            return -1;
        t->cap = cap;
    }
    if (t->len + need > t->buf_cap) {
        size_t cap = t->buf_cap ? t->buf_cap : 65536;
        while (cap < t->len + need)
            cap *= 2;
        uint8_t *b = realloc(t->buf, cap);
        if (!b)
            return -1;
        t->buf = b;
        t->buf_cap = cap;
    }
    return 0;
}

int record_fmp4_add(record_fmp4_t *m, uint8_t type, uint32_t dts, const uint8_t *body,
                    uint32_t len)
{
    rtrack_t *t = &m->t[type == FLV_TAG_VIDEO];
    if (type != FLV_TAG_VIDEO && type != FLV_TAG_AUDIO)
        return 1;
    if (!t->present)
        return RECORD_FMP4_NO_TRACK;
    fmp4_sample_t s;
    int rc = type == FLV_TAG_VIDEO ? fmp4_mux_sample_video(&t->track, body, len, dts, &s)
                                   : fmp4_mux_sample_audio(&t->track, body, len, dts, &s);
    if (rc != 0)
        return 1; /* no sample, or malformed: left out */
    if (t->n && s.dts_ms < t->samples[t->n - 1].dts_ms)
        s.dts_ms = t->samples[t->n - 1].dts_ms; /* DTS never goes back in a run */
    if (grow(t, s.len) != 0)
        return -1;
    if (!pending(m))
        m->first_dts = dts;
    memcpy(t->buf + t->len, s.data, s.len);
    t->offs[t->n] = t->len;
    t->samples[t->n++] = s;
    t->len += s.len;
    return 0;
}

int record_fmp4_cut(record_fmp4_t *m, int64_t next_video_dts, fmp4_iov_t iov[3], size_t *n)
{
    fmp4_run_t runs[2];
    size_t nr = 0;
    *n = 0;
    if (!pending(m))
        return 0;
    for (int i = 1; i >= 0; i--) {
        rtrack_t *t = &m->t[i];
        if (!t->n)
            continue;
        for (size_t k = 0; k < t->n; k++)
            t->samples[k].data = t->buf + t->offs[k];
        int64_t next = i ? next_video_dts : FMP4_DTS_NONE;
        if (next != FMP4_DTS_NONE && next < t->samples[t->n - 1].dts_ms)
            next = FMP4_DTS_NONE;
        runs[nr++] = (fmp4_run_t){.track = &t->track, .samples = t->samples, .n = t->n,
                                  .next_dts_ms = next};
    }
    size_t hl = 0;
    int rc = fmp4_mux_frag_header(m->seq + 1, runs, nr, NULL, 0, &hl);
    if (rc == 0 && hl > m->frag_hdr_cap) {
        uint8_t *b = realloc(m->frag_hdr, hl);
        if (b) {
            m->frag_hdr = b;
            m->frag_hdr_cap = hl;
        } else {
            rc = -1;
        }
    }
    if (rc == 0)
        rc = fmp4_mux_frag_header(m->seq + 1, runs, nr, m->frag_hdr, m->frag_hdr_cap, &hl);
    iov[(*n)++] = (fmp4_iov_t){m->frag_hdr, hl};
    for (int i = 1; i >= 0; i--)
        if (m->t[i].n)
            iov[(*n)++] = (fmp4_iov_t){m->t[i].buf, m->t[i].len};
    for (int i = 0; i < 2; i++)
        m->t[i].n = m->t[i].len = 0;
    if (rc != 0) {
        *n = 0;
        return -1;
    }
    m->seq++;
    return 0;
}
