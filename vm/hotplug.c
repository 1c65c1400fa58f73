/* hotplug.c: ACPI PCI hot-plug on bus 0, the VMM's side of the DSDT's slot objects (acpi.c): a device
 * plugged in (device check), a device asked back (eject request), the guest's answer (_EJ0), removal. */
#include <inttypes.h>

#include "internal.h"
#include "util/log.h"

#define GPE_HOTPLUG 0x2 /* GPE0 bit 1: \_GPE._E01 */

enum {
	HP_PCIU = 0x0, /* read: slots to device-check (cleared by the read) */
	HP_PCID = 0x4, /* read: slots to eject-request (cleared by the read) */
	HP_B0EJ = 0x8, /* write: the guest's _EJ0: it has let go of these slots */
};

/* SCI is level-triggered: asserted while an enabled GPE status bit is set. Hot-plug lock held. */
static void sci_update(struct vm *vm)
{
	struct vm_hotplug *h = &vm->hotplug;
	int level = (h->gpe_sts & h->gpe_en) != 0;
	if (level != h->sci_level) {
		h->sci_level = level;
		vm_irq_line(vm, VM_IRQ_SCI, level);
	}
}

static void raise_gpe(struct vm *vm)
{
	vm->hotplug.gpe_sts |= GPE_HOTPLUG;
	sci_update(vm);
}

static uint32_t read_le(const uint8_t *d, unsigned len)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < len && i < 4; i++)
		v |= (uint32_t)d[i] << (8 * i);
	return v;
}

static void write_le(uint8_t *d, unsigned len, uint64_t v)
{
	for (unsigned i = 0; i < len; i++)
		d[i] = (uint8_t)(v >> (8 * i));
}

/* The slot registers, as the DSDT's Field declares them: dword accesses; anything else reads 0. */
static void hotplug_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct vm *vm = opaque;
	struct vm_hotplug *h = &vm->hotplug;
	uint32_t v = 0;

	pthread_mutex_lock(&h->lock);
	if (len == 4 && off % 4 == 0) {
		if (!is_write && off == HP_PCIU) {
			v = h->up;
			h->up = 0;
		} else if (!is_write && off == HP_PCID) {
			v = h->down;
			h->down = 0;
		} else if (is_write && off == HP_B0EJ) {
			uint32_t slots = read_le(data, len) & ~1u; /* the host bridge is not ejectable */
			/* The guest let go: of slots asked back, or of any present device it ejects on its own (as
			 * with a real attention button). An empty slot it "ejects" is logged and ignored. */
			uint32_t empty = slots & ~h->present;
			if (empty)
				log_debug("hotplug: guest ejected empty slots 0x%08x, ignoring", empty);
			h->ejected |= slots & h->present;
			h->eject_requested &= ~slots;
			pthread_cond_broadcast(&h->cond);
		}
	}
	pthread_mutex_unlock(&h->lock);
	if (!is_write)
		write_le(data, len, v);
}

/* GPE0 block: status bytes (write 1 to clear), then enable bytes. */
static void gpe_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct vm *vm = opaque;
	struct vm_hotplug *h = &vm->hotplug;

	pthread_mutex_lock(&h->lock);
	for (unsigned i = 0; i < len; i++) {
		uint64_t o = off + i;
		uint16_t *reg = o < 2 ? &h->gpe_sts : &h->gpe_en;
		unsigned shift = 8 * (unsigned)(o % 2);
		if (o >= VM_PORT_GPE0_LEN) {
			if (!is_write)
				data[i] = 0;
			continue;
		}
		if (!is_write)
			data[i] = (uint8_t)(*reg >> shift);
		else if (o < 2)
			*reg &= (uint16_t)~((uint16_t)data[i] << shift);
		else
			*reg = (uint16_t)((*reg & ~(0xff << shift)) | data[i] << shift);
	}
	sci_update(vm);
	pthread_mutex_unlock(&h->lock);
}

int vm_hotplug_init(struct vm *vm)
{
	struct vm_hotplug *h = &vm->hotplug;
	int r;

	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	h->ready = true;
	if ((r = vm_pio_register(vm, VM_PORT_HOTPLUG, 12, hotplug_io, vm)) < 0 ||
	    (r = vm_pio_register(vm, VM_PORT_GPE0, VM_PORT_GPE0_LEN, gpe_io, vm)) < 0)
		return r;
	return 0;
}

void vm_hotplug_destroy(struct vm *vm)
{
	struct vm_hotplug *h = &vm->hotplug;
	if (!h->ready)
		return;
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	h->ready = false;
}

void vm_hotplug_config_read(struct vm *vm, unsigned slot, unsigned off)
{
	struct vm_hotplug *h = &vm->hotplug;
	uint32_t bit = 1u << slot;

	/* The guest reading the vendor ID of a plugged slot: its OS has enumerated the device. Checked
	 * without the lock first: this runs for every config read. */
	if (off >= 2 || !h->ready || !(atomic_load(&h->announced) & bit))
		return;
	pthread_mutex_lock(&h->lock);
	if (h->announced & bit) {
		h->announced &= ~bit;
		h->seen |= bit;
		pthread_cond_broadcast(&h->cond);
	}
	pthread_mutex_unlock(&h->lock);
}

