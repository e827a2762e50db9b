/* test_transport.c: the framing of transport.h against hostile records, records in pieces, a closed peer
 * and a silent one; each transport's endpoints (mode 0600, 127.0.0.1) with both sides as threads. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "check.h"
#include "clock.h"
#include "scratch.h"
#include "stream.h"
#include "transport.h"

#define MS (1000ull * 1000ull)
#define LONG_NS (10ull * IVB_NS_PER_SEC)
#define BIG (1u << 20) /* larger than a socket's buffer: the send takes many writes */

static char tmpdir[] = "/tmp/ivb-test-transport.XXXXXX";
static char why[256];

static struct ivb_tp_hdr valid_frame(uint64_t len)
{
	return (struct ivb_tp_hdr){ .magic = IVB_TP_HDR_MAGIC, .type = IVB_TP_FRAME, .seq = 7, .len = len };
}

static int parse(const struct ivb_tp_hdr *h, uint32_t types, uint64_t max_len)
{
	struct ivb_tp_hdr out;

	return ivb_tp_parse_hdr((const uint8_t *)h, types, max_len, &out, why, sizeof(why));
}

static void test_hostile_headers_rejected(void)
{
	const uint32_t frames = IVB_TP_BIT(IVB_TP_FRAME) | IVB_TP_BIT(IVB_TP_END);
	struct ivb_tp_hdr h = valid_frame(4096);

	CHECK(parse(&h, frames, 4096) == 0);
	h.magic ^= 1;
	CHECK(parse(&h, frames, 4096) == -EPROTO);
	h = valid_frame(4097); /* one byte past the agreed frame size */
	CHECK(parse(&h, frames, 4096) == -EPROTO);
	h = valid_frame(UINT64_MAX);
	CHECK(parse(&h, frames, 4096) == -EPROTO);
	h = valid_frame(IVB_RING_STAMP_LEN - 1); /* no room for the sequence stamp */
	CHECK(parse(&h, frames, 4096) == -EPROTO);
	h = valid_frame(0);
	h.type = 0;
	CHECK(parse(&h, frames, 4096) == -EPROTO);
	h.type = IVB_TP_TYPE_MAX + 1;
	CHECK(parse(&h, frames, 4096) == -EPROTO);
	h.type = 31; /* a bit that the mask could hold, no type */
	CHECK(parse(&h, 0xffffffffu, 4096) == -EPROTO);
	h.type = IVB_TP_ACK; /* a valid type where it may not come */
	h.status = IVB_FRAME_OK;
	CHECK(parse(&h, frames, 4096) == -EPROTO);
	CHECK(parse(&h, IVB_TP_BIT(IVB_TP_ACK), 0) == 0);
	h.len = 1; /* an acknowledgement carries no payload */
	CHECK(parse(&h, IVB_TP_BIT(IVB_TP_ACK), 0) == -EPROTO);
	h.len = 0;
	h.status = IVB_FRAME_STATUS_MAX + 1;
	CHECK(parse(&h, IVB_TP_BIT(IVB_TP_ACK), 0) == -EPROTO);
	h.status = IVB_FRAME_OK;
	h.a = UINT64_MAX; /* a copy longer than any run */
	CHECK(parse(&h, IVB_TP_BIT(IVB_TP_ACK), 0) == -EPROTO);
	h = (struct ivb_tp_hdr){ .magic = IVB_TP_HDR_MAGIC, .type = IVB_TP_END, .status = 1 };
	CHECK(parse(&h, frames, 4096) == -EPROTO);
}

static struct ivb_tp_spec valid_spec(void)
{
	struct ivb_tp_spec s = { .magic = IVB_TP_SPEC_MAGIC, .transport = IVB_TP_UNIX, .test = IVB_TP_TEST_FRAMES,
				 .verify = IVB_VERIFY_XXH3, .size = 4096, .window = 3 };

	snprintf(s.path, sizeof(s.path), "/tmp/x.sock");
	return s;
}

