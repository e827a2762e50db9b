/* Unit tests: the state machines of protocol.c, both sides in one process on an aligned buffer: the exchanges,
 * the handshake, time-outs, aborts and refusals, the host's plan, and doorbell mode. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "protocol_fixture.h"
#include "sha256.h"

/* A guest that hashes what it gets and acknowledges, until the host completes the run. */
struct guest_thread {
	pthread_t tid;
	struct ivb_bell *bell; /* doorbell mode, or NULL */
	int bind_ret;
	int end_ret; /* 1: the host completed the run */
	uint64_t messages, verified;
	uint64_t planned; /* what the guest read in the host's plan */
};

static void *guest_main(void *arg)
{
	struct guest_thread *gt = arg;
	struct ivb_guest_info info = test_info();
	struct ivb_guest g;

	gt->bind_ret = ivb_guest_bind(&g, region, REGION_SIZE, LONG_NS, &info, gt->bell);
	if (gt->bind_ret < 0)
		return NULL;
	gt->planned = g.planned;
	for (;;) {
		struct ivb_message msg;
		struct ivb_guest_report rep;
		uint8_t digest[IVB_SHA256_LEN];
		uint32_t error;
		int ret = ivb_guest_wait_message(&g, &msg);

		if (ret != 0) {
			gt->end_ret = ret;
			if (ret == 1) {
				/* Made-up figures the host must get back as they are. */
				struct ivb_guest_summary sum = { .cpu_user_ns = 3000, .cpu_sys_ns = 2000,
								 .wall_ns = 9000, .messages = gt->messages };

				ivb_guest_publish_summary(&g, &sum);
			}
			return NULL;
		}
		memset(&rep, 0, sizeof(rep));
		error = msg.error;
		if (error == IVB_MSG_OK) {
			ivb_sha256(ivb_buffer(region), msg.size, digest);
			error = memcmp(digest, msg.sha256, IVB_SHA256_LEN) == 0 ? IVB_MSG_OK : IVB_MSG_SHA256_MISMATCH;
		}
		rep.timing.total_ns = ivb_now_ns() - msg.seen_ns;
		ivb_guest_ack(&g, &msg, &rep, error);
		gt->messages++;
		gt->verified += error == IVB_MSG_OK;
		ret = ivb_guest_wait_host_ready(&g);
		if (ret < 0) {
			gt->end_ret = ret;
			return NULL;
		}
	}
}

/* Send one message of n bytes; returns the guest's error code, or a negative errno. */
static int host_exchange(struct ivb_host *h, size_t n, int corrupt)
{
	uint8_t sha[IVB_SHA256_LEN];
	struct ivb_ack ack;
	uint64_t sent;
	int ret;

	ivb_random_bytes(ivb_buffer(region), n);
	ivb_sha256(ivb_buffer(region), n, sha);
	if (corrupt)
		ivb_buffer(region)[n - 1] ^= 0x80;
	ret = ivb_host_send(h, n, IVB_MSG_LATENCY, 0, sha, &sent);
	if (ret < 0)
		return ret;
	ret = ivb_host_wait_ack(h, &ack);
	if (ret < 0)
		return ret;
	CHECK(ack.acked_ns >= sent);
	ret = ivb_host_next(h);
	return ret < 0 ? ret : (int)ack.error_code;
}

static void run_exchange(int guest_first)
{
	struct guest_thread gt = { 0 };
	struct ivb_guest_summary sum;
	struct ivb_guest_info info;
	struct ivb_host h;

	fresh_region();
	CHECK(pthread_create(&gt.tid, NULL, guest_main, &gt) == 0);
	if (guest_first) {
		/* Wait (bounded) until the guest announced itself before the host exists. */
		uint64_t deadline = ivb_now_ns() + LONG_NS;

		while (atomic_load(&region->guest_state) != IVB_GUEST_WAITING_HOST_INIT && ivb_now_ns() < deadline)
			ivb_cpu_relax();
		CHECK(atomic_load(&region->guest_state) == IVB_GUEST_WAITING_HOST_INIT);
	}
	CHECK(ivb_host_init(&h, region, REGION_SIZE, 0x1234, LONG_NS, NULL, &test_plan) == 0);
	CHECK(ivb_host_wait_guest(&h, &info) == 0);
	CHECK(info.map_kind == IVB_MAP_SHM && strcmp(info.kernel, "test-kernel") == 0);
	CHECK(host_exchange(&h, 64, 0) == IVB_MSG_OK);
	CHECK(host_exchange(&h, 65536, 0) == IVB_MSG_OK);
	CHECK(host_exchange(&h, 4096, 1) == IVB_MSG_SHA256_MISMATCH);
	CHECK(host_exchange(&h, 1, 0) == IVB_MSG_OK);
	ivb_host_finish(&h);
	CHECK(ivb_host_wait_summary(&h, LONG_NS, &sum) == 0);
	CHECK(sum.cpu_user_ns == 3000 && sum.cpu_sys_ns == 2000 && sum.wall_ns == 9000 && sum.messages == 4);
	CHECK(sum.rings_sent == 0 && sum.rings_received == 0);
	pthread_join(gt.tid, NULL);
	CHECK(gt.bind_ret == 0);
	CHECK(gt.end_ret == 1);
	CHECK(gt.messages == 4 && gt.verified == 3);
}

