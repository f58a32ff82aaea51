/* rtmp_proto_client: the client side of an RTMP session as a state machine
 * without I/O (pure), for every client the house has: the relay link
 * (relay_rtmp_link.c), the blocking client of the tools and tests
 * (tools/common/rtmp_client.c) and the load generator (tools/bench/).
 *
 * After the handshake (rtmp_handshake.h, the caller's), the states are
 *   CONNECT        rtmp_proto_client_begin(): Set Chunk Size (if asked),
 *                  connect(app, tcUrl, ...); waits for its _result;
 *   CREATE_STREAM  releaseStream + FCPublish first when the role is publish
 *                  and known at creation; createStream; waits for its id;
 *   READY          the stream id is known (event READY): the caller checks
 *                  what it must and calls rtmp_proto_client_start();
 *   START          [releaseStream + FCPublish,] publish(name, "live") or
 *                  play(name, -2) + Set Buffer Length; waits for
 *                  NetStream.Publish.Start / NetStream.Play.Start;
 *   LIVE           started; later onStatus are reported (event STATUS);
 *   FAILED         refused or a protocol error: nothing more happens.
 * Each decoded message off the chunk stream is fed to
 * rtmp_proto_client_feed(), which handles protocol control (rtmp_proto.h)
 * and commands and says what happened in an event; media is left to the
 * caller. What the client has to send (commands, control replies,
 * Acknowledgements) is encoded into its output, which the caller takes with
 * rtmp_proto_client_output() and writes as it can.
 *
 * Bounds: the chunk parser's (cfg max_msg, max_csids); at most
 * RTMP_PROTO_CLIENT_OUT_MAX bytes of unsent output (a peer that makes the
 * client answer more than that without the caller writing is an error);
 * strings copied from the config are bounded by the caller's URL parser.
 * Ownership: the caller owns the client (rtmp_proto_client_free()); the
 * client owns its parser, copies of the config's strings and its output.
 * Threads: any one thread per client.
 */
#ifndef WEIR_RTMP_PROTO_CLIENT_H
#define WEIR_RTMP_PROTO_CLIENT_H

#include "relay_hops.h" /* RELAY_SOURCE_MAX */
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "rtmp_chunk.h"
#include "rtmp_proto.h"

#define RTMP_PROTO_CLIENT_OUT_MAX (64u * 1024)
#define RTMP_PROTO_LEVEL_MAX 32
#define RTMP_PROTO_CODE_MAX 128
#define RTMP_PROTO_DESC_MAX 160

typedef enum { RTMP_PROTO_ROLE_NONE, RTMP_PROTO_PLAY, RTMP_PROTO_PUBLISH } rtmp_proto_role_t;

typedef enum {
    RTMP_PROTO_CL_CONNECT,
    RTMP_PROTO_CL_CREATE_STREAM,
    RTMP_PROTO_CL_READY,
    RTMP_PROTO_CL_START,
    RTMP_PROTO_CL_LIVE,
    RTMP_PROTO_CL_FAILED
} rtmp_proto_client_state_t;

typedef struct {
    const char *app, *tc_url; /* connect's app and tcUrl */
    const char *name;         /* the stream name of publish / play (query included) */
    const char *flash_ver;    /* connect's flashVer */
    rtmp_proto_role_t role;   /* NONE: chosen by rtmp_proto_client_start() */
    uint32_t chunk_size;      /* sent as Set Chunk Size before connect; 0: none (128) */
    int player_caps;          /* connect carries fpad, capabilities, audio/videoCodecs */
    uint32_t play_buffer_ms;  /* the Set Buffer Length sent after play */
    uint32_t max_msg;         /* chunk parser bounds */
    unsigned max_csids;
} rtmp_proto_client_cfg_t;

typedef enum {
    RTMP_PROTO_EV_NONE,    /* handled (control, an ignored command): nothing to report */
    RTMP_PROTO_EV_MEDIA,   /* audio, video, data or aggregate: the caller's (m untouched) */
    RTMP_PROTO_EV_READY,   /* createStream answered: stream_id; call rtmp_proto_client_start() */
    RTMP_PROTO_EV_STARTED, /* NetStream.Publish.Start / NetStream.Play.Start */
    RTMP_PROTO_EV_REFUSED, /* step refused: an _error, or an onStatus that refuses */
    RTMP_PROTO_EV_STATUS   /* any other onStatus */
} rtmp_proto_ev_kind_t;

