/* Fuzz target for hook_spec_from_json() (node/codec/hook_spec.c): the input is
 * JSON text (an API request body is network input), parsed by cJSON and
 * read as a hook. Checked: an accepted spec passes hook_spec_validate(), its
 * URL parses, both renderings are JSON that read back to the same spec (the
 * API one without the secret, which it never shows; tls_verify and tls_ca
 * included), and matching agrees
 * with the events given; a refusal leaves out untouched and has a
 * terminated message that starts with a field's path ("events[3]: ...",
 * "hook: ..." for a body that is not an object) or with the name of a member
 * of the body ("x: unknown field"). */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_spec_util.h"
#include "hook_spec.h"

static const char *const KNOWN[] = {"id",         "url",    "events",     "decide",
                                    "timeout_ms", "secret", "enabled",    "source",
                                    "secret_set", "hook",   "tls_verify", "tls_ca"};
static const char *const INDEXED[] = {"events[", "decide["};
static const unsigned INDEX_MAX[] = {UINT_MAX, UINT_MAX};
static const fuzz_spec_fields_t FIELDS = {KNOWN, sizeof KNOWN / sizeof KNOWN[0], INDEXED, INDEX_MAX,
                                          2};

static void check_accepted(const cJSON *j, hook_spec_t *s)
{
    char err[256];
    url_t u;
    if (s->source != HOOK_SRC_API || hook_spec_validate(s, err, sizeof err) != 0 ||
        hook_spec_url(s->url, &u, err, sizeof err) != 0 || u.path[0] != '/')
        abort();
    /* matching: a type the body listed is wanted */
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "events");
    const cJSON *e;
    cJSON_ArrayForEach(e, ev)
    {
        if (strcmp(e->valuestring, "*") != 0 && !hook_spec_wants(s, e->valuestring))
            abort();
    }
    if (!hook_spec_wants(s, HOOK_EVENT_TYPES[0]) && s->all_events)
        abort();
    if (!s->id[0])
        strcpy(s->id, "fz"); /* an id-less spec renders "id": "", which is refused */
    for (int storage = 0; storage < 2; storage++) {
        cJSON *r = storage ? hook_spec_to_storage_json(s) : hook_spec_to_json(s);
        /* the API rendering never holds the secret; storage's does */
        if (r && !cJSON_GetObjectItemCaseSensitive(r, "secret") != (!storage || !s->secret[0]))
            abort();
        cJSON *back = fuzz_spec_reparse(r);
        if (!back)
            return; /* out of memory */
        hook_spec_t t;
        if (hook_spec_from_json(back, &t, err, sizeof err) != 0)
            abort();
        cJSON_Delete(back);
        if (!storage)
            memcpy(t.secret, s->secret, sizeof t.secret);
        if (strcmp(t.id, s->id) || strcmp(t.url, s->url) || t.all_events != s->all_events ||
            t.events != s->events || t.decide != s->decide || t.timeout_ms != s->timeout_ms ||
            strcmp(t.secret, s->secret) || !t.enabled != !s->enabled ||
            !t.tls_verify != !s->tls_verify || strcmp(t.tls_ca, s->tls_ca))
            abort();
    }
}

static int read_hook(const cJSON *j, const void *ctx, void *out, char *err, size_t errlen)
{
    (void)ctx;
    return hook_spec_from_json(j, out, err, errlen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *j = fuzz_spec_parse(data, size);
    if (!j)
        return 0;
    hook_spec_t out;
    if (fuzz_spec_read(j, read_hook, NULL, &out, sizeof out, &FIELDS))
        check_accepted(j, &out);
    cJSON_Delete(j);
    return 0;
}
