#!/usr/bin/env bash
# Old dev VM base images are pruned: the current one and the newest other one stay, an open one stays,
# the rest go with their kernel, initrd and info files. No VM: fake files in a private cache folder.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
readonly ROOT
# shellcheck source=vm/lib.sh
. "$ROOT/vm/lib.sh"
# shellcheck source=vm/dev-lib.sh
. "$ROOT/vm/dev-lib.sh"

WORK=$(mktemp -d /tmp/ivb-devvm-prune.XXXXXX)
readonly WORK
holder=
trap '[ -z "$holder" ] || kill "$holder" 2>/dev/null; rm -rf "$WORK"' EXIT
DEVVM_CACHE=$WORK

# Five images, oldest first; "b" is held open by a process, "e" is the current one.
age=5
for name in a b c d e; do
	for ext in qcow2 vmlinuz initrd info; do
		echo "$name" >"$WORK/ivb-debian-12-$name.$ext"
		touch -d "-$age hours" "$WORK/ivb-debian-12-$name.$ext"
	done
	age=$((age - 1))
done
tail -f "$WORK/ivb-debian-12-b.qcow2" >/dev/null &
holder=$!
# Until the holder has the file open (bounded).
for _ in $(seq 100); do
	[ "$(readlink "/proc/$holder/fd/3" 2>/dev/null)" = "$WORK/ivb-debian-12-b.qcow2" ] && break
	find "/proc/$holder/fd" -lname "$WORK/ivb-debian-12-b.qcow2" 2>/dev/null | grep -q . && break
	sleep 0.05
done
devvm_prune_images "$WORK/ivb-debian-12-e.qcow2" 2>"$WORK/log"
left=$(find "$WORK" -name 'ivb-debian-12-*' -printf '%f\n' | LC_ALL=C sort | tr '\n' ' ')
want="ivb-debian-12-b.info ivb-debian-12-b.initrd ivb-debian-12-b.qcow2 ivb-debian-12-b.vmlinuz "
want+="ivb-debian-12-d.info ivb-debian-12-d.initrd ivb-debian-12-d.qcow2 ivb-debian-12-d.vmlinuz "
want+="ivb-debian-12-e.info ivb-debian-12-e.initrd ivb-debian-12-e.qcow2 ivb-debian-12-e.vmlinuz "
if [ "$left" = "$want" ] && grep -q "keeping the old base image .*-b.qcow2: a process has it open" "$WORK/log"; then
	echo "PASS devvm_prune_images"
else
	echo "FAIL devvm_prune_images: left: $left; log: $(tr '\n' ' ' <"$WORK/log")"
	exit 1
fi
