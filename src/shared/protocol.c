/* protocol.c: the names of both state machines' states and errors.
 * The host side is in protocol_host.c, the guest side in protocol_guest.c, their waits in wait.c. */
#include "protocol.h"

const char *ivb_host_state_name(uint32_t state)
{
	switch ((enum ivb_host_state)state) {
	case IVB_HOST_UNINITIALIZED: return "UNINITIALIZED";
	case IVB_HOST_INITIALIZING: return "INITIALIZING";
	case IVB_HOST_READY: return "READY";
	case IVB_HOST_SENDING: return "SENDING";
	case IVB_HOST_COMPLETED: return "COMPLETED";
	case IVB_HOST_ABORTED: return "ABORTED";
	}
	return "INVALID";
}

const char *ivb_guest_state_name(uint32_t state)
{
	switch ((enum ivb_guest_state)state) {
	case IVB_GUEST_UNINITIALIZED: return "UNINITIALIZED";
	case IVB_GUEST_WAITING_HOST_INIT: return "WAITING_HOST_INIT";
	case IVB_GUEST_READY: return "READY";
	case IVB_GUEST_PROCESSING: return "PROCESSING";
	case IVB_GUEST_ACKNOWLEDGED: return "ACKNOWLEDGED";
	case IVB_GUEST_ABORTED: return "ABORTED";
	}
	return "INVALID";
}

const char *ivb_msg_error_name(uint32_t error)
{
	switch ((enum ivb_msg_error)error) {
	case IVB_MSG_OK: return "ok";
	case IVB_MSG_SHA256_MISMATCH: return "sha256_mismatch";
	case IVB_MSG_BAD_SIZE: return "bad_size";
	case IVB_MSG_BAD_KIND: return "bad_kind";
	case IVB_MSG_GUEST_FAILURE: return "guest_failure";
	case IVB_MSG_BAD_FLAGS: return "bad_flags";
	}
	return "invalid";
}

const char *ivb_abort_reason_name(uint32_t reason)
{
	switch ((enum ivb_abort_reason)reason) {
	case IVB_ABORT_NONE: return "no reason given";
	case IVB_ABORT_SIGNAL: return "stopped by a signal";
	case IVB_ABORT_TIMEOUT: return "timed out";
	case IVB_ABORT_PROTOCOL: return "protocol error";
	case IVB_ABORT_FAILURE: return "local failure";
	}
	return "invalid reason";
}
