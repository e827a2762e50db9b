/* Unit tests: the noise record read from a fake /proc and /sys tree, bounded, and written as run.json's "noise". */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "check.h"
#include "noise.h"
#include "scratch.h"

static char root[] = "/tmp/ivb-unit-noise-XXXXXX";
static struct ivb_noise noise; /* large: static */

static void put(const char *rel, const char *fmt, ...)
{
	char path[512], dir[512];
	va_list ap;
	FILE *f;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	/* mkdir -p of the parents */
	for (char *p = strchr(path + strlen(root) + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(p - path), path);
		mkdir(dir, 0755);
	}
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

/* A /proc/[pid]/stat line: comm, utime, stime and starttime in their places (proc(5)). */
static void put_proc(int pid, const char *comm, unsigned utime, unsigned stime, unsigned start)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "/proc/%d/stat", pid);
	put(rel, "%d (%s) S 1 %d %d 0 -1 4194304 100 0 0 0 %u %u 0 0 20 0 1 0 %u 1000000 200 18446744073709551615\n",
	    pid, comm, pid, pid, utime, stime, start);
}

static void put_common(void)
{
	put("/proc/stat", "cpu  100 0 50 1000 5 0 2 7 0 0\ncpu0 50 0 25 500 2 0 1 3 0 0\ncpu1 50 0 25 500 3 0 1 4 0 0\n"
			  "intr %s\nctxt 12345\nprocs_running 3\nprocs_blocked 0\n",
	    "1 2 3 4 5 6 7 8 9 10");
	put("/proc/loadavg", "0.52 0.58 0.59 3/611 12345\n");
	put("/proc/cpuinfo", "processor\t: 0\ncpu MHz\t\t: 2593.906\nflags\t\t: %0600d\n\nprocessor\t: 1\ncpu MHz\t\t: 1200.000\n", 0);
}

static size_t find_busy(const char *name, bool *ours, double *share)
{
	for (size_t i = 0; i < noise.nbusy; i++) {
		if (strcmp(noise.busy[i].name, name) == 0) {
			*ours = noise.busy[i].ours;
			*share = noise.busy[i].cpu_share;
			return i + 1;
		}
	}
	return 0;
}

/* Before and after from the fake files; the busy list over a known span, with pid reuse, a new process, a
 * comm with spaces and parentheses, an idle one, a malformed one, and one that maps the region. */
static void test_snapshots_and_busy_processes(void)
{
	char region[512], maps[1024];
	struct stat st;
	bool ours;
	double share;
	long hz = sysconf(_SC_CLK_TCK);

	put_common();
	snprintf(region, sizeof(region), "%s/region", root);
	put("/region", "x");
	CHECK(stat(region, &st) == 0);
	put_proc(10, "cc1", 100, 0, 5);
	put_proc(11, "idle thing", 100, 0, 5);
	put_proc(12, "reused", 5000, 0, 5);
	put_proc(13, "guest_reader", 0, 0, 5);
	put("/proc/14/stat", "14 (broken S 1\n");
	put("/proc/self/stat", "not a pid folder: skipped\n");
	CHECK(ivb_noise_begin(&noise, root, region) == 0);
	CHECK(noise.nprocs == 4);
	CHECK(noise.before.stat_known && strstr(noise.before.stat, "ctxt 12345\n") != NULL);
	CHECK(noise.before.loadavg_known && strcmp(noise.before.loadavg, "0.52 0.58 0.59 3/611 12345\n") == 0);
	CHECK(noise.before.ncpu_khz == 2 && noise.before.cpu_khz[0] == 2593906 && noise.before.cpu_khz[1] == 1200000);

	/* Over 10 s: cc1 used 5 s (50%), "idle thing" 0.1 s (1%: below the limit), reused is a new process that
	 * used 1 s (10%), pid 15 started meanwhile with 2 s (20%), guest_reader 9 s (90%, maps the region). */
	put_proc(10, "cc1", 100 + (unsigned)(5 * hz), 0, 5);
	put_proc(11, "idle thing", 100 + (unsigned)(hz / 10), 0, 5);
	put_proc(12, "reused", (unsigned)hz, 0, 999);
	put_proc(13, "guest_reader", (unsigned)(4 * hz), (unsigned)(5 * hz), 5);
	put_proc(15, "a (b) c", (unsigned)hz, (unsigned)hz, 900);
	snprintf(maps, sizeof(maps), "7f0000000000-7f0004000000 rw-s 00000000 %02x:%02x %llu %s\n", major(st.st_dev),
		 minor(st.st_dev), (unsigned long long)st.st_ino, region);
	put("/proc/13/maps", "00400000-00401000 r-xp 00000000 08:01 42 /bin/guest_reader\n%s", maps);
	/* Another file on the region's device is not the region. */
	put("/proc/10/maps", "00400000-00401000 r-xp 00000000 %02x:%02x %llu /usr/bin/cc1\n", major(st.st_dev),
	    minor(st.st_dev), (unsigned long long)st.st_ino + 1);
	CHECK(ivb_noise_busy_over(&noise, 10000000000ull) == 0);
	CHECK(noise.busy_known);
	CHECK(noise.nbusy == 4);
	CHECK(find_busy("cc1", &ours, &share) && !ours && share > 0.49 && share < 0.51);
	CHECK(find_busy("guest_reader", &ours, &share) == 1 && ours && share > 0.89 && share < 0.91);
	CHECK(find_busy("reused", &ours, &share) && !ours && share > 0.09 && share < 0.11);
	CHECK(find_busy("a (b) c", &ours, &share) && !ours && share > 0.19 && share < 0.21);
	CHECK(!find_busy("idle thing", &ours, &share));
	CHECK(noise.busy[noise.nbusy - 1].cpu_share <= noise.busy[0].cpu_share);
}

