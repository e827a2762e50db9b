/* host_transport.c: the transport comparison on the host: the stream frames and the small messages over
 * each connection transport (transport.h), one transport message each, a row per frame and a record
 * per test in run.json. ivshmem's side of the comparison is the stream test (host_stream.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "host.h"
#include "phases.h"

/* While the guest has not connected: look at the region this often (it may have failed to connect). */
#define ACCEPT_SLICE_NS (100ull * 1000000ull)

/* One transport test of the plan. */
struct tp_test {
	enum ivb_transport transport;
	enum ivb_tp_test test;
	const struct ivb_frame *frame;
	uint32_t window;
};

/* A transport the tests run over a connection: not ivshmem, and available here. */
static bool is_connection(const struct ivb_host_config *cfg, size_t k)
{
	return cfg->transports[k] != IVB_TP_IVSHMEM && cfg->transport_skip[k][0] == '\0';
}

bool ivb_transport_wants_ivshmem(const struct ivb_host_config *cfg)
{
	for (size_t i = 0; i < cfg->ntransports; i++)
		if (cfg->transports[i] == IVB_TP_IVSHMEM)
			return true;
	return false;
}

static size_t connections(const struct ivb_host_config *cfg)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->ntransports; i++)
		n += is_connection(cfg, i);
	return n;
}

/* The i-th test of the plan: per connection transport, each stream frame, then each message size streamed and in ping-pong. */
static bool plan_test(const struct ivb_host_config *cfg, size_t i, struct tp_test *t)
{
	const size_t per = cfg->nstream_frames + 2 * cfg->nmessage_sizes;
	size_t c = 0;

	for (size_t k = 0; k < cfg->ntransports; k++) {
		const enum ivb_transport tr = (enum ivb_transport)cfg->transports[k];
		size_t j;

		if (!is_connection(cfg, k))
			continue;
		if (i >= (c + 1) * per) {
			c++;
			continue;
		}
		j = i - c * per;
		if (j < cfg->nstream_frames) {
			*t = (struct tp_test){ tr, IVB_TP_TEST_FRAMES, &cfg->stream_frames[j], cfg->slots };
		} else {
			j -= cfg->nstream_frames;
			*t = (struct tp_test){ tr, j % 2 ? IVB_TP_TEST_PINGPONG : IVB_TP_TEST_MESSAGES, &cfg->message_sizes[j / 2],
					       j % 2 ? 1 : cfg->slots };
		}
		return true;
	}
	return false;
}

#define TRANSPORT_LIST "ivshmem, unix, tcp[:PORT], pipe, vsock[:CID[:PORT]], virtio-serial[:SOCKET], virtio-net[:PORT]"

/* vsock's address: CID[:PORT], each within IVB_TP_VSOCK_MIN_CID (1 for the port) to IVB_TP_VSOCK_MAX. */
static int parse_vsock(struct ivb_host_config *cfg, const char *arg)
{
	char cid[16];
	const char *colon = strchr(arg, ':');
	size_t len = colon != NULL ? (size_t)(colon - arg) : strlen(arg);
	uint64_t c, p = IVB_VSOCK_PORT_DEFAULT;

	if (len >= sizeof(cid))
		return -EINVAL;
	memcpy(cid, arg, len);
	cid[len] = '\0';
	if (ivb_parse_u64(cid, IVB_TP_VSOCK_MIN_CID, IVB_TP_VSOCK_MAX, &c) < 0 ||
	    (colon != NULL && ivb_parse_u64(colon + 1, 1, IVB_TP_VSOCK_MAX, &p) < 0))
		return -EINVAL;
	cfg->vsock_cid = (uint32_t)c;
	cfg->vsock_port = (uint32_t)p;
	return 0;
}

