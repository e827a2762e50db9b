/* protocol.h: the two state machines of common.h, one step per function.
 *
 * Host, per run:  ivb_host_init, ivb_host_wait_guest, then per message
 *                 (fill the buffer) ivb_host_send, ivb_host_wait_ack, ivb_host_next; ivb_host_finish.
 * Guest, per run: ivb_guest_bind, then per message ivb_guest_wait_message, (phases) ivb_guest_ack,
 *                 ivb_guest_wait_host_ready, until ivb_guest_wait_message returns 1.
 * Either side may call its abort function at any time to tell the peer it stopped.
 *
 * Every wait has a time limit and returns early once ivb_stop_requested is set (by a signal
 * handler). On failure the functions return a negative errno and describe in `why` what they
 * waited for or what they rejected:
 *   -ETIMEDOUT   the peer did not reach the awaited state in time
 *   -EINTR       ivb_stop_requested was set
 *   -ECONNRESET  the peer aborted or restarted
 *   -EPROTO      the peer wrote something out of range
 */
#ifndef IVB_PROTOCOL_H
#define IVB_PROTOCOL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "bell.h"
#include "defaults.h"
#include "plan.h"
#include "wait.h"

/* No phase of one message may take longer than this: longer means a corrupt timing field. */
#define IVB_MAX_DURATION_NS (3600ull * 1000000000ull)
#define IVB_WHY_LEN 256u

struct ivb_host {
	struct ivb_region *r;
	struct ivb_bell *bell; /* doorbell mode: ring the guest, sleep until rung; NULL: poll */
	int guest_peer;             /* the guest's peer id, once bound in doorbell mode */
	uint64_t capacity; /* data bytes after the header */
	uint64_t session;
	uint64_t sequence; /* of the last message sent */
	uint64_t size;     /* of the last message sent: what its counters are bounded by */
	uint64_t sent_ns;  /* host clock when it was sent */
	uint64_t timeout_ns;
	/* What the guest reported out of bounds over the run (peer_check.h), for run.json. */
	unsigned unsafe_text;        /* enum ivb_guest_text bits: strings with characters replaced */
	uint64_t counters_rejected;  /* counter values replaced with "not measured" */
	char counters_note[IVB_WHY_LEN]; /* the first of them, or empty */
	char why[IVB_WHY_LEN];
};

/* Everything the guest reports about one message. */
struct ivb_guest_report {
	struct ivb_guest_timing timing;
	struct ivb_guest_study study;
	struct ivb_phase_counters counters[IVB_NPHASES];
	struct ivb_map_study map_study[IVB_MAP_STUDY_MAX]; /* in the order the guest ran them */
};

/* What the guest reported for one message, after validation. */
struct ivb_ack {
	uint64_t acked_ns; /* host clock when the acknowledgement was seen */
	uint32_t error_code; /* enum ivb_msg_error */
	struct ivb_guest_report report;
	bool timing_fits;    /* with IVB_MSG_OK: the guest's durations fit in the round trip (ivb_timing_fits) */
	unsigned counters_rejected; /* counters of report replaced with IVB_CTR_NONE: above any true value */
};

struct ivb_guest {
	struct ivb_region *r;
	struct ivb_bell *bell; /* as in struct ivb_host */
	int host_peer;
	size_t map_size;
	uint64_t capacity;
	uint64_t session;
	uint64_t last_sequence;
	uint64_t messages;
	uint64_t timeout_ns;
	struct ivb_plan plan;       /* the host's, checked at binding */
	uint64_t planned;           /* messages the plan sends: the guest refuses more */
	struct ivb_guest_info info; /* published again if a new host takes over before any message */
	char why[IVB_WHY_LEN];
};

/* One message as the guest validated it. */
struct ivb_message {
	uint64_t sequence;
	uint64_t size;
	uint32_t kind;  /* enum ivb_msg_kind */
	uint32_t flags; /* IVB_MSG_FLAG_* */
	uint32_t error; /* IVB_MSG_OK, or why the guest must reject the message without reading it */
	uint64_t seen_ns; /* guest clock when SENDING was seen: the start of the guest's total */
	uint8_t sha256[IVB_SHA256_LEN];
};

const char *ivb_host_state_name(uint32_t state);
const char *ivb_guest_state_name(uint32_t state);
const char *ivb_msg_error_name(uint32_t error);
const char *ivb_abort_reason_name(uint32_t reason);

/*
 * Host: take over the region of map_size bytes at r: mark it INITIALIZING, clear the host lines,
 * publish geometry and the new session, then READY. A stale earlier run is described in `why`
 * (empty when the region was fresh). session must be non-zero and random. With bell (doorbell
 * mode, connected to an ivshmem server) the host announces its peer id and sleeps in its waits.
 * plan is published for the guest.
 * Returns: 0 on success, or -EINVAL if map_size cannot hold a header and a page.
 */
int ivb_host_init(struct ivb_host *h, struct ivb_region *r, size_t map_size, uint64_t session, uint64_t timeout_ns,
		  struct ivb_bell *bell, const struct ivb_plan *plan);

