/* libFuzzer target for node/codec/amf0.c. Decodes the input; then every decoded
 * value must re-encode (amf0_put_value) to bytes that decode again to
 * exactly one value, and re-encoding that value must give the same bytes.
 * Any violation aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amf0.h"

#define FUZZ_MAX_VALS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reencode(const amf0_value_t *v)
{
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_value(&b, v);
    if (b.oom)
        abort();

    amf0_value_t again[2];
    size_t n;
    const char *err;
    if (amf0_decode_all(b.data, b.len, again, 2, &n, &err) != 0 || n != 1)
        abort();

    amf0_buf_t b2;
    amf0_buf_init(&b2);
    amf0_put_value(&b2, &again[0]);
    if (b2.oom || b2.len != b.len || memcmp(b2.data, b.data, b.len) != 0)
        abort();

    amf0_buf_free(&b2);
    amf0_values_free(again, n);
    amf0_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    amf0_value_t vals[FUZZ_MAX_VALS];
    size_t n;
    const char *err = NULL;
    if (amf0_decode_all(data, size, vals, FUZZ_MAX_VALS, &n, &err) != 0) {
        if (!err || n != 0)
            abort();
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        check_reencode(&vals[i]);
    amf0_values_free(vals, n);
    return 0;
}
