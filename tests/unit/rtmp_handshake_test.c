#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "rtmp_handshake.h"

/* The well-known keys, written out again here so that the tests do not
 * share the module's constants. */
static const uint8_t KEY_TAIL[32] = {
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE};
static uint8_t fp_key[62];  /* "Genuine Adobe Flash Player 001" + tail */
static uint8_t fms_key[68]; /* "Genuine Adobe Flash Media Server 001" + tail */

/* Expected values below were computed once with Python 3's hmac/hashlib:
 *   tail = bytes([0xF0, 0xEE, ..., 0xAE])
 *   fp = b"Genuine Adobe Flash Player 001" + tail
 *   fms = b"Genuine Adobe Flash Media Server 001" + tail
 *   pattern = bytearray((i * 7 + 3) & 0xff for i in range(1536))
 *   off = sum(pattern[base:base + 4]) % 728 + base + 4   # base 8 or 772
 *   hmac.new(fp[:30], pattern[:off] + pattern[off + 32:], sha256).hexdigest()
 *   hmac.new(fp, b"", sha256), hmac.new(fms, b"", sha256)
 *   k = hmac.new(fms, bytes(range(32)), sha256).digest()
 *   hmac.new(k, pattern[:1504], sha256).hexdigest()                       */
#define PATTERN_SCHEMA0_OFF 290
#define PATTERN_SCHEMA0_DIGEST "36d27b365b84e5e55f376e2f24f3a7dd6b8b5e9b002f035f99366c07e43b8d41"
#define PATTERN_SCHEMA1_OFF 942
#define PATTERN_SCHEMA1_DIGEST "492c04ebd265e6343c4c12f5580a46399bec2724821f27f321b95ca75b63b318"
#define FP_KEY_EMPTY_HMAC "2cbfd6fec3ed0201bad586a1525573c4338ac5d09db09f94da41c39bef8befdc"
#define FMS_KEY_EMPTY_HMAC "6e3d1d1ca0dd1356c179858ff44996dec30f40afd8c00acff24caf01cad5d293"
#define PATTERN_S2_SIGNATURE "7fce027fd61c568e1d886d89070214fd2a2391e2c75bf93581cd361dab63b9fa"

#define SIG_DATA_LEN (RTMP_HS_SIZE - 32)
#define PAIR_LEN (1 + 2 * RTMP_HS_SIZE) /* S0+S1+S2, or C0+C1+C2 */

static int setup_keys(void **state)
{
    (void)state;
    memcpy(fp_key, "Genuine Adobe Flash Player 001", 30);
    memcpy(fp_key + 30, KEY_TAIL, 32);
    memcpy(fms_key, "Genuine Adobe Flash Media Server 001", 36);
    memcpy(fms_key + 36, KEY_TAIL, 32);
    return 0;
}

static void hmac256(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len,
                    uint8_t md[32])
{
    unsigned int mdlen = 0;
    assert_non_null(HMAC(EVP_sha256(), key, (int)keylen, data, len, md, &mdlen));
    assert_int_equal(mdlen, 32);
}

static void unhex(const char *hex, uint8_t *out, size_t n)
{
    assert_int_equal(strlen(hex), 2 * n);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static void fill_pattern(uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)((i * 7 + 3) & 0xff);
}

/* The pattern with its known digest placed for the schema. */
static void pattern_c1(uint8_t c1[RTMP_HS_SIZE], int schema)
{
    fill_pattern(c1, RTMP_HS_SIZE);
    if (schema)
        unhex(PATTERN_SCHEMA1_DIGEST, c1 + PATTERN_SCHEMA1_OFF, 32);
    else
        unhex(PATTERN_SCHEMA0_DIGEST, c1 + PATTERN_SCHEMA0_OFF, 32);
}

/* The signature of a complex S2 / C2 as the formula defines it. */
static void signature(const uint8_t *full_key, size_t keylen, const uint8_t peer_digest[32],
                      const uint8_t *pkt, uint8_t sig[32])
{
    uint8_t k[32];
    hmac256(full_key, keylen, peer_digest, 32, k);
    hmac256(k, sizeof k, pkt, SIG_DATA_LEN, sig);
}

