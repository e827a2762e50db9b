/* protocol_host.c: the host state machine, and its checks of what the guest reports. */
#include "protocol.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "peer_check.h"
#include "wait.h"

/*
 * Take over the region for a new session: INITIALIZING, host lines cleared, geometry, plan, session
 * and magic published. The caller then publishes the state the guest may act on (READY or ABORTED).
 */
static int host_take_over(struct ivb_host *h, struct ivb_region *r, size_t map_size, uint64_t session,
			  uint64_t timeout_ns, struct ivb_bell *bell, const struct ivb_plan *plan)
{
	uint32_t old_magic = atomic_load(&r->magic);
	uint32_t old_state = atomic_load(&r->host_state);

	memset(h, 0, sizeof(*h));
	if (map_size < IVB_REGION_MIN_SIZE || session == 0)
		return -EINVAL;
	h->r = r;
	h->capacity = map_size - IVB_HEADER_SIZE;
	h->session = session;
	h->timeout_ns = timeout_ns;
	h->bell = bell;
	h->guest_peer = -1;
	if (old_magic == IVB_MAGIC && old_state != IVB_HOST_UNINITIALIZED && old_state != IVB_HOST_COMPLETED)
		snprintf(h->why, sizeof(h->why), "cleared a stale region left by an earlier run (host state %s)",
			 ivb_host_state_name(old_state));
	else if (old_magic != IVB_MAGIC && old_magic != 0)
		snprintf(h->why, sizeof(h->why), "cleared a region holding foreign data (magic 0x%08x)", old_magic);

	/* INITIALIZING first: a guest reading the identity line now must not trust it. */
	atomic_store(&r->host_state, IVB_HOST_INITIALIZING);
	atomic_store(&r->magic, 0);
	r->version = IVB_PROTOCOL_VERSION;
	r->header_size = IVB_HEADER_SIZE;
	r->host_peer = bell != NULL ? (uint32_t)bell->id + 1 : 0;
	r->buffer_capacity = h->capacity;
	memset(r->pad0, 0, sizeof(r->pad0));
	r->host_abort_reason = IVB_ABORT_NONE;
	r->sequence = 0;
	r->data_size = 0;
	r->msg_kind = 0;
	r->msg_flags = 0;
	memset(r->pad1, 0, sizeof(r->pad1));
	memset(r->data_sha256, 0, sizeof(r->data_sha256));
	memset(r->pad2, 0, sizeof(r->pad2));
	memset(&r->plan, 0, sizeof(r->plan));
	memset(&r->stream, 0, sizeof(r->stream));
	if (plan != NULL)
		r->plan = *plan;
	atomic_store(&r->session, session);
	store_release(&r->magic, IVB_MAGIC);
	return 0;
}

int ivb_host_init(struct ivb_host *h, struct ivb_region *r, size_t map_size, uint64_t session, uint64_t timeout_ns,
		  struct ivb_bell *bell, const struct ivb_plan *plan)
{
	int ret = host_take_over(h, r, map_size, session, timeout_ns, bell, plan);

	if (ret < 0)
		return ret;
	store_release(&r->host_state, IVB_HOST_READY);
	/* A guest already waiting sleeps on its doorbell: wake it, whoever it is. */
	if (bell != NULL)
		ivb_bell_ring_all(bell);
	return 0;
}

int ivb_host_refuse(struct ivb_region *r, size_t map_size, uint64_t session, enum ivb_abort_reason reason)
{
	struct ivb_host h;
	int ret = host_take_over(&h, r, map_size, session, 0, NULL, NULL);

	if (ret < 0)
		return ret;
	/* Straight from INITIALIZING: a waiting guest never sees READY with an empty plan. */
	r->host_abort_reason = reason;
	store_release(&r->host_state, IVB_HOST_ABORTED);
	return 0;
}

/* Common checks of every host wait: the guest aborted or went to another session. */
static int host_check_guest(struct ivb_host *h, uint32_t gstate, const char *waiting_for)
{
	uint64_t gsession = h->r->guest_session;

	if (gstate == IVB_GUEST_ABORTED && gsession == h->session) {
		uint32_t reason = h->r->guest_abort_reason;

		snprintf(h->why, sizeof(h->why), "the guest aborted (%s) while the host waited for %s",
			 ivb_abort_reason_name(reason), waiting_for);
		return -ECONNRESET;
	}
	return 0;
}

static int host_wait_failed(struct ivb_host *h, int ret, uint64_t limit_ns, const char *waiting_for)
{
	uint32_t gstate = load_acquire(&h->r->guest_state);
	bool bound = h->r->guest_session == h->session;

	if (ret == -ETIMEDOUT)
		snprintf(h->why, sizeof(h->why), "timed out after %.0f s waiting for %s (guest state %s%s)",
			 ivb_seconds(limit_ns), waiting_for, ivb_guest_state_name(gstate),
			 bound ? "" : ", from an earlier session or no guest at all");
	else
		snprintf(h->why, sizeof(h->why), "%s while waiting for %s%s%s", ivb_wait_error_name(ret), waiting_for,
			 ret == -EINTR ? "" : ": ", ret == -EINTR ? "" : strerror(-ret));
	return ret;
}

