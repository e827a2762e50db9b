#!/usr/bin/env bash
# shellcheck disable=SC2015  # "check && pass || fail" is meant: fail when a check fails (fail exits)
# The dev VM end to end, in two boots of one disk. First ./setup.sh builds the base image (cached in
# ~/.cache/ivshmem-bench/devvm) and boots it (TCG here), SSH answers, guest_reader is compiled in the guest and
# runs a short benchmark against BAR2 through vm/dev-guest.sh with host_writer on the host, the CSVs and
# run.json are checked, and ./setup.sh stop leaves no QEMU behind. Also: status, idempotent start, a busy port.
# Then the same disk in doorbell mode (./setup.sh --mode doorbell: ivshmem-doorbell and our ivshmem server):
# the guest driver, built in the guest during the polling boot (where it finds no doorbell), is loaded and a
# run_test.sh --vm dev --mode doorbell run passes; stop leaves nothing behind. Before any boot: bad modes, a
# QEMU without ivshmem-doorbell, and an ivshmem server that is missing, fails, never gets ready or whose
# socket path is too long.
# Its own state folder, SSH port and shared-memory file, so that it does not touch a dev VM already running.
# Usage: tests/devvm/test_devvm.sh [BIN_DIR]   (default: build; needs BIN_DIR/host_writer)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
readonly ROOT
BIN=$(cd "${1:-build}" && pwd)
readonly BIN
# shellcheck source=vm/lib.sh
. "$ROOT/vm/lib.sh"
# shellcheck source=vm/dev-lib.sh
. "$ROOT/vm/dev-lib.sh"

readonly BENCH_ARGS=(--iterations 3 --bw-iterations 1 --frames 1080p --latency-frame 1M --ref-iterations 1)
# Compiling guest_reader under TCG takes a while; the host starts only once the guest is waiting for it.
readonly GUEST_READY_TIMEOUT=600
readonly HOST_LIMIT=300

WORK=$ROOT/build/devvm-check
readonly WORK
export DEVVM_STATE=$WORK/state
export DEVVM_KEY=$WORK/state/temp_id_rsa
export DEVVM_SHM=/dev/shm/ivb-devvm-check-$$
DEVVM_PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DEVVM_PORT
devvm_config "$ROOT"

listener_pid=""
guest_pid=""
cleanup() {
	local pid
	[ -z "$listener_pid" ] || kill "$listener_pid" 2>/dev/null || true
	[ -z "$guest_pid" ] || kill "$guest_pid" 2>/dev/null || true
	if pid=$(devvm_running_pid); then
		echo "cleanup: killing the test VM (pid $pid)"
		kill "$pid" 2>/dev/null || true
		ivb_wait_for_exit "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
	fi
	# The doorbell boot's ivshmem server and its socket folder, when a check failed before the stop.
	! pid=$(devvm_server_pid) || kill "$pid" 2>/dev/null || true
	devvm_load_env
	[[ ${DEVVM_SOCKET:-} != */ivb-devvm.*/ivshmem.sock ]] || rm -rf -- "$(dirname "$DEVVM_SOCKET")"
	rm -f "$DEVVM_SHM"
}
trap cleanup EXIT

pass() { echo "PASS devvm_$1"; }
# A failed check ends the test: the later ones build on it. The logs stay in $WORK.
fail() {
	echo "FAIL devvm_$1: $2"
	echo "  logs: $WORK (serial console: $DEVVM_SERIAL_LOG)"
	exit 1
}

rm -rf "$WORK"
mkdir -p "$WORK/state"

# 0. Bad modes: one line, exit 2, nothing started.
for bad in "--mode interrupts" "--mode"; do
	rc=0
	# shellcheck disable=SC2086  # each case is a list of words
	out=$("$ROOT/setup.sh" $bad 2>&1) || rc=$?
	[ "$rc" -eq 2 ] && [ "$(wc -l <<<"$out")" -eq 1 ] || fail bad_mode "./setup.sh $bad: exit $rc: $out"
done
rc=0
out=$(IVSHMEM_MODE=bogus "$ROOT/setup.sh" 2>&1) || rc=$?
[ "$rc" -eq 2 ] && [[ $out == *"not 'bogus'"* ]] && pass bad_mode || fail bad_mode "IVSHMEM_MODE=bogus: exit $rc: $out"