/* Small deterministic generator for split sizes. */
static uint32_t rng_next(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

enum { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_RANDOM };

/* Feeds src in pieces until the handshake stops asking for more; returns
 * the result and the bytes consumed in *used. */
static parse_rc_t feed_split(rtmp_hs_t *hs, const uint8_t *src, size_t len, int mode, uint32_t *rng,
                             size_t *used, const char **err)
{
    size_t pos = 0;
    parse_rc_t rc = PARSE_NEED_MORE;
    while (pos < len) {
        size_t piece = len - pos;
        if (mode == SPLIT_BYTES)
            piece = 1;
        else if (mode == SPLIT_RANDOM && piece > 1)
            piece = 1 + rng_next(rng) % (piece < 700 ? piece : 700);
        size_t u = 99999;
        rc = rtmp_hs_feed(hs, src + pos, piece, &u, err);
        assert_true(u <= piece);
        pos += u;
        if (rc != PARSE_NEED_MORE)
            break;
        assert_int_equal(u, piece);
    }
    *used = pos;
    return rc;
}

static void test_key_constants(void **state)
{
    (void)state;
    uint8_t md[32], want[32];
    hmac256(fp_key, sizeof fp_key, (const uint8_t *)"", 0, md);
    unhex(FP_KEY_EMPTY_HMAC, want, 32);
    assert_memory_equal(md, want, 32);
    hmac256(fms_key, sizeof fms_key, (const uint8_t *)"", 0, md);
    unhex(FMS_KEY_EMPTY_HMAC, want, 32);
    assert_memory_equal(md, want, 32);

    uint8_t pkt[RTMP_HS_SIZE], peer[32], sig[32];
    fill_pattern(pkt, sizeof pkt);
    for (int i = 0; i < 32; i++)
        peer[i] = (uint8_t)i;
    signature(fms_key, sizeof fms_key, peer, pkt, sig);
    unhex(PATTERN_S2_SIGNATURE, want, 32);
    assert_memory_equal(sig, want, 32);
}

static void check_find_digest(int schema, int off)
{
    uint8_t c1[RTMP_HS_SIZE];
    pattern_c1(c1, schema);
    assert_int_equal(rtmp_hs_find_digest(c1, fp_key, 30), off);
    /* The wrong key, or the right one at full length, does not validate. */
    assert_int_equal(rtmp_hs_find_digest(c1, fms_key, 36), -1);
    assert_int_equal(rtmp_hs_find_digest(c1, fp_key, sizeof fp_key), -1);

    /* Corrupt a byte outside the digest, inside it, and in the bytes that
     * give its offset. */
    size_t spots[] = {0,
                      1535,
                      (size_t)off - 1,
                      (size_t)off,
                      (size_t)off + 31,
                      (size_t)off + 32,
                      schema ? 773u : 9u};
    for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
        pattern_c1(c1, schema);
        c1[spots[i]] ^= 0x01;
        assert_int_equal(rtmp_hs_find_digest(c1, fp_key, 30), -1);
    }
}

static void test_find_digest_schema0(void **state)
{
    (void)state;
    check_find_digest(0, PATTERN_SCHEMA0_OFF);
}

static void test_find_digest_schema1(void **state)
{
    (void)state;
    check_find_digest(1, PATTERN_SCHEMA1_OFF);
}

static void test_find_digest_none(void **state)
{
    (void)state;
    uint8_t pkt[RTMP_HS_SIZE];
    fill_pattern(pkt, sizeof pkt);
    assert_int_equal(rtmp_hs_find_digest(pkt, fp_key, 30), -1);
    memset(pkt, 0, sizeof pkt);
    assert_int_equal(rtmp_hs_find_digest(pkt, fp_key, 30), -1);
}

