#!/usr/bin/env bash
# shellcheck disable=SC2015  # "check && pass || fail" is meant: pass never fails
# scripts/need-packages.sh with stand-ins for dpkg-query, apt-get and id on PATH (no apt run, no root needed):
# one line per package it installs, apt's output in the log only; on failure the log's last lines and one
# error line, exit 1; nothing to do when everything is installed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
readonly ROOT
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ivb-need-packages.XXXXXX")
readonly WORK
trap 'rm -rf -- "$WORK"' EXIT
failed=0
pass() { echo "PASS need_packages_$1"; }
fail() {
	echo "FAIL need_packages_$1: $2"
	failed=1
}

mkdir "$WORK/bin"
# Installed: only "present". apt-get prints a transcript; STUB_APT_FAIL=install makes the install fail.
cat >"$WORK/bin/dpkg-query" <<'STUB'
#!/bin/sh
for last; do :; done
[ "$last" = present ] && printf installed
exit 0
STUB
cat >"$WORK/bin/apt-get" <<'STUB'
#!/bin/sh
echo "$*" >>"$STUB_CALLS"
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do echo "apt transcript line $i of $*"; done
case " $* " in *" $STUB_APT_FAIL "*) echo "E: Unable to locate package $(echo "$*" | awk '{print $NF}')"; exit 100 ;; esac
exit 0
STUB
printf '#!/bin/sh\necho 0\n' >"$WORK/bin/id"
chmod +x "$WORK/bin/"*

# Run need-packages.sh with the stand-ins; sets rc, out (its stderr and stdout) and log.
run() {
	rc=0
	out=$(PATH=$WORK/bin:$PATH IVB_APT_LOG=$WORK/apt.log STUB_CALLS=$WORK/calls STUB_APT_FAIL=${STUB_APT_FAIL:-none} \
		"$ROOT/scripts/need-packages.sh" "$@" 2>&1) || rc=$?
	log=$(cat "$WORK/apt.log" 2>/dev/null || true)
}

run present
[ "$rc" -eq 0 ] && [ -z "$out" ] && [ ! -e "$WORK/calls" ] && pass nothing_to_do ||
	fail nothing_to_do "exit $rc, apt called: $(cat "$WORK/calls" 2>/dev/null), output: $out"

run present alpha beta
expected="need-packages: installing alpha (log: $WORK/apt.log)
need-packages: installing beta (log: $WORK/apt.log)"
[ "$rc" -eq 0 ] && [ "$out" = "$expected" ] && pass one_line_per_package ||
	fail one_line_per_package "exit $rc, output: $out"
[[ $log == *"apt transcript line 20 of"*"install"*"alpha beta"* ]] && pass transcript_in_log ||
	fail transcript_in_log "the log lacks apt's output: $log"

STUB_APT_FAIL=install run gamma
last=$(tail -n 1 <<<"$out")
[ "$rc" -eq 1 ] && [ "$last" = "need-packages: apt-get could not install: gamma (log: $WORK/apt.log)" ] &&
	[[ $out == *"  apt: E: Unable to locate package gamma"* ]] && [ "$(wc -l <<<"$out")" -le 17 ] &&
	pass failure_shows_log_end || fail failure_shows_log_end "exit $rc, output: $out"

STUB_APT_FAIL=update run delta
[ "$rc" -eq 1 ] && [[ $(tail -n 1 <<<"$out") == "need-packages: apt-get update failed; cannot install: delta"* ]] &&
	pass update_failure || fail update_failure "exit $rc, output: $out"

[ "$failed" -eq 0 ]