/* The address after NAME: in an item of --transport (tcp:PORT, virtio-net:PORT, virtio-serial:SOCKET, vsock:CID[:PORT]). */
static int parse_address(struct ivb_host_config *cfg, enum ivb_transport t, const char *item, const char *arg, char *why,
			 size_t n)
{
	uint64_t port;

	switch (t) {
	case IVB_TP_TCP:
	case IVB_TP_VIRTIO_NET:
		if (ivb_parse_u64(arg, 1, 65535, &port) < 0)
			break;
		*(t == IVB_TP_TCP ? &cfg->tcp_port : &cfg->net_port) = (uint32_t)port;
		return 0;
	case IVB_TP_VIRTIO_SERIAL:
		if (arg[0] != '/' || strlen(arg) >= sizeof(cfg->serial_socket))
			break;
		snprintf(cfg->serial_socket, sizeof(cfg->serial_socket), "%s", arg);
		return 0;
	case IVB_TP_VSOCK:
		if (parse_vsock(cfg, arg) < 0)
			break;
		return 0;
	case IVB_TP_IVSHMEM:
	case IVB_TP_UNIX:
	case IVB_TP_PIPE: break;
	}
	snprintf(why, n, "--transport: tcp and virtio-net take a port (1 to 65535), virtio-serial an absolute socket path, "
		 "vsock a guest CID and a port (CID[:PORT], 1 to %u each), the others nothing, not '%s'", IVB_TP_VSOCK_MAX, item);
	return -EINVAL;
}

/* Why a VM transport without its address cannot run: no VM gave it one. */
static void vm_skip(const struct ivb_host_config *cfg, enum ivb_transport t, char *why, size_t n)
{
	if (t == IVB_TP_VIRTIO_SERIAL && cfg->serial_socket[0] == '\0')
		snprintf(why, n, "no virtio-serial port: the guest runs in no VM with one (run_test.sh --vm bench gives "
			 "host_writer virtio-serial:SOCKET)");
	else if (t == IVB_TP_VIRTIO_NET && cfg->net_port == 0)
		snprintf(why, n, "no virtio-net port: the guest runs in no VM with one (run_test.sh --vm bench gives "
			 "host_writer virtio-net:PORT)");
	else if (t == IVB_TP_VSOCK && cfg->vsock_cid == 0 && why[0] == '\0' && access(IVB_VHOST_VSOCK, R_OK | W_OK) < 0)
		snprintf(why, n, "no guest CID: no usable " IVB_VHOST_VSOCK " on this host (%s), so no VM with "
			 "vhost-vsock-pci to connect to", strerror(errno));
	else if (t == IVB_TP_VSOCK && cfg->vsock_cid == 0 && why[0] == '\0')
		snprintf(why, n, "no guest CID: the guest runs in no VM with vhost-vsock-pci (run_test.sh --vm bench gives "
			 "host_writer vsock:CID)");
}

/* One item of --transport: a name, or NAME:ADDRESS. */
static int parse_transport(struct ivb_host_config *cfg, const char *item, char *why, size_t n)
{
	char name[16];
	const char *colon = strchr(item, ':');
	size_t len = colon != NULL ? (size_t)(colon - item) : strlen(item);
	enum ivb_transport t;
	int ret;

	if (len >= sizeof(name) || (memcpy(name, item, len), name[len] = '\0', ivb_tp_parse(name, &t) < 0)) {
		snprintf(why, n, "--transport takes " TRANSPORT_LIST ", not '%s'", item);
		return -EINVAL;
	}
	if (colon != NULL && (ret = parse_address(cfg, t, item, colon + 1, why, n)) < 0)
		return ret;
	for (size_t i = 0; i < cfg->ntransports; i++) {
		if (cfg->transports[i] == t) {
			snprintf(why, n, "--transport names %s twice", name);
			return -EINVAL;
		}
	}
	if (cfg->ntransports == IVB_MAX_TRANSPORTS) {
		snprintf(why, n, "--transport takes at most %u transports", IVB_MAX_TRANSPORTS);
		return -EINVAL;
	}
	/* A transport this host cannot offer is skipped with its reason (run.json, the report), never silently. */
	(void)ivb_tp_available(t, cfg->transport_skip[cfg->ntransports], sizeof(cfg->transport_skip[0]));
	vm_skip(cfg, t, cfg->transport_skip[cfg->ntransports], sizeof(cfg->transport_skip[0]));
	cfg->transports[cfg->ntransports++] = t;
	return 0;
}

