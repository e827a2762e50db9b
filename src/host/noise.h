/* noise.h: how quiet the machine was while host_writer measured, recorded as run.json's "noise" object.
 *
 * schema/run.txt declares its keys; ivbench_analysis/noise.py turns them into a verdict:
 *   "before", "after": /proc/stat and /proc/loadavg as raw text, and each CPU's clock in kHz ("cpu_khz",
 *                      from cpufreq's scaling_cur_freq, else /proc/cpuinfo's "cpu MHz"; left out where neither
 *                      exists), taken just before the first and just after the last message;
 *   "busy":            the other processes that used at least IVB_NOISE_BUSY_MIN_PERMILLE of a CPU in between;
 *   "bench_threads":   how many CPUs the benchmark itself keeps busy.
 * The benchmark's own processes (host_writer and every process that maps the region: guest_reader in loopback,
 * QEMU with a VM) are left out of "busy" and listed under "bench_processes" instead.
 * Everything read from /proc and /sys is bounded in size; a file that is missing or unreadable leaves its
 * member out rather than guessing.
 */
#ifndef IVB_NOISE_H
#define IVB_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "json.h"

/* /proc/stat kept: ~100 bytes per CPU, so 64 KiB holds the aggregate and per-CPU lines of ~600 CPUs. */
#define IVB_NOISE_STAT_MAX 65536u
/* A /proc/stat line longer than this (intr, softirq: one count per interrupt) is left out: noise.py does not
 * read them and they alone can exceed the whole budget on a large machine. */
#define IVB_NOISE_LINE_MAX 1024u
#define IVB_NOISE_LOADAVG_MAX 128u
#define IVB_NOISE_MAX_CPUS 1024u
/* Processes sampled; more are counted as not sampled (noise.py then sees fewer busy ones, never wrong ones). */
#define IVB_NOISE_MAX_PROCS 8192u
/* A process using at least this share of one CPU (in thousandths) over the run is listed: "a few %". */
#define IVB_NOISE_BUSY_MIN_PERMILLE 20u
#define IVB_NOISE_MAX_BUSY 16u
/* host_writer and guest_reader (or QEMU's vCPU) each keep a CPU busy. */
#define IVB_NOISE_BENCH_THREADS 2u
/* The kernel's comm is at most 15 bytes. */
#define IVB_NOISE_NAME_LEN 16u

struct ivb_noise_snapshot {
	bool taken;
	uint64_t t_ns; /* CLOCK_MONOTONIC when taken */
	char stat[IVB_NOISE_STAT_MAX];
	bool stat_known;
	bool stat_truncated; /* lines were left out: too long, or past IVB_NOISE_STAT_MAX */
	char loadavg[IVB_NOISE_LOADAVG_MAX];
	bool loadavg_known;
	uint32_t cpu_khz[IVB_NOISE_MAX_CPUS];
	size_t ncpu_khz;
};

struct ivb_noise_proc {
	pid_t pid;
	uint64_t start;	/* start time in ticks since boot: tells a reused pid apart */
	uint64_t ticks; /* utime + stime */
	char name[IVB_NOISE_NAME_LEN];
};

struct ivb_noise_busy {
	pid_t pid;
	char name[IVB_NOISE_NAME_LEN];
	double cpu_share; /* CPU time over wall time: 1.0 is one whole CPU */
	bool ours;	  /* host_writer itself or a process that maps the region */
};

struct ivb_noise {
	char root[256];	    /* prefix of /proc and /sys: "" on a real system, a fake tree in the tests */
	char region[4096];  /* the region file: whoever maps it is part of the benchmark; "" none */
	pid_t self;
	long ticks_per_s;
	struct ivb_noise_snapshot before, after;
	struct ivb_noise_proc procs[IVB_NOISE_MAX_PROCS]; /* at the start, sorted by pid */
	size_t nprocs;
	size_t procs_not_sampled;
	bool busy_known;
	struct ivb_noise_busy busy[IVB_NOISE_MAX_BUSY]; /* highest share first; ours and others */
	size_t nbusy;
};

/* Take the "before" snapshot and the CPU time of every process. ROOT: "" for the real /proc and /sys;
 * REGION: the region file's path, or NULL. Returns: 0, or a negative errno when nothing could be read (the run
 * goes on; run.json then has a "before" object without the members that could not be read). */
int ivb_noise_begin(struct ivb_noise *n, const char *root, const char *region);

/* Take the "after" snapshot and list the busy processes over the time since ivb_noise_begin. Returns: 0, or
 * a negative errno (-EINVAL before ivb_noise_begin). */
int ivb_noise_end(struct ivb_noise *n);

/* The busy list over a span of wall_ns, from a fresh process sample against the one ivb_noise_begin took (the
 * part of ivb_noise_end the tests drive with a known span). Returns: 0, or a negative errno. */
int ivb_noise_busy_over(struct ivb_noise *n, uint64_t wall_ns);

/* Write the "noise" member of run.json; nothing when ivb_noise_begin never ran. */
void ivb_noise_write_json(struct ivb_json *j, const struct ivb_noise *n);

#endif /* IVB_NOISE_H */
