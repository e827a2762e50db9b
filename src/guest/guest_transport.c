/* guest_transport.c: a transport message (transport.h): connect to what the host names, take its frames,
 * copy each off the connection and verify it as the stream test does, acknowledge each, report the cost. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "guest.h"
#include "stream.h"
#include "transport.h"

/* Frames until the host's END: read, check, acknowledge. Returns: 0, or a negative errno (why). */
static int take_frames(struct ivb_tp_conn *c, const struct ivb_tp_spec *spec, uint8_t *scratch, uint64_t timeout_ns,
		       uint64_t *taken, uint64_t *verified, char *why, size_t n)
{
	for (;;) {
		struct ivb_tp_hdr h, ack = { .magic = IVB_TP_HDR_MAGIC, .type = IVB_TP_ACK };
		uint64_t t0, t1, t2;
		int ret = ivb_tp_recv_hdr(c, true, ivb_now_ns() + timeout_ns, IVB_TP_BIT(IVB_TP_FRAME) | IVB_TP_BIT(IVB_TP_END),
					  spec->size, &h, why, n);

		if (ret == -EPROTO)
			return ret;
		if (ret < 0) {
			snprintf(why, n, "%s after %llu frames", ret == -EPIPE ? "the host closed the connection" :
				 ret == -ETIMEDOUT ? "the host sent no frame in time" : strerror(-ret), (unsigned long long)*taken);
			return ret;
		}
		if (h.type == IVB_TP_END) {
			if (h.seq != *taken) {
				snprintf(why, n, "the host ended after %llu frames, %llu came", (unsigned long long)h.seq,
					 (unsigned long long)*taken);
				return -EPROTO;
			}
			return 0;
		}
		if (h.seq != *taken) {
			snprintf(why, n, "the host sent frame %llu where %llu was due", (unsigned long long)h.seq,
				 (unsigned long long)*taken);
			return -EPROTO;
		}
		t0 = ivb_now_ns();
		ret = ivb_tp_recv_payload(c, scratch, h.len, t0 + timeout_ns);
		t1 = ivb_now_ns();
		if (ret < 0) {
			snprintf(why, n, "frame %llu: %s", (unsigned long long)h.seq,
				 ret == -EPIPE ? "the host closed the connection" : strerror(-ret));
			return ret;
		}
		ack.status = (uint16_t)ivb_stream_check_copy(spec->verify, h.seq, scratch, h.len, h.checksum);
		t2 = ivb_now_ns();
		ack.seq = h.seq;
		ack.a = t1 - t0;
		ack.b = t2 - t1;
		(*taken)++;
		*verified += ack.status == IVB_FRAME_OK;
		ret = ivb_tp_send(c, &ack, NULL, 0, t2 + timeout_ns);
		if (ret < 0) {
			snprintf(why, n, "cannot acknowledge frame %llu: %s", (unsigned long long)h.seq,
				 ret == -EPIPE ? "the host closed the connection" : strerror(-ret));
			return ret;
		}
	}
}

uint32_t ivb_reader_transport(struct ivb_reader_workspace *w, const uint8_t *shared, const struct ivb_message *msg)
{
	struct ivb_tp_spec spec;
	struct ivb_tp_conn c;
	struct ivb_tp_hdr result = { .magic = IVB_TP_HDR_MAGIC, .type = IVB_TP_RESULT };
	struct ivb_cpu_span cpu;
	uint64_t taken = 0, verified = 0, timeout_ns = w->g->timeout_ns;
	uint8_t *scratch;
	char why[IVB_WHY_LEN];
	int ret;

	if (msg->size != sizeof(spec)) {
		fprintf(stderr, PROG ": transport: the message holds %llu bytes, not a %zu-byte spec\n",
			(unsigned long long)msg->size, sizeof(spec));
		return IVB_MSG_BAD_SIZE;
	}
	memcpy(&spec, shared, sizeof(spec)); /* untrusted: one copy, checked */
	if (ivb_tp_check_spec(&spec, why, sizeof(why)) < 0) {
		fprintf(stderr, PROG ": transport: %s\n", why);
		return IVB_MSG_BAD_SIZE;
	}
	scratch = ivb_alloc_prefaulted(spec.size);
	if (scratch == NULL) {
		fprintf(stderr, PROG ": transport: cannot allocate a %llu-byte frame: %s\n", (unsigned long long)spec.size,
			strerror(errno));
		return IVB_MSG_GUEST_FAILURE;
	}
	ret = ivb_tp_connect(&spec, ivb_now_ns() + timeout_ns, &c, why, sizeof(why));
	if (ret < 0) {
		fprintf(stderr, PROG ": transport %s: %s\n", ivb_tp_name(spec.transport), why);
		ivb_free_buffer(scratch, spec.size);
		return IVB_MSG_GUEST_FAILURE;
	}
	ivb_cpu_span_start(&cpu);
	ret = take_frames(&c, &spec, scratch, timeout_ns, &taken, &verified, why, sizeof(why));
	ivb_cpu_span_end(&cpu);
	if (ret == 0) {
		result.seq = verified;
		result.a = (uint64_t)((cpu.user_s + cpu.sys_s) * 1e9);
		result.b = taken;
		ret = ivb_tp_send(&c, &result, NULL, 0, ivb_now_ns() + timeout_ns);
		if (ret < 0)
			snprintf(why, sizeof(why), "cannot send the result: %s", strerror(-ret));
	}
	ivb_tp_close(&c);
	ivb_free_buffer(scratch, spec.size);
	if (ret < 0) {
		fprintf(stderr, PROG ": transport %s %s: %s\n", ivb_tp_name(spec.transport), ivb_tp_test_name(spec.test), why);
		return IVB_MSG_GUEST_FAILURE;
	}
	fprintf(stderr, PROG ": transport %s %s of %llu-byte frames: %llu taken, %llu verified\n",
		ivb_tp_name(spec.transport), ivb_tp_test_name(spec.test), (unsigned long long)spec.size,
		(unsigned long long)taken, (unsigned long long)verified);
	return IVB_MSG_OK;
}