int ivb_transport_configure(struct ivb_host_config *cfg, char *why, size_t n)
{
	char list[256];
	char *save = NULL;
	size_t tests;
	int ret;

	if (strlen(cfg->transports_arg) >= sizeof(list) || cfg->transports_arg[0] == '\0') {
		snprintf(why, n, "--transport needs a comma-separated list of " TRANSPORT_LIST);
		return -EINVAL;
	}
	snprintf(list, sizeof(list), "%s", cfg->transports_arg);
	for (char *item = strtok_r(list, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save))
		if ((ret = parse_transport(cfg, item, why, n)) < 0)
			return ret;
	if (cfg->ntransports == 0) {
		snprintf(why, n, "--transport needs a comma-separated list of " TRANSPORT_LIST);
		return -EINVAL;
	}
	ret = ivb_parse_size_list(cfg->message_sizes_arg, cfg->message_sizes, IVB_MAX_FRAMES, &cfg->nmessage_sizes);
	if (ret < 0) {
		snprintf(why, n, "--message-sizes needs a comma-separated list of at most %u byte counts, not '%s'",
			 IVB_MAX_FRAMES, cfg->message_sizes_arg);
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->nmessage_sizes; i++) {
		if (cfg->message_sizes[i].size < IVB_RING_MIN_FRAME || cfg->message_sizes[i].size > IVB_TP_MAX_PAYLOAD) {
			snprintf(why, n, "--message-sizes: a message has %u to %llu bytes, not %llu", IVB_RING_MIN_FRAME,
				 IVB_TP_MAX_PAYLOAD, (unsigned long long)cfg->message_sizes[i].size);
			return -EINVAL;
		}
	}
	/* ivshmem's tests are ring streams: the stream frames, and in a comparison each message size twice. */
	if (cfg->stream_seconds > 0 && ivb_transport_wants_ivshmem(cfg))
		cfg->plan.nstreams = (uint32_t)(ivb_frame_streams(cfg) + (connections(cfg) > 0 ? 2 * cfg->nmessage_sizes : 0));
	if (cfg->plan.nstreams > IVB_PLAN_MAX_FRAMES) {
		snprintf(why, n, "ivshmem's streams: %zu stream frames in %zu directions and twice %zu message sizes are "
			 "more than %u", cfg->nstream_frames, cfg->ndirections, cfg->nmessage_sizes, IVB_PLAN_MAX_FRAMES);
		return -EINVAL;
	}
	if (connections(cfg) == 0)
		return 0;
	/* Every transport test lasts as long as a stream (or --transport-seconds): the same on every transport. */
	if (cfg->transport_seconds == 0)
		cfg->transport_seconds = cfg->stream_seconds;
	if (cfg->stream_seconds == 0) {
		snprintf(why, n, "--transport %.100s needs --stream-seconds: how long each transport test runs",
			 cfg->transports_arg);
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->nstream_frames; i++) {
		if (cfg->stream_frames[i].size > IVB_TP_MAX_PAYLOAD) {
			snprintf(why, n, "--stream-frames: a frame over a connection has at most %llu bytes", IVB_TP_MAX_PAYLOAD);
			return -EINVAL;
		}
	}
	tests = connections(cfg) * (cfg->nstream_frames + 2 * cfg->nmessage_sizes);
	if (tests > IVB_MAX_TRANSPORT_TESTS) {
		snprintf(why, n, "--transport and --message-sizes plan %zu transport tests, at most %u fit", tests,
			 IVB_MAX_TRANSPORT_TESTS);
		return -EINVAL;
	}
	cfg->plan.ntransports = (uint32_t)tests;
	return 0;
}

void ivb_transport_init_manifest(struct ivb_run *run)
{
	const struct ivb_host_config *cfg = &run->cfg;
	struct ivb_manifest *m = &run->manifest;

	m->transports_arg = cfg->transports_arg;
	m->message_sizes = cfg->message_sizes_arg;
	if (m->ntransports == cfg->ntransports)
		return; /* already filled: keep what the tests recorded */
	m->ntransports = cfg->ntransports;
	for (size_t i = 0; i < cfg->ntransports; i++) {
		m->transports[i] = (struct ivb_transport_entry){ .name = ivb_tp_name(cfg->transports[i]), .status = "planned" };
		if (cfg->transport_skip[i][0]) {
			m->transports[i].status = "skipped";
			m->transports[i].reason = cfg->transport_skip[i];
		}
		/* ivshmem's comparison is its stream test: none, none to compare. */
		if (cfg->transports[i] == IVB_TP_IVSHMEM && cfg->stream_seconds == 0) {
			m->transports[i].status = "skipped";
			m->transports[i].reason = "no stream test (--stream-seconds 0)";
		}
	}
}

