#include "rtmp_handshake.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define HS_VERSION 3
#define HS_DIGEST_LEN 32
/* The digest block of either schema: 764 bytes, of which the first 4 give
 * the digest offset (mod 728 = 764 - 32 - 4) in the remaining 760. */
#define HS_OFFSET_MOD 728
#define HS_SCHEMA0_BASE 8
#define HS_SCHEMA1_BASE (8 + 764)
/* Complex S2 / C2: random bytes, then an HMAC over them. */
#define HS_SIG_DATA_LEN (RTMP_HS_SIZE - HS_DIGEST_LEN)

/* Flash Player and Flash Media Server keys: a text part, which alone keys
 * the C1 / S1 digest, followed by 32 fixed bytes; the full key derives the
 * key of the S2 / C2 signature. The literals carry a trailing NUL that is
 * not part of the key. */
#define HS_KEY_TAIL                                                                                \
    "\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57"                             \
    "\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE"
static const uint8_t hs_fp_key[] = "Genuine Adobe Flash Player 001" HS_KEY_TAIL;
static const uint8_t hs_fms_key[] = "Genuine Adobe Flash Media Server 001" HS_KEY_TAIL;
#define HS_FP_TEXT_LEN 30
#define HS_FP_KEY_LEN 62
#define HS_FMS_TEXT_LEN 36
#define HS_FMS_KEY_LEN 68
_Static_assert(sizeof hs_fp_key - 1 == HS_FP_KEY_LEN, "FP key length");
_Static_assert(sizeof hs_fms_key - 1 == HS_FMS_KEY_LEN, "FMS key length");

/* Version field of S1 (server) and of a complex C1 (client, as Flash does). */
static const uint8_t hs_server_version[4] = {0x04, 0x05, 0x00, 0x01};
static const uint8_t hs_client_version[4] = {0x80, 0x00, 0x07, 0x02};
static const uint8_t hs_zero_version[4] = {0, 0, 0, 0};

static const char hs_err_crypto[] = "handshake: crypto failure";
static const char hs_err_s2[] = "handshake: S2 digest mismatch";
static const char hs_err_tls[] = "handshake: a TLS handshake on a plaintext RTMP connection "
                                 "(rtmps:// at an rtmp:// port; see rtmps.listen)";
#define HS_TLS_RECORD 0x16 /* TLS record type "handshake" */

/* "handshake: unsupported version N" for every byte value, so that *err
 * stays a static string. */
#define HS_V(n) "handshake: unsupported version " n
#define HS_V10(p)                                                                                  \
    HS_V(p "0"), HS_V(p "1"), HS_V(p "2"), HS_V(p "3"), HS_V(p "4"), HS_V(p "5"), HS_V(p "6"),     \
        HS_V(p "7"), HS_V(p "8"), HS_V(p "9")
static const char *const hs_err_version[] = {
    HS_V10(""),   HS_V10("1"),  HS_V10("2"),  HS_V10("3"),  HS_V10("4"),  HS_V10("5"),
    HS_V10("6"),  HS_V10("7"),  HS_V10("8"),  HS_V10("9"),  HS_V10("10"), HS_V10("11"),
    HS_V10("12"), HS_V10("13"), HS_V10("14"), HS_V10("15"), HS_V10("16"), HS_V10("17"),
    HS_V10("18"), HS_V10("19"), HS_V10("20"), HS_V10("21"), HS_V10("22"), HS_V10("23"),
    HS_V10("24"), HS_V("250"),  HS_V("251"),  HS_V("252"),  HS_V("253"),  HS_V("254"),
    HS_V("255")};
_Static_assert(sizeof hs_err_version / sizeof hs_err_version[0] == 256, "one per byte");

typedef enum {
    HS_SERVER_RECV_C0C1, /* server: waiting for C0 + C1 */
    HS_SERVER_RECV_C2,   /* server: S0 + S1 + S2 produced, waiting for C2 */
    HS_CLIENT_RECV_S0S1, /* client: C0 + C1 produced, waiting for S0 + S1 */
    HS_CLIENT_RECV_S2,   /* client: C2 produced, waiting for S2 */
    HS_DONE,
    HS_FAILED
} hs_state_t;

