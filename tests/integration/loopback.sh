#!/usr/bin/env bash
# shellcheck disable=SC2015  # "check && check || fail" is meant: fail when either check fails
# Loopback integration tests: host_writer and guest_reader on one /dev/shm file, no QEMU.
# Usage: tests/integration/loopback.sh [BIN_DIR]   (default: build)
set -euo pipefail

readonly BIN=${1:-build}
readonly HOST="$BIN/host_writer"
readonly GUEST="$BIN/guest_reader"
readonly SEED_LATENCY="iteration,host_memcpy_ns,host_memcpy_us,roundtrip_ns,roundtrip_us,guest_memcpy_ns,guest_memcpy_us,guest_verify_ns,guest_verify_us,guest_hot_cache_ns,guest_hot_cache_us,guest_cold_cache_ns,guest_cold_cache_us,guest_second_pass_ns,guest_second_pass_us,guest_cached_verify_ns,guest_cached_verify_us,notification_est_ns,notification_est_us,total_ns,total_us,success"
readonly SEED_BANDWIDTH="iteration,frame_type,width,height,bpp,size_bytes,size_mb,host_memcpy_ns,host_memcpy_ms,host_memcpy_mbps,roundtrip_ns,roundtrip_ms,guest_memcpy_ns,guest_memcpy_ms,guest_memcpy_mbps,guest_verify_ns,guest_verify_ms,total_ns,total_ms,total_mbps,success"
# Every program run is bounded, so that a hang fails the test instead of the CI job.
readonly PYTHON=/usr/bin/python3
readonly LIMIT=120

WORK=$(mktemp -d /tmp/ivb-loopback.XXXXXX)
readonly WORK
SHM_PREFIX="/dev/shm/ivb-loopback-$$"
readonly SHM_PREFIX
pids=()

cleanup() {
	for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
	rm -rf "$WORK"
	rm -f "$SHM_PREFIX"-*
}
trap cleanup EXIT

# shellcheck source=tests/integration/checks.sh
. "$(dirname "$0")/checks.sh"

# Count the data rows of a CSV whose last column (success) is not 1.
bad_rows() { tail -n +2 "$1" | awk -F, '$NF != 1' | wc -l; }
rows() { if [ -f "$1" ]; then tail -n +2 "$1" | wc -l; else echo 0; fi; }

# Send a signal to a program started under timeout(1): to the program itself, not the wrapper.
signal_child() { pkill "-$1" -P "$2"; }

# Start guest_reader in the background; its pid lands in $guest_pid.
start_guest() {
	local out=$1
	shift
	timeout "$LIMIT" "$GUEST" "$@" >"$out.out" 2>"$out.err" &
	guest_pid=$!
	pids+=("$guest_pid")
}

run_pair() { # name shm out host-args... ; guest args come from GUEST_ARGS
	local shm=$1 out=$2
	shift 2
	start_guest "$out/guest" --shm "$shm" --timeout 20 "${GUEST_ARGS[@]}"
	host_rc=0
	timeout "$LIMIT" "$HOST" --shm "$shm" --out "$out" --timeout 20 "$@" >"$out/host.out" 2>"$out/host.err" || host_rc=$?
	guest_rc=0
	wait "$guest_pid" || guest_rc=$?
}

# A run that goes on until stopped: guest and host in the background, 64 B messages, host timeout
# HOST_TIMEOUT; returns once the host has written more than ROWS latency rows. Sets guest_pid, host_pid.
start_endless_run() { # out shm host_timeout rows
	local out=$1 shm=$2 host_timeout=$3 min_rows=$4
	mkdir -p "$out"
	start_guest "$out/guest" --shm "$shm" --timeout 20
	timeout "$LIMIT" "$HOST" --shm "$shm" --size 4M --out "$out" --iterations 10000000 --latency-frame 64 \
		--bw-iterations 0 --ref-iterations 0 --timeout "$host_timeout" >"$out/host.out" 2>"$out/host.err" &
	host_pid=$!
	pids+=("$host_pid")
	for _ in $(seq 400); do [ "$(rows "$out/latency_results.csv")" -gt "$min_rows" ] && break; sleep 0.05; done
}

# Wait for both programs of start_endless_run; their exit statuses land in host_rc and guest_rc.
wait_both() {
	host_rc=0
	wait "$host_pid" || host_rc=$?
	guest_rc=0
	wait "$guest_pid" || guest_rc=$?
}

