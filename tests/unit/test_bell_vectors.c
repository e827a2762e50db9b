/* Unit tests of interrupt vectors through an ivshmem server (bell.c, ivpeer.c): each peer holds its own vectors
 * and the other's, a ring of vector i wakes only a waiter on vector i (so that several consumer processes each
 * sleep on a vector of their own), and a vector that does not exist is refused. Our server (src/server/) runs in
 * a thread of this process; every wait has a time limit. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bell.h"
#include "check.h"
#include "clock.h"
#include "ivserver.h"
#include "open_fds.h"
#include "scratch.h"

#define SHM_SIZE (64u * 1024u)
/* Generous: a loaded machine may run the server thread late; nothing waits this long when all is well. */
#define LIMIT_NS (10ull * 1000 * 1000 * 1000)
/* How long a wait that must not be rung is given. */
#define QUIET_NS (100ull * 1000 * 1000)

static char dir[] = "/tmp/ivb-bell-vectors.XXXXXX";

struct server {
	struct ivserver s;
	pthread_t tid;
	atomic_bool stop;
	char sock[128];
};

static void *serve(void *arg)
{
	struct server *sv = arg;
	struct pollfd fds[1 + 4];

	while (!atomic_load(&sv->stop)) {
		size_t n = ivserver_pollfds(&sv->s, fds, 1 + 4);

		if (poll(fds, n, 20) > 0)
			ivserver_handle_pollfds(&sv->s, fds, n);
	}
	return NULL;
}

static int server_start(struct server *sv, unsigned vectors)
{
	char shm[128];
	int ret;

	memset(sv, 0, sizeof(*sv));
	snprintf(sv->sock, sizeof(sv->sock), "%s/ivshmem.sock", dir);
	snprintf(shm, sizeof(shm), "%s/shm", dir);
	ret = ivserver_init(&sv->s, vectors, 2, NULL);
	if (ret == 0)
		ret = ivserver_open_shm(&sv->s, shm, SHM_SIZE, SHM_SIZE);
	if (ret == 0)
		ret = ivserver_listen(&sv->s, sv->sock);
	if (ret == 0 && pthread_create(&sv->tid, NULL, serve, sv) != 0)
		ret = -EAGAIN;
	return ret;
}

static void server_stop(struct server *sv)
{
	atomic_store(&sv->stop, true);
	pthread_join(sv->tid, NULL);
	ivserver_close(&sv->s);
}

/* Until b holds `want` vectors of its own (they may come after the handshake), within the limit. */
static uint32_t wait_vectors(struct ivb_bell *b, uint32_t want)
{
	const uint64_t t0 = ivb_now_ns();
	uint32_t have;

	while ((have = ivb_bell_vectors(b)) < want && ivb_now_ns() - t0 < LIMIT_NS)
		usleep(1000);
	return have;
}

/* Ring the peer's vector, retrying while its vectors are still on their way, within the limit. */
static int ring_vector(struct ivb_bell *b, int peer, uint32_t vector)
{
	const uint64_t t0 = ivb_now_ns();
	int ret;

	while ((ret = ivb_bell_ring_vector(b, peer, vector)) != 0 && ivb_now_ns() - t0 < LIMIT_NS)
		usleep(1000);
	return ret;
}

