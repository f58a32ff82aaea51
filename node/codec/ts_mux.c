/* ts_mux: see ts_mux.h.
 *
 * A tag's output is PAT and PMT (one packet each) when due, then its PES
 * in as many packets as it needs. The PES bytes are read from spans (the
 * PES header with the AUD or the ADTS header, then start codes, parameter
 * sets and NAL units, or the raw AAC frame) and copied straight into the
 * packets: nothing is assembled in between. */
#include "ts_mux.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flv.h"
#include "media_cfg.h"

#define TS_PAYLOAD 184           /* bytes after the 4-byte packet header */
#define TS_PCR_AF 8              /* adaptation field with a PCR: length, flags, 6 bytes */
#define TS_MASK33 0x1ffffffffULL /* PTS, DTS and PCR base: 33 bits */
#define PES_MAX_HEADER 19
#define AUD_MAX 7

enum { KIND_NONE, KIND_VIDEO, KIND_AUDIO };
enum { CC_PAT, CC_PMT, CC_VIDEO, CC_AUDIO, CC_COUNT };

struct ts_mux {
    uint8_t cc[CC_COUNT];
    /* video: a copy of the last configuration record, parsed */
    uint8_t *vrec;
    media_vcfg_t vcfg;
    int have_v, vhevc;
    /* audio */
    media_aac_cfg_t acfg;
    int have_a;
    /* PSI: the version and signature (pmt_signature()) of the last PMT written */
    int pmt_ver, pmt_sig, psi_pending, psi_seen;
    int64_t last_psi_ext;
    /* the timeline: the last written tag's ts, unwrapped past 2^32 ms */
    int ts_seen;
    uint32_t last_ts;
    int64_t last_ext;
};

static const uint8_t START_CODE[4] = {0, 0, 0, 1};
static const uint8_t AUD_H264[6] = {0, 0, 0, 1, 0x09, 0xf0};       /* primary_pic_type 7 */
static const uint8_t AUD_H265[7] = {0, 0, 0, 1, 0x46, 0x01, 0x50}; /* type 35, pic_type 2 */

ts_mux_t *ts_mux_new(void)
{
    ts_mux_t *m = calloc(1, sizeof *m);
    if (m)
        m->psi_pending = 1;
    return m;
}

void ts_mux_free(ts_mux_t *m)
{
    if (!m)
        return;
    free(m->vrec);
    free(m);
}

void ts_mux_reset(ts_mux_t *m)
{
    free(m->vrec);
    m->vrec = NULL;
    memset(&m->vcfg, 0, sizeof m->vcfg);
    m->have_v = m->have_a = 0;
    m->psi_pending = 1;
}

uint32_t ts_crc32(const uint8_t *p, size_t len)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint32_t)p[i] << 24;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x04c11db7u : crc << 1;
    }
    return crc;
}

/* ---- configuration ------------------------------------------------------ */

static int pmt_signature(const ts_mux_t *m)
{
    return (m->have_v ? 1 + m->vhevc : 0) | (m->have_a ? 4 : 0);
}

/* The PMT's content may have changed: PAT/PMT go out before the next
 * output (put_pmt() raises the version if it differs from the last). */
static void pmt_update(ts_mux_t *m, int old_sig)
{
    if (pmt_signature(m) != old_sig)
        m->psi_pending = 1;
}

static int set_vconfig(ts_mux_t *m, const media_video_pkt_t *pk, const char **err)
{
    uint8_t *copy = malloc(pk->len ? pk->len : 1);
    if (!copy) {
        *err = "out of memory for the video configuration";
        return NODE_ENOMEM;
    }
    memcpy(copy, pk->data, pk->len);
    media_vcfg_t cfg;
    int rc = pk->hevc ? media_hvcc_parse(copy, pk->len, &cfg, err)
                      : media_avcc_parse(copy, pk->len, &cfg, err);
    if (rc != 0) {
        free(copy);
        return rc;
    }
    int old = pmt_signature(m);
    free(m->vrec);
    m->vrec = copy;
    m->vcfg = cfg;
    m->vhevc = pk->hevc;
    m->have_v = 1;
    pmt_update(m, old);
    return 0;
}

static int set_aconfig(ts_mux_t *m, const media_audio_pkt_t *pk, const char **err)
{
    media_aac_cfg_t cfg;
    int rc = media_aac_asc_parse(pk->data, pk->len, &cfg, err);
    if (rc != 0)
        return rc;
    int old = pmt_signature(m);
    m->acfg = cfg;
    m->have_a = 1;
    pmt_update(m, old);
    return 0;
}