/* Feeds C0+C1 to a new server and returns it with its answer in s. */
static rtmp_hs_t *server_answer(const uint8_t c1[RTMP_HS_SIZE], uint8_t s[PAIR_LEN])
{
    rtmp_hs_t *hs = rtmp_hs_new(RTMP_HS_SERVER, 0);
    assert_non_null(hs);
    const uint8_t *out;
    size_t outlen, used;
    const char *err = NULL;
    rtmp_hs_output(hs, &out, &outlen);
    assert_int_equal(outlen, 0);

    uint8_t c0 = 3;
    assert_int_equal(rtmp_hs_feed(hs, &c0, 1, &used, &err), PARSE_NEED_MORE);
    assert_int_equal(used, 1);
    assert_int_equal(rtmp_hs_feed(hs, c1, RTMP_HS_SIZE - 1, &used, &err), PARSE_NEED_MORE);
    assert_int_equal(used, RTMP_HS_SIZE - 1);
    rtmp_hs_output(hs, &out, &outlen);
    assert_int_equal(outlen, 0);
    assert_int_equal(rtmp_hs_feed(hs, c1 + RTMP_HS_SIZE - 1, 1, &used, &err), PARSE_NEED_MORE);
    assert_int_equal(used, 1);
    rtmp_hs_output(hs, &out, &outlen);
    assert_int_equal(outlen, PAIR_LEN);
    memcpy(s, out, PAIR_LEN);
    rtmp_hs_output_done(hs);
    rtmp_hs_output(hs, &out, &outlen);
    assert_int_equal(outlen, 0);
    return hs;
}

/* C2 (any content) followed by the first bytes of an RTMP chunk: only C2
 * is consumed. */
static void finish_server(rtmp_hs_t *hs)
{
    uint8_t c2[RTMP_HS_SIZE + 12];
    memset(c2, 0xA5, sizeof c2);
    const char *err = NULL;
    size_t used;
    assert_int_equal(rtmp_hs_feed(hs, c2, sizeof c2, &used, &err), PARSE_OK);
    assert_int_equal(used, RTMP_HS_SIZE);
    assert_int_equal(rtmp_hs_feed(hs, c2, sizeof c2, &used, &err), PARSE_OK);
    assert_int_equal(used, 0);
    const uint8_t *out;
    size_t outlen;
    rtmp_hs_output(hs, &out, &outlen);
    assert_int_equal(outlen, 0);
}

static void check_server_complex(int schema)
{
    uint8_t c1[RTMP_HS_SIZE], s[PAIR_LEN], c1_digest[32];
    pattern_c1(c1, schema);
    memcpy(c1_digest, c1 + (schema ? PATTERN_SCHEMA1_OFF : PATTERN_SCHEMA0_OFF), 32);
    rtmp_hs_t *hs = server_answer(c1, s);
    assert_int_equal(rtmp_hs_peer_complex(hs), 1);

    const uint8_t *s1 = s + 1, *s2 = s1 + RTMP_HS_SIZE;
    assert_int_equal(s[0], 3);
    assert_int_not_equal(s1[4], 0);
    int off = rtmp_hs_find_digest(s1, fms_key, 36);
    if (schema)
        assert_in_range(off, 776, 776 + 727);
    else
        assert_in_range(off, 12, 12 + 727);
    /* Recompute S1's digest independently at the place the schema gives. */
    size_t base = schema ? 772 : 8;
    size_t want_off =
        (size_t)(s1[base] + s1[base + 1] + s1[base + 2] + s1[base + 3]) % 728 + base + 4;
    assert_int_equal(off, (int)want_off);
    uint8_t rest[SIG_DATA_LEN], md[32];
    memcpy(rest, s1, want_off);
    memcpy(rest + want_off, s1 + want_off + 32, RTMP_HS_SIZE - want_off - 32);
    hmac256(fms_key, 36, rest, sizeof rest, md);
    assert_memory_equal(md, s1 + want_off, 32);

    uint8_t sig[32];
    signature(fms_key, sizeof fms_key, c1_digest, s2, sig);
    assert_memory_equal(sig, s2 + SIG_DATA_LEN, 32);
    assert_memory_not_equal(s2, c1, RTMP_HS_SIZE);

    finish_server(hs);
    rtmp_hs_free(hs);
}

