/* static: the dashboard's files, loaded once (api/static.h), and the
 * handlers of tag dashboard that serve them from memory. */
#include "static.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <microhttpd.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_internal.h"

#define STATIC_NAME_MAX 512 /* "assets/" + a file name, with its NUL */

struct api_static {
    api_static_file_t *files; /* sorted by name */
    size_t n, cap;
    size_t bytes;
};

/* ---- names ------------------------------------------------------------------ */

static const struct {
    const char *ext;
    const char *ctype;
} CTYPES[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"ico", "image/x-icon"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"woff2", "font/woff2"},
    {"txt", "text/plain; charset=utf-8"},
};

const char *api_static_content_type(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash + 1 : name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof CTYPES / sizeof CTYPES[0]; i++)
            if (strcasecmp(dot + 1, CTYPES[i].ext) == 0)
                return CTYPES[i].ctype;
    return "application/octet-stream";
}

int api_static_is_hashed(const char *name)
{
    const char *ext = strrchr(name, '.');
    if (!ext || ext == name)
        return 0;
    /* the hash: the run before the extension, back to a '-' or '.' */
    const char *h = ext;
    while (h > name && h[-1] != '-' && h[-1] != '.')
        h--;
    if (h == name || h - 1 == name || ext - h < 8)
        return 0;
    int upper = 1, hex = 1, digit = 0;
    for (const char *p = h; p < ext; p++) {
        int d = *p >= '0' && *p <= '9';
        digit |= d;
        upper &= d || (*p >= 'A' && *p <= 'Z');
        hex &= d || (*p >= 'a' && *p <= 'f');
    }
    return (upper || hex) && digit;
}

/* ---- loading ---------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp(((const api_static_file_t *)a)->name, ((const api_static_file_t *)b)->name);
}

/* Reads exactly st_size bytes of the regular file open on fd. Returns the
 * bytes (malloc'd, NUL-terminated for convenience) or NULL with errno set
 * (EIO when the file shrank while being read). */
static unsigned char *read_all(int fd, size_t len)
{
    unsigned char *buf = malloc(len + 1);
    if (!buf)
        return NULL;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            free(buf);
            return NULL;
        }
        got += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

/* Adds the regular file dir/fname as name (prefix + fname). Returns 1 when
 * added, 0 when it is not a regular file (skipped), -1 with err set. */
static int load_file(api_static_t *s, const char *dir, const char *prefix, const char *fname,
                     size_t max_files, size_t max_bytes, char *err, size_t errlen)
{
    char path[4096], name[STATIC_NAME_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, fname) >= sizeof path ||
        (size_t)snprintf(name, sizeof name, "%s%s", prefix, fname) >= sizeof name) {
        snprintf(err, errlen, "%s/%.64s...: name too long", dir, fname);
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0; /* a folder (assets/ itself), a socket, ...: not served */
    }
    if (s->n == max_files) {
        close(fd);
        snprintf(err, errlen, "more than %zu files (the bound); at %s", max_files, path);
        return -1;
    }
    size_t len = (size_t)st.st_size;
    if (len > max_bytes - s->bytes) {
        close(fd);
        snprintf(err, errlen, "more than %zu bytes in all (the bound); at %s", max_bytes, path);
        return -1;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        api_static_file_t *nf = realloc(s->files, cap * sizeof *nf);
        if (!nf) {
            close(fd);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        s->files = nf;
        s->cap = cap;
    }
    unsigned char *data = read_all(fd, len);
    int e = errno;
    close(fd);
    char *dup = data ? strdup(name) : NULL;
    if (!dup) {
        free(data);
        snprintf(err, errlen, "%s: %s", path, data ? "out of memory" : strerror(e));
        return -1;
    }
    api_static_file_t *f = &s->files[s->n++];
    f->name = dup;
    f->data = data;
    f->len = len;
    f->ctype = api_static_content_type(fname);
    f->immutable = prefix[0] && api_static_is_hashed(fname);
    s->bytes += len;
    return 1;
}

/* Loads the regular files directly in dir. Returns 0, 1 when dir does not
 * exist, or -1 with err set. */
static int load_dir(api_static_t *s, const char *dir, const char *prefix, size_t max_files,
                    size_t max_bytes, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue; /* ".", "..", hidden files */
        if (load_file(s, dir, prefix, de->d_name, max_files, max_bytes, err, errlen) < 0)
            rc = -1;
    }
    closedir(d);
    return rc;
}

