#include "rtmp_session_mutator.h"

#include <stdlib.h>
#include <string.h>

#include "amf0.h"
#include "common.h"
#include "rtmp_chunk.h"

/* libFuzzer's own mutator; weak so that the replay build (no libFuzzer)
 * links: the custom mutator is only ever called by libFuzzer. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size) __attribute__((weak));

#define EXT_TS 0xffffffu
#define PAYLOAD_GROWTH 256 /* most bytes a payload mutation may add */

/* ---- chunk stream state (what the server's parser keeps per csid) ------ */

typedef struct {
    uint32_t csid, len, sid, delta, ext_ts, got;
    uint8_t type, ext;
    long active; /* parsing: the message in progress, or -1 */
} cs_state_t;

typedef struct {
    cs_state_t cs[RSM_MAX_CS];
    size_t ncs;
    uint32_t chunk_size;
} cs_table_t;

static cs_table_t *table_new(void)
{
    cs_table_t *t = calloc(1, sizeof *t);
    if (t)
        t->chunk_size = RTMP_DEFAULT_CHUNK_SIZE;
    return t;
}

static cs_state_t *cs_find(cs_table_t *t, uint32_t csid)
{
    for (size_t i = 0; i < t->ncs; i++)
        if (t->cs[i].csid == csid)
            return &t->cs[i];
    return NULL;
}

static cs_state_t *cs_add(cs_table_t *t, uint32_t csid)
{
    if (t->ncs == RSM_MAX_CS)
        return NULL;
    cs_state_t *cs = &t->cs[t->ncs++];
    memset(cs, 0, sizeof *cs);
    cs->csid = csid;
    cs->active = -1;
    return cs;
}

/* A complete Set Chunk Size changes the chunk size of what follows. */
static void msg_done(cs_table_t *t, uint8_t type, const uint8_t *payload, uint32_t plen,
                     uint32_t len)
{
    if (type != RTMP_MSG_SET_CHUNK_SIZE || plen < 4 || plen < len)
        return;
    uint32_t size = rd_be32(payload) & 0x7fffffff;
    if (size)
        t->chunk_size = size;
}

/* ---- parsing ------------------------------------------------------------ */

static int basic_header(const uint8_t *d, size_t n, size_t *pos, uint8_t *fmt, uint32_t *csid)
{
    size_t p = *pos;
    if (p >= n)
        return 0;
    *fmt = d[p] >> 6;
    uint32_t id = d[p] & 0x3f;
    size_t extra = id == 0 ? 1 : id == 1 ? 2 : 0;
    if (n - p < 1 + extra)
        return 0;
    if (id == 0)
        id = 64 + d[p + 1];
    else if (id == 1)
        id = 64 + d[p + 1] + ((uint32_t)d[p + 2] << 8);
    *csid = id;
    *pos = p + 1 + extra;
    return 1;
}

static rsm_msg_t *msg_append(rsm_stream_t *s)
{
    if (s->n == RSM_MAX_MSGS)
        return NULL;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        rsm_msg_t *m = realloc(s->msgs, cap * sizeof *m);
        if (!m)
            return NULL;
        s->msgs = m;
        s->cap = cap;
    }
    rsm_msg_t *m = &s->msgs[s->n++];
    memset(m, 0, sizeof *m);
    return m;
}

/* Copies up to want payload bytes of the chunk at *pos into m. */
static uint32_t take_payload(rsm_msg_t *m, cs_state_t *cs, const uint8_t *d, size_t n, size_t *pos,
                             uint32_t want)
{
    size_t k = n - *pos < want ? n - *pos : want;
    if (k)
        memcpy(m->payload + m->plen, d + *pos, k);
    m->plen += (uint32_t)k;
    cs->got += (uint32_t)k;
    *pos += k;
    return (uint32_t)k;
}