static void test_hostile_specs_rejected(void)
{
	struct ivb_tp_spec s = valid_spec();

	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == 0);
	s.magic = 0;
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO);
	s = valid_spec();
	s.transport = IVB_TP_IVSHMEM; /* not a connection */
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO);
	s.transport = IVB_TP_MAX + 1;
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO);
	s.transport = IVB_TP_VSOCK; /* without a port to listen on */
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO);
	s = valid_spec();
	s.test = 0;
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO);
	s = valid_spec();
	s.verify = 9;
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO);
	s = valid_spec();
	s.size = IVB_TP_MAX_PAYLOAD + 1;
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO);
	s.size = 8;
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO);
	s = valid_spec();
	s.window = 0;
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO);
	s.window = IVB_TP_MAX_WINDOW + 1;
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO);
	s = valid_spec();
	memset(s.path, 'a', sizeof(s.path)); /* no terminating NUL */
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO);
	s = valid_spec();
	snprintf(s.path, sizeof(s.path), "relative.sock");
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO);
	s = valid_spec();
	s.transport = IVB_TP_TCP;
	s.port = 70000;
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO);
	s.port = 5000;
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == 0);
	s.transport = IVB_TP_VIRTIO_NET; /* a port, as tcp's */
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == 0);
	s.port = 0;
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO);
	s = valid_spec();
	s.transport = IVB_TP_VIRTIO_SERIAL; /* a port's name, looked up in sysfs: never a path */
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO);
	snprintf(s.path, sizeof(s.path), "..");
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO);
	s.path[0] = '\0';
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO);
	snprintf(s.path, sizeof(s.path), "%s", IVB_TP_SERIAL_PORT);
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == 0);
}

/* A header that arrives a byte at a time is parsed once whole, never before; the payload follows it. */
static void test_record_in_pieces(void)
{
	int sv[2];
	struct ivb_tp_conn rx;
	struct ivb_tp_hdr h = valid_frame(64), got;
	uint8_t payload[64], back[64];
	const uint8_t *bytes = (const uint8_t *)&h;

	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ivb_tp_conn_init(&rx, sv[0], sv[0]);
	for (size_t i = 0; i < IVB_TP_HDR_LEN; i++) {
		CHECK(ivb_tp_recv_hdr(&rx, false, 0, IVB_TP_BIT(IVB_TP_FRAME), 64, &got, why, sizeof(why)) == -EAGAIN);
		CHECK(write(sv[1], bytes + i, 1) == 1);
	}
	CHECK(write(sv[1], payload, 10) == 10);
	CHECK(ivb_tp_recv_hdr(&rx, false, 0, IVB_TP_BIT(IVB_TP_FRAME), 64, &got, why, sizeof(why)) == 0);
	CHECK(got.seq == 7 && got.len == 64);
	CHECK(write(sv[1], payload + 10, sizeof(payload) - 10) == (ssize_t)(sizeof(payload) - 10));
	CHECK(ivb_tp_recv_payload(&rx, back, sizeof(back), ivb_now_ns() + LONG_NS) == 0);
	CHECK(memcmp(back, payload, sizeof(back)) == 0);
	ivb_tp_close(&rx);
	close(sv[1]);
}

struct reader {
	int fd;
	uint8_t *buf;
	size_t want, got;
};

/* The other end of a big send: reads whatever comes, in whatever pieces, until want bytes. */
static void *read_all(void *arg)
{
	struct reader *r = arg;

	while (r->got < r->want) {
		ssize_t n = read(r->fd, r->buf + r->got, r->want - r->got);

		if (n <= 0)
			break;
		r->got += (size_t)n;
	}
	return NULL;
}

/* A frame larger than the socket buffer goes out in short writes, all of it, in order. */
static void test_short_writes_complete(void)
{
	int sv[2];
	struct ivb_tp_conn tx;
	struct ivb_tp_hdr h = valid_frame(BIG);
	uint8_t *payload = malloc(BIG), *back = malloc(BIG + IVB_TP_HDR_LEN);
	struct reader r = { .buf = back, .want = BIG + IVB_TP_HDR_LEN };
	pthread_t t;

	CHECK(payload != NULL && back != NULL);
	for (unsigned i = 0; i < BIG; i++)
		payload[i] = (uint8_t)(i ^ (i >> 8));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	r.fd = sv[1];
	ivb_tp_conn_init(&tx, sv[0], sv[0]);
	CHECK(pthread_create(&t, NULL, read_all, &r) == 0);
	CHECK(ivb_tp_send(&tx, &h, payload, BIG, ivb_now_ns() + LONG_NS) == 0);
	pthread_join(t, NULL);
	CHECK(r.got == r.want);
	CHECK(memcmp(back, &h, IVB_TP_HDR_LEN) == 0 && memcmp(back + IVB_TP_HDR_LEN, payload, BIG) == 0);
	ivb_tp_close(&tx);
	close(sv[1]);
	free(payload);
	free(back);
}