static struct ivb_transport_entry *entry_of(struct ivb_run *run, enum ivb_transport t)
{
	for (size_t i = 0; i < run->manifest.ntransports; i++)
		if (strcmp(run->manifest.transports[i].name, ivb_tp_name(t)) == 0)
			return &run->manifest.transports[i];
	return NULL; /* every planned transport has an entry: not reached */
}

/* What one test needs besides the connection, so that every exit path frees it. */
struct tp_state {
	struct ivb_run *run;
	const struct tp_test *tt;
	struct ivb_transport_test_record *rec;
	struct ivb_sources src;
	uint8_t *corrupt;          /* the corrupted frame's copy, with --corrupt-frame */
	struct ivb_tp_conn conn;
	struct ivb_stream_frame inflight[IVB_TP_MAX_WINDOW];
	uint64_t start_ns, timeout_ns, acked, flushed_window;
	char why[IVB_WHY_LEN];
};

static int tp_fail(struct tp_state *st, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int tp_fail(struct tp_state *st, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->why, sizeof(st->why), fmt, ap);
	va_end(ap);
	return err;
}

/* The next acknowledgement (wait: until the time limit), its row, and the second it came in. */
static int take_ack(struct tp_state *st, bool wait)
{
	struct ivb_transport_test_record *rec = st->rec;
	struct ivb_tp_hdr h;
	struct ivb_stream_frame *f;
	uint64_t now;
	const struct ivb_transport_key key = { ivb_tp_name(st->tt->transport), ivb_tp_test_name(st->tt->test),
					       st->tt->frame->size, st->run->manifest.stream_verify, st->tt->window };
	int ret = ivb_tp_recv_hdr(&st->conn, wait, ivb_now_ns() + st->timeout_ns, IVB_TP_BIT(IVB_TP_ACK), 0, &h, st->why,
				  sizeof(st->why));

	now = ivb_now_ns();
	if (ret == -EAGAIN)
		return ret;
	if (ret == -ETIMEDOUT)
		return tp_fail(st, ret, "the guest acknowledged no frame in time");
	if (ret == -EPIPE)
		return tp_fail(st, ret, "the guest closed the connection before acknowledging every frame it took");
	if (ret < 0)
		return ret == -EPROTO ? ret : tp_fail(st, ret, "%s", strerror(-ret));
	if (h.seq != st->acked || st->acked >= rec->sent)
		return tp_fail(st, -EPROTO, "the guest acknowledged a frame out of order or never sent");
	f = &st->inflight[h.seq % st->tt->window];
	f->status = h.status;
	f->latency_ns = now - st->start_ns - f->publish_ns;
	f->guest_copy_ns = h.a;
	f->guest_verify_ns = h.b;
	ivb_stream_judge(f, st->run->cfg.verify, st->corrupt != NULL && f->seq == st->run->cfg.corrupt_frame,
			 f->latency_ns);
	st->acked++;
	rec->acked++;
	rec->failed += ivb_stream_frame_failed(f);
	rec->unverified += h.status == IVB_FRAME_UNVERIFIED;
	ret = ivb_rows_write_transport(&st->run->out, &key, f);
	if (ret < 0)
		return tp_fail(st, ret, "cannot write the transport CSV: %s", strerror(-ret));
	now = (f->publish_ns + f->latency_ns) / IVB_NS_PER_SEC;
	if (now < IVB_MAX_TRANSPORT_WINDOWS)
		rec->windows[now]++;
	if (now != st->flushed_window) { /* the rows on disk once a second, never inside each frame */
		st->flushed_window = now;
		ret = ivb_csv_flush(&st->run->out.csv[IVB_TABLE_TRANSPORT]);
		if (ret < 0)
			return tp_fail(st, ret, "cannot write the transport CSV: %s", strerror(-ret));
	}
	return 0;
}

