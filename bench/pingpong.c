/* bench_pingpong: the floor of any polled notification on this machine.
 *
 * Two processes bounce a counter through shared cache lines, spinning with the same pause as the
 * protocol's waits. Prints two medians in nanoseconds: the round trip timed one at a time with the
 * clock host_writer uses around SENDING -> ACKNOWLEDGED (two clock reads included, as there), and
 * the round trip averaged over batches of BATCH (the bare floor, without clock reads).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "common.h"
#include "opts.h"

#define BATCH 2000u
#define BATCHES_DEFAULT 50u

struct line {
	alignas(IVB_CACHE_LINE) _Atomic uint64_t ping;
	alignas(IVB_CACHE_LINE) _Atomic uint64_t pong;
};

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	uint64_t batches = BATCHES_DEFAULT, total, *rtt, *single;
	struct line *l;
	pid_t child;
	int status;

	if (argc > 2 || (argc == 2 && ivb_parse_u64(argv[1], 1, 100000, &batches) < 0)) {
		fprintf(stderr, "usage: bench_pingpong [BATCHES]   (1..100000, default %u)\n", BATCHES_DEFAULT);
		return 2;
	}
	total = batches * BATCH;
	rtt = calloc(batches, sizeof(*rtt));
	single = calloc(total, sizeof(*single));
	l = mmap(NULL, sizeof(*l), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rtt == NULL || single == NULL || l == MAP_FAILED) {
		perror("bench_pingpong: allocation");
		return 1;
	}
	atomic_store(&l->ping, 0);
	atomic_store(&l->pong, 0);
	child = fork();
	if (child < 0) {
		perror("bench_pingpong: fork");
		return 1;
	}
	if (child == 0) {
		/* The echo side: answer each ping with the same number. */
		for (uint64_t i = 1; i <= total; i++) {
			while (atomic_load_explicit(&l->ping, memory_order_acquire) != i)
				ivb_cpu_relax();
			atomic_store_explicit(&l->pong, i, memory_order_release);
		}
		_exit(0);
	}
	for (uint64_t b = 0, i = 1; b < batches; b++) {
		uint64_t t0 = ivb_now_ns();

		for (uint64_t k = 0; k < BATCH; k++, i++) {
			uint64_t s0 = ivb_now_ns();

			atomic_store_explicit(&l->ping, i, memory_order_release);
			while (atomic_load_explicit(&l->pong, memory_order_acquire) != i)
				ivb_cpu_relax();
			single[i - 1] = ivb_now_ns() - s0;
		}
		rtt[b] = (ivb_now_ns() - t0) / BATCH;
	}
	waitpid(child, &status, 0);
	qsort(rtt, batches, sizeof(*rtt), compare_u64);
	qsort(single, total, sizeof(*single), compare_u64);
	printf("%llu %llu\n", (unsigned long long)single[total / 2], (unsigned long long)rtt[batches / 2]);
	free(rtt);
	free(single);
	return 0;
}
