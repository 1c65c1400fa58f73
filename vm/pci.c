/* pci.c: PCI bus 0: the host bridge at 00.0, configuration mechanism #1 (0xcf8/0xcfc), ECAM for MCFG,
 * the device interface later issues attach to, and the MMIO windows BARs are placed in. */
#include <inttypes.h>

#include "internal.h"
#include "util/log.h"

#define PCI_VENDOR_REDHAT 0x1b36 /* the generic host bridge ID that has no driver quirks */
#define PCI_DEVICE_HOST 0x0008

#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_BAR0 0x10
#define PCI_BAR_END 0x28
#define PCI_CAP_PTR 0x34
#define PCI_INT_LINE 0x3c
#define PCI_INT_PIN 0x3d
#define CMD_IO 0x1
#define CMD_MEM 0x2
#define STATUS_CAP_LIST 0x10
#define IO_WINDOW_START 0xc000u /* BARs are placed here; the guest may move them anywhere in _CRS's 0x0d00-0xffff */
#define IO_WINDOW_LOW 0x0d00u
#define IO_WINDOW_END 0x10000u

unsigned vm_pci_intx_gsi(unsigned slot, unsigned pin)
{
	/* The _PRT in acpi.c: INTA-INTD of slot s swizzled over GSI 16-23. */
	return 16 + (slot + (pin - 1)) % 8;
}

void vm_pci_device_init(struct vm_pci_device *dev, const char *name, uint16_t vendor, uint16_t device,
			uint32_t class_code, uint8_t irq_pin)
{
	memset(dev, 0, sizeof(*dev));
	pthread_mutex_init(&dev->lock, NULL);
	dev->name = name;
	put_le16(dev->config + 0x00, vendor);
	put_le16(dev->config + 0x02, device);
	put_le32(dev->config + 0x08, class_code << 8); /* revision 0 */
	dev->config[0x0e] = 0;                         /* header type 0, single function */
	put_le16(dev->wmask + PCI_COMMAND, 0x0407);    /* I/O, memory, bus master, INTx disable */
	dev->config[PCI_INT_PIN] = irq_pin <= 4 ? irq_pin : 0;
	dev->wmask[PCI_INT_LINE] = 0xff;
	for (unsigned i = 0; i < VM_PCI_BARS; i++)
		dev->bars[i].index = i;
}

int vm_pci_bar_init(struct vm_pci_device *dev, unsigned bar, enum vm_pci_bar_type type, uint64_t size,
		    bool prefetch)
{
	struct vm_pci_bar *b;
	uint32_t low;

	if (bar >= VM_PCI_BARS || (type == VM_PCI_BAR_MEM64 && bar + 1 >= VM_PCI_BARS) || type == VM_PCI_BAR_NONE ||
	    size == 0 || (size & (size - 1)) || dev->bars[bar].type != VM_PCI_BAR_NONE || dev->bars[bar].upper ||
	    (type == VM_PCI_BAR_IO && size > 0x1000) || (type == VM_PCI_BAR_MEM32 && size > (256ull << 20)) ||
	    (type == VM_PCI_BAR_MEM64 && size > VM_PCI_MMIO64_SIZE / 2))
		return -EINVAL;
	if (type == VM_PCI_BAR_MEM64 && dev->bars[bar + 1].type != VM_PCI_BAR_NONE)
		return -EINVAL;
	if (type == VM_PCI_BAR_IO && size < 4)
		size = 4;
	if (type != VM_PCI_BAR_IO && size < 4096)
		size = 4096; /* so each BAR has pages of its own: KVM slots and traps work per page */
	b = &dev->bars[bar];
	*b = (struct vm_pci_bar){ .type = type, .size = size, .prefetch = prefetch, .dev = dev, .index = bar };
	low = type == VM_PCI_BAR_IO ? 0x1 : (type == VM_PCI_BAR_MEM64 ? 0x4 : 0) | (prefetch ? 0x8 : 0);
	put_le32(dev->config + PCI_BAR0 + 4 * bar, low);
	put_le32(dev->wmask + PCI_BAR0 + 4 * bar, (uint32_t)~(size - 1) & (type == VM_PCI_BAR_IO ? ~3u : ~0xfu));
	if (type == VM_PCI_BAR_MEM64) {
		dev->bars[bar + 1] = (struct vm_pci_bar){ .type = VM_PCI_BAR_NONE, .dev = dev, .index = bar + 1,
							 .upper = true };
		put_le32(dev->wmask + PCI_BAR0 + 4 * (bar + 1), (uint32_t)(~(size - 1) >> 32));
	}
	return 0;
}

