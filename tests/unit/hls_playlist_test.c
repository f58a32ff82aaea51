/* Unit tests of hls_playlist (node/codec/hls_playlist.h): request targets,
 * the playlist query, and the media playlist text (classic HLS over
 * MPEG-TS; LL-HLS over fMP4 with parts, a preload hint, a session token
 * and a delta update). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "hls_playlist.h"

static void test_paths(void **state)
{
    (void)state;
    hls_req_t r;
    assert_int_equal(hls_path_parse("/live/cam.m3u8", &r), 1);
    assert_int_equal(r.kind, HLS_REQ_PLAYLIST);
    assert_string_equal(r.app, "live");
    assert_string_equal(r.name, "cam");
    assert_int_equal(hls_path_parse("/live/cam/init-17.mp4", &r), 1);
    assert_true(r.kind == HLS_REQ_INIT && r.msn == 17 && r.container == HLS_FMP4);
    assert_int_equal(hls_path_parse("/live/c.m3u8/" HLS_FMP4_PLAYLIST, &r), 1);
    assert_true(r.kind == HLS_REQ_PLAYLIST && r.container == HLS_FMP4);
    assert_string_equal(r.name, "c.m3u8");
    assert_int_equal(hls_path_parse("/live/cam.m3u8", &r), 1);
    assert_int_equal(r.container, HLS_TS);
    assert_int_equal(hls_path_parse("/live/cam/42.ts", &r), 1);
    assert_true(r.kind == HLS_REQ_SEGMENT && r.msn == 42 && r.container == HLS_TS);
    assert_int_equal(hls_path_parse("/live/cam/0.7.m4s", &r), 1);
    assert_true(r.kind == HLS_REQ_PART && r.msn == 0 && r.part == 7 && r.container == HLS_FMP4);
    assert_int_equal(hls_path_parse("/live/a.b/9007199254740991.999.ts", &r), 1);
    assert_string_equal(r.name, "a.b");
    /* not HLS: other routes */
    static const char *const OTHER[] = {"/live/cam.flv", "/live/cam.ts", "/", "/live",
                                        "/live/cam/x.flv", "/live/cam/a/1.ts", "live/cam.m3u8"};
    for (size_t i = 0; i < sizeof OTHER / sizeof OTHER[0]; i++)
        assert_int_equal(hls_path_parse(OTHER[i], &r), 0);
    /* HLS-looking but malformed */
    static const char *const BAD[] = {"/live/.m3u8",       "/live/a..b.m3u8",  "//cam.m3u8",
                                      "/live/cam/01.ts",   "/live/cam/1.01.ts", "/live/cam/x.ts",
                                      "/live/cam/1.1000.ts", "/live/cam/9007199254740992.ts",
                                      "/live/cam/-1.ts",   "/live/cam/1..ts",  "/live//1.ts",
                                      "/live/cam/init-.mp4", "/live/cam/init-01.mp4",
                                      "/live/cam/init-x.mp4", "/live//index.fmp4.m3u8"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
        assert_int_equal(hls_path_parse(BAD[i], &r), -1);
}

static void test_query(void **state)
{
    (void)state;
    hls_query_t q;
    const char *err;
    assert_int_equal(hls_query_parse("_HLS_msn=12&_HLS_part=3&sign=x&_HLS_skip=YES&"
                                     HLS_TOKEN_PARAM "=ab_C-9",
                                     &q, &err),
                     0);
    assert_true(q.has_msn && q.msn == 12 && q.has_part && q.part == 3 && q.skip == 1);
    assert_string_equal(q.token, "ab_C-9");
    assert_int_equal(hls_query_parse(NULL, &q, &err), 0);
    assert_false(q.has_msn || q.has_part || q.skip || q.token[0]);
    assert_int_equal(hls_query_parse("_HLS_skip=v2", &q, &err), 0);
    assert_int_equal(q.skip, 2);
    static const char *const BAD[] = {"_HLS_part=1",          "_HLS_msn=",       "_HLS_msn=1&_HLS_msn=2",
                                      "_HLS_msn=x",           "_HLS_skip=NO",    "_HLS_msn=1&_HLS_part=1000",
                                      HLS_TOKEN_PARAM "=a.b", HLS_TOKEN_PARAM "=", "_HLS_msn"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        assert_int_equal(hls_query_parse(BAD[i], &q, &err), -1);
        assert_non_null(err);
    }
}

static void test_classic_ts(void **state)
{
    (void)state;
    hls_seg_desc_t segs[] = {
        {.msn = 5, .dur_ms = 2000},
        {.msn = 6, .dur_ms = 2520, .discontinuity = 1, .pdt_ms = 1733480000123},
    };
    hls_playlist_t pl = {.container = HLS_TS, .target_ms = 2000, .disc_seq = 1, .segs = segs,
                         .nsegs = 2, .name = "cam"};
    char out[1024];
    size_t n = hls_playlist_write(&pl, out, sizeof out);
    assert_string_equal(out, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n"
                             "#EXT-X-MEDIA-SEQUENCE:5\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n"
                             "#EXTINF:2.000,\ncam/5.ts\n"
                             "#EXT-X-DISCONTINUITY\n"
                             "#EXT-X-PROGRAM-DATE-TIME:2024-12-06T10:13:20.123Z\n"
                             "#EXTINF:2.520,\ncam/6.ts\n");
    assert_int_equal(n, strlen(out));
    /* cut: the length needed is still returned, the text NUL-terminated */
    char small[16];
    assert_int_equal(hls_playlist_write(&pl, small, sizeof small), n);
    assert_int_equal(strlen(small), sizeof small - 1);
    pl.ended = 1;
    hls_playlist_write(&pl, out, sizeof out);
    assert_non_null(strstr(out, "cam/6.ts\n#EXT-X-ENDLIST\n"));
}

