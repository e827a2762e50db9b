# Interoperability with QEMU's own ivshmem-server and ivshmem-client (QEMU's contrib/, which Debian does not ship).
#   make qemu-contrib     build both from Debian's source of the installed qemu-system-x86 (scripts/qemu-contrib.sh;
#                         cached in ~/.cache/ivshmem-bench/qemu-contrib/, keyed by the QEMU version)
#   make check-interop    tests/integration/interop.sh: loopback and the bench VM through QEMU's server, QEMU's
#                         client against ours. Not part of `make check` (its time budget): .ci/run runs it after.
#                         ~4 min with the programs cached, ~6-10 min more the first time; skipped, with one line,
#                         where the source package cannot be had.

INTEROP_LIMIT := timeout 1800

.PHONY: qemu-contrib check-interop
qemu-contrib:
	@scripts/qemu-contrib.sh >/dev/null

# run_test.sh builds what the bench VM needs itself (kernel, initramfs with the driver).
check-interop: $(BUILD)/host_writer $(BUILD)/guest_reader $(BUILD)/ivshmem_server
	@$(NEED) $(DOORBELL_TEST_PACKAGES)
	$(INTEROP_LIMIT) tests/integration/interop.sh $(BUILD)
