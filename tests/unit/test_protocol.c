/* Unit tests: the state machines of protocol.c, both sides in one process on an aligned buffer. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "plan.h"
#include "clock.h"
#include "common.h"
#include "peer_check.h"
#include "protocol.h"
#include "sha256.h"

#define REGION_SIZE (IVB_HEADER_SIZE + 65536u)
#define SHORT_NS (200ull * 1000 * 1000)
#define LONG_NS (10ull * IVB_NS_PER_SEC)

static struct ivb_region *region;

/* A plan that allows every exchange these tests make: 1000 latency messages of up to 4 KiB. */
static const struct ivb_plan test_plan = { .latency_count = 1000, .latency_frame_bytes = 4096 };

static void fresh_region(void)
{
	memset(region, 0, REGION_SIZE);
	ivb_stop_requested = 0;
}

static struct ivb_guest_info test_info(void)
{
	struct ivb_guest_info info;

	memset(&info, 0, sizeof(info));
	info.map_kind = IVB_MAP_SHM;
	info.map_size = REGION_SIZE;
	strcpy(info.kernel, "test-kernel");
	strcpy(info.memtype, "write-back");
	return info;
}

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

/* Bind a guest and a host in one thread: both conditions are already true when awaited. */
static void bind_both(struct ivb_host *h, struct ivb_guest *g)
{
	struct ivb_guest_info info = test_info();

	fresh_region();
	CHECK(ivb_host_init(h, region, REGION_SIZE, 42, SHORT_NS, NULL, &test_plan) == 0);
	CHECK(ivb_guest_bind(g, region, REGION_SIZE, SHORT_NS, &info, NULL) == 0);
	CHECK(ivb_host_wait_guest(h, &info) == 0);
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

/* Write a message straight into the host lines, as a broken or hostile host could. */
static void raw_send(uint64_t seq, uint64_t size, uint32_t kind)
{
	region->sequence = seq;
	region->data_size = size;
	region->msg_kind = kind;
	atomic_store(&region->host_state, IVB_HOST_SENDING);
}

static void test_guest_rejects_bad_messages(void)
{
	struct ivb_message msg;
	struct ivb_host h;
	struct ivb_guest g;

	bind_both(&h, &g);
	raw_send(1, REGION_SIZE, IVB_MSG_LATENCY); /* larger than the buffer */
	CHECK(ivb_guest_wait_message(&g, &msg) == 0 && msg.error == IVB_MSG_BAD_SIZE);

	bind_both(&h, &g);
	raw_send(1, 0, IVB_MSG_LATENCY);
	CHECK(ivb_guest_wait_message(&g, &msg) == 0 && msg.error == IVB_MSG_BAD_SIZE);

	bind_both(&h, &g);
	raw_send(1, UINT64_MAX, IVB_MSG_LATENCY);
	CHECK(ivb_guest_wait_message(&g, &msg) == 0 && msg.error == IVB_MSG_BAD_SIZE);

	bind_both(&h, &g);
	raw_send(1, 64, 99);
	CHECK(ivb_guest_wait_message(&g, &msg) == 0 && msg.error == IVB_MSG_BAD_KIND);

	bind_both(&h, &g);
	raw_send(7, 64, IVB_MSG_LATENCY); /* skips 1..6 */
	CHECK(ivb_guest_wait_message(&g, &msg) == -EPROTO);
	CHECK(strstr(g.why, "message 7 after 0") != NULL);

	bind_both(&h, &g);
	region->msg_flags = 0x80;
	raw_send(1, 64, IVB_MSG_LATENCY);
	CHECK(ivb_guest_wait_message(&g, &msg) == 0 && msg.error == IVB_MSG_BAD_FLAGS);

	bind_both(&h, &g);
	atomic_store(&region->host_state, 12345);
	CHECK(ivb_guest_wait_message(&g, &msg) == -EPROTO);
}

static void test_host_send_checks_its_arguments(void)
{
	uint8_t sha[IVB_SHA256_LEN] = { 0 };
	struct ivb_host h;
	struct ivb_guest g;
	uint64_t sent;

	bind_both(&h, &g);
	CHECK(ivb_host_send(&h, 64, IVB_MSG_LATENCY, 0x80, sha, &sent) == -EINVAL);
	CHECK(ivb_host_send(&h, 0, IVB_MSG_LATENCY, 0, sha, &sent) == -EINVAL);
	CHECK(ivb_host_send(&h, 65537, IVB_MSG_LATENCY, 0, sha, &sent) == -EINVAL);
	CHECK(ivb_host_send(&h, 64, (enum ivb_msg_kind)9, 0, sha, &sent) == -EINVAL);
	CHECK(atomic_load(&region->host_state) == IVB_HOST_READY);
	CHECK(ivb_host_send(&h, 65536, IVB_MSG_REFERENCE, IVB_MSG_FLAGS_ALL, sha, &sent) == 0);
	CHECK(region->msg_flags == IVB_MSG_FLAGS_ALL && region->sequence == 1);
}

/* Acknowledge message 1 with the given fields, as a broken or hostile guest could. */
static int ack_with_study(uint64_t ack_seq, uint32_t error, const struct ivb_guest_timing *t,
			  const struct ivb_guest_study *study)
{
	uint8_t sha[IVB_SHA256_LEN] = { 0 };
	struct ivb_ack ack;
	struct ivb_host h;
	struct ivb_guest g;
	uint64_t sent;

	bind_both(&h, &g);
	CHECK(ivb_host_send(&h, 64, IVB_MSG_LATENCY, 0, sha, &sent) == 0);
	region->ack_sequence = ack_seq;
	region->error_code = error;
	region->timing = *t;
	region->study = *study;
	atomic_store(&region->guest_state, IVB_GUEST_ACKNOWLEDGED);
	return ivb_host_wait_ack(&h, &ack);
}

static int ack_with(uint64_t ack_seq, uint32_t error, const struct ivb_guest_timing *t)
{
	struct ivb_guest_study study;

	memset(&study, 0, sizeof(study));
	return ack_with_study(ack_seq, error, t, &study);
}

static void test_host_rejects_bad_acks(void)
{
	struct ivb_guest_timing ok = { .hot_read_ns = 10, .cold_read_ns = 10, .copy_ns = 10, .verify_ns = 10,
				       .flush_ns = 10, .total_ns = 60 };
	struct ivb_guest_timing t;

	CHECK(ack_with(1, IVB_MSG_OK, &ok) == 0);
	CHECK(ack_with(2, IVB_MSG_OK, &ok) == -EPROTO);
	CHECK(ack_with(1, 77, &ok) == -EPROTO);
	t = ok;
	t.copy_ns = 1000; /* the phases add up to more than the total */
	CHECK(ack_with(1, IVB_MSG_OK, &t) == -EPROTO);
	t = ok;
	t.total_ns = UINT64_MAX;
	t.verify_ns = UINT64_MAX - 40; /* an overflowing sum must not pass */
	CHECK(ack_with(1, IVB_MSG_OK, &t) == -EPROTO);
	t = ok;
	t.total_ns = IVB_MAX_DURATION_NS + 1;
	CHECK(ack_with(1, IVB_MSG_OK, &t) == -EPROTO);
	{
		struct ivb_guest_study study;

		memset(&study, 0, sizeof(study));
		study.huge_kind = IVB_HUGE_THP;
		study.nt_ns = 5;
		CHECK(ack_with_study(1, IVB_MSG_OK, &ok, &study) == 0);
		study.huge_kind = 9;
		CHECK(ack_with_study(1, IVB_MSG_OK, &ok, &study) == -EPROTO);
		study.huge_kind = IVB_HUGE_NONE;
		study.fresh_ns = UINT64_MAX;
		CHECK(ack_with_study(1, IVB_MSG_OK, &ok, &study) == -EPROTO);
	}
}

/* A guest's map study as written into the region; the host's verdict on it, and what it kept in *ack. */
static int ack_with_map_study(const struct ivb_map_study slots[IVB_MAP_STUDY_MAX], struct ivb_ack *ack)
{
	const struct ivb_guest_timing ok = { .hot_read_ns = 1, .cold_read_ns = 2, .copy_ns = 3, .verify_ns = 4, .total_ns = 100 };
	uint8_t sha[IVB_SHA256_LEN] = { 0 };
	struct ivb_host h;
	struct ivb_guest g;
	uint64_t sent;

	bind_both(&h, &g);
	CHECK(ivb_host_send(&h, 64, IVB_MSG_LATENCY, IVB_MSG_FLAG_MAP_STUDY, sha, &sent) == 0);
	region->ack_sequence = 1;
	region->error_code = IVB_MSG_OK;
	region->timing = ok;
	memcpy(region->map_study, slots, sizeof(region->map_study));
	atomic_store(&region->guest_state, IVB_GUEST_ACKNOWLEDGED);
	return ivb_host_wait_ack(&h, ack);
}

/* A hostile guest's map study: every field it writes is bounded, every memory type sanitised. */
static void test_host_checks_the_map_study(void)
{
	const struct ivb_map_study good[IVB_MAP_STUDY_MAX] = {
		{ .hot_read_ns = 10, .cold_read_ns = 20, .copy_ns = 30, .write_ns = 40, .map_kind = IVB_MAP_RESOURCE2_WC,
		  .memtype = "write-combining" },
		{ .hot_read_ns = 11, .cold_read_ns = 21, .copy_ns = 31, .write_ns = 41, .map_kind = IVB_MAP_RESOURCE2,
		  .memtype = "uncached-minus" },
		{ .map_kind = IVB_MAP_REGION_WB, .error = ENOENT },
	};
	struct ivb_map_study bad[IVB_MAP_STUDY_MAX];
	struct ivb_ack ack;

	CHECK(ack_with_map_study(good, &ack) == 0);
	CHECK(ack.report.map_study[0].copy_ns == 30 && ack.report.map_study[2].error == ENOENT);
	for (unsigned slot = 0; slot < IVB_MAP_STUDY_MAX; slot++) {
		memcpy(bad, good, sizeof(bad));
		bad[slot].map_kind = IVB_MAP_KIND_MAX + 1; /* a kind we do not know */
		CHECK(ack_with_map_study(bad, &ack) == -EPROTO);
		memcpy(bad, good, sizeof(bad));
		bad[slot].map_kind = IVB_MAP_SHM;
		bad[slot].error = 0;
		bad[slot].hot_read_ns = IVB_MAX_DURATION_NS + 1;
		CHECK(ack_with_map_study(bad, &ack) == -EPROTO);
		bad[slot].hot_read_ns = 0;
		bad[slot].cold_read_ns = UINT64_MAX;
		CHECK(ack_with_map_study(bad, &ack) == -EPROTO);
		bad[slot].cold_read_ns = 0;
		bad[slot].copy_ns = IVB_MAX_DURATION_NS + 1;
		CHECK(ack_with_map_study(bad, &ack) == -EPROTO);
		bad[slot] = (struct ivb_map_study){ .hot_read_ns = 1, .cold_read_ns = 1, .copy_ns = 1,
						    .write_ns = IVB_MAX_DURATION_NS + 1, .map_kind = IVB_MAP_SHM };
		CHECK(ack_with_map_study(bad, &ack) == -EPROTO);
		bad[slot].write_ns = IVB_MAX_DURATION_NS;
		bad[slot].copy_ns = IVB_MAX_DURATION_NS;
		CHECK(ack_with_map_study(bad, &ack) == 0);
		/* A measured mapping with a phase of no time at all: no phase over a page of memory takes 0 ns. */
		for (unsigned phase = 0; phase < 4; phase++) {
			uint64_t *times[] = { &bad[slot].hot_read_ns, &bad[slot].cold_read_ns, &bad[slot].copy_ns,
					      &bad[slot].write_ns };

			bad[slot] = good[0];
			*times[phase] = 0;
			CHECK(ack_with_map_study(bad, &ack) == -EPROTO);
		}
		/* A mapping reported missing: an errno in range, a kind, and no times. */
		memcpy(bad, good, sizeof(bad));
		bad[slot].error = IVB_MAP_STUDY_ERRNO_MAX + 1;
		CHECK(ack_with_map_study(bad, &ack) == -EPROTO);
		bad[slot].error = EACCES;
		bad[slot].map_kind = IVB_MAP_RESOURCE2;
		bad[slot].copy_ns = slot == 2 ? 5 : bad[slot].copy_ns;
		CHECK(ack_with_map_study(bad, &ack) == -EPROTO);
		bad[slot] = (struct ivb_map_study){ .map_kind = IVB_MAP_RESOURCE2, .error = EACCES, .write_ns = 5 };
		CHECK(ack_with_map_study(bad, &ack) == -EPROTO);
		bad[slot] = (struct ivb_map_study){ .map_kind = IVB_MAP_NONE, .error = EACCES };
		CHECK(ack_with_map_study(bad, &ack) == -EPROTO);
	}
	/* Memory types: control characters and bytes beyond ASCII replaced, never trusted to be NUL-terminated. */
	memcpy(bad, good, sizeof(bad));
	memset(bad[1].memtype, 'x', sizeof(bad[1].memtype));
	memcpy(bad[0].memtype, "wb\n,\x1b[31m\xff", 11);
	CHECK(ack_with_map_study(bad, &ack) == 0);
	CHECK(strlen(ack.report.map_study[1].memtype) == IVB_MAP_MEMTYPE_LEN - 1);
	CHECK(strchr(ack.report.map_study[0].memtype, '\n') == NULL && strchr(ack.report.map_study[0].memtype, 0x1b) == NULL);
	CHECK(strchr(ack.report.map_study[0].memtype, (char)0xff) == NULL);
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

/* Everything in the plan is untrusted: counts, frame count and sizes are bounded before the guest binds. */
static void test_guest_checks_the_plan(void)
{
	struct ivb_plan bad[6];
	struct ivb_guest_info info = test_info();
	struct ivb_host h;
	struct ivb_guest g;

	for (size_t i = 0; i < 6; i++)
		bad[i] = (struct ivb_plan){ .latency_count = 1, .bandwidth_per_frame = 1, .latency_frame_bytes = 64,
					    .nframes = 1, .frame_bytes = { 64 } };
	bad[0].latency_count = 10000001;
	bad[1].nframes = IVB_PLAN_MAX_FRAMES + 1;
	bad[2].frame_bytes[0] = REGION_SIZE; /* beyond the buffer after the header */
	bad[3].latency_frame_bytes = REGION_SIZE;
	bad[4].flags = 0x80;
	bad[5].latency_count = 0; /* nothing to send */
	bad[5].bandwidth_per_frame = 0;
	for (size_t i = 0; i < 6; i++) {
		fresh_region();
		CHECK(ivb_host_init(&h, region, REGION_SIZE, 11, SHORT_NS, NULL, &bad[i]) == 0);
		CHECK(ivb_guest_bind(&g, region, REGION_SIZE, SHORT_NS, &info, NULL) == -EPROTO);
		CHECK(strstr(g.why, "plan") != NULL);
	}
	/* Frames no test sends need not fit (host_writer --bw-iterations 0 keeps the default --frames). */
	fresh_region();
	bad[2].bandwidth_per_frame = 0;
	CHECK(ivb_host_init(&h, region, REGION_SIZE, 12, SHORT_NS, NULL, &bad[2]) == 0);
	CHECK(ivb_guest_bind(&g, region, REGION_SIZE, SHORT_NS, &info, NULL) == 0);
}

static void test_guest_checks_identity(void)
{
	struct ivb_guest_info info = test_info();
	struct ivb_host h;
	struct ivb_guest g;

	fresh_region();
	CHECK(ivb_host_init(&h, region, REGION_SIZE, 9, SHORT_NS, NULL, &test_plan) == 0);
	region->version = IVB_PROTOCOL_VERSION + 1;
	CHECK(ivb_guest_bind(&g, region, REGION_SIZE, SHORT_NS, &info, NULL) == -EPROTO);
	CHECK(strstr(g.why, "protocol version") != NULL);

	fresh_region();
	/* The host believes in a larger region than the guest could map. */
	CHECK(ivb_host_init(&h, region, REGION_SIZE, 9, SHORT_NS, NULL, &test_plan) == 0);
	CHECK(ivb_guest_bind(&g, region, REGION_SIZE - 4096, SHORT_NS, &info, NULL) == -EPROTO);
	CHECK(strstr(g.why, "mapped") != NULL);

	fresh_region();
	CHECK(ivb_host_init(&h, region, REGION_SIZE, 9, SHORT_NS, NULL, &test_plan) == 0);
	region->header_size = 64;
	CHECK(ivb_guest_bind(&g, region, REGION_SIZE, SHORT_NS, &info, NULL) == -EPROTO);
}

static void test_guest_info_is_sanitised(void)
{
	struct ivb_guest_info info;
	struct ivb_host h;
	struct ivb_guest g;

	bind_both(&h, &g);
	memset(&region->guest_info, 0x07, sizeof(region->guest_info)); /* no NUL anywhere */
	region->guest_info.map_kind = 1000;
	CHECK(ivb_host_wait_guest(&h, &info) == 0);
	CHECK(info.map_kind == IVB_MAP_NONE);
	CHECK(strlen(info.kernel) == sizeof(info.kernel) - 1 && info.kernel[0] == IVB_TEXT_REPLACEMENT);
	CHECK(strlen(info.device) < sizeof(info.device));
	CHECK(strlen(info.memtype) < sizeof(info.memtype));
	CHECK(h.unsafe_text == (IVB_TEXT_DEVICE | IVB_TEXT_KERNEL | IVB_TEXT_MEMTYPE));

	/* Printable is not enough: separators and quotes would be CSV and JSON structure. */
	bind_both(&h, &g);
	strcpy(region->guest_info.memtype, "a,b\"c\n");
	strcpy(region->guest_info.kernel, "6.1.0-28-amd64");
	strcpy(region->guest_info.device, "0000:00:03.0");
	CHECK(ivb_host_wait_guest(&h, &info) == 0);
	CHECK(strcmp(info.memtype, "a_b_c_") == 0);
	CHECK(strcmp(info.kernel, "6.1.0-28-amd64") == 0 && strcmp(info.device, "0000:00:03.0") == 0);
	CHECK(h.unsafe_text == IVB_TEXT_MEMTYPE);
}

static void test_summary_is_checked(void)
{
	struct ivb_guest_summary sum, got;
	struct ivb_host h;
	struct ivb_guest g;

	/* None published: a clear time-out, not a hang. */
	bind_both(&h, &g);
	ivb_host_finish(&h);
	CHECK(ivb_host_wait_summary(&h, SHORT_NS, &got) == -ETIMEDOUT);
	CHECK(strstr(h.why, "did not report its CPU time") != NULL);
	/* More CPU than wall time (beyond the accounting's granularity): impossible for one thread. */
	sum = (struct ivb_guest_summary){ .cpu_user_ns = 3 * IVB_NS_PER_SEC, .wall_ns = IVB_NS_PER_SEC };
	ivb_guest_publish_summary(&g, &sum);
	CHECK(ivb_host_wait_summary(&h, SHORT_NS, &got) == -EPROTO);
	CHECK(strstr(h.why, "impossible summary") != NULL);
	/* More messages than the host sent (none). */
	sum = (struct ivb_guest_summary){ .wall_ns = IVB_NS_PER_SEC, .messages = 1 };
	ivb_guest_publish_summary(&g, &sum);
	CHECK(ivb_host_wait_summary(&h, SHORT_NS, &got) == -EPROTO);
	/* A summary of another session never counts. */
	sum = (struct ivb_guest_summary){ .cpu_user_ns = 1, .wall_ns = 2 };
	ivb_guest_publish_summary(&g, &sum);
	h.session ^= 2;
	CHECK(ivb_host_wait_summary(&h, SHORT_NS, &got) == -ETIMEDOUT);
	h.session ^= 2;
	CHECK(ivb_host_wait_summary(&h, SHORT_NS, &got) == 0 && got.cpu_user_ns == 1 && got.wall_ns == 2);
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
	RUN_TEST(test_host_checks_the_map_study);
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
	RUN_TEST(test_guest_rejects_bad_messages);
	RUN_TEST(test_host_send_checks_its_arguments);
	RUN_TEST(test_host_rejects_bad_acks);
	RUN_TEST(test_guest_checks_identity);
	RUN_TEST(test_guest_info_is_sanitised);
	RUN_TEST(test_stop_flag_interrupts_waits);
	RUN_TEST(test_summary_is_checked);
	RUN_TEST(test_guest_runs_the_hosts_plan);
	RUN_TEST(test_guest_checks_the_plan);
	RUN_TEST(test_doorbell_exchange);
	RUN_TEST(test_doorbell_lost_rings_are_counted);
	free(region);
	return CHECK_SUMMARY("unit protocol");
}
