#!/usr/bin/env bash
# PASS and FAIL lines for the integration tests, counted in passed and failed: pass NAME, fail NAME DETAIL, and
# check NAME DETAIL COMMAND... Source it; it defines functions and the two counters only.
# shellcheck disable=SC2034  # passed and failed are read by the scripts that source this file

passed=0
failed=0

pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

# check NAME DETAIL COMMAND...: PASS when COMMAND succeeds, else FAIL with DETAIL.
check() {
	local name=$1 detail=$2
	shift 2
	if "$@"; then pass "$name"; else fail "$name" "$detail"; fi
}