static void test_server_complex_schema0(void **state)
{
    (void)state;
    check_server_complex(0);
}

static void test_server_complex_schema1(void **state)
{
    (void)state;
    check_server_complex(1);
}

static void test_server_simple(void **state)
{
    (void)state;
    uint8_t c1[RTMP_HS_SIZE], s[PAIR_LEN];
    fill_pattern(c1, sizeof c1);
    memset(c1 + 4, 0, 4);
    rtmp_hs_t *hs = server_answer(c1, s);
    assert_int_equal(rtmp_hs_peer_complex(hs), 0);
    assert_int_equal(s[0], 3);
    const uint8_t *s1 = s + 1, *s2 = s1 + RTMP_HS_SIZE;
    uint8_t zero[4] = {0};
    assert_memory_equal(s1 + 4, zero, 4);
    assert_memory_equal(s2, c1, RTMP_HS_SIZE);
    finish_server(hs);
    rtmp_hs_free(hs);
}

/* One direction of the wire: what `from` has to send is appended to the
 * pipe (followed, once the whole 3073-byte packet is in, by `tail`), then
 * fed to `to` in the given way. Returns `to`'s parse result. */
typedef struct {
    uint8_t buf[PAIR_LEN + 16];
    size_t len, pos;
} pipe_t;

static parse_rc_t pump(rtmp_hs_t *from, rtmp_hs_t *to, pipe_t *pipe, const uint8_t tail[16],
                       int mode, uint32_t *rng)
{
    const uint8_t *out;
    size_t outlen, used;
    const char *err = NULL;
    rtmp_hs_output(from, &out, &outlen);
    assert_true(outlen == 0 || pipe->len + outlen <= PAIR_LEN);
    memcpy(pipe->buf + pipe->len, out, outlen);
    pipe->len += outlen;
    rtmp_hs_output_done(from);
    if (outlen && pipe->len == PAIR_LEN) {
        memcpy(pipe->buf + pipe->len, tail, 16);
        pipe->len += 16;
    }
    parse_rc_t rc =
        feed_split(to, pipe->buf + pipe->pos, pipe->len - pipe->pos, mode, rng, &used, &err);
    assert_true(rc == PARSE_OK || rc == PARSE_NEED_MORE);
    pipe->pos += used;
    return rc;
}

/* A whole exchange, each side fed in the given way; 16 bytes of "chunk
 * stream" follow C2 and S2 on the wire and must be left unconsumed. */
