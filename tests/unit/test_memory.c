/* Unit tests: the timed phases, the PCI device lookup on a fake sysfs tree, and mapping a region by its fd. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "pci.h"
#include "phases.h"
#include "region.h"
#include "scratch.h"
#include "sha256.h"

#define N (1u << 20)

static void test_read_lines_touches_every_line(void)
{
	uint8_t *buf = ivb_alloc_prefaulted(N);
	uint64_t expected = 0;

	CHECK(buf != NULL);
	if (buf == NULL)
		return;
	memset(buf, 0, N);
	/* One distinct word at the start of each line: the XOR of all of them is known. */
	for (uint64_t i = 0; i < N / 64; i++) {
		uint64_t word = i * 0x9e3779b97f4a7c15ull;

		memcpy(buf + i * 64, &word, sizeof(word));
		expected ^= word;
	}
	CHECK(ivb_read_lines(buf, N) == expected);
	/* A partial last line is read too (one byte of it). */
	buf[N - 64] = 0xff;
	CHECK(ivb_read_lines(buf + N - 64, 1) == 0xff);
	ivb_free_buffer(buf, N);
}

static void test_phases_verify(void)
{
	uint8_t *src = ivb_alloc_prefaulted(N), *dst = ivb_alloc_prefaulted(N);
	uint8_t sha[IVB_SHA256_LEN];
	struct ivb_guest_timing t;
	struct ivb_phase_counters counters[IVB_NPHASES];
	bool match = false;

	CHECK(src != NULL && dst != NULL);
	if (src == NULL || dst == NULL)
		return;
	CHECK(ivb_random_bytes(src, N) == 0);
	CHECK(ivb_sha256(src, N, sha) == 0);
	memset(&t, 0, sizeof(t));
	CHECK(ivb_run_phases(src, N, dst, sha, NULL, &t, counters, &match) == 0);
	CHECK(match);
	CHECK(memcmp(src, dst, N) == 0);
	CHECK(t.hot_read_ns > 0 && t.cold_read_ns > 0 && t.copy_ns > 0 && t.verify_ns > 0 && t.flush_ns > 0);
	/* Without counters every phase reads as not measured. */
	CHECK(counters[0].v[0] == IVB_CTR_NONE && counters[3].v[IVB_NCOUNTERS - 1] == IVB_CTR_NONE);
	src[12345] ^= 1;
	CHECK(ivb_run_phases(src, N, dst, sha, NULL, &t, counters, &match) == 0);
	CHECK(!match);
	ivb_free_buffer(src, N);
	ivb_free_buffer(dst, N);
}

static void test_flush_method(void)
{
#if defined(__x86_64__)
	CHECK(strcmp(ivb_flush_method(), "clflushopt") == 0 || strcmp(ivb_flush_method(), "clflush") == 0);
#else
	CHECK(ivb_flush_method() != NULL);
#endif
}

static char root[] = "/tmp/ivb-sysfs-XXXXXX";

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", root, dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static void make_device(const char *bdf, const char *vendor, const char *device)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, bdf);
	CHECK(mkdir(path, 0755) == 0);
	write_file(bdf, "vendor", vendor);
	write_file(bdf, "device", device);
}

