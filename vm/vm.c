/* vm.c: the VM as a whole: the sequencer that builds it (KVM objects, RAM, devices, tables, vCPUs, boot),
 * the trapped-I/O bus, the console sink with panic detection, and the loop that runs it to its end. */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"
#include "vm/devices/devices.h"
#include "iommu/iommu.h"
#include "irq/irq.h"
#include "util/log.h"
#include "util/root.h"
#include "vm/devices/devices.h"

#define TSS_ADDR 0xfffbd000ull /* three pages KVM needs on Intel, in the hole below the BIOS area */
#define IDENTITY_MAP_ADDR 0xfffbc000ull
#define PANIC_START "Kernel panic - not syncing"
#define PANIC_END "---[ end Kernel panic"

int vm_exit_status(enum vm_exit_reason r)
{
	switch (r) {
	case VM_EXIT_POWEROFF: return 0;
	case VM_EXIT_REBOOT: return 3;
	case VM_EXIT_PANIC: return 4;
	case VM_EXIT_STOPPED: return 5;
	default: return 1;
	}
}

const char *vm_exit_reason_to_string(enum vm_exit_reason r)
{
	static const char *const s[] = { "poweroff", "reboot", "panic", "stopped", "error" };
	return (unsigned)r < ARRAY_SIZE(s) ? s[r] : "error";
}

const char *vm_name(const struct vm *vm) { return vm->name; }

bool vm_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 32 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}
unsigned vm_cpus(const struct vm *vm) { return vm->ncpus; }
uint64_t vm_memory_size(const struct vm *vm) { return vm->mem->size; }
const char *vm_exit_why(const struct vm *vm) { return vm->exit_why; }
int vm_kvm_fd(const struct vm *vm) { return vm->vm_fd; }

size_t vm_ram_regions(const struct vm *vm, const struct vm_ram_region **ret)
{
	*ret = vm->mem->regions;
	return vm->mem->nregions;
}

int vm_ram_info(const struct vm *vm, struct vm_ram_info *ret)
{
	return vm_memory_info(vm->mem, ret);
}

int vm_ram_prefault(struct vm *vm)
{
	return vm_memory_prefault(vm->mem);
}

const struct guestmem *vm_guestmem(const struct vm *vm)
{
	return vm->mem->gm;
}

void *vm_gpa_to_hva(const struct vm *vm, uint64_t gpa, uint64_t len)
{
	return vm_memory_hva(vm->mem, gpa, len);
}

/* ---- Trapped I/O ---- */

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int io_register(struct vm *vm, bool mmio, uint64_t base, uint64_t len, vm_io_fn fn, void *opaque)
{
	struct vm_io_range *t = mmio ? vm->mmio : vm->pio;
	size_t *n = mmio ? &vm->nmmio : &vm->npio;
	int r = 0;

	if (!len || !fn || base + len < base)
		return -EINVAL;
	pthread_rwlock_wrlock(&vm->bus_lock);
	for (size_t i = 0; i < *n && r == 0; i++)
		if (ranges_overlap(base, len, t[i].base, t[i].len))
			r = -EBUSY;
	if (r == 0 && *n == VM_MAX_IO_RANGES)
		r = -ENOSPC;
	if (r == 0)
		t[(*n)++] = (struct vm_io_range){ .base = base, .len = len, .fn = fn, .opaque = opaque };
	pthread_rwlock_unlock(&vm->bus_lock);
	return r;
}

static int io_unregister(struct vm *vm, bool mmio, uint64_t base)
{
	struct vm_io_range *t = mmio ? vm->mmio : vm->pio;
	size_t *n = mmio ? &vm->nmmio : &vm->npio;
	int r = -ENOENT;

	pthread_rwlock_wrlock(&vm->bus_lock);
	for (size_t i = 0; i < *n; i++)
		if (t[i].base == base) {
			t[i] = t[--*n];
			r = 0;
			break;
		}
	pthread_rwlock_unlock(&vm->bus_lock);
	return r;
}

