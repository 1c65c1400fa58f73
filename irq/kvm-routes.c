/* kvm-routes.c: the KVM GSI routing table of one VM: GSI allocation, MSI routes, and the commit that
 * hands the kernel the whole table (KVM_SET_GSI_ROUTING replaces it, irqchip routes included). */
#include <sys/ioctl.h>

#include "irq/irq.h"
#include "util/log.h"

/* The in-kernel irqchip on x86: two 8-pin PICs wired to GSI 0-15, one 24-pin IOAPIC on GSI 0-23. */
#define PIC_PINS 8u
#define IOAPIC_PINS 24u
#define IRQCHIP_ENTRIES (2 * PIC_PINS + IOAPIC_PINS)

struct route {
	uint32_t gsi;
	struct irq_msi msg;
};

struct route_list {
	struct route *v;
	size_t n, cap;
};

struct irq_routes {
	int vm_fd;
	unsigned limit, flags;
	uint64_t *gsi_used; /* limit bits */
	struct route_list pending, committed;
	bool dirty; /* route changes since the last commit (or since creation) */
};

static bool gsi_test(const struct irq_routes *t, uint32_t gsi)
{
	return gsi < t->limit && (t->gsi_used[gsi / 64] >> (gsi % 64) & 1);
}

static void gsi_mark(struct irq_routes *t, uint32_t gsi, bool used)
{
	if (used)
		t->gsi_used[gsi / 64] |= 1ull << (gsi % 64);
	else
		t->gsi_used[gsi / 64] &= ~(1ull << (gsi % 64));
}

static int list_copy(struct route_list *dst, const struct route_list *src)
{
	if (dst->cap < src->n) {
		struct route *v = reallocarray(dst->v, src->n, sizeof(*v));
		if (!v)
			return -ENOMEM;
		dst->v = v;
		dst->cap = src->n;
	}
	if (src->n)
		memcpy(dst->v, src->v, src->n * sizeof(*src->v));
	dst->n = src->n;
	return 0;
}

/* Index of gsi's route, or where it would be inserted (as ~index) to keep the list ordered. */
static ssize_t list_find(const struct route_list *l, uint32_t gsi)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->v[mid].gsi == gsi)
			return (ssize_t)mid;
		if (l->v[mid].gsi < gsi)
			lo = mid + 1;
		else
			hi = mid;
	}
	return ~(ssize_t)lo;
}

static size_t irqchip_entries(const struct irq_routes *t)
{
	return t->flags & IRQ_ROUTES_IRQCHIP ? IRQCHIP_ENTRIES : 0;
}

int irq_routes_new(int vm_fd, unsigned max, unsigned flags, struct irq_routes **ret)
{
	struct irq_routes *t;
	unsigned limit = max;

	if (flags & ~(unsigned)IRQ_ROUTES_IRQCHIP)
		return -EINVAL;
	if (vm_fd >= 0) {
		int k = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING);
		if (k < 0)
			return negative_errno();
		if (k == 0) {
			log_debug("KVM_CAP_IRQ_ROUTING: not supported");
			return -EOPNOTSUPP;
		}
		if (limit == 0 || limit > (unsigned)k)
			limit = (unsigned)k;
	}
	if (limit == 0)
		return -EINVAL;
	if (limit < irqchip_entries(&(struct irq_routes){ .flags = flags }) || limit > (1u << 24)) {
		log_debug("routing table limit %u cannot hold the irqchip's routes", limit);
		return -ERANGE;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->gsi_used = calloc((limit + 63) / 64, sizeof(uint64_t));
	if (!t->gsi_used) {
		free(t);
		return -ENOMEM;
	}
	t->vm_fd = vm_fd;
	t->limit = limit;
	t->flags = flags;
	log_debug("routing table: limit %u, irqchip routes %s", limit, flags & IRQ_ROUTES_IRQCHIP ? "kept" : "none");
	*ret = t;
	return 0;
}

