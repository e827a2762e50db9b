/* test_transport_vsock.c: the vsock transport as far as this kernel allows. Everywhere: its address, its spec's
 * bounds, host_writer's --transport vsock:CID[:PORT]. Where AF_VSOCK exists: the guest's listen, its one-line
 * refusal of a port taken, the host's connect to a CID that does not answer ending at its deadline in one line.
 * Where the kernel also has the loopback transport (vsock_loopback: CID 1 reaches this machine), both sides as
 * threads, a record each way; where it has not, both sides fail in one line by their deadlines. Each case says
 * on stdout which of these ran. */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "host.h"
#include "transport.h"

#define MS (1000ull * 1000ull)
#define LONG_NS (10ull * IVB_NS_PER_SEC)
/* Short waits where nothing can answer: the deadline is the point of the test. */
#define SHORT_NS (300ull * MS)
/* No guest anywhere has this CID: the largest one can name (IVB_TP_VSOCK_MAX) is never given to a VM by us. */
#define NOBODY_CID IVB_TP_VSOCK_MAX

static char why[256];
static bool have_vsock;    /* socket(AF_VSOCK) works */
static bool have_loopback; /* CID 1 is this machine (the vsock_loopback transport) */

/* A port of this test alone: the vsock port space is the machine's, and other tests may run at the same time. */
static uint32_t test_port(uint32_t k)
{
	return 0x40000000u + ((uint32_t)getpid() << 2) + k;
}

static bool one_line(const char *s)
{
	return s[0] != '\0' && strchr(s, '\n') == NULL;
}

static void test_address(void)
{
	struct sockaddr_vm a;

	memset(&a, 0xa5, sizeof(a));
	ivb_tp_vsock_addr(&a, 42, 5201);
	CHECK(a.svm_family == AF_VSOCK && a.svm_cid == 42 && a.svm_port == 5201);
	CHECK(a.svm_reserved1 == 0 && a.svm_flags == 0);
	for (size_t i = 0; i < sizeof(a.svm_zero); i++)
		CHECK(a.svm_zero[i] == 0);
}

static void test_spec_bounds(void)
{
	struct ivb_tp_spec s = { .magic = IVB_TP_SPEC_MAGIC, .transport = IVB_TP_VSOCK, .test = IVB_TP_TEST_FRAMES,
				 .verify = IVB_VERIFY_XXH3, .size = 4096, .window = 3, .port = 5201 };

	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == 0);
	s.port = 0;
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO && strstr(why, "vsock port") != NULL);
	s.port = VMADDR_PORT_ANY; /* any: never one to listen on for a host's connection */
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == -EPROTO);
	s.port = IVB_TP_VSOCK_MAX;
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == 0);
	s.port = 1;
	CHECK(ivb_tp_check_spec(&s, why, sizeof(why)) == 0);
}

/* --transport ITEM through the host's configuration. Returns what it returns; sets *cfg. */
static int configure(const char *transports, struct ivb_host_config *cfg)
{
	*cfg = (struct ivb_host_config){ .transports_arg = transports, .message_sizes_arg = "64", .stream_seconds = 1,
					 .nstream_frames = 1, .stream_frames = { { .size = 4096 } }, .slots = 3 };
	return ivb_transport_configure(cfg, why, sizeof(why));
}

static void test_option(void)
{
	struct ivb_host_config cfg;

	CHECK(configure("vsock:7", &cfg) == 0 && cfg.vsock_cid == 7 && cfg.vsock_port == IVB_VSOCK_PORT_DEFAULT);
	CHECK(configure("vsock:3:1024", &cfg) == 0 && cfg.vsock_cid == 3 && cfg.vsock_port == 1024);
	CHECK(configure("vsock:4294967294:4294967294", &cfg) == 0 && cfg.vsock_cid == IVB_TP_VSOCK_MAX &&
	      cfg.vsock_port == IVB_TP_VSOCK_MAX);
	/* Given a CID, it is planned: skipped only when the kernel has no AF_VSOCK. */
	CHECK(cfg.ntransports == 1 && (cfg.transport_skip[0][0] == '\0') == have_vsock);
	CHECK(have_vsock || strstr(cfg.transport_skip[0], "AF_VSOCK") != NULL);
	/* Without one: skipped, with its reason, never silently. */
	CHECK(configure("ivshmem,vsock", &cfg) == 0 && cfg.vsock_cid == 0 && cfg.transport_skip[1][0] != '\0');
	CHECK(strstr(cfg.transport_skip[1], have_vsock ? "no guest CID" : "AF_VSOCK") != NULL);
	CHECK(access(IVB_VHOST_VSOCK, R_OK | W_OK) == 0 || !have_vsock || strstr(cfg.transport_skip[1], IVB_VHOST_VSOCK) != NULL);
	for (const char *bad = "vsock:0\0vsock:4294967295\0vsock:5:0\0vsock:5:4294967295\0vsock:\0vsock:5:\0vsock:x\0"
			       "vsock:5:6:7\0vsock:12345678901234567\0";
	     *bad; bad += strlen(bad) + 1) {
		why[0] = '\0';
		CHECK(configure(bad, &cfg) == -EINVAL && one_line(why) && strstr(why, "CID[:PORT]") != NULL);
	}
}

