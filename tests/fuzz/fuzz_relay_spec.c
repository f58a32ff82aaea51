/* Fuzz target for relay_spec_from_json() (node/codec/relay_spec.c): the input is
 * JSON text, parsed by cJSON and read as a new relay (base NULL) and as a
 * PATCH of a fixed config-file relay. Checked: an accepted spec passes
 * relay_spec_validate(), keeps the right source, renders and reads back to
 * an equal spec, and gives a URL for each of its URLs; a refusal leaves out
 * untouched and has a terminated message that starts with a field's path
 * ("urls[3]: ...", "relay: ..." for a body that is not an object) or with
 * the name of a member of the body ("x: unknown field"). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_spec_util.h"
#include "relay_spec.h"

static const char *const KNOWN[] = {"id",
                                    "direction",
                                    "app",
                                    "name",
                                    "urls",
                                    "mode",
                                    "idle_timeout_s",
                                    "retry_initial_ms",
                                    "retry_max_ms",
                                    "silence_timeout_ms",
                                    "failback",
                                    "enabled",
                                    "tls_verify",
                                    "tls_ca",
                                    "source",
                                    "relay"};
static const char *const INDEXED[] = {"urls["};
static const unsigned INDEX_MAX[] = {RELAY_URLS_MAX};
static const fuzz_spec_fields_t FIELDS = {KNOWN, sizeof KNOWN / sizeof KNOWN[0], INDEXED, INDEX_MAX,
                                          1};

static int spec_equal(const relay_spec_t *a, const relay_spec_t *b)
{
    if (strcmp(a->id, b->id) || a->direction != b->direction || strcmp(a->app, b->app) ||
        strcmp(a->name, b->name) || a->nurls != b->nurls || a->mode != b->mode ||
        a->idle_timeout_s != b->idle_timeout_s || a->retry_initial_ms != b->retry_initial_ms ||
        a->retry_max_ms != b->retry_max_ms || a->silence_timeout_ms != b->silence_timeout_ms ||
        !a->failback != !b->failback || !a->enabled != !b->enabled || a->source != b->source ||
        !a->tls_verify != !b->tls_verify || strcmp(a->tls_ca, b->tls_ca))
        return 0;
    for (unsigned i = 0; i < a->nurls; i++)
        if (strcmp(a->urls[i], b->urls[i]))
            return 0;
    return 1;
}

/* s was accepted: check it and its round trip (base NULL for API relays,
 * base = s for others, as the source rule requires). */
static void check_accepted(relay_spec_t *s, relay_source_t want_source)
{
    char err[256];
    if (s->source != want_source || relay_spec_validate(s, err, sizeof err) != 0)
        abort();
    if (!s->id[0])
        strcpy(s->id, "fz"); /* an id-less spec renders "id": "", which is refused */
    cJSON *back = fuzz_spec_reparse(relay_spec_to_json(s));
    if (!back)
        return; /* out of memory */
    relay_spec_t t;
    if (relay_spec_from_json(back, s->source == RELAY_SRC_API ? NULL : s, &t, err, sizeof err) !=
            0 ||
        !spec_equal(s, &t))
        abort();
    cJSON_Delete(back);

    char url[RELAY_URL_MAX + STREAM_NAME_MAX + 8];
    for (unsigned i = 0; i < s->nurls; i++) {
        if (relay_spec_url_for(s, i, "cam-1", url, sizeof url) != 0)
            abort();
        if (strcmp(s->name, "*") != 0 && strcmp(url, s->urls[i]) != 0)
            abort();
        if (strcmp(s->name, "*") == 0 && strncmp(url, s->urls[i], strlen(s->urls[i])) != 0)
            abort();
    }
    if (relay_spec_url_for(s, s->nurls, "cam-1", url, sizeof url) != -1)
        abort();
    if (!relay_spec_matches(s, s->app, strcmp(s->name, "*") ? s->name : "any"))
        abort();
}

static int read_relay(const cJSON *j, const void *base, void *out, char *err, size_t errlen)
{
    return relay_spec_from_json(j, base, out, err, errlen);
}

static void one(const cJSON *j, const relay_spec_t *base)
{
    relay_spec_t out;
    if (fuzz_spec_read(j, read_relay, base, &out, sizeof out, &FIELDS))
        check_accepted(&out, base ? base->source : RELAY_SRC_API);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *j = fuzz_spec_parse(data, size);
    if (!j)
        return 0;
    one(j, NULL);

    relay_spec_t base;
    relay_spec_defaults(&base);
    strcpy(base.id, "cfg-1");
    base.direction = RELAY_PULL;
    strcpy(base.app, "live");
    strcpy(base.name, "*");
    strcpy(base.urls[0], "rtmp://origin.example:1935/live");
    strcpy(base.urls[1], "http://[::1]:8080/live");
    base.nurls = 2;
    base.mode = RELAY_MODE_ON_DEMAND;
    base.source = RELAY_SRC_CONFIG;
    char err[128];
    if (relay_spec_validate(&base, err, sizeof err) != 0)
        abort();
    one(j, &base);
    cJSON_Delete(j);
    return 0;
}
