/* transport.h: the other ways a host and a guest can talk, carrying the same frames as the ring.
 *
 * A transport test is one message of kind IVB_MSG_TRANSPORT (common.h): its data is a struct
 * ivb_tp_spec that names the transport, its address and the test. The host listens first, then
 * sends the message; the guest connects, takes frames until the host's END, answers with its
 * RESULT and acknowledges the message through the region.
 *
 * On the connection every record starts with a struct ivb_tp_hdr (host byte order, both ends run
 * on one machine or on a VM of the same architecture):
 *
 *   host  -> guest   FRAME   seq, len payload bytes (sequence stamp first, ring.h), checksum
 *   guest -> host    HELLO   (pipe, virtio-serial, virtio-net, vsock) the guest has opened its end;
 *                            the host's accept is this record (a pipe's host answers it)
 *   guest -> host    ACK     seq, status (enum ivb_ring_status), a: copy ns, b: verify ns (guest clock)
 *   host  -> guest   END     seq: frames sent; no FRAME follows
 *   guest -> host    RESULT  a: the guest's CPU ns over the test, b: frames taken, seq: frames verified
 *
 * Everything the peer writes is untrusted: ivb_tp_parse_hdr bounds every field before use.
 * Helpers return 0 or a negative errno: -ETIMEDOUT (deadline passed), -EPIPE (the peer closed
 * or reset the connection), -EPROTO (it wrote something out of range), -EINTR (stop requested).
 */
#ifndef IVB_TRANSPORT_H
#define IVB_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "defaults.h"
#include "ring.h"

enum ivb_transport {
	IVB_TP_IVSHMEM = 1, /* the region's ring (ring.h): not a connection */
	IVB_TP_UNIX = 2,    /* AF_UNIX stream socket, a path with mode 0600 */
	IVB_TP_TCP = 3,     /* TCP on 127.0.0.1 */
	IVB_TP_PIPE = 4,    /* two FIFOs (host to guest, guest to host), mode 0600 */
	IVB_TP_VSOCK = 5,   /* AF_VSOCK: the guest listens on a port of any of its CIDs, the host connects to the
			     * guest's CID (QEMU's vhost-vsock-pci guest-cid=) */
	IVB_TP_VIRTIO_SERIAL = 6, /* a virtserialport: the host connects to QEMU's chardev socket, the guest opens the port */
	IVB_TP_VIRTIO_NET = 7,    /* TCP through QEMU's user network: the guest listens, the host connects to the port
				   * QEMU forwards from 127.0.0.1 */
};
#define IVB_TP_MAX IVB_TP_VIRTIO_NET
#define IVB_VHOST_VSOCK "/dev/vhost-vsock"
#define IVB_TP_COUNT (IVB_TP_MAX + 1)

/* What a transport test sends. */
enum ivb_tp_test {
	IVB_TP_TEST_FRAMES = 1,   /* stream frames, window frames in flight */
	IVB_TP_TEST_MESSAGES = 2, /* small messages streamed, window in flight */
	IVB_TP_TEST_PINGPONG = 3, /* one message in flight: each latency is a round trip */
};
#define IVB_TP_TEST_MAX IVB_TP_TEST_PINGPONG

#define IVB_TP_SPEC_MAGIC 0x54504256u /* "VBPT" in memory order */
#define IVB_TP_PATH_LEN 108u          /* sun_path */
#define IVB_TP_MAX_PAYLOAD (256ull << 20)
#define IVB_TP_MAX_WINDOW IVB_RING_MAX_SLOTS
#define IVB_TP_SERIAL_PORT IVB_SERIAL_PORT_NAME /* defaults.h: run_test.sh names QEMU's port with it */
/* vsock: a CID or port of 0xffffffff means any (VMADDR_CID_ANY, VMADDR_PORT_ANY), never one to connect to;
 * CID 0 is the hypervisor's. 1 is this machine (the loopback transport), 2 the host, 3 and up guests. */
#define IVB_TP_VSOCK_MIN_CID 1u
#define IVB_TP_VSOCK_MAX 0xfffffffeu

/* The message's data: host-owned, untrusted on the guest side (ivb_tp_check_spec). */
struct ivb_tp_spec {
	uint32_t magic;
	uint32_t transport; /* enum ivb_transport, never IVB_TP_IVSHMEM */
	uint32_t test;      /* enum ivb_tp_test */
	uint32_t verify;    /* enum ivb_ring_verify */
	uint64_t size;      /* bytes of every frame, stamp included */
	uint32_t window;    /* frames in flight at most */
	uint32_t port;      /* tcp: on 127.0.0.1; virtio-net, vsock: the guest's listening port */
	char path[IVB_TP_PATH_LEN]; /* unix: the socket; pipe: the FIFOs' stem (.h2g, .g2h); virtio-serial: the
				     * port's name; NUL-terminated */
	uint8_t pad[52];
};
_Static_assert(sizeof(struct ivb_tp_spec) == 3 * IVB_CACHE_LINE, "the spec is three lines");
_Static_assert(offsetof(struct ivb_tp_spec, size) == 16, "spec layout");
_Static_assert(offsetof(struct ivb_tp_spec, path) == 32, "spec layout");