/* The host's side of a test: no fd until it connects; the spec names the port the guest must listen on. */
static void test_listen_fills_spec(void)
{
	struct ivb_tp_spec spec = { .magic = IVB_TP_SPEC_MAGIC };
	struct ivb_tp_listener l;

	CHECK(ivb_tp_listen(&l, IVB_TP_VSOCK, "/nonexistent", 6000, 9, &spec, why, sizeof(why)) == 0);
	CHECK(spec.transport == IVB_TP_VSOCK && spec.port == 6000 && l.cid == 9 && l.port == 6000 && l.fd < 0);
	ivb_tp_unlisten(&l);
}

static struct ivb_tp_spec vsock_spec(uint32_t port)
{
	return (struct ivb_tp_spec){ .magic = IVB_TP_SPEC_MAGIC, .transport = IVB_TP_VSOCK, .test = IVB_TP_TEST_FRAMES,
				     .verify = IVB_VERIFY_XXH3, .size = 4096, .window = 1, .port = port };
}

struct guest_side {
	struct ivb_tp_spec spec;
	uint64_t deadline;
	struct ivb_tp_conn c;
	int ret;
	char why[256];
};

/* The guest: listen until the host comes or the deadline, then one acknowledgement. */
static void *guest_listen(void *arg)
{
	struct guest_side *g = arg;
	const struct ivb_tp_hdr ack = { .magic = IVB_TP_HDR_MAGIC, .type = IVB_TP_ACK, .status = IVB_FRAME_OK, .seq = 5 };

	g->ret = ivb_tp_connect(&g->spec, g->deadline, &g->c, g->why, sizeof(g->why));
	if (g->ret == 0)
		g->ret = ivb_tp_send(&g->c, &ack, NULL, 0, ivb_now_ns() + LONG_NS);
	return NULL;
}

/* The guest listens until its deadline and says in one line that no host came; a port already taken it refuses
 * in one line, at once; where the kernel refuses every listen, it says so in one line. */
static void test_guest_listen(void)
{
	struct guest_side g = { .spec = vsock_spec(test_port(0)) };
	struct sockaddr_vm a;
	int fd;

	if (!have_vsock) {
		printf("     vsock: no AF_VSOCK here: the guest's listen not run\n");
		return;
	}
	g.deadline = ivb_now_ns() + SHORT_NS;
	guest_listen(&g);
	if (g.ret != -ETIMEDOUT) {
		CHECK(g.ret < 0 && one_line(g.why) && strstr(g.why, "vsock port") != NULL);
		printf("     vsock: the kernel refuses the guest's listen: %s\n", g.why);
		return;
	}
	CHECK(ivb_now_ns() >= g.deadline && one_line(g.why) && strstr(g.why, "the host did not connect to vsock port") != NULL);
	printf("     vsock: the guest listened until its deadline: %s\n", g.why);
	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ivb_tp_vsock_addr(&a, VMADDR_CID_ANY, g.spec.port);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 1) == 0);
	g.deadline = ivb_now_ns() + LONG_NS; /* refused at once, long before it */
	guest_listen(&g);
	CHECK(g.ret == -EADDRINUSE && one_line(g.why) && strstr(g.why, "cannot listen on vsock port") != NULL);
	CHECK(ivb_now_ns() < g.deadline);
	printf("     vsock: a taken port refused in one line: %s\n", g.why);
	if (fd >= 0)
		close(fd);
}

/* The host's connect to a CID nobody has: one line by its deadline (the kernel's own time-out tried again until
 * then), or at once where the kernel knows nobody can answer; never a hang. */
