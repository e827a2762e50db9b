/* Unit tests: bell.c's choice of doorbell and its one-line reasons; ring and wait over eventfds. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bell.h"
#include "check.h"
#include "clock.h"

#define WAIT_NS (20ull * 1000 * 1000)

static char dir[] = "/tmp/ivb-test-bell.XXXXXX";

static void test_path_kinds_are_told_apart(void)
{
	char path[256], why[IVB_BELL_WHY_LEN];
	struct ivb_bell b;
	int fd;

	/* A regular file is neither a socket nor the driver's file. */
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK(ivb_bell_open(&b, path, NULL, WAIT_NS, why, sizeof(why)) == -EINVAL);
	CHECK(strstr(why, "neither an ivshmem server's socket nor the doorbell driver's file") != NULL);
	/* Nothing there: taken for a server that is not running. */
	snprintf(path, sizeof(path), "%s/missing.sock", dir);
	CHECK(ivb_bell_open(&b, path, NULL, WAIT_NS, why, sizeof(why)) == -ENOENT);
	CHECK(strstr(why, "is ivshmem_server running?") != NULL);
	/* A character device that is not the driver's: its INFO ioctl fails. */
	CHECK(ivb_bell_open(&b, "/dev/null", NULL, WAIT_NS, why, sizeof(why)) == -ENOTTY);
	CHECK(strstr(why, "/dev/null is not the ivshmem_doorbell driver's file") != NULL);
	CHECK(b.dev_fd == -1);
}

static void test_device_search(void)
{
	char path[256], why[IVB_BELL_WHY_LEN];
	struct ivb_bell b;

	/* No driver loaded: no file at all. */
	CHECK(ivb_bell_open_device_of(&b, dir, "0000:00:03.0", why, sizeof(why)) == -ENOENT);
	CHECK(strstr(why, "driver is not loaded") != NULL && strstr(why, "ivshmem-plain") != NULL);
	/* A file of that name that is not the driver's: its reason is the one given. */
	snprintf(path, sizeof(path), "%s/ivshmem-doorbell", dir);
	CHECK(symlink("/dev/null", path) == 0);
	CHECK(ivb_bell_open_device_of(&b, dir, "0000:00:03.0", why, sizeof(why)) == -ENOTTY);
	CHECK(strstr(why, "is not the ivshmem_doorbell driver's file") != NULL);
	unlink(path);
}

static void test_ring_and_wait(void)
{
	int a = eventfd(0, EFD_CLOEXEC), c = eventfd(0, EFD_CLOEXEC);
	struct ivb_bell b;
	uint64_t t0;

	CHECK(a >= 0 && c >= 0);
	memset(&b, 0, sizeof(b));
	b.dev_fd = -1;
	b.link.sock = -1;
	b.link.own_fd = a;
	b.link.peers[0].id = 5;
	b.link.peers[0].fd = c;
	b.link.npeers = 1;
	CHECK(ivb_bell_known(&b, 5) == 1);
	CHECK(ivb_bell_known(&b, 6) == 0);
	CHECK(ivb_bell_known(&b, 70000) == 0);
	CHECK(ivb_bell_ring(&b, 5) == 0 && b.rings_sent == 1);
	CHECK(ivb_bell_ring(&b, 6) == -ENOENT && b.rings_sent == 1);
	/* Nobody rang us: the wait lasts its time, and says so. */
	t0 = ivb_now_ns();
	CHECK(ivb_bell_wait(&b, WAIT_NS) == 0);
	CHECK(ivb_now_ns() - t0 >= WAIT_NS);
	CHECK(b.rings_received == 0);
	/* Two rings before the wait are one wake-up, and consumed by it. */
	CHECK(write(a, &(uint64_t){ 1 }, 8) == 8 && write(a, &(uint64_t){ 1 }, 8) == 8);
	CHECK(ivb_bell_wait(&b, WAIT_NS) == 1 && b.rings_received == 1);
	CHECK(ivb_bell_wait(&b, WAIT_NS) == 0);
	ivb_bell_close(&b);
	close(c);
}

/* What ivb_bell_report_late prints, caught from stderr. */
static void report_late(const struct ivb_bell *b, char *out, size_t n)
{
	char path[256];
	int saved = dup(STDERR_FILENO), fd;
	ssize_t got;

	snprintf(path, sizeof(path), "%s/stderr", dir);
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	ivb_bell_report_late(b, "prog");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	got = pread(fd, out, n - 1, 0);
	out[got > 0 ? got : 0] = '\0';
	close(fd);
}

static void test_late_wakeups_are_reported(void)
{
	struct ivb_bell b = { .dev_fd = -1 };
	char out[512];

	report_late(&b, out, sizeof(out));
	CHECK(out[0] == '\0');
	b.late_wakeups = 4;
	report_late(&b, out, sizeof(out));
	CHECK(strstr(out, "prog: 4 waits ended on a 50 ms slice instead of a ring: no ring ever arrived") != NULL);
	b.rings_received = 9;
	report_late(&b, out, sizeof(out));
	CHECK(strstr(out, "rings were lost or late") != NULL);
}

int main(void)
{
	char cmd[64];

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN_TEST(test_path_kinds_are_told_apart);
	RUN_TEST(test_device_search);
	RUN_TEST(test_ring_and_wait);
	RUN_TEST(test_late_wakeups_are_reported);
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return CHECK_SUMMARY("unit bell");
}