enum ivb_tp_type {
	IVB_TP_FRAME = 1,
	IVB_TP_HELLO = 2,
	IVB_TP_ACK = 3,
	IVB_TP_END = 4,
	IVB_TP_RESULT = 5,
};
#define IVB_TP_TYPE_MAX IVB_TP_RESULT
#define IVB_TP_BIT(type) (1u << (type))

#define IVB_TP_HDR_MAGIC 0x52485456u /* "VTHR" in memory order */

/* A record's header on the connection. */
struct ivb_tp_hdr {
	uint32_t magic;
	uint16_t type;   /* enum ivb_tp_type */
	uint16_t status; /* ACK: enum ivb_ring_status; else 0 */
	uint64_t seq;
	uint64_t len;    /* FRAME: payload bytes that follow; else 0 */
	uint64_t a, b;   /* see the table above */
	uint8_t checksum[IVB_RING_CHECKSUM_LEN];
};
_Static_assert(sizeof(struct ivb_tp_hdr) == 72, "the record header is 72 bytes, no padding");
#define IVB_TP_HDR_LEN ((size_t)sizeof(struct ivb_tp_hdr))

/* Receive buffer: records arrive in pieces; a header is parsed only once whole. */
#define IVB_TP_RXBUF 4096u
struct ivb_tp_conn {
	int rfd, wfd; /* the same socket, or two FIFOs; -1: closed. Non-blocking. */
	size_t off, have;
	uint8_t rx[IVB_TP_RXBUF];
};

/* Where a host listens until the guest comes (virtio-serial, virtio-net, vsock: its connection to QEMU or the guest). */
struct ivb_tp_listener {
	enum ivb_transport transport;
	int fd;
	bool connecting;            /* virtio-net, vsock: fd's connect is under way */
	uint32_t port;              /* virtio-net: QEMU's forwarded port on 127.0.0.1; vsock: the guest's port */
	uint32_t cid;               /* vsock: the guest's CID */
	char path[IVB_TP_PATH_LEN]; /* removed by ivb_tp_unlisten (not virtio-serial's: QEMU's socket) */
};

/* The name of a transport ("ivshmem", "unix", "tcp", "pipe", "vsock", "virtio-serial", "virtio-net") and back
 * (-EINVAL). */
const char *ivb_tp_name(uint32_t transport);
int ivb_tp_parse(const char *s, enum ivb_transport *out);
const char *ivb_tp_test_name(uint32_t test);

/*
 * Whether this host can run transport t: vsock needs AF_VSOCK sockets (the kernel's vsock module).
 * Returns: 0, or -ENODEV with why saying what is missing.
 */
int ivb_tp_available(enum ivb_transport t, char *why, size_t n);

/*
 * Check a spec read from the region (untrusted) before using any field.
 * Returns: 0, or -EPROTO with why saying which field is out of range.
 */
int ivb_tp_check_spec(const struct ivb_tp_spec *s, char *why, size_t n);

/*
 * Parse the header at buf (IVB_TP_HDR_LEN bytes, untrusted): magic, a type in `types` (IVB_TP_BIT
 * mask), a FRAME's length in [IVB_RING_STAMP_LEN, max_len] (0 for the others), an ACK's status and
 * durations within range. Returns: 0, or -EPROTO with why.
 */
int ivb_tp_parse_hdr(const uint8_t *buf, uint32_t types, uint64_t max_len, struct ivb_tp_hdr *h, char *why,
		     size_t n);

/* A connection on fds (made non-blocking; the same fd twice for a socket). */
void ivb_tp_conn_init(struct ivb_tp_conn *c, int rfd, int wfd);
void ivb_tp_close(struct ivb_tp_conn *c);

/*
 * Write a header and then len bytes of payload (NULL, 0: none), however many calls it takes, by
 * the deadline (host clock). Returns: 0, -ETIMEDOUT, -EPIPE, -EINTR, or a negative errno.
 */
int ivb_tp_send(struct ivb_tp_conn *c, const struct ivb_tp_hdr *h, const void *payload, size_t len,
		uint64_t deadline_ns);

/*
 * The next header, parsed as ivb_tp_parse_hdr does. wait false: return -EAGAIN at once when no whole
 * header has arrived. Returns: 0, -EAGAIN, -ETIMEDOUT, -EPIPE, -EPROTO (why), -EINTR.
 */
