/* vfio-pci.c: a host PCI device on vfio-pci given to the guest: its config space virtualized (BARs
 * through the bus, ROM hidden, COMMAND forwarded, MSI/MSI-X emulated, unsupported capabilities hidden,
 * every other write dropped), its BARs mapped as KVM memory slots, its interrupts routed into KVM. */
#include <inttypes.h>
#include <poll.h>
#include <sys/ioctl.h>

#include "iommu/iommu.h"
#include "util/log.h"
#include "util/output.h"
#include "vm/devices/vfio-pci.h"

#define CFG_COMMAND 0x04
#define CFG_STATUS 0x06
#define CFG_HEADER_TYPE 0x0e
#define CFG_BAR0 0x10
#define CFG_SUBSYS 0x2c
#define CFG_ROM 0x30
#define CFG_CAP_PTR 0x34
#define CFG_INT_PIN 0x3d
#define CMD_FORWARDED 0x0407 /* I/O, memory, bus master, INTx disable */
#define STATUS_CAP_LIST 0x10
#define CAP_PM 0x01
#define CAP_MSI 0x05
#define CAP_PCIE 0x10
#define CAP_MSIX 0x11
#define EXT_AER 0x0001
#define EXT_DSN 0x0003
#define MSI_MAX 32
#define MAX_SLOT_PIECES 4 /* per BAR: up to three mapped pieces around the MSI-X table and PBA */
#define PAGE 4096ull

struct bar_state {
	uint64_t region_size;  /* 0: no BAR */
	bool mmap_ok;          /* the region may be mmapped */
	struct vfio_bar_map *map;
	unsigned npieces;
	uint64_t piece_gpa[MAX_SLOT_PIECES];
};

struct vfio_pci {
	struct vm_pci_device dev; /* first: the bus's view */
	char name[48];
	char address[PCI_ADDR_STRLEN]; /* the host device */
	const struct vm_vfio_backend_ops *ops;
	void *be;
	uint8_t hw[4096]; /* the device's config space as read after reset */
	unsigned cfg_size;
	uint16_t hw_cmd;
	struct bar_state bars[VM_PCI_BARS];
	/* MSI-X: the table and PBA emulated by vm/msix.c; VFIO signals the vectors' eventfds. */
	struct vm_msix *msix;
	unsigned msix_bar, msix_nvec;
	uint32_t msix_table, msix_pba;
	bool msix_on;
	/* MSI: emulated capability; one eventfd per vector, routed while enabled and unmasked. */
	unsigned msi_cap, msi_max;
	bool msi_64, msi_pvm, msi_on;
	unsigned msi_nvec;
	struct irq_vectors *msi_fds;
	bool msi_routed[MSI_MAX];
	uint32_t msi_gsi[MSI_MAX];
	struct irq_msi msi_msg[MSI_MAX];
	/* INTx: level-triggered through a resampling irqfd; VFIO masks the line until the guest's EOI. */
	int intx_fd, intx_resample;
	unsigned intx_gsi;
	bool intx_irqfd, intx_on;
};

static struct vfio_pci *of(struct vm_pci_device *d)
{
	return (struct vfio_pci *)d;
}

static int set_irqs(struct vfio_pci *v, enum irq_vfio_op op, uint32_t index, uint32_t count, const int32_t *fds)
{
	struct irq_vfio_req req = { .op = op, .index = index, .start = 0, .count = count, .fds = fds };
	int r = v->ops->set_irqs(v->be, &req);
	if (r < 0)
		log_debug("%s: SET_IRQS index %u op %d count %u: %s", v->name, index, op, count, strerror(-r));
	return r;
}

/* ---- INTx ---- */

static void intx_enable(struct vfio_pci *v)
{
	if (v->intx_on || !v->intx_irqfd)
		return;
	if (set_irqs(v, IRQ_VFIO_TRIGGER, VFIO_PCI_INTX_IRQ_INDEX, 1, &v->intx_fd) < 0)
		return;
	if (set_irqs(v, IRQ_VFIO_UNMASK_FD, VFIO_PCI_INTX_IRQ_INDEX, 1, &v->intx_resample) < 0) {
		set_irqs(v, IRQ_VFIO_DISABLE, VFIO_PCI_INTX_IRQ_INDEX, 0, NULL);
		return;
	}
	v->intx_on = true;
}

/* VFIO takes MSI or MSI-X only while INTx is off. */
static void intx_disable(struct vfio_pci *v)
{
	if (!v->intx_on)
		return;
	set_irqs(v, IRQ_VFIO_DISABLE, VFIO_PCI_INTX_IRQ_INDEX, 0, NULL);
	v->intx_on = false;
}

