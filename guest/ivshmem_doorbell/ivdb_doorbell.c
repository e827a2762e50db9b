// SPDX-License-Identifier: GPL-2.0
/*
 * ivdb_doorbell.c: the doorbell of ivshmem-doorbell (which has MSI-X): user space waits for a peer's interrupt
 * without spinning and rings a peer's doorbell, through /dev/ivshmem-doorbell. Why a driver: ivshmem-doorbell
 * interrupts only through MSI-X; uio_pci_generic handles INTx only, and vfio-pci needs an IOMMU (its no-IOMMU
 * mode is not built into Debian's kernel).
 *
 * Device registers and the doorbell semantics: QEMU docs/specs/ivshmem-spec.rst.
 */
#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/interrupt.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "ivdb.h"

/* One open file: the interrupt counts it has reported so far. */
struct ivdb_file {
	struct ivdb_dev *dev;
	struct mutex lock;              /* seen[] against concurrent reads of one file */
	u64 seen[IVDB_MAX_VECTORS];
};

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

/* MSI-X vectors and /dev/ivshmem-doorbell[n]. Returns: 0, or a negative errno (nothing left to undo). */
int ivdb_doorbell_init(struct pci_dev *pdev, struct ivdb_dev *d, int nvec)
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

	ret = ivdb_misc_register(pdev, d, &d->misc, d->name, sizeof(d->name), IVDB_DEV_NAME, &ivdb_fops);
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

void ivdb_doorbell_remove(struct pci_dev *pdev, struct ivdb_dev *d)
{
	unsigned int v;

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
