/* record_file: a recorded file on disk (see record_file.h). */
#include "record_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "flv.h"
#include "fmp4_scan.h"
#include "ts_scan.h"

/* onMetaData with two numbers: "duration" and "filesize" (AMF0). */
#define META_BODY_LEN 59
#define META_DURATION_OFF 29 /* of the first double in the body */
#define META_FILESIZE_OFF 48
#define META_TAG_OFF (FLV_HEADER_SIZE + FLV_PREV_SIZE)
#define REPAIR_MAX_TAG (64u << 20)
/* Reading a repaired file's duration back: MPEG-TS from a window at its
 * start and up to REPAIR_TS_TAILS windows back from its end (until one
 * holds a PTS); fMP4 from its moov and first and last moof, each read
 * only when at most REPAIR_BOX_MAX. */
#define REPAIR_TS_WINDOW (TS_SCAN_PACKET * 5000)
#define REPAIR_TS_TAILS 4
#define REPAIR_BOX_MAX (4u << 20)

struct record_file {
    int fd;
    int raw; /* MPEG-TS: bodies only */
    char path[4096]; /* the final path; the file is path + ".part" */
    uint64_t written; /* bytes on disk */
    uint32_t buflen;
    uint8_t buf[RECORD_FILE_BUF];
};

const char *record_err_name(record_err_t e)
{
    switch (e) {
    case RECORD_OK: return "";
    case RECORD_E_DISK_FULL: return "disk_full";
    case RECORD_E_PERMISSION: return "permission";
    default: return "io_error";
    }
}

static record_err_t err_of(int e)
{
    if (e == ENOSPC || e == EDQUOT || e == EFBIG)
        return RECORD_E_DISK_FULL;
    if (e == EACCES || e == EPERM || e == EROFS)
        return RECORD_E_PERMISSION;
    return RECORD_E_IO;
}