int ivb_tp_recv_hdr(struct ivb_tp_conn *c, bool wait, uint64_t deadline_ns, uint32_t types, uint64_t max_len,
		    struct ivb_tp_hdr *h, char *why, size_t n);

/* Exactly len bytes (a FRAME's payload) into dst by the deadline. Returns: as ivb_tp_recv_hdr. */
int ivb_tp_recv_payload(struct ivb_tp_conn *c, void *dst, size_t len, uint64_t deadline_ns);

/*
 * Host: make the transport's endpoint and fill spec's address: a socket or FIFOs under dir, a TCP
 * port on 127.0.0.1 (port 0: the kernel's choice); virtio-serial: connect to QEMU's chardev socket
 * (dir is its path); virtio-net: the port QEMU forwards; vsock: the guest's cid and port (nothing to
 * open yet for either). Returns: 0, or a negative errno (why).
 */
int ivb_tp_listen(struct ivb_tp_listener *l, enum ivb_transport t, const char *dir, uint32_t port, uint32_t cid,
		  struct ivb_tp_spec *spec, char *why, size_t n);

/*
 * Host: wait until the deadline for the guest's connection. Returns: 0, -ETIMEDOUT (try again: the
 * caller checks the region in between), -EPROTO (a pipe's first record is not HELLO), or a negative errno.
 */
int ivb_tp_accept(struct ivb_tp_listener *l, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why, size_t n);

/* Host: close the endpoint and remove its files. */
void ivb_tp_unlisten(struct ivb_tp_listener *l);

/* Guest: connect to what spec names by the deadline. Returns: 0, or a negative errno (why). */
int ivb_tp_connect(const struct ivb_tp_spec *spec, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why,
		   size_t n);

/* The per-transport modules (transport_<name>.c), behind ivb_tp_listen/accept/connect. */
int ivb_tp_unix_listen(struct ivb_tp_listener *l, const char *dir, struct ivb_tp_spec *spec, char *why, size_t n);
int ivb_tp_unix_connect(const struct ivb_tp_spec *spec, struct ivb_tp_conn *c, char *why, size_t n);
int ivb_tp_tcp_listen(struct ivb_tp_listener *l, uint32_t port, struct ivb_tp_spec *spec, char *why, size_t n);
int ivb_tp_tcp_connect(const struct ivb_tp_spec *spec, struct ivb_tp_conn *c, char *why, size_t n);
int ivb_tp_pipe_listen(struct ivb_tp_listener *l, const char *dir, struct ivb_tp_spec *spec, char *why, size_t n);
int ivb_tp_pipe_accept(struct ivb_tp_listener *l, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why, size_t n);
int ivb_tp_pipe_connect(const struct ivb_tp_spec *spec, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why,
			size_t n);
int ivb_tp_serial_listen(struct ivb_tp_listener *l, const char *socket_path, struct ivb_tp_spec *spec, char *why,
			 size_t n);
int ivb_tp_serial_connect(const struct ivb_tp_spec *spec, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why,
			  size_t n);
int ivb_tp_net_accept(struct ivb_tp_listener *l, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why, size_t n);
int ivb_tp_net_connect(const struct ivb_tp_spec *spec, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why,
		       size_t n);
int ivb_tp_vsock_accept(struct ivb_tp_listener *l, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why, size_t n);
int ivb_tp_vsock_connect(const struct ivb_tp_spec *spec, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why,
			 size_t n);
/* A vsock address: family, cid and port, the rest zero (the kernel rejects other flags). */
struct sockaddr_vm;
void ivb_tp_vsock_addr(struct sockaddr_vm *a, uint32_t cid, uint32_t port);
/* Whether this kernel offers AF_VSOCK stream sockets. Returns: 0, or a negative errno. */
int ivb_tp_vsock_probe(void);
/* Host: the guest's HELLO on the listener's connection by the deadline (moves the fd into c). */
int ivb_tp_hello_accept(struct ivb_tp_listener *l, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why, size_t n);
/* Guest: say HELLO on a connection just made. */
int ivb_tp_say_hello(struct ivb_tp_conn *c, uint64_t deadline_ns, char *why, size_t n);
/* why = "what: strerror(err)". Returns: -err. */
int ivb_tp_fail(char *why, size_t n, int err, const char *what);
/* TCP_NODELAY on fd: every record goes out when written, as a ping-pong needs. */
void ivb_tp_no_delay(int fd);
/* A socket listener's connection by the deadline (unix, tcp). */
int ivb_tp_socket_accept(struct ivb_tp_listener *l, uint64_t deadline_ns, struct ivb_tp_conn *c, char *why, size_t n);
/* Wait for fd to be ready for events by the deadline: 1 ready, 0 deadline, -EINTR on a stop request. */
int ivb_tp_poll(int fd, short events, uint64_t deadline_ns);

#endif /* IVB_TRANSPORT_H */
