/*
 * ivserver.h: an ivshmem server, the program QEMU's ivshmem-doorbell device connects to through
 * `-chardev socket` (protocol: docs/specs/ivshmem-spec.rst in QEMU).
 *
 * The server listens on a UNIX socket. For every peer that connects it creates one eventfd per
 * interrupt vector and sends, as little-endian int64 messages, each possibly carrying one file
 * descriptor (SCM_RIGHTS):
 *   1. the protocol version, 0;
 *   2. the peer's id (0..65535, unique among connected peers);
 *   3. -1 with the shared-memory fd;
 *   4. for every other connected peer, its id once per vector with that vector's eventfd (to
 *      interrupt it);
 *   5. its own id once per vector with its own eventfds (to be interrupted).
 * Every other peer hears about the newcomer as in step 4. When a peer disconnects, the others get its
 * id with no fd. The connection is one-way: anything a peer sends counts as a disconnect.
 *
 * With many peers and vectors the handshake is more than a socket buffer holds (a 5th peer with 64
 * vectors gets 323 messages, each an skb of ~1 KiB): every peer has a queue of messages the server
 * sends as its socket drains (poll for POLLOUT), so the server never blocks on one peer and never
 * drops a peer that reads. A peer whose queue grows past twice a full handshake reads too slowly to
 * be served and is dropped.
 *
 * Peers never go through the server to interrupt each other: a peer writes the 8-byte value 1 to
 * the other's eventfd, and QEMU turns that into an MSI-X interrupt in its guest.
 */
#ifndef IVB_IVSERVER_H
#define IVB_IVSERVER_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* The version of the server protocol in the spec; a client closes the connection on any other. */
#define IVSERVER_PROTOCOL_VERSION 0
/* What a refused client gets instead: a version no one speaks, then end of file. A bare close is not
 * enough: QEMU (7.2 at least) loops forever at full CPU when the stream ends during its setup, while a
 * bad version makes it fail with "server sent version -1, expecting 0". */
#define IVSERVER_REFUSED_VERSION (-1)
/* Vectors per peer; QEMU has no such limit, but a bench needs one or two. */
#define IVSERVER_MAX_VECTORS 64u
/* Connected peers; ids are 16 bits (the Doorbell register's high half). */
#define IVSERVER_MAX_PEERS 1024u
/* Ids are 0..IVSERVER_MAX_ID. */
#define IVSERVER_MAX_ID 65535u
/* The smallest region worth serving: QEMU maps it as a PCI BAR, one page at least. */
#define IVSERVER_MIN_SHM_SIZE 4096u
/* File descriptors the server holds beside its peers': stdio, the listening socket, the region, the
 * reserve fd (see struct ivserver), a pid file being written, and some slack. */
#define IVSERVER_FD_MARGIN 16u
/* Length of a UNIX socket path, terminating NUL included (sizeof sun_path on Linux). */
#define IVSERVER_SOCK_PATH_LEN 108u

/* A message waiting to be sent: fd is the server's own (a peer's eventfd or the region), or -1. */
struct ivserver_msg {
	int64_t value;
	int fd;
};

/* One connected peer. A free slot has sock_fd -1. */
struct ivserver_peer {
	int sock_fd;                            /* connected socket */
	uint16_t id;                            /* the id the peer was given */
	bool broken;                            /* a send failed: to be dropped */
	int vectors[IVSERVER_MAX_VECTORS];      /* eventfd per vector; the peer reads, others write */
	struct ivserver_msg *out;               /* messages not yet sent: out[out_head..out_len) */
	size_t out_head, out_len, out_cap;
};

/* The server: listening socket, shared memory, peer table. */
struct ivserver {
	char sock_path[IVSERVER_SOCK_PATH_LEN]; /* bound path, empty when not listening */
	dev_t sock_dev;                         /* device and inode of the socket file we bound, */
	ino_t sock_ino;                         /* so that close never unlinks someone else's */
	int sock_fd;                            /* listening socket, -1 when not listening */
	int shm_fd;                             /* shared memory, -1 when not open */
	uint64_t shm_size;                      /* bytes */
	unsigned n_vectors;                     /* eventfds per peer */
	unsigned max_peers;                     /* more connections are refused */
	unsigned n_peers;                       /* connected peers */
	unsigned next_id;                       /* the id to try first for the next peer */
	struct ivserver_peer *peers;            /* max_peers slots */
	size_t queue_max;                       /* a peer with more messages waiting is dropped */
	int reserve_fd;                         /* closed to accept (and refuse) a client when out of fds */
	FILE *log;                              /* one line per event, or NULL for silence */
};

/*
 * Initialize a server with no socket and no shared memory yet.
 *
 * @s:         The server structure to fill
 * @n_vectors: Eventfds per peer, 1..IVSERVER_MAX_VECTORS
 * @max_peers: Connections beyond this number are refused, 1..IVSERVER_MAX_PEERS
 * @log:       Where to print one line per join, leave and refusal, or NULL
 *
 * Returns: 0 on success, or a negative value on error (-EINVAL: a count out of range, -ENOMEM)
 */
int ivserver_init(struct ivserver *s, unsigned n_vectors, unsigned max_peers, FILE *log);

