# Interoperability with QEMU's own ivshmem-server and ivshmem-client (QEMU's contrib/, which Debian does not ship).
#   make qemu-contrib     build both from Debian's source of the installed qemu-system-x86 (scripts/qemu-contrib.sh;
#                         cached in ~/.cache/ivshmem-bench/qemu-contrib/, keyed by the QEMU version)
#   make check-interop    tests/integration/interop.sh, part of `make check`: loopback and the bench VM through
#                         QEMU's server, QEMU's client against ours. ~40 s with the programs cached; building them
#                         adds 6-15 min the first time (as the dev VM's image does); skipped, with one line, where
#                         the source package cannot be had.

INTEROP_LIMIT := timeout 1800

CHECK_TARGETS += check-interop
.PHONY: qemu-contrib check-interop
qemu-contrib:
	@scripts/qemu-contrib.sh >/dev/null

# run_test.sh builds what the bench VM needs itself (kernel, initramfs with the driver).
check-interop: $(BUILD)/host_writer $(BUILD)/guest_reader $(BUILD)/ivshmem_server
	@$(NEED) $(DOORBELL_TEST_PACKAGES)
	$(INTEROP_LIMIT) tests/integration/interop.sh $(BUILD)
