/* Unit tests of the dashboard's file store (api/static.c): loading a temp
 * folder (root and assets/ only, no dotfiles, no deeper folders), the bounds
 * on count and size, a missing root, content types, hashed names, and
 * lookups of names that were not loaded ("..", other folders); where a
 * relative api.web_root is looked for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "static.h"

/* ---- a temp folder --------------------------------------------------------- */

static void put(const char *root, const char *name, const char *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void put_str(const char *root, const char *name, const char *text)
{
    put(root, name, text, strlen(text));
}

static void mkdir_in(const char *root, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, name);
    assert_int_equal(mkdir(path, 0755), 0);
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup_dir(void **state)
{
    char *dir = strdup("/tmp/weir_static_test.XXXXXX");
    if (!dir || !mkdtemp(dir)) {
        free(dir);
        return -1;
    }
    *state = dir;
    return 0;
}

static int teardown_dir(void **state)
{
    char *dir = *state;
    int rc = nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
    return rc;
}

/* A built dashboard as W1's build writes it, plus what must not be served. */
static void make_dist(const char *root)
{
    put_str(root, "index.html", "<!doctype html><title>weir</title>");
    put_str(root, "favicon.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>");
    put_str(root, ".hidden", "secret");
    put(root, "empty.txt", "", 0);
    mkdir_in(root, "assets");
    put_str(root, "assets/app-5XQ2M7KD.js", "console.log(1)");
    put_str(root, "assets/app.css", "body{}");
    put_str(root, "assets/.map-cache", "x");
    mkdir_in(root, "assets/deep");
    put_str(root, "assets/deep/x.js", "deep");
    mkdir_in(root, "other");
    put_str(root, "other/y.js", "other");
}

/* ---- loading ------------------------------------------------------------------ */

static void test_load_serves_root_and_assets_only(void **state)
{
    const char *root = *state;
    make_dist(root);
    api_static_t *s = NULL;
    char err[256] = "";
    assert_int_equal(api_static_load(root, 256, 1 << 20, &s, err, sizeof err), API_STATIC_OK);
    assert_non_null(s);
    /* index.html, favicon.svg, empty.txt, assets/app-5XQ2M7KD.js, assets/app.css */
    assert_int_equal(api_static_count(s), 5);
    assert_int_equal(api_static_bytes(s), 34 + 41 + 0 + 14 + 6);

    const api_static_file_t *f = api_static_find(s, "index.html");
    assert_non_null(f);
    assert_string_equal(f->name, "index.html");
    assert_int_equal(f->len, 34);
    assert_memory_equal(f->data, "<!doctype html><title>weir</title>", 34);
    assert_string_equal(f->ctype, "text/html; charset=utf-8");
    assert_false(f->immutable);

    f = api_static_find(s, "assets/app-5XQ2M7KD.js");
    assert_non_null(f);
    assert_memory_equal(f->data, "console.log(1)", 14);
    assert_string_equal(f->ctype, "text/javascript; charset=utf-8");
    assert_true(f->immutable); /* a hashed asset */

    f = api_static_find(s, "assets/app.css");
    assert_non_null(f);
    assert_string_equal(f->ctype, "text/css; charset=utf-8");
    assert_false(f->immutable);

    f = api_static_find(s, "favicon.svg");
    assert_non_null(f);
    assert_string_equal(f->ctype, "image/svg+xml");

    f = api_static_find(s, "empty.txt");
    assert_non_null(f);
    assert_int_equal(f->len, 0);

    api_static_free(s);
}

static void test_unknown_names_are_not_found(void **state)
{
    const char *root = *state;
    make_dist(root);
    api_static_t *s = NULL;
    char err[256];
    assert_int_equal(api_static_load(root, 256, 1 << 20, &s, err, sizeof err), API_STATIC_OK);
    static const char *const absent[] = {
        "",                         /* nothing */
        "nope.js",                  /* never there */
        "app.css",                  /* an asset by its bare name */
        "assets/index.html",        /* a root file under assets/ */
        ".hidden",                  /* dotfiles are not loaded */
        "assets/.map-cache",        /* neither in assets/ */
        "assets/deep/x.js",         /* deeper folders are not loaded */
        "other/y.js",               /* nor other folders */
        "assets",                   /* a folder is not a file */
        "../index.html",            /* no traversal: names are looked up as given */
        "assets/../index.html",     /* */
        "./index.html",             /* */
        "assets/./app.css",         /* */
        "/index.html",              /* */
        "INDEX.HTML",               /* exact names */
        "index.html/",              /* */
        "index.html\n",             /* */
        "../../../../../etc/passwd" /* */
    };
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        if (api_static_find(s, absent[i]))
            fail_msg("'%s' was found", absent[i]);
    }
    api_static_free(s);
    /* nothing loaded */
    assert_null(api_static_find(NULL, "index.html"));
    assert_int_equal(api_static_count(NULL), 0);
    assert_int_equal(api_static_bytes(NULL), 0);
    api_static_free(NULL);
}