/*
 * Check that the server can hold the fds of max_peers peers with n_vectors each (1 + n_vectors
 * apiece, plus IVSERVER_FD_MARGIN), raising the soft RLIMIT_NOFILE towards the hard one if needed.
 *
 * @n_vectors: Eventfds per peer
 * @max_peers: Peers to serve at once
 * @needed:    Receives the fds needed
 * @limit:     Receives the soft limit after any raise
 *
 * Returns: 0 on success, or a negative value on error (-EMFILE: the limit is below what is needed;
 * or another negative errno from getrlimit/setrlimit)
 */
int ivserver_check_fd_limit(unsigned n_vectors, unsigned max_peers, uint64_t *needed, uint64_t *limit);

/*
 * Open the shared-memory file, creating it (mode 0600) if it does not exist. A symbolic link is
 * refused. The file is grown to size if it is smaller, never shrunk (a running QEMU or host_writer
 * may map it); size 0 means the file's current size, or default_size for a new or empty file.
 * QEMU maps the region as a PCI BAR, so its size must be a power of two.
 *
 * @s:            The initialized server; its shm_fd and shm_size are set
 * @path:         The file, e.g. /dev/shm/ivshmem
 * @size:         Bytes wanted, or 0
 * @default_size: Bytes for a new file when size is 0
 *
 * Returns: 0 on success, or a negative value on error (-ELOOP: path is a symbolic link; -EINVAL:
 * not a regular file; -EDOM: the size is not a power of two or below IVSERVER_MIN_SHM_SIZE;
 * -EBUSY: a shared-memory file is already open; or another negative errno)
 */
int ivserver_open_shm(struct ivserver *s, const char *path, uint64_t size, uint64_t default_size);

/*
 * Create the UNIX socket at path, mode 0600, and listen on it. A stale socket left by a server that
 * died is replaced; a socket another server listens on, or any other file, is left alone.
 *
 * @s:    The initialized server
 * @path: Where to bind the socket
 *
 * Returns: 0 on success, or a negative value on error (-ENAMETOOLONG; -EADDRINUSE: a server is
 * listening there; -EEXIST: path exists and is not a socket of ours; -EBUSY: already listening;
 * or another negative errno, e.g. -ENOENT when the folder does not exist)
 */
int ivserver_listen(struct ivserver *s, const char *path);

/*
 * Find the default socket path and create its folder (mode 0700) if needed:
 * $XDG_RUNTIME_DIR/ivshmem-bench/ivshmem.sock, or /run/ivshmem-bench/ivshmem.sock for root when
 * XDG_RUNTIME_DIR is unset. An existing folder must belong to us and be closed to others.
 *
 * @buf: Receives the path
 * @len: Size of buf
 *
 * Returns: 0 on success, or a negative value on error (-ENOENT: no runtime folder, i.e. not root
 * and XDG_RUNTIME_DIR unset or relative; -EPERM: the folder is not ours or is open to others;
 * -ENAMETOOLONG; or another negative errno)
 */
int ivserver_default_socket_path(char *buf, size_t len);

/*
 * Accept one pending connection. When max_peers are connected, or the server has no fd left for the
 * connection or its eventfds, the new connection gets IVSERVER_REFUSED_VERSION and is closed at once.
 * Otherwise the new peer gets an id and its eventfds, and the handshake above is queued for it and
 * the others, and sent as far as their sockets take it (the rest when poll says they drain). Peers
 * whose socket fails on the way are dropped (and the others told).
 *
 * @s: The listening server
 *
 * Returns: the new peer's id (0..65535) on success, or a negative value on error (-EUSERS: refused,
 * max_peers reached; -EMFILE or -ENFILE: refused, out of fds; -EAGAIN: nothing to accept; -EPIPE:
 * the new peer went away during the handshake; or another negative errno)
 */
int ivserver_accept(struct ivserver *s);

/*
 * Drop a peer: close its socket and eventfds, and tell every other peer it left.
 *
 * @s:  The server
 * @id: The peer's id
 *
 * Returns: 0 on success, or a negative value on error (-ENOENT: no such peer)
 */
int ivserver_disconnect(struct ivserver *s, unsigned id);

/*
 * Fill fds with what the server waits on: the listening socket, then every peer's socket (for
 * POLLIN, and POLLOUT while messages wait for it).
 *
 * @s:   The server
 * @fds: At least 1 + max_peers entries
 * @max: Entries in fds
 *
 * Returns: the number of entries filled
 */
size_t ivserver_pollfds(const struct ivserver *s, struct pollfd *fds, size_t max);

/*
 * Handle what poll() reported on the entries ivserver_pollfds() filled: peers that hung up or sent
 * anything are dropped first (so that a peer reconnecting finds its old slot free), then a pending
 * connection is accepted or refused. Peers whose socket drained get their waiting messages.
 *
 * @s:   The server
 * @fds: The entries after poll()
 * @n:   Their number
 *
 * Returns: 0 on success, or a negative value on error (an accept failure that is not about one
 * client, e.g. -ENOMEM; running out of fds refuses one client and returns 0)
 */
int ivserver_handle_pollfds(struct ivserver *s, const struct pollfd *fds, size_t n);

/*
 * Find a connected peer.
 *
 * @s:  The server
 * @id: The peer's id
 *
 * Returns: the peer, or NULL if none has that id
 */
struct ivserver_peer *ivserver_find_peer(struct ivserver *s, unsigned id);

/*
 * Close every peer connection, the socket (its file is unlinked if it is still the one we bound) and
 * the shared memory, and free the peer table. Safe on a server that init left zeroed or that is
 * already closed.
 *
 * @s: The server
 */
void ivserver_close(struct ivserver *s);

#endif /* IVB_IVSERVER_H */
