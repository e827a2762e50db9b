#!/usr/bin/env bash
# Run every VM test (tests/vm/test_*.sh); each prints one PASS or FAIL line, then its wall time. Ends with
# "vm: N passed, M failed".
set -euo pipefail

cd "$(dirname "$0")"
passed=0
failed=0
for t in test_*.sh; do
	t0=$SECONDS
	if ./"$t"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
	echo "  $t: $((SECONDS - t0)) s"
done
echo "vm: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
