/* rtmp_chunk: RTMP chunk stream parser and encoder (see rtmp_chunk.h).
 *
 * The parser is a state machine over four stages (basic header, message
 * header, extended timestamp, payload). Header bytes are gathered into a
 * small buffer, so any split of the input works. Per chunk stream state
 * (last header, timestamp delta, partial message) lives in a table that
 * grows up to max_csids entries.
 *
 * Timestamps follow the spec (RTMP 1.0, 5.3.1.2): fmt 0 carries the
 * absolute timestamp, fmt 1 and 2 a delta, and a fmt 3 chunk that starts a
 * new message applies the previous delta again. After a fmt 0 header that
 * "previous delta" is the fmt 0 timestamp itself (spec 5.3.1.2.4), which is
 * also what FFmpeg's writer assumes when it picks a fmt 3 header. All
 * arithmetic wraps at 2^32.
 */
#include "rtmp_chunk.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define RTMP_EXT_TS 0xffffffu      /* timestamp field announcing an extended timestamp */
#define RTMP_MAX_MSG_LEN 0xffffffu /* the message length field is 24 bits */
#define RTMP_CS_INITIAL 8          /* chunk stream table entries allocated first */

/* Internal step result: the stage changed, keep going. Distinct from every
 * parse_rc_t value. */
#define STEP_NEXT 100

typedef enum {
    ST_BASIC,   /* basic header: 1, 2 or 3 bytes */
    ST_MSGHDR,  /* message header: 11, 7, 3 or 0 bytes by fmt */
    ST_EXT,     /* extended timestamp: 4 bytes */
    ST_PAYLOAD, /* chunk payload: up to chunk_size bytes */
    ST_FAILED   /* an error was returned; the parser is dead */
} stage_t;

typedef struct {
    uint32_t csid;
    uint32_t ts;    /* absolute timestamp of the current (or last) message */
    uint32_t delta; /* delta a fmt 3 chunk starting a new message applies */
    uint32_t len;   /* message length of the last header */
    uint32_t stream_id;
    uint32_t ext_ts; /* value of the extended timestamp field, when ext */
    uint32_t got;    /* payload bytes received for the partial message */
    uint8_t type;
    uint8_t ext;      /* the last fmt 0-2 header used an extended timestamp */
    uint8_t active;   /* a message is partially received */
    uint8_t *payload; /* len bytes (NULL when len is 0), while active */
} chunk_stream_t;

struct rtmp_chunk_parser {
    stage_t stage;
    uint32_t chunk_size;
    uint32_t max_msg;
    unsigned max_csids;
    chunk_stream_t *cs;
    unsigned ncs;
    unsigned cap;

    /* The chunk being parsed. */
    unsigned cur; /* index into cs (valid past ST_BASIC) */
    uint8_t fmt;
    uint8_t abort_after_chunk; /* rtmp_chunk_parser_abort() hit cur mid-chunk */
    uint32_t chunk_left;       /* payload bytes left in this chunk */
    uint8_t buf[11];           /* header bytes gathered so far */
    size_t need;
    size_t have;

    /* Bytes already consumed from the caller but not yet parsed: the four
     * bytes read as a fmt 3 extended timestamp that turned out not to be
     * one (see on_ext). They are parsed before any new input. */
    uint8_t hold[4];
    uint8_t hold_len;
    uint8_t hold_off;

    parse_rc_t fail_rc;
    const char *fail_err;
};

typedef struct {
    const uint8_t *src;
    size_t len;
    size_t off;
} input_t;

static const uint8_t msghdr_size[4] = {11, 7, 3, 0};

rtmp_chunk_parser_t *rtmp_chunk_parser_new(uint32_t max_msg, unsigned max_csids)
{
    rtmp_chunk_parser_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->stage = ST_BASIC;
    p->chunk_size = RTMP_DEFAULT_CHUNK_SIZE;
    p->max_msg = max_msg;
    p->max_csids = max_csids;
    return p;
}

void rtmp_chunk_parser_free(rtmp_chunk_parser_t *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->ncs; i++)
        free(p->cs[i].payload);
    free(p->cs);
    free(p);
}

int rtmp_chunk_parser_set_chunk_size(rtmp_chunk_parser_t *p, uint32_t size)
{
    if (size < 1 || size > RTMP_MAX_CHUNK_SIZE)
        return NODE_EINVAL;
    p->chunk_size = size;
    return 0;
}