/* ---- planning ----------------------------------------------------------- */

static int is_aud(const uint8_t *nal, int hevc)
{
    return media_nal_type(nal, hevc) == (hevc ? 35 : 9);
}

static int64_t unwrap(const ts_mux_t *m, uint32_t ts)
{
    return m->ts_seen ? m->last_ext + (int32_t)(ts - m->last_ts) : (int64_t)ts;
}

static uint64_t to_90k(int64_t ms)
{
    return (uint64_t)(ms * 90) & TS_MASK33;
}

static size_t pes_header_len(const ts_mux_plan_t *pl)
{
    return 9 + (pl->kind == KIND_VIDEO && pl->pts != pl->dts ? 10 : 5);
}

/* The packet count and the size, once kind, psi, pcr, timestamps and
 * es_len are known. */
static void plan_size(ts_mux_plan_t *pl)
{
    size_t total = pes_header_len(pl) + pl->es_len;
    size_t first = TS_PAYLOAD - (pl->pcr ? TS_PCR_AF : 0);
    pl->npes = total <= first ? 1 : 1 + (total - first + TS_PAYLOAD - 1) / TS_PAYLOAD;
    pl->size = (pl->npes + (pl->psi ? 2 : 0)) * TS_PACKET_SIZE;
}

/* The Annex B size of a frame's NAL units (AUDs left out), and whether it
 * carries parameter sets. */
static int video_es_size(const ts_mux_t *m, const media_video_pkt_t *pk, size_t *es, int *has_ps,
                         const char **err)
{
    media_nal_iter_t it;
    const uint8_t *nal;
    size_t n;
    int r;
    *es = 0;
    *has_ps = 0;
    media_nal_iter_init(&it, pk->data, pk->len, m->vcfg.nal_len_size);
    while ((r = media_nal_next(&it, &nal, &n, err)) == 1) {
        if (is_aud(nal, pk->hevc))
            continue;
        *has_ps |= media_nal_is_param_set(media_nal_type(nal, pk->hevc), pk->hevc);
        *es += sizeof START_CODE + n;
    }
    return r;
}

static int plan_video(ts_mux_t *m, uint32_t ts, const uint8_t *body, size_t len, ts_mux_plan_t *pl,
                      const char **err)
{
    media_video_pkt_t pk;
    int rc = media_video_parse(body, len, &pk, err);
    if (rc != 0)
        return rc;
    if (pk.kind == MEDIA_PKT_CONFIG)
        return set_vconfig(m, &pk, err);
    if (pk.kind != MEDIA_PKT_FRAME || !m->have_v || pk.hevc != m->vhevc)
        return 0; /* nothing to write, or no configuration for this codec yet */
    size_t es;
    int has_ps;
    rc = video_es_size(m, &pk, &es, &has_ps, err);
    if (rc < 0)
        return rc;
    if (es == 0)
        return 0;
    pl->insert_ps = pk.key && !has_ps;
    for (size_t i = 0; pl->insert_ps && i < m->vcfg.nsets; i++)
        es += sizeof START_CODE + m->vcfg.set_len[i];
    pl->es_len = es + (pk.hevc ? sizeof AUD_H265 : sizeof AUD_H264);
    pl->kind = KIND_VIDEO;
    pl->key = pk.key;
    pl->data = pk.data;
    pl->data_len = pk.len;
    pl->ext_ts = unwrap(m, ts);
    pl->dts = to_90k(pl->ext_ts);
    pl->pts = to_90k(pl->ext_ts + pk.cts);
    pl->psi = m->psi_pending || pk.key;
    pl->pcr = 1;
    pl->rap = pk.key;
    plan_size(pl);
    return 0;
}