struct rtmp_hs {
    int complex;      /* client: send a digest C1 and check the answer */
    int peer_complex; /* the peer's C1 / S1 carried a valid digest */
    hs_state_t state;
    const char *err; /* static, set in HS_FAILED */
    size_t need;     /* bytes the current stage reads into in[] */
    size_t have;
    uint8_t in[1 + RTMP_HS_SIZE];
    /* The C1 digest: the client's own (to check S2) or the server's peer's. */
    uint8_t c1_digest[HS_DIGEST_LEN];
    /* Output accumulates until rtmp_hs_output_done(); at most C0+C1+C2 or
     * S0+S1+S2. */
    uint8_t out[1 + 2 * RTMP_HS_SIZE];
    size_t out_len;
};

static int hs_hmac(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len,
                   uint8_t md[HS_DIGEST_LEN])
{
    unsigned int mdlen = 0;
    if (!HMAC(EVP_sha256(), key, (int)keylen, data, len, md, &mdlen) || mdlen != HS_DIGEST_LEN)
        return NODE_EIO;
    return NODE_OK;
}

static int hs_random(uint8_t *p, size_t len)
{
    return RAND_bytes(p, (int)len) == 1 ? NODE_OK : NODE_EIO;
}

static size_t hs_digest_offset(const uint8_t pkt[RTMP_HS_SIZE], int schema)
{
    size_t base = schema ? HS_SCHEMA1_BASE : HS_SCHEMA0_BASE;
    unsigned sum = (unsigned)pkt[base] + pkt[base + 1] + pkt[base + 2] + pkt[base + 3];
    return sum % HS_OFFSET_MOD + base + 4;
}

/* HMAC-SHA256 of the packet without the 32 bytes at off. */
static int hs_packet_digest(const uint8_t pkt[RTMP_HS_SIZE], size_t off, const uint8_t *key,
                            size_t keylen, uint8_t md[HS_DIGEST_LEN])
{
    uint8_t rest[RTMP_HS_SIZE - HS_DIGEST_LEN];
    memcpy(rest, pkt, off);
    memcpy(rest + off, pkt + off + HS_DIGEST_LEN, RTMP_HS_SIZE - off - HS_DIGEST_LEN);
    return hs_hmac(key, keylen, rest, sizeof rest, md);
}

int rtmp_hs_find_digest(const uint8_t pkt[RTMP_HS_SIZE], const uint8_t *key, size_t keylen)
{
    for (int schema = 1; schema >= 0; schema--) {
        size_t off = hs_digest_offset(pkt, schema);
        uint8_t md[HS_DIGEST_LEN];
        if (hs_packet_digest(pkt, off, key, keylen, md) != NODE_OK)
            return -1;
        if (CRYPTO_memcmp(md, pkt + off, HS_DIGEST_LEN) == 0)
            return (int)off;
    }
    return -1;
}

/* Writes the packet's digest at the place its schema gives; the rest of the
 * packet must be filled already. Returns the offset, or -1. */
static int hs_place_digest(uint8_t pkt[RTMP_HS_SIZE], int schema, const uint8_t *key, size_t keylen)
{
    size_t off = hs_digest_offset(pkt, schema);
    uint8_t md[HS_DIGEST_LEN];
    if (hs_packet_digest(pkt, off, key, keylen, md) != NODE_OK)
        return -1;
    memcpy(pkt + off, md, HS_DIGEST_LEN);
    return (int)off;
}

/* The trailing signature of a complex S2 or C2: HMAC keyed with
 * HMAC(full_key, peer_digest) over the packet's first 1504 bytes. */
static int hs_signature(const uint8_t pkt[RTMP_HS_SIZE], const uint8_t *full_key,
                        size_t full_keylen, const uint8_t peer_digest[HS_DIGEST_LEN],
                        uint8_t sig[HS_DIGEST_LEN])
{
    uint8_t key[HS_DIGEST_LEN];
    if (hs_hmac(full_key, full_keylen, peer_digest, HS_DIGEST_LEN, key) != NODE_OK)
        return NODE_EIO;
    return hs_hmac(key, sizeof key, pkt, HS_SIG_DATA_LEN, sig);
}