/* Send one frame: its stamp, its payload (or the corrupted copy), then whatever acknowledgements came. */
static int send_frame(struct tp_state *st, uint64_t seq)
{
	const struct ivb_sources *src = &st->src;
	uint32_t k = (uint32_t)(seq % src->n);
	const uint8_t *payload = src->frame[k];
	struct ivb_tp_hdr h = { .magic = IVB_TP_HDR_MAGIC, .type = IVB_TP_FRAME, .seq = seq, .len = src->size };
	struct ivb_stream_frame *f = &st->inflight[seq % st->tt->window];
	uint64_t t0;
	int ret;

	ivb_ring_stamp(src->frame[k], seq); /* private memory: the checksum covers the payload after the stamp */
	memcpy(h.checksum, src->checksum[k], sizeof(h.checksum));
	if (st->corrupt != NULL && seq == st->run->cfg.corrupt_frame) {
		memcpy(st->corrupt, payload, src->size);
		st->corrupt[src->size - 1] ^= 0x5a;
		payload = st->corrupt;
	}
	*f = (struct ivb_stream_frame){ .seq = seq, .slot = UINT32_MAX };
	t0 = ivb_now_ns();
	ret = ivb_tp_send(&st->conn, &h, payload, src->size, t0 + st->timeout_ns);
	f->write_ns = ivb_now_ns() - t0;
	f->publish_ns = t0 - st->start_ns;
	if (ret == -EPIPE)
		return tp_fail(st, ret, "the guest closed the connection while a frame was being sent");
	if (ret == -ETIMEDOUT)
		return tp_fail(st, ret, "the guest took no frame in time");
	if (ret < 0)
		return tp_fail(st, ret, "cannot send a frame: %s", strerror(-ret));
	st->rec->sent++;
	while ((ret = take_ack(st, false)) == 0)
		;
	return ret == -EAGAIN ? 0 : ret;
}

/* Frames for the test's seconds, window in flight at most; then END, the last acknowledgements, the guest's RESULT. */
static int exchange(struct tp_state *st)
{
	struct ivb_transport_test_record *rec = st->rec;
	const uint64_t end = st->start_ns + rec->seconds * IVB_NS_PER_SEC;
	struct ivb_tp_hdr h = { .magic = IVB_TP_HDR_MAGIC, .type = IVB_TP_END };
	uint64_t seq;
	int ret;

	for (seq = 0; ivb_now_ns() < end; seq++) {
		if (ivb_stop_requested)
			return tp_fail(st, -EINTR, "stopped by a signal");
		while (seq - st->acked >= st->tt->window)
			if ((ret = take_ack(st, true)) < 0)
				return ret;
		if ((ret = send_frame(st, seq)) < 0)
			return ret;
	}
	h.seq = seq;
	ret = ivb_tp_send(&st->conn, &h, NULL, 0, ivb_now_ns() + st->timeout_ns);
	if (ret < 0)
		return tp_fail(st, ret, "cannot end the test: %s", strerror(-ret));
	while (st->acked < seq)
		if ((ret = take_ack(st, true)) < 0)
			return ret;
	rec->duration_s = (double)(ivb_now_ns() - st->start_ns) / 1e9;
	ret = ivb_tp_recv_hdr(&st->conn, true, ivb_now_ns() + st->timeout_ns, IVB_TP_BIT(IVB_TP_RESULT), 0, &h, st->why,
			      sizeof(st->why));
	if (ret < 0)
		return ret == -EPROTO ? ret : tp_fail(st, ret, "the guest sent no result: %s", strerror(-ret));
	if (h.b != seq || h.seq > h.b || h.a > IVB_MAX_DURATION_NS)
		return tp_fail(st, -EPROTO, "the guest's result is out of range");
	rec->guest_known = true;
	rec->guest_cpu_s = (double)h.a / 1e9;
	rec->guest_taken = h.b;
	rec->guest_verified = h.seq;
	return 0;
}

/* Until the guest connects; a guest that could not acknowledges the message instead (or aborts). */
static int accept_guest(struct tp_state *st, struct ivb_tp_listener *l)
{
	const uint64_t deadline = ivb_now_ns() + st->timeout_ns;

	for (;;) {
		uint64_t now = ivb_now_ns(), slice = now + ACCEPT_SLICE_NS < deadline ? now + ACCEPT_SLICE_NS : deadline;
		uint32_t gstate;
		int ret = ivb_tp_accept(l, slice, &st->conn, st->why, sizeof(st->why));

		if (ret != -ETIMEDOUT)
			return ret;
		gstate = atomic_load_explicit(&st->run->map.region->guest_state, memory_order_acquire);
		if (gstate == IVB_GUEST_ACKNOWLEDGED || gstate == IVB_GUEST_ABORTED)
			return 1;
		if (slice >= deadline) {
			char last[IVB_WHY_LEN];

			/* What the last attempt got, where the transport says (vsock: a guest that never answered). */
			snprintf(last, sizeof(last), "%s", st->why);
			return tp_fail(st, -ETIMEDOUT, "no connection with the guest in time%s%.200s", last[0] ? ": " : "", last);
		}
	}
}

