/* host_options.c: host_writer's options, the usage text in the order of the option table, and the plan
 * they make (the tests, frames and streams the guest learns from the region). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "defaults.h"
#include "host.h"
#include "opts.h"
#include "region.h"
#include "stream.h"

/* --stream-direction: a list of directions, each at most once; both (one ring each way at once) is not run yet. */
static void parse_directions(struct ivb_host_config *cfg)
{
	char list[64], *save = NULL;

	if (snprintf(list, sizeof(list), "%s", cfg->stream_direction_arg) >= (int)sizeof(list))
		ivb_die_usage(PROG, "--stream-direction needs host-to-guest, guest-to-host or both of them, not '%s'",
			      cfg->stream_direction_arg);
	cfg->ndirections = 0;
	for (char *word = strtok_r(list, ",", &save); word != NULL; word = strtok_r(NULL, ",", &save)) {
		uint32_t d;

		if (ivb_direction_parse(word, &d) < 0)
			ivb_die_usage(PROG, "--stream-direction needs host-to-guest, guest-to-host or both of them, not '%s'",
				      word);
		if (d == IVB_DIR_BOTH)
			ivb_die_usage(PROG, "--stream-direction both (one ring each way at once) is not implemented yet: "
					    "list host-to-guest,guest-to-host to run them one after the other");
		for (size_t k = 0; k < cfg->ndirections; k++)
			if (cfg->stream_directions[k] == d)
				ivb_die_usage(PROG, "--stream-direction lists %s twice", word);
		cfg->stream_directions[cfg->ndirections++] = d; /* two distinct values at most: it fits */
	}
	if (cfg->ndirections == 0)
		ivb_die_usage(PROG, "--stream-direction needs host-to-guest, guest-to-host or both of them");
}

/* run.json holds IVB_MAX_STREAMS stream records: one per stream frame, direction and host consumer. */
static void check_stream_records(const struct ivb_host_config *cfg)
{
	size_t per_frame = 0;

	if (cfg->stream_seconds == 0)
		return;
	for (size_t k = 0; k < cfg->ndirections; k++)
		per_frame += ivb_stream_records(cfg, cfg->stream_directions[k]);
	if (cfg->nstream_frames * per_frame > IVB_MAX_STREAMS)
		ivb_die_usage(PROG, "%zu stream frames with %zu records each (one per direction and consumer) make %zu "
			      "stream records, more than the %u a run holds: give fewer --stream-frames or --consumers",
			      cfg->nstream_frames, per_frame, cfg->nstream_frames * per_frame, IVB_MAX_STREAMS);
}

