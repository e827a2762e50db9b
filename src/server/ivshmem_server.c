/* ivshmem_server.c: options, signals and the poll loop of our ivshmem server (logic in ivserver.c). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ivserver.h"
#include "opts.h"
#include "region.h"

#define IVSHMEM_SERVER_DEFAULT_SHM_PATH IVB_SHM_PATH_DEFAULT
#define IVSHMEM_SERVER_DEFAULT_SHM_SIZE IVB_SHM_SIZE_DEFAULT
#define IVSHMEM_SERVER_DEFAULT_VECTORS 1u
/* The bench has two peers: host_writer and the guest's QEMU. A third is a mistake worth refusing. */
#define IVSHMEM_SERVER_DEFAULT_MAX_PEERS 2u
#define IVSHMEM_SERVER_DEFAULT_SOCKET \
	"$XDG_RUNTIME_DIR/ivshmem-bench/ivshmem.sock;\n" \
	"                     without XDG_RUNTIME_DIR, as root: /run/ivshmem-bench/ivshmem.sock"

static const char *prog = "ivshmem_server";

/* Set by SIGTERM, SIGINT and SIGHUP; the loop checks it between polls. */
static volatile sig_atomic_t quit_signal;

struct server_args {
	const char *socket_path;    /* NULL: the runtime folder */
	const char *shm_path;
	uint64_t shm_size;          /* 0: the file's size, or the default for a new file */
	unsigned vectors;
	unsigned max_peers;
	const char *pid_file;       /* NULL: none */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [OPTION]...\n"
		"An ivshmem server (QEMU docs/specs/ivshmem-spec.rst) for -device ivshmem-doorbell,chardev=...\n"
		"Runs in the foreground until SIGTERM or SIGINT; logs joins and leaves on stderr.\n"
		"  --socket PATH      UNIX socket to listen on, mode 0600\n"
		"                     (default " IVSHMEM_SERVER_DEFAULT_SOCKET ")\n"
		"  --shm PATH         shared-memory file, created 0600 if missing, never a symbolic link\n"
		"                     (default " IVSHMEM_SERVER_DEFAULT_SHM_PATH ")\n"
		"  --size BYTES       grow the file to this size (never shrunk); a power of two, suffixes K, M, G\n"
		"                     (default: the file's size, or %" PRIu64 " MiB for a new file)\n"
		"  --vectors N        interrupt vectors per peer, 1..%u (default %u)\n"
		"  --max-peers N      refuse connections beyond N peers, 1..%u (default %u)\n"
		"  --pid-file PATH    write our pid there once the socket listens; removed on exit\n"
		"  -h, --help         show this help\n"
		"Exit: 0 stopped by a signal, 1 runtime failure, 2 usage error.\n",
		prog, (uint64_t)(IVSHMEM_SERVER_DEFAULT_SHM_SIZE >> 20), IVSERVER_MAX_VECTORS,
		IVSHMEM_SERVER_DEFAULT_VECTORS, IVSERVER_MAX_PEERS, IVSHMEM_SERVER_DEFAULT_MAX_PEERS);
}

__attribute__((format(printf, 1, 2), noreturn))
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try --help)\n");
	exit(2);
}

static unsigned parse_count(const char *opt, const char *s, unsigned max)
{
	uint64_t v;

	if (ivb_parse_u64(s, 1, max, &v) < 0)
		usage_error("%s wants a whole number in 1..%u, not '%s'", opt, max, s);
	return (unsigned)v;
}

static void parse_args(struct server_args *args, int argc, char **argv)
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "shm", required_argument, NULL, 'm' },
		{ "size", required_argument, NULL, 'z' },
		{ "vectors", required_argument, NULL, 'v' },
		{ "max-peers", required_argument, NULL, 'p' },
		{ "pid-file", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 's':
			if (optarg[0] == '\0')
				usage_error("--socket wants a path");
			args->socket_path = optarg;
			break;
		case 'm':
			if (optarg[0] == '\0')
				usage_error("--shm wants a path");
			args->shm_path = optarg;
			break;
		case 'z':
			if (ivb_parse_size(optarg, IVSERVER_MIN_SHM_SIZE, (uint64_t)INT64_MAX, &args->shm_size) < 0)
				usage_error("--size wants a byte count of at least %u (suffixes K, M, G), not '%s'",
					    IVSERVER_MIN_SHM_SIZE, optarg);
			if ((args->shm_size & (args->shm_size - 1)) != 0)
				usage_error("--size must be a power of two (QEMU maps the region as a PCI BAR), not %s",
					    optarg);
			break;
		case 'v':
			args->vectors = parse_count("--vectors", optarg, IVSERVER_MAX_VECTORS);
			break;
		case 'p':
			args->max_peers = parse_count("--max-peers", optarg, IVSERVER_MAX_PEERS);
			break;
		case 'P':
			if (optarg[0] == '\0')
				usage_error("--pid-file wants a path");
			args->pid_file = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			usage_error("%s needs a value", argv[optind - 1]);
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
}

static void on_quit_signal(int sig)
{
	quit_signal = sig;
}

/* SIGTERM, SIGINT and SIGHUP end the loop; they stay blocked except inside ppoll, so none is lost
 * between the check of quit_signal and the wait. SIGPIPE is ignored: a peer that went away is an
 * error return, not a death. */
static int setup_signals(sigset_t *wait_mask)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -errno;
	sa.sa_handler = on_quit_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
	    sigaction(SIGHUP, &sa, NULL) < 0)
		return -errno;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &block, wait_mask) < 0)
		return -errno;
	sigdelset(wait_mask, SIGTERM);
	sigdelset(wait_mask, SIGINT);
	sigdelset(wait_mask, SIGHUP);
	return 0;
}

