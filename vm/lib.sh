#!/usr/bin/env bash
# Shared shell helpers for the VM scripts (bench VM and dev VM). Source it; it defines functions only.
# shellcheck disable=SC2034  # the variables set here are read by the scripts that source this file

# Print a message prefixed with the calling script's name, on stderr.
ivb_log() { echo "${IVB_PROG:-ivshmem-bench}: $*" >&2; }

# Print one error line and exit 1.
ivb_die() { ivb_log "error: $*"; exit 1; }

# Choose the QEMU accelerator and CPU model. Sets IVB_ACCEL (kvm|tcg), IVB_ACCEL_REASON and IVB_CPU.
# ACCEL=kvm|tcg overrides the detection; CPU=MODEL overrides the CPU model.
# KVM is used only where it can run a stock kernel: /dev/kvm must be usable, and the paravirtual
# kvm_pvm module of some cloud sandboxes cannot (the kernel decompressor alone crawls for minutes).
ivb_detect_accel() {
	case "${ACCEL:-}" in
	kvm | tcg)
		IVB_ACCEL=$ACCEL
		IVB_ACCEL_REASON="ACCEL=$ACCEL from the environment"
		;;
	"")
		if [ ! -e /dev/kvm ]; then
			IVB_ACCEL=tcg
			IVB_ACCEL_REASON="no /dev/kvm"
		elif [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
			IVB_ACCEL=tcg
			IVB_ACCEL_REASON="/dev/kvm is not readable and writable by $(id -un)"
		elif [ -d /sys/module/kvm_pvm ]; then
			IVB_ACCEL=tcg
			IVB_ACCEL_REASON="KVM here is the paravirtual kvm_pvm, which cannot run a stock kernel at usable speed"
		else
			IVB_ACCEL=kvm
			IVB_ACCEL_REASON="/dev/kvm is usable"
		fi
		;;
	*)
		ivb_die "ACCEL must be kvm or tcg, not '$ACCEL'"
		;;
	esac
	if [ "$IVB_ACCEL" = tcg ] && [ -z "${ACCEL:-}" ]; then
		ivb_log "warning: using TCG software emulation ($IVB_ACCEL_REASON); set ACCEL=kvm to override"
	fi
	# "max" is every feature the accelerator can offer; unlike "host" it also works under TCG.
	IVB_CPU=${CPU:-max}
}
