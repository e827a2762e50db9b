/* pci.c: the ivshmem device in sysfs. */
#include "pci.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ivshmem_doorbell.h"

/* Read a small sysfs attribute holding a hexadecimal number. Returns: 0, or a negative errno. */
static int read_hex_attr(const char *dir, const char *name, unsigned long *out)
{
	char path[PATH_MAX], buf[32];
	FILE *f;
	char *end;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (f == NULL)
		return -errno;
	if (fgets(buf, sizeof(buf), f) == NULL) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	*out = strtoul(buf, &end, 16);
	return end == buf ? -EINVAL : 0;
}

static bool is_ivshmem(const char *sysfs_root, const char *bdf)
{
	char dir[PATH_MAX];
	unsigned long vendor, device;

	if (snprintf(dir, sizeof(dir), "%s/%s", sysfs_root, bdf) >= (int)sizeof(dir))
		return false;
	return read_hex_attr(dir, "vendor", &vendor) == 0 && read_hex_attr(dir, "device", &device) == 0 &&
	       vendor == IVB_PCI_VENDOR && device == IVB_PCI_DEVICE;
}

int ivb_pci_find(const char *sysfs_root, const char *want, char bdf[IVB_DEVICE_LEN])
{
	struct dirent **names;
	int n, ret = -ENODEV;

	if (want != NULL) {
		if (strlen(want) >= IVB_DEVICE_LEN || strchr(want, '/') != NULL || !is_ivshmem(sysfs_root, want))
			return -ENODEV;
		strcpy(bdf, want);
		return 0;
	}
	n = scandir(sysfs_root, &names, NULL, alphasort);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		if (ret != 0 && names[i]->d_name[0] != '.' && strlen(names[i]->d_name) < IVB_DEVICE_LEN &&
		    is_ivshmem(sysfs_root, names[i]->d_name)) {
			strcpy(bdf, names[i]->d_name);
			ret = 0;
		}
		free(names[i]);
	}
	free(names);
	return ret;
}