int vm_pio_register(struct vm *vm, uint16_t port, uint16_t len, vm_io_fn fn, void *opaque)
{
	if ((uint32_t)port + len > 0x10000)
		return -EINVAL;
	return io_register(vm, false, port, len, fn, opaque);
}

int vm_mmio_register(struct vm *vm, uint64_t gpa, uint64_t len, vm_io_fn fn, void *opaque)
{
	return io_register(vm, true, gpa, len, fn, opaque);
}

int vm_mmio_unregister(struct vm *vm, uint64_t gpa)
{
	return io_unregister(vm, true, gpa);
}

int vm_pio_unregister(struct vm *vm, uint16_t port)
{
	return io_unregister(vm, false, port);
}

/* The range is copied out and the bus lock dropped before the handler runs: vCPUs never wait on each
 * other's devices, and a handler may change the bus (a BAR moved by a config write). The handler lock is
 * read-held throughout, so a device taken off the bus (hot removal) is freed only after vm_io_quiesce(). */
void vm_io_dispatch(struct vm *vm, bool mmio, uint64_t addr, uint8_t *data, unsigned len, bool is_write)
{
	const struct vm_io_range *t = mmio ? vm->mmio : vm->pio;
	struct vm_io_range hit = { .fn = NULL };
	size_t n;

	pthread_rwlock_rdlock(&vm->handler_lock);
	pthread_rwlock_rdlock(&vm->bus_lock);
	n = mmio ? vm->nmmio : vm->npio;
	for (size_t i = 0; i < n; i++) {
		/* The access must lie wholly inside the range: a straddling access is unclaimed. */
		if (addr >= t[i].base && addr - t[i].base < t[i].len && len <= t[i].len - (addr - t[i].base)) {
			hit = t[i];
			break;
		}
	}
	pthread_rwlock_unlock(&vm->bus_lock);
	if (hit.fn)
		hit.fn(hit.opaque, addr - hit.base, data, len, is_write);
	else if (!is_write)
		memset(data, 0xff, len);
	pthread_rwlock_unlock(&vm->handler_lock);
}

void vm_io_quiesce(struct vm *vm)
{
	pthread_rwlock_wrlock(&vm->handler_lock);
	pthread_rwlock_unlock(&vm->handler_lock);
}

static int ioeventfd(struct vm *vm, bool mmio, uint64_t addr, unsigned len, int efd, bool deassign)
{
	struct kvm_ioeventfd io = {
		.addr = addr,
		.len = len,
		.fd = efd,
		.flags = (mmio ? 0 : KVM_IOEVENTFD_FLAG_PIO) | (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0),
	};
	if (len != 0 && len != 1 && len != 2 && len != 4 && len != 8)
		return -EINVAL;
	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? negative_errno() : 0;
}

int vm_ioeventfd_add(struct vm *vm, bool mmio, uint64_t addr, unsigned len, int efd)
{
	return ioeventfd(vm, mmio, addr, len, efd, false);
}

int vm_ioeventfd_remove(struct vm *vm, bool mmio, uint64_t addr, unsigned len, int efd)
{
	return ioeventfd(vm, mmio, addr, len, efd, true);
}

/* ---- MSI routes: one table per VM (KVM_SET_GSI_ROUTING replaces it whole) ---- */

static int routes_get(struct vm *vm)
{
	if (vm->routes)
		return 0;
	return irq_routes_new(vm->vm_fd, 0, IRQ_ROUTES_IRQCHIP, &vm->routes);
}

int vm_msi_route_add(struct vm *vm, int efd, const struct irq_msi *msg, uint32_t *ret_gsi)
{
	int r;
	pthread_mutex_lock(&vm->routes_lock);
	r = routes_get(vm);
	if (r >= 0)
		r = irq_kvm_route_msi(vm->routes, efd, msg, ret_gsi);
	pthread_mutex_unlock(&vm->routes_lock);
	return r;
}

