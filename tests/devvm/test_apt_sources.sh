#!/usr/bin/env bash
# The apt sources the dev VM image is built with: deb822 stanzas and one-line entries of the host's apt
# configuration become deb822 stanzas for Debian bookworm only. No VM, no network.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
readonly ROOT
# shellcheck source=vm/lib.sh
. "$ROOT/vm/lib.sh"
# shellcheck source=vm/dev-lib.sh
. "$ROOT/vm/dev-lib.sh"

WORK=$(mktemp -d /tmp/ivb-devvm-sources.XXXXXX)
readonly WORK
trap 'rm -rf "$WORK"' EXIT
failed=0

# Arguments: test name, expected output, actual output.
expect() {
	if [ "$2" = "$3" ]; then
		echo "PASS apt_sources_$1"
	else
		echo "FAIL apt_sources_$1: expected:"
		printf '%s\n' "$2" | sed 's/^/    /'
		echo "  got:"
		printf '%s\n' "$3" | sed 's/^/    /'
		failed=$((failed + 1))
	fi
}

cat >"$WORK/debian.sources" <<'S'
Types: deb deb-src
# a comment inside the stanza
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Enabled: no

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
S
cat >"$WORK/nodesource.sources" <<'S'
Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main
S
cat >"$WORK/sources.list" <<'S'
# comment
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian bookworm-backports main contrib # trailing
deb-src http://mirror.example/debian bookworm main
deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main
deb http://mirror.example/debian-security bookworm-security main
S

expect deb822_keeps_bookworm_only "Types: deb deb-src
# a comment inside the stanza
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" "$(devvm_apt_sources "$WORK/debian.sources")"

expect oneline_to_deb822 "Types: deb
URIs: http://mirror.example/debian
Suites: bookworm-backports
Components: main contrib
Architectures: amd64
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main" "$(devvm_apt_sources "$WORK/sources.list")"

rc=0
out=$(devvm_apt_sources "$WORK/nodesource.sources" "$WORK/missing.list") || rc=$?
expect no_bookworm_fails "1:" "$rc:$out"

# Two files: their stanzas stay separated by blank lines (three stanzas, each starting with Types:).
expect two_files_separated "Types:,Types:,Types:," \
	"$(devvm_apt_sources "$WORK/debian.sources" "$WORK/sources.list" | awk 'BEGIN { RS = "" } { printf "%s,", $1 }')"

[ "$failed" -eq 0 ]