static int intx_setup(struct vfio_pci *v)
{
	const struct vfio_irq_desc *irq = v->ops->irq(v->be, VFIO_PCI_INTX_IRQ_INDEX);
	int r;

	if (!v->dev.config[CFG_INT_PIN] || !irq || !irq->count || !(irq->flags & VFIO_IRQ_INFO_EVENTFD))
		return 0;
	v->intx_gsi = vm_pci_intx_gsi(v->dev.slot, v->dev.config[CFG_INT_PIN]);
	if ((v->intx_fd = irq_eventfd_new()) < 0)
		return v->intx_fd;
	if ((v->intx_resample = irq_eventfd_new()) < 0)
		return v->intx_resample;
	r = irq_irqfd_assign(vm_kvm_fd(v->dev.vm), v->intx_gsi, v->intx_fd, v->intx_resample);
	if (r < 0)
		return r;
	v->intx_irqfd = true;
	intx_enable(v);
	return 0;
}

/* ---- MSI-X: VFIO's vectors follow the guest's enable bit ---- */

static void msix_enable_changed(struct vm_msix *m, void *opaque, bool enabled, bool function_masked)
{
	struct vfio_pci *v = opaque;
	int32_t fds[2048];

	(void)function_masked; /* a masked function keeps its vectors: signals wait in the eventfds */
	if (enabled && !v->msix_on) {
		for (unsigned i = 0; i < v->msix_nvec; i++)
			fds[i] = vm_msix_eventfd(m, i);
		intx_disable(v);
		if (set_irqs(v, IRQ_VFIO_TRIGGER, VFIO_PCI_MSIX_IRQ_INDEX, v->msix_nvec, fds) >= 0)
			v->msix_on = true;
		else
			intx_enable(v);
	} else if (!enabled && v->msix_on) {
		set_irqs(v, IRQ_VFIO_DISABLE, VFIO_PCI_MSIX_IRQ_INDEX, 0, NULL);
		v->msix_on = false;
		if (!v->msi_on)
			intx_enable(v);
	}
}

static const struct vm_msix_ops msix_ops = { .enable_changed = msix_enable_changed };

/* ---- MSI: emulated capability ---- */

static unsigned msi_data_off(const struct vfio_pci *v)
{
	return v->msi_cap + (v->msi_64 ? 0xc : 0x8);
}

static unsigned msi_mask_off(const struct vfio_pci *v)
{
	return msi_data_off(v) + 4;
}

static unsigned msi_cap_len(const struct vfio_pci *v)
{
	return msi_data_off(v) - v->msi_cap + 4 + (v->msi_pvm ? 8 : 0);
}

