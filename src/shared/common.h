/* common.h: the one definition of the ivshmem-bench shared region.
 *
 * The region is a file in /dev/shm on the host and BAR2 of the ivshmem PCI device in the guest.
 * It starts with a 4 KiB header, then the data buffer (page aligned):
 *
 *   line 0  identity       host-owned   magic, version, geometry, session     (written while INITIALIZING)
 *   line 1  host control   host-owned   host_state, message sequence, size, kind
 *   line 2  host hash      host-owned   SHA-256 of the message data
 *   line 3  guest control  guest-owned  guest_state, bound session, acknowledged sequence, error
 *   line 4  guest timing   guest-owned  the durations of the guest's phases (guest clock)
 *   line 5-6 guest info    guest-owned  how the guest mapped the region
 *   line 7  guest study    guest-owned  write-path variants of phase C, counter availability
 *   line 8-12 guest counters guest-owned performance counters of phases A-D
 *   line 13-15 guest map study guest-owned phases A-C again through each mapping of BAR2 (uc, wc, wb)
 *   line 16 guest summary  guest-owned  the guest's CPU time and doorbell counts over the run, at its end
 *   line 17-19 host plan   host-owned   what the host will send: counts per test, frame sizes, flags
 *                                       (written while INITIALIZING; the guest needs no test options)
 *   line 20-21 host stream host-owned   a stream message's direction, and the ring the guest produces
 *                                       into (written before SENDING a stream message)
 *   line 22 guest stream   guest-owned  the guest producer: its ring laid out, then its totals
 *
 * A stream message (IVB_MSG_STREAM) lays a ring of frame slots in the data buffer (ring.h): its
 * control page has its own host- and guest-owned lines, and the message lasts until the stream ends.
 *
 * Each side writes only the lines it owns. State words are C11 atomics: a side publishes its fields
 * with a release store of its state and reads the peer's fields after an acquire load of the peer's
 * state. Everything a peer writes is untrusted: check it (ivb_check_*) before using it.
 * Any change to this layout bumps IVB_PROTOCOL_VERSION.
 */
#ifndef IVB_COMMON_H
#define IVB_COMMON_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define IVB_MAGIC 0x31425649u /* "IVB1" in memory order */
#define IVB_PROTOCOL_VERSION 14u
#define IVB_CACHE_LINE 64u
#define IVB_HEADER_SIZE 4096u /* the data buffer starts here: page aligned */
#define IVB_REGION_MIN_SIZE (IVB_HEADER_SIZE + 4096u) /* the header and one page of data */
#define IVB_SHA256_LEN 32u
#define IVB_NCOUNTERS 10u /* enum ivb_counter in perfctr.h */
#define IVB_NPHASES 4u    /* A hot read, B cold read, C copy, D verify */

/* Host state machine; only the host writes host_state. */
enum ivb_host_state {
	IVB_HOST_UNINITIALIZED = 0,
	IVB_HOST_INITIALIZING = 1, /* clearing the host lines; nothing else is valid */
	IVB_HOST_READY = 2,        /* initialised, or between messages */
	IVB_HOST_SENDING = 3,      /* a message is in the buffer: sequence, size, hash are valid */
	IVB_HOST_COMPLETED = 4,    /* every test is done; the guest may exit */
	IVB_HOST_ABORTED = 5,      /* the host stopped early; host_abort_reason says why */
};
#define IVB_HOST_STATE_MAX IVB_HOST_ABORTED

/* Guest state machine; only the guest writes guest_state. */
enum ivb_guest_state {
	IVB_GUEST_UNINITIALIZED = 0,
	IVB_GUEST_WAITING_HOST_INIT = 1, /* started, waiting for a host in READY */
	IVB_GUEST_READY = 2,             /* bound to guest_session, waiting for a message */
	IVB_GUEST_PROCESSING = 3,        /* working on message `sequence` */
	IVB_GUEST_ACKNOWLEDGED = 4,      /* ack_sequence, error_code and the timings are valid */
	IVB_GUEST_ABORTED = 5,           /* the guest stopped early; guest_abort_reason says why */
};
#define IVB_GUEST_STATE_MAX IVB_GUEST_ABORTED

