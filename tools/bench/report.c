/* weir-bench, report.c: per-second and final JSON reports. Shared types and
 * calls: bench.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "bench.h"

static const char *const ERR_NAMES[ERR_COUNT] = {
    "connect",  "setup_timeout", "handshake", "refused",         "http_status",
    "protocol", "closed",        "io",        "output_overflow", "out_of_memory"};

/* ---- reports ------------------------------------------------------------ */

static int count_receiving(const bench_t *b, int64_t now_us)
{
    int n = 0;
    int64_t since = now_us / 1000 - 1000;
    for (int i = 0; i < b->n_started; i++) {
        const conn_t *c = &b->players[i];
        if (c->state == ST_LIVE && c->last_media_ms > since)
            n++;
    }
    return n;
}

static uint64_t error_total(const bench_t *b)
{
    uint64_t n = 0;
    for (int i = 0; i < ERR_COUNT; i++)
        n += b->errors[i];
    return n;
}

static void json_add_num_or_null(cJSON *o, const char *key, int ok, double v)
{
    if (ok)
        cJSON_AddNumberToObject(o, key, bench_round3(v));
    else
        cJSON_AddNullToObject(o, key);
}

static void print_json(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        free(s);
    } else {
        fprintf(stderr, "weir-bench: out of memory printing JSON\n");
    }
    cJSON_Delete(o);
}

void bench_report_second(bench_t *b, int64_t now_us)
{
    double dt = (double)(now_us - b->last_report_us) / 1e6;
    if (dt <= 0)
        return;
    double cpu = bench_cpu_seconds();
    double cpu_pct = (cpu - b->last_cpu_s) / dt * 100.0;
    b->last_cpu_s = cpu;
    int receiving = count_receiving(b, now_us);
    double delivered = (double)b->sec_bytes * 8 / dt / 1000.0;
    int have_exp = b->has_pub || b->expected_kbps >= 0;
    double per = b->has_pub ? (double)b->sec_pub_bytes * 8 / dt / 1000.0 : b->expected_kbps;
    double expected = per * b->n_started;
    pct_t lat = bench_percentiles_copy(b->lat + b->lat_sec_start, b->nlat - b->lat_sec_start);
    pct_t ttff = bench_percentiles_copy(b->ttff, b->nttff);
    double t = (double)(now_us - b->t0_us) / 1e6;
    if (!b->quiet) {
        char ratio[32] = "-", latency[96] = "", ttffs[64] = "";
        if (have_exp && expected > 0)
            snprintf(ratio, sizeof ratio, "%.3f", delivered / expected);
        if (lat.n)
            snprintf(latency, sizeof latency, " | latency p50 %.1f p99 %.1f max %.1f ms", lat.p50,
                     lat.p99, lat.max);
        if (ttff.n)
            snprintf(ttffs, sizeof ttffs, " | ttff p50 %.1f p99 %.1f ms", ttff.p50, ttff.p99);
        fprintf(stderr,
                "weir-bench: %6.1fs %-7s players %d/%d connected %d receiving %d | %.1f of "
                "%.1f Mbit/s, ratio %s%s%s | errors %llu | cpu %.0f%%\n",
                t, PHASE_NAMES[b->phase], b->n_started, b->nplayers, b->n_live, receiving,
                delivered / 1000, have_exp ? expected / 1000 : 0.0, ratio, ttffs, latency,
                (unsigned long long)error_total(b), cpu_pct);
    }
    if (b->json_every_second) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "t_s", bench_round3(t));
        cJSON_AddStringToObject(o, "phase", PHASE_NAMES[b->phase]);
        cJSON_AddNumberToObject(o, "started", b->n_started);
        cJSON_AddNumberToObject(o, "connected", b->n_live);
        cJSON_AddNumberToObject(o, "receiving", receiving);
        cJSON_AddNumberToObject(o, "delivered_kbps", bench_round3(delivered));
        json_add_num_or_null(o, "expected_kbps", have_exp, expected);
        json_add_num_or_null(o, "ratio", have_exp && expected > 0,
                             expected > 0 ? delivered / expected : 0);
        if (lat.n) {
            cJSON *l = cJSON_AddObjectToObject(o, "latency_ms");
            cJSON_AddNumberToObject(l, "p50", bench_round3(lat.p50));
            cJSON_AddNumberToObject(l, "p99", bench_round3(lat.p99));
            cJSON_AddNumberToObject(l, "max", bench_round3(lat.max));
        } else {
            cJSON_AddNullToObject(o, "latency_ms");
        }
        cJSON_AddNumberToObject(o, "errors", (double)error_total(b));
        cJSON_AddNumberToObject(o, "bench_cpu_pct", bench_round3(cpu_pct));
        print_json(o);
    }
    b->sec_bytes = b->sec_pub_bytes = 0;
    b->lat_sec_start = b->nlat;
    b->last_report_us = now_us;
}

