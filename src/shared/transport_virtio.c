/* transport_virtio.c: the bench VM's transports, for transport.h.
 *
 * virtio-serial: QEMU serves a virtserialport on a chardev socket (a path on the host, mode 0600 in the
 * run's folder). The host connects to that socket before it sends the transport message; the guest opens
 * the port named in the spec (/dev/vportNpM, found through /sys/class/virtio-ports/<port>/name) and says
 * HELLO once QEMU has told it that the host is connected (until then the port reads as closed).
 *
 * virtio-net: TCP through QEMU's user network. QEMU listens on 127.0.0.1:PORT (hostfwd) and forwards each
 * connection to the guest's PORT, so the guest listens and the host connects. A connection made before the
 * guest listens is closed by QEMU at once: the host tries again until the guest's HELLO comes.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <linux/vm_sockets.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "transport.h"

#define VIRTIO_PORTS "/sys/class/virtio-ports"
/* How long to wait before asking again: QEMU has not told the guest of the host, or the guest not listening. */
#define RETRY_NS (10ull * 1000000ull)

/* A pause of RETRY_NS, never past the deadline. Returns: 0, -ETIMEDOUT once the deadline is reached. */
static int pause_until_retry(uint64_t deadline_ns)
{
	uint64_t now = ivb_now_ns(), until = now + RETRY_NS < deadline_ns ? now + RETRY_NS : deadline_ns;
	struct timespec ts = { .tv_sec = (time_t)((until - now) / 1000000000u), .tv_nsec = (long)((until - now) % 1000000000u) };

	if (now >= deadline_ns)
		return -ETIMEDOUT;
	nanosleep(&ts, NULL);
	return 0;
}

int ivb_tp_say_hello(struct ivb_tp_conn *c, uint64_t deadline_ns, char *why, size_t n)
{
	const struct ivb_tp_hdr hello = { .magic = IVB_TP_HDR_MAGIC, .type = IVB_TP_HELLO };
	int ret = ivb_tp_send(c, &hello, NULL, 0, deadline_ns);

	if (ret < 0)
		snprintf(why, n, "cannot say hello to the host: %s", strerror(-ret));
	return ret;
}

int ivb_tp_hello_accept(struct ivb_tp_listener *l, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why, size_t n)
{
	struct ivb_tp_hdr h;
	int ret = ivb_tp_poll(l->fd, POLLIN, deadline_ns);

	if (ret == 0)
		return -ETIMEDOUT;
	if (ret < 0)
		return ret;
	ivb_tp_conn_init(c, l->fd, l->fd);
	l->fd = -1;
	ret = ivb_tp_recv_hdr(c, true, deadline_ns, IVB_TP_BIT(IVB_TP_HELLO), 0, &h, why, n);
	if (ret == 0)
		return 0;
	if (ret == -ETIMEDOUT)
		snprintf(why, n, "the guest's hello came in part only");
	else if (ret != -EPROTO)
		snprintf(why, n, "the connection closed before the guest said hello: %s", strerror(-ret));
	ivb_tp_close(c);
	return ret == -ETIMEDOUT ? -EPROTO : ret;
}