/* What a message asks the guest to do. */
enum ivb_msg_kind {
	IVB_MSG_LATENCY = 1,   /* the four phases on the region */
	IVB_MSG_BANDWIDTH = 2, /* the same phases; recorded per frame size */
	IVB_MSG_REFERENCE = 3, /* the same phases on a private copy: what plain memory does here */
	IVB_MSG_STREAM = 4,    /* frames through the ring of ring.h for a set time; data_size: the ring's bytes */
	IVB_MSG_TRANSPORT = 5, /* frames over another transport; the data is its struct ivb_tp_spec (transport.h) */
};
#define IVB_MSG_KIND_MAX IVB_MSG_TRANSPORT

/* Flags of a message, in msg_flags. */
#define IVB_MSG_FLAG_COUNTERS 0x1u    /* measure performance counters around each phase */
#define IVB_MSG_FLAG_WRITE_STUDY 0x2u /* also time the write-path variants of phase C */
#define IVB_MSG_FLAG_MAP_STUDY 0x4u   /* also time phases A-C through every mapping of BAR2 */
#define IVB_MSG_FLAGS_ALL (IVB_MSG_FLAG_COUNTERS | IVB_MSG_FLAG_WRITE_STUDY | IVB_MSG_FLAG_MAP_STUDY)

/* Per-message result, written by the guest in error_code. */
enum ivb_msg_error {
	IVB_MSG_OK = 0,
	IVB_MSG_SHA256_MISMATCH = 1, /* the data the guest received does not hash to data_sha256 */
	IVB_MSG_BAD_SIZE = 2,        /* data_size is 0 or does not fit the guest's mapping */
	IVB_MSG_BAD_KIND = 3,        /* msg_kind is not one of enum ivb_msg_kind */
	IVB_MSG_GUEST_FAILURE = 4,   /* the guest could not run the phases (e.g. out of memory) */
	IVB_MSG_BAD_FLAGS = 5,       /* msg_flags has bits this guest does not know */
};
#define IVB_MSG_ERROR_MAX IVB_MSG_BAD_FLAGS

/* Why a side aborted, in host_abort_reason / guest_abort_reason. */
enum ivb_abort_reason {
	IVB_ABORT_NONE = 0,
	IVB_ABORT_SIGNAL = 1,   /* SIGINT or SIGTERM */
	IVB_ABORT_TIMEOUT = 2,  /* the peer did not answer in time */
	IVB_ABORT_PROTOCOL = 3, /* the peer wrote something invalid */
	IVB_ABORT_FAILURE = 4,  /* a local failure (I/O, memory) */
};
#define IVB_ABORT_REASON_MAX IVB_ABORT_FAILURE

/* How the guest reached the region, in ivb_guest_info.map_kind. */
enum ivb_map_kind {
	IVB_MAP_NONE = 0,
	IVB_MAP_SHM = 1,        /* loopback: a file in /dev/shm on the host */
	IVB_MAP_RESOURCE2 = 2,  /* BAR2 through sysfs resource2 (Linux maps it UC-) */
	IVB_MAP_RESOURCE2_WC = 3, /* BAR2 through sysfs resource2_wc (write-combining) */
	IVB_MAP_REGION_WB = 4,  /* BAR2 through our driver's /dev/ivshmem-region (write-back) */
};
#define IVB_MAP_KIND_MAX IVB_MAP_REGION_WB

/* Guest phase durations in nanoseconds, measured on the guest's clock. */
struct ivb_guest_timing {
	uint64_t hot_read_ns;  /* A: touch every line of the data, as it is in the cache */
	uint64_t cold_read_ns; /* B: the same after flushing the range from the cache */
	uint64_t copy_ns;      /* C: memcpy into a pre-faulted private buffer (after a flush) */
	uint64_t verify_ns;    /* D: SHA-256 of the private copy and comparison */
	uint64_t flush_ns;     /* the two cache flushes, outside A-D */
	uint64_t total_ns;     /* from seeing SENDING to just before acknowledging */
	uint8_t pad[16];
};

#define IVB_DEVICE_LEN 16u
#define IVB_KERNEL_LEN 64u
#define IVB_MEMTYPE_LEN 32u

/* How the huge-page buffer of the write study was obtained, in ivb_guest_study.huge_kind. */
enum ivb_huge_kind {
	IVB_HUGE_NONE = 0,      /* no huge-page buffer: that variant was not run */
	IVB_HUGE_HUGETLB = 1,   /* MAP_HUGETLB from the reserved pool */
	IVB_HUGE_THP = 2,       /* transparent huge pages, advised with MADV_HUGEPAGE */
};
#define IVB_HUGE_KIND_MAX IVB_HUGE_THP