struct irq_routes *irq_routes_free(struct irq_routes *t)
{
	if (!t)
		return NULL;
	free(t->gsi_used);
	free(t->pending.v);
	free(t->committed.v);
	free(t);
	return NULL;
}

unsigned irq_routes_limit(const struct irq_routes *t)
{
	return t->limit;
}

int irq_routes_vm_fd(const struct irq_routes *t)
{
	return t->vm_fd;
}

size_t irq_routes_count(const struct irq_routes *t)
{
	return irqchip_entries(t) + t->pending.n;
}

bool irq_routes_dirty(const struct irq_routes *t)
{
	return t->dirty;
}

int irq_routes_alloc_gsi(struct irq_routes *t, uint32_t *ret)
{
	for (uint32_t gsi = IRQ_GSI_FIRST; gsi < t->limit; gsi++)
		if (!gsi_test(t, gsi)) {
			gsi_mark(t, gsi, true);
			*ret = gsi;
			return 0;
		}
	log_debug("routing table: all %u GSIs in use", t->limit);
	return -ENOSPC;
}

int irq_routes_release_gsi(struct irq_routes *t, uint32_t gsi)
{
	ssize_t i;

	if (gsi < IRQ_GSI_FIRST || !gsi_test(t, gsi))
		return -ENOENT;
	i = list_find(&t->pending, gsi);
	if (i >= 0)
		irq_routes_remove(t, gsi);
	gsi_mark(t, gsi, false);
	return 0;
}

static int check_msi(const struct irq_msi *msg)
{
	/* Without this the kernel would take a zero address as a valid (and useless) message. */
	if (!msg || (msg->address_lo == 0 && msg->address_hi == 0))
		return -EINVAL;
	return 0;
}

