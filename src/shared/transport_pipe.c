/* transport_pipe.c: two FIFOs, host to guest (STEM.h2g) and guest to host (STEM.g2h), for transport.h.
 *
 * The opening order never blocks: the host opens STEM.g2h for reading first; the guest opens
 * STEM.h2g for reading, STEM.g2h for writing and sends HELLO; the host, seeing it, opens STEM.h2g
 * for writing and answers HELLO. A FIFO that never had a writer reads as closed, so the guest reads
 * nothing before that answer. Each side then holds the other's ends: a closed one is a dead peer.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "transport.h"

#define PIPE_STEM "transport-pipe"

static int pipe_fail(char *why, size_t n, int err, const char *what, const char *path)
{
	snprintf(why, n, "%s %s: %s", what, path, strerror(err));
	return -err;
}

/* A FIFO of mode 0600, replacing one a run that died left. */
static int make_fifo(const char *path, char *why, size_t n)
{
	struct stat st;

	if (lstat(path, &st) == 0 && S_ISFIFO(st.st_mode))
		unlink(path);
	if (mkfifo(path, 0600) < 0)
		return pipe_fail(why, n, errno, "cannot create the FIFO", path);
	return 0;
}

int ivb_tp_pipe_listen(struct ivb_tp_listener *l, const char *dir, struct ivb_tp_spec *spec, char *why, size_t n)
{
	char real[PATH_MAX], h2g[IVB_TP_PATH_LEN + 8], g2h[IVB_TP_PATH_LEN + 8];
	int ret;

	if (realpath(dir, real) == NULL)
		return pipe_fail(why, n, errno, "cannot resolve the output folder", dir);
	if ((size_t)snprintf(l->path, sizeof(l->path), "%s/" PIPE_STEM, real) >= sizeof(l->path)) {
		snprintf(why, n, "the FIFO path %s/" PIPE_STEM " is longer than %u bytes", real, IVB_TP_PATH_LEN - 1);
		l->path[0] = '\0';
		return -ENAMETOOLONG;
	}
	snprintf(h2g, sizeof(h2g), "%s.h2g", l->path);
	snprintf(g2h, sizeof(g2h), "%s.g2h", l->path);
	if ((ret = make_fifo(h2g, why, n)) < 0 || (ret = make_fifo(g2h, why, n)) < 0)
		return ret;
	l->fd = open(g2h, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (l->fd < 0)
		return pipe_fail(why, n, errno, "cannot open", g2h);
	snprintf(spec->path, sizeof(spec->path), "%s", l->path);
	return 0;
}

int ivb_tp_pipe_accept(struct ivb_tp_listener *l, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why, size_t n)
{
	const struct ivb_tp_hdr h = { .magic = IVB_TP_HDR_MAGIC, .type = IVB_TP_HELLO };
	char h2g[IVB_TP_PATH_LEN + 8];
	int ret, wfd;

	/* The guest's HELLO: it has both FIFOs open. The read end moves into the connection. */
	ret = ivb_tp_hello_accept(l, deadline_ns, c, why, n);
	if (ret == -EPIPE)
		snprintf(why, n, "the guest closed the FIFO before saying hello");
	if (ret < 0)
		return ret;
	snprintf(h2g, sizeof(h2g), "%s.h2g", l->path);
	wfd = open(h2g, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (wfd < 0) {
		ret = pipe_fail(why, n, errno, "cannot open", h2g);
		ivb_tp_close(c);
		return ret;
	}
	c->wfd = wfd;
	ret = ivb_tp_send(c, &h, NULL, 0, deadline_ns); /* its HELLO back: the h2g FIFO has a writer now */
	if (ret < 0) {
		snprintf(why, n, "cannot answer the guest's hello on %s: %s", h2g, strerror(-ret));
		ivb_tp_close(c);
	}
	return ret;
}

int ivb_tp_pipe_connect(const struct ivb_tp_spec *spec, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why,
			size_t n)
{
	char h2g[IVB_TP_PATH_LEN + 8], g2h[IVB_TP_PATH_LEN + 8];
	const struct ivb_tp_hdr hello = { .magic = IVB_TP_HDR_MAGIC, .type = IVB_TP_HELLO };
	struct ivb_tp_hdr h;
	int rfd, wfd, ret;

	snprintf(h2g, sizeof(h2g), "%s.h2g", spec->path);
	snprintf(g2h, sizeof(g2h), "%s.g2h", spec->path);
	rfd = open(h2g, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (rfd < 0)
		return pipe_fail(why, n, errno, "cannot open the host's FIFO", h2g);
	/* The host holds the read end already: ENXIO means it is gone. */
	wfd = open(g2h, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (wfd < 0) {
		ret = pipe_fail(why, n, errno, "cannot open the host's FIFO", g2h);
		close(rfd);
		return ret;
	}
	ivb_tp_conn_init(c, rfd, wfd);
	ret = ivb_tp_send(c, &hello, NULL, 0, deadline_ns);
	if (ret < 0) {
		snprintf(why, n, "cannot say hello on %s: %s", g2h, strerror(-ret));
		ivb_tp_close(c);
		return ret;
	}
	/* Before the first read: until the host opens its end, the FIFO reads as closed. */
	ret = ivb_tp_poll(rfd, POLLIN, deadline_ns);
	if (ret > 0)
		ret = ivb_tp_recv_hdr(c, true, deadline_ns, IVB_TP_BIT(IVB_TP_HELLO), 0, &h, why, n);
	else if (ret == 0)
		ret = -ETIMEDOUT;
	if (ret < 0) {
		if (ret != -EPROTO)
			snprintf(why, n, "the host did not answer hello on %s: %s", h2g, strerror(-ret));
		ivb_tp_close(c);
	}
	return ret;
}
