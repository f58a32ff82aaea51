/* record_file: one recorded file on disk while it is written: created as
 * "<path>.part" (its folders made), written through a bounded buffer,
 * finished by writing its metadata and renaming it to <path>; and the
 * repair of a ".part" file left by a crash. FLV: the FLV header, an
 * onMetaData tag whose duration and filesize are filled in at the end,
 * then the tags with timestamps from 0. MPEG-TS ("raw"): the stream's TS
 * packets as they are (no header, no metadata). fMP4 ("raw" too): the
 * init segment and fragments record_fmp4 makes.
 * Threads: the recording writer thread only (record_writer.h) and the
 * start-up scan before it runs; a file is used by one thread at a time.
 */
#ifndef WEIR_RECORD_FILE_H
#define WEIR_RECORD_FILE_H

#include <stddef.h>
#include <stdint.h>

#define RECORD_FILE_BUF (256 * 1024) /* written in blocks of this size at most */

/* Why a write failed (the record.fail reason). */
typedef enum {
    RECORD_OK = 0,
    RECORD_E_DISK_FULL, /* ENOSPC, EDQUOT, EFBIG */
    RECORD_E_PERMISSION, /* EACCES, EPERM, EROFS */
    RECORD_E_IO          /* anything else */
} record_err_t;

/* "disk_full", "permission", "io_error" ("" for RECORD_OK). */
const char *record_err_name(record_err_t e);

typedef struct record_file record_file_t;

/* Creates "<path>.part" (path absolute; folders made, mode 0755) and,
 * unless raw, writes the FLV header and metadata. NULL with *e and errno's
 * text in err on failure. */
record_file_t *record_file_open(const char *path, int raw, int has_audio, int has_video,
                                record_err_t *e, char *err, size_t errlen);
/* Appends one tag (type 8, 9 or 18) at ts (ms from the file's start); a
 * raw file gets body alone.
 * Returns RECORD_OK or the failure (the file is then only to be finished). */
record_err_t record_file_tag(record_file_t *f, uint8_t type, uint32_t ts, const uint8_t *body,
                             uint32_t len);
/* Writes out what the buffer holds (so a crash keeps it: fMP4 after each
 * fragment). Returns RECORD_OK or the failure. */
record_err_t record_file_flush(record_file_t *f);
/* Bytes written to the file so far (buffer included). */
uint64_t record_file_bytes(const record_file_t *f);
/* Flushes, fills in duration_ms and the size, and renames the file to its
 * final path; frees f. *bytes gets its size. Returns RECORD_OK, or the
 * failure (the file is then left as it is, under its final name when the
 * rename worked, else as ".part"). */
record_err_t record_file_finish(record_file_t *f, uint32_t duration_ms, uint64_t *bytes);

/* Repairs a ".part" file left by a crash (part_path ends in ".part"). FLV
 * ("….flv.part"): reads its tags up to the last complete one, truncates
 * the rest, fills in the duration and size. MPEG-TS ("….ts.part"): cuts it
 * to whole 188-byte packets, its duration from its first PTS to its last
 * (ts_scan over bounded windows at both ends); fMP4 ("….mp4.part"): cuts
 * it after its last complete fragment (moof + mdat), -1 without a whole
 * init segment, its duration from the first fragment's decode time to the
 * end of the last one's (fmp4_scan; 0 without a fragment). Then renames
 * it without ".part". Returns 0 with the final path in out, the duration
 * in *duration_ms and the size in *bytes; -1 when it is no file of ours
 * (left alone). */
int record_file_repair(const char *part_path, char *out, size_t outlen, uint32_t *duration_ms,
                       uint64_t *bytes);

#endif