static void add_pct(cJSON *o, const char *key, pct_t p, int with_max)
{
    cJSON *x = cJSON_AddObjectToObject(o, key);
    json_add_num_or_null(x, "p50", p.n > 0, p.p50);
    json_add_num_or_null(x, "p99", p.n > 0, p.p99);
    if (with_max)
        json_add_num_or_null(x, "max", p.n > 0, p.max);
}

/* Per-player delivery against what one player should have received. */
static void final_player_ratio(const bench_t *b, cJSON *o, int have_exp,
                               double per_player_exp_bytes)
{
    double *pr = b->nplayers ? malloc((size_t)b->nplayers * sizeof *pr) : NULL;
    if (have_exp && per_player_exp_bytes > 0 && pr) {
        for (int i = 0; i < b->nplayers; i++)
            pr[i] = (double)b->players[i].win_bytes / per_player_exp_bytes;
        qsort(pr, (size_t)b->nplayers, sizeof *pr, bench_cmp_double);
        size_t k1 = (size_t)ceil(0.01 * b->nplayers), k50 = (size_t)ceil(0.5 * b->nplayers);
        cJSON *x = cJSON_AddObjectToObject(o, "player_ratio");
        cJSON_AddNumberToObject(x, "min", bench_round3(pr[0]));
        cJSON_AddNumberToObject(x, "p1", bench_round3(pr[k1 ? k1 - 1 : 0]));
        cJSON_AddNumberToObject(x, "p50", bench_round3(pr[k50 ? k50 - 1 : 0]));
    } else {
        cJSON_AddNullToObject(o, "player_ratio");
    }
    free(pr);
}

/* Start-up and latency: ttff, keyframe starts, latency, errors. */
static void final_quality(const bench_t *b, cJSON *o)
{
    size_t nttff = b->nttff;
    pct_t ttff = bench_percentiles(b->ttff, nttff);
    add_pct(o, "ttff_ms", ttff, 1);
    cJSON_AddNumberToObject(cJSON_GetObjectItem(o, "ttff_ms"), "count", (double)nttff);

    int ok = 0;
    for (int i = 0; i < b->nplayers; i++)
        ok += b->players[i].key_start;
    cJSON *ks = cJSON_AddObjectToObject(o, "keyframe_starts");
    cJSON_AddNumberToObject(ks, "ok", ok);
    cJSON_AddNumberToObject(ks, "total", b->nplayers);

    if (b->has_pub) {
        pct_t lat = bench_percentiles(b->lat, b->nlat);
        add_pct(o, "latency_ms", lat, 1);
        cJSON *l = cJSON_GetObjectItem(o, "latency_ms");
        cJSON_AddNumberToObject(l, "samples", (double)b->nlat);
        cJSON_AddNumberToObject(l, "unmatched", (double)b->lat_unmatched);
        if (b->lat_dropped)
            cJSON_AddNumberToObject(l, "dropped", (double)b->lat_dropped);
    } else {
        cJSON_AddNullToObject(o, "latency_ms");
    }

    cJSON *errs = cJSON_AddObjectToObject(o, "errors");
    cJSON *ex = cJSON_AddObjectToObject(o, "error_examples");
    for (int i = 0; i < ERR_COUNT; i++) {
        if (!b->errors[i])
            continue;
        cJSON_AddNumberToObject(errs, ERR_NAMES[i], (double)b->errors[i]);
        cJSON_AddStringToObject(ex, ERR_NAMES[i], b->err_example[i]);
    }
}

