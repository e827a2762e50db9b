/* Unit tests of ivserver.c: the server and test clients in one process, over real UNIX sockets in a
 * temporary folder. connect() completes once the kernel queues the connection, so a test connects,
 * lets the server accept, and then reads what the server sent: no threads, no sleeps. Every read has
 * a receive timeout, so a missing message fails the test instead of hanging it. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "ivserver_fixture.h"

/* Read one message as a client does. Returns 0, -EPIPE at end of file, -EAGAIN on timeout,
 * -E2BIG when more than one fd came with it, or -EIO on a short message. */
static int recv_msg_flags(int fd, int64_t *value, int *passfd, int flags)
{
	uint64_t le;
	struct iovec iov = { .iov_base = &le, .iov_len = sizeof(le) };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS_PER_MSG)];
	} control;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			      .msg_controllen = sizeof(control.buf) };
	int nfds = 0, fds[MAX_FDS_PER_MSG];
	ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL | flags);

	*passfd = -1;
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (n == 0)
		return -EPIPE;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; i < k && nfds < MAX_FDS_PER_MSG; i++)
			memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if (nfds > 1) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return -E2BIG;
	}
	if (n != (ssize_t)sizeof(le)) {
		if (nfds == 1)
			close(fds[0]);
		return -EIO;
	}
	*value = (int64_t)le64toh(le);
	*passfd = nfds == 1 ? fds[0] : -1;
	return 0;
}

static int recv_msg(int fd, int64_t *value, int *passfd)
{
	return recv_msg_flags(fd, value, passfd, 0);
}

/* Expect a message with this value, with an fd (returned, to be closed) or without. */
static int expect_msg(int fd, int64_t value, int with_fd, const char *what)
{
	int64_t got = -2;
	int passfd = -1, ret = recv_msg(fd, &got, &passfd);

	if (ret < 0 || got != value || (passfd >= 0) != with_fd) {
		fprintf(stderr, "  %s: wanted %lld %s an fd; got ret %d, value %lld, fd %d\n", what, (long long)value,
			with_fd ? "with" : "without", ret, (long long)got, passfd);
		if (passfd >= 0)
			close(passfd);
		return -1;
	}
	return passfd >= 0 ? passfd : 0;
}

