/* Unit tests of the API's JSON rendering (api/render.c) and the sliding
 * rate window (node/core/rate.c), on hand-built snapshots: exact field sets,
 * nulls for unknowns, time format, kbit/s rounding, event merging, a relay
 * view. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "rate.h"
#include "render.h"

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static int is_null(const cJSON *o, const char *k)
{
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* The object's keys, comma-separated, in order. */
static void keys(const cJSON *o, char *buf, size_t len)
{
    buf[0] = '\0';
    for (const cJSON *c = o->child; c; c = c->next) {
        strncat(buf, c->string, len - strlen(buf) - 1);
        if (c->next)
            strncat(buf, ",", len - strlen(buf) - 1);
    }
}

static sess_info_t a_session(void)
{
    sess_info_t si = {0};
    si.id = 42;
    si.role = SESS_ROLE_PLAYER;
    si.protocol = "http-flv";
    si.remote = "127.0.0.1:50123";
    si.app = "live";
    si.name = "cam1";
    si.start_wall_ms = 1795514400000LL;
    si.bytes_in = 300;
    si.bytes_out = 9000000;
    si.bitrate_in_bps = 0;
    si.bitrate_out_bps = 2500000;
    si.dropped_frames = 7;
    si.queued_bytes = 1234;
    return si;
}

static void test_session(void **state)
{
    (void)state;
    sess_info_t si = a_session();
    cJSON *o = api_render_session(&si);
    assert_non_null(o);
    char k[512];
    keys(o, k, sizeof k);
    assert_string_equal(k, "id,role,protocol,remote,app,name,start_time,bytes_in,bytes_out,"
                           "bitrate_in_kbps,bitrate_out_kbps,dropped_frames,queued_bytes,relay,tls");
    assert_true(is_null(o, "relay")); /* a client */
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "tls")));
    cJSON_Delete(o);
    si.tls = 1; /* accepted on rtmps.listen or https.listen */
    o = api_render_session(&si);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "tls")));
    cJSON_Delete(o);
    si.tls = 0;
    /* Another node's relay link: role relay and where it comes from. */
    si.role = SESS_ROLE_RELAY;
    si.relay = SESS_RELAY_IN;
    si.relay_hops = 2;
    si.relay_via = "node-a,node-b";
    o = api_render_session(&si);
    const cJSON *rl = cJSON_GetObjectItemCaseSensitive(o, "relay");
    assert_string_equal(str(o, "role"), "relay");
    assert_string_equal(str(rl, "direction"), "in");
    assert_true(num(rl, "hops") == 2);
    assert_string_equal(str(rl, "peer"), "node-b");
    cJSON_Delete(o);
    si.relay = SESS_RELAY_OUT;
    o = api_render_session(&si);
    rl = cJSON_GetObjectItemCaseSensitive(o, "relay");
    assert_string_equal(str(rl, "direction"), "out");
    assert_true(is_null(rl, "peer"));
    cJSON_Delete(o);
    si = a_session();
    o = api_render_session(&si);
    assert_true(num(o, "id") == 42);
    assert_string_equal(str(o, "role"), "player");
    assert_string_equal(str(o, "protocol"), "http-flv");
    assert_string_equal(str(o, "start_time"), "2026-11-24T10:00:00.000Z");
    assert_true(num(o, "bytes_out") == 9000000);
    assert_true(num(o, "bitrate_out_kbps") == 2500);
    assert_true(num(o, "dropped_frames") == 7);
    assert_true(num(o, "queued_bytes") == 1234);
    cJSON_Delete(o);

    /* Not yet publishing or playing: role connecting, app/name null. */
    si.role = SESS_ROLE_CONNECTING;
    si.app = NULL;
    si.name = "";
    o = api_render_session(&si);
    assert_string_equal(str(o, "role"), "connecting");
    assert_true(is_null(o, "app"));
    assert_true(is_null(o, "name"));
    cJSON_Delete(o);

    o = api_render_session_summary(&si);
    keys(o, k, sizeof k);
    assert_string_equal(k, "id,protocol,remote,start_time");
    cJSON_Delete(o);
}

