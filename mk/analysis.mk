# analyze_results.py (the entry point) and ivbench_analysis/ (the package): the report and plots of a
# results folder, and their tests. The columns come from schema/columns.txt, run.json's keys from schema/run.txt.
#   make analyze RESULTS=dir    analyse one results folder (default results/latest)
#   make check-analysis         the pytest tests in tests/analysis (one of them runs a loopback benchmark
#                               with counters and --write-study; test_fuzz_loaders a few derandomized examples;
#                               test_report_page renders report.html with headless chromium)
#   make fuzz-analysis          the loaders' fuzz test with many random examples (FUZZ_EXAMPLES; part of make fuzz)

ANALYSIS_PACKAGES := python3-pandas python3-matplotlib python3-pytest
RESULTS ?= results/latest
ANALYSIS_SOURCES := analyze_results.py schema/columns.txt schema/run.txt $(sort $(wildcard ivbench_analysis/*.py ivbench_analysis/*/*.py))
ANALYSIS_TESTS := $(sort $(wildcard tests/analysis/*.py))

CHECK_TARGETS += check-analysis
CHECK_BUILDS += $(BUILD)/.deps-analysis
.PHONY: deps-analysis analyze check-analysis fuzz-analysis

deps-analysis: $(BUILD)/.deps-analysis
$(BUILD)/.deps-analysis: $(NEED)
	@mkdir -p $(BUILD)
	@$(NEED) $(ANALYSIS_PACKAGES)
	@touch $@

analyze: $(BUILD)/.deps-analysis $(ANALYSIS_SOURCES)
	$(PYTHON) analyze_results.py $(RESULTS)

# The loopback test runs `make -s build/host_writer build/guest_reader` itself; building them here
# first keeps that inner make from racing another test group's build under `make -j check`.
# The tests run on every core (pytest-xdist): most start analyze_results.py, and matplotlib's start-up
# is most of their time; test_no_plots checks that the report alone never imports it.
# chromium renders report.html in test_report_page (PIL reads its screenshot). The slowest tests are listed at
# the end (--durations), to see where the group's time goes.
ANALYSIS_TEST_PACKAGES := python3-pytest-xdist python3-hypothesis chromium python3-pil
ANALYSIS_WORKERS ?= auto
check-analysis: $(BUILD)/.deps-analysis $(BUILD)/host_writer $(BUILD)/guest_reader $(ANALYSIS_SOURCES) $(ANALYSIS_TESTS)
	@$(NEED) $(ANALYSIS_TEST_PACKAGES)
	$(PYTHON) -m pytest -q -n $(ANALYSIS_WORKERS) --durations=8 tests/analysis

FUZZ_EXAMPLES ?= 2000
fuzz-analysis: $(BUILD)/.deps-analysis $(ANALYSIS_SOURCES) $(ANALYSIS_TESTS)
	@$(NEED) $(ANALYSIS_TEST_PACKAGES)
	HYPOTHESIS_PROFILE=long FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PYTHON) -m pytest -q -p no:cacheprovider \
		tests/analysis/test_fuzz_loaders.py