/* Starts a message with the header just read (fields already applied). */
static int new_message(rsm_stream_t *s, cs_table_t *t, cs_state_t *cs, uint8_t fmt, uint32_t tsf,
                       int ext_rep, const uint8_t *d, size_t n, size_t *pos)
{
    rsm_msg_t *m = msg_append(s);
    if (!m)
        return 0;
    *m = (rsm_msg_t){.fmt = fmt,
                     .type = cs->type,
                     .ext_rep = fmt == 3 ? ext_rep : 1,
                     .csid = cs->csid,
                     .tsf = tsf,
                     .len = cs->len,
                     .sid = cs->sid};
    size_t cap = n - *pos < cs->len ? n - *pos : cs->len;
    if (cap && !(m->payload = malloc(cap))) {
        s->n--;
        return 0;
    }
    cs->got = 0;
    take_payload(m, cs, d, n, pos, cs->len < t->chunk_size ? cs->len : t->chunk_size);
    if (cs->got < cs->len)
        cs->active = (long)(s->n - 1);
    else
        msg_done(t, m->type, m->payload, m->plen, m->len);
    return 1;
}

/* Parses one chunk at *pos. Returns 1 (advanced) or 0 (the rest is tail). */
static int parse_chunk(rsm_stream_t *s, cs_table_t *t, const uint8_t *d, size_t n, size_t *pos)
{
    static const uint8_t hdr_len[4] = {11, 7, 3, 0};
    size_t p = *pos;
    uint8_t fmt;
    uint32_t csid;
    if (!basic_header(d, n, &p, &fmt, &csid))
        return 0;
    cs_state_t *cs = cs_find(t, csid);
    if (!cs && (fmt != 0 || !(cs = cs_add(t, csid))))
        return 0;
    if (fmt != 3 && cs->active >= 0)
        return 0; /* the server refuses a header inside a message */
    if (n - p < hdr_len[fmt])
        return 0;
    const uint8_t *h = d + p;
    p += hdr_len[fmt];
    uint32_t field = fmt <= 2 ? rd_be24(h) : 0;
    int ext = fmt <= 2 ? field == EXT_TS : cs->ext, ext_rep = 0;
    if (ext) {
        if (n - p < 4)
            return 0;
        uint32_t v = rd_be32(d + p);
        if (fmt <= 2 || v == cs->ext_ts) {
            field = v;
            ext_rep = fmt == 3;
            p += 4;
        }
    }
    if (fmt == 3 && cs->active >= 0) {
        rsm_msg_t *m = &s->msgs[cs->active];
        uint32_t left = m->len - cs->got;
        if (p == n)
            return 0; /* keep a bare continuation header in the tail */
        m->ext_rep = (uint8_t)ext_rep;
        take_payload(m, cs, d, n, &p, left < t->chunk_size ? left : t->chunk_size);
        if (cs->got == m->len) {
            cs->active = -1;
            msg_done(t, m->type, m->payload, m->plen, m->len);
        }
        *pos = p;
        return 1;
    }
    if (fmt <= 1) {
        cs->len = rd_be24(h + 3);
        cs->type = h[6];
    }
    if (fmt == 0)
        cs->sid = rd_le32(h + 7);
    if (fmt <= 2) {
        cs->ext = (uint8_t)ext;
        cs->ext_ts = field;
        cs->delta = field;
    }
    if (!new_message(s, t, cs, fmt, fmt == 3 ? cs->delta : field, ext_rep, d, n, &p))
        return 0;
    *pos = p;
    return 1;
}

int rsm_parse(rsm_stream_t *s, const uint8_t *data, size_t size)
{
    memset(s, 0, sizeof *s);
    s->hs_len = size < RSM_HANDSHAKE_LEN ? size : RSM_HANDSHAKE_LEN;
    memcpy(s->hs, data, s->hs_len);
    cs_table_t *t = table_new();
    if (!t)
        return -1;
    size_t pos = s->hs_len;
    while (pos < size && parse_chunk(s, t, data, size, &pos)) {
    }
    free(t);
    s->tail_len = size - pos;
    if (s->tail_len && !(s->tail = malloc(s->tail_len))) {
        rsm_free(s);
        return -1;
    }
    if (s->tail_len)
        memcpy(s->tail, data + pos, s->tail_len);
    return 0;
}

