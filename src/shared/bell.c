/* bell.c: doorbell notification through an ivshmem server (ivpeer.c) or the guest driver's file. */
#include "bell.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ivshmem_doorbell.h"

__attribute__((format(printf, 4, 5)))
static int fail(int err, char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	return err;
}

static void reset(struct ivb_bell *b)
{
	memset(b, 0, sizeof(*b));
	b->dev_fd = -1;
	b->link.sock = b->link.own_fd = b->link.shm_fd = -1;
}

/* Open the driver's file at path and read who we are. Returns: 0 or a negative errno (why says). */
static int open_device(struct ivb_bell *b, const char *path, const char *pci_name, char *why, size_t why_len)
{
	struct ivdb_info info;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return fail(-errno, why, why_len, "cannot open %s: %s", path, strerror(errno));
	memset(&info, 0, sizeof(info));
	if (ioctl(fd, IVDB_IOC_INFO, &info) < 0) {
		int err = -errno;

		close(fd);
		return fail(err, why, why_len, "%s is not the ivshmem_doorbell driver's file (INFO: %s)", path,
			    strerror(-err));
	}
	info.pci_name[sizeof(info.pci_name) - 1] = '\0';
	if (pci_name != NULL && strcmp(info.pci_name, pci_name) != 0) {
		close(fd);
		return fail(-ENODEV, why, why_len, "%s belongs to %s, not to %s", path, info.pci_name, pci_name);
	}
	if (info.vectors < 1 || info.peer_id > 65535) {
		close(fd);
		return fail(-EPROTO, why, why_len, "%s reports %u vectors and peer id %u: no doorbell to wait on", path,
			    info.vectors, info.peer_id);
	}
	b->dev_fd = fd;
	b->id = (int)info.peer_id;
	b->dev_vectors = info.vectors;
	return 0;
}

int ivb_bell_open(struct ivb_bell *b, const char *path, const char *pci_name, uint64_t timeout_ns, char *why,
		  size_t why_len)
{
	struct stat st;
	int ret;

	reset(b);
	why[0] = '\0';
	if (stat(path, &st) == 0 && S_ISCHR(st.st_mode))
		return open_device(b, path, pci_name, why, why_len);
	if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
		return fail(-EINVAL, why, why_len, "%s is neither an ivshmem server's socket nor the doorbell driver's file",
			    path);
	/* A socket, or nothing yet: the server may still be starting. */
	ret = ivb_peer_connect(&b->link, path, timeout_ns);
	if (ret < 0)
		return fail(ret, why, why_len, "cannot join the ivshmem server at %s: %s", path,
			    ret == -EPROTO ? "it refused us or does not speak the ivshmem protocol" :
			    ret == -ETIMEDOUT ? "no complete handshake within the time limit (--timeout)" :
			    ret == -ENOENT ? "no such socket (is ivshmem_server running?)" :
			    ret == -ECONNREFUSED ? "nobody listens there (is ivshmem_server running?)" : strerror(-ret));
	b->id = b->link.id;
	return 0;
}

int ivb_bell_open_device_of(struct ivb_bell *b, const char *dev_dir, const char *pci_name, char *why,
			    size_t why_len)
{
	char path[256], first_why[IVB_BELL_WHY_LEN] = "";
	int first = 0;

	reset(b);
	for (int i = 0; i < IVB_BELL_DEVICES_MAX; i++) {
		int ret;

		if (i == 0)
			snprintf(path, sizeof(path), "%s/ivshmem-doorbell", dev_dir);
		else
			snprintf(path, sizeof(path), "%s/ivshmem-doorbell%d", dev_dir, i);
		if (access(path, F_OK) < 0) {
			if (i == 0)
				return fail(-ENOENT, why, why_len,
					    "no %s: the ivshmem_doorbell driver is not loaded, or the device is "
					    "ivshmem-plain (doorbell mode needs -device ivshmem-doorbell)", path);
			break;
		}
		ret = open_device(b, path, pci_name, why, why_len);
		if (ret == 0)
			return 0;
		/* Keep the reason of the first file: it is the likeliest to matter. */
		if (first == 0) {
			first = ret;
			snprintf(first_why, sizeof(first_why), "%s", why);
		}
	}
	return fail(first != 0 ? first : -ENODEV, why, why_len, "%s", first_why);
}

