/* fuzz-pci-config.c: the VM's PCI configuration space and what hangs off it, driven the way a hostile
 * guest drives it: configuration mechanism #1 (ports 0xcf8/0xcfc-0xcff), ECAM (VM_ECAM_BASE, bus 0) and
 * MMIO/PIO anywhere (BARs the guest moved, the MSI-X table and PBA). The VM is real (this machine's
 * /dev/kvm, made per input so every input starts from the same state) with the host bridge and the
 * vfio-pci device model over a fake VFIO device (an igb VF-like config space with MSI, MSI-X, PCIe,
 * SR-IOV and AER capabilities, BARs in anonymous memory). When the input's first byte has bit 0 set, the
 * next 256 bytes replace the device's standard config header and capability area (a hostile device).
 * Then a sequence of accesses: kind (1 byte), address (4), length code (1), data (4). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"
#include "vm/devices/vfio-pci.h"
#include "vm/internal.h"
#include "vm/vm.h"

struct fake {
	uint8_t cfg[4096];
	uint8_t bar1[32];
	struct vfio_region_desc regions[VFIO_PCI_NUM_REGIONS];
	struct vfio_irq_desc irqs[VFIO_PCI_NUM_IRQS];
};

static void le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void le32(uint8_t *p, uint32_t v) { le16(p, (uint16_t)v), le16(p + 2, (uint16_t)(v >> 16)); }

static int fake_read(void *be, unsigned index, uint64_t off, void *buf, size_t len)
{
	struct fake *f = be;
	uint8_t *p = index == VFIO_PCI_CONFIG_REGION_INDEX ? f->cfg : index == 1 ? f->bar1 : NULL;
	size_t size = index == VFIO_PCI_CONFIG_REGION_INDEX ? sizeof(f->cfg) : sizeof(f->bar1);

	if (!p) {
		memset(buf, 0xff, len);
		return index < VFIO_PCI_NUM_REGIONS && f->regions[index].size ? 0 : -EINVAL;
	}
	if (off > size || len > size - off)
		return -EINVAL;
	memcpy(buf, p + off, len);
	return 0;
}

static int fake_write(void *be, unsigned index, uint64_t off, const void *buf, size_t len)
{
	struct fake *f = be;
	if (index == 1 && off <= sizeof(f->bar1) && len <= sizeof(f->bar1) - off)
		memcpy(f->bar1 + off, buf, len);
	return index < VFIO_PCI_NUM_REGIONS && f->regions[index].size ? 0 : -EINVAL;
}

static const struct vfio_region_desc *fake_region(void *be, unsigned index)
{
	struct fake *f = be;
	return index < VFIO_PCI_NUM_REGIONS ? &f->regions[index] : NULL;
}

static const struct vfio_irq_desc *fake_irq(void *be, unsigned index)
{
	struct fake *f = be;
	return index < VFIO_PCI_NUM_IRQS ? &f->irqs[index] : NULL;
}

static int fake_set_irqs(void *be, const struct irq_vfio_req *req)
{
	struct fake *f = be;
	/* what the kernel checks: the index exists and the vectors fit */
	if (req->index >= VFIO_PCI_NUM_IRQS || (uint64_t)req->start + req->count > f->irqs[req->index].count)
		return -EINVAL;
	return 0;
}

static int fake_reset(void *be)
{
	(void)be;
	return 0;
}

static int fake_bar_map(void *be, unsigned index, struct vfio_bar_map **ret)
{
	struct fake *f = be;
	struct vfio_bar_map *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->index = index;
	m->size = f->regions[index].size;
	m->base = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	m->areas = calloc(1, sizeof(*m->areas));
	if (m->base == MAP_FAILED || !m->areas) {
		if (m->base != MAP_FAILED)
			munmap(m->base, m->size);
		free(m->areas);
		free(m);
		return -ENOMEM;
	}
	m->areas[0] = (struct vfio_mmap_area){ .offset = 0, .size = m->size };
	m->n_areas = 1;
	*ret = m;
	return 0;
}

static void fake_free(void *be)
{
	free(be);
}

static const struct vm_vfio_backend_ops fake_ops = {
	.region_read = fake_read, .region_write = fake_write, .region = fake_region, .irq = fake_irq,
	.set_irqs = fake_set_irqs, .reset = fake_reset, .bar_map = fake_bar_map, .free = fake_free,
};

