# analyze_results.py: the report and plots of a results folder, and its tests.
#   make analyze RESULTS=dir    analyse one results folder (default results/latest)
#   make check-analysis         the pytest tests in tests/analysis (one of them runs a loopback benchmark
#                               with counters and --write-study)

ANALYSIS_PACKAGES := python3-pandas python3-matplotlib python3-pytest
RESULTS ?= results/latest

CHECK_TARGETS += check-analysis
.PHONY: deps-analysis analyze check-analysis

deps-analysis: $(BUILD)/.deps-analysis
$(BUILD)/.deps-analysis: $(NEED)
	@mkdir -p $(BUILD)
	@$(NEED) $(ANALYSIS_PACKAGES)
	@touch $@

analyze: $(BUILD)/.deps-analysis
	$(PYTHON) analyze_results.py $(RESULTS)

# The loopback test runs `make -s build/host_writer build/guest_reader` itself; building them here
# first keeps that inner make from racing another test group's build under `make -j check`.
# The tests run on every core (pytest-xdist): each starts analyze_results.py, and matplotlib's start-up
# is most of their time.
ANALYSIS_TEST_PACKAGES := python3-pytest-xdist
check-analysis: $(BUILD)/.deps-analysis $(BUILD)/host_writer $(BUILD)/guest_reader
	@$(NEED) $(ANALYSIS_TEST_PACKAGES)
	$(PYTHON) -m pytest -q -n auto tests/analysis