int vm_pci_cap_add(struct vm_pci_device *d, const uint8_t *cap, unsigned len)
{
	unsigned off = (((d->cap_end > 0x40 ? d->cap_end : 0x40) + 3) & ~3u), last = 0, hops = 0;

	if (len < 2 || len > 0xc0)
		return -EINVAL;
	if (off + len > 0x100)
		return -ENOSPC;
	for (unsigned p = d->config[PCI_CAP_PTR]; p && hops < 48; p = d->config[p + 1], hops++)
		last = p;
	memcpy(d->config + off, cap, len);
	d->config[off + 1] = 0;
	if (last)
		d->config[last + 1] = (uint8_t)off;
	else
		d->config[PCI_CAP_PTR] = (uint8_t)off;
	d->config[PCI_STATUS] |= STATUS_CAP_LIST;
	d->cap_end = off + len;
	return (int)off;
}

static uint64_t bar_address(const struct vm_pci_device *d, unsigned i)
{
	const struct vm_pci_bar *b = &d->bars[i];
	uint64_t a = get_le32(d->config + PCI_BAR0 + 4 * i);

	if (b->type == VM_PCI_BAR_IO)
		return a & ~3ull;
	a &= ~0xfull;
	if (b->type == VM_PCI_BAR_MEM64)
		a |= (uint64_t)get_le32(d->config + PCI_BAR0 + 4 * (i + 1)) << 32;
	return a;
}

/* Whether a BAR at addr may decode: wholly inside one of the windows the DSDT's _CRS offers. A BAR left
 * at its sizing value (all ones) or at 0 is outside every window. */
static bool bar_in_window(const struct vm_pci_device *d, const struct vm_pci_bar *b, uint64_t addr)
{
	uint64_t end = addr + b->size;
	const struct vm_pci *p = d->vm ? &d->vm->pci : NULL;

	if (end < addr)
		return false;
	if (b->type == VM_PCI_BAR_IO)
		return addr >= IO_WINDOW_LOW && end <= IO_WINDOW_END;
	if (addr >= VM_PCI_MMIO32_START && end <= VM_PCI_MMIO32_END)
		return true;
	return b->type == VM_PCI_BAR_MEM64 && p && addr >= p->mmio64_base && end <= p->mmio64_base + VM_PCI_MMIO64_SIZE;
}

static void bar_trap(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct vm_pci_bar *b = opaque;
	struct vm_pci_device *d = b->dev;

	pthread_mutex_lock(&d->lock);
	/* A BAR that moved or stopped decoding since the bus looked it up: the access is unclaimed. */
	if (b->active && d->ops && d->ops->bar_io)
		d->ops->bar_io(d, b->index, off, data, len, is_write);
	else if (!is_write)
		memset(data, 0xff, len);
	pthread_mutex_unlock(&d->lock);
}

static void bar_deactivate(struct vm_pci_device *d, struct vm_pci_bar *b)
{
	if (!b->active)
		return;
	if (d->ops && d->ops->bar_deactivate)
		d->ops->bar_deactivate(d, b->index, b->addr);
	if (b->type == VM_PCI_BAR_IO)
		vm_pio_unregister(d->vm, (uint16_t)b->addr);
	else
		vm_mmio_unregister(d->vm, b->addr);
	b->active = false;
}

static void bar_activate(struct vm_pci_device *d, struct vm_pci_bar *b, uint64_t addr)
{
	int r = b->type == VM_PCI_BAR_IO ? vm_pio_register(d->vm, (uint16_t)addr, (uint16_t)b->size, bar_trap, b)
					 : vm_mmio_register(d->vm, addr, b->size, bar_trap, b);
	b->addr = addr;
	if (r < 0) {
		/* Overlaps another BAR the guest placed: it does not decode (real hardware would conflict). */
		log_debug("pci %02x (%s): BAR%u at 0x%" PRIx64 " overlaps another range: %s", d->slot,
			  d->name ? d->name : "?", b->index, addr, strerror(-r));
		return;
	}
	b->active = true;
	if (d->ops && d->ops->bar_activate && (r = d->ops->bar_activate(d, b->index, addr)) < 0)
		log_debug("pci %02x (%s): BAR%u at 0x%" PRIx64 ": activate failed (%s), trapped only", d->slot,
			  d->name ? d->name : "?", b->index, addr, strerror(-r));
}