static void test_missing_root_and_not_a_folder(void **state)
{
    const char *root = *state;
    char path[1024], err[256];
    api_static_t *s = (api_static_t *)&s; /* must be reset */
    snprintf(path, sizeof path, "%s/not-built", root);
    assert_int_equal(api_static_load(path, 256, 1 << 20, &s, err, sizeof err), API_STATIC_MISSING);
    assert_null(s);

    /* a root without assets/ is fine */
    put_str(root, "index.html", "x");
    assert_int_equal(api_static_load(root, 256, 1 << 20, &s, err, sizeof err), API_STATIC_OK);
    assert_int_equal(api_static_count(s), 1);
    api_static_free(s);

    /* an empty folder loads nothing (GET / then says index.html is missing) */
    mkdir_in(root, "empty");
    snprintf(path, sizeof path, "%s/empty", root);
    assert_int_equal(api_static_load(path, 256, 1 << 20, &s, err, sizeof err), API_STATIC_OK);
    assert_int_equal(api_static_count(s), 0);
    assert_null(api_static_find(s, "index.html"));
    api_static_free(s);

    /* a file where the folder should be */
    snprintf(path, sizeof path, "%s/index.html", root);
    s = (api_static_t *)&s;
    assert_int_equal(api_static_load(path, 256, 1 << 20, &s, err, sizeof err), API_STATIC_ERR);
    assert_null(s);
    assert_non_null(strstr(err, path));
}

static void test_count_bound(void **state)
{
    const char *root = *state;
    api_static_t *s = NULL;
    char err[256], name[32];
    mkdir_in(root, "assets");
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%sf%d.js", i % 2 ? "assets/" : "", i);
        put_str(root, name, "x");
    }
    /* exactly at the bound */
    assert_int_equal(api_static_load(root, 4, 1 << 20, &s, err, sizeof err), API_STATIC_OK);
    assert_int_equal(api_static_count(s), 4);
    api_static_free(s);
    /* one over */
    s = (api_static_t *)&s;
    assert_int_equal(api_static_load(root, 3, 1 << 20, &s, err, sizeof err), API_STATIC_ERR);
    assert_null(s);
    assert_non_null(strstr(err, "more than 3 files"));
    assert_non_null(strstr(err, root));
}

static void test_size_bound(void **state)
{
    const char *root = *state;
    api_static_t *s = NULL;
    char err[256];
    static char big[3000];
    memset(big, 'a', sizeof big);
    put(root, "index.html", big, 1000);
    mkdir_in(root, "assets");
    put(root, "assets/app.js", big, 3000);
    /* exactly at the bound */
    assert_int_equal(api_static_load(root, 256, 4000, &s, err, sizeof err), API_STATIC_OK);
    assert_int_equal(api_static_bytes(s), 4000);
    api_static_free(s);
    /* one byte over, in all */
    assert_int_equal(api_static_load(root, 256, 3999, &s, err, sizeof err), API_STATIC_ERR);
    assert_null(s);
    assert_non_null(strstr(err, "more than 3999 bytes"));
    /* one file alone over the bound */
    assert_int_equal(api_static_load(root, 256, 2000, &s, err, sizeof err), API_STATIC_ERR);
    assert_non_null(strstr(err, "more than 2000 bytes"));
    assert_non_null(strstr(err, "app.js"));
}

/* ---- names -------------------------------------------------------------------- */

static void test_content_types(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"index.html", "text/html; charset=utf-8"},
        {"a.htm", "text/html; charset=utf-8"},
        {"assets/app.js", "text/javascript; charset=utf-8"},
        {"m.mjs", "text/javascript; charset=utf-8"},
        {"APP.JS", "text/javascript; charset=utf-8"},
        {"app.css", "text/css; charset=utf-8"},
        {"favicon.svg", "image/svg+xml"},
        {"logo.png", "image/png"},
        {"favicon.ico", "image/x-icon"},
        {"manifest.json", "application/json"},
        {"app.js.map", "application/json"},
        {"font.woff2", "font/woff2"},
        {"robots.txt", "text/plain; charset=utf-8"},
        {"archive.tar.gz", "application/octet-stream"},
        {"Makefile", "application/octet-stream"},
        {"trailing.", "application/octet-stream"},
        {"dir.js/file", "application/octet-stream"},
        {"", "application/octet-stream"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = api_static_content_type(cases[i][0]);
        if (strcmp(got, cases[i][1]) != 0)
            fail_msg("%s: %s, want %s", cases[i][0], got, cases[i][1]);
    }
}

