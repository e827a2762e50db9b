#!/usr/bin/env bash
# The transport comparison in the bench VM under TCG (functional only), one boot with run_test.sh's default
# (the short comparison: every transport of the bench VM, 64 B messages, 1 s per VM transport test): virtio-serial
# and virtio-net carry the stream frames and the messages with the counts of both sides and the rows agreeing, a
# corrupted frame caught once in each frames test and each ivshmem stream (exit 1, every row kept), vsock skipped
# here with its reason; the QEMU devices on 127.0.0.1 only, the guest's network restricted, the chardev socket's
# private folder removed. Its first QEMU finds the forwarded port taken (tests/qemu-faults): run_test.sh picks
# another and boots again. Then a short boot whose guest cannot open its virtio-serial port (QEMU names it
# otherwise): one line each side, exit 1, the rows before kept.
set -euo pipefail
T_NAME=transports
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"
T_TRANSPORTS=()

export QEMU=$T_TOP/tests/qemu-faults IVB_TEST_PORT_TAKEN=$T_TMP/port-taken
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
t_assert_stderr '^host_writer: vsock skipped: no guest CID: no usable /dev/vhost-vsock on this host'
# The port taken at the first start: QEMU's error, then a boot with another port, which the run used.
[ -e "$IVB_TEST_PORT_TAKEN" ] || t_fail "the first QEMU did not find its port taken (tests/qemu-faults)"
taken=$(sed -n "s/.*QEMU could not take an address picked for a transport (taken since): Could not set up host forwarding rule 'tcp:127\.0\.0\.1:\([0-9]*\)-.*/\1/p" "$T_ERR")
[ -n "$taken" ] || t_fail "no line saying that QEMU found the forwarded port taken"
t_assert_stderr "booting again with new transport addresses \(.*virtio-net:[0-9]+.*; boot 2 of 3\)"
used=$("$T_PYTHON" -c 'import json, sys
print(next(e["address"] for e in json.load(open(sys.argv[1]))["transports"]["entries"] if e["name"] == "virtio-net"))' "$dir/run.json")
if [ -z "$used" ] || [ "$used" = "127.0.0.1:$taken" ]; then
	t_fail "virtio-net used '$used', the port found taken was $taken"
fi
grep -q "hostfwd=tcp:${used}-" "$dir/qemu.cmdline" || t_fail "the second boot does not forward ${used}"
# QEMU listens on 127.0.0.1 only, and its chardev socket is in a private folder.
grep -Eq 'hostfwd=tcp:127\.0\.0\.1:[0-9]+-' "$dir/qemu.cmdline" || t_fail "virtio-net's port is not forwarded from 127.0.0.1"
! grep -Eq 'hostfwd=tcp:[^1]|hostfwd=tcp::' "$dir/qemu.cmdline" || t_fail "a port is forwarded from beyond 127.0.0.1"
grep -q 'restrict=on' "$dir/qemu.cmdline" || t_fail "the guest's user network is not restricted"
sock=$(sed -n 's/.*socket\\,id=ivb-serial\\,path=\([^\\]*\)\\,.*/\1/p' "$dir/qemu.cmdline")
[ -n "$sock" ] || t_fail "no chardev socket in qemu.cmdline"
[ ! -e "$(dirname "$sock")" ] || t_fail "the chardev socket's folder $(dirname "$sock") was left behind"
first_sent=$("$T_PYTHON" -c 'import json, sys
tests = json.load(open(sys.argv[1]))["transports"]["tests"]
print(", ".join("%s %s %d" % (t["transport"], t["test"], t["sent"]) for t in tests))' "$dir/run.json")

# A guest that cannot open its end of a VM transport: no virtserialport by the name the host gives.
unset IVB_TEST_PORT_TAKEN
IVB_TEST_SERIAL_NAME=not-ivb t_run "${T_SHORT_RUN[@]}" --no-map-study --stream-seconds 1 --stream-frames 64K \
	--message-sizes 64 --transports ivshmem,virtio-serial
t_assert_no_qemu
t_assert_rc 1
dir=$(t_run_dir)
[ "$(grep -c '^host_writer: virtio-serial frames of 65536B: ' "$T_ERR")" -eq 1 ] ||
	t_fail "host_writer did not say in one line which test failed"
t_assert_stderr '^host_writer: virtio-serial frames of 65536B: the guest could not run the test: guest_failure$'
grep -aq "transport virtio-serial: no virtio-serial port named $(sed -n 's/^#define IVB_SERIAL_PORT_NAME "\([^"]*\)".*/\1/p' \
	"$T_TOP/src/shared/defaults.h") in /sys/class/virtio-ports" "$dir/guest.log" || t_fail "the guest did not say why in guest.log"
"$T_PYTHON" -c 'import json, sys
m = json.load(open(sys.argv[1]))
e = {x["name"]: x for x in m["transports"]["entries"]}
assert m["status"] == "aborted" and e["ivshmem"]["status"] == "ran" and e["virtio-serial"]["status"] == "failed", e
assert "the guest could not run the test" in e["virtio-serial"]["reason"], e
assert len(m["streams"]) >= 1 and all(s["consumed"] > 0 for s in m["streams"]), m["streams"]' "$dir/run.json" ||
	t_fail "run.json of the failed connection"
[ "$(grep -c '^65536B,' "$dir/stream_results.csv")" -gt 0 ] || t_fail "the stream's rows were lost"
t_pass "sent: $first_sent; then a guest without its port: one line, exit 1, rows kept"
