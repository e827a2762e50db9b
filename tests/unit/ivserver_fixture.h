/* ivserver_fixture.h: the server's tests' temporary folder, a server started in it and a client connecting
 * to it, for test_ivserver.c and test_ivserver_setup.c (each its own program, each with its own copy). */
#ifndef IVB_IVSERVER_FIXTURE_H
#define IVB_IVSERVER_FIXTURE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "ivserver.h"

#define SHM_SIZE (64u * 1024u)
#define RECV_TIMEOUT_MS 2000
#define MAX_FDS_PER_MSG 4

static char tmpdir[64];
static char sock_path[128];
static char shm_path[128];

static void path_in_tmp(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

/* A server on sock_path and shm_path with a log in memory (*log_buf after fflush). */
static int start_server(struct ivserver *s, unsigned vectors, unsigned max_peers, FILE *log)
{
	int ret = ivserver_init(s, vectors, max_peers, log);

	if (ret == 0)
		ret = ivserver_open_shm(s, shm_path, SHM_SIZE, SHM_SIZE);
	if (ret == 0)
		ret = ivserver_listen(s, sock_path);
	return ret;
}

/* Copy path into a socket address; false if it does not fit. */
static int set_sun_path(struct sockaddr_un *addr, const char *path)
{
	size_t len = strlen(path);

	if (len >= sizeof(addr->sun_path))
		return 0;
	memcpy(addr->sun_path, path, len + 1);
	return 1;
}

static int client_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = RECV_TIMEOUT_MS / 1000, .tv_usec = (RECV_TIMEOUT_MS % 1000) * 1000 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (!set_sun_path(&addr, path)) {
		close(fd);
		return -ENAMETOOLONG;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

/* Make the temporary folder and its paths, and bound the whole run: a server that blocks on a peer would hang
 * a test, so the run ends instead. Returns: 0, or -1 (said on stderr with prog). */
static int fixture_start(const char *prog)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/ivb-ivserver.XXXXXX", base != NULL && strlen(base) < 30 ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		fprintf(stderr, "%s: mkdtemp: %s\n", prog, strerror(errno));
		return -1;
	}
	alarm(120);
	path_in_tmp(sock_path, sizeof(sock_path), "ivshmem.sock");
	path_in_tmp(shm_path, sizeof(shm_path), "shm");
	return 0;
}

/* Remove what the tests left in the temporary folder, and the folder. */
static void fixture_finish(void)
{
	unlink(sock_path);
	unlink(shm_path);
	rmdir(tmpdir);
}

#endif /* IVB_IVSERVER_FIXTURE_H */
