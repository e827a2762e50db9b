/* transport.c: the framing of transport.h on a connection, and the dispatch to each transport's module. */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "protocol.h" /* IVB_MAX_DURATION_NS, ivb_stop_requested */

static const char *const tp_names[] = {
	[IVB_TP_IVSHMEM] = "ivshmem", [IVB_TP_UNIX] = "unix", [IVB_TP_TCP] = "tcp", [IVB_TP_PIPE] = "pipe",
	[IVB_TP_VSOCK] = "vsock", [IVB_TP_VIRTIO_SERIAL] = "virtio-serial", [IVB_TP_VIRTIO_NET] = "virtio-net",
};
static const char *const test_names[] = {
	[IVB_TP_TEST_FRAMES] = "frames", [IVB_TP_TEST_MESSAGES] = "messages", [IVB_TP_TEST_PINGPONG] = "pingpong",
};

const char *ivb_tp_name(uint32_t transport)
{
	return transport >= IVB_TP_IVSHMEM && transport <= IVB_TP_MAX ? tp_names[transport] : "unknown";
}

int ivb_tp_parse(const char *s, enum ivb_transport *out)
{
	for (uint32_t t = IVB_TP_IVSHMEM; t <= IVB_TP_MAX; t++) {
		if (strcmp(s, tp_names[t]) == 0) {
			*out = (enum ivb_transport)t;
			return 0;
		}
	}
	return -EINVAL;
}

const char *ivb_tp_test_name(uint32_t test)
{
	return test >= IVB_TP_TEST_FRAMES && test <= IVB_TP_TEST_MAX ? test_names[test] : "unknown";
}

int ivb_tp_available(enum ivb_transport t, char *why, size_t n)
{
	int ret;

	if (t != IVB_TP_VSOCK || (ret = ivb_tp_vsock_probe()) == 0)
		return 0;
	snprintf(why, n, "this host's kernel offers no AF_VSOCK sockets (%s): no vsock module", strerror(-ret));
	return -ENODEV;
}

int ivb_tp_fail(char *why, size_t n, int err, const char *what)
{
	snprintf(why, n, "%s: %s", what, strerror(err));
	return -err;
}

static int reject(char *why, size_t n, const char *what)
{
	snprintf(why, n, "%s", what);
	return -EPROTO;
}

int ivb_tp_check_spec(const struct ivb_tp_spec *s, char *why, size_t n)
{
	if (s->magic != IVB_TP_SPEC_MAGIC)
		return reject(why, n, "the transport message has no valid spec (bad magic)");
	if (s->transport <= IVB_TP_IVSHMEM || s->transport > IVB_TP_MAX)
		return reject(why, n, "the transport message names an unknown transport");
	if (s->test < IVB_TP_TEST_FRAMES || s->test > IVB_TP_TEST_MAX)
		return reject(why, n, "the transport message names an unknown test");
	if (s->verify < IVB_VERIFY_NONE || s->verify > IVB_RING_VERIFY_MAX)
		return reject(why, n, "the transport message names an unknown verification");
	if (s->size < IVB_RING_MIN_FRAME || s->size > IVB_TP_MAX_PAYLOAD)
		return reject(why, n, "the transport message's frame size is out of range");
	if (s->window == 0 || s->window > IVB_TP_MAX_WINDOW)
		return reject(why, n, "the transport message's window is out of range");
	if (memchr(s->path, '\0', sizeof(s->path)) == NULL)
		return reject(why, n, "the transport message's path is not terminated");
	switch ((enum ivb_transport)s->transport) {
	case IVB_TP_TCP:
	case IVB_TP_VIRTIO_NET:
		if (s->port == 0 || s->port > 65535)
			return reject(why, n, "the transport message's TCP port is out of range");
		return 0;
	case IVB_TP_VSOCK:
		if (s->port == 0 || s->port > IVB_TP_VSOCK_MAX)
			return reject(why, n, "the transport message's vsock port is out of range");
		return 0;
	case IVB_TP_VIRTIO_SERIAL:
		/* A name looked up in /sys/class/virtio-ports: never a path. */
		if (s->path[0] == '\0' || strchr(s->path, '/') != NULL || s->path[0] == '.')
			return reject(why, n, "the transport message's virtio-serial port name is not a plain name");
		return 0;
	case IVB_TP_UNIX:
	case IVB_TP_PIPE:
		if (s->path[0] != '/')
			return reject(why, n, "the transport message's path is not absolute");
		return 0;
	case IVB_TP_IVSHMEM: break;
	}
	return reject(why, n, "the transport message names an unknown transport");
}