static void test_exchange_host_first(void) { run_exchange(0); }
static void test_exchange_guest_first(void) { run_exchange(1); }

static void test_layout(void)
{
	CHECK(((uintptr_t)ivb_buffer(region) & 4095) == 0);
	CHECK((uint8_t *)ivb_buffer(region) - (uint8_t *)region == IVB_HEADER_SIZE);
	CHECK(offsetof(struct ivb_region, guest_state) - offsetof(struct ivb_region, host_state) >= IVB_CACHE_LINE);
}

static void test_host_init_rejects_small_region(void)
{
	struct ivb_host h;

	fresh_region();
	CHECK(ivb_host_init(&h, region, IVB_HEADER_SIZE + 100, 1, SHORT_NS, NULL, &test_plan) == -EINVAL);
	CHECK(ivb_host_init(&h, region, REGION_SIZE, 0, SHORT_NS, NULL, &test_plan) == -EINVAL);
	CHECK(atomic_load(&region->magic) == 0);
}

static void test_stale_region_detected(void)
{
	struct ivb_guest_info info;
	struct ivb_host h;

	fresh_region();
	/* What a crash mid-message leaves: a valid magic, SENDING, an acknowledging guest of old. */
	atomic_store(&region->magic, IVB_MAGIC);
	atomic_store(&region->host_state, IVB_HOST_SENDING);
	atomic_store(&region->session, 77);
	region->guest_session = 77;
	atomic_store(&region->guest_state, IVB_GUEST_READY);
	CHECK(ivb_host_init(&h, region, REGION_SIZE, 78, SHORT_NS, NULL, &test_plan) == 0);
	CHECK(strstr(h.why, "stale") != NULL);
	CHECK(atomic_load(&region->host_state) == IVB_HOST_READY);
	/* The old guest's READY belongs to session 77: it must not count. */
	CHECK(ivb_host_wait_guest(&h, &info) == -ETIMEDOUT);
	CHECK(strstr(h.why, "timed out") != NULL && strstr(h.why, "earlier session") != NULL);
}

static void test_guest_follows_new_host(void)
{
	struct guest_thread gt = { 0 };
	struct ivb_guest_info info;
	struct ivb_host dead, h;
	uint64_t deadline;

	fresh_region();
	/* A host that initialised and died: the guest binds to it first. */
	CHECK(ivb_host_init(&dead, region, REGION_SIZE, 1001, SHORT_NS, NULL, &test_plan) == 0);
	CHECK(pthread_create(&gt.tid, NULL, guest_main, &gt) == 0);
	deadline = ivb_now_ns() + LONG_NS;
	while ((atomic_load(&region->guest_state) != IVB_GUEST_READY || region->guest_session != 1001) &&
	       ivb_now_ns() < deadline)
		ivb_cpu_relax();
	CHECK(region->guest_session == 1001);
	CHECK(ivb_host_init(&h, region, REGION_SIZE, 1002, LONG_NS, NULL, &test_plan) == 0);
	CHECK(ivb_host_wait_guest(&h, &info) == 0);
	CHECK(host_exchange(&h, 128, 0) == IVB_MSG_OK);
	ivb_host_finish(&h);
	pthread_join(gt.tid, NULL);
	CHECK(gt.end_ret == 1 && gt.messages == 1);
}

static void test_host_timeout_names_the_state(void)
{
	struct ivb_guest_info info;
	struct ivb_host h;
	struct ivb_guest g;
	uint8_t sha[IVB_SHA256_LEN] = { 0 };
	struct ivb_ack ack;
	uint64_t sent;

	fresh_region();
	CHECK(ivb_host_init(&h, region, REGION_SIZE, 5, SHORT_NS, NULL, &test_plan) == 0);
	CHECK(ivb_host_wait_guest(&h, &info) == -ETIMEDOUT);
	CHECK(strstr(h.why, "READY") != NULL);
	/* A guest that binds and then never answers. */
	bind_both(&h, &g);
	CHECK(ivb_host_send(&h, 64, IVB_MSG_LATENCY, 0, sha, &sent) == 0);
	CHECK(ivb_host_wait_ack(&h, &ack) == -ETIMEDOUT);
	CHECK(strstr(h.why, "ACKNOWLEDGED of message 1") != NULL);
}

