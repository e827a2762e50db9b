/* guest.h: what the parts of guest_reader share.
 *
 *   guest_reader.c   main: map, bind to the host, serve, one cleanup path
 *   guest_options.c  the options
 *   guest_map.c      mapping the region: the /dev/shm file (loopback) or BAR2 of the PCI device
 *   guest_serve.c    the message loop: the phases of each message, the stream consumer, the run's summary
 *   guest_produce.c  a guest-to-host stream: the guest producing through its mapping
 *   guest_transport.c a transport message: the same frames over a socket or FIFOs (transport.h)
 *   map_study.c      the same phases through each mapping of BAR2 (uc, wc, wb)
 *   pci.c            finding the ivshmem device and mapping its BAR2
 */
#ifndef IVB_GUEST_H
#define IVB_GUEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "map_study.h"
#include "perfctr.h"
#include "phases.h"
#include "protocol.h"
#include "region.h"
#include "ring.h"

#define PROG "guest_reader"
#define MAP_DEFAULT "uc"

struct ivb_reader_config {
	const char *shm_path; /* loopback when set */
	const char *device;   /* PCI address, or NULL for the first ivshmem device */
	const char *sysfs_root;
	bool doorbell_mode;
	const char *doorbell; /* a server's socket or the driver's file; NULL: the driver's file of our device */
	bool server_region;   /* loopback doorbell mode through a server: the region is the one it shares */
	const char *dev_dir;  /* where the driver's files are (/dev) */
	bool wc;
	bool wb;              /* through our driver's /dev/ivshmem-region */
	uint64_t timeout_s;
	uint64_t connect_timeout_s; /* the wait for the host (and, in loopback, its file) to come */
};

/* Counts of one run. */
struct ivb_reader_tally {
	uint64_t messages;
	uint64_t verified;
	uint64_t failed;
	uint64_t stream_frames_failed; /* stream frames whose check failed (the exit status says so) */
	/* The stream and transport messages: left out of the summary's CPU and messages (each reports its own). */
	uint64_t streams;
	double stream_user_s, stream_sys_s, stream_wall_s;
};

/* What the guest works with besides the region. */
struct ivb_reader_workspace {
	uint8_t *copy;        /* phase C's destination, pre-faulted */
	uint8_t *private_src; /* reference messages: a private copy of the data */
	size_t buffer_size;   /* of copy and private_src: the largest message so far */
	struct ivb_perf perf;
	struct ivb_huge_buffer huge; /* the write study's huge-page buffer, made on first use */
	bool huge_tried;
	struct ivb_guest *g;
	struct ivb_map_set study; /* the map study's mappings, made on its first message */
};


/* Parse the command line into cfg; a usage error exits with status 2 after one line. */
void ivb_reader_parse_args(int argc, char **argv, struct ivb_reader_config *cfg);

/* Map the region the options name (the /dev/shm file, or BAR2 of the PCI device). Returns: 0, or a negative errno after saying why. */
int ivb_reader_map_region(const struct ivb_reader_config *cfg, struct ivb_mapping *map);

/*
 * Loopback doorbell mode: map the region the ivshmem server bell joined shares; --shm, if given, must name that
 * file. name gets the region's name for messages. Returns: 0, or a negative errno after saying why.
 */
int ivb_reader_map_server_region(const struct ivb_reader_config *cfg, const struct ivb_bell *bell,
				 struct ivb_mapping *map, char *name, size_t name_len);

/* What the host learns of the mapping: its kind, size, device, memory type, and the guest's kernel. */
void ivb_reader_describe(const struct ivb_mapping *map, struct ivb_guest_info *info);

/* Serve messages until the host completes the run. Returns: 0 when it did, or a negative errno (g->why says why). */
int ivb_reader_serve(struct ivb_guest *g, struct ivb_reader_workspace *w, struct ivb_reader_tally *t);

/* A transport message: connect, take the host's frames until its end, report. Returns: enum ivb_msg_error. */
uint32_t ivb_reader_transport(struct ivb_reader_workspace *w, const uint8_t *shared, const struct ivb_message *msg);

/*
 * A guest-to-host stream: lay out the ring the host's spec asks for (geometry g) at `ring`, fill its frames from the
 * spec's seed, produce for its seconds; the totals go to the region's guest stream line. bell: the bell to ring and
 * wait on (NULL: polling); check(check_arg): the host's liveness; failed: as ivb_reader_stream_failed.
 * Returns: enum ivb_msg_error.
 */
uint32_t ivb_reader_produce(struct ivb_reader_workspace *w, struct ivb_bell *bell, uint8_t *ring,
			    const struct ivb_message *msg, const struct ivb_stream_spec *spec,
			    const struct ivb_ring_geometry *g, int (*check)(void *arg, char *why, size_t whylen),
			    void *check_arg, atomic_int *failed, struct ivb_reader_tally *tally);

/*
 * A stream role failed: say why on stderr, unless it is one of a duplex stream's two roles (failed not NULL) and
 * the other failed first (then its reason is the stream's, and this one stopped because of it). Sets *failed.
 */
void ivb_reader_stream_failed(atomic_int *failed, const char *why);

/* The run is complete: tell the host what it cost this side. */
void ivb_reader_publish_summary(struct ivb_guest *g, const struct ivb_cpu_span *cpu, const struct ivb_reader_tally *t);

#endif /* IVB_GUEST_H */