int vm_msi_route_update(struct vm *vm, uint32_t gsi, const struct irq_msi *msg)
{
	int r = -ENOENT;
	pthread_mutex_lock(&vm->routes_lock);
	if (vm->routes) {
		r = irq_routes_update_msi(vm->routes, gsi, msg);
		if (r >= 0)
			r = irq_routes_commit(vm->routes);
		if (r < 0)
			irq_routes_rollback(vm->routes);
	}
	pthread_mutex_unlock(&vm->routes_lock);
	return r;
}

int vm_msi_route_remove(struct vm *vm, uint32_t gsi, int efd)
{
	int r = -ENOENT;
	pthread_mutex_lock(&vm->routes_lock);
	if (vm->routes)
		r = irq_kvm_unroute_msi(vm->routes, gsi, efd);
	pthread_mutex_unlock(&vm->routes_lock);
	return r;
}

int vm_irq_line(struct vm *vm, unsigned gsi, int level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level ? 1 : 0 };
	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0 ? negative_errno() : 0;
}

int vm_map_memory(struct vm *vm, uint64_t gpa, uint64_t size, void *hva, bool readonly)
{
	struct kvm_userspace_memory_region m = {
		.slot = (uint32_t)vm->next_slot,
		.flags = readonly ? KVM_MEM_READONLY : 0,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
	};
	int slot = -1, r;

	if (!size || (gpa | size) & 0xfff)
		return -EINVAL;
	/* BARs come and go with every COMMAND toggle the guest makes: reuse freed slots. */
	pthread_mutex_lock(&vm->slots_lock);
	for (int s = 0; s < vm->next_slot && slot < 0; s++)
		if (vm->slot_gpa[s] == UINT64_MAX)
			slot = s;
	if (slot < 0 && vm->next_slot < (int)ARRAY_SIZE(vm->slot_gpa))
		slot = vm->next_slot;
	if (slot < 0) {
		pthread_mutex_unlock(&vm->slots_lock);
		return -ENOSPC;
	}
	m.slot = (uint32_t)slot;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &m) < 0) {
		r = negative_errno();
		pthread_mutex_unlock(&vm->slots_lock);
		return r;
	}
	vm->slot_gpa[slot] = gpa;
	if (slot == vm->next_slot)
		vm->next_slot++;
	pthread_mutex_unlock(&vm->slots_lock);
	return slot;
}

int vm_unmap_memory(struct vm *vm, uint64_t gpa)
{
	int r = -ENOENT;

	pthread_mutex_lock(&vm->slots_lock);
	for (int s = 0; s < vm->next_slot; s++) {
		if (vm->slot_gpa[s] != gpa)
			continue;
		struct kvm_userspace_memory_region m = { .slot = (uint32_t)s, .memory_size = 0 };
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &m) < 0) {
			r = negative_errno();
			break;
		}
		vm->slot_gpa[s] = UINT64_MAX;
		r = 0;
		break;
	}
	pthread_mutex_unlock(&vm->slots_lock);
	return r;
}

/* ---- Ending ---- */

/* The first reason wins; its why (NULL: none) is stored before the main loop is woken, and read only
 * once the vCPUs are joined. */
static void set_exit(struct vm *vm, enum vm_exit_reason reason, const char *why)
{
	int expected = 0;
	uint64_t one = 1;

	if (!atomic_compare_exchange_strong(&vm->state, &expected, 1 + (int)reason))
		return;
	if (why)
		snprintf(vm->exit_why, sizeof(vm->exit_why), "%s", why);
	if (write(vm->wake_fd, &one, sizeof(one)) < 0)
		log_debug("wake: %m");
}

void vm_set_exit(struct vm *vm, enum vm_exit_reason reason)
{
	set_exit(vm, reason, NULL);
}

