/* rtmp_play_worker: an RTMP player's session rules on a worker thread
 * (worker.h): with workers > 1, sess_rtmp.c hands a viewer's play (not a
 * relay link, never a publisher; RTMPS too), once attached and its
 * NetStream.Play.Start queued, to a worker with this state: the session's
 * chunk parser with the peer's window and the acknowledgements owed
 * (rtmp_proto_ctrl_t, moved, not copied), the chunk size it sends at, the
 * bytes read so far and the stream's names. RTMP_WORKER_PROTO runs the
 * rules there, as sess_rtmp.c does on the loop:
 *   - protocol control (Set Chunk Size, Window Acknowledgement Size, ping
 *     request -> ping response) and the Acknowledgements owed to the client;
 *   - deleteStream / closeStream (and FCUnpublish) end the play (REASON_EOF,
 *     the command as the reason); unlike on the loop, where the connection
 *     stays open for another command, the session ends and the connection
 *     closes once its last bytes are out;
 *   - receiveAudio, receiveVideo, pause, _checkbw are ignored;
 *     getStreamLength is answered (0); any other command with a
 *     transaction id is answered _error;
 *   - play or publish (a second stream on the connection) is answered
 *     NetStream.Play.Failed / NetStream.Publish.BadName and ends the session
 *     (REASON_REFUSED);
 *   - a chunk stream error (including the loop's rtmp.max_message_size and
 *     rtmp.max_chunk_streams bounds, which the parser keeps) ends it with
 *     REASON_PROTOCOL, logged; the limit counters of those bounds live on
 *     the loop and are not counted from a worker (the log line says so);
 *   - the publisher leaving within the grace period and coming back:
 *     Stream EOF + UnpublishNotify, Stream Begin + PublishNotify (on_event);
 *   - the stream's end, a kick: the connection closes once its bytes are
 *     out, nothing more is sent (as on the loop).
 *
 * Threads: rtmp_play_worker_new() and rtmp_play_worker_abandon() on the
 * loop thread; after worker_handover() succeeded the state belongs to the
 * worker's thread only, which frees it (RTMP_WORKER_PROTO.free).
 */
#ifndef WEIR_RTMP_PLAY_WORKER_H
#define WEIR_RTMP_PLAY_WORKER_H

#include <stdint.h>

#include "rtmp_proto.h"
#include "worker.h"

typedef struct rtmp_play_worker rtmp_play_worker_t;

/* The state of a play to hand over: takes what *ctrl owns (*ctrl is zeroed)
 * and copies the names. bytes_in: the connection's bytes read so far (the
 * acknowledgements go on counting from there). NULL when out of memory
 * (*ctrl untouched). */
rtmp_play_worker_t *rtmp_play_worker_new(rtmp_proto_ctrl_t *ctrl, uint32_t out_chunk_size,
                                         uint64_t bytes_in, const char *app, const char *name);
/* The handover did not happen: gives the parser back to *ctrl and frees st. */
void rtmp_play_worker_abandon(rtmp_play_worker_t *st, rtmp_proto_ctrl_t *ctrl);

/* worker_handover()'s proto for an RTMP player (its state: the above). */
extern const worker_proto_t RTMP_WORKER_PROTO;

#endif