/* A peer that closed: the reader sees -EPIPE at once, the writer too (not a SIGPIPE), a half record too. */
static void test_closed_peer_is_epipe(void)
{
	int sv[2];
	struct ivb_tp_conn c;
	struct ivb_tp_hdr h = valid_frame(64), got;
	uint8_t payload[64] = { 0 };

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ivb_tp_conn_init(&c, sv[0], sv[0]);
	CHECK(write(sv[1], &h, 20) == 20); /* part of a header, then the peer dies */
	close(sv[1]);
	CHECK(ivb_tp_recv_hdr(&c, true, ivb_now_ns() + LONG_NS, IVB_TP_BIT(IVB_TP_FRAME), 64, &got, why, sizeof(why)) ==
	      -EPIPE);
	CHECK(ivb_tp_send(&c, &h, payload, sizeof(payload), ivb_now_ns() + LONG_NS) == -EPIPE);
	ivb_tp_close(&c);
}

/* A peer that says nothing: the wait ends at its deadline, not before. */
static void test_silent_peer_times_out(void)
{
	int sv[2];
	struct ivb_tp_conn c;
	struct ivb_tp_hdr got;
	uint64_t t0;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ivb_tp_conn_init(&c, sv[0], sv[0]);
	t0 = ivb_now_ns();
	CHECK(ivb_tp_recv_hdr(&c, true, t0 + 50 * MS, IVB_TP_BIT(IVB_TP_ACK), 0, &got, why, sizeof(why)) == -ETIMEDOUT);
	CHECK(ivb_now_ns() - t0 >= 50 * MS);
	ivb_tp_close(&c);
	close(sv[1]);
}

struct guest_side {
	struct ivb_tp_spec spec;
	struct ivb_tp_conn c;
	int ret;
	char why[256];
};

/* The guest: connect, send one acknowledgement. */
static void *guest_connect(void *arg)
{
	struct guest_side *g = arg;
	const struct ivb_tp_hdr ack = { .magic = IVB_TP_HDR_MAGIC, .type = IVB_TP_ACK, .status = IVB_FRAME_OK, .seq = 3 };

	g->ret = ivb_tp_connect(&g->spec, ivb_now_ns() + LONG_NS, &g->c, g->why, sizeof(g->why));
	if (g->ret == 0)
		g->ret = ivb_tp_send(&g->c, &ack, NULL, 0, ivb_now_ns() + LONG_NS);
	return NULL;
}

/* Each transport: the endpoint's file is the owner's alone, the guest connects, a record crosses, all removed after. */
static void check_transport(enum ivb_transport t)
{
	struct ivb_tp_listener l;
	struct ivb_tp_conn host;
	struct guest_side g = { .spec = { .magic = IVB_TP_SPEC_MAGIC } };
	struct ivb_tp_hdr got;
	char file[IVB_TP_PATH_LEN + 8];
	struct stat st;
	pthread_t th;
	int ret;

	CHECK(ivb_tp_listen(&l, t, tmpdir, 0, 0, &g.spec, why, sizeof(why)) == 0);
	if (t == IVB_TP_TCP) {
		CHECK(g.spec.port > 0 && g.spec.port <= 65535);
	} else {
		snprintf(file, sizeof(file), "%s%s", g.spec.path, t == IVB_TP_PIPE ? ".h2g" : "");
		CHECK(g.spec.path[0] == '/' && stat(file, &st) == 0 && (st.st_mode & 0777) == 0600);
	}
	CHECK(pthread_create(&th, NULL, guest_connect, &g) == 0);
	do
		ret = ivb_tp_accept(&l, ivb_now_ns() + LONG_NS, &host, why, sizeof(why));
	while (ret == -ETIMEDOUT);
	CHECK(ret == 0);
	ivb_tp_unlisten(&l);
	if (ret == 0) {
		CHECK(ivb_tp_recv_hdr(&host, true, ivb_now_ns() + LONG_NS, IVB_TP_BIT(IVB_TP_ACK), 0, &got, why,
				      sizeof(why)) == 0);
		CHECK(got.seq == 3);
	}
	pthread_join(th, NULL);
	CHECK(g.ret == 0);
	if (t != IVB_TP_TCP)
		CHECK(stat(file, &st) < 0 && errno == ENOENT);
	if (ret == 0) {
		ivb_tp_close(&g.c); /* the guest goes: the host's next read says so */
		CHECK(ivb_tp_recv_hdr(&host, true, ivb_now_ns() + LONG_NS, IVB_TP_BIT(IVB_TP_ACK), 0, &got, why,
				      sizeof(why)) == -EPIPE);
		ivb_tp_close(&host);
	}
}

