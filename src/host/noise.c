/* noise.c: /proc and /sys snapshots around the run, and the other processes that used CPU meanwhile. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "clock.h"
#include "noise.h"

/* /proc/[pid]/stat is one line of ~300 bytes; anything longer is cut here and its tail not needed. */
#define PID_STAT_MAX 1024u
/* /proc/cpuinfo and /proc/[pid]/maps are read line by line; a longer line is skipped in pieces. */
#define READ_LINE_MAX 512u
/* At most this much of a /proc/[pid]/maps or /proc/cpuinfo is read. */
#define READ_TOTAL_MAX (4u << 20)
/* Fields of /proc/[pid]/stat after the comm's closing parenthesis, counting state as 0 (proc(5) numbers
 * them from 1 with pid first: utime is 14, stime 15, starttime 22). */
#define STAT_UTIME 11
#define STAT_STIME 12
#define STAT_STARTTIME 19

static int path_of(char *out, size_t len, const struct ivb_noise *n, const char *fmt, long arg)
{
	char rel[128];
	int r = snprintf(rel, sizeof(rel), fmt, arg);

	if (r < 0 || (size_t)r >= sizeof(rel))
		return -ENAMETOOLONG;
	r = snprintf(out, len, "%s%s", n->root, rel);
	return r < 0 || (size_t)r >= len ? -ENAMETOOLONG : 0;
}

/* Read at most len - 1 bytes of path into buf (NUL-terminated). Returns: the length, or a negative errno. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t got;

	if (f == NULL)
		return -errno;
	got = fread(buf, 1, len - 1, f);
	buf[got] = '\0';
	if (ferror(f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	return (ssize_t)got;
}

/* One line of f into buf, at most len - 1 bytes. Returns: 1 for a whole line, 0 for a piece of a longer line
 * (the caller skips the rest with skip_line), -1 at the end of the file. */
static int read_line(FILE *f, char *buf, size_t len)
{
	size_t l;

	if (fgets(buf, (int)len, f) == NULL)
		return -1;
	l = strlen(buf);
	return (l > 0 && buf[l - 1] == '\n') || feof(f) ? 1 : 0;
}

static void skip_line(FILE *f)
{
	int c;

	while ((c = getc(f)) != EOF && c != '\n')
		;
}

/* /proc/stat's text, without lines over IVB_NOISE_LINE_MAX and only as far as the buffer holds whole lines. */
static void read_stat(const struct ivb_noise *n, struct ivb_noise_snapshot *s)
{
	char path[512], line[IVB_NOISE_LINE_MAX + 1];
	size_t used = 0;
	FILE *f;
	int r;

	s->stat_known = false;
	s->stat_truncated = false;
	s->stat[0] = '\0';
	if (path_of(path, sizeof(path), n, "/proc/stat", 0) < 0 || (f = fopen(path, "re")) == NULL)
		return;
	while ((r = read_line(f, line, sizeof(line))) >= 0) {
		size_t l = strlen(line);

		if (r == 0) {
			skip_line(f);
			s->stat_truncated = true;
			continue;
		}
		if (used + l >= sizeof(s->stat)) {
			s->stat_truncated = true;
			break;
		}
		memcpy(s->stat + used, line, l + 1);
		used += l;
	}
	s->stat_known = !ferror(f) && used > 0;
	fclose(f);
}

static void read_loadavg(const struct ivb_noise *n, struct ivb_noise_snapshot *s)
{
	char path[512];

	s->loadavg_known = path_of(path, sizeof(path), n, "/proc/loadavg", 0) == 0 &&
			   read_small(path, s->loadavg, sizeof(s->loadavg)) > 0;
	if (!s->loadavg_known)
		s->loadavg[0] = '\0';
}

/* A decimal count; false for anything else (a sign, garbage, overflow). */
static bool parse_u64(const char *text, const char **end, uint64_t *out)
{
	char *e;

	if (!isdigit((unsigned char)*text))
		return false;
	errno = 0;
	*out = strtoull(text, &e, 10);
	if (errno != 0)
		return false;
	*end = e;
	return true;
}

/* Each CPU's clock: cpufreq's scaling_cur_freq (kHz) where the machine exposes it, else /proc/cpuinfo's
 * "cpu MHz" lines (one per CPU). */
