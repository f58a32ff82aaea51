/* flv_file: see flv_file.h. */
#include "flv_file.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FLV_FILE_READ_SIZE 65536
#define FLV_META_MAX_VALUES 4

struct flv_file {
    FILE *fp;
    char *path;
    flv_reader_t *reader;
    uint8_t *buf;
    size_t buf_len; /* bytes in buf */
    size_t buf_off; /* bytes of buf fed to the reader */
    uint64_t pos;   /* file bytes fed to the reader */
    uint64_t since_tag;
    unsigned long tags;
    int failed;
    char err[FLV_FILE_ERR_MAX];
};

static const uint8_t ON_METADATA[] = {0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e',
                                      't',  'a',  'D',  'a', 't', 'a'};

int flv_is_onmetadata(const uint8_t *body, size_t len)
{
    return len >= sizeof ON_METADATA && memcmp(body, ON_METADATA, sizeof ON_METADATA) == 0;
}

static int file_fail(flv_file_t *f, const char *fmt_msg, uint64_t offset)
{
    snprintf(f->err, sizeof f->err, "%s: offset %llu: %s", f->path, (unsigned long long)offset,
             fmt_msg);
    f->failed = 1;
    return -1;
}

static int reset_reader(flv_file_t *f)
{
    flv_reader_free(f->reader);
    f->reader = flv_reader_new(FLV_FILE_MAX_TAG);
    f->buf_len = f->buf_off = 0;
    f->pos = f->since_tag = 0;
    f->tags = 0;
    return f->reader ? 0 : -1;
}

flv_file_t *flv_file_open(const char *path, char *err, size_t errlen)
{
    flv_file_t *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path)) || !(f->buf = malloc(FLV_FILE_READ_SIZE)) ||
        reset_reader(f) != 0) {
        snprintf(err, errlen, "%s: out of memory", path);
        flv_file_close(f);
        return NULL;
    }
    f->fp = fopen(path, "rb");
    if (!f->fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        flv_file_close(f);
        return NULL;
    }
    uint8_t sig[3];
    size_t n = fread(sig, 1, sizeof sig, f->fp);
    if (n != sizeof sig || memcmp(sig, "FLV", 3) != 0) {
        snprintf(err, errlen, "%s: not an FLV file (%s)", path,
                 ferror(f->fp) ? strerror(errno) : "no FLV signature");
        flv_file_close(f);
        return NULL;
    }
    rewind(f->fp);
    return f;
}

void flv_file_close(flv_file_t *f)
{
    if (!f)
        return;
    if (f->fp)
        fclose(f->fp);
    flv_reader_free(f->reader);
    free(f->buf);
    free(f->path);
    free(f);
}

int flv_file_next(flv_file_t *f, flv_tag_t *tag, uint64_t *offset)
{
    if (f->failed)
        return -1;
    for (;;) {
        if (f->buf_off == f->buf_len) {
            f->buf_len = fread(f->buf, 1, FLV_FILE_READ_SIZE, f->fp);
            f->buf_off = 0;
            if (f->buf_len == 0) {
                if (ferror(f->fp))
                    return file_fail(f, strerror(errno), f->pos);
                if (f->tags == 0 && f->pos < FLV_HEADER_SIZE)
                    return file_fail(f, "flv: file ends inside the FLV header", f->pos);
                return 0;
            }
        }
        size_t used = 0;
        const char *perr = NULL;
        parse_rc_t rc = flv_reader_feed(f->reader, f->buf + f->buf_off, f->buf_len - f->buf_off,
                                        &used, tag, &perr);
        f->buf_off += used;
        f->pos += used;
        f->since_tag += used;
        if (rc == PARSE_OK) {
            f->since_tag = 0;
            f->tags++;
            *offset = f->pos - FLV_TAG_HEADER_SIZE - tag->len;
            return 1;
        }
        if (rc != PARSE_NEED_MORE)
            return file_fail(f, perr ? perr : "flv: malformed", f->pos);
    }
}

int flv_file_rewind(flv_file_t *f)
{
    if (fseek(f->fp, 0, SEEK_SET) != 0)
        return file_fail(f, strerror(errno), 0);
    clearerr(f->fp);
    if (reset_reader(f) != 0)
        return file_fail(f, "out of memory", 0);
    f->failed = 0;
    return 0;
}