static void test_guest_timeout_names_the_state(void)
{
	struct ivb_guest_info info = test_info();
	struct ivb_message msg;
	struct ivb_host h;
	struct ivb_guest g;

	fresh_region();
	CHECK(ivb_guest_bind(&g, region, REGION_SIZE, SHORT_NS, &info, NULL) == -ETIMEDOUT);
	CHECK(strstr(g.why, "host state READY") != NULL);
	bind_both(&h, &g);
	CHECK(ivb_guest_wait_message(&g, &msg) == -ETIMEDOUT);
	CHECK(strstr(g.why, "SENDING of message 1") != NULL);
}

static void test_aborts_are_seen(void)
{
	uint8_t sha[IVB_SHA256_LEN] = { 0 };
	struct ivb_message msg;
	struct ivb_ack ack;
	struct ivb_host h;
	struct ivb_guest g;
	uint64_t sent;

	bind_both(&h, &g);
	ivb_host_abort(&h, IVB_ABORT_SIGNAL);
	CHECK(ivb_guest_wait_message(&g, &msg) == -ECONNRESET);
	CHECK(strstr(g.why, "host aborted") != NULL && strstr(g.why, "signal") != NULL);

	bind_both(&h, &g);
	CHECK(ivb_host_send(&h, 64, IVB_MSG_LATENCY, 0, sha, &sent) == 0);
	ivb_guest_abort(&g, IVB_ABORT_TIMEOUT);
	CHECK(ivb_host_wait_ack(&h, &ack) == -ECONNRESET);
	CHECK(strstr(h.why, "guest aborted") != NULL);
}

/* A guest bound to a host that died, then refused by the next one (region too small): it stops now. */
static void test_bound_guest_hears_a_refusal(void)
{
	struct ivb_message msg;
	struct ivb_host h;
	struct ivb_guest g;

	bind_both(&h, &g);
	CHECK(ivb_host_refuse(region, REGION_SIZE, 77, IVB_ABORT_FAILURE) == 0);
	CHECK(ivb_guest_wait_message(&g, &msg) == -ECONNRESET);
	CHECK(strstr(g.why, "aborted before the run") != NULL);
}

/* Watches the host state while a host refuses again and again; counts every READY it sees. */
struct state_watch {
	atomic_bool stop;
	atomic_ulong ready_seen, reads;
};

static void *watch_host_state(void *arg)
{
	struct state_watch *w = arg;

	while (!atomic_load(&w->stop)) {
		if (atomic_load(&region->host_state) == IVB_HOST_READY)
			atomic_fetch_add(&w->ready_seen, 1);
		atomic_fetch_add(&w->reads, 1);
	}
	return NULL;
}

struct bind_attempt {
	struct ivb_guest g;
	int ret;
};

static void *bind_only(void *arg)
{
	struct bind_attempt *b = arg;
	struct ivb_guest_info info = test_info();

	b->ret = ivb_guest_bind(&b->g, region, REGION_SIZE, LONG_NS, &info, NULL);
	return NULL;
}

/* A host whose region is too small stops a waiting guest with ABORTED, never a READY without a plan. */
static void test_refusing_host_is_never_ready(void)
{
	struct bind_attempt bind = { 0 };
	struct state_watch w = { 0 };
	pthread_t tid;

	fresh_region();
	CHECK(ivb_host_refuse(region, IVB_HEADER_SIZE + 100, 5, IVB_ABORT_FAILURE) == -EINVAL);
	CHECK(ivb_host_refuse(region, REGION_SIZE, 0, IVB_ABORT_FAILURE) == -EINVAL);

	/* A guest already waiting hears the refusal as an abort, at once. */
	pthread_create(&tid, NULL, bind_only, &bind);
	while (atomic_load(&region->guest_state) != IVB_GUEST_WAITING_HOST_INIT)
		;
	CHECK(ivb_host_refuse(region, REGION_SIZE, 7, IVB_ABORT_FAILURE) == 0);
	CHECK(atomic_load(&region->host_state) == IVB_HOST_ABORTED && region->session == 7);
	pthread_join(tid, NULL);
	CHECK(bind.ret == -ECONNRESET && strstr(bind.g.why, "aborted before the run") != NULL);

	/* Every state a second thread can see in between: the old init-then-abort showed READY here. */
	pthread_create(&tid, NULL, watch_host_state, &w);
	while (atomic_load(&w.reads) == 0)
		;
	for (uint64_t session = 9; session < 200000; session += 2)
		ivb_host_refuse(region, REGION_SIZE, session, IVB_ABORT_FAILURE);
	atomic_store(&w.stop, true);
	pthread_join(tid, NULL);
	CHECK(atomic_load(&w.ready_seen) == 0);
}