/* Volumes: bytes, the publisher, batch ticks. */
static void final_volume(const bench_t *b, cJSON *o, double win_s)
{
    uint64_t pmin = UINT64_MAX, pmax = 0;
    for (int i = 0; i < b->nplayers; i++) {
        uint64_t v = b->players[i].bytes;
        pmin = v < pmin ? v : pmin;
        pmax = v > pmax ? v : pmax;
    }
    cJSON *by = cJSON_AddObjectToObject(o, "bytes");
    cJSON_AddNumberToObject(by, "total", (double)b->total_bytes);
    cJSON_AddNumberToObject(by, "window", (double)b->win_bytes);
    cJSON_AddNumberToObject(by, "per_player_min", b->nplayers ? (double)pmin : 0);
    cJSON_AddNumberToObject(by, "per_player_max", (double)pmax);

    if (b->has_pub) {
        cJSON *p = cJSON_AddObjectToObject(o, "publisher");
        cJSON_AddStringToObject(p, "url", b->pub_url_text);
        cJSON_AddNumberToObject(p, "messages", (double)b->pub_msgs);
        cJSON_AddNumberToObject(p, "bytes", (double)b->pub_bytes);
        cJSON_AddNumberToObject(p, "loops", (double)b->loops);
        json_add_num_or_null(p, "kbps", win_s > 0,
                             win_s > 0 ? (double)b->win_pub_bytes * 8 / win_s / 1000 : 0);
    } else {
        cJSON_AddNullToObject(o, "publisher");
    }
    cJSON *bt = cJSON_AddObjectToObject(o, "batch");
    cJSON_AddNumberToObject(bt, "ticks", (double)b->ticks);
    cJSON_AddNumberToObject(
        bt, "mean_ms", b->ticks ? bench_round3((double)b->tick_total_us / b->ticks / 1000) : 0);
    cJSON_AddNumberToObject(bt, "max_ms", bench_round3((double)b->tick_max_us / 1000));
}

static void final_per_player(const bench_t *b, cJSON *o)
{
    if (b->per_player) {
        cJSON *arr = cJSON_AddArrayToObject(o, "per_player");
        for (int i = 0; arr && i < b->nplayers; i++) {
            const conn_t *c = &b->players[i];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "id", c->id);
            cJSON_AddBoolToObject(x, "probe", c->probe);
            cJSON_AddNumberToObject(x, "bytes", (double)c->bytes);
            cJSON_AddNumberToObject(x, "window_bytes", (double)c->win_bytes);
            json_add_num_or_null(x, "ttff_ms", c->got_video, c->ttff_ms);
            cJSON_AddBoolToObject(x, "keyframe_start", c->key_start);
            if (c->err)
                cJSON_AddStringToObject(x, "error", ERR_NAMES[c->err - 1]);
            else
                cJSON_AddNullToObject(x, "error");
            cJSON_AddItemToArray(arr, x);
        }
    }
}

void bench_print_final(bench_t *b, int64_t now_us)
{
    int64_t wend = b->window_end_us ? b->window_end_us : now_us;
    double win_s = b->window_start_us ? (double)(wend - b->window_start_us) / 1e6 : 0;
    int have_exp = (b->has_pub || b->expected_kbps >= 0) && win_s > 0;
    double per_player_exp_bytes =
        b->has_pub ? (double)b->win_pub_bytes : b->expected_kbps * 1000 / 8 * win_s;
    double delivered = win_s > 0 ? (double)b->win_bytes * 8 / win_s / 1000 : 0;
    double expected = win_s > 0 ? per_player_exp_bytes * 8 / win_s / 1000 * b->nplayers : 0;

    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "players", b->nplayers);
    if (b->url_text) {
        cJSON_AddStringToObject(o, "url", b->url_text);
        cJSON_AddStringToObject(o, "protocol", b->url.proto == PROTO_RTMP ? "rtmp"
                                               : b->url.proto == PROTO_WS ? "ws-flv"
                                                                          : "http-flv");
    } else {
        cJSON_AddNullToObject(o, "url");
        cJSON_AddNullToObject(o, "protocol");
    }
    cJSON_AddNumberToObject(o, "started", b->n_started);
    cJSON_AddNumberToObject(o, "connected", b->n_live);
    cJSON_AddNumberToObject(o, "receiving", count_receiving(b, now_us));
    cJSON_AddNumberToObject(o, "delivered_kbps", bench_round3(delivered));
    json_add_num_or_null(o, "expected_kbps", have_exp, expected);
    json_add_num_or_null(o, "ratio", have_exp && expected > 0,
                         expected > 0 ? delivered / expected : 0);

    final_player_ratio(b, o, have_exp, per_player_exp_bytes);
    final_quality(b, o);
    final_volume(b, o, win_s);
    double cpu = bench_cpu_seconds() - b->cpu0_s, wall = (double)(now_us - b->t0_us) / 1e6;
    cJSON_AddNumberToObject(o, "bench_cpu_s", bench_round3(cpu));
    json_add_num_or_null(o, "bench_cpu_pct", wall >= 0.1, wall > 0 ? cpu / wall * 100 : 0);
    cJSON_AddNumberToObject(o, "duration_s", bench_round3(win_s));
    if (b->fatal)
        cJSON_AddStringToObject(o, "error", b->fatal_msg);

    final_per_player(b, o);
    print_json(o);
}
