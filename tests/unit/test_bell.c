/* Unit tests: bell.c's choice of doorbell and its one-line reasons; ring and wait over eventfds; ivpeer.c
 * against a fake ivshmem server (a child process) that stalls in the middle of a message or lies. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bell.h"
#include "check.h"
#include "clock.h"
#include "open_fds.h"
#include "scratch.h"

#define WAIT_NS (20ull * 1000 * 1000)

static char dir[] = "/tmp/ivb-test-bell.XXXXXX";

static void test_path_kinds_are_told_apart(void)
{
	char path[256], why[IVB_BELL_WHY_LEN];
	struct ivb_bell b;
	int fd;

	/* A regular file is neither a socket nor the driver's file. */
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK(ivb_bell_open(&b, path, NULL, WAIT_NS, why, sizeof(why)) == -EINVAL);
	CHECK(strstr(why, "neither an ivshmem server's socket nor the doorbell driver's file") != NULL);
	/* Nothing there: taken for a server that is not running. */
	snprintf(path, sizeof(path), "%s/missing.sock", dir);
	CHECK(ivb_bell_open(&b, path, NULL, WAIT_NS, why, sizeof(why)) == -ENOENT);
	CHECK(strstr(why, "is ivshmem_server running?") != NULL);
	/* A character device that is not the driver's: its INFO ioctl fails. */
	CHECK(ivb_bell_open(&b, "/dev/null", NULL, WAIT_NS, why, sizeof(why)) == -ENOTTY);
	CHECK(strstr(why, "/dev/null is not the ivshmem_doorbell driver's file") != NULL);
	CHECK(b.dev_fd == -1);
}

static void test_device_search(void)
{
	char path[256], why[IVB_BELL_WHY_LEN];
	struct ivb_bell b;

	/* No driver loaded: no file at all. */
	CHECK(ivb_bell_open_device_of(&b, dir, "0000:00:03.0", why, sizeof(why)) == -ENOENT);
	CHECK(strstr(why, "driver is not loaded") != NULL && strstr(why, "ivshmem-plain") != NULL);
	/* A file of that name that is not the driver's: its reason is the one given. */
	snprintf(path, sizeof(path), "%s/ivshmem-doorbell", dir);
	CHECK(symlink("/dev/null", path) == 0);
	CHECK(ivb_bell_open_device_of(&b, dir, "0000:00:03.0", why, sizeof(why)) == -ENOTTY);
	CHECK(strstr(why, "is not the ivshmem_doorbell driver's file") != NULL);
	unlink(path);
}

/* A bell with no server: our vector is eventfd own, peer 5's is eventfd peer (each side's end in one process). */
static void bell_on_eventfds(struct ivb_bell *b, int own, int peer)
{
	memset(b, 0, sizeof(*b));
	b->dev_fd = -1;
	b->link.sock = b->link.shm_fd = -1;
	b->link.own_fd = own;
	b->link.peers[0].id = 5;
	b->link.peers[0].fd = peer;
	b->link.npeers = 1;
}

static void test_ring_and_wait(void)
{
	int a = eventfd(0, EFD_CLOEXEC), c = eventfd(0, EFD_CLOEXEC);
	struct ivb_bell b;
	uint64_t t0;

	CHECK(a >= 0 && c >= 0);
	bell_on_eventfds(&b, a, c);
	CHECK(ivb_bell_known(&b, 5) == 1);
	CHECK(ivb_bell_known(&b, 6) == 0);
	CHECK(ivb_bell_known(&b, 70000) == 0);
	CHECK(ivb_bell_ring(&b, 5) == 0 && b.rings_sent == 1);
	CHECK(ivb_bell_ring(&b, 6) == -ENOENT && b.rings_sent == 1);
	/* Nobody rang us: the wait lasts its time, and says so. */
	t0 = ivb_now_ns();
	CHECK(ivb_bell_wait(&b, WAIT_NS) == 0);
	CHECK(ivb_now_ns() - t0 >= WAIT_NS);
	CHECK(b.rings_received == 0);
	/* Two rings before the wait are one wake-up, and consumed by it. */
	CHECK(write(a, &(uint64_t){ 1 }, 8) == 8 && write(a, &(uint64_t){ 1 }, 8) == 8);
	CHECK(ivb_bell_wait(&b, WAIT_NS) == 1 && b.rings_received == 1);
	CHECK(ivb_bell_wait(&b, WAIT_NS) == 0);
	ivb_bell_close(&b);
	close(c);
}