/* Send every message of a plan, as host_writer does: warm-up, latency, bandwidth per frame, reference per size. */
static void host_send_plan(struct ivb_host *h, const struct ivb_plan *p)
{
	uint64_t largest = ivb_plan_largest(p);

	for (uint64_t i = 0; i < p->warmup; i++)
		CHECK(host_exchange(h, largest, 0) == IVB_MSG_OK);
	for (uint64_t i = 0; i < p->latency_count; i++)
		CHECK(host_exchange(h, p->latency_frame_bytes, 0) == IVB_MSG_OK);
	for (uint32_t f = 0; f < p->nframes; f++)
		for (uint64_t i = 0; i < p->bandwidth_per_frame; i++)
			CHECK(host_exchange(h, p->frame_bytes[f], 0) == IVB_MSG_OK);
	for (uint64_t i = 0; i < p->reference_per_frame; i++)
		CHECK(host_exchange(h, p->latency_frame_bytes, 0) == IVB_MSG_OK);
	for (uint32_t f = 0; f < p->nframes; f++)
		for (uint64_t i = 0; p->reference_per_frame > 0 && ivb_plan_first_reference_size(p, f) &&
				     i < p->reference_per_frame; i++)
			CHECK(host_exchange(h, p->frame_bytes[f], 0) == IVB_MSG_OK);
}

/* The guest takes no test options: it reads the host's plan, expects exactly its messages, and serves them. */
static void test_guest_runs_the_hosts_plan(void)
{
	/* 1 warm-up + 3 latency + 2 x 2 bandwidth + 1 x 2 reference sizes (256 repeats the latency frame). */
	const struct ivb_plan plan = { .warmup = 1, .latency_count = 3, .bandwidth_per_frame = 2,
				       .reference_per_frame = 1, .latency_frame_bytes = 256, .nframes = 2,
				       .frame_bytes = { 512, 256 } };
	struct guest_thread gt = { 0 };
	struct ivb_guest_info info;
	struct ivb_host h;

	CHECK(ivb_plan_messages(&plan) == 10);
	fresh_region();
	CHECK(pthread_create(&gt.tid, NULL, guest_main, &gt) == 0);
	CHECK(ivb_host_init(&h, region, REGION_SIZE, 0x77, LONG_NS, NULL, &plan) == 0);
	CHECK(ivb_host_wait_guest(&h, &info) == 0);
	host_send_plan(&h, &plan);
	ivb_host_finish(&h);
	pthread_join(gt.tid, NULL);
	CHECK(gt.bind_ret == 0 && gt.end_ret == 1);
	CHECK(gt.planned == 10);
	CHECK(gt.messages == gt.planned && gt.verified == gt.planned);

	/* A message beyond the plan is a protocol error on the guest side. */
	fresh_region();
	memset(&gt, 0, sizeof(gt));
	CHECK(pthread_create(&gt.tid, NULL, guest_main, &gt) == 0);
	CHECK(ivb_host_init(&h, region, REGION_SIZE, 0x78, LONG_NS, NULL, &plan) == 0);
	CHECK(ivb_host_wait_guest(&h, &info) == 0);
	host_send_plan(&h, &plan);
	/* Only the wait that must time out is short: the live guest thread had the long one for its plan. */
	h.timeout_ns = SHORT_NS;
	CHECK(host_exchange(&h, 64, 0) < 0);
	ivb_host_abort(&h, IVB_ABORT_PROTOCOL);
	pthread_join(gt.tid, NULL);
	CHECK(gt.end_ret == -EPROTO && gt.messages == 10);
}

/* A bell as an ivshmem server would set it up: our eventfd, and the one peer's. No server socket. */
static void fake_bell(struct ivb_bell *b, int id, int own_fd, int peer_id, int peer_fd)
{
	memset(b, 0, sizeof(*b));
	b->id = b->link.id = id;
	b->dev_fd = -1;
	b->link.sock = b->link.shm_fd = -1;
	b->link.own_fd = own_fd;
	b->link.peers[0].id = peer_id;
	b->link.peers[0].fd = peer_fd;
	b->link.npeers = 1;
}

