/* msix.c: MSI-X for the device models: the capability in config space, the vector table and PBA in a
 * BAR, and each vector's eventfd routed into KVM (irqfd on an MSI route) while enabled and unmasked. */
#include <inttypes.h>
#include <poll.h>

#include "internal.h"
#include "irq/irq.h"
#include "util/log.h"

#define MSIX_CAP_ID 0x11
#define MSIX_CAP_LEN 12
#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_FMASK 0x4000
#define MSIX_ENTRY 16
#define MSIX_VEC_CTRL_MASK 0x1
#define MSIX_MAX 2048

struct msix_vector {
	uint32_t addr_lo, addr_hi, data, ctrl;
	bool routed;
	uint32_t gsi;
	struct irq_msi msg; /* what the route carries */
};

struct vm_msix {
	struct vm_pci_device *dev;
	unsigned nvec, bar, cap;
	uint32_t table_off, pba_off;
	const struct vm_msix_ops *ops;
	void *opaque;
	bool enabled, fmask;
	struct irq_vectors *fds;
	struct msix_vector v[];
};

static bool vector_wanted(const struct vm_msix *m, const struct msix_vector *v)
{
	return m->enabled && !m->fmask && !(v->ctrl & MSIX_VEC_CTRL_MASK);
}

/* Routes or unroutes vector i to match what the guest programmed. An eventfd signalled while the vector
 * was masked is still signalled when its irqfd is attached, and KVM injects it then: that is the
 * pending bit being delivered on unmask. */
static void vector_sync(struct vm_msix *m, unsigned i)
{
	struct msix_vector *v = &m->v[i];
	struct irq_msi msg = { .address_lo = v->addr_lo, .address_hi = v->addr_hi, .data = v->data };
	int fd = irq_vectors_fd(m->fds, i), r = 0;

	if (vector_wanted(m, v)) {
		if (!v->routed) {
			r = vm_msi_route_add(m->dev->vm, fd, &msg, &v->gsi);
			v->routed = r >= 0;
		} else if (memcmp(&msg, &v->msg, sizeof(msg)) != 0) {
			r = vm_msi_route_update(m->dev->vm, v->gsi, &msg);
		}
		if (r >= 0)
			v->msg = msg;
	} else if (v->routed) {
		r = vm_msi_route_remove(m->dev->vm, v->gsi, fd);
		v->routed = false;
	}
	if (r < 0)
		log_debug("msix %s: vector %u: %s", m->dev->name ? m->dev->name : "?", i, strerror(-r));
}

static void sync_all(struct vm_msix *m)
{
	for (unsigned i = 0; i < m->nvec; i++)
		vector_sync(m, i);
}

int vm_msix_new(struct vm_pci_device *dev, unsigned nvec, unsigned bar, uint32_t table_off, uint32_t pba_off,
		const struct vm_msix_ops *ops, void *opaque, struct vm_msix **ret)
{
	uint64_t table_len = (uint64_t)nvec * MSIX_ENTRY, pba_len = ((uint64_t)nvec + 63) / 64 * 8;
	uint8_t cap[MSIX_CAP_LEN] = { MSIX_CAP_ID };
	struct vm_msix *m;
	int r;

	if (nvec == 0 || nvec > MSIX_MAX || bar >= VM_PCI_BARS || dev->bars[bar].type == VM_PCI_BAR_NONE ||
	    dev->bars[bar].type == VM_PCI_BAR_IO || (table_off | pba_off) & 7 ||
	    table_off + table_len > dev->bars[bar].size || pba_off + pba_len > dev->bars[bar].size ||
	    (table_off < pba_off + pba_len && pba_off < table_off + table_len))
		return -EINVAL;
	m = calloc(1, sizeof(*m) + nvec * sizeof(m->v[0]));
	if (!m)
		return -ENOMEM;
	*m = (struct vm_msix){ .dev = dev, .nvec = nvec, .bar = bar, .table_off = table_off, .pba_off = pba_off,
			       .ops = ops, .opaque = opaque };
	for (unsigned i = 0; i < nvec; i++)
		m->v[i].ctrl = MSIX_VEC_CTRL_MASK; /* vectors come out of reset masked */
	r = irq_vectors_new(nvec, &m->fds);
	if (r < 0) {
		free(m);
		return r;
	}
	put_le16(cap + 2, (uint16_t)(nvec - 1));
	put_le32(cap + 4, table_off | bar);
	put_le32(cap + 8, pba_off | bar);
	r = vm_pci_cap_add(dev, cap, sizeof(cap));
	if (r < 0) {
		vm_msix_free(m);
		return r;
	}
	m->cap = (unsigned)r;
	put_le16(dev->wmask + m->cap + 2, MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK);
	*ret = m;
	return 0;
}

