/* host_consumers.c: several host consumers of one guest-to-host stream, as Looking Glass's viewer and OBS read the
 * same frames: one process each (forked once the region is mapped and the guest laid its ring out), each consumer
 * i of the ring (ivb_stream_consume_as). A consumer's rows come to this process through its own pipe as fixed-size
 * records, which are checked (a consumer process is ours, but a bug or a crash must not write a lying row) and
 * written to stream_results.csv by the one CSV writer; what each consumer did comes back in shared memory. A
 * consumer that dies is noticed (its pipe closes before it said it ended), its rows kept, and the run fails once
 * the others finished.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "consumer_rows.h"
#include "defaults.h"
#include "host_stream.h"
#include "protocol.h"

_Static_assert(IVB_RING_MAX_CONSUMERS <= IVB_PEER_VECTORS, "a peer link holds a vector per consumer");
_Static_assert(IVB_RING_MAX_CONSUMERS <= IVB_DOORBELL_VECTORS, "the bench's server gives a vector per consumer");

/* A consumer writes its batch at least this often, so that a consumer that dies loses little. */
#define BATCH_NS (10ull * 1000 * 1000)
/* The parent's wait for news from its consumers, between its checks of the time limit. */
#define POLL_MS 100

/* A consumer process's side of its pipe. */
struct row_pipe {
	int fd;
	uint32_t n;
	uint64_t last_ns;
	struct ivb_consumer_row batch[IVB_CONSUMER_ROWS_BATCH];
};

/* Write the consumer's batch whole (a pipe write of at most PIPE_BUF bytes is whole or fails). */
static int pipe_flush(struct row_pipe *p)
{
	const size_t len = p->n * sizeof(p->batch[0]);
	ssize_t w;

	if (p->n == 0)
		return 0;
	do
		w = write(p->fd, p->batch, len);
	while (w < 0 && errno == EINTR);
	p->n = 0;
	p->last_ns = ivb_now_ns();
	return w == (ssize_t)len ? 0 : -EPIPE;
}

static int pipe_emit(void *arg, const struct ivb_stream_frame *f)
{
	struct row_pipe *p = arg;

	ivb_consumer_row_of(f, &p->batch[p->n++]);
	if (p->n == IVB_CONSUMER_ROWS_BATCH || ivb_now_ns() - p->last_ns >= BATCH_NS)
		return pipe_flush(p);
	return 0;
}

/* A consumer process: consume, send the rest of its rows, leave its result in shared memory. */
static void __attribute__((noreturn)) consumer_main(struct ivb_run *run, struct stream_state *st, uint32_t i,
						    uint64_t need, const struct ivb_ring_geometry *g,
						    const struct ivb_ring_guest_report *rep, int fd,
						    struct ivb_consumer_result *out)
{
	static struct row_pipe p;
	struct ivb_consumer_result res;
	int ret = 0;

	p = (struct row_pipe){ .fd = fd, .last_ns = ivb_now_ns() };
	/* Its own vector: the guest rings it for this consumer alone, and no other process reads its rings. */
	if (ivb_consumers_vectors(run))
		ret = ivb_bell_wait_on(&run->bell, i);
	if (ret < 0) {
		memset(&res, 0, sizeof(res));
		snprintf(res.why, sizeof(res.why), "consumer %u cannot wait on interrupt vector %u: %s", i, i,
			 strerror(-ret));
		res.ret = ret;
		res.end = IVB_CONSUMER_FAILED;
	} else {
		ret = ivb_stream_consume_as(run, st, i, need, g, rep, pipe_emit, &p, &res);
	}
	if (pipe_flush(&p) < 0 && ret == 0) {
		snprintf(res.why, sizeof(res.why), "consumer %u could not send its rows", i);
		res.ret = ret = -EPIPE;
		res.end = IVB_CONSUMER_FAILED;
	}
	*out = res;
	/* _exit: the parent's stdio buffers and CSV files are the parent's to flush. */
	_exit(ret == 0 ? IVB_EXIT_OK : IVB_EXIT_FAILURE);
}

/* The parent's view of one consumer. */
struct child {
	pid_t pid;
	int fd;           /* its pipe's read end; -1 once it closed */
	uint64_t start_ns; /* host clock, before it was forked: no time in its rows is later than since */
	struct ivb_row_reader rd;
	struct stream_state *st;
	struct ivb_consumer_result *res;
	bool lost;
	char why[200];
};