test_host_first_small_frames() {
	local name=host_first_small_frames out="$WORK/$1" shm="$SHM_PREFIX-1"
	mkdir -p "$out"
	host_rc=0
	timeout "$LIMIT" "$HOST" --shm "$shm" --size 4M --out "$out" --iterations 20 --latency-frame 64 \
		--bw-iterations 3 --frames 64,4096,1M --ref-iterations 1 --timeout 20 >"$out/host.out" 2>"$out/host.err" &
	local host_pid=$!
	pids+=("$host_pid")
	GUEST_ARGS=()
	# The host is up before the guest starts: wait for its ready line, bounded.

	for _ in $(seq 200); do grep -q "waiting for the guest" "$out/host.err" 2>/dev/null && break; sleep 0.05; done
	start_guest "$out/guest" --shm "$shm" --timeout 20
	wait "$host_pid" || host_rc=$?
	guest_rc=0
	wait "$guest_pid" || guest_rc=$?
	[ "$host_rc" -eq 0 ] || { fail "$name" "host exit $host_rc: $(tail -1 "$out/host.err")"; return; }
	[ "$guest_rc" -eq 0 ] || { fail "$name" "guest exit $guest_rc: $(tail -1 "$out/guest.err")"; return; }
	[ "$(head -1 "$out/latency_results.csv")" = "$SEED_LATENCY" ] || { fail "$name" "latency header differs from the seed"; return; }
	[ "$(head -1 "$out/bandwidth_results.csv")" = "$SEED_BANDWIDTH" ] || { fail "$name" "bandwidth header differs from the seed"; return; }
	[ "$(rows "$out/latency_results.csv")" -eq 20 ] || { fail "$name" "expected 20 latency rows"; return; }
	[ "$(rows "$out/bandwidth_results.csv")" -eq 9 ] || { fail "$name" "expected 9 bandwidth rows"; return; }
	[ "$(rows "$out/reference_results.csv")" -eq 3 ] || { fail "$name" "expected 3 reference rows (64 B is measured once)"; return; }
	[ "$(bad_rows "$out/latency_results.csv")" -eq 0 ] && [ "$(bad_rows "$out/bandwidth_results.csv")" -eq 0 ] \
		|| { fail "$name" "a row has success=0"; return; }
	grep -q '"status": "completed"' "$out/run.json" || { fail "$name" "run.json not completed"; return; }
	grep -q '"mapping": "shm"' "$out/run.json" || { fail "$name" "run.json lacks the guest mapping"; return; }
	grep -q "32/32 iterations succeeded" "$out/host.out" || { fail "$name" "host summary: $(cat "$out/host.out")"; return; }
	grep -q "33 messages, 33 verified, 0 failed" "$out/guest.out" || { fail "$name" "guest summary: $(cat "$out/guest.out")"; return; }
	[ "$(stat -c %a "$shm")" = 600 ] || { fail "$name" "region mode is $(stat -c %a "$shm"), not 600"; return; }
	# What each side's waiting cost: CPU time next to the wall time.
	grep -q '"user_s": [0-9]' "$out/run.json" && grep -q '"wall_s": [0-9]' "$out/run.json" \
		|| { fail "$name" "run.json lacks the host's CPU time"; return; }
	grep -q "cpu user [0-9.]* s sys [0-9.]* s in [0-9.]* s" "$out/guest.out" || { fail "$name" "guest summary lacks its CPU time"; return; }
	pass "$name"
}

test_guest_first_4k() {
	local name=guest_first_4k out="$WORK/$1" shm="$SHM_PREFIX-2"
	mkdir -p "$out"
	GUEST_ARGS=()
	# The guest starts before the region file even exists.
	run_pair "$shm" "$out" --iterations 2 --bw-iterations 1 --frames 1080p,1440p,4k --ref-iterations 0
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/host.err")"; return; }
	[ "$(rows "$out/latency_results.csv")" -eq 2 ] && [ "$(bad_rows "$out/latency_results.csv")" -eq 0 ] || { fail "$name" "latency rows"; return; }
	grep -q '^1,4k,3840,2160,24,24883200,24.883200,' "$out/bandwidth_results.csv" || { fail "$name" "no 4k bandwidth row"; return; }
	[ "$(bad_rows "$out/bandwidth_results.csv")" -eq 0 ] || { fail "$name" "a bandwidth row failed"; return; }
	pass "$name"
}

test_corruption_detected() {
	local name=corruption_detected out="$WORK/$1" shm="$SHM_PREFIX-3"
	mkdir -p "$out"
	GUEST_ARGS=()
	run_pair "$shm" "$out" --size 4M --iterations 5 --latency-frame 4096 --bw-iterations 0 --ref-iterations 0 --corrupt-iteration 3
	[ "$host_rc" -eq 1 ] || { fail "$name" "host exit $host_rc, expected 1"; return; }
	[ "$guest_rc" -eq 1 ] || { fail "$name" "guest exit $guest_rc, expected 1"; return; }
	[ "$(rows "$out/latency_results.csv")" -eq 5 ] || { fail "$name" "the run did not continue after the failure"; return; }
	[ "$(awk -F, 'NR == 4 { print $NF }' "$out/latency_results.csv")" = 0 ] || { fail "$name" "row 3 is not success=0"; return; }
	[ "$(bad_rows "$out/latency_results.csv")" -eq 1 ] || { fail "$name" "expected exactly one failed row"; return; }
	grep -q "latency 4096B iteration 3: the guest reported sha256_mismatch" "$out/host.err" || { fail "$name" "no error code on stderr"; return; }
	grep -q '"error": "sha256_mismatch"' "$out/run.json" || { fail "$name" "run.json lacks the failure"; return; }
	pass "$name"
}

