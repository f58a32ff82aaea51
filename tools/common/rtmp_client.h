/* rtmp_client: a small blocking RTMP client for tools and tests.
 *
 * Plain sockets: every call that waits does so with poll() against a
 * deadline and returns on timeout; nothing blocks forever. It is not for the
 * event loop. The protocol (control, command sequence, Acknowledgements) is
 * the node's pure client state machine, rtmp_proto_client.h, which the
 * relay links and weir-bench run too; this file adds sockets, waits and a
 * media queue.
 *
 * One client plays or publishes one stream, like FFmpeg's rtmp protocol:
 *   rtmp_client_connect()  TCP, handshake, Set Chunk Size 4096, connect,
 *                          createStream;
 *   rtmp_client_publish()  releaseStream, FCPublish, publish(name, "live"),
 *                          then rtmp_client_send() media;
 *   rtmp_client_play()     play(name, -2), then rtmp_client_read() media;
 *   rtmp_client_close().
 * Protocol control (Set Chunk Size, Abort, Window Acknowledgement Size, Set
 * Peer Bandwidth, User Control ping) is answered internally, and
 * Acknowledgements are sent per the server's window. onStatus codes are
 * recorded (rtmp_client_last_status()).
 *
 * Bounds: a message over RTMP_CLIENT_MAX_MESSAGE bytes is an error; media
 * that arrives before rtmp_client_read() asks for it (during a command
 * wait, or the parts of an aggregate message) is held in a queue of at most
 * RTMP_CLIENT_MAX_PENDING messages and RTMP_CLIENT_MAX_PENDING_BYTES bytes,
 * and overflowing it is an error; a publisher drops media the server sends
 * (nobody reads it). The input buffer is fixed; the output buffer grows to
 * the largest message sent. Host names are resolved with getaddrinfo(),
 * which is not bounded by the timeout.
 *
 * Errors: functions return 0 or a negative NODE_E* (common.h); the text is
 * in the caller's err buffer or in rtmp_client_error().
 * Threads: a client belongs to the thread that connected it; clients on
 * different threads share nothing.
 */
#ifndef WEIR_RTMP_CLIENT_H
#define WEIR_RTMP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "rtmp_chunk.h"
#include "url.h"

#define RTMP_CLIENT_ERR_MAX 256    /* error text kept by a client */
#define RTMP_CLIENT_STATUS_MAX 128 /* onStatus code kept by a client */
#define RTMP_CLIENT_MAX_MESSAGE (8u * 1024 * 1024)
#define RTMP_CLIENT_MAX_PENDING 256
#define RTMP_CLIENT_MAX_PENDING_BYTES (16u * 1024 * 1024)
#define RTMP_CLIENT_CHUNK_SIZE 4096 /* outgoing chunk size announced after the handshake */

/* Chunk stream ids of outgoing media, as FFmpeg and OBS use them. */
enum { RTMP_CLIENT_CSID_AUDIO = 4, RTMP_CLIENT_CSID_DATA = 5, RTMP_CLIENT_CSID_VIDEO = 6 };

typedef struct rtmp_client rtmp_client_t;

/* Connects to url and gets a stream id: TCP connect, handshake (complex: a
 * digest C1 as Flash Player sends; 0: the simple scheme), Set Chunk Size
 * RTMP_CLIENT_CHUNK_SIZE, connect(app, tcUrl, flashVer, type nonprivate,
 * objectEncoding 0), wait for _result, createStream, wait for its _result.
 * The whole sequence must finish within timeout_ms (> 0), which also
 * becomes the client's timeout for rtmp_client_send() and
 * rtmp_client_close(). Returns the client, or NULL with a message in err
 * (bad URL, resolution, refused, timeout, handshake,
 * "connect rejected: NetConnection.Connect.Rejected (...)").
 * The caller frees it with rtmp_client_close(). */
rtmp_client_t *rtmp_client_connect(const char *url, int timeout_ms, int complex_handshake,
                                   char *err, size_t errlen);