static void test_host_unanswered(void)
{
	struct ivb_tp_spec spec = { .magic = IVB_TP_SPEC_MAGIC };
	struct ivb_tp_listener l;
	struct ivb_tp_conn c;
	uint64_t t0, deadline;
	int ret;

	CHECK(ivb_tp_listen(&l, IVB_TP_VSOCK, NULL, test_port(1), NOBODY_CID, &spec, why, sizeof(why)) == 0);
	t0 = ivb_now_ns();
	deadline = t0 + SHORT_NS;
	why[0] = '\0';
	do
		ret = ivb_tp_accept(&l, deadline, &c, why, sizeof(why));
	while (ret == -ETIMEDOUT && ivb_now_ns() < deadline);
	ivb_tp_unlisten(&l);
	CHECK(ret < 0);
	if (ret == -ETIMEDOUT) {
		CHECK(ivb_now_ns() >= deadline);
		printf("     vsock: connect to CID %u unanswered until the deadline%s%s\n", NOBODY_CID, why[0] ? ": " : "", why);
	} else {
		CHECK(one_line(why) && (strstr(why, "cannot connect to the guest's vsock CID 4294967294") != NULL ||
					strstr(why, "cannot create a socket") != NULL));
		printf("     vsock: connect to CID %u refused at once: %s\n", NOBODY_CID, why);
	}
}

/* Both sides over CID 1 (this machine): a record crosses where the loopback transport exists; elsewhere the host
 * and the guest each end at their deadlines with one line. */
static void test_loopback_end_to_end(void)
{
	struct guest_side g = { .spec = vsock_spec(test_port(2)) };
	struct ivb_tp_spec spec = { .magic = IVB_TP_SPEC_MAGIC };
	struct ivb_tp_listener l;
	struct ivb_tp_conn host;
	struct ivb_tp_hdr got;
	pthread_t th;
	uint64_t deadline;
	int ret;

	if (!have_vsock) {
		printf("     vsock: no AF_VSOCK here: no end to end\n");
		return;
	}
	deadline = ivb_now_ns() + (have_loopback ? LONG_NS : SHORT_NS);
	g.deadline = deadline + SHORT_NS; /* after the host's: the guest outlives a host that gives up */
	CHECK(pthread_create(&th, NULL, guest_listen, &g) == 0);
	CHECK(ivb_tp_listen(&l, IVB_TP_VSOCK, NULL, g.spec.port, VMADDR_CID_LOCAL, &spec, why, sizeof(why)) == 0);
	do
		ret = ivb_tp_accept(&l, deadline, &host, why, sizeof(why));
	while (ret == -ETIMEDOUT && ivb_now_ns() < deadline);
	ivb_tp_unlisten(&l);
	if (have_loopback) {
		CHECK(ret == 0);
		if (ret == 0)
			CHECK(ivb_tp_recv_hdr(&host, true, ivb_now_ns() + LONG_NS, IVB_TP_BIT(IVB_TP_ACK), 0, &got, why,
					      sizeof(why)) == 0 && got.seq == 5);
	} else {
		CHECK(ret < 0 && (ret != -ETIMEDOUT || ivb_now_ns() >= deadline));
	}
	pthread_join(th, NULL);
	if (have_loopback) {
		CHECK(g.ret == 0);
		if (ret == 0 && g.ret == 0) {
			ivb_tp_close(&g.c); /* the guest goes: the host's next read says so */
			CHECK(ivb_tp_recv_hdr(&host, true, ivb_now_ns() + LONG_NS, IVB_TP_BIT(IVB_TP_ACK), 0, &got, why,
					      sizeof(why)) == -EPIPE);
			printf("     vsock: end to end over CID 1 (loopback transport): hello, a record, a close\n");
		}
		if (ret == 0)
			ivb_tp_close(&host);
		return;
	}
	CHECK(g.ret == -ETIMEDOUT && one_line(g.why) && strstr(g.why, "the host did not connect to vsock port") != NULL);
	printf("     vsock: no loopback transport (CID 1): the guest listened, the host's connect ended in one line: %s\n",
	       why[0] ? why : "(no attempt finished)");
}

/* What this kernel allows: AF_VSOCK sockets, and CID 1 as this machine (bind fails with EADDRNOTAVAIL without it). */
static void probe(void)
{
	struct sockaddr_vm a;
	int fd;

	have_vsock = ivb_tp_vsock_probe() == 0;
	if (!have_vsock)
		return;
	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ivb_tp_vsock_addr(&a, VMADDR_CID_LOCAL, VMADDR_PORT_ANY);
	have_loopback = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* as both programs do (ivb_install_stop_signals) */
	probe();
	printf("     vsock here: AF_VSOCK %s, loopback transport (CID 1) %s\n", have_vsock ? "yes" : "no",
	       have_loopback ? "yes" : "no");
	RUN_TEST(test_address);
	RUN_TEST(test_spec_bounds);
	RUN_TEST(test_option);
	RUN_TEST(test_listen_fills_spec);
	RUN_TEST(test_guest_listen);
	RUN_TEST(test_host_unanswered);
	RUN_TEST(test_loopback_end_to_end);
	return CHECK_SUMMARY("unit transport_vsock");
}