static int find_cs(const rtmp_chunk_parser_t *p, uint32_t csid)
{
    for (unsigned i = 0; i < p->ncs; i++)
        if (p->cs[i].csid == csid)
            return (int)i;
    return -1;
}

static void drop_message(chunk_stream_t *cs)
{
    free(cs->payload);
    cs->payload = NULL;
    cs->active = 0;
    cs->got = 0;
}

void rtmp_chunk_parser_abort(rtmp_chunk_parser_t *p, uint32_t csid)
{
    int i = find_cs(p, csid);
    if (i < 0)
        return;
    /* Mid-chunk on this csid the payload buffer is in use: drop the message
     * when the chunk ends instead (unless it completes there). */
    if (p->stage != ST_BASIC && p->stage != ST_FAILED && p->cur == (unsigned)i) {
        p->abort_after_chunk = 1;
        return;
    }
    drop_message(&p->cs[i]);
}

const char RTMP_CHUNK_ERR_MESSAGE_TOO_BIG[] = "message too big";
const char RTMP_CHUNK_ERR_TOO_MANY_CHUNK_STREAMS[] = "too many chunk streams";

static int fail(rtmp_chunk_parser_t *p, parse_rc_t rc, const char *msg, const char **err)
{
    p->stage = ST_FAILED;
    p->fail_rc = rc;
    p->fail_err = msg;
    *err = msg;
    return rc;
}

/* Moves up to want bytes, held bytes first and then new input, to dst.
 * Returns the number of bytes moved. */
static size_t take(rtmp_chunk_parser_t *p, input_t *in, uint8_t *dst, size_t want)
{
    size_t n = 0;
    if (p->hold_off < p->hold_len) {
        size_t k = p->hold_len - p->hold_off;
        if (k > want)
            k = want;
        memcpy(dst, p->hold + p->hold_off, k);
        p->hold_off += (uint8_t)k;
        n = k;
    }
    if (n < want && in->off < in->len) {
        size_t k = in->len - in->off;
        if (k > want - n)
            k = want - n;
        memcpy(dst + n, in->src + in->off, k);
        in->off += k;
        n += k;
    }
    return n;
}

/* Fills buf up to need bytes. Returns 1 when complete. */
static int gather(rtmp_chunk_parser_t *p, input_t *in)
{
    p->have += take(p, in, p->buf + p->have, p->need - p->have);
    return p->have == p->need;
}

/* Starts the payload of the current chunk, and the message if the chunk is
 * the first of one (any fmt 0-2 chunk, or a fmt 3 chunk on an idle csid). */
static int begin_payload(rtmp_chunk_parser_t *p, const char **err)
{
    chunk_stream_t *cs = &p->cs[p->cur];
    if (!cs->active) {
        if (p->fmt == 3)
            cs->ts += cs->delta;
        /* max_msg was checked when the length arrived (fmt 0/1); fmt 2 and
         * fmt 3 reuse that length. */
        if (cs->len > 0) {
            cs->payload = malloc(cs->len);
            if (!cs->payload)
                return fail(p, PARSE_ERR_TOO_BIG, "out of memory for message", err);
        }
        cs->got = 0;
        cs->active = 1;
    }
    uint32_t left = cs->len - cs->got;
    p->chunk_left = left < p->chunk_size ? left : p->chunk_size;
    p->stage = ST_PAYLOAD;
    return STEP_NEXT;
}

/* Applies the timestamp field (or extended timestamp) of a fmt 0-2 header. */
static void apply_ts(chunk_stream_t *cs, uint8_t fmt, uint32_t v)
{
    cs->delta = v;
    if (fmt == 0)
        cs->ts = v;
    else
        cs->ts += v;
}

