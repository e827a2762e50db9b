/* wait.c: waits with a deadline and a stop flag, polling or on the doorbell, for both state machines and the
 * stream's start. */
#include "wait.h"

#include <errno.h>
#include <stdbool.h>
#include <time.h>

#include "clock.h"

volatile sig_atomic_t ivb_stop_requested;

void ivb_waiter_start(struct ivb_waiter *w, uint64_t timeout_ns, bool patient, struct ivb_bell *bell)
{
	uint64_t now = ivb_now_ns();

	w->deadline_ns = now + timeout_ns;
	w->backoff_after_ns = now + 1000000;
	w->spins = 0;
	w->patient = patient;
	w->slept_unrung = false;
	w->bell = bell;
	w->contact = NULL;
	w->started_ns = now;
	w->next_notice_ns = UINT64_MAX;
}

void ivb_waiter_notify(struct ivb_waiter *w, const struct ivb_first_contact *contact)
{
	if (contact == NULL || contact->notice == NULL || contact->notice_ns == 0)
		return;
	w->contact = contact;
	w->next_notice_ns = w->started_ns + contact->notice_ns;
}

/* The first contact's notice, when one is due. */
static void waiter_notice(struct ivb_waiter *w, uint64_t now)
{
	if (now < w->next_notice_ns)
		return;
	w->next_notice_ns += w->contact->notice_ns;
	w->contact->notice(w->contact->ctx, (now - w->started_ns) / IVB_NS_PER_SEC,
			   w->contact->timeout_ns / IVB_NS_PER_SEC);
}

/* Returns: 0 to keep waiting, -EINTR, -ETIMEDOUT, or the bell's error (e.g. -ENODEV: its device is gone). */
int ivb_waiter_tick(struct ivb_waiter *w)
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
		waiter_notice(w, now);
		rung = ivb_bell_wait(w->bell, w->deadline_ns - now < IVB_BELL_SLICE_NS ? w->deadline_ns - now
										    : IVB_BELL_SLICE_NS);
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
	waiter_notice(w, now);
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
void ivb_waiter_done(struct ivb_waiter *w)
{
	if (w->bell != NULL && w->slept_unrung)
		w->bell->late_wakeups++;
}

/* What a failed wait says, besides a time-out. */
const char *ivb_wait_error_name(int ret)
{
	return ret == -EINTR ? "interrupted" : "the doorbell failed";
}

/* Doorbell mode: tell the peer a state it may wait for has changed. A lost ring costs a slice. */
void ivb_ring(struct ivb_bell *bell, int peer)
{
	if (bell != NULL && peer >= 0)
		ivb_bell_ring(bell, peer);
}

double ivb_seconds(uint64_t ns)
{
	return (double)ns / 1e9;
}
