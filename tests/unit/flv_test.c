/* Unit tests for flv: codec inspection, writing, and the incremental reader
 * fed whole, split at every byte, and byte by byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "flv.h"

/* ---- inspection --------------------------------------------------------- */

static flv_video_info_t video(const uint8_t *body, size_t len, int want_rc)
{
    flv_video_info_t vi;
    memset(&vi, 0xa5, sizeof vi);
    assert_int_equal(flv_video_inspect(body, len, &vi), want_rc);
    return vi;
}

static flv_audio_info_t audio(const uint8_t *body, size_t len, int want_rc)
{
    flv_audio_info_t ai;
    memset(&ai, 0xa5, sizeof ai);
    assert_int_equal(flv_audio_inspect(body, len, &ai), want_rc);
    return ai;
}

static void test_avc_legacy(void **state)
{
    (void)state;
    const uint8_t seq[] = {0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x1f};
    flv_video_info_t vi = video(seq, sizeof seq, 0);
    assert_int_equal(vi.enhanced, 0);
    assert_int_equal(vi.codec_id, FLV_VCODEC_AVC);
    assert_int_equal(vi.fourcc, FLV_FOURCC_AVC1);
    assert_int_equal(vi.frame_type, 1);
    assert_int_equal(vi.seq_header, 1);
    assert_int_equal(vi.keyframe, 0);
    assert_int_equal(vi.seq_end, 0);
    assert_int_equal(vi.is_command, 0);

    const uint8_t key[] = {0x17, 0x01, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x02, 0x65, 0x88};
    vi = video(key, sizeof key, 0);
    assert_int_equal(vi.keyframe, 1);
    assert_int_equal(vi.seq_header, 0);
    assert_int_equal(vi.frame_type, 1);

    const uint8_t inter[] = {0x27, 0x01, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x02, 0x41, 0x9a};
    vi = video(inter, sizeof inter, 0);
    assert_int_equal(vi.keyframe, 0);
    assert_int_equal(vi.seq_header, 0);
    assert_int_equal(vi.frame_type, 2);
    assert_int_equal(vi.fourcc, FLV_FOURCC_AVC1);

    const uint8_t gen_key[] = {0x47, 0x01, 0x00, 0x00, 0x00};
    vi = video(gen_key, sizeof gen_key, 0);
    assert_int_equal(vi.keyframe, 1);
    assert_int_equal(vi.frame_type, 4);

    const uint8_t eos[] = {0x17, 0x02, 0x00, 0x00, 0x00};
    vi = video(eos, sizeof eos, 0);
    assert_int_equal(vi.seq_end, 1);
    assert_int_equal(vi.keyframe, 0);
    assert_int_equal(vi.seq_header, 0);
}

static void test_hevc_legacy(void **state)
{
    (void)state;
    const uint8_t seq[] = {0x1c, 0x00, 0x00, 0x00, 0x00, 0x01};
    flv_video_info_t vi = video(seq, sizeof seq, 0);
    assert_int_equal(vi.codec_id, FLV_VCODEC_HEVC);
    assert_int_equal(vi.fourcc, FLV_FOURCC_HVC1);
    assert_int_equal(vi.enhanced, 0);
    assert_int_equal(vi.seq_header, 1);
    assert_int_equal(vi.keyframe, 0);

    const uint8_t key[] = {0x1c, 0x01, 0x00, 0x00, 0x00, 0x26, 0x01};
    vi = video(key, sizeof key, 0);
    assert_int_equal(vi.keyframe, 1);
    assert_int_equal(vi.seq_header, 0);

    const uint8_t inter[] = {0x2c, 0x01, 0x00, 0x00, 0x00, 0x02, 0x01};
    vi = video(inter, sizeof inter, 0);
    assert_int_equal(vi.keyframe, 0);
    assert_int_equal(vi.frame_type, 2);
}

static void test_other_legacy_codecs(void **state)
{
    (void)state;
    const uint8_t h263_key[] = {0x12, 0x00, 0x00};
    flv_video_info_t vi = video(h263_key, sizeof h263_key, 0);
    assert_int_equal(vi.codec_id, FLV_VCODEC_H263);
    assert_int_equal(vi.fourcc, 0);
    assert_int_equal(vi.keyframe, 1);
    assert_int_equal(vi.seq_header, 0);

    const uint8_t vp6_inter[] = {0x24};
    vi = video(vp6_inter, sizeof vp6_inter, 0);
    assert_int_equal(vi.codec_id, FLV_VCODEC_VP6);
    assert_int_equal(vi.keyframe, 0);
    assert_int_equal(vi.frame_type, 2);
}