static void test_stream(void **state)
{
    (void)state;
    media_info_t m;
    media_info_init(&m);
    m.has_video = 1;
    strcpy(m.vcodec, "h264");
    m.width = 1280;
    m.height = 720;
    strcpy(m.vprofile, "High");
    strcpy(m.vlevel, "3.1");
    m.has_audio = 1;
    strcpy(m.acodec, "aac");
    m.sample_rate = 44100;
    m.channels = 2;
    strcpy(m.aprofile, "LC");
    publisher_t pub = {0};
    pub.source = "rtmp";
    pub.sess_id = 9;
    stream_info_t st = {0};
    st.app = "live";
    st.name = "cam1";
    st.live = 1;
    st.pub = &pub;
    st.media = &m;
    st.frame_rate = 29.97;
    st.bytes_in = 1000;
    st.bytes_out = 5000;
    st.bitrate_in_bps = 1000000;
    st.bitrate_out_bps = 3000000;
    st.players = 3;
    st.waiters = 1;
    st.gops = 1;
    st.gop_cache_msgs = 90;
    st.gop_cache_bytes = 400000;
    st.gop_cache_drops = 2;
    st.start_wall_ms = 1795514400000LL;
    sess_info_t ps = a_session();
    ps.id = 9;
    cJSON *o = api_render_stream(&st, &ps);
    assert_non_null(o);
    char k[512];
    keys(o, k, sizeof k);
    assert_string_equal(k, "app,name,state,source,publisher,video,audio,bitrate_in_kbps,"
                           "bitrate_out_kbps,bytes_in,bytes_out,player_count,relay_links,"
                           "gop_cache,continuity,start_time");
    assert_string_equal(str(o, "state"), "live");
    assert_string_equal(str(o, "source"), "rtmp");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "publisher");
    assert_true(num(p, "id") == 9);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "video");
    assert_string_equal(str(v, "codec"), "h264");
    assert_true(num(v, "width") == 1280);
    assert_true(num(v, "height") == 720);
    assert_true(fabs(num(v, "frame_rate") - 29.97) < 1e-9);
    assert_string_equal(str(v, "profile"), "High");
    assert_string_equal(str(v, "level"), "3.1");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "audio");
    assert_string_equal(str(a, "codec"), "aac");
    assert_true(num(a, "sample_rate") == 44100);
    assert_true(num(a, "channels") == 2);
    assert_true(num(o, "bitrate_in_kbps") == 1000);
    assert_true(num(o, "player_count") == 4); /* waiting players count too */
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "gop_cache");
    keys(g, k, sizeof k);
    assert_string_equal(k, "gops,messages,bytes,drops");
    assert_true(num(g, "gops") == 1 && num(g, "messages") == 90 && num(g, "bytes") == 400000);
    assert_true(num(g, "drops") == 2);
    const cJSON *cont = cJSON_GetObjectItemCaseSensitive(o, "continuity");
    keys(cont, k, sizeof k);
    assert_string_equal(k, "continuations,last_gap_ms,skipped_messages,last_splice,source_id");
    assert_true(num(cont, "continuations") == 0 && is_null(cont, "last_gap_ms"));
    assert_true(is_null(cont, "last_splice") && is_null(cont, "source_id"));
    cJSON_Delete(o);

    /* After a failover: the last gap is shown. */
    st.continuations = 2;
    st.last_gap_ms = 25;
    st.continuation_dropped = 12;
    st.last_splice = "exact";
    st.source_id = "n1.77";
    o = api_render_stream(&st, &ps);
    cont = cJSON_GetObjectItemCaseSensitive(o, "continuity");
    assert_true(num(cont, "continuations") == 2 && num(cont, "last_gap_ms") == 25 &&
                num(cont, "skipped_messages") == 12);
    assert_string_equal(str(cont, "last_splice"), "exact");
    assert_string_equal(str(cont, "source_id"), "n1.77");
    st.last_splice = NULL;
    st.source_id = "";
    cJSON_Delete(o);
    st.continuations = 0;

    /* Unpublished, audio only, size unknown, fps from metadata. */
    st.live = 0;
    st.unpublished = 1;
    st.pub = NULL;
    m.has_video = 0;
    o = api_render_stream(&st, NULL);
    assert_string_equal(str(o, "state"), "unpublished");
    assert_true(is_null(o, "publisher"));
    assert_true(is_null(o, "video"));
    cJSON_Delete(o);
    m.has_video = 1;
    m.width = m.height = 0;
    m.vprofile[0] = '\0';
    m.meta_fps = 25;
    st.frame_rate = 0;
    o = api_render_stream(&st, NULL);
    v = cJSON_GetObjectItemCaseSensitive(o, "video");
    assert_true(is_null(v, "width") && is_null(v, "height") && is_null(v, "profile"));
    assert_true(num(v, "frame_rate") == 25);
    cJSON_Delete(o);
}