/* Over-long /proc/stat lines are left out and said so; the kept text stays whole lines; cpufreq wins over
 * cpuinfo; no files at all: nothing known, nothing made up. */
static void test_bounds_and_missing_files(void)
{
	static char big[3 * IVB_NOISE_LINE_MAX];
	FILE *f;
	char path[512];

	put_common();
	memset(big, '7', sizeof(big) - 1);
	put("/proc/stat", "cpu  1 2 3 4\nintr %s\nctxt 5\n", big);
	put("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", "2400000\n");
	put("/sys/devices/system/cpu/cpu1/cpufreq/scaling_cur_freq", "garbage\n");
	put("/sys/devices/system/cpu/cpu2/cpufreq/scaling_cur_freq", "1800000\n");
	CHECK(ivb_noise_begin(&noise, root, NULL) == 0);
	CHECK(noise.before.stat_truncated);
	CHECK(strcmp(noise.before.stat, "cpu  1 2 3 4\nctxt 5\n") == 0);
	CHECK(noise.before.ncpu_khz == 2 && noise.before.cpu_khz[0] == 2400000 && noise.before.cpu_khz[1] == 1800000);

	/* A /proc/stat larger than the buffer: cut at a line boundary. */
	snprintf(path, sizeof(path), "%s/proc/stat", root);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs("cpu  1 2 3 4\n", f);
		for (unsigned i = 0; i < IVB_NOISE_STAT_MAX / 16; i++)
			fprintf(f, "cpu%u 1 2 3 4 5 6 7 8 9 10\n", i);
		fclose(f);
	}
	CHECK(ivb_noise_begin(&noise, root, NULL) == 0);
	CHECK(noise.before.stat_truncated);
	CHECK(strlen(noise.before.stat) < IVB_NOISE_STAT_MAX);
	CHECK(noise.before.stat[strlen(noise.before.stat) - 1] == '\n');

	CHECK(ivb_noise_begin(&noise, "/nonexistent-ivb-root", NULL) < 0);
	CHECK(!noise.before.stat_known && !noise.before.loadavg_known && noise.before.ncpu_khz == 0);
	CHECK(ivb_noise_end(&noise) < 0);
}

/* The JSON noise.py reads: before/after with the raw text, busy without our processes, bench_threads. */
static void test_json(void)
{
	char path[512], text[8192];
	struct ivb_json j;
	FILE *f;
	size_t len;

	snprintf(path, sizeof(path), "%s/noise.json", root);
	put_common();
	put_proc(20, "cc1", 0, 0, 1);
	CHECK(ivb_noise_begin(&noise, root, NULL) == 0);
	put_proc(20, "cc1", (unsigned)sysconf(_SC_CLK_TCK), 0, 1);
	CHECK(ivb_noise_end(&noise) == 0);
	f = fopen(path, "w+");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	ivb_json_begin(&j, f);
	ivb_noise_write_json(&j, &noise);
	CHECK(ivb_json_end(&j) == 0);
	rewind(f);
	len = fread(text, 1, sizeof(text) - 1, f);
	text[len] = '\0';
	fclose(f);
	CHECK(strstr(text, "\"noise\": {") != NULL);
	CHECK(strstr(text, "\"before\": {") != NULL && strstr(text, "\"after\": {") != NULL);
	CHECK(strstr(text, "\"stat\": \"cpu  100 0 50 1000 5 0 2 7 0 0\\u000acpu0") != NULL);
	CHECK(strstr(text, "\"loadavg\": \"0.52 0.58 0.59 3/611 12345\\u000a\"") != NULL);
	CHECK(strstr(text, "\"cpu_khz\": [") != NULL);
	CHECK(strstr(text, "\"busy\": [") != NULL && strstr(text, "\"bench_processes\": [") != NULL);
	CHECK(strstr(text, "\"bench_threads\": 2") != NULL);
}

int main(void)
{
	int ret;

	if (scratch_make(root) < 0)
		return 1;
	RUN_TEST(test_snapshots_and_busy_processes);
	RUN_TEST(test_bounds_and_missing_files);
	RUN_TEST(test_json);
	ret = CHECK_SUMMARY("unit noise");
	scratch_remove(root);
	return ret;
}
