/* record_spec: what a recorder is (its configuration) and where its files
 * go, pure: parsing and validation from JSON (the config file's "recorders"
 * and the API's bodies, same names), rendering back, matching a stream, and
 * the expansion of the path template. Layer codec: no I/O, no state;
 * callable from any thread.
 *
 * JSON fields:
 *   id         string [A-Za-z0-9._-]{1,63} (config: required; API: made)
 *   app        stream app name, or "*"                          (required)
 *   name       stream name, or "*"                              (required)
 *   format     "flv" (default), "ts" (the stream's MPEG-TS) or "fmp4"
 *              (fragmented MP4, cut at key frames and bounds: record_fmp4.h)
 *   segment_s  0 (one file per publish, default) or 1..RECORD_SEGMENT_S_MAX:
 *              a new file at the first key frame after that many seconds
 *   path       the file's path under record.root without its extension,
 *              a template of {app}, {name}, {start_utc} (the file's start,
 *              UTC, "20261206T135000.123Z") and {seq} (the file's number
 *              within the recording, from 0); default
 *              RECORD_PATH_DEFAULT. Relative, no "." or ".." segment, no
 *              empty segment, no control bytes or '\\'; must hold {app} when
 *              app is "*", {name} when name is "*", and {start_utc} or {seq}
 *              (so that two streams, or two files, never get one name)
 *   max_age_h  retention: files older than this are deleted (0: no limit)
 *   max_bytes  retention: the recorder's files beyond this many bytes, the
 *              oldest first, are deleted (0: no limit)
 *   enabled    boolean (default true)
 */
#ifndef WEIR_RECORD_SPEC_H
#define WEIR_RECORD_SPEC_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "stream_name.h"

#define RECORD_ID_MAX 64    /* with its NUL */
#define RECORD_PATH_MAX 256 /* a template, with its NUL */
#define RECORD_SEGMENT_S_MAX 86400
#define RECORD_MAX_AGE_H_MAX 87600 /* ten years */
#define RECORD_MAX_BYTES_MAX 1000000000000000ULL /* 1 PB */
#define RECORD_PATH_DEFAULT "{app}/{name}/{start_utc}"
#define RECORD_FILE_MAX 1024 /* an expanded relative path with extension, with its NUL */

typedef enum { RECORD_FMT_FLV = 0, RECORD_FMT_FMP4 = 1, RECORD_FMT_TS = 2 } record_fmt_t;

typedef struct {
    char id[RECORD_ID_MAX];
    char app[STREAM_APP_MAX];
    char name[STREAM_NAME_MAX];
    record_fmt_t format;
    uint32_t segment_s;
    char path[RECORD_PATH_MAX];
    uint32_t max_age_h;
    uint64_t max_bytes;
    int enabled;
} record_spec_t;

/* Every default (format flv, path RECORD_PATH_DEFAULT, enabled), empty
 * id, app and name. */
void record_spec_defaults(record_spec_t *s);

/* Parses obj over base (NULL: the defaults; PUT and POST pass NULL, PATCH
 * the current spec) into *out and validates the result. Returns 0, or -1
 * with err starting with the field ("segment_s: ...", "path: ..."). An
 * "id" member is read when allow_id, else refused. */
int record_spec_from_json(const cJSON *obj, const record_spec_t *base, int allow_id,
                          record_spec_t *out, char *err, size_t errlen);

/* Checks a whole spec (record_spec_from_json() calls it). */
int record_spec_validate(const record_spec_t *s, char *err, size_t errlen);

/* The spec as JSON (every field); NULL when out of memory. */
cJSON *record_spec_to_json(const record_spec_t *s);

/* "flv", "fmp4", "ts". */
const char *record_fmt_name(record_fmt_t f);
/* The file extension: "flv", "mp4", "ts". */
const char *record_fmt_ext(record_fmt_t f);

/* 1 when the spec (enabled or not) names app/name. */
int record_spec_matches(const record_spec_t *s, const char *app, const char *name);

/* Expands the template for app/name, a file starting at start_wall_ms
 * (Unix ms) and number seq, with ".<ext>" appended, into out. App and
 * name are valid stream names (stream_name_valid()): one safe segment each.
 * Returns 0, or -1 when out is too small. */
int record_path_expand(const record_spec_t *s, const char *app, const char *name,
                       int64_t start_wall_ms, uint32_t seq, char *out, size_t outlen);

#endif
