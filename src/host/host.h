/* host.h: what the parts of host_writer share: its configuration and the state of one run.
 *
 *   host_writer.c  main: set-up, one cleanup path
 *   host_options.c the options and the plan they make
 *   host_run.c     the exchange loop the latency, bandwidth and reference tests share
 *   host_stream.c  the stream test: frames through a ring of slots (ring.h, stream.h), the host producing
 *   host_consume.c a guest-to-host stream: the host consuming and checking the guest's frames
 *   host_transport.c the same frames and messages over the other transports (transport.h)
 *   host_rows.c    the rows each output file gets (host_rows.h)
 *   host_output.c  the output folder, the CSV files, run.json
 */
#ifndef IVB_HOST_H
#define IVB_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bell.h"
#include "host_rows.h"
#include "manifest.h"
#include "noise.h"
#include "opts.h"
#include "perfctr.h"
#include "plan.h"
#include "protocol.h"
#include "region.h"
#include "sources.h"
#include "transport.h"

#define PROG "host_writer"

struct ivb_host_config {
	const char *shm_path; /* --shm; in doorbell mode, once joined, the name of the server's region */
	bool shm_given;       /* --shm was given: a server's region must be that file */
	uint64_t size; /* 0: the file's size, or the default for a new file */
	const char *out_dir;
	uint64_t iterations;
	const char *latency_frame_arg;
	struct ivb_frame latency_frame;
	uint64_t bw_iterations;
	const char *frames_arg;
	struct ivb_frame frames[IVB_MAX_FRAMES];
	size_t nframes;
	uint64_t ref_iterations;
	uint64_t warmup;
	uint64_t timeout_s;
	uint64_t connect_timeout_s; /* the wait for the guest to come */
	uint64_t corrupt_iteration; /* measured message to corrupt, counting from 1; 0: none */
	bool counters;    /* performance counters on both sides */
	bool write_study; /* the guest also times the write-path variants of phase C */
	bool map_study;   /* the guest also times phases A-C through each of its mappings of BAR2 */
	enum ivb_msg_kind map_study_only; /* --map-study=latency|reference: on those messages only; 0: latency and bandwidth */
	bool doorbell_mode;   /* notify with the ivshmem server's eventfds instead of polling */
	const char *doorbell; /* the server's socket; NULL: the default one */
	uint64_t interval_us; /* start messages this far apart; 0: back to back */
	const char *meta[IVB_MAX_META];
	size_t nmeta;
	/* the stream test */
	uint64_t stream_seconds; /* 0: no stream */
	const char *stream_frames_arg;
	struct ivb_frame stream_frames[IVB_MAX_FRAMES];
	size_t nstream_frames;
	uint32_t slots;
	uint32_t fps;          /* 0: as fast as possible */
	uint32_t stream_policy; /* enum ivb_ring_policy */
	uint32_t verify;        /* enum ivb_ring_verify */
	uint32_t consume;       /* enum ivb_consume: how the consumer reads each frame */
	const char *stream_direction_arg;
	uint32_t stream_directions[IVB_MAX_DIRECTIONS]; /* enum ivb_stream_direction: each stream frame once per entry */
	size_t ndirections;
	uint32_t nconsumers;    /* host consumer processes of each guest-to-host stream */
	uint64_t consumer_timeout_ns; /* the guest producer drops a consumer holding it back longer */
	bool stall_set;         /* --stall-consumer: consumer stall_consumer stops releasing at frame stall_frame */
	uint32_t stall_consumer;
	uint64_t stall_frame;
	bool corrupt_frame_set; /* --corrupt-frame: flip a byte of frame corrupt_frame of each stream */
	uint64_t corrupt_frame; /* counting from 0, as stream_results.csv's frame column */
	/* the transport comparison: the stream frames and the messages over each transport */
	const char *transports_arg;
	uint32_t transports[IVB_MAX_TRANSPORTS]; /* enum ivb_transport, in the order given */
	size_t ntransports;
	char transport_skip[IVB_MAX_TRANSPORTS][160]; /* why a transport cannot run here; empty: it can */
	uint64_t transport_seconds; /* each connection test's; 0: stream_seconds */
	uint32_t tcp_port;      /* 0: the kernel's choice */
	uint32_t net_port;      /* virtio-net: the port QEMU forwards from 127.0.0.1 to the guest */
	char serial_socket[IVB_TP_PATH_LEN]; /* virtio-serial: QEMU's chardev socket */
	uint32_t vsock_cid;     /* vsock: the guest's CID (QEMU's guest-cid=); 0: none given */
	uint32_t vsock_port;    /* vsock: the port the guest listens on */
	const char *message_sizes_arg;
	struct ivb_frame message_sizes[IVB_MAX_FRAMES];
	size_t nmessage_sizes;
	struct ivb_plan plan; /* the above, as published to the guest */
};