static int plan_audio(ts_mux_t *m, uint32_t ts, const uint8_t *body, size_t len, ts_mux_plan_t *pl,
                      const char **err)
{
    media_audio_pkt_t pk;
    int rc = media_audio_parse(body, len, &pk, err);
    if (rc != 0)
        return rc;
    if (pk.kind == MEDIA_PKT_CONFIG)
        return set_aconfig(m, &pk, err);
    if (pk.kind != MEDIA_PKT_FRAME || !m->have_a || pk.len == 0)
        return 0;
    uint8_t adts[MEDIA_ADTS_HEADER_SIZE];
    if (media_adts_header(&m->acfg, pk.len, adts) != 0) {
        *err = "AAC frame too long for ADTS";
        return NODE_EINVAL;
    }
    pl->kind = KIND_AUDIO;
    pl->data = pk.data;
    pl->data_len = pk.len;
    pl->es_len = MEDIA_ADTS_HEADER_SIZE + pk.len;
    pl->ext_ts = unwrap(m, ts);
    pl->dts = pl->pts = to_90k(pl->ext_ts);
    /* Without video, audio frames are the random access points. */
    int due = !m->psi_seen || pl->ext_ts - m->last_psi_ext >= TS_MUX_AUDIO_PSI_MS ||
              pl->ext_ts < m->last_psi_ext;
    pl->psi = m->psi_pending || (!m->have_v && due);
    pl->pcr = !m->have_v;
    pl->rap = pl->psi && !m->have_v;
    plan_size(pl);
    return 0;
}