/* The placement figures, grouped and rounded; limits of 0 are null. */
static void test_node_placement(api_node_info_t *ni)
{
    ni->load.process_percent = 12.345;
    ni->load.process_seconds = 3.14159;
    ni->load.machine_percent = 55.55;
    ni->load.cores = 2;
    ni->load.rss_bytes = 25165824;
    ni->load.fds_open = 23;
    ni->fd_limit = 10448;
    ni->media_bytes = 4096;
    ni->media_limit_bytes = 1u << 30;
    ni->connections = 10;
    ni->max_connections = 20;
    ni->bitrate_in_bps = 2512300;
    ni->headroom = 0.49999;
    ni->headroom_by = "connections";
    cJSON *o = api_render_node(ni);
    assert_non_null(o);
    char k[256];
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "cpu");
    keys(c, k, sizeof k);
    assert_string_equal(k, "process_percent,process_seconds,machine_percent,cores");
    assert_true(fabs(num(c, "process_percent") - 12.3) < 1e-9);
    assert_true(fabs(num(c, "process_seconds") - 3.14) < 1e-9);
    assert_true(fabs(num(c, "machine_percent") - 55.6) < 1e-9 && num(c, "cores") == 2);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "memory");
    keys(m, k, sizeof k);
    assert_string_equal(k, "rss_bytes,media_bytes,media_limit_bytes");
    assert_true(num(m, "rss_bytes") == 25165824 && num(m, "media_limit_bytes") == 1u << 30);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "fds");
    assert_true(num(f, "open") == 23 && num(f, "limit") == 10448);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "limits");
    keys(l, k, sizeof k);
    assert_string_equal(k, "connections,streams,bandwidth_in_kbps,bandwidth_out_kbps");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(l, "connections");
    assert_true(num(u, "used") == 10 && num(u, "limit") == 20);
    u = cJSON_GetObjectItemCaseSensitive(l, "streams");
    assert_true(num(u, "used") == 2 && is_null(u, "limit"));
    u = cJSON_GetObjectItemCaseSensitive(l, "bandwidth_in_kbps");
    assert_true(fabs(num(u, "used") - 2512.3) < 1e-9 && is_null(u, "limit"));
    assert_true(fabs(num(o, "headroom") - 0.5) < 1e-9);
    assert_string_equal(str(o, "headroom_by"), "connections");
    cJSON_Delete(o);
    memset(&ni->load, 0, sizeof ni->load);
    ni->fd_limit = ni->media_bytes = ni->media_limit_bytes = 0;
    ni->connections = ni->max_connections = 0;
    ni->bitrate_in_bps = ni->headroom = 0;
    ni->headroom_by = NULL;
}

