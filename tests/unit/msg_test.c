/* Unit tests of msg's cached wire encodings: the WebSocket-FLV form (one
 * binary frame per FLV tag, header lengths 2, 4 and 10) around the shared
 * payload, by reference, whole and after a partial write; and the MPEG-TS
 * packets set anew while earlier ones may be in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "flv.h"
#include "msg.h"

/* The bytes of m in enc after skip, gathered from msg_iov(). */
static size_t gather(const msg_t *m, msg_enc_t enc, uint32_t skip, uint8_t *out)
{
    struct iovec iov[4];
    int n = msg_iov(m, enc, skip, iov);
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    return len;
}

static void check_ws(uint32_t plen, size_t hdr_len)
{
    static uint8_t payload[70000], out[70100];
    for (uint32_t i = 0; i < plen; i++)
        payload[i] = (uint8_t)(i * 7);
    msg_t *m = msg_new_copy(FLV_TAG_VIDEO, 0x01020304, payload, plen);
    assert_non_null(m);
    uint32_t tag = FLV_TAG_HEADER_SIZE + plen + FLV_PREV_SIZE;
    assert_int_equal(msg_wire_len(m, MSG_ENC_WS_FLV, 4096), hdr_len + tag);
    size_t n = gather(m, MSG_ENC_WS_FLV, 0, out);
    assert_int_equal(n, hdr_len + tag);
    assert_int_equal(out[0], 0x82); /* FIN, binary */
    uint64_t len = out[1] & 0x7f;
    if (hdr_len == 4)
        len = (uint64_t)out[2] << 8 | out[3];
    else if (hdr_len == 10)
        len = (uint64_t)out[6] << 24 | (uint64_t)out[7] << 16 | (uint64_t)out[8] << 8 | out[9];
    assert_int_equal(len, tag);
    /* The frame's body is the FLV encoding, byte for byte. */
    static uint8_t flv[70100];
    assert_int_equal(gather(m, MSG_ENC_FLV, 0, flv), tag);
    assert_memory_equal(out + hdr_len, flv, tag);
    /* The payload is sent by reference, not copied (an empty one is left out). */
    struct iovec iov[4];
    assert_int_equal(msg_iov(m, MSG_ENC_WS_FLV, 0, iov), plen ? 4 : 3);
    if (plen)
        assert_ptr_equal(iov[2].iov_base, m->payload);
    /* After a partial write, the rest. */
    uint8_t *rest = malloc(hdr_len + tag);
    assert_non_null(rest);
    for (uint32_t skip = 1; skip < hdr_len + tag; skip += 1 + skip / 3) {
        size_t k = gather(m, MSG_ENC_WS_FLV, skip, rest);
        assert_int_equal(k, hdr_len + tag - skip);
        assert_memory_equal(rest, out + skip, k);
    }
    free(rest);
    msg_unref(m);
}

static void test_ws_flv_encoding(void **state)
{
    (void)state;
    check_ws(0, 2);
    check_ws(110, 2);     /* 125 bytes: the last 2-byte header */
    check_ws(111, 4);     /* 126 */
    check_ws(65520, 4);   /* 65535 */
    check_ws(65521, 10);  /* 65536 */
    check_ws(69000, 10);
}

static void test_events_have_no_bytes(void **state)
{
    (void)state;
    msg_t *m = msg_new_event(3);
    assert_non_null(m);
    assert_int_equal(msg_wire_len(m, MSG_ENC_WS_FLV, 4096), 0);
    struct iovec iov[4];
    assert_int_equal(msg_iov(m, MSG_ENC_WS_FLV, 0, iov), 0);
    msg_unref(m);
}

static uint8_t *ts_bytes(uint8_t fill, uint32_t len)
{
    uint8_t *b = malloc(len);
    assert_non_null(b);
    memset(b, fill, len);
    return b;
}

/* Earlier packets are freed at once with only the ring's reference, and
 * kept (readable, still counted) while another reference may be sending
 * them, until the message goes (ASan checks both the read and the free). */
static void test_mpegts_set_anew(void **state)
{
    (void)state;
    uint64_t base = msg_mem_bytes();
    msg_t *m = msg_new_copy(FLV_TAG_VIDEO, 40, (const uint8_t *)"\x17\x01", 2);
    assert_non_null(m);
    uint64_t with_msg = msg_mem_bytes();
    msg_set_mpegts(m, ts_bytes(1, 188), 188, 1);
    msg_set_mpegts(m, ts_bytes(2, 376), 376, 0); /* the ring's reference only */
    assert_int_equal(msg_mem_bytes(), with_msg + 376);
    const uint8_t *in_flight = m->mpegts;
    msg_ref(m); /* an answer queued with these bytes */
    msg_set_mpegts(m, ts_bytes(3, 188), 188, 1);
    assert_int_equal(in_flight[0], 2);
    assert_int_equal(in_flight[375], 2);
    assert_int_equal(m->mpegts[0], 3);
    assert_int_equal(m->mpegts_len, 188);
    assert_true(m->mpegts_rap);
    assert_int_equal(msg_mem_bytes(), with_msg + 376 + 188);
    msg_unref(m); /* the answer was sent */
    msg_unref(m);
    assert_int_equal(msg_mem_bytes(), base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws_flv_encoding),
        cmocka_unit_test(test_events_have_no_bytes),
        cmocka_unit_test(test_mpegts_set_anew),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
