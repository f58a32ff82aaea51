/* Helpers shared by the RTMP unit tests (rtmp_proto_test.c,
 * rtmp_ctrl_test.c): a message around a payload, an onMetaData data
 * message, a part of an aggregate message. Test code only. */
#ifndef WEIR_TEST_RTMP_UTIL_H
#define WEIR_TEST_RTMP_UTIL_H

#include <string.h>

#include "amf0.h"
#include "common.h"
#include "flv.h"
#include "rtmp_chunk.h"

static inline rtmp_msg_t mk(uint8_t type, const uint8_t *p, uint32_t len)
{
    rtmp_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.payload = (uint8_t *)p;
    m.len = len;
    return m;
}

static inline amf0_buf_t meta(int set_data_frame, const char *first)
{
    amf0_buf_t b;
    amf0_buf_init(&b);
    if (set_data_frame)
        amf0_put_cstr(&b, "@setDataFrame");
    amf0_put_cstr(&b, first);
    amf0_put_ecma_start(&b, 1);
    amf0_put_key(&b, "width");
    amf0_put_number(&b, 640);
    amf0_put_object_end(&b);
    assert_false(b.oom);
    return b;
}

static inline size_t agg_part(uint8_t *p, uint8_t type, uint32_t ts, const uint8_t *body,
                              uint32_t len, int backptr)
{
    flv_write_tag_header(p, type, len, ts);
    memcpy(p + FLV_TAG_HEADER_SIZE, body, len);
    size_t n = FLV_TAG_HEADER_SIZE + len;
    if (backptr) {
        wr_be32(p + n, (uint32_t)n);
        n += FLV_PREV_SIZE;
    }
    return n;
}

#endif