/*
 * Host that cannot run (its region is too small): take over the region as ivb_host_init does, but
 * go from INITIALIZING straight to ABORTED with reason, so that a guest already waiting stops now
 * and never binds to a session without a plan (polling guests only: no doorbell is rung).
 * Returns: 0, or -EINVAL as ivb_host_init.
 */
int ivb_host_refuse(struct ivb_region *r, size_t map_size, uint64_t session, enum ivb_abort_reason reason);

/*
 * Host: wait for a guest READY and bound to this session; copy its (untrusted, now sanitised)
 * mapping information into info. In doorbell mode the guest must be a known peer of the server.
 * Returns: 0, -ETIMEDOUT, -EINTR, -ECONNRESET, or -EPROTO (the two sides' modes differ).
 */
int ivb_host_wait_guest(struct ivb_host *h, struct ivb_guest_info *info);

/* Host: ivb_host_wait_guest with the first contact's limit and notices instead of the timeout of every wait. */
int ivb_host_wait_guest_contact(struct ivb_host *h, const struct ivb_first_contact *contact,
				struct ivb_guest_info *info);

/*
 * Host: publish message sequence+1 of size bytes (already in the buffer) with its hash and
 * IVB_MSG_FLAG_* flags. *sent_ns is the host clock just before SENDING becomes visible.
 * Returns: 0, or -EINVAL if size is 0 or above the capacity, or kind or flags are invalid.
 */
int ivb_host_send(struct ivb_host *h, uint64_t size, enum ivb_msg_kind kind, uint32_t flags,
		  const uint8_t sha256[IVB_SHA256_LEN], uint64_t *sent_ns);

/*
 * Host: spin until the guest acknowledges the last message; validate and copy its report. Counters
 * above their bound become "not measured" and a string's unsafe characters are replaced (counted in
 * h, see peer_check.h); timings that cannot fit in the round trip clear ack->timing_fits.
 * Returns: 0, -ETIMEDOUT, -EINTR, -ECONNRESET, or -EPROTO (ack->acked_ns is still valid).
 */
int ivb_host_wait_ack(struct ivb_host *h, struct ivb_ack *ack);

/* Host: back to READY and wait for the guest to be READY for the next message. */
int ivb_host_next(struct ivb_host *h);

/* Host: every test is done. */
void ivb_host_finish(struct ivb_host *h);

/*
 * Host: after ivb_host_finish, wait at most timeout_ns for the guest's summary of the run, and
 * check it (CPU time within the guest's wall time, no more messages than were sent).
 * Returns: 0, -ETIMEDOUT (none came: the guest died, or is of an older version), -EINTR, or -EPROTO.
 */
int ivb_host_wait_summary(struct ivb_host *h, uint64_t timeout_ns, struct ivb_guest_summary *summary);

/* Host: stop early; the guest sees ABORTED and reason. */
void ivb_host_abort(struct ivb_host *h, enum ivb_abort_reason reason);

/*
 * Guest: announce WAITING_HOST_INIT, wait for a host in READY with our protocol version, a
 * geometry that fits map_size and a plan within bounds (copied to g->plan), publish info and
 * bind to the host's session (READY).
 * Returns: 0, -ETIMEDOUT, -EINTR, -ECONNRESET (a host that came after us aborted), or -EPROTO
 * (version or geometry mismatch; see why).
 */
int ivb_guest_bind(struct ivb_guest *g, struct ivb_region *r, size_t map_size, uint64_t timeout_ns,
		   const struct ivb_guest_info *info, struct ivb_bell *bell);

/* Guest: ivb_guest_bind waiting for the host as contact says; timeout_ns is then every later wait's limit. */
int ivb_guest_bind_contact(struct ivb_guest *g, struct ivb_region *r, size_t map_size,
			   const struct ivb_first_contact *contact, uint64_t timeout_ns,
			   const struct ivb_guest_info *info, struct ivb_bell *bell);

/*
 * Guest: wait for the next message. On 0 the guest is PROCESSING msg (check msg->error before
 * reading the buffer); on 1 the host completed the run.
 * Returns: 0, 1, -ETIMEDOUT, -EINTR, -ECONNRESET or -EPROTO (also for a message beyond the plan).
 */
int ivb_guest_wait_message(struct ivb_guest *g, struct ivb_message *msg);

/* Guest: publish the report and result of msg and acknowledge it. */
void ivb_guest_ack(struct ivb_guest *g, const struct ivb_message *msg, const struct ivb_guest_report *report,
		   uint32_t error);

/*
 * Guest: wait for the host to leave SENDING, then go READY for the next message.
 * Returns: 0, -ETIMEDOUT, -EINTR or -ECONNRESET.
 */
int ivb_guest_wait_host_ready(struct ivb_guest *g);

/*
 * Guest: once ivb_guest_wait_message returned 1, publish what the run cost (the session and the
 * doorbell counts are filled in here) and tell the host.
 */
void ivb_guest_publish_summary(struct ivb_guest *g, const struct ivb_guest_summary *summary);

/* Guest: stop early; the host sees ABORTED and reason. */
void ivb_guest_abort(struct ivb_guest *g, enum ivb_abort_reason reason);

#endif /* IVB_PROTOCOL_H */
