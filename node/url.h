/* url: the one parser of "scheme://host[:port]/path" URLs (rtmp:// and
 * http://) for the RTMP client, the tools and, later, relays (pure: no I/O).
 */
#ifndef WEIR_URL_H
#define WEIR_URL_H

#include <stddef.h>
#include <stdint.h>

#define URL_HOST_MAX 256
#define URL_PATH_MAX 2048

typedef struct {
    char host[URL_HOST_MAX]; /* IPv6 literals without their brackets */
    int ipv6;                /* the host was written "[...]" */
    uint16_t port;           /* the default port when none is given */
    char path[URL_PATH_MAX]; /* from the first '/' on, query included, fragment dropped */
} url_t;

/* Parses url, which must start with scheme "://" (case-insensitive). The
 * port is 1..65535 and must be followed by the path or the end; the path is
 * required ("/" plus at least one byte) and holds no spaces or control
 * bytes. Returns 0, or NODE_EINVAL with a message in err that starts with
 * "url: " ("url: missing host", "url: bad port", "url: missing path after
 * the host", ...). */
int url_parse(const char *url, const char *scheme, uint16_t default_port, url_t *out, char *err,
              size_t errlen);

/* Writes "host:port" ("[v6]:port" for IPv6 literals), for Host headers and
 * tcUrl. Returns the length, or -1 if it does not fit. */
int url_authority(const url_t *u, char *out, size_t outlen);

/* Room for any URL url_for_log() is given plus its "?..." marker. */
#define URL_LOG_MAX 600

/* A URL fit for a log line: everything from the first '?' on (where signed
 * URLs carry their token) is replaced by "?...". Writes into out (cut to
 * outlen - 1 bytes if need be) and returns out. url NULL gives "". */
const char *url_for_log(const char *url, char *out, size_t outlen);

#endif