test_guest_killed_mid_run() {
	local name=guest_killed_mid_run out="$WORK/$1"
	start_endless_run "$out" "$SHM_PREFIX-4" 2 100
	signal_child KILL "$guest_pid"
	wait_both
	[ "$host_rc" -eq 1 ] || { fail "$name" "host exit $host_rc, expected 1"; return; }
	grep -q "timed out after 2 s waiting for" "$out/host.err" || { fail "$name" "no timeout message: $(tail -1 "$out/host.err")"; return; }
	[ "$(rows "$out/latency_results.csv")" -gt 100 ] || { fail "$name" "finished rows were lost"; return; }
	# Every finished row is complete; at most the last (the one that timed out) failed.
	[ "$(bad_rows "$out/latency_results.csv")" -le 1 ] || { fail "$name" "more than one failed row"; return; }
	grep -q '"status": "aborted"' "$out/run.json" || { fail "$name" "run.json not marked aborted"; return; }
	pass "$name"
}

test_host_sigterm_stops_guest() {
	local name=host_sigterm_stops_guest out="$WORK/$1"
	start_endless_run "$out" "$SHM_PREFIX-5" 20 10
	signal_child TERM "$host_pid"
	wait_both
	[ "$host_rc" -eq 1 ] || { fail "$name" "host exit $host_rc, expected 1"; return; }
	[ "$guest_rc" -eq 1 ] || { fail "$name" "guest exit $guest_rc, expected 1"; return; }
	grep -q "stopped by signal 15" "$out/host.err" || { fail "$name" "host did not say it was stopped"; return; }
	grep -q "the host aborted (stopped by a signal)" "$out/guest.err" || { fail "$name" "guest did not see the abort: $(tail -1 "$out/guest.err")"; return; }
	grep -q '"status": "aborted"' "$out/run.json" || { fail "$name" "run.json not marked aborted"; return; }
	[ "$(rows "$out/latency_results.csv")" -gt 10 ] || { fail "$name" "rows lost"; return; }
	pass "$name"
}

test_guest_sigint_stops_host() {
	local name=guest_sigint_stops_host out="$WORK/$1"
	start_endless_run "$out" "$SHM_PREFIX-6" 20 10
	signal_child INT "$guest_pid"
	wait_both
	[ "$guest_rc" -eq 1 ] || { fail "$name" "guest exit $guest_rc, expected 1"; return; }
	[ "$host_rc" -eq 1 ] || { fail "$name" "host exit $host_rc, expected 1"; return; }
	grep -q "the guest aborted (stopped by a signal)" "$out/host.err" || { fail "$name" "host did not see the abort: $(tail -1 "$out/host.err")"; return; }
	pass "$name"
}

test_peer_never_starts() {
	local name=peer_never_starts out="$WORK/$1" rc=0
	mkdir -p "$out"
	timeout "$LIMIT" "$HOST" --shm "$SHM_PREFIX-7" --size 4M --out "$out" --iterations 1 --latency-frame 64 \
		--bw-iterations 0 --ref-iterations 0 --timeout 1 --connect-timeout 1 >"$out/host.out" 2>"$out/host.err" || rc=$?
	[ "$rc" -eq 1 ] || { fail "$name" "host exit $rc, expected 1"; return; }
	grep -q "timed out after 1 s waiting for a guest in state READY" "$out/host.err" || { fail "$name" "host message: $(tail -1 "$out/host.err")"; return; }
	rc=0
	timeout "$LIMIT" "$GUEST" --shm "$SHM_PREFIX-missing" --timeout 1 --connect-timeout 1 >"$out/guest.out" 2>"$out/guest.err" || rc=$?
	[ "$rc" -eq 1 ] || { fail "$name" "guest exit $rc, expected 1"; return; }
	grep -q "did not appear in time" "$out/guest.err" || { fail "$name" "guest message: $(cat "$out/guest.err")"; return; }
	# A region whose host never reaches READY.
	rc=0
	head -c 8192 /dev/zero >"$SHM_PREFIX-8"
	timeout "$LIMIT" "$GUEST" --shm "$SHM_PREFIX-8" --timeout 1 --connect-timeout 1 >"$out/guest.out" 2>"$out/guest.err" || rc=$?
	[ "$rc" -eq 1 ] || { fail "$name" "guest exit $rc on an idle region, expected 1"; return; }
	grep -q "timed out after 1 s waiting for host state READY" "$out/guest.err" || { fail "$name" "guest message: $(tail -1 "$out/guest.err")"; return; }
	pass "$name"
}

# Run by hand: host_writer first, guest_reader started over 30 s later (a person logging in; longer than
# the default --timeout), both with their default time limits. The host waits, saying so every 10 s, and
# the run succeeds.
test_guest_starts_late() {
	local name=guest_starts_late out="$WORK/$1" shm="$SHM_PREFIX-late" host_rc=0 guest_rc=0
	mkdir -p "$out"
	timeout "$LIMIT" "$HOST" --shm "$shm" --size 4M --out "$out" --iterations 3 --latency-frame 64 --bw-iterations 0 \
		--ref-iterations 0 >"$out/host.out" 2>"$out/host.err" &
	host_pid=$!
	pids+=("$host_pid")
	# The wait is the point of the test: a person, not a process, starts the guest, once the host has
	# said it waited 30 s.
	for _ in $(seq 450); do
		grep -q "waiting for guest_reader to bind to $shm (30 s of 600 s" "$out/host.err" && break
		sleep 0.1
	done
	timeout "$LIMIT" "$GUEST" --shm "$shm" >"$out/guest.out" 2>"$out/guest.err" || guest_rc=$?
	wait "$host_pid" || host_rc=$?
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -2 "$out/host.err")"; return; }
	grep -q "waiting for guest_reader to bind to $shm (30 s of 600 s" "$out/host.err" ||
		{ fail "$name" "no progress line at 30 s: $(cat "$out/host.err")"; return; }
	grep -q "expecting 4 messages" "$out/guest.err" || { fail "$name" "guest expected: $(cat "$out/guest.err")"; return; }
	pass "$name"
}