int irq_routes_add_msi(struct irq_routes *t, uint32_t gsi, const struct irq_msi *msg)
{
	struct route_list *l = &t->pending;
	ssize_t i;

	if (check_msi(msg) < 0)
		return -EINVAL;
	if (gsi < IRQ_GSI_FIRST || !gsi_test(t, gsi))
		return -ENOENT;
	i = list_find(l, gsi);
	if (i >= 0)
		return -EEXIST;
	if (irq_routes_count(t) + 1 > t->limit) {
		log_debug("routing table: %zu entries, limit %u", irq_routes_count(t), t->limit);
		return -ENOSPC;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct route *v = reallocarray(l->v, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	i = ~i;
	memmove(l->v + i + 1, l->v + i, (l->n - (size_t)i) * sizeof(*l->v));
	l->v[i] = (struct route){ .gsi = gsi, .msg = *msg };
	l->n++;
	t->dirty = true;
	return 0;
}

int irq_routes_update_msi(struct irq_routes *t, uint32_t gsi, const struct irq_msi *msg)
{
	ssize_t i;

	if (check_msi(msg) < 0)
		return -EINVAL;
	i = list_find(&t->pending, gsi);
	if (i < 0)
		return -ENOENT;
	t->pending.v[i].msg = *msg;
	t->dirty = true;
	return 0;
}

int irq_routes_remove(struct irq_routes *t, uint32_t gsi)
{
	struct route_list *l = &t->pending;
	ssize_t i = list_find(l, gsi);

	if (i < 0)
		return -ENOENT;
	memmove(l->v + i, l->v + i + 1, (l->n - (size_t)i - 1) * sizeof(*l->v));
	l->n--;
	t->dirty = true;
	return 0;
}

int irq_routes_get_msi(const struct irq_routes *t, uint32_t gsi, struct irq_msi *ret)
{
	ssize_t i = list_find(&t->pending, gsi);

	if (i < 0)
		return -ENOENT;
	*ret = t->pending.v[i].msg;
	return 0;
}

static struct kvm_irq_routing_entry irqchip_entry(uint32_t gsi, uint32_t chip, uint32_t pin)
{
	return (struct kvm_irq_routing_entry){
		.gsi = gsi,
		.type = KVM_IRQ_ROUTING_IRQCHIP,
		.u.irqchip = { .irqchip = chip, .pin = pin },
	};
}

int irq_routes_build(const struct irq_routes *t, struct kvm_irq_routing **ret)
{
	size_t n = irq_routes_count(t), k = 0;
	struct kvm_irq_routing *r;

	if (n > t->limit)
		return -ENOSPC;
	r = calloc(1, sizeof(*r) + n * sizeof(r->entries[0]));
	if (!r)
		return -ENOMEM;
	*r = (struct kvm_irq_routing){ .nr = (uint32_t)n, .flags = 0 };
	if (t->flags & IRQ_ROUTES_IRQCHIP)
		for (uint32_t gsi = 0; gsi < IOAPIC_PINS; gsi++) {
			if (gsi < PIC_PINS)
				r->entries[k++] = irqchip_entry(gsi, KVM_IRQCHIP_PIC_MASTER, gsi);
			else if (gsi < 2 * PIC_PINS)
				r->entries[k++] = irqchip_entry(gsi, KVM_IRQCHIP_PIC_SLAVE, gsi - PIC_PINS);
			r->entries[k++] = irqchip_entry(gsi, KVM_IRQCHIP_IOAPIC, gsi);
		}
	for (size_t i = 0; i < t->pending.n; i++) {
		const struct route *rt = &t->pending.v[i];
		r->entries[k++] = (struct kvm_irq_routing_entry){
			.gsi = rt->gsi,
			.type = KVM_IRQ_ROUTING_MSI,
			.flags = 0, /* no KVM_MSI_VALID_DEVID: only GICv3 ITS needs a device id */
			.u.msi = {
				.address_lo = rt->msg.address_lo,
				.address_hi = rt->msg.address_hi,
				.data = rt->msg.data,
			},
		};
	}
	*ret = r;
	return 0;
}

int irq_routes_commit(struct irq_routes *t)
{
	_cleanup_free_ struct kvm_irq_routing *r = NULL;
	int ret;

	if (t->vm_fd < 0)
		return -EBADF;
	ret = irq_routes_build(t, &r);
	if (ret < 0)
		return ret;
	if (ioctl(t->vm_fd, KVM_SET_GSI_ROUTING, r) < 0) {
		ret = negative_errno();
		log_debug("KVM_SET_GSI_ROUTING with %u entries: %s", r->nr, strerror(-ret));
		return ret;
	}
	ret = list_copy(&t->committed, &t->pending);
	if (ret < 0)
		return ret; /* the kernel has the table; the object merely stays dirty */
	t->dirty = false;
	log_debug("KVM_SET_GSI_ROUTING: %u entries", r->nr);
	return 0;
}

void irq_routes_rollback(struct irq_routes *t)
{
	/* The committed list is never longer than a buffer pending already held, unless allocation
	 * fails, in which case pending keeps its changes and stays dirty. */
	if (list_copy(&t->pending, &t->committed) < 0)
		return;
	for (size_t i = 0; i < t->pending.n; i++)
		gsi_mark(t, t->pending.v[i].gsi, true);
	t->dirty = false;
}

int irq_msi_x86(uint32_t apic_id, unsigned vector, struct irq_msi *ret)
{
	if (apic_id > 0xff)
		return -ERANGE;
	if (vector < 16 || vector > 0xff)
		return -EINVAL;
	/* Address: 0xfee in bits 31:20, destination id in 19:12, physical mode (bit 2 clear).
	 * Data: vector in 7:0, delivery mode fixed (10:8 = 0), edge (bit 15 clear). */
	*ret = (struct irq_msi){
		.address_lo = 0xfee00000u | apic_id << 12,
		.address_hi = 0,
		.data = vector,
	};
	return 0;
}