# A QEMU without ivshmem-doorbell: doorbell mode is refused before anything is built or started.
rc=0
out=$(QEMU=$ROOT/tests/qemu-without-doorbell "$ROOT/setup.sh" --mode doorbell 2>&1) || rc=$?
[ "$rc" -eq 1 ] && [[ $out == *"has no ivshmem-doorbell device"* ]] && ! devvm_running_pid >/dev/null &&
	[ ! -e "$DEVVM_SERVER_PIDFILE" ] || fail qemu_without_doorbell "exit $rc: $out"
# IVSHMEM_MODE=doorbell chooses the same mode, and the same refusal.
rc=0
out=$(IVSHMEM_MODE=doorbell QEMU=$ROOT/tests/qemu-without-doorbell "$ROOT/setup.sh" 2>&1) || rc=$?
[ "$rc" -eq 1 ] && [[ $out == *"has no ivshmem-doorbell device"* ]] && pass qemu_without_doorbell ||
	fail qemu_without_doorbell "IVSHMEM_MODE=doorbell: exit $rc: $out"

# The ivshmem server missing, failing, never ready, or its socket path too long: each refused in one line
# before any image or QEMU, leaving no server and no socket folder (they go into $WORK/run here).
mkdir -m 0700 "$WORK/run"
# ./setup.sh --mode doorbell with the server $1 and the socket folders under $2; sets rc and out.
start_doorbell_with() {
	rc=0
	out=$(DEVVM_SERVER=$1 XDG_RUNTIME_DIR=$2 "$ROOT/setup.sh" --mode doorbell 2>&1) || rc=$?
}
# Whether the refusal was one line saying $1, with nothing left behind.
refused_cleanly() {
	[ "$rc" -eq 1 ] && [ "$(wc -l <<<"$out")" -eq 1 ] && [[ $out == *"$1"* ]] && ! devvm_running_pid >/dev/null &&
		[ ! -e "$DEVVM_SERVER_PIDFILE" ] && [ -z "$(ls -A "$WORK/run")" ]
}
start_doorbell_with "$WORK/no-such-server" "$WORK/run"
refused_cleanly "no ivshmem server at $WORK/no-such-server" && pass server_missing || fail server_missing "exit $rc: $out"
printf '#!/bin/sh\necho "ivshmem_server: test: cannot map the region" >&2\nexit 1\n' >"$WORK/failing_server"
printf '#!/bin/sh\necho $$ >"%s"\nexec sleep 60\n' "$WORK/hung.pid" >"$WORK/hanging_server"
chmod +x "$WORK/failing_server" "$WORK/hanging_server"
start_doorbell_with "$WORK/failing_server" "$WORK/run"
refused_cleanly "the ivshmem server did not start: ivshmem_server: test: cannot map the region" &&
	pass server_fails_to_start || fail server_fails_to_start "exit $rc: $out"
start_doorbell_with "$WORK/hanging_server" "$WORK/run"
refused_cleanly "it wrote no pid file within 10 s" && ! kill -0 "$(cat "$WORK/hung.pid")" 2>/dev/null &&
	pass server_never_ready || fail server_never_ready "exit $rc, server $(cat "$WORK/hung.pid") left? $out"
long_dir=$WORK/run/$(printf '%080d' 0)
mkdir -p "$long_dir"
start_doorbell_with "$WORK/failing_server" "$long_dir"
rmdir "$long_dir"
refused_cleanly "socket would not fit in 107 characters" && pass socket_path_too_long ||
	fail socket_path_too_long "exit $rc: $out"

# 1. Not running yet: status says so, with exit status 3.
rc=0
out=$("$ROOT/setup.sh" status 2>&1) || rc=$?
[ "$rc" -eq 3 ] && [[ $out == *"not running"* ]] && pass status_not_running ||
	fail status_not_running "exit $rc: $out"

# 2. A busy port: one clear line, no VM, before any image is built.
coproc LISTENER {
	exec /usr/bin/python3 -c '
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
sys.stdin.read()'
}
# shellcheck disable=SC2153  # LISTENER_PID is set by coproc
listener_pid=$LISTENER_PID
read -r -t 30 -u "${LISTENER[0]}" busy_port || fail busy_port "the test listener did not start"
rc=0
out=$(DEVVM_PORT=$busy_port "$ROOT/setup.sh" 2>&1) || rc=$?
kill "$listener_pid" 2>/dev/null || true
listener_pid=""
if [ "$rc" -ne 0 ] && [[ $out == *"port $busy_port is already in use"* ]] && ! devvm_running_pid >/dev/null; then
	pass busy_port
else
	fail busy_port "exit $rc: $out"
fi

