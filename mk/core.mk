# Core tests: C unit tests, loopback integration, and both again under ASan/UBSan.

UNIT_TESTS := opts output protocol protocol_hostile memory counters bell bell_vectors consumer_rows stream_spec columns ring ring_consumers ring_interleave stream stream_hostile noise peer hostile hostile_producer transport transport_vsock
UNIT_BINS = $(UNIT_TESTS:%=$(BUILD)/tests/test_%)
# Test programs link every module but the mains (Makefile's MODULE_OBJS).
TEST_LINK_OBJS = $(MODULE_OBJS)
# Every test program run is bounded: a hang fails the test instead of the CI job.
TEST_LIMIT := timeout 300

CHECK_TARGETS += check-unit check-loopback-consumers check-loopback-scripts check-asan-timed check-asan-scripts
CHECK_BUILDS += $(UNIT_BINS) $(BUILD)/host_writer $(BUILD)/guest_reader $(BUILD)/ivshmem_server asan
.PHONY: unit-tests check-unit check-loopback check-loopback-consumers check-loopback-scripts check-asan check-asan-timed check-asan-scripts asan bench-loopback bench-doorbell bench-stream

unit-tests: $(UNIT_BINS)

# Code the tests share (tests/unit/fake_guest.c: host_writer's run against a fake guest thread), compiled once.
UNIT_SHARED_OBJS = $(BUILD)/tests/fake_guest.o