#define IVB_FAULTS_UNKNOWN UINT32_MAX

/* Write-path variants of phase C (guest clock; 0: not run) and which counters the guest lacks. */
struct ivb_guest_study {
	uint64_t fresh_ns;        /* memcpy into freshly mapped pages: page faults inside the copy */
	uint64_t nt_ns;           /* copy with non-temporal stores into the pre-faulted buffer */
	uint64_t huge_ns;         /* memcpy into a pre-faulted huge-page buffer */
	uint32_t fresh_faults;    /* page faults taken by the fresh-pages copy; IVB_FAULTS_UNKNOWN */
	uint32_t huge_kind;       /* enum ivb_huge_kind */
	uint8_t counter_errno[IVB_NCOUNTERS]; /* 0: counter measured; else the errno of its open */
	uint8_t pad[22];
};

/* Performance counters of one guest phase, in enum ivb_counter order; UINT64_MAX: not measured. */
struct ivb_phase_counters {
	uint64_t v[IVB_NCOUNTERS];
};

#define IVB_MAP_STUDY_MAX 3u /* mappings of the map study per message: uc, wc, wb (loopback: the file 3 times) */
#define IVB_MAP_STUDY_ERRNO_MAX 4095u /* the largest errno a slot may carry */
#define IVB_MAP_MEMTYPE_LEN 24u /* a map study slot's memory type: the longest Linux names are 16 bytes */

/*
 * Phases A-C and W through one mapping of the same memory (guest clock). The guest fills the slots in
 * the order it ran them (slot 0 went first); the order rotates from message to message. A slot with
 * map_kind NONE is unused; one with error set names a mapping the guest could not make, and why.
 */
struct ivb_map_study {
	uint64_t hot_read_ns;
	uint64_t cold_read_ns;
	uint64_t copy_ns;
	uint64_t write_ns;             /* phase W: the message's bytes written back into the region, fenced */
	uint32_t map_kind;             /* enum ivb_map_kind of this mapping */
	uint32_t error;                /* 0: measured; else the errno of making this mapping (times are 0) */
	char memtype[IVB_MAP_MEMTYPE_LEN]; /* its memory type, as the guest kernel reports it */
};

/* How the guest mapped the region; strings are NUL-padded and untrusted. */
struct ivb_guest_info {
	uint32_t map_kind; /* enum ivb_map_kind */
	uint32_t reserved;
	uint64_t map_size;                /* bytes the guest mapped */
	char device[IVB_DEVICE_LEN];      /* PCI address, e.g. 0000:00:03.0; empty for shm */
	char kernel[IVB_KERNEL_LEN];      /* guest kernel release (uname -r) */
	char memtype[IVB_MEMTYPE_LEN];    /* memory type the guest kernel gave the mapping, if known */
};

/*
 * What the run cost the guest, published once, after the host COMPLETED it: the host records it
 * next to its own. CPU from getrusage, wall from the guest's monotonic clock, both over the span
 * from binding to the end of the run less the stream messages (each stream reports its own cost).
 */
struct ivb_guest_summary {
	_Atomic uint64_t session; /* the run described; stored last: the other fields are valid once it matches */
	uint64_t cpu_user_ns;
	uint64_t cpu_sys_ns;
	uint64_t wall_ns;
	uint64_t messages;       /* messages the guest received in the span */
	uint64_t rings_sent;     /* doorbell mode (0 when polling): see struct ivb_bell */
	uint64_t rings_received;
	uint64_t late_wakeups;
};

#define IVB_PLAN_MAX_FRAMES 16u

/*
 * The run plan, host-owned, written while INITIALIZING: the host sends warmup messages of the
 * largest size, then latency_count of latency_frame_bytes, then bandwidth_per_frame of each
 * frame_bytes[i] in order, then reference_per_frame of each distinct size (the latency frame's
 * first), then nstreams stream messages, then ntransports transport messages. Untrusted on the guest side: ivb_plan_check bounds every field.
 */