static void read_cpu_khz(const struct ivb_noise *n, struct ivb_noise_snapshot *s)
{
	char path[512], buf[32], line[READ_LINE_MAX];
	size_t total = 0;
	FILE *f;
	int r;

	s->ncpu_khz = 0;
	for (long cpu = 0; cpu < (long)IVB_NOISE_MAX_CPUS; cpu++) {
		const char *end;
		uint64_t khz;

		if (path_of(path, sizeof(path), n, "/sys/devices/system/cpu/cpu%ld/cpufreq/scaling_cur_freq", cpu) < 0 ||
		    read_small(path, buf, sizeof(buf)) <= 0)
			continue;
		if (parse_u64(buf, &end, &khz) && (*end == '\n' || *end == '\0') && khz > 0 && khz <= UINT32_MAX)
			s->cpu_khz[s->ncpu_khz++] = (uint32_t)khz;
	}
	if (s->ncpu_khz > 0)
		return;
	if (path_of(path, sizeof(path), n, "/proc/cpuinfo", 0) < 0 || (f = fopen(path, "re")) == NULL)
		return;
	while (total < READ_TOTAL_MAX && s->ncpu_khz < IVB_NOISE_MAX_CPUS && (r = read_line(f, line, sizeof(line))) >= 0) {
		double mhz;
		char *colon;

		total += strlen(line);
		if (r == 0) {
			skip_line(f);
			continue;
		}
		if (strncmp(line, "cpu MHz", 7) != 0 || (colon = strchr(line, ':')) == NULL)
			continue;
		if (sscanf(colon + 1, "%lf", &mhz) == 1 && mhz > 0 && mhz * 1000 < UINT32_MAX)
			s->cpu_khz[s->ncpu_khz++] = (uint32_t)(mhz * 1000 + 0.5);
	}
	fclose(f);
}

static void snapshot(const struct ivb_noise *n, struct ivb_noise_snapshot *s)
{
	s->t_ns = ivb_now_ns();
	read_stat(n, s);
	read_loadavg(n, s);
	read_cpu_khz(n, s);
	s->taken = true;
}

/* One process's name and CPU ticks from /proc/[pid]/stat. Returns: 0, or a negative errno (gone, or a line
 * that is not what proc(5) describes). */
static int read_proc(const struct ivb_noise *n, pid_t pid, struct ivb_noise_proc *p)
{
	char path[512], buf[PID_STAT_MAX];
	const char *open, *close, *q;
	uint64_t field[STAT_STARTTIME + 1];
	size_t len;
	int ret = path_of(path, sizeof(path), n, "/proc/%ld/stat", (long)pid);

	if (ret < 0)
		return ret;
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return -ENOENT;
	/* The comm may hold spaces and parentheses: it ends at the last ')'. */
	open = strchr(buf, '(');
	close = strrchr(buf, ')');
	if (open == NULL || close == NULL || close < open || close[1] != ' ')
		return -EINVAL;
	len = (size_t)(close - open - 1);
	if (len >= sizeof(p->name))
		len = sizeof(p->name) - 1;
	memcpy(p->name, open + 1, len);
	p->name[len] = '\0';
	q = close + 2;
	/* State is a letter; every field up to starttime after it is a number (some may be negative: skipped). */
	if (!isalpha((unsigned char)*q) || q[1] != ' ')
		return -EINVAL;
	q += 2;
	for (int i = 1; i <= STAT_STARTTIME; i++) {
		if (i == STAT_UTIME || i == STAT_STIME || i == STAT_STARTTIME) {
			if (!parse_u64(q, &q, &field[i]))
				return -EINVAL;
		} else {
			q += strspn(q, "-0123456789");
		}
		if (*q != ' ' && !(i == STAT_STARTTIME && (*q == '\0' || *q == '\n')))
			return -EINVAL;
		q += *q == ' ';
	}
	p->pid = pid;
	p->ticks = field[STAT_UTIME] + field[STAT_STIME];
	p->start = field[STAT_STARTTIME];
	return 0;
}