/* --consumers, --consumer-timeout and --stall-consumer: for guest-to-host streams only. */
static void parse_consumers(struct ivb_host_config *cfg, const char *timeout_arg, const char *stall_arg)
{
	bool g2h = false;
	char *colon;

	for (size_t k = 0; k < cfg->ndirections; k++)
		g2h |= cfg->stream_directions[k] == IVB_DIR_GUEST_TO_HOST;
	if (ivb_parse_duration_ns(timeout_arg, 1000000ull, IVB_MAX_DURATION_NS, &cfg->consumer_timeout_ns) < 0)
		ivb_die_usage(PROG, "--consumer-timeout needs a duration from 1ms to 3600s (e.g. 1s, 500ms), not '%s'",
			      timeout_arg);
	if (cfg->nconsumers > 1 && (!g2h || cfg->stream_seconds == 0))
		ivb_die_usage(PROG, "--consumers %u is for a guest-to-host stream: give --stream-seconds and "
			      "--stream-direction guest-to-host", cfg->nconsumers);
	if (stall_arg == NULL)
		return;
	colon = strchr(stall_arg, ':');
	if (colon == NULL)
		ivb_die_usage(PROG, "--stall-consumer needs CONSUMER:FRAME, not '%s'", stall_arg);
	*colon = '\0';
	cfg->stall_consumer = (uint32_t)ivb_parse_count_or_die(PROG, "--stall-consumer's consumer", stall_arg, 0,
								cfg->nconsumers - 1);
	cfg->stall_frame = ivb_parse_count_or_die(PROG, "--stall-consumer's frame", colon + 1, 0, UINT64_MAX);
	cfg->stall_set = true;
	if (!g2h || cfg->stream_seconds == 0)
		ivb_die_usage(PROG, "--stall-consumer is for a guest-to-host stream");
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " [OPTION]...\n"
		"Send random frames through an ivshmem region to guest_reader and time every stage.\n"
		"\n"
		"  --shm PATH             region file (default " IVB_SHM_PATH_DEFAULT "; in doorbell mode the\n"
		"                         ivshmem server's region, which must then be PATH)\n"
		"  --size BYTES           region size; K, M, G suffixes are KiB, MiB, GiB\n"
		"                         (default: the file's size, or 64M for a new file; in doorbell\n"
		"                         mode the server's region's, which it must then be)\n"
		"  --out DIR              folder for the CSVs and run.json (default " IVB_OUT_DIR_DEFAULT ")\n"
		"  --iterations N         latency test iterations (default %u; 0 skips the test)\n"
		"  --latency-frame F      frame of the latency test (default " IVB_LATENCY_FRAME_DEFAULT ")\n"
		"  --bw-iterations N      bandwidth test iterations per frame (default %u; 0 skips)\n"
		"  --frames LIST          bandwidth frames: 1080p, 1440p, 4k or byte counts, comma-separated\n"
		"                         (default " IVB_FRAMES_DEFAULT ")\n"
		"  --ref-iterations N     reference iterations per frame: the guest's phases on private\n"
		"                         memory and the host's plain memcpy (default %u; 0 skips)\n"
		"  --warmup N             unrecorded messages of the largest size before the tests\n"
		"                         (default %u): first-touch costs stay out of the results\n"
		"  --timeout SECONDS      limit of every wait for the guest once in contact (default %u)\n"
		"  --connect-timeout SECONDS\n"
		"                         how long to wait for the guest to come, e.g. while a person logs\n"
		"                         in to the VM to start it (default %u; a line every %u s meanwhile)\n"
		"  --meta KEY=VALUE       add a fact to run.json's \"meta\" (repeatable)\n"
		"  --no-counters          do not measure performance counters (they cost a few system\n"
		"                         calls per phase, outside the timed windows but inside the round trip)\n"
		"  --write-study          the guest also times phase C's write-path variants: fresh pages,\n"
		"                         non-temporal stores, huge pages (write_study.csv)\n"
		"  --mode polling|doorbell\n"
		"                         how each side learns that the other has written: spin on the\n"
		"                         state word (polling, the default), or sleep until the other side\n"
		"                         rings through an ivshmem server (doorbell; the guest must use it\n"
		"                         too)\n"
		"  --doorbell SOCKET      doorbell mode through the ivshmem server at SOCKET (default\n"
		"                         $XDG_RUNTIME_DIR/ivshmem-bench/ivshmem.sock, as ivshmem_server);\n"
		"                         the region is the one the server shares (ours, QEMU's or another)\n"
		"  --interval-us N        start messages N microseconds apart, as a stream at a frame rate\n"
		"                         would (16667: 60 fps); both sides wait idle in between (default 0:\n"
		"                         back to back)\n"
		"  --map-study[=latency|=reference]\n"
		"                         the guest also times phases A-C through each mapping of the region\n"
		"                         it can make (uc, wc, wb; in loopback the file three times), in an\n"
		"                         order that rotates (mapping_study.csv); on latency and bandwidth\n"
		"                         messages (it then lengthens their round trips), or on latency or on\n"
		"                         reference messages only (the round trips of the others stay clean)\n"
		"  --stream-seconds S     after the tests above, stream frames through a ring of slots for\n"
		"                         S seconds per stream frame (default %u: no stream)\n"
		"  --stream-frames LIST   the stream's frames: 1080p, 1440p, 4k or byte counts, one stream\n"
		"                         each (default " IVB_STREAM_FRAMES_DEFAULT ")\n"
		"  --slots N              frame slots in the region (default %u; 2 to %u)\n"
		"  --fps F                frames per second the host produces (default %u: as fast as it can)\n"
		"  --stream-policy block|latest\n"
		"                         block: the host waits for a free slot, every frame is consumed;\n"
		"                         latest: it never waits, the guest takes the newest frame and the\n"
		"                         others are dropped (default " IVB_STREAM_POLICY_DEFAULT ")\n"
		"  --verify sha256|xxh3|none\n"
		"                         how the guest checks each stream frame (default " IVB_STREAM_VERIFY_DEFAULT ")\n"
		"  --stream-direction LIST\n"
		"                         who produces the frames: host-to-guest (the guest verifies them) or\n"
		"                         guest-to-host (the guest writes through its mapping; the host verifies\n"
		"                         each frame against frames it expands from the same seed); a comma-\n"
		"                         separated list streams each frame once per direction, in that order\n"
		"                         (default " IVB_STREAM_DIRECTION_DEFAULT ")\n"
		"  --consume inplace|copy\n"
		"                         inplace: the consumer verifies each frame where it lies in its slot,\n"
		"                         then releases it; copy: it copies the frame out first and verifies\n"
		"                         the copy (default " IVB_STREAM_CONSUME_DEFAULT ")\n"
		"  --consumers N          guest-to-host: N host consumer processes (1-%u) read every frame, each\n"
		"                         verifies and releases it; a slot is free once every live consumer\n"
		"                         released it (default %u)\n"
		"  --consumer-timeout DURATION\n"
		"                         guest-to-host: the guest drops a consumer that holds it back longer\n"
		"                         (a slot unreleased, a claim held) and the others go on; DURATION is\n"
		"                         a count with s, ms or us (default " IVB_CONSUMER_TIMEOUT_DEFAULT ")\n"
		"  --transport LIST       compare transports: ivshmem (the stream test), unix (AF_UNIX stream),\n"
		"                         tcp[:PORT] (127.0.0.1; no port: the kernel's choice), pipe (FIFOs);\n"
		"                         to a VM guest virtio-serial:SOCKET (QEMU's chardev socket),\n"
		"                         virtio-net:PORT (QEMU's port forwarded from 127.0.0.1) and\n"
		"                         vsock:CID[:PORT] (the guest's CID, QEMU's guest-cid=, and the port it\n"
		"                         listens on, default %u; without a CID skipped, with its reason in run.json\n"
		"                         and the report); each other than ivshmem carries the stream frames\n"
		"                         and the messages for --transport-seconds each (default " IVB_TRANSPORTS_DEFAULT ")\n"
		"  --transport-seconds S  how long each test over a transport other than ivshmem runs (default:\n"
		"                         --stream-seconds)\n"
		"  --message-sizes LIST   small messages over each transport, streamed and in ping-pong, byte\n"
		"                         counts with K, M suffixes (default " IVB_MESSAGE_SIZES_DEFAULT ")\n"
		"  --corrupt-iteration N  testing: flip a byte of measured message N after hashing it\n"
		"  --corrupt-frame N      testing: flip a byte of frame N (from 0) of each stream, and of each\n"
		"                         transport's frames test, after hashing it; the guest must fail it\n"
		"                         (needs --verify sha256|xxh3)\n"
		"  --stall-consumer I:FRAME\n"
		"                         testing: consumer I stops releasing at frame FRAME (from 0) and waits\n"
		"                         to be dropped (needs --consumers and guest-to-host)\n"
		"  --help                 show this help and exit\n"
		"\n"
		"Exit status: 0 every iteration succeeded, 1 a failure, 2 a usage error.\n",
		IVB_ITERATIONS_DEFAULT, IVB_BW_ITERATIONS_DEFAULT, IVB_REF_ITERATIONS_DEFAULT, IVB_WARMUP_DEFAULT, IVB_TIMEOUT_DEFAULT_S, IVB_CONNECT_TIMEOUT_DEFAULT_S, IVB_CONNECT_NOTICE_S, IVB_STREAM_SECONDS_DEFAULT,
		IVB_STREAM_SLOTS_DEFAULT, IVB_RING_MAX_SLOTS, IVB_STREAM_FPS_DEFAULT, IVB_RING_MAX_CONSUMERS,
		IVB_STREAM_CONSUMERS_DEFAULT, IVB_VSOCK_PORT_DEFAULT);
}

