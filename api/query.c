/* query: the request's query string: its parameters for the handlers
 * (api_query*(), declared in api_internal.h), and the check that it names
 * only parameters the operation accepts (api_op_t.query).
 * Everything here runs on the loop thread (inside MHD's callbacks). */
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "api_internal.h"
#include "parse.h"

const char *api_query(api_req_t *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

int api_query_u64(api_req_t *r, const char *key, uint64_t def, uint64_t min, uint64_t max,
                  uint64_t *out)
{
    const char *v = api_query(r, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (api_parse_u64(v, min, max, out) != 0) {
        api_reply_error(r, 400, "invalid_field", "%s: expected an integer from %llu to %llu", key,
                        (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    return 0;
}

/* 1 if names (NULL-terminated, or NULL: none) holds name. */
static int name_listed(const char *const *names, const char *name)
{
    for (size_t i = 0; names && names[i]; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

/* names (NULL-terminated, or NULL) as "a, b, c" in buf (cut to fit). */
static const char *names_joined(const char *const *names, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; names && names[i]; i++)
        n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", i ? ", " : "", names[i]);
    return buf;
}

int api_query_enum(api_req_t *r, const char *key, const char *const *vals, const char **out)
{
    const char *v = api_query(r, key);
    *out = v;
    if (!v || name_listed(vals, v))
        return 0;
    char list[160];
    api_reply_error(r, 400, "invalid_field", "%s: expected one of %s", key,
                    names_joined(vals, list, sizeof list));
    return -1;
}

/* MHD_KeyValueIterator over the query string: refuses (and stops at) the
 * first name the operation does not accept. */
static enum MHD_Result query_name_known(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
    (void)kind;
    (void)value;
    api_req_t *r = cls;
    if (name_listed(r->op->query, key))
        return MHD_YES;
    char known[128];
    names_joined(r->op->query, known, sizeof known);
    api_reply_error(r, 400, "invalid_field", "%.64s: unknown query parameter (%s%s)", key,
                    known[0] ? "known: " : "none is known here", known);
    return MHD_NO;
}

void api_query_check(api_req_t *r)
{
    if (r->op->query != API_QUERY_ANY)
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_name_known, r);
}
