/* tool_util: see tool_util.h. */
#include "tool_util.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop_signal;

int tool_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int tool_parse_seconds(const char *s, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > max)
        return -1;
    *out = v;
    return 0;
}

static void on_stop(int sig)
{
    stop_signal = sig;
}

void tool_install_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int tool_stop_requested(void)
{
    return stop_signal;
}

void tool_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (!stop_signal && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int tool_json_emit(FILE *out, cJSON *obj)
{
    if (!obj)
        return -1;
    char *text = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (!text)
        return -1;
    int rc = fprintf(out, "%s\n", text) < 0 || fflush(out) != 0 ? -1 : 0;
    cJSON_free(text);
    return rc;
}

void tool_json_num_or_null(cJSON *obj, const char *name, int have, double v)
{
    if (have)
        cJSON_AddNumberToObject(obj, name, v);
    else
        cJSON_AddNullToObject(obj, name);
}

double tool_round(double v, int decimals)
{
    double k = pow(10.0, decimals);
    return round(v * k) / k;
}
