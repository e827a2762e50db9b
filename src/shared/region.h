/* region.h: getting the shared region into memory, on the host and in loopback. */
#ifndef IVB_REGION_H
#define IVB_REGION_H

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
 * file or is smaller than IVB_REGION_MIN_SIZE, or a negative errno.
 */
int ivb_shm_create(const char *path, uint64_t size, struct ivb_mapping *m);

/*
 * Loopback guest: map the existing region file at path, waiting up to timeout_ns for the host to
 * create it and give it at least IVB_REGION_MIN_SIZE bytes.
 * Returns: 0 on success, -ETIMEDOUT, -EINTR if *stop became non-zero, or a negative errno.
 */
int ivb_shm_open(const char *path, uint64_t timeout_ns, const volatile int *stop, struct ivb_mapping *m);

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
