# Fuzz targets (libFuzzer, clang) for each C parser of untrusted input, with ASan and UBSan:
#   fuzz_region    the region fields each side reads from the other (src/shared/protocol_*.c)
#   fuzz_ivpeer    the client's parsing of an ivshmem server's messages (src/shared/ivpeer.c)
#   fuzz_ivserver  the ivshmem server driven by its clients (src/server/)
#   fuzz_ring      the stream ring's control page as each side reads the other's fields (src/shared/ring*.c)
#   fuzz_transport the records a transport peer sends on its connection, and the transport message (src/shared/transport.c)
#   fuzz_consumer_rows the row records a host consumer process sends through its pipe (src/host/consumer_rows.c)
# Seeds are in fuzz/corpus/<target>/; what a run finds goes to $(BUILD)/fuzz/corpus/<target>/.
#   make check-fuzz              each target for FUZZ_CHECK_SECONDS (part of make check)
#   make fuzz FUZZ_SECONDS=600   each target longer, by hand, then the analysis loaders' fuzz test
#                                (mk/analysis.mk fuzz-analysis, FUZZ_EXAMPLES random examples)

FUZZ_TARGETS := region ivpeer ivserver ring transport consumer_rows
FUZZ_PACKAGES := clang libclang-rt-14-dev
FUZZ_CC := clang
FUZZ_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
FUZZ_LINK_FLAGS := -fsanitize=fuzzer,address,undefined
FUZZ_CHECK_SECONDS ?= 10
FUZZ_SECONDS ?= 300
FUZZ_BINS = $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)

CHECK_TARGETS += check-fuzz
CHECK_BUILDS += fuzz-build
.PHONY: fuzz-build check-fuzz fuzz

# Built by a make of its own with BUILD=$(BUILD)/fuzz: every module compiled with the fuzzer's flags.
$(BUILD)/fuzz_%: fuzz/fuzz_%.c $(TEST_LINK_OBJS)
	@mkdir -p $(@D)
	$(CC) $(IVB_CPPFLAGS) $(ALL_INCLUDES) $(IVB_CFLAGS) $(FUZZ_LINK_FLAGS) -o $@ $< $(filter %.o,$^) $(CRYPTO_LIBS) -pthread

fuzz-build:
	@$(NEED) $(FUZZ_PACKAGES)
	$(MAKE) --no-print-directory BUILD=$(BUILD)/fuzz CC=$(FUZZ_CC) CFLAGS="$(FUZZ_FLAGS)" LDFLAGS= \
		$(FUZZ_BINS)

# fuzz_run SECONDS: each target for that long; new inputs go to the build folder, the seeds stay as they are.
define fuzz_run
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(BUILD)/fuzz/corpus/$$t; \
		echo "fuzz_$$t: $(1) s"; \
		timeout $$(( $(1) + 60 )) $(BUILD)/fuzz/fuzz_$$t -max_total_time=$(1) -timeout=10 -print_final_stats=0 \
			-artifact_prefix=$(BUILD)/fuzz/crash-$$t- $(BUILD)/fuzz/corpus/$$t fuzz/corpus/$$t 2>$(BUILD)/fuzz/$$t.log \
			|| { tail -40 $(BUILD)/fuzz/$$t.log >&2; echo "fuzz_$$t failed: see $(BUILD)/fuzz/$$t.log" >&2; exit 1; }; \
		tail -1 $(BUILD)/fuzz/$$t.log; \
	done
endef

check-fuzz: fuzz-build
	$(call fuzz_run,$(FUZZ_CHECK_SECONDS))

fuzz: fuzz-build
	$(call fuzz_run,$(FUZZ_SECONDS))
	$(MAKE) --no-print-directory fuzz-analysis
