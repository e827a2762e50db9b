/* manifest_transports.c: run.json's "transports" block: which transports ran or were skipped and why,
 * and each connection test's counts, 1-second windows and CPU time (rates are the analysis's). */
#include "json.h"
#include "manifest.h"

static void write_cpu(struct ivb_json *j, const char *key, const struct ivb_cpu_record *c)
{
	ivb_json_object(j, key);
	ivb_json_fixed(j, "user_s", c->user_s, 6);
	ivb_json_fixed(j, "sys_s", c->sys_s, 6);
	ivb_json_fixed(j, "wall_s", c->wall_s, 6);
	ivb_json_object_end(j);
}

static void write_test(struct ivb_json *j, const struct ivb_transport_test_record *t)
{
	ivb_json_object(j, NULL);
	ivb_json_str(j, "transport", t->transport);
	ivb_json_str(j, "test", t->test);
	ivb_json_u64(j, "size_bytes", t->size_bytes);
	ivb_json_str(j, "verify", t->verify);
	ivb_json_u64(j, "window", t->window);
	ivb_json_u64(j, "seconds", t->seconds);
	ivb_json_bool(j, "completed", t->completed);
	ivb_json_u64(j, "sent", t->sent);
	ivb_json_u64(j, "acked", t->acked);
	ivb_json_u64(j, "failed", t->failed);
	ivb_json_u64(j, "unverified", t->unverified);
	ivb_json_fixed(j, "duration_s", t->duration_s, 6);
	ivb_json_array(j, "windows");
	for (uint32_t i = 0; i < t->nwindows; i++)
		ivb_json_u64(j, NULL, t->windows[i]);
	ivb_json_array_end(j);
	if (t->host_cpu.known)
		write_cpu(j, "host_cpu", &t->host_cpu);
	if (t->guest_known) {
		ivb_json_fixed(j, "guest_cpu_s", t->guest_cpu_s, 6);
		ivb_json_u64(j, "guest_taken", t->guest_taken);
		ivb_json_u64(j, "guest_verified", t->guest_verified);
	}
	ivb_json_object_end(j);
}

void ivb_manifest_write_transports(struct ivb_json *j, const struct ivb_manifest *m)
{
	ivb_json_object(j, "transports");
	if (m->transports_arg != NULL) /* NULL: not configured (a manifest filled before the options) */
		ivb_json_str(j, "list", m->transports_arg);
	if (m->message_sizes != NULL)
		ivb_json_str(j, "message_sizes", m->message_sizes);
	ivb_json_array(j, "entries");
	for (size_t i = 0; i < m->ntransports; i++) {
		const struct ivb_transport_entry *e = &m->transports[i];

		ivb_json_object(j, NULL);
		ivb_json_str(j, "name", e->name);
		ivb_json_str(j, "status", e->status);
		if (e->reason != NULL)
			ivb_json_str(j, "reason", e->reason);
		if (e->address[0])
			ivb_json_str(j, "address", e->address);
		ivb_json_object_end(j);
	}
	ivb_json_array_end(j);
	ivb_json_array(j, "tests");
	for (size_t i = 0; i < m->ntransport_tests; i++)
		write_test(j, &m->transport_tests[i]);
	ivb_json_array_end(j);
	ivb_json_object_end(j);
}