static void run_loop(int complex, int mode, uint32_t seed)
{
    static const uint8_t tail[16] = "chunk-stream-01";
    static pipe_t c2s_pipe, s2c_pipe;
    memset(&c2s_pipe, 0, sizeof c2s_pipe);
    memset(&s2c_pipe, 0, sizeof s2c_pipe);
    uint32_t rng = seed;
    rtmp_hs_t *cli = rtmp_hs_new(RTMP_HS_CLIENT, complex);
    rtmp_hs_t *srv = rtmp_hs_new(RTMP_HS_SERVER, 0);
    assert_non_null(cli);
    assert_non_null(srv);
    parse_rc_t crc = PARSE_NEED_MORE, src = PARSE_NEED_MORE;

    for (int round = 0; round < 8 && (crc != PARSE_OK || src != PARSE_OK); round++) {
        src = pump(cli, srv, &c2s_pipe, tail, mode, &rng);
        crc = pump(srv, cli, &s2c_pipe, tail, mode, &rng);
    }
    assert_int_equal(crc, PARSE_OK);
    assert_int_equal(src, PARSE_OK);
    /* The server finished, so the client's C2 was moved: nothing pends. */
    const uint8_t *out;
    size_t outlen;
    rtmp_hs_output(cli, &out, &outlen);
    assert_int_equal(outlen, 0);
    assert_int_equal(c2s_pipe.len, PAIR_LEN + 16);
    assert_int_equal(s2c_pipe.len, PAIR_LEN + 16);
    assert_int_equal(c2s_pipe.pos, PAIR_LEN);
    assert_int_equal(s2c_pipe.pos, PAIR_LEN);
    assert_int_equal(rtmp_hs_peer_complex(srv), complex);
    assert_int_equal(rtmp_hs_peer_complex(cli), complex);

    const uint8_t *c1 = c2s_pipe.buf + 1, *c2 = c1 + RTMP_HS_SIZE;
    const uint8_t *s1 = s2c_pipe.buf + 1, *s2 = s1 + RTMP_HS_SIZE;
    if (complex) {
        int c1_off = rtmp_hs_find_digest(c1, fp_key, 30);
        assert_in_range(c1_off, 776, 776 + 727); /* schema 1 */
        uint8_t version[4] = {0x80, 0x00, 0x07, 0x02};
        assert_memory_equal(c1 + 4, version, 4);
        int s1_off = rtmp_hs_find_digest(s1, fms_key, 36);
        assert_in_range(s1_off, 776, 776 + 727);
        uint8_t sig[32];
        signature(fp_key, sizeof fp_key, s1 + s1_off, c2, sig);
        assert_memory_equal(sig, c2 + SIG_DATA_LEN, 32);
        signature(fms_key, sizeof fms_key, c1 + c1_off, s2, sig);
        assert_memory_equal(sig, s2 + SIG_DATA_LEN, 32);
    } else {
        uint8_t zero[4] = {0};
        assert_memory_equal(c1 + 4, zero, 4);
        assert_int_equal(rtmp_hs_find_digest(c1, fp_key, 30), -1);
        assert_memory_equal(c2, s1, RTMP_HS_SIZE);
        assert_memory_equal(s2, c1, RTMP_HS_SIZE);
    }
    rtmp_hs_free(cli);
    rtmp_hs_free(srv);
}

static void test_loop_simple(void **state)
{
    (void)state;
    run_loop(0, SPLIT_WHOLE, 0);
    run_loop(0, SPLIT_BYTES, 0);
    for (uint32_t seed = 1; seed <= 20; seed++)
        run_loop(0, SPLIT_RANDOM, seed);
}

static void test_loop_complex(void **state)
{
    (void)state;
    run_loop(1, SPLIT_WHOLE, 0);
    run_loop(1, SPLIT_BYTES, 0);
    for (uint32_t seed = 1; seed <= 20; seed++)
        run_loop(1, SPLIT_RANDOM, seed);
}

/* Everything the client sends and the server answers, in one buffer each,
 * without output_done() in between: output accumulates. */
static void test_output_accumulates(void **state)
{
    (void)state;
    rtmp_hs_t *cli = rtmp_hs_new(RTMP_HS_CLIENT, 1);
    rtmp_hs_t *srv = rtmp_hs_new(RTMP_HS_SERVER, 0);
    const uint8_t *out;
    size_t outlen, used;
    const char *err = NULL;
    uint8_t c0c1[1 + RTMP_HS_SIZE], s[PAIR_LEN];
    rtmp_hs_output(cli, &out, &outlen);
    assert_int_equal(outlen, 1 + RTMP_HS_SIZE);
    memcpy(c0c1, out, outlen);
    assert_int_equal(rtmp_hs_feed(srv, c0c1, sizeof c0c1, &used, &err), PARSE_NEED_MORE);
    rtmp_hs_output(srv, &out, &outlen);
    assert_int_equal(outlen, PAIR_LEN);
    memcpy(s, out, outlen);
    assert_int_equal(rtmp_hs_feed(cli, s, sizeof s, &used, &err), PARSE_OK);
    assert_int_equal(used, PAIR_LEN);
    rtmp_hs_output(cli, &out, &outlen);
    assert_int_equal(outlen, PAIR_LEN);
    assert_memory_equal(out, c0c1, sizeof c0c1);
    assert_int_equal(rtmp_hs_feed(srv, out + sizeof c0c1, RTMP_HS_SIZE, &used, &err), PARSE_OK);
    rtmp_hs_output(srv, &out, &outlen);
    assert_int_equal(outlen, PAIR_LEN); /* still pending: never marked done */
    rtmp_hs_output_done(srv);
    rtmp_hs_output(srv, &out, &outlen);
    assert_int_equal(outlen, 0);
    rtmp_hs_free(cli);
    rtmp_hs_free(srv);
}