/* Two peers with three vectors each: the guest rings the host's vector 2, and only a waiter on it wakes. */
static void test_each_vector_wakes_its_own_waiter(void)
{
	struct server sv;
	struct ivb_bell host, guest, on0, on2;
	char why[IVB_BELL_WHY_LEN];
	const int before = ivb_open_fds();

	CHECK(server_start(&sv, 3) == 0);
	CHECK(ivb_bell_open(&host, sv.sock, NULL, LIMIT_NS, why, sizeof(why)) == 0);
	CHECK(ivb_bell_open(&guest, sv.sock, NULL, LIMIT_NS, why, sizeof(why)) == 0);
	CHECK(wait_vectors(&host, 3) == 3 && wait_vectors(&guest, 3) == 3);
	/* Two waiters of the host, as two consumer processes would be after fork: one on vector 0, one on 2. */
	on0 = host;
	on2 = host;
	CHECK(ivb_bell_wait_on(&on2, 2) == 0);
	CHECK(ivb_bell_wait_on(&on2, 3) == -ENXIO && on2.wait_vector == 2);
	CHECK(ring_vector(&guest, host.id, 2) == 0);
	CHECK(ivb_bell_wait(&on0, QUIET_NS) == 0);
	CHECK(ivb_bell_wait(&on2, LIMIT_NS) == 1);
	CHECK(ring_vector(&guest, host.id, 0) == 0);
	CHECK(ivb_bell_wait(&on2, QUIET_NS) == 0);
	CHECK(ivb_bell_wait(&on0, LIMIT_NS) == 1);
	/* A vector the host does not have, and a peer that does not exist. */
	CHECK(ivb_bell_ring_vector(&guest, host.id, 3) == -ENXIO);
	CHECK(ivb_bell_ring_vector(&guest, host.id + 7, 0) == -ENOENT);
	CHECK(guest.rings_sent == 2);
	ivb_bell_close(&guest);
	ivb_bell_close(&host);
	server_stop(&sv);
	CHECK(ivb_open_fds() == before);
}

/* A server with more vectors than a peer keeps: the first IVB_PEER_VECTORS are held, the rest closed. */
static void test_vectors_beyond_the_kept_are_closed(void)
{
	struct server sv;
	struct ivb_bell host, guest;
	char why[IVB_BELL_WHY_LEN];
	const int before = ivb_open_fds();

	CHECK(server_start(&sv, IVB_PEER_VECTORS + 3) == 0);
	CHECK(ivb_bell_open(&host, sv.sock, NULL, LIMIT_NS, why, sizeof(why)) == 0);
	CHECK(ivb_bell_open(&guest, sv.sock, NULL, LIMIT_NS, why, sizeof(why)) == 0);
	CHECK(wait_vectors(&host, IVB_PEER_VECTORS) == IVB_PEER_VECTORS);
	CHECK(ring_vector(&guest, host.id, IVB_PEER_VECTORS - 1) == 0);
	CHECK(ivb_bell_wait_on(&host, IVB_PEER_VECTORS - 1) == 0);
	CHECK(ivb_bell_wait(&host, LIMIT_NS) == 1);
	CHECK(ivb_bell_ring_vector(&guest, host.id, IVB_PEER_VECTORS) == -ENXIO);
	CHECK(ivb_bell_wait_on(&host, IVB_PEER_VECTORS) == -ENXIO);
	ivb_bell_close(&guest);
	ivb_bell_close(&host);
	server_stop(&sv);
	CHECK(ivb_open_fds() == before);
}

/* One vector (QEMU's ivshmem-server's default): there is nothing but vector 0 to wait on or ring. */
static void test_one_vector(void)
{
	struct server sv;
	struct ivb_bell host, guest;
	char why[IVB_BELL_WHY_LEN];

	CHECK(server_start(&sv, 1) == 0);
	CHECK(ivb_bell_open(&host, sv.sock, NULL, LIMIT_NS, why, sizeof(why)) == 0);
	CHECK(ivb_bell_open(&guest, sv.sock, NULL, LIMIT_NS, why, sizeof(why)) == 0);
	CHECK(ivb_bell_vectors(&host) == 1);
	CHECK(ivb_bell_wait_on(&host, 1) == -ENXIO && ivb_bell_wait_on(&host, 0) == 0);
	CHECK(ring_vector(&guest, host.id, 0) == 0);
	CHECK(ivb_bell_ring_vector(&guest, host.id, 1) == -ENXIO);
	CHECK(ivb_bell_wait(&host, LIMIT_NS) == 1);
	ivb_bell_close(&guest);
	ivb_bell_close(&host);
	server_stop(&sv);
}

int main(void)
{
	int ret;

	if (scratch_make(dir) < 0)
		return 1;
	RUN_TEST(test_each_vector_wakes_its_own_waiter);
	RUN_TEST(test_vectors_beyond_the_kept_are_closed);
	RUN_TEST(test_one_vector);
	ret = CHECK_SUMMARY("bell_vectors");
	scratch_remove(dir);
	return ret;
}
