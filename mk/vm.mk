# Bench VM: guest kernel, initramfs, `make test` and the VM tests.
#   make kernel      fetch Debian's kernel into .cache/kernel/ (or check KERNEL=PATH)
#   make initramfs   build/bench-initramfs.cpio: busybox, vm/init, the static guest_reader, the kernel's virtio
#                    modules (the transports' devices; vm/kernel.sh --modules)
#   make initramfs-doorbell
#                    build/bench-initramfs-doorbell.cpio: the same and the ivshmem_doorbell driver
#   make test        one benchmark run in the bench VM with run_test.sh's defaults, the seed's (src/shared/defaults.h);
#                    RUN_TEST_ARGS adds options;
#                    VM=dev runs it in the dev VM started by ./setup.sh, VM=loopback on the host without a VM;
#                    REPEAT=N makes it N runs, run_test.sh --repeat N)
#   make check-vm    the VM tests (tests/vm/), part of `make check`; the vsock one runs a static host_writer in the
#                    guest too (build/host_writer-static)

VM_PACKAGES := qemu-system-x86 busybox-static cpio xz-utils
BENCH_INITRAMFS := $(BUILD)/bench-initramfs.cpio
BENCH_INITRAMFS_DOORBELL := $(BUILD)/bench-initramfs-doorbell.cpio
RUN_TEST_ARGS ?=

.PHONY: deps-vm kernel initramfs initramfs-doorbell test check-vm
# Cheap when everything is there (dpkg-query only), so it runs every time rather than leaving a stamp that
# would go stale when a package is removed.
deps-vm:
	@$(NEED) $(VM_PACKAGES)

kernel: | deps-vm
	@vm/kernel.sh

initramfs: $(BENCH_INITRAMFS)
# /bin/busybox is a prerequisite only once busybox-static is installed (deps-vm installs it).
# The modules come with the cached kernel: a kernel fetched later packs the archive again.
$(BENCH_INITRAMFS): vm/init vm/build-initramfs.sh $(BUILD)/guest_reader-static $(wildcard /bin/busybox) \
		$(wildcard .cache/kernel/*/modules/order) | deps-vm
	vm/build-initramfs.sh --out $@ --guest-reader $(BUILD)/guest_reader-static --modules "$$(vm/kernel.sh --modules)"

# doorbell-module decides itself whether the driver needs building (the kernel can change without our
# sources), so this archive is packed on every call: ~0.1 s.
initramfs-doorbell: $(BUILD)/guest_reader-static doorbell-module | deps-vm
	@vm/build-initramfs.sh --out $(BENCH_INITRAMFS_DOORBELL) --guest-reader $(BUILD)/guest_reader-static \
		--module $(DOORBELL_MODULE) --modules "$$(vm/kernel.sh --modules)"

# VM=dev runs the guest in the dev VM that ./setup.sh started instead of booting the bench VM; VM=loopback on
# the host, comparing ivshmem with the host's own transports (the bench VM's run compares its own by default).
# REPEAT=N: N independent runs in one results folder.
VM ?= bench
REPEAT ?=
TEST_TRANSPORTS = $(if $(filter loopback,$(VM)),$(if $(findstring --transports,$(RUN_TEST_ARGS)),,--transports all))
test: | deps-vm deps-analysis
	./run_test.sh --vm $(VM) $(if $(REPEAT),--repeat $(REPEAT)) $(TEST_TRANSPORTS) $(RUN_TEST_ARGS)

# The vsock VM test runs host_writer in the guest too, over the guest's own vsock loopback: static, as guest_reader.
$(BUILD)/host_writer-static: $(HOST_OBJS) $(SHARED_OBJS)
	$(CC) $(IVB_CFLAGS) $(LDFLAGS) -static -o $@ $^ $(CRYPTO_STATIC_LIBS) 2>$(BUILD)/static-link-host.log \
		|| { cat $(BUILD)/static-link-host.log >&2; exit 1; }

CHECK_TARGETS += check-vm
CHECK_BUILDS += $(BENCH_INITRAMFS) initramfs-doorbell $(BUILD)/host_writer-static
check-vm: $(BUILD)/host_writer $(BUILD)/ivshmem_server $(BENCH_INITRAMFS) initramfs-doorbell $(BUILD)/host_writer-static \
		$(BUILD)/guest_reader-static | deps-vm
	@$(NEED) $(TEST_PACKAGES)
	@tests/vm/run.sh