int api_static_load(const char *root, size_t max_files, size_t max_bytes, api_static_t **out,
                    char *err, size_t errlen)
{
    *out = NULL;
    api_static_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return API_STATIC_ERR;
    }
    int rc = load_dir(s, root, "", max_files, max_bytes, err, errlen);
    if (rc == 1) {
        api_static_free(s);
        return API_STATIC_MISSING;
    }
    char assets[4096];
    if (rc == 0 && (size_t)snprintf(assets, sizeof assets, "%s/assets", root) >= sizeof assets) {
        snprintf(err, errlen, "%.64s...: name too long", root);
        rc = -1;
    }
    if (rc == 0)
        rc = load_dir(s, assets, "assets/", max_files, max_bytes, err, errlen) < 0 ? -1 : 0;
    if (rc < 0) {
        api_static_free(s);
        return API_STATIC_ERR;
    }
    if (s->n)
        qsort(s->files, s->n, sizeof *s->files, by_name);
    *out = s;
    return API_STATIC_OK;
}

/* ---- where the files are ---------------------------------------------------- */

int api_static_resolve_root(const char *root, const char *const dirs[API_STATIC_AT_CWD], char *out,
                            size_t outlen, api_static_at_t *at)
{
    *at = root[0] == '/' || !root[0] ? API_STATIC_AT_AS_IS : API_STATIC_AT_CWD;
    for (int i = 0; *at == API_STATIC_AT_CWD && i < API_STATIC_AT_CWD; i++) {
        struct stat sb;
        int n = dirs[i] ? snprintf(out, outlen, "%s/%s", dirs[i], root) : -1;
        if (n >= 0 && (size_t)n < outlen && stat(out, &sb) == 0 && S_ISDIR(sb.st_mode))
            *at = (api_static_at_t)i;
    }
    if (*at < API_STATIC_AT_CWD)
        return 0;
    return (size_t)snprintf(out, outlen, "%s", root) < outlen ? 0 : -1;
}

/* The folder of path into out ("." for a bare file name). */
static void folder_of(const char *path, char *out, size_t outlen)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, outlen, ".");
    else if (slash == path)
        snprintf(out, outlen, "/");
    else
        snprintf(out, outlen, "%.*s", (int)(slash - path), path);
}

int api_static_find_root(const char *root, const char *conf_path, char *out, size_t outlen,
                         api_static_at_t *at)
{
    char conf_dir[4096], exe[4096], exe_dir[4096], exe_share[4096 + sizeof WEIR_BIN_TO_SHARE];
    const char *dirs[API_STATIC_AT_CWD] = {NULL, WEIR_SHARE_DIR, NULL};
    if (conf_path) {
        folder_of(conf_path, conf_dir, sizeof conf_dir);
        dirs[API_STATIC_AT_CONFIG] = conf_dir;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        folder_of(exe, exe_dir, sizeof exe_dir);
        snprintf(exe_share, sizeof exe_share, "%s/%s", exe_dir, WEIR_BIN_TO_SHARE);
        char *real = realpath(exe_share, NULL); /* without "bin/..": for the log */
        if (real && strlen(real) < sizeof exe_share)
            memcpy(exe_share, real, strlen(real) + 1);
        free(real);
        dirs[API_STATIC_AT_EXE] = exe_share;
    }
    return api_static_resolve_root(root, dirs, out, outlen, at);
}

const char *api_static_at_name(api_static_at_t at)
{
    static const char *const names[] = {"the config file's folder", "the install's share folder",
                                        "the share folder next to the binary", "the working folder",
                                        "as configured"};
    return names[at];
}

void api_static_free(api_static_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free((char *)s->files[i].name);
        free((unsigned char *)s->files[i].data);
    }
    free(s->files);
    free(s);
}

const api_static_file_t *api_static_find(const api_static_t *s, const char *name)
{
    if (!s || !s->n)
        return NULL;
    api_static_file_t key = {.name = name};
    return bsearch(&key, s->files, s->n, sizeof *s->files, by_name);
}

size_t api_static_count(const api_static_t *s)
{
    return s ? s->n : 0;
}

size_t api_static_bytes(const api_static_t *s)
{
    return s ? s->bytes : 0;
}

/* ---- serving (tag dashboard) -------------------------------------------------- */

#define SECURITY_HEADERS                                                                           \
    "X-Content-Type-Options", "nosniff", "Referrer-Policy", "no-referrer", "X-Frame-Options",      \
        "DENY", "Content-Security-Policy",                                                         \
        "default-src 'self'; connect-src 'self' http: https: ws: wss:; "                           \
        "media-src 'self' blob:; worker-src 'self' blob:; img-src 'self' data:; style-src 'self'"