void vm_set_exit_why(struct vm *vm, enum vm_exit_reason reason, const char *fmt, ...)
{
	char why[sizeof(vm->exit_why)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	set_exit(vm, reason, why);
}

void vm_request_stop(struct vm *vm)
{
	vm_set_exit(vm, VM_EXIT_STOPPED);
}

/* Rolling match of a fixed pattern over a byte stream (KMP with the fallback computed on the spot:
 * the patterns are short, and "---[" must still match after "----["). */
static bool stream_match(size_t *state, const char *pat, uint8_t c)
{
	size_t s = *state;

	for (;;) {
		if ((uint8_t)pat[s] == c) {
			s++;
			break;
		}
		if (s == 0)
			break;
		/* Longest proper prefix of pat[0, s) that is also a suffix of it. */
		size_t k = s - 1;
		while (k > 0 && memcmp(pat, pat + s - k, k) != 0)
			k--;
		s = k;
	}
	if (pat[s] == '\0') {
		*state = 0;
		return true;
	}
	*state = s;
	return false;
}

/* Writes to the console output without ever sleeping in write(): it waits for POLLOUT and writes at most
 * PIPE_BUF at a time (which a pipe with POLLOUT takes whole). Gives up on the rest once the VM has been
 * stopping for 2 s (a console nobody reads) or the output is gone. */
static void console_write(struct vm *vm, const uint8_t *p, size_t n)
{
	struct timespec now;
	time_t give_up = 0;

	while (n && !vm->cout_dead) {
		struct pollfd pfd = { .fd = vm->console_out, .events = POLLOUT };
		int k = poll(&pfd, 1, 100);
		ssize_t w;

		if (__atomic_load_n(&vm->cstop, __ATOMIC_RELAXED)) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (!give_up)
				give_up = now.tv_sec + 2;
			else if (now.tv_sec >= give_up) {
				log_debug("console: output is stuck, dropping the rest");
				vm->cout_dead = true;
				return;
			}
		}
		if (k < 0 && errno != EINTR) {
			vm->cout_dead = true;
			return;
		}
		if (k <= 0)
			continue;
		if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) {
			vm->cout_dead = true; /* a console that went away loses output; the guest goes on */
			return;
		}
		w = write(vm->console_out, p, n < PIPE_BUF ? n : PIPE_BUF);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0) {
			vm->cout_dead = true;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* The console writer: the only thread that waits on console_out (a stalled terminal or pipe), so the
 * vCPU printing never does. Clients get the same bytes without waiting; a slow one loses them. */
static void *console_writer(void *arg)
{
	struct vm *vm = arg;
	uint8_t chunk[4096];

	pthread_mutex_lock(&vm->lock);
	for (;;) {
		size_t n;

		while (!vm->clen && !vm->cstop)
			pthread_cond_wait(&vm->ccond, &vm->lock);
		if (!vm->clen)
			break;
		n = vm->clen < sizeof(chunk) ? vm->clen : sizeof(chunk);
		n = n < VM_CONSOLE_BUF - vm->chead ? n : VM_CONSOLE_BUF - vm->chead;
		memcpy(chunk, vm->cbuf + vm->chead, n);
		vm->chead = (vm->chead + n) % VM_CONSOLE_BUF;
		vm->clen -= n;
		for (size_t i = 0; i < VM_MAX_CONSOLE_CLIENTS; i++)
			if (vm->console_clients[i] >= 0 &&
			    send(vm->console_clients[i], chunk, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN) {
				close(vm->console_clients[i]);
				vm->console_clients[i] = -1;
			}
		pthread_mutex_unlock(&vm->lock);
		if (vm->console_out >= 0)
			console_write(vm, chunk, n);
		pthread_mutex_lock(&vm->lock);
	}
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

static int console_start(struct vm *vm)
{
	int r;
	if (vm->cwriter_started)
		return 0;
	r = -pthread_create(&vm->cwriter, NULL, console_writer, vm);
	if (r == 0)
		vm->cwriter_started = true;
	return r;
}

/* Drains what is buffered (as long as the output takes it: 2 s at most once stopping), then ends the writer. */
static void console_stop(struct vm *vm)
{
	if (!vm->cwriter_started)
		return;
	pthread_mutex_lock(&vm->lock);
	vm->cstop = true;
	pthread_cond_signal(&vm->ccond);
	pthread_mutex_unlock(&vm->lock);
	pthread_join(vm->cwriter, NULL);
	vm->cwriter_started = false;
	vm->cstop = false;
	if (vm->cdropped)
		log_debug("console: %" PRIu64 " bytes dropped (output slower than the guest)", vm->cdropped);
}

void vm_console_putc(struct vm *vm, uint8_t c)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->clen < VM_CONSOLE_BUF) {
		vm->cbuf[(vm->chead + vm->clen) % VM_CONSOLE_BUF] = c;
		if (vm->clen++ == 0)
			pthread_cond_signal(&vm->ccond);
	} else {
		vm->cdropped++;
	}
	pthread_mutex_unlock(&vm->lock);
	/* Panic: the start line marks the VM; the end line (or the reset panic=N asks for) ends it. */
	if (stream_match(&vm->panic_match, PANIC_START, c))
		vm->panicked = true;
	if (stream_match(&vm->panic_end_match, PANIC_END, c) && vm->panicked)
		vm->panic_ending = true;
	if (c == '\n' && vm->panic_ending)
		vm_set_exit(vm, VM_EXIT_PANIC);
}

/* ---- Building ---- */

struct vm *vm_free(struct vm *vm)
{
	if (!vm)
		return NULL;
	vm_vcpus_kick(vm);
	vm_vcpus_join(vm);
	console_stop(vm);
	vm_control_close_all(vm);
	for (unsigned i = 0; i < VM_MAX_CPUS; i++)
		vm_vcpu_destroy(&vm->vcpus[i]);
	for (size_t i = 0; i < VM_MAX_CONSOLE_CLIENTS; i++)
		if (vm->console_clients[i] >= 0)
			close(vm->console_clients[i]);
	if (vm->control_fd >= 0) {
		close(vm->control_fd);
		if (vm->control_path)
			unlink(vm->control_path);
	}
	free(vm->control_path);
	free(vm->port_exits);
	/* Devices first: their teardown (irqfd and ioeventfd deassign, VFIO) still talks to the VM fd. */
	vm_pci_free_devices(&vm->pci);
	vm_serial_destroy(&vm->serial);
	vm_hotplug_destroy(vm);
	irq_routes_free(vm->routes);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->wake_fd >= 0)
		close(vm->wake_fd);
	vm_memory_free(vm->mem);
	pthread_rwlock_destroy(&vm->bus_lock);
	pthread_rwlock_destroy(&vm->handler_lock);
	pthread_mutex_destroy(&vm->routes_lock);
	pthread_mutex_destroy(&vm->slots_lock);
	pthread_mutex_destroy(&vm->legacy_lock);
	pthread_cond_destroy(&vm->ccond);
	pthread_mutex_destroy(&vm->lock);
	free(vm->cbuf);
	free(vm->name);
	free(vm);
	return NULL;
}