/* Brings every BAR's decoding in line with COMMAND and the BAR registers. Device lock held. */
static void bars_update(struct vm_pci_device *d)
{
	uint16_t cmd = get_le16(d->config + PCI_COMMAND);

	if (!d->vm)
		return; /* not on a bus yet */
	for (unsigned i = 0; i < VM_PCI_BARS; i++) {
		struct vm_pci_bar *b = &d->bars[i];
		uint64_t addr;
		bool decode;

		if (b->type == VM_PCI_BAR_NONE)
			continue;
		addr = bar_address(d, i);
		decode = (b->type == VM_PCI_BAR_IO ? cmd & CMD_IO : cmd & CMD_MEM) && bar_in_window(d, b, addr);
		if (b->active && (!decode || addr != b->addr))
			bar_deactivate(d, b);
		if (decode && !b->active)
			bar_activate(d, b, addr);
		else if (!decode)
			b->addr = addr;
	}
}

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
	/* COMMAND and the BAR registers decide what decodes where. */
	if ((off < PCI_COMMAND + 2 && off + len > PCI_COMMAND) || (off < PCI_BAR_END && off + len > PCI_BAR0))
		bars_update(d);
}

static struct vm_pci_device *slot_device(struct vm_pci *p, unsigned slot)
{
	struct vm_pci_device *d;
	if (slot >= 32)
		return NULL;
	pthread_mutex_lock(&p->lock);
	d = p->slots[slot];
	pthread_mutex_unlock(&p->lock);
	return d;
}

static uint32_t config_read(struct vm_pci *p, unsigned slot, unsigned fn, unsigned off, unsigned len)
{
	struct vm_pci_device *d = slot_device(p, slot);

	/* Absent devices and functions read as all ones (vendor 0xffff). Multi-function devices are a
	 * later addition; functions other than 0 are absent. */
	uint32_t v;

	if (!d || fn != 0)
		return len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1;
	vm_hotplug_config_read(p->vm, slot, off);
	pthread_mutex_lock(&d->lock);
	if (d->ops && d->ops->config_read)
		v = d->ops->config_read(d, off, len);
	else
		v = vm_pci_config_read_default(d, off, len);
	pthread_mutex_unlock(&d->lock);
	return v;
}

static void config_write(struct vm_pci *p, unsigned slot, unsigned fn, unsigned off, unsigned len, uint32_t v)
{
	struct vm_pci_device *d = slot_device(p, slot);
	if (!d || fn != 0)
		return;
	pthread_mutex_lock(&d->lock);
	if (d->ops && d->ops->config_write)
		d->ops->config_write(d, off, len, v);
	else
		vm_pci_config_write_default(d, off, len, v);
	pthread_mutex_unlock(&d->lock);
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
			atomic_store(&p->cf8, get_le32(data));
		else
			put_le32(data, atomic_load(&p->cf8));
		return;
	}
	if (!is_write)
		memset(data, 0xff, len);
}

static void cfc_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct vm_pci *p = opaque;
	uint32_t a = atomic_load(&p->cf8);

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

static int vm_pci_alloc_mmio_locked(struct vm *vm, uint64_t size, bool above_4g, uint64_t *ret_gpa);

static int alloc_io(struct vm_pci *p, uint64_t size, uint64_t *ret)
{
	uint64_t a = (p->io_next + size - 1) & ~(size - 1);
	if (a + size > IO_WINDOW_END)
		return -ENOSPC;
	p->io_next = (uint32_t)(a + size);
	*ret = a;
	return 0;
}

/* Firmware-style placement: each BAR at a free, naturally aligned address in its window. Bus lock held. */
static int place_bars(struct vm *vm, struct vm_pci_device *dev)
{
	for (unsigned i = 0; i < VM_PCI_BARS; i++) {
		struct vm_pci_bar *b = &dev->bars[i];
		uint64_t a;
		int r;

		if (b->type == VM_PCI_BAR_NONE)
			continue;
		if (b->type == VM_PCI_BAR_IO)
			r = alloc_io(&vm->pci, b->size, &a);
		else
			r = vm_pci_alloc_mmio_locked(vm, b->size, b->type == VM_PCI_BAR_MEM64, &a);
		if (r < 0)
			return r;
		put_le32(dev->config + PCI_BAR0 + 4 * i, (get_le32(dev->config + PCI_BAR0 + 4 * i) & ~dev->wmask[PCI_BAR0 + 4 * i]) |
							  ((uint32_t)a & get_le32(dev->wmask + PCI_BAR0 + 4 * i)));
		if (b->type == VM_PCI_BAR_MEM64)
			put_le32(dev->config + PCI_BAR0 + 4 * (i + 1), (uint32_t)(a >> 32));
		b->addr = a;
	}
	return 0;
}