static void test_video_command(void **state)
{
    (void)state;
    const uint8_t legacy[] = {0x57, 0x01};
    flv_video_info_t vi = video(legacy, sizeof legacy, 0);
    assert_int_equal(vi.is_command, 1);
    assert_int_equal(vi.keyframe, 0);
    assert_int_equal(vi.frame_type, 5);
    assert_int_equal(vi.seq_header, 0);

    /* Enhanced command: header byte then a VideoCommand byte, no FourCC. */
    const uint8_t ex[] = {0x80 | (5 << 4) | 1, 0x00};
    vi = video(ex, sizeof ex, 0);
    assert_int_equal(vi.enhanced, 1);
    assert_int_equal(vi.is_command, 1);
    assert_int_equal(vi.keyframe, 0);
    assert_int_equal(vi.fourcc, 0);
}

static void test_enhanced_video(void **state)
{
    (void)state;
    const uint8_t hvc_seq[] = {0x90, 'h', 'v', 'c', '1', 0x01, 0x01, 0x60};
    flv_video_info_t vi = video(hvc_seq, sizeof hvc_seq, 0);
    assert_int_equal(vi.enhanced, 1);
    assert_int_equal(vi.fourcc, FLV_FOURCC_HVC1);
    assert_int_equal(vi.codec_id, 0);
    assert_int_equal(vi.frame_type, 1);
    assert_int_equal(vi.seq_header, 1);
    assert_int_equal(vi.keyframe, 0);

    const uint8_t hvc_key[] = {0x91, 'h', 'v', 'c', '1', 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};
    vi = video(hvc_key, sizeof hvc_key, 0);
    assert_int_equal(vi.keyframe, 1);
    assert_int_equal(vi.seq_header, 0);
    assert_int_equal(vi.fourcc, FLV_FOURCC_HVC1);

    const uint8_t hvc_inter_x[] = {0xa3, 'h', 'v', 'c', '1', 0x00, 0x00, 0x00, 0x10};
    vi = video(hvc_inter_x, sizeof hvc_inter_x, 0);
    assert_int_equal(vi.keyframe, 0);
    assert_int_equal(vi.frame_type, 2);
    assert_int_equal(vi.fourcc, FLV_FOURCC_HVC1);

    const uint8_t hvc_key_x[] = {0x93, 'h', 'v', 'c', '1', 0x00};
    vi = video(hvc_key_x, sizeof hvc_key_x, 0);
    assert_int_equal(vi.keyframe, 1);

    const uint8_t av1_key[] = {0x91, 'a', 'v', '0', '1', 0x12, 0x00, 0x0a};
    vi = video(av1_key, sizeof av1_key, 0);
    assert_int_equal(vi.fourcc, FLV_FOURCC_AV01);
    assert_int_equal(vi.keyframe, 1);
    assert_int_equal(vi.seq_header, 0);

    const uint8_t av1_seq[] = {0x90, 'a', 'v', '0', '1', 0x81, 0x00, 0x0c, 0x00};
    vi = video(av1_seq, sizeof av1_seq, 0);
    assert_int_equal(vi.fourcc, FLV_FOURCC_AV01);
    assert_int_equal(vi.seq_header, 1);

    const uint8_t vp9_key[] = {0x93, 'v', 'p', '0', '9', 0x82, 0x49, 0x83};
    vi = video(vp9_key, sizeof vp9_key, 0);
    assert_int_equal(vi.fourcc, FLV_FOURCC_VP09);
    assert_int_equal(vi.keyframe, 1);

    const uint8_t vp9_inter[] = {0xa1, 'v', 'p', '0', '9', 0x86};
    vi = video(vp9_inter, sizeof vp9_inter, 0);
    assert_int_equal(vi.keyframe, 0);

    const uint8_t avc_ex_key[] = {0x91, 'a', 'v', 'c', '1', 0x00, 0x00, 0x00};
    vi = video(avc_ex_key, sizeof avc_ex_key, 0);
    assert_int_equal(vi.fourcc, FLV_FOURCC_AVC1);
    assert_int_equal(vi.enhanced, 1);
    assert_int_equal(vi.keyframe, 1);

    const uint8_t end[] = {0x92, 'a', 'v', '0', '1'};
    vi = video(end, sizeof end, 0);
    assert_int_equal(vi.seq_end, 1);
    assert_int_equal(vi.keyframe, 0);

    /* Metadata (colorInfo) is neither key nor sequence header. */
    const uint8_t meta[] = {0x94, 'h', 'v', 'c', '1', 0x02, 0x00, 0x09};
    vi = video(meta, sizeof meta, 0);
    assert_int_equal(vi.keyframe, 0);
    assert_int_equal(vi.seq_header, 0);
    assert_int_equal(vi.fourcc, FLV_FOURCC_HVC1);

    const uint8_t ts_seq[] = {0x95, 'a', 'v', '0', '1', 0x80};
    vi = video(ts_seq, sizeof ts_seq, 0);
    assert_int_equal(vi.seq_header, 0);
    assert_int_equal(vi.keyframe, 0);
}

