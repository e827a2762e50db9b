// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem_doorbell: a guest driver for QEMU's ivshmem devices (PCI 1af4:1110), for two things:
 *
 * 1. Doorbell (ivshmem-doorbell, which has MSI-X): user space waits for a peer's interrupt without spinning
 *    and rings a peer's doorbell, through /dev/ivshmem-doorbell (ivdb_doorbell.c).
 * 2. A write-back mapping of the shared memory (BAR2; ivshmem-plain and ivshmem-doorbell), through
 *    /dev/ivshmem-region (ivdb_region.c).
 *
 * ivdb_pci.c: the PCI driver. BAR0 (registers) is mapped for both; each part that the device allows is set up.
 * The interface is in ivshmem_doorbell.h; what the parts share in ivdb.h.
 */
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "ivdb.h"

/* Red Hat / Qumranet, the vendor of QEMU's virtual devices; 0x1110 is ivshmem. */
#define IVDB_PCI_VENDOR 0x1af4
#define IVDB_PCI_DEVICE 0x1110

static DEFINE_IDA(ivdb_ida);

void ivdb_free_dev(struct kref *ref)
{
	struct ivdb_dev *d = container_of(ref, struct ivdb_dev, ref);

	/* The last region file took BAR2's pages with it. */
	WARN_ON(d->region_pages);
	kfree(d);
}

int ivdb_misc_register(struct pci_dev *pdev, struct ivdb_dev *d, struct miscdevice *misc, char *name, size_t len,
		       const char *base, const struct file_operations *fops)
{
	if (d->index == 0)
		snprintf(name, len, "%s", base);
	else
		snprintf(name, len, "%s%d", base, d->index);
	misc->minor = MISC_DYNAMIC_MINOR;
	misc->name = name;
	misc->fops = fops;
	misc->parent = &pdev->dev;
	/* As resource2: only root may map the shared memory, interrupt peers or wait on them. */
	misc->mode = 0600;
	return misc_register(misc);
}

static int ivdb_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct ivdb_dev *d;
	int nvec, ret, region_ret;

	ret = pcim_enable_device(pdev);
	if (ret)
		return dev_err_probe(&pdev->dev, ret, "cannot enable the device\n");
	ret = pcim_iomap_regions(pdev, BIT(0), DRV_NAME);
	if (ret)
		return dev_err_probe(&pdev->dev, ret, "cannot map BAR0 (the registers)\n");

	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	kref_init(&d->ref);
	mutex_init(&d->hw_lock);
	mutex_init(&d->region_lock);
	init_waitqueue_head(&d->wq);
	d->regs = pcim_iomap_table(pdev)[0];
	d->bar2_start = pci_resource_start(pdev, 2);
	d->bar2_size = pci_resource_len(pdev, 2);
	strscpy(d->pci_name, pci_name(pdev), sizeof(d->pci_name));
	d->index = ida_alloc(&ivdb_ida, GFP_KERNEL);
	if (d->index < 0) {
		ret = d->index;
		goto err_free_dev;
	}

	nvec = pci_msix_vec_count(pdev);
	if (nvec > 0) {
		ret = ivdb_doorbell_init(pdev, d, nvec);
		if (ret)
			goto err_free_index;
	}
	region_ret = ivdb_region_init(pdev, d);
	if (region_ret)
		dev_warn(&pdev->dev, "no /dev/%s for BAR2 (%llu bytes at %pa): %d\n", IVDB_REGION_NAME,
			 d->bar2_size, &d->bar2_start, region_ret);
	if (!d->misc_registered && !d->region_registered) {
		ret = region_ret;
		goto err_free_index;
	}
	pci_set_drvdata(pdev, d);
	if (d->misc_registered)
		dev_info(&pdev->dev, "/dev/%s: peer id %u, %u MSI-X vector%s, BAR2 %llu bytes\n", d->name,
			 ioread32(d->regs + IVDB_REG_IVPOSITION), d->nvec, d->nvec == 1 ? "" : "s", d->bar2_size);
	else
		dev_info(&pdev->dev, "no MSI-X (ivshmem-plain?): no doorbell\n");
	if (d->region_registered)
		dev_info(&pdev->dev, "/dev/%s: BAR2 %llu bytes at %pa, to map write-back\n", d->region_name,
			 d->bar2_size, &d->bar2_start);
	return 0;

err_free_index:
	ida_free(&ivdb_ida, d->index);
err_free_dev:
	kfree(d);
	return ret;
}

static void ivdb_remove(struct pci_dev *pdev)
{
	struct ivdb_dev *d = pci_get_drvdata(pdev);

	/* No new opens. Mappings of the region stay valid: its pages go with the last region file. */
	if (d->region_registered)
		misc_deregister(&d->region_misc);
	if (d->misc_registered)
		ivdb_doorbell_remove(pdev, d);
	ida_free(&ivdb_ida, d->index);
	kref_put(&d->ref, ivdb_free_dev);
}

static const struct pci_device_id ivdb_ids[] = {
	{ PCI_DEVICE(IVDB_PCI_VENDOR, IVDB_PCI_DEVICE) },
	{ 0 }
};
MODULE_DEVICE_TABLE(pci, ivdb_ids);

static struct pci_driver ivdb_driver = {
	.name = DRV_NAME,
	.id_table = ivdb_ids,
	.probe = ivdb_probe,
	.remove = ivdb_remove,
};
module_pci_driver(ivdb_driver);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("QEMU ivshmem: wait for MSI-X interrupts and ring peers; map the shared memory write-back");
MODULE_AUTHOR("ivshmem-bench");

