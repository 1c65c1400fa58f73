/* pci.c: PCI bus 0: the host bridge at 00.0, configuration mechanism #1 (0xcf8/0xcfc), ECAM for MCFG,
 * the device interface later issues attach to, and the MMIO windows BARs are placed in. */
#include <inttypes.h>

#include "internal.h"
#include "util/log.h"

#define PCI_VENDOR_REDHAT 0x1b36 /* the generic host bridge ID that has no driver quirks */
#define PCI_DEVICE_HOST 0x0008

uint32_t vm_pci_config_read_default(struct vm_pci_device *d, unsigned off, unsigned len)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < len; i++)
		v |= (uint32_t)d->config[off + i] << (8 * i);
	return v;
}

void vm_pci_config_write_default(struct vm_pci_device *d, unsigned off, unsigned len, uint32_t value)
{
	for (unsigned i = 0; i < len; i++) {
		uint8_t m = d->wmask[off + i], b = (uint8_t)(value >> (8 * i));
		d->config[off + i] = (uint8_t)((d->config[off + i] & ~m) | (b & m));
	}
}

static uint32_t config_read(struct vm_pci *p, unsigned slot, unsigned fn, unsigned off, unsigned len)
{
	struct vm_pci_device *d = slot < 32 ? p->slots[slot] : NULL;

	/* Absent devices and functions read as all ones (vendor 0xffff). Multi-function devices are a
	 * later addition; functions other than 0 are absent. */
	if (!d || fn != 0)
		return len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1;
	if (d->ops && d->ops->config_read)
		return d->ops->config_read(d, off, len);
	return vm_pci_config_read_default(d, off, len);
}

static void config_write(struct vm_pci *p, unsigned slot, unsigned fn, unsigned off, unsigned len, uint32_t v)
{
	struct vm_pci_device *d = slot < 32 ? p->slots[slot] : NULL;
	if (!d || fn != 0)
		return;
	if (d->ops && d->ops->config_write)
		d->ops->config_write(d, off, len, v);
	else
		vm_pci_config_write_default(d, off, len, v);
}

/* One config access of len bytes at off; accesses that are not naturally aligned or cross a dword are
 * split into bytes so a device only ever sees aligned 1/2/4-byte accesses below 4096. */
static void config_access(struct vm_pci *p, unsigned bus, unsigned slot, unsigned fn, unsigned off, uint8_t *data,
			  unsigned len, bool is_write)
{
	if (bus != 0 || off >= 4096 || len > 4096 - off) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if ((len == 1 || len == 2 || len == 4) && off % len == 0) {
		uint32_t v = 0;
		if (is_write) {
			for (unsigned i = 0; i < len; i++)
				v |= (uint32_t)data[i] << (8 * i);
			config_write(p, slot, fn, off, len, v);
		} else {
			v = config_read(p, slot, fn, off, len);
			for (unsigned i = 0; i < len; i++)
				data[i] = (uint8_t)(v >> (8 * i));
		}
		return;
	}
	for (unsigned i = 0; i < len; i++)
		config_access(p, bus, slot, fn, off + i, data + i, 1, is_write);
}

/* 0xcf8: the address register latches on dword writes only (byte writes to 0xcfb probe mechanism #2). */
static void cf8_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct vm_pci *p = opaque;

	if (off == 0 && len == 4) {
		if (is_write)
			p->cf8 = get_le32(data);
		else
			put_le32(data, p->cf8);
		return;
	}
	if (!is_write)
		memset(data, 0xff, len);
}

static void cfc_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct vm_pci *p = opaque;
	uint32_t a = p->cf8;

	if (!(a & 0x80000000u) || off + len > 4) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	/* Mechanism #1 reaches the first 256 bytes of a function; the rest is ECAM's. */
	config_access(p, (a >> 16) & 0xff, (a >> 11) & 0x1f, (a >> 8) & 7, (a & 0xfc) + (unsigned)off, data, len,
		      is_write);
}

static void ecam_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct vm_pci *p = opaque;
	unsigned reg = off & 0xfff;

	if (off >= VM_ECAM_SIZE || len > 4 || reg + len > 4096) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	config_access(p, (unsigned)(off >> 20) & 0xff, (unsigned)(off >> 15) & 0x1f, (unsigned)(off >> 12) & 7, reg,
		      data, len, is_write);
}

int vm_pci_add(struct vm *vm, struct vm_pci_device *dev, int slot)
{
	struct vm_pci *p = &vm->pci;
	int r = -ENOSPC;

	if (slot == 0 || slot > 31)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (slot < 0) {
		for (int s = 1; s < 32; s++)
			if (!p->slots[s]) {
				slot = s;
				break;
			}
	}
	if (slot > 0 && !p->slots[slot]) {
		dev->slot = (uint8_t)slot;
		p->slots[slot] = dev;
		r = slot;
	} else if (slot > 0) {
		r = -EBUSY;
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int vm_pci_alloc_mmio(struct vm *vm, uint64_t size, bool above_4g, uint64_t *ret_gpa)
{
	struct vm_pci *p = &vm->pci;
	uint64_t *next = above_4g ? &p->mmio64_next : &p->mmio32_next;
	uint64_t end = above_4g ? p->mmio64_base + VM_PCI_MMIO64_SIZE : VM_PCI_MMIO32_END;
	uint64_t a;

	if (size < 4096 || (size & (size - 1)))
		return -EINVAL;
	a = (*next + size - 1) & ~(size - 1);
	if (a < *next || a > end || size > end - a)
		return -ENOSPC;
	*next = a + size;
	*ret_gpa = a;
	return 0;
}

int vm_pci_init(struct vm_pci *p, struct vm *vm)
{
	struct vm_pci_device *h = &p->host_bridge;
	uint64_t ram_end = vm_memory_end(vm->mem);
	int r;

	memset(p, 0, sizeof(*p));
	p->vm = vm;
	p->mmio32_next = VM_PCI_MMIO32_START;
	p->mmio64_base = ((ram_end > VM_HIGH_RAM_START ? ram_end : VM_HIGH_RAM_START) + (1ull << 30) - 1) &
			 ~((1ull << 30) - 1);
	p->mmio64_next = p->mmio64_base;

	put_le16(h->config + 0x00, PCI_VENDOR_REDHAT);
	put_le16(h->config + 0x02, PCI_DEVICE_HOST);
	put_le16(h->config + 0x06, 0x0000);     /* status */
	h->config[0x08] = 0;                     /* revision */
	put_le16(h->config + 0x0a, 0x0600);     /* class: host bridge */
	h->config[0x0e] = 0;                     /* header type 0, single function */
	put_le16(h->wmask + 0x04, 0x0007);      /* command: I/O, memory, bus master */
	p->slots[0] = h;

	if ((r = vm_pio_register(vm, 0xcf8, 4, cf8_io, p)) < 0 || (r = vm_pio_register(vm, 0xcfc, 4, cfc_io, p)) < 0 ||
	    (r = vm_mmio_register(vm, VM_ECAM_BASE, VM_ECAM_SIZE, ecam_io, p)) < 0)
		return r;
	log_debug("pci: ECAM at 0x%" PRIx64 ", 32-bit window 0x%llx-0x%llx, 64-bit window at 0x%" PRIx64,
		  (uint64_t)VM_ECAM_BASE, VM_PCI_MMIO32_START, VM_PCI_MMIO32_END - 1, p->mmio64_base);
	return 0;
}
