/* media_info_internal: what the media_info files share (not a public
 * API; media_info.h is):
 *   media_info.c        init, the field setters below, onMetaData
 *   media_info_video.c  video tags, AV1 (av1C) and VP9 (vpcC) records
 *   media_info_sps.c    H.264 (avcC) and H.265 (hvcC) records and their SPS
 *   media_info_audio.c  audio tags: AAC, MP3, Opus, legacy formats
 *
 * Pure: no shared state; any thread (a media_info_t is the caller's).
 */
#ifndef WEIR_MEDIA_INFO_INTERNAL_H
#define WEIR_MEDIA_INFO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "media_info.h"

#define MI_MAX_DIM 65536 /* largest width or height believed */

static inline void media_info_set_str(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s);
}

/* "3.1", or "4" when the minor number is 0. */
void media_info_set_level(char *dst, size_t cap, unsigned major, unsigned minor);
/* A codec name; a different codec than before forgets the old one's
 * profile, level and record values. */
void media_info_set_vcodec(media_info_t *mi, const char *name);
void media_info_set_acodec(media_info_t *mi, const char *name);
/* Values read from a record (metadata must not override them). */
void media_info_video_size(media_info_t *mi, unsigned w, unsigned h);
void media_info_audio_record(media_info_t *mi, int rate, int channels);

/* The name of a legacy FLV sound format (0..15), or NULL (none, or out of
 * range) (media_info_audio.c). */
const char *media_info_legacy_acodec(int fmt);

/* H.264 avcC and H.265 hvcC records (media_info_sps.c). */
void media_info_avcc(media_info_t *mi, const uint8_t *rec, size_t len);
void media_info_hvcc(media_info_t *mi, const uint8_t *rec, size_t len);

#endif