test_bad_options() {
	local name=bad_options out="$WORK/$1" rc args
	mkdir -p "$out"
	for args in "--iterations -1" "--iterations 1x" "--frames 720p" "--frames 64,,4k" "--size 10" \
		"--timeout 0" "--meta novalue" "--bogus" "extra" "--iterations 0 --bw-iterations 0 --ref-iterations 0" \
		"--mode interrupts" "--mode polling --doorbell /x.sock" "--interval-us 60000001" "--interval-us x"; do
		rc=0
		# shellcheck disable=SC2086 # each case is a list of words
		timeout "$LIMIT" "$HOST" $args >"$out/out" 2>"$out/err" || rc=$?
		[ "$rc" -eq 2 ] || { fail "$name" "host $args: exit $rc, expected 2"; return; }
		[ "$(wc -l <"$out/err")" -eq 1 ] || { fail "$name" "host $args: not one line: $(cat "$out/err")"; return; }
	done
	for args in "--map xx" "--timeout abc" "--shm /x --device 0000:00:03.0" "--frames ," "--mode x" \
		"--shm /x --mode doorbell" "--doorbell /x.sock --mode polling"; do
		rc=0
		# shellcheck disable=SC2086
		"$GUEST" $args >"$out/out" 2>"$out/err" || rc=$?
		[ "$rc" -eq 2 ] || { fail "$name" "guest $args: exit $rc, expected 2"; return; }
		[ "$(wc -l <"$out/err")" -eq 1 ] || { fail "$name" "guest $args: not one line"; return; }
	done
	# Into a file, not a pipe: grep -q stops reading at the match, and a help longer than stdio's buffer
	# would then die of SIGPIPE (a failure under pipefail).
	"$HOST" --help >"$out/help" && grep -q -- "--corrupt-iteration" "$out/help" || { fail "$name" "host --help"; return; }
	"$GUEST" --help >"$out/help" && grep -q -- "--map uc|wc" "$out/help" || { fail "$name" "guest --help"; return; }
	pass "$name"
}

test_region_checks() {
	local name=region_checks out="$WORK/$1" rc
	mkdir -p "$out"
	rc=0
	"$HOST" --shm "$SHM_PREFIX-9" --size 1M --out "$out" --latency-frame 4k --timeout 1 >/dev/null 2>"$out/err" || rc=$?
	[ "$rc" -eq 1 ] && grep -q "too small" "$out/err" || { fail "$name" "small region: exit $rc: $(cat "$out/err")"; return; }
	[ ! -e "$SHM_PREFIX-9" ] || { fail "$name" "a too-small region file was created anyway"; return; }
	# An error before the guest is reached still leaves run.json, saying why the run stopped.
	grep -q '"status": "aborted"' "$out/run.json" && grep -q '"abort_reason": "region .* is too small' "$out/run.json" ||
		{ fail "$name" "small region: run.json does not say aborted: $(head -5 "$out/run.json" 2>&1)"; return; }
	# An existing file is never shrunk.
	head -c $((8 << 20)) /dev/zero >"$SHM_PREFIX-10"
	chmod 644 "$SHM_PREFIX-10"
	timeout "$LIMIT" "$HOST" --shm "$SHM_PREFIX-10" --size 4M --out "$out" --iterations 1 --latency-frame 64 \
		--bw-iterations 0 --ref-iterations 0 --timeout 1 --connect-timeout 1 >/dev/null 2>&1 || true
	[ "$(stat -c %s "$SHM_PREFIX-10")" -eq $((8 << 20)) ] || { fail "$name" "the region file was shrunk"; return; }
	[ "$(stat -c %a "$SHM_PREFIX-10")" = 600 ] || { fail "$name" "a world-readable region stayed readable"; return; }
	# A symbolic link is refused.
	ln -s "$SHM_PREFIX-10" "$SHM_PREFIX-11"
	rc=0
	"$HOST" --shm "$SHM_PREFIX-11" --out "$out" --timeout 1 >/dev/null 2>"$out/err" || rc=$?
	[ "$rc" -eq 1 ] && grep -q "symbolic link" "$out/err" || { fail "$name" "symlink: exit $rc: $(cat "$out/err")"; return; }
	grep -q '"abort_reason": "cannot use .*symbolic link' "$out/run.json" || { fail "$name" "symlink: run.json does not say why"; return; }
	rc=0
	"$GUEST" --shm "$SHM_PREFIX-11" --timeout 1 --connect-timeout 1 >/dev/null 2>"$out/err" || rc=$?
	[ "$rc" -eq 1 ] || { fail "$name" "guest followed a symlink"; return; }
	pass "$name"
}

