/* fuzz_transport.c: the records a transport's peer sends (src/shared/transport.c), as each side reads them.
 *
 * Input: a byte choosing the largest frame the reader accepts, then the bytes the peer wrote on the
 * connection, whole, then its end. Both readers run over them through a real socket pair: the guest's
 * (FRAME and END, each payload read and checked as guest_transport.c does) and the host's (ACK and
 * RESULT). Every record must be bounded before use (ASan reports a read past the scratch frame); each
 * reader stops at the first error, and the end of the input ends it. The first bytes are also read as
 * a transport message's spec, as the guest reads it from the region: an accepted spec's size, window, path
 * and port (tcp, virtio-net, vsock) must be within their bounds. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "stream.h"
#include "transport.h"

#define MAX_INPUT (64u * 1024u) /* below a socket pair's buffer: the whole input is written before reading */
#define WHY 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read records of `types` until an error or the end of the input; a FRAME's payload into a frame-sized scratch. */
static void read_records(const uint8_t *data, size_t size, uint32_t types, uint64_t max_len)
{
	struct ivb_tp_conn c;
	struct ivb_tp_hdr h;
	char why[WHY];
	uint8_t *scratch = max_len > 0 ? malloc(max_len) : NULL;
	int sv[2];

	if ((max_len > 0 && scratch == NULL) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	if (size > 0 && write(sv[1], data, size) != (ssize_t)size)
		abort();
	close(sv[1]);
	ivb_tp_conn_init(&c, sv[0], sv[0]);
	for (unsigned n = 0; n < MAX_INPUT; n++) {
		const uint64_t deadline = ivb_now_ns() + IVB_NS_PER_SEC;

		if (ivb_tp_recv_hdr(&c, true, deadline, types, max_len, &h, why, sizeof(why)) < 0)
			break;
		if (h.type != IVB_TP_FRAME)
			continue;
		if (h.len > max_len || h.len < IVB_RING_STAMP_LEN) /* the parser's promise */
			abort();
		if (ivb_tp_recv_payload(&c, scratch, h.len, deadline) < 0)
			break;
		(void)ivb_stream_check_copy(IVB_VERIFY_XXH3, h.seq, scratch, h.len, h.checksum);
	}
	ivb_tp_close(&c);
	free(scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ivb_tp_spec spec;
	char why[WHY];
	uint64_t max_len;

	if (size < 1 || size > MAX_INPUT)
		return 0;
	signal(SIGPIPE, SIG_IGN);
	max_len = IVB_RING_STAMP_LEN + (uint64_t)data[0] * 16u;
	if (size - 1 >= sizeof(spec)) {
		memcpy(&spec, data + 1, sizeof(spec));
		if (ivb_tp_check_spec(&spec, why, sizeof(why)) == 0 &&
		    (spec.size < IVB_RING_MIN_FRAME || spec.size > IVB_TP_MAX_PAYLOAD || spec.window == 0 ||
		     memchr(spec.path, '\0', sizeof(spec.path)) == NULL ||
		     (spec.transport == IVB_TP_VSOCK && (spec.port == 0 || spec.port > IVB_TP_VSOCK_MAX)) ||
		     ((spec.transport == IVB_TP_TCP || spec.transport == IVB_TP_VIRTIO_NET) && (spec.port == 0 || spec.port > 65535))))
			abort();
	}
	read_records(data + 1, size - 1, IVB_TP_BIT(IVB_TP_FRAME) | IVB_TP_BIT(IVB_TP_END), max_len);
	read_records(data + 1, size - 1, IVB_TP_BIT(IVB_TP_ACK) | IVB_TP_BIT(IVB_TP_RESULT), 0);
	return 0;
}