int ivb_tp_parse_hdr(const uint8_t *buf, uint32_t types, uint64_t max_len, struct ivb_tp_hdr *h, char *why,
		     size_t n)
{
	memcpy(h, buf, sizeof(*h));
	if (h->magic != IVB_TP_HDR_MAGIC)
		return reject(why, n, "the peer sent a record without the record magic (out of step or corrupt)");
	if (h->type == 0 || h->type > IVB_TP_TYPE_MAX || !(types & IVB_TP_BIT(h->type))) {
		snprintf(why, n, "the peer sent a record of type %u where it may not", h->type);
		return -EPROTO;
	}
	if (h->type == IVB_TP_FRAME ? h->len < IVB_RING_STAMP_LEN || h->len > max_len : h->len != 0) {
		snprintf(why, n, "the peer sent a record of type %u with a length of %llu bytes (at most %llu)", h->type,
			 (unsigned long long)h->len, (unsigned long long)(h->type == IVB_TP_FRAME ? max_len : 0));
		return -EPROTO;
	}
	if (h->type == IVB_TP_ACK &&
	    (h->status == 0 || h->status > IVB_FRAME_STATUS_MAX || h->a > IVB_MAX_DURATION_NS || h->b > IVB_MAX_DURATION_NS))
		return reject(why, n, "the peer acknowledged a frame with a status or duration out of range");
	if (h->type != IVB_TP_ACK && h->status != 0)
		return reject(why, n, "the peer sent a status on a record that has none");
	return 0;
}

void ivb_tp_conn_init(struct ivb_tp_conn *c, int rfd, int wfd)
{
	memset(c, 0, sizeof(*c));
	c->rfd = rfd;
	c->wfd = wfd;
	fcntl(rfd, F_SETFL, fcntl(rfd, F_GETFL) | O_NONBLOCK);
	if (wfd != rfd)
		fcntl(wfd, F_SETFL, fcntl(wfd, F_GETFL) | O_NONBLOCK);
}

void ivb_tp_close(struct ivb_tp_conn *c)
{
	if (c->wfd >= 0 && c->wfd != c->rfd)
		close(c->wfd);
	if (c->rfd >= 0)
		close(c->rfd);
	c->rfd = c->wfd = -1;
}

int ivb_tp_poll(int fd, short events, uint64_t deadline_ns)
{
	for (;;) {
		uint64_t now = ivb_now_ns();
		struct pollfd p = { .fd = fd, .events = events };
		int ms, ret;

		if (ivb_stop_requested)
			return -EINTR;
		if (now >= deadline_ns)
			return 0;
		/* Rounded up: a wait never ends before its deadline. */
		ms = (deadline_ns - now) / 1000000u >= 1000 ? 1000 : (int)((deadline_ns - now + 999999u) / 1000000u);
		ret = poll(&p, 1, ms);
		if (ret > 0)
			return 1; /* ready, or an error or hang-up that the next call reports */
		if (ret < 0 && errno != EINTR)
			return -errno;
	}
}

/* A failed read or write, as the peer's fault or ours. */
static int io_error(int err)
{
	return err == EPIPE || err == ECONNRESET || err == ENOTCONN ? -EPIPE : -err;
}