#define NO_CACHE "Cache-Control", "no-cache", "Vary", "Accept-Encoding"
#define IMMUTABLE "Cache-Control", "public, max-age=31536000, immutable", "Vary", "Accept-Encoding"
static const char *const HDRS_NO_CACHE[] = {NO_CACHE, SECURITY_HEADERS, NULL};
static const char *const HDRS_IMMUTABLE[] = {IMMUTABLE, SECURITY_HEADERS, NULL};
/* the same for the precompressed copy (<name>.gz, made by web/build.mjs) */
static const char *const HDRS_NO_CACHE_GZ[] = {NO_CACHE, "Content-Encoding", "gzip",
                                               SECURITY_HEADERS, NULL};
static const char *const HDRS_IMMUTABLE_GZ[] = {IMMUTABLE, "Content-Encoding", "gzip",
                                                SECURITY_HEADERS, NULL};

/* The loaded file a dashboard route names (its one path parameter), or NULL. */
static const api_static_file_t *named_file(const api_req_t *r, int asset)
{
    if (r->pp.nparams != 1)
        return NULL;
    char name[STATIC_NAME_MAX];
    if ((size_t)snprintf(name, sizeof name, "%s%s", asset ? "assets/" : "", r->pp.params[0]) >=
        sizeof name)
        return NULL;
    return api_static_find(r->api->web, name);
}

/* 1 if the request's Accept-Encoding names gzip, not with a weight of 0. */
static int accepts_gzip(const api_req_t *r)
{
    const char *ae = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Accept-Encoding");
    const char *p = ae ? strstr(ae, "gzip") : NULL;
    if (!p)
        return 0;
    p += 4;
    p += strspn(p, " ");
    if (*p != ';')
        return 1;
    p++;
    p += strspn(p, " ");
    if (strncasecmp(p, "q=", 2) != 0)
        return 1;
    return strtod(p + 2, NULL) > 0;
}

/* f, or its precompressed copy "<name>.gz" when one is loaded and the
 * client takes gzip (Content-Encoding: gzip, same type). HEAD is answered
 * by MHD from the same reply, without the body. */
static void serve(api_req_t *r, const api_static_file_t *f)
{
    char gz[STATIC_NAME_MAX];
    const api_static_file_t *z = NULL;
    if ((size_t)snprintf(gz, sizeof gz, "%s.gz", f->name) < sizeof gz && accepts_gzip(r))
        z = api_static_find(r->api->web, gz);
    if (z) {
        api_reply_headers(r, f->immutable ? HDRS_IMMUTABLE_GZ : HDRS_NO_CACHE_GZ);
        api_reply_static(r, 200, f->ctype, z->data, z->len);
        return;
    }
    api_reply_headers(r, f->immutable ? HDRS_IMMUTABLE : HDRS_NO_CACHE);
    api_reply_static(r, 200, f->ctype, f->data, f->len);
}

int api_dashboard_asset_exists(const api_req_t *r)
{
    return named_file(r, 1) != NULL;
}

int api_dashboard_file_exists(const api_req_t *r)
{
    return named_file(r, 0) != NULL;
}

void api_get_dashboard(api_req_t *r)
{
    const char *root = r->api->web_root;
    if (!r->api->node->conf.api_web_root[0]) {
        api_reply_error(r, 404, "not_found", "the node serves no dashboard (api.web_root is \"\")");
        return;
    }
    const api_static_file_t *f = api_static_find(r->api->web, "index.html");
    if (f) {
        serve(r, f);
        return;
    }
    static const char fmt[] = "dashboard not available: %s%s not found (api.web_root); build it "
                              "with `npm --prefix web run build` (or .ci/setup) and restart "
                              "the node\n";
    const char *what = r->api->web ? "/index.html" : "";
    int n = snprintf(NULL, 0, fmt, root, what);
    char *text = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (!text) {
        api_reply_json(r, 500, NULL);
        return;
    }
    snprintf(text, (size_t)n + 1, fmt, root, what);
    api_reply_headers(r, HDRS_NO_CACHE);
    api_reply_text(r, 503, "text/plain; charset=utf-8", text, (size_t)n);
}

void api_get_dashboard_asset(api_req_t *r)
{
    const api_static_file_t *f = named_file(r, 1);
    if (f)
        serve(r, f);
    else /* the route exists only for loaded names: not reached */
        api_reply_error(r, 404, "not_found", "no such file");
}

void api_get_dashboard_file(api_req_t *r)
{
    const api_static_file_t *f = named_file(r, 0);
    if (f)
        serve(r, f);
    else
        api_reply_error(r, 404, "not_found", "no such file");
}
