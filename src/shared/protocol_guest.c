/* protocol_guest.c: the guest state machine, and its checks of what the host publishes. */
#include "protocol.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "wait.h"

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
	struct ivb_plan plan;

	if (load_acquire(&r->host_state) != IVB_HOST_READY || load_acquire(&r->magic) != IVB_MAGIC)
		return 0;
	session = load_acquire(&r->session);
	version = r->version;
	header_size = r->header_size;
	capacity = r->buffer_capacity;
	host_peer = r->host_peer;
	memcpy(&plan, &r->plan, sizeof(plan)); /* untrusted: one copy, checked below */
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
	if (ivb_plan_check(&plan, capacity, g->why, sizeof(g->why)) < 0)
		return -EPROTO;
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
	g->plan = plan;
	g->planned = ivb_plan_messages(&plan);
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
	atomic_store(&r->guest_stream.laid_sequence, 0);
	r->guest_peer = g->bell != NULL ? (uint32_t)g->bell->id + 1 : 0;
	r->guest_session = session;
	guest_publish(g, IVB_GUEST_READY);
	ivb_ring(g->bell, g->host_peer);
	return 1;
}

int ivb_guest_bind(struct ivb_guest *g, struct ivb_region *r, size_t map_size, uint64_t timeout_ns,
		   const struct ivb_guest_info *info, struct ivb_bell *bell)
{
	const struct ivb_first_contact contact = { .timeout_ns = timeout_ns };

	return ivb_guest_bind_contact(g, r, map_size, &contact, timeout_ns, info, bell);
}

int ivb_guest_bind_contact(struct ivb_guest *g, struct ivb_region *r, size_t map_size,
			   const struct ivb_first_contact *contact, uint64_t timeout_ns,
			   const struct ivb_guest_info *info, struct ivb_bell *bell)
{
	struct ivb_waiter w;
	uint64_t stale_session;
	int ret;

	memset(g, 0, sizeof(*g));
	g->r = r;
	g->map_size = map_size;
	g->timeout_ns = timeout_ns;
	g->info = *info;
	g->bell = bell;
	g->host_peer = -1;
	if (map_size < IVB_REGION_MIN_SIZE) {
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
	ivb_waiter_start(&w, contact->timeout_ns, true, bell);
	ivb_waiter_notify(&w, contact);
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
		ret = ivb_waiter_tick(&w);
		if (ret == -ETIMEDOUT) {
			uint32_t hstate = load_acquire(&r->host_state);

			snprintf(g->why, sizeof(g->why),
				 "timed out after %.0f s waiting for host state READY (host state %s, magic %s)",
				 ivb_seconds(contact->timeout_ns), ivb_host_state_name(hstate),
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
	struct ivb_waiter w;
	uint32_t hstate;
	int ret;

	g->why[0] = '\0';
	/* Before the first message the host may still be generating data: be patient. */
	ivb_waiter_start(&w, g->timeout_ns, g->messages == 0, g->bell);
	for (;;) {
		hstate = load_acquire(&r->host_state);
		if (load_acquire(&r->session) != g->session) {
			if (g->messages > 0)
				return guest_host_gone(g, hstate);
			/*
			 * A new host took over before any message (we had bound to a stale one): follow it, or
			 * stop if it refused the run (ivb_host_refuse) instead of waiting for its READY.
			 */
			if (hstate == IVB_HOST_ABORTED && load_acquire(&r->magic) == IVB_MAGIC) {
				snprintf(g->why, sizeof(g->why), "the host aborted before the run (%s)",
					 ivb_abort_reason_name(r->host_abort_reason));
				return -ECONNRESET;
			}
			ret = guest_try_bind(g);
			if (ret < 0)
				return ret;
		} else if (hstate == IVB_HOST_SENDING) {
			msg->seen_ns = ivb_now_ns();
			ivb_waiter_done(&w);
			break;
		} else if (hstate == IVB_HOST_COMPLETED) {
			ivb_waiter_done(&w);
			return 1;
		} else if (hstate == IVB_HOST_ABORTED) {
			return guest_host_gone(g, hstate);
		} else if (hstate > IVB_HOST_STATE_MAX) {
			snprintf(g->why, sizeof(g->why), "the host state word holds %u, not a state", hstate);
			return -EPROTO;
		}
		ret = ivb_waiter_tick(&w);
		if (ret < 0) {
			if (ret == -ETIMEDOUT)
				snprintf(g->why, sizeof(g->why),
					 "timed out after %.0f s waiting for host state SENDING of message %llu (host state %s)",
					 ivb_seconds(g->timeout_ns), (unsigned long long)g->last_sequence + 1,
					 ivb_host_state_name(hstate));
			else
				snprintf(g->why, sizeof(g->why), "%s while waiting for host state SENDING%s%s",
					 ivb_wait_error_name(ret), ret == -EINTR ? "" : ": ", ret == -EINTR ? "" : strerror(-ret));
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
	if (g->messages >= g->planned) {
		snprintf(g->why, sizeof(g->why), "the host sent message %llu, beyond the %llu of its plan",
			 (unsigned long long)msg->sequence, (unsigned long long)g->planned);
		return -EPROTO;
	}
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
	ivb_ring(g->bell, g->host_peer);
}

int ivb_guest_wait_host_ready(struct ivb_guest *g)
{
	struct ivb_waiter w;
	uint32_t hstate;
	int ret;

	g->why[0] = '\0';
	ivb_waiter_start(&w, g->timeout_ns, false, g->bell);
	for (;;) {
		hstate = load_acquire(&g->r->host_state);
		if (load_acquire(&g->r->session) != g->session)
			return guest_host_gone(g, hstate);
		if (hstate == IVB_HOST_READY || hstate == IVB_HOST_COMPLETED) {
			ivb_waiter_done(&w);
			break;
		}
		if (hstate == IVB_HOST_ABORTED)
			return guest_host_gone(g, hstate);
		ret = ivb_waiter_tick(&w);
		if (ret < 0) {
			snprintf(g->why, sizeof(g->why), "%s waiting for host state READY after message %llu (host state %s)",
				 ret == -ETIMEDOUT ? "timed out" : ivb_wait_error_name(ret), (unsigned long long)g->last_sequence,
				 ivb_host_state_name(hstate));
			return ret;
		}
	}
	guest_publish(g, IVB_GUEST_READY);
	ivb_ring(g->bell, g->host_peer);
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
	ivb_ring(g->bell, g->host_peer);
}

void ivb_guest_abort(struct ivb_guest *g, enum ivb_abort_reason reason)
{
	g->r->guest_abort_reason = reason;
	guest_publish(g, IVB_GUEST_ABORTED);
	ivb_ring(g->bell, g->host_peer);
}
