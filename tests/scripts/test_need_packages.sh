#!/usr/bin/env bash
# shellcheck disable=SC2015  # "check && pass || fail" is meant: pass never fails
# scripts/need-packages.sh with stand-ins for dpkg-query, apt-get, id and sudo on PATH (no apt run, no root
# needed): one line per package it installs, apt's output in the log only; on failure the log's last lines and
# one error line, exit 1; nothing to do when everything is installed; --update-lists; a user other than root
# runs it through sudo -n; two runs at once both succeed (one waits for the other's lock, then finds its package
# installed); a lock never released fails with one line after the time limit.
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
# Installed: "present" and what the stand-in apt-get installed. apt-get prints a transcript; STUB_APT_FAIL=install
# makes the install fail. Like apt with its lists lock, apt-get fails at once while another one runs; with
# STUB_HOLD=PREFIX its update creates PREFIX.held and returns only once PREFIX.release exists (at most 60 s).
cat >"$WORK/bin/dpkg-query" <<'STUB'
#!/bin/sh
for last; do :; done
{ [ "$last" = present ] || grep -qx -- "$last" "$STUB_INSTALLED" 2>/dev/null; } && printf installed
exit 0
STUB
cat >"$WORK/bin/apt-get" <<'STUB'
#!/bin/bash
echo "$*" >>"$STUB_CALLS"
exec 8>>"$STUB_APT_LOCK"
flock -n 8 || { echo "E: Could not get lock $STUB_APT_LOCK. It is held by process 1 (apt-get)"; exit 100; }
for i in {1..20}; do echo "apt transcript line $i of $*"; done
case " $* " in *" $STUB_APT_FAIL "*) echo "E: Unable to locate package ${*: -1}"; exit 100 ;; esac
if [[ " $* " == *" update "* ]] && [ -n "${STUB_HOLD:-}" ]; then
	touch "$STUB_HOLD.held"
	for _ in {1..600}; do [ -e "$STUB_HOLD.release" ] && break; sleep 0.1; done
fi
if [[ " $* " == *" install "* ]]; then
	after=0
	for arg; do
		[ "$after" -eq 1 ] && [[ $arg != -* ]] && echo "$arg" >>"$STUB_INSTALLED"
		[ "$arg" = install ] && after=1
	done
fi
exit 0
STUB
# id says STUB_UID (default root); sudo -n runs its command as "root" and says so in STUB_CALLS.
cat >"$WORK/bin/id" <<'STUB'
#!/bin/sh
echo "${STUB_UID:-0}"
STUB
cat >"$WORK/bin/sudo" <<'STUB'
#!/bin/sh
[ "$1" = -n ] && shift
[ "$1" = true ] && exit 0
echo "sudo $1" >>"$STUB_CALLS"
STUB_UID=0 exec "$@"
STUB
chmod +x "$WORK/bin/"*
export STUB_CALLS=$WORK/calls STUB_INSTALLED=$WORK/installed STUB_APT_LOCK=$WORK/apt-lists.lock
export IVB_APT_LOG=$WORK/apt.log IVB_PACKAGES_LOCK=$WORK/packages.lock

# Run need-packages.sh with the stand-ins; sets rc, out (its stderr and stdout) and log.
run() {
	rc=0
	out=$(PATH=$WORK/bin:$PATH STUB_APT_FAIL=${STUB_APT_FAIL:-none} "$ROOT/scripts/need-packages.sh" "$@" 2>&1) || rc=$?
	log=$(cat "$WORK/apt.log" 2>/dev/null || true)
}

# Wait (at most 60 s) until COMMAND succeeds or process PID has exited. Arguments: PID COMMAND...
wait_until() {
	local pid=$1
	shift
	for _ in {1..600}; do
		"$@" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
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

: >"$WORK/calls"
run --update-lists
[ "$rc" -eq 0 ] && [ "$out" = "need-packages: updating the package lists (log: $WORK/apt.log)" ] &&
	[ "$(cat "$WORK/calls")" = "-o DPkg::Lock::Timeout=600 update -q" ] && pass update_lists_only ||
	fail update_lists_only "exit $rc, apt-get calls: $(cat "$WORK/calls"), output: $out"

: >"$WORK/calls"
STUB_UID=1000 run zeta
[ "$rc" -eq 0 ] && [ "$out" = "need-packages: installing zeta (log: $WORK/apt.log)" ] &&
	[ "$(head -n 1 "$WORK/calls")" = "sudo env" ] && grep -qx zeta "$WORK/installed" && pass through_sudo ||
	fail through_sudo "exit $rc, calls: $(cat "$WORK/calls"), output: $out"

# Two installs at once, as make's parallel test groups start them: the first one's apt-get update holds apt's
# lock until the second run has got as far as it can. Both must succeed, and the second must not install again
# what the first installed meanwhile.
: >"$WORK/calls"
PATH=$WORK/bin:$PATH STUB_HOLD=$WORK/first "$ROOT/scripts/need-packages.sh" shared >"$WORK/first.out" 2>&1 &
first=$!
wait_until "$first" test -e "$WORK/first.held" || fail concurrent "the first run's apt-get update never started"
PATH=$WORK/bin:$PATH "$ROOT/scripts/need-packages.sh" shared >"$WORK/second.out" 2>&1 &
second=$!
wait_until "$second" grep -q "waiting for another package install" "$WORK/second.out" ||
	fail concurrent "the second run neither waited nor ended in 60 s"
touch "$WORK/first.release"
rc_first=0 rc_second=0
wait "$first" || rc_first=$?
wait "$second" || rc_second=$?
[ "$rc_first" -eq 0 ] && [ "$rc_second" -eq 0 ] && pass concurrent_installs_both_succeed ||
	fail concurrent_installs_both_succeed "exits $rc_first and $rc_second; second run: $(cat "$WORK/second.out")"
[ "$(grep -c ' install ' "$WORK/calls")" -eq 1 ] &&
	[ "$(cat "$WORK/second.out")" = "need-packages: waiting for another package install to finish (lock: $WORK/packages.lock, at most 1800 s)" ] &&
	pass second_run_checks_again_under_the_lock ||
	fail second_run_checks_again_under_the_lock "apt-get calls: $(cat "$WORK/calls"); second run: $(cat "$WORK/second.out")"

# A lock that is never released: one line after the time limit, apt never called.
: >"$WORK/calls"
exec {held}>>"$WORK/packages.lock"
flock "$held"
IVB_PACKAGES_LOCK_WAIT=1 run epsilon
exec {held}>&-
[ "$rc" -eq 1 ] && [ "$(tail -n 1 <<<"$out")" = "need-packages: another package install held $WORK/packages.lock for 1 s; cannot install: epsilon" ] &&
	[ ! -s "$WORK/calls" ] && pass lock_time_limit || fail lock_time_limit "exit $rc, apt-get calls: $(cat "$WORK/calls"), output: $out"

[ "$failed" -eq 0 ]