static void test_enhanced_video_multitrack_modex(void **state)
{
    (void)state;
    /* Multitrack, OneTrack, SequenceStart, av01: key per frame type, never
     * a sequence header. */
    const uint8_t mt[] = {0x96, 0x00, 'a', 'v', '0', '1', 0x00, 0x81};
    flv_video_info_t vi = video(mt, sizeof mt, 0);
    assert_int_equal(vi.enhanced, 1);
    assert_int_equal(vi.fourcc, FLV_FOURCC_AV01);
    assert_int_equal(vi.keyframe, 1);
    assert_int_equal(vi.seq_header, 0);

    /* ManyTracksManyCodecs: the first track's FourCC. */
    const uint8_t mtmc[] = {0xa6, 0x21, 'h', 'v', 'c', '1', 0x00, 0x00, 0x00, 0x01, 0x00};
    vi = video(mtmc, sizeof mtmc, 0);
    assert_int_equal(vi.fourcc, FLV_FOURCC_HVC1);
    assert_int_equal(vi.keyframe, 0);
    assert_int_equal(vi.frame_type, 2);

    /* ModEx (3 bytes of TimestampOffsetNano) around CodedFrames hvc1. */
    const uint8_t modex[] = {0x97, 0x02, 0x00, 0x01, 0x00, 0x01, 'h', 'v', 'c', '1', 0x00};
    vi = video(modex, sizeof modex, 0);
    assert_int_equal(vi.fourcc, FLV_FOURCC_HVC1);
    assert_int_equal(vi.keyframe, 1);
    assert_int_equal(vi.seq_header, 0);

    /* ModEx with a 16-bit size (UI8 0xff then UI16 + 1 = 256 bytes). */
    uint8_t big[4 + 256 + 1 + 4];
    memset(big, 0, sizeof big);
    big[0] = 0x97;
    big[1] = 0xff;
    big[2] = 0x00;
    big[3] = 0xff;
    big[4 + 256] = 0x01;
    memcpy(big + 4 + 256 + 1, "vp09", 4);
    vi = video(big, sizeof big, 0);
    assert_int_equal(vi.fourcc, FLV_FOURCC_VP09);

    /* ModEx cut short: still inspected, FourCC unknown. */
    const uint8_t cut[] = {0x97, 0x05, 0x00, 0x01};
    vi = video(cut, sizeof cut, 0);
    assert_int_equal(vi.fourcc, 0);
    assert_int_equal(vi.keyframe, 1);
    assert_int_equal(vi.seq_header, 0);
}

