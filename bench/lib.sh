#!/usr/bin/env bash
# Helpers of the bench scripts. Source it; it defines functions only.

# One run_test.sh into folder DIR (which must not exist): its timestamped result folder (with run-* under
# --repeat) is moved there, its output kept in DIR.log. BIN_DIR is the build folder; the rest are run_test.sh's
# options (e.g. --vm loopback). No analysis and no map study: the bench prints its own summary, and the map study
# would sit after the exchanges it times. Returns 1 after showing the end of the output if the run failed.
# Arguments: BIN_DIR DIR RUN_TEST_OPTION...
bench_run_test() {
	local bin=$1 dir=$2 tmp
	shift 2
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/ivb-bench.XXXXXX")
	if ! BUILD=$bin ./run_test.sh --results "$tmp" --no-analysis --no-map-study "$@" >"$dir.log" 2>&1; then
		tail -n 20 "$dir.log" >&2
		rm -rf -- "$tmp"
		return 1
	fi
	mv -- "$(readlink -f "$tmp/latest")" "$dir"
	rm -rf -- "$tmp"
}