int ivb_bell_known(struct ivb_bell *b, int peer)
{
	if (peer < 0 || peer > 65535)
		return 0;
	return b->dev_fd >= 0 ? 1 : ivb_peer_known(&b->link, peer);
}

int ivb_bell_ring_vector(struct ivb_bell *b, int peer, uint32_t vector)
{
	int ret;

	if (vector > 0xffff)
		return -ENXIO;
	if (b->dev_fd >= 0)
		ret = ioctl(b->dev_fd, IVDB_IOC_RING, (unsigned long)IVDB_DOORBELL(peer, vector)) < 0 ? -errno : 0;
	else
		ret = ivb_peer_ring_vector(&b->link, peer, vector);
	if (ret == 0)
		b->rings_sent++;
	return ret;
}

int ivb_bell_ring(struct ivb_bell *b, int peer)
{
	return ivb_bell_ring_vector(b, peer, 0);
}

uint32_t ivb_bell_vectors(struct ivb_bell *b)
{
	return b->dev_fd >= 0 ? b->dev_vectors : ivb_peer_own_vectors(&b->link);
}

int ivb_bell_wait_on(struct ivb_bell *b, uint32_t vector)
{
	if (b->dev_fd >= 0)
		return vector == 0 ? 0 : -EOPNOTSUPP;
	if (ivb_peer_own_vectors(&b->link) <= vector)
		return -ENXIO;
	b->wait_vector = vector;
	return 0;
}

/* The file a wait polls and reads: the driver's, or our eventfd of the vector waited on. */
static int wait_fd(const struct ivb_bell *b)
{
	return b->dev_fd >= 0 ? b->dev_fd : ivb_peer_own_fd(&b->link, b->wait_vector);
}

void ivb_bell_ring_all(struct ivb_bell *b)
{
	if (b->dev_fd >= 0 || ivb_peer_update(&b->link) < 0)
		return;
	for (size_t i = 0; i < b->link.npeers; i++)
		ivb_bell_ring(b, b->link.peers[i].id);
}

int ivb_bell_share(struct ivb_bell *b)
{
	int fd = wait_fd(b);
	int flags = fd >= 0 ? fcntl(fd, F_GETFL) : -1;

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/*
 * Our eventfd of the vector waited on, or the driver's file: poll for news, then read (and so consume) the
 * count; both give a u64 (the driver's is that of vector 0). POLLHUP is the driver's file of a removed device.
 */
int ivb_bell_wait(struct ivb_bell *b, uint64_t timeout_ns)
{
	int fd = wait_fd(b);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t count;
	int ret = poll(&pfd, 1, (int)(timeout_ns / 1000000) + 1);

	if (ret < 0)
		return -errno;
	if (ret == 0)
		return 0;
	if (pfd.revents & (POLLHUP | POLLERR))
		return -ENODEV;
	if (read(fd, &count, sizeof(count)) != (ssize_t)sizeof(count))
		return errno == EAGAIN ? 0 : -errno;
	b->rings_received++;
	return 1;
}

void ivb_bell_report_late(const struct ivb_bell *b, const char *prog)
{
	if (b->late_wakeups == 0)
		return;
	fprintf(stderr, "%s: %llu waits ended on a %llu ms slice instead of a ring: %s\n", prog,
		(unsigned long long)b->late_wakeups, IVB_BELL_SLICE_NS / 1000000,
		b->rings_received == 0 ? "no ring ever arrived (does the peer's doorbell reach us?)"
				       : "rings were lost or late; the times of those messages include the wait");
}

void ivb_bell_close(struct ivb_bell *b)
{
	if (b->dev_fd >= 0)
		close(b->dev_fd);
	b->dev_fd = -1;
	ivb_peer_close(&b->link);
}
