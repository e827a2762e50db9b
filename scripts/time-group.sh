#!/usr/bin/env bash
# The wall time of make check's test groups: the one place that measures and prints it.
# Usage: scripts/time-group.sh [--record FILE] [--log FILE] NAME COMMAND...
#            runs COMMAND, then prints one line "NAME: N s" (or "NAME: FAILED (exit R) after N s") and exits
#            with COMMAND's status. --record appends "NAME N ok|failed" to FILE. --log sends COMMAND's output
#            to FILE and prints it whole when COMMAND ends (groups running side by side do not mix their lines;
#            one group prints at a time).
#        scripts/time-group.sh --summary FILE TOTAL_S
#            prints the groups FILE recorded, in the order they ended, and the whole run's wall time TOTAL_S
# A group's time includes building what it needs that was not built before it.
set -euo pipefail

usage() {
	echo "usage: time-group.sh [--record FILE] [--log FILE] NAME COMMAND... | --summary FILE TOTAL_S" >&2
	exit 2
}

if [ "${1:-}" = --summary ]; then
	{ [ $# -eq 3 ] && [[ $3 =~ ^[0-9]+$ ]]; } || usage
	[ -r "$2" ] || { echo "time-group: no group times in $2" >&2; exit 1; }
	echo "make check: wall time of each group in seconds, in the order they ended (the lanes ran two at a time):"
	awk '{ printf "  %-20s %5d%s\n", $1, $2, ($3 == "ok" ? "" : "  " $3) }' "$2"
	printf '  %-20s %5d\n' total "$3"
	exit 0
fi

record=
log=
while [ $# -gt 0 ]; do
	case $1 in
	--record | --log)
		[ $# -ge 2 ] || usage
		if [ "$1" = --record ]; then record=$2; else log=$2; fi
		shift 2
		;;
	*) break ;;
	esac
done
[ $# -ge 2 ] || usage
readonly NAME=$1
shift

t0=$SECONDS
rc=0
if [ -n "$log" ]; then
	"$@" >"$log" 2>&1 || rc=$?
else
	"$@" || rc=$?
fi
seconds=$((SECONDS - t0))
if [ "$rc" -eq 0 ]; then
	line="$NAME: $seconds s"
else
	line="$NAME: FAILED (exit $rc) after $seconds s"
fi
if [ -n "$log" ]; then
	# One group's output at a time on the terminal: the log's folder is the lock.
	exec 9<"$(dirname -- "$log")"
	flock 9
	cat -- "$log"
	echo "$line"
	flock -u 9
else
	echo "$line"
fi
[ -z "$record" ] || echo "$NAME $seconds $([ "$rc" -eq 0 ] && echo ok || echo failed)" >>"$record"
exit "$rc"
