/* transport_socket.c: AF_UNIX stream sockets (unix) and TCP on 127.0.0.1 (tcp), for transport.h. */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "transport.h"

#define UNIX_SOCKET_NAME "transport-unix.sock"

/* Every frame goes out when written, as a ping-pong needs: no waiting to fill a segment. */
void ivb_tp_no_delay(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int ivb_tp_unix_listen(struct ivb_tp_listener *l, const char *dir, struct ivb_tp_spec *spec, char *why, size_t n)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char real[PATH_MAX];
	struct stat st;
	mode_t old;
	int ret;

	/* Absolute: the guest program resolves it from its own working folder. */
	if (realpath(dir, real) == NULL)
		return ivb_tp_fail(why, n, errno, "cannot resolve the output folder for the unix socket");
	if ((size_t)snprintf(a.sun_path, sizeof(a.sun_path), "%s/" UNIX_SOCKET_NAME, real) >= sizeof(a.sun_path)) {
		snprintf(why, n, "the unix socket path %s/" UNIX_SOCKET_NAME " is longer than %zu bytes", real,
			 sizeof(a.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	/* A socket left by a run that died is ours to replace; anything else is not. */
	if (lstat(a.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(a.sun_path);
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return ivb_tp_fail(why, n, errno, "cannot create a unix socket");
	old = umask(0177); /* mode 0600 from the start: no moment where others may connect */
	ret = bind(l->fd, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	if (ret < 0)
		return ivb_tp_fail(why, n, errno, "cannot bind the unix socket in the output folder");
	snprintf(l->path, sizeof(l->path), "%s", a.sun_path);
	if (listen(l->fd, 1) < 0)
		return ivb_tp_fail(why, n, errno, "cannot listen on the unix socket");
	snprintf(spec->path, sizeof(spec->path), "%s", a.sun_path);
	return 0;
}

int ivb_tp_unix_connect(const struct ivb_tp_spec *spec, struct ivb_tp_conn *c, char *why, size_t n)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return ivb_tp_fail(why, n, errno, "cannot create a unix socket");
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", spec->path); /* checked: NUL within IVB_TP_PATH_LEN */
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int err = errno;

		close(fd);
		snprintf(why, n, "cannot connect to the host's unix socket %s: %s", a.sun_path, strerror(err));
		return -err;
	}
	ivb_tp_conn_init(c, fd, fd);
	return 0;
}

int ivb_tp_tcp_listen(struct ivb_tp_listener *l, uint32_t port, struct ivb_tp_spec *spec, char *why, size_t n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	socklen_t len = sizeof(a);
	int one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* never another interface */
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return ivb_tp_fail(why, n, errno, "cannot create a TCP socket");
	(void)setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		snprintf(why, n, "cannot bind TCP port %u on 127.0.0.1: %s", port, strerror(errno));
		return -errno;
	}
	if (listen(l->fd, 1) < 0 || getsockname(l->fd, (struct sockaddr *)&a, &len) < 0)
		return ivb_tp_fail(why, n, errno, "cannot listen on TCP 127.0.0.1");
	spec->port = ntohs(a.sin_port);
	return 0;
}

int ivb_tp_tcp_connect(const struct ivb_tp_spec *spec, struct ivb_tp_conn *c, char *why, size_t n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)spec->port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return ivb_tp_fail(why, n, errno, "cannot create a TCP socket");
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int err = errno;

		close(fd);
		snprintf(why, n, "cannot connect to the host's TCP port 127.0.0.1:%u: %s", spec->port, strerror(err));
		return -err;
	}
	ivb_tp_no_delay(fd);
	ivb_tp_conn_init(c, fd, fd);
	return 0;
}

int ivb_tp_socket_accept(struct ivb_tp_listener *l, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why, size_t n)
{
	int ret = ivb_tp_poll(l->fd, POLLIN, deadline_ns), fd;

	if (ret == 0)
		return -ETIMEDOUT;
	if (ret < 0)
		return ret;
	fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EAGAIN || errno == EINTR ? -ETIMEDOUT : ivb_tp_fail(why, n, errno, "cannot accept the guest");
	if (l->transport == IVB_TP_TCP)
		ivb_tp_no_delay(fd);
	ivb_tp_conn_init(c, fd, fd);
	return 0;
}