static void put_double(uint8_t *p, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void meta_body(uint8_t b[META_BODY_LEN], double duration_s, double size)
{
    static const uint8_t head[] = {2, 0, 10, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a',
                                   8, 0, 0, 0, 2};
    uint8_t *p = b;
    memcpy(p, head, sizeof head);
    p += sizeof head;
    static const char *const keys[] = {"duration", "filesize"};
    double vals[] = {duration_s, size};
    for (int i = 0; i < 2; i++) {
        *p++ = 0;
        *p++ = 8;
        memcpy(p, keys[i], 8);
        p += 8;
        *p++ = 0; /* number */
        put_double(p, vals[i]);
        p += 8;
    }
    p[0] = 0, p[1] = 0, p[2] = 9;
}

/* Makes every folder of path (not its last segment). */
static int make_parents(const char *path)
{
    char tmp[4200];
    size_t n = strlen(path);
    if (n >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(tmp, path, n + 1);
    for (char *s = tmp + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static record_err_t flush(record_file_t *f)
{
    if (f->buflen && write_all(f->fd, f->buf, f->buflen) != 0)
        return err_of(errno);
    f->written += f->buflen;
    f->buflen = 0;
    return RECORD_OK;
}

static record_err_t put(record_file_t *f, const uint8_t *p, size_t n)
{
    if (f->buflen + n > sizeof f->buf) {
        record_err_t e = flush(f);
        if (e != RECORD_OK)
            return e;
        if (n > sizeof f->buf) {
            if (write_all(f->fd, p, n) != 0)
                return err_of(errno);
            f->written += n;
            return RECORD_OK;
        }
    }
    memcpy(f->buf + f->buflen, p, n);
    f->buflen += (uint32_t)n;
    return RECORD_OK;
}

record_file_t *record_file_open(const char *path, int raw, int has_audio, int has_video,
                                record_err_t *e, char *err, size_t errlen)
{
    char part[4200];
    snprintf(part, sizeof part, "%s.part", path);
    record_file_t *f = malloc(sizeof *f);
    if (!f) {
        *e = RECORD_E_IO;
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->fd = -1;
    if (make_parents(part) == 0)
        f->fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        *e = err_of(errno);
        snprintf(err, errlen, "%s: %s", part, strerror(errno));
        free(f);
        return NULL;
    }
    snprintf(f->path, sizeof f->path, "%s", path);
    f->written = 0;
    f->buflen = 0;
    f->raw = raw;
    *e = RECORD_OK;
    if (raw)
        return f;
    uint8_t hdr[FLV_HEADER_SIZE + FLV_PREV_SIZE], body[META_BODY_LEN];
    flv_write_file_header(hdr, has_audio, has_video);
    meta_body(body, 0, 0);
    *e = put(f, hdr, sizeof hdr);
    if (*e == RECORD_OK)
        *e = record_file_tag(f, FLV_TAG_SCRIPT, 0, body, sizeof body);
    if (*e != RECORD_OK) {
        snprintf(err, errlen, "%s: %s", part, strerror(errno));
        close(f->fd);
        free(f);
        return NULL;
    }
    return f;
}

record_err_t record_file_tag(record_file_t *f, uint8_t type, uint32_t ts, const uint8_t *body,
                             uint32_t len)
{
    if (f->raw)
        return put(f, body, len);
    uint8_t th[FLV_TAG_HEADER_SIZE], prev[FLV_PREV_SIZE];
    flv_write_tag_header(th, type, len, ts);
    flv_write_prev_size(prev, len);
    record_err_t e = put(f, th, sizeof th);
    if (e == RECORD_OK)
        e = put(f, body, len);
    return e == RECORD_OK ? put(f, prev, sizeof prev) : e;
}

record_err_t record_file_flush(record_file_t *f)
{
    return flush(f);
}

uint64_t record_file_bytes(const record_file_t *f)
{
    return f->written + f->buflen;
}

/* Writes the metadata's numbers in place (the file's fd, any position). */
static int patch_meta(int fd, uint32_t duration_ms, uint64_t size)
{
    uint8_t body[META_BODY_LEN];
    meta_body(body, duration_ms / 1000.0, (double)size);
    off_t at = META_TAG_OFF + FLV_TAG_HEADER_SIZE;
    return pwrite(fd, body, sizeof body, at) == (ssize_t)sizeof body ? 0 : -1;
}

/* Renames "<path>.part" to path. */
static int rename_final(const char *path)
{
    char part[4200];
    snprintf(part, sizeof part, "%s.part", path);
    return rename(part, path);
}

record_err_t record_file_finish(record_file_t *f, uint32_t duration_ms, uint64_t *bytes)
{
    record_err_t e = flush(f);
    *bytes = f->written;
    if (e == RECORD_OK && !f->raw && patch_meta(f->fd, duration_ms, f->written) != 0)
        e = err_of(errno);
    if (close(f->fd) != 0 && e == RECORD_OK)
        e = err_of(errno);
    if (rename_final(f->path) != 0 && e == RECORD_OK)
        e = err_of(errno);
    free(f);
    return e;
}

/* Reads the tags of fd: *end gets the offset after the last complete tag
 * (its PreviousTagSize not counted), *last_len its body length, *max_ts the
 * largest timestamp. Returns 0, or -1 when it is no FLV. */
static int scan_tags(int fd, uint64_t *end, uint32_t *last_len, uint32_t *max_ts)
{
    flv_reader_t *r = flv_reader_new(REPAIR_MAX_TAG);
    if (!r)
        return -1;
    uint8_t buf[65536];
    uint64_t pos = 0;
    int tags = 0, bad = 0;
    ssize_t n;
    while (!bad && (n = read(fd, buf, sizeof buf)) > 0) {
        size_t off = 0;
        while (off < (size_t)n) {
            size_t used = 0;
            flv_tag_t tag;
            const char *why;
            parse_rc_t rc = flv_reader_feed(r, buf + off, (size_t)n - off, &used, &tag, &why);
            off += used;
            if (rc == PARSE_OK) {
                *end = pos + off;
                *last_len = tag.len;
                if (tag.ts > *max_ts)
                    *max_ts = tag.ts;
                tags++;
            } else if (rc != PARSE_NEED_MORE) {
                bad = 1;
                break;
            }
        }
        pos += (uint64_t)n;
    }
    flv_reader_free(r);
    return tags > 0 ? 0 : -1; /* our files start with the metadata tag */
}

/* The repaired part_path (n bytes, ending in ".part") renamed to out. */
static int rename_repaired(const char *part_path, size_t n, char *out)
{
    memcpy(out, part_path, n - 5);
    out[n - 5] = '\0';
    return rename(part_path, out) == 0 ? 0 : -1;
}

/* len bytes of fd at pos in a buffer of that size (the caller frees it),
 * or NULL. */
static uint8_t *read_at(int fd, uint64_t pos, uint64_t len)
{
    uint8_t *b = len ? malloc((size_t)len) : NULL;
    if (b && pread(fd, b, (size_t)len, (off_t)pos) != (ssize_t)len) {
        free(b);
        b = NULL;
    }
    return b;
}

/* Feeds the packets of fd[pos, pos + len) to s. Returns how many PTS they held. */
static uint64_t ts_window(int fd, uint64_t pos, uint64_t len, ts_scan_t *s)
{
    uint64_t seen = s->pts_seen;
    uint8_t *b = read_at(fd, pos, len);
    if (b)
        ts_scan_feed(s, b, (size_t)len);
    free(b);
    return s->pts_seen - seen;
}

/* The duration of a TS file of size bytes (whole packets): its first PTS
 * to its last, read from bounded windows at both ends. */
static uint32_t ts_duration(int fd, uint64_t size)
{
    ts_scan_t s;
    ts_scan_init(&s);
    uint64_t head = size < REPAIR_TS_WINDOW ? size : REPAIR_TS_WINDOW, end = size;
    ts_window(fd, 0, head, &s);
    for (int i = 0; i < REPAIR_TS_TAILS && end > head; i++) {
        uint64_t from = end - head > REPAIR_TS_WINDOW ? end - REPAIR_TS_WINDOW : head;
        if (ts_window(fd, from, end - from, &s) > 0)
            break;
        end = from;
    }
    return ts_scan_ms(&s);
}

/* A TS file: whole packets only; its duration read back. Closes fd. */
static int repair_ts(int fd, const char *part_path, size_t n, char *out, uint64_t *bytes,
                     uint32_t *duration_ms)
{
    struct stat st;
    int rc = fstat(fd, &st) == 0 && ftruncate(fd, st.st_size / 188 * 188) == 0 ? 0 : -1;
    *bytes = rc == 0 ? (uint64_t)(st.st_size / 188 * 188) : 0;
    if (rc == 0)
        *duration_ms = ts_duration(fd, *bytes);
    close(fd);
    if (rc != 0)
        return -1;
    return rename_repaired(part_path, n, out);
}

/* The times of the moof at b in fd (unread when over REPAIR_BOX_MAX). */
static int moof_times(int fd, fmp4_scan_box_t b, const fmp4_scan_tracks_t *tr,
                      fmp4_scan_times_t *out)
{
    uint8_t *p = b.len <= REPAIR_BOX_MAX ? read_at(fd, b.pos, b.len) : NULL;
    int n = p ? fmp4_scan_moof(p, (size_t)b.len, tr, out) : 0;
    free(p);
    return n;
}

/* The duration of an fMP4 file walked by s: from its first fragment's
 * decode times to the end of its last one's. */
static uint32_t fmp4_duration(int fd, const fmp4_scan_t *s)
{
    if (s->frags == 0 || s->moov.len > REPAIR_BOX_MAX)
        return 0;
    uint8_t *moov = read_at(fd, s->moov.pos, s->moov.len);
    fmp4_scan_tracks_t tr;
    int rc = moov ? fmp4_scan_moov(moov, (size_t)s->moov.len, &tr) : -1;
    free(moov);
    fmp4_scan_times_t first, last;
    if (rc != 0 || moof_times(fd, s->first_moof, &tr, &first) == 0 ||
        moof_times(fd, s->last_moof, &tr, &last) == 0)
        return 0;
    return fmp4_scan_duration_ms(&tr, &first, &last);
}

/* An fMP4 file: cut after its last complete fragment (its box headers
 * walked by fmp4_scan). Closes fd. */
static int repair_fmp4(int fd, const char *part_path, size_t n, char *out, uint64_t *bytes,
                       uint32_t *duration_ms)
{
    struct stat st;
    int rc = fstat(fd, &st) == 0 ? 0 : -1;
    fmp4_scan_t s;
    fmp4_scan_init(&s);
    uint8_t hdr[FMP4_SCAN_HDR_MAX];
    ssize_t got;
    while (rc == 0 && (got = pread(fd, hdr, sizeof hdr, (off_t)s.pos)) >= 0 &&
           fmp4_scan_box(&s, hdr, (size_t)got, (uint64_t)st.st_size))
        ;
    if (rc == 0 && (s.good_end == 0 || ftruncate(fd, (off_t)s.good_end) != 0))
        rc = -1; /* not even an init segment: no file of ours */
    if (rc == 0)
        *duration_ms = fmp4_duration(fd, &s);
    close(fd);
    if (rc != 0)
        return -1;
    *bytes = s.good_end;
    return rename_repaired(part_path, n, out);
}

int record_file_repair(const char *part_path, char *out, size_t outlen, uint32_t *duration_ms,
                       uint64_t *bytes)
{
    size_t n = strlen(part_path);
    if (n < 6 || strcmp(part_path + n - 5, ".part") != 0 || n - 5 >= outlen)
        return -1;
    int fd = open(part_path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (n > 8 && strcmp(part_path + n - 8, ".ts.part") == 0)
        return repair_ts(fd, part_path, n, out, bytes, duration_ms);
    if (n > 9 && strcmp(part_path + n - 9, ".mp4.part") == 0)
        return repair_fmp4(fd, part_path, n, out, bytes, duration_ms);
    uint64_t end = 0;
    uint32_t last_len = 0, max_ts = 0;
    uint8_t prev[FLV_PREV_SIZE];
    int rc = scan_tags(fd, &end, &last_len, &max_ts);
    if (rc == 0) {
        flv_write_prev_size(prev, last_len);
        rc = ftruncate(fd, (off_t)end) == 0 &&
                     pwrite(fd, prev, sizeof prev, (off_t)end) == (ssize_t)sizeof prev
                 ? 0
                 : -1;
    }
    if (rc == 0)
        rc = patch_meta(fd, max_ts, end + FLV_PREV_SIZE);
    close(fd);
    if (rc != 0)
        return -1;
    *duration_ms = max_ts;
    *bytes = end + FLV_PREV_SIZE;
    return rename_repaired(part_path, n, out);
}