int ivb_tp_serial_listen(struct ivb_tp_listener *l, const char *socket_path, struct ivb_tp_spec *spec, char *why,
			 size_t n)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	if ((size_t)snprintf(a.sun_path, sizeof(a.sun_path), "%s", socket_path) >= sizeof(a.sun_path)) {
		snprintf(why, n, "the virtio-serial chardev socket path is longer than %zu bytes", sizeof(a.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return ivb_tp_fail(why, n, errno, "cannot create a unix socket");
	if (connect(l->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int err = errno;

		snprintf(why, n, "cannot connect to QEMU's virtio-serial chardev socket %s: %s", a.sun_path, strerror(err));
		return -err;
	}
	snprintf(spec->path, sizeof(spec->path), "%s", IVB_TP_SERIAL_PORT);
	return 0;
}

/* Find the device of the virtio-serial port named name: /dev/vportNpM. Returns: 0, or -ENOENT. */
static int find_port(const char *name, char *dev, size_t len)
{
	DIR *d = opendir(VIRTIO_PORTS);
	struct dirent *e;
	int ret = -ENOENT;

	if (d == NULL)
		return -ENOENT;
	while (ret < 0 && (e = readdir(d)) != NULL) {
		char path[300], got[IVB_TP_PATH_LEN + 2] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), VIRTIO_PORTS "/%s/name", e->d_name);
		f = fopen(path, "re");
		if (f == NULL)
			continue;
		if (fgets(got, sizeof(got), f) != NULL) {
			got[strcspn(got, "\n")] = '\0';
			if (strcmp(got, name) == 0 && (size_t)snprintf(dev, len, "/dev/%s", e->d_name) < len)
				ret = 0;
		}
		fclose(f);
	}
	closedir(d);
	return ret;
}

int ivb_tp_serial_connect(const struct ivb_tp_spec *spec, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why,
			  size_t n)
{
	char dev[300];
	int fd;

	if (find_port(spec->path, dev, sizeof(dev)) < 0) {
		snprintf(why, n, "no virtio-serial port named %s in " VIRTIO_PORTS " (does the VM have the device?)", spec->path);
		return -ENOENT;
	}
	fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;

		snprintf(why, n, "cannot open the virtio-serial port %s: %s", dev, strerror(err));
		return -err;
	}
	/* The port is writable once QEMU has told the guest that the host is connected; until then it hangs up. */
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		if (poll(&p, 1, 0) > 0 && (p.revents & POLLOUT))
			break;
		if (pause_until_retry(deadline_ns) < 0) {
			close(fd);
			snprintf(why, n, "the host did not connect to the virtio-serial port %s in time", dev);
			return -ETIMEDOUT;
		}
	}
	ivb_tp_conn_init(c, fd, fd);
	if (ivb_tp_say_hello(c, deadline_ns, why, n) < 0) {
		ivb_tp_close(c);
		return -EPIPE;
	}
	return 0;
}

/* A failed connect, as worth trying again (the guest does not listen yet, or did not answer) or not. */
static bool connect_again(enum ivb_transport t, int err)
{
	return t == IVB_TP_VSOCK && (err == ECONNRESET || err == ECONNREFUSED || err == ETIMEDOUT);
}

/*
 * Host: connect to addr (non-blocking: the wait ends at the deadline, the connect may go on in the next
 * call), then wait for the guest's HELLO; again after a connection closed before it (virtio-net: QEMU's, the
 * guest not listening yet), or a connect the guest refused or left unanswered (vsock). what names the address
 * in why. Returns: as ivb_tp_accept; -ETIMEDOUT with why saying what the last attempt got.
 */
static int connect_for_hello(struct ivb_tp_listener *l, const struct sockaddr *addr, socklen_t len, const char *what,
			     uint64_t deadline_ns, struct ivb_tp_conn *c, char *why, size_t n)
{
	for (;;) {
		int ret, err = 0;
		socklen_t elen = sizeof(err);

		if (l->fd < 0) {
			l->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
			if (l->fd < 0)
				return ivb_tp_fail(why, n, errno, "cannot create a socket");
			l->connecting = connect(l->fd, addr, len) < 0;
			if (l->connecting && errno != EINPROGRESS)
				err = errno;
		}
		if (err == 0 && l->connecting) {
			ret = ivb_tp_poll(l->fd, POLLOUT, deadline_ns);
			if (ret <= 0)
				return ret == 0 ? -ETIMEDOUT : ret;
			if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
				err = errno;
			l->connecting = false;
		}
		if (err == 0) {
			if (addr->sa_family == AF_INET)
				ivb_tp_no_delay(l->fd);
			ret = ivb_tp_hello_accept(l, deadline_ns, c, why, n);
			if (ret != -EPIPE)
				return ret;
			snprintf(why, n, "%s closed the connection before the guest said hello", what);
		} else {
			close(l->fd);
			l->fd = -1;
			snprintf(why, n, "cannot connect to %s: %s", what, strerror(err));
			if (!connect_again(l->transport, err))
				return -err;
		}
		if (pause_until_retry(deadline_ns) < 0)
			return -ETIMEDOUT;
	}
}