/* A checked row of a consumer: to the CSV, and into its counts. */
static int child_row(void *arg, const struct ivb_stream_frame *f)
{
	struct child *c = arg;
	struct ivb_consumer_result *res = c->res;
	int ret = ivb_stream_row(c->st, f);

	if (ret < 0)
		return ret;
	res->next = f->seq + 1;
	if (f->dropped)
		res->totals.dropped++;
	else
		res->totals.consumed++;
	res->totals.failed += !f->dropped && f->failed;
	res->totals.unverified += !f->dropped && !f->failed && f->status == IVB_FRAME_UNVERIFIED;
	return 0;
}

/* Consumer c is lost, for `why` (the first reason stays). */
static void lose(struct child *c, const char *why)
{
	if (c->lost)
		return;
	c->lost = true;
	snprintf(c->why, sizeof(c->why), "%s", why);
}

/* Read what consumer i sent; write every complete, valid row. Returns: 0, or the CSV writer's error. */
static int drain(struct child *c)
{
	uint8_t buf[sizeof(c->rd.buf)];
	ssize_t got = read(c->fd, buf, sizeof(buf));
	int ret;

	if (got < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (got == 0) {
		close(c->fd);
		c->fd = -1;
		if (ivb_row_reader_end(&c->rd) < 0)
			lose(c, c->rd.why);
		return 0;
	}
	if (c->lost)
		return 0;
	ret = ivb_row_reader_feed(&c->rd, buf, (size_t)got, ivb_now_ns() - c->start_ns, child_row, c);
	if (ret == -EPROTO) {
		/* One that lies is stopped: nothing more it says is taken. */
		lose(c, c->rd.why);
		kill(c->pid, SIGKILL);
		return 0;
	}
	return ret;
}

/* Consumer i's end as it says and as its exit shows; a result that disagrees with its rows is a loss. */
static void reap(struct child *c, uint32_t i, const struct ivb_consumer_result *said, struct ivb_consumer_result *res)
{
	int status = 0;
	pid_t w;

	do
		w = waitpid(c->pid, &status, 0);
	while (w < 0 && errno == EINTR);
	if (!c->lost && w == c->pid && WIFSIGNALED(status)) {
		c->lost = true;
		snprintf(c->why, sizeof(c->why), "its process died of signal %d", WTERMSIG(status));
	} else if (!c->lost && (w != c->pid || !WIFEXITED(status) || said->end < IVB_CONSUMER_FINISHED ||
				said->end > IVB_CONSUMER_FAILED || said->next != res->next)) {
		c->lost = true;
		snprintf(c->why, sizeof(c->why), "its process ended without a result that matches its %llu rows",
			 (unsigned long long)c->rd.rows);
	}
	/* The counts are the parent's, from the rows it wrote; the rest is the consumer's own account. */
	res->ret = said->ret;
	res->end = c->lost ? IVB_CONSUMER_LOST : said->end;
	res->rings_sent = said->rings_sent;
	res->rings_received = said->rings_received;
	res->cpu = said->cpu;
	res->cpu.known = !c->lost && said->cpu.known;
	res->start_ns = said->start_ns;
	res->end_ns = said->end_ns >= said->start_ns ? said->end_ns : said->start_ns;
	memcpy(res->why, said->why, sizeof(res->why));
	res->why[sizeof(res->why) - 1] = '\0';
	if (c->lost)
		snprintf(res->why, sizeof(res->why), "consumer %u was lost: %s (its %llu rows kept)", i, c->why,
			 (unsigned long long)c->rd.rows);
}

int ivb_consumers_run(struct ivb_run *run, struct stream_state *st, uint64_t need, const struct ivb_ring_geometry *g,
		      const struct ivb_ring_guest_report *rep, struct ivb_consumer_result *res)
{
	const struct ivb_host_config *cfg = &run->cfg;
	const uint32_t n = cfg->nconsumers;
	static struct child kids[IVB_RING_MAX_CONSUMERS];
	struct ivb_consumer_result *said;
	/* The consumers' own waits end sooner: this one catches a consumer that hangs or is stopped. */
	const uint64_t limit = ivb_now_ns() + (cfg->stream_seconds + cfg->timeout_s * (cfg->slots + 2ull)) * IVB_NS_PER_SEC;
	uint32_t open = 0;
	int ret = 0;

	said = mmap(NULL, n * sizeof(*said), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (said == MAP_FAILED) {
		snprintf(run->host.why, sizeof(run->host.why), "cannot share memory with the consumers: %s", strerror(errno));
		return -errno;
	}
	memset(said, 0, n * sizeof(*said));
	/* Several processes wait on the host's one bell: one's read after a shared wake-up must not block the others. */
	if (cfg->doorbell_mode && !ivb_consumers_vectors(run))
		(void)ivb_bell_share(&run->bell);
	fflush(NULL);
	for (uint32_t i = 0; i < n; i++) {
		int fds[2];

		kids[i] = (struct child){ .pid = -1, .fd = -1, .st = st, .res = &res[i], .start_ns = ivb_now_ns() };
		ivb_row_reader_init(&kids[i].rd, i, g->nslots, cfg->verify);
		if (pipe2(fds, O_CLOEXEC) < 0) {
			ret = -errno;
			break;
		}
		kids[i].pid = fork();
		if (kids[i].pid == 0) {
			close(fds[0]);
			for (uint32_t k = 0; k < i; k++)
				close(kids[k].fd);
			consumer_main(run, st, i, need, g, rep, fds[1], &said[i]);
		}
		close(fds[1]);
		if (kids[i].pid < 0) {
			ret = -errno;
			close(fds[0]);
			break;
		}
		kids[i].fd = fds[0];
		open++;
	}
	if (ret < 0)
		snprintf(run->host.why, sizeof(run->host.why), "cannot start consumer %u: %s", open, strerror(-ret));
	while (open > 0) {
		struct pollfd pfd[IVB_RING_MAX_CONSUMERS];
		uint32_t who[IVB_RING_MAX_CONSUMERS], np = 0;

		for (uint32_t i = 0; i < n; i++)
			if (kids[i].fd >= 0) {
				pfd[np] = (struct pollfd){ .fd = kids[i].fd, .events = POLLIN };
				who[np++] = i;
			}
		if (ivb_now_ns() >= limit || (ivb_stop_requested && ret == 0)) {
			for (uint32_t k = 0; k < np; k++)
				if (!kids[who[k]].lost) {
					kids[who[k]].lost = true;
					snprintf(kids[who[k]].why, sizeof(kids[who[k]].why), "%s",
						 ivb_stop_requested ? "stopped by a signal" : "it did not end in time");
					kill(kids[who[k]].pid, SIGKILL);
				}
		}
		if (poll(pfd, np, POLL_MS) < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
		for (uint32_t k = 0; k < np; k++) {
			uint32_t i = who[k];
			int r;

			if (pfd[k].revents == 0)
				continue;
			r = drain(&kids[i]);
			if (r < 0 && ret == 0) {
				ret = r; /* run->host.why says why (the CSV) */
				kill(kids[i].pid, SIGKILL);
			}
			if (kids[i].fd < 0)
				open--;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		if (kids[i].fd >= 0) {
			close(kids[i].fd);
			kill(kids[i].pid, SIGKILL);
		}
		if (kids[i].pid > 0)
			reap(&kids[i], i, &said[i], &res[i]);
	}
	munmap(said, n * sizeof(*said));
	if (ret < 0)
		return ret;
	/* A lost consumer fails the run; one that failed on its own fails the stream; one dropped is reported. */
	for (uint32_t i = 0; i < n; i++) {
		if (res[i].end == IVB_CONSUMER_LOST) {
			snprintf(run->host.why, sizeof(run->host.why), "stream %.16s: %.200s", st->key.frame->name, res[i].why);
			ret = -ECHILD;
		} else if (res[i].end == IVB_CONSUMER_FAILED && ret == 0) {
			snprintf(run->host.why, sizeof(run->host.why), "stream %.16s: consumer %u: %.180s", st->key.frame->name,
				 i, res[i].why);
			ret = res[i].ret < 0 ? res[i].ret : -EPROTO;
		} else if (res[i].end == IVB_CONSUMER_DROPPED) {
			fprintf(stderr, PROG ": stream %s: %s after %llu frames; the others went on\n", st->key.frame->name,
				res[i].why, (unsigned long long)res[i].next);
		}
	}
	return ret;
}

uint32_t ivb_consumers_vectors(struct ivb_run *run)
{
	const struct ivb_host_config *cfg = &run->cfg;

	if (!cfg->doorbell_mode || cfg->nconsumers < 2)
		return 0;
	if (!run->consumer_vectors_decided) {
		const uint32_t have = ivb_bell_vectors(&run->bell);

		run->consumer_vectors_decided = true;
		run->consumer_vectors = have >= cfg->nconsumers;
		if (!run->consumer_vectors)
			fprintf(stderr, PROG ": the ivshmem server gives %u interrupt vector%s per peer, fewer than the %u "
				"consumers: they share vector 0, and one that misses a ring waits up to %llu ms (start the "
				"server with --vectors %u or more; QEMU's ivshmem-server: -n %u)\n", have, have == 1 ? "" : "s",
				cfg->nconsumers, IVB_BELL_SLICE_NS / 1000000, cfg->nconsumers, cfg->nconsumers);
	}
	return run->consumer_vectors;
}