struct ivb_plan {
	uint64_t warmup;
	uint64_t latency_count;
	uint64_t bandwidth_per_frame;
	uint64_t reference_per_frame;
	uint64_t latency_frame_bytes;
	uint64_t interval_us; /* messages start this far apart; 0: back to back */
	uint32_t flags;       /* IVB_MSG_FLAG_* that every message carries */
	uint32_t nframes;     /* entries of frame_bytes in use */
	uint32_t nstreams;    /* stream messages after the reference test, one per stream frame size */
	uint32_t ntransports; /* transport messages after the streams, one per transport test */
	uint64_t frame_bytes[IVB_PLAN_MAX_FRAMES]; /* the bandwidth frames */
};

/* Which way a stream message's frames go, in ivb_stream_spec.direction. */
enum ivb_stream_direction {
	IVB_DIR_HOST_TO_GUEST = 1, /* the host produces into the ring at the buffer's start; the guest consumes */
	IVB_DIR_GUEST_TO_HOST = 2, /* the guest produces into the ring at g2h_offset; the host consumes */
	IVB_DIR_BOTH = 3,          /* both rings at once: host-to-guest at 0, guest-to-host at g2h_offset */
};
#define IVB_DIR_MAX IVB_DIR_BOTH

#define IVB_STREAM_SEED_LEN 32u /* a ChaCha20 key: the guest producer's frames expand from it */

/*
 * A stream message, host-owned, written before SENDING it (untrusted on the guest: ivb_stream_spec_check).
 * For a guest-produced ring the host chooses its geometry and frames: the guest lays the ring out with these
 * numbers (ring.h) and fills its frames from the seed, so that the host checks every frame against the
 * checksum it computed itself, never against one the guest wrote.
 */
struct ivb_stream_spec {
	uint32_t direction;   /* enum ivb_stream_direction */
	uint32_t nslots;      /* the guest-produced ring: slots, policy, verification, consume mode (ring.h) */
	uint32_t policy;
	uint32_t verify;
	uint32_t consume;
	uint32_t fps;         /* the guest producer's pace; 0: as fast as it can */
	uint64_t frame_size;
	uint64_t seconds;     /* how long the guest produces */
	uint64_t corrupt_frame1; /* frame + 1 the guest corrupts after taking its checksum; 0: none */
	uint64_t g2h_offset;  /* where the guest-produced ring starts in the data buffer (page aligned) */
	uint32_t nconsumers;  /* the guest-produced ring's consumers (host processes), 1 to IVB_RING_MAX_CONSUMERS */
	uint32_t consumer_vectors; /* doorbell mode: 1: the guest rings the host's vector i for consumer i; 0: vector 0 */
	uint8_t seed[IVB_STREAM_SEED_LEN]; /* fresh for each stream */
	uint64_t consumer_timeout_ns; /* a consumer holding the guest producer back longer is dropped (ring.h) */
	uint8_t pad1[24];
};

/*
 * The guest producer of a stream message, guest-owned. laid_sequence is stored (release) once its ring is
 * laid out: the host reads the ring only then. The totals are valid once the guest acknowledged the
 * message; all untrusted (the host bounds them by what it saw).
 */
struct ivb_guest_stream {
	_Atomic uint64_t laid_sequence; /* the stream message whose ring the guest laid out */
	uint64_t produced;       /* frames the guest produced (published or dropped) */
	uint64_t dropped;        /* of those, the ones it knows were never taken (latest) */
	uint64_t rings_sent;     /* doorbell rings the guest producer sent */
	uint64_t cpu_ns;         /* guest clock: its CPU time over the stream */
	uint64_t private_write_ns; /* guest clock: one frame copied between private buffers */
	uint64_t duration_ns;    /* guest clock: from its first publish to the last frame's fate */
	uint8_t pad[8];
};

struct ivb_region {
	/* line 0: identity, host-owned; magic is 0 while the host initialises */
	_Atomic uint32_t magic;
	uint32_t version;
	uint32_t header_size;
	uint32_t host_peer; /* doorbell mode: the host's ivshmem peer id + 1; 0: polling */
	uint64_t buffer_capacity;   /* bytes available from IVB_HEADER_SIZE on */
	_Atomic uint64_t session;   /* random nonce of this host run; never 0 once READY */
	uint8_t pad0[32];

