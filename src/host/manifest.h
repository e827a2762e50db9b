/* manifest.h: run.json, the facts a result needs to be reproduced and compared. */
#ifndef IVB_MANIFEST_H
#define IVB_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "defaults.h"
#include "noise.h"

#define IVB_MAX_META 32u
#define IVB_MAX_FAILURES 256u

struct ivb_test_count {
	uint64_t planned;
	uint64_t done;
	uint64_t succeeded;
};

struct ivb_failure {
	const char *test;   /* "latency", "bandwidth" or "reference" */
	const char *frame;  /* frame name */
	uint64_t iteration;
	const char *error;  /* a short token, e.g. sha256_mismatch, timeout */
};

/* CPU time one side used over the tests, next to the wall time of the same span. */
struct ivb_cpu_record {
	bool known;
	double user_s, sys_s, wall_s;
	uint64_t messages; /* messages exchanged in the span */
};

/* Doorbell mode: how one side's notifications went (struct ivb_bell). */
struct ivb_bell_record {
	bool known;
	int peer_id;
	uint64_t rings_sent, rings_received, late_wakeups;
};

#define IVB_MAX_STREAMS 64u /* stream records: one per stream and consumer */
#define IVB_MAX_STREAM_WINDOWS 3600u

/* One stream test (ring.h, stream.h) as the host saw it. */
struct ivb_stream_record {
	const char *frame_type;
	uint64_t size_bytes;
	const char *policy, *verify;
	uint32_t consume;     /* enum ivb_consume: how the consumer read each frame */
	uint32_t direction;   /* enum ivb_stream_direction: host-to-guest or guest-to-host */
	uint32_t slots;
	uint32_t fps_target;  /* 0: as fast as possible */
	uint64_t seconds;
	uint64_t produced, consumed, dropped, failed, unverified;
	double duration_s;    /* from the stream's start to the last frame's fate */
	uint32_t windows[IVB_MAX_STREAM_WINDOWS]; /* frames released in each full second from the start */
	uint32_t nwindows;
	/* per frame on private memory (0: unknown), measured the same way in both consume modes */
	uint64_t host_write_ns, guest_copy_ns, guest_verify_ns;
	struct ivb_cpu_record host_cpu;
	bool guest_cpu_known;
	double guest_cpu_s;
	uint64_t rings_sent;
	bool rings_received_known; /* a host consumer in doorbell mode */
	uint64_t rings_received;
	bool completed;         /* false: the stream stopped early (the run's abort reason says why) */
	uint32_t consumer;      /* the ring's consumer these figures are for (one record per consumer) */
	uint32_t consumers;     /* the ring's consumers */
	const char *consumer_end; /* "finished", "dropped", "lost" or "failed" */
};

/* ---- the transport comparison (--transport): run.json's "transports" block (manifest_transports.c) ---- */
#define IVB_MAX_TRANSPORTS 8u           /* entries of --transport */
/* The tests of one run: over connections (the plan's transport messages) and ivshmem's message streams. */
#define IVB_MAX_TRANSPORT_RECORDS (IVB_MAX_TRANSPORT_TESTS + IVB_PLAN_MAX_FRAMES)
#define IVB_MAX_TRANSPORT_WINDOWS 600u  /* 1-second windows recorded per transport test */
#define IVB_TRANSPORT_ADDRESS_LEN 128u

/* A transport of --transport: whether it ran, and where. */
struct ivb_transport_entry {
	const char *name;
	const char *status; /* "planned", "ran", "failed" or "skipped" */
	const char *reason; /* why it was skipped or failed, or NULL */
	char address[IVB_TRANSPORT_ADDRESS_LEN]; /* the socket, FIFO stem or 127.0.0.1:port of its last test */
};

/* One test over a connection transport, as the host saw it (the rows are in transport_results.csv). */
struct ivb_transport_test_record {
	const char *transport, *test, *verify;
	uint64_t size_bytes;
	uint32_t window;
	uint64_t seconds;
	uint64_t sent, acked, failed, unverified;
	double duration_s; /* from the first send to the last acknowledgement */
	uint32_t windows[IVB_MAX_TRANSPORT_WINDOWS]; /* frames acknowledged in each full second from the start */
	uint32_t nwindows;
	struct ivb_cpu_record host_cpu;
	bool guest_known; /* the guest's RESULT arrived */
	double guest_cpu_s;
	uint64_t guest_taken, guest_verified;
	bool completed;
};