void rsm_free(rsm_stream_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->msgs[i].payload);
    free(s->msgs);
    free(s->tail);
    memset(s, 0, sizeof *s);
}

/* ---- writing ------------------------------------------------------------ */

typedef struct {
    uint8_t *p;
    size_t len, max;
    int over;
} out_t;

static void put(out_t *o, const void *src, size_t len)
{
    if (len == 0)
        return;
    if (o->over || o->max - o->len < len) {
        o->over = 1;
        return;
    }
    memcpy(o->p + o->len, src, len);
    o->len += len;
}

static void put_basic(out_t *o, uint8_t fmt, uint32_t csid)
{
    uint8_t b[3];
    size_t n = 1;
    if (csid >= 2 && csid < 64) {
        b[0] = (uint8_t)(fmt << 6 | csid);
    } else if (csid >= 64 && csid < 320) {
        b[0] = (uint8_t)(fmt << 6);
        b[1] = (uint8_t)(csid - 64);
        n = 2;
    } else {
        uint32_t v = csid >= 64 ? csid - 64 : 0;
        b[0] = (uint8_t)(fmt << 6 | 1);
        b[1] = (uint8_t)v;
        b[2] = (uint8_t)(v >> 8);
        n = 3;
    }
    put(o, b, n);
}

static void put_be32(out_t *o, uint32_t v)
{
    uint8_t b[4];
    wr_be32(b, v);
    put(o, b, 4);
}

/* Writes m's first chunk header and updates cs as the server would. */
static void put_header(out_t *o, cs_state_t *cs, const rsm_msg_t *m)
{
    uint8_t h[11];
    static const uint8_t hdr_len[4] = {11, 7, 3, 0};
    put_basic(o, m->fmt, m->csid);
    if (m->fmt <= 2) {
        wr_be24(h, m->tsf >= EXT_TS ? EXT_TS : m->tsf);
        cs->ext = m->tsf >= EXT_TS;
        cs->ext_ts = cs->delta = m->tsf;
    }
    if (m->fmt <= 1) {
        wr_be24(h + 3, m->len);
        h[6] = m->type;
        cs->len = m->len;
        cs->type = m->type;
    }
    if (m->fmt == 0) {
        h[7] = (uint8_t)m->sid;
        h[8] = (uint8_t)(m->sid >> 8);
        h[9] = (uint8_t)(m->sid >> 16);
        h[10] = (uint8_t)(m->sid >> 24);
        cs->sid = m->sid;
    }
    put(o, h, hdr_len[m->fmt]);
    if (cs->ext && (m->fmt <= 2 || m->ext_rep))
        put_be32(o, cs->ext_ts);
}

static void write_msg(out_t *o, cs_table_t *t, const rsm_msg_t *m)
{
    static cs_state_t scratch;
    cs_state_t *cs = cs_find(t, m->csid);
    if (!cs && !(cs = cs_add(t, m->csid))) {
        memset(&scratch, 0, sizeof scratch);
        cs = &scratch; /* over the table: written without state */
    }
    put_header(o, cs, m);
    uint32_t off = 0;
    do {
        uint32_t k = m->plen - off < t->chunk_size ? m->plen - off : t->chunk_size;
        if (off) {
            put_basic(o, 3, m->csid);
            if (cs->ext && m->ext_rep)
                put_be32(o, cs->ext_ts);
        }
        if (k)
            put(o, m->payload + off, k);
        off += k;
    } while (off < m->plen && !o->over);
    msg_done(t, cs->type, m->payload, m->plen, cs->len);
}

