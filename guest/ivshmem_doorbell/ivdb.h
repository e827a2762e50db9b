/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ivdb.h: what the parts of the ivshmem_doorbell driver share: one device, and each part's entry points.
 *   ivdb_pci.c       the PCI driver: probe and remove, the device's life (a refcount)
 *   ivdb_doorbell.c  MSI-X interrupts and /dev/ivshmem-doorbell
 *   ivdb_region.c    BAR2 mapped write-back through /dev/ivshmem-region
 * The user-space interface is ivshmem_doorbell.h.
 */
#ifndef IVDB_H
#define IVDB_H

#include <linux/atomic.h>
#include <linux/kref.h>
#include <linux/memremap.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/wait.h>

#include "ivshmem_doorbell.h"

#define DRV_NAME "ivshmem_doorbell"
#define IVDB_DEV_NAME "ivshmem-doorbell"
#define IVDB_REGION_NAME "ivshmem-region"
/* BAR0 registers (ivshmem-spec.rst). */
#define IVDB_REG_IVPOSITION 8
#define IVDB_REG_DOORBELL 12

struct ivdb_dev;

struct ivdb_vector {
	struct ivdb_dev *dev;
	atomic64_t count;               /* interrupts since probe */
	int irq;
	char name[32];                  /* as /proc/interrupts shows it */
};

/*
 * One device. Refcounted: an open file keeps it after the device is removed (its calls then fail), and so
 * does a mapping of the region (a VMA holds its file): BAR2's struct pages live until the last is gone.
 */
struct ivdb_dev {
	struct kref ref;
	struct mutex hw_lock;           /* register access against remove */
	bool gone;                      /* removed: BAR0 is unmapped, no more interrupts */
	void __iomem *regs;             /* BAR0 */
	int index;                      /* 0 for /dev/ivshmem-doorbell, n for /dev/ivshmem-doorbell<n> */
	unsigned int nvec;
	u64 bar2_size;
	phys_addr_t bar2_start;
	char pci_name[IVDB_PCI_NAME_LEN];
	char name[24];
	struct miscdevice misc;         /* the doorbell; registered only with MSI-X */
	bool misc_registered;
	struct mutex region_lock;       /* region_users, pgmap, region_pages */
	unsigned int region_users;      /* open region files: BAR2 has pages while there is one */
	struct dev_pagemap pgmap;       /* BAR2 as device pages, while region_pages is set */
	void *region_pages;
	char region_name[24];
	struct miscdevice region_misc;  /* the write-back mapping; registered only when BAR2 has pages */
	bool region_registered;
	wait_queue_head_t wq;           /* readers and pollers; woken by every interrupt */
	struct ivdb_vector vec[IVDB_MAX_VECTORS];
};

/* ivdb_pci.c: drop a reference to the device; the last one frees it. */
void ivdb_free_dev(struct kref *ref);
/* ivdb_pci.c: register misc with fops as /dev/BASE for device 0, /dev/BASE<n> for device n, mode 0600, its name
 * kept in name (len bytes). Returns: 0, or misc_register's negative errno. */
int ivdb_misc_register(struct pci_dev *pdev, struct ivdb_dev *d, struct miscdevice *misc, char *name, size_t len,
		       const char *base, const struct file_operations *fops);

/* ivdb_doorbell.c: MSI-X vectors and /dev/ivshmem-doorbell[n]. Returns: 0, or a negative errno (nothing left
 * to undo). */
int ivdb_doorbell_init(struct pci_dev *pdev, struct ivdb_dev *d, int nvec);
/* No new opens, no more register access or interrupts; waiters return -ENODEV. */
void ivdb_doorbell_remove(struct pci_dev *pdev, struct ivdb_dev *d);

/* ivdb_region.c: register /dev/ivshmem-region[n]; BAR2 gets its pages when the file is opened. Returns: 0, or
 * a negative errno. */
int ivdb_region_init(struct pci_dev *pdev, struct ivdb_dev *d);

#endif /* IVDB_H */
