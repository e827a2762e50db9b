/* fuzz_ivpeer.c: the client's parsing of what an ivshmem server sends (ivpeer.c), handshake and join/leave
 * messages. A thread plays the server: it accepts, sends the input as chunks, some with eventfds
 * attached, and closes. Input: chunks of [length byte][fd count byte, low 2 bits][bytes].
 * Besides crashes, it fails on an fd left open after the link is closed. */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ivpeer.h"
#include "../tests/unit/open_fds.h"

static char sock_path[108];
static int listen_fd = -1;

struct script {
	const uint8_t *data;
	size_t size;
};

static void send_chunk(int sock, const uint8_t *bytes, size_t len, int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 3)];
	} control;
	struct iovec iov = { (void *)bytes, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[3];

	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		for (int i = 0; i < nfds; i++)
			fds[i] = eventfd(0, EFD_CLOEXEC);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	(void)sendmsg(sock, &msg, MSG_NOSIGNAL);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
}

static void *server_main(void *arg)
{
	const struct script *s = arg;
	int sock = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	size_t i = 0;

	while (sock >= 0 && i + 2 <= s->size) {
		size_t len = s->data[i], nfds = s->data[i + 1] & 3;

		i += 2;
		if (len > s->size - i)
			len = s->size - i;
		if (len > 0)
			send_chunk(sock, s->data + i, len, (int)nfds);
		i += len;
	}
	if (sock >= 0)
		close(sock);
	return NULL;
}

static void remove_socket(void)
{
	unlink(sock_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct script s = { data, size };
	struct ivb_peer_link link;
	pthread_t tid;
	int before;

	if (listen_fd < 0) {
		struct sockaddr_un addr = { .sun_family = AF_UNIX };

		snprintf(sock_path, sizeof(sock_path), "/tmp/ivb-fuzz-ivpeer-%ld.sock", (long)getpid());
		unlink(sock_path);
		memcpy(addr.sun_path, sock_path, sizeof(sock_path));
		atexit(remove_socket);
		listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
		    listen(listen_fd, 4) < 0)
			abort();
	}
	before = ivb_open_fds();
	if (pthread_create(&tid, NULL, server_main, &s) != 0)
		abort();
	/* The server closes after its script: the handshake ends well within the limit either way. */
	if (ivb_peer_connect(&link, sock_path, 2000000000ull) == 0) {
		struct pollfd pfd = { .fd = link.sock, .events = POLLIN };

		/* Until the server's end of file (or a protocol error) ends the link. */
		while (poll(&pfd, 1, 2000) == 1 && ivb_peer_update(&link) == 0)
			;
		if (link.npeers > IVB_PEER_MAX || link.own_fd < 0 || link.own_nmore > IVB_PEER_VECTORS - 1)
			abort();
		for (size_t i = 0; i < link.npeers; i++)
			if (link.peers[i].nmore > IVB_PEER_VECTORS - 1)
				abort();
		ivb_peer_close(&link);
	}
	pthread_join(tid, NULL);
	if (ivb_open_fds() != before)
		abort(); /* an fd the server sent was leaked */
	return 0;
}