/* Everything one run owns, so that every exit path can flush and record it. */
struct ivb_run {
	struct ivb_host_config cfg;
	struct ivb_mapping map;
	struct ivb_host host;
	struct ivb_manifest manifest;
	struct ivb_outputs out;
	struct ivb_perf perf;
	struct ivb_bell bell;
	struct ivb_noise noise; /* run.json's "noise": /proc around the tests */
	uint64_t last_send_ns; /* when the last message started, for --interval-us */
	char guest_summary_why[IVB_WHY_LEN];
	char why[4096 + IVB_WHY_LEN]; /* why the run stopped (a path and a reason fit), for stderr and run.json */
	char host_counters_missing[512], guest_counters_missing[512];
	char region_name[4096]; /* doorbell mode: the server's region as the kernel names it (cfg.shm_path) */
	bool guest_counters_reported;
	uint8_t *frame;     /* private source of each message */
	uint8_t *reference; /* private destination of the host's reference copy */
	size_t buffer_size;
	uint64_t messages_total, messages_done;
	uint64_t measured; /* measured messages sent so far; warm-up messages do not count */
	bool warmup_failed;
	uint64_t progress_last_ns;
	bool progress_tty;
	bool out_dir_ok, perf_open, bell_open; /* what the cleanup must undo or may use */
	/* Doorbell mode, several consumers: whether each waits on a vector of its own (ivb_consumers_vectors). */
	bool consumer_vectors_decided, consumer_vectors;
};

/* host_run.c */

/* A progress line on stderr: once a second, or a live counter on a terminal; force: now. */
void ivb_run_progress(struct ivb_run *run, const char *test, bool force);

/*
 * Every test in order: warm-up, latency, bandwidth per frame, reference per frame.
 * Returns: 0 when every test ran to its end (some iterations may have failed), or a negative
 * errno when the run had to stop (run->host.why says why).
 */
int ivb_run_all(struct ivb_run *run);

/* host_stream.c */

/*
 * The region bytes each planned stream needs (the largest), or the first that does not fit.
 * Returns: 0, or -ENOSPC with run->why saying which stream does not fit in `capacity`.
 */
int ivb_stream_fit(struct ivb_run *run, uint64_t capacity, uint64_t *largest);

/* The frame streams of the plan: each stream frame once per direction of --stream-direction. */
size_t ivb_frame_streams(const struct ivb_host_config *cfg);

/* run.json's stream records of one frame stream in `direction`: one per consumer of its ring on the host's side. */
uint32_t ivb_stream_records(const struct ivb_host_config *cfg, uint32_t direction);

/*
 * Every stream of the plan, one stream message each, after the lock-step tests.
 * Returns: 0 when every stream ran to its end (some frames may have failed), or a negative errno
 * when the run must stop (run->host.why says why); every frame's row is written first.
 */
int ivb_run_streams(struct ivb_run *run);


/* host_transport.c */

/*
 * Check --transport, --message-sizes and --corrupt-frame after the options are read, and plan the
 * transport tests and ivshmem's streams (the stream frames; in a comparison also each message size,
 * streamed and in ping-pong). Returns: 0, or -EINVAL with why (a usage error for main to print).
 */
int ivb_transport_configure(struct ivb_host_config *cfg, char *why, size_t n);

/* Whether the ivshmem stream test is part of this run (ivshmem in --transport). */
bool ivb_transport_wants_ivshmem(const struct ivb_host_config *cfg);

/* Fill run.json's transport entries from the configuration. */
void ivb_transport_init_manifest(struct ivb_run *run);

/*
 * Every planned transport test, one transport message each, after the streams.
 * Returns: 0 when each ran to its end (some frames may have failed), or a negative errno when the
 * run must stop (run->host.why says why); every row is written first.
 */
int ivb_run_transports(struct ivb_run *run);

/* host_output.c */

/* Create the output folder and open the CSV files this run writes. Returns: 0, or a negative errno (run->why). */
int ivb_output_open(struct ivb_run *run);
void ivb_output_close(struct ivb_run *run);

/* Create the output folder alone, so that run.json can be written. Returns: 0, or a negative errno (run->why). */
int ivb_output_make_dir(struct ivb_run *run);

/* Fill the manifest from the configuration; region_size 0: not known yet. */
void ivb_output_init_manifest(struct ivb_run *run, uint64_t region_size);

/* Write run.json with this status; a failure is said on stderr (nothing else can be done). */
void ivb_output_write_manifest(struct ivb_run *run, const char *status);

/* Record a failed message in run.json's failures (counted, not listed, past IVB_MAX_FAILURES). */
void ivb_output_record_failure(struct ivb_run *run, const char *test, const char *frame, uint64_t iteration,
			       const char *error);

/* Doorbell mode: the host's counts, into the manifest. */
void ivb_output_record_host_bell(struct ivb_run *run);

/* After a completed run: wait for the guest's CPU time and doorbell counts, into the manifest. */
void ivb_output_record_guest_summary(struct ivb_run *run);

/* Parse the command line into cfg, its plan included; a usage error exits with status 2 after one line. */
void ivb_host_parse_args(int argc, char **argv, struct ivb_host_config *cfg);

#endif /* IVB_HOST_H */
