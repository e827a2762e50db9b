// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem_doorbell: a guest driver for QEMU's ivshmem devices (PCI 1af4:1110), for two things:
 *
 * 1. Doorbell (ivshmem-doorbell, which has MSI-X): user space waits for a peer's interrupt without spinning
 *    and rings a peer's doorbell, through /dev/ivshmem-doorbell. Why a driver: ivshmem-doorbell interrupts
 *    only through MSI-X; uio_pci_generic handles INTx only, and vfio-pci needs an IOMMU (its no-IOMMU mode
 *    is not built into Debian's kernel).
 * 2. A write-back mapping of the shared memory (BAR2; ivshmem-plain and ivshmem-doorbell), through
 *    /dev/ivshmem-region. sysfs resource2 maps BAR2 uncached (UC-) and resource2_wc write-combining, and
 *    a driver's remap_pfn_range gets no better: x86 PAT gives a PFN mapping of a range the memory type the
 *    kernel recorded for it, and for memory outside RAM whose MTRR type is not write-back (or with no
 *    MTRRs, as under qboot) it records UC- even when write-back was asked for. Looking Glass's kvmfr hit
 *    this ("remap_pfn_range was slow"). The idea taken from it: give BAR2 struct pages (memremap_pages,
 *    MEMORY_DEVICE_GENERIC) and hand those pages to user space from a fault handler. Page-backed PTEs take
 *    the VMA's protection, which is write-back; PAT's record is not consulted. The region is ordinary
 *    host RAM behind the BAR, so a cacheable mapping is coherent with the host on x86.
 *
 * The interface is in ivshmem_doorbell.h. BAR0 (registers) is mapped for both. BAR2 is not requested, so
 * that sysfs resource2 and resource2_wc keep working beside us (a requested, busy region cannot be mapped
 * through sysfs with IO_STRICT_DEVMEM).
 *
 * Device registers and the doorbell semantics: QEMU docs/specs/ivshmem-spec.rst.
 */
#include <linux/atomic.h>
#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/interrupt.h>
#include <linux/kref.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include <asm/msr.h>

#include "ivshmem_doorbell.h"

#define DRV_NAME "ivshmem_doorbell"
#define IVDB_DEV_NAME "ivshmem-doorbell"
#define IVDB_REGION_NAME "ivshmem-region"
/* Red Hat / Qumranet, the vendor of QEMU's virtual devices; 0x1110 is ivshmem. */
#define IVDB_PCI_VENDOR 0x1af4
#define IVDB_PCI_DEVICE 0x1110
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

/* One open file: the interrupt counts it has reported so far. */
struct ivdb_file {
	struct ivdb_dev *dev;
	struct mutex lock;              /* seen[] against concurrent reads of one file */
	u64 seen[IVDB_MAX_VECTORS];
};

static DEFINE_IDA(ivdb_ida);

static void ivdb_free_dev(struct kref *ref)
{
	struct ivdb_dev *d = container_of(ref, struct ivdb_dev, ref);

	/* The last region file took BAR2's pages with it. */
	WARN_ON(d->region_pages);
	kfree(d);
}

static irqreturn_t ivdb_interrupt(int irq, void *arg)
{
	struct ivdb_vector *vec = arg;

	atomic64_inc(&vec->count);
	wake_up_interruptible_all(&vec->dev->wq);
	return IRQ_HANDLED;
}

/* Whether one of vectors 0..n-1 had an interrupt this file has not reported. */
static bool ivdb_pending(const struct ivdb_file *f, unsigned int n)
{
	unsigned int v;

	for (v = 0; v < n; v++)
		if ((u64)atomic64_read(&f->dev->vec[v].count) != READ_ONCE(f->seen[v]))
			return true;
	return false;
}

static int ivdb_open(struct inode *inode, struct file *file)
{
	/* misc_open left our miscdevice here, under misc_mtx: remove cannot have freed it yet. */
	struct ivdb_dev *d = container_of(file->private_data, struct ivdb_dev, misc);
	struct ivdb_file *f;
	unsigned int v;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	mutex_init(&f->lock);
	f->dev = d;
	/* A new file reports the interrupts that come after it was opened. */
	for (v = 0; v < d->nvec; v++)
		f->seen[v] = atomic64_read(&d->vec[v].count);
	kref_get(&d->ref);
	file->private_data = f;
	return nonseekable_open(inode, file);
}

static int ivdb_release(struct inode *inode, struct file *file)
{
	struct ivdb_file *f = file->private_data;

	kref_put(&f->dev->ref, ivdb_free_dev);
	kfree(f);
	return 0;
}

static ssize_t ivdb_read(struct file *file, char __user *buf, size_t len, loff_t *ppos)
{
	struct ivdb_file *f = file->private_data;
	struct ivdb_dev *d = f->dev;
	u64 counts[IVDB_MAX_VECTORS];
	unsigned int n = min_t(size_t, len / sizeof(u64), d->nvec);
	unsigned int v;
	int ret;

	if (n == 0)
		return -EINVAL;
	if (mutex_lock_interruptible(&f->lock))
		return -ERESTARTSYS;
	while (!ivdb_pending(f, n)) {
		mutex_unlock(&f->lock);
		if (READ_ONCE(d->gone))
			return -ENODEV;
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		ret = wait_event_interruptible(d->wq, ivdb_pending(f, n) || READ_ONCE(d->gone));
		if (ret)
			return ret;
		if (mutex_lock_interruptible(&f->lock))
			return -ERESTARTSYS;
	}
	for (v = 0; v < n; v++) {
		u64 now = atomic64_read(&d->vec[v].count);

		counts[v] = now - f->seen[v];
		WRITE_ONCE(f->seen[v], now);
	}
	mutex_unlock(&f->lock);
	if (copy_to_user(buf, counts, n * sizeof(u64)))
		return -EFAULT;
	return n * sizeof(u64);
}

static __poll_t ivdb_poll(struct file *file, poll_table *wait)
{
	struct ivdb_file *f = file->private_data;
	struct ivdb_dev *d = f->dev;
	__poll_t mask = 0;

	poll_wait(file, &d->wq, wait);
	if (ivdb_pending(f, d->nvec))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (READ_ONCE(d->gone))
		mask |= EPOLLHUP | EPOLLERR;
	return mask;
}

static long ivdb_info(struct ivdb_dev *d, struct ivdb_info __user *uinfo)
{
	struct ivdb_info info;
	unsigned int v;

	memset(&info, 0, sizeof(info));
	mutex_lock(&d->hw_lock);
	if (d->gone) {
		mutex_unlock(&d->hw_lock);
		return -ENODEV;
	}
	info.peer_id = ioread32(d->regs + IVDB_REG_IVPOSITION);
	mutex_unlock(&d->hw_lock);
	info.vectors = d->nvec;
	info.bar2_size = d->bar2_size;
	for (v = 0; v < d->nvec; v++)
		info.interrupts[v] = atomic64_read(&d->vec[v].count);
	strscpy(info.pci_name, d->pci_name, sizeof(info.pci_name));
	return copy_to_user(uinfo, &info, sizeof(info)) ? -EFAULT : 0;
}

static long ivdb_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct ivdb_file *f = file->private_data;
	struct ivdb_dev *d = f->dev;
	long ret;

	switch (cmd) {
	case IVDB_IOC_RING:
		if (arg > U32_MAX)
			return -EINVAL;
		mutex_lock(&d->hw_lock);
		ret = d->gone ? -ENODEV : 0;
		if (!d->gone)
			iowrite32((u32)arg, d->regs + IVDB_REG_DOORBELL);
		mutex_unlock(&d->hw_lock);
		return ret;
	case IVDB_IOC_INFO:
		return ivdb_info(d, (struct ivdb_info __user *)arg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations ivdb_fops = {
	.owner = THIS_MODULE,
	.open = ivdb_open,
	.release = ivdb_release,
	.read = ivdb_read,
	.poll = ivdb_poll,
	.unlocked_ioctl = ivdb_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = no_llseek,
};

/*
 * Give BAR2 struct pages (memremap_pages). Only while a region file is open: the pages make the kernel
 * record a memory type for BAR2 in PAT, which sysfs resource2 and resource2_wc mappings must then match,
 * so a driver loaded for the doorbell alone must not touch BAR2. Fails, and says why, for a BAR the guest
 * cannot give pages to (not 2 MiB-aligned, or too large for the guest's memory map).
 * Returns: 0, or a negative errno.
 */
static int ivdb_region_get_pages(struct ivdb_dev *d, struct device *dev)
{
	void *addr;

	if (d->region_users++ > 0)
		return 0;
	memset(&d->pgmap, 0, sizeof(d->pgmap));
	d->pgmap.type = MEMORY_DEVICE_GENERIC;
	d->pgmap.range.start = d->bar2_start;
	d->pgmap.range.end = d->bar2_start + d->bar2_size - 1;
	d->pgmap.nr_range = 1;
	addr = memremap_pages(&d->pgmap, dev ? dev_to_node(dev) : NUMA_NO_NODE);
	if (IS_ERR(addr)) {
		d->region_users = 0;
		pr_warn(DRV_NAME " %s: cannot give BAR2 (%llu bytes at %pa) pages for a write-back mapping: %ld\n",
			d->pci_name, d->bar2_size, &d->bar2_start, PTR_ERR(addr));
		return PTR_ERR(addr);
	}
	d->region_pages = addr;
	return 0;
}

static void ivdb_region_put_pages(struct ivdb_dev *d)
{
	if (--d->region_users > 0)
		return;
	/* No file and so no mapping is left (a VMA holds its file): nothing can reach the pages. */
	memunmap_pages(&d->pgmap);
	d->region_pages = NULL;
}

/*
 * The region file: mmap of BAR2, write-back. An open file keeps BAR2's pages (and the device structure),
 * so a mapping stays valid after the device is unbound, and keeps the module (fops owner) from unloading.
 */
static int ivdb_region_open(struct inode *inode, struct file *file)
{
	struct ivdb_dev *d = container_of(file->private_data, struct ivdb_dev, region_misc);
	int ret;

	mutex_lock(&d->region_lock);
	ret = ivdb_region_get_pages(d, d->region_misc.parent);
	mutex_unlock(&d->region_lock);
	if (ret)
		return ret;
	kref_get(&d->ref);
	file->private_data = d;
	return 0;
}

static int ivdb_region_release(struct inode *inode, struct file *file)
{
	struct ivdb_dev *d = file->private_data;

	mutex_lock(&d->region_lock);
	ivdb_region_put_pages(d);
	mutex_unlock(&d->region_lock);
	kref_put(&d->ref, ivdb_free_dev);
	return 0;
}

/* One page of BAR2 at a time, as its struct page: the PTE then carries the VMA's write-back protection. */
static vm_fault_t ivdb_region_fault(struct vm_fault *vmf)
{
	struct ivdb_dev *d = vmf->vma->vm_private_data;
	struct page *page;

	if (vmf->pgoff >= d->bar2_size >> PAGE_SHIFT)
		return VM_FAULT_SIGBUS;
	page = pfn_to_page(PHYS_PFN(d->bar2_start) + vmf->pgoff);
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct ivdb_region_vm_ops = {
	.fault = ivdb_region_fault,
};

static int ivdb_region_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct ivdb_dev *d = file->private_data;
	unsigned long npages = d->bar2_size >> PAGE_SHIFT;

	/* A private copy-on-write mapping of shared memory would stop seeing the peer. */
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	/* Nothing beyond the BAR: the whole mapping must fit, not only its first page. */
	if (vma->vm_pgoff >= npages || vma_pages(vma) > npages - vma->vm_pgoff)
		return -EINVAL;
	vma->vm_flags |= VM_DONTEXPAND | VM_DONTDUMP;
	vma->vm_ops = &ivdb_region_vm_ops;
	vma->vm_private_data = d;
	return 0;
}

/*
 * The memory type a PTE selects: its PWT, PCD and PAT bits index the PAT MSR, whose entry is the type
 * (Intel SDM vol. 3, 13.12.3). Read from the MSR, not from the kernel's tables (not exported), so that it
 * is what the CPU uses. Names as pat_memtype_list prints them.
 */
static const char *ivdb_pte_type_name(pte_t pte)
{
	static const char *const names[8] = { "uncached", "write-combining", "unknown", "unknown",
					      "write-through", "write-protected", "write-back", "uncached-minus" };
	unsigned long flags = pte_flags(pte);
	unsigned int index = (flags & _PAGE_PWT ? 1 : 0) | (flags & _PAGE_PCD ? 2 : 0) | (flags & _PAGE_PAT ? 4 : 0);
	u64 pat;

	if (!boot_cpu_has(X86_FEATURE_PAT))
		return "unknown";
	rdmsrl(MSR_IA32_CR_PAT, pat);
	return names[(pat >> (8 * index)) & 7];
}

/*
 * The memory type the caller's page table gives a faulted-in page of its mapping of this file: what the
 * CPU uses, read back rather than assumed. Returns: 0, -EINVAL if addr is not in such a mapping, -ENOENT
 * if the page is not mapped yet.
 */
static long ivdb_region_pte_type(struct file *file, struct ivdb_region_pte __user *uarg)
{
	struct ivdb_region_pte req;
	struct vm_area_struct *vma;
	spinlock_t *ptl;
	pte_t *ptep;
	long ret = -EINVAL;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	mmap_read_lock(current->mm);
	vma = vma_lookup(current->mm, req.addr);
	if (vma && vma->vm_file == file && vma->vm_ops == &ivdb_region_vm_ops) {
		ret = follow_pte(current->mm, req.addr, &ptep, &ptl);
		if (ret == 0) {
			memset(req.type, 0, sizeof(req.type));
			strscpy(req.type, ivdb_pte_type_name(*ptep), sizeof(req.type));
			pte_unmap_unlock(ptep, ptl);
		} else {
			ret = -ENOENT;
		}
	}
	mmap_read_unlock(current->mm);
	if (ret)
		return ret;
	return copy_to_user(uarg, &req, sizeof(req)) ? -EFAULT : 0;
}

static long ivdb_region_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct ivdb_dev *d = file->private_data;
	struct ivdb_region_info info;

	if (cmd == IVDB_IOC_REGION_PTE)
		return ivdb_region_pte_type(file, (struct ivdb_region_pte __user *)arg);
	if (cmd != IVDB_IOC_REGION_INFO)
		return -ENOTTY;
	memset(&info, 0, sizeof(info));
	info.size = d->bar2_size;
	info.phys_addr = d->bar2_start;
	strscpy(info.cache, "write-back", sizeof(info.cache));
	strscpy(info.pci_name, d->pci_name, sizeof(info.pci_name));
	return copy_to_user((void __user *)arg, &info, sizeof(info)) ? -EFAULT : 0;
}

static const struct file_operations ivdb_region_fops = {
	.owner = THIS_MODULE,
	.open = ivdb_region_open,
	.release = ivdb_region_release,
	.mmap = ivdb_region_mmap,
	.unlocked_ioctl = ivdb_region_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/* Register /dev/ivshmem-region[n]; BAR2 gets its pages when the file is opened. Returns: 0, or a negative errno. */
static int ivdb_region_init(struct pci_dev *pdev, struct ivdb_dev *d)
{
	int ret;

	if (!(pci_resource_flags(pdev, 2) & IORESOURCE_MEM) || d->bar2_size == 0)
		return -ENODEV;
	if (d->index == 0)
		snprintf(d->region_name, sizeof(d->region_name), "%s", IVDB_REGION_NAME);
	else
		snprintf(d->region_name, sizeof(d->region_name), "%s%d", IVDB_REGION_NAME, d->index);
	d->region_misc.minor = MISC_DYNAMIC_MINOR;
	d->region_misc.name = d->region_name;
	d->region_misc.fops = &ivdb_region_fops;
	d->region_misc.parent = &pdev->dev;
	/* As resource2: only root maps the shared memory. */
	d->region_misc.mode = 0600;
	ret = misc_register(&d->region_misc);
	if (ret)
		return ret;
	d->region_registered = true;
	return 0;
}

/* MSI-X vectors and /dev/ivshmem-doorbell[n]. Returns: 0, or a negative errno (nothing left to undo). */
static int ivdb_doorbell_init(struct pci_dev *pdev, struct ivdb_dev *d, int nvec)
{
	unsigned int v = 0;
	int ret;

	if (nvec > IVDB_MAX_VECTORS) {
		dev_warn(&pdev->dev, "using the first %d of %d MSI-X vectors\n", IVDB_MAX_VECTORS, nvec);
		nvec = IVDB_MAX_VECTORS;
	}
	/* MSI-X messages are memory writes by the device: it must be a bus master. */
	pci_set_master(pdev);
	ret = pci_alloc_irq_vectors(pdev, nvec, nvec, PCI_IRQ_MSIX);
	if (ret < 0) {
		dev_err(&pdev->dev, "cannot enable %d MSI-X vectors: %d\n", nvec, ret);
		return ret;
	}
	d->nvec = nvec;
	for (v = 0; v < d->nvec; v++) {
		struct ivdb_vector *vec = &d->vec[v];

		vec->dev = d;
		atomic64_set(&vec->count, 0);
		vec->irq = pci_irq_vector(pdev, v);
		snprintf(vec->name, sizeof(vec->name), "%s%d-v%u", IVDB_DEV_NAME, d->index, v);
		ret = request_irq(vec->irq, ivdb_interrupt, 0, vec->name, vec);
		if (ret) {
			dev_err(&pdev->dev, "cannot get the interrupt of vector %u: %d\n", v, ret);
			goto err_free_irqs;
		}
	}

	if (d->index == 0)
		snprintf(d->name, sizeof(d->name), "%s", IVDB_DEV_NAME);
	else
		snprintf(d->name, sizeof(d->name), "%s%d", IVDB_DEV_NAME, d->index);
	d->misc.minor = MISC_DYNAMIC_MINOR;
	d->misc.name = d->name;
	d->misc.fops = &ivdb_fops;
	d->misc.parent = &pdev->dev;
	/* Only root may interrupt peers or wait on them, as only root may map resource2. */
	d->misc.mode = 0600;
	ret = misc_register(&d->misc);
	if (ret) {
		dev_err(&pdev->dev, "cannot register /dev/%s: %d\n", d->name, ret);
		goto err_free_irqs;
	}
	d->misc_registered = true;
	return 0;

err_free_irqs:
	while (v--)
		free_irq(d->vec[v].irq, &d->vec[v]);
	pci_free_irq_vectors(pdev);
	d->nvec = 0;
	return ret;
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
	unsigned int v;

	/* No new opens. Mappings of the region stay valid: its pages go with the last region file. */
	if (d->region_registered)
		misc_deregister(&d->region_misc);
	if (d->misc_registered) {
		/* Then no register access: BAR0 is unmapped when remove returns. */
		misc_deregister(&d->misc);
		mutex_lock(&d->hw_lock);
		WRITE_ONCE(d->gone, true);
		mutex_unlock(&d->hw_lock);
		for (v = 0; v < d->nvec; v++)
			free_irq(d->vec[v].irq, &d->vec[v]);
		pci_free_irq_vectors(pdev);
		/* Waiters see gone and return -ENODEV. */
		wake_up_interruptible_all(&d->wq);
	}
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