static void test_pci_find_and_map(void)
{
	char bdf[IVB_DEVICE_LEN] = "";
	char path[512];
	struct ivb_mapping m;
	int fd;

	CHECK(ivb_pci_find(root, NULL, bdf) == -ENODEV);
	make_device("0000:00:02.0", "0x8086\n", "0x1237\n");
	make_device("0000:00:04.0", "0x1af4\n", "0x1110\n");
	make_device("0000:00:05.0", "0x1af4\n", "0x1110\n");
	CHECK(ivb_pci_find(root, NULL, bdf) == 0 && strcmp(bdf, "0000:00:04.0") == 0);
	CHECK(ivb_pci_find(root, "0000:00:05.0", bdf) == 0 && strcmp(bdf, "0000:00:05.0") == 0);
	CHECK(ivb_pci_find(root, "0000:00:02.0", bdf) == -ENODEV);
	CHECK(ivb_pci_find(root, "../../etc", bdf) == -ENODEV);
	CHECK(ivb_pci_find(root, "0000:00:09.0", bdf) == -ENODEV);

	/* BAR2 of the fake device: a 1 MiB file stands in for the sysfs resource file. */
	write_file("0000:00:04.0", "resource", "0x0 0x0 0x0\n0x0 0x0 0x0\n0x00000000fe000000 0x00000000fe0fffff 0x14220c\n");
	write_file("0000:00:04.0", "enable", "1\n");
	snprintf(path, sizeof(path), "%s/0000:00:04.0/resource2", root);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	close(fd);
	CHECK(ivb_pci_map_bar2(root, "0000:00:04.0", false, &m) == 0);
	CHECK(m.size == 1u << 20 && m.kind == IVB_MAP_RESOURCE2 && strcmp(m.device, "0000:00:04.0") == 0);
	CHECK(m.memtype[0] != '\0');
	ivb_unmap(&m);
	CHECK(ivb_pci_map_bar2(root, "0000:00:04.0", true, &m) == -ENOENT);
}

/*
 * A region handed over as an fd (an ivshmem server's, which may have no path): mapped whole, the same memory as
 * the sender's, made private, locked on a file of our own (a copy of the sender's fd shares its lock), and
 * told apart from another file of the same size.
 */
static void test_map_region_fd(void)
{
	char path[PATH_MAX], other[PATH_MAX];
	struct ivb_mapping a, b;
	struct stat st;
	int fd, fd2, fd3;

	snprintf(path, sizeof(path), "%s/region", root);
	snprintf(other, sizeof(other), "%s/other", root);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	CHECK(fd >= 0 && ftruncate(fd, 1 << 16) == 0 && fchmod(fd, 0644) == 0);
	close(open(other, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
	CHECK(truncate(other, 1 << 16) == 0);
	CHECK(ivb_shm_same_file(fd, path) == 1);
	CHECK(ivb_shm_same_file(fd, other) == 0);
	CHECK(ivb_shm_same_file(fd, "/nonexistent/region") == -ENOENT);
	fd2 = dup(fd);
	CHECK(ivb_shm_map_fd(fd2, true, &a) == 0);
	CHECK(a.size == 1 << 16 && a.kind == IVB_MAP_SHM && strcmp(a.memtype, "write-back") == 0);
	CHECK(fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0600);
	/* The path is gone, as with QEMU's server -m: the fd still names the memory both sides use. */
	CHECK(unlink(path) == 0);
	fd3 = dup(fd);
	CHECK(ivb_shm_map_fd(fd3, true, &b) == -EBUSY);
	CHECK(ivb_shm_map_fd(fd3, false, &b) == 0);
	a.region->magic = 0x1234;
	CHECK(b.region->magic == 0x1234);
	ivb_unmap(&b);
	ivb_unmap(&a);
	/* A file too small for a header and a page, or not a regular file: refused, the fd still the caller's. */
	CHECK(ftruncate(fd, 100) == 0 && ivb_shm_map_fd(fd, false, &a) == -EINVAL);
	close(fd);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	CHECK(ivb_shm_map_fd(fd, false, &a) == -EINVAL && fcntl(fd, F_GETFD) >= 0);
	close(fd);
}

int main(void)
{
	int ret;

	RUN_TEST(test_read_lines_touches_every_line);
	RUN_TEST(test_phases_verify);
	RUN_TEST(test_flush_method);
	if (scratch_make(root) < 0)
		return 1;
	RUN_TEST(test_pci_find_and_map);
	RUN_TEST(test_map_region_fd);
	ret = CHECK_SUMMARY("unit memory");
	scratch_remove(root);
	return ret;
}
