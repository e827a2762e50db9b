/*
 * ivdb_selftest.c: exercise the ivshmem_doorbell driver from inside a guest and print one line per check
 * on stdout (the serial console in the test VM), for tests/integration/doorbell_vm.sh to read:
 *   IVDB-INFO peer=<id> vectors=<n> bar2=<bytes> pci=<address>
 *   IVDB-PASS <check> [figures] | IVDB-FAIL <check>: <why>
 *   IVDB-DONE <failures>
 * Checks: a doorbell to ourselves comes back as an interrupt; a non-blocking read with nothing pending says
 * EAGAIN; poll() times out when nothing comes; N doorbells to the host peer each come back (the host peer
 * echoes them), timed; the driver's interrupt count matches. With --unbind, last: the device is unbound from
 * the driver while a reader waits; the reader must wake with ENODEV, and ring and poll must say the device
 * is gone.
 * With --region, first the write-back mapping, /dev/ivshmem-region: the whole BAR maps and its page table
 * entry says write-back; a mapping one page beyond the BAR, one at an offset past it, and a private one
 * are refused (EINVAL); what is written reads back; the module refuses to unload while mapped. A mapping
 * is kept across --unbind, and must still read what was written after the device is unbound.
 * Usage: ivdb_selftest [--device PATH] [--host-peer ID] [--echo N] [--timeout-ms MS] [--unbind] [--region]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ivshmem_doorbell.h"

#define SELFTEST_DEFAULT_DEVICE "/dev/ivshmem-doorbell"
#define SELFTEST_DEFAULT_HOST_PEER 0u
#define SELFTEST_DEFAULT_ECHO 20u
#define SELFTEST_DEFAULT_TIMEOUT_MS 10000u
#define SELFTEST_MAX_ECHO 10000u
/* How long poll() must stay quiet for the timeout check. */
#define SELFTEST_QUIET_MS 300

static unsigned failures;

