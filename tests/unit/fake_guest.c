/* fake_guest.c: host_writer's run against a fake guest thread (see fake_guest.h). */
#include "fake_guest.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Keep the first failure of the set-up, said on stderr with its step. */
static void setup_failed(int *first, int ret, const char *step)
{
	fprintf(stderr, "fake guest: %s failed: %s\n", step, strerror(ret < 0 ? -ret : ret));
	if (*first == 0)
		*first = ret < 0 ? ret : -ret;
}

int fake_guest_prepare(struct ivb_run *run, size_t size, const char *dir, const char *name)
{
	static char out_dir[256];
	struct ivb_region *region;

	memset(run, 0, sizeof(*run));
	region = aligned_alloc(4096, size);
	if (region == NULL)
		return -ENOMEM;
	memset(region, 0, size);
	snprintf(out_dir, sizeof(out_dir), "%s/%s", dir, name);
	run->cfg.out_dir = out_dir;
	run->cfg.shm_path = "(test region)";
	run->cfg.frames_arg = "";
	run->map.region = region;
	run->map.size = size;
	run->map.fd = -1;
	return 0;
}

int fake_guest_run(struct ivb_run *run, uint64_t session, uint64_t timeout_ns, bool run_all,
		   void *(*guest)(void *), void *arg, int *result)
{
	pthread_t tid;
	bool started;
	int setup = 0, ret;

	ivb_output_init_manifest(run, run->map.size);
	if ((ret = ivb_output_open(run)) != 0)
		setup_failed(&setup, ret, "opening the outputs");
	if ((ret = ivb_host_init(&run->host, run->map.region, run->map.size, session, timeout_ns, NULL,
				 &run->cfg.plan)) != 0)
		setup_failed(&setup, ret, "the host's init");
	started = (ret = pthread_create(&tid, NULL, guest, arg)) == 0;
	if (!started)
		setup_failed(&setup, ret, "starting the guest thread");
	if ((ret = ivb_host_wait_guest(&run->host, &run->manifest.guest)) != 0)
		setup_failed(&setup, ret, "waiting for the guest");
	run->manifest.guest_known = 1;
	ret = run_all ? ivb_run_all(run) : 0;
	if (ret == 0 && run->cfg.plan.nstreams != 0) {
		alarm(60); /* a host that never ends a stream fails the test instead of hanging it */
		ret = ivb_run_streams(run);
		alarm(0);
	}
	if (ret == 0)
		ivb_host_finish(&run->host);
	else
		ivb_host_abort(&run->host, IVB_ABORT_PROTOCOL);
	run->manifest.abort_reason = ret < 0 ? run->host.why : NULL;
	ivb_output_write_manifest(run, ret == 0 ? "completed" : "aborted");
	ivb_output_close(run);
	if (started)
		pthread_join(tid, NULL);
	free(run->map.region);
	*result = ret;
	return setup;
}