static void test_video_truncated(void **state)
{
    (void)state;
    static const flv_video_info_t zero;
    const uint8_t avc[] = {0x17, 0x01, 0x00, 0x00, 0x00};
    const uint8_t ex[] = {0x91, 'h', 'v', 'c', '1'};
    const uint8_t cmd[] = {0x57, 0x01};
    const uint8_t mt[] = {0x96, 0x00};
    const struct {
        const uint8_t *p;
        size_t len;
    } cases[] = {
        {avc, 0}, {avc, 1}, {avc, 2}, {avc, 4}, {ex, 1}, {ex, 4}, {cmd, 1}, {mt, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        flv_video_info_t vi = video(cases[i].p, cases[i].len, NODE_EPROTO);
        assert_memory_equal(&vi, &zero, sizeof vi);
    }
    flv_video_info_t vi = video(avc, sizeof avc, 0);
    assert_int_equal(vi.keyframe, 1);
    vi = video(ex, sizeof ex, 0);
    assert_int_equal(vi.keyframe, 1);
}

static void test_audio(void **state)
{
    (void)state;
    const uint8_t aac_seq[] = {0xaf, 0x00, 0x12, 0x10};
    flv_audio_info_t ai = audio(aac_seq, sizeof aac_seq, 0);
    assert_int_equal(ai.sound_format, FLV_ACODEC_AAC);
    assert_int_equal(ai.seq_header, 1);
    assert_int_equal(ai.fourcc, 0);

    const uint8_t aac_raw[] = {0xaf, 0x01, 0x21, 0x10, 0x04};
    ai = audio(aac_raw, sizeof aac_raw, 0);
    assert_int_equal(ai.sound_format, FLV_ACODEC_AAC);
    assert_int_equal(ai.seq_header, 0);

    const uint8_t mp3[] = {0x2f, 0xff, 0xfb, 0x90, 0x64};
    ai = audio(mp3, sizeof mp3, 0);
    assert_int_equal(ai.sound_format, FLV_ACODEC_MP3);
    assert_int_equal(ai.seq_header, 0);
    assert_int_equal(ai.fourcc, 0);

    /* MP3 with only the header byte is still MP3. */
    ai = audio(mp3, 1, 0);
    assert_int_equal(ai.sound_format, FLV_ACODEC_MP3);

    const uint8_t opus_seq[] = {0x90, 'O', 'p', 'u', 's', 'O', 'p', 'u', 's', 'H', 'e', 'a', 'd'};
    ai = audio(opus_seq, sizeof opus_seq, 0);
    assert_int_equal(ai.sound_format, FLV_ACODEC_EX);
    assert_int_equal(ai.fourcc, FLV_FOURCC('O', 'p', 'u', 's'));
    assert_int_equal(ai.seq_header, 1);

    const uint8_t flac_frame[] = {0x91, 'f', 'L', 'a', 'C', 0xff, 0xf8};
    ai = audio(flac_frame, sizeof flac_frame, 0);
    assert_int_equal(ai.fourcc, FLV_FOURCC('f', 'L', 'a', 'C'));
    assert_int_equal(ai.seq_header, 0);

    const uint8_t mp4a_seq[] = {0x90, 'm', 'p', '4', 'a', 0x12, 0x10};
    ai = audio(mp4a_seq, sizeof mp4a_seq, 0);
    assert_int_equal(ai.fourcc, FLV_FOURCC('m', 'p', '4', 'a'));
    assert_int_equal(ai.seq_header, 1);

    const uint8_t ex_mp3[] = {0x91, '.', 'm', 'p', '3', 0xff, 0xfb};
    ai = audio(ex_mp3, sizeof ex_mp3, 0);
    assert_int_equal(ai.fourcc, FLV_FOURCC('.', 'm', 'p', '3'));

    const uint8_t mch[] = {0x94, 'O', 'p', 'u', 's', 0x01, 0x02};
    ai = audio(mch, sizeof mch, 0);
    assert_int_equal(ai.seq_header, 0);

    /* Multitrack (OneTrack, SequenceStart) ac-3: FourCC, no seq header. */
    const uint8_t mt[] = {0x95, 0x00, 'a', 'c', '-', '3', 0x00};
    ai = audio(mt, sizeof mt, 0);
    assert_int_equal(ai.fourcc, FLV_FOURCC('a', 'c', '-', '3'));
    assert_int_equal(ai.seq_header, 0);

    /* ModEx around CodedFrames ec-3. */
    const uint8_t modex[] = {0x97, 0x02, 0x00, 0x00, 0x10, 0x01, 'e', 'c', '-', '3'};
    ai = audio(modex, sizeof modex, 0);
    assert_int_equal(ai.fourcc, FLV_FOURCC('e', 'c', '-', '3'));
    assert_int_equal(ai.seq_header, 0);
}

static void test_audio_truncated(void **state)
{
    (void)state;
    static const flv_audio_info_t zero;
    const uint8_t aac[] = {0xaf, 0x00};
    const uint8_t ex[] = {0x90, 'O', 'p', 'u', 's'};
    const uint8_t mt[] = {0x95, 0x00};
    const struct {
        const uint8_t *p;
        size_t len;
    } cases[] = {{aac, 0}, {aac, 1}, {ex, 1}, {ex, 4}, {mt, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        flv_audio_info_t ai = audio(cases[i].p, cases[i].len, NODE_EPROTO);
        assert_memory_equal(&ai, &zero, sizeof ai);
    }
    flv_audio_info_t ai = audio(ex, sizeof ex, 0);
    assert_int_equal(ai.seq_header, 1);
}

/* ---- writing ------------------------------------------------------------ */

static void test_write(void **state)
{
    (void)state;
    uint8_t fh[FLV_HEADER_SIZE + FLV_PREV_SIZE];
    assert_int_equal(flv_write_file_header(fh, 1, 1), 13);
    const uint8_t want_fh[] = {'F', 'L', 'V', 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0};
    assert_memory_equal(fh, want_fh, sizeof want_fh);
    flv_write_file_header(fh, 0, 1);
    assert_int_equal(fh[4], 0x01);
    flv_write_file_header(fh, 1, 0);
    assert_int_equal(fh[4], 0x04);

    uint8_t th[FLV_TAG_HEADER_SIZE];
    flv_write_tag_header(th, FLV_TAG_VIDEO, 0x012345, 0x12345678);
    const uint8_t want_th[] = {9, 0x01, 0x23, 0x45, 0x34, 0x56, 0x78, 0x12, 0, 0, 0};
    assert_memory_equal(th, want_th, sizeof want_th);

    uint8_t ps[FLV_PREV_SIZE];
    flv_write_prev_size(ps, 0x012345);
    const uint8_t want_ps[] = {0x00, 0x01, 0x23, 0x50};
    assert_memory_equal(ps, want_ps, sizeof want_ps);
}

/* ---- reading ------------------------------------------------------------ */

typedef struct {
    uint8_t type;
    uint32_t ts;
    uint32_t len;
    uint8_t *body;
} tag_copy_t;

#define MAX_TAGS 16

typedef struct {
    tag_copy_t tags[MAX_TAGS];
    size_t n;
    parse_rc_t rc; /* last result */
    const char *err;
    size_t consumed; /* total bytes consumed */
    int flags;
} read_result_t;

static void result_free(read_result_t *res)
{
    for (size_t i = 0; i < res->n; i++)
        free(res->tags[i].body);
    res->n = 0;
}

/* Feeds buf as a first piece of `first` bytes, then pieces of `step` bytes,
 * each in an exact-size copy so ASan sees over-reads. Stops at an error. */
static void read_pieces(const uint8_t *buf, size_t len, size_t first, size_t step, uint32_t max_tag,
                        read_result_t *res)
{
    memset(res, 0, sizeof *res);
    flv_reader_t *r = flv_reader_new(max_tag);
    assert_non_null(r);
    assert_int_equal(flv_reader_flags(r), -1);
    res->rc = PARSE_NEED_MORE;
    size_t pos = 0;
    while (pos < len) {
        size_t n = pos == 0 ? first : step;
        if (n > len - pos)
            n = len - pos;
        uint8_t *piece = malloc(n);
        assert_non_null(piece);
        memcpy(piece, buf + pos, n);
        size_t off = 0;
        for (;;) {
            size_t used = 0;
            flv_tag_t tag;
            const char *err = NULL;
            parse_rc_t rc = flv_reader_feed(r, piece + off, n - off, &used, &tag, &err);
            assert_true(used <= n - off);
            off += used;
            res->rc = rc;
            if (rc == PARSE_OK) {
                assert_true(res->n < MAX_TAGS);
                tag_copy_t *t = &res->tags[res->n++];
                t->type = tag.type;
                t->ts = tag.ts;
                t->len = tag.len;
                assert_non_null(tag.body);
                t->body = malloc(tag.len ? tag.len : 1);
                assert_non_null(t->body);
                memcpy(t->body, tag.body, tag.len);
                continue;
            }
            if (rc == PARSE_NEED_MORE) {
                assert_int_equal(off, n);
                break;
            }
            res->err = err;
            break;
        }
        free(piece);
        pos += off;
        if (res->rc != PARSE_NEED_MORE && res->rc != PARSE_OK)
            break;
    }
    res->consumed = pos;
    res->flags = flv_reader_flags(r);
    flv_reader_free(r);
}

typedef struct {
    uint8_t *p;
    size_t len;
    size_t cap;
} out_buf_t;

static void put(out_buf_t *o, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (o->len + n > o->cap) {
        o->cap = (o->len + n) * 2;
        o->p = realloc(o->p, o->cap);
        assert_non_null(o->p);
    }
    memcpy(o->p + o->len, p, n);
    o->len += n;
}

static void put_tag(out_buf_t *o, uint8_t type, uint32_t ts, const uint8_t *body, uint32_t len)
{
    uint8_t h[FLV_TAG_HEADER_SIZE], ps[FLV_PREV_SIZE];
    flv_write_tag_header(h, type, len, ts);
    put(o, h, sizeof h);
    put(o, body, len);
    flv_write_prev_size(ps, len);
    put(o, ps, sizeof ps);
}

/* The sample file: header and five tags, one of them empty, one with an
 * extended timestamp, one larger than the reader's initial buffer. */
#define BIG_LEN 10000
static const uint8_t META[] = {0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a'};
static const uint8_t VSEQ[] = {0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x1f, 0xff};
static const uint8_t ASEQ[] = {0xaf, 0x00, 0x12, 0x10};

static out_buf_t sample_file(uint8_t **big_out)
{
    out_buf_t o = {0};
    uint8_t fh[FLV_HEADER_SIZE + FLV_PREV_SIZE];
    put(&o, fh, flv_write_file_header(fh, 1, 1));
    put_tag(&o, FLV_TAG_SCRIPT, 0, META, sizeof META);
    put_tag(&o, FLV_TAG_VIDEO, 0, VSEQ, sizeof VSEQ);
    put_tag(&o, FLV_TAG_AUDIO, 0, ASEQ, sizeof ASEQ);
    put_tag(&o, FLV_TAG_AUDIO, 23, NULL, 0);
    uint8_t *big = malloc(BIG_LEN);
    assert_non_null(big);
    big[0] = 0x17;
    big[1] = 0x01;
    for (size_t i = 2; i < BIG_LEN; i++)
        big[i] = (uint8_t)(i * 7);
    put_tag(&o, FLV_TAG_VIDEO, 0x01000040, big, BIG_LEN);
    *big_out = big;
    return o;
}

static void check_sample(const read_result_t *res, const uint8_t *big, size_t file_len)
{
    /* The final PreviousTagSize is consumed too, waiting for a next tag. */
    assert_int_equal(res->rc, PARSE_NEED_MORE);
    assert_int_equal(res->n, 5);
    assert_int_equal(res->flags, 0x05);
    assert_int_equal(res->consumed, file_len);
    assert_int_equal(res->tags[0].type, FLV_TAG_SCRIPT);
    assert_int_equal(res->tags[0].len, sizeof META);
    assert_memory_equal(res->tags[0].body, META, sizeof META);
    assert_int_equal(res->tags[1].type, FLV_TAG_VIDEO);
    assert_int_equal(res->tags[1].ts, 0);
    assert_int_equal(res->tags[1].len, sizeof VSEQ);
    assert_memory_equal(res->tags[1].body, VSEQ, sizeof VSEQ);
    assert_int_equal(res->tags[2].type, FLV_TAG_AUDIO);
    assert_int_equal(res->tags[2].len, sizeof ASEQ);
    assert_memory_equal(res->tags[2].body, ASEQ, sizeof ASEQ);
    assert_int_equal(res->tags[3].type, FLV_TAG_AUDIO);
    assert_int_equal(res->tags[3].ts, 23);
    assert_int_equal(res->tags[3].len, 0);
    assert_int_equal(res->tags[4].type, FLV_TAG_VIDEO);
    assert_int_equal(res->tags[4].ts, 0x01000040);
    assert_int_equal(res->tags[4].len, BIG_LEN);
    assert_memory_equal(res->tags[4].body, big, BIG_LEN);
}

static void test_read_whole(void **state)
{
    (void)state;
    uint8_t *big;
    out_buf_t f = sample_file(&big);
    read_result_t res;
    read_pieces(f.p, f.len, f.len, f.len, 1 << 20, &res);
    check_sample(&res, big, f.len);
    result_free(&res);
    free(big);
    free(f.p);
}

static void test_read_every_split(void **state)
{
    (void)state;
    uint8_t *big;
    out_buf_t f = sample_file(&big);
    for (size_t k = 1; k < f.len; k++) {
        read_result_t res;
        read_pieces(f.p, f.len, k, f.len, 1 << 20, &res);
        check_sample(&res, big, f.len);
        result_free(&res);
    }
    free(big);
    free(f.p);
}

static void test_read_byte_by_byte(void **state)
{
    (void)state;
    uint8_t *big;
    out_buf_t f = sample_file(&big);
    read_result_t res;
    read_pieces(f.p, f.len, 1, 1, 1 << 20, &res);
    check_sample(&res, big, f.len);
    result_free(&res);
    for (size_t step = 2; step < 40; step += 3) {
        read_pieces(f.p, f.len, step, step, 1 << 20, &res);
        check_sample(&res, big, f.len);
        result_free(&res);
    }
    free(big);
    free(f.p);
}

/* One feed returns one tag and leaves the following bytes unconsumed. */
static void test_read_one_tag_at_a_time(void **state)
{
    (void)state;
    uint8_t *big;
    out_buf_t f = sample_file(&big);
    flv_reader_t *r = flv_reader_new(1 << 20);
    size_t used;
    flv_tag_t tag;
    const char *err;
    assert_int_equal(flv_reader_feed(r, f.p, f.len, &used, &tag, &err), PARSE_OK);
    assert_int_equal(used, 13 + 11 + sizeof META);
    assert_int_equal(tag.type, FLV_TAG_SCRIPT);
    size_t off = used;
    assert_int_equal(flv_reader_feed(r, f.p + off, f.len - off, &used, &tag, &err), PARSE_OK);
    assert_int_equal(used, 4 + 11 + sizeof VSEQ);
    assert_int_equal(tag.type, FLV_TAG_VIDEO);
    flv_reader_free(r);
    free(big);
    free(f.p);
}

static void test_read_quirks(void **state)
{
    (void)state;
    /* Data offset 12 (three extra header bytes), a wrong PreviousTagSize0
     * and PreviousTagSize, a tag type with the filter and reserved bits,
     * and an unknown tag type. */
    out_buf_t o = {0};
    const uint8_t fh[] = {'F', 'L', 'V', 1, 0x01, 0, 0, 0, 12, 0xaa, 0xbb, 0xcc, 0, 0, 0, 7};
    put(&o, fh, sizeof fh);
    const uint8_t body[] = {0x27, 0x01, 0, 0, 0, 0xde};
    uint8_t h[FLV_TAG_HEADER_SIZE];
    flv_write_tag_header(h, 0xe9, sizeof body, 40);
    put(&o, h, sizeof h);
    put(&o, body, sizeof body);
    const uint8_t bad_prev[] = {0, 0, 0x99, 0x99};
    put(&o, bad_prev, sizeof bad_prev);
    put_tag(&o, 15, 80, body, 3);

    for (size_t step = 1; step <= o.len; step++) {
        read_result_t res;
        read_pieces(o.p, o.len, step, step, 64, &res);
        assert_int_equal(res.rc, PARSE_NEED_MORE);
        assert_int_equal(res.n, 2);
        assert_int_equal(res.flags, 0x01);
        assert_int_equal(res.tags[0].type, FLV_TAG_VIDEO);
        assert_int_equal(res.tags[0].ts, 40);
        assert_int_equal(res.tags[0].len, sizeof body);
        assert_memory_equal(res.tags[0].body, body, sizeof body);
        assert_int_equal(res.tags[1].type, 15);
        assert_int_equal(res.tags[1].ts, 80);
        assert_int_equal(res.tags[1].len, 3);
        assert_memory_equal(res.tags[1].body, body, 3);
        result_free(&res);
    }
    free(o.p);
}

static void test_read_bad_signature(void **state)
{
    (void)state;
    const uint8_t http[] = "HTTP/1.1 404 Not Found\r\n";
    read_result_t res;
    read_pieces(http, sizeof http - 1, 1, 1, 1024, &res);
    assert_int_equal(res.rc, PARSE_ERR_PROTO);
    assert_string_equal(res.err, "flv: bad signature");
    /* Detected at the first byte, without waiting for 9. */
    assert_int_equal(res.consumed, 1);
    assert_int_equal(res.flags, -1);

    const uint8_t flx[] = {'F', 'L', 'X', 1, 5, 0, 0, 0, 9};
    read_pieces(flx, sizeof flx, sizeof flx, 1, 1024, &res);
    assert_int_equal(res.rc, PARSE_ERR_PROTO);
    assert_string_equal(res.err, "flv: bad signature");

    const uint8_t short_hdr[] = {'F', 'L', 'V', 1, 5, 0, 0, 0, 8};
    read_pieces(short_hdr, sizeof short_hdr, sizeof short_hdr, 1, 1024, &res);
    assert_int_equal(res.rc, PARSE_ERR_PROTO);
    assert_string_equal(res.err, "flv: bad header size");

    const uint8_t huge_hdr[] = {'F', 'L', 'V', 1, 5, 0, 1, 0, 0};
    read_pieces(huge_hdr, sizeof huge_hdr, sizeof huge_hdr, 1, 1024, &res);
    assert_int_equal(res.rc, PARSE_ERR_TOO_BIG);
    assert_string_equal(res.err, "flv: header too big");
}

static void test_read_too_big(void **state)
{
    (void)state;
    out_buf_t o = {0};
    uint8_t fh[FLV_HEADER_SIZE + FLV_PREV_SIZE];
    put(&o, fh, flv_write_file_header(fh, 1, 1));
    uint8_t body[101];
    memset(body, 0x2f, sizeof body);
    put_tag(&o, FLV_TAG_AUDIO, 0, body, 100);
    put_tag(&o, FLV_TAG_AUDIO, 20, body, 101);

    /* max_tag 100: the first tag (exactly 100) passes, the second fails as
     * soon as its header is read, before its body arrives. */
    size_t hdr_end = 13 + 11 + 100 + 4 + 11;
    read_result_t res;
    read_pieces(o.p, hdr_end, hdr_end, 1, 100, &res);
    assert_int_equal(res.rc, PARSE_ERR_TOO_BIG);
    assert_string_equal(res.err, "flv: tag too big");
    assert_int_equal(res.n, 1);
    assert_int_equal(res.tags[0].len, 100);
    result_free(&res);

    read_pieces(o.p, o.len, 1, 1, 100, &res);
    assert_int_equal(res.rc, PARSE_ERR_TOO_BIG);
    assert_int_equal(res.n, 1);
    result_free(&res);

    read_pieces(o.p, o.len, o.len, 1, 101, &res);
    assert_int_equal(res.rc, PARSE_NEED_MORE);
    assert_int_equal(res.n, 2);
    result_free(&res);

    /* The error is sticky: nothing more is consumed. */
    flv_reader_t *r = flv_reader_new(100);
    size_t used;
    flv_tag_t tag;
    const char *err;
    assert_int_equal(flv_reader_feed(r, o.p, o.len, &used, &tag, &err), PARSE_OK);
    size_t off = used;
    assert_int_equal(flv_reader_feed(r, o.p + off, o.len - off, &used, &tag, &err),
                     PARSE_ERR_TOO_BIG);
    assert_int_equal(flv_reader_feed(r, o.p, o.len, &used, &tag, &err), PARSE_ERR_TOO_BIG);
    assert_int_equal(used, 0);
    assert_string_equal(err, "flv: tag too big");
    flv_reader_free(r);
    free(o.p);
}

static void test_reader_free_null(void **state)
{
    (void)state;
    flv_reader_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_avc_legacy),
        cmocka_unit_test(test_hevc_legacy),
        cmocka_unit_test(test_other_legacy_codecs),
        cmocka_unit_test(test_video_command),
        cmocka_unit_test(test_enhanced_video),
        cmocka_unit_test(test_enhanced_video_multitrack_modex),
        cmocka_unit_test(test_video_truncated),
        cmocka_unit_test(test_audio),
        cmocka_unit_test(test_audio_truncated),
        cmocka_unit_test(test_write),
        cmocka_unit_test(test_read_whole),
        cmocka_unit_test(test_read_every_split),
        cmocka_unit_test(test_read_byte_by_byte),
        cmocka_unit_test(test_read_one_tag_at_a_time),
        cmocka_unit_test(test_read_quirks),
        cmocka_unit_test(test_read_bad_signature),
        cmocka_unit_test(test_read_too_big),
        cmocka_unit_test(test_reader_free_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