int ivb_tp_send(struct ivb_tp_conn *c, const struct ivb_tp_hdr *h, const void *payload, size_t len,
		uint64_t deadline_ns)
{
	struct iovec iov[2] = { { (void *)h, IVB_TP_HDR_LEN }, { (void *)payload, len } };
	int niov = len > 0 ? 2 : 1, first = 0;

	while (first < niov) {
		ssize_t w = writev(c->wfd, iov + first, niov - first);

		if (w < 0) {
			int ret;

			if (errno != EAGAIN && errno != EINTR)
				return io_error(errno);
			ret = ivb_tp_poll(c->wfd, POLLOUT, deadline_ns);
			if (ret == 0)
				return -ETIMEDOUT;
			if (ret < 0)
				return ret;
			continue;
		}
		/* A short write: go on from where it stopped. */
		while (first < niov && (size_t)w >= iov[first].iov_len)
			w -= (ssize_t)iov[first++].iov_len;
		if (first < niov) {
			iov[first].iov_base = (uint8_t *)iov[first].iov_base + w;
			iov[first].iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Read what has arrived (at least one byte, waiting until the deadline when wait) into dst. */
static int read_some(struct ivb_tp_conn *c, void *dst, size_t cap, bool wait, uint64_t deadline_ns, size_t *got)
{
	for (;;) {
		ssize_t r = read(c->rfd, dst, cap);
		int ret;

		if (r > 0) {
			*got = (size_t)r;
			return 0;
		}
		if (r == 0)
			return -EPIPE; /* the peer closed its end */
		if (errno != EAGAIN && errno != EINTR)
			return io_error(errno);
		if (!wait)
			return -EAGAIN;
		ret = ivb_tp_poll(c->rfd, POLLIN, deadline_ns);
		if (ret == 0)
			return -ETIMEDOUT;
		if (ret < 0)
			return ret;
	}
}

int ivb_tp_recv_hdr(struct ivb_tp_conn *c, bool wait, uint64_t deadline_ns, uint32_t types, uint64_t max_len,
		    struct ivb_tp_hdr *h, char *why, size_t n)
{
	while (c->have - c->off < IVB_TP_HDR_LEN) {
		size_t got = 0;
		int ret;

		if (c->off > 0) { /* keep the partial header at the start of the buffer */
			memmove(c->rx, c->rx + c->off, c->have - c->off);
			c->have -= c->off;
			c->off = 0;
		}
		ret = read_some(c, c->rx + c->have, sizeof(c->rx) - c->have, wait, deadline_ns, &got);
		if (ret < 0)
			return ret;
		c->have += got;
	}
	if (ivb_tp_parse_hdr(c->rx + c->off, types, max_len, h, why, n) < 0)
		return -EPROTO;
	c->off += IVB_TP_HDR_LEN;
	return 0;
}

int ivb_tp_recv_payload(struct ivb_tp_conn *c, void *dst, size_t len, uint64_t deadline_ns)
{
	size_t done = c->have - c->off < len ? c->have - c->off : len;

	/* What came with the header first, then straight into dst. */
	memcpy(dst, c->rx + c->off, done);
	c->off += done;
	while (done < len) {
		size_t got = 0;
		int ret = read_some(c, (uint8_t *)dst + done, len - done, true, deadline_ns, &got);

		if (ret < 0)
			return ret;
		done += got;
	}
	return 0;
}

int ivb_tp_listen(struct ivb_tp_listener *l, enum ivb_transport t, const char *dir, uint32_t port, uint32_t cid,
		  struct ivb_tp_spec *spec, char *why, size_t n)
{
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->transport = t;
	spec->transport = t;
	switch (t) {
	case IVB_TP_UNIX: return ivb_tp_unix_listen(l, dir, spec, why, n);
	case IVB_TP_TCP: return ivb_tp_tcp_listen(l, port, spec, why, n);
	case IVB_TP_PIPE: return ivb_tp_pipe_listen(l, dir, spec, why, n);
	case IVB_TP_VIRTIO_SERIAL: return ivb_tp_serial_listen(l, dir, spec, why, n);
	case IVB_TP_VIRTIO_NET:
		l->port = spec->port = port;
		return 0; /* QEMU listens; the host connects in ivb_tp_accept */
	case IVB_TP_VSOCK:
		l->cid = cid;
		l->port = spec->port = port;
		return 0; /* the guest listens; the host connects in ivb_tp_accept */
	case IVB_TP_IVSHMEM: break;
	}
	snprintf(why, n, "%s cannot be listened on here", ivb_tp_name(t));
	return -EINVAL;
}

int ivb_tp_accept(struct ivb_tp_listener *l, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why, size_t n)
{
	switch (l->transport) {
	case IVB_TP_PIPE: return ivb_tp_pipe_accept(l, deadline_ns, c, why, n);
	case IVB_TP_VIRTIO_SERIAL: return ivb_tp_hello_accept(l, deadline_ns, c, why, n);
	case IVB_TP_VIRTIO_NET: return ivb_tp_net_accept(l, deadline_ns, c, why, n);
	case IVB_TP_VSOCK: return ivb_tp_vsock_accept(l, deadline_ns, c, why, n);
	case IVB_TP_UNIX:
	case IVB_TP_TCP:
	case IVB_TP_IVSHMEM: break;
	}
	return ivb_tp_socket_accept(l, deadline_ns, c, why, n);
}

void ivb_tp_unlisten(struct ivb_tp_listener *l)
{
	char fifo[IVB_TP_PATH_LEN + 8];

	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (l->path[0] && l->transport == IVB_TP_PIPE) {
		snprintf(fifo, sizeof(fifo), "%s.h2g", l->path);
		unlink(fifo);
		snprintf(fifo, sizeof(fifo), "%s.g2h", l->path);
		unlink(fifo);
	} else if (l->path[0] && l->transport != IVB_TP_VIRTIO_SERIAL) {
		unlink(l->path);
	}
	l->path[0] = '\0';
}

int ivb_tp_connect(const struct ivb_tp_spec *spec, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why,
		   size_t n)
{
	switch ((enum ivb_transport)spec->transport) {
	case IVB_TP_UNIX: return ivb_tp_unix_connect(spec, c, why, n);
	case IVB_TP_TCP: return ivb_tp_tcp_connect(spec, c, why, n);
	case IVB_TP_PIPE: return ivb_tp_pipe_connect(spec, deadline_ns, c, why, n);
	case IVB_TP_VIRTIO_SERIAL: return ivb_tp_serial_connect(spec, deadline_ns, c, why, n);
	case IVB_TP_VIRTIO_NET: return ivb_tp_net_connect(spec, deadline_ns, c, why, n);
	case IVB_TP_VSOCK: return ivb_tp_vsock_connect(spec, deadline_ns, c, why, n);
	case IVB_TP_IVSHMEM: break;
	}
	snprintf(why, n, "%s cannot be connected to here", ivb_tp_name(spec->transport));
	return -EINVAL;
}
