/* sdnotify: READY=1 / RELOADING=1 / STOPPING=1 to $NOTIFY_SOCKET (see
 * sdnotify.h). One socket per call: the node sends a handful in its life. */
#include "sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* The socket address of path ("/run/systemd/notify" or "@abstract") into
 * sa; its length, or 0 when path does not fit or is not one of the two. */
static socklen_t notify_addr(const char *path, struct sockaddr_un *sa)
{
    size_t n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n < 2 || n >= sizeof sa->sun_path)
        return 0;
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, n);
    if (path[0] == '@')
        sa->sun_path[0] = '\0'; /* abstract: no NUL at the end, the length says */
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
}

int sdnotify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !path[0])
        return 0;
    struct sockaddr_un sa;
    socklen_t salen = notify_addr(path, &sa);
    if (!salen) {
        log_warn(0, "sd_notify: NOTIFY_SOCKET \"%s\" is not a socket path: not notified", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ssize_t sent = -1;
    if (fd >= 0) {
        do
            sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
        while (sent < 0 && errno == EINTR);
    }
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (sent != (ssize_t)strlen(state)) {
        log_warn(0, "sd_notify: cannot send to %s: %s", path, strerror(e));
        return -1;
    }
    return 1;
}

int sdnotify_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char state[64];
    snprintf(state, sizeof state, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
    return sdnotify_send(state);
}