test_stale_region_recovers() {
	local name=stale_region_recovers out="$WORK/$1" shm="$SHM_PREFIX-12"
	mkdir -p "$out/rerun"
	start_endless_run "$out/crash" "$shm" 5 10
	signal_child KILL "$host_pid"
	signal_child KILL "$guest_pid"
	wait "$host_pid" "$guest_pid" 2>/dev/null || true
	GUEST_ARGS=()
	run_pair "$shm" "$out/rerun" --iterations 3 --latency-frame 64 --bw-iterations 0 --ref-iterations 0
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "rerun exit host $host_rc guest $guest_rc: $(tail -1 "$out/rerun/host.err")"; return; }
	grep -q "cleared a stale region" "$out/rerun/host.err" || { fail "$name" "the stale region was not reported"; return; }
	pass "$name"
}

test_fake_bar_mapping() {
	local name=fake_bar_mapping out="$WORK/$1" shm="$SHM_PREFIX-13" dev
	mkdir -p "$out"
	# A sysfs tree whose ivshmem device's resource2 is the region file: the BAR path without QEMU.
	dev="$WORK/sysfs/0000:00:03.0"
	mkdir -p "$dev" "$WORK/sysfs/0000:00:01.0"
	echo 0x8086 >"$WORK/sysfs/0000:00:01.0/vendor"
	echo 0x7000 >"$WORK/sysfs/0000:00:01.0/device"
	echo 0x1af4 >"$dev/vendor"
	echo 0x1110 >"$dev/device"
	printf '0x0 0x0 0x0\n0x0 0x0 0x0\n0x00000000fe000000 0x00000000fe3fffff 0x14220c\n' >"$dev/resource"
	head -c $((4 << 20)) /dev/zero >"$shm"
	chmod 600 "$shm"
	ln -s "$shm" "$dev/resource2"
	GUEST_ARGS=()
	start_guest "$out/guest" --sysfs-root "$WORK/sysfs" --timeout 20
	host_rc=0
	timeout "$LIMIT" "$HOST" --shm "$shm" --out "$out" --iterations 3 --latency-frame 1M --bw-iterations 0 \
		--ref-iterations 0 --timeout 20 >"$out/host.out" 2>"$out/host.err" || host_rc=$?
	guest_rc=0
	wait "$guest_pid" || guest_rc=$?
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/guest.err")"; return; }
	grep -q '"mapping": "resource2"' "$out/run.json" && grep -q '"device": "0000:00:03.0"' "$out/run.json" \
		|| { fail "$name" "run.json lacks the BAR mapping"; return; }
	pass "$name"
}

test_studies_and_counters() {
	local name=studies_and_counters out="$WORK/$1" shm="$SHM_PREFIX-14" dev
	mkdir -p "$out"
	# A fake device whose BAR2 has both sysfs mappings, so the map study has a second way in.
	dev="$WORK/sysfs2/0000:00:04.0"
	mkdir -p "$dev"
	echo 0x1af4 >"$dev/vendor"
	echo 0x1110 >"$dev/device"
	printf '0x0 0x0 0x0\n0x0 0x0 0x0\n0x00000000fe000000 0x00000000fe3fffff 0x14220c\n' >"$dev/resource"
	head -c $((4 << 20)) /dev/zero >"$shm"
	chmod 600 "$shm"
	ln -s "$shm" "$dev/resource2"
	ln -s "$shm" "$dev/resource2_wc"
	start_guest "$out/guest" --sysfs-root "$WORK/sysfs2" --timeout 20
	host_rc=0
	timeout "$LIMIT" "$HOST" --shm "$shm" --out "$out" --iterations 2 --latency-frame 256K --bw-iterations 1 \
		--frames 1M --ref-iterations 1 --write-study --map-study --timeout 20 >"$out/host.out" 2>"$out/host.err" || host_rc=$?
	guest_rc=0
	wait "$guest_pid" || guest_rc=$?
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/host.err")"; return; }
	local f
	for f in latency_performance.csv bandwidth_performance.csv phase_performance.csv write_study.csv mapping_study.csv; do
		[ -s "$out/$f" ] || { fail "$name" "$f missing or empty"; return; }
	done
	# Every message of every test has the plain, fresh-pages and non-temporal variants.
	[ "$(grep -c ',memcpy_prefaulted,' "$out/write_study.csv")" -eq 5 ] || { fail "$name" "memcpy_prefaulted rows"; return; }
	[ "$(grep -c ',memcpy_fresh_pages,' "$out/write_study.csv")" -eq 5 ] || { fail "$name" "fresh-pages rows"; return; }
	[ "$(grep -c ',nt_store,' "$out/write_study.csv")" -eq 5 ] || { fail "$name" "nt_store rows"; return; }
	awk -F, '$5 == "memcpy_fresh_pages" && ($8 == "" || $8 < 1) { bad = 1 } END { exit bad }' "$out/write_study.csv" \
		|| { fail "$name" "fresh-pages copies without page faults"; return; }
	# Latency and bandwidth messages through both mappings of BAR2.
	[ "$(grep -c '^latency,[0-9]*,262144B,262144,resource2,' "$out/mapping_study.csv")" -eq 2 ] || { fail "$name" "no resource2 rows"; return; }
	[ "$(grep -c '^latency,[0-9]*,262144B,262144,resource2_wc,' "$out/mapping_study.csv")" -eq 2 ] || { fail "$name" "no resource2_wc rows"; return; }
	# No driver behind this sysfs: no wb mapping, no row for it, and run.json says why.
	! grep -q ',ivshmem_region,' "$out/mapping_study.csv" || { fail "$name" "ivshmem_region rows without a driver"; return; }
	grep -q '"why": "no /dev/ivshmem-region (the ivshmem_doorbell driver is not loaded)"' "$out/run.json" \
		|| { fail "$name" "run.json does not say why ivshmem_region is missing"; return; }
	# The order rotates: each mapping goes first in some message (column order, 0 = first; columns by name).
	local first
	first=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$col["order"] == 0 { print $col["mapping"] }' "$out/mapping_study.csv" | sort -u | tr '\n' ' ')
	[ "$first" = "resource2 resource2_wc " ] || { fail "$name" "the map study's order does not rotate (first: $first)"; return; }
	[ "$(grep -c ',C_copy,' "$out/phase_performance.csv")" -eq 5 ] || { fail "$name" "phase counter rows"; return; }
	# A counter the machine lacks is an empty field and a reason in run.json, never a 0.
	if grep -q '"counters_missing": "not measured: .*cpu_cycles' "$out/run.json"; then
		awk -F, 'NR > 1 && $9 != "" { bad = 1 } END { exit bad }' "$out/latency_performance.csv" \
			|| { fail "$name" "host_cpu_cycles has a value though run.json says it was not measured"; return; }
	fi
	awk -F, 'NR > 1 && ($28 == "" || $29 == "") { bad = 1 } END { exit bad }' "$out/latency_performance.csv" \
		|| { fail "$name" "software counters (guest page faults, task clock) are missing"; return; }
	pass "$name"
}

