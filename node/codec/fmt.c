#include "fmt.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

void fmt_time(int64_t wall_ms, char *buf, size_t len)
{
    time_t sec = (time_t)(wall_ms / 1000);
    int ms = (int)(wall_ms % 1000);
    if (ms < 0) {
        ms += 1000;
        sec--;
    }
    struct tm tm;
    gmtime_r(&sec, &tm);
    /* Each field reduced to its width, so the compiler can bound the output
     * (24 bytes and the NUL; GCC's -Wformat-truncation at -O2 otherwise sees
     * eleven-digit ints). */
    snprintf(buf, len, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u, (unsigned)ms % 1000u);
}

double fmt_kbps(double bps)
{
    return round(bps / 100.0) / 10.0;
}
