#include "url.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common.h"

static int fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "url: %s", msg);
    return NODE_EINVAL;
}

int url_parse(const char *url, const char *scheme, uint16_t default_port, url_t *out, char *err,
              size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t slen = strlen(scheme);
    if (!url || strncasecmp(url, scheme, slen) != 0 || strncmp(url + slen, "://", 3) != 0) {
        snprintf(err, errlen, "url: expected %s://host[:port]/path", scheme);
        return NODE_EINVAL;
    }
    const char *host = url + slen + 3, *host_end, *p;
    if (*host == '[') {
        host++;
        host_end = strchr(host, ']');
        if (!host_end)
            return fail(err, errlen, "unterminated IPv6 address");
        out->ipv6 = 1;
        p = host_end + 1;
    } else {
        host_end = host + strcspn(host, ":/?#");
        p = host_end;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0)
        return fail(err, errlen, "missing host");
    if (hlen >= sizeof out->host)
        return fail(err, errlen, "host too long");
    memcpy(out->host, host, hlen);
    out->port = default_port;
    if (*p == ':') {
        p++;
        size_t ndig = strspn(p, "0123456789");
        unsigned long port = 0;
        for (size_t i = 0; i < ndig && i < 6; i++)
            port = port * 10 + (unsigned long)(p[i] - '0');
        if (ndig == 0 || ndig > 5 || port == 0 || port > 65535 ||
            (p[ndig] != '/' && p[ndig] != '\0'))
            return fail(err, errlen, "bad port");
        out->port = (uint16_t)port;
        p += ndig;
    }
    if (*p != '/' || p[1] == '\0' || p[1] == '#')
        return fail(err, errlen, "missing path after the host");
    size_t plen = strcspn(p, "#");
    if (plen >= sizeof out->path)
        return fail(err, errlen, "path too long");
    for (size_t i = 0; i < plen; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c == 0x7f)
            return fail(err, errlen, "space or control byte in the path");
    }
    memcpy(out->path, p, plen);
    return 0;
}

static const char *const SCHEMES[] = {"", "rtmp", "rtmps", "http", "https", "ws", "wss"};

url_scheme_t url_scheme(const char *url)
{
    for (int i = URL_SCHEME_RTMP; url && i <= URL_SCHEME_WSS; i++) {
        size_t n = strlen(SCHEMES[i]);
        if (strncasecmp(url, SCHEMES[i], n) == 0 && strncmp(url + n, "://", 3) == 0)
            return (url_scheme_t)i;
    }
    return URL_SCHEME_OTHER;
}

const char *url_scheme_name(url_scheme_t s)
{
    return (unsigned)s <= URL_SCHEME_WSS ? SCHEMES[s] : "";
}

uint16_t url_scheme_port(url_scheme_t s)
{
    switch (s) {
    case URL_SCHEME_RTMP: return URL_RTMP_DEFAULT_PORT;
    case URL_SCHEME_HTTP:
    case URL_SCHEME_WS: return 80;
    case URL_SCHEME_RTMPS:
    case URL_SCHEME_HTTPS:
    case URL_SCHEME_WSS: return 443;
    case URL_SCHEME_OTHER: break;
    }
    return 0;
}

int url_scheme_tls(url_scheme_t s)
{
    return s == URL_SCHEME_RTMPS || s == URL_SCHEME_HTTPS || s == URL_SCHEME_WSS;
}

int url_authority(const url_t *u, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s%s%s:%u", u->ipv6 ? "[" : "", u->host, u->ipv6 ? "]" : "",
                     (unsigned)u->port);
    return n < 0 || (size_t)n >= outlen ? -1 : n;
}

const char *url_for_log(const char *url, char *out, size_t outlen)
{
    if (!outlen)
        return out;
    if (!url)
        url = "";
    size_t n = strcspn(url, "?");
    if (url[n] == '?')
        snprintf(out, outlen, "%.*s?...", (int)n, url);
    else
        snprintf(out, outlen, "%s", url);
    return out;
}

int url_rtmp_parse(const char *url, url_rtmp_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    url_t u;
    url_scheme_t sch = url_scheme(url) == URL_SCHEME_RTMPS ? URL_SCHEME_RTMPS : URL_SCHEME_RTMP;
    if (url_parse(url, url_scheme_name(sch), url_scheme_port(sch), &u, err, errlen) != 0)
        return NODE_EINVAL;
    out->tls = sch == URL_SCHEME_RTMPS;
    if (strlen(u.host) >= sizeof out->host) {
        snprintf(err, errlen, "url: host longer than %zu bytes", sizeof out->host - 1);
        return NODE_EINVAL;
    }
    snprintf(out->host, sizeof out->host, "%s", u.host);
    out->port = u.port;
    const char *p = u.path + 1; /* after the '/' url_parse guarantees */
    size_t alen = strcspn(p, "/");
    if (alen == 0) {
        snprintf(err, errlen, "url: missing application name");
        return NODE_EINVAL;
    }
    if (alen >= sizeof out->app) {
        snprintf(err, errlen, "url: application name longer than %zu bytes", sizeof out->app - 1);
        return NODE_EINVAL;
    }
    memcpy(out->app, p, alen);
    out->app[alen] = '\0';
    p += alen;
    if (*p != '/' || p[1] == '\0') {
        snprintf(err, errlen, "url: missing stream name after /%s", out->app);
        return NODE_EINVAL;
    }
    p++;
    if (strlen(p) >= sizeof out->name) {
        snprintf(err, errlen, "url: stream name longer than %zu bytes", sizeof out->name - 1);
        return NODE_EINVAL;
    }
    snprintf(out->name, sizeof out->name, "%s", p);
    char authority[URL_HOST_MAX + 16];
    int n = url_authority(&u, authority, sizeof authority);
    if (n >= 0)
        n = snprintf(out->tc_url, sizeof out->tc_url, "%s://%s/%s", url_scheme_name(sch), authority,
                     out->app);
    if (n < 0 || (size_t)n >= sizeof out->tc_url) {
        snprintf(err, errlen, "url: tcUrl longer than %zu bytes", sizeof out->tc_url - 1);
        return NODE_EINVAL;
    }
    return 0;
}
