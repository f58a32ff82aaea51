/* Fuzz target for fmp4_mux: random sequence headers and sample tag bodies
 * through the whole muxer. Input: a video sequence header body (length
 * byte + bytes), an audio one (same), then samples, each a flags byte (bit
 * 0 audio, bits 1-6 the DTS step in ms, bit 7 a step backwards), a length
 * byte and the tag body. Every body is an exact-size heap copy (reads past
 * it are caught); outputs go into exact-size buffers (writes past the size
 * announced are caught). Checks: the init segment and each fragment are
 * whole boxes filling their length; the iov pieces add up to the flat
 * fragment byte for byte; the codecs parameter fits its bound; a refusal
 * is one of the documented codes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "fmp4_mux.h"

#define FUZZ_MAX_SAMPLES 64

typedef struct {
    const uint8_t *p;
    size_t left;
} input_t;

/* The next length-prefixed chunk as a heap copy (NULL at the end). */
static uint8_t *take(input_t *in, size_t *len)
{
    if (in->left < 1)
        return NULL;
    size_t n = in->p[0];
    if (n > in->left - 1)
        n = in->left - 1;
    uint8_t *c = malloc(n ? n : 1);
    if (!c)
        abort();
    memcpy(c, in->p + 1, n);
    in->p += 1 + n;
    in->left -= 1 + n;
    *len = n;
    return c;
}

/* Top-level boxes must fill buf exactly. */
static void check_boxes(const uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        if (len - off < 8)
            abort();
        uint32_t size = rd_be32(buf + off);
        if (size < 8 || size > len - off)
            abort();
        off += size;
    }
}

static void check_rc(int rc)
{
    if (rc != 0 && rc != NODE_EINVAL && rc != NODE_ELIMIT)
        abort();
}

/* The codecs parameter: a terminated string within its bound. */
static void codec_string(const fmp4_track_t *t)
{
    char buf[FMP4_CODEC_STRING_MAX];
    int rc = fmp4_mux_codec_string(t, buf, sizeof buf);
    if ((rc != 0 && rc != NODE_EPROTO) || !memchr(buf, 0, sizeof buf))
        abort();
}

static void mux_init(const fmp4_track_t *t, size_t n)
{
    size_t need, len;
    int rc = fmp4_mux_init(t, n, NULL, 0, &need);
    check_rc(rc);
    if (rc != 0)
        return;
    uint8_t *buf = malloc(need);
    if (!buf || fmp4_mux_init(t, n, buf, need, &len) != 0 || len != need)
        abort();
    check_boxes(buf, len);
    free(buf);
}

/* The flat fragment, and the header + iov pieces, which must agree. */
static void mux_frag(const fmp4_run_t *runs, size_t nruns)
{
    size_t flen, hlen, count;
    int rc = fmp4_mux_frag_write(1, runs, nruns, NULL, 0, &flen);
    check_rc(rc);
    if (rc != 0)
        return;
    uint8_t *flat = malloc(flen);
    if (!flat || fmp4_mux_frag_write(1, runs, nruns, flat, flen, &flen) != 0)
        abort();
    check_boxes(flat, flen);
    if (fmp4_mux_frag_header(1, runs, nruns, NULL, 0, &hlen) != 0)
        abort();
    uint8_t *hdr = malloc(hlen);
    fmp4_iov_t iov[1 + 2 * FUZZ_MAX_SAMPLES];
    if (!hdr || fmp4_mux_frag_header(1, runs, nruns, hdr, hlen, &hlen) != 0 ||
        fmp4_mux_frag_iov(hdr, hlen, runs, nruns, iov, 1 + 2 * FUZZ_MAX_SAMPLES, &count) != 0)
        abort();
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        if (iov[i].len > flen - off || (iov[i].len && memcmp(flat + off, iov[i].p, iov[i].len)))
            abort();
        off += iov[i].len;
    }
    if (off != flen)
        abort();
    free(hdr);
    free(flat);
}

typedef struct {
    fmp4_track_t track;
    int ok;
    fmp4_sample_t s[FUZZ_MAX_SAMPLES];
    size_t n;
} fuzz_track_t;

static void add_sample(fuzz_track_t *t, int audio, const uint8_t *body, size_t len, int64_t dts)
{
    fmp4_sample_t s;
    int rc = audio ? fmp4_mux_sample_audio(&t->track, body, len, dts, &s)
                   : fmp4_mux_sample_video(&t->track, body, len, dts, &s);
    if (rc != 0 && rc != 1 && rc != NODE_EINVAL && rc != NODE_EPROTO)
        abort();
    if (rc != 0)
        return;
    if (s.data < body || s.data + s.len > body + len)
        abort();
    t->s[t->n++] = s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input_t in = {data, size};
    fuzz_track_t tr[2];
    uint8_t *bodies[2 + 2 * FUZZ_MAX_SAMPLES];
    size_t nb = 0, len;
    const char *err;
    memset(tr, 0, sizeof tr);
    for (int k = 0; k < 2 && (bodies[nb] = take(&in, &len)) != NULL; k++, nb++) {
        int rc = k ? fmp4_mux_track_audio(&tr[k].track, 2, bodies[nb], len, &err)
                   : fmp4_mux_track_video(&tr[k].track, 1, bodies[nb], len, &err);
        tr[k].ok = rc == 0;
    }
    int64_t dts = 0;
    while (in.left >= 1 && nb < 2 + 2 * FUZZ_MAX_SAMPLES) {
        uint8_t f = in.p[0];
        in.p++;
        in.left--;
        if ((bodies[nb] = take(&in, &len)) == NULL)
            break;
        dts += (f & 0x80) ? -(int64_t)((f >> 1) & 0x3f) : (int64_t)((f >> 1) & 0x3f);
        fuzz_track_t *t = &tr[f & 1];
        if (t->ok && t->n < FUZZ_MAX_SAMPLES)
            add_sample(t, f & 1, bodies[nb], len, dts);
        nb++;
    }
    fmp4_track_t tracks[2];
    fmp4_run_t runs[2];
    size_t n = 0;
    for (int k = 0; k < 2; k++)
        if (tr[k].ok) {
            tracks[n] = tr[k].track;
            codec_string(&tracks[n]);
            /* Two fragments: the first half told the second's first DTS. */
            size_t half = tr[k].n / 2;
            runs[n] = (fmp4_run_t){&tracks[n], tr[k].s, half,
                                   half < tr[k].n ? tr[k].s[half].dts_ms : FMP4_DTS_NONE};
            n++;
        }
    if (n > 0) {
        mux_init(tracks, n);
        mux_frag(runs, n);
        for (size_t k = 0; k < n; k++) {
            fuzz_track_t *t = tracks[k].id == 1 ? &tr[0] : &tr[1];
            runs[k].samples += runs[k].n;
            runs[k].n = t->n - runs[k].n;
            runs[k].next_dts_ms = FMP4_DTS_NONE;
        }
        mux_frag(runs, n);
    }
    for (size_t i = 0; i < nb; i++)
        free(bodies[i]);
    return 0;
}