# 3. Start: builds or reuses the image, boots, waits for cloud-init and SSH.
start=$SECONDS
rc=0
"$ROOT/setup.sh" >"$WORK/setup.out" 2>"$WORK/setup.err" || rc=$?
boot_s=$((SECONDS - start))
sed 's/^/  setup: /' "$WORK/setup.out" "$WORK/setup.err"
[ "$rc" -eq 0 ] && grep -q "dev VM ready after" "$WORK/setup.out" && pass start ||
	fail start "./setup.sh exited $rc after $boot_s s"
pid=$(devvm_running_pid) || fail start "no QEMU behind $DEVVM_PIDFILE"
devvm_load_env

# 4. SSH is forwarded from 127.0.0.1 only.
listen=$(ss -Hltn "sport = :$DEVVM_PORT" | awk '{ print $4 }' | sort -u | tr '\n' ' ')
[ "$listen" = "127.0.0.1:$DEVVM_PORT " ] && pass loopback_only || fail loopback_only "listening on: $listen"

# 5. The key pair is private.
[ "$(stat -c %a "$DEVVM_KEY")" = 600 ] && pass key_mode || fail key_mode "$DEVVM_KEY is $(stat -c %a "$DEVVM_KEY")"

# 6. Idempotent start, and status.
rc=0
out=$("$ROOT/setup.sh" 2>&1) || rc=$?
[ "$rc" -eq 0 ] && [[ $out == *"already running (pid $pid, mode polling)"* ]] && pass start_again || fail start_again "exit $rc: $out"
rc=0
out=$("$ROOT/setup.sh" status 2>&1) || rc=$?
[ "$rc" -eq 0 ] && [[ $out == *"mode polling, SSH answers"* ]] && pass status_running || fail status_running "exit $rc: $out"
# A polling VM has no interrupts: doorbell mode is refused, by setup.sh and by run_test.sh, in one line.
rc=0
out=$("$ROOT/setup.sh" --mode doorbell 2>&1) || rc=$?
[ "$rc" -eq 1 ] && [[ $out == *"already runs in polling mode"* ]] || fail doorbell_refused "setup.sh: exit $rc: $out"
rc=0
out=$("$ROOT/run_test.sh" --vm dev --mode doorbell --results "$WORK/refused" --no-analysis 2>&1) || rc=$?
[ "$rc" -eq 1 ] && [[ $out == *"runs in polling mode"* ]] && pass doorbell_refused_on_polling_vm ||
	fail doorbell_refused "run_test.sh: exit $rc: $out"

# 7. In the guest: user debian with passwordless sudo, cloud-init done, the ivshmem device on PCI.
out=$(devvm_ssh 'id -un; sudo -n id -un; cloud-init status; lspci -n -d 1af4:1110 | wc -l' </dev/null 2>&1) ||
	fail guest_checks "ssh failed: $out"
expected=$'debian\nroot\nstatus: done\n1'
[ "$out" = "$expected" ] && pass guest_checks || fail guest_checks "got: $(tr '\n' '|' <<<"$out")"

# 8. A short benchmark: guest_reader compiled and run in the guest, host_writer here.
results=$WORK/results
mkdir -p "$results"
# guest_reader takes no test options: the plan comes from the host through the region.
"$ROOT/vm/dev-guest.sh" "$results" -- 2>"$WORK/dev-guest.err" &
guest_pid=$!
rc=0
devvm_wait_for_line "$results/guest.log" 'guest_reader: mapped ' "$GUEST_READY_TIMEOUT" "$guest_pid" || rc=$?
[ "$rc" -eq 0 ] || fail guest_ready "guest_reader not ready (wait status $rc): $(tail -n 3 "$WORK/dev-guest.err" "$results/guest.log" 2>/dev/null | tr '\n' '|')"
pass guest_compiled_and_ready
host_rc=0
timeout "$HOST_LIMIT" "$BIN/host_writer" --shm "$DEVVM_SHM" --out "$results" "${BENCH_ARGS[@]}" \
	--meta vm=dev --meta "accel=$DEVVM_ACCEL" >"$WORK/host.out" 2>"$WORK/host.err" || host_rc=$?
guest_rc=0
wait "$guest_pid" || guest_rc=$?
guest_pid=""
sed 's/^/  /' "$WORK/dev-guest.err"
sed 's/^/  host: /' "$WORK/host.out"
grep -a '^guest_reader: ' "$results/guest.log" | sed 's/^/  guest: /' || true
[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] && pass benchmark_exit_status ||
	fail benchmark_exit_status "host_writer $host_rc, dev-guest.sh $guest_rc; see $WORK/host.err, $results/guest.log, $WORK/dev-guest.err"