static void test_node(void **state)
{
    (void)state;
    api_node_info_t ni = {0};
    ni.id = "0b1c2d3e-4f50-4a61-8b72-9c8d7e6f5a4b";
    ni.version = "0.1.0";
    ni.log_level = "info";
    ni.start_wall_ms = 1795514400000LL;
    ni.uptime_s = 12.34;
    ni.listen_rtmp = "0.0.0.0:1935";
    ni.listen_http_flv = "0.0.0.0:8080";
    ni.listen_api = "127.0.0.1:8090";
    ni.streams = 2;
    ni.publishers = 1;
    ni.players = 5;
    ni.sessions = 7;
    ni.bytes_in = 1;
    ni.bytes_out = 2;
    ni.storage_path = "data/weir.db";
    ni.storage_write_errors = 3;
    cJSON *o = api_render_node(&ni);
    assert_non_null(o);
    char k[512];
    keys(o, k, sizeof k);
    assert_string_equal(k, "id,version,start_time,uptime_s,log_level,listen,counts,bytes_in,"
                           "bytes_out,bitrate_in_kbps,bitrate_out_kbps,storage,cpu,memory,fds,"
                           "limits,headroom,headroom_by,draining,drain");
    assert_true(fabs(num(o, "uptime_s") - 12.3) < 1e-9);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "draining")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "drain")));
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "counts");
    keys(c, k, sizeof k);
    assert_string_equal(k, "streams,publishers,players,relay_links,relays,sessions");
    assert_true(num(c, "players") == 5 && num(c, "relays") == 0);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "listen");
    assert_string_equal(str(l, "api"), "127.0.0.1:8090");
    assert_true(is_null(l, "rtmps") && is_null(l, "https")); /* TLS listeners off */
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "storage");
    assert_true(num(s, "write_errors") == 3);
    /* Nothing sampled, no limits: zeros and nulls. */
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "fds");
    assert_true(num(u, "open") == 0 && is_null(u, "limit"));
    assert_true(num(o, "headroom") == 0 && is_null(o, "headroom_by"));
    cJSON_Delete(o);

    test_node_placement(&ni);

    /* Draining: the drain object, with a null redirect when there is none. */
    ni.draining = 1;
    ni.drain_redirect = "";
    ni.drain_retry_after_s = 30;
    ni.drain_since_wall_ms = 1795514400123LL;
    o = api_render_node(&ni);
    assert_non_null(o);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "draining")));
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "drain");
    keys(d, k, sizeof k);
    assert_string_equal(k, "redirect_url,retry_after_s,since,remaining");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(d, "redirect_url")));
    assert_true(num(d, "retry_after_s") == 30);
    assert_string_equal(str(d, "since"), "2026-11-24T10:00:00.123Z");
    assert_true(num(d, "remaining") == 0);
    cJSON_Delete(o);
    ni.drain_redirect = "http://127.0.0.1:8081";
    o = api_render_node(&ni);
    assert_string_equal(str(cJSON_GetObjectItemCaseSensitive(o, "drain"), "redirect_url"),
                        "http://127.0.0.1:8081");
    cJSON_Delete(o);
}

static void test_event(void **state)
{
    (void)state;
    storage_event_t row = {7,
                           1795514400500LL,
                           "play.stop",
                           "live",
                           "cam1",
                           "{\"session_id\":3,\"app\":\"live\",\"bytes_out\":99,"
                           "\"id\":1234,\"type\":\"forged\",\"time\":\"x\"}"};
    cJSON *o = api_render_event(&row);
    assert_non_null(o);
    assert_true(num(o, "id") == 7); /* stored fields never replace id/type/time */
    assert_string_equal(str(o, "type"), "play.stop");
    assert_string_equal(str(o, "time"), "2026-11-24T10:00:00.500Z");
    assert_true(num(o, "session_id") == 3);
    assert_true(num(o, "bytes_out") == 99);
    assert_string_equal(str(o, "app"), "live");
    assert_int_equal(cJSON_GetArraySize(o), 6);
    cJSON_Delete(o);

    /* No data, or data that is not an object: just id, type, time. */
    storage_event_t bare = {8, 0, "node.start", NULL, NULL, NULL};
    o = api_render_event(&bare);
    assert_int_equal(cJSON_GetArraySize(o), 3);
    cJSON_Delete(o);
    storage_event_t junk = {9, 0, "x", NULL, NULL, "[1,2"};
    o = api_render_event(&junk);
    assert_int_equal(cJSON_GetArraySize(o), 3);
    cJSON_Delete(o);
}

/* A hook: its spec's members (hook_spec_to_json(), never the secret), then
 * the delivery state in a fixed order; "never" is null, not 0 or "". */
