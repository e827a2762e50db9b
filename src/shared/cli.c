/* cli.c: usage errors and stop signals for both programs. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "clock.h"

#include "opts.h"
#include "protocol.h"

volatile sig_atomic_t ivb_stop_signal;

void ivb_die_usage(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (try --help)\n", stderr);
	exit(IVB_EXIT_USAGE);
}

uint64_t ivb_parse_count_or_die(const char *prog, const char *opt, const char *arg, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (ivb_parse_u64(arg, min, max, &v) < 0)
		ivb_die_usage(prog, "%s needs a whole number from %llu to %llu, not '%s'", opt, (unsigned long long)min,
			      (unsigned long long)max, arg);
	return v;
}

bool ivb_parse_mode_or_die(const char *prog, const char *arg)
{
	if (strcmp(arg, "polling") != 0 && strcmp(arg, "doorbell") != 0)
		ivb_die_usage(prog, "--mode needs polling or doorbell, not '%s'", arg);
	return strcmp(arg, "doorbell") == 0;
}

static void cpu_now(bool thread, double *user, double *sys)
{
	struct rusage ru;

	*user = *sys = 0;
	if (getrusage(thread ? RUSAGE_THREAD : RUSAGE_SELF, &ru) == 0) {
		*user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
		*sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	}
}

void ivb_cpu_span_start(struct ivb_cpu_span *s)
{
	memset(s, 0, sizeof(*s));
	s->start_wall_ns = ivb_now_ns();
	cpu_now(false, &s->start_user_s, &s->start_sys_s);
}

void ivb_cpu_span_start_thread(struct ivb_cpu_span *s)
{
	memset(s, 0, sizeof(*s));
	s->thread = true;
	s->start_wall_ns = ivb_now_ns();
	cpu_now(true, &s->start_user_s, &s->start_sys_s);
}

void ivb_cpu_span_end(struct ivb_cpu_span *s)
{
	double user, sys;

	cpu_now(s->thread, &user, &sys);
	s->user_s = user - s->start_user_s;
	s->sys_s = sys - s->start_sys_s;
	s->wall_s = (double)(ivb_now_ns() - s->start_wall_ns) / 1e9;
}

static void on_signal(int sig)
{
	ivb_stop_signal = sig;
	ivb_stop_requested = 1;
}

void ivb_install_stop_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A peer that closed its connection or FIFO is an error to report (EPIPE), not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
}
