/* bell.h: doorbell mode's notification, whichever way this side reaches the peer:
 *   - as a peer of an ivshmem server, over its UNIX socket (host_writer; guest_reader in loopback), or
 *   - through /dev/ivshmem-doorbell, the file of our guest driver (guest/ivshmem_doorbell), which rings
 *     through the ivshmem-doorbell device's Doorbell register and reads its MSI-X interrupts.
 * Either way a ring is a wake-up, never data: the waiter reads the state from the region again after it.
 */
#ifndef IVB_BELL_H
#define IVB_BELL_H

#include <stddef.h>
#include <stdint.h>

#include "ivpeer.h"

/* The driver names its files ivshmem-doorbell, ivshmem-doorbell1, 2, ...: this many are looked at. */
#define IVB_BELL_DEVICES_MAX 16
#define IVB_BELL_WHY_LEN 256u

struct ivb_bell {
	int id;     /* our ivshmem peer id */
	int dev_fd; /* the guest driver's file; -1: a server peer (link) */
	struct ivb_peer_link link;
	uint32_t dev_vectors;  /* the driver's: the device's vectors */
	uint32_t wait_vector;  /* the vector of ours that waits are on: 0 unless ivb_bell_wait_on said otherwise */
	/* What happened, for the manifest. */
	uint64_t rings_sent;
	uint64_t rings_received; /* waits that ended with a ring (several rings may be one) */
	uint64_t late_wakeups;   /* waits that found the state changed after a sleep slice without a ring */
};

/*
 * Open the doorbell at path: a UNIX socket is an ivshmem server (joined within timeout_ns; it may
 * not exist yet), a character device is the guest driver's file. With pci_name (a device's PCI
 * address), the driver's file must belong to that device.
 * Returns: 0, or a negative errno with a one-line reason in why.
 */
int ivb_bell_open(struct ivb_bell *b, const char *path, const char *pci_name, uint64_t timeout_ns, char *why,
		  size_t why_len);

/*
 * Find and open the driver's file of the device at pci_name among /dev/ivshmem-doorbell,
 * /dev/ivshmem-doorbell1, ... Returns: 0, or a negative errno with a one-line reason in why.
 */
int ivb_bell_open_device_of(struct ivb_bell *b, const char *dev_dir, const char *pci_name, char *why,
			    size_t why_len);

/* Whether peer id may be rung: a server peer knows; the driver cannot tell and accepts any id. */
int ivb_bell_known(struct ivb_bell *b, int peer);

/* Ring vector 0 of peer. Returns: 0 or a negative errno. */
int ivb_bell_ring(struct ivb_bell *b, int peer);

/*
 * Ring vector `vector` of peer (a server peer must hold that vector of it: -ENXIO otherwise; the driver
 * cannot tell and the device ignores a vector the peer does not have). Returns: 0 or a negative errno.
 */
int ivb_bell_ring_vector(struct ivb_bell *b, int peer, uint32_t vector);

/* Our interrupt vectors: the server's count per peer as far as it has arrived, or the device's. */
uint32_t ivb_bell_vectors(struct ivb_bell *b);

/*
 * From now on wait on our vector `vector` instead of vector 0 (a process of its own that the peer rings
 * there, e.g. one of several consumers). Returns: 0, -ENXIO (no such vector of ours), or -EOPNOTSUPP on the
 * driver's file (its reads are of vector 0).
 */
int ivb_bell_wait_on(struct ivb_bell *b, uint32_t vector);

/* Ring every other peer the server knows (a host that does not know its guest yet); the driver knows none. */
void ivb_bell_ring_all(struct ivb_bell *b);

/*
 * Several processes are about to wait on this bell (forked consumers): make its reads non-blocking, so that
 * when one ring wakes them all and one reads the count, the others' reads return at once instead of
 * sleeping until the next ring. Returns: 0, or a negative errno.
 */
int ivb_bell_share(struct ivb_bell *b);

/*
 * Every doorbell sleep is cut in slices of at most this, after which the sleeper looks at the shared state
 * again: a signal or a deadline is noticed in time, and a lost ring costs at most one slice.
 */
#define IVB_BELL_SLICE_NS (50ull * 1000 * 1000)

/*
 * Sleep until rung, or timeout_ns pass; consumes the rings.
 * Returns: 1 rung, 0 timed out, or a negative errno (-EINTR on a signal, -ENODEV: device gone).
 */
int ivb_bell_wait(struct ivb_bell *b, uint64_t timeout_ns);

/* Say on stderr, as prog, if waits ended on a sleep slice rather than a ring (nothing if none did). */
void ivb_bell_report_late(const struct ivb_bell *b, const char *prog);

void ivb_bell_close(struct ivb_bell *b);

#endif /* IVB_BELL_H */