static void test_ll_fmp4(void **state)
{
    (void)state;
    hls_part_desc_t p1[] = {{500, 1}, {500, 0}, {500, 0}, {500, 0}};
    hls_part_desc_t p2[] = {{500, 1}};
    hls_seg_desc_t segs[] = {
        {.msn = 0, .dur_ms = 2000},
        {.msn = 1, .dur_ms = 2000, .parts = p1, .nparts = 4},
        {.msn = 2, .parts = p2, .nparts = 1}, /* the open segment */
    };
    hls_playlist_t pl = {.container = HLS_FMP4, .target_ms = 2000, .part_target_ms = 500,
                         .segs = segs, .nsegs = 3, .name = "a:b", .token = "t1"};
    char out[2048];
    hls_playlist_write(&pl, out, sizeof out);
    assert_string_equal(
        out, "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
             "#EXT-X-DISCONTINUITY-SEQUENCE:0\n"
             "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500,CAN-SKIP-UNTIL=12\n"
             "#EXT-X-PART-INF:PART-TARGET=0.500\n"
             "#EXT-X-MAP:URI=\"./a:b/init-0.mp4?hls_session=t1\"\n"
             "#EXTINF:2.000,\n./a:b/0.m4s?hls_session=t1\n"
             "#EXT-X-PART:DURATION=0.500,URI=\"./a:b/1.0.m4s?hls_session=t1\",INDEPENDENT=YES\n"
             "#EXT-X-PART:DURATION=0.500,URI=\"./a:b/1.1.m4s?hls_session=t1\"\n"
             "#EXT-X-PART:DURATION=0.500,URI=\"./a:b/1.2.m4s?hls_session=t1\"\n"
             "#EXT-X-PART:DURATION=0.500,URI=\"./a:b/1.3.m4s?hls_session=t1\"\n"
             "#EXTINF:2.000,\n./a:b/1.m4s?hls_session=t1\n"
             "#EXT-X-PART:DURATION=0.500,URI=\"./a:b/2.0.m4s?hls_session=t1\",INDEPENDENT=YES\n"
             "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"./a:b/2.1.m4s?hls_session=t1\"\n");
    /* after a complete last segment, the hint is the next segment's part 0 */
    pl.nsegs = 2;
    hls_playlist_write(&pl, out, sizeof out);
    assert_non_null(strstr(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"./a:b/2.0.m4s"));
}

static void test_fmp4_in_dir_new_map(void **state)
{
    (void)state;
    hls_seg_desc_t segs[] = {
        {.msn = 40, .dur_ms = 2000, .map_id = 38},
        {.msn = 41, .dur_ms = 2000, .map_id = 38},
        {.msn = 42, .dur_ms = 2000, .discontinuity = 1, .map_id = 42},
    };
    hls_playlist_t pl = {.container = HLS_FMP4, .target_ms = 2000, .segs = segs, .nsegs = 3,
                         .name = "a:b", .in_dir = 1};
    char out[1024];
    hls_playlist_write(&pl, out, sizeof out);
    assert_string_equal(out, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n"
                             "#EXT-X-MEDIA-SEQUENCE:40\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n"
                             "#EXT-X-MAP:URI=\"init-38.mp4\"\n"
                             "#EXTINF:2.000,\n40.m4s\n"
                             "#EXTINF:2.000,\n41.m4s\n"
                             "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-42.mp4\"\n"
                             "#EXTINF:2.000,\n42.m4s\n");
    /* a delta update names the map of the first segment it lists */
    pl.skip = 1;
    hls_playlist_write(&pl, out, sizeof out);
    assert_non_null(strstr(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS=1\n#EXT-X-MAP:URI=\"init-38.mp4\"\n"
                                "#EXTINF:2.000,\n41.m4s\n"));
}

static void test_delta_update(void **state)
{
    (void)state;
    hls_seg_desc_t segs[10];
    for (unsigned i = 0; i < 10; i++)
        segs[i] = (hls_seg_desc_t){.msn = 100 + i, .dur_ms = 2000};
    hls_playlist_t pl = {.container = HLS_TS, .target_ms = 2000, .part_target_ms = 400,
                         .segs = segs, .nsegs = 10, .name = "cam"};
    /* CAN-SKIP-UNTIL is 12 s: the 6 newest segments stay, 4 may go */
    assert_int_equal(hls_skippable(&pl), 4);
    pl.skip = hls_skippable(&pl);
    char out[2048];
    hls_playlist_write(&pl, out, sizeof out);
    assert_non_null(strstr(out, "#EXT-X-MEDIA-SEQUENCE:100\n"));
    assert_non_null(strstr(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS=4\n#EXTINF:2.000,\ncam/104.ts\n"));
    assert_null(strstr(out, "cam/103.ts"));
    pl.nsegs = 6;
    assert_int_equal(hls_skippable(&pl), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),       cmocka_unit_test(test_query),
        cmocka_unit_test(test_classic_ts),  cmocka_unit_test(test_ll_fmp4),
        cmocka_unit_test(test_fmp4_in_dir_new_map),
        cmocka_unit_test(test_delta_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