static void fake_init(struct fake *f)
{
	uint8_t *c = f->cfg;

	memset(f, 0, sizeof(*f));
	le16(c + 0x00, 0x8086), le16(c + 0x02, 0x10ca);
	le16(c + 0x06, 0x0010);
	le32(c + 0x08, 0x02000001);
	le32(c + 0x10, 0x00000000); /* BAR0 MEM32 16K */
	le32(c + 0x14, 0x00000001); /* BAR1 I/O 32 */
	le32(c + 0x1c, 0x0000000c); /* BAR3 MEM64 prefetchable 16K */
	le32(c + 0x2c, 0x00018086);
	le32(c + 0x30, 0xfffe0001);
	c[0x34] = 0x40, c[0x3d] = 1;
	c[0x40] = 0x01, c[0x41] = 0x50, le16(c + 0x44, 0x0008);        /* PM */
	c[0x50] = 0x05, c[0x51] = 0x70, le16(c + 0x52, 0x0184);        /* MSI: 64-bit, masking, 4 vectors */
	c[0x70] = 0x11, c[0x71] = 0xa0, le16(c + 0x72, 0x0002);        /* MSI-X: 3 vectors in BAR3 */
	le32(c + 0x74, 0x00000003), le32(c + 0x78, 0x00002003);
	c[0xa0] = 0x10, c[0xa1] = 0x00, le16(c + 0xa8, 0x2810);        /* PCI Express */
	le32(c + 0x100, 0x0010 | 1u << 16 | 0x140u << 20);             /* SR-IOV */
	le32(c + 0x140, 0x0001 | 2u << 16 | 0x180u << 20);             /* AER */
	le32(c + 0x180, 0x000e | 1u << 16);                            /* ARI */
	for (unsigned i = 0; i < VFIO_PCI_NUM_REGIONS; i++)
		f->regions[i] = (struct vfio_region_desc){ .index = i };
	f->regions[VFIO_PCI_CONFIG_REGION_INDEX].size = 4096;
	f->regions[VFIO_PCI_CONFIG_REGION_INDEX].flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	f->regions[0].size = 0x4000;
	f->regions[0].flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP;
	f->regions[1].size = sizeof(f->bar1);
	f->regions[1].flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	f->regions[3] = f->regions[0];
	f->regions[3].index = 3;
	f->regions[VFIO_PCI_ROM_REGION_INDEX].size = 0x10000;
	f->regions[VFIO_PCI_ROM_REGION_INDEX].flags = VFIO_REGION_INFO_FLAG_READ;
	f->irqs[VFIO_PCI_INTX_IRQ_INDEX] = (struct vfio_irq_desc){ VFIO_PCI_INTX_IRQ_INDEX,
		VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED, 1 };
	f->irqs[VFIO_PCI_MSI_IRQ_INDEX] = (struct vfio_irq_desc){ VFIO_PCI_MSI_IRQ_INDEX,
		VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE, 4 };
	f->irqs[VFIO_PCI_MSIX_IRQ_INDEX] = (struct vfio_irq_desc){ VFIO_PCI_MSIX_IRQ_INDEX,
		VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE, 3 };
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		fuzz_skip("kvm", "no usable /dev/kvm");
	return 0;
}

enum { OP_CONF1_WRITE, OP_CONF1_READ, OP_ECAM_WRITE, OP_ECAM_READ, OP_MMIO_WRITE, OP_MMIO_READ, OP_PIO_WRITE,
       OP_PIO_READ, OP_KINDS };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config cfg = { .name = "fuzz", .memory = 16 << 20, .cpus = 1, .console_in = -1, .console_out = -1 };
	struct fuzz_in in = fuzz_in(data, size);
	struct vm *vm = NULL;
	struct fake *f;
	const char *why = NULL;
	unsigned flags = (unsigned)fuzz_take(&in, 1);

	if (vm_new(&cfg, &vm, &why) < 0) {
		fprintf(stderr, "fuzz-pci-config: cannot make a VM: %s\n", why ? why : "?");
		abort();
	}
	f = malloc(sizeof(*f));
	if (!f)
		abort();
	fake_init(f);
	if (flags & 1) {
		size_t got;
		const uint8_t *p = fuzz_bytes(&in, 256, &got);
		memcpy(f->cfg, p, got);
	}
	/* a hostile device may be refused (the backend is then freed): the accesses still go to the bus */
	(void)vm_vfio_pci_add_backend(vm, "0000:01:10.0", &fake_ops, f, &why);

	for (unsigned n = 0; in.left && n < 4096; n++) {
		unsigned kind = (unsigned)fuzz_take(&in, 1) % OP_KINDS;
		uint32_t addr = (uint32_t)fuzz_take(&in, 4);
		unsigned len = 1u << (fuzz_take(&in, 1) % 3); /* 1, 2, 4 */
		uint8_t d[8] = { 0 };
		uint32_t v = (uint32_t)fuzz_take(&in, 4);
		le32(d, v);
		switch (kind) {
		case OP_CONF1_WRITE:
		case OP_CONF1_READ:
			/* the address register, then one access to the data window */
			le32(d + 4, addr);
			vm_io_dispatch(vm, false, 0xcf8, d + 4, 4, true);
			vm_io_dispatch(vm, false, 0xcfc + (v >> 30 & 3) / len * len, d, len, kind == OP_CONF1_WRITE);
			break;
		case OP_ECAM_WRITE:
		case OP_ECAM_READ:
			vm_io_dispatch(vm, true, VM_ECAM_BASE + (addr & (VM_ECAM_SIZE - 1) & ~(uint32_t)(len - 1)), d, len,
				       kind == OP_ECAM_WRITE);
			break;
		case OP_MMIO_WRITE:
		case OP_MMIO_READ:
			vm_io_dispatch(vm, true, addr, d, len, kind == OP_MMIO_WRITE);
			break;
		case OP_PIO_WRITE:
		case OP_PIO_READ:
			vm_io_dispatch(vm, false, (uint16_t)addr, d, len, kind == OP_PIO_WRITE);
			break;
		}
	}
	vm_free(vm);
	return 0;
}