int vm_pci_add(struct vm *vm, struct vm_pci_device *dev, int slot)
{
	struct vm_pci *p = &vm->pci;
	int r = -ENOSPC;

	if (slot == 0 || slot > 31)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	if (slot < 0) {
		for (int s = 1; s < 32; s++)
			if (!p->slots[s]) {
				slot = s;
				break;
			}
	}
	if (slot > 0 && p->slots[slot])
		r = -EBUSY;
	else if (slot > 0 && (r = place_bars(vm, dev)) >= 0) {
		dev->slot = (uint8_t)slot;
		dev->vm = vm;
		if (dev->config[PCI_INT_PIN])
			dev->config[PCI_INT_LINE] = (uint8_t)vm_pci_intx_gsi((unsigned)slot, dev->config[PCI_INT_PIN]);
		p->slots[slot] = dev;
		r = slot;
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

int vm_pci_remove(struct vm *vm, struct vm_pci_device *dev)
{
	struct vm_pci *p = &vm->pci;
	int r = -ENOENT;

	pthread_mutex_lock(&dev->lock);
	for (unsigned i = 0; i < VM_PCI_BARS; i++)
		bar_deactivate(dev, &dev->bars[i]);
	pthread_mutex_unlock(&dev->lock);
	pthread_mutex_lock(&p->lock);
	if (dev->slot && dev->slot < 32 && p->slots[dev->slot] == dev) {
		p->slots[dev->slot] = NULL;
		r = 0;
	}
	pthread_mutex_unlock(&p->lock);
	vm_io_quiesce(vm); /* a vCPU that found the device before it left is out of it now */
	return r;
}

void vm_pci_free_devices(struct vm_pci *p)
{
	if (!p->vm)
		return;
	for (unsigned s = 1; s < 32; s++) {
		struct vm_pci_device *d = p->slots[s];
		if (!d)
			continue;
		vm_pci_remove(p->vm, d);
		if (d->ops && d->ops->free)
			d->ops->free(d);
	}
	pthread_mutex_destroy(&p->host_bridge.lock);
	pthread_mutex_destroy(&p->lock);
	p->vm = NULL;
}

static int vm_pci_alloc_mmio_locked(struct vm *vm, uint64_t size, bool above_4g, uint64_t *ret_gpa)
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

int vm_pci_alloc_mmio(struct vm *vm, uint64_t size, bool above_4g, uint64_t *ret_gpa)
{
	int r;
	pthread_mutex_lock(&vm->pci.lock);
	r = vm_pci_alloc_mmio_locked(vm, size, above_4g, ret_gpa);
	pthread_mutex_unlock(&vm->pci.lock);
	return r;
}

int vm_pci_init(struct vm_pci *p, struct vm *vm)
{
	struct vm_pci_device *h = &p->host_bridge;
	uint64_t ram_end = vm_memory_end(vm->mem);
	int r;

	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	p->vm = vm;
	p->io_next = IO_WINDOW_START;
	p->mmio32_next = VM_PCI_MMIO32_START;
	p->mmio64_base = ((ram_end > VM_HIGH_RAM_START ? ram_end : VM_HIGH_RAM_START) + (1ull << 30) - 1) &
			 ~((1ull << 30) - 1);
	p->mmio64_next = p->mmio64_base;

	vm_pci_device_init(h, "host bridge", PCI_VENDOR_REDHAT, PCI_DEVICE_HOST, 0x060000, 0);
	put_le16(h->wmask + PCI_COMMAND, 0x0007); /* command: I/O, memory, bus master */
	h->wmask[PCI_INT_LINE] = 0;
	h->vm = vm;
	p->slots[0] = h;

	if ((r = vm_pio_register(vm, 0xcf8, 4, cf8_io, p)) < 0 || (r = vm_pio_register(vm, 0xcfc, 4, cfc_io, p)) < 0 ||
	    (r = vm_mmio_register(vm, VM_ECAM_BASE, VM_ECAM_SIZE, ecam_io, p)) < 0)
		return r;
	log_debug("pci: ECAM at 0x%" PRIx64 ", 32-bit window 0x%llx-0x%llx, 64-bit window at 0x%" PRIx64,
		  (uint64_t)VM_ECAM_BASE, VM_PCI_MMIO32_START, VM_PCI_MMIO32_END - 1, p->mmio64_base);
	return 0;
}