int vm_hotplug_announce(struct vm *vm, unsigned slot)
{
	struct vm_hotplug *h = &vm->hotplug;
	struct vm_pci_device *dev;

	if (slot == 0 || slot > 31)
		return -EINVAL;
	pthread_mutex_lock(&vm->pci.lock);
	dev = vm->pci.slots[slot];
	pthread_mutex_unlock(&vm->pci.lock);
	if (!dev)
		return -ENOENT;
	pthread_mutex_lock(&h->lock);
	h->present |= 1u << slot;
	h->ejected &= ~(1u << slot);
	h->seen &= ~(1u << slot);
	h->announced |= 1u << slot;
	h->up |= 1u << slot;
	raise_gpe(vm);
	pthread_mutex_unlock(&h->lock);
	log_debug("hotplug: %s plugged into slot %u", dev->name ? dev->name : "device", slot);
	return 0;
}

int vm_hotplug_add(struct vm *vm, struct vm_pci_device *dev, int slot)
{
	int r = vm_pci_add(vm, dev, slot);
	if (r < 0)
		return r;
	vm_hotplug_announce(vm, (unsigned)r);
	return r;
}

int vm_hotplug_request_eject(struct vm *vm, unsigned slot)
{
	struct vm_hotplug *h = &vm->hotplug;
	int r = 0;

	if (slot == 0 || slot > 31)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	if (!(h->present & (1u << slot)))
		r = -ENOENT;
	else if (!(h->ejected & (1u << slot))) {
		h->eject_requested |= 1u << slot;
		h->down |= 1u << slot;
		raise_gpe(vm);
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

enum vm_slot_state vm_hotplug_state(struct vm *vm, unsigned slot)
{
	struct vm_hotplug *h = &vm->hotplug;
	enum vm_slot_state s;
	uint32_t bit = 1u << slot;

	if (slot == 0 || slot > 31)
		return VM_SLOT_EMPTY;
	pthread_mutex_lock(&h->lock);
	s = !(h->present & bit)	       ? VM_SLOT_EMPTY
	    : h->ejected & bit	       ? VM_SLOT_EJECTED
	    : h->eject_requested & bit ? VM_SLOT_EJECT_REQUESTED
	    : h->seen & bit	       ? VM_SLOT_ACCEPTED
				       : VM_SLOT_PLUGGED;
	pthread_mutex_unlock(&h->lock);
	return s;
}

const char *vm_slot_state_to_string(enum vm_slot_state s)
{
	static const char *const n[] = { "empty", "plugged", "accepted", "eject-requested", "ejected" };
	return (unsigned)s < ARRAY_SIZE(n) ? n[s] : "unknown";
}

int vm_hotplug_wait(struct vm *vm, unsigned slot, enum vm_slot_state want, int timeout_ms)
{
	struct vm_hotplug *h = &vm->hotplug;
	struct timespec deadline;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	while (vm_hotplug_state(vm, slot) != want && r == 0) {
		pthread_mutex_lock(&h->lock);
		r = pthread_cond_timedwait(&h->cond, &h->lock, &deadline);
		pthread_mutex_unlock(&h->lock);
	}
	return vm_hotplug_state(vm, slot) == want ? 0 : -ETIMEDOUT;
}

int vm_hotplug_remove(struct vm *vm, unsigned slot, bool force, struct vm_pci_device **ret_dev)
{
	struct vm_hotplug *h = &vm->hotplug;
	struct vm_pci_device *dev;
	uint32_t bit = 1u << slot;
	int r;

	if (slot == 0 || slot > 31)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	if (!(h->present & bit))
		r = -ENOENT;
	else if (!(h->ejected & bit) && !force)
		r = -EBUSY; /* the guest still has it */
	else
		r = 0;
	pthread_mutex_unlock(&h->lock);
	if (r < 0)
		return r;
	pthread_mutex_lock(&vm->pci.lock);
	dev = vm->pci.slots[slot];
	pthread_mutex_unlock(&vm->pci.lock);
	if (!dev)
		return -ENOENT;
	r = vm_pci_remove(vm, dev); /* returns once no vCPU is inside the device any more */
	if (r < 0)
		return r;
	pthread_mutex_lock(&h->lock);
	h->present &= ~bit;
	h->ejected &= ~bit;
	h->eject_requested &= ~bit;
	h->announced &= ~bit;
	h->seen &= ~bit;
	h->up &= ~bit;
	h->down &= ~bit;
	/* Surprise removal: the guest is told the slot changed, so it rescans and finds it empty. */
	if (force) {
		h->up |= bit;
		raise_gpe(vm);
	}
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	log_debug("hotplug: slot %u removed%s", slot, force ? " (forced)" : "");
	*ret_dev = dev;
	return 0;
}