size_t rsm_write(const rsm_stream_t *s, uint8_t *out, size_t max)
{
    out_t o = {.p = out, .max = max};
    cs_table_t *t = table_new();
    if (!t)
        return 0;
    put(&o, s->hs, s->hs_len);
    for (size_t i = 0; i < s->n && !o.over; i++)
        write_msg(&o, t, &s->msgs[i]);
    put(&o, s->tail, s->tail_len);
    free(t);
    return o.over ? 0 : o.len;
}

/* Picks for each message the smallest header that says what it means
 * after an edit (a dropped or moved message changes what fmt 1-3 inherit). */
static void normalize(rsm_stream_t *s)
{
    cs_table_t *t = table_new();
    if (!t)
        return;
    for (size_t i = 0; i < s->n; i++) {
        rsm_msg_t *m = &s->msgs[i];
        cs_state_t *cs = cs_find(t, m->csid);
        if (!cs) {
            m->fmt = 0;
            if (!(cs = cs_add(t, m->csid)))
                break;
        }
        if (m->fmt >= 1 && cs->sid != m->sid)
            m->fmt = 0;
        if (m->fmt >= 2 && (cs->len != m->len || cs->type != m->type))
            m->fmt = 1;
        if (m->fmt == 3 && (cs->delta != m->tsf || (cs->ext && !m->ext_rep)))
            m->fmt = 2;
        out_t none = {0};
        put_header(&none, cs, m);
    }
    free(t);
}

/* ---- edits -------------------------------------------------------------- */

typedef struct {
    uint64_t s;
} rnd_t;

static uint32_t rnd(rnd_t *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (uint32_t)(r->s >> 16);
}

static uint32_t below(rnd_t *r, uint32_t n)
{
    return n ? rnd(r) % n : 0;
}

#define PICK(r, a) ((a)[below((r), sizeof(a) / sizeof((a)[0]))])

static const uint32_t TIMESTAMPS[] = {0,        1,         40,         1000,       0xfffffe,
                                      0xffffff, 0x1000000, 0x7fffffff, 0x80000000, 0xffffffff};
static const uint8_t TYPES[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 18, 19, 20, 22, 0xff};
static const uint32_t CSIDS[] = {2, 3, 4, 5, 6, 7, 8, 63, 64, 65, 319, 320, 321, 65599};
static const uint32_t CHUNK_SIZES[] = {1,   2,    3,          127,        128,
                                       129, 4096, 65536,      0x7fffffff, 0xffffff,
                                       0,   60,   0x80000080, 0xffffffff, 0x10000000};
static const uint32_t STREAM_IDS[] = {0, 1, 2, 0x01000000, 0xffffffff};

/* Inserts m at `at` (its payload is taken over; freed on failure). */
static int insert_at(rsm_stream_t *s, size_t at, rsm_msg_t m)
{
    if (!msg_append(s)) {
        free(m.payload);
        return 0;
    }
    if (at > s->n - 1)
        at = s->n - 1;
    memmove(&s->msgs[at + 1], &s->msgs[at], (s->n - 1 - at) * sizeof m);
    s->msgs[at] = m;
    return 1;
}

static void remove_at(rsm_stream_t *s, size_t at)
{
    free(s->msgs[at].payload);
    memmove(&s->msgs[at], &s->msgs[at + 1], (s->n - at - 1) * sizeof *s->msgs);
    s->n--;
}

/* A copy of m with its own payload. */
static int msg_copy(rsm_msg_t *dst, const rsm_msg_t *m)
{
    *dst = *m;
    dst->payload = NULL;
    if (!m->plen)
        return 1;
    dst->payload = malloc(m->plen);
    if (!dst->payload)
        return 0;
    memcpy(dst->payload, m->payload, m->plen);
    return 1;
}

