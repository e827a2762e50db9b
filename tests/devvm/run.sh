#!/usr/bin/env bash
# The dev VM tests (make check-devvm): the apt sources conversion and the pruning of old images (no VM), then
# the end-to-end test (two boots of one disk: polling, then doorbell). make check-shell shellchecks the scripts.
# Usage: tests/devvm/run.sh [BIN_DIR]   (default: build)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
readonly ROOT
"$ROOT/tests/devvm/test_apt_sources.sh"
"$ROOT/tests/devvm/test_prune.sh"
"$ROOT/tests/devvm/test_devvm.sh" "${1:-build}"
echo "devvm: all tests passed"
