// SPDX-License-Identifier: GPL-2.0
/*
 * ivdb_region.c: a write-back mapping of the shared memory (BAR2; ivshmem-plain and ivshmem-doorbell), through
 * /dev/ivshmem-region. sysfs resource2 maps BAR2 uncached (UC-) and resource2_wc write-combining, and
 * a driver's remap_pfn_range gets no better: x86 PAT gives a PFN mapping of a range the memory type the
 * kernel recorded for it, and for memory outside RAM whose MTRR type is not write-back (or with no
 * MTRRs, as under qboot) it records UC- even when write-back was asked for. Looking Glass's kvmfr hit
 * this ("remap_pfn_range was slow"). The idea taken from it: give BAR2 struct pages (memremap_pages,
 * MEMORY_DEVICE_GENERIC) and hand those pages to user space from a fault handler. Page-backed PTEs take
 * the VMA's protection, which is write-back; PAT's record is not consulted. The region is ordinary
 * host RAM behind the BAR, so a cacheable mapping is coherent with the host on x86.
 *
 * BAR2 is not requested, so that sysfs resource2 and resource2_wc keep working beside us (a requested, busy
 * region cannot be mapped through sysfs with IO_STRICT_DEVMEM).
 */
#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/uaccess.h>

#include <asm/msr.h>

#include "ivdb.h"

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
int ivdb_region_init(struct pci_dev *pdev, struct ivdb_dev *d)
{
	int ret;

	if (!(pci_resource_flags(pdev, 2) & IORESOURCE_MEM) || d->bar2_size == 0)
		return -ENODEV;
	ret = ivdb_misc_register(pdev, d, &d->region_misc, d->region_name, sizeof(d->region_name), IVDB_REGION_NAME,
				 &ivdb_region_fops);
	if (ret)
		return ret;
	d->region_registered = true;
	return 0;
}
