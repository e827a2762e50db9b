/* Unit tests: what a broken or hostile peer writes into the region, against protocol.c's checks: messages, acks,
 * map studies, plans, identities, guest texts and summaries out of bounds, each refused in one line. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "peer_check.h"
#include "protocol_fixture.h"

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

int main(void)
{
	region = aligned_alloc(4096, REGION_SIZE);
	if (region == NULL)
		return 1;
	RUN_TEST(test_host_checks_the_map_study);
	RUN_TEST(test_guest_rejects_bad_messages);
	RUN_TEST(test_host_send_checks_its_arguments);
	RUN_TEST(test_host_rejects_bad_acks);
	RUN_TEST(test_guest_checks_identity);
	RUN_TEST(test_guest_info_is_sanitised);
	RUN_TEST(test_summary_is_checked);
	RUN_TEST(test_guest_checks_the_plan);
	free(region);
	return CHECK_SUMMARY("unit protocol hostile");
}
