/* host_duplex.c: a stream both ways at once (--stream-direction both). One stream message lays out two rings in
 * the data buffer, the host's (host-to-guest) from its start and the guest's (guest-to-host) right after it at
 * g2h_offset; the host produces into the first in this thread while another thread consumes the second (or runs
 * its consumer processes). Each direction keeps its own records, rows and error; the rows go through the one CSV
 * writer under a lock; the first direction that fails stops the other at its next check (every wait of both has
 * the run's time limit). In doorbell mode the two threads wait on paired copies of the host's bell (bell.h), so
 * that a ring meant for one thread's ring is never lost to the other.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "host_stream.h"

/* What the guest-to-host thread works with. */
struct g2h_job {
	struct ivb_run *run;
	struct stream_state *st;
	uint64_t offset, need;
	const struct ivb_ring_geometry *g;
	const struct ivb_ring_guest_report *rep;
	struct ivb_consumer_result *res;
	int ret;
};

static void *g2h_thread(void *arg)
{
	struct g2h_job *job = arg;

	job->ret = ivb_stream_g2h_consume(job->run, job->st, job->offset, job->need, job->g, job->rep, job->res);
	/* A consumer lost among several fails the run but not the stream: the other direction goes on. */
	if (job->ret < 0 && job->ret != -ECHILD)
		atomic_store(job->st->stopped, 1);
	return NULL;
}

int ivb_stream_duplex_need(const struct ivb_host_config *cfg, uint64_t capacity, uint64_t size, uint64_t *h2g_need,
			   uint64_t *g2h_need)
{
	struct ivb_ring_geometry g;
	/* Both rings have the same geometry: each alone must fit, and both together. */
	int ret = ivb_ring_geometry_for(capacity, cfg->slots, size, cfg->stream_policy, cfg->verify, cfg->consume, &g,
					h2g_need);

	*g2h_need = *h2g_need;
	if (ret < 0)
		return ret;
	if (*h2g_need > capacity - *g2h_need)
		return -ENOSPC;
	return 0;
}

/* The first failure names its direction; a stop caused by the other direction's failure is not a reason. */
static void first_failure(struct ivb_run *run, int h2g_ret, const char *h2g_why, int g2h_ret)
{
	char g2h_why[sizeof(run->host.why)];

	memcpy(g2h_why, run->host.why, sizeof(g2h_why));
	if (h2g_ret < 0 && h2g_ret != -ECANCELED && (g2h_ret == 0 || g2h_ret == -ECANCELED || g2h_ret == -ECHILD))
		snprintf(run->host.why, sizeof(run->host.why), "host-to-guest %.200s", h2g_why);
	else if (g2h_ret < 0)
		snprintf(run->host.why, sizeof(run->host.why), "guest-to-host %.200s", g2h_why);
}

int ivb_stream_duplex(struct ivb_run *run, struct stream_state *h2g, struct stream_state *g2h)
{
	const struct ivb_host_config *cfg = &run->cfg;
	static struct ivb_stream_host h; /* large (frames in flight); one stream at a time */
	static struct ivb_consumer_result res[IVB_RING_MAX_CONSUMERS];
	struct ivb_bell h2g_bell, g2h_bell;
	struct ivb_stream_spec spec;
	struct ivb_ring_geometry g;
	struct ivb_ring_guest_report rep;
	struct g2h_job job = { .run = run, .st = g2h, .g = &g, .rep = &rep, .res = res };
	pthread_mutex_t rows_lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_t thread;
	atomic_int stopped = 0;
	char h2g_why[IVB_WHY_LEN] = "";
	uint8_t no_hash[IVB_SHA256_LEN] = { 0 };
	uint64_t h2g_need = 0, sent_ns = 0;
	int ret, laid, h2g_ret = 0;
	bool paired = false;

	memset(res, 0, sizeof(res));
	h2g->rows_lock = g2h->rows_lock = &rows_lock;
	h2g->stopped = g2h->stopped = &stopped;
	h2g->why = h2g_why;
	ret = ivb_stream_duplex_need(cfg, run->host.capacity, h2g->size, &h2g_need, &job.need);
	if (ret < 0) { /* checked by ivb_stream_fit before the run */
		snprintf(run->host.why, sizeof(run->host.why), "the two stream rings of %llu + %llu bytes do not fit the "
			 "region's %llu", (unsigned long long)h2g_need, (unsigned long long)job.need,
			 (unsigned long long)run->host.capacity);
		return ret;
	}
	ret = ivb_stream_h2g_prepare(run, h2g, &h, h2g_need, &h2g_need);
	if (ret < 0) {
		snprintf(run->host.why, sizeof(run->host.why), "%s", h2g_why);
		return ret;
	}
	ret = ivb_stream_g2h_prepare(run, g2h, run->host.capacity - h2g_need, &spec, &g, &job.need, &rep);
	if (ret < 0)
		return ret;
	job.offset = spec.g2h_offset = h2g_need;
	spec.direction = IVB_DIR_BOTH;
	run->map.region->stream = spec;
	ret = ivb_host_send(&run->host, h2g_need + job.need, IVB_MSG_STREAM, cfg->plan.flags, no_hash, &sent_ns);
	if (ret < 0) {
		snprintf(run->host.why, sizeof(run->host.why), "the stream's two rings of %llu bytes do not fit the region",
			 (unsigned long long)(h2g_need + job.need));
		return ret;
	}
	/* The guest attaches to the host's ring and lays out its own in two threads: neither waits for the other. */
	laid = ivb_stream_wait_attached(run, &h.ring, h2g->bell);
	if (laid == 0)
		laid = ivb_stream_wait_laid(run);
	if (laid < 0)
		return laid;
	if (laid == 0 && h2g->bell != NULL) {
		ret = ivb_bell_pair(&run->bell, &h2g_bell, &g2h_bell);
		if (ret < 0) {
			snprintf(run->host.why, sizeof(run->host.why), "cannot share the doorbell between the stream's two "
				 "threads: %s", strerror(-ret));
			return ret;
		}
		paired = true;
		h.bell = h2g->bell = &h2g_bell;
		g2h->bell = &g2h_bell;
	}
	if (laid == 0) {
		ret = pthread_create(&thread, NULL, g2h_thread, &job);
		if (ret != 0) {
			snprintf(run->host.why, sizeof(run->host.why), "cannot start the guest-to-host thread: %s", strerror(ret));
			if (paired)
				ivb_bell_unpair(&run->bell, &h2g_bell, &g2h_bell);
			return -ret;
		}
		h2g_ret = ivb_stream_h2g_produce(run, h2g, &h, sent_ns);
		if (h2g_ret < 0)
			atomic_store(&stopped, 1);
		/* The other thread's waits all end within the run's time limit, or at once once `stopped` is set. */
		pthread_join(thread, NULL);
		if (paired)
			ivb_bell_unpair(&run->bell, &h2g_bell, &g2h_bell);
		first_failure(run, h2g_ret, h2g_why, job.ret);
	}
	/*
	 * The guest's acknowledgement, unless a direction failed (then it is not awaited, as for one direction): the
	 * guest-to-host side stopped for the other's failure, or finished beside it, ends with that failure.
	 */
	ret = job.ret == 0 || job.ret == -ECANCELED ? h2g_ret : job.ret;
	ret = ivb_stream_g2h_settle(run, g2h, res, laid, ret, sent_ns);
	if (ret < 0)
		return ret;
	h2g->rec->completed = true;
	return ivb_host_next(&run->host);
}