static int by_pid(const void *a, const void *b)
{
	const struct ivb_noise_proc *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Every process in /proc, into procs (at most max, sorted by pid). Returns: how many, or a negative errno. */
static ssize_t sample_procs(const struct ivb_noise *n, struct ivb_noise_proc *procs, size_t max, size_t *missed)
{
	char path[512];
	struct dirent *e;
	size_t count = 0;
	DIR *d;
	int ret = path_of(path, sizeof(path), n, "/proc", 0);

	*missed = 0;
	if (ret < 0)
		return ret;
	d = opendir(path);
	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		const char *end;
		uint64_t pid;

		if (!parse_u64(e->d_name, &end, &pid) || *end != '\0' || pid == 0 || pid > INT32_MAX)
			continue;
		if (count == max) {
			(*missed)++;
			continue;
		}
		if (read_proc(n, (pid_t)pid, &procs[count]) == 0)
			count++;
	}
	closedir(d);
	qsort(procs, count, sizeof(*procs), by_pid);
	return (ssize_t)count;
}

/* Whether process pid maps the region file (its device and inode in /proc/[pid]/maps). */
static bool maps_region(const struct ivb_noise *n, pid_t pid, const struct stat *region)
{
	char path[512], line[READ_LINE_MAX];
	size_t total = 0;
	bool found = false;
	FILE *f;
	int r;

	if (path_of(path, sizeof(path), n, "/proc/%ld/maps", (long)pid) < 0 || (f = fopen(path, "re")) == NULL)
		return false;
	while (!found && total < READ_TOTAL_MAX && (r = read_line(f, line, sizeof(line))) >= 0) {
		unsigned maj, min;
		unsigned long long ino;

		total += strlen(line);
		/* address perms offset dev inode path: the fields before the path always fit in the buffer. */
		if (sscanf(line, "%*s %*s %*s %x:%x %llu", &maj, &min, &ino) == 3)
			found = ino == (unsigned long long)region->st_ino && ino != 0 &&
				maj == major(region->st_dev) && min == minor(region->st_dev);
		if (r == 0)
			skip_line(f);
	}
	fclose(f);
	return found;
}

static int by_share(const void *a, const void *b)
{
	const struct ivb_noise_busy *x = a, *y = b;

	return (x->cpu_share < y->cpu_share) - (x->cpu_share > y->cpu_share);
}

/* Keep the busiest IVB_NOISE_MAX_BUSY: replace the least busy one kept when this one used more. */
static void keep_busy(struct ivb_noise *n, const struct ivb_noise_busy *b)
{
	size_t least = 0;

	if (n->nbusy < IVB_NOISE_MAX_BUSY) {
		n->busy[n->nbusy++] = *b;
		return;
	}
	for (size_t i = 1; i < n->nbusy; i++)
		if (n->busy[i].cpu_share < n->busy[least].cpu_share)
			least = i;
	if (b->cpu_share > n->busy[least].cpu_share)
		n->busy[least] = *b;
}

int ivb_noise_busy_over(struct ivb_noise *n, uint64_t wall_ns)
{
	static struct ivb_noise_proc now[IVB_NOISE_MAX_PROCS];
	struct stat region;
	bool have_region = n->region[0] != '\0' && stat(n->region, &region) == 0;
	size_t missed;
	ssize_t count;

	n->nbusy = 0;
	n->busy_known = false;
	if (wall_ns == 0 || n->ticks_per_s <= 0)
		return -EINVAL;
	count = sample_procs(n, now, IVB_NOISE_MAX_PROCS, &missed);
	if (count < 0)
		return (int)count;
	for (ssize_t i = 0; i < count; i++) {
		const struct ivb_noise_proc *old = bsearch(&now[i], n->procs, n->nprocs, sizeof(*n->procs), by_pid);
		/* A process that started during the run (or a pid reused) used all its ticks in it. */
		uint64_t used = now[i].ticks;
		struct ivb_noise_busy b = { .pid = now[i].pid };

		if (old != NULL && old->start == now[i].start)
			used = now[i].ticks >= old->ticks ? now[i].ticks - old->ticks : 0;
		b.cpu_share = (double)used / (double)n->ticks_per_s / ((double)wall_ns / 1e9);
		if (b.cpu_share * 1000 < IVB_NOISE_BUSY_MIN_PERMILLE)
			continue;
		memcpy(b.name, now[i].name, sizeof(b.name));
		b.ours = now[i].pid == n->self || (have_region && maps_region(n, now[i].pid, &region));
		keep_busy(n, &b);
	}
	qsort(n->busy, n->nbusy, sizeof(*n->busy), by_share);
	n->procs_not_sampled += missed;
	n->busy_known = true;
	return 0;
}