/* True when nothing more is waiting on fd (the server has nothing else to say). */
static int nothing_pending(int fd)
{
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);

	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static int is_eventfd(int fd)
{
	char link[64], target[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/* Ring an eventfd as a peer does; then whether the other end reads exactly one event. */
static int ring(int fd)
{
	uint64_t one = 1;

	return write(fd, &one, sizeof(one)) == (ssize_t)sizeof(one) ? 0 : -1;
}

static int readable_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static uint64_t take_events(int fd)
{
	uint64_t v = 0;

	if (!readable_now(fd) || read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return 0;
	return v;
}

/* One poll round of the server, as its main loop does, waiting at most timeout_ms. */
static int serve(struct ivserver *s, int timeout_ms)
{
	struct pollfd fds[1 + 16];
	size_t n = ivserver_pollfds(s, fds, 1 + 16);
	int ret = poll(fds, n, timeout_ms);

	if (ret < 0)
		return -errno;
	if (ret == 0)
		return -ETIMEDOUT;
	return ivserver_handle_pollfds(s, fds, n);
}

/* A connected test client: its id, the region fd, and its own eventfds. */
struct client {
	int sock;
	int id;
	int shm;
	int own[2];
};

static void client_close(struct client *c)
{
	if (c->sock >= 0)
		close(c->sock);
	if (c->shm >= 0)
		close(c->shm);
	for (int v = 0; v < 2; v++)
		if (c->own[v] >= 0)
			close(c->own[v]);
	c->sock = c->shm = c->own[0] = c->own[1] = -1;
}

/* Connect, have the server accept, and read steps 1-3 (version, id, region). */
static int client_join(struct ivserver *s, struct client *c, int want_id)
{
	c->sock = c->shm = c->own[0] = c->own[1] = -1;
	c->id = -1;
	c->sock = client_connect(sock_path);
	if (c->sock < 0)
		return -1;
	c->id = ivserver_accept(s);
	if (c->id != want_id) {
		fprintf(stderr, "  accept gave id %d, wanted %d\n", c->id, want_id);
		return -1;
	}
	if (expect_msg(c->sock, IVSERVER_PROTOCOL_VERSION, 0, "version") < 0 ||
	    expect_msg(c->sock, want_id, 0, "own id") < 0)
		return -1;
	c->shm = expect_msg(c->sock, -1, 1, "region fd");
	return c->shm >= 0 ? 0 : -1;
}

/* Read step 5: the client's own id once per vector, with its eventfds; then nothing more. */
static int client_own_vectors(struct client *c, unsigned vectors)
{
	for (unsigned v = 0; v < vectors; v++) {
		c->own[v] = expect_msg(c->sock, c->id, 1, "own vector");
		if (c->own[v] < 0 || !is_eventfd(c->own[v]))
			return -1;
	}
	return nothing_pending(c->sock) ? 0 : -1;
}

/* Read a connect notification: id once per vector with fds into fds[]. */
static int read_peer(int sock, int id, unsigned vectors, int *fds)
{
	for (unsigned v = 0; v < vectors; v++) {
		fds[v] = expect_msg(sock, id, 1, "peer vector");
		if (fds[v] < 0 || !is_eventfd(fds[v]))
			return -1;
	}
	return 0;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void test_init_rejects_bad_counts(void)
{
	struct ivserver s;

	CHECK(ivserver_init(&s, 0, 2, NULL) == -EINVAL);
	ivserver_close(&s);
	CHECK(ivserver_init(&s, IVSERVER_MAX_VECTORS + 1, 2, NULL) == -EINVAL);
	ivserver_close(&s);
	CHECK(ivserver_init(&s, 1, 0, NULL) == -EINVAL);
	ivserver_close(&s);
	CHECK(ivserver_init(&s, 1, IVSERVER_MAX_PEERS + 1, NULL) == -EINVAL);
	ivserver_close(&s);
	CHECK(ivserver_init(&s, IVSERVER_MAX_VECTORS, IVSERVER_MAX_PEERS, NULL) == 0);
	ivserver_close(&s);
	/* Closing twice is safe. */
	ivserver_close(&s);
}

static void test_first_peer_handshake(void)
{
	char *log_buf = NULL;
	size_t log_len = 0;
	FILE *log = open_memstream(&log_buf, &log_len);
	struct ivserver s;
	struct client a;
	struct stat st_fd, st_file;

	CHECK(start_server(&s, 2, 2, log) == 0);
	CHECK(client_join(&s, &a, 0) == 0);
	/* The region fd is our file, with its size. */
	CHECK(a.shm >= 0 && fstat(a.shm, &st_fd) == 0 && stat(shm_path, &st_file) == 0);
	CHECK(st_fd.st_ino == st_file.st_ino && st_fd.st_dev == st_file.st_dev);
	CHECK(st_fd.st_size == SHM_SIZE && s.shm_size == SHM_SIZE);
	CHECK(client_own_vectors(&a, 2) == 0);
	CHECK(s.n_peers == 1 && ivserver_find_peer(&s, 0) != NULL);
	/* Our vector eventfds are the ones the server keeps for us: ringing the server's copy wakes us. */
	CHECK(ring(ivserver_find_peer(&s, 0)->vectors[1]) == 0);
	CHECK(take_events(a.own[1]) == 1 && take_events(a.own[0]) == 0);
	fflush(log);
	CHECK(strstr(log_buf, "peer 0 joined with 2 vectors (1 connected)") != NULL);
	client_close(&a);
	ivserver_close(&s);
	fclose(log);
	free(log_buf);
}

static void test_second_peer_and_doorbells(void)
{
	struct ivserver s;
	struct client a, b;
	int a_sees_b[2] = { -1, -1 }, b_sees_a[2] = { -1, -1 };

	CHECK(start_server(&s, 2, 2, NULL) == 0);
	CHECK(client_join(&s, &a, 0) == 0 && client_own_vectors(&a, 2) == 0);
	CHECK(client_join(&s, &b, 1) == 0);
	/* B hears of A (step 4), then gets its own vectors (step 5); A hears of B. */
	CHECK(read_peer(b.sock, 0, 2, b_sees_a) == 0);
	CHECK(client_own_vectors(&b, 2) == 0);
	CHECK(read_peer(a.sock, 1, 2, a_sees_b) == 0);
	CHECK(nothing_pending(a.sock));
	/* A rings B's vector 1: only B's vector 1 fires, once. */
	CHECK(ring(a_sees_b[1]) == 0);
	CHECK(take_events(b.own[0]) == 0 && take_events(b.own[1]) == 1 && take_events(b.own[1]) == 0);
	/* B rings A's vector 0 twice before A looks: A sees both (an eventfd counts). */
	CHECK(ring(b_sees_a[0]) == 0 && ring(b_sees_a[0]) == 0);
	CHECK(take_events(a.own[0]) == 2 && take_events(a.own[1]) == 0);
	close_fds(a_sees_b, 2);
	close_fds(b_sees_a, 2);
	client_close(&a);
	client_close(&b);
	ivserver_close(&s);
}

static void test_leave_and_reconnect(void)
{
	char *log_buf = NULL;
	size_t log_len = 0;
	FILE *log = open_memstream(&log_buf, &log_len);
	struct ivserver s;
	struct client a, b;
	int a_sees_b[1] = { -1 }, b_sees_a[1] = { -1 };

	CHECK(start_server(&s, 1, 2, log) == 0);
	CHECK(client_join(&s, &a, 0) == 0 && client_own_vectors(&a, 1) == 0);
	CHECK(client_join(&s, &b, 1) == 0 && read_peer(b.sock, 0, 1, b_sees_a) == 0 && client_own_vectors(&b, 1) == 0);
	CHECK(read_peer(a.sock, 1, 1, a_sees_b) == 0);
	close_fds(a_sees_b, 1);
	close_fds(b_sees_a, 1);

	/* B goes away: the server notices on its next poll and tells A: id 1 with no fd. */
	client_close(&b);
	CHECK(serve(&s, RECV_TIMEOUT_MS) == 0);
	CHECK(expect_msg(a.sock, 1, 0, "leave notification") == 0);
	CHECK(s.n_peers == 1 && ivserver_find_peer(&s, 1) == NULL);

	/* B comes back: a new id (ids are not reused at once), new eventfds, and A is told. */
	CHECK(client_join(&s, &b, 2) == 0 && read_peer(b.sock, 0, 1, b_sees_a) == 0 && client_own_vectors(&b, 1) == 0);
	CHECK(read_peer(a.sock, 2, 1, a_sees_b) == 0);
	CHECK(ring(a_sees_b[0]) == 0 && take_events(b.own[0]) == 1);
	CHECK(ring(b_sees_a[0]) == 0 && take_events(a.own[0]) == 1);
	fflush(log);
	CHECK(strstr(log_buf, "peer 1 left (1 connected)") != NULL);
	CHECK(strstr(log_buf, "peer 2 joined with 1 vector (2 connected)") != NULL);
	close_fds(a_sees_b, 1);
	close_fds(b_sees_a, 1);
	client_close(&a);
	client_close(&b);
	ivserver_close(&s);
	fclose(log);
	free(log_buf);
}

static void test_refuse_beyond_max_peers(void)
{
	char *log_buf = NULL;
	size_t log_len = 0;
	FILE *log = open_memstream(&log_buf, &log_len);
	struct ivserver s;
	struct client a, b;
	int fds[1] = { -1 };
	int c, ret;
	int64_t v;

	CHECK(start_server(&s, 1, 2, log) == 0);
	CHECK(client_join(&s, &a, 0) == 0 && client_own_vectors(&a, 1) == 0);
	CHECK(client_join(&s, &b, 1) == 0 && read_peer(b.sock, 0, 1, fds) == 0 && client_own_vectors(&b, 1) == 0);
	close_fds(fds, 1);
	CHECK(read_peer(a.sock, 1, 1, fds) == 0);
	close_fds(fds, 1);

	/* A third peer, through the poll loop: a version no one speaks, then end of file; the others hear
	 * nothing. */
	c = client_connect(sock_path);
	CHECK(c >= 0);
	CHECK(serve(&s, RECV_TIMEOUT_MS) == 0);
	CHECK(recv_msg(c, &v, &fds[0]) == 0 && v == IVSERVER_REFUSED_VERSION && fds[0] == -1);
	CHECK(recv_msg(c, &v, &fds[0]) == -EPIPE);
	CHECK(s.n_peers == 2 && nothing_pending(a.sock) && nothing_pending(b.sock));
	close(c);
	/* And directly: accept says why. */
	c = client_connect(sock_path);
	CHECK(c >= 0 && ivserver_accept(&s) == -EUSERS);
	close(c);
	fflush(log);
	CHECK(strstr(log_buf, "refused a connection: 2 peers connected") != NULL);

	/* Once one leaves, a newcomer is welcome again. */
	client_close(&b);
	CHECK(serve(&s, RECV_TIMEOUT_MS) == 0);
	CHECK(expect_msg(a.sock, 1, 0, "leave notification") == 0);
	CHECK(client_join(&s, &b, 2) == 0 && read_peer(b.sock, 0, 1, fds) == 0 && client_own_vectors(&b, 1) == 0);
	close_fds(fds, 1);
	/* With nothing pending, accept does not block. */
	ret = ivserver_accept(&s);
	CHECK(ret == -EAGAIN);
	client_close(&a);
	client_close(&b);
	ivserver_close(&s);
	fclose(log);
	free(log_buf);
}

static void test_ids_unique_and_16_bit(void)
{
	struct ivserver s;
	struct client a, b, c;
	int fds[2] = { -1, -1 };

	CHECK(start_server(&s, 1, 3, NULL) == 0);
	CHECK(client_join(&s, &a, 0) == 0 && client_own_vectors(&a, 1) == 0);
	/* The last 16-bit id, then the count wraps to 0, which A holds: C gets 1. */
	s.next_id = IVSERVER_MAX_ID;
	CHECK(client_join(&s, &b, 65535) == 0 && read_peer(b.sock, 0, 1, fds) == 0 && client_own_vectors(&b, 1) == 0);
	close_fds(fds, 1);
	CHECK(client_join(&s, &c, 1) == 0);
	/* C hears of both others, in table order, then gets its own. */
	CHECK(read_peer(c.sock, 0, 1, &fds[0]) == 0 && read_peer(c.sock, 65535, 1, &fds[1]) == 0);
	CHECK(client_own_vectors(&c, 1) == 0);
	CHECK(s.next_id == 2);
	close_fds(fds, 2);
	client_close(&a);
	client_close(&b);
	client_close(&c);
	ivserver_close(&s);
}

static void test_data_from_peer_ends_it(void)
{
	struct ivserver s;
	struct client a, b;
	int fds[1] = { -1 }, ret;

	CHECK(start_server(&s, 1, 2, NULL) == 0);
	CHECK(client_join(&s, &a, 0) == 0 && client_own_vectors(&a, 1) == 0);
	CHECK(client_join(&s, &b, 1) == 0 && read_peer(b.sock, 0, 1, fds) == 0 && client_own_vectors(&b, 1) == 0);
	close_fds(fds, 1);
	CHECK(read_peer(a.sock, 1, 1, fds) == 0);
	close_fds(fds, 1);
	/* The protocol is one-way: a peer that talks is dropped, and the other told. */
	CHECK(write(b.sock, "x", 1) == 1);
	CHECK(serve(&s, RECV_TIMEOUT_MS) == 0);
	CHECK(expect_msg(a.sock, 1, 0, "leave notification") == 0);
	CHECK(ivserver_find_peer(&s, 1) == NULL && s.n_peers == 1);
	/* Closed with our byte unread, the server's end resets rather than ends the stream. */
	ret = recv_msg(b.sock, &(int64_t){ 0 }, &fds[0]);
	CHECK(ret == -ECONNRESET || ret == -EPIPE);
	CHECK(ivserver_disconnect(&s, 1) == -ENOENT);
	/* An explicit disconnect does the same. */
	CHECK(ivserver_disconnect(&s, 0) == 0 && s.n_peers == 0);
	CHECK(recv_msg(a.sock, &(int64_t){ 0 }, &fds[0]) == -EPIPE);
	client_close(&a);
	client_close(&b);
	ivserver_close(&s);
}

/* A peer that never reads its socket must not stall the server: once its buffer is full it is dropped. */
static void test_stuck_peer_is_dropped(void)
{
	struct ivserver s;
	struct client stuck, b;
	int small = 1, rounds = 0;

	CHECK(start_server(&s, 1, 2, NULL) == 0);
	CHECK(client_join(&s, &stuck, 0) == 0);
	/* The smallest send buffer the kernel allows, so that a few notifications fill it. */
	CHECK(setsockopt(ivserver_find_peer(&s, 0)->sock_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) == 0);
	while (ivserver_find_peer(&s, 0) != NULL && rounds < 500) {
		CHECK(client_join(&s, &b, (rounds + 1) & 0xffff) == 0);
		client_close(&b);
		CHECK(serve(&s, RECV_TIMEOUT_MS) == 0);
		rounds++;
	}
	CHECK(ivserver_find_peer(&s, 0) == NULL);
	CHECK(rounds < 500);
	client_close(&stuck);
	ivserver_close(&s);
}

/* Peers in test_many_peers_max_vectors: as many as serve() polls, each with every vector. */
#define MANY_PEERS 16u

/* What one of those peers has read so far. */
struct counted_client {
	int sock;
	unsigned header;                  /* version, id, region: in that order */
	unsigned from[MANY_PEERS];        /* eventfds per sender id, ours included */
	unsigned bad;                     /* messages out of order or fds that are not eventfds */
};

/* Read, without waiting, what the server sent c, counting and closing the fds. */
static void count_pending(struct counted_client *c, int want_id)
{
	int64_t v;
	int fd;

	while (recv_msg_flags(c->sock, &v, &fd, MSG_DONTWAIT) == 0) {
		if (c->header < 3) {
			int64_t want = c->header == 0 ? IVSERVER_PROTOCOL_VERSION : c->header == 1 ? want_id : -1;

			c->bad += v != want || (fd >= 0) != (c->header == 2);
			c->header++;
		} else if (v < 0 || v >= (int64_t)MANY_PEERS || fd < 0 || !is_eventfd(fd)) {
			c->bad++;
		} else {
			c->from[v]++;
		}
		if (fd >= 0)
			close(fd);
	}
}

/* The documented maximum of vectors with a full table of peers (far more than a socket buffer holds
 * for the later ones): every peer gets every eventfd of every peer, the server drops none. */
static void test_many_peers_max_vectors(void)
{
	struct counted_client c[MANY_PEERS];
	struct ivserver s;
	unsigned joined, rounds = 0;
	int done = 0;

	memset(c, 0, sizeof(c));
	CHECK(start_server(&s, IVSERVER_MAX_VECTORS, MANY_PEERS, NULL) == 0);
	for (joined = 0; joined < MANY_PEERS; joined++) {
		c[joined].sock = client_connect(sock_path);
		CHECK(c[joined].sock >= 0 && ivserver_accept(&s) == (int)joined);
	}
	/* The clients read as QEMU does, between the server's poll rounds. */
	while (!done && rounds++ < 10000) {
		done = 1;
		for (unsigned i = 0; i < MANY_PEERS; i++) {
			count_pending(&c[i], (int)i);
			for (unsigned j = 0; j < MANY_PEERS; j++)
				done &= c[i].from[j] == IVSERVER_MAX_VECTORS;
		}
		(void)serve(&s, 0);
	}
	CHECK(done && s.n_peers == MANY_PEERS);
	for (unsigned i = 0; i < MANY_PEERS; i++) {
		CHECK(c[i].header == 3 && c[i].bad == 0 && nothing_pending(c[i].sock));
		close(c[i].sock);
	}
	ivserver_close(&s);
}

/* Fill every free fd below the soft limit with copies of fd 0; returns how many (kept in fillers). */
static int fill_fds(int *fillers, int max)
{
	int n = 0, fd;

	while (n < max && (fd = fcntl(0, F_DUPFD_CLOEXEC, 0)) >= 0)
		fillers[n++] = fd;
	return n;
}

/* Out of file descriptors, for the connection itself or for its eventfds: that client is refused in the
 * protocol's way and the server goes on serving the others. */
static void test_out_of_fds_refuses_one_client(void)
{
	enum { MAX_FILL = 256 };
	int fillers[MAX_FILL], nfill, fds[2] = { -1, -1 }, b, c;
	struct rlimit saved, low;
	struct ivserver s;
	struct client a, d;
	int64_t v;

	CHECK(start_server(&s, 2, 4, NULL) == 0);
	CHECK(client_join(&s, &a, 0) == 0 && client_own_vectors(&a, 2) == 0);
	CHECK(getrlimit(RLIMIT_NOFILE, &saved) == 0);
	low = saved;
	low.rlim_cur = (rlim_t)fcntl(0, F_DUPFD_CLOEXEC, 0) + MAX_FILL / 2;
	close((int)low.rlim_cur - MAX_FILL / 2);
	CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
	nfill = fill_fds(fillers, MAX_FILL);
	CHECK(nfill > 2 && nfill < MAX_FILL);

	/* No fd at all for the connection: it is accepted through the reserve fd, and refused. */
	close(fillers[--nfill]);
	b = client_connect(sock_path);
	CHECK(b >= 0);
	CHECK(serve(&s, RECV_TIMEOUT_MS) == 0);
	CHECK(recv_msg(b, &v, &fds[0]) == 0 && v == IVSERVER_REFUSED_VERSION && fds[0] == -1);
	CHECK(recv_msg(b, &v, &fds[0]) == -EPIPE);
	/* One fd: the connection gets it, its first eventfd cannot be made: refused too. */
	close(fillers[--nfill]);
	close(fillers[--nfill]);
	c = client_connect(sock_path);
	CHECK(c >= 0);
	CHECK(serve(&s, RECV_TIMEOUT_MS) == 0);
	CHECK(recv_msg(c, &v, &fds[0]) == 0 && v == IVSERVER_REFUSED_VERSION && fds[0] == -1);
	CHECK(recv_msg(c, &v, &fds[0]) == -EPIPE);
	CHECK(s.n_peers == 1 && nothing_pending(a.sock));

	/* With fds again, the next client joins and the first hears of it only. */
	close(b);
	close(c);
	while (nfill > 0)
		close(fillers[--nfill]);
	CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
	CHECK(client_join(&s, &d, 1) == 0);
	CHECK(read_peer(a.sock, 1, 2, fds) == 0 && nothing_pending(a.sock));
	close_fds(fds, 2);
	client_close(&a);
	client_close(&d);
	ivserver_close(&s);
}

int main(void)
{
	if (fixture_start("test_ivserver") < 0)
		return 1;
	RUN_TEST(test_init_rejects_bad_counts);
	RUN_TEST(test_first_peer_handshake);
	RUN_TEST(test_second_peer_and_doorbells);
	RUN_TEST(test_leave_and_reconnect);
	RUN_TEST(test_refuse_beyond_max_peers);
	RUN_TEST(test_ids_unique_and_16_bit);
	RUN_TEST(test_data_from_peer_ends_it);
	RUN_TEST(test_stuck_peer_is_dropped);
	RUN_TEST(test_many_peers_max_vectors);
	RUN_TEST(test_out_of_fds_refuses_one_client);
	fixture_finish();
	return CHECK_SUMMARY("unit ivserver");
}
