/* pci.h: finding the ivshmem PCI device in sysfs and mapping its BAR2 from user space. */
#ifndef IVB_PCI_H
#define IVB_PCI_H

#include <stdbool.h>

#include "region.h"

#define IVB_PCI_SYSFS_DEFAULT "/sys/bus/pci/devices"
#define IVB_PCI_VENDOR 0x1af4u /* Red Hat, Inc. */
#define IVB_PCI_DEVICE 0x1110u /* Inter-VM shared memory */
#define IVB_PAT_MEMTYPE_LIST "/sys/kernel/debug/x86/pat_memtype_list"

/*
 * Find an ivshmem device under sysfs_root. With want (a PCI address) check that device,
 * otherwise take the first ivshmem device in address order. Writes its address into bdf.
 * Returns: 0 on success, -ENODEV if there is none (or want is not one), or a negative errno.
 */
int ivb_pci_find(const char *sysfs_root, const char *want, char bdf[IVB_DEVICE_LEN]);

/*
 * Map BAR2 of device bdf through resource2 (UC- in Linux), or resource2_wc when wc is set.
 * Enables the device's memory decoding first if it is off. Records in m the device address and
 * the memory type the kernel gave the mapping, from pat_memtype_list when debugfs shows it.
 * Returns: 0 on success, -ENOENT if the resource file is missing, or a negative errno.
 */
int ivb_pci_map_bar2(const char *sysfs_root, const char *bdf, bool wc, struct ivb_mapping *m);

/* Our driver's write-back files: ivshmem-region, ivshmem-region1, ... (one per device). */
#define IVB_PCI_REGION_FILE "ivshmem-region"

/*
 * Map BAR2 of device bdf write-back through our driver's file for it (dev_dir/ivshmem-region[n], the one
 * sysfs lists under the device; the driver must report the same PCI address). Records the memory type
 * the mapping's page table entry selects, as the driver reads it back ("unknown" if it cannot).
 * Returns: 0 on success, -ENOENT if no such file belongs to bdf (the driver is not loaded), the driver's
 * error when it cannot give BAR2 pages (e.g. -ENOMEM for a BAR too large for the guest), or a negative errno.
 */
int ivb_pci_map_region_wb(const char *sysfs_root, const char *dev_dir, const char *bdf, struct ivb_mapping *m);

/*
 * Read the memory type of mapping m again (pat_memtype_list for resource2 and resource2_wc, the page table
 * entry for ivshmem_region; nothing for a file): making another mapping of BAR2 can change it.
 */
void ivb_pci_reread_memtype(const char *sysfs_root, struct ivb_mapping *m);

/*
 * Which of the sysfs mappings of bdf exist, for a message: "uc (resource2), wc (resource2_wc)", one of
 * them, or "none". Writes into buf.
 */
void ivb_pci_sysfs_mappings(const char *sysfs_root, const char *bdf, char *buf, size_t len);

#endif /* IVB_PCI_H */
