/* http_status: the reason phrase of an HTTP status code, for the status
 * lines the media port writes (sess_httpflv, sess_hls).
 * Pure: a constant table; any thread. */
#ifndef WEIR_HTTP_STATUS_H
#define WEIR_HTTP_STATUS_H

/* The phrase of code ("Not Found"), or "Error" for a code not listed. */
const char *http_status_text(int code);

#endif
