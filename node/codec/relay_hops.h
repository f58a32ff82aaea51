/* relay_hops: the bounds of relay loop protection on the wire, shared by
 * the server sessions that read it (X-Weir-Hops and X-Weir-Via headers,
 * the RTMP hops/via query) and the relay links that send it: the via list
 * of node ids and the error text a refusal carries. Constants only; layer
 * codec, usable from any thread. */
#ifndef WEIR_RELAY_HOPS_H
#define WEIR_RELAY_HOPS_H

#define RELAY_VIA_MAX 1024 /* comma-separated node ids, with its NUL */
#define RELAY_ERR_MAX 256

#endif
