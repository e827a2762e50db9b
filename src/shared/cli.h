/* cli.h: what both programs' main functions share: usage errors and stop signals. */
#ifndef IVB_CLI_H
#define IVB_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#define IVB_EXIT_OK 0
#define IVB_EXIT_FAILURE 1 /* a runtime failure or a failed iteration */
#define IVB_EXIT_USAGE 2

/* The signal that asked the program to stop (SIGINT or SIGTERM), or 0. */
extern volatile sig_atomic_t ivb_stop_signal;

/* Print "PROG: message (try --help)" on stderr and exit with IVB_EXIT_USAGE. */
void ivb_die_usage(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* The value of a numeric option in [min, max], or a usage error naming the option. */
uint64_t ivb_parse_count_or_die(const char *prog, const char *opt, const char *arg, uint64_t min, uint64_t max);

/* --mode: true for doorbell, false for polling, or a usage error. */
bool ivb_parse_mode_or_die(const char *prog, const char *arg);

/* CPU time the process used (user and system) and the wall time, over a stretch of its run. */
struct ivb_cpu_span {
	double user_s, sys_s, wall_s;
	uint64_t start_wall_ns;
	double start_user_s, start_sys_s;
	bool thread; /* the calling thread's CPU only, not the process's */
};

/* Start measuring a span; end it with ivb_cpu_span_end, which fills user_s, sys_s and wall_s. */
void ivb_cpu_span_start(struct ivb_cpu_span *s);
/* The same for the calling thread alone: a stream role that may run beside the other direction's (duplex). */
void ivb_cpu_span_start_thread(struct ivb_cpu_span *s);
void ivb_cpu_span_end(struct ivb_cpu_span *s);

/*
 * On SIGINT and SIGTERM, set ivb_stop_signal and ivb_stop_requested so that every wait returns
 * and the program can record what it measured before it exits. No SA_RESTART: a blocking call
 * returns too. SIGPIPE is ignored: a write to a closed peer fails with EPIPE instead.
 */
void ivb_install_stop_signals(void);

#endif /* IVB_CLI_H */
