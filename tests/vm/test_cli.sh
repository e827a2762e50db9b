#!/usr/bin/env bash
# run_test.sh's usage errors: exit 2 and one clear line, nothing booted.
set -euo pipefail
T_NAME=cli
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

t_run --shm-size 3M
t_assert_rc 2
t_assert_stderr 'shm-size must be a power of two'
t_run --frames '1080p 4k'
t_assert_rc 2
t_assert_stderr "invalid value for --frames"
t_run --guest-arg 'a b'
t_assert_rc 2
t_assert_stderr "cannot be passed on the kernel command line"
t_run --no-such-option
t_assert_rc 2
t_assert_stderr "unknown option '--no-such-option'"
t_run --iterations
t_assert_rc 2
t_assert_stderr "--iterations needs a value"
# The transports: each place offers its own; a comparison needs a stream test.
t_run --transports unix --stream-seconds 1
t_assert_rc 2
t_assert_stderr "--transports: --vm bench offers ivshmem, virtio-serial, virtio-net, vsock, not 'unix'"
t_run --vm loopback --transports virtio-net --stream-seconds 1
t_assert_rc 2
t_assert_stderr "--vm loopback offers ivshmem, unix, tcp, pipe, not 'virtio-net'"
t_run --transports virtio-net:8080 --stream-seconds 1
t_assert_rc 2
t_assert_stderr "only tcp takes a port, not 'virtio-net:8080'"
t_run --transports virtio-serial
t_assert_rc 2
t_assert_stderr "--transports needs a stream test"
t_run --message-sizes 64
t_assert_rc 2
t_assert_stderr "--message-sizes needs --transports"
t_run --transports 'virtio-net;x'
t_assert_rc 2
t_assert_stderr "invalid value for --transports"
help=$(cd "$T_TOP" && ./run_test.sh --help)
grep -q -- '--start-order' <<<"$help" || t_fail "--help does not list --start-order"
# The defaults it names are the header of defaults', not numbers of its own (read as run_test.sh reads them).
# shellcheck source=vm/lib.sh
iterations=$(. "$T_TOP/vm/lib.sh" && ivb_default ITERATIONS_DEFAULT)
grep -q -- "--iterations N .*(default $iterations)" <<<"$help" || t_fail "--help's iterations default is not defaults.h's"
[ ! -e "$T_RESULTS" ] || t_fail "a usage error created $T_RESULTS"
t_assert_no_qemu
if [ ! -e "$T_TOP/vm/dev-guest.sh" ]; then
	t_run --vm dev
	t_assert_rc 1
	t_assert_stderr 'needs vm/dev-guest.sh'
fi
t_pass "usage errors exit 2"