# --map-study=latency in loopback: the file mapped three times, named shm, in an order that rotates; only
# latency messages carry it. Then --map-study=reference: only reference messages.
test_map_study_loopback() {
	local name=map_study_loopback out="$WORK/$1" shm="$SHM_PREFIX-30"
	mkdir -p "$out"
	GUEST_ARGS=()
	run_pair "$shm" "$out" --iterations 3 --latency-frame 64K --bw-iterations 1 --frames 128K --ref-iterations 1 \
		--warmup 0 --map-study=latency
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/host.err")"; return; }
	[ "$(grep -c '^latency,[1-3],65536B,65536,shm,' "$out/mapping_study.csv")" -eq 9 ] || { fail "$name" "expected 3 shm rows per latency message"; return; }
	! grep -q '^bandwidth,' "$out/mapping_study.csv" || { fail "$name" "bandwidth rows though =latency"; return; }
	# Message n starts with mapping n mod 3: each position appears once per message.
	[ "$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next } { print $col["iteration"] "-" $col["order"] }' \
		"$out/mapping_study.csv" | sort -u | wc -l)" -eq 9 ] || { fail "$name" "orders per message are not 0, 1, 2"; return; }
	grep -q '"map_study_tests": "latency"' "$out/run.json" && grep -q '"missing": \[\]' "$out/run.json" \
		|| { fail "$name" "run.json lacks the map study's tests or missing list"; return; }
	# =reference (run_test.sh's default): only the reference messages carry it, one per size here.
	mkdir -p "$out/ref"
	run_pair "$shm" "$out/ref" --iterations 3 --latency-frame 64K --bw-iterations 1 --frames 128K --ref-iterations 2 \
		--warmup 0 --map-study=reference
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "=reference: exit host $host_rc guest $guest_rc"; return; }
	[ "$(grep -c '^reference,[1-2],' "$out/ref/mapping_study.csv")" -eq 12 ] &&
		[ "$(tail -n +2 "$out/ref/mapping_study.csv" | grep -vc '^reference,')" -eq 0 ] ||
		{ fail "$name" "=reference: expected 3 rows for each of 4 reference messages and no others"; return; }
	grep -q '"map_study_tests": "reference"' "$out/ref/run.json" || { fail "$name" "=reference: run.json"; return; }
	pass "$name"
}

test_too_small_stops_waiting_guest() {
	local name=too_small_stops_waiting_guest out="$WORK/$1" shm="$SHM_PREFIX-15" rc=0
	mkdir -p "$out"
	head -c $((1 << 20)) /dev/zero >"$shm"
	chmod 600 "$shm"
	start_guest "$out/guest" --shm "$shm" --timeout 60
	# An abort the guest did not see happen (it came before the guest looked) counts as stale.
	for _ in $(seq 200); do grep -q "waiting for the host" "$out/guest.err" 2>/dev/null && break; sleep 0.05; done
	"$HOST" --shm "$shm" --out "$out" --latency-frame 4k --timeout 60 >/dev/null 2>"$out/host.err" || rc=$?
	[ "$rc" -eq 1 ] && grep -q "too small" "$out/host.err" || { fail "$name" "host exit $rc: $(cat "$out/host.err")"; return; }
	guest_rc=0
	wait "$guest_pid" || guest_rc=$?
	[ "$guest_rc" -eq 1 ] || { fail "$name" "guest exit $guest_rc, expected 1"; return; }
	# The guest heard of the abort instead of waiting out its 60 s (a timeout would say "timed out").
	grep -q "host aborted" "$out/guest.err" || { fail "$name" "guest message: $(tail -1 "$out/guest.err")"; return; }
	[ "$(stat -c %s "$shm")" -eq $((1 << 20)) ] || { fail "$name" "the region was resized"; return; }
	pass "$name"
}

