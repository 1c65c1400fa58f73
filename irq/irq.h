/* irq.h: the irq module's one public header: eventfds per vector, VFIO_DEVICE_SET_IRQS, the KVM GSI
 * routing table (MSI routes), KVM irqfd with resample for INTx, and the host IRQs of a device. */
#pragma once

#include <linux/kvm.h>
#include <linux/vfio.h>

#include "util/pciaddr.h"
#include "util/util.h"

/* ---- Eventfds, one per vector ---- */

/* A set of eventfds (EFD_CLOEXEC|EFD_NONBLOCK), vector i -> fds[i]; the set owns them. */
struct irq_vectors;

int irq_vectors_new(unsigned count, struct irq_vectors **ret);
struct irq_vectors *irq_vectors_free(struct irq_vectors *v);
static inline void irq_vectors_freep(struct irq_vectors **v)
{
	irq_vectors_free(*v);
}
#define _cleanup_irq_vectors_ _cleanup_(irq_vectors_freep)

unsigned irq_vectors_count(const struct irq_vectors *v);
/* The eventfd of vector i, or -EINVAL when i is out of range. */
int irq_vectors_fd(const struct irq_vectors *v, unsigned i);
/* All eventfds in vector order, the layout VFIO_IRQ_SET_DATA_EVENTFD wants. */
const int32_t *irq_vectors_fds(const struct irq_vectors *v);
/* Reads and clears vector i's counter: 0 and *ret = 0 when nothing is pending. */
int irq_vectors_take(struct irq_vectors *v, unsigned i, uint64_t *ret);
/* Waits up to timeout_ms for vector i and takes its counter: 1 fired, 0 timed out. */
int irq_vectors_wait(struct irq_vectors *v, unsigned i, int timeout_ms, uint64_t *ret);
/* Adds 1 to vector i's counter, as the kernel does when the interrupt fires. */
int irq_vectors_signal(struct irq_vectors *v, unsigned i);
/* One eventfd outside a set (KVM's resample fd for INTx). */
int irq_eventfd_new(void);

/* ---- VFIO_DEVICE_SET_IRQS for INTx, MSI and MSI-X ---- */

enum irq_vfio_op {
	IRQ_VFIO_TRIGGER,   /* eventfds: fds[i] serves vector start+i; -1 de-assigns that vector */
	IRQ_VFIO_FIRE,      /* DATA_NONE trigger: the kernel signals the vectors' eventfds itself */
	IRQ_VFIO_DISABLE,   /* DATA_NONE trigger, count 0: the whole index off */
	IRQ_VFIO_MASK,      /* DATA_NONE over the range, or DATA_BOOL with one bool per vector */
	IRQ_VFIO_UNMASK,    /* likewise */
	IRQ_VFIO_UNMASK_FD, /* an eventfd that unmasks when signalled (KVM's resample fd for INTx) */
};

struct irq_vfio_req {
	enum irq_vfio_op op;
	uint32_t index; /* VFIO_PCI_INTX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX, VFIO_PCI_MSIX_IRQ_INDEX, ... */
	uint32_t start, count;
	const int32_t *fds;   /* TRIGGER and UNMASK_FD: count entries */
	const uint8_t *bools; /* MASK and UNMASK: NULL for DATA_NONE, else count entries */
};

/* Builds the VFIO_DEVICE_SET_IRQS argument, checked against the index's VFIO_DEVICE_GET_IRQ_INFO:
 * -EINVAL for a bad range, op or fd, -EOPNOTSUPP when the index cannot do it (no eventfd, not
 * maskable). *ret is malloc'd, argsz set. */
int irq_vfio_build(const struct irq_vfio_req *req, const struct vfio_irq_info *info, struct vfio_irq_set **ret);
int irq_vfio_apply(int device_fd, const struct vfio_irq_set *set);
/* Build, then apply: the usual way in. */
int irq_vfio_set(int device_fd, const struct vfio_irq_info *info, const struct irq_vfio_req *req);
int irq_vfio_get_info(int device_fd, uint32_t index, struct vfio_irq_info *ret);

/* ---- KVM: MSI messages, the GSI routing table, irqfd ---- */

/* An MSI message as the guest programs it into the device (or the device's MSI-X table). */
struct irq_msi {
	uint32_t address_lo, address_hi, data;
};

/* The x86 message for fixed delivery, physical destination mode, edge: -ERANGE for an APIC id
 * that needs extended destination bits (> 255), -EINVAL for vectors below 16 (reserved). */
int irq_msi_x86(uint32_t apic_id, unsigned vector, struct irq_msi *ret);

/* GSIs below this one belong to the in-kernel irqchip's pins (24 IOAPIC pins, the PICs' 16 among
 * them); the table hands out GSIs from here up. */
#define IRQ_GSI_FIRST 24u

enum {
	/* Keep the routes KVM_CREATE_IRQCHIP installs (GSI 0-15: PIC and IOAPIC, 16-23: IOAPIC):
	 * KVM_SET_GSI_ROUTING replaces the whole table, so a table without them would unwire the
	 * irqchip. Not for a split irqchip (its IOAPIC is in userspace; the kernel refuses them). */
	IRQ_ROUTES_IRQCHIP = 1 << 0,
};

struct irq_routes;

/* vm_fd: the KVM VM (-1 for a table that is only built, never committed: unit tests). max: the
 * table limit (entries and GSIs); 0 asks the kernel (KVM_CAP_IRQ_ROUTING), otherwise it is capped
 * at what the kernel allows. -EOPNOTSUPP without routing support, -ERANGE for a limit that cannot
 * hold the irqchip's 40 routes. Nothing reaches the kernel before the first commit. */