static bool fd_pending(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Brings VFIO's MSI vectors and the KVM routes in line with what the guest wrote. Device lock held. */
static void msi_sync(struct vfio_pci *v)
{
	const uint8_t *c = v->dev.config + v->msi_cap;
	uint16_t ctrl = get_le16(c + 2);
	bool enabled = ctrl & 1;
	unsigned nvec = 1u << ((ctrl >> 4) & 7);
	uint32_t mask = v->msi_pvm ? get_le32(v->dev.config + msi_mask_off(v)) : 0;
	struct irq_msi base = { .address_lo = get_le32(c + 4), .address_hi = v->msi_64 ? get_le32(c + 8) : 0,
				.data = get_le16(v->dev.config + msi_data_off(v)) };

	if (nvec > v->msi_max)
		nvec = v->msi_max;
	if (v->msi_on && (!enabled || nvec != v->msi_nvec)) {
		for (unsigned i = 0; i < MSI_MAX; i++)
			if (v->msi_routed[i]) {
				vm_msi_route_remove(v->dev.vm, v->msi_gsi[i], irq_vectors_fd(v->msi_fds, i));
				v->msi_routed[i] = false;
			}
		set_irqs(v, IRQ_VFIO_DISABLE, VFIO_PCI_MSI_IRQ_INDEX, 0, NULL);
		v->msi_on = false;
		if (!enabled && !v->msix_on)
			intx_enable(v);
	}
	if (enabled && !v->msi_on) {
		intx_disable(v);
		if (set_irqs(v, IRQ_VFIO_TRIGGER, VFIO_PCI_MSI_IRQ_INDEX, nvec, irq_vectors_fds(v->msi_fds)) < 0) {
			intx_enable(v);
			return;
		}
		v->msi_on = true;
		v->msi_nvec = nvec;
	}
	for (unsigned i = 0; i < MSI_MAX; i++) {
		struct irq_msi msg = base;
		bool want = v->msi_on && i < v->msi_nvec && !(mask >> i & 1);
		int fd = irq_vectors_fd(v->msi_fds, i), r = 0;

		/* Multiple-message MSI: the low bits of the data select the vector. */
		msg.data = (base.data & ~(v->msi_nvec - 1)) | i;
		if (want && !v->msi_routed[i]) {
			r = vm_msi_route_add(v->dev.vm, fd, &msg, &v->msi_gsi[i]);
			v->msi_routed[i] = r >= 0;
		} else if (want && memcmp(&msg, &v->msi_msg[i], sizeof(msg))) {
			r = vm_msi_route_update(v->dev.vm, v->msi_gsi[i], &msg);
		} else if (!want && v->msi_routed[i]) {
			vm_msi_route_remove(v->dev.vm, v->msi_gsi[i], fd);
			v->msi_routed[i] = false;
		}
		if (r >= 0 && want)
			v->msi_msg[i] = msg;
		if (r < 0)
			log_debug("%s: MSI vector %u: %s", v->name, i, strerror(-r));
	}
}

/* The emulated capability: enable and multiple-message enable, address, data, per-vector mask. */
static void msi_init(struct vfio_pci *v, unsigned cap)
{
	uint16_t ctrl = get_le16(v->hw + cap + 2);
	uint8_t *w = v->dev.wmask;

	v->msi_cap = cap;
	v->msi_64 = ctrl & 0x80;
	v->msi_pvm = ctrl & 0x100;
	v->msi_max = 1u << ((ctrl >> 1) & 7);
	if (v->msi_max > MSI_MAX)
		v->msi_max = MSI_MAX;
	/* Out of reset: disabled, one message, nothing programmed. */
	memset(v->dev.config + cap + 2, 0, msi_cap_len(v) - 2);
	put_le16(v->dev.config + cap + 2, ctrl & 0x018e);
	put_le16(w + cap + 2, 0x0071);
	put_le32(w + cap + 4, 0xfffffffc);
	if (v->msi_64)
		put_le32(w + cap + 8, 0xffffffff);
	put_le16(w + msi_data_off(v), 0xffff);
	if (v->msi_pvm)
		put_le32(w + msi_mask_off(v), v->msi_max == 32 ? 0xffffffffu : (1u << v->msi_max) - 1);
}

/* ---- Config space ---- */

static uint32_t config_read(struct vm_pci_device *d, unsigned off, unsigned len)
{
	struct vfio_pci *v = of(d);
	uint32_t val = vm_pci_config_read_default(d, off, len);
	unsigned pend = v->msi_pvm ? msi_mask_off(v) + 4 : 0;

	/* MSI pending bits: a masked vector whose eventfd was signalled. */
	if (v->msi_cap && v->msi_pvm && off < pend + 4 && off + len > pend) {
		uint32_t bits = 0;
		for (unsigned i = 0; i < v->msi_max; i++)
			if (!v->msi_routed[i] && fd_pending(irq_vectors_fd(v->msi_fds, i)))
				bits |= 1u << i;
		for (unsigned i = 0; i < len; i++)
			if (off + i >= pend && off + i < pend + 4) {
				val &= ~(0xffu << (8 * i));
				val |= ((bits >> (8 * (off + i - pend))) & 0xff) << (8 * i);
			}
	}
	return val;
}

/* COMMAND goes to the device too: memory/I/O decode, bus mastering, INTx disable. */
static void forward_command(struct vfio_pci *v)
{
	uint16_t cmd = (v->hw_cmd & ~CMD_FORWARDED) | (get_le16(v->dev.config + CFG_COMMAND) & CMD_FORWARDED);
	uint8_t b[2];
	int r;

	put_le16(b, cmd);
	r = v->ops->region_write(v->be, VFIO_PCI_CONFIG_REGION_INDEX, CFG_COMMAND, b, 2);
	if (r < 0)
		log_debug("%s: COMMAND 0x%04x: %s", v->name, cmd, strerror(-r));
}

/* Writes go through the emulated register file, whose write mask lets only the virtualized bits
 * change: everything else (IDs, status, capabilities other than MSI/MSI-X, extended space, ROM) is
 * dropped, never passed to the device. */
static void config_write(struct vm_pci_device *d, unsigned off, unsigned len, uint32_t value)
{
	struct vfio_pci *v = of(d);

	if (v->msix && vm_msix_config_write(v->msix, off, len, value))
		return;
	vm_pci_config_write_default(d, off, len, value);
	if (off < CFG_COMMAND + 2 && off + len > CFG_COMMAND)
		forward_command(v);
	if (v->msi_cap && off < v->msi_cap + msi_cap_len(v) && off + len > v->msi_cap)
		msi_sync(v);
}

static bool cap_kept(uint8_t id)
{
	return id == CAP_PM || id == CAP_PCIE;
}

/* The standard list as the guest walks it: PM and PCI Express read-only, MSI emulated (MSI-X is
 * linked by vm_msix_new), everything else unlinked. The walk is bounded: a hostile or broken device
 * cannot make it loop. */
static int caps_build(struct vfio_pci *v, unsigned *ret_msix)
{
	const struct vfio_irq_desc *msi = v->ops->irq(v->be, VFIO_PCI_MSI_IRQ_INDEX);
	const struct vfio_irq_desc *msix = v->ops->irq(v->be, VFIO_PCI_MSIX_IRQ_INDEX);
	unsigned kept[48], nkept = 0, hops = 0;
	uint8_t *c = v->dev.config;

	*ret_msix = 0;
	memcpy(c + 0x40, v->hw + 0x40, 0xc0);
	if (!(get_le16(v->hw + CFG_STATUS) & STATUS_CAP_LIST))
		return 0;
	for (unsigned p = v->hw[CFG_CAP_PTR] & 0xfc; p >= 0x40 && p <= 0xfc && hops < 48; hops++) {
		uint8_t id = v->hw[p];
		if (id == CAP_MSIX && msix && msix->count && (msix->flags & VFIO_IRQ_INFO_EVENTFD))
			*ret_msix = p;
		else if (id == CAP_MSI && msi && msi->count && (msi->flags & VFIO_IRQ_INFO_EVENTFD) && !v->msi_cap &&
			 p + 0x18 <= 0x100) {
			msi_init(v, p);
			kept[nkept++] = p;
		} else if (cap_kept(id))
			kept[nkept++] = p;
		p = v->hw[p + 1] & 0xfc;
	}
	c[CFG_CAP_PTR] = nkept ? (uint8_t)kept[0] : 0;
	for (unsigned i = 0; i < nkept; i++)
		c[kept[i] + 1] = i + 1 < nkept ? (uint8_t)kept[i + 1] : 0;
	if (nkept)
		c[CFG_STATUS] |= STATUS_CAP_LIST;
	return 0;
}

static bool ext_kept(uint16_t id)
{
	return id == EXT_AER || id == EXT_DSN;
}

/* Extended space (ECAM only): AER and the serial number read-only, the rest (SR-IOV, ATS, PASID,
 * resizable BAR, ...) hidden: a hidden first capability stays as an empty header pointing on. */
static void ext_build(struct vfio_pci *v)
{
	unsigned kept[64], nkept = 0, hops = 0;
	uint8_t *c = v->dev.config;

	if (v->cfg_size <= 0x100)
		return;
	memcpy(c + 0x100, v->hw + 0x100, v->cfg_size - 0x100);
	for (unsigned p = 0x100; p >= 0x100 && p <= 0xffc && hops < 64; hops++) {
		uint32_t h = get_le32(v->hw + p);
		if (h == 0 || h == 0xffffffffu)
			break;
		if (ext_kept(h & 0xffff))
			kept[nkept++] = p;
		p = (h >> 20) & 0xffc;
	}
	if (!nkept || kept[0] != 0x100)
		put_le32(c + 0x100, nkept ? (uint32_t)kept[0] << 20 : 0);
	for (unsigned i = 0; i < nkept; i++) {
		uint32_t h = get_le32(c + kept[i]) & 0xfffff;
		put_le32(c + kept[i], h | (i + 1 < nkept ? (uint32_t)kept[i + 1] << 20 : 0));
	}
}

/* ---- BARs ---- */

static int bars_declare(struct vfio_pci *v)
{
	for (unsigned i = 0; i < VM_PCI_BARS; i++) {
		const struct vfio_region_desc *rd = v->ops->region(v->be, VFIO_PCI_BAR0_REGION_INDEX + i);
		uint32_t reg = get_le32(v->hw + CFG_BAR0 + 4 * i);
		enum vm_pci_bar_type type;
		uint64_t size;
		int r;

		if (!rd || !rd->size)
			continue;
		size = rd->size;
		if (size & (size - 1))
			return -EINVAL; /* BARs are powers of two; anything else is not a BAR we can place */
		type = reg & 1 ? VM_PCI_BAR_IO : ((reg >> 1) & 3) == 2 ? VM_PCI_BAR_MEM64 : VM_PCI_BAR_MEM32;
		if (type == VM_PCI_BAR_MEM32 && size > (256ull << 20))
			type = VM_PCI_BAR_MEM64; /* too big for the 32-bit window: the guest sees a 64-bit BAR */
		if (type == VM_PCI_BAR_MEM64 && i == VM_PCI_BARS - 1)
			return -EINVAL;
		r = vm_pci_bar_init(&v->dev, i, type, size, type != VM_PCI_BAR_IO && (reg & 8));
		if (r < 0)
			return r;
		v->bars[i].region_size = size;
		v->bars[i].mmap_ok = type != VM_PCI_BAR_IO && (rd->flags & VFIO_REGION_INFO_FLAG_MMAP);
		if (type == VM_PCI_BAR_MEM64)
			i++;
	}
	return 0;
}

static void bar_io(struct vm_pci_device *d, unsigned bar, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct vfio_pci *v = of(d);
	uint64_t size = v->bars[bar].region_size;
	int r;

	if (v->msix && vm_msix_bar_io(v->msix, bar, off, data, len, is_write))
		return;
	/* The guest's BAR may be larger than the region (rounded up to a page): past its end nothing answers. */
	if (off >= size || len > size - off) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	r = is_write ? v->ops->region_write(v->be, VFIO_PCI_BAR0_REGION_INDEX + bar, off, data, len)
		     : v->ops->region_read(v->be, VFIO_PCI_BAR0_REGION_INDEX + bar, off, data, len);
	if (r < 0 && !is_write)
		memset(data, 0xff, len);
}

/* [lo, hi) minus the pages holding the MSI-X table and PBA: what may become a KVM slot. */
static unsigned bar_pieces(const struct vfio_pci *v, unsigned bar, uint64_t lo, uint64_t hi, uint64_t *off,
			   uint64_t *size)
{
	uint64_t cut[2][2];
	unsigned ncut = 0, n = 0;

	if (v->msix && v->msix_bar == bar) {
		uint64_t tl = (uint64_t)v->msix_nvec * 16, pl = ((uint64_t)v->msix_nvec + 63) / 64 * 8;
		cut[ncut][0] = v->msix_table & ~(PAGE - 1);
		cut[ncut++][1] = (v->msix_table + tl + PAGE - 1) & ~(PAGE - 1);
		cut[ncut][0] = v->msix_pba & ~(PAGE - 1);
		cut[ncut++][1] = (v->msix_pba + pl + PAGE - 1) & ~(PAGE - 1);
		if (cut[0][0] > cut[1][0]) {
			uint64_t t0 = cut[0][0], t1 = cut[0][1];
			cut[0][0] = cut[1][0], cut[0][1] = cut[1][1], cut[1][0] = t0, cut[1][1] = t1;
		}
	}
	for (unsigned i = 0; i <= ncut; i++) {
		uint64_t s = i == 0 ? lo : cut[i - 1][1], e = i == ncut ? hi : cut[i][0];
		if (s < lo)
			s = lo;
		if (e > hi)
			e = hi;
		if (e > s && n < MAX_SLOT_PIECES - 1) {
			off[n] = s;
			size[n++] = e - s;
		}
	}
	return n;
}

static void bar_deactivate(struct vm_pci_device *d, unsigned bar, uint64_t addr)
{
	struct bar_state *b = &of(d)->bars[bar];

	(void)addr;
	for (unsigned i = 0; i < b->npieces; i++)
		vm_unmap_memory(d->vm, b->piece_gpa[i]);
	b->npieces = 0;
}

/* Every mmappable area of the BAR (sparse areas as the kernel gave them) becomes a KVM memory slot at
 * the guest's address, so guest MMIO there never exits; the MSI-X pages stay trapped. */
static int bar_activate(struct vm_pci_device *d, unsigned bar, uint64_t addr)
{
	struct vfio_pci *v = of(d);
	struct bar_state *b = &v->bars[bar];
	int r;

	if (!b->mmap_ok)
		return -EACCES;
	if (!b->map && (r = v->ops->bar_map(v->be, VFIO_PCI_BAR0_REGION_INDEX + bar, &b->map)) < 0) {
		b->mmap_ok = false; /* trapped from now on; no point asking again */
		return r;
	}
	b->npieces = 0;
	for (size_t a = 0; a < b->map->n_areas; a++) {
		const struct vfio_mmap_area *area = &b->map->areas[a];
		uint64_t off[MAX_SLOT_PIECES], size[MAX_SLOT_PIECES];
		unsigned n;

		if (area->offset >= b->region_size || area->size > b->region_size - area->offset)
			continue;
		n = bar_pieces(v, bar, area->offset, area->offset + area->size, off, size);
		for (unsigned i = 0; i < n; i++) {
			if (b->npieces == MAX_SLOT_PIECES) {
				r = -ENOSPC;
				goto fail;
			}
			r = vm_map_memory(d->vm, addr + off[i], size[i], b->map->base + off[i], false);
			if (r < 0)
				goto fail;
			b->piece_gpa[b->npieces++] = addr + off[i];
		}
	}
	return 0;
fail:
	bar_deactivate(d, bar, addr);
	return r;
}

/* ---- Reset, free ---- */

static void device_reset(struct vfio_pci *v)
{
	int r = v->ops->reset(v->be);
	if (r < 0 && r != -ENOTTY)
		log_debug("%s: reset: %s", v->name, strerror(-r));
}

static void model_free(struct vm_pci_device *d)
{
	struct vfio_pci *v = of(d);

	if (v->msix_on)
		set_irqs(v, IRQ_VFIO_DISABLE, VFIO_PCI_MSIX_IRQ_INDEX, 0, NULL);
	if (v->msi_on)
		set_irqs(v, IRQ_VFIO_DISABLE, VFIO_PCI_MSI_IRQ_INDEX, 0, NULL);
	for (unsigned i = 0; i < MSI_MAX; i++)
		if (v->msi_routed[i])
			vm_msi_route_remove(d->vm, v->msi_gsi[i], irq_vectors_fd(v->msi_fds, i));
	intx_disable(v);
	if (v->intx_irqfd)
		irq_irqfd_deassign(vm_kvm_fd(d->vm), v->intx_gsi, v->intx_fd);
	vm_msix_free(v->msix);
	irq_vectors_free(v->msi_fds);
	if (v->intx_fd >= 0)
		close(v->intx_fd);
	if (v->intx_resample >= 0)
		close(v->intx_resample);
	/* The guest let go: the device starts clean for whoever takes it next. */
	device_reset(v);
	for (unsigned i = 0; i < VM_PCI_BARS; i++)
		vfio_bar_map_free(v->bars[i].map);
	v->ops->free(v->be);
	pthread_mutex_destroy(&d->lock);
	free(v);
}

static const struct vm_pci_ops vfio_pci_ops = {
	.config_read = config_read,
	.config_write = config_write,
	.bar_io = bar_io,
	.bar_activate = bar_activate,
	.bar_deactivate = bar_deactivate,
	.free = model_free,
};

/* MSI-X capability: table and PBA in one memory BAR, inside it; then placed at the device's own offset. */
static int msix_build(struct vfio_pci *v, unsigned cap, const char **why)
{
	uint16_t ctrl = get_le16(v->hw + cap + 2);
	uint32_t table = get_le32(v->hw + cap + 4), pba = get_le32(v->hw + cap + 8);
	unsigned bar = table & 7, saved = v->dev.cap_end;
	int r;

	v->msix_nvec = (ctrl & 0x7ff) + 1;
	v->msix_bar = bar;
	v->msix_table = table & ~7u;
	v->msix_pba = pba & ~7u;
	if ((pba & 7) != bar || bar >= VM_PCI_BARS || !v->bars[bar].region_size) {
		log_debug("%s: MSI-X table in BAR%u, PBA in BAR%u: not supported, MSI-X hidden", v->name, bar, pba & 7);
		return 0;
	}
	v->dev.cap_end = cap; /* vm_pci_cap_add places it here: where the device had it */
	r = vm_msix_new(&v->dev, v->msix_nvec, bar, v->msix_table, v->msix_pba, &msix_ops, v, &v->msix);
	v->dev.cap_end = saved > cap + 12 ? saved : 0x100;
	if (r < 0)
		*why = "its MSI-X capability does not fit (table or PBA outside its BAR)";
	return r;
}

static int model_build(struct vfio_pci *v, const char **why)
{
	const struct vfio_region_desc *cfg = v->ops->region(v->be, VFIO_PCI_CONFIG_REGION_INDEX);
	const struct vfio_irq_desc *intx = v->ops->irq(v->be, VFIO_PCI_INTX_IRQ_INDEX);
	unsigned msix_cap = 0;
	int r;

	if (!cfg || cfg->size < 0x100) {
		*why = "VFIO gave no config space region";
		return -ENODEV;
	}
	v->cfg_size = cfg->size > sizeof(v->hw) ? sizeof(v->hw) : (unsigned)cfg->size;
	r = v->ops->region_read(v->be, VFIO_PCI_CONFIG_REGION_INDEX, 0, v->hw, v->cfg_size);
	if (r < 0) {
		*why = "cannot read its config space";
		return r;
	}
	if ((v->hw[CFG_HEADER_TYPE] & 0x7f) != 0) {
		*why = "not an endpoint (header type is not 0): bridges cannot be assigned";
		return -EINVAL;
	}
	v->hw_cmd = get_le16(v->hw + CFG_COMMAND);
	vm_pci_device_init(&v->dev, v->name, get_le16(v->hw), get_le16(v->hw + 2), get_le32(v->hw + 8) >> 8,
			   intx && intx->count ? v->hw[CFG_INT_PIN] : 0);
	v->dev.ops = &vfio_pci_ops;
	v->dev.userdata = v;
	v->dev.config[8] = v->hw[8]; /* revision */
	memcpy(v->dev.config + CFG_SUBSYS, v->hw + CFG_SUBSYS, 4);
	v->dev.wmask[0x0c] = 0xff; /* cache line size and latency timer: the guest's to set, not forwarded */
	v->dev.wmask[0x0d] = 0xff;
	/* The ROM stays hidden: register 0x30 reads 0 and sizes to 0. */
	if ((r = bars_declare(v)) < 0) {
		*why = "a BAR VFIO reports cannot be placed in the guest";
		return r;
	}
	if ((r = irq_vectors_new(MSI_MAX, &v->msi_fds)) < 0 || (r = caps_build(v, &msix_cap)) < 0) {
		*why = "cannot set up its interrupts";
		return r;
	}
	ext_build(v);
	v->dev.cap_end = 0x100;
	if (msix_cap && (r = msix_build(v, msix_cap, why)) < 0)
		return r;
	return 0;
}

int vm_vfio_pci_add_backend(struct vm *vm, const char *name, const struct vm_vfio_backend_ops *ops, void *be,
			    const char **why)
{
	struct vfio_pci *v = calloc(1, sizeof(*v));
	const char *w = NULL;
	int r, slot;

	if (!v) {
		ops->free(be);
		*why = "out of memory";
		return -ENOMEM;
	}
	v->ops = ops;
	v->be = be;
	v->intx_fd = v->intx_resample = -1;
	snprintf(v->name, sizeof(v->name), "vfio %s", name);
	snprintf(v->address, sizeof(v->address), "%s", name);
	/* Reset before the guest sees it: no state from the previous user. */
	device_reset(v);
	r = model_build(v, &w);
	if (r >= 0) {
		slot = vm_pci_add(vm, &v->dev, -1);
		if (slot < 0) {
			r = slot;
			w = "no free PCI slot";
		}
	}
	if (r >= 0 && (r = intx_setup(v)) < 0) {
		w = "cannot route its INTx line into KVM (resampling irqfd)";
		vm_pci_remove(vm, &v->dev);
	}
	if (r < 0) {
		*why = w;
		vm_msix_free(v->msix);
		irq_vectors_free(v->msi_fds);
		if (v->intx_fd >= 0)
			close(v->intx_fd);
		if (v->intx_resample >= 0)
			close(v->intx_resample);
		for (unsigned i = 0; i < VM_PCI_BARS; i++)
			vfio_bar_map_free(v->bars[i].map);
		ops->free(be);
		free(v);
		return r;
	}
	log_debug("%s: slot %u, INTx %s, MSI %u, MSI-X %u", v->name, v->dev.slot, v->intx_irqfd ? "yes" : "no",
		  v->msi_cap ? v->msi_max : 0, v->msix ? v->msix_nvec : 0);
	return v->dev.slot;
}

/* ---- `ptctl vm show`: what the guest made of the device ---- */

static const char *bar_type_name(enum vm_pci_bar_type t)
{
	return t == VM_PCI_BAR_IO ? "io" : t == VM_PCI_BAR_MEM32 ? "mem32" : t == VM_PCI_BAR_MEM64 ? "mem64" : "none";
}

static int bars_json(struct vfio_pci *v, json_object *o)
{
	json_object *a = json_object_new_array();
	int r = 0;

	if (!a)
		return -ENOMEM;
	for (unsigned i = 0; i < VM_PCI_BARS && r >= 0; i++) {
		const struct vm_pci_bar *b = &v->dev.bars[i];
		json_object *e;
		if (b->type == VM_PCI_BAR_NONE)
			continue;
		if (!(e = json_object_new_object()) || json_object_array_add(a, e) < 0) {
			json_object_put(e);
			r = -ENOMEM;
			break;
		}
		if ((r = json_add_int(e, "index", i)) < 0 || (r = json_add_str(e, "type", bar_type_name(b->type))) < 0 ||
		    (r = json_add_hex(e, "guest_address", b->addr)) < 0 || (r = json_add_int(e, "size", (int64_t)b->size)) < 0 ||
		    (r = json_add_bool(e, "decoding", b->active)) < 0)
			break;
		r = json_add_int(e, "kvm_slots", v->bars[i].npieces); /* 0: every access traps to the VMM */
	}
	return r < 0 ? (json_object_put(a), r) : json_add(o, "bars", a);
}

/* The host IRQ VFIO requested for vector index vec of kind ("vfio-msix[3](0000:01:10.0)"), or NULL. */
static const struct irq_host *host_irq_of(const struct irq_host *h, size_t n, const char *kind, int vec)
{
	char want[64];

	if (vec >= 0)
		snprintf(want, sizeof(want), "%s[%d](", kind, vec);
	else
		snprintf(want, sizeof(want), "%s(", kind);
	for (size_t i = 0; i < n; i++)
		if (h[i].actions && strstr(h[i].actions, want))
			return &h[i];
	return NULL;
}

static int irq_json(json_object *a, const char *type, int index, const struct irq_msi *msg, int gsi, bool masked,
		    bool pending, const struct irq_host *h)
{
	json_object *e = json_object_new_object();
	int r;

	if (!e || json_object_array_add(a, e) < 0) {
		json_object_put(e);
		return -ENOMEM;
	}
	if ((r = json_add_str(e, "type", type)) < 0 || (r = (index >= 0 ? json_add_int(e, "index", index)
								   : json_add_null(e, "index"))) < 0)
		return r;
	if (msg) {
		/* x86 MSI: destination APIC ID in address bits 19:12, vector in data bits 7:0. */
		if ((r = json_add_int(e, "guest_vector", msg->data & 0xff)) < 0 ||
		    (r = json_add_int(e, "dest_apic_id", (msg->address_lo >> 12) & 0xff)) < 0 ||
		    (r = json_add_hex(e, "msi_address", (uint64_t)msg->address_hi << 32 | msg->address_lo)) < 0 ||
		    (r = json_add_hex(e, "msi_data", msg->data)) < 0)
			return r;
	} else if ((r = json_add_null(e, "guest_vector")) < 0 || (r = json_add_null(e, "dest_apic_id")) < 0)
		return r;
	if ((r = (gsi >= 0 ? json_add_int(e, "gsi", gsi) : json_add_null(e, "gsi"))) < 0 ||
	    (r = json_add_bool(e, "masked", masked)) < 0 || (r = json_add_bool(e, "pending", pending)) < 0)
		return r;
	if (!h)
		return json_add_null(e, "host_irq");
	if ((r = json_add_int(e, "host_irq", h->irq)) < 0 || (r = json_add_int(e, "host_count", (int64_t)h->count)) < 0)
		return r;
	return json_add_str(e, "host_affinity", h->effective ? h->effective : h->affinity);
}

static int irqs_json(struct vfio_pci *v, json_object *o, const struct irq_host *h, size_t nh)
{
	json_object *a = json_object_new_array();
	int r = 0;

	if (!a)
		return -ENOMEM;
	for (unsigned i = 0; v->msix && i < v->msix_nvec && r >= 0; i++) {
		struct vm_msix_vector_info vi;
		struct irq_msi m;
		if (vm_msix_vector_info(v->msix, i, &vi) < 0)
			break;
		m = (struct irq_msi){ .address_lo = (uint32_t)vi.address, .address_hi = (uint32_t)(vi.address >> 32),
				      .data = vi.data };
		r = irq_json(a, "msix", (int)i, &m, vi.gsi, vi.masked, vi.pending,
			     v->msix_on ? host_irq_of(h, nh, "vfio-msix", (int)i) : NULL);
	}
	for (unsigned i = 0; v->msi_on && i < v->msi_nvec && r >= 0; i++)
		r = irq_json(a, "msi", (int)i, &v->msi_msg[i], v->msi_routed[i] ? (int)v->msi_gsi[i] : -1,
			     !v->msi_routed[i], !v->msi_routed[i] && fd_pending(irq_vectors_fd(v->msi_fds, i)),
			     host_irq_of(h, nh, "vfio-msi", (int)i));
	if (v->intx_irqfd && r >= 0)
		r = irq_json(a, "intx", -1, NULL, (int)v->intx_gsi, !v->intx_on, false,
			     v->intx_on ? host_irq_of(h, nh, "vfio-intx", -1) : NULL);
	return r < 0 ? (json_object_put(a), r) : json_add(o, "interrupts", a);
}

int vm_vfio_pci_describe(struct vm_pci_device *d, json_object **ret)
{
	struct vfio_pci *v = of(d);
	struct irq_host *h = NULL;
	size_t nh = 0;
	struct pci_addr pa;
	json_object *o;
	char guest[PCI_ADDR_STRLEN];
	int r;

	if (d->ops != &vfio_pci_ops)
		return -ENODEV;
	/* Host IRQs from /proc (outside the device lock: it only reads files). */
	if (pci_addr_parse(v->address, &pa) >= 0 && irq_host_list(&pa, &h, &nh) < 0)
		h = NULL, nh = 0;
	if (!(o = json_object_new_object())) {
		irq_host_list_free(h, nh);
		return -ENOMEM;
	}
	snprintf(guest, sizeof(guest), "0000:00:%02x.0", d->slot);
	pthread_mutex_lock(&d->lock);
	if ((r = json_add_str(o, "address", v->address)) >= 0 && (r = json_add_str(o, "guest_address", guest)) >= 0 &&
	    (r = json_add_int(o, "slot", d->slot)) >= 0 && (r = json_add_str(o, "interrupt_mode",
		     v->msix_on ? "msix" : v->msi_on ? "msi" : v->intx_on ? "intx" : "none")) >= 0 &&
	    (r = bars_json(v, o)) >= 0)
		r = irqs_json(v, o, h, nh);
	pthread_mutex_unlock(&d->lock);
	irq_host_list_free(h, nh);
	if (r < 0) {
		json_object_put(o);
		return r;
	}
	*ret = o;
	return 0;
}

bool vm_vfio_pci_dma_mapped(const struct vm *vm)
{
	return vm->vfio != NULL;
}