/* A message with a copy of len bytes of payload (fmt 0). */
static rsm_msg_t msg_make(uint32_t csid, uint8_t type, uint32_t sid, uint32_t ts, const uint8_t *p,
                          uint32_t len)
{
    rsm_msg_t m = {.fmt = 0, .type = type, .ext_rep = 1, .csid = csid, .tsf = ts, .sid = sid};
    if (len && (m.payload = malloc(len))) {
        memcpy(m.payload, p, len);
        m.len = m.plen = len;
    }
    return m;
}

/* Message payload through libFuzzer's byte mutator; the length follows
 * (unless it was a lie already). Picks a non-media message half the time. */
static int op_payload(rsm_stream_t *s, rnd_t *r)
{
    size_t i = below(r, (uint32_t)s->n);
    for (int tries = 0; tries < 8 && (rnd(r) & 1); tries++) {
        if (s->msgs[i].type != RTMP_MSG_AUDIO && s->msgs[i].type != RTMP_MSG_VIDEO)
            break;
        i = below(r, (uint32_t)s->n);
    }
    rsm_msg_t *m = &s->msgs[i];
    size_t cap = (size_t)m->plen + PAYLOAD_GROWTH;
    uint8_t *buf = malloc(cap);
    if (!buf || !LLVMFuzzerMutate) {
        free(buf);
        return 0;
    }
    size_t n = m->plen;
    if (n)
        memcpy(buf, m->payload, n);
    else
        buf[n++] = (uint8_t)rnd(r);
    n = LLVMFuzzerMutate(buf, n, cap);
    if (m->len == m->plen)
        m->len = (uint32_t)n;
    free(m->payload);
    m->payload = buf;
    m->plen = (uint32_t)n;
    return 1;
}

/* A new payload length with the length field telling the truth. */
static int resize(rsm_msg_t *m, uint32_t n, rnd_t *r)
{
    uint8_t *buf = n ? malloc(n) : NULL;
    if (n && !buf)
        return 0;
    for (uint32_t k = 0; k < n; k++)
        buf[k] = k < m->plen ? m->payload[k] : (uint8_t)rnd(r);
    free(m->payload);
    m->payload = buf;
    m->len = m->plen = n;
    return 1;
}

/* One header field of one message. Returns 2 when the header type was
 * chosen (not to be normalized away), else 1. */
static int op_field(rsm_stream_t *s, rnd_t *r)
{
    rsm_msg_t *m = &s->msgs[below(r, (uint32_t)s->n)];
    switch (below(r, 8)) {
    case 0: m->fmt = (uint8_t)below(r, 4); return 2;
    case 1: m->csid = rnd(r) & 1 ? PICK(r, CSIDS) : 2 + below(r, RTMP_MAX_CSID - 1); break;
    case 2:
        if (rnd(r) & 1)
            m->tsf = PICK(r, TIMESTAMPS);
        else
            m->tsf += below(r, 2001) - 1000;
        break;
    case 3: m->type = rnd(r) & 3 ? PICK(r, TYPES) : (uint8_t)rnd(r); break;
    case 4: m->sid = rnd(r) & 1 ? PICK(r, STREAM_IDS) : rnd(r); break;
    case 5: {
        const uint32_t lies[] = {0, 1, m->plen - 1, m->plen + 1, 0xffffff, rnd(r) & 0xffffff};
        m->len = PICK(r, lies);
        break;
    }
    case 6: return resize(m, below(r, m->plen * 2 + 16), r);
    default: m->ext_rep = !m->ext_rep; break;
    }
    return 1;
}

/* Duplicates, drops, swaps or moves messages. */
static int op_order(rsm_stream_t *s, rnd_t *r)
{
    size_t i = below(r, (uint32_t)s->n), j = below(r, (uint32_t)s->n + 1);
    rsm_msg_t m;
    switch (below(r, 4)) {
    case 0: return msg_copy(&m, &s->msgs[i]) && insert_at(s, j, m);
    case 1:
        for (uint32_t k = 1 + below(r, 4); k && i < s->n; k--)
            remove_at(s, i);
        return 1;
    case 2:
        j = below(r, (uint32_t)s->n);
        m = s->msgs[i];
        s->msgs[i] = s->msgs[j];
        s->msgs[j] = m;
        return 1;
    default:
        m = s->msgs[i];
        memmove(&s->msgs[i], &s->msgs[i + 1], (s->n - i - 1) * sizeof m);
        s->n--;
        return insert_at(s, j, m);
    }
}

