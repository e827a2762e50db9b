/* defaults.h: the test defaults and limits, in one place for the option parsers and their usage texts. */
#ifndef IVB_DEFAULTS_H
#define IVB_DEFAULTS_H

/* host_writer's tests; the guest learns them from the plan in the region (common.h). */
#define IVB_ITERATIONS_DEFAULT 100u      /* latency messages */
#define IVB_LATENCY_FRAME_DEFAULT "4k"
#define IVB_BW_ITERATIONS_DEFAULT 10u    /* bandwidth messages per frame */
#define IVB_FRAMES_DEFAULT "1080p,1440p,4k"
#define IVB_REF_ITERATIONS_DEFAULT 3u    /* reference messages per frame size */
#define IVB_WARMUP_DEFAULT 1u            /* unrecorded messages of the largest size first */
#define IVB_OUT_DIR_DEFAULT "."

/* The stream test (ring.h): off unless --stream-seconds says how long. */
#define IVB_STREAM_SECONDS_DEFAULT 0u
#define IVB_STREAM_FRAMES_DEFAULT "4k"
#define IVB_STREAM_SLOTS_DEFAULT 3u
#define IVB_STREAM_FPS_DEFAULT 0u /* as fast as possible */
#define IVB_STREAM_POLICY_DEFAULT "block"
#define IVB_STREAM_VERIFY_DEFAULT "xxh3"
#define IVB_STREAM_DIRECTION_DEFAULT "host-to-guest" /* the host produces, the guest consumes */
#define IVB_MAX_DIRECTIONS 2u /* --stream-direction lists host-to-guest and guest-to-host at most once each */
#define IVB_STREAM_CONSUME_DEFAULT "inplace" /* what a real consumer does: no copy before use */
#define IVB_STREAM_CONSUMERS_DEFAULT 1u /* host consumer processes of a guest-to-host stream (ring.h: 1 to 8) */
#define IVB_CONSUMER_TIMEOUT_DEFAULT "1s" /* a consumer holding the producer back longer is dropped (LGMP's) */
#define IVB_MAX_STREAM_SECONDS 3600u
#define IVB_MAX_STREAM_FPS 100000u

/* The transport comparison (transport.h): the stream frames and these messages over each transport. */
#define IVB_TRANSPORTS_DEFAULT "ivshmem"
#define IVB_MESSAGE_SIZES_DEFAULT "64,4K,64K"
#define IVB_MAX_TRANSPORT_TESTS 256u /* transport messages in one plan */
#define IVB_SERIAL_PORT_NAME "ivb.transport" /* the bench VM's virtserialport (QEMU's name=, /sys/class/virtio-ports) */
#define IVB_VSOCK_PORT_DEFAULT 5201u /* vsock: the port the guest listens on, unless --transport vsock:CID:PORT */
/* run_test.sh's short comparison (the bench VM's default run): each test over a VM transport this long. */
#define IVB_RUN_MESSAGE_SIZES_DEFAULT "64"
#define IVB_RUN_TRANSPORT_SECONDS_DEFAULT 1u

/*
 * run_test.sh's default run adds what host_writer leaves off; the script reads these lines (and the
 * host_writer defaults its help names) from this file.
 */
#define IVB_RUN_STREAM_SECONDS_DEFAULT 3u  /* every default run answers the frames-per-second question */
#define IVB_RUN_STREAM_DIRECTION_DEFAULT "host-to-guest,guest-to-host" /* and answers it both ways */
#define IVB_RUN_SHM_SIZE_DEFAULT "128M"    /* room for that stream: 3 slots of 4K frames (75 MB); the dev VM's too */

/* The region file: host_writer's and the ivshmem server's, run_test.sh's and the dev VM's (vm/dev-lib.sh). */
#define IVB_SHM_PATH_DEFAULT "/dev/shm/ivshmem"
#define IVB_SHM_SIZE_DEFAULT (64ull << 20) /* host_writer --size and the server's */

/*
 * Doorbell mode: interrupt vectors per peer that the bench's ivshmem server gives (vm/ivserver.sh) and its QEMU
 * device takes (vm/bench-vm.sh, the dev VM's): one per host consumer (ring.h's 8), each woken on its own.
 */
#define IVB_DOORBELL_VECTORS 8u

/* Both programs. */
#define IVB_TIMEOUT_DEFAULT_S 30u          /* each wait for the peer once in contact */
#define IVB_CONNECT_TIMEOUT_DEFAULT_S 600u /* the first contact: long enough to log in to a VM */
#define IVB_CONNECT_NOTICE_S 10u           /* a line on stderr this often while waiting for first contact */

/* Limits, checked on options and again by the guest on the plan it reads. */
#define IVB_MAX_ITERATIONS 10000000u
#define IVB_MAX_WARMUP 1000u
#define IVB_MAX_TIMEOUT_S 86400u
#define IVB_MAX_INTERVAL_US 60000000u /* one message a minute is the slowest stream worth timing */

#endif /* IVB_DEFAULTS_H */
