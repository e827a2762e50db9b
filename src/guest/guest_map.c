/* guest_map.c: mapping the region: the host's /dev/shm file in loopback, or BAR2 of the ivshmem PCI device
 * (uncached, write-combining, or write-back through our driver). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "clock.h"
#include "guest.h"
#include "pci.h"

/* --map wb: through the driver; when it cannot, say which mappings still work. Returns: 0 or a negative errno. */
static int map_region_wb(const struct ivb_reader_config *cfg, const char *bdf, struct ivb_mapping *map)
{
	char others[64];
	int ret = ivb_pci_map_region_wb(cfg->sysfs_root, cfg->dev_dir, bdf, map);

	if (ret == 0)
		return 0;
	ivb_pci_sysfs_mappings(cfg->sysfs_root, bdf, others, sizeof(others));
	if (ret == -ENOENT)
		fprintf(stderr, PROG ": --map wb: no %s/ivshmem-region for %s (the ivshmem_doorbell driver is not loaded); "
			"still available: %s\n", cfg->dev_dir, bdf, others);
	else
		fprintf(stderr, PROG ": --map wb: cannot map BAR2 of %s through the ivshmem_doorbell driver: %s "
			"(dmesg says why); still available: %s\n", bdf, strerror(-ret), others);
	return ret;
}

int ivb_reader_map_region(const struct ivb_reader_config *cfg, struct ivb_mapping *map)
{
	char bdf[IVB_DEVICE_LEN];
	int ret;

	if (cfg->shm_path != NULL) {
		/* The host may not have created the file yet: wait for it as for the host, in slices to say so. */
		for (uint64_t waited = 0;; waited += IVB_CONNECT_NOTICE_S) {
			uint64_t slice = cfg->connect_timeout_s - waited < IVB_CONNECT_NOTICE_S ? cfg->connect_timeout_s - waited
												  : IVB_CONNECT_NOTICE_S;

			ret = ivb_shm_open(cfg->shm_path, slice * IVB_NS_PER_SEC, (const volatile int *)&ivb_stop_requested, map);
			if (ret != -ETIMEDOUT || waited + slice >= cfg->connect_timeout_s)
				break;
			fprintf(stderr, PROG ": waiting for host_writer to create %s (%llu s of %llu s; --connect-timeout)\n",
				cfg->shm_path, (unsigned long long)(waited + slice), (unsigned long long)cfg->connect_timeout_s);
		}
		if (ret < 0)
			fprintf(stderr, PROG ": cannot map %s: %s\n", cfg->shm_path,
				ret == -ETIMEDOUT ? "it did not appear in time (is host_writer running?)" :
				ret == -EINVAL ? "not a regular file" : strerror(-ret));
		return ret;
	}
	ret = ivb_pci_find(cfg->sysfs_root, cfg->device, bdf);
	if (ret < 0) {
		if (cfg->device != NULL)
			fprintf(stderr, PROG ": %s is not an ivshmem device (%04x:%04x) under %s\n", cfg->device,
				IVB_PCI_VENDOR, IVB_PCI_DEVICE, cfg->sysfs_root);
		else
			fprintf(stderr, PROG ": no ivshmem device (%04x:%04x) under %s: %s\n", IVB_PCI_VENDOR,
				IVB_PCI_DEVICE, cfg->sysfs_root, ret == -ENODEV ? "none found" : strerror(-ret));
		return ret;
	}
	if (cfg->wb)
		return map_region_wb(cfg, bdf, map);
	ret = ivb_pci_map_bar2(cfg->sysfs_root, bdf, cfg->wc, map);
	if (ret < 0)
		fprintf(stderr, PROG ": cannot map BAR2 of %s through %s: %s\n", bdf, cfg->wc ? "resource2_wc" : "resource2",
			ret == -ENOENT && cfg->wc ? "no resource2_wc (BAR2 not prefetchable?)" : strerror(-ret));
	return ret;
}

int ivb_reader_map_server_region(const struct ivb_reader_config *cfg, const struct ivb_bell *bell,
				 struct ivb_mapping *map, char *name, size_t name_len)
{
	int fd = bell->link.shm_fd, ret;

	if (bell->dev_fd >= 0 || fd < 0) {
		fprintf(stderr, PROG ": --doorbell %s is not an ivshmem server: loopback (--shm) needs a server's socket\n",
			cfg->doorbell);
		return -EINVAL;
	}
	ivb_fd_name(fd, name, name_len);
	if (cfg->shm_path != NULL) {
		ret = ivb_shm_same_file(fd, cfg->shm_path);
		if (ret <= 0) {
			fprintf(stderr, PROG ": the ivshmem server at %s shares %s, not --shm %s (%s): both sides would run "
				"on different memory; give --shm the server's file, or leave --shm out\n", cfg->doorbell, name,
				cfg->shm_path, ret == 0 ? "another file" : strerror(-ret));
			return ret == 0 ? -EXDEV : ret;
		}
	}
	/* The link keeps its own fd: the mapping gets a copy. */
	fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = ivb_shm_map_fd(fd, false, map);
	if (ret < 0) {
		close(fd);
		fprintf(stderr, PROG ": cannot map %s, the region of the ivshmem server at %s: %s\n", name, cfg->doorbell,
			ret == -EINVAL ? "not a regular file of a usable size" :
			ret == -EACCES ? "others may read it and it is not ours to make private" : strerror(-ret));
	}
	return ret;
}

void ivb_reader_describe(const struct ivb_mapping *map, struct ivb_guest_info *info)
{
	struct utsname uts;

	memset(info, 0, sizeof(*info));
	info->map_kind = map->kind;
	info->map_size = map->size;
	snprintf(info->device, sizeof(info->device), "%s", map->device);
	snprintf(info->memtype, sizeof(info->memtype), "%s", map->memtype[0] ? map->memtype : "unknown");
	if (uname(&uts) == 0)
		snprintf(info->kernel, sizeof(info->kernel), "%.*s", (int)sizeof(info->kernel) - 1, uts.release);
}