/* Fills a 1536-byte C1 or S1: time, version, random. */
static int hs_fill_challenge(uint8_t pkt[RTMP_HS_SIZE], const uint8_t version[4])
{
    wr_be32(pkt, (uint32_t)time(NULL));
    memcpy(pkt + 4, version, 4);
    return hs_random(pkt + 8, RTMP_HS_SIZE - 8);
}

/* Random bytes signed for the peer whose digest is given. */
static int hs_fill_response(uint8_t pkt[RTMP_HS_SIZE], const uint8_t *full_key, size_t full_keylen,
                            const uint8_t peer_digest[HS_DIGEST_LEN])
{
    if (hs_random(pkt, HS_SIG_DATA_LEN) != NODE_OK)
        return NODE_EIO;
    return hs_signature(pkt, full_key, full_keylen, peer_digest, pkt + HS_SIG_DATA_LEN);
}

/* Reserves n bytes at the end of the pending output. */
static uint8_t *hs_out_reserve(rtmp_hs_t *hs, size_t n)
{
    assert(hs->out_len + n <= sizeof hs->out);
    uint8_t *p = hs->out + hs->out_len;
    hs->out_len += n;
    return p;
}

/* Fails for good; a half-built answer is never sent. */
static void hs_fail(rtmp_hs_t *hs, const char *err)
{
    hs->state = HS_FAILED;
    hs->err = err;
    hs->out_len = 0;
}

static void hs_expect(rtmp_hs_t *hs, hs_state_t state, size_t need)
{
    hs->state = state;
    hs->need = need;
    hs->have = 0;
}

/* Server, C0 + C1 read: answer S0 + S1 + S2. */
static void hs_server_on_c0c1(rtmp_hs_t *hs)
{
    const uint8_t *c1 = hs->in + 1;
    int off = rtmp_hs_find_digest(c1, hs_fp_key, HS_FP_TEXT_LEN);
    uint8_t *s0 = hs_out_reserve(hs, 1 + 2 * RTMP_HS_SIZE);
    uint8_t *s1 = s0 + 1, *s2 = s1 + RTMP_HS_SIZE;
    *s0 = HS_VERSION;
    if (off < 0) {
        hs->peer_complex = 0;
        if (hs_fill_challenge(s1, hs_zero_version) != NODE_OK) {
            hs_fail(hs, hs_err_crypto);
            return;
        }
        memcpy(s2, c1, RTMP_HS_SIZE);
    } else {
        hs->peer_complex = 1;
        memcpy(hs->c1_digest, c1 + off, HS_DIGEST_LEN);
        int schema = off >= HS_SCHEMA1_BASE;
        if (hs_fill_challenge(s1, hs_server_version) != NODE_OK ||
            hs_place_digest(s1, schema, hs_fms_key, HS_FMS_TEXT_LEN) < 0 ||
            hs_fill_response(s2, hs_fms_key, HS_FMS_KEY_LEN, hs->c1_digest) != NODE_OK) {
            hs_fail(hs, hs_err_crypto);
            return;
        }
    }
    hs_expect(hs, HS_SERVER_RECV_C2, RTMP_HS_SIZE);
}

/* Client, S0 + S1 read: answer C2. */
static void hs_client_on_s0s1(rtmp_hs_t *hs)
{
    const uint8_t *s1 = hs->in + 1;
    uint8_t *c2 = hs_out_reserve(hs, RTMP_HS_SIZE);
    int off = hs->complex ? rtmp_hs_find_digest(s1, hs_fms_key, HS_FMS_TEXT_LEN) : -1;
    if (off < 0) {
        hs->peer_complex = 0;
        memcpy(c2, s1, RTMP_HS_SIZE);
    } else {
        hs->peer_complex = 1;
        if (hs_fill_response(c2, hs_fp_key, HS_FP_KEY_LEN, s1 + off) != NODE_OK) {
            hs_fail(hs, hs_err_crypto);
            return;
        }
    }
    hs_expect(hs, HS_CLIENT_RECV_S2, RTMP_HS_SIZE);
}

/* Client, S2 read: a server that proved complex must sign our C1 digest;
 * a simple S2 is not checked (many servers do not echo C1 exactly). */