/* One test: listen, send the transport message, exchange frames, collect the guest's acknowledgement. */
static int run_test(struct tp_state *st)
{
	struct ivb_run *run = st->run;
	const struct tp_test *tt = st->tt;
	struct ivb_transport_test_record *rec = st->rec;
	struct ivb_transport_entry *e = entry_of(run, tt->transport);
	struct ivb_tp_spec spec = { .magic = IVB_TP_SPEC_MAGIC, .test = tt->test, .verify = run->cfg.verify,
				    .size = tt->frame->size, .window = tt->window };
	struct ivb_tp_listener l = { .fd = -1 };
	uint8_t no_hash[IVB_SHA256_LEN] = { 0 };
	struct ivb_cpu_span cpu;
	struct ivb_ack ack;
	uint64_t sent_ns;
	int ret;

	ret = ivb_sources_alloc(&st->src, tt->window + 1, tt->frame->size);
	if (ret == 0)
		ret = ivb_sources_fill(&st->src, run->cfg.verify);
	if (ret == 0 && run->cfg.corrupt_frame_set && tt->test == IVB_TP_TEST_FRAMES &&
	    (st->corrupt = ivb_alloc_prefaulted(tt->frame->size)) == NULL)
		ret = -ENOMEM;
	if (ret < 0)
		return tp_fail(st, ret, "cannot make the random frames: %s", strerror(-ret));
	ret = ivb_tp_listen(&l, tt->transport, tt->transport == IVB_TP_VIRTIO_SERIAL ? run->cfg.serial_socket : run->cfg.out_dir,
			    tt->transport == IVB_TP_VIRTIO_NET ? run->cfg.net_port :
			    tt->transport == IVB_TP_VSOCK ? run->cfg.vsock_port : run->cfg.tcp_port,
			    run->cfg.vsock_cid, &spec, st->why, sizeof(st->why));
	if (ret < 0)
		goto err_unlisten;
	if (tt->transport == IVB_TP_TCP || tt->transport == IVB_TP_VIRTIO_NET)
		snprintf(e->address, sizeof(e->address), "127.0.0.1:%u", spec.port);
	else if (tt->transport == IVB_TP_VIRTIO_SERIAL)
		snprintf(e->address, sizeof(e->address), "%s", run->cfg.serial_socket); /* the port: IVB_TP_SERIAL_PORT */
	else if (tt->transport == IVB_TP_VSOCK)
		snprintf(e->address, sizeof(e->address), "%u:%u", run->cfg.vsock_cid, spec.port); /* CID:PORT */
	else
		snprintf(e->address, sizeof(e->address), "%s", spec.path);
	memcpy(ivb_buffer(run->map.region), &spec, sizeof(spec));
	ret = ivb_host_send(&run->host, sizeof(spec), IVB_MSG_TRANSPORT, run->cfg.plan.flags, no_hash, &sent_ns);
	if (ret < 0) {
		tp_fail(st, ret, "cannot send the transport message: %s", strerror(-ret));
		goto err_unlisten;
	}
	ret = accept_guest(st, &l);
	ivb_tp_unlisten(&l); /* one guest per test: nobody else may connect */
	if (ret < 0)
		return ret;
	if (ret == 0) {
		fprintf(stderr, PROG ": %s %s of %s, %u in flight, for %llu s\n", ivb_tp_name(tt->transport),
			ivb_tp_test_name(tt->test), tt->frame->name, tt->window, (unsigned long long)rec->seconds);
		ivb_cpu_span_start(&cpu);
		st->start_ns = ivb_now_ns();
		ret = exchange(st);
		ivb_cpu_span_end(&cpu);
		rec->host_cpu = (struct ivb_cpu_record){ .known = true, .user_s = cpu.user_s, .sys_s = cpu.sys_s,
							 .wall_s = cpu.wall_s, .messages = rec->sent };
		rec->nwindows = (uint32_t)(rec->duration_s >= (double)rec->seconds ? rec->seconds : (uint64_t)rec->duration_s);
		if (rec->nwindows > IVB_MAX_TRANSPORT_WINDOWS)
			rec->nwindows = IVB_MAX_TRANSPORT_WINDOWS;
		ivb_tp_close(&st->conn);
		if (ret < 0)
			return ret;
	}
	ret = ivb_host_wait_ack(&run->host, &ack);
	if (ret < 0)
		return tp_fail(st, ret, "%s", run->host.why);
	if (ack.error_code != IVB_MSG_OK)
		return tp_fail(st, -EPROTO, "the guest could not run the test: %s", ivb_msg_error_name(ack.error_code));
	rec->completed = true;
	ret = ivb_host_next(&run->host);
	return ret < 0 ? tp_fail(st, ret, "%s", run->host.why) : 0;

err_unlisten:
	ivb_tp_unlisten(&l);
	return ret;
}

