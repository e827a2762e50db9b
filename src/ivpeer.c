/* ivpeer.c: an ivshmem-server peer over a UNIX socket, with eventfds for notification. */
#include "ivpeer.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"

/* One server message: an int64 and at most one fd. Returns: 1, 0 at end of file, or a negative errno. */
static int recv_msg(int sock, int64_t *value, int *fd, int timeout_ms)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { value, sizeof(*value) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			      .msg_controllen = sizeof(control) };
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	struct cmsghdr *c;
	ssize_t n;
	int ret;

	*fd = -1;
	ret = poll(&pfd, 1, timeout_ms);
	if (ret < 0)
		return -errno;
	if (ret == 0)
		return -ETIMEDOUT;
	n = recvmsg(sock, &msg, MSG_WAITALL | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	if (n == 0)
		return 0;
	if (n != (ssize_t)sizeof(*value) || (msg.msg_flags & MSG_CTRUNC)) {
		if (*fd >= 0)
			close(*fd);
		return -EPROTO;
	}
	return 1;
}

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = ivb_now_ns();

	return now >= deadline ? 0 : (int)((deadline - now) / 1000000 + 1);
}

/* A message after the handshake: a peer joins (id with fd) or leaves (id without). */
static int handle(struct ivb_peer_link *p, int64_t value, int fd)
{
	size_t i;

	if (value < 0 || value > 65535) {
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}
	for (i = 0; i < p->npeers && p->peers[i].id != value; i++)
		;
	if (fd < 0) {
		if (i < p->npeers) {
			close(p->peers[i].fd);
			p->peers[i] = p->peers[--p->npeers];
		}
		return 0;
	}
	if (i < p->npeers) {
		/* A second vector of a known peer: we ring vector 0 only. */
		close(fd);
		return 0;
	}
	if (p->npeers == IVB_PEER_MAX) {
		close(fd);
		return 0;
	}
	p->peers[p->npeers].id = (int)value;
	p->peers[p->npeers].fd = fd;
	p->npeers++;
	return 0;
}

int ivb_peer_connect(struct ivb_peer_link *p, const char *path, uint64_t timeout_ns)
{
	uint64_t deadline = ivb_now_ns() + timeout_ns;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int64_t value;
	int fd, ret;

	memset(p, 0, sizeof(*p));
	p->own_fd = -1;
	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	p->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->sock < 0)
		return -errno;
	if (connect(p->sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		ret = -errno;
		goto err_close;
	}
	ret = recv_msg(p->sock, &value, &fd, remaining_ms(deadline));
	if (ret <= 0 || value != 0 || fd >= 0) {
		ret = ret < 0 ? ret : -EPROTO; /* version -1: the server refused us */
		goto err_close_fd;
	}
	ret = recv_msg(p->sock, &value, &fd, remaining_ms(deadline));
	if (ret <= 0 || value < 0 || value > 65535 || fd >= 0) {
		ret = ret < 0 ? ret : -EPROTO;
		goto err_close_fd;
	}
	p->id = (int)value;
	ret = recv_msg(p->sock, &value, &fd, remaining_ms(deadline));
	if (ret <= 0 || value != -1 || fd < 0) {
		ret = ret < 0 ? ret : -EPROTO;
		goto err_close_fd;
	}
	close(fd);
	/* The other peers' eventfds, then ours (our id, once per vector). */
	while (p->own_fd < 0) {
		ret = recv_msg(p->sock, &value, &fd, remaining_ms(deadline));
		if (ret <= 0 || fd < 0) {
			ret = ret < 0 ? ret : -EPROTO;
			goto err_close_fd;
		}
		if (value == p->id)
			p->own_fd = fd;
		else if ((ret = handle(p, value, fd)) < 0)
			goto err_close;
	}
	return 0;

err_close_fd:
	if (fd >= 0)
		close(fd);
err_close:
	ivb_peer_close(p);
	return ret;
}

int ivb_peer_update(struct ivb_peer_link *p)
{
	int64_t value;
	int fd, ret;

	for (;;) {
		ret = recv_msg(p->sock, &value, &fd, 0);
		if (ret == -ETIMEDOUT)
			return 0;
		if (ret == 0)
			return -ECONNRESET;
		if (ret < 0)
			return ret;
		/* Our own further vectors: we wait on vector 0 only. */
		if (value == p->id) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		ret = handle(p, value, fd);
		if (ret < 0)
			return ret;
	}
}

int ivb_peer_known(struct ivb_peer_link *p, int id)
{
	ivb_peer_update(p);
	for (size_t i = 0; i < p->npeers; i++)
		if (p->peers[i].id == id)
			return 1;
	return 0;
}

int ivb_peer_ring(struct ivb_peer_link *p, int id)
{
	const uint64_t one = 1;

	for (int attempt = 0; attempt < 2; attempt++) {
		for (size_t i = 0; i < p->npeers; i++) {
			if (p->peers[i].id == id)
				return write(p->peers[i].fd, &one, sizeof(one)) == (ssize_t)sizeof(one) ? 0 : -errno;
		}
		if (attempt == 0 && ivb_peer_update(p) < 0)
			break;
	}
	return -ENOENT;
}

void ivb_peer_close(struct ivb_peer_link *p)
{
	for (size_t i = 0; i < p->npeers; i++)
		close(p->peers[i].fd);
	p->npeers = 0;
	if (p->own_fd >= 0)
		close(p->own_fd);
	if (p->sock >= 0)
		close(p->sock);
	p->own_fd = p->sock = -1;
}