/*
 * Two threads on one bell (a duplex stream): whichever copy reads a ring, the other copy's next wait wakes too, so
 * a ring meant for the other thread's ring is never lost; the copies' counts go back to the bell.
 */
static void test_paired_wait_loses_no_ring(void)
{
	int a = eventfd(0, EFD_CLOEXEC), c = eventfd(0, EFD_CLOEXEC);
	struct ivb_bell b, first, second;

	CHECK(a >= 0 && c >= 0);
	bell_on_eventfds(&b, a, c);
	CHECK(ivb_bell_pair(&b, &first, &second) == 0);
	/* The peer rings once; the first copy reads it: the second still wakes, once. */
	CHECK(write(a, &(uint64_t){ 1 }, 8) == 8);
	CHECK(ivb_bell_wait(&first, WAIT_NS) == 1);
	CHECK(ivb_bell_wait(&second, WAIT_NS) == 1);
	CHECK(ivb_bell_wait(&second, WAIT_NS) == 0);
	CHECK(ivb_bell_wait(&first, WAIT_NS) == 0);
	/* The other way round. */
	CHECK(write(a, &(uint64_t){ 1 }, 8) == 8);
	CHECK(ivb_bell_wait(&second, WAIT_NS) == 1);
	CHECK(ivb_bell_wait(&first, WAIT_NS) == 1);
	CHECK(ivb_bell_wait(&first, WAIT_NS) == 0);
	/* Each copy rings the peer as the bell would. */
	CHECK(ivb_bell_ring(&first, 5) == 0 && ivb_bell_ring(&second, 5) == 0);
	ivb_bell_unpair(&b, &first, &second);
	CHECK(b.rings_received == 2 && b.rings_sent == 2);
	ivb_bell_close(&b);
	close(c);
}

/* What ivb_bell_report_late prints, caught from stderr. */
static void report_late(const struct ivb_bell *b, char *out, size_t n)
{
	char path[256];
	int saved = dup(STDERR_FILENO), fd;
	ssize_t got;

	snprintf(path, sizeof(path), "%s/stderr", dir);
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	ivb_bell_report_late(b, "prog");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	got = pread(fd, out, n - 1, 0);
	out[got > 0 ? got : 0] = '\0';
	close(fd);
}

static void test_late_wakeups_are_reported(void)
{
	struct ivb_bell b = { .dev_fd = -1 };
	char out[512];

	report_late(&b, out, sizeof(out));
	CHECK(out[0] == '\0');
	b.late_wakeups = 4;
	report_late(&b, out, sizeof(out));
	CHECK(strstr(out, "prog: 4 waits ended on a 50 ms slice instead of a ring: no ring ever arrived") != NULL);
	b.rings_received = 9;
	report_late(&b, out, sizeof(out));
	CHECK(strstr(out, "rings were lost or late") != NULL);
}

/* One write of the fake server: bytes [from, to) of value in little-endian order, with nfds eventfds;
 * with sync, it first waits for the test to say go (a byte on a pipe). */
struct step {
	int64_t value;
	unsigned from, to;
	int nfds;
	bool sync;
};

#define FULL(v) { (v), 0, 8, 0, false }
#define WITH_FD(v) { (v), 0, 8, 1, false }
#define END_STEPS { 0, 0, 0, 0, false }
/* The handshake of a server with peer 0 connected, to us as peer 1, with one vector. */
#define GOOD_SETUP FULL(0), FULL(1), WITH_FD(-1), WITH_FD(0), WITH_FD(1)

struct fake_server {
	pid_t pid;
	int go; /* write a byte: the next sync step may run */
	char path[100];
};

static void send_step(int sock, const struct step *st)
{
	uint64_t le = htole64((uint64_t)st->value);
	struct iovec iov = { (char *)&le + st->from, st->to - st->from };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} control;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (st->nfds > 0) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)st->nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)st->nfds);
		for (int i = 0; i < st->nfds; i++) {
			int fd = eventfd(0, 0);

			memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof(fd));
		}
	}
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
		_exit(3);
}