test_non_root_counters() {
	local name=non_root_counters out="$WORK/$1" shm="$SHM_PREFIX-16" as_nobody
	# Counters for an unprivileged user: what the kernel refuses is reported, the run goes on.
	if [ "$(id -u)" -ne 0 ]; then
		as_nobody=()
	elif command -v setpriv >/dev/null 2>&1; then
		as_nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	else
		fail "$name" "running as root without setpriv: cannot drop privileges"
		return
	fi
	mkdir -p "$out/bin"
	chmod 711 "$WORK"
	chmod 777 "$out"
	# The clone may sit in a folder only its owner can enter: the programs run from a copy here.
	cp "$HOST" "$GUEST" "$out/bin/"
	chmod 755 "$out/bin" "$out/bin/host_writer" "$out/bin/guest_reader"
	"${as_nobody[@]}" timeout "$LIMIT" "$out/bin/guest_reader" --shm "$shm" --timeout 20 >"$out/guest.out" 2>"$out/guest.err" &
	guest_pid=$!
	pids+=("$guest_pid")
	host_rc=0
	"${as_nobody[@]}" timeout "$LIMIT" "$out/bin/host_writer" --shm "$shm" --size 4M --out "$out/run" --iterations 3 \
		--latency-frame 64K --bw-iterations 0 --ref-iterations 0 --timeout 20 >"$out/host.out" 2>"$out/host.err" || host_rc=$?
	guest_rc=0
	wait "$guest_pid" || guest_rc=$?
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/host.err")"; return; }
	[ "$(rows "$out/run/latency_performance.csv")" -eq 3 ] || { fail "$name" "no counter rows"; return; }
	# Each counter column is either filled on every row or empty on every row with a reason given.
	if grep -q '"counters_missing": "not measured' "$out/run/run.json"; then
		grep -q "counters not measured: .*(E" "$out/host.err" || { fail "$name" "no reason for the missing counters"; return; }
	fi
	awk -F, 'NR > 1 && $26 == "" { bad = 1 } END { exit bad }' "$out/run/latency_performance.csv" \
		|| { fail "$name" "host page faults not counted for an unprivileged user"; return; }
	pass "$name"
}

test_interval_paces_messages() {
	local name=interval_paces_messages out="$WORK/$1" shm="$SHM_PREFIX-18"
	mkdir -p "$out"
	# 6 messages (warm-up included) 100 ms apart: at least 0.5 s from the first to the last, and the guest
	# spins (polling) while the host sleeps between them.
	start_guest "$out/guest" --shm "$shm" --timeout 20
	host_rc=0
	timeout "$LIMIT" "$HOST" --shm "$shm" --size 4M --out "$out/run" --iterations 5 --latency-frame 64 \
		--bw-iterations 0 --ref-iterations 0 --interval-us 100000 --timeout 20 >/dev/null 2>"$out/host.err" || host_rc=$?
	guest_rc=0
	wait "$guest_pid" || guest_rc=$?
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/host.err")"; return; }
	"$PYTHON" - "$out/run/run.json" <<'PY' || { fail "$name" "run.json: $(grep -A5 '"cpu"' "$out/run/run.json" | tr -d '\n ')"; return; }
import json, sys
m = json.load(open(sys.argv[1]))
assert m["options"]["interval_us"] == 100000
host, guest = m["host"]["cpu"], m["guest"]["cpu"]
# (The guest's span starts once it has pre-faulted the region, which may be after the first message left.)
assert host["wall_s"] >= 0.5 and guest["wall_s"] >= 0.4, (host, guest)
# The host slept through the pauses; the polling guest did not.
assert host["user_s"] + host["sys_s"] < 0.5 * host["wall_s"], host
assert "doorbell" not in m["host"] and "doorbell" not in m["guest"]
PY
	pass "$name"
}

test_doorbell_loopback() {
	local name=doorbell_loopback out="$WORK/$1" shm="$SHM_PREFIX-17" sock server_pid
	mkdir -p "$out"
	# Two host peers of our ivshmem server: notification by eventfds instead of polling.
	sock="$out/ivshmem.sock"
	chmod 700 "$out"
	"$BIN/ivshmem_server" --socket "$sock" --shm "$shm" --size 8M --pid-file "$out/server.pid" 2>"$out/server.log" &
	server_pid=$!
	pids+=("$server_pid")
	for _ in $(seq 200); do [ -s "$out/server.pid" ] && break; sleep 0.05; done
	start_guest "$out/guest" --shm "$shm" --mode doorbell --doorbell "$sock" --timeout 20
	host_rc=0
	timeout "$LIMIT" "$HOST" --shm "$shm" --out "$out/run" --iterations 200 --latency-frame 64 --bw-iterations 2 \
		--frames 1M --ref-iterations 1 --doorbell "$sock" --timeout 20 >"$out/host.out" 2>"$out/host.err" || host_rc=$?
	guest_rc=0
	wait "$guest_pid" || guest_rc=$?
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/host.err") / $(tail -1 "$out/guest.err")"; return; }
	[ "$(rows "$out/run/latency_results.csv")" -eq 200 ] && [ "$(bad_rows "$out/run/latency_results.csv")" -eq 0 ] \
		|| { fail "$name" "latency rows"; return; }
	grep -q '"mode": "doorbell"' "$out/run/run.json" || { fail "$name" "run.json does not say doorbell"; return; }
	# Both sides' CPU time, and rings both ways (the guest's reported through the region).
	"$PYTHON" - "$out/run/run.json" <<'PY' || { fail "$name" "run.json cpu or doorbell fields"; return; }
