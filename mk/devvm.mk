# Dev VM: ./setup.sh boots Debian 12 with cloud-init, SSH on 127.0.0.1:2222 and ivshmem;
# vm/dev-guest.sh compiles and runs guest_reader in it (run_test.sh --vm dev).
#   make deps-devvm     install the Debian packages the dev VM needs
#   make check-devvm    the dev VM test: build the image (cached in ~/.cache/ivshmem-bench/devvm), boot under TCG, run a short
#                       benchmark through vm/dev-guest.sh, stop; part of `make check`

DEVVM_PACKAGES := mmdebstrap qemu-utils qemu-system-x86 genisoimage e2fsprogs openssh-client iproute2

CHECK_TARGETS += check-devvm
.PHONY: deps-devvm check-devvm devvm-print-guest-sources

deps-devvm:
	@$(NEED) $(DEVVM_PACKAGES)

# The C files of guest_reader, for vm/dev-guest.sh (it compiles them in the guest).
devvm-print-guest-sources:
	@echo $(GUEST_SRCS) $(SHARED_SRCS)

check-devvm: $(BUILD)/host_writer | deps-devvm
	@$(NEED) $(TEST_PACKAGES)
	tests/devvm/run.sh $(BUILD)
