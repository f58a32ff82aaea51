/* static: the dashboard's files (api.web_root, built from web/ by
 * `npm --prefix web run build`), read once at start into memory and served
 * from there by the public routes GET /, GET /assets/{file} and GET /{file}
 * (api/http.c). Requests never touch the filesystem: only the names loaded
 * at start exist, so no request path can reach anything else.
 *
 * What is loaded: every regular file directly in the root and directly in
 * root/assets/ (no deeper folders; names starting with '.' are skipped),
 * bounded in count and in total size. The store is owned by api_t, built
 * before the API serves and freed after it stops; it is read-only meanwhile.
 * Threads: loaded and served on the loop thread (libmicrohttpd runs in it).
 */
#ifndef WEIR_API_STATIC_H
#define WEIR_API_STATIC_H

#include <stddef.h>

#define API_STATIC_MAX_FILES 256          /* files loaded at most */
#define API_STATIC_MAX_BYTES (16u << 20) /* their sizes added up, at most */

typedef struct api_static api_static_t;

typedef struct {
    const char *name;          /* "index.html", "assets/app.js" */
    const unsigned char *data; /* the file's bytes, owned by the store */
    size_t len;
    const char *ctype; /* by extension: api_static_content_type() */
    int immutable;     /* a content-hashed asset name: cached for a year */
} api_static_file_t;

/* api_static_load() results. */
#define API_STATIC_OK 0
#define API_STATIC_MISSING 1 /* root does not exist: no store, not an error */
#define API_STATIC_ERR (-1)

/* Reads root (and root/assets) into a new store. Returns API_STATIC_OK with
 * *out set; API_STATIC_MISSING with *out NULL when root does not exist; or
 * API_STATIC_ERR with *out NULL and a message in err naming root and the
 * file (over max_files files or max_bytes bytes, a root that is not a
 * directory, a file that cannot be read). */
int api_static_load(const char *root, size_t max_files, size_t max_bytes, api_static_t **out,
                    char *err, size_t errlen);
/* NULL is a no-op. */
void api_static_free(api_static_t *s);

/* The install's share folder (CMake defines it: CMAKE_INSTALL_FULL_DATADIR
 * + "/weir") and the same relative to the binary's folder (bin ->
 * ../share/weir, from CMAKE_INSTALL_BINDIR and _DATADIR). */
#ifndef WEIR_SHARE_DIR
#define WEIR_SHARE_DIR "/usr/local/share/weir"
#endif
#ifndef WEIR_BIN_TO_SHARE
#define WEIR_BIN_TO_SHARE "../share/weir"
#endif

/* Where a relative api.web_root is looked for (README "Install"), in order. */
typedef enum {
    API_STATIC_AT_CONFIG, /* the config file's folder (none without -c) */
    API_STATIC_AT_SHARE,  /* the install's share folder, compiled in: <datadir>/weir */
    API_STATIC_AT_EXE,    /* <the binary's folder>/../share/weir: a tree staged
                             with DESTDIR, or installed with --prefix elsewhere */
    API_STATIC_AT_CWD,    /* the working folder (what the node did before) */
    API_STATIC_AT_AS_IS,  /* root is absolute or "" */
} api_static_at_t;

/* The folder root names: root itself when absolute or ""; otherwise
 * "<dir>/<root>" for the first dirs[at] (at < API_STATIC_AT_CWD; NULL
 * entries skipped) under which it is a folder, or root itself (the working
 * folder) when none is. Copied into out; *at says which. Returns 0, or -1
 * when out is too small. Reads the filesystem (stat). */
int api_static_resolve_root(const char *root, const char *const dirs[API_STATIC_AT_CWD], char *out,
                            size_t outlen, api_static_at_t *at);
/* The same with the node's dirs: the folder of conf_path (NULL: no config
 * file), the compiled-in share folder and the one next to /proc/self/exe. */
int api_static_find_root(const char *root, const char *conf_path, char *out, size_t outlen,
                         api_static_at_t *at);
/* "the config file's folder", ... for a log line. */
const char *api_static_at_name(api_static_at_t at);

/* The loaded file called name ("index.html", "assets/app.js": exactly as
 * loaded, no normalisation), or NULL. s may be NULL (nothing loaded). */
const api_static_file_t *api_static_find(const api_static_t *s, const char *name);
/* Files loaded and their total size (0 for NULL). */
size_t api_static_count(const api_static_t *s);
size_t api_static_bytes(const api_static_t *s);

/* The Content-Type for a file name, by its extension (case-insensitive):
 * html, js/mjs, css, svg, png, ico, json, map, woff2, txt; anything else
 * application/octet-stream. Never NULL. */
const char *api_static_content_type(const char *name);
/* 1 if name (a file name without folder) carries a content hash as built
 * by esbuild's "[name]-[hash]": a stem ending in '-' or '.' and at least 8
 * characters of [A-Z0-9] or of [a-f0-9] with at least one digit
 * ("app-5XQ2M7KD.js", "app.3f9a1c0e.css"). */
int api_static_is_hashed(const char *name);

#endif
