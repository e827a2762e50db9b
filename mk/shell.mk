# Shell scripts: every one is shellcheck clean, and scripts/need-packages.sh keeps apt quiet.
#   make check-shell    shellcheck -x on every shell script (the files git knows or would add whose first line
#                       runs sh or bash), then the tests in tests/scripts/

SHELL_PACKAGES := shellcheck
# A script is a file whose first line is #! ... sh or bash (run_test.sh, vm/init, .ci/run, ...).
SHELL_SCRIPT_RE := ^\#!.*[/ ](ba|da)?sh([[:space:]]|$$)

CHECK_TARGETS += check-shell
.PHONY: check-shell

check-shell:
	@$(NEED) $(SHELL_PACKAGES)
	@files=$$({ git ls-files --cached --others --exclude-standard 2>/dev/null || find . -type f ! -path './.git/*' ! -path './$(BUILD)/*' ! -path './.cache/*'; } | \
		while IFS= read -r f; do [ -f "$$f" ] && head -n 1 -- "$$f" | grep -Eq '$(SHELL_SCRIPT_RE)' && echo "$$f"; done); \
		[ -n "$$files" ] || { echo "check-shell: no shell scripts found" >&2; exit 1; }; \
		timeout 300 shellcheck -x $$files && echo "check-shell: shellcheck: $$(echo $$files | wc -w) scripts clean"
	@set -e; for t in tests/scripts/test_*.sh; do timeout 60 $$t; done
