/* clock.h: the one clock every measurement uses, and the pause of a spin-wait. */
#ifndef IVB_CLOCK_H
#define IVB_CLOCK_H

#include <stdint.h>
#include <time.h>

#define IVB_NS_PER_SEC 1000000000ull

/* Monotonic time in integer nanoseconds; durations only, never compared across machines. */
static inline uint64_t ivb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * IVB_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Tell the CPU we are spinning, so a sibling thread or the peer's core is not starved. */
static inline void ivb_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

#endif /* IVB_CLOCK_H */
