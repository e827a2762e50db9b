/* bench_wakeup: the floor of any blocking notification between two processes on this machine.
 *
 * Two processes bounce a count through a pair of eventfds, each asleep in poll() until the other
 * writes, as the doorbell mode's waits are (src/shared/bell.c, src/shared/ivpeer.c). Prints the median round trip
 * in nanoseconds, timed one at a time with the clock host_writer uses around SENDING -> ACKNOWLEDGED.
 */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "opts.h"

#define ROUNDS_DEFAULT 20000u

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sleep until fd is written, then consume it. Returns: 0, or -1 on an error. */
static int sleep_on(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t count;

	if (poll(&pfd, 1, 10000) != 1)
		return -1;
	return read(fd, &count, sizeof(count)) == (ssize_t)sizeof(count) ? 0 : -1;
}

static int ring(int fd)
{
	const uint64_t one = 1;

	return write(fd, &one, sizeof(one)) == (ssize_t)sizeof(one) ? 0 : -1;
}

int main(int argc, char **argv)
{
	uint64_t rounds = ROUNDS_DEFAULT, *rtt;
	int ping = eventfd(0, 0), pong = eventfd(0, 0), status;
	pid_t child;

	if (argc > 2 || (argc == 2 && ivb_parse_u64(argv[1], 1, 10000000, &rounds) < 0)) {
		fprintf(stderr, "usage: bench_wakeup [ROUNDS]   (1..10000000, default %u)\n", ROUNDS_DEFAULT);
		return 2;
	}
	rtt = calloc(rounds, sizeof(*rtt));
	if (rtt == NULL || ping < 0 || pong < 0) {
		perror("bench_wakeup: set-up");
		return 1;
	}
	child = fork();
	if (child < 0) {
		perror("bench_wakeup: fork");
		return 1;
	}
	if (child == 0) {
		/* The echo side: answer each ring with one. */
		for (uint64_t i = 0; i < rounds; i++)
			if (sleep_on(ping) < 0 || ring(pong) < 0)
				_exit(1);
		_exit(0);
	}
	for (uint64_t i = 0; i < rounds; i++) {
		uint64_t t0 = ivb_now_ns();

		if (ring(ping) < 0 || sleep_on(pong) < 0) {
			fprintf(stderr, "bench_wakeup: the echo process did not answer round %llu\n", (unsigned long long)i);
			return 1;
		}
		rtt[i] = ivb_now_ns() - t0;
	}
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench_wakeup: the echo process failed\n");
		return 1;
	}
	qsort(rtt, rounds, sizeof(*rtt), compare_u64);
	printf("%llu\n", (unsigned long long)rtt[rounds / 2]);
	free(rtt);
	return 0;
}
