/* protocol.c: the host and guest state machines over the shared region. */
#include "protocol.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"

volatile sig_atomic_t ivb_stop_requested;

#define load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)

const char *ivb_host_state_name(uint32_t state)
{
	switch ((enum ivb_host_state)state) {
	case IVB_HOST_UNINITIALIZED: return "UNINITIALIZED";
	case IVB_HOST_INITIALIZING: return "INITIALIZING";
	case IVB_HOST_READY: return "READY";
	case IVB_HOST_SENDING: return "SENDING";
	case IVB_HOST_COMPLETED: return "COMPLETED";
	case IVB_HOST_ABORTED: return "ABORTED";
	}
	return "INVALID";
}

const char *ivb_guest_state_name(uint32_t state)
{
	switch ((enum ivb_guest_state)state) {
	case IVB_GUEST_UNINITIALIZED: return "UNINITIALIZED";
	case IVB_GUEST_WAITING_HOST_INIT: return "WAITING_HOST_INIT";
	case IVB_GUEST_READY: return "READY";
	case IVB_GUEST_PROCESSING: return "PROCESSING";
	case IVB_GUEST_ACKNOWLEDGED: return "ACKNOWLEDGED";
	case IVB_GUEST_ABORTED: return "ABORTED";
	}
	return "INVALID";
}

const char *ivb_msg_error_name(uint32_t error)
{
	switch ((enum ivb_msg_error)error) {
	case IVB_MSG_OK: return "ok";
	case IVB_MSG_SHA256_MISMATCH: return "sha256_mismatch";
	case IVB_MSG_BAD_SIZE: return "bad_size";
	case IVB_MSG_BAD_KIND: return "bad_kind";
	case IVB_MSG_GUEST_FAILURE: return "guest_failure";
	case IVB_MSG_BAD_FLAGS: return "bad_flags";
	}
	return "invalid";
}

const char *ivb_abort_reason_name(uint32_t reason)
{
	switch ((enum ivb_abort_reason)reason) {
	case IVB_ABORT_NONE: return "no reason given";
	case IVB_ABORT_SIGNAL: return "stopped by a signal";
	case IVB_ABORT_TIMEOUT: return "timed out";
	case IVB_ABORT_PROTOCOL: return "protocol error";
	case IVB_ABORT_FAILURE: return "local failure";
	}
	return "invalid reason";
}