/* Listen at name in dir and fork a server that plays steps to the first client, then stalls until
 * the client closes (stall) or closes at once. */
static int fake_server_start(struct fake_server *f, const char *name, const struct step *steps, bool stall)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int lsock, go[2];

	snprintf(f->path, sizeof(f->path), "%s/%s", dir, name);
	memcpy(addr.sun_path, f->path, sizeof(f->path));
	unlink(f->path);
	lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lsock < 0 || bind(lsock, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lsock, 1) < 0 ||
	    pipe2(go, O_CLOEXEC) < 0)
		return -1;
	f->pid = fork();
	if (f->pid == 0) {
		int sock = accept(lsock, NULL, NULL);
		char b;

		close(go[1]);
		for (const struct step *st = steps; st->to > st->from; st++) {
			if (st->sync && read(go[0], &b, 1) != 1)
				_exit(4);
			send_step(sock, st);
		}
		while (stall && read(sock, &b, 1) > 0)
			;
		_exit(0);
	}
	close(lsock);
	close(go[0]);
	f->go = go[1];
	return f->pid > 0 ? 0 : -1;
}

static void fake_server_stop(struct fake_server *f)
{
	close(f->go);
	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
	unlink(f->path);
}

/* Connect to a fake server playing steps; returns what ivb_peer_connect returned, and its time in *ns. */
static int connect_to(const char *name, const struct step *steps, bool stall, uint64_t timeout_ns, uint64_t *ns)
{
	struct fake_server f;
	struct ivb_peer_link link;
	uint64_t t0;
	int ret;

	if (fake_server_start(&f, name, steps, stall) < 0)
		return -1000;
	t0 = ivb_now_ns();
	ret = ivb_peer_connect(&link, f.path, timeout_ns);
	if (ns != NULL)
		*ns = ivb_now_ns() - t0;
	if (ret == 0)
		ivb_peer_close(&link);
	fake_server_stop(&f);
	return ret;
}

/* A server that stops in the middle of a message: the handshake ends at the deadline, not never. */
static void test_peer_handshake_stall_times_out(void)
{
	static const struct step half_version[] = { { 0, 0, 4, 0, false }, END_STEPS };
	static const struct step half_peer[] = { FULL(0), FULL(1), WITH_FD(-1), { 0, 0, 3, 1, false }, END_STEPS };
	static const struct step no_own[] = { FULL(0), FULL(1), WITH_FD(-1), WITH_FD(0), END_STEPS };
	int before = ivb_open_fds();
	uint64_t ns;

	CHECK(connect_to("half_version", half_version, true, WAIT_NS, &ns) == -ETIMEDOUT);
	CHECK(ns >= WAIT_NS && ns < WAIT_NS + 500000000ull);
	CHECK(connect_to("half_peer", half_peer, true, WAIT_NS, &ns) == -ETIMEDOUT);
	CHECK(ns >= WAIT_NS && ns < WAIT_NS + 500000000ull);
	CHECK(connect_to("no_own", no_own, true, WAIT_NS, &ns) == -ETIMEDOUT);
	CHECK(ns >= WAIT_NS && ns < WAIT_NS + 500000000ull);
	CHECK(ivb_open_fds() == before);
}

/* After the handshake, a join that arrives in pieces: update never waits for the rest, and takes the
 * message once it is whole. */
