/* Fuzz target for media_info: the first byte picks what the rest is fed
 * as (0 a video tag body, 1 an audio tag body, 2 a script payload, 3 all
 * three in turn, into one media_info_t), and the result must be sane:
 * every string terminated inside its array, sizes, rate and channels in
 * range, and the record flags consistent with the values they vouch for.
 * The body is fed from an exact-size copy so that reads past it are
 * caught. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media_info.h"

#define FUZZ_MAX_DIM 65536

static void check(const media_info_t *mi)
{
    if (!memchr(mi->vcodec, 0, sizeof mi->vcodec) ||
        !memchr(mi->vprofile, 0, sizeof mi->vprofile) ||
        !memchr(mi->vlevel, 0, sizeof mi->vlevel) || !memchr(mi->acodec, 0, sizeof mi->acodec) ||
        !memchr(mi->aprofile, 0, sizeof mi->aprofile))
        abort();
    if (mi->width < 0 || mi->width > FUZZ_MAX_DIM || mi->height < 0 || mi->height > FUZZ_MAX_DIM)
        abort();
    if ((mi->width == 0) != (mi->height == 0))
        abort();
    if (mi->video_from_record && mi->width == 0)
        abort();
    if (mi->sample_rate < 0 || mi->channels < 0 || !(mi->meta_fps >= 0 && mi->meta_fps <= 1000))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t n = size - 1;
    uint8_t *body = malloc(n ? n : 1);
    if (!body)
        abort();
    memcpy(body, data + 1, n);
    media_info_t mi;
    media_info_init(&mi);
    switch (data[0] & 3) {
    case 0: media_info_video(&mi, body, n); break;
    case 1: media_info_audio(&mi, body, n); break;
    case 2: media_info_meta(&mi, body, n); break;
    default:
        media_info_video(&mi, body, n);
        check(&mi);
        media_info_audio(&mi, body, n);
        check(&mi);
        media_info_meta(&mi, body, n);
        break;
    }
    check(&mi);
    if (data[0] <= 2 && (mi.has_video + mi.has_audio) != (data[0] < 2))
        abort(); /* only a video or audio tag sets its has_ flag */
    free(body);
    return 0;
}