static int on_basic(rtmp_chunk_parser_t *p, input_t *in, const char **err)
{
    if (p->have == 0)
        p->need = 1;
    if (!gather(p, in))
        return PARSE_NEED_MORE;
    if (p->need == 1) {
        uint8_t id = p->buf[0] & 0x3f;
        if (id < 2) {
            p->need = id == 0 ? 2 : 3;
            if (!gather(p, in))
                return PARSE_NEED_MORE;
        }
    }
    uint8_t fmt = p->buf[0] >> 6;
    uint32_t csid = p->buf[0] & 0x3f;
    if (csid == 0)
        csid = 64 + (uint32_t)p->buf[1];
    else if (csid == 1)
        csid = 64 + (uint32_t)p->buf[1] + ((uint32_t)p->buf[2] << 8);

    int i = find_cs(p, csid);
    if (i < 0) {
        if (fmt != 0)
            return fail(p, PARSE_ERR_PROTO, "chunk stream starts without a type 0 header", err);
        if (p->ncs >= p->max_csids)
            return fail(p, PARSE_ERR_TOO_BIG, RTMP_CHUNK_ERR_TOO_MANY_CHUNK_STREAMS, err);
        if (p->ncs == p->cap) {
            unsigned cap = p->cap ? p->cap * 2 : RTMP_CS_INITIAL;
            if (cap > p->max_csids)
                cap = p->max_csids;
            chunk_stream_t *t = realloc(p->cs, cap * sizeof *t);
            if (!t)
                return fail(p, PARSE_ERR_TOO_BIG, "out of memory for chunk streams", err);
            p->cs = t;
            p->cap = cap;
        }
        i = (int)p->ncs++;
        memset(&p->cs[i], 0, sizeof p->cs[i]);
        p->cs[i].csid = csid;
    } else if (fmt != 3 && p->cs[i].active) {
        return fail(p, PARSE_ERR_PROTO, "message header inside a partial message", err);
    }
    p->cur = (unsigned)i;
    p->fmt = fmt;
    p->have = 0;
    p->need = msghdr_size[fmt];
    p->stage = ST_MSGHDR;
    return STEP_NEXT;
}

static int on_msghdr(rtmp_chunk_parser_t *p, input_t *in, const char **err)
{
    if (!gather(p, in))
        return PARSE_NEED_MORE;
    chunk_stream_t *cs = &p->cs[p->cur];
    if (p->fmt <= 2) {
        uint32_t field = rd_be24(p->buf);
        if (p->fmt <= 1) {
            uint32_t len = rd_be24(p->buf + 3);
            if (len > p->max_msg)
                return fail(p, PARSE_ERR_TOO_BIG, RTMP_CHUNK_ERR_MESSAGE_TOO_BIG, err);
            cs->len = len;
            cs->type = p->buf[6];
            if (p->fmt == 0)
                cs->stream_id = rd_le32(p->buf + 7);
        }
        cs->ext = field == RTMP_EXT_TS;
        if (!cs->ext) {
            apply_ts(cs, p->fmt, field);
            return begin_payload(p, err);
        }
    } else if (!cs->ext) {
        return begin_payload(p, err);
    }
    p->have = 0;
    p->need = 4;
    p->stage = ST_EXT;
    return STEP_NEXT;
}

static int on_ext(rtmp_chunk_parser_t *p, input_t *in, const char **err)
{
    if (!gather(p, in))
        return PARSE_NEED_MORE;
    chunk_stream_t *cs = &p->cs[p->cur];
    uint32_t v = rd_be32(p->buf);
    if (p->fmt <= 2) {
        cs->ext_ts = v;
        apply_ts(cs, p->fmt, v);
    } else if (v != cs->ext_ts) {
        /* A fmt 3 chunk after a header with an extended timestamp repeats
         * it (spec 5.3.1.3), but some encoders omit it on fmt 3 chunks.
         * Heuristic: when the next 4 bytes differ from the stored extended
         * timestamp they are not one; push them back to be parsed as
         * payload (and, when the chunk has fewer than 4 payload bytes left,
         * as the following chunk header). A payload that happens to start
         * with the extended timestamp value is misread; that is inherent to
         * accepting both forms. The 4 bytes came from the input after any
         * held bytes, so the hold buffer is empty here. */
        assert(p->hold_off == p->hold_len);
        memcpy(p->hold, p->buf, 4);
        p->hold_len = 4;
        p->hold_off = 0;
    }
    return begin_payload(p, err);
}