typedef struct {
    rtmp_proto_ev_kind_t kind;
    rtmp_proto_client_state_t step; /* REFUSED: the state that was refused */
    int status;                     /* the event came from an onStatus (code is its code) */
    uint32_t stream_id;             /* READY */
    char level[RTMP_PROTO_LEVEL_MAX];
    char code[RTMP_PROTO_CODE_MAX]; /* the info's code; "" if none */
    char desc[RTMP_PROTO_DESC_MAX];
    char source[RELAY_SOURCE_MAX]; /* the info's weir_source (relay_hops.h); "" if none */
} rtmp_proto_ev_t;

typedef struct rtmp_proto_client rtmp_proto_client_t;

/* A client in state CONNECT with nothing queued yet; NULL when out of
 * memory. The strings of cfg are copied. */
rtmp_proto_client_t *rtmp_proto_client_new(const rtmp_proto_client_cfg_t *cfg);
/* NULL is a harmless no-op. */
void rtmp_proto_client_free(rtmp_proto_client_t *cl);

/* Queues Set Chunk Size (if configured) and connect; call once, after the
 * handshake. Returns 0 or NODE_ENOMEM. */
int rtmp_proto_client_begin(rtmp_proto_client_t *cl);

/* Parses the next message out of src (see rtmp_chunk_feed()). */
parse_rc_t rtmp_proto_client_input(rtmp_proto_client_t *cl, const uint8_t *src, size_t len,
                                   size_t *used, rtmp_msg_t *out, const char **err);

/* Takes one message (m->payload stays the caller's) and fills *ev. Returns
 * 0, or NODE_EPROTO (bad protocol control, an undecodable command),
 * NODE_ELIMIT (output over its bound) or NODE_ENOMEM with *err (a static
 * string); the client is then FAILED. */
int rtmp_proto_client_feed(rtmp_proto_client_t *cl, const rtmp_msg_t *m, rtmp_proto_ev_t *ev,
                           const char **err);

/* In READY: queues publish or play (role must match the configured one,
 * if any). Returns 0, NODE_EINVAL (not READY, another role) or
 * NODE_ENOMEM. */
int rtmp_proto_client_start(rtmp_proto_client_t *cl, rtmp_proto_role_t role);

/* A publisher's goodbye: queues FCUnpublish(name) and deleteStream(id).
 * Returns 0 or NODE_ENOMEM. */
int rtmp_proto_client_goodbye(rtmp_proto_client_t *cl);

/* After reading: queues the Acknowledgement owed when bytes_in (what the
 * caller counts as read) has grown by the server's window. Returns 0 or
 * NODE_ENOMEM / NODE_ELIMIT. */
int rtmp_proto_client_ack(rtmp_proto_client_t *cl, uint64_t bytes_in);

/* The queued output (*len 0: none); valid until the next call on cl.
 * rtmp_proto_client_output_done() drops the first n bytes of it. */
void rtmp_proto_client_output(const rtmp_proto_client_t *cl, const uint8_t **p, size_t *len);
void rtmp_proto_client_output_done(rtmp_proto_client_t *cl, size_t n);

rtmp_proto_client_state_t rtmp_proto_client_state(const rtmp_proto_client_t *cl);
/* The outgoing chunk size (for the caller's media). */
uint32_t rtmp_proto_client_chunk_size(const rtmp_proto_client_t *cl);
/* The stream id from createStream (0 before). */
uint32_t rtmp_proto_client_stream_id(const rtmp_proto_client_t *cl);
/* The protocol control state (the server's window, the parser). */
rtmp_proto_ctrl_t *rtmp_proto_client_ctrl(rtmp_proto_client_t *cl);

/* A status that refuses a publish or play: error level, or a code that
 * says so even when a server labels it "status". */
int rtmp_proto_status_refuses(const char *level, const char *code);

/* The text of a REFUSED event as the clients report it:
 * "connect rejected: CODE (DESC)", "createStream failed: CODE",
 * "publish refused: CODE (DESC)" / "play refused: ..."; CODE is "_error"
 * or "no stream id" when the reply had none. Returns out. */
const char *rtmp_proto_refusal(const rtmp_proto_client_t *cl, const rtmp_proto_ev_t *ev, char *out,
                               size_t outlen);

#endif
