/* ivpeer.c: an ivshmem-server peer over a UNIX socket, with eventfds for notification.
 * Everything the server sends is untrusted: a message may come in pieces, late, never, with the wrong
 * fds or with values out of range. No read blocks past the caller's deadline, and every fd received
 * is either kept in the link or closed. */
#include "ivpeer.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"

/* fds one read accepts, so that a message with more is seen (and its fds closed) rather than cut. */
#define IVB_PEER_FDS_PER_READ 4

static void drop_part(struct ivb_peer_link *p)
{
	if (p->part_len > 0 && p->part_fd >= 0)
		close(p->part_fd);
	p->part_len = 0;
	p->part_fd = -1;
}

/* One non-blocking read towards the message in part. Returns: 1 progress, 0 end of file, -EAGAIN,
 * -EPROTO (an fd that is not at the start of a message, more than one, or cut), or a negative errno. */
static int recv_some(struct ivb_peer_link *p)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * IVB_PEER_FDS_PER_READ)];
	} control;
	struct iovec iov = { p->part + p->part_len, sizeof(p->part) - p->part_len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			      .msg_controllen = sizeof(control.buf) };
	int bad = 0;
	ssize_t n;

	/* Between messages part_fd means nothing (a link set up by hand may hold 0 there). */
	if (p->part_len == 0)
		p->part_fd = -1;
	do {
		n = recvmsg(p->sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			/* The spec's fd rides on the first byte of its message, alone. */
			if (p->part_len == 0 && p->part_fd < 0 && !bad) {
				p->part_fd = fd;
			} else {
				close(fd);
				bad = 1;
			}
		}
	}
	/* An fd with no byte cannot be sent; were it to come, it would belong to no message. */
	if (n == 0 && p->part_fd >= 0 && p->part_len == 0)
		bad = 1;
	if (bad || (msg.msg_flags & MSG_CTRUNC)) {
		if (p->part_fd >= 0)
			close(p->part_fd);
		p->part_fd = -1;
		p->part_len = 0;
		return -EPROTO;
	}
	if (n == 0)
		return 0;
	p->part_len += (size_t)n;
	return 1;
}

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = ivb_now_ns();

	return now >= deadline ? 0 : (int)((deadline - now) / 1000000 + 1);
}

/* One server message, an int64 and at most one fd, by the deadline (0: only what has arrived). A message
 * that has not all arrived stays in part for the next call. Returns: 1, 0 at end of file between
 * messages, -ETIMEDOUT, -EPROTO (end of file inside a message, or bad fds), or a negative errno. */
static int recv_msg(struct ivb_peer_link *p, int64_t *value, int *fd, uint64_t deadline)
{
	uint64_t le;

	*fd = -1;
	while (p->part_len < sizeof(p->part)) {
		struct pollfd pfd = { .fd = p->sock, .events = POLLIN };
		int ret = recv_some(p), ms;

		if (ret == 0)
			return p->part_len == 0 ? 0 : -EPROTO;
		if (ret != -EAGAIN) {
			if (ret < 0)
				return ret;
			continue;
		}
		ms = remaining_ms(deadline);
		if (ms == 0)
			return -ETIMEDOUT;
		ret = poll(&pfd, 1, ms);
		if (ret < 0 && errno != EINTR)
			return -errno;
	}
	memcpy(&le, p->part, sizeof(le));
	*value = (int64_t)le64toh(le);
	*fd = p->part_fd;
	p->part_len = 0;
	p->part_fd = -1;
	return 1;
}

/* Keep fd as the next vector in more[] (nmore of them so far), or close it when more is full. */
static void keep_vector(int *more, uint32_t *nmore, int fd)
{
	if (*nmore < IVB_PEER_VECTORS - 1)
		more[(*nmore)++] = fd;
	else
		close(fd);
}

/* Close every vector of peer i and forget it. */
static void forget_peer(struct ivb_peer_link *p, size_t i)
{
	close(p->peers[i].fd);
	for (uint32_t v = 0; v < p->peers[i].nmore; v++)
		close(p->peers[i].more[v]);
	p->peers[i] = p->peers[--p->npeers];
}

/* A message after the server's first three: a peer joins (id with fd, once per vector) or leaves (id without). */
static int handle(struct ivb_peer_link *p, int64_t value, int fd)
{
	size_t i;

	if (value < 0 || value > IVB_PEER_ID_MAX) {
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}
	for (i = 0; i < p->npeers && p->peers[i].id != value; i++)
		;
	if (fd < 0) {
		if (i < p->npeers)
			forget_peer(p, i);
		return 0;
	}
	/* A further vector of a known peer, in order. */
	if (i < p->npeers) {
		keep_vector(p->peers[i].more, &p->peers[i].nmore, fd);
		return 0;
	}
	/* More peers than we keep. */
	if (p->npeers == IVB_PEER_MAX) {
		close(fd);
		return 0;
	}
	p->peers[p->npeers].id = (int)value;
	p->peers[p->npeers].fd = fd;
	p->peers[p->npeers].nmore = 0;
	p->npeers++;
	return 0;
}