static void test_unix_endpoint(void) { check_transport(IVB_TP_UNIX); }
static void test_tcp_endpoint(void) { check_transport(IVB_TP_TCP); }
static void test_pipe_endpoint(void) { check_transport(IVB_TP_PIPE); }

/* QEMU's side of a VM transport, played by a thread: a listening socket that closes the first `refuse`
 * connections at once (virtio-net's guest does not listen yet) and says HELLO on the next (the guest). */
struct fake_qemu {
	int fd;
	unsigned refuse, accepted;
	bool hello;
};

static void *fake_qemu_run(void *arg)
{
	struct fake_qemu *q = arg;
	const struct ivb_tp_hdr hello = { .magic = IVB_TP_HDR_MAGIC, .type = IVB_TP_HELLO };

	for (;;) {
		int fd = accept(q->fd, NULL, NULL);

		if (fd < 0)
			return NULL;
		q->accepted++;
		if (q->accepted > q->refuse && q->hello) {
			CHECK(write(fd, &hello, sizeof(hello)) == (ssize_t)sizeof(hello));
			/* The host reads it, then closes: that ends this side. */
			char b;
			while (read(fd, &b, 1) > 0)
				;
			close(fd);
			return NULL;
		}
		close(fd);
		if (q->accepted > q->refuse)
			return NULL;
	}
}

/* virtio-net: the host connects to QEMU's forwarded port again until the guest's HELLO comes; a guest that never
 * says it leaves the host at its deadline, never earlier. */
static void check_net_accept(unsigned refuse, bool hello)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	struct fake_qemu q = { .refuse = refuse, .hello = hello };
	struct ivb_tp_spec spec = { .magic = IVB_TP_SPEC_MAGIC };
	struct ivb_tp_listener l;
	struct ivb_tp_conn c;
	pthread_t th;
	uint64_t t0, deadline;
	int ret;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	q.fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(q.fd >= 0 && bind(q.fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(q.fd, 4) == 0);
	CHECK(getsockname(q.fd, (struct sockaddr *)&a, &len) == 0);
	CHECK(ivb_tp_listen(&l, IVB_TP_VIRTIO_NET, tmpdir, ntohs(a.sin_port), 0, &spec, why, sizeof(why)) == 0);
	CHECK(spec.port == ntohs(a.sin_port) && l.fd < 0);
	CHECK(pthread_create(&th, NULL, fake_qemu_run, &q) == 0);
	t0 = ivb_now_ns();
	deadline = t0 + (hello ? LONG_NS : 300 * MS);
	do
		ret = ivb_tp_accept(&l, deadline, &c, why, sizeof(why));
	while (ret == -ETIMEDOUT && ivb_now_ns() < deadline);
	if (hello)
		CHECK(ret == 0);
	else
		CHECK(ret == -ETIMEDOUT && ivb_now_ns() >= deadline);
	if (ret == 0)
		ivb_tp_close(&c);
	ivb_tp_unlisten(&l);
	shutdown(q.fd, SHUT_RDWR); /* ends the thread's accept */
	pthread_join(th, NULL);
	/* Read after the join: the thread's count. It tried again after each refusal, and stopped at the hello. */
	CHECK(hello ? q.accepted == refuse + 1 : q.accepted > refuse);
	close(q.fd);
}