/* Publishes the URL's stream name (mode "live") and waits up to timeout_ms
 * for onStatus NetStream.Publish.Start. Returns 0; NODE_EBUSY when the
 * server refuses (an error-level status, or an _error reply), with err
 * naming the code, e.g. "publish refused: NetStream.Publish.BadName (Stream
 * already publishing.)"; NODE_EIO on timeout or a lost connection;
 * NODE_EPROTO, NODE_ELIMIT or NODE_ENOMEM; NODE_EINVAL if the client
 * already plays or publishes. Call once. */
int rtmp_client_publish(rtmp_client_t *c, int timeout_ms, char *err, size_t errlen);

/* Plays the URL's stream name (start -2: live or recorded), sends Set
 * Buffer Length 3000 ms, and waits up to timeout_ms for onStatus
 * NetStream.Play.Start (a server may hold it until a publisher arrives;
 * NetStream.Play.Reset and other statuses are passed over). Returns 0;
 * NODE_ENOTFOUND when the server refuses, with err naming the code, e.g.
 * "play refused: NetStream.Play.StreamNotFound (No such stream.)"; the other
 * codes as for rtmp_client_publish(). Call once. */
int rtmp_client_play(rtmp_client_t *c, int timeout_ms, char *err, size_t errlen);

/* Sends one message on the client's stream: type 8 audio (csid 4), 9 video
 * (csid 6) or 18 data (csid 5), fmt 0 chunks at the outgoing chunk size, ts
 * in ms. What the server sent meanwhile is processed first, without waiting
 * (acknowledgements, pings, onStatus codes). Waits at most the client's
 * timeout for the socket. Returns 0, or NODE_EINVAL (other type, len over
 * RTMP_CLIENT_MAX_MESSAGE), NODE_EIO (connection lost, timeout),
 * NODE_EPROTO, NODE_ELIMIT or NODE_ENOMEM; rtmp_client_error() says why. */
int rtmp_client_send(rtmp_client_t *c, uint8_t type, uint32_t ts, const uint8_t *payload,
                     uint32_t len);

/* Result of rtmp_client_read(). */
typedef enum {
    RTMP_CLIENT_MESSAGE = 1, /* *out holds an audio, video or data message */
    RTMP_CLIENT_TIMEOUT = 0, /* nothing arrived within timeout_ms */
    RTMP_CLIENT_EOF = -1,    /* the server closed the connection */
    RTMP_CLIENT_ERROR = -2   /* I/O or protocol error: rtmp_client_error() */
} rtmp_client_rc_t;

/* Waits up to timeout_ms for the next audio (8), video (9) or data (18)
 * message, with the server's timestamp and stream id. An AMF3 data message
 * (15) starting with a 0 byte is returned as type 18 without that byte,
 * other AMF3 data as type 15; aggregate messages (22) are split into their
 * parts. Commands and control are handled internally. On
 * RTMP_CLIENT_MESSAGE the caller owns out->payload (free() it; it may be
 * NULL when out->len is 0). Messages already received are returned before an EOF or
 * ERROR; after one, every later call returns it again. */
rtmp_client_rc_t rtmp_client_read(rtmp_client_t *c, rtmp_msg_t *out, int timeout_ms);

/* The last onStatus code received ("" before any), e.g.
 * "NetStream.Play.UnpublishNotify"; valid until the next client call. */
const char *rtmp_client_last_status(const rtmp_client_t *c);
/* How many onStatus messages arrived so far (to notice a new one). */
unsigned rtmp_client_status_count(const rtmp_client_t *c);
/* Why the last call failed ("" if none did). */
const char *rtmp_client_error(const rtmp_client_t *c);
/* The stream id from createStream. */
uint32_t rtmp_client_stream_id(const rtmp_client_t *c);
/* The URL as parsed at connect time. */
const url_rtmp_t *rtmp_client_url(const rtmp_client_t *c);

/* Ends the session and frees the client; NULL is a no-op. A publisher sends
 * FCUnpublish and deleteStream, half-closes and waits (at most the client's
 * timeout, capped at 2 s) for the server to close, so everything sent is
 * read by the server before the socket goes away. */
void rtmp_client_close(rtmp_client_t *c);

#endif
