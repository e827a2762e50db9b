/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ivshmem_doorbell.h: the user-space interface of the ivshmem_doorbell guest driver.
 *
 * The driver binds to QEMU's ivshmem devices (PCI 1af4:1110). With MSI-X (ivshmem-doorbell) it creates
 * /dev/ivshmem-doorbell (then /dev/ivshmem-doorbell1, ...), the doorbell. For every device it also creates
 * /dev/ivshmem-region (then /dev/ivshmem-region1, ...: the same number as the device's doorbell file), the
 * shared memory (BAR2) mapped write-back. sysfs resource2 (UC-) and resource2_wc keep working beside it.
 *
 * /dev/ivshmem-region:
 *   mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off)  maps BAR2 from off, write-back. The whole
 *       mapping must lie within BAR2 (else EINVAL), and be shared (MAP_PRIVATE: EINVAL). A mapping stays
 *       valid until unmapped, even when the device is unbound from the driver; while one exists (or the
 *       file is open) the module cannot be unloaded.
 *   ioctl(fd, IVDB_IOC_REGION_INFO, &info)  BAR2's size and address, the memory type of the mapping
 *       ("write-back"), and the device's PCI address.
 *   ioctl(fd, IVDB_IOC_REGION_PTE, &pte)  the memory type the caller's page table gives the page at
 *       pte.addr of its mapping of this file, read from the page table entry (PAT's names: "write-back",
 *       "uncached-minus", ...). EINVAL: not such a mapping; ENOENT: the page is not mapped yet (touch it).
 *       Why: the kernel's pat_memtype_list records a type for BAR2's physical range (UC- when the MTRRs
 *       do not say write-back, e.g. under qboot, which sets none), but page-backed mappings do not take it.
 *
 * /dev/ivshmem-doorbell:
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

struct ivdb_region_info {
	__u64 size;                           /* bytes of BAR2: the most a mapping may cover */
	__u64 phys_addr;                      /* BAR2's guest-physical address */
	char cache[16];                       /* the memory type of our mappings, as PAT names it */
	char pci_name[IVDB_PCI_NAME_LEN];     /* e.g. "0000:00:03.0", NUL-terminated */
};

struct ivdb_region_pte {
	__u64 addr;                           /* in: an address in the caller's mapping */
	char type[16];                        /* out: its memory type */
};

/* ioctls reach only this driver's files; the numbers still avoid the ranges others registered. */
#define IVDB_IOC_MAGIC 0xDB
#define IVDB_IOC_INFO _IOR(IVDB_IOC_MAGIC, 0x40, struct ivdb_info)
/* The argument is the doorbell value itself, not a pointer. */
#define IVDB_IOC_RING _IO(IVDB_IOC_MAGIC, 0x41)
/* On /dev/ivshmem-region. */
#define IVDB_IOC_REGION_INFO _IOR(IVDB_IOC_MAGIC, 0x42, struct ivdb_region_info)
#define IVDB_IOC_REGION_PTE _IOWR(IVDB_IOC_MAGIC, 0x43, struct ivdb_region_pte)

#endif /* IVSHMEM_DOORBELL_H */