import json, sys
m = json.load(open(sys.argv[1]))
for side in ("host", "guest"):
    cpu, bell = m[side]["cpu"], m[side]["doorbell"]
    assert cpu["messages"] == 200 + 2 + 2 + 1 and 0 < cpu["user_s"] + cpu["sys_s"] <= cpu["wall_s"] + 0.1, (side, cpu)
    # Each side rings for every message; how many of those rings find the other asleep, and so how many it
    # reads (an eventfd adds up rings that come while nobody reads), depends on the scheduler.
    assert bell["rings_sent"] >= 200, (side, bell)
other = {"host": "guest", "guest": "host"}
for side in ("host", "guest"):
    got, sent = m[side]["doorbell"]["rings_received"], m[other[side]]["doorbell"]["rings_sent"]
    assert 1 <= got <= sent, (side, got, sent)
assert m["host"]["doorbell"]["peer_id"] != m["guest"]["doorbell"]["peer_id"]
PY
	grep -q "peer 1 joined" "$out/server.log" || { fail "$name" "the server saw no second peer"; return; }
	# Modes that differ are refused with a clear line, on both sides.
	start_guest "$out/guest2" --shm "$shm" --timeout 5
	host_rc=0
	timeout "$LIMIT" "$HOST" --shm "$shm" --out "$out/mismatch" --iterations 1 --latency-frame 64 --bw-iterations 0 \
		--ref-iterations 0 --doorbell "$sock" --timeout 5 >/dev/null 2>"$out/mismatch.err" || host_rc=$?
	wait "$guest_pid" || true
	[ "$host_rc" -eq 1 ] && grep -q "the guest aborted (protocol error)" "$out/mismatch.err" \
		|| { fail "$name" "mode mismatch: exit $host_rc: $(tail -1 "$out/mismatch.err")"; return; }
	grep -q "the host uses the doorbell, this guest polls: give both the same --mode" "$out/guest2.err" \
		|| { fail "$name" "the guest did not say why: $(tail -1 "$out/guest2.err")"; return; }
	kill "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	# No server: one line, exit 1, nothing measured lost (nothing was).
	host_rc=0
	"$HOST" --shm "$shm" --out "$out/noserver" --iterations 1 --latency-frame 64 --bw-iterations 0 --ref-iterations 0 \
		--doorbell "$out/missing.sock" --timeout 2 >/dev/null 2>"$out/noserver.err" || host_rc=$?
	[ "$host_rc" -eq 1 ] && grep -q "cannot join the ivshmem server at $out/missing.sock" "$out/noserver.err" \
		|| { fail "$name" "no server: exit $host_rc: $(cat "$out/noserver.err")"; return; }
	pass "$name"
}

# The late start waits over 30 s for the host's 30 s line: it runs in the background from the start, beside the
# others (its host sleeps meanwhile), and its lines and verdict come at the end.
readonly BACKGROUND="test_guest_starts_late"
background=()
for t in $BACKGROUND test_host_first_small_frames test_guest_first_4k test_corruption_detected test_guest_killed_mid_run \
	test_host_sigterm_stops_guest test_guest_sigint_stops_host test_peer_never_starts test_bad_options \
	test_region_checks test_stale_region_recovers test_fake_bar_mapping test_studies_and_counters test_map_study_loopback \
	test_too_small_stops_waiting_guest test_non_root_counters test_interval_paces_messages test_doorbell_loopback; do
	# LOOPBACK_SKIP="test_a test_b": tests another run of this script covers (the 30 s late start under ASan).
	if [[ " ${LOOPBACK_SKIP:-} " == *" $t "* ]]; then
		echo "SKIP $t (LOOPBACK_SKIP)"
		continue
	fi
	if [[ " $BACKGROUND " == *" $t "* ]]; then
		(
			trap 'for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done' EXIT
			"$t" "$t"
		) >"$WORK/$t.log" 2>&1 &
		pids+=("$!")
		background+=("$!:$t")
		continue
	fi
	"$t" "$t"
done
for job in ${background[@]+"${background[@]}"}; do
	wait "${job%%:*}" || true
	log=$WORK/${job#*:}.log
	cat "$log"
	if grep -q '^FAIL ' "$log"; then
		failed=$((failed + 1))
	elif grep -q '^PASS ' "$log"; then
		passed=$((passed + 1))
	else
		fail "${job#*:}" "it ended without a verdict"
	fi
done
echo "loopback: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