/* Both sides poll, or both use the doorbell, with a guest the server knows. */
static int host_check_mode(struct ivb_host *h)
{
	uint32_t guest_peer = h->r->guest_peer;

	if (h->bell == NULL && guest_peer != 0) {
		snprintf(h->why, sizeof(h->why), "the guest uses the doorbell, this host polls: give both the same --mode");
		return -EPROTO;
	}
	if (h->bell == NULL)
		return 0;
	if (guest_peer == 0) {
		snprintf(h->why, sizeof(h->why), "the guest polls, this host uses the doorbell: give both the same --mode");
		return -EPROTO;
	}
	if (guest_peer > 65536 || !ivb_bell_known(h->bell, (int)guest_peer - 1)) {
		snprintf(h->why, sizeof(h->why), "the guest says it is ivshmem peer %u, which the server does not know",
			 guest_peer - 1);
		return -EPROTO;
	}
	h->guest_peer = (int)guest_peer - 1;
	return 0;
}

int ivb_host_wait_guest(struct ivb_host *h, struct ivb_guest_info *info)
{
	const struct ivb_first_contact contact = { .timeout_ns = h->timeout_ns };

	return ivb_host_wait_guest_contact(h, &contact, info);
}

int ivb_host_wait_guest_contact(struct ivb_host *h, const struct ivb_first_contact *contact,
				struct ivb_guest_info *info)
{
	static const char what[] = "a guest in state READY bound to this session";
	struct ivb_waiter w;
	uint32_t gstate;
	int ret;

	h->why[0] = '\0';
	ivb_waiter_start(&w, contact->timeout_ns, true, h->bell);
	ivb_waiter_notify(&w, contact);
	for (;;) {
		gstate = load_acquire(&h->r->guest_state);
		if (gstate == IVB_GUEST_READY && h->r->guest_session == h->session)
			break;
		ret = host_check_guest(h, gstate, what);
		if (ret < 0)
			return ret;
		ret = ivb_waiter_tick(&w);
		if (ret < 0)
			return host_wait_failed(h, ret, contact->timeout_ns, what);
	}
	ivb_waiter_done(&w);
	ret = host_check_mode(h);
	if (ret < 0)
		return ret;
	/* Untrusted: copy once, then sanitise the copy. */
	memcpy(info, &h->r->guest_info, sizeof(*info));
	if (info->map_kind > IVB_MAP_KIND_MAX)
		info->map_kind = IVB_MAP_NONE;
	if (ivb_text_sanitize(info->device, info->device, sizeof(info->device)) > 0)
		h->unsafe_text |= IVB_TEXT_DEVICE;
	if (ivb_text_sanitize(info->kernel, info->kernel, sizeof(info->kernel)) > 0)
		h->unsafe_text |= IVB_TEXT_KERNEL;
	if (ivb_text_sanitize(info->memtype, info->memtype, sizeof(info->memtype)) > 0)
		h->unsafe_text |= IVB_TEXT_MEMTYPE;
	return 0;
}

int ivb_host_send(struct ivb_host *h, uint64_t size, enum ivb_msg_kind kind, uint32_t flags,
		  const uint8_t sha256[IVB_SHA256_LEN], uint64_t *sent_ns)
{
	struct ivb_region *r = h->r;

	if (size == 0 || size > h->capacity || kind < IVB_MSG_LATENCY || kind > IVB_MSG_KIND_MAX ||
	    (flags & ~IVB_MSG_FLAGS_ALL) != 0)
		return -EINVAL;
	h->sequence++;
	h->size = size;
	r->sequence = h->sequence;
	r->data_size = size;
	r->msg_kind = kind;
	r->msg_flags = flags;
	memcpy(r->data_sha256, sha256, IVB_SHA256_LEN);
	*sent_ns = h->sent_ns = ivb_now_ns();
	/* Release: the guest that sees SENDING sees the buffer and every field above. */
	store_release(&r->host_state, IVB_HOST_SENDING);
	ivb_ring(h->bell, h->guest_peer);
	return 0;
}

/*
 * One slot of the map study: a known mapping kind; a measured mapping has every time above 0 (no phase over
 * a page of memory takes no time) and within bounds; a mapping the guest could not make (error set) carries
 * an errno in range and no times; an unused slot carries nothing.
 */