	/* line 1: host control, host-owned */
	alignas(IVB_CACHE_LINE) _Atomic uint32_t host_state;
	uint32_t host_abort_reason;
	uint64_t sequence;  /* of the message in the buffer; 1, 2, 3, ... within a session */
	uint64_t data_size; /* bytes of the message at the start of the buffer */
	uint32_t msg_kind;  /* enum ivb_msg_kind */
	uint32_t msg_flags; /* IVB_MSG_FLAG_* */
	uint8_t pad1[32];

	/* line 2: host hash, host-owned */
	alignas(IVB_CACHE_LINE) uint8_t data_sha256[IVB_SHA256_LEN];
	uint8_t pad2[32];

	/* line 3: guest control, guest-owned */
	alignas(IVB_CACHE_LINE) _Atomic uint32_t guest_state;
	uint32_t guest_abort_reason;
	_Atomic uint64_t guest_session; /* the host session the guest is bound to; atomic: the host reads it at any time */
	uint64_t ack_sequence;  /* the message the guest acknowledged */
	uint32_t error_code;    /* enum ivb_msg_error for ack_sequence */
	uint32_t guest_peer;    /* doorbell mode: the guest's ivshmem peer id + 1; 0: polling */
	uint8_t pad3[32];

	/* line 4: guest timing, guest-owned */
	alignas(IVB_CACHE_LINE) struct ivb_guest_timing timing;

	/* lines 5-6: guest info, guest-owned */
	alignas(IVB_CACHE_LINE) struct ivb_guest_info guest_info;

	/* line 7: guest study, guest-owned */
	alignas(IVB_CACHE_LINE) struct ivb_guest_study study;

	/* lines 8-12: guest counters, guest-owned */
	alignas(IVB_CACHE_LINE) struct ivb_phase_counters counters[IVB_NPHASES];

	/* lines 13-15: guest map study, guest-owned, one line per mapping */
	alignas(IVB_CACHE_LINE) struct ivb_map_study map_study[IVB_MAP_STUDY_MAX];

	/* line 16: guest summary, guest-owned */
	alignas(IVB_CACHE_LINE) struct ivb_guest_summary summary;

	/* lines 17-19: host plan, host-owned */
	alignas(IVB_CACHE_LINE) struct ivb_plan plan;

	/* lines 20-21: host stream, host-owned */
	alignas(IVB_CACHE_LINE) struct ivb_stream_spec stream;

	/* line 22: guest stream, guest-owned */
	alignas(IVB_CACHE_LINE) struct ivb_guest_stream guest_stream;
};

