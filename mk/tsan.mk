# ThreadSanitizer: the unit tests that run both sides of the region protocol as threads, built with
# clang -fsanitize=thread in their own folder, the loopback test of several host consumer processes
# (consumers.sh) and the duplex loopback streams (one thread per direction on each side) with both programs
# built so.
#   make check-tsan    build and run them; any data race fails the run

TSAN_TESTS := protocol protocol_hostile ring ring_consumers ring_interleave stream stream_hostile hostile hostile_producer
# The loopback stream tests whose programs run two threads: a race makes a program exit non-zero, the test fail.
TSAN_LOOPBACK := test_duplex_block_and_latest test_duplex_doorbell test_duplex_peer_stalled_or_killed
TSAN_PACKAGES := clang libclang-rt-14-dev
TSAN_CC := clang
TSAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=thread
TSAN_LIMIT := timeout 300
TSAN_PROGRAMS := host_writer guest_reader ivshmem_server tests/lying_consumer.so
# Known races in code this check does not own, each with its reason.
TSAN_SUPPRESSIONS := tests/unit/tsan.supp

CHECK_TARGETS += check-tsan
CHECK_BUILDS += tsan-build
.PHONY: check-tsan tsan-build

tsan-build:
	@$(NEED) $(TSAN_PACKAGES)
	$(MAKE) --no-print-directory BUILD=$(BUILD)/tsan CC=$(TSAN_CC) CFLAGS="$(TSAN_FLAGS)" LDFLAGS="$(TSAN_FLAGS)" \
		$(TSAN_TESTS:%=$(BUILD)/tsan/tests/test_%) $(TSAN_PROGRAMS:%=$(BUILD)/tsan/%)

check-tsan: tsan-build
	@set -e; for t in $(TSAN_TESTS); do \
		TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(abspath $(TSAN_SUPPRESSIONS)) $(TSAN_LIMIT) $(BUILD)/tsan/tests/test_$$t; done
	TSAN_OPTIONS=halt_on_error=1:suppressions=$(abspath $(TSAN_SUPPRESSIONS)) $(TSAN_LIMIT) \
		tests/integration/consumers.sh $(BUILD)/tsan
	TSAN_OPTIONS=halt_on_error=1:suppressions=$(abspath $(TSAN_SUPPRESSIONS)) $(TSAN_LIMIT) \
		tests/integration/stream.sh $(BUILD)/tsan $(TSAN_LOOPBACK)