static bool map_slot_valid(const struct ivb_map_study *m)
{
	const uint64_t times[] = { m->hot_read_ns, m->cold_read_ns, m->copy_ns, m->write_ns };
	bool all_zero = true, any_zero = false;

	if (m->map_kind > IVB_MAP_KIND_MAX || m->error > IVB_MAP_STUDY_ERRNO_MAX)
		return false;
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		if (times[i] > IVB_MAX_DURATION_NS)
			return false;
		all_zero = all_zero && times[i] == 0;
		any_zero = any_zero || times[i] == 0;
	}
	if (m->error != 0)
		return m->map_kind != IVB_MAP_NONE && all_zero;
	if (m->map_kind == IVB_MAP_NONE)
		return all_zero;
	return !any_zero;
}

static bool study_valid(const struct ivb_guest_study *s, const struct ivb_map_study m[IVB_MAP_STUDY_MAX])
{
	if (s->fresh_ns > IVB_MAX_DURATION_NS || s->nt_ns > IVB_MAX_DURATION_NS || s->huge_ns > IVB_MAX_DURATION_NS ||
	    s->huge_kind > IVB_HUGE_KIND_MAX)
		return false;
	for (unsigned i = 0; i < IVB_MAP_STUDY_MAX; i++) {
		if (!map_slot_valid(&m[i]))
			return false;
	}
	return true;
}

static bool timing_valid(const struct ivb_guest_timing *t)
{
	uint64_t sum = 0;
	const uint64_t parts[] = { t->hot_read_ns, t->cold_read_ns, t->copy_ns, t->verify_ns, t->flush_ns };

	if (t->total_ns > IVB_MAX_DURATION_NS)
		return false;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		if (parts[i] > IVB_MAX_DURATION_NS)
			return false;
		sum += parts[i];
	}
	return sum <= t->total_ns;
}

/* A valid OK report: counters within what the phases could count, durations within the round trip. */
static void host_bound_report(struct ivb_host *h, struct ivb_ack *ack)
{
	char note[IVB_WHY_LEN] = "";

	ack->counters_rejected = ivb_counters_bound(&ack->report, h->size, note, sizeof(note));
	h->counters_rejected += ack->counters_rejected;
	if (ack->counters_rejected > 0 && h->counters_note[0] == '\0')
		snprintf(h->counters_note, sizeof(h->counters_note), "message %llu: %.200s",
			 (unsigned long long)h->sequence, note);
	ack->timing_fits = ivb_timing_fits(&ack->report, ack->acked_ns - h->sent_ns);
}

int ivb_host_wait_ack(struct ivb_host *h, struct ivb_ack *ack)
{
	char what[96];
	struct ivb_region *r = h->r;
	struct ivb_waiter w;
	uint32_t gstate;
	uint64_t acked_sequence;
	int ret;

	h->why[0] = '\0';
	memset(ack, 0, sizeof(*ack));
	ivb_waiter_start(&w, h->timeout_ns, false, h->bell);
	for (;;) {
		gstate = load_acquire(&r->guest_state);
		if (gstate == IVB_GUEST_ACKNOWLEDGED) {
			ack->acked_ns = ivb_now_ns();
			ivb_waiter_done(&w);
			break;
		}
		if ((ret = ivb_waiter_tick(&w)) < 0 || (ret = host_check_guest(h, gstate, "an acknowledgement")) < 0) {
			snprintf(what, sizeof(what), "guest state ACKNOWLEDGED of message %llu",
				 (unsigned long long)h->sequence);
			return ret == -ECONNRESET ? ret : host_wait_failed(h, ret, h->timeout_ns, what);
		}
	}
	if (r->guest_session != h->session) {
		snprintf(h->why, sizeof(h->why), "a guest of another session acknowledged message %llu",
			 (unsigned long long)h->sequence);
		return -ECONNRESET;
	}
	acked_sequence = r->ack_sequence;
	ack->error_code = r->error_code;
	memcpy(&ack->report.timing, &r->timing, sizeof(ack->report.timing));
	memcpy(&ack->report.study, &r->study, sizeof(ack->report.study));
	memcpy(ack->report.counters, r->counters, sizeof(ack->report.counters));
	memcpy(ack->report.map_study, r->map_study, sizeof(ack->report.map_study));
	for (unsigned i = 0; i < IVB_MAP_STUDY_MAX; i++)
		if (ivb_text_sanitize(ack->report.map_study[i].memtype, ack->report.map_study[i].memtype,
				      sizeof(ack->report.map_study[i].memtype)) > 0)
			h->unsafe_text |= IVB_TEXT_MAP_MEMTYPE;
	if (acked_sequence != h->sequence) {
		snprintf(h->why, sizeof(h->why), "the guest acknowledged message %llu, expected %llu",
			 (unsigned long long)acked_sequence, (unsigned long long)h->sequence);
		return -EPROTO;
	}
	if (ack->error_code > IVB_MSG_ERROR_MAX) {
		snprintf(h->why, sizeof(h->why), "the guest reported unknown error code %u for message %llu",
			 ack->error_code, (unsigned long long)h->sequence);
		return -EPROTO;
	}
	if (ack->error_code == IVB_MSG_OK && (!timing_valid(&ack->report.timing) ||
					       !study_valid(&ack->report.study, ack->report.map_study))) {
		snprintf(h->why, sizeof(h->why), "the guest reported impossible timings for message %llu",
			 (unsigned long long)h->sequence);
		return -EPROTO;
	}
	if (ack->error_code == IVB_MSG_OK)
		host_bound_report(h, ack);
	return 0;
}

