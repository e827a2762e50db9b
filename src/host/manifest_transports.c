/* manifest_transports.c: run.json's "transports" block: which transports ran or were skipped and why,
 * and each connection test's counts, 1-second windows and CPU time (rates are the analysis's). */
#include "json.h"
#include "manifest.h"

static void write_test(struct ivb_json *j, const struct ivb_transport_test_record *t)
{
	ivb_json_object(j, IVB_RK_TRANSPORTS_TESTS_ITEM);
	ivb_json_str(j, IVB_RK_TRANSPORTS_TESTS_TRANSPORT, t->transport);
	ivb_json_str(j, IVB_RK_TRANSPORTS_TESTS_TEST, t->test);
	ivb_json_u64(j, IVB_RK_TRANSPORTS_TESTS_SIZE_BYTES, t->size_bytes);
	ivb_json_str(j, IVB_RK_TRANSPORTS_TESTS_VERIFY, t->verify);
	ivb_json_u64(j, IVB_RK_TRANSPORTS_TESTS_WINDOW, t->window);
	ivb_json_u64(j, IVB_RK_TRANSPORTS_TESTS_SECONDS, t->seconds);
	ivb_json_bool(j, IVB_RK_TRANSPORTS_TESTS_COMPLETED, t->completed);
	ivb_json_u64(j, IVB_RK_TRANSPORTS_TESTS_SENT, t->sent);
	ivb_json_u64(j, IVB_RK_TRANSPORTS_TESTS_ACKED, t->acked);
	ivb_json_u64(j, IVB_RK_TRANSPORTS_TESTS_FAILED, t->failed);
	ivb_json_u64(j, IVB_RK_TRANSPORTS_TESTS_UNVERIFIED, t->unverified);
	ivb_json_fixed(j, IVB_RK_TRANSPORTS_TESTS_DURATION_S, t->duration_s, 6);
	ivb_json_array(j, IVB_RK_TRANSPORTS_TESTS_WINDOWS);
	for (uint32_t i = 0; i < t->nwindows; i++)
		ivb_json_u64(j, IVB_RK_TRANSPORTS_TESTS_WINDOWS_ITEM, t->windows[i]);
	ivb_json_array_end(j);
	if (t->host_cpu.known) {
		ivb_json_object(j, IVB_RK_TRANSPORTS_TESTS_HOST_CPU);
		ivb_json_fixed(j, IVB_RK_TRANSPORTS_TESTS_HOST_CPU_USER_S, t->host_cpu.user_s, 6);
		ivb_json_fixed(j, IVB_RK_TRANSPORTS_TESTS_HOST_CPU_SYS_S, t->host_cpu.sys_s, 6);
		ivb_json_fixed(j, IVB_RK_TRANSPORTS_TESTS_HOST_CPU_WALL_S, t->host_cpu.wall_s, 6);
		ivb_json_object_end(j);
	}
	if (t->guest_known) {
		ivb_json_fixed(j, IVB_RK_TRANSPORTS_TESTS_GUEST_CPU_S, t->guest_cpu_s, 6);
		ivb_json_u64(j, IVB_RK_TRANSPORTS_TESTS_GUEST_TAKEN, t->guest_taken);
		ivb_json_u64(j, IVB_RK_TRANSPORTS_TESTS_GUEST_VERIFIED, t->guest_verified);
	}
	ivb_json_object_end(j);
}

void ivb_manifest_write_transports(struct ivb_json *j, const struct ivb_manifest *m)
{
	ivb_json_object(j, IVB_RK_TRANSPORTS);
	if (m->transports_arg != NULL) /* NULL: not configured (a manifest filled before the options) */
		ivb_json_str(j, IVB_RK_TRANSPORTS_LIST, m->transports_arg);
	if (m->message_sizes != NULL)
		ivb_json_str(j, IVB_RK_TRANSPORTS_MESSAGE_SIZES, m->message_sizes);
	ivb_json_array(j, IVB_RK_TRANSPORTS_ENTRIES);
	for (size_t i = 0; i < m->ntransports; i++) {
		const struct ivb_transport_entry *e = &m->transports[i];

		ivb_json_object(j, IVB_RK_TRANSPORTS_ENTRIES_ITEM);
		ivb_json_str(j, IVB_RK_TRANSPORTS_ENTRIES_NAME, e->name);
		ivb_json_str(j, IVB_RK_TRANSPORTS_ENTRIES_STATUS, e->status);
		if (e->reason != NULL)
			ivb_json_str(j, IVB_RK_TRANSPORTS_ENTRIES_REASON, e->reason);
		if (e->address[0])
			ivb_json_str(j, IVB_RK_TRANSPORTS_ENTRIES_ADDRESS, e->address);
		ivb_json_object_end(j);
	}
	ivb_json_array_end(j);
	ivb_json_array(j, IVB_RK_TRANSPORTS_TESTS);
	for (size_t i = 0; i < m->ntransport_tests; i++)
		write_test(j, &m->transport_tests[i]);
	ivb_json_array_end(j);
	ivb_json_object_end(j);
}
