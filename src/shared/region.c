/* region.c: the region file in /dev/shm: created by the host, opened by a loopback guest. */
#include "region.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

const char *ivb_map_kind_name(enum ivb_map_kind kind)
{
	switch (kind) {
	case IVB_MAP_NONE: return "none";
	case IVB_MAP_SHM: return "shm";
	case IVB_MAP_RESOURCE2: return "resource2";
	case IVB_MAP_RESOURCE2_WC: return "resource2_wc";
	case IVB_MAP_REGION_WB: return "ivshmem_region";
	}
	return "invalid";
}

const char *ivb_map_missing_why(enum ivb_map_kind kind, uint32_t err)
{
	if (kind == IVB_MAP_REGION_WB && err == ENOENT)
		return "no /dev/ivshmem-region (the ivshmem_doorbell driver is not loaded)";
	if (err == EXDEV)
		return "its size differs from the first mapping's";
	return strerror((int)err);
}

static int map_fd(int fd, size_t size, struct ivb_mapping *m)
{
	/* Populated now, so that no page fault falls inside a timed copy or read. */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	m->region = p;
	m->size = size;
	m->fd = fd;
	return 0;
}

/*
 * The data is ours: nobody else on the machine may read it. A file we own is made 0600; one we do not own
 * must already be closed to others. Returns: 0, -EACCES, or a negative errno.
 */
static int make_private(int fd, const struct stat *st)
{
	if ((st->st_mode & 077) == 0)
		return 0;
	if (st->st_uid != geteuid())
		return -EACCES;
	return fchmod(fd, 0600) < 0 ? -errno : 0;
}

int ivb_shm_create(const char *path, uint64_t size, struct ivb_mapping *m)
{
	struct stat st;
	int fd, ret;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto err_close;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto err_close;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		goto err_close;
	}
	ret = make_private(fd, &st);
	if (ret < 0)
		goto err_close;
	if (size == 0)
		size = st.st_size > 0 ? (uint64_t)st.st_size : IVB_SHM_SIZE_DEFAULT;
	if (size < IVB_REGION_MIN_SIZE || size > SIZE_MAX) {
		ret = -EINVAL;
		goto err_close;
	}
	/* Grow only: shrinking a file a running QEMU maps would fault the guest. */
	if ((uint64_t)st.st_size < size && ftruncate(fd, (off_t)size) < 0) {
		ret = -errno;
		goto err_close;
	}
	ret = map_fd(fd, (size_t)size, m);
	if (ret < 0)
		goto err_close;
	m->kind = IVB_MAP_SHM;
	return 0;

err_close:
	close(fd);
	return ret;
}

int ivb_shm_open(const char *path, uint64_t timeout_ns, const volatile int *stop, struct ivb_mapping *m)
{
	const struct timespec poll_interval = { 0, 10 * 1000 * 1000 };
	uint64_t deadline = ivb_now_ns() + timeout_ns;
	struct stat st;
	int fd, ret;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	/* The guest may start first: wait for the host to create and size the file. */
	for (;;) {
		fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			if (fstat(fd, &st) < 0) {
				ret = -errno;
				goto err_close;
			}
			if (!S_ISREG(st.st_mode)) {
				ret = -EINVAL;
				goto err_close;
			}
			if ((uint64_t)st.st_size >= IVB_REGION_MIN_SIZE)
				break;
			close(fd);
		} else if (errno != ENOENT) {
			return -errno;
		}
		if (stop != NULL && *stop)
			return -EINTR;
		if (ivb_now_ns() > deadline)
			return -ETIMEDOUT;
		nanosleep(&poll_interval, NULL);
	}
	ret = map_fd(fd, (size_t)st.st_size, m);
	if (ret < 0)
		goto err_close;
	m->kind = IVB_MAP_SHM;
	/* A /dev/shm file is ordinary page-cache memory. */
	strcpy(m->memtype, "write-back");
	return 0;

err_close:
	close(fd);
	return ret;
}

int ivb_shm_map_fd(int fd, bool lock, struct ivb_mapping *m)
{
	char self[32];
	struct stat st;
	int map_from = fd, ret;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < IVB_REGION_MIN_SIZE || (uint64_t)st.st_size > SIZE_MAX)
		return -EINVAL;
	ret = make_private(fd, &st);
	if (ret < 0)
		return ret;
	if (lock) {
		/* An fd passed over a socket shares the sender's open file, and with it any flock: lock one of our own. */
		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		map_from = open(self, O_RDWR | O_CLOEXEC);
		if (map_from < 0)
			return -errno;
		if (flock(map_from, LOCK_EX | LOCK_NB) < 0) {
			ret = errno == EWOULDBLOCK ? -EBUSY : -errno;
			goto err_close;
		}
	}
	ret = map_fd(map_from, (size_t)st.st_size, m);
	if (ret < 0)
		goto err_close;
	/* The mapping keeps the locked file open: fd is not needed any more. */
	if (map_from != fd)
		close(fd);
	m->kind = IVB_MAP_SHM;
	strcpy(m->memtype, "write-back");
	return 0;

err_close:
	if (map_from != fd)
		close(map_from);
	return ret;
}

int ivb_shm_same_file(int fd, const char *path)
{
	struct stat a, b;

	if (fstat(fd, &a) < 0 || stat(path, &b) < 0)
		return -errno;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

void ivb_fd_name(int fd, char *buf, size_t len)
{
	char self[32];
	ssize_t n;

	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	n = readlink(self, buf, len > 0 ? len - 1 : 0);
	if (n < 0)
		snprintf(buf, len, "(fd %d)", fd);
	else
		buf[n] = '\0';
}

void ivb_unmap(struct ivb_mapping *m)
{
	if (m->region != NULL)
		munmap(m->region, m->size);
	if (m->fd >= 0)
		close(m->fd);
	m->region = NULL;
	m->fd = -1;
}