/* The next handshake message, which must have an fd or not as has_fd says. Returns: 0 or a negative errno. */
static int recv_setup(struct ivb_peer_link *p, int64_t *value, int has_fd, int *fd, uint64_t deadline)
{
	int ret = recv_msg(p, value, fd, deadline);

	if (ret == 1 && (*fd >= 0) == has_fd)
		return 0;
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	return ret < 0 ? ret : -EPROTO;
}

int ivb_peer_connect(struct ivb_peer_link *p, const char *path, uint64_t timeout_ns)
{
	uint64_t deadline = ivb_now_ns() + timeout_ns;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int64_t value;
	int fd, ret;

	memset(p, 0, sizeof(*p));
	p->own_fd = -1;
	p->shm_fd = -1;
	p->part_fd = -1;
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
	/* Version 0 (-1: the server refused us), our id, then -1 with the region's fd. */
	ret = recv_setup(p, &value, 0, &fd, deadline);
	if (ret == 0 && value != 0)
		ret = -EPROTO;
	if (ret < 0)
		goto err_close;
	ret = recv_setup(p, &value, 0, &fd, deadline);
	if (ret == 0 && (value < 0 || value > IVB_PEER_ID_MAX))
		ret = -EPROTO;
	if (ret < 0)
		goto err_close;
	p->id = (int)value;
	ret = recv_setup(p, &value, 1, &fd, deadline);
	p->shm_fd = fd;
	if (ret == 0 && value != -1)
		ret = -EPROTO;
	if (ret < 0)
		goto err_close;
	/* The other peers' eventfds, then ours (our id, once per vector). */
	while (p->own_fd < 0) {
		ret = recv_msg(p, &value, &fd, deadline);
		if (ret == 0)
			ret = -EPROTO;
		if (ret < 0)
			goto err_close;
		if (value == p->id && fd >= 0)
			p->own_fd = fd;
		else if (value == p->id)
			ret = -EPROTO; /* told that we left */
		else
			ret = handle(p, value, fd);
		if (ret < 0)
			goto err_close;
	}
	return 0;

err_close:
	ivb_peer_close(p);
	return ret;
}

int ivb_peer_update(struct ivb_peer_link *p)
{
	int64_t value;
	int fd, ret;

	/* A link with its eventfds but no server socket (as tests set one up) has no news. */
	if (p->sock < 0)
		return 0;
	for (;;) {
		ret = recv_msg(p, &value, &fd, 0);
		if (ret == -ETIMEDOUT)
			return 0;
		if (ret == 0)
			return -ECONNRESET;
		if (ret < 0)
			return ret;
		/* Our own further vectors, in order (our id without an fd means nothing: we are connected). */
		if (value == p->id) {
			if (fd >= 0)
				keep_vector(p->own_more, &p->own_nmore, fd);
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

int ivb_peer_ring_vector(struct ivb_peer_link *p, int id, uint32_t vector)
{
	const uint64_t one = 1;

	for (int attempt = 0; attempt < 2; attempt++) {
		for (size_t i = 0; i < p->npeers; i++) {
			int fd;

			if (p->peers[i].id != id)
				continue;
			if (vector > p->peers[i].nmore)
				break; /* its further vectors may still be on their way */
			fd = vector == 0 ? p->peers[i].fd : p->peers[i].more[vector - 1];
			return write(fd, &one, sizeof(one)) == (ssize_t)sizeof(one) ? 0 : -errno;
		}
		if (attempt == 0 && ivb_peer_update(p) < 0)
			break;
	}
	for (size_t i = 0; i < p->npeers; i++)
		if (p->peers[i].id == id)
			return -ENXIO;
	return -ENOENT;
}

int ivb_peer_ring(struct ivb_peer_link *p, int id)
{
	return ivb_peer_ring_vector(p, id, 0);
}

uint32_t ivb_peer_own_vectors(struct ivb_peer_link *p)
{
	ivb_peer_update(p);
	return p->own_fd >= 0 ? 1 + p->own_nmore : 0;
}

int ivb_peer_own_fd(const struct ivb_peer_link *p, uint32_t vector)
{
	if (p->own_fd < 0 || vector > p->own_nmore)
		return -1;
	return vector == 0 ? p->own_fd : p->own_more[vector - 1];
}

void ivb_peer_close(struct ivb_peer_link *p)
{
	while (p->npeers > 0)
		forget_peer(p, p->npeers - 1);
	for (uint32_t v = 0; v < p->own_nmore; v++)
		close(p->own_more[v]);
	p->own_nmore = 0;
	drop_part(p);
	if (p->own_fd >= 0)
		close(p->own_fd);
	if (p->shm_fd >= 0)
		close(p->shm_fd);
	if (p->sock >= 0)
		close(p->sock);
	p->own_fd = p->shm_fd = p->sock = -1;
}
