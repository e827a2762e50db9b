/* ivpeer.h: a peer of an ivshmem server (QEMU docs/specs/ivshmem-spec.rst), as QEMU's
 * ivshmem-doorbell is one: our id, our eventfd per interrupt vector, and the other peers' eventfds. */
#ifndef IVB_IVPEER_H
#define IVB_IVPEER_H

#include <stddef.h>
#include <stdint.h>

#define IVB_PEER_MAX 16u
/* Peer ids are 16 bits (the Doorbell register's high half). */
#define IVB_PEER_ID_MAX 65535
/* Interrupt vectors kept per peer, ours and each other's (one per stream consumer at most: ring.h's 8);
 * a server's further vectors are closed as they come. */
#define IVB_PEER_VECTORS 8u

struct ivb_peer_link {
	int sock;
	int id;     /* ours, 0..65535 */
	int own_fd; /* our vector 0 eventfd: the other peers ring it */
	int own_more[IVB_PEER_VECTORS - 1]; /* our vectors 1, 2, ...: own_nmore of them */
	uint32_t own_nmore;
	int shm_fd; /* the region the server shares (the programs map a copy of it); -1: none */
	struct {
		int id;
		int fd; /* its vector 0 eventfd: we ring it */
		int more[IVB_PEER_VECTORS - 1]; /* its vectors 1, 2, ...: nmore of them */
		uint32_t nmore;
	} peers[IVB_PEER_MAX];
	size_t npeers;
	/* A server message read in part (a stream may deliver it in pieces): its bytes so far, and the fd
	 * that came with its first byte (meaningful only while part_len > 0). */
	unsigned char part[8];
	size_t part_len;
	int part_fd;
};

/*
 * Connect to the server's socket at path and read the handshake, within timeout_ns: no read waits
 * past it, even on a server that stops in the middle of a message.
 * The region's fd the server sends is kept in shm_fd: a peer maps that region, never another one.
 * Returns: 0, -ETIMEDOUT, -EPROTO (not the spec's handshake, refused, values out of range, fds where
 * none belong or too many), or a negative errno. On error every fd received is closed.
 */
int ivb_peer_connect(struct ivb_peer_link *p, const char *path, uint64_t timeout_ns);

/* Read the join and leave messages the server has sent since, without waiting: a message that has
 * not all arrived is kept for the next call. Returns: 0, -EPROTO or -ECONNRESET. */
int ivb_peer_update(struct ivb_peer_link *p);

/* Whether peer id is connected to the server (after reading any pending join and leave). */
int ivb_peer_known(struct ivb_peer_link *p, int id);

/* Ring peer id's vector 0. Returns: 0, -ENOENT (no such peer, even after an update), or a negative errno. */
int ivb_peer_ring(struct ivb_peer_link *p, int id);

/* Ring peer id's vector `vector`. Returns: as ivb_peer_ring, or -ENXIO when we hold no such vector of it. */
int ivb_peer_ring_vector(struct ivb_peer_link *p, int id, uint32_t vector);

/* Our vectors held so far (1 + own_nmore; 0 before the handshake), after reading any pending message. */
uint32_t ivb_peer_own_vectors(struct ivb_peer_link *p);

/* Our eventfd of vector `vector`, or -1 when we hold none. */
int ivb_peer_own_fd(const struct ivb_peer_link *p, uint32_t vector);

/* Close the link and every fd it holds, the region's too (a mapping of it stays valid). */
void ivb_peer_close(struct ivb_peer_link *p);

#endif /* IVB_IVPEER_H */