# Every data row of a CSV has success=1, and there are N of them. Arguments: file, N.
check_csv() {
	local file=$results/$1 want=$2 col rows bad
	[ -f "$file" ] || fail "csv_$1" "missing"
	col=$(head -n 1 "$file" | tr ',' '\n' | grep -n -x success | cut -d: -f1)
	[ -n "$col" ] || fail "csv_$1" "no success column"
	rows=$(tail -n +2 "$file" | wc -l)
	bad=$(tail -n +2 "$file" | awk -F, -v c="$col" '$c != 1' | wc -l)
	[ "$rows" -eq "$want" ] && [ "$bad" -eq 0 ] && pass "csv_$1" ||
		fail "csv_$1" "$rows rows (want $want), $bad with success != 1"
}
check_csv latency_results.csv 3
check_csv bandwidth_results.csv 1
# One reference iteration for the latency frame and one for each bandwidth frame.
check_csv reference_results.csv 2

out=$(/usr/bin/python3 - "$results/run.json" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
print(run["status"], run["guest"]["mapping"], run["meta"]["vm"], len(run["failures"]))
PY
) || fail run_json "cannot read $results/run.json"
[ "$out" = "completed resource2 dev 0" ] && pass run_json || fail run_json "status, mapping, vm, failures: $out"

# 9. Again: no recompilation, and guest_reader's exit status comes through (2: usage error).
rc=0
"$ROOT/vm/dev-guest.sh" "$WORK/again" -- --no-such-option 2>"$WORK/again.err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "up to date" "$WORK/again/guest-build.log" && pass guest_exit_status_and_cache ||
	fail guest_exit_status_and_cache "exit $rc (want 2); build log: $(cat "$WORK/again/guest-build.log" 2>/dev/null)"

# 9b. Doorbell mode on this polling VM: the driver is built in the guest against its kernel's headers and
# loads, but ivshmem-plain has no doorbell: one line, exit 3. (The doorbell boot below reuses this build.)
rc=0
"$ROOT/vm/dev-guest.sh" "$WORK/driver-on-polling" -- --mode doorbell 2>"$WORK/driver-on-polling.err" || rc=$?
sed 's/^/  /' "$WORK/driver-on-polling.err"
module_build=$(sed -n 's/.*built the driver in the dev VM in \([0-9]*\) s.*/\1/p' "$WORK/driver-on-polling.err")
if [ "$rc" -eq 3 ] && [ "$(grep -c 'error:' "$WORK/driver-on-polling.err")" -eq 1 ] &&
	[[ $(tail -n 1 "$WORK/driver-on-polling.err") == *"no /dev/ivshmem-doorbell"* ]] &&
	grep -q "ivshmem_doorbell.ko" "$WORK/driver-on-polling/guest-build.log"; then
	pass doorbell_driver_on_polling_vm
else
	fail doorbell_driver_on_polling_vm "exit $rc (want 3): $(tail -n 3 "$WORK/driver-on-polling.err" | tr '\n' '|')"
fi

# 9c. The write-back mapping through the driver (loaded for --map wb on this polling VM) and a short stream:
# every frame verified through the wb mapping.
rc=0
"$ROOT/run_test.sh" --vm dev --results "$WORK/wb" --no-analysis --guest-arg --map --guest-arg wb --iterations 3 \
	--latency-frame 1M --bw-iterations 0 --ref-iterations 0 --stream-seconds 1 --stream-frames 1080p \
	>"$WORK/wb.out" 2>&1 || rc=$?
sed 's/^/  run_test: /' "$WORK/wb.out" | grep -v 'counters not measured' || true
out=$(/usr/bin/python3 - "$WORK/wb/latest/run.json" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
s = run["streams"][0]
print(run["status"], run["guest"]["mapping"], run["guest"]["memory_type"], s["completed"],
      s["consumed"] == s["produced"] > 0, s["failed"])
PY
) || fail wb_stream_run "cannot read $WORK/wb/latest/run.json (run_test.sh exited $rc)"
[ "$rc" -eq 0 ] && [ "$out" = "completed ivshmem_region write-back True True 0" ] && pass wb_stream_run ||
	fail wb_stream_run "exit $rc; status, mapping, memory type, stream completed, all consumed, failed: $out"

# 10. Stop: clean shutdown, no QEMU left.
rc=0
out=$("$ROOT/setup.sh" stop 2>&1) || rc=$?
[ "$rc" -eq 0 ] && [[ $out == *"dev VM stopped"* ]] || fail stop "exit $rc: $out"
[[ $out != *"killing QEMU"* ]] || fail stop "the guest did not power off by itself: $out"
if kill -0 "$pid" 2>/dev/null || pgrep -f -- "$DEVVM_PIDFILE" >/dev/null; then
	fail stop "a QEMU of this test is still running"
