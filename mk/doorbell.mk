# Doorbell mode: our ivshmem server, the guest's doorbell driver, and their tests.
#   make ivshmem-server      $(BUILD)/ivshmem_server
#   make doorbell-module     $(BUILD)/ivshmem_doorbell.ko, built against the bench VM kernel's Debian headers
#                            (guest/build-module.sh fetches them into .cache/kernel-headers/)
#   make check-doorbell      server unit and integration tests (also under ASan/UBSan), module checks
#   make check-doorbell-vm   the driver loaded in a throwaway VM (build/doorbell-test/): interrupts both ways

IVSERVER_OBJS := $(SERVER_OBJS) $(BUILD)/shared/opts.o
IVSERVER_TESTS := $(BUILD)/tests/test_ivserver $(BUILD)/tests/test_ivserver_setup
DOORBELL_MODULE := $(BUILD)/ivshmem_doorbell.ko
DOORBELL_SELFTEST := $(BUILD)/doorbell-test/ivdb_selftest
# The integration tests run QEMU; python3 plays a test peer and speaks QMP; pgrep looks for leftovers.
DOORBELL_TEST_PACKAGES := qemu-system-x86 $(TEST_PACKAGES)
# The VM test's initramfs: a static busybox, packed with cpio; the kernel comes from vm/kernel.sh.
DOORBELL_VM_PACKAGES := qemu-system-x86 python3 busybox-static cpio xz-utils
DOORBELL_LIMIT := timeout 300

.PHONY: ivshmem-server doorbell-module check-doorbell check-doorbell-asan check-doorbell-vm
ivshmem-server: $(BUILD)/ivshmem_server

$(BUILD)/ivshmem_server: $(IVSERVER_OBJS)
	$(CC) $(IVB_CFLAGS) $(LDFLAGS) -o $@ $^

$(IVSERVER_TESTS): $(BUILD)/tests/%: tests/unit/%.c tests/unit/check.h tests/unit/ivserver_fixture.h \
		$(BUILD)/server/ivserver.o $(BUILD)/server/ivserver_setup.o
	@mkdir -p $(@D)
	$(CC) $(IVB_CPPFLAGS) -Isrc/server $(IVB_CFLAGS) $(LDFLAGS) -o $@ $< $(filter %.o,$^)

# The script decides whether to rebuild: the bench kernel (and so the headers) can change without our sources.
doorbell-module: | $(BUILD)/.deps-build
	@guest/build-module.sh --out $(DOORBELL_MODULE)

# Runs in the guest, which has no libraries: static.
$(DOORBELL_SELFTEST): guest/ivdb_selftest.c guest/ivshmem_doorbell/ivshmem_doorbell.h | $(BUILD)/.deps-build
	@mkdir -p $(@D)
	$(CC) $(IVB_CPPFLAGS) $(IVB_CFLAGS) -Iguest/ivshmem_doorbell $(LDFLAGS) -static -o $@ $<

CHECK_TARGETS += check-doorbell check-doorbell-vm
CHECK_BUILDS += $(IVSERVER_TESTS) $(BUILD)/ivshmem_server $(DOORBELL_SELFTEST) doorbell-module
ASAN_BUILDS += $(IVSERVER_TESTS:$(BUILD)/%=$(BUILD)/asan/%)
check-doorbell: $(IVSERVER_TESTS) $(BUILD)/ivshmem_server check-doorbell-asan doorbell-module
	@set -e; for t in $(IVSERVER_TESTS); do $(DOORBELL_LIMIT) $$t; done
	@$(NEED) $(DOORBELL_TEST_PACKAGES)
	$(DOORBELL_LIMIT) tests/integration/ivserver.sh $(BUILD)
	@vm/kernel.sh >/dev/null
	$(DOORBELL_LIMIT) tests/integration/doorbell_module.sh $(BUILD)

# The server and its unit test again with AddressSanitizer and UndefinedBehaviorSanitizer, in their own folder
# (mk/core.mk's ASAN_FLAGS: make check builds both with the rest of $(BUILD)/asan).
check-doorbell-asan:
	$(MAKE) --no-print-directory BUILD=$(BUILD)/asan CFLAGS="$(ASAN_FLAGS)" LDFLAGS="$(ASAN_FLAGS)" \
		$(IVSERVER_TESTS:$(BUILD)/%=$(BUILD)/asan/%) $(BUILD)/asan/ivshmem_server
	@$(NEED) $(DOORBELL_TEST_PACKAGES)
	@set -e; for t in $(IVSERVER_TESTS:$(BUILD)/%=$(BUILD)/asan/%); do \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 $(DOORBELL_LIMIT) $$t; done
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		$(DOORBELL_LIMIT) tests/integration/ivserver.sh $(BUILD)/asan

check-doorbell-vm: $(BUILD)/ivshmem_server $(DOORBELL_SELFTEST) doorbell-module
	@$(NEED) $(DOORBELL_VM_PACKAGES)
	$(DOORBELL_LIMIT) tests/integration/doorbell_vm.sh $(BUILD)