int irq_routes_new(int vm_fd, unsigned max, unsigned flags, struct irq_routes **ret);
struct irq_routes *irq_routes_free(struct irq_routes *t);
static inline void irq_routes_freep(struct irq_routes **t)
{
	irq_routes_free(*t);
}
#define _cleanup_irq_routes_ _cleanup_(irq_routes_freep)

unsigned irq_routes_limit(const struct irq_routes *t);
int irq_routes_vm_fd(const struct irq_routes *t);
/* Entries the next commit would hand the kernel (irqchip routes included). */
size_t irq_routes_count(const struct irq_routes *t);
/* Route changes not yet committed. A new table is clean: its first commit installs the irqchip
 * routes (if asked) and nothing else. */
bool irq_routes_dirty(const struct irq_routes *t);

/* The lowest free GSI at or above IRQ_GSI_FIRST; -ENOSPC when the table is full. */
int irq_routes_alloc_gsi(struct irq_routes *t, uint32_t *ret);
/* Releases the GSI and drops its route, if any (pending until commit). -ENOENT if not allocated. */
int irq_routes_release_gsi(struct irq_routes *t, uint32_t gsi);

/* MSI routes on allocated GSIs, one per GSI. add: -EEXIST if the GSI has one, -ENOENT if the GSI
 * was not allocated, -ENOSPC past the limit; update: -ENOENT without a route; remove: likewise.
 * All of them change only the table; commit hands it to the kernel. */
int irq_routes_add_msi(struct irq_routes *t, uint32_t gsi, const struct irq_msi *msg);
int irq_routes_update_msi(struct irq_routes *t, uint32_t gsi, const struct irq_msi *msg);
int irq_routes_remove(struct irq_routes *t, uint32_t gsi);
int irq_routes_get_msi(const struct irq_routes *t, uint32_t gsi, struct irq_msi *ret);

/* The KVM_SET_GSI_ROUTING argument for the current table, ordered by GSI. *ret is malloc'd. */
int irq_routes_build(const struct irq_routes *t, struct kvm_irq_routing **ret);
/* KVM_SET_GSI_ROUTING. On failure the kernel keeps its old table and so does the object's idea of
 * what is committed; the pending changes stay for the caller to fix or roll back. */
int irq_routes_commit(struct irq_routes *t);
/* Drops pending route changes: back to the last committed table (GSI allocations are kept). */
void irq_routes_rollback(struct irq_routes *t);

struct irq_kvm_caps {
	bool irqfd;          /* KVM_CAP_IRQFD */
	bool irqfd_resample; /* KVM_CAP_IRQFD_RESAMPLE */
	unsigned routes_max; /* KVM_CAP_IRQ_ROUTING: the table limit, 0 without routing */
};
int irq_kvm_caps(int vm_fd, struct irq_kvm_caps *ret);

/* KVM_IRQFD: an eventfd signal injects the GSI. resample_fd >= 0 makes it level-triggered (INTx):
 * KVM de-asserts the line at the guest's EOI and signals resample_fd, which unmasks the device
 * (IRQ_VFIO_UNMASK_FD). The resample form needs an irqchip GSI. */
int irq_irqfd_build(uint32_t gsi, int fd, int resample_fd, bool deassign, struct kvm_irqfd *ret);
int irq_irqfd_assign(int vm_fd, uint32_t gsi, int fd, int resample_fd);
int irq_irqfd_deassign(int vm_fd, uint32_t gsi, int fd);

/* One vector into the guest in one step, as the VMM does when the guest enables an MSI/MSI-X
 * vector: a fresh GSI, its MSI route committed, the vector's eventfd as that GSI's irqfd. All or
 * nothing: on failure the table, the GSI and the kernel are as before. *ret_gsi names the binding. */
int irq_kvm_route_msi(struct irq_routes *t, int fd, const struct irq_msi *msg, uint32_t *ret_gsi);
/* The reverse: irqfd off, route removed and committed, GSI released. */
int irq_kvm_unroute_msi(struct irq_routes *t, uint32_t gsi, int fd);

/* ---- Host IRQs of a PCI device and their affinity ---- */

enum irq_host_kind {
	IRQ_HOST_INTX,
	IRQ_HOST_MSI,
	IRQ_HOST_MSIX,
};

struct irq_host {
	unsigned irq;
	enum irq_host_kind kind;
	bool in_proc;    /* listed in /proc/interrupts (the fields below are from there) */
	uint64_t count;  /* summed over CPUs */
	char *chip;      /* e.g. IR-PCI-MSIX-0000:01:00.0 */
	char *hwirq;     /* e.g. 0-edge */
	char *actions;   /* the handlers' names, e.g. vfio-msix[0](0000:01:00.0); NULL if none */
	char *affinity;  /* /proc/irq/N/smp_affinity_list; NULL if unreadable */
	char *effective; /* /proc/irq/N/effective_affinity_list; NULL if absent */
};

/* The device's IRQs (msi_irqs/, else its INTx line), ordered by number. -ENODEV: no such device. */
int irq_host_list(const struct pci_addr *addr, struct irq_host **ret, size_t *ret_n);
void irq_host_list_free(struct irq_host *v, size_t n);
const char *irq_host_kind_name(enum irq_host_kind k);

/* Parses and checks a CPU list ("0-3,6"): -EINVAL if malformed or naming a CPU that is not online
 * (/sys/devices/system/cpu/online, when present). *ret is the canonical form. */
int irq_cpulist_normalize(const char *s, char **ret);
int irq_affinity_get(unsigned irq, char **ret);
int irq_affinity_set(unsigned irq, const char *cpulist);
/* Sets every IRQ in the list, restoring those already changed when one fails; *ret_failed (may be
 * NULL) then names the index of the IRQ that failed. */
int irq_affinity_set_all(const struct irq_host *v, size_t n, const char *cpulist, size_t *ret_failed);