$(BUILD)/tests/test_%: tests/unit/test_%.c $(TEST_LINK_OBJS) $(UNIT_SHARED_OBJS) | $(GEN_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(IVB_CPPFLAGS) $(ALL_INCLUDES) $(DEPFLAGS) $(IVB_CFLAGS) $(LDFLAGS) -o $@ $< $(TEST_LINK_OBJS) $(UNIT_SHARED_OBJS) $(CRYPTO_LIBS) -pthread

$(UNIT_SHARED_OBJS): $(BUILD)/tests/%.o: tests/unit/%.c | $(GEN_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(IVB_CPPFLAGS) $(ALL_INCLUDES) $(DEPFLAGS) $(IVB_CFLAGS) -c -o $@ $<

# The ring's interleaving test links its own copy of the ring's files, built with the test's step hooks (see
# src/shared/ring_internal.h).
RING_SRCS := src/shared/ring.c src/shared/ring_producer.c src/shared/ring_feeds.c src/shared/ring_consumer.c
RING_STEPS_OBJS = $(RING_SRCS:src/shared/%.c=$(BUILD)/ring_steps/%.o)

$(BUILD)/ring_steps/%.o: src/shared/%.c | $(GEN_HEADERS) $(BUILD)/.deps-build
	@mkdir -p $(@D)
	$(CC) $(IVB_CPPFLAGS) -DIVB_RING_STEPS $(DEPFLAGS) $(IVB_CFLAGS) -c -o $@ $<

$(BUILD)/tests/test_ring_interleave: tests/unit/test_ring_interleave.c $(RING_STEPS_OBJS) | $(GEN_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(IVB_CPPFLAGS) -DIVB_RING_STEPS $(DEPFLAGS) $(IVB_CFLAGS) $(LDFLAGS) -o $@ $< $(RING_STEPS_OBJS) -pthread

# consumers.sh's lying consumer: a library preloaded into host_writer that changes one record in a consumer's pipe
# (never built with a sanitizer: their runtimes must come first, and only the program links them).
$(BUILD)/tests/lying_consumer.so: tests/integration/lying_consumer.c src/host/consumer_rows.h | $(GEN_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(IVB_CPPFLAGS) $(ALL_INCLUDES) $(filter-out -fsanitize=%,$(IVB_CFLAGS)) -fPIC -shared -o $@ $< -ldl

check-unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do $(TEST_LIMIT) $$t; done

# Two halves, which make check runs apart: the consumers with the groups that run alone (a live consumer that
# stalls 300 ms is dropped), the other scripts beside the VM tests (a peer that stalls before it is killed or
# stopped ends the test the same way; the other waits on a live peer are 10 s or more).
check-loopback: check-loopback-scripts check-loopback-consumers

check-loopback-consumers: $(BUILD)/host_writer $(BUILD)/guest_reader $(BUILD)/ivshmem_server $(BUILD)/tests/lying_consumer.so
	@$(NEED) $(TEST_PACKAGES)
	$(TEST_LIMIT) tests/integration/consumers.sh $(BUILD)

check-loopback-scripts: $(BUILD)/host_writer $(BUILD)/guest_reader $(BUILD)/ivshmem_server
	@$(NEED) $(TEST_PACKAGES)
	$(TEST_LIMIT) tests/integration/loopback.sh $(BUILD)
	$(TEST_LIMIT) tests/integration/stream.sh $(BUILD)
	$(TEST_LIMIT) tests/integration/transports.sh $(BUILD)
	$(TEST_LIMIT) tests/integration/run_test_loopback.sh $(BUILD)

# The same tests built with AddressSanitizer and UndefinedBehaviorSanitizer, in their own folder.
ASAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
# Everything built in $(BUILD)/asan, by one make: two at once would write the same objects. mk/doorbell.mk adds
# the server's unit test.
ASAN_BUILDS := $(BUILD)/asan/host_writer $(BUILD)/asan/guest_reader $(BUILD)/asan/ivshmem_server \
	$(BUILD)/asan/tests/lying_consumer.so unit-tests
asan:
	$(MAKE) --no-print-directory BUILD=$(BUILD)/asan CFLAGS="$(ASAN_FLAGS)" LDFLAGS="$(ASAN_FLAGS)" $(ASAN_BUILDS)

# Two halves, which make check runs apart as check-loopback's: the unit tests and consumers.sh with the groups that
# run alone (some wait on a clock of 200 ms to 2 s with a live peer), the other scripts beside the VM tests.
check-asan: check-asan-timed check-asan-scripts

check-asan-timed: asan
	$(MAKE) --no-print-directory BUILD=$(BUILD)/asan CFLAGS="$(ASAN_FLAGS)" LDFLAGS="$(ASAN_FLAGS)" check-unit
	@$(NEED) $(TEST_PACKAGES)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		$(TEST_LIMIT) tests/integration/consumers.sh $(BUILD)/asan

check-asan-scripts: asan
	@$(NEED) $(TEST_PACKAGES)
	# The late start waits 30 s for nothing the sanitizers could see: check-loopback runs it.
	LOOPBACK_SKIP=test_guest_starts_late ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		$(TEST_LIMIT) tests/integration/loopback.sh $(BUILD)/asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		$(TEST_LIMIT) tests/integration/stream.sh $(BUILD)/asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		$(TEST_LIMIT) tests/integration/transports.sh $(BUILD)/asan

# REPEAT=N independent runs of each test (default 5 for bench-loopback, 3 for bench-doorbell): the ratios come
# with 95% intervals over them. The summaries are computed with the analysis package (deps-analysis).
# The stream test's frames/s against the same run's pipeline limit and lock-step test; drops at 60 and 144 fps.
bench-stream: $(BUILD)/host_writer $(BUILD)/guest_reader $(BUILD)/.deps-analysis
	bench/stream.sh $(BUILD)

bench-loopback: $(BUILD)/host_writer $(BUILD)/guest_reader $(BUILD)/bench_pingpong $(BUILD)/.deps-analysis
	REPEAT=$(REPEAT) bench/loopback.sh $(BUILD)

$(BUILD)/bench_%: bench/%.c $(BUILD)/shared/opts.o | $(BUILD)/.deps-build
	$(CC) $(IVB_CPPFLAGS) $(IVB_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/shared/opts.o

# Polling against the doorbell mode host to host; BENCH_VM=1 adds the same runs in the bench VM.
bench-doorbell: $(BUILD)/host_writer $(BUILD)/guest_reader $(BUILD)/ivshmem_server $(BUILD)/bench_pingpong \
		$(BUILD)/bench_wakeup $(BUILD)/.deps-analysis
	REPEAT=$(REPEAT) bench/doorbell.sh $(if $(BENCH_VM),--vm) $(BUILD)