struct vm_msix *vm_msix_free(struct vm_msix *m)
{
	if (!m)
		return NULL;
	for (unsigned i = 0; i < m->nvec; i++)
		if (m->v[i].routed)
			vm_msi_route_remove(m->dev->vm, m->v[i].gsi, irq_vectors_fd(m->fds, i));
	irq_vectors_free(m->fds);
	free(m);
	return NULL;
}

bool vm_msix_config_write(struct vm_msix *m, unsigned off, unsigned len, uint32_t value)
{
	uint16_t ctrl;
	bool was_enabled = m->enabled, was_masked = m->fmask;

	if (off >= m->cap + MSIX_CAP_LEN || off + len <= m->cap)
		return false;
	vm_pci_config_write_default(m->dev, off, len, value);
	ctrl = get_le16(m->dev->config + m->cap + 2);
	m->enabled = ctrl & MSIX_CTRL_ENABLE;
	m->fmask = ctrl & MSIX_CTRL_FMASK;
	if (m->enabled == was_enabled && m->fmask == was_masked)
		return true;
	/* Tell the model first (an assigned device gets its VFIO vectors), then route. */
	if (m->ops && m->ops->enable_changed)
		m->ops->enable_changed(m, m->opaque, m->enabled, m->fmask);
	sync_all(m);
	return true;
}

static bool fd_pending(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void table_access(struct vm_msix *m, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	unsigned i = (unsigned)(off / MSIX_ENTRY), w = (unsigned)(off % MSIX_ENTRY) / 4;
	struct msix_vector *v = &m->v[i];
	uint32_t *regs[4] = { &v->addr_lo, &v->addr_hi, &v->data, &v->ctrl };

	/* Dword or aligned qword accesses only (the spec's rule); anything else reads as zero and is dropped. */
	if (!((len == 4 && off % 4 == 0) || (len == 8 && off % 8 == 0))) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	for (unsigned k = 0; k < len / 4; k++, w++) {
		if (is_write)
			*regs[w] = w == 3 ? (get_le32(data + 4 * k) & MSIX_VEC_CTRL_MASK) : get_le32(data + 4 * k);
		else
			put_le32(data + 4 * k, *regs[w]);
	}
	if (is_write)
		vector_sync(m, i);
}

static void pba_access(struct vm_msix *m, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	if (is_write)
		return; /* read-only */
	for (unsigned b = 0; b < len; b++)
		for (unsigned bit = 0; bit < 8; bit++) {
			unsigned i = (unsigned)(off + b) * 8 + bit;
			if (bit == 0)
				data[b] = 0;
			if (i < m->nvec && !m->v[i].routed && fd_pending(irq_vectors_fd(m->fds, i)))
				data[b] |= (uint8_t)(1u << bit);
		}
}

bool vm_msix_bar_io(struct vm_msix *m, unsigned bar, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	uint64_t table_len = (uint64_t)m->nvec * MSIX_ENTRY, pba_len = ((uint64_t)m->nvec + 63) / 64 * 8;

	if (bar != m->bar)
		return false;
	if (off >= m->table_off && off - m->table_off < table_len) {
		if (len > table_len - (off - m->table_off)) {
			if (!is_write)
				memset(data, 0, len);
			return true;
		}
		table_access(m, off - m->table_off, data, len, is_write);
		return true;
	}
	if (off >= m->pba_off && off - m->pba_off < pba_len) {
		if (len > pba_len - (off - m->pba_off)) {
			if (!is_write)
				memset(data, 0, len);
			return true;
		}
		pba_access(m, off - m->pba_off, data, len, is_write);
		return true;
	}
	return false;
}

unsigned vm_msix_count(const struct vm_msix *m)
{
	return m->nvec;
}

int vm_msix_eventfd(const struct vm_msix *m, unsigned vec)
{
	return irq_vectors_fd(m->fds, vec);
}

int vm_msix_notify(struct vm_msix *m, unsigned vec)
{
	return irq_vectors_signal(m->fds, vec);
}

bool vm_msix_enabled(const struct vm_msix *m)
{
	return m->enabled;
}

int vm_msix_vector_info(const struct vm_msix *m, unsigned vec, struct vm_msix_vector_info *ret)
{
	const struct msix_vector *v;

	if (vec >= m->nvec)
		return -EINVAL;
	v = &m->v[vec];
	*ret = (struct vm_msix_vector_info){
		.address = (uint64_t)v->addr_hi << 32 | v->addr_lo,
		.data = v->data,
		.masked = !vector_wanted(m, v),
		.pending = !v->routed && fd_pending(irq_vectors_fd(m->fds, vec)),
		.gsi = v->routed ? (int)v->gsi : -1,
	};
	return 0;
}
