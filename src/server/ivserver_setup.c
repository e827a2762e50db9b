/*
 * ivserver_setup.c: what the ivshmem server sets up before it serves peers: the file descriptor limit its
 * peers need, the shared memory file, and its listening socket (at a private default path).
 */
#include "ivserver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Connections the kernel queues before we accept them. */
#define IVSERVER_LISTEN_BACKLOG 16
#define IVSERVER_DIR_NAME "ivshmem-bench"
#define IVSERVER_SOCK_NAME "ivshmem.sock"

_Static_assert(IVSERVER_SOCK_PATH_LEN == sizeof(((struct sockaddr_un *)0)->sun_path),
	       "IVSERVER_SOCK_PATH_LEN must be the size of sun_path");

int ivserver_check_fd_limit(unsigned n_vectors, unsigned max_peers, uint64_t *needed, uint64_t *limit)
{
	struct rlimit rl;

	*needed = (uint64_t)max_peers * (1u + (uint64_t)n_vectors) + IVSERVER_FD_MARGIN;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < *needed) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > *needed ? *needed : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
	}
	*limit = rl.rlim_cur;
	return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= *needed ? 0 : -EMFILE;
}

static bool is_power_of_two(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

int ivserver_open_shm(struct ivserver *s, const char *path, uint64_t size, uint64_t default_size)
{
	struct stat st;
	uint64_t want;
	int fd, ret;

	if (s->shm_fd >= 0)
		return -EBUSY;
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto err_close_shm;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		goto err_close_shm;
	}
	if (size == 0)
		size = st.st_size > 0 ? (uint64_t)st.st_size : default_size;
	/* QEMU maps the whole file as BAR2, and a BAR is a power of two. */
	want = (uint64_t)st.st_size > size ? (uint64_t)st.st_size : size;
	if (want < IVSERVER_MIN_SHM_SIZE || !is_power_of_two(want) || want > (uint64_t)INT64_MAX) {
		ret = -EDOM;
		goto err_close_shm;
	}
	/* The region may hold what was measured: nobody else on the machine may read it. */
	if ((st.st_mode & 077) != 0 && st.st_uid == geteuid() && fchmod(fd, 0600) < 0) {
		ret = -errno;
		goto err_close_shm;
	}
	/* Grow only: shrinking a file that QEMU or host_writer maps would fault them. */
	if ((uint64_t)st.st_size < want && ftruncate(fd, (off_t)want) < 0) {
		ret = -errno;
		goto err_close_shm;
	}
	s->shm_fd = fd;
	s->shm_size = want;
	return 0;

err_close_shm:
	close(fd);
	return ret;
}

/* Return 0 if nothing is at path or a stale socket of ours was removed, else a negative errno. */
static int clear_stale_socket(const struct sockaddr_un *addr)
{
	struct stat st;
	int fd, ret;

	if (lstat(addr->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0)
		ret = -EADDRINUSE;
	else if (errno == ECONNREFUSED)
		ret = unlink(addr->sun_path) == 0 || errno == ENOENT ? 0 : -errno;
	else
		ret = -errno;
	close(fd);
	return ret;
}

int ivserver_listen(struct ivserver *s, const char *path)
{
	struct sockaddr_un addr;
	struct stat st;
	mode_t old_umask;
	int sock_fd, ret;

	if (s->sock_fd >= 0)
		return -EBUSY;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	if (path[0] == '\0' || strlen(path) >= sizeof(addr.sun_path))
		return path[0] == '\0' ? -ENOENT : -ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	ret = clear_stale_socket(&addr);
	if (ret < 0)
		return ret;

	sock_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sock_fd < 0)
		return -errno;
	/* The socket file gets its mode from the umask at bind(): only we may connect. */
	old_umask = umask(077);
	ret = bind(sock_fd, (const struct sockaddr *)&addr, sizeof(addr));
	umask(old_umask);
	if (ret < 0) {
		ret = -errno;
		goto err_close_sock;
	}
	if (lstat(path, &st) < 0) {
		ret = -errno;
		goto err_unlink_sock;
	}
	if ((st.st_mode & 07777) != 0600 && chmod(path, 0600) < 0) {
		ret = -errno;
		goto err_unlink_sock;
	}
	if (listen(sock_fd, IVSERVER_LISTEN_BACKLOG) < 0) {
		ret = -errno;
		goto err_unlink_sock;
	}
	memcpy(s->sock_path, addr.sun_path, sizeof(s->sock_path));
	s->sock_dev = st.st_dev;
	s->sock_ino = st.st_ino;
	s->sock_fd = sock_fd;
	return 0;

err_unlink_sock:
	unlink(path);
err_close_sock:
	close(sock_fd);
	return ret;
}

int ivserver_default_socket_path(char *buf, size_t len)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	char dir[IVSERVER_SOCK_PATH_LEN];
	struct stat st;
	int n;

	/* The XDG spec says to ignore a relative XDG_RUNTIME_DIR. */
	if (base == NULL || base[0] != '/') {
		if (geteuid() != 0)
			return -ENOENT;
		base = "/run";
	}
	n = snprintf(dir, sizeof(dir), "%s/" IVSERVER_DIR_NAME, base);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return -ENAMETOOLONG;
	n = snprintf(buf, len, "%s/" IVSERVER_SOCK_NAME, dir);
	if (n < 0 || (size_t)n >= len || (size_t)n >= IVSERVER_SOCK_PATH_LEN)
		return -ENAMETOOLONG;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	/* A folder someone else made, or opened up, could hold a socket that is not ours. */
	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
		return -EPERM;
	return 0;
}