static int on_payload(rtmp_chunk_parser_t *p, input_t *in, rtmp_msg_t *out)
{
    chunk_stream_t *cs = &p->cs[p->cur];
    if (p->chunk_left > 0) {
        size_t n = take(p, in, cs->payload + cs->got, p->chunk_left);
        cs->got += (uint32_t)n;
        p->chunk_left -= (uint32_t)n;
        if (p->chunk_left > 0)
            return PARSE_NEED_MORE;
    }
    p->stage = ST_BASIC;
    p->have = 0;
    if (cs->got < cs->len) {
        if (p->abort_after_chunk)
            drop_message(cs);
        p->abort_after_chunk = 0;
        return STEP_NEXT;
    }
    p->abort_after_chunk = 0;
    out->csid = cs->csid;
    out->type = cs->type;
    out->stream_id = cs->stream_id;
    out->timestamp = cs->ts;
    out->len = cs->len;
    out->payload = cs->payload;
    cs->payload = NULL;
    cs->active = 0;
    cs->got = 0;
    return PARSE_OK;
}

/* Zero-length messages are returned with payload NULL. The parser may hold
 * up to 4 consumed but unparsed bytes (fmt 3 extended timestamp heuristic),
 * so callers keep calling until PARSE_NEED_MORE, even with len 0. */
parse_rc_t rtmp_chunk_feed(rtmp_chunk_parser_t *p, const uint8_t *src, size_t len, size_t *used,
                           rtmp_msg_t *out, const char **err)
{
    input_t in = {src, len, 0};
    int rc = STEP_NEXT;
    *err = NULL;
    while (rc == STEP_NEXT) {
        switch (p->stage) {
        case ST_BASIC: rc = on_basic(p, &in, err); break;
        case ST_MSGHDR: rc = on_msghdr(p, &in, err); break;
        case ST_EXT: rc = on_ext(p, &in, err); break;
        case ST_PAYLOAD: rc = on_payload(p, &in, out); break;
        case ST_FAILED: /* fed again after an error */
            rc = p->fail_rc;
            *err = p->fail_err;
            break;
        }
    }
    *used = in.off;
    return (parse_rc_t)rc;
}

static size_t basic_header_size(uint32_t csid)
{
    return csid < 64 ? 1 : csid < 320 ? 2 : 3;
}

static size_t write_basic_header(uint8_t *dst, uint8_t fmt, uint32_t csid)
{
    uint8_t f = (uint8_t)(fmt << 6);
    if (csid < 64) {
        dst[0] = f | (uint8_t)csid;
        return 1;
    }
    if (csid < 320) {
        dst[0] = f;
        dst[1] = (uint8_t)(csid - 64);
        return 2;
    }
    dst[0] = f | 1;
    dst[1] = (uint8_t)(csid - 64);
    dst[2] = (uint8_t)((csid - 64) >> 8);
    return 3;
}

size_t rtmp_chunk_encoded_size(uint32_t csid, uint32_t ts, uint32_t len, uint32_t chunk_size)
{
    assert(chunk_size >= 1);
    size_t chunks = len == 0 ? 1 : ((size_t)len + chunk_size - 1) / chunk_size;
    size_t per_chunk = basic_header_size(csid) + (ts >= RTMP_EXT_TS ? 4 : 0);
    return chunks * per_chunk + 11 + len;
}

size_t rtmp_chunk_encode(uint8_t *dst, uint32_t csid, uint8_t type, uint32_t stream_id, uint32_t ts,
                         const uint8_t *payload, uint32_t len, uint32_t chunk_size)
{
    assert(csid >= 2 && csid <= RTMP_MAX_CSID);
    assert(chunk_size >= 1 && chunk_size <= RTMP_MAX_CHUNK_SIZE);
    assert(len <= RTMP_MAX_MSG_LEN);
    int ext = ts >= RTMP_EXT_TS;
    uint8_t *w = dst;
    w += write_basic_header(w, 0, csid);
    wr_be24(w, ext ? RTMP_EXT_TS : ts);
    wr_be24(w + 3, len);
    w[6] = type;
    wr_le32(w + 7, stream_id);
    w += 11;
    uint32_t off = 0;
    for (;;) {
        if (ext) {
            wr_be32(w, ts);
            w += 4;
        }
        uint32_t n = len - off < chunk_size ? len - off : chunk_size;
        if (n > 0)
            memcpy(w, payload + off, n);
        w += n;
        off += n;
        if (off >= len)
            break;
        w += write_basic_header(w, 3, csid);
    }
    return (size_t)(w - dst);
}
