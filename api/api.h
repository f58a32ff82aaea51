/* api: the REST control API (openapi.yaml), served by libmicrohttpd on
 * `api.listen`.
 *
 * libmicrohttpd runs inside the node's libevent loop: it is started without
 * a thread of its own, in epoll mode, and its epoll fd is a libevent event;
 * a timer follows MHD_get_timeout(). So every handler runs on the loop
 * thread and reads the media plane directly, with no locks and no copies
 * across threads. Storage reads and durable writes are asynchronous: the
 * request is suspended until the storage thread's answer comes back to the
 * loop (storage.h), and resumed with its response.
 */
#ifndef WEIR_API_H
#define WEIR_API_H

#include <stddef.h>

#include "node.h"

typedef struct api api_t;

/* Binds api.listen and starts serving on node's loop. Returns NULL with a
 * message in err (bad address, port in use). node->st may be NULL (the
 * event routes then answer 503). */
api_t *api_new(node_t *node, char *err, size_t errlen);
/* Answers or drops pending requests and stops. NULL is a no-op. Call before
 * storage_close() (suspended requests wait for storage callbacks). */
void api_free(api_t *api);

/* What the node was built as and with (GET /api/v1/version's "build",
 * weir --version): static strings, compiler NULL when unknown; the
 * libraries' versions as linked at run time. Any thread. */
typedef struct {
    const char *type; /* CMAKE_BUILD_TYPE, "" for none */
    const char *compiler;
    const char *libevent, *libmicrohttpd, *openssl;
    const char *share_dir; /* the install's share folder, compiled in (static.h) */
} api_build_t;
void api_build_info(api_build_t *b);

/* 1 if host (the host part of a listen address) is a loopback address:
 * 127.0.0.0/8, ::1, "localhost". The node refuses a non-loopback API
 * without api.token. */
int api_host_is_loopback(const char *host);

#endif
