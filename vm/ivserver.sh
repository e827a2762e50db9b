#!/usr/bin/env bash
# Our ivshmem server (src/server/ivshmem_server.c) for doorbell mode, started the one way both run_test.sh (bench VM)
# and setup.sh (dev VM) need it: built if it is ours, its socket in a private (0700) folder of its own, ready
# within a limit or killed, stopped by pid; or a server already running, used as it is (ivb_ivserver_use).
# Source it after vm/lib.sh; it defines functions only.
# shellcheck disable=SC2034  # the IVB_SERVER_* variables set here are read by the scripts that source this file

# How long the server may take to listen (it writes its pid file once the socket listens).
readonly IVB_SERVER_START_TIMEOUT=10
# A UNIX socket's path has at most 107 bytes (sun_path).
readonly IVB_SERVER_SUN_PATH_MAX=107

# Make sure SERVER can run: ours (BUILD_DIR/ivshmem_server, relative to ROOT or not) is built or brought up
# to date with make; another one must be an executable file. Arguments: SERVER ROOT BUILD_DIR.
ivb_ivserver_build() {
	local server=$1 root=$2 build=$3
	case $server in
	"$build/ivshmem_server" | "$root/$build/ivshmem_server")
		make -s -C "$root" BUILD="$build" "$build/ivshmem_server" >&2 ||
			ivb_die "cannot build $build/ivshmem_server (make $build/ivshmem_server; see above)"
		;;
	esac
	[ -x "$server" ] || ivb_die "no ivshmem server at $server (an executable file)"
}

# Start SERVER on the region SHM of SIZE (bytes, or with a K/M/G suffix) for two peers with IVB_DOORBELL_VECTORS
# vectors each (defaults.h: one per host consumer of a guest-to-host stream), and wait
# until it listens. Its socket goes into a new 0700 folder PREFIX.XXXXXX under $XDG_RUNTIME_DIR, else $TMPDIR,
# else /tmp (the first that is a writable folder).
# Arguments: SERVER SHM SIZE PREFIX PIDFILE LOG [--detach]   (PIDFILE "": server.pid in the socket's folder)
#   --detach: the server gets a session of its own and outlives this script (the dev VM's); without it, it is
#   a child that the caller stops with ivb_ivserver_stop. IVB_SERVER_CLOSE_FD (a file descriptor, e.g. a lock)
#   is closed in the server, which must not hold it.
# Sets IVB_SERVER_PID, IVB_SERVER_DIR and IVB_SERVER_SOCKET; on failure stops what it started, removes the
# folder and exits through ivb_die with the server's last log line.
ivb_ivserver_start() {
	local server=$1 shm=$2 size=$3 prefix=$4 pidfile=$5 log=$6 detach=${7:-} parent=/tmp why close_fd
	close_fd=${IVB_SERVER_CLOSE_FD:-}
	if [ -d "${XDG_RUNTIME_DIR:-}" ] && [ -w "$XDG_RUNTIME_DIR" ]; then
		parent=$XDG_RUNTIME_DIR
	elif [ -d "${TMPDIR:-}" ] && [ -w "$TMPDIR" ]; then
		parent=$TMPDIR
	fi
	# /PREFIX.XXXXXX/ivshmem.sock
	[ $((${#parent} + ${#prefix} + 21)) -le "$IVB_SERVER_SUN_PATH_MAX" ] ||
		ivb_die "the ivshmem server's socket would not fit in $IVB_SERVER_SUN_PATH_MAX characters under $parent; set XDG_RUNTIME_DIR or TMPDIR to a shorter folder"
	IVB_SERVER_DIR=$(mktemp -d "$parent/$prefix.XXXXXX") ||
		ivb_die "cannot make a folder for the ivshmem server's socket in $parent"
	IVB_SERVER_SOCKET=$IVB_SERVER_DIR/ivshmem.sock
	pidfile=${pidfile:-$IVB_SERVER_DIR/server.pid}
	rm -f "$pidfile"
	local argv=("$server" --socket "$IVB_SERVER_SOCKET" --shm "$shm" --size "$size"
		--vectors "$(ivb_default DOORBELL_VECTORS)" --max-peers 2
		--pid-file "$pidfile")
	[ -z "$detach" ] || argv=(setsid "${argv[@]}")
	# The subshell execs the server: $! is the server's pid.
	(
		[ -z "$close_fd" ] || exec {close_fd}>&-
		exec "${argv[@]}" </dev/null >/dev/null 2>"$log"
	) &
	IVB_SERVER_PID=$!
	# Polled: the pid file is the server's only sign that it listens.
	for _ in $(seq $((IVB_SERVER_START_TIMEOUT * 20))); do
		[ -s "$pidfile" ] && break
		kill -0 "$IVB_SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	if [ ! -s "$pidfile" ] || ! kill -0 "$IVB_SERVER_PID" 2>/dev/null; then
		ivb_ivserver_stop
		rm -f "$pidfile"
		why=$(tail -n 1 "$log" 2>/dev/null) || true
		ivb_die "the ivshmem server did not start: ${why:-it wrote no pid file within $IVB_SERVER_START_TIMEOUT s} (log: $log)"
	fi
	ivb_log "ivshmem server listening on $IVB_SERVER_SOCKET (log: $log)"
}

# Use an ivshmem server that is already running (QEMU's contrib ivshmem-server, the user's, the dev VM's):
# nothing is started or stopped, and the region is the one that server shares (the programs map the fd it
# hands them). Argument: SOCKET. Sets IVB_VM_DOORBELL_SOCKET; exits through ivb_die when SOCKET is not a socket.
ivb_ivserver_use() {
	local socket=$1
	[ -S "$socket" ] || ivb_die "no ivshmem server's socket at ${socket:-(none)} (is the server running?)"
	IVB_VM_DOORBELL_SOCKET=$socket
	ivb_log "using the ivshmem server at $socket and the region it shares"
}

# Stop the server this shell started (IVB_SERVER_PID, a child: reaped; SIGKILL after 10 s) and remove its
# socket folder (IVB_SERVER_DIR).
ivb_ivserver_stop() {
	[ -z "${IVB_SERVER_PID:-}" ] || ivb_stop_child "$IVB_SERVER_PID" "the ivshmem server" 10
	[ -z "${IVB_SERVER_DIR:-}" ] || rm -rf -- "$IVB_SERVER_DIR"
	IVB_SERVER_PID=
	IVB_SERVER_DIR=
}

# Stop a server that an earlier run left (not a child of this shell, e.g. the dev VM's, by its pid file):
# SIGTERM, SIGKILL after 10 s. Argument: PID.
ivb_ivserver_kill() {
	kill "$1" 2>/dev/null || return 0
	ivb_wait_for_exit "$1" 10 || kill -KILL "$1" 2>/dev/null || true
}