static int write_pid_file(const char *path)
{
	char line[32];
	int fd, n, ret = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (write(fd, line, (size_t)n) != n)
		ret = errno != 0 ? -errno : -EIO;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	return ret;
}

/* Serve until a signal; returns 0, or a negative errno when the server cannot go on. */
static int poll_loop(struct ivserver *s, const sigset_t *wait_mask)
{
	size_t max = 1 + (size_t)s->max_peers;
	struct pollfd *fds = calloc(max, sizeof(*fds));
	int ret = 0;

	if (fds == NULL)
		return -ENOMEM;
	while (!quit_signal) {
		size_t n = ivserver_pollfds(s, fds, max);

		if (ppoll(fds, n, NULL, wait_mask) < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		ret = ivserver_handle_pollfds(s, fds, n);
		if (ret < 0)
			break;
	}
	free(fds);
	return ret;
}

int main(int argc, char **argv)
{
	struct server_args args = {
		.socket_path = NULL,
		.shm_path = IVSHMEM_SERVER_DEFAULT_SHM_PATH,
		.shm_size = 0,
		.vectors = IVSHMEM_SERVER_DEFAULT_VECTORS,
		.max_peers = IVSHMEM_SERVER_DEFAULT_MAX_PEERS,
		.pid_file = NULL,
	};
	char default_socket[IVSERVER_SOCK_PATH_LEN];
	struct ivserver server;
	uint64_t fds_needed, fds_limit;
	sigset_t wait_mask;
	int ret, status = 1;

	parse_args(&args, argc, argv);

	if (args.socket_path == NULL) {
		ret = ivserver_default_socket_path(default_socket, sizeof(default_socket));
		if (ret == -ENOENT) {
			fprintf(stderr, "%s: no runtime folder for the socket: XDG_RUNTIME_DIR is unset; give --socket PATH\n",
				prog);
			return 2;
		}
		if (ret < 0) {
			fprintf(stderr, "%s: cannot use the runtime folder for the socket: %s\n", prog,
				ret == -EPERM ? "it is not ours, or others may enter it (want mode 0700)"
					      : strerror(-ret));
			return 1;
		}
		args.socket_path = default_socket;
	}
	ret = setup_signals(&wait_mask);
	if (ret < 0) {
		fprintf(stderr, "%s: cannot set up signals: %s\n", prog, strerror(-ret));
		return 1;
	}
	ret = ivserver_check_fd_limit(args.vectors, args.max_peers, &fds_needed, &fds_limit);
	if (ret < 0) {
		if (ret == -EMFILE)
			fprintf(stderr, "%s: %u peers with %u vector%s need %" PRIu64 " file descriptors, but the limit "
				"is %" PRIu64 " (ulimit -n); lower --max-peers or --vectors\n", prog, args.max_peers,
				args.vectors, args.vectors == 1 ? "" : "s", fds_needed, fds_limit);
		else
			fprintf(stderr, "%s: cannot check the file descriptor limit: %s\n", prog, strerror(-ret));
		return 1;
	}
	ret = ivserver_init(&server, args.vectors, args.max_peers, stderr);
	if (ret < 0) {
		fprintf(stderr, "%s: cannot set up the server: %s\n", prog, strerror(-ret));
		goto err_close;
	}
	/* The socket first: a second server on it must fail before it touches (or creates) the region. */
	ret = ivserver_listen(&server, args.socket_path);
	if (ret < 0) {
		const char *why = ret == -EADDRINUSE ? "another server is listening there"
				  : ret == -EEXIST   ? "a file that is not our socket is in the way"
						     : strerror(-ret);

		fprintf(stderr, "%s: cannot listen on %s: %s\n", prog, args.socket_path, why);
		goto err_close;
	}
	ret = ivserver_open_shm(&server, args.shm_path, args.shm_size, IVSHMEM_SERVER_DEFAULT_SHM_SIZE);
	if (ret < 0) {
		const char *why = ret == -ELOOP	 ? "it is a symbolic link"
				  : ret == -EINVAL ? "not a regular file"
				  : ret == -EDOM   ? "its size is not a power of two of at least 4096 bytes (QEMU maps it as a PCI BAR); give --size"
						   : strerror(-ret);

		fprintf(stderr, "%s: cannot use %s: %s\n", prog, args.shm_path, why);
		goto err_close;
	}
	if (args.pid_file != NULL) {
		ret = write_pid_file(args.pid_file);
		if (ret < 0) {
			fprintf(stderr, "%s: cannot write %s: %s\n", prog, args.pid_file, strerror(-ret));
			goto err_close;
		}
	}
	fprintf(stderr, "%s: listening on %s: region %s (%" PRIu64 " bytes), %u vector%s per peer, at most %u peers\n",
		prog, server.sock_path, args.shm_path, server.shm_size, server.n_vectors,
		server.n_vectors == 1 ? "" : "s", server.max_peers);

	ret = poll_loop(&server, &wait_mask);
	if (ret < 0) {
		fprintf(stderr, "%s: stopped: %s\n", prog, strerror(-ret));
	} else {
		fprintf(stderr, "%s: stopped by signal %d with %u peer%s connected\n", prog, (int)quit_signal,
			server.n_peers, server.n_peers == 1 ? "" : "s");
		status = 0;
	}
	if (args.pid_file != NULL)
		unlink(args.pid_file);
err_close:
	ivserver_close(&server);
	return status;
}
