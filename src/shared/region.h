/* region.h: getting the shared region into memory, on the host and in loopback. */
#ifndef IVB_REGION_H
#define IVB_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "defaults.h" /* IVB_SHM_PATH_DEFAULT, IVB_SHM_SIZE_DEFAULT */

struct ivb_mapping {
	struct ivb_region *region;
	size_t size;              /* bytes mapped, header included */
	int fd;
	enum ivb_map_kind kind;
	char device[IVB_DEVICE_LEN]; /* PCI address for BAR mappings */
	char memtype[IVB_MEMTYPE_LEN];
};

/*
 * Host: open or create the region file at path, mode 0600, never following a symlink, and map it.
 * size 0 means the file's current size, or IVB_SHM_SIZE_DEFAULT for a new file. The file is grown
 * when it is smaller than size, never shrunk (a running QEMU may map it). An exclusive flock keeps
 * a second host_writer off the same file.
 * Returns: 0 on success, -EBUSY if another host holds the lock, -EINVAL if path is not a regular
 * file or is smaller than IVB_REGION_MIN_SIZE, -EACCES if others may read it and it is not ours to
 * close, or a negative errno.
 */
int ivb_shm_create(const char *path, uint64_t size, struct ivb_mapping *m);

/*
 * Loopback guest: map the existing region file at path, waiting up to timeout_ns for the host to
 * create it and give it at least IVB_REGION_MIN_SIZE bytes.
 * Returns: 0 on success, -ETIMEDOUT, -EINTR if *stop became non-zero, or a negative errno.
 */
int ivb_shm_open(const char *path, uint64_t timeout_ns, const volatile int *stop, struct ivb_mapping *m);

/*
 * Map the whole region open at fd, e.g. the one an ivshmem server hands its peers (which may have no path: QEMU's
 * server with -m, a memfd). The checks of ivb_shm_create: a regular file of at least IVB_REGION_MIN_SIZE bytes,
 * private (made 0600 if ours); it is never resized. With lock, an exclusive flock keeps a second host_writer off
 * it, as ivb_shm_create's does. On success the mapping owns fd (ivb_unmap closes it); on error the caller does.
 * Returns: 0, -EINVAL (not a regular file of a usable size), -EACCES (open to others and not ours to close),
 * -EBUSY (another host holds the lock), or a negative errno.
 */
int ivb_shm_map_fd(int fd, bool lock, struct ivb_mapping *m);

/* Whether path names the file open at fd (same device and inode). Returns: 1, 0, or a negative errno (path). */
int ivb_shm_same_file(int fd, const char *path);

/* The name the kernel gives the file open at fd, for messages: "/dev/shm/ivshmem", "/tmp/ivshmem.x1 (deleted)". */
void ivb_fd_name(int fd, char *buf, size_t len);

/* Unmap and close; safe on a mapping whose open failed or that is already unmapped. */
void ivb_unmap(struct ivb_mapping *m);

/* Name of a mapping kind for messages, CSV and the manifest: "shm", "resource2", ... */
const char *ivb_map_kind_name(enum ivb_map_kind kind);

/*
 * Why the map study could not make a mapping of this kind, from the errno the guest reported: words for
 * the cases a user meets (no driver for ivshmem_region), else strerror.
 */
const char *ivb_map_missing_why(enum ivb_map_kind kind, uint32_t err);

#endif /* IVB_REGION_H */