/* Inserts a protocol control message (types 1-6) somewhere. */
static int op_ctrl(rsm_stream_t *s, rnd_t *r)
{
    uint8_t p[12];
    uint32_t len = 4, type = 1 + below(r, 6);
    wr_be32(p, rnd(r));
    switch (type) {
    case RTMP_MSG_SET_CHUNK_SIZE: wr_be32(p, PICK(r, CHUNK_SIZES)); break;
    case RTMP_MSG_ABORT: wr_be32(p, s->n ? s->msgs[below(r, (uint32_t)s->n)].csid : 3); break;
    case RTMP_MSG_USER_CONTROL:
        wr_be16(p, below(r, 8));
        wr_be32(p + 2, rnd(r));
        wr_be32(p + 6, rnd(r));
        len = rd_be16(p) == RTMP_UC_SET_BUFFER_LENGTH ? 10 : 6;
        break;
    case RTMP_MSG_WINDOW_ACK_SIZE: wr_be32(p, rnd(r) & 1 ? 2500000 : below(r, 64)); break;
    case RTMP_MSG_SET_PEER_BW: p[4] = (uint8_t)below(r, 3), len = 5; break;
    default: break;
    }
    if (!below(r, 8))
        len = below(r, sizeof p + 1); /* too short, or trailing bytes */
    uint32_t csid = below(r, 8) ? 2 : PICK(r, CSIDS);
    return insert_at(s, below(r, (uint32_t)s->n + 1), msg_make(csid, (uint8_t)type, 0, 0, p, len));
}

/* The arguments after the transaction id of a canned command. */
static void cmd_args(amf0_buf_t *b, const char *cmd, rnd_t *r)
{
    static const char *const names[] = {"x",   "y",  "",         "x?weir_hops=2&weir_via=n1",
                                        "a/b", "..", "x?token=1"};
    static const char *const apps[] = {"live", "live/", "live?k=v", "", "other", "a b"};
    if (strcmp(cmd, "connect") == 0) {
        amf0_put_object_start(b);
        amf0_put_key(b, "app");
        amf0_put_cstr(b, PICK(r, apps));
        amf0_put_key(b, "objectEncoding");
        amf0_put_number(b, below(r, 4));
        amf0_put_object_end(b);
        return;
    }
    amf0_put_null(b);
    if (rnd(r) & 1)
        amf0_put_cstr(b, PICK(r, names));
    if (strcmp(cmd, "publish") == 0)
        amf0_put_cstr(b, "live");
}

/* Inserts a command (AMF0) or @setDataFrame somewhere. */
static int op_cmd(rsm_stream_t *s, rnd_t *r)
{
    static const char *const cmds[] = {
        "connect",      "createStream", "releaseStream", "FCPublish",   "publish",
        "play",         "deleteStream", "closeStream",   "FCUnpublish", "getStreamLength",
        "receiveAudio", "pause",        "_checkbw",      "fooBar",      "@setDataFrame"};
    const char *cmd = PICK(r, cmds);
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_cstr(&b, cmd);
    uint8_t type = RTMP_MSG_COMMAND_AMF0;
    if (strcmp(cmd, "@setDataFrame") == 0) {
        type = RTMP_MSG_DATA_AMF0;
        amf0_put_cstr(&b, "onMetaData");
        amf0_put_ecma_start(&b, 3);
        amf0_put_key(&b, "width");
        amf0_put_number(&b, rnd(r) & 1 ? 320 : -1);
        amf0_put_key(&b, "videocodecid");
        amf0_put_number(&b, PICK(r, TYPES));
        amf0_put_key(&b, "audiocodecid");
        amf0_put_cstr(&b, "mp4a");
        amf0_put_object_end(&b);
    } else {
        amf0_put_number(&b, below(r, 6));
        cmd_args(&b, cmd, r);
    }
    int ok = !b.oom && insert_at(s, below(r, (uint32_t)s->n + 1),
                                 msg_make(type == RTMP_MSG_COMMAND_AMF0 ? 3 : 5, type,
                                          below(r, 4) ? 1 : 0, 0, b.data, (uint32_t)b.len));
    amf0_buf_free(&b);
    return ok;
}

