/* guest_reader: the guest side of ivshmem-bench.
 *
 * Maps the region (BAR2 of the ivshmem PCI device, or a /dev/shm file in loopback), then for each
 * message times the four phases (hot read, cold read, copy out, SHA-256 verify), reports them
 * through the region and acknowledges, until the host completes the run. Its parts: guest.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "defaults.h"
#include "guest.h"

/*
 * Doorbell mode: the given socket or file; in a VM by default the driver's file of the device we
 * mapped (map; NULL: nothing mapped yet, a server's region to come). Returns: 0, or -1 after saying why.
 */
static int join_doorbell(const struct ivb_reader_config *cfg, const struct ivb_mapping *map, struct ivb_bell *bell)
{
	char why[IVB_BELL_WHY_LEN];
	int ret;

	if (cfg->doorbell != NULL)
		ret = ivb_bell_open(bell, cfg->doorbell, map != NULL && map->device[0] ? map->device : NULL,
				    cfg->timeout_s * IVB_NS_PER_SEC, why, sizeof(why));
	else
		ret = ivb_bell_open_device_of(bell, cfg->dev_dir, map->device, why, sizeof(why));
	if (ret < 0) {
		fprintf(stderr, PROG ": doorbell mode: %s\n", why);
		return -1;
	}
	return 0;
}

/* While the first contact lasts: say what we wait for, so that a person starting the host by hand knows. */
static void waiting_for_host(void *ctx, uint64_t waited_s, uint64_t limit_s)
{
	(void)ctx;
	fprintf(stderr, PROG ": waiting for host_writer to make the region ready (%llu s of %llu s; --connect-timeout)\n",
		(unsigned long long)waited_s, (unsigned long long)limit_s);
}

int main(int argc, char **argv)
{
	struct ivb_reader_config cfg;
	struct ivb_mapping map;
	struct ivb_guest_info info;
	struct ivb_guest g;
	struct ivb_bell bell;
	struct ivb_cpu_span cpu = { 0 }; /* no span without a host */
	struct ivb_reader_tally t = { 0 };
	struct ivb_reader_workspace w;
	char missing[512], region_name[4096];
	int ret;

	ivb_reader_parse_args(argc, argv, &cfg);
	const struct ivb_first_contact contact = { cfg.connect_timeout_s * IVB_NS_PER_SEC,
						   IVB_CONNECT_NOTICE_S * IVB_NS_PER_SEC, waiting_for_host, NULL };
	ivb_install_stop_signals();
	if (cfg.server_region) {
		/* The server's region is the one to map: join it first. */
		if (join_doorbell(&cfg, NULL, &bell) < 0)
			return IVB_EXIT_FAILURE;
		if (ivb_reader_map_server_region(&cfg, &bell, &map, region_name, sizeof(region_name)) < 0) {
			ivb_bell_close(&bell);
			return IVB_EXIT_FAILURE;
		}
		cfg.shm_path = region_name;
	} else if (ivb_reader_map_region(&cfg, &map) < 0) {
		return IVB_EXIT_FAILURE;
	}
	if (map.size < IVB_REGION_MIN_SIZE) {
		fprintf(stderr, PROG ": the region has %zu bytes, less than the %u a header and a page need\n", map.size,
			IVB_REGION_MIN_SIZE);
		if (cfg.server_region)
			ivb_bell_close(&bell);
		ivb_unmap(&map);
		return IVB_EXIT_FAILURE;
	}
	/* Pre-faulted before the first message: no page fault may fall inside phase C. */
	memset(&w, 0, sizeof(w));
	ivb_map_set_init(&w.study, &map, cfg.sysfs_root, cfg.dev_dir);
	w.g = &g;
	ivb_perf_open(&w.perf);
	ivb_perf_describe_missing(&w.perf, missing, sizeof(missing));
	if (missing[0])
		fprintf(stderr, PROG ": counters %s\n", missing);
	ivb_reader_describe(&map, &info);
	fprintf(stderr, PROG ": mapped %s%s%s (%zu bytes, memory type %s, flush %s); waiting for the host\n",
		ivb_map_kind_name(map.kind), map.device[0] ? " of " : " ", map.device[0] ? map.device : cfg.shm_path,
		map.size, info.memtype, ivb_flush_method());

	if (cfg.doorbell_mode && !cfg.server_region && join_doorbell(&cfg, &map, &bell) < 0) {
		ivb_unmap(&map);
		return IVB_EXIT_FAILURE;
	}
	/* Said once both the bell and the region are ours: a refused region is one line on its own. */
	if (cfg.doorbell_mode || cfg.server_region)
		fprintf(stderr, PROG ": doorbell mode: ivshmem peer %d\n", bell.id);
	ret = ivb_guest_bind_contact(&g, map.region, map.size, &contact, cfg.timeout_s * IVB_NS_PER_SEC, &info,
				     cfg.doorbell_mode ? &bell : NULL);
	if (ret == 0) {
		/* Map every page of the buffer now: a first touch inside phase A would time a page fault. */
		for (size_t off = 0; off < g.capacity; off += 4096)
			(void)*(volatile uint8_t *)(ivb_buffer(map.region) + off);
		fprintf(stderr, PROG ": bound to the host; expecting %llu messages (its plan)\n", (unsigned long long)g.planned);
		ivb_cpu_span_start(&cpu);
		ret = ivb_reader_serve(&g, &w, &t);
		ivb_cpu_span_end(&cpu);
		if (ret == 0)
			ivb_reader_publish_summary(&g, &cpu, &t);
	}
	if (ret < 0) {
		ivb_guest_abort(&g, ret == -EINTR ? IVB_ABORT_SIGNAL : ret == -ETIMEDOUT ? IVB_ABORT_TIMEOUT
											 : IVB_ABORT_PROTOCOL);
		if (ivb_stop_signal != 0)
			fprintf(stderr, PROG ": stopped by signal %d (%s)\n", ivb_stop_signal, strsignal(ivb_stop_signal));
		else
			fprintf(stderr, PROG ": %s\n", g.why[0] ? g.why : strerror(-ret));
	}
	printf(PROG ": %llu messages, %llu verified, %llu failed; mapping %s%s%s, memory type %s; "
	       "cpu user %.3f s sys %.3f s in %.3f s%s\n",
	       (unsigned long long)t.messages, (unsigned long long)t.verified, (unsigned long long)t.failed,
	       ivb_map_kind_name(map.kind), map.device[0] ? " of " : "", map.device,
	       map.memtype[0] ? map.memtype : "unknown", cpu.user_s, cpu.sys_s, cpu.wall_s,
	       ret < 0 ? "; stopped early" : "");
	if (t.stream_frames_failed > 0)
		printf(PROG ": %llu stream frames failed their check\n", (unsigned long long)t.stream_frames_failed);
	ivb_perf_close(&w.perf);
	ivb_huge_free(&w.huge);
	ivb_map_set_close(&w.study);
	if (cfg.doorbell_mode) {
		printf(PROG ": doorbell: peer %d, %llu rings sent, %llu received, %llu late wake-ups\n", bell.id,
		       (unsigned long long)bell.rings_sent, (unsigned long long)bell.rings_received,
		       (unsigned long long)bell.late_wakeups);
		ivb_bell_report_late(&bell, PROG);
		ivb_bell_close(&bell);
	}
	ivb_free_buffer(w.copy, w.buffer_size);
	ivb_free_buffer(w.private_src, w.buffer_size);
	ivb_unmap(&map);
	return ret < 0 || t.failed > 0 || t.stream_frames_failed > 0 ? IVB_EXIT_FAILURE : IVB_EXIT_OK;
}
