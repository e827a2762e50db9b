#!/usr/bin/env bash
# shellcheck disable=SC2015  # "check && pass || fail" is meant: pass never fails
# Every relative inline link [text](target) in the repository's Markdown files (README.md, docs/) leads
# somewhere: the file or folder exists, and a #fragment names a heading of the target (GitHub's anchor: lower
# case, punctuation dropped, spaces as hyphens). Links inside code are not links; http(s) and mailto links
# are not checked.
# The checker is first shown a fixture with known broken links, so that it cannot pass by finding nothing.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
readonly ROOT
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ivb-doc-links.XXXXXX")
readonly WORK
trap 'rm -rf -- "$WORK"' EXIT
failed=0
pass() { echo "PASS doc_links_$1"; }
fail() {
	echo "FAIL doc_links_$1: $2"
	failed=1
}

# The lines of a Markdown file outside fenced code blocks, with inline code spans removed.
# shellcheck disable=SC2016  # the backticks are Markdown's, not the shell's
prose() { awk '/^[[:space:]]*```/ { code = !code; next } !code' "$1" | sed 's/`[^`]*`//g'; }

# The targets of a file's inline links [text](target), one per line.
links() { prose "$1" | grep -o '\]([^)[:space:]]*)' | sed 's/^](//; s/)$//' || true; }

# The anchors of a file's headings, one per line.
anchors() {
	prose "$1" | grep -E '^#{1,6} ' | sed -E 's/^#+ +//; s/ +#+ *$//' | tr '[:upper:]' '[:lower:]' |
		sed -E 's/[^a-z0-9 _-]//g; s/ /-/g' || true
}

# Print one line per broken link of the Markdown files given: FILE: TARGET: why. Returns 0.
check_links() {
	local file target path fragment dest
	for file; do
		while IFS= read -r target; do
			case $target in http://* | https://* | mailto:*) continue ;; esac
			path=${target%%#*}
			fragment=
			[[ $target == *#* ]] && fragment=${target#*#}
			if [ -z "$path" ]; then
				dest=$file
			else
				dest=$(dirname "$file")/$path
			fi
			if [ ! -e "$dest" ]; then
				echo "$file: $target: no such file"
			elif [ -n "$fragment" ] && [[ $dest == *.md ]] && ! anchors "$dest" | grep -qxF -- "$fragment"; then
				echo "$file: $target: no heading with that anchor"
			fi
		done < <(links "$file")
	done
}

# The checker on a fixture: two good links, three broken ones, and a broken-looking link inside code.
mkdir -p "$WORK/docs"
cat >"$WORK/README.md" <<'EOF'
# Title
See [the guide](docs/guide.md#how-to-run-it-the-short-way), [the top](#title) and [the web](https://example.org/x).
A [missing file](docs/absent.md), a [missing heading](docs/guide.md#nowhere), [here too](#nope).
`[not a link](docs/absent.md)`
```
[not a link either](docs/absent.md)
```
EOF
printf '# Guide\n\n## How to run it: the *short* way\n' >"$WORK/docs/guide.md"
found=$(cd "$WORK" && check_links README.md docs/guide.md)
expected="README.md: docs/absent.md: no such file
README.md: docs/guide.md#nowhere: no heading with that anchor
README.md: #nope: no heading with that anchor"
[ "$found" = "$expected" ] && pass checker_finds_broken_links ||
	fail checker_finds_broken_links "expected:
$expected
found:
$found"

# The repository's own Markdown files.
cd "$ROOT"
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.md' 2>/dev/null ||
	find . -name '*.md' ! -path './.git/*' ! -path './build/*' ! -path './.cache/*')
if [ "${#files[@]}" -eq 0 ] || [ ! -e README.md ]; then
	fail repository_links "no Markdown files found under $ROOT"
else
	found=$(check_links "${files[@]}")
	[ -z "$found" ] && pass repository_links ||
		fail repository_links "broken links in the documentation:
$found"
fi

exit "$failed"