static void init(struct ivb_noise *n, const char *root, const char *region)
{
	snprintf(n->root, sizeof(n->root), "%s", root != NULL ? root : "");
	snprintf(n->region, sizeof(n->region), "%s", region != NULL ? region : "");
	n->self = getpid();
	n->ticks_per_s = sysconf(_SC_CLK_TCK);
	n->before.taken = n->after.taken = false;
	n->nprocs = n->procs_not_sampled = n->nbusy = 0;
	n->busy_known = false;
}

int ivb_noise_begin(struct ivb_noise *n, const char *root, const char *region)
{
	ssize_t count;

	init(n, root, region);
	count = sample_procs(n, n->procs, IVB_NOISE_MAX_PROCS, &n->procs_not_sampled);
	n->nprocs = count > 0 ? (size_t)count : 0;
	snapshot(n, &n->before);
	if (!n->before.stat_known && !n->before.loadavg_known && count < 0)
		return (int)count;
	return 0;
}

int ivb_noise_end(struct ivb_noise *n)
{
	if (!n->before.taken)
		return -EINVAL;
	snapshot(n, &n->after);
	return ivb_noise_busy_over(n, n->after.t_ns - n->before.t_ns);
}

static void write_snapshot(struct ivb_json *j, struct ivb_rk_object key, const struct ivb_noise_snapshot *s)
{
	ivb_json_object(j, key);
	if (s->stat_known)
		ivb_json_str(j, IVB_RK_SNAPSHOT_STAT, s->stat);
	if (s->stat_truncated)
		ivb_json_bool(j, IVB_RK_SNAPSHOT_STAT_LINES_LEFT_OUT, true);
	if (s->loadavg_known)
		ivb_json_str(j, IVB_RK_SNAPSHOT_LOADAVG, s->loadavg);
	if (s->ncpu_khz > 0) {
		ivb_json_array(j, IVB_RK_SNAPSHOT_CPU_KHZ);
		for (size_t i = 0; i < s->ncpu_khz; i++)
			ivb_json_u64(j, IVB_RK_SNAPSHOT_CPU_KHZ_ITEM, s->cpu_khz[i]);
		ivb_json_array_end(j);
	}
	ivb_json_object_end(j);
}

static void write_busy(struct ivb_json *j, struct ivb_rk_list key, struct ivb_rk_object item, const struct ivb_noise *n,
		       bool ours)
{
	ivb_json_array(j, key);
	for (size_t i = 0; i < n->nbusy; i++) {
		if (n->busy[i].ours != ours)
			continue;
		ivb_json_object(j, item);
		ivb_json_str(j, IVB_RK_BUSY_NAME, n->busy[i].name);
		ivb_json_u64(j, IVB_RK_BUSY_PID, (uint64_t)n->busy[i].pid);
		ivb_json_fixed(j, IVB_RK_BUSY_CPU_SHARE, n->busy[i].cpu_share, 4);
		ivb_json_object_end(j);
	}
	ivb_json_array_end(j);
}

void ivb_noise_write_json(struct ivb_json *j, const struct ivb_noise *n)
{
	if (!n->before.taken)
		return;
	ivb_json_object(j, IVB_RK_NOISE);
	write_snapshot(j, IVB_RK_NOISE_BEFORE, &n->before);
	if (n->after.taken)
		write_snapshot(j, IVB_RK_NOISE_AFTER, &n->after);
	if (n->busy_known) {
		write_busy(j, IVB_RK_NOISE_BUSY, IVB_RK_NOISE_BUSY_ITEM, n, false);
		write_busy(j, IVB_RK_NOISE_BENCH_PROCESSES, IVB_RK_NOISE_BENCH_PROCESSES_ITEM, n, true);
		ivb_json_u64(j, IVB_RK_NOISE_BUSY_MIN_PERMILLE, IVB_NOISE_BUSY_MIN_PERMILLE);
		if (n->procs_not_sampled > 0)
			ivb_json_u64(j, IVB_RK_NOISE_PROCESSES_NOT_SAMPLED, n->procs_not_sampled);
	}
	ivb_json_u64(j, IVB_RK_NOISE_BENCH_THREADS, IVB_NOISE_BENCH_THREADS);
	ivb_json_object_end(j);
}