static void check_bad_version(rtmp_hs_role_t role, uint8_t v, const char *want)
{
    rtmp_hs_t *hs = rtmp_hs_new(role, 1);
    uint8_t buf[PAIR_LEN];
    memset(buf, 0, sizeof buf);
    buf[0] = v;
    size_t used = 99999;
    const char *err = NULL;
    /* Rejected on the version byte alone. */
    assert_int_equal(rtmp_hs_feed(hs, buf, 1, &used, &err), PARSE_ERR_PROTO);
    assert_true(used <= 1);
    assert_non_null(err);
    assert_string_equal(err, want);
    err = NULL;
    assert_int_equal(rtmp_hs_feed(hs, buf, sizeof buf, &used, &err), PARSE_ERR_PROTO);
    assert_string_equal(err, want);
    const uint8_t *out;
    size_t outlen;
    rtmp_hs_output(hs, &out, &outlen);
    assert_int_equal(outlen, 0);
    rtmp_hs_free(hs);
}

static void test_bad_version(void **state)
{
    (void)state;
    check_bad_version(RTMP_HS_SERVER, 6, "handshake: unsupported version 6");
    check_bad_version(RTMP_HS_SERVER, 0, "handshake: unsupported version 0");
    check_bad_version(RTMP_HS_SERVER, 'G', "handshake: unsupported version 71");
    check_bad_version(RTMP_HS_SERVER, 199, "handshake: unsupported version 199");
    check_bad_version(RTMP_HS_SERVER, 255, "handshake: unsupported version 255");
    check_bad_version(RTMP_HS_CLIENT, 6, "handshake: unsupported version 6");
    check_bad_version(RTMP_HS_CLIENT, 30, "handshake: unsupported version 30");
    check_bad_version(RTMP_HS_CLIENT, 250, "handshake: unsupported version 250");
    /* 0x16: a TLS ClientHello (server) or ServerHello (client) */
    check_bad_version(RTMP_HS_SERVER, 0x16,
                      "handshake: a TLS handshake on a plaintext RTMP connection "
                      "(rtmps:// at an rtmp:// port; see rtmps.listen)");
    check_bad_version(RTMP_HS_CLIENT, 0x16,
                      "handshake: a TLS handshake on a plaintext RTMP connection "
                      "(rtmps:// at an rtmp:// port; see rtmps.listen)");
}

/* A complex client talking to a server that answered complex but signed S2
 * wrongly fails; one whose S1 has no digest is accepted as simple. */
static void test_client_s2_mismatch(void **state)
{
    (void)state;
    rtmp_hs_t *cli = rtmp_hs_new(RTMP_HS_CLIENT, 1);
    rtmp_hs_t *srv = rtmp_hs_new(RTMP_HS_SERVER, 0);
    const uint8_t *out;
    size_t outlen, used;
    const char *err = NULL;
    rtmp_hs_output(cli, &out, &outlen);
    assert_int_equal(rtmp_hs_feed(srv, out, outlen, &used, &err), PARSE_NEED_MORE);
    rtmp_hs_output_done(cli);
    uint8_t s[PAIR_LEN];
    rtmp_hs_output(srv, &out, &outlen);
    memcpy(s, out, sizeof s);
    s[PAIR_LEN - 1] ^= 0x80;
    assert_int_equal(rtmp_hs_feed(cli, s, sizeof s, &used, &err), PARSE_ERR_PROTO);
    assert_string_equal(err, "handshake: S2 digest mismatch");
    assert_int_equal(rtmp_hs_peer_complex(cli), 1);
    rtmp_hs_free(cli);
    rtmp_hs_free(srv);
}