int ivb_run_transports(struct ivb_run *run)
{
	const struct ivb_host_config *cfg = &run->cfg;
	struct ivb_manifest *m = &run->manifest;
	struct tp_test tt;

	for (size_t i = 0; i < cfg->ntransports; i++) {
		if (cfg->transports[i] == IVB_TP_IVSHMEM && cfg->stream_seconds > 0)
			m->transports[i].status = "ran"; /* its stream test, just before */
		if (cfg->transport_skip[i][0])
			fprintf(stderr, PROG ": %s skipped: %s\n", ivb_tp_name(cfg->transports[i]), cfg->transport_skip[i]);
	}
	for (size_t i = 0; i < cfg->plan.ntransports && plan_test(cfg, i, &tt) &&
			   m->ntransport_tests < IVB_MAX_TRANSPORT_RECORDS; i++) {
		static struct tp_state st; /* large (a window of records); one test at a time */
		struct ivb_transport_entry *e = entry_of(run, tt.transport);
		int ret, flushed;

		memset(&st, 0, sizeof(st));
		st.run = run;
		st.tt = &tt;
		st.conn.rfd = st.conn.wfd = -1;
		st.timeout_ns = cfg->timeout_s * IVB_NS_PER_SEC;
		st.rec = &m->transport_tests[m->ntransport_tests++];
		*st.rec = (struct ivb_transport_test_record){
			.transport = ivb_tp_name(tt.transport), .test = ivb_tp_test_name(tt.test), .verify = m->stream_verify,
			.size_bytes = tt.frame->size, .window = tt.window, .seconds = cfg->transport_seconds,
		};
		e->status = "running";
		ret = run_test(&st);
		ivb_tp_close(&st.conn);
		ivb_sources_free(&st.src);
		ivb_free_buffer(st.corrupt, tt.frame->size);
		/* Every row on disk, however it ended. */
		flushed = ivb_csv_flush(&run->out.csv[IVB_TABLE_TRANSPORT]);
		run->messages_done++;
		if (ret == 0 && flushed < 0)
			ret = tp_fail(&st, flushed, "cannot write the transport CSV: %s", strerror(-flushed));
		if (ret < 0) {
			e->status = "failed";
			if (ret != -EINTR || !run->host.why[0])
				snprintf(run->host.why, sizeof(run->host.why), "%s %s of %.24s: %.180s", ivb_tp_name(tt.transport),
					 ivb_tp_test_name(tt.test), tt.frame->name, st.why);
			e->reason = run->host.why; /* kept until run.json is written */
			return ret;
		}
		e->status = "ran";
		printf(PROG ": %s %s of %s: %llu sent in %.2f s, %llu acknowledged, %llu failed%s\n", ivb_tp_name(tt.transport),
		       ivb_tp_test_name(tt.test), tt.frame->name, (unsigned long long)st.rec->sent, st.rec->duration_s,
		       (unsigned long long)st.rec->acked, (unsigned long long)st.rec->failed,
		       cfg->verify == IVB_VERIFY_NONE ? " (not verified)" : "");
		ivb_run_progress(run, "transport", false);
	}
	return 0;
}