static void test_hook(void **state)
{
    (void)state;
    hook_spec_t spec = {.id = "h1",
                        .url = "http://127.0.0.1:9/x",
                        .all_events = 1,
                        .timeout_ms = 2000,
                        .secret = "s3cret",
                        .enabled = 1,
                        .source = HOOK_SRC_CONFIG};
    cJSON *so = hook_spec_to_json(&spec);
    char want[512], got[512];
    keys(so, want, sizeof want);
    cJSON_Delete(so);
    strncat(want,
            ",queued,delivered,failed,dropped,retries,last_status,last_error,"
            "last_delivery_at",
            sizeof want - strlen(want) - 1);
    hook_stat_t st = {.spec = &spec,
                      .queued = 2,
                      .delivered = 10,
                      .failed = 3,
                      .dropped = 1,
                      .retries = 4,
                      .last_status = 503,
                      .last_error = "HTTP 503",
                      .last_wall_ms = 1795514400500LL};
    cJSON *o = api_render_hook(&st);
    assert_non_null(o);
    keys(o, got, sizeof got);
    assert_string_equal(got, want);
    assert_string_equal(str(o, "id"), "h1");
    assert_null(cJSON_GetObjectItemCaseSensitive(o, "secret"));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "secret_set")));
    assert_string_equal(str(o, "source"), "config");
    assert_true(num(o, "queued") == 2);
    assert_true(num(o, "delivered") == 10);
    assert_true(num(o, "failed") == 3);
    assert_true(num(o, "dropped") == 1);
    assert_true(num(o, "retries") == 4);
    assert_true(num(o, "last_status") == 503);
    assert_string_equal(str(o, "last_error"), "HTTP 503");
    assert_string_equal(str(o, "last_delivery_at"), "2026-11-24T10:00:00.500Z");
    cJSON_Delete(o);

    /* A hook that has delivered nothing (only the spec set). */
    hook_stat_t fresh = {.spec = &spec};
    o = api_render_hook(&fresh);
    keys(o, got, sizeof got);
    assert_string_equal(got, want);
    assert_true(num(o, "queued") == 0);
    assert_true(is_null(o, "last_status"));
    assert_true(is_null(o, "last_error"));
    assert_true(is_null(o, "last_delivery_at"));
    cJSON_Delete(o);

    /* With its entity tag: one more member, last. */
    hook_stat_t tagged = {.spec = &spec, .etag = "\"0123456789abcdef\""};
    o = api_render_hook(&tagged);
    keys(o, got, sizeof got);
    strncat(want, ",etag", sizeof want - strlen(want) - 1);
    assert_string_equal(got, want);
    assert_string_equal(str(o, "etag"), "\"0123456789abcdef\"");
    cJSON_Delete(o);
}

static void test_error(void **state)
{
    (void)state;
    cJSON *o = api_render_error("invalid_field", "limit: expected an integer");
    char *t = cJSON_PrintUnformatted(o);
    assert_string_equal(
        t, "{\"error\":{\"code\":\"invalid_field\",\"message\":\"limit: expected an integer\"}}");
    cJSON_free(t);
    cJSON_Delete(o);
}

/* A "*" relay with an active and a failed instance: the spec's fields, then
 * the live state in order; nulls for what is not known. */