void ivb_host_parse_args(int argc, char **argv, struct ivb_host_config *cfg)
{
	enum { OPT_SHM = 256, OPT_SIZE, OPT_OUT, OPT_ITER, OPT_LAT_FRAME, OPT_BW_ITER, OPT_FRAMES, OPT_REF_ITER,
	       OPT_WARMUP, OPT_TIMEOUT, OPT_CONNECT_TIMEOUT, OPT_META, OPT_NO_COUNTERS, OPT_WRITE_STUDY, OPT_MODE,
	       OPT_DOORBELL, OPT_INTERVAL, OPT_MAP_STUDY, OPT_STREAM_SECONDS, OPT_STREAM_FRAMES, OPT_SLOTS, OPT_FPS,
	       OPT_STREAM_POLICY, OPT_VERIFY, OPT_STREAM_DIRECTION, OPT_CONSUME, OPT_CONSUMERS, OPT_CONSUMER_TIMEOUT,
	       OPT_TRANSPORT, OPT_TRANSPORT_SECONDS, OPT_MESSAGE_SIZES, OPT_CORRUPT, OPT_CORRUPT_FRAME,
	       OPT_STALL_CONSUMER, OPT_HELP };
	static const struct option options[] = {
		{ "shm", required_argument, NULL, OPT_SHM },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "iterations", required_argument, NULL, OPT_ITER },
		{ "latency-frame", required_argument, NULL, OPT_LAT_FRAME },
		{ "bw-iterations", required_argument, NULL, OPT_BW_ITER },
		{ "frames", required_argument, NULL, OPT_FRAMES },
		{ "ref-iterations", required_argument, NULL, OPT_REF_ITER },
		{ "warmup", required_argument, NULL, OPT_WARMUP },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
		{ "meta", required_argument, NULL, OPT_META },
		{ "no-counters", no_argument, NULL, OPT_NO_COUNTERS },
		{ "write-study", no_argument, NULL, OPT_WRITE_STUDY },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "doorbell", required_argument, NULL, OPT_DOORBELL },
		{ "interval-us", required_argument, NULL, OPT_INTERVAL },
		{ "map-study", optional_argument, NULL, OPT_MAP_STUDY },
		{ "stream-seconds", required_argument, NULL, OPT_STREAM_SECONDS },
		{ "stream-frames", required_argument, NULL, OPT_STREAM_FRAMES },
		{ "slots", required_argument, NULL, OPT_SLOTS },
		{ "fps", required_argument, NULL, OPT_FPS },
		{ "stream-policy", required_argument, NULL, OPT_STREAM_POLICY },
		{ "verify", required_argument, NULL, OPT_VERIFY },
		{ "stream-direction", required_argument, NULL, OPT_STREAM_DIRECTION },
		{ "consume", required_argument, NULL, OPT_CONSUME },
		{ "consumers", required_argument, NULL, OPT_CONSUMERS },
		{ "consumer-timeout", required_argument, NULL, OPT_CONSUMER_TIMEOUT },
		{ "transport", required_argument, NULL, OPT_TRANSPORT },
		{ "transport-seconds", required_argument, NULL, OPT_TRANSPORT_SECONDS },
		{ "message-sizes", required_argument, NULL, OPT_MESSAGE_SIZES },
		{ "corrupt-iteration", required_argument, NULL, OPT_CORRUPT },
		{ "corrupt-frame", required_argument, NULL, OPT_CORRUPT_FRAME },
		{ "stall-consumer", required_argument, NULL, OPT_STALL_CONSUMER },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	bool polling_asked = false;
	char why[256];
	int opt, ret;

	*cfg = (struct ivb_host_config){
		.shm_path = IVB_SHM_PATH_DEFAULT,
		.out_dir = IVB_OUT_DIR_DEFAULT,
		.iterations = IVB_ITERATIONS_DEFAULT,
		.latency_frame_arg = IVB_LATENCY_FRAME_DEFAULT,
		.bw_iterations = IVB_BW_ITERATIONS_DEFAULT,
		.frames_arg = IVB_FRAMES_DEFAULT,
		.ref_iterations = IVB_REF_ITERATIONS_DEFAULT,
		.warmup = IVB_WARMUP_DEFAULT,
		.counters = true,
		.timeout_s = IVB_TIMEOUT_DEFAULT_S,
		.connect_timeout_s = IVB_CONNECT_TIMEOUT_DEFAULT_S,
		.stream_seconds = IVB_STREAM_SECONDS_DEFAULT,
		.stream_frames_arg = IVB_STREAM_FRAMES_DEFAULT,
		.slots = IVB_STREAM_SLOTS_DEFAULT,
		.fps = IVB_STREAM_FPS_DEFAULT,
		.stream_direction_arg = IVB_STREAM_DIRECTION_DEFAULT,
		.nconsumers = IVB_STREAM_CONSUMERS_DEFAULT,
		.transports_arg = IVB_TRANSPORTS_DEFAULT,
		.message_sizes_arg = IVB_MESSAGE_SIZES_DEFAULT,
	};
	const char *policy_arg = IVB_STREAM_POLICY_DEFAULT, *verify_arg = IVB_STREAM_VERIFY_DEFAULT;
	const char *consume_arg = IVB_STREAM_CONSUME_DEFAULT;
	const char *timeout_arg = IVB_CONSUMER_TIMEOUT_DEFAULT, *stall_arg = NULL;
	opterr = 0; /* our own one-line messages, not getopt's */
	while ((opt = getopt_long(argc, argv, ":", options, NULL)) != -1) {
		switch (opt) {
		case OPT_SHM:
			cfg->shm_path = optarg;
			cfg->shm_given = true;
			break;
		case OPT_SIZE:
			if (ivb_parse_size(optarg, IVB_REGION_MIN_SIZE, SIZE_MAX, &cfg->size) < 0)
				ivb_die_usage(PROG, "--size needs a byte count of at least %u (suffixes K, M, G), not '%s'",
					  IVB_REGION_MIN_SIZE, optarg);
			break;
		case OPT_OUT: cfg->out_dir = optarg; break;
		case OPT_ITER: cfg->iterations = ivb_parse_count_or_die(PROG, "--iterations", optarg, 0, IVB_MAX_ITERATIONS); break;
		case OPT_LAT_FRAME: cfg->latency_frame_arg = optarg; break;
		case OPT_BW_ITER:
			cfg->bw_iterations = ivb_parse_count_or_die(PROG, "--bw-iterations", optarg, 0, IVB_MAX_ITERATIONS);
			break;
		case OPT_FRAMES: cfg->frames_arg = optarg; break;
		case OPT_REF_ITER:
			cfg->ref_iterations = ivb_parse_count_or_die(PROG, "--ref-iterations", optarg, 0, IVB_MAX_ITERATIONS);
			break;
		case OPT_WARMUP: cfg->warmup = ivb_parse_count_or_die(PROG, "--warmup", optarg, 0, IVB_MAX_WARMUP); break;
		case OPT_TIMEOUT: cfg->timeout_s = ivb_parse_count_or_die(PROG, "--timeout", optarg, 1, IVB_MAX_TIMEOUT_S); break;
		case OPT_CONNECT_TIMEOUT:
			cfg->connect_timeout_s = ivb_parse_count_or_die(PROG, "--connect-timeout", optarg, 1, IVB_MAX_TIMEOUT_S);
			break;
		case OPT_META:
			if (strchr(optarg, '=') == NULL || optarg[0] == '=')
				ivb_die_usage(PROG, "--meta needs KEY=VALUE, not '%s'", optarg);
			if (cfg->nmeta == IVB_MAX_META)
				ivb_die_usage(PROG, "at most %u --meta options", IVB_MAX_META);
			cfg->meta[cfg->nmeta++] = optarg;
			break;
		case OPT_NO_COUNTERS: cfg->counters = false; break;
		case OPT_WRITE_STUDY: cfg->write_study = true; break;
		case OPT_MAP_STUDY:
			if (optarg == NULL)
				cfg->map_study_only = 0;
			else if (strcmp(optarg, "latency") == 0)
				cfg->map_study_only = IVB_MSG_LATENCY;
			else if (strcmp(optarg, "reference") == 0)
				cfg->map_study_only = IVB_MSG_REFERENCE;
			else
				ivb_die_usage(PROG, "--map-study takes no value, =latency or =reference, not '%s'", optarg);
			cfg->map_study = true;
			break;
		case OPT_DOORBELL:
			cfg->doorbell = optarg;
			cfg->doorbell_mode = true;
			break;
		case OPT_MODE:
			cfg->doorbell_mode = ivb_parse_mode_or_die(PROG, optarg);
			polling_asked = !cfg->doorbell_mode;
			break;
		case OPT_INTERVAL:
			cfg->interval_us = ivb_parse_count_or_die(PROG, "--interval-us", optarg, 0, IVB_MAX_INTERVAL_US);
			break;
		case OPT_STREAM_SECONDS:
			cfg->stream_seconds = ivb_parse_count_or_die(PROG, "--stream-seconds", optarg, 0, IVB_MAX_STREAM_SECONDS);
			break;
		case OPT_STREAM_FRAMES: cfg->stream_frames_arg = optarg; break;
		case OPT_SLOTS:
			cfg->slots = (uint32_t)ivb_parse_count_or_die(PROG, "--slots", optarg, 2, IVB_RING_MAX_SLOTS);
			break;
		case OPT_FPS: cfg->fps = (uint32_t)ivb_parse_count_or_die(PROG, "--fps", optarg, 0, IVB_MAX_STREAM_FPS); break;
		case OPT_STREAM_POLICY: policy_arg = optarg; break;
		case OPT_VERIFY: verify_arg = optarg; break;
		case OPT_CONSUME: consume_arg = optarg; break;
		case OPT_STREAM_DIRECTION: cfg->stream_direction_arg = optarg; break;
		case OPT_CONSUMERS:
			cfg->nconsumers = (uint32_t)ivb_parse_count_or_die(PROG, "--consumers", optarg, 1, IVB_RING_MAX_CONSUMERS);
			break;
		case OPT_CONSUMER_TIMEOUT: timeout_arg = optarg; break;
		case OPT_TRANSPORT: cfg->transports_arg = optarg; break;
		case OPT_TRANSPORT_SECONDS:
			cfg->transport_seconds =
				ivb_parse_count_or_die(PROG, "--transport-seconds", optarg, 1, IVB_MAX_STREAM_SECONDS);
			break;
		case OPT_MESSAGE_SIZES: cfg->message_sizes_arg = optarg; break;
		case OPT_CORRUPT:
			cfg->corrupt_iteration = ivb_parse_count_or_die(PROG, "--corrupt-iteration", optarg, 1, UINT64_MAX);
			break;
		case OPT_CORRUPT_FRAME:
			cfg->corrupt_frame = ivb_parse_count_or_die(PROG, "--corrupt-frame", optarg, 0, UINT64_MAX);
			cfg->corrupt_frame_set = true;
			break;
		case OPT_STALL_CONSUMER: stall_arg = optarg; break;
		case OPT_HELP: usage(stdout); exit(IVB_EXIT_OK);
		case ':': ivb_die_usage(PROG, "%s needs a value", argv[optind - 1]);
		default: ivb_die_usage(PROG, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		ivb_die_usage(PROG, "unexpected argument '%s'", argv[optind]);
	if (polling_asked && cfg->doorbell != NULL)
		ivb_die_usage(PROG, "--doorbell is for --mode doorbell, not polling");
	ret = ivb_parse_frame(cfg->latency_frame_arg, &cfg->latency_frame);
	if (ret < 0)
		ivb_die_usage(PROG, "--latency-frame needs 1080p, 1440p, 4k or a byte count, not '%s'", cfg->latency_frame_arg);
	ret = ivb_parse_frame_list(cfg->frames_arg, cfg->frames, IVB_MAX_FRAMES, &cfg->nframes);
	if (ret == -E2BIG)
		ivb_die_usage(PROG, "--frames takes at most %u frames", IVB_MAX_FRAMES);
	if (ret < 0)
		ivb_die_usage(PROG, "--frames needs a comma-separated list of 1080p, 1440p, 4k or byte counts, not '%s'",
			  cfg->frames_arg);
	if (ivb_policy_parse(policy_arg, &cfg->stream_policy) < 0)
		ivb_die_usage(PROG, "--stream-policy needs block or latest, not '%s'", policy_arg);
	if (ivb_verify_parse(verify_arg, &cfg->verify) < 0)
		ivb_die_usage(PROG, "--verify needs sha256, xxh3 or none, not '%s'", verify_arg);
	if (ivb_consume_parse(consume_arg, &cfg->consume) < 0)
		ivb_die_usage(PROG, "--consume needs inplace or copy, not '%s'", consume_arg);
	parse_directions(cfg);
	parse_consumers(cfg, timeout_arg, stall_arg);
	if (cfg->corrupt_frame_set && cfg->verify == IVB_VERIFY_NONE)
		ivb_die_usage(PROG, "--corrupt-frame needs a verification the guest can fail: --verify sha256 or xxh3");
	if (cfg->corrupt_frame_set && cfg->stream_seconds == 0)
		ivb_die_usage(PROG, "--corrupt-frame is for a stream: give --stream-seconds");
	ret = ivb_parse_frame_list(cfg->stream_frames_arg, cfg->stream_frames, IVB_MAX_FRAMES, &cfg->nstream_frames);
	if (ret == -E2BIG)
		ivb_die_usage(PROG, "--stream-frames takes at most %u frames", IVB_MAX_FRAMES);
	if (ret < 0)
		ivb_die_usage(PROG, "--stream-frames needs a comma-separated list of 1080p, 1440p, 4k or byte counts, not '%s'",
			      cfg->stream_frames_arg);
	for (size_t i = 0; cfg->stream_seconds > 0 && i < cfg->nstream_frames; i++)
		if (cfg->stream_frames[i].size < IVB_RING_MIN_FRAME)
			ivb_die_usage(PROG, "--stream-frames: a stream frame has at least %u bytes, not %llu", IVB_RING_MIN_FRAME,
				      (unsigned long long)cfg->stream_frames[i].size);
	check_stream_records(cfg);
	/* A stream alone has no lock-step message to warm up with. */
	if (cfg->iterations + cfg->bw_iterations + cfg->ref_iterations == 0)
		cfg->warmup = 0;
	if (cfg->iterations + cfg->bw_iterations + cfg->ref_iterations + cfg->stream_seconds == 0)
		ivb_die_usage(PROG, "nothing to do: --iterations, --bw-iterations, --ref-iterations and --stream-seconds are all 0");
	cfg->plan = (struct ivb_plan){
		.warmup = cfg->warmup,
		.latency_count = cfg->iterations,
		.bandwidth_per_frame = cfg->bw_iterations,
		.reference_per_frame = cfg->ref_iterations,
		.latency_frame_bytes = cfg->latency_frame.size,
		.interval_us = cfg->interval_us,
		.flags = (cfg->counters ? IVB_MSG_FLAG_COUNTERS : 0) | (cfg->write_study ? IVB_MSG_FLAG_WRITE_STUDY : 0) |
			 (cfg->map_study ? IVB_MSG_FLAG_MAP_STUDY : 0),
		.nframes = (uint32_t)cfg->nframes,
	};
	for (size_t i = 0; i < cfg->nframes; i++)
		cfg->plan.frame_bytes[i] = cfg->frames[i].size;
	/* Sets the plan's streams (ivshmem's tests) and transport tests. */
	if (ivb_transport_configure(cfg, why, sizeof(why)) < 0)
		ivb_die_usage(PROG, "%s", why);
}