void ivb_sanitize_string(char *dst, const char *src, size_t n)
{
	size_t i = 0;

	if (n == 0)
		return;
	for (; i + 1 < n && src[i] != '\0'; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

/*
 * A spin-wait with a deadline. Message waits spin on the state word (that is what polling mode
 * measures); waits for a peer that may not have started yet back off to 1 ms sleeps. In doorbell
 * mode the waiter sleeps on the bell instead, in slices, and reads the state again after each.
 */
struct waiter {
	uint64_t deadline_ns;
	uint64_t backoff_after_ns;
	unsigned spins;
	bool patient;
	bool slept_unrung; /* the last doorbell slice ended without a ring */
	struct ivb_bell *bell; /* doorbell mode: sleep until the peer rings */
};

static void waiter_start(struct waiter *w, uint64_t timeout_ns, bool patient, struct ivb_bell *bell)
{
	uint64_t now = ivb_now_ns();

	w->deadline_ns = now + timeout_ns;
	w->backoff_after_ns = now + 1000000;
	w->spins = 0;
	w->patient = patient;
	w->slept_unrung = false;
	w->bell = bell;
}

/*
 * Slices of a doorbell sleep, so that a signal or the deadline is noticed in time, and a lost ring
 * costs at most one slice.
 */
#define DOORBELL_SLICE_NS (50ull * 1000 * 1000)

/* Returns: 0 to keep waiting, -EINTR, -ETIMEDOUT, or the bell's error (e.g. -ENODEV: its device is gone). */
static int waiter_tick(struct waiter *w)
{
	uint64_t now;

	if (w->bell != NULL) {
		int rung;

		/* The peer rings after each state change: sleep until then, the state is read again after. */
		if (ivb_stop_requested)
			return -EINTR;
		now = ivb_now_ns();
		if (now > w->deadline_ns)
			return -ETIMEDOUT;
		rung = ivb_bell_wait(w->bell, w->deadline_ns - now < DOORBELL_SLICE_NS ? w->deadline_ns - now
										    : DOORBELL_SLICE_NS);
		if (rung < 0 && rung != -EINTR)
			return rung;
		w->slept_unrung = rung == 0;
		return 0;
	}

	ivb_cpu_relax();
	/* Reading the clock costs ~20 ns: do it every 256 spins only. */
	if ((++w->spins & 255) != 0)
		return 0;
	if (ivb_stop_requested)
		return -EINTR;
	now = ivb_now_ns();
	if (now > w->deadline_ns)
		return -ETIMEDOUT;
	if (w->patient && now > w->backoff_after_ns) {
		const struct timespec ms = { 0, 1000000 };

		nanosleep(&ms, NULL);
		w->spins = 0;
	}
	return 0;
}

/*
 * The awaited state came. If the last doorbell slice ended without a ring, the peer's ring was
 * lost or came late: count it, as a sign of an interrupt path that does not work.
 */
static void waiter_done(struct waiter *w)
{
	if (w->bell != NULL && w->slept_unrung)
		w->bell->late_wakeups++;
}

/* What a failed wait says, besides a time-out. */
static const char *wait_error_name(int ret)
{
	return ret == -EINTR ? "interrupted" : "the doorbell failed";
}

/* Doorbell mode: tell the peer a state it may wait for has changed. A lost ring costs a slice. */
static void ring(struct ivb_bell *bell, int peer)
{
	if (bell != NULL && peer >= 0)
		ivb_bell_ring(bell, peer);
}

static double seconds(uint64_t ns)
{
	return (double)ns / 1e9;
}

/* ---- host ---- */

int ivb_host_init(struct ivb_host *h, struct ivb_region *r, size_t map_size, uint64_t session, uint64_t timeout_ns,
		  struct ivb_bell *bell)
{
	uint32_t old_magic = atomic_load(&r->magic);
	uint32_t old_state = atomic_load(&r->host_state);

	memset(h, 0, sizeof(*h));
	if (map_size < IVB_HEADER_SIZE + 4096u || session == 0)
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
	atomic_store(&r->session, session);
	store_release(&r->magic, IVB_MAGIC);
	store_release(&r->host_state, IVB_HOST_READY);
	/* A guest already waiting sleeps on its doorbell: wake it, whoever it is. */
	if (bell != NULL)
		ivb_bell_ring_all(bell);
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

static int host_wait_failed(struct ivb_host *h, int ret, const char *waiting_for)
{
	uint32_t gstate = load_acquire(&h->r->guest_state);
	bool bound = h->r->guest_session == h->session;

	if (ret == -ETIMEDOUT)
		snprintf(h->why, sizeof(h->why), "timed out after %.0f s waiting for %s (guest state %s%s)",
			 seconds(h->timeout_ns), waiting_for, ivb_guest_state_name(gstate),
			 bound ? "" : ", from an earlier session or no guest at all");
	else
		snprintf(h->why, sizeof(h->why), "%s while waiting for %s%s%s", wait_error_name(ret), waiting_for,
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
	static const char what[] = "a guest in state READY bound to this session";
	struct waiter w;
	uint32_t gstate;
	int ret;

	h->why[0] = '\0';
	waiter_start(&w, h->timeout_ns, true, h->bell);
	for (;;) {
		gstate = load_acquire(&h->r->guest_state);
		if (gstate == IVB_GUEST_READY && h->r->guest_session == h->session)
			break;
		ret = host_check_guest(h, gstate, what);
		if (ret < 0)
			return ret;
		ret = waiter_tick(&w);
		if (ret < 0)
			return host_wait_failed(h, ret, what);
	}
	waiter_done(&w);
	ret = host_check_mode(h);
	if (ret < 0)
		return ret;
	/* Untrusted: copy once, then sanitise the copy. */
	memcpy(info, &h->r->guest_info, sizeof(*info));
	if (info->map_kind > IVB_MAP_KIND_MAX)
		info->map_kind = IVB_MAP_NONE;
	ivb_sanitize_string(info->device, info->device, sizeof(info->device));
	ivb_sanitize_string(info->kernel, info->kernel, sizeof(info->kernel));
	ivb_sanitize_string(info->memtype, info->memtype, sizeof(info->memtype));
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
	r->sequence = h->sequence;
	r->data_size = size;
	r->msg_kind = kind;
	r->msg_flags = flags;
	memcpy(r->data_sha256, sha256, IVB_SHA256_LEN);
	*sent_ns = ivb_now_ns();
	/* Release: the guest that sees SENDING sees the buffer and every field above. */
	store_release(&r->host_state, IVB_HOST_SENDING);
	ring(h->bell, h->guest_peer);
	return 0;
}

static bool study_valid(const struct ivb_guest_study *s, const struct ivb_map_study *m)
{
	return s->fresh_ns <= IVB_MAX_DURATION_NS && s->nt_ns <= IVB_MAX_DURATION_NS &&
	       s->huge_ns <= IVB_MAX_DURATION_NS && s->huge_kind <= IVB_HUGE_KIND_MAX &&
	       m->hot_read_ns <= IVB_MAX_DURATION_NS && m->cold_read_ns <= IVB_MAX_DURATION_NS &&
	       m->copy_ns <= IVB_MAX_DURATION_NS && m->map_kind <= IVB_MAP_KIND_MAX;
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

int ivb_host_wait_ack(struct ivb_host *h, struct ivb_ack *ack)
{
	char what[96];
	struct ivb_region *r = h->r;
	struct waiter w;
	uint32_t gstate;
	uint64_t acked_sequence;
	int ret;

	h->why[0] = '\0';
	memset(ack, 0, sizeof(*ack));
	waiter_start(&w, h->timeout_ns, false, h->bell);
	for (;;) {
		gstate = load_acquire(&r->guest_state);
		if (gstate == IVB_GUEST_ACKNOWLEDGED) {
			ack->acked_ns = ivb_now_ns();
			waiter_done(&w);
			break;
		}
		if ((ret = waiter_tick(&w)) < 0 || (ret = host_check_guest(h, gstate, "an acknowledgement")) < 0) {
			snprintf(what, sizeof(what), "guest state ACKNOWLEDGED of message %llu",
				 (unsigned long long)h->sequence);
			return ret == -ECONNRESET ? ret : host_wait_failed(h, ret, what);
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
	memcpy(&ack->report.map_study, &r->map_study, sizeof(ack->report.map_study));
	ivb_sanitize_string(ack->report.map_study.memtype, ack->report.map_study.memtype,
			    sizeof(ack->report.map_study.memtype));
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
					       !study_valid(&ack->report.study, &ack->report.map_study))) {
		snprintf(h->why, sizeof(h->why), "the guest reported impossible timings for message %llu",
			 (unsigned long long)h->sequence);
		return -EPROTO;
	}
	return 0;
}

int ivb_host_next(struct ivb_host *h)
{
	static const char what[] = "guest state READY after an acknowledgement";
	struct waiter w;
	uint32_t gstate;
	int ret;

	h->why[0] = '\0';
	store_release(&h->r->host_state, IVB_HOST_READY);
	ring(h->bell, h->guest_peer);
	waiter_start(&w, h->timeout_ns, false, h->bell);
	for (;;) {
		gstate = load_acquire(&h->r->guest_state);
		if (gstate == IVB_GUEST_READY && h->r->guest_session == h->session) {
			waiter_done(&w);
			return 0;
		}
		ret = host_check_guest(h, gstate, what);
		if (ret < 0)
			return ret;
		ret = waiter_tick(&w);
		if (ret < 0)
			return host_wait_failed(h, ret, what);
	}
}

void ivb_host_finish(struct ivb_host *h)
{
	store_release(&h->r->host_state, IVB_HOST_COMPLETED);
	ring(h->bell, h->guest_peer);
}

/* A guest's CPU time cannot exceed its wall time (one thread) by more than the accounting's granularity. */
#define SUMMARY_CPU_SLACK_NS (1000ull * 1000 * 1000)
#define SUMMARY_MAX_WALL_NS (366ull * 24 * 3600 * 1000000000ull)

int ivb_host_wait_summary(struct ivb_host *h, uint64_t timeout_ns, struct ivb_guest_summary *summary)
{
	const struct ivb_guest_summary *src = &h->r->summary;
	struct waiter w;
	int ret;

	h->why[0] = '\0';
	memset(summary, 0, sizeof(*summary));
	waiter_start(&w, timeout_ns, true, h->bell);
	while (load_acquire(&src->session) != h->session) {
		ret = waiter_tick(&w);
		if (ret == -ETIMEDOUT)
			snprintf(h->why, sizeof(h->why), "the guest did not report its CPU time within %.0f s",
				 seconds(timeout_ns));
		else if (ret < 0)
			snprintf(h->why, sizeof(h->why), "%s while waiting for the guest's CPU time", wait_error_name(ret));
		if (ret < 0)
			return ret;
	}
	waiter_done(&w);
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
	ring(h->bell, h->guest_peer);
}

/* ---- guest ---- */

static void guest_publish(struct ivb_guest *g, uint32_t state)
{
	store_release(&g->r->guest_state, state);
}

/* One consistent read of the host's identity: 1 if a usable READY host was seen, 0 if not yet. */
static int guest_try_bind(struct ivb_guest *g)
{
	struct ivb_region *r = g->r;
	uint32_t version, header_size, host_peer;
	uint64_t session, session_again, capacity;

	if (load_acquire(&r->host_state) != IVB_HOST_READY || load_acquire(&r->magic) != IVB_MAGIC)
		return 0;
	session = load_acquire(&r->session);
	version = r->version;
	header_size = r->header_size;
	capacity = r->buffer_capacity;
	host_peer = r->host_peer;
	atomic_thread_fence(memory_order_acquire);
	session_again = atomic_load_explicit(&r->session, memory_order_relaxed);
	/* A host that re-initialised meanwhile changed the session: read again. */
	if (session == 0 || session != session_again || load_acquire(&r->magic) != IVB_MAGIC)
		return 0;
	if (version != IVB_PROTOCOL_VERSION) {
		snprintf(g->why, sizeof(g->why), "the host speaks protocol version %u, this guest version %u",
			 version, IVB_PROTOCOL_VERSION);
		return -EPROTO;
	}
	if (header_size != IVB_HEADER_SIZE || capacity == 0 || capacity > g->map_size - IVB_HEADER_SIZE) {
		snprintf(g->why, sizeof(g->why),
			 "the host announces a %llu-byte buffer after a %u-byte header, but the guest mapped %zu bytes",
			 (unsigned long long)capacity, header_size, g->map_size);
		return -EPROTO;
	}
	if ((g->bell == NULL) != (host_peer == 0)) {
		snprintf(g->why, sizeof(g->why), "the host %s, this guest %s: give both the same --mode",
			 host_peer == 0 ? "polls" : "uses the doorbell", host_peer == 0 ? "uses the doorbell" : "polls");
		/* Bound just enough for our coming ABORTED to reach this host at once. */
		r->guest_session = session;
		return -EPROTO;
	}
	if (g->bell != NULL && (host_peer > 65536 || !ivb_bell_known(g->bell, (int)host_peer - 1))) {
		snprintf(g->why, sizeof(g->why), "the host says it is ivshmem peer %u, which the server does not know",
			 host_peer - 1);
		return -EPROTO;
	}
	g->host_peer = g->bell != NULL ? (int)host_peer - 1 : -1;
	g->session = session;
	g->capacity = capacity;
	g->last_sequence = 0;
	memcpy(&r->guest_info, &g->info, sizeof(g->info));
	r->guest_abort_reason = IVB_ABORT_NONE;
	r->ack_sequence = 0;
	r->error_code = IVB_MSG_OK;
	memset(&r->timing, 0, sizeof(r->timing));
	memset(&r->study, 0, sizeof(r->study));
	memset(r->counters, 0xff, sizeof(r->counters));
	memset(&r->map_study, 0, sizeof(r->map_study));
	atomic_store(&r->summary.session, 0);
	r->guest_peer = g->bell != NULL ? (uint32_t)g->bell->id + 1 : 0;
	r->guest_session = session;
	guest_publish(g, IVB_GUEST_READY);
	ring(g->bell, g->host_peer);
	return 1;
}

int ivb_guest_bind(struct ivb_guest *g, struct ivb_region *r, size_t map_size, uint64_t timeout_ns,
		   const struct ivb_guest_info *info, struct ivb_bell *bell)
{
	struct waiter w;
	uint64_t stale_session;
	int ret;

	memset(g, 0, sizeof(*g));
	g->r = r;
	g->map_size = map_size;
	g->timeout_ns = timeout_ns;
	g->info = *info;
	g->bell = bell;
	g->host_peer = -1;
	if (map_size < IVB_HEADER_SIZE + 4096u) {
		snprintf(g->why, sizeof(g->why), "the mapping has %zu bytes, less than a header and a page", map_size);
		return -EPROTO;
	}
	r->guest_session = 0;
	/* A host that aborts after we started is reported at once; an ABORTED left by an earlier run is not. */
	stale_session = load_acquire(&r->session);
	r->guest_peer = 0;
	guest_publish(g, IVB_GUEST_WAITING_HOST_INIT);
	/*
	 * In doorbell mode, sleep on the doorbell: a new host rings every peer it knows. A host that
	 * cannot ring us (a polling one) is still seen within a slice.
	 */
	waiter_start(&w, timeout_ns, true, bell);
	for (;;) {
		ret = guest_try_bind(g);
		if (ret != 0)
			return ret < 0 ? ret : 0;
		if (load_acquire(&r->host_state) == IVB_HOST_ABORTED && load_acquire(&r->magic) == IVB_MAGIC &&
		    load_acquire(&r->session) != stale_session) {
			snprintf(g->why, sizeof(g->why), "the host aborted before the run (%s)",
				 ivb_abort_reason_name(r->host_abort_reason));
			return -ECONNRESET;
		}
		ret = waiter_tick(&w);
		if (ret == -ETIMEDOUT) {
			uint32_t hstate = load_acquire(&r->host_state);

			snprintf(g->why, sizeof(g->why),
				 "timed out after %.0f s waiting for host state READY (host state %s, magic %s)",
				 seconds(timeout_ns), ivb_host_state_name(hstate),
				 atomic_load(&r->magic) == IVB_MAGIC ? "valid" : "not set");
			return ret;
		}
		if (ret < 0) {
			snprintf(g->why, sizeof(g->why), "interrupted while waiting for host state READY");
			return ret;
		}
	}
}

/* The host re-initialised or aborted under us. Returns the error to report. */
static int guest_host_gone(struct ivb_guest *g, uint32_t hstate)
{
	if (hstate == IVB_HOST_ABORTED && load_acquire(&g->r->session) == g->session) {
		snprintf(g->why, sizeof(g->why), "the host aborted (%s)", ivb_abort_reason_name(g->r->host_abort_reason));
		return -ECONNRESET;
	}
	snprintf(g->why, sizeof(g->why), "the host restarted (state %s, new session) during the run",
		 ivb_host_state_name(hstate));
	return -ECONNRESET;
}

int ivb_guest_wait_message(struct ivb_guest *g, struct ivb_message *msg)
{
	struct ivb_region *r = g->r;
	struct waiter w;
	uint32_t hstate;
	int ret;

	g->why[0] = '\0';
	/* Before the first message the host may still be generating data: be patient. */
	waiter_start(&w, g->timeout_ns, g->messages == 0, g->bell);
	for (;;) {
		hstate = load_acquire(&r->host_state);
		if (load_acquire(&r->session) != g->session) {
			if (g->messages > 0)
				return guest_host_gone(g, hstate);
			/* A new host took over before any message (we had bound to a stale one): follow it. */
			ret = guest_try_bind(g);
			if (ret < 0)
				return ret;
		} else if (hstate == IVB_HOST_SENDING) {
			msg->seen_ns = ivb_now_ns();
			waiter_done(&w);
			break;
		} else if (hstate == IVB_HOST_COMPLETED) {
			waiter_done(&w);
			return 1;
		} else if (hstate == IVB_HOST_ABORTED) {
			return guest_host_gone(g, hstate);
		} else if (hstate > IVB_HOST_STATE_MAX) {
			snprintf(g->why, sizeof(g->why), "the host state word holds %u, not a state", hstate);
			return -EPROTO;
		}
		ret = waiter_tick(&w);
		if (ret < 0) {
			if (ret == -ETIMEDOUT)
				snprintf(g->why, sizeof(g->why),
					 "timed out after %.0f s waiting for host state SENDING of message %llu (host state %s)",
					 seconds(g->timeout_ns), (unsigned long long)g->last_sequence + 1,
					 ivb_host_state_name(hstate));
			else
				snprintf(g->why, sizeof(g->why), "%s while waiting for host state SENDING%s%s",
					 wait_error_name(ret), ret == -EINTR ? "" : ": ", ret == -EINTR ? "" : strerror(-ret));
			return ret;
		}
	}
	guest_publish(g, IVB_GUEST_PROCESSING);
	/* Untrusted: read each field once, then check the copies. */
	msg->sequence = r->sequence;
	msg->size = r->data_size;
	msg->kind = r->msg_kind;
	msg->flags = r->msg_flags;
	memcpy(msg->sha256, r->data_sha256, IVB_SHA256_LEN);
	msg->error = IVB_MSG_OK;
	if (msg->sequence != g->last_sequence + 1) {
		snprintf(g->why, sizeof(g->why), "the host sent message %llu after %llu",
			 (unsigned long long)msg->sequence, (unsigned long long)g->last_sequence);
		return -EPROTO;
	}
	if (msg->size == 0 || msg->size > g->capacity)
		msg->error = IVB_MSG_BAD_SIZE;
	else if (msg->kind < IVB_MSG_LATENCY || msg->kind > IVB_MSG_KIND_MAX)
		msg->error = IVB_MSG_BAD_KIND;
	else if ((msg->flags & ~IVB_MSG_FLAGS_ALL) != 0)
		msg->error = IVB_MSG_BAD_FLAGS;
	g->last_sequence = msg->sequence;
	g->messages++;
	return 0;
}

void ivb_guest_ack(struct ivb_guest *g, const struct ivb_message *msg, const struct ivb_guest_report *report,
		   uint32_t error)
{
	struct ivb_region *r = g->r;

	memcpy(&r->timing, &report->timing, sizeof(r->timing));
	memcpy(&r->study, &report->study, sizeof(r->study));
	memcpy(r->counters, report->counters, sizeof(r->counters));
	memcpy(&r->map_study, &report->map_study, sizeof(r->map_study));
	r->error_code = error;
	r->ack_sequence = msg->sequence;
	guest_publish(g, IVB_GUEST_ACKNOWLEDGED);
	ring(g->bell, g->host_peer);
}

int ivb_guest_wait_host_ready(struct ivb_guest *g)
{
	struct waiter w;
	uint32_t hstate;
	int ret;

	g->why[0] = '\0';
	waiter_start(&w, g->timeout_ns, false, g->bell);
	for (;;) {
		hstate = load_acquire(&g->r->host_state);
		if (load_acquire(&g->r->session) != g->session)
			return guest_host_gone(g, hstate);
		if (hstate == IVB_HOST_READY || hstate == IVB_HOST_COMPLETED) {
			waiter_done(&w);
			break;
		}
		if (hstate == IVB_HOST_ABORTED)
			return guest_host_gone(g, hstate);
		ret = waiter_tick(&w);
		if (ret < 0) {
			snprintf(g->why, sizeof(g->why), "%s waiting for host state READY after message %llu (host state %s)",
				 ret == -ETIMEDOUT ? "timed out" : wait_error_name(ret), (unsigned long long)g->last_sequence,
				 ivb_host_state_name(hstate));
			return ret;
		}
	}
	guest_publish(g, IVB_GUEST_READY);
	ring(g->bell, g->host_peer);
	return 0;
}

void ivb_guest_publish_summary(struct ivb_guest *g, const struct ivb_guest_summary *summary)
{
	struct ivb_guest_summary *dst = &g->r->summary;

	dst->cpu_user_ns = summary->cpu_user_ns;
	dst->cpu_sys_ns = summary->cpu_sys_ns;
	dst->wall_ns = summary->wall_ns;
	dst->messages = summary->messages;
	dst->rings_sent = g->bell != NULL ? g->bell->rings_sent + 1 : 0; /* with the ring below */
	dst->rings_received = g->bell != NULL ? g->bell->rings_received : 0;
	dst->late_wakeups = g->bell != NULL ? g->bell->late_wakeups : 0;
	store_release(&dst->session, g->session);
	ring(g->bell, g->host_peer);
}

void ivb_guest_abort(struct ivb_guest *g, enum ivb_abort_reason reason)
{
	g->r->guest_abort_reason = reason;
	guest_publish(g, IVB_GUEST_ABORTED);
	ring(g->bell, g->host_peer);
}