/* The other side reads these at fixed offsets: any change here is a protocol change. */
_Static_assert(sizeof(_Atomic uint32_t) == 4, "state words must be 32-bit");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "session must be 64-bit");
_Static_assert(offsetof(struct ivb_region, magic) == 0, "magic first");
_Static_assert(offsetof(struct ivb_region, version) == 4, "version second");
_Static_assert(offsetof(struct ivb_region, buffer_capacity) == 16, "identity line layout");
_Static_assert(offsetof(struct ivb_region, session) == 24, "identity line layout");
_Static_assert(offsetof(struct ivb_region, host_state) == 1 * IVB_CACHE_LINE, "host control on line 1");
_Static_assert(offsetof(struct ivb_region, sequence) == 1 * IVB_CACHE_LINE + 8, "host control layout");
_Static_assert(offsetof(struct ivb_region, data_size) == 1 * IVB_CACHE_LINE + 16, "host control layout");
_Static_assert(offsetof(struct ivb_region, msg_kind) == 1 * IVB_CACHE_LINE + 24, "host control layout");
_Static_assert(offsetof(struct ivb_region, data_sha256) == 2 * IVB_CACHE_LINE, "hash on line 2");
_Static_assert(offsetof(struct ivb_region, guest_state) == 3 * IVB_CACHE_LINE, "guest control on line 3");
_Static_assert(offsetof(struct ivb_region, guest_session) == 3 * IVB_CACHE_LINE + 8, "guest control layout");
_Static_assert(offsetof(struct ivb_region, ack_sequence) == 3 * IVB_CACHE_LINE + 16, "guest control layout");
_Static_assert(offsetof(struct ivb_region, error_code) == 3 * IVB_CACHE_LINE + 24, "guest control layout");
_Static_assert(offsetof(struct ivb_region, timing) == 4 * IVB_CACHE_LINE, "guest timing on line 4");
_Static_assert(sizeof(struct ivb_guest_timing) == IVB_CACHE_LINE, "guest timing is one line");
_Static_assert(offsetof(struct ivb_region, guest_info) == 5 * IVB_CACHE_LINE, "guest info on line 5");
_Static_assert(sizeof(struct ivb_guest_info) == 2 * IVB_CACHE_LINE, "guest info is two lines");
_Static_assert(offsetof(struct ivb_region, msg_flags) == 1 * IVB_CACHE_LINE + 28, "host control layout");
_Static_assert(offsetof(struct ivb_region, study) == 7 * IVB_CACHE_LINE, "guest study on line 7");
_Static_assert(sizeof(struct ivb_guest_study) == IVB_CACHE_LINE, "guest study is one line");
_Static_assert(offsetof(struct ivb_region, counters) == 8 * IVB_CACHE_LINE, "guest counters from line 8");
_Static_assert(sizeof(struct ivb_phase_counters) * IVB_NPHASES == 5 * IVB_CACHE_LINE, "counters are five lines");
_Static_assert(offsetof(struct ivb_region, map_study) == 13 * IVB_CACHE_LINE, "map study from line 13");
_Static_assert(sizeof(struct ivb_map_study) == IVB_CACHE_LINE, "a map study slot is one line");
_Static_assert(offsetof(struct ivb_map_study, write_ns) == 24, "map study slot layout");
_Static_assert(offsetof(struct ivb_map_study, map_kind) == 32, "map study slot layout");
_Static_assert(offsetof(struct ivb_map_study, error) == 36, "map study slot layout");
_Static_assert(offsetof(struct ivb_map_study, memtype) == 40, "map study slot layout");
_Static_assert(IVB_MAP_STUDY_MAX == 3, "the map study is three lines");
_Static_assert(offsetof(struct ivb_region, summary) == 16 * IVB_CACHE_LINE, "guest summary on line 16");
_Static_assert(sizeof(struct ivb_guest_summary) == IVB_CACHE_LINE, "guest summary is one line");
_Static_assert(offsetof(struct ivb_region, plan) == 17 * IVB_CACHE_LINE, "host plan on line 17");
_Static_assert(offsetof(struct ivb_plan, flags) == 48, "host plan layout");
_Static_assert(offsetof(struct ivb_plan, nstreams) == 56, "host plan layout");
_Static_assert(offsetof(struct ivb_plan, ntransports) == 60, "host plan layout");
_Static_assert(offsetof(struct ivb_plan, frame_bytes) == IVB_CACHE_LINE, "frame sizes on the plan's second line");
_Static_assert(sizeof(struct ivb_plan) == 3 * IVB_CACHE_LINE, "host plan is three lines");
_Static_assert(offsetof(struct ivb_region, stream) == 20 * IVB_CACHE_LINE, "host stream on line 20");
_Static_assert(offsetof(struct ivb_stream_spec, frame_size) == 24, "host stream layout");
_Static_assert(offsetof(struct ivb_stream_spec, g2h_offset) == 48, "host stream layout");
_Static_assert(offsetof(struct ivb_stream_spec, nconsumers) == 56, "host stream layout");
_Static_assert(offsetof(struct ivb_stream_spec, consumer_vectors) == 60, "host stream layout");
_Static_assert(offsetof(struct ivb_stream_spec, consumer_timeout_ns) == IVB_CACHE_LINE + IVB_STREAM_SEED_LEN, "host stream layout");
_Static_assert(offsetof(struct ivb_stream_spec, seed) == IVB_CACHE_LINE, "the seed on the stream's second line");
_Static_assert(sizeof(struct ivb_stream_spec) == 2 * IVB_CACHE_LINE, "host stream is two lines");
_Static_assert(offsetof(struct ivb_region, guest_stream) == 22 * IVB_CACHE_LINE, "guest stream on line 22");
_Static_assert(sizeof(struct ivb_guest_stream) == IVB_CACHE_LINE, "guest stream is one line");
_Static_assert(sizeof(struct ivb_region) == 23 * IVB_CACHE_LINE, "header lines");
_Static_assert(sizeof(struct ivb_region) <= IVB_HEADER_SIZE, "header fits before the buffer");

/* The data buffer of a mapped region. */
static inline uint8_t *ivb_buffer(struct ivb_region *r)
{
	return (uint8_t *)r + IVB_HEADER_SIZE;
}

#endif /* IVB_COMMON_H */
