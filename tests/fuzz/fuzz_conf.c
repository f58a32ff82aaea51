/* Fuzz target for the configuration loader, conf_load_json() (conf/conf.c):
 * the input is a config file's text. Checked: a refusal leaves a terminated,
 * non-empty message; an accepted config has every string terminated inside
 * its buffer, listen addresses that split into host and port, a log level
 * the logger knows, and "relays"/"hooks" kept as JSON arrays that parse
 * again. Loading the same text twice gives the same answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "conf.h"
#include "log.h"

#define FUZZ_MAX_BYTES (256u << 10)

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

static void check_listen(const char *s)
{
    char host[CONF_LISTEN_MAX];
    uint16_t port;
    if (conf_parse_listen(s, host, sizeof host, &port) != 0)
        abort();
}

static void check_array(const char *json)
{
    if (!json[0])
        return;
    cJSON *a = cJSON_Parse(json);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1)
        abort();
    cJSON_Delete(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_BYTES)
        return 0;
    static conf_t c1, c2; /* large: not on the stack */
    char err1[512], err2[512];
    memset(err1, 'x', sizeof err1);
    conf_defaults(&c1);
    conf_defaults(&c2);
    int rc1 = conf_load_json(&c1, (const char *)data, size, err1, sizeof err1);
    int rc2 = conf_load_json(&c2, (const char *)data, size, err2, sizeof err2);
    if (rc1 != rc2)
        abort();
    if (rc1 != 0) {
        if (rc1 != -1 || !memchr(err1, '\0', sizeof err1) || !err1[0] || strcmp(err1, err2) != 0)
            abort();
        return 0;
    }
    if (!TERMINATED(c1.rtmp_listen) || !TERMINATED(c1.http_flv_listen) ||
        !TERMINATED(c1.api_listen) || !TERMINATED(c1.api_token) ||
        !TERMINATED(c1.api_web_root) || !TERMINATED(c1.storage_path) ||
        !TERMINATED(c1.log_level) || !TERMINATED(c1.log_file) ||
        !TERMINATED(c1.http_flv_cors_origin) || !TERMINATED(c1.relays_json) ||
        !TERMINATED(c1.hooks_json))
        abort();
    check_listen(c1.rtmp_listen);
    check_listen(c1.http_flv_listen);
    check_listen(c1.api_listen);
    log_level_t lvl;
    if (log_level_parse(c1.log_level, &lvl) != 0)
        abort();
    check_array(c1.relays_json);
    check_array(c1.hooks_json);
    if (strcmp(c1.relays_json, c2.relays_json) != 0 || strcmp(c1.hooks_json, c2.hooks_json) != 0 ||
        strcmp(c1.api_listen, c2.api_listen) != 0 || c1.rtmp_chunk_size != c2.rtmp_chunk_size)
        abort();
    return 0;
}
