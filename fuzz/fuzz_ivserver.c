/* fuzz_ivserver.c: the ivshmem server (ivserver.c) driven by what its clients do, in any order: connect,
 * send bytes (the protocol is one-way: anything is a disconnect), read some of their messages, hang up,
 * and poll rounds of the server. Input: byte 0 the vectors and peers, then one operation per byte
 * (low 3 bits: what, high bits: which client). Fails on a crash, a peer count past the limit, a message
 * out of the protocol, or an fd still open after the server is closed. */
#include <endian.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ivserver.h"
#include "../tests/unit/open_fds.h"

#define CLIENTS 4

static char dir[64];

static void remove_dir(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/shm", dir);
	unlink(path);
	rmdir(dir);
}

static int client_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	memcpy(addr.sun_path, path, strlen(path) + 1);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Read up to n messages the server sent; each must be a whole int64 in range with at most one fd. */
static void client_read(int sock, int n)
{
	while (n-- > 0) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int) * 4)];
		} control;
		uint64_t le;
		struct iovec iov = { &le, sizeof(le) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
				      .msg_controllen = sizeof(control.buf) };
		ssize_t got = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		int64_t v = (int64_t)le64toh(le);
		size_t nfds = 0;

		if (got <= 0)
			return;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
				close(fd);
				nfds++;
			}
		}
		if (got != (ssize_t)sizeof(le) || nfds > 1 || v < -1 || v > (int64_t)IVSERVER_MAX_ID)
			abort();
	}
}

static void serve(struct ivserver *s)
{
	struct pollfd fds[1 + CLIENTS];
	size_t n = ivserver_pollfds(s, fds, 1 + CLIENTS);

	if (poll(fds, n, 0) > 0 && ivserver_handle_pollfds(s, fds, n) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char sock_path[128], shm_path[128];
	int clients[CLIENTS] = { -1, -1, -1, -1 };
	struct ivserver s;
	int before;

	if (size < 1)
		return 0;
	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/ivb-fuzz-ivserver.XXXXXX");
		if (mkdtemp(dir) == NULL)
			abort();
		atexit(remove_dir);
	}
	snprintf(sock_path, sizeof(sock_path), "%s/sock", dir);
	snprintf(shm_path, sizeof(shm_path), "%s/shm", dir);
	before = ivb_open_fds();
	if (ivserver_init(&s, 1 + (data[0] & 7), 1 + ((data[0] >> 3) & 3), NULL) < 0 ||
	    ivserver_open_shm(&s, shm_path, 4096, 4096) < 0 || ivserver_listen(&s, sock_path) < 0)
		abort();
	for (size_t i = 1; i < size; i++) {
		int *c = &clients[(data[i] >> 3) % CLIENTS];

		switch (data[i] & 7) {
		case 0:
			if (*c < 0)
				*c = client_connect(sock_path);
			break;
		case 1:
			if (*c >= 0)
				(void)send(*c, &data[i], 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			break;
		case 2:
			if (*c >= 0)
				close(*c);
			*c = -1;
			break;
		case 3:
			if (*c >= 0)
				client_read(*c, 1 + (data[i] >> 5));
			break;
		case 4:
			(void)ivserver_accept(&s);
			break;
		default:
			serve(&s);
			break;
		}
		if (s.n_peers > s.max_peers)
			abort();
	}
	for (int i = 0; i < CLIENTS; i++)
		if (clients[i] >= 0)
			close(clients[i]);
	ivserver_close(&s);
	if (ivb_open_fds() != before)
		abort();
	return 0;
}