/*
 * Doorbell mode, both sides sleeping on eventfds. With lost_rings the host's rings go to an eventfd
 * nobody waits on: the guest still gets every message, a slice late each, and counts it.
 */
static void run_doorbell_exchange(bool lost_rings)
{
	int host_fd = eventfd(0, EFD_CLOEXEC), guest_fd = eventfd(0, EFD_CLOEXEC), nowhere = eventfd(0, EFD_CLOEXEC);
	struct ivb_bell host_bell, guest_bell;
	struct guest_thread gt = { .bell = &guest_bell };
	const struct timespec pause = { 0, 20 * 1000 * 1000 };
	struct ivb_guest_summary sum;
	struct ivb_guest_info info;
	struct ivb_host h;

	CHECK(host_fd >= 0 && guest_fd >= 0 && nowhere >= 0);
	fake_bell(&host_bell, 3, host_fd, 7, lost_rings ? nowhere : guest_fd);
	fake_bell(&guest_bell, 7, guest_fd, 3, host_fd);
	fresh_region();
	CHECK(ivb_host_init(&h, region, REGION_SIZE, 0x5678, LONG_NS, &host_bell, &test_plan) == 0);
	CHECK(region->host_peer == 4);
	/* A guest already asleep in its bind wait would be woken: the host rang every peer it knows. */
	CHECK(host_bell.rings_sent == 1);
	CHECK(pthread_create(&gt.tid, NULL, guest_main, &gt) == 0);
	CHECK(ivb_host_wait_guest(&h, &info) == 0);
	CHECK(h.guest_peer == 7);
	/* The host gives the guest time to go to sleep before each state it awaits: a ring must wake it. */
	nanosleep(&pause, NULL);
	CHECK(host_exchange(&h, 64, 0) == IVB_MSG_OK);
	nanosleep(&pause, NULL);
	CHECK(host_exchange(&h, 4096, 0) == IVB_MSG_OK);
	nanosleep(&pause, NULL);
	ivb_host_finish(&h);
	CHECK(ivb_host_wait_summary(&h, LONG_NS, &sum) == 0);
	pthread_join(gt.tid, NULL);
	CHECK(gt.end_ret == 1 && gt.verified == 2);
	/* The guest rang on READY, each ACKNOWLEDGED, each READY after a message, and with its summary. */
	CHECK(sum.rings_sent == 6 && guest_bell.rings_sent == 6);
	CHECK(host_bell.rings_received >= 1);
	if (lost_rings) {
		/* The guest's waits for SENDING (twice) and COMPLETED ended on a slice, not a ring. */
		CHECK(guest_bell.late_wakeups >= 3 && sum.late_wakeups == guest_bell.late_wakeups);
		CHECK(guest_bell.rings_received == 0);
	} else {
		CHECK(guest_bell.rings_received >= 3);
	}
	close(host_fd);
	close(guest_fd);
	close(nowhere);
}

static void test_doorbell_exchange(void) { run_doorbell_exchange(false); }
static void test_doorbell_lost_rings_are_counted(void) { run_doorbell_exchange(true); }

static void test_stop_flag_interrupts_waits(void)
{
	struct ivb_guest_info info;
	struct ivb_host h;

	fresh_region();
	CHECK(ivb_host_init(&h, region, REGION_SIZE, 3, LONG_NS, NULL, &test_plan) == 0);
	ivb_stop_requested = 1;
	CHECK(ivb_host_wait_guest(&h, &info) == -EINTR);
	ivb_stop_requested = 0;
}

int main(void)
{
	region = aligned_alloc(4096, REGION_SIZE);
	if (region == NULL)
		return 1;
	RUN_TEST(test_layout);
	RUN_TEST(test_exchange_host_first);
	RUN_TEST(test_exchange_guest_first);
	RUN_TEST(test_host_init_rejects_small_region);
	RUN_TEST(test_stale_region_detected);
	RUN_TEST(test_guest_follows_new_host);
	RUN_TEST(test_host_timeout_names_the_state);
	RUN_TEST(test_guest_timeout_names_the_state);
	RUN_TEST(test_aborts_are_seen);
	RUN_TEST(test_refusing_host_is_never_ready);
	RUN_TEST(test_bound_guest_hears_a_refusal);
	RUN_TEST(test_stop_flag_interrupts_waits);
	RUN_TEST(test_guest_runs_the_hosts_plan);
	RUN_TEST(test_doorbell_exchange);
	RUN_TEST(test_doorbell_lost_rings_are_counted);
	free(region);
	return CHECK_SUMMARY("unit protocol");
}