/* The absolute timestamp of every message, as the server computes it. */
static uint32_t *abs_timestamps(const rsm_stream_t *s)
{
    uint32_t *ts = malloc((s->n ? s->n : 1) * sizeof *ts);
    cs_table_t *t = table_new();
    uint32_t *abs = t ? calloc(RSM_MAX_CS, sizeof *abs) : NULL;
    for (size_t i = 0; ts && abs && i < s->n; i++) {
        const rsm_msg_t *m = &s->msgs[i];
        cs_state_t *cs = cs_find(t, m->csid);
        if (!cs && !(cs = cs_add(t, m->csid))) {
            ts[i] = m->tsf;
            continue;
        }
        uint32_t *a = &abs[cs - t->cs];
        *a = m->fmt == 0 ? m->tsf : m->fmt <= 2 ? *a + m->tsf : *a + cs->delta;
        ts[i] = *a;
        out_t none = {0};
        put_header(&none, cs, m);
    }
    if (!t || !abs) {
        free(ts);
        ts = NULL;
    }
    free(abs);
    free(t);
    return ts;
}

static int is_media(const rsm_msg_t *m)
{
    return (m->type == RTMP_MSG_AUDIO || m->type == RTMP_MSG_VIDEO ||
            m->type == RTMP_MSG_DATA_AMF0) &&
           m->plen == m->len;
}

/* Replaces 1-4 media messages in a row with one aggregate message (type
 * 22: tags of an 11-byte header, data and a 4-byte back pointer). */
static int op_aggregate(rsm_stream_t *s, rnd_t *r)
{
    size_t i = below(r, (uint32_t)s->n), k = 0, bytes = 0;
    while (i < s->n && !is_media(&s->msgs[i]))
        i++;
    for (size_t want = 1 + below(r, 4); i + k < s->n && k < want && is_media(&s->msgs[i + k]); k++)
        bytes += 15 + (size_t)s->msgs[i + k].plen;
    uint32_t *ts = k ? abs_timestamps(s) : NULL;
    uint8_t *p = ts ? malloc(bytes) : NULL;
    if (!p) {
        free(ts);
        return 0;
    }
    size_t off = 0;
    for (size_t j = i; j < i + k; j++) {
        const rsm_msg_t *m = &s->msgs[j];
        p[off] = m->type;
        wr_be24(p + off + 1, m->plen);
        wr_be24(p + off + 4, ts[j] & 0xffffff);
        p[off + 7] = (uint8_t)(ts[j] >> 24);
        wr_be24(p + off + 8, 0);
        if (m->plen)
            memcpy(p + off + 11, m->payload, m->plen);
        wr_be32(p + off + 11 + m->plen, 11 + m->plen);
        off += 15 + m->plen;
    }
    rsm_msg_t agg =
        msg_make(s->msgs[i].csid, RTMP_MSG_AGGREGATE, s->msgs[i].sid, ts[i], p, (uint32_t)bytes);
    free(p);
    free(ts);
    for (size_t j = 0; j < k; j++)
        remove_at(s, i);
    return insert_at(s, i, agg);
}