static int open_kvm(struct vm *vm, const char **why)
{
	int r;
	vm->kvm_fd = root_open("/dev/kvm", O_RDWR, 0);
	if (vm->kvm_fd < 0) {
		*why = vm->kvm_fd == -ENOENT   ? "/dev/kvm does not exist (load kvm_intel or kvm_amd, or enable virtualization)"
		       : vm->kvm_fd == -EACCES ? "no permission to open /dev/kvm (join the kvm group or run as root)"
					       : "cannot open /dev/kvm";
		return vm->kvm_fd;
	}
	r = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION) {
		*why = "/dev/kvm speaks an unknown API version";
		return -ENOTSUP;
	}
	do
		vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	while (vm->vm_fd < 0 && errno == EINTR);
	if (vm->vm_fd < 0) {
		*why = "KVM_CREATE_VM failed";
		return negative_errno();
	}
	/* Intel needs the TSS and identity-map pages for real mode; both sit in the hole, never in RAM. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)TSS_ADDR) < 0 ||
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &(uint64_t){ IDENTITY_MAP_ADDR }) < 0) {
		*why = "KVM refused the TSS/identity-map addresses";
		return negative_errno();
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		*why = "KVM could not create the in-kernel interrupt controllers";
		return negative_errno();
	}
	struct kvm_pit_config pit = { .flags = 0 };
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		*why = "KVM could not create the in-kernel PIT";
		return negative_errno();
	}
	return 0;
}

static int add_ram(struct vm *vm, const struct vm_config *cfg, const char **why)
{
	int r = vm_memory_new(cfg, &vm->mem, why);
	if (r < 0)
		return r;
	for (size_t i = 0; i < vm->mem->nregions; i++) {
		struct vm_ram_region *g = &vm->mem->regions[i];
		r = vm_map_memory(vm, g->gpa, g->size, g->hva, false);
		if (r < 0) {
			*why = "KVM refused a guest memory slot";
			return r;
		}
	}
	return 0;
}

static int add_devices(struct vm *vm, const char **why)
{
	uint8_t *acpi = vm_memory_hva(vm->mem, ACPI_RSDP_ADDR, BOOT_BIOS_END - BOOT_BIOS_START);
	int r;

	vm_serial_init(&vm->serial, vm);
	if ((r = vm_pio_register(vm, VM_PORT_SERIAL, 8, vm_serial_io, &vm->serial)) < 0 ||
	    (r = vm_legacy_init(vm)) < 0 || (r = vm_pci_init(&vm->pci, vm)) < 0 || (r = vm_hotplug_init(vm)) < 0 ||
	    (r = vm_hotplug_control_init(vm)) < 0) {
		*why = "cannot set up the devices";
		return r;
	}
	if (!acpi)
		return -ENOMEM;
	r = vm_acpi_build(acpi, BOOT_BIOS_END - BOOT_BIOS_START, ACPI_RSDP_ADDR, vm->ncpus, vm->pci.mmio64_base,
			  VM_PCI_MMIO64_SIZE);
	if (r < 0) {
		*why = "cannot build the ACPI tables";
		return r;
	}
	return 0;
}

/* The NICs of the config, in its order: each model adds itself to the bus and starts its backend. */
static int add_nics(struct vm *vm, const struct vm_config *cfg, const char **why)
{
	for (size_t i = 0; i < cfg->nnics; i++) {
		const struct vm_nic_config *n = &cfg->nics[i];
		int r;

		switch (n->model) {
		case VM_NIC_E1000:
			r = vm_e1000_add(vm, n, (unsigned)i, why);
			break;
		case VM_NIC_VIRTIO:
		case VM_NIC_VHOST:
			r = vm_virtio_net_add(vm, n, (unsigned)i, why);
			break;
		default:
			*why = "unknown NIC model";
			r = -EINVAL;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int vm_new(const struct vm_config *cfg, struct vm **ret, const char **ret_why)
{
	_cleanup_vm_ struct vm *vm = NULL;
	const char *why = NULL, **w = ret_why ? ret_why : &why;
	int r;

	*w = NULL;
	if (!cfg->name || cfg->cpus == 0 || cfg->cpus > VM_MAX_CPUS) {
		*w = "vCPU count must be 1-64";
		return -EINVAL;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->kvm_fd = vm->vm_fd = vm->wake_fd = vm->control_fd = -1;
	for (unsigned i = 0; i < VM_MAX_CPUS; i++)
		vm->vcpus[i].fd = -1;
	for (size_t i = 0; i < VM_MAX_CONSOLE_CLIENTS; i++)
		vm->console_clients[i] = -1;
	for (size_t i = 0; i < VM_MAX_CONTROL_CONNS; i++)
		vm->control_conns[i].fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->ccond, NULL);
	pthread_mutex_init(&vm->legacy_lock, NULL);
	pthread_mutex_init(&vm->routes_lock, NULL);
	pthread_mutex_init(&vm->slots_lock, NULL);
	pthread_rwlock_init(&vm->bus_lock, NULL);
	pthread_rwlock_init(&vm->handler_lock, NULL);
	vm->ncpus = cfg->cpus;
	vm->sandbox = !cfg->no_sandbox;
	vm->console_in = cfg->console_in;
	vm->console_out = cfg->console_out;
	vm->name = strdup(cfg->name);
	vm->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->cbuf = malloc(VM_CONSOLE_BUF);
	if (!vm->name || vm->wake_fd < 0 || !vm->cbuf)
		return -ENOMEM;

	if ((r = open_kvm(vm, w)) < 0 || (r = add_ram(vm, cfg, w)) < 0 || (r = add_devices(vm, w)) < 0 ||
	    (r = add_nics(vm, cfg, w)) < 0)
		return r;
	/* Assigned devices: VFIO container, guest RAM mapped for DMA, each device on the bus, reset. */
	for (size_t i = 0; i < cfg->nassign; i++) {
		r = vm_vfio_pci_add(vm, cfg->assign[i], w);
		if (r < 0) {
			/* The reason outlives the VM (freed on return): a buffer of this thread's own. */
			static __thread char buf[192];
			snprintf(buf, sizeof(buf), "%s: %s", cfg->assign[i], *w ? *w : "cannot assign it");
			*w = buf;
			return r;
		}
	}
	for (unsigned i = 0; i < vm->ncpus; i++) {
		r = vm_vcpu_create(vm, i);
		if (r < 0) {
			*w = "cannot create the vCPUs";
			return r;
		}
	}
	if (cfg->kernel) {
		r = vm_boot_linux(vm, cfg->kernel, cfg->initrd, cfg->cmdline, w);
		if (r < 0)
			return r;
		vm->loaded = true;
	}
	*ret = TAKE_PTR(vm);
	return 0;
}

int vm_load_raw(struct vm *vm, const void *code, size_t len)
{
	uint8_t *dst = vm_memory_hva(vm->mem, VM_RAW_LOAD_ADDR, len);
	if (!dst)
		return -E2BIG;
	memcpy(dst, code, len);
	vm->loaded = true;
	return vm_boot_cpu_state(vm, VM_RAW_LOAD_ADDR, BOOT_ZERO_PAGE);
}

/* ---- Running ---- */

static void log_exit_counts(struct vm *vm)
{
	struct timespec now;
	double secs;

	if (log_get_level() < 2)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (double)(now.tv_sec - vm->started.tv_sec) + (double)(now.tv_nsec - vm->started.tv_nsec) / 1e9;
	log_debug("ran %.2f s; exits to the VMM: %" PRIu64 " port I/O, %" PRIu64 " MMIO, %" PRIu64 " interrupted",
		  secs, (uint64_t)vm->exits_io, (uint64_t)vm->exits_mmio, (uint64_t)vm->exits_other);
	for (unsigned n = 0; vm->port_exits && n < 8; n++) {
		unsigned best = 0;
		for (unsigned p = 1; p < 65536; p++)
			if (vm->port_exits[p] > vm->port_exits[best])
				best = p;
		if (!vm->port_exits[best])
			break;
		log_debug("  port 0x%04x: %u exits", best, vm->port_exits[best]);
		vm->port_exits[best] = 0;
	}
}

/* Console input: kept when the UART's FIFO is full and retried shortly, so nothing typed is lost. */
struct pending_input {
	uint8_t buf[256];
	size_t off, len;
};

static void feed_input(struct vm *vm, struct pending_input *p)
{
	if (p->off < p->len)
		p->off += vm_serial_input(&vm->serial, p->buf + p->off, p->len - p->off);
}

int vm_run(struct vm *vm, enum vm_exit_reason *ret)
{
	struct pending_input in = { .len = 0 };
	bool in_open = vm->console_in >= 0;
	int r;

	if (!vm->loaded)
		return -ENOEXEC;
	clock_gettime(CLOCK_MONOTONIC, &vm->started);
	if (log_get_level() >= 2 && !vm->port_exits)
		vm->port_exits = calloc(65536, sizeof(*vm->port_exits));
	r = console_start(vm);
	if (r < 0)
		return r;
	r = vm_vcpus_start(vm);
	if (r < 0)
		return r;
	while (!atomic_load(&vm->state)) {
		struct pollfd pfd[3 + VM_MAX_CONSOLE_CLIENTS + VM_MAX_CONTROL_CONNS];
		int clients[VM_MAX_CONSOLE_CLIENTS];
		size_t n = 0, client0, conn0;
		bool want_input = in.off == in.len;

		pfd[n++] = (struct pollfd){ .fd = vm->wake_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = in_open && want_input ? vm->console_in : -1, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = vm->control_fd, .events = POLLIN };
		client0 = n;
		pthread_mutex_lock(&vm->lock);
		memcpy(clients, vm->console_clients, sizeof(clients));
		pthread_mutex_unlock(&vm->lock);
		for (size_t i = 0; i < VM_MAX_CONSOLE_CLIENTS; i++)
			pfd[n++] = (struct pollfd){ .fd = want_input ? clients[i] : -1, .events = POLLIN };
		conn0 = n;
		for (size_t i = 0; i < VM_MAX_CONTROL_CONNS; i++)
			pfd[n++] = (struct pollfd){ .fd = vm->control_conns[i].fd, .events = POLLIN };
		/* At least once a second: the vCPU watch notes when each vCPU last made an exit. */
		if (poll(pfd, n, !want_input ? 10 : 1000) < 0 && errno != EINTR) {
			vm_set_exit(vm, VM_EXIT_ERROR);
			break;
		}
		vm_vcpus_watch(vm);
		feed_input(vm, &in);
		if (pfd[1].revents) {
			ssize_t k = read(vm->console_in, in.buf, sizeof(in.buf));
			if (k <= 0 && !(k < 0 && (errno == EINTR || errno == EAGAIN)))
				in_open = false; /* EOF: the guest keeps running without input */
			else if (k > 0) {
				in.off = 0;
				in.len = (size_t)k;
				feed_input(vm, &in);
			}
		}
		for (size_t i = 0; i < VM_MAX_CONTROL_CONNS; i++)
			vm_control_serve(vm, i, pfd[conn0 + i].revents);
		vm_control_expire(vm);
		if (pfd[2].revents)
			vm_control_accept(vm);
		for (size_t i = 0; i < VM_MAX_CONSOLE_CLIENTS; i++)
			if (pfd[client0 + i].revents && in.off == in.len) {
				ssize_t k = read(clients[i], in.buf, sizeof(in.buf));
				if (k <= 0) {
					pthread_mutex_lock(&vm->lock);
					if (vm->console_clients[i] == clients[i]) {
						close(clients[i]);
						vm->console_clients[i] = -1;
					}
					pthread_mutex_unlock(&vm->lock);
				} else {
					in.off = 0;
					in.len = (size_t)k;
					feed_input(vm, &in);
				}
			}
	}
	/* Stopped from outside: what each vCPU was doing, before the kick changes it. */
	bool stopped = atomic_load(&vm->state) - 1 == (int)VM_EXIT_STOPPED;
	if (stopped)
		vm_vcpus_note_stalls(vm);
	vm_vcpus_kick(vm);
	vm_vcpus_join(vm);
	console_stop(vm);
	log_exit_counts(vm);
	if (stopped && !vm->exit_why[0])
		vm_vcpus_describe_stalls(vm, vm->exit_why, sizeof(vm->exit_why));
	*ret = (enum vm_exit_reason)(atomic_load(&vm->state) - 1);
	/* panic=N reboots after a panic: that reset is the panic's, not a reboot. */
	if (*ret == VM_EXIT_REBOOT && vm->panicked)
		*ret = VM_EXIT_PANIC;
	return 0;
}