static void test_peer_update_partial_message(void)
{
	static const struct step steps[] = { GOOD_SETUP, { 2, 0, 3, 1, true }, { 2, 3, 8, 0, true }, END_STEPS };
	struct fake_server f;
	struct ivb_peer_link link;
	int before = ivb_open_fds();
	uint64_t t0;

	CHECK(fake_server_start(&f, "partial", steps, true) == 0);
	CHECK(ivb_peer_connect(&link, f.path, 10 * WAIT_NS) == 0);
	CHECK(link.id == 1 && link.npeers == 1 && link.peers[0].id == 0 && link.own_fd >= 0);
	/* The region's fd is kept for the programs to map (and closed with the link: no fd is left open). */
	CHECK(link.shm_fd >= 0 && link.shm_fd != link.own_fd);
	CHECK(write(f.go, "g", 1) == 1);
	/* The first 3 bytes are on their way: wait until they are here, and update must not block on the rest. */
	t0 = ivb_now_ns();
	while (link.part_len == 0 && ivb_now_ns() - t0 < 10 * WAIT_NS)
		CHECK(ivb_peer_update(&link) == 0);
	CHECK(link.part_len == 3 && link.npeers == 1);
	CHECK(ivb_now_ns() - t0 < 10 * WAIT_NS);
	CHECK(write(f.go, "g", 1) == 1);
	t0 = ivb_now_ns();
	while (link.npeers == 1 && ivb_now_ns() - t0 < 10 * WAIT_NS)
		CHECK(ivb_peer_update(&link) == 0);
	CHECK(link.npeers == 2 && link.peers[1].id == 2 && link.part_len == 0);
	ivb_peer_close(&link);
	fake_server_stop(&f);
	CHECK(ivb_open_fds() == before);
}

/* A hostile server: every lie is -EPROTO, at once, and no fd it sent stays open. */
static void test_peer_hostile_server(void)
{
	static const struct {
		const char *name;
		struct step steps[8];
	} cases[] = {
		{ "refused", { FULL(-1), END_STEPS } },
		{ "version", { FULL(1), END_STEPS } },
		{ "version_fd", { WITH_FD(0), END_STEPS } },
		{ "id_negative", { FULL(0), FULL(-5), END_STEPS } },
		{ "id_absurd", { FULL(0), FULL(70000), END_STEPS } },
		{ "shm_no_fd", { FULL(0), FULL(1), FULL(-1), END_STEPS } },
		{ "shm_value", { FULL(0), FULL(1), WITH_FD(7), END_STEPS } },
		{ "two_fds", { FULL(0), FULL(1), { -1, 0, 8, 2, false }, END_STEPS } },
		{ "many_fds", { FULL(0), FULL(1), WITH_FD(-1), { 0, 0, 8, 4, false }, END_STEPS } },
		{ "peer_negative", { FULL(0), FULL(1), WITH_FD(-1), WITH_FD(-3), END_STEPS } },
		{ "peer_absurd", { FULL(0), FULL(1), WITH_FD(-1), WITH_FD(1ll << 40), END_STEPS } },
		{ "fd_mid_message", { FULL(0), FULL(1), WITH_FD(-1), { 0, 0, 4, 0, false }, { 0, 4, 8, 1, false },
				      END_STEPS } },
		{ "short_then_eof", { FULL(0), FULL(1), WITH_FD(-1), { 0, 0, 5, 1, false }, END_STEPS } },
		{ "eof_in_setup", { FULL(0), FULL(1), WITH_FD(-1), WITH_FD(0), END_STEPS } },
		{ "told_we_left", { FULL(0), FULL(1), WITH_FD(-1), FULL(1), END_STEPS } },
	};
	int before = ivb_open_fds();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = connect_to(cases[i].name, cases[i].steps, false, 20 * WAIT_NS, NULL);

		if (ret != -EPROTO || ivb_open_fds() != before)
			fprintf(stderr, "  %s: got %d, wanted -EPROTO; %d fds open, %d before\n", cases[i].name, ret,
				ivb_open_fds(), before);
		CHECK(ret == -EPROTO);
		CHECK(ivb_open_fds() == before);
		before = ivb_open_fds();
	}
}

int main(void)
{

	if (scratch_make(dir) < 0)
		return 1;
	/* A client that blocks on the fake server would hang the run: end it instead. */
	alarm(60);
	RUN_TEST(test_path_kinds_are_told_apart);
	RUN_TEST(test_device_search);
	RUN_TEST(test_ring_and_wait);
	RUN_TEST(test_paired_wait_loses_no_ring);
	RUN_TEST(test_late_wakeups_are_reported);
	RUN_TEST(test_peer_handshake_stall_times_out);
	RUN_TEST(test_peer_update_partial_message);
	RUN_TEST(test_peer_hostile_server);
	scratch_remove(dir);
	return CHECK_SUMMARY("unit bell");
}
