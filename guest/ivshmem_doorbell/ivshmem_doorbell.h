/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ivshmem_doorbell.h: the user-space interface of the ivshmem_doorbell guest driver.
 *
 * The driver binds to QEMU's ivshmem-doorbell device (PCI 1af4:1110 with MSI-X) and creates
 * /dev/ivshmem-doorbell (then /dev/ivshmem-doorbell1, ...). The shared memory (BAR2) stays with user
 * space: map /sys/bus/pci/devices/<pci_name>/resource2 as without the driver.
 *
 *   read(fd, u64 counts[n], n * 8)  blocks until an interrupt came on one of vectors 0..n-1 since this
 *       file's last read (or its open), then returns, per vector, how many came: none is lost, several
 *       may be reported at once. n is capped at the device's vectors. O_NONBLOCK: -EAGAIN instead of
 *       waiting. poll()/select() report POLLIN when any vector has news: use them for a timeout.
 *   ioctl(fd, IVDB_IOC_RING, (peer << 16) | vector)  writes the Doorbell register (BAR0 offset 12):
 *       QEMU signals that peer's eventfd for that vector. A peer or vector that does not exist is
 *       ignored by the device, silently (the device cannot tell).
 *   ioctl(fd, IVDB_IOC_INFO, &info)  our peer id (IVPosition, BAR0 offset 8), the vectors, BAR2's
 *       size, the PCI address, and the interrupts counted so far per vector.
 */
#ifndef IVSHMEM_DOORBELL_H
#define IVSHMEM_DOORBELL_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Vectors the driver handles; a device with more uses the first IVDB_MAX_VECTORS. */
#define IVDB_MAX_VECTORS 16
#define IVDB_PCI_NAME_LEN 32

/* The value IVDB_IOC_RING takes: interrupt vector VECTOR of peer PEER. */
#define IVDB_DOORBELL(peer, vector) ((((__u32)(peer) & 0xffff) << 16) | ((__u32)(vector) & 0xffff))

struct ivdb_info {
	__u32 peer_id;                        /* IVPosition: our id at the ivshmem server */
	__u32 vectors;                        /* MSI-X vectors in use */
	__u64 bar2_size;                      /* bytes of shared memory */
	__u64 interrupts[IVDB_MAX_VECTORS];   /* interrupts received per vector since the driver bound */
	char pci_name[IVDB_PCI_NAME_LEN];     /* e.g. "0000:00:03.0", NUL-terminated */
};

/* ioctls reach only this driver's files; the numbers still avoid the ranges others registered. */
#define IVDB_IOC_MAGIC 0xDB
#define IVDB_IOC_INFO _IOR(IVDB_IOC_MAGIC, 0x40, struct ivdb_info)
/* The argument is the doorbell value itself, not a pointer. */
#define IVDB_IOC_RING _IO(IVDB_IOC_MAGIC, 0x41)

#endif /* IVSHMEM_DOORBELL_H */