/*
 * Guest: listen on addr (what names it in why) until the host connects by the deadline, then say HELLO on the
 * connection. Returns: 0, or a negative errno (why).
 */
static int listen_for_host(const struct sockaddr *addr, socklen_t len, const char *what, uint64_t deadline_ns,
			   struct ivb_tp_conn *c, char *why, size_t n)
{
	int one = 1, lfd, fd, ret;

	lfd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		ret = -errno;
		snprintf(why, n, "cannot create a socket for %s: %s", what, strerror(-ret));
		return ret;
	}
	if (addr->sa_family == AF_INET)
		(void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, addr, len) < 0 || listen(lfd, 1) < 0) {
		ret = -errno;
		snprintf(why, n, "cannot listen on %s: %s", what, strerror(-ret));
		close(lfd);
		return ret;
	}
	ret = ivb_tp_poll(lfd, POLLIN, deadline_ns);
	fd = ret > 0 ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) : -1;
	if (fd < 0) {
		ret = ret > 0 ? -errno : ret == 0 ? -ETIMEDOUT : ret;
		snprintf(why, n, "the host did not connect to %s in time: %s", what, strerror(-ret));
		close(lfd);
		return ret;
	}
	close(lfd); /* one host per test */
	if (addr->sa_family == AF_INET)
		ivb_tp_no_delay(fd);
	ivb_tp_conn_init(c, fd, fd);
	if (ivb_tp_say_hello(c, deadline_ns, why, n) < 0) {
		ivb_tp_close(c);
		return -EPIPE;
	}
	return 0;
}

int ivb_tp_net_accept(struct ivb_tp_listener *l, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why, size_t n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)l->port) };
	char what[64];

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	snprintf(what, sizeof(what), "QEMU's forwarded port 127.0.0.1:%u", l->port);
	return connect_for_hello(l, (struct sockaddr *)&a, sizeof(a), what, deadline_ns, c, why, n);
}

int ivb_tp_net_connect(const struct ivb_tp_spec *spec, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why,
		       size_t n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)spec->port) };
	char what[64];

	a.sin_addr.s_addr = htonl(INADDR_ANY); /* the guest's own interfaces: QEMU's user network forwards to it */
	snprintf(what, sizeof(what), "TCP port %u in the guest", spec->port);
	return listen_for_host((struct sockaddr *)&a, sizeof(a), what, deadline_ns, c, why, n);
}

void ivb_tp_vsock_addr(struct sockaddr_vm *a, uint32_t cid, uint32_t port)
{
	memset(a, 0, sizeof(*a));
	a->svm_family = AF_VSOCK;
	a->svm_cid = cid;
	a->svm_port = port;
}

int ivb_tp_vsock_probe(void)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

int ivb_tp_vsock_accept(struct ivb_tp_listener *l, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why, size_t n)
{
	struct sockaddr_vm a;
	char what[64];

	ivb_tp_vsock_addr(&a, l->cid, l->port);
	snprintf(what, sizeof(what), "the guest's vsock CID %u port %u", l->cid, l->port);
	return connect_for_hello(l, (struct sockaddr *)&a, sizeof(a), what, deadline_ns, c, why, n);
}

int ivb_tp_vsock_connect(const struct ivb_tp_spec *spec, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why,
			 size_t n)
{
	struct sockaddr_vm a;
	char what[64];

	ivb_tp_vsock_addr(&a, VMADDR_CID_ANY, spec->port); /* whichever CID QEMU gave this guest */
	snprintf(what, sizeof(what), "vsock port %u", spec->port);
	return listen_for_host((struct sockaddr *)&a, sizeof(a), what, deadline_ns, c, why, n);
}