/* Memory decoding may be off when no driver claimed the device; mmap would then read all ones. */
static int enable_device(const char *dir)
{
	char path[PATH_MAX], c = '0';
	int fd;

	if (snprintf(path, sizeof(path), "%s/enable", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno; /* a test tree may not have it */
	if (read(fd, &c, 1) == 1 && c == '0' && pwrite(fd, "1", 1, 0) != 1) {
		int err = -errno;

		close(fd);
		return err;
	}
	close(fd);
	return 0;
}

/* The start address of BAR2, from the third line of the device's resource file. */
static int bar2_start(const char *dir, uint64_t *start)
{
	char path[PATH_MAX], line[128];
	FILE *f;
	int ret = -EIO;

	if (snprintf(path, sizeof(path), "%s/resource", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (f == NULL)
		return -errno;
	for (int i = 0; i < 3 && fgets(line, sizeof(line), f) != NULL; i++) {
		if (i == 2 && sscanf(line, "%" SCNx64, start) == 1)
			ret = 0;
	}
	fclose(f);
	return ret;
}

/* Look the BAR up in the kernel's PAT list: "PAT: [mem 0x...-0x...] uncached-minus". */
static void find_memtype(const char *dir, char memtype[IVB_MEMTYPE_LEN])
{
	char line[256], want[64];
	uint64_t start;
	FILE *f;

	snprintf(memtype, IVB_MEMTYPE_LEN, "unknown");
	if (bar2_start(dir, &start) < 0)
		return;
	f = fopen(IVB_PAT_MEMTYPE_LIST, "re");
	if (f == NULL)
		return;
	snprintf(want, sizeof(want), "[mem 0x%016" PRIx64 "-", start);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *hit = strstr(line, want), *type;

		if (hit == NULL || (type = strchr(hit, ']')) == NULL)
			continue;
		type += strspn(type, "] ");
		type[strcspn(type, " \n")] = '\0';
		snprintf(memtype, IVB_MEMTYPE_LEN, "%s", type);
		/* The list has one line per mapping; the newest (ours) comes last. */
	}
	fclose(f);
}

int ivb_pci_map_bar2(const char *sysfs_root, const char *bdf, bool wc, struct ivb_mapping *m)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct stat st;
	void *p;
	int fd, ret;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (snprintf(dir, sizeof(dir), "%s/%s", sysfs_root, bdf) >= (int)sizeof(dir) ||
	    snprintf(path, sizeof(path), "%s/%s", dir, wc ? "resource2_wc" : "resource2") >= (int)sizeof(path))
		return -ENAMETOOLONG;
	ret = enable_device(dir);
	if (ret < 0)
		return ret;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto err_close;
	}
	/* sysfs gives a resource file the size of its BAR. */
	if (st.st_size <= 0) {
		ret = -EINVAL;
		goto err_close;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		goto err_close;
	}
	m->region = p;
	m->size = (size_t)st.st_size;
	m->fd = fd;
	m->kind = wc ? IVB_MAP_RESOURCE2_WC : IVB_MAP_RESOURCE2;
	snprintf(m->device, sizeof(m->device), "%s", bdf);
	find_memtype(dir, m->memtype);
	return 0;

err_close:
	close(fd);
	return ret;
}

/*
 * Open the driver's region file of bdf. sysfs lists a device's misc files under <device>/misc/, so only
 * bdf's own file is opened (opening one gives its BAR pages). Returns: fd, -ENOENT if bdf has none, or -errno.
 */
static int open_region_file(const char *dir, const char *dev_dir, const char *bdf, struct ivdb_region_info *info)
{
	char path[PATH_MAX], name[64] = "";
	struct dirent *e;
	DIR *misc;
	int fd;

	if (snprintf(path, sizeof(path), "%s/misc", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	misc = opendir(path);
	if (misc == NULL)
		return errno == ENOENT ? -ENOENT : -errno;
	while ((e = readdir(misc)) != NULL) {
		size_t len = strlen(e->d_name);

		if (strncmp(e->d_name, IVB_PCI_REGION_FILE, strlen(IVB_PCI_REGION_FILE)) == 0 && len < sizeof(name))
			memcpy(name, e->d_name, len + 1);
	}
	closedir(misc);
	if (name[0] == '\0')
		return -ENOENT;
	if (snprintf(path, sizeof(path), "%s/%s", dev_dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(info, 0, sizeof(*info));
	if (ioctl(fd, IVDB_IOC_REGION_INFO, info) < 0) {
		int err = -errno;

		close(fd);
		return err == -ENOTTY ? -ENOENT : err;
	}
	info->pci_name[sizeof(info->pci_name) - 1] = '\0';
	info->cache[sizeof(info->cache) - 1] = '\0';
	if (strcmp(info->pci_name, bdf) != 0) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

/* The memory type the page table entry of the mapping's first page selects, as the driver reads it back. */
static void read_pte_memtype(struct ivb_mapping *m)
{
	struct ivdb_region_pte pte;

	memset(&pte, 0, sizeof(pte));
	pte.addr = (uintptr_t)m->region;
	if (ioctl(m->fd, IVDB_IOC_REGION_PTE, &pte) == 0) {
		pte.type[sizeof(pte.type) - 1] = '\0';
		snprintf(m->memtype, IVB_MEMTYPE_LEN, "%s", pte.type);
	} else {
		snprintf(m->memtype, IVB_MEMTYPE_LEN, "unknown");
	}
}

int ivb_pci_map_region_wb(const char *sysfs_root, const char *dev_dir, const char *bdf, struct ivb_mapping *m)
{
	struct ivdb_region_info info;
	char dir[PATH_MAX];
	void *p;
	int fd, ret;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (snprintf(dir, sizeof(dir), "%s/%s", sysfs_root, bdf) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	fd = open_region_file(dir, dev_dir, bdf, &info);
	if (fd < 0)
		return fd;
	/* The driver's word is untrusted too: a size this process cannot map is refused, not truncated. */
	if (info.size < IVB_REGION_MIN_SIZE || info.size > SIZE_MAX) {
		ret = info.size > SIZE_MAX ? -EFBIG : -EINVAL;
		goto err_close;
	}
	p = mmap(NULL, (size_t)info.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		goto err_close;
	}
	m->region = p;
	m->size = (size_t)info.size;
	m->fd = fd;
	m->kind = IVB_MAP_REGION_WB;
	snprintf(m->device, sizeof(m->device), "%s", bdf);
	/*
	 * The memory type is read back from our page table entry. pat_memtype_list is no witness here: it
	 * records a type for BAR2's physical range (UC- when the MTRRs do not say write-back), which
	 * page-backed mappings do not take. The first page is faulted in for the driver to find its entry.
	 */
	(void)*(volatile uint8_t *)p;
	read_pte_memtype(m);
	return 0;

err_close:
	close(fd);
	return ret;
}

void ivb_pci_reread_memtype(const char *sysfs_root, struct ivb_mapping *m)
{
	char dir[PATH_MAX];

	switch (m->kind) {
	case IVB_MAP_RESOURCE2:
	case IVB_MAP_RESOURCE2_WC:
		if (snprintf(dir, sizeof(dir), "%s/%s", sysfs_root, m->device) < (int)sizeof(dir))
			find_memtype(dir, m->memtype);
		break;
	case IVB_MAP_REGION_WB: read_pte_memtype(m); break;
	case IVB_MAP_SHM:
	case IVB_MAP_NONE: break;
	}
}

void ivb_pci_sysfs_mappings(const char *sysfs_root, const char *bdf, char *buf, size_t len)
{
	char path[PATH_MAX];
	bool uc, wc;

	snprintf(path, sizeof(path), "%s/%s/resource2", sysfs_root, bdf);
	uc = access(path, F_OK) == 0;
	snprintf(path, sizeof(path), "%s/%s/resource2_wc", sysfs_root, bdf);
	wc = access(path, F_OK) == 0;
	snprintf(buf, len, "%s%s%s", uc ? "uc (resource2)" : "", uc && wc ? ", " : "", wc ? "wc (resource2_wc)" : "");
	if (!uc && !wc)
		snprintf(buf, len, "none");
}