static void test_relay(void **state)
{
    (void)state;
    relay_spec_t spec;
    relay_spec_defaults(&spec);
    strcpy(spec.id, "r1");
    strcpy(spec.app, "live");
    strcpy(spec.name, "*");
    spec.mode = RELAY_MODE_ON_DEMAND;
    spec.nurls = 1;
    strcpy(spec.urls[0], "rtmp://up/live");
    relay_stream_view_t streams[2] = {
        {.name = "a",
         .status = RELAY_ST_ACTIVE,
         .current_url = "rtmp://up/live/a",
         .last_error = "",
         .bytes = 1000,
         .bitrate_bps = 1234567,
         .started_wall_ms = 1795514400000LL,
         .session_id = 9,
         .hops = 1},
        {.name = "b",
         .status = RELAY_ST_FAILED,
         .current_url = "rtmp://up/live/b",
         .last_error = "HTTP 508 Loop Detected",
         .last_reason = REASON_LOOP,
         .retries = 1,
         .hops = 2},
    };
    relay_view_t v = {.spec = &spec,
                      .status = RELAY_ST_ACTIVE,
                      .current_url = "rtmp://up/live/a",
                      .last_error = "",
                      .retries = 1,
                      .failovers = 3,
                      .bytes = 5000,
                      .bitrate_bps = 1234567,
                      .started_wall_ms = 1795514400000LL,
                      .nstreams = 2,
                      .streams = streams};
    cJSON *o = api_render_relay(&v);
    assert_non_null(o);
    char k[512];
    keys(o, k, sizeof k);
    assert_non_null(strstr(k, "id,"));
    assert_non_null(strstr(k, ",status,current_url,last_error,last_error_message,retries,"
                              "failovers,bytes,bitrate_kbps,started_at,streams"));
    assert_string_equal(str(o, "status"), "active");
    assert_string_equal(str(o, "current_url"), "rtmp://up/live/a");
    assert_true(is_null(o, "last_error"));
    assert_true(is_null(o, "last_error_message"));
    assert_true(num(o, "failovers") == 3);
    assert_true(fabs(num(o, "bitrate_kbps") - 1234.6) < 1e-9);
    assert_string_equal(str(o, "started_at"), "2026-11-24T10:00:00.000Z");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "streams");
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    const cJSON *a = cJSON_GetArrayItem(arr, 0), *b = cJSON_GetArrayItem(arr, 1);
    keys(a, k, sizeof k);
    assert_string_equal(k, "name,status,current_url,last_error,last_error_message,retries,"
                           "failovers,bytes,bitrate_kbps,started_at,session_id,hops");
    assert_true(num(a, "session_id") == 9);
    assert_true(is_null(b, "session_id"));
    assert_true(is_null(b, "started_at"));
    assert_string_equal(str(b, "status"), "failed");
    assert_string_equal(str(b, "last_error"), "loop");
    assert_string_equal(str(b, "last_error_message"), "HTTP 508 Loop Detected");
    cJSON_Delete(o);

    relay_view_t idle;
    relay_view_idle(&spec, &idle);
    o = api_render_relay(&idle);
    assert_string_equal(str(o, "status"), "idle");
    assert_true(is_null(o, "current_url") && is_null(o, "started_at"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "streams")), 0);
    cJSON_Delete(o);
}

static void test_rate_window(void **state)
{
    (void)state;
    rate_t r;
    rate_init(&r, 0, 0);
    assert_true(rate_per_sec(&r, 0, 0) == 0);
    /* 1000 units per second, sampled every 250 ms as the tick does. */
    uint64_t total = 0;
    for (int64_t t = 250; t <= 10000; t += 250) {
        total += 250;
        rate_sample(&r, total, t);
    }
    assert_true(fabs(rate_per_sec(&r, total, 10000) - 1000) < 1e-6);
    /* The rate halves: within the window (~5 s) it reads the new rate. */
    for (int64_t t = 10250; t <= 20000; t += 250) {
        total += 125;
        rate_sample(&r, total, t);
    }
    assert_true(fabs(rate_per_sec(&r, total, 20000) - 500) < 1e-6);
    /* Stopped: the window drains to 0 after it passes. */
    for (int64_t t = 20250; t <= 30000; t += 250)
        rate_sample(&r, total, t);
    assert_true(rate_per_sec(&r, total, 30000) == 0);
    /* A counter that went backwards (reset) reads 0, not garbage. */
    assert_true(rate_per_sec(&r, 0, 30500) == 0);
    /* A burst right at the start (a GOP cache) is spread over a second,
     * not over the few milliseconds since the window began. */
    rate_init(&r, 0, 1000);
    assert_true(fabs(rate_per_sec(&r, 50000, 1002) - 50000) < 1e-6);
    assert_true(fabs(rate_per_sec(&r, 50000, 3000) - 25000) < 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session),     cmocka_unit_test(test_stream),
        cmocka_unit_test(test_node),        cmocka_unit_test(test_event),
        cmocka_unit_test(test_hook),        cmocka_unit_test(test_error),
        cmocka_unit_test(test_rate_window), cmocka_unit_test(test_relay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
