#!/usr/bin/env bash
# The transport comparison in the bench VM under TCG (functional only), one boot with run_test.sh's default
# (the short comparison: every transport of the bench VM, 64 B messages, 1 s per VM transport test): virtio-serial
# and virtio-net
# carry the stream frames and the messages with the counts of both sides and the rows agreeing, a corrupted
# frame caught once in each frames test and each ivshmem stream (exit 1, every row kept), vsock skipped here with its reason; the QEMU devices on
# 127.0.0.1 only, the guest's network restricted, the chardev socket's private folder removed.
set -euo pipefail
T_NAME=transports
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"
T_TRANSPORTS=()

t_run "${T_SHORT_RUN[@]}" --no-map-study --stream-seconds 2 --stream-frames 64K --host-arg --corrupt-frame --host-arg 2
t_assert_no_qemu
# The corrupted frame fails the run, which still completes.
t_assert_rc 1
dir=$(t_run_dir)
[ "$(t_json "$dir/run.json" status)" = completed ] || t_fail "run.json status $(t_json "$dir/run.json" status), expected completed"
"$T_PYTHON" "$T_TOP/tests/check_transports.py" "$dir" \
	't["completed"] and t["sent"] > 2 and t["size_bytes"] in (64, 65536)' \
	't["seconds"] == (2 if t["transport"] == "ivshmem" else 1)' \
	't["failed"] == (1 if t["test"] == "frames" or t["transport"] == "ivshmem" else 0)' \
	't["failed"] == 0 or mine[2]["status"] == "bad_checksum"' \
	'[e["name"] for e in m["transports"]["entries"]] == ["ivshmem", "virtio-serial", "virtio-net", "vsock"]' \
	'[e["status"] for e in m["transports"]["entries"]] == ["ran", "ran", "ran", "skipped"]' \
	'"vhost-vsock" in m["transports"]["entries"][3]["reason"] or "AF_VSOCK" in m["transports"]["entries"][3]["reason"]' \
	'sorted({x["transport"] for x in tests}) == ["ivshmem", "virtio-net", "virtio-serial"] and len(tests) == 2 + 2 * 3' ||
	t_fail "transport figures in $dir"
for t in virtio-serial virtio-net; do
	grep -aq "transport $t frames of 65536-byte frames: [0-9]* taken, [0-9]* verified" "$dir/guest.log" ||
		t_fail "guest.log has no $t summary"
done
t_assert_stderr '^host_writer: vsock skipped: '
# QEMU listens on 127.0.0.1 only, and its chardev socket is in a private folder.
grep -Eq 'hostfwd=tcp:127\.0\.0\.1:[0-9]+-' "$dir/qemu.cmdline" || t_fail "virtio-net's port is not forwarded from 127.0.0.1"
! grep -Eq 'hostfwd=tcp:[^1]|hostfwd=tcp::' "$dir/qemu.cmdline" || t_fail "a port is forwarded from beyond 127.0.0.1"
grep -q 'restrict=on' "$dir/qemu.cmdline" || t_fail "the guest's user network is not restricted"
sock=$(sed -n 's/.*socket\\,id=ivb-serial\\,path=\([^\\]*\)\\,.*/\1/p' "$dir/qemu.cmdline")
[ -n "$sock" ] || t_fail "no chardev socket in qemu.cmdline"
[ ! -e "$(dirname "$sock")" ] || t_fail "the chardev socket's folder $(dirname "$sock") was left behind"
sent=$("$T_PYTHON" -c 'import json, sys
tests = json.load(open(sys.argv[1]))["transports"]["tests"]
print(", ".join("%s %s %d" % (t["transport"], t["test"], t["sent"]) for t in tests))' "$dir/run.json")
t_pass "sent: $sent"