/* --map-study: which mappings the guest measured, and which it could not make (errno), from its first study. */
struct ivb_map_study_record {
	bool known;
	uint32_t measured[IVB_MAP_STUDY_MAX]; /* enum ivb_map_kind, in the order of the first message */
	size_t nmeasured;
	struct {
		uint32_t map_kind;
		uint32_t error;
	} missing[IVB_MAP_STUDY_MAX];
	size_t nmissing;
};

struct ivb_manifest {
	const char *status; /* "running", "completed" or "aborted" */
	char started_utc[32];
	char finished_utc[32];
	const char *abort_reason; /* why the run stopped early, or NULL */
	/* options, as given or defaulted */
	const char *shm_path;
	uint64_t region_size;
	uint64_t buffer_capacity;
	uint64_t iterations;
	const char *latency_frame;
	uint64_t latency_frame_bytes;
	uint64_t bw_iterations;
	const char *frames; /* the --frames list as given */
	uint64_t ref_iterations;
	uint64_t warmup;
	uint64_t timeout_s;
	uint64_t corrupt_iteration;
	bool corrupt_frame_set;
	uint64_t corrupt_frame; /* --corrupt-frame: the frame of each stream the host corrupted */
	const char *flush_method;
	bool counters;
	bool write_study;
	bool map_study;
	const char *map_study_tests; /* "latency" or "latency,bandwidth" */
	struct ivb_map_study_record map_study_seen;
	const char *mode; /* "polling" or "doorbell" */
	uint64_t interval_us; /* the host starts messages this far apart; 0: back to back */
	struct ivb_cpu_record host_cpu; /* over the tests, warm-up included */
	struct ivb_cpu_record guest_cpu; /* as the guest reported it at the end of the run */
	const char *guest_cpu_missing;   /* why guest_cpu is not known, or NULL */
	struct ivb_bell_record host_bell, guest_bell;
	const struct ivb_noise *noise; /* snapshots around the tests, or NULL */
	const char *host_counters_missing;  /* "" when every counter was measured */
	const char *guest_counters_missing;
	/* the guest, as it reported itself through the region (sanitised) */
	int guest_known;
	struct ivb_guest_info guest;
	unsigned guest_unsafe_text;       /* enum ivb_guest_text bits: strings whose unsafe characters were replaced */
	uint64_t guest_counters_rejected; /* counter values above any true value, written as empty fields */
	const char *guest_counters_note;  /* the first of them */
	/* --meta KEY=VALUE pairs */
	const char *meta[IVB_MAX_META];
	size_t nmeta;
	struct ivb_test_count latency, bandwidth, reference;
	/* the stream test (--stream-seconds) */
	uint64_t stream_seconds;
	const char *stream_frames, *stream_policy, *stream_verify, *stream_consume, *stream_direction;
	uint32_t stream_slots, stream_fps, stream_consumers;
	uint64_t consumer_timeout_ns;
	struct ivb_stream_record streams[IVB_MAX_STREAMS];
	size_t nstreams;
	/* the transport comparison */
	const char *transports_arg, *message_sizes;
	struct ivb_transport_entry transports[IVB_MAX_TRANSPORTS];
	size_t ntransports;
	struct ivb_transport_test_record transport_tests[IVB_MAX_TRANSPORT_RECORDS];
	size_t ntransport_tests;
	struct ivb_failure failures[IVB_MAX_FAILURES];
	size_t nfailures;
	size_t failures_dropped;
};

/* run.json's "transports" block (manifest_transports.c). */
struct ivb_json;
void ivb_manifest_write_transports(struct ivb_json *j, const struct ivb_manifest *m);

/* Current UTC time as 2026-11-25T03:40:57Z. */
void ivb_utc_now(char out[32]);

/*
 * Write dir/run.json atomically (a temporary file renamed over it), with the keys of schema/run.txt.
 * Returns: 0 on success, or a negative errno; -EPROTO when the file was written but a key in it sits outside
 * the object the schema puts it in (a bug of the writer).
 */
int ivb_manifest_write(const char *dir, const struct ivb_manifest *m);

#endif /* IVB_MANIFEST_H */