static void test_hashed_names(void **state)
{
    (void)state;
    static const char *const hashed[] = {"app-5XQ2M7KD.js", "app-ABCDEFG1.css",
                                         "chunk.3f9a1c0e.js", "x-0123456789abcdef.js",
                                         "uplot-12345678.css"};
    static const char *const plain[] = {
        "app.js",          /* no hash */
        "app-ABCDEFGH.js", /* no digit: a word, not a hash */
        "app-5XQ2M7K.js",  /* 7 characters */
        "app-5xQ2M7KD.js", /* mixed case */
        "app-3f9a1c0g.js", /* not hex */
        "5XQ2M7KD.js",     /* no stem */
        "-5XQ2M7KD.js",    /* empty stem */
        "app-5XQ2M7KD",    /* no extension */
        "",
    };
    for (size_t i = 0; i < sizeof hashed / sizeof hashed[0]; i++)
        if (!api_static_is_hashed(hashed[i]))
            fail_msg("%s: not taken as hashed", hashed[i]);
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (api_static_is_hashed(plain[i]))
            fail_msg("%s: taken as hashed", plain[i]);
}

/* ---- where a relative api.web_root is ---------------------------------------- */

/* The first of the config folder, the share folder and the one next to the
 * binary that holds root; else root itself (the working folder); absolute
 * and "" as they are. */
static void test_resolve_root_order(void **state)
{
    const char *tmp = *state;
    mkdir_in(tmp, "conf");
    mkdir_in(tmp, "share");
    mkdir_in(tmp, "share/web");
    mkdir_in(tmp, "exe");
    mkdir_in(tmp, "exe/web");
    put_str(tmp, "conf/web", "a file, not a folder");
    char conf[512], share[512], exe[512], out[1024], want[1024];
    snprintf(conf, sizeof conf, "%s/conf", tmp);
    snprintf(share, sizeof share, "%s/share", tmp);
    snprintf(exe, sizeof exe, "%s/exe", tmp);
    api_static_at_t at;

    const char *dirs[API_STATIC_AT_CWD] = {conf, share, exe};
    assert_int_equal(api_static_resolve_root("web", dirs, out, sizeof out, &at), 0);
    snprintf(want, sizeof want, "%s/share/web", tmp);
    assert_string_equal(out, want); /* conf/web is a file: skipped */
    assert_int_equal(at, API_STATIC_AT_SHARE);

    mkdir_in(tmp, "conf/dist");
    mkdir_in(tmp, "exe/dist");
    assert_int_equal(api_static_resolve_root("dist", dirs, out, sizeof out, &at), 0);
    snprintf(want, sizeof want, "%s/conf/dist", tmp);
    assert_string_equal(out, want); /* the config folder first */
    assert_int_equal(at, API_STATIC_AT_CONFIG);

    const char *no_conf[API_STATIC_AT_CWD] = {NULL, "/nonexistent/share", exe};
    assert_int_equal(api_static_resolve_root("dist", no_conf, out, sizeof out, &at), 0);
    snprintf(want, sizeof want, "%s/exe/dist", tmp);
    assert_string_equal(out, want);
    assert_int_equal(at, API_STATIC_AT_EXE);

    assert_int_equal(api_static_resolve_root("web/dist", dirs, out, sizeof out, &at), 0);
    assert_string_equal(out, "web/dist"); /* nowhere: the working folder, as before */
    assert_int_equal(at, API_STATIC_AT_CWD);

    assert_int_equal(api_static_resolve_root(share, dirs, out, sizeof out, &at), 0);
    assert_string_equal(out, share);
    assert_int_equal(at, API_STATIC_AT_AS_IS);
    assert_int_equal(api_static_resolve_root("", dirs, out, sizeof out, &at), 0);
    assert_string_equal(out, "");
    assert_int_equal(at, API_STATIC_AT_AS_IS);

    char small[8];
    assert_int_equal(api_static_resolve_root("web/dist", dirs, small, sizeof small, &at), -1);
    assert_string_equal(api_static_at_name(API_STATIC_AT_EXE), "the share folder next to the binary");
}

/* The node's own dirs: the config file's folder comes first. */
static void test_find_root_uses_the_config_folder(void **state)
{
    const char *tmp = *state;
    mkdir_in(tmp, "webroot");
    char conf[512], out[1024], want[1024];
    snprintf(conf, sizeof conf, "%s/weir.json", tmp);
    api_static_at_t at;
    assert_int_equal(api_static_find_root("webroot", conf, out, sizeof out, &at), 0);
    snprintf(want, sizeof want, "%s/webroot", tmp);
    assert_string_equal(out, want);
    assert_int_equal(at, API_STATIC_AT_CONFIG);
    assert_int_equal(api_static_find_root("webroot", NULL, out, sizeof out, &at), 0);
    assert_string_equal(out, "webroot");
    assert_int_equal(at, API_STATIC_AT_CWD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_serves_root_and_assets_only, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_unknown_names_are_not_found, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_missing_root_and_not_a_folder, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_count_bound, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_size_bound, setup_dir, teardown_dir),
        cmocka_unit_test(test_content_types),
        cmocka_unit_test(test_hashed_names),
        cmocka_unit_test_setup_teardown(test_resolve_root_order, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_find_root_uses_the_config_folder, setup_dir,
                                        teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