int ivb_host_next(struct ivb_host *h)
{
	static const char what[] = "guest state READY after an acknowledgement";
	struct ivb_waiter w;
	uint32_t gstate;
	int ret;

	h->why[0] = '\0';
	store_release(&h->r->host_state, IVB_HOST_READY);
	ivb_ring(h->bell, h->guest_peer);
	ivb_waiter_start(&w, h->timeout_ns, false, h->bell);
	for (;;) {
		gstate = load_acquire(&h->r->guest_state);
		if (gstate == IVB_GUEST_READY && h->r->guest_session == h->session) {
			ivb_waiter_done(&w);
			return 0;
		}
		ret = host_check_guest(h, gstate, what);
		if (ret < 0)
			return ret;
		ret = ivb_waiter_tick(&w);
		if (ret < 0)
			return host_wait_failed(h, ret, h->timeout_ns, what);
	}
}

void ivb_host_finish(struct ivb_host *h)
{
	store_release(&h->r->host_state, IVB_HOST_COMPLETED);
	ivb_ring(h->bell, h->guest_peer);
}

/* A guest's CPU time cannot exceed its wall time (one thread) by more than the accounting's granularity. */
#define SUMMARY_CPU_SLACK_NS (1000ull * 1000 * 1000)
#define SUMMARY_MAX_WALL_NS (366ull * 24 * 3600 * 1000000000ull)

int ivb_host_wait_summary(struct ivb_host *h, uint64_t timeout_ns, struct ivb_guest_summary *summary)
{
	const struct ivb_guest_summary *src = &h->r->summary;
	struct ivb_waiter w;
	int ret;

	h->why[0] = '\0';
	memset(summary, 0, sizeof(*summary));
	ivb_waiter_start(&w, timeout_ns, true, h->bell);
	while (load_acquire(&src->session) != h->session) {
		ret = ivb_waiter_tick(&w);
		if (ret == -ETIMEDOUT)
			snprintf(h->why, sizeof(h->why), "the guest did not report its CPU time within %.0f s",
				 ivb_seconds(timeout_ns));
		else if (ret < 0)
			snprintf(h->why, sizeof(h->why), "%s while waiting for the guest's CPU time", ivb_wait_error_name(ret));
		if (ret < 0)
			return ret;
	}
	ivb_waiter_done(&w);
	/* Untrusted: copy once, then check the copies. */
	summary->session = h->session;
	summary->cpu_user_ns = src->cpu_user_ns;
	summary->cpu_sys_ns = src->cpu_sys_ns;
	summary->wall_ns = src->wall_ns;
	summary->messages = src->messages;
	summary->rings_sent = src->rings_sent;
	summary->rings_received = src->rings_received;
	summary->late_wakeups = src->late_wakeups;
	if (summary->wall_ns > SUMMARY_MAX_WALL_NS || summary->cpu_user_ns > summary->wall_ns + SUMMARY_CPU_SLACK_NS ||
	    summary->cpu_sys_ns > summary->wall_ns + SUMMARY_CPU_SLACK_NS ||
	    summary->cpu_user_ns + summary->cpu_sys_ns > summary->wall_ns + SUMMARY_CPU_SLACK_NS ||
	    summary->messages > h->sequence || summary->rings_sent > (1ull << 48) ||
	    summary->rings_received > (1ull << 48) || summary->late_wakeups > (1ull << 48)) {
		snprintf(h->why, sizeof(h->why),
			 "the guest reported an impossible summary (cpu %llu+%llu ns in %llu ns, %llu messages of %llu)",
			 (unsigned long long)summary->cpu_user_ns, (unsigned long long)summary->cpu_sys_ns,
			 (unsigned long long)summary->wall_ns, (unsigned long long)summary->messages,
			 (unsigned long long)h->sequence);
		return -EPROTO;
	}
	return 0;
}

void ivb_host_abort(struct ivb_host *h, enum ivb_abort_reason reason)
{
	h->r->host_abort_reason = reason;
	store_release(&h->r->host_state, IVB_HOST_ABORTED);
	ivb_ring(h->bell, h->guest_peer);
}