const char *flv_file_error(const flv_file_t *f)
{
    return f->err;
}

uint64_t flv_file_truncated(const flv_file_t *f)
{
    return f->since_tag > FLV_PREV_SIZE ? f->since_tag - FLV_PREV_SIZE : 0;
}

unsigned long flv_file_tags(const flv_file_t *f)
{
    return f->tags;
}

int flv_file_write_header(FILE *out, int has_audio, int has_video)
{
    uint8_t hdr[FLV_HEADER_SIZE + FLV_PREV_SIZE];
    size_t n = flv_write_file_header(hdr, has_audio, has_video);
    return fwrite(hdr, 1, n, out) == n ? 0 : -1;
}

int flv_file_write_tag(FILE *out, uint8_t type, uint32_t ts, const uint8_t *body, uint32_t len)
{
    if (len > 0xffffffu) {
        errno = EINVAL;
        return -1;
    }
    uint8_t hdr[FLV_TAG_HEADER_SIZE], prev[FLV_PREV_SIZE];
    flv_write_tag_header(hdr, type, len, ts);
    flv_write_prev_size(prev, len);
    if (fwrite(hdr, 1, sizeof hdr, out) != sizeof hdr ||
        (len && fwrite(body, 1, len, out) != len) ||
        fwrite(prev, 1, sizeof prev, out) != sizeof prev)
        return -1;
    return 0;
}

static void meta_field(const amf0_value_t *obj, const char *name, int *has, double *v)
{
    const amf0_value_t *x = amf0_get(obj, name);
    double d = amf0_num(x, NAN);
    if (!isnan(d)) {
        *has = 1;
        *v = d;
    }
}

int flv_meta_parse(const uint8_t *body, size_t len, flv_meta_t *meta)
{
    amf0_value_t vals[FLV_META_MAX_VALUES];
    size_t n = 0;
    const char *err;
    memset(meta, 0, sizeof *meta);
    if (amf0_decode_all(body, len, vals, FLV_META_MAX_VALUES, &n, &err) != 0)
        return -1;
    size_t i = 0;
    const char *s = n > 0 ? amf0_str(&vals[0]) : NULL;
    if (s && strcmp(s, "@setDataFrame") == 0) {
        i = 1;
        s = n > 1 ? amf0_str(&vals[1]) : NULL;
    }
    int rc = 0;
    if (s && strcmp(s, "onMetaData") == 0) {
        rc = 1;
        const amf0_value_t *obj = i + 1 < n ? &vals[i + 1] : NULL;
        if (obj && (obj->type == AMF0_OBJECT || obj->type == AMF0_ECMA_ARRAY)) {
            meta_field(obj, "width", &meta->has_width, &meta->width);
            meta_field(obj, "height", &meta->has_height, &meta->height);
            meta_field(obj, "framerate", &meta->has_framerate, &meta->framerate);
            meta_field(obj, "duration", &meta->has_duration, &meta->duration);
            meta_field(obj, "videocodecid", &meta->has_videocodecid, &meta->videocodecid);
            meta_field(obj, "audiocodecid", &meta->has_audiocodecid, &meta->audiocodecid);
        }
    }
    amf0_values_free(vals, n);
    return rc;
}

static void put_num(amf0_buf_t *b, const char *name, int have, double v)
{
    if (!have)
        return;
    amf0_put_key(b, name);
    amf0_put_number(b, v);
}

int flv_meta_encode(const flv_meta_t *m, const char *encoder, amf0_buf_t *b)
{
    uint32_t count = (uint32_t)(m->has_duration + m->has_width + m->has_height + m->has_framerate +
                                m->has_videocodecid + m->has_audiocodecid + 1);
    amf0_put_cstr(b, "onMetaData");
    amf0_put_ecma_start(b, count);
    put_num(b, "duration", m->has_duration, m->duration);
    put_num(b, "width", m->has_width, m->width);
    put_num(b, "height", m->has_height, m->height);
    put_num(b, "framerate", m->has_framerate, m->framerate);
    put_num(b, "videocodecid", m->has_videocodecid, m->videocodecid);
    put_num(b, "audiocodecid", m->has_audiocodecid, m->audiocodecid);
    amf0_put_key(b, "encoder");
    amf0_put_cstr(b, encoder);
    amf0_put_object_end(b);
    return b->oom ? NODE_ENOMEM : 0;
}
