/* fmp4_mux: fragments (see fmp4_mux.h): moof { mfhd, traf { tfhd, tfdt,
 * trun }... } then mdat (ISO/IEC 14496-12 8.8). The moof is written twice
 * by the same code: once counted, to learn its size (the trun data offsets
 * point past it), then for real. */
#include "fmp4_mux.h"

#include <string.h>

#include "common.h"
#include "fmp4_box.h"

#define TFHD_DEFAULT_BASE_IS_MOOF 0x020000
#define TRUN_DATA_OFFSET 0x000001
#define TRUN_DURATION 0x000100
#define TRUN_SIZE 0x000200
#define TRUN_FLAGS 0x000400
#define TRUN_CTS 0x000800
/* sample_flags: sample_depends_on 2 (an I picture), or 1 and
 * sample_is_non_sync_sample (14496-12 8.8.3.1). */
#define SAMPLE_SYNC 0x02000000u
#define SAMPLE_NON_SYNC 0x01010000u
#define MDAT_HEADER 8
#define FRAG_MAX_BYTES ((size_t)INT32_MAX) /* trun's data_offset is signed 32-bit */

/* floor(ms * timescale / 1000): ms to ticks, also for a negative ms. */
static int64_t ticks(int64_t ms, uint32_t timescale)
{
    int64_t v = ms * (int64_t)timescale;
    int64_t q = v / 1000;
    return (v % 1000 < 0) ? q - 1 : q;
}

