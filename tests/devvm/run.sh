#!/usr/bin/env bash
# The dev VM tests (make check-devvm): shellcheck of the dev VM scripts, the apt sources conversion and the
# pruning of old images (no VM), then the end-to-end test (two boots of one disk: polling, then doorbell).
# Usage: tests/devvm/run.sh [BIN_DIR]   (default: build)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
readonly ROOT
readonly SCRIPTS=(setup.sh vm/dev-lib.sh vm/dev-image.sh vm/dev-guest.sh
	tests/devvm/run.sh tests/devvm/test_apt_sources.sh tests/devvm/test_prune.sh tests/devvm/test_devvm.sh)

if (cd "$ROOT" && shellcheck -x "${SCRIPTS[@]}"); then
	echo "PASS devvm_shellcheck"
else
	echo "FAIL devvm_shellcheck"
	exit 1
fi
"$ROOT/tests/devvm/test_apt_sources.sh"
"$ROOT/tests/devvm/test_prune.sh"
"$ROOT/tests/devvm/test_devvm.sh" "${1:-build}"
echo "devvm: all tests passed"