static void test_client_complex_simple_server(void **state)
{
    (void)state;
    rtmp_hs_t *cli = rtmp_hs_new(RTMP_HS_CLIENT, 1);
    uint8_t s[PAIR_LEN + 5];
    s[0] = 3;
    fill_pattern(s + 1, RTMP_HS_SIZE);
    memset(s + 1 + 4, 0, 4);
    memset(s + 1 + RTMP_HS_SIZE, 0x5A, RTMP_HS_SIZE); /* S2 not an echo */
    memset(s + PAIR_LEN, 0x02, 5);
    size_t used;
    const char *err = NULL;
    uint32_t rng = 7;
    assert_int_equal(feed_split(cli, s, sizeof s, SPLIT_RANDOM, &rng, &used, &err), PARSE_OK);
    assert_int_equal(used, PAIR_LEN);
    assert_int_equal(rtmp_hs_peer_complex(cli), 0);
    const uint8_t *out;
    size_t outlen;
    rtmp_hs_output(cli, &out, &outlen);
    assert_int_equal(outlen, PAIR_LEN);
    assert_memory_equal(out + 1 + RTMP_HS_SIZE, s + 1, RTMP_HS_SIZE);
    rtmp_hs_free(cli);
}

/* The client answers C2 as soon as S1 is in, before S2. */
static void test_client_c2_after_s1(void **state)
{
    (void)state;
    rtmp_hs_t *cli = rtmp_hs_new(RTMP_HS_CLIENT, 0);
    const uint8_t *out;
    size_t outlen, used;
    const char *err = NULL;
    rtmp_hs_output(cli, &out, &outlen);
    assert_int_equal(outlen, 1 + RTMP_HS_SIZE);
    rtmp_hs_output_done(cli);
    uint8_t s[PAIR_LEN];
    s[0] = 3;
    fill_pattern(s + 1, 2 * RTMP_HS_SIZE);
    assert_int_equal(rtmp_hs_feed(cli, s, RTMP_HS_SIZE, &used, &err), PARSE_NEED_MORE);
    rtmp_hs_output(cli, &out, &outlen);
    assert_int_equal(outlen, 0);
    assert_int_equal(rtmp_hs_feed(cli, s + RTMP_HS_SIZE, 1, &used, &err), PARSE_NEED_MORE);
    rtmp_hs_output(cli, &out, &outlen);
    assert_int_equal(outlen, RTMP_HS_SIZE);
    assert_memory_equal(out, s + 1, RTMP_HS_SIZE);
    rtmp_hs_output_done(cli);
    assert_int_equal(rtmp_hs_feed(cli, s + RTMP_HS_SIZE + 1, RTMP_HS_SIZE, &used, &err), PARSE_OK);
    assert_int_equal(used, RTMP_HS_SIZE);
    rtmp_hs_output(cli, &out, &outlen);
    assert_int_equal(outlen, 0);
    rtmp_hs_free(cli);
}

static void test_empty_feed(void **state)
{
    (void)state;
    rtmp_hs_t *hs = rtmp_hs_new(RTMP_HS_SERVER, 0);
    size_t used = 99;
    const char *err = NULL;
    assert_int_equal(rtmp_hs_feed(hs, NULL, 0, &used, &err), PARSE_NEED_MORE);
    assert_int_equal(used, 0);
    assert_int_equal(rtmp_hs_peer_complex(hs), 0);
    rtmp_hs_free(hs);
    rtmp_hs_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_constants),
        cmocka_unit_test(test_find_digest_schema0),
        cmocka_unit_test(test_find_digest_schema1),
        cmocka_unit_test(test_find_digest_none),
        cmocka_unit_test(test_server_complex_schema0),
        cmocka_unit_test(test_server_complex_schema1),
        cmocka_unit_test(test_server_simple),
        cmocka_unit_test(test_loop_simple),
        cmocka_unit_test(test_loop_complex),
        cmocka_unit_test(test_output_accumulates),
        cmocka_unit_test(test_bad_version),
        cmocka_unit_test(test_client_s2_mismatch),
        cmocka_unit_test(test_client_complex_simple_server),
        cmocka_unit_test(test_client_c2_after_s1),
        cmocka_unit_test(test_empty_feed),
    };
    return cmocka_run_group_tests(tests, setup_keys, NULL);
}
