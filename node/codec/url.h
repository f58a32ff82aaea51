/* url: the one parser of "scheme://host[:port]/path" URLs (rtmp:// and
 * http://) for the RTMP clients (relay links, tools), the HTTP-FLV clients
 * and the tools, and the rtmp:// split into app and stream name (pure: no
 * I/O; callable from any thread).
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

/* The schemes the clients know; url_scheme() reads "scheme://" of a URL
 * (case-insensitive). */
typedef enum {
    URL_SCHEME_OTHER = 0,
    URL_SCHEME_RTMP,
    URL_SCHEME_RTMPS, /* RTMP over TLS */
    URL_SCHEME_HTTP,
    URL_SCHEME_HTTPS,
    URL_SCHEME_WS,
    URL_SCHEME_WSS,
} url_scheme_t;

url_scheme_t url_scheme(const char *url);
/* "rtmp", "rtmps", "http", ...; "" for URL_SCHEME_OTHER. */
const char *url_scheme_name(url_scheme_t s);
/* The default port: 1935 (rtmp), 80 (http, ws), 443 (rtmps, https, wss). */
uint16_t url_scheme_port(url_scheme_t s);
/* 1 for the TLS schemes (rtmps, https, wss). */
int url_scheme_tls(url_scheme_t s);

/* Writes "host:port" ("[v6]:port" for IPv6 literals), for Host headers and
 * tcUrl. Returns the length, or -1 if it does not fit. */
int url_authority(const url_t *u, char *out, size_t outlen);

/* Room for any URL url_for_log() is given plus its "?..." marker. */
#define URL_LOG_MAX 600

/* A URL fit for a log line: everything from the first '?' on (where signed
 * URLs carry their token) is replaced by "?...". Writes into out (cut to
 * outlen - 1 bytes if need be) and returns out. url NULL gives "". */
const char *url_for_log(const char *url, char *out, size_t outlen);

/* ---- rtmp:// URLs of the RTMP clients ------------------------------------ */

#define URL_RTMP_DEFAULT_PORT 1935
#define URL_RTMP_HOST_MAX 256  /* host name or IPv6 literal, with its NUL */
#define URL_RTMP_APP_MAX 128   /* application name, with its NUL */
#define URL_RTMP_NAME_MAX 1024 /* stream name plus query, with its NUL */
#define URL_RTMP_TCURL_MAX 512 /* "rtmp://host:port/app", with its NUL */

/* A parsed rtmp:// URL. */
typedef struct {
    char host[URL_RTMP_HOST_MAX];    /* without brackets for IPv6 literals */
    uint16_t port;                   /* URL_RTMP_DEFAULT_PORT when absent */
    char app[URL_RTMP_APP_MAX];      /* first path segment */
    char name[URL_RTMP_NAME_MAX];    /* the rest of the path, query included */
    char tc_url[URL_RTMP_TCURL_MAX]; /* "rtmp://host:port/app" for connect */
    int tls;                         /* rtmps:// (default port 443) */
} url_rtmp_t;

/* Parses "rtmp://host[:port]/app[/...]/name[?query]" (or rtmps://). The app is the first
 * path segment; the name is everything after the slash that ends it (more
 * segments and the query included). IPv6 hosts are written "[::1]". Returns
 * 0, or NODE_EINVAL with a message in err (missing app or name, bad port,
 * a part over its bound, not rtmp:// or rtmps://). */
int url_rtmp_parse(const char *url, url_rtmp_t *out, char *err, size_t errlen);

#endif