fi
pass stop
rc=0
"$ROOT/setup.sh" status >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 3 ] && pass status_after_stop || fail status_after_stop "exit $rc (want 3)"

# 11. The same disk in doorbell mode: ivshmem-doorbell served by our ivshmem server.
start=$SECONDS
rc=0
"$ROOT/setup.sh" --mode doorbell >"$WORK/setup-doorbell.out" 2>"$WORK/setup-doorbell.err" || rc=$?
doorbell_boot_s=$((SECONDS - start))
sed 's/^/  setup: /' "$WORK/setup-doorbell.out" "$WORK/setup-doorbell.err"
[ "$rc" -eq 0 ] && grep -q "ivshmem-doorbell .*doorbell mode" "$WORK/setup-doorbell.out" && pass start_doorbell ||
	fail start_doorbell "./setup.sh --mode doorbell exited $rc after $doorbell_boot_s s"
pid=$(devvm_running_pid) || fail start_doorbell "no QEMU behind $DEVVM_PIDFILE"
devvm_load_env
[ "$DEVVM_MODE" = doorbell ] && [ -S "$DEVVM_SOCKET" ] && [ "$(stat -c %a "$(dirname "$DEVVM_SOCKET")")" = 700 ] &&
	pass server_socket_private || fail server_socket_private "mode $DEVVM_MODE, socket '$DEVVM_SOCKET'"
server=$(cat "$DEVVM_SERVER_PIDFILE")
socket_dir=$(dirname "$DEVVM_SOCKET")

# 12. A doorbell run through run_test.sh: the driver is built and loaded in the guest, interrupts both ways.
rc=0
"$ROOT/run_test.sh" --vm dev --mode doorbell --results "$WORK/doorbell" --no-analysis --iterations 10 \
	--latency-frame 64 --bw-iterations 1 --frames 1080p --ref-iterations 0 --stream-seconds 2 --stream-frames 64K \
	--fps 10 >"$WORK/doorbell.out" 2>&1 || rc=$?
sed 's/^/  run_test: /' "$WORK/doorbell.out" | grep -v 'counters not measured' || true
[ "$rc" -eq 0 ] || fail doorbell_run "run_test.sh --vm dev --mode doorbell exited $rc"
out=$(/usr/bin/python3 - "$WORK/doorbell/latest/run.json" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
s = run["streams"][0]
# How many rings find the other side asleep depends on the scheduler: each side woke on one at least. The
# host-to-guest stream rings the guest when its consumer sleeps: 64 KiB frames 100 ms apart leave it asleep
# most of each period even under TCG on a loaded machine (1080p at 30/s kept it busy: no ring at all).
print(run["status"], run["options"]["mode"], run["host"]["doorbell"]["rings_received"] >= 1,
      run["guest"]["doorbell"]["rings_received"] >= 1, "cpu" in run["guest"],
      s["completed"] and s["failed"] == 0 and s["rings_sent"] > 0)
PY
) || fail doorbell_run "cannot read $WORK/doorbell/latest/run.json"
[ "$out" = "completed doorbell True True True True" ] && pass doorbell_run ||
	fail doorbell_run "status, mode, host woken, guest woken, guest cpu, stream with rings: $out"
grep -q "ivshmem_doorbell driver is up to date" "$WORK/doorbell/latest/guest-build.log" && pass driver_reused_and_loaded ||
	fail driver_reused_and_loaded "the driver built in 9b was not reused: $WORK/doorbell/latest/guest-build.log"

# 13. Stop: no QEMU, no server, no socket left.
rc=0
out=$("$ROOT/setup.sh" stop 2>&1) || rc=$?
[ "$rc" -eq 0 ] && [[ $out == *"dev VM stopped"* ]] || fail stop_doorbell "exit $rc: $out"
if kill -0 "$pid" 2>/dev/null || kill -0 "$server" 2>/dev/null || [ -e "$socket_dir" ]; then
	fail stop_doorbell "left behind: QEMU $pid, server $server or $socket_dir"
fi
pass stop_doorbell

ready=$(sed -n 's/^dev VM ready after \([0-9]*\) s.*/\1/p' "$WORK/setup.out")
echo "devvm: boot to SSH ${ready} s (accel $DEVVM_ACCEL); ./setup.sh took ${boot_s} s in all (any image build included);" \
	"the second boot, in doorbell mode, ${doorbell_boot_s} s; the driver's build in the guest ${module_build:-?} s"
