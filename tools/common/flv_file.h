/* flv_file: FLV files for the tools, on top of the node's FLV codec (flv.h)
 * and AMF0 codec (amf0.h): a tag-by-tag file reader that knows each tag's
 * byte offset, tag writing onto a stdio stream, and onMetaData reading and
 * writing.
 */
#ifndef WEIR_TOOLS_FLV_FILE_H
#define WEIR_TOOLS_FLV_FILE_H

#include <stdint.h>
#include <stdio.h>

#include "amf0.h"
#include "flv.h"

/* Largest tag body the tools read (the RTMP client's message bound). */
#define FLV_FILE_MAX_TAG (8u * 1024 * 1024)
#define FLV_FILE_ERR_MAX 512

/* A file being read. Owns its FILE and reader. */
typedef struct flv_file flv_file_t;

/* Opens path ("-" is not accepted) and checks the FLV signature. Returns
 * the file, or NULL with a message in err ("clip.mp4: not an FLV file (no
 * FLV signature)", "x.flv: No such file or directory"). Free with
 * flv_file_close(). */
flv_file_t *flv_file_open(const char *path, char *err, size_t errlen);
/* Closes and frees; NULL is a no-op. */
void flv_file_close(flv_file_t *f);

/* Reads the next tag. Returns 1 with *tag (body valid until the next call)
 * and *offset (byte offset of its tag header in the file), 0 at the end of
 * the file, or -1 on a read error or corrupt data (flv_file_error() names
 * the offset and the problem; nothing more can be read). A tag cut short by
 * the end of the file ends it: 0 is returned and flv_file_truncated() tells
 * how many bytes were left over. */
int flv_file_next(flv_file_t *f, flv_tag_t *tag, uint64_t *offset);
/* Starts again at the first tag. Returns 0 or -1 (flv_file_error()). */
int flv_file_rewind(flv_file_t *f);
/* Why flv_file_next() or flv_file_rewind() failed. */
const char *flv_file_error(const flv_file_t *f);
/* Bytes of an incomplete last tag (beyond its PreviousTagSize), 0 if none;
 * meaningful once flv_file_next() returned 0. */
uint64_t flv_file_truncated(const flv_file_t *f);
/* Tags returned since the last open or rewind. */
unsigned long flv_file_tags(const flv_file_t *f);

/* Writes the 13-byte FLV file header. Returns 0, or -1 with errno. */
int flv_file_write_header(FILE *out, int has_audio, int has_video);
/* Writes one tag (header, body, PreviousTagSize). Returns 0, or -1 with
 * errno (EINVAL for a body over 2^24 - 1 bytes). */
int flv_file_write_tag(FILE *out, uint8_t type, uint32_t ts, const uint8_t *body, uint32_t len);

/* Fields of onMetaData the tools use; a field is known when its has_ flag
 * is set. videocodecid is a legacy codec id or an Enhanced RTMP FourCC. */
typedef struct {
    int has_width, has_height, has_framerate, has_duration, has_videocodecid, has_audiocodecid;
    double width, height, framerate, duration, videocodecid, audiocodecid;
} flv_meta_t;

/* Parses a script tag body. Returns 1 when it is onMetaData (optionally
 * after "@setDataFrame") with *meta filled, 0 for another script tag, -1 if
 * its AMF0 is malformed. */
int flv_meta_parse(const uint8_t *body, size_t len, flv_meta_t *meta);
/* Encodes onMetaData (an ECMA array of the known fields plus
 * encoder=encoder) into b. Returns 0, or NODE_ENOMEM. */
int flv_meta_encode(const flv_meta_t *meta, const char *encoder, amf0_buf_t *b);

/* True when a script body starts with the AMF0 string "onMetaData". */
int flv_is_onmetadata(const uint8_t *body, size_t len);

#endif