static void hs_client_on_s2(rtmp_hs_t *hs)
{
    if (hs->peer_complex) {
        uint8_t sig[HS_DIGEST_LEN];
        if (hs_signature(hs->in, hs_fms_key, HS_FMS_KEY_LEN, hs->c1_digest, sig) != NODE_OK) {
            hs_fail(hs, hs_err_crypto);
            return;
        }
        if (CRYPTO_memcmp(sig, hs->in + HS_SIG_DATA_LEN, HS_DIGEST_LEN) != 0) {
            hs_fail(hs, hs_err_s2);
            return;
        }
    }
    hs_expect(hs, HS_DONE, 0);
}

rtmp_hs_t *rtmp_hs_new(rtmp_hs_role_t role, int complex)
{
    rtmp_hs_t *hs = calloc(1, sizeof *hs);
    if (!hs)
        return NULL;
    if (role == RTMP_HS_SERVER) {
        hs_expect(hs, HS_SERVER_RECV_C0C1, 1 + RTMP_HS_SIZE);
        return hs;
    }
    hs->complex = complex != 0;
    uint8_t *c0 = hs_out_reserve(hs, 1 + RTMP_HS_SIZE);
    uint8_t *c1 = c0 + 1;
    *c0 = HS_VERSION;
    int off = 0;
    if (hs_fill_challenge(c1, hs->complex ? hs_client_version : hs_zero_version) != NODE_OK ||
        (hs->complex && (off = hs_place_digest(c1, 1, hs_fp_key, HS_FP_TEXT_LEN)) < 0)) {
        free(hs);
        return NULL;
    }
    if (hs->complex)
        memcpy(hs->c1_digest, c1 + off, HS_DIGEST_LEN);
    hs_expect(hs, HS_CLIENT_RECV_S0S1, 1 + RTMP_HS_SIZE);
    return hs;
}

void rtmp_hs_free(rtmp_hs_t *hs)
{
    free(hs);
}

parse_rc_t rtmp_hs_feed(rtmp_hs_t *hs, const uint8_t *src, size_t len, size_t *used,
                        const char **err)
{
    size_t pos = 0;
    for (;;) {
        if (hs->state == HS_DONE) {
            *used = pos;
            return PARSE_OK;
        }
        if (hs->state == HS_FAILED) {
            *used = pos;
            *err = hs->err;
            return PARSE_ERR_PROTO;
        }
        size_t take = hs->need - hs->have;
        if (take > len - pos)
            take = len - pos;
        if (take > 0)
            memcpy(hs->in + hs->have, src + pos, take);
        hs->have += take;
        pos += take;
        /* C0 / S0 is checked as soon as it arrives: an HTTP request or an
         * RTMPE client is turned away without waiting for 1536 bytes. */
        int first = hs->state == HS_SERVER_RECV_C0C1 || hs->state == HS_CLIENT_RECV_S0S1;
        if (first && hs->have > 0 && hs->in[0] != HS_VERSION) {
            /* 22 is a TLS record (handshake): an rtmps:// client or server
             * on a plaintext port; say so rather than "version 22". */
            hs_fail(hs, hs->in[0] == HS_TLS_RECORD ? hs_err_tls : hs_err_version[hs->in[0]]);
            continue;
        }
        if (hs->have < hs->need) {
            *used = pos;
            return PARSE_NEED_MORE;
        }
        switch (hs->state) {
        case HS_SERVER_RECV_C0C1: hs_server_on_c0c1(hs); break;
        case HS_SERVER_RECV_C2: hs_expect(hs, HS_DONE, 0); break;
        case HS_CLIENT_RECV_S0S1: hs_client_on_s0s1(hs); break;
        case HS_CLIENT_RECV_S2: hs_client_on_s2(hs); break;
        case HS_DONE:
        case HS_FAILED: break;
        }
    }
}

void rtmp_hs_output(const rtmp_hs_t *hs, const uint8_t **data, size_t *len)
{
    *data = hs->out;
    *len = hs->out_len;
}

void rtmp_hs_output_done(rtmp_hs_t *hs)
{
    hs->out_len = 0;
}

int rtmp_hs_peer_complex(const rtmp_hs_t *hs)
{
    return hs->peer_complex;
}