/* Changes the value of a Set Chunk Size, or inserts one early. */
static int op_chunk_size(rsm_stream_t *s, rnd_t *r)
{
    uint8_t p[4];
    wr_be32(p, rnd(r) & 1 ? PICK(r, CHUNK_SIZES) : 1 + below(r, 70000));
    for (size_t i = 0; i < s->n; i++) {
        rsm_msg_t *m = &s->msgs[i];
        if (m->type == RTMP_MSG_SET_CHUNK_SIZE && m->plen >= 4 && (rnd(r) & 1)) {
            memcpy(m->payload, p, 4);
            return 1;
        }
    }
    uint32_t at = below(r, s->n < 4 ? (uint32_t)s->n + 1 : 4);
    return insert_at(s, at, msg_make(2, RTMP_MSG_SET_CHUNK_SIZE, 0, 0, p, 4));
}

/* Applies 1-3 edits. Returns 0 when none applied; *keep_fmt when the header
 * types were chosen by an edit. */
static int edit(rsm_stream_t *s, rnd_t *r, int *keep_fmt)
{
    int done = 0;
    for (uint32_t k = 1 + below(r, 3); k; k--) {
        if (!s->n && !op_cmd(s, r))
            break;
        uint32_t w = below(r, 100);
        int rc = w < 35   ? op_payload(s, r)
                 : w < 55 ? op_field(s, r)
                 : w < 70 ? op_order(s, r)
                 : w < 80 ? op_ctrl(s, r)
                 : w < 90 ? op_cmd(s, r)
                 : w < 95 ? op_aggregate(s, r)
                          : op_chunk_size(s, r);
        *keep_fmt |= rc == 2;
        done += rc != 0;
    }
    return done;
}

static size_t raw_mutate(uint8_t *data, size_t size, size_t max_size)
{
    return LLVMFuzzerMutate ? LLVMFuzzerMutate(data, size, max_size) : size;
}

size_t rsm_mutate(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    rnd_t r = {((uint64_t)seed << 32 | seed) ^ 0x9e3779b97f4a7c15ull};
    rsm_stream_t s;
    if (below(&r, 8) == 0 || size <= RSM_HANDSHAKE_LEN || rsm_parse(&s, data, size) != 0)
        return raw_mutate(data, size, max_size);
    int keep_fmt = 0;
    uint8_t *out = edit(&s, &r, &keep_fmt) ? malloc(max_size) : NULL;
    if (out && !keep_fmt && below(&r, 8))
        normalize(&s);
    size_t n = out ? rsm_write(&s, out, max_size) : 0;
    rsm_free(&s);
    if (n)
        memcpy(data, out, n);
    free(out);
    return n ? n : raw_mutate(data, size, max_size);
}

size_t rsm_cross_over(const uint8_t *d1, size_t s1, const uint8_t *d2, size_t s2, uint8_t *out,
                      size_t max_out, unsigned int seed)
{
    rnd_t r = {((uint64_t)seed << 32 | seed) ^ 0x2545f4914f6cdd1dull};
    rsm_stream_t a, b;
    if (rsm_parse(&a, d1, s1) != 0)
        return 0;
    if (rsm_parse(&b, d2, s2) != 0) {
        rsm_free(&a);
        return 0;
    }
    size_t at = below(&r, (uint32_t)a.n + 1), from = below(&r, (uint32_t)b.n + 1);
    size_t k = b.n - from;
    if (rnd(&r) & 1) {
        while (a.n > at) /* a's head, then b's tail */
            remove_at(&a, a.n - 1);
    } else if (k > 1) {
        k = 1 + below(&r, k < 64 ? (uint32_t)k : 64); /* some of b's messages inside a */
    }
    rsm_msg_t m;
    for (size_t j = 0; j < k && msg_copy(&m, &b.msgs[from + j]) && insert_at(&a, at + j, m); j++) {
    }
    normalize(&a);
    size_t n = rsm_write(&a, out, max_out);
    rsm_free(&a);
    rsm_free(&b);
    return n;
}
