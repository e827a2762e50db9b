/*
 * ivserver.c: the ivshmem server protocol (QEMU docs/specs/ivshmem-spec.rst): peers, eventfds, messages.
 * Its files (the shared memory file, the listening socket) and its fd limit are in ivserver_setup.c.
 */
#include "ivserver.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(IVSERVER_MAX_PEERS <= IVSERVER_MAX_ID + 1u, "more peers than ids");

__attribute__((format(printf, 2, 3)))
static void server_log(const struct ivserver *s, const char *fmt, ...)
{
	va_list ap;

	if (s->log == NULL)
		return;
	fputs("ivshmem_server: ", s->log);
	va_start(ap, fmt);
	vfprintf(s->log, fmt, ap);
	va_end(ap);
	fputc('\n', s->log);
	fflush(s->log);
}

/* Send one message: an int64 in little-endian order, with fd attached when fd >= 0. Never blocks:
 * -EAGAIN when the socket is full (the caller keeps the message for later). */
static int send_msg(int sock_fd, int64_t value, int fd)
{
	uint64_t le = htole64((uint64_t)value);
	struct iovec iov = { .iov_base = &le, .iov_len = sizeof(le) };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr msg;
	ssize_t n;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (fd >= 0) {
		struct cmsghdr *cmsg;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof(control.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(fd));
	}
	do {
		n = sendmsg(sock_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* A stream socket may take part of a message when its buffer is nearly full: the stream is
	 * then out of step, which is as bad as a failure. */
	return n == (ssize_t)sizeof(le) ? 0 : -EIO;
}

static void peer_reset(struct ivserver_peer *p)
{
	p->sock_fd = -1;
	p->id = 0;
	p->broken = false;
	for (unsigned v = 0; v < IVSERVER_MAX_VECTORS; v++)
		p->vectors[v] = -1;
	p->out = NULL;
	p->out_head = p->out_len = p->out_cap = 0;
}

static void peer_close_fds(struct ivserver_peer *p)
{
	if (p->sock_fd >= 0)
		close(p->sock_fd);
	for (unsigned v = 0; v < IVSERVER_MAX_VECTORS; v++)
		if (p->vectors[v] >= 0)
			close(p->vectors[v]);
	free(p->out);
	peer_reset(p);
}

/* Append a message to p's queue; a peer whose queue is past the server's bound reads too slowly to be
 * served and is marked broken (so are peers we cannot find memory for). */
static void queue_msg(const struct ivserver *s, struct ivserver_peer *p, int64_t value, int fd)
{
	if (p->broken)
		return;
	if (p->out_len - p->out_head >= s->queue_max) {
		p->broken = true;
		return;
	}
	if (p->out_len == p->out_cap && p->out_head > 0) {
		memmove(p->out, p->out + p->out_head, (p->out_len - p->out_head) * sizeof(*p->out));
		p->out_len -= p->out_head;
		p->out_head = 0;
	}
	if (p->out_len == p->out_cap) {
		size_t cap = p->out_cap == 0 ? 64 : 2 * p->out_cap;
		struct ivserver_msg *out = realloc(p->out, cap * sizeof(*out));

		if (out == NULL) {
			p->broken = true;
			return;
		}
		p->out = out;
		p->out_cap = cap;
	}
	p->out[p->out_len++] = (struct ivserver_msg){ .value = value, .fd = fd };
}

/* Send what p's socket takes of its queue; a send that fails other than by a full socket breaks p. */
static void flush_peer(struct ivserver_peer *p)
{
	while (!p->broken && p->out_head < p->out_len) {
		int ret = send_msg(p->sock_fd, p->out[p->out_head].value, p->out[p->out_head].fd);

		if (ret == -EAGAIN)
			return;
		if (ret < 0)
			p->broken = true;
		else
			p->out_head++;
	}
	if (p->out_head == p->out_len)
		p->out_head = p->out_len = 0;
}

/* Forget the queued messages that carry one of the leaving peer's eventfds: they are about to be
 * closed (and their numbers reused). The leave message that follows makes the receiver drop any it
 * already got. */
static void unqueue_peer_fds(struct ivserver_peer *p, const struct ivserver_peer *gone)
{
	size_t k = p->out_head;

	for (size_t i = p->out_head; i < p->out_len; i++)
		if (p->out[i].fd < 0 || p->out[i].value != (int64_t)gone->id)
			p->out[k++] = p->out[i];
	p->out_len = k;
}

int ivserver_init(struct ivserver *s, unsigned n_vectors, unsigned max_peers, FILE *log)
{
	memset(s, 0, sizeof(*s));
	s->sock_fd = -1;
	s->shm_fd = -1;
	s->reserve_fd = -1;
	s->log = log;
	if (n_vectors < 1 || n_vectors > IVSERVER_MAX_VECTORS || max_peers < 1 || max_peers > IVSERVER_MAX_PEERS)
		return -EINVAL;
	s->peers = calloc(max_peers, sizeof(*s->peers));
	if (s->peers == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < max_peers; i++)
		peer_reset(&s->peers[i]);
	s->n_vectors = n_vectors;
	s->max_peers = max_peers;
	/* Twice a whole handshake: room for a full one and the joins and leaves while it is read. */
	s->queue_max = 2 * (3 + (size_t)max_peers * (n_vectors + 1));
	s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (s->reserve_fd < 0) {
		int ret = -errno;

		ivserver_close(s);
		return ret;
	}
	return 0;
}

struct ivserver_peer *ivserver_find_peer(struct ivserver *s, unsigned id)
{
	for (unsigned i = 0; i < s->max_peers; i++)
		if (s->peers[i].sock_fd >= 0 && s->peers[i].id == id)
			return &s->peers[i];
	return NULL;
}

/* Close a peer's slot and tell the others it left; a peer we cannot tell is marked broken. */
static void remove_peer(struct ivserver *s, struct ivserver_peer *p)
{
	unsigned id = p->id;

	for (unsigned i = 0; i < s->max_peers; i++)
		if (&s->peers[i] != p && s->peers[i].sock_fd >= 0)
			unqueue_peer_fds(&s->peers[i], p);
	peer_close_fds(p);
	s->n_peers--;
	server_log(s, "peer %u left (%u connected)", id, s->n_peers);
	for (unsigned i = 0; i < s->max_peers; i++) {
		struct ivserver_peer *o = &s->peers[i];

		if (o->sock_fd >= 0 && !o->broken) {
			queue_msg(s, o, (int64_t)id, -1);
			flush_peer(o);
		}
	}
}

/* Drop every peer a send failed on; dropping one may break another, hence the loop. */
static void reap_broken(struct ivserver *s)
{
	bool again = true;

	while (again) {
		again = false;
		for (unsigned i = 0; i < s->max_peers; i++) {
			if (s->peers[i].sock_fd >= 0 && s->peers[i].broken) {
				remove_peer(s, &s->peers[i]);
				again = true;
			}
		}
	}
}

int ivserver_disconnect(struct ivserver *s, unsigned id)
{
	struct ivserver_peer *p = ivserver_find_peer(s, id);

	if (p == NULL)
		return -ENOENT;
	remove_peer(s, p);
	reap_broken(s);
	return 0;
}

/* The lowest id from next_id on (wrapping at 65536) that no connected peer has. */
static unsigned free_id(struct ivserver *s)
{
	unsigned id = s->next_id;

	/* At most max_peers ids are taken and max_peers <= 65536, so this ends. */
	while (ivserver_find_peer(s, id) != NULL)
		id = (id + 1) & IVSERVER_MAX_ID;
	s->next_id = (id + 1) & IVSERVER_MAX_ID;
	return id;
}

/* Steps 1-4 of the handshake, queued for the new peer p (not yet in the table). */
static void queue_setup(struct ivserver *s, struct ivserver_peer *p)
{
	queue_msg(s, p, IVSERVER_PROTOCOL_VERSION, -1);
	queue_msg(s, p, p->id, -1);
	queue_msg(s, p, -1, s->shm_fd);
	for (unsigned i = 0; i < s->max_peers; i++) {
		const struct ivserver_peer *o = &s->peers[i];

		if (o->sock_fd < 0 || o->broken)
			continue;
		for (unsigned v = 0; v < s->n_vectors; v++)
			queue_msg(s, p, o->id, o->vectors[v]);
	}
}

/* Tell a client we cannot serve it (best effort: it may be gone already) and close it. */
static void refuse(int fd)
{
	(void)send_msg(fd, IVSERVER_REFUSED_VERSION, -1);
	close(fd);
}

/* Accept when the fd table is full: the reserve fd makes room for the connection, which is refused, so
 * that it leaves the backlog (else poll would report it again and again). */
static int accept_refuse_no_fds(struct ivserver *s, int err)
{
	int fd;

	if (s->reserve_fd < 0)
		return err;
	close(s->reserve_fd);
	fd = accept4(s->sock_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		refuse(fd);
	s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	server_log(s, "refused a connection: out of file descriptors (%s)", strerror(-err));
	return err;
}

int ivserver_accept(struct ivserver *s)
{
	struct ivserver_peer np, *p = NULL;
	unsigned id;
	int fd, ret;

	do {
		fd = accept4(s->sock_fd, NULL, NULL, SOCK_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE))
		return accept_refuse_no_fds(s, -errno);
	if (fd < 0)
		return -errno;
	if (s->n_peers >= s->max_peers) {
		refuse(fd);
		server_log(s, "refused a connection: %u peers connected, the most allowed (--max-peers)", s->n_peers);
		return -EUSERS;
	}
	/* The newcomer stays out of the table until its setup is queued, so that it is not told about itself. */
	peer_reset(&np);
	np.sock_fd = fd;
	for (unsigned v = 0; v < s->n_vectors; v++) {
		np.vectors[v] = eventfd(0, EFD_CLOEXEC);
		if (np.vectors[v] < 0) {
			ret = -errno;
			goto err_close_peer;
		}
	}
	/* Only now: a refused client uses up no id. */
	np.id = (uint16_t)free_id(s);
	queue_setup(s, &np);
	if (np.broken) {
		ret = -ENOMEM;
		goto err_close_peer;
	}

	/* From here the peer is in the table: a failure drops it like any disconnect. */
	for (unsigned i = 0; i < s->max_peers && p == NULL; i++)
		if (s->peers[i].sock_fd < 0)
			p = &s->peers[i];
	*p = np;
	s->n_peers++;
	id = p->id;
	for (unsigned i = 0; i < s->max_peers; i++) {
		struct ivserver_peer *o = &s->peers[i];

		if (o == p || o->sock_fd < 0 || o->broken)
			continue;
		for (unsigned v = 0; v < s->n_vectors; v++)
			queue_msg(s, o, p->id, p->vectors[v]);
		flush_peer(o);
	}
	for (unsigned v = 0; v < s->n_vectors; v++)
		queue_msg(s, p, p->id, p->vectors[v]);
	flush_peer(p);
	if (p->broken) {
		server_log(s, "peer %u went away during the handshake", id);
		reap_broken(s);
		return -EPIPE;
	}
	server_log(s, "peer %u joined with %u vector%s (%u connected)", id, s->n_vectors,
		   s->n_vectors == 1 ? "" : "s", s->n_peers);
	reap_broken(s);
	return (int)id;

err_close_peer:
	/* Nothing was sent yet: the client learns it was refused rather than seeing the stream end. */
	server_log(s, "refused a connection: %s", strerror(-ret));
	refuse(np.sock_fd);
	np.sock_fd = -1;
	peer_close_fds(&np);
	return ret;
}

size_t ivserver_pollfds(const struct ivserver *s, struct pollfd *fds, size_t max)
{
	size_t n = 0;

	if (s->sock_fd >= 0 && n < max)
		fds[n++] = (struct pollfd){ .fd = s->sock_fd, .events = POLLIN };
	for (unsigned i = 0; i < s->max_peers && n < max; i++)
		if (s->peers[i].sock_fd >= 0)
			fds[n++] = (struct pollfd){
				.fd = s->peers[i].sock_fd,
				.events = POLLIN | (s->peers[i].out_head < s->peers[i].out_len ? POLLOUT : 0),
			};
	return n;
}

int ivserver_handle_pollfds(struct ivserver *s, const struct pollfd *fds, size_t n)
{
	bool pending = false;

	for (size_t k = 0; k < n; k++) {
		if (fds[k].revents == 0)
			continue;
		if (fds[k].fd == s->sock_fd) {
			if (fds[k].revents & (POLLERR | POLLNVAL))
				return -EIO;
			pending = true;
			continue;
		}
		/* The protocol is one-way: data from a peer, or its hang-up, ends it. */
		for (unsigned i = 0; i < s->max_peers; i++) {
			if (s->peers[i].sock_fd != fds[k].fd)
				continue;
			if (fds[k].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
				remove_peer(s, &s->peers[i]);
			else
				flush_peer(&s->peers[i]);
			break;
		}
	}
	reap_broken(s);
	if (pending) {
		int ret = ivserver_accept(s);

		/* These concern one client, which is gone or refused; the server goes on. */
		if (ret >= 0 || ret == -EUSERS || ret == -EAGAIN || ret == -EPIPE || ret == -ECONNABORTED ||
		    ret == -EPROTO || ret == -EPERM || ret == -EMFILE || ret == -ENFILE || ret == -ENOMEM)
			return 0;
		return ret;
	}
	return 0;
}

void ivserver_close(struct ivserver *s)
{
	struct stat st;

	if (s->peers != NULL) {
		for (unsigned i = 0; i < s->max_peers; i++)
			peer_close_fds(&s->peers[i]);
		free(s->peers);
		s->peers = NULL;
	}
	s->n_peers = 0;
	s->max_peers = 0;
	if (s->sock_fd >= 0) {
		close(s->sock_fd);
		s->sock_fd = -1;
		/* Another server may have replaced our file since: leave theirs alone. */
		if (lstat(s->sock_path, &st) == 0 && st.st_dev == s->sock_dev && st.st_ino == s->sock_ino)
			unlink(s->sock_path);
	}
	s->sock_path[0] = '\0';
	if (s->shm_fd >= 0) {
		close(s->shm_fd);
		s->shm_fd = -1;
	}
	if (s->reserve_fd >= 0) {
		close(s->reserve_fd);
		s->reserve_fd = -1;
	}
}
