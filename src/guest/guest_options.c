/* guest_options.c: guest_reader's options. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "defaults.h"
#include "guest.h"
#include "opts.h"
#include "pci.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " [OPTION]...\n"
		"Receive frames from host_writer through an ivshmem region, time and verify them.\n"
		"The tests are the host's: it publishes its plan in the region.\n"
		"\n"
		"  --shm PATH             loopback: map this file instead of the PCI device\n"
		"  --device BDF           use this PCI device (default: the first %04x:%04x device)\n"
		"  --map uc|wc|wb         map BAR2 through resource2 (uc), resource2_wc (wc), or the\n"
		"                         ivshmem_doorbell driver's /dev/ivshmem-region (wb, write-back)\n"
		"                         (default " MAP_DEFAULT ")\n"
		"  --sysfs-root DIR       where PCI devices are listed (default " IVB_PCI_SYSFS_DEFAULT ")\n"
		"  --timeout SECONDS      limit of every wait for the host once in contact (default %u)\n"
		"  --connect-timeout SECONDS\n"
		"                         how long to wait for the host to come, e.g. while a person starts\n"
		"                         host_writer (default %u; a line every %u s meanwhile)\n"
		"  --mode polling|doorbell\n"
		"                         spin on the host's state word (polling, the default), or sleep\n"
		"                         until the host rings (doorbell: in a VM through the\n"
		"                         ivshmem_doorbell driver's /dev/ivshmem-doorbell of the mapped\n"
		"                         device; in loopback through an ivshmem server, see --doorbell)\n"
		"  --doorbell PATH        doorbell mode through PATH: an ivshmem server's socket (loopback:\n"
		"                         the region is the one the server shares; --shm, if given, must\n"
		"                         be that file) or the driver's file\n"
		"  --dev-dir DIR          where the driver's files are (default /dev)\n"
		"  --help                 show this help and exit\n"
		"\n"
		"Exit status: 0 the host completed the run and every message and stream frame verified,\n"
		"1 a failure, 2 a usage error.\n",
		IVB_PCI_VENDOR, IVB_PCI_DEVICE, IVB_TIMEOUT_DEFAULT_S, IVB_CONNECT_TIMEOUT_DEFAULT_S, IVB_CONNECT_NOTICE_S);
}

void ivb_reader_parse_args(int argc, char **argv, struct ivb_reader_config *cfg)
{
	enum { OPT_SHM = 256, OPT_DEVICE, OPT_MAP, OPT_SYSFS, OPT_TIMEOUT, OPT_CONNECT_TIMEOUT, OPT_DOORBELL, OPT_MODE, OPT_DEV_DIR, OPT_HELP };
	static const struct option options[] = {
		{ "shm", required_argument, NULL, OPT_SHM },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "map", required_argument, NULL, OPT_MAP },
		{ "sysfs-root", required_argument, NULL, OPT_SYSFS },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
		{ "doorbell", required_argument, NULL, OPT_DOORBELL },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "dev-dir", required_argument, NULL, OPT_DEV_DIR },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	bool map_given = false, polling_asked = false;
	struct stat st;
	int opt;

	*cfg = (struct ivb_reader_config){ .sysfs_root = IVB_PCI_SYSFS_DEFAULT, .dev_dir = "/dev", .timeout_s = IVB_TIMEOUT_DEFAULT_S,
				.connect_timeout_s = IVB_CONNECT_TIMEOUT_DEFAULT_S };
	opterr = 0; /* our own one-line messages, not getopt's */
	while ((opt = getopt_long(argc, argv, ":", options, NULL)) != -1) {
		switch (opt) {
		case OPT_SHM: cfg->shm_path = optarg; break;
		case OPT_DEVICE: cfg->device = optarg; break;
		case OPT_MAP:
			if (strcmp(optarg, "uc") != 0 && strcmp(optarg, "wc") != 0 && strcmp(optarg, "wb") != 0)
				ivb_die_usage(PROG, "--map needs uc, wc or wb, not '%s'", optarg);
			cfg->wc = strcmp(optarg, "wc") == 0;
			cfg->wb = strcmp(optarg, "wb") == 0;
			map_given = true;
			break;
		case OPT_SYSFS: cfg->sysfs_root = optarg; break;
		case OPT_TIMEOUT: cfg->timeout_s = ivb_parse_count_or_die(PROG, "--timeout", optarg, 1, IVB_MAX_TIMEOUT_S); break;
		case OPT_CONNECT_TIMEOUT:
			cfg->connect_timeout_s = ivb_parse_count_or_die(PROG, "--connect-timeout", optarg, 1, IVB_MAX_TIMEOUT_S);
			break;
		case OPT_DOORBELL:
			cfg->doorbell = optarg;
			cfg->doorbell_mode = true;
			break;
		case OPT_MODE:
			cfg->doorbell_mode = ivb_parse_mode_or_die(PROG, optarg);
			polling_asked = !cfg->doorbell_mode;
			break;
		case OPT_DEV_DIR: cfg->dev_dir = optarg; break;
		case OPT_HELP: usage(stdout); exit(IVB_EXIT_OK);
		case ':': ivb_die_usage(PROG, "%s needs a value", argv[optind - 1]);
		default: ivb_die_usage(PROG, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		ivb_die_usage(PROG, "unexpected argument '%s'", argv[optind]);
	if (cfg->shm_path != NULL && (cfg->device != NULL || map_given))
		ivb_die_usage(PROG, "--shm maps a file; it does not go with --device or --map");
	if (polling_asked && cfg->doorbell != NULL)
		ivb_die_usage(PROG, "--doorbell is for --mode doorbell, not polling");
	if (cfg->doorbell_mode && cfg->shm_path != NULL && cfg->doorbell == NULL)
		ivb_die_usage(PROG, "loopback doorbell mode needs --doorbell SOCKET (the ivshmem server's)");
	/* A server's socket (or nothing yet: it may be starting) rather than the driver's file: loopback, on the
	 * region the server shares. */
	if (cfg->doorbell_mode && cfg->doorbell != NULL && cfg->device == NULL && !map_given &&
	    (cfg->shm_path != NULL || stat(cfg->doorbell, &st) < 0 || !S_ISCHR(st.st_mode)))
		cfg->server_region = true;
}