int ts_mux_plan(ts_mux_t *m, uint8_t type, uint32_t ts, const uint8_t *body, size_t len,
                ts_mux_plan_t *pl, const char **err)
{
    memset(pl, 0, sizeof *pl);
    if (type == FLV_TAG_VIDEO)
        return plan_video(m, ts, body, len, pl, err);
    if (type == FLV_TAG_AUDIO)
        return plan_audio(m, ts, body, len, pl, err);
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

/* A 5-byte PTS or DTS field with its 4-bit prefix. */
static void put_ts(uint8_t *p, unsigned prefix, uint64_t t)
{
    p[0] = (uint8_t)((prefix << 4) | ((t >> 29) & 0x0e) | 1);
    p[1] = (uint8_t)(t >> 22);
    p[2] = (uint8_t)(((t >> 14) & 0xfe) | 1);
    p[3] = (uint8_t)(t >> 7);
    p[4] = (uint8_t)(((t << 1) & 0xfe) | 1);
}

/* PCR base t, extension 0. */
static void put_pcr(uint8_t *p, uint64_t t)
{
    p[0] = (uint8_t)(t >> 25);
    p[1] = (uint8_t)(t >> 17);
    p[2] = (uint8_t)(t >> 9);
    p[3] = (uint8_t)(t >> 1);
    p[4] = (uint8_t)(((t & 1) << 7) | 0x7e);
    p[5] = 0;
}

/* One packet holding a whole PSI section (pointer field 0, 0xff after). */
static void put_psi(uint8_t *p, unsigned pid, uint8_t *cc, const uint8_t *sec, size_t len)
{
    p[0] = 0x47;
    p[1] = (uint8_t)(0x40 | (pid >> 8));
    p[2] = (uint8_t)pid;
    p[3] = (uint8_t)(0x10 | (*cc & 0x0f));
    *cc = (uint8_t)((*cc + 1) & 0x0f);
    p[4] = 0;
    memcpy(p + 5, sec, len);
    memset(p + 5 + len, 0xff, TS_PAYLOAD - 1 - len);
}

static size_t put_crc(uint8_t *sec, size_t len)
{
    wr_be32(sec + len, ts_crc32(sec, len));
    return len + 4;
}

static void put_pat(ts_mux_t *m, uint8_t *p)
{
    uint8_t s[16] = {0x00,
                     0xb0,
                     13,
                     0x00,
                     0x01,
                     0xc1,
                     0x00,
                     0x00, /* ts id 1, version 0 */
                     0x00,
                     0x01,
                     0xe0 | (TS_PID_PMT >> 8),
                     TS_PID_PMT & 0xff};
    put_psi(p, 0, &m->cc[CC_PAT], s, put_crc(s, 12));
}

static size_t pmt_stream(uint8_t *s, uint8_t type, unsigned pid)
{
    s[0] = type;
    s[1] = (uint8_t)(0xe0 | (pid >> 8));
    s[2] = (uint8_t)pid;
    s[3] = 0xf0; /* ES_info_length 0 */
    s[4] = 0;
    return 5;
}

static void put_pmt(ts_mux_t *m, uint8_t *p)
{
    uint8_t s[32];
    unsigned pcr_pid = m->have_v ? TS_PID_VIDEO : m->have_a ? TS_PID_AUDIO : 0x1fff;
    if (m->psi_seen && pmt_signature(m) != m->pmt_sig)
        m->pmt_ver = (m->pmt_ver + 1) & 31;
    m->pmt_sig = pmt_signature(m);
    s[0] = 0x02;
    s[3] = 0x00;
    s[4] = 0x01; /* program 1 */
    s[5] = (uint8_t)(0xc1 | (m->pmt_ver << 1));
    s[6] = s[7] = 0;
    s[8] = (uint8_t)(0xe0 | (pcr_pid >> 8));
    s[9] = (uint8_t)pcr_pid;
    s[10] = 0xf0; /* program_info_length 0 */
    s[11] = 0;
    size_t n = 12;
    if (m->have_v)
        n += pmt_stream(s + n, m->vhevc ? TS_STREAM_TYPE_H265 : TS_STREAM_TYPE_H264, TS_PID_VIDEO);
    if (m->have_a)
        n += pmt_stream(s + n, TS_STREAM_TYPE_AAC, TS_PID_AUDIO);
    s[1] = (uint8_t)(0xb0 | ((n + 1) >> 8)); /* section_length: after it, CRC included */
    s[2] = (uint8_t)(n + 1);
    put_psi(p, TS_PID_PMT, &m->cc[CC_PMT], s, put_crc(s, n));
}

/* The PES bytes as spans (see the top of this file). */
enum { SRC_HEAD, SRC_PS, SRC_NAL, SRC_RAW, SRC_END };

typedef struct {
    const ts_mux_t *m;
    const ts_mux_plan_t *pl;
    int stage;
    size_t idx;
    media_nal_iter_t it;
    const uint8_t *nal; /* a NAL unit whose start code is the current span */
    size_t nal_len;
    uint8_t head[PES_MAX_HEADER + AUD_MAX];
    size_t head_len;
    const uint8_t *p;
    size_t left;
} es_src_t;

static void src_init(es_src_t *s, const ts_mux_t *m, const ts_mux_plan_t *pl)
{
    memset(s, 0, sizeof *s);
    s->m = m;
    s->pl = pl;
    int video = pl->kind == KIND_VIDEO, both = video && pl->pts != pl->dts;
    uint8_t *h = s->head;
    size_t hl = pes_header_len(pl);
    size_t plen = hl - 6 + pl->es_len;
    h[0] = h[1] = 0;
    h[2] = 1;
    h[3] = video ? 0xe0 : 0xc0;
    wr_be16(h + 4, video || plen > 0xffff ? 0 : (uint32_t)plen);
    h[6] = 0x80;
    h[7] = both ? 0xc0 : 0x80;
    h[8] = (uint8_t)(hl - 9);
    put_ts(h + 9, both ? 3 : 2, pl->pts);
    if (both)
        put_ts(h + 14, 1, pl->dts);
    if (video) {
        const uint8_t *aud = m->vhevc ? AUD_H265 : AUD_H264;
        size_t alen = m->vhevc ? sizeof AUD_H265 : sizeof AUD_H264;
        memcpy(h + hl, aud, alen);
        hl += alen;
    } else {
        media_adts_header(&m->acfg, pl->data_len, h + hl); /* checked by the plan */
        hl += MEDIA_ADTS_HEADER_SIZE;
    }
    s->head_len = hl;
}

static void src_span(es_src_t *s, const uint8_t *p, size_t n)
{
    s->p = p;
    s->left = n;
}

/* The next span into s->p/left; 0 at the end. */
static int src_next(es_src_t *s)
{
    const char *err;
    for (;;) {
        switch (s->stage) {
        case SRC_HEAD:
            src_span(s, s->head, s->head_len);
            s->stage = s->pl->kind == KIND_VIDEO ? SRC_PS : SRC_RAW;
            return 1;
        case SRC_PS:
            if (!s->pl->insert_ps || s->idx >= 2 * s->m->vcfg.nsets) {
                media_nal_iter_init(&s->it, s->pl->data, s->pl->data_len, s->m->vcfg.nal_len_size);
                s->stage = SRC_NAL;
                continue;
            }
            if (s->idx % 2 == 0)
                src_span(s, START_CODE, sizeof START_CODE);
            else
                src_span(s, s->m->vcfg.sets[s->idx / 2], s->m->vcfg.set_len[s->idx / 2]);
            s->idx++;
            return 1;
        case SRC_NAL:
            if (s->nal) {
                src_span(s, s->nal, s->nal_len);
                s->nal = NULL;
                return 1;
            }
            while (media_nal_next(&s->it, &s->nal, &s->nal_len, &err) == 1) {
                if (is_aud(s->nal, s->m->vhevc))
                    continue;
                src_span(s, START_CODE, sizeof START_CODE);
                return 1;
            }
            s->nal = NULL;
            s->stage = SRC_END;
            return 0;
        case SRC_RAW:
            src_span(s, s->pl->data, s->pl->data_len);
            s->stage = SRC_END;
            return 1;
        default: return 0;
        }
    }
}

static void src_copy(es_src_t *s, uint8_t *dst, size_t n)
{
    while (n) {
        if (s->left == 0 && !src_next(s))
            abort(); /* the plan counted more bytes than there are: a bug */
        size_t k = n < s->left ? n : s->left;
        memcpy(dst, s->p, k);
        dst += k;
        s->p += k;
        s->left -= k;
        n -= k;
    }
}

/* The 4-byte header and the adaptation field (af bytes, 0 for none; the
 * first packet's PCR and random access flag, the rest stuffing). Returns
 * where the payload starts. */
static uint8_t *put_pes_head(uint8_t *p, const ts_mux_plan_t *pl, unsigned pid, uint8_t *cc,
                             int first, size_t af)
{
    p[0] = 0x47;
    p[1] = (uint8_t)((first ? 0x40 : 0) | (pid >> 8));
    p[2] = (uint8_t)pid;
    p[3] = (uint8_t)((af ? 0x30 : 0x10) | (*cc & 0x0f));
    *cc = (uint8_t)((*cc + 1) & 0x0f);
    uint8_t *q = p + 4;
    if (!af)
        return q;
    q[0] = (uint8_t)(af - 1);
    if (af == 1)
        return q + 1;
    int pcr = first && pl->pcr;
    q[1] = (uint8_t)((first && pl->rap ? 0x40 : 0) | (pcr ? 0x10 : 0));
    size_t used = 2;
    if (pcr) {
        put_pcr(q + 2, pl->dts);
        used += 6;
    }
    memset(q + used, 0xff, af - used);
    return q + af;
}

static void put_pes(ts_mux_t *m, const ts_mux_plan_t *pl, uint8_t *out)
{
    es_src_t src;
    src_init(&src, m, pl);
    int video = pl->kind == KIND_VIDEO;
    unsigned pid = video ? TS_PID_VIDEO : TS_PID_AUDIO;
    uint8_t *cc = &m->cc[video ? CC_VIDEO : CC_AUDIO];
    size_t remain = pes_header_len(pl) + pl->es_len;
    for (size_t i = 0; i < pl->npes; i++) {
        size_t af = i == 0 && pl->pcr ? TS_PCR_AF : 0;
        size_t take = remain < TS_PAYLOAD - af ? remain : TS_PAYLOAD - af;
        af = TS_PAYLOAD - take; /* stuffing fills the rest */
        uint8_t *q = put_pes_head(out + i * TS_PACKET_SIZE, pl, pid, cc, i == 0, af);
        src_copy(&src, q, take);
        remain -= take;
    }
}

void ts_mux_write(ts_mux_t *m, const ts_mux_plan_t *pl, uint8_t *out)
{
    if (pl->size == 0)
        return;
    if (pl->psi) {
        put_pat(m, out);
        put_pmt(m, out + TS_PACKET_SIZE);
        out += 2 * TS_PACKET_SIZE;
        m->psi_pending = 0;
        m->psi_seen = 1;
        m->last_psi_ext = pl->ext_ts;
    }
    put_pes(m, pl, out);
    m->ts_seen = 1;
    m->last_ext = pl->ext_ts;
    m->last_ts = (uint32_t)pl->ext_ts;
}

int ts_mux_tag(ts_mux_t *m, uint8_t type, uint32_t ts, const uint8_t *body, size_t len,
               uint8_t **out, size_t *out_len, int *rap, const char **err)
{
    ts_mux_plan_t pl;
    *out = NULL;
    *out_len = 0;
    *rap = 0;
    int rc = ts_mux_plan(m, type, ts, body, len, &pl, err);
    if (rc != 0 || pl.size == 0)
        return rc;
    uint8_t *buf = malloc(pl.size);
    if (!buf) {
        *err = "out of memory for MPEG-TS output";
        return NODE_ENOMEM;
    }
    ts_mux_write(m, &pl, buf);
    *out = buf;
    *out_len = pl.size;
    *rap = pl.rap;
    return 0;
}
