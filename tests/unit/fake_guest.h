/* fake_guest.h: host_writer's run against a fake guest, a thread of the test on an aligned buffer, as host_writer's
 * main runs it (output files, manifest, handshake, tests, finish or abort), for the hostile-guest tests. */
#ifndef IVB_FAKE_GUEST_H
#define IVB_FAKE_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host.h"

/*
 * Clear *run and give it a zeroed region of size bytes (run->map.region, 4096-aligned) and the output folder
 * dir/name; the caller then fills run->cfg, and run->frame/reference if the run sends messages.
 * Returns: 0, or -ENOMEM (the run is not prepared).
 */
int fake_guest_prepare(struct ivb_run *run, size_t size, const char *dir, const char *name);

/*
 * Open the outputs, start the host on the region (session, timeout_ns), start guest(arg) as a thread and wait
 * for it, run the message tests (when run_all) and then the plan's streams (each bounded by an alarm), finish or
 * abort, write the manifest, close the outputs, join the thread and free the region. The caller sets
 * run->messages_total before, and frees its own buffers after.
 * *result: the run's result: 0, or the negative errno the host stopped with (run->host.why says why).
 * Returns: 0, or the negative errno of the first step of the set-up that failed (said on stderr).
 */
int fake_guest_run(struct ivb_run *run, uint64_t session, uint64_t timeout_ns, bool run_all,
		   void *(*guest)(void *), void *arg, int *result);

#endif /* IVB_FAKE_GUEST_H */
