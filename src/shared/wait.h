/* wait.h: waits with a deadline and a stop flag, and rings, shared by the protocol and the stream's start. */
#ifndef IVB_WAIT_H
#define IVB_WAIT_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bell.h"

#define load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)

/*
 * The first contact with the peer, which may wait for a person to start it: its own time limit,
 * and a notice (from the caller, which may print it) every notice_ns while it lasts.
 */
struct ivb_first_contact {
	uint64_t timeout_ns;
	uint64_t notice_ns;
	void (*notice)(void *ctx, uint64_t waited_s, uint64_t limit_s); /* NULL: none */
	void *ctx;
};

/* Set from a signal handler to make every wait return -EINTR. */
extern volatile sig_atomic_t ivb_stop_requested;

/*
 * A spin-wait with a deadline. Message waits spin on the state word (that is what polling mode
 * measures); waits for a peer that may not have started yet back off to 1 ms sleeps. In doorbell
 * mode the waiter sleeps on the bell instead, in slices, and reads the state again after each.
 */
struct ivb_waiter {
	uint64_t deadline_ns;
	uint64_t backoff_after_ns;
	unsigned spins;
	bool patient;
	bool slept_unrung; /* the last doorbell slice ended without a ring */
	struct ivb_bell *bell; /* doorbell mode: sleep until the peer rings */
	const struct ivb_first_contact *contact; /* NULL, or a notice to give every notice_ns while waiting */
	uint64_t started_ns, next_notice_ns;
};

/* Start a wait of at most timeout_ns; patient: back off to 1 ms sleeps after 1 ms (a peer that may not run yet). */
void ivb_waiter_start(struct ivb_waiter *w, uint64_t timeout_ns, bool patient, struct ivb_bell *bell);

/* Give contact's notices while this wait lasts (the first contact); NULL or no notice: none. */
void ivb_waiter_notify(struct ivb_waiter *w, const struct ivb_first_contact *contact);

/* One more round of waiting. Returns: 0 to keep waiting, -EINTR, -ETIMEDOUT, or the bell's error. */
int ivb_waiter_tick(struct ivb_waiter *w);

/* The awaited state came: count a doorbell slice that ended without a ring as a late wake-up. */
void ivb_waiter_done(struct ivb_waiter *w);

/* What a failed wait says, besides a time-out. */
const char *ivb_wait_error_name(int ret);

/* Doorbell mode: tell the peer a state it may wait for has changed (no-op when polling). */
void ivb_ring(struct ivb_bell *bell, int peer);

double ivb_seconds(uint64_t ns);

#endif /* IVB_WAIT_H */