static uint32_t clamp_u32(int64_t v)
{
    return v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* Duration in ticks of sample i of run r. */
static uint32_t sample_duration(const fmp4_run_t *r, size_t i)
{
    uint32_t ts = r->track->timescale;
    int64_t t = ticks(r->samples[i].dts_ms, ts);
    if (i + 1 < r->n)
        return clamp_u32(ticks(r->samples[i + 1].dts_ms, ts) - t);
    if (r->next_dts_ms != FMP4_DTS_NONE)
        return clamp_u32(ticks(r->next_dts_ms, ts) - t);
    return i > 0 ? sample_duration(r, i - 1) : r->track->default_duration;
}

static int is_video(const fmp4_track_t *t)
{
    return t->codec != FMP4_AAC;
}

static int dts_ok(int64_t dts)
{
    return dts >= 0 && dts < FMP4_MAX_DTS_MS;
}

/* One run's checks: track, sample count, DTS range and order. */
static int run_check(const fmp4_run_t *r)
{
    if (!r->track || r->track->timescale == 0 || r->track->timescale > FMP4_MAX_TIMESCALE ||
        r->track->id == 0 || (r->n && !r->samples))
        return NODE_EINVAL;
    if (r->n > FMP4_MAX_SAMPLES)
        return NODE_ELIMIT;
    if (r->next_dts_ms != FMP4_DTS_NONE && !dts_ok(r->next_dts_ms))
        return NODE_EINVAL;
    for (size_t i = 0; i < r->n; i++) {
        const fmp4_sample_t *s = &r->samples[i];
        if (!dts_ok(s->dts_ms) || (i > 0 && s->dts_ms < r->samples[i - 1].dts_ms) ||
            (s->len > 0 && !s->data))
            return NODE_EINVAL;
    }
    return 0;
}

static int frag_check(const fmp4_run_t *runs, size_t nruns)
{
    size_t samples = 0;
    if (nruns > FMP4_MAX_TRACKS)
        return NODE_EINVAL;
    for (size_t i = 0; i < nruns; i++) {
        int rc = run_check(&runs[i]);
        if (rc != 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (runs[j].track->id == runs[i].track->id)
                return NODE_EINVAL;
        samples += runs[i].n;
    }
    if (samples == 0)
        return NODE_EINVAL;
    if (fmp4_mux_frag_payload_len(runs, nruns) > FRAG_MAX_BYTES)
        return NODE_ELIMIT;
    return 0;
}

static size_t run_bytes(const fmp4_run_t *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += r->samples[i].len;
    return n;
}

size_t fmp4_mux_frag_payload_len(const fmp4_run_t *runs, size_t nruns)
{
    size_t n = 0;
    for (size_t i = 0; i < nruns; i++)
        n += run_bytes(&runs[i]);
    return n;
}

static void trun(fmp4_box_t *w, const fmp4_run_t *r, size_t data_offset)
{
    int video = is_video(r->track);
    uint32_t flags = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS;
    size_t b = fmp4_box_open_full(w, "trun", 1, video ? flags | TRUN_CTS : flags);
    fmp4_box_u32(w, (uint32_t)r->n);
    fmp4_box_u32(w, (uint32_t)data_offset);
    uint32_t ts = r->track->timescale;
    for (size_t i = 0; i < r->n; i++) {
        const fmp4_sample_t *s = &r->samples[i];
        fmp4_box_u32(w, sample_duration(r, i));
        fmp4_box_u32(w, (uint32_t)s->len);
        fmp4_box_u32(w, s->key || !video ? SAMPLE_SYNC : SAMPLE_NON_SYNC);
        if (video) {
            int64_t off = ticks(s->dts_ms + s->cts_ms, ts) - ticks(s->dts_ms, ts);
            fmp4_box_u32(w, (uint32_t)(int32_t)off); /* version 1: signed */
        }
    }
    fmp4_box_end(w, b);
}

static void traf(fmp4_box_t *w, const fmp4_run_t *r, size_t data_offset)
{
    size_t b = fmp4_box_open(w, "traf");
    size_t h = fmp4_box_open_full(w, "tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF);
    fmp4_box_u32(w, r->track->id);
    fmp4_box_end(w, h);
    h = fmp4_box_open_full(w, "tfdt", 1, 0);
    fmp4_box_u64(w, (uint64_t)ticks(r->samples[0].dts_ms, r->track->timescale));
    fmp4_box_end(w, h);
    trun(w, r, data_offset);
    fmp4_box_end(w, b);
}

/* moof; its size moof_size (0 while counting) places the data offsets. */
static void moof(fmp4_box_t *w, uint32_t seq, const fmp4_run_t *runs, size_t nruns,
                 size_t moof_size)
{
    size_t b = fmp4_box_open(w, "moof");
    size_t h = fmp4_box_open_full(w, "mfhd", 0, 0);
    fmp4_box_u32(w, seq);
    fmp4_box_end(w, h);
    size_t offset = moof_size + MDAT_HEADER;
    for (size_t i = 0; i < nruns; i++) {
        if (runs[i].n == 0)
            continue;
        traf(w, &runs[i], offset);
        offset += run_bytes(&runs[i]);
    }
    fmp4_box_end(w, b);
}

int fmp4_mux_frag_header(uint32_t seq, const fmp4_run_t *runs, size_t nruns, uint8_t *buf,
                         size_t cap, size_t *len)
{
    *len = 0;
    int rc = frag_check(runs, nruns);
    if (rc != 0)
        return rc;
    fmp4_box_t w;
    fmp4_box_init(&w, NULL, 0);
    moof(&w, seq, runs, nruns, 0);
    size_t moof_size = w.pos;
    size_t payload = fmp4_mux_frag_payload_len(runs, nruns);
    *len = moof_size + MDAT_HEADER;
    if (*len + payload > FRAG_MAX_BYTES)
        return NODE_ELIMIT;
    if (!buf)
        return 0;
    if (cap < *len)
        return NODE_ELIMIT;
    fmp4_box_init(&w, buf, cap);
    moof(&w, seq, runs, nruns, moof_size);
    fmp4_box_u32(&w, (uint32_t)(MDAT_HEADER + payload));
    fmp4_box_cc(&w, "mdat");
    return 0;
}

int fmp4_mux_frag_iov(const uint8_t *hdr, size_t hdr_len, const fmp4_run_t *runs, size_t nruns,
                      fmp4_iov_t *iov, size_t cap, size_t *count)
{
    size_t n = 1;
    for (size_t i = 0; i < nruns; i++)
        n += runs[i].n;
    *count = n;
    if (cap < n)
        return NODE_ELIMIT;
    iov[0].p = hdr;
    iov[0].len = hdr_len;
    n = 1;
    for (size_t i = 0; i < nruns; i++)
        for (size_t j = 0; j < runs[i].n; j++) {
            iov[n].p = runs[i].samples[j].data;
            iov[n++].len = runs[i].samples[j].len;
        }
    return 0;
}

int fmp4_mux_frag_write(uint32_t seq, const fmp4_run_t *runs, size_t nruns, uint8_t *buf,
                        size_t cap, size_t *len)
{
    size_t hdr;
    int rc = fmp4_mux_frag_header(seq, runs, nruns, NULL, 0, &hdr);
    if (rc != 0) {
        *len = 0;
        return rc;
    }
    *len = hdr + fmp4_mux_frag_payload_len(runs, nruns);
    if (!buf)
        return 0;
    if (cap < *len)
        return NODE_ELIMIT;
    rc = fmp4_mux_frag_header(seq, runs, nruns, buf, cap, &hdr);
    if (rc != 0)
        return rc;
    size_t off = hdr;
    for (size_t i = 0; i < nruns; i++)
        for (size_t j = 0; j < runs[i].n; j++) {
            const fmp4_sample_t *s = &runs[i].samples[j];
            if (s->len)
                memcpy(buf + off, s->data, s->len);
            off += s->len;
        }
    return 0;
}
