/* fake-vfio.c: see fake-vfio.h. */
#include "tests/lib/fake-vfio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vm/internal.h"

static uint8_t *fake_buf(struct fake_vfio *f, unsigned index, size_t *size)
{
	switch (index) {
	case VFIO_PCI_CONFIG_REGION_INDEX: *size = sizeof(f->cfg); return f->cfg;
	case 0: *size = sizeof(f->bar0); return f->bar0;
	case 1: *size = sizeof(f->bar1); return f->bar1;
	case 3: *size = sizeof(f->bar3); return f->bar3;
	default: *size = 0; return NULL;
	}
}

static int fake_read(void *be, unsigned index, uint64_t off, void *buf, size_t len)
{
	size_t size;
	uint8_t *p = fake_buf(be, index, &size);
	if (!p || off > size || len > size - off)
		return -EINVAL;
	memcpy(buf, p + off, len);
	return 0;
}

static int fake_write(void *be, unsigned index, uint64_t off, const void *buf, size_t len)
{
	struct fake_vfio *f = be;
	size_t size;
	uint8_t *p = fake_buf(f, index, &size);
	if (!p || off > size || len > size - off)
		return -EINVAL;
	if (index == VFIO_PCI_CONFIG_REGION_INDEX) {
		f->cfg_writes++;
		if (off == 4 && len == 2)
			f->last_cmd = get_le16(buf);
		return 0;
	}
	memcpy(p + off, buf, len);
	return 0;
}

static const struct vfio_region_desc *fake_region(void *be, unsigned index)
{
	struct fake_vfio *f = be;
	return index < VFIO_PCI_NUM_REGIONS ? &f->regions[index] : NULL;
}

static const struct vfio_irq_desc *fake_irq(void *be, unsigned index)
{
	struct fake_vfio *f = be;
	return index < VFIO_PCI_NUM_IRQS ? &f->irqs[index] : NULL;
}

/* What the kernel checks: the index exists and the vectors fit. */
static int fake_set_irqs(void *be, const struct irq_vfio_req *req)
{
	struct fake_vfio *f = be;

	if (req->index >= VFIO_PCI_NUM_IRQS ||
	    (req->op == IRQ_VFIO_TRIGGER && (uint64_t)req->start + req->count > f->irqs[req->index].count))
		return -EINVAL;
	if (f->ncalls < FAKE_VFIO_CALLS) {
		struct fake_vfio_irq_call *c = &f->calls[f->ncalls];
		*c = (struct fake_vfio_irq_call){ .op = req->op, .index = req->index, .count = req->count };
		for (unsigned i = 0; req->fds && i < req->count && i < 8; i++)
			c->fds[i] = req->fds[i];
	}
	f->ncalls++;
	return 0;
}

static int fake_reset(void *be)
{
	((struct fake_vfio *)be)->resets++;
	return 0;
}

/* Like vfio_device_bar_map over the whole region: anonymous memory stands in for the device's. */
static int fake_bar_map(void *be, unsigned index, struct vfio_bar_map **ret)
{
	struct fake_vfio *f = be;
	struct vfio_bar_map *m = calloc(1, sizeof(*m));

	if (!m || index >= VFIO_PCI_NUM_REGIONS)
		return free(m), -ENOMEM;
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
	f->maps++;
	*ret = m;
	return 0;
}

static void fake_free(void *be)
{
	struct fake_vfio *f = be;
	f->freed = true;
	if (f->free_on_release)
		free(f);
}

const struct vm_vfio_backend_ops fake_vfio_ops = {
	.region_read = fake_read, .region_write = fake_write, .region = fake_region, .irq = fake_irq,
	.set_irqs = fake_set_irqs, .reset = fake_reset, .bar_map = fake_bar_map, .free = fake_free,
};

void fake_vfio_init(struct fake_vfio *f)
{
	uint8_t *c = f->cfg;

	memset(f, 0, sizeof(*f));
	put_le16(c + 0x00, 0x8086);
	put_le16(c + 0x02, 0x10ca);
	put_le16(c + 0x06, 0x0010); /* capability list */
	put_le32(c + 0x08, 0x02000001);
	c[0x0e] = 0x80; /* multi-function bit: the guest sees a single function */
	put_le32(c + 0x10, 0x00000000); /* BAR0 MEM32 */
	put_le32(c + 0x14, 0x00000001); /* BAR1 I/O */
	put_le32(c + 0x1c, 0x0000000c); /* BAR3 MEM64 prefetchable */
	put_le32(c + 0x2c, 0x00018086);
	put_le32(c + 0x30, 0xfffe0001); /* a ROM, enabled */
	c[0x34] = 0x40;
	c[0x3d] = 1;
	c[0x40] = 0x01, c[0x41] = 0x50;            /* PM */
	put_le16(c + 0x44, 0x0008);                 /* PMCSR */
	c[0x50] = 0x05, c[0x51] = 0x70;            /* MSI: 64-bit, per-vector mask, 4 vectors */
	put_le16(c + 0x52, 0x0184);
	c[0x70] = 0x11, c[0x71] = 0xa0;            /* MSI-X: 3 vectors in BAR3 */
	put_le16(c + 0x72, 0x0002);
	put_le32(c + 0x74, 0x00000003);
	put_le32(c + 0x78, 0x00002003);
	c[0xa0] = 0x10, c[0xa1] = 0xd0;            /* PCI Express */
	put_le16(c + 0xa8, 0x2810);                 /* device control */
	c[0xd0] = 0x09, c[0xd1] = 0x00;            /* vendor specific: hidden */
	put_le32(c + 0x100, 0x0010 | 1u << 16 | 0x140u << 20); /* SR-IOV: hidden */
	put_le32(c + 0x140, 0x0001 | 2u << 16 | 0x180u << 20); /* AER */
	put_le32(c + 0x148, 0x12345678);
	put_le32(c + 0x180, 0x000e | 1u << 16);                /* ARI: hidden */
	for (unsigned i = 0; i < VFIO_PCI_NUM_REGIONS; i++)
		f->regions[i] = (struct vfio_region_desc){ .index = i };
	f->regions[VFIO_PCI_CONFIG_REGION_INDEX].size = 4096;
	f->regions[VFIO_PCI_CONFIG_REGION_INDEX].flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	f->regions[0].size = sizeof(f->bar0);
	f->regions[0].flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP;
	f->regions[1].size = sizeof(f->bar1);
	f->regions[1].flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	f->regions[3] = f->regions[0];
	f->regions[3].index = 3;
	f->regions[VFIO_PCI_ROM_REGION_INDEX].size = 0x10000;
	f->regions[VFIO_PCI_ROM_REGION_INDEX].flags = VFIO_REGION_INFO_FLAG_READ;
	for (unsigned i = 0; i < 8; i++)
		f->bar1[i] = (uint8_t)(0xa0 + i);
	f->irqs[VFIO_PCI_INTX_IRQ_INDEX] = (struct vfio_irq_desc){ VFIO_PCI_INTX_IRQ_INDEX,
		VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED, 1 };
	f->irqs[VFIO_PCI_MSI_IRQ_INDEX] = (struct vfio_irq_desc){ VFIO_PCI_MSI_IRQ_INDEX,
		VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE, 4 };
	f->irqs[VFIO_PCI_MSIX_IRQ_INDEX] = (struct vfio_irq_desc){ VFIO_PCI_MSIX_IRQ_INDEX,
		VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE, 3 };
}