static void test_net_accept_retries(void) { check_net_accept(3, true); }
static void test_net_accept_gives_up(void) { check_net_accept(2, false); }

/* virtio-serial: the host connects to QEMU's chardev socket (missing: one clear error), then waits for the
 * guest's HELLO on it. */
static void test_serial_endpoint(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct fake_qemu q = { .hello = true };
	struct ivb_tp_spec spec = { .magic = IVB_TP_SPEC_MAGIC };
	struct ivb_tp_listener l;
	struct ivb_tp_conn c;
	pthread_t th;
	int ret;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s/chardev.sock", tmpdir);
	CHECK(ivb_tp_listen(&l, IVB_TP_VIRTIO_SERIAL, a.sun_path, 0, 0, &spec, why, sizeof(why)) == -ENOENT);
	CHECK(strstr(why, "chardev socket") != NULL);
	ivb_tp_unlisten(&l);
	q.fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(q.fd >= 0 && bind(q.fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(q.fd, 1) == 0);
	CHECK(pthread_create(&th, NULL, fake_qemu_run, &q) == 0);
	CHECK(ivb_tp_listen(&l, IVB_TP_VIRTIO_SERIAL, a.sun_path, 0, 0, &spec, why, sizeof(why)) == 0);
	CHECK(strcmp(spec.path, IVB_TP_SERIAL_PORT) == 0);
	do
		ret = ivb_tp_accept(&l, ivb_now_ns() + LONG_NS, &c, why, sizeof(why));
	while (ret == -ETIMEDOUT);
	CHECK(ret == 0);
	ivb_tp_unlisten(&l);
	if (ret == 0)
		ivb_tp_close(&c);
	pthread_join(th, NULL);
	close(q.fd);
	CHECK(access(a.sun_path, F_OK) == 0); /* QEMU's socket: not the host's to remove */
	unlink(a.sun_path);
}

/* The guest's check of a copy: the stamp first, then the payload's checksum. */
static void test_check_copy(void)
{
	uint8_t frame[256], sum[IVB_RING_CHECKSUM_LEN];

	for (unsigned i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)i;
	ivb_ring_stamp(frame, 41);
	CHECK(ivb_checksum(IVB_VERIFY_XXH3, frame + IVB_RING_STAMP_LEN, sizeof(frame) - IVB_RING_STAMP_LEN, sum) == 0);
	CHECK(ivb_stream_check_copy(IVB_VERIFY_XXH3, 41, frame, sizeof(frame), sum) == IVB_FRAME_OK);
	CHECK(ivb_stream_check_copy(IVB_VERIFY_XXH3, 42, frame, sizeof(frame), sum) == IVB_FRAME_BAD_STAMP);
	CHECK(ivb_stream_check_copy(IVB_VERIFY_NONE, 41, frame, sizeof(frame), sum) == IVB_FRAME_UNVERIFIED);
	frame[200] ^= 1;
	CHECK(ivb_stream_check_copy(IVB_VERIFY_XXH3, 41, frame, sizeof(frame), sum) == IVB_FRAME_BAD_CHECKSUM);
}

int main(void)
{
	int ret;

	signal(SIGPIPE, SIG_IGN); /* as both programs do (ivb_install_stop_signals) */
	if (scratch_make(tmpdir) < 0)
		return 1;
	RUN_TEST(test_hostile_headers_rejected);
	RUN_TEST(test_hostile_specs_rejected);
	RUN_TEST(test_record_in_pieces);
	RUN_TEST(test_net_accept_retries);
	RUN_TEST(test_net_accept_gives_up);
	RUN_TEST(test_serial_endpoint);
	RUN_TEST(test_short_writes_complete);
	RUN_TEST(test_closed_peer_is_epipe);
	RUN_TEST(test_silent_peer_times_out);
	RUN_TEST(test_unix_endpoint);
	RUN_TEST(test_tcp_endpoint);
	RUN_TEST(test_pipe_endpoint);
	RUN_TEST(test_check_copy);
	ret = CHECK_SUMMARY("unit transport");
	scratch_remove(tmpdir);
	return ret;
}