__attribute__((format(printf, 2, 3)))
static void result(int ok, const char *fmt, ...)
{
	va_list ap;

	if (!ok)
		failures++;
	fputs(ok ? "IVDB-PASS " : "IVDB-FAIL ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wait up to timeout_ms for an interrupt on vector 0. Returns the count read, 0 on timeout, -errno. */
static int64_t wait_vector0(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t count;
	int ret = poll(&p, 1, timeout_ms);

	if (ret < 0)
		return -errno;
	if (ret == 0)
		return 0;
	if (read(fd, &count, sizeof(count)) != (ssize_t)sizeof(count))
		return -errno;
	return (int64_t)count;
}

/* Whether process pid is asleep (state S), e.g. blocked in our read; waits up to timeout_ms. */
static int wait_sleeping(pid_t pid, int timeout_ms)
{
	char path[64], buf[256], *p;
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000u;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	while (now_ns() < end) {
		FILE *f = fopen(path, "r");
		size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

		if (f != NULL)
			fclose(f);
		buf[n] = '\0';
		/* The state follows the command name in parentheses. */
		p = strrchr(buf, ')');
		if (p != NULL && p[1] == ' ' && p[2] == 'S')
			return 1;
		usleep(10000);
	}
	return 0;
}

/* Unbind the device while a child blocks in read(); everything must then fail cleanly. */
static void unbind_check(int fd, const char *pci_name, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int status = -1, ufd;
	pid_t child;

	child = fork();
	if (child == 0) {
		uint64_t count;
		ssize_t n = read(fd, &count, sizeof(count));

		_exit(n < 0 && errno == ENODEV ? 0 : 1);
	}
	if (child < 0 || !wait_sleeping(child, timeout_ms)) {
		result(0, "unbind: the reader did not block");
		return;
	}
	ufd = open("/sys/bus/pci/drivers/ivshmem_doorbell/unbind", O_WRONLY);
	if (ufd < 0 || write(ufd, pci_name, strlen(pci_name)) < 0) {
		result(0, "unbind: cannot unbind %s: %s", pci_name, strerror(errno));
		kill(child, SIGKILL);
	}
	if (ufd >= 0)
		close(ufd);
	waitpid(child, &status, 0);
	result(WIFEXITED(status) && WEXITSTATUS(status) == 0, "unbind_wakes_reader_with_enodev");
	errno = 0;
	result(ioctl(fd, IVDB_IOC_RING, 0ul) < 0 && errno == ENODEV, "ring_after_unbind_enodev");
	result(poll(&p, 1, 0) == 1 && (p.revents & POLLHUP), "poll_after_unbind_hup");
}

#define SELFTEST_REGION_DEVICE "/dev/ivshmem-region"
/* Written into the last word of the region and read back, also after the device is unbound. */
#define SELFTEST_REGION_SENTINEL 0x1b5e1f7e57ull

struct region_map {
	int fd;
	volatile uint64_t *p;
	size_t size;
};

/* The write-back mapping's checks; leaves the whole-BAR mapping in r for the unbind check. */
static void region_checks(struct region_map *r)
{
	struct ivdb_region_info info;
	struct ivdb_region_pte pte;
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	r->p = NULL;
	r->fd = open(SELFTEST_REGION_DEVICE, O_RDWR | O_CLOEXEC);
	if (r->fd < 0 || ioctl(r->fd, IVDB_IOC_REGION_INFO, &info) < 0) {
		result(0, "region_open: %s", strerror(errno));
		return;
	}
	r->size = (size_t)info.size;
	printf("IVDB-REGION size=%llu cache=%s pci=%s\n", (unsigned long long)info.size, info.cache, info.pci_name);
	errno = 0;
	p = mmap(NULL, r->size + (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	result(p == MAP_FAILED && errno == EINVAL, "region_mmap_beyond_bar_einval");
	if (p != MAP_FAILED)
		munmap(p, r->size + (size_t)page);
	errno = 0;
	p = mmap(NULL, (size_t)page, PROT_READ, MAP_SHARED, r->fd, (off_t)r->size);
	result(p == MAP_FAILED && errno == EINVAL, "region_mmap_offset_past_bar_einval");
	if (p != MAP_FAILED)
		munmap(p, (size_t)page);
	errno = 0;
	p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE, r->fd, 0);
	result(p == MAP_FAILED && errno == EINVAL, "region_mmap_private_einval");
	if (p != MAP_FAILED)
		munmap(p, (size_t)page);

	p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (p == MAP_FAILED) {
		result(0, "region_mmap_whole_bar: %s", strerror(errno));
		return;
	}
	r->p = p;
	r->p[r->size / 8 - 1] = SELFTEST_REGION_SENTINEL;
	result(r->p[r->size / 8 - 1] == SELFTEST_REGION_SENTINEL, "region_write_reads_back");
	pte.addr = (uintptr_t)&r->p[r->size / 8 - 1];
	memset(pte.type, 0, sizeof(pte.type));
	errno = 0;
	result(ioctl(r->fd, IVDB_IOC_REGION_PTE, &pte) == 0 && strcmp(pte.type, "write-back") == 0,
	       "region_pte_write_back type=%.15s%s%s", pte.type, errno ? " " : "", errno ? strerror(errno) : "");
	/* O_NONBLOCK: refuse at once rather than wait for the module to be unused. */
	errno = 0;
	result(syscall(SYS_delete_module, "ivshmem_doorbell", O_NONBLOCK) < 0 && errno == EWOULDBLOCK,
	       "region_unload_refused_while_mapped%s%s", errno ? " " : "", errno ? strerror(errno) : "");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static unsigned parse_uint(const char *opt, const char *s, unsigned max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v > max) {
		fprintf(stderr, "ivdb_selftest: %s wants a whole number up to %u, not '%s'\n", opt, max, s);
		exit(2);
	}
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "host-peer", required_argument, NULL, 'p' },
		{ "echo", required_argument, NULL, 'e' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "unbind", no_argument, NULL, 'u' },
		{ "region", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *device = SELFTEST_DEFAULT_DEVICE;
	unsigned host_peer = SELFTEST_DEFAULT_HOST_PEER, echo = SELFTEST_DEFAULT_ECHO;
	int timeout_ms = SELFTEST_DEFAULT_TIMEOUT_MS;
	struct ivdb_info info, after;
	uint64_t *rtt, expected = 0, count;
	int64_t got;
	int fd, c, flags, unbind = 0, region = 0;
	struct region_map rmap = { .fd = -1, .p = NULL, .size = 0 };

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 'd': device = optarg; break;
		case 'p': host_peer = parse_uint("--host-peer", optarg, 65535); break;
		case 'e': echo = parse_uint("--echo", optarg, SELFTEST_MAX_ECHO); break;
		case 't': timeout_ms = (int)parse_uint("--timeout-ms", optarg, 600000); break;
		case 'u': unbind = 1; break;
		case 'r': region = 1; break;
		default:
			fprintf(stderr, "usage: ivdb_selftest [--device PATH] [--host-peer ID] [--echo N] [--timeout-ms MS] [--unbind] [--region]\n");
			return 2;
		}
	}
	fd = open(device, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("IVDB-FAIL open: %s: %s\nIVDB-DONE 1\n", device, strerror(errno));
		return 1;
	}
	if (ioctl(fd, IVDB_IOC_INFO, &info) < 0) {
		printf("IVDB-FAIL info: %s\nIVDB-DONE 1\n", strerror(errno));
		return 1;
	}
	printf("IVDB-INFO peer=%u vectors=%u bar2=%llu pci=%s\n", info.peer_id, info.vectors,
	       (unsigned long long)info.bar2_size, info.pci_name);
	fflush(stdout);

	/* Ourselves: QEMU signals our own eventfd, which comes back as MSI-X vector 0. */
	if (ioctl(fd, IVDB_IOC_RING, (unsigned long)IVDB_DOORBELL(info.peer_id, 0)) < 0) {
		result(0, "self_ring: ioctl: %s", strerror(errno));
	} else {
		got = wait_vector0(fd, timeout_ms);
		result(got == 1, "self_ring%s%lld", got == 1 ? " count=" : ": count ", (long long)got);
		expected += got > 0 ? (uint64_t)got : 0;
	}

	/* Nothing pending: a non-blocking read says so instead of waiting. */
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	errno = 0;
	result(read(fd, &count, sizeof(count)) < 0 && errno == EAGAIN, "nonblocking_read_eagain");
	fcntl(fd, F_SETFL, flags);
	/* And poll() times out. */
	{
		uint64_t t0 = now_ns();

		got = wait_vector0(fd, SELFTEST_QUIET_MS);
		result(got == 0 && now_ns() - t0 >= (uint64_t)(SELFTEST_QUIET_MS - 10) * 1000000u,
		       "poll_timeout_when_quiet");
	}
	/* A read of fewer than 8 bytes is refused. */
	errno = 0;
	result(read(fd, &count, 4) < 0 && errno == EINVAL, "short_read_einval");

	/* The host peer echoes each doorbell: a round trip guest -> host -> guest, through the server's eventfds. */
	rtt = calloc(echo > 0 ? echo : 1, sizeof(*rtt));
	if (echo > 0 && rtt != NULL) {
		unsigned done = 0;

		for (; done < echo; done++) {
			uint64_t t0 = now_ns();

			if (ioctl(fd, IVDB_IOC_RING, (unsigned long)IVDB_DOORBELL(host_peer, 0)) < 0)
				break;
			got = wait_vector0(fd, timeout_ms);
			if (got != 1)
				break;
			rtt[done] = now_ns() - t0;
			expected++;
		}
		if (done == echo) {
			qsort(rtt, echo, sizeof(*rtt), cmp_u64);
			result(1, "host_echo n=%u median_us=%.1f min_us=%.1f max_us=%.1f", echo, rtt[echo / 2] / 1e3,
			       rtt[0] / 1e3, rtt[echo - 1] / 1e3);
		} else {
			result(0, "host_echo: round trip %u of %u got %lld (0 = no interrupt within %d ms)", done + 1, echo,
			       (long long)got, timeout_ms);
		}
	}
	free(rtt);

	if (ioctl(fd, IVDB_IOC_INFO, &after) < 0)
		result(0, "interrupt_count: %s", strerror(errno));
	else
		result(after.interrupts[0] - info.interrupts[0] == expected, "interrupt_count counted=%llu expected=%llu",
		       (unsigned long long)(after.interrupts[0] - info.interrupts[0]), (unsigned long long)expected);
	if (region)
		region_checks(&rmap);
	if (unbind)
		unbind_check(fd, info.pci_name, timeout_ms);
	if (region && unbind && rmap.p != NULL)
		result(rmap.p[rmap.size / 8 - 1] == SELFTEST_REGION_SENTINEL, "region_mapping_valid_after_unbind");
	if (rmap.p != NULL)
		munmap((void *)rmap.p, rmap.size);
	if (rmap.fd >= 0)
		close(rmap.fd);
	close(fd);
	printf("IVDB-DONE %u\n", failures);
	return failures == 0 ? 0 : 1;
}
