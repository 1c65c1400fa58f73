/* vm.h: the vm module's one public header: ptctl's own KVM virtual machines (guest RAM, vCPUs,
 * direct Linux boot, serial console, ACPI power control, PCI bus) and the control socket of a running VM. */
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include "util/pciaddr.h"
#include "util/util.h"

/* ---- Guest physical layout ----
 * RAM [0, min(memory, 3G)) and, for larger guests, [4G, 4G + rest); the hole between 3G and 4G holds
 * the 32-bit PCI window, ECAM, the IOAPIC and the LAPIC. IOVA = guest-physical for VFIO, so the RAM
 * regions below are exactly what a container maps. */
#define VM_LOW_RAM_END 0xc0000000ull    /* 3 GiB */
#define VM_HIGH_RAM_START 0x100000000ull /* 4 GiB */
#define VM_PCI_MMIO32_START 0xc0000000ull
#define VM_PCI_MMIO32_END 0xe0000000ull /* exclusive */
#define VM_ECAM_BASE 0xe0000000ull     /* one bus: 1 MiB */
#define VM_ECAM_SIZE 0x100000ull
#define VM_IOAPIC_BASE 0xfec00000ull
#define VM_LAPIC_BASE 0xfee00000ull
#define VM_PCI_MMIO64_SIZE (64ull << 30) /* above RAM, 1 GiB aligned */

/* Fixed guest I/O ports (documented in the ACPI tables the guest reads). */
#define VM_PORT_SERIAL 0x3f8
#define VM_IRQ_SERIAL 4
#define VM_PORT_ACPI_PM 0x600 /* PM1a event (4), PM1a control (2), PM timer (4), reset register (1) */
#define VM_PORT_ACPI_PM_LEN 0x10
#define VM_PORT_PM1A_EVT (VM_PORT_ACPI_PM + 0)
#define VM_PORT_PM1A_CNT (VM_PORT_ACPI_PM + 4)
#define VM_PORT_PM_TMR (VM_PORT_ACPI_PM + 8)
#define VM_PORT_RESET (VM_PORT_ACPI_PM + 0xc)
#define VM_RESET_VALUE 0x0e
#define VM_SLP_TYP_S5 5 /* the \_S5 value in our DSDT */
#define VM_IRQ_SCI 9
#define VM_PORT_HOTPLUG 0x610 /* PCI hot-plug: device-check bitmap (4), eject-request bitmap (4), eject ack (4) */
#define VM_PORT_GPE0 0x620    /* GPE0 block: status (2), enable (2); bit 1 is the hot-plug event */
#define VM_PORT_GPE0_LEN 4

#define VM_MAX_CPUS 64

/* ---- Running a VM ---- */

struct vm;

/* How a guest ended. The CLI turns these into its exit status (see vm_exit_status()). */
enum vm_exit_reason {
	VM_EXIT_POWEROFF, /* ACPI S5: SLP_EN with SLP_TYP of \_S5 in PM1a control */
	VM_EXIT_REBOOT,   /* i8042 0xfe, the ACPI reset register, or a triple fault */
	VM_EXIT_PANIC,    /* "Kernel panic - not syncing" on the serial console, then a reset or the panic's end line */
	VM_EXIT_STOPPED,  /* stopped from outside: vm_request_stop(), `ptctl vm stop`, SIGINT/SIGTERM */
	VM_EXIT_ERROR,    /* the VMM gave up: KVM entry failure, internal error, bad guest state */
};

/* 0 poweroff, 3 reboot, 4 panic, 5 stopped, 1 VMM error (2 stays "bad usage" for the CLI). */
int vm_exit_status(enum vm_exit_reason r);
const char *vm_exit_reason_to_string(enum vm_exit_reason r);

/* What backs guest RAM (vm_ram_info() says what a VM got, and why). */
enum vm_ram_backing {
	VM_RAM_AUTO,       /* per host: reserved hugetlb pages, else anonymous THP, else shmem THP, else 4K */
	VM_RAM_ANON,       /* anonymous memory (THP where enabled); vm_ram_region.fd is -1 */
	VM_RAM_MEMFD,      /* a memfd (shmem THP where enabled) */
	VM_RAM_HUGETLB_2M, /* reserved 2M hugetlb pages */
	VM_RAM_HUGETLB_1G, /* reserved 1G hugetlb pages */
};

struct vm_config {
	const char *name;
	const char *kernel;  /* bzImage or vmlinux ELF; NULL: none (a raw payload is loaded with vm_load_raw()) */
	const char *initrd;  /* optional */
	const char *cmdline; /* optional; console=ttyS0 is the caller's choice */
	uint64_t memory;     /* bytes, multiple of 2 MiB */
	unsigned cpus;       /* 1..VM_MAX_CPUS */
	enum vm_ram_backing backing; /* what backs guest RAM: VM_RAM_AUTO (0) chooses per host */
	uint64_t hugepage_size; /* 0, or 2 MiB / 1 GiB: hugetlb of that size (as backing VM_RAM_HUGETLB_*) */
	bool prefault;       /* fault all RAM in before boot, in parallel (done anyway when devices are assigned:
			      * VFIO pins it) */
	int console_in;      /* fd the serial console reads from, -1 for none */
	int console_out;     /* fd the serial console writes to, -1 for none */
	bool no_sandbox;     /* vCPU threads run without their seccomp filter (debugging only) */
	/* Devices on the guest's PCI bus, in slot order after the host bridge. */
	const struct vm_nic_config *nics; /* emulated and paravirtual NICs (vm/devices/) */
	size_t nnics;
	const char *const *assign;        /* PCI addresses ("0000:03:00.0") of devices already bound to vfio-pci
					   * by the caller (the checks of `ptctl bind`), given to the guest */
	size_t nassign;
};

/* ---- NICs the VMM emulates (for the emulated / paravirtual / pass-through comparison) ---- */
enum vm_nic_model {
	VM_NIC_E1000,  /* Intel 82540EM, trap-and-emulate, INTx */
	VM_NIC_VIRTIO, /* virtio-net-pci (modern), the VMM's own data path on a tap */
	VM_NIC_VHOST,  /* virtio-net-pci with the kernel's vhost-net data path on a tap */
};
struct vm_nic_config {
	enum vm_nic_model model;
	const char *tap;   /* tap interface name: created by the VMM if absent (and removed at the end); NULL: generated */
	uint8_t mac[6];
	bool has_mac;      /* false: a locally administered MAC derived from the VM name and NIC index */
};
/* Parses the command line's NIC form MODEL[,tap=NAME][,mac=XX:XX:XX:XX:XX:XX] (MODEL: e1000, virtio,
 * vhost). spec is split in place and ret->tap points into it. -EINVAL with *why naming what is wrong
 * (unknown model or key, a tap name that is no interface name, a malformed or multicast MAC). */
int vm_nic_parse(char *spec, struct vm_nic_config *ret, const char **why);
const char *vm_nic_model_to_string(enum vm_nic_model m);

/* Does this build link the model (or the vfio-pci model for cfg->assign)? 0, or -EOPNOTSUPP with *why
 * (if not NULL) saying what is missing: callers report the path as unavailable instead of booting. */
int vm_nic_model_available(enum vm_nic_model m, const char **why);
int vm_assign_available(const char **why);

/* Creates the VM: RAM, KVM objects, devices, ACPI tables, vCPUs and (with a kernel) the boot state.
 * Errors: -ENOENT/-EACCES (no /dev/kvm or no permission), -ENOEXEC (not a bzImage),
 * -ENOMEM (memory over what the host has), -E2BIG (initrd/cmdline do not fit), -EINVAL (config).
 * *ret_why (if not NULL) names the failed step in words for the user, or is NULL. */
int vm_new(const struct vm_config *cfg, struct vm **ret, const char **ret_why);
struct vm *vm_free(struct vm *vm);
static inline void vm_freep(struct vm **vm)
{
	vm_free(*vm);
}
#define _cleanup_vm_ _cleanup_(vm_freep)

/* Loads a raw 64-bit payload at VM_RAW_LOAD_ADDR and points vCPU 0 at it in long mode with the same
 * flat segments and identity map a Linux kernel gets. Used by tests and for firmware-less payloads. */
#define VM_RAW_LOAD_ADDR 0x100000ull
int vm_load_raw(struct vm *vm, const void *code, size_t len);

/* Runs the vCPU threads and the console/control loop until the guest ends; returns how it ended.
 * A negative return means the VM could not be started at all. */
int vm_run(struct vm *vm, enum vm_exit_reason *ret);
/* Confines the calling thread (no new privileges, a seccomp filter: no open, socket, exec, fork, kill;
 * refused calls fail with EPERM). Every vCPU thread runs under it; device models call it at the start of
 * their own data-path threads, after opening what they need. */
int vm_sandbox_thread(void);
/* Thread- and async-signal-safe: ends vm_run() with VM_EXIT_STOPPED. */
void vm_request_stop(struct vm *vm);

/* Serves the control socket at path while vm_run() runs (see vm/control.c for the protocol). */
int vm_control_listen(struct vm *vm, const char *path);
/* Adds a control command ("show", ...): fn runs on the VM's event loop thread (it must not wait for
 * long), gets the rest of the line in args, and puts a malloc'd reply in *reply (a newline is added if
 * missing). A negative return without a reply answers "error <strerror>". Before vm_run(). */
typedef int (*vm_control_fn)(struct vm *vm, const char *args, char **reply, void *opaque);
int vm_control_register(struct vm *vm, const char *command, vm_control_fn fn, void *opaque);
const char *vm_name(const struct vm *vm);
unsigned vm_cpus(const struct vm *vm);
uint64_t vm_memory_size(const struct vm *vm);
/* KVM's binary statistic name ("exits", "io_exits", "halt_exits", ...) summed over the VM's vCPUs
 * (KVM_GET_STATS_FD); callable while vm_run() runs. -ENOENT: no such statistic; -ENOTTY: kernel < 5.14. */
int vm_vcpu_stat_sum(const struct vm *vm, const char *name, uint64_t *ret);
/* Why the guest ended, after vm_run(), when the VMM knows: for VM_EXIT_ERROR why the VMM gave up, for
 * VM_EXIT_REBOOT what reset the guest ("triple fault on vCPU 0 at rip=...", "i8042 reset pulse",
 * "ACPI reset register"), for VM_EXIT_STOPPED the vCPU that had gone longest, 2 s or more, without an
 * exit before the stop ("vCPU 0 had made no exit for 165.2 s: not run by the host (0.0 of 164.6 s on a
 * CPU, rip=...)"); "" otherwise. */
const char *vm_exit_why(const struct vm *vm);

/* `ptctl vm show`: devices (assigned ones with guest slot, BARs and every interrupt), the memory map
 * (GPA -> host virtual -> host-physical runs, IOMMU-mapped, page size). Callable while vm_run() runs. */
struct json_object;
int vm_show_json(struct vm *vm, struct json_object **ret);

/* ---- Control socket client (ptctl vm stop/console/list) ---- */

/* Sends one command line ("status", "stop") and returns the reply line (without newline). */
int vm_control_request(const char *path, const char *command, char **ret_reply);
int vm_control_request_timeout(const char *path, const char *command, int timeout_ms, char **ret_reply);
/* A VM name: 1-32 of [A-Za-z0-9._-], not starting with '.' or '-' (it names a folder under /run/ptctl/vm). */
bool vm_name_valid(const char *s);
/* Attaches the terminal (in_fd/out_fd) to the VM's serial console until the escape (Ctrl-] ) or EOF. */
int vm_control_console(const char *path, int in_fd, int out_fd);

/* ---- Guest RAM (for VFIO DMA mapping at IOVA = guest-physical) ---- */

/* The host's available memory (MemAvailable) and free huge pages of a size, through the root. */
int vm_host_memory_available(uint64_t *ret);
int vm_host_hugepages_free(uint64_t page_size, uint64_t *ret);

struct vm_ram_region {
	uint64_t gpa, size;
	void *hva;          /* aligned to page_size */
	int fd;             /* the memfd backing it, or -1 (anonymous memory) */
	uint64_t fd_offset; /* meaningful only when fd >= 0 */
	uint64_t page_size; /* 4K, 2M or 1G (2M with THP: best effort, see vm_ram_info's huge_bytes) */
};
/* What backs the VM's RAM and why, for `ptctl vm show` / `vm run -v`. Strings live until vm_free(). */
struct vm_ram_info {
	const char *backing;     /* "anon", "memfd", "hugetlb-2m", "hugetlb-1g" */
	uint64_t page_size;      /* what the backing gives: 4K, 2M, 1G */
	bool transparent;        /* THP: huge pages when the kernel has them */
	const char *reason;      /* why this backing, in words */
	uint64_t huge_bytes;     /* RAM backed by huge pages now (/proc/self/smaps; grows as the guest touches it) */
	bool huge_bytes_known;
	bool prefaulted;         /* faulted in before boot (--prefault, or pinned for an assigned device) */
	double prefault_ms;
	unsigned prefault_threads;
};
int vm_ram_info(const struct vm *vm, struct vm_ram_info *ret);
/* Faults all guest RAM in (one thread per usable CPU) unless done already: call before mapping it for
 * DMA, so VFIO pins present pages instead of faulting them in one thread. */
int vm_ram_prefault(struct vm *vm);
/* The RAM regions in ascending gpa order; valid until vm_free(). */
size_t vm_ram_regions(const struct vm *vm, const struct vm_ram_region **ret);
/* Host address of [gpa, gpa + len) if it lies wholly inside one RAM region, else NULL. */
void *vm_gpa_to_hva(const struct vm *vm, uint64_t gpa, uint64_t len);
/* Maps host memory (e.g. a device BAR) into the guest as a KVM memory slot. */
int vm_map_memory(struct vm *vm, uint64_t gpa, uint64_t size, void *hva, bool readonly);
int vm_unmap_memory(struct vm *vm, uint64_t gpa);
int vm_kvm_fd(const struct vm *vm); /* the VM fd, for irqfd/ioeventfd/GSI routing */
/* The guest RAM as iommu's guestmem, for iommu_dma_map_guestmem() (IOVA = guest-physical). */
struct guestmem;
const struct guestmem *vm_guestmem(const struct vm *vm);

/* ---- Trapped I/O ---- */

/* A device's handler: off is relative to the registered base, len 1..8, data little-endian.
 * Runs on a vCPU thread with no VM-wide lock held: the handler takes its device's own lock. A handler
 * may register and unregister ranges (the bus copies the entry out before calling it). */
typedef void (*vm_io_fn)(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write);
int vm_pio_register(struct vm *vm, uint16_t port, uint16_t len, vm_io_fn fn, void *opaque);
int vm_mmio_register(struct vm *vm, uint64_t gpa, uint64_t len, vm_io_fn fn, void *opaque);
int vm_mmio_unregister(struct vm *vm, uint64_t gpa);
int vm_pio_unregister(struct vm *vm, uint16_t port);
/* KVM_IOEVENTFD: a guest write of len bytes (1, 2, 4, 8; 0 = any) at addr signals efd without an exit
 * to the VMM (virtio queue notification). */
int vm_ioeventfd_add(struct vm *vm, bool mmio, uint64_t addr, unsigned len, int efd);
int vm_ioeventfd_remove(struct vm *vm, bool mmio, uint64_t addr, unsigned len, int efd);
/* Drives a GSI line of the in-kernel IOAPIC/PIC (level 1 or 0). */
int vm_irq_line(struct vm *vm, unsigned gsi, int level);

/* ---- PCI bus 0 (host bridge at 00.0; config mechanism #1 and ECAM) ----
 *
 * A device model fills a struct vm_pci_device: its config space (config/wmask; the default emulation
 * serves the rest), its BARs (vm_pci_bar_init), and ops. The bus owns the BAR protocol: sizing
 * (all-ones write -> size mask), relocation by the guest, and decoding by the COMMAND register's memory/
 * I/O enable bits. While a BAR decodes, the bus traps its whole range and calls ops->bar_io; a model that
 * wants more (KVM memory slots over mmapped device memory, ioeventfds) does it in ops->bar_activate and
 * undoes it in ops->bar_deactivate. A KVM memory slot wins over the trap: accesses there never exit.
 *
 * Locking: each device has its own mutex (dev->lock), held by the bus around every ops call (config
 * access, bar_io, activate/deactivate, reset). No VM-wide lock is held while a model runs, so a model may
 * call vm_mmio_register(), vm_map_memory(), vm_msi_route_*() from inside its ops. Models that run threads
 * of their own (backends) take dev->lock when they touch state the ops touch. */

#define VM_PCI_BARS 6
enum vm_pci_bar_type {
	VM_PCI_BAR_NONE = 0,
	VM_PCI_BAR_IO,    /* I/O space, allocated in 0xc000-0xffff */
	VM_PCI_BAR_MEM32, /* 32-bit memory, in the 32-bit window */
	VM_PCI_BAR_MEM64, /* 64-bit memory (takes two BAR registers), in the 64-bit window */
};
struct vm_pci_bar {
	enum vm_pci_bar_type type;
	uint64_t size;   /* power of two: >= 4 for I/O, >= 4096 for memory (smaller is rounded up) */
	bool prefetch;
	uint64_t addr;   /* the address in the BAR register (placed by vm_pci_add, then the guest's) */
	bool active;     /* decoding now: enabled in COMMAND and addr inside a window; the trap is registered */
	/* The bus's own: */
	struct vm_pci_device *dev;
	unsigned index;
	bool upper;      /* the upper half of the 64-bit BAR before it */
};

struct vm_pci_device;
struct vm_pci_ops {
	/* Config space overrides (optional): off < 4096, len 1, 2 or 4, off aligned to len (the bus
	 * guarantees it). The default emulation (BARs, COMMAND, config/wmask) is
	 * vm_pci_config_read/write_default(), which an override calls for what it does not handle. */
	uint32_t (*config_read)(struct vm_pci_device *d, unsigned off, unsigned len);
	void (*config_write)(struct vm_pci_device *d, unsigned off, unsigned len, uint32_t value);
	/* A trapped access to BAR bar at offset off (inside the BAR, len 1..8, the access wholly inside). */
	void (*bar_io)(struct vm_pci_device *d, unsigned bar, uint64_t off, uint8_t *data, unsigned len,
		       bool is_write);
	/* BAR bar starts decoding at addr (after the trap is registered) / stops decoding at addr (before the
	 * trap goes). Optional. A failing activate leaves the BAR trapped only (the guest still works, slower). */
	int (*bar_activate)(struct vm_pci_device *d, unsigned bar, uint64_t addr);
	void (*bar_deactivate)(struct vm_pci_device *d, unsigned bar, uint64_t addr);
	/* Function-level reset (optional). */
	void (*reset)(struct vm_pci_device *d);
	/* Frees the model (vm_free, after every vCPU stopped; BARs are already deactivated). Optional. */
	void (*free)(struct vm_pci_device *d);
};
struct vm_pci_device {
	const struct vm_pci_ops *ops; /* NULL: the default emulation over config/wmask below */
	void *userdata;
	const char *name;             /* for logs and `vm show`: "e1000", "virtio-net", "vfio 0000:03:00.0" */
	uint8_t slot;                 /* set by vm_pci_add */
	struct vm *vm;                /* set by vm_pci_add */
	pthread_mutex_t lock;         /* initialised by vm_pci_device_init */
	struct vm_pci_bar bars[VM_PCI_BARS];
	uint8_t config[4096];         /* default emulation: register contents ... */
	uint8_t wmask[4096];          /* ... and which bits the guest may change */
	unsigned cap_end;             /* the bus's own: end of the last capability vm_pci_cap_add placed */
};
/* Zeroes dev and sets up its lock and header: vendor/device, class (24 bits: base, sub, prog-if),
 * header type 0, COMMAND writable (I/O, memory, bus master, INTx disable), interrupt pin (0: none; 1-4:
 * INTA-INTD, the line then follows the _PRT for the slot, see vm_pci_intx_gsi()). */
void vm_pci_device_init(struct vm_pci_device *dev, const char *name, uint16_t vendor, uint16_t device,
			uint32_t class_code, uint8_t irq_pin);
/* Declares BAR bar (for MEM64 also bar + 1): -EINVAL for a bad index, size or type. Before vm_pci_add. */
int vm_pci_bar_init(struct vm_pci_device *dev, unsigned bar, enum vm_pci_bar_type type, uint64_t size,
		    bool prefetch);
/* Adds a device at slot (1..31) or the first free one (slot < 0), placing its BARs in the windows (so a
 * guest that keeps the firmware's assignment finds them there; they decode once the guest enables them
 * in COMMAND). The VM does not own dev until it is added; from then on ops->free frees it. Returns the slot. */
int vm_pci_add(struct vm *vm, struct vm_pci_device *dev, int slot);
/* Takes a device off the bus (hot removal): BARs deactivated, the slot freed. The caller frees dev. */
int vm_pci_remove(struct vm *vm, struct vm_pci_device *dev);
/* The default config space emulation, for devices that extend it. Device lock held. */
uint32_t vm_pci_config_read_default(struct vm_pci_device *d, unsigned off, unsigned len);
void vm_pci_config_write_default(struct vm_pci_device *d, unsigned off, unsigned len, uint32_t value);
/* Adds a capability of len bytes (body copied from cap, whose byte 0 is the ID; byte 1 is set by the
 * bus) at the end of the standard list, after dev->cap_end (a model that lays out capabilities itself
 * sets cap_end past them); returns its offset (>= 0x40) or -ENOSPC. wmask of the body stays 0. */
int vm_pci_cap_add(struct vm_pci_device *d, const uint8_t *cap, unsigned len);
/* The IOAPIC GSI that INTx pin (1-4) of slot routes to, as the DSDT's _PRT says. */
unsigned vm_pci_intx_gsi(unsigned slot, unsigned pin);
/* Allocates size bytes (a power of two, naturally aligned) from the 32-bit or 64-bit PCI window. */
int vm_pci_alloc_mmio(struct vm *vm, uint64_t size, bool above_4g, uint64_t *ret_gpa);

/* ---- PCI hot-plug (ACPI, bus 0): slots 1-31 are ejectable objects in the DSDT ----
 * vm_hotplug_add puts a device on the bus and tells the guest (device check through GPE0 -> \_GPE._E01 ->
 * Notify); the guest's first read of the device's ID marks it accepted. vm_hotplug_request_eject asks the
 * guest to give the device back (Notify eject request); the guest's _EJ0 marks it ejected. Then
 * vm_hotplug_remove takes it off the bus (force: whether the guest answered or not) and hands the device
 * back to its owner to free. Not from a vCPU thread. */
enum vm_slot_state {
	VM_SLOT_EMPTY,           /* nothing hot-plugged there */
	VM_SLOT_PLUGGED,         /* on the bus, the guest told, not enumerated yet */
	VM_SLOT_ACCEPTED,        /* the guest's OS enumerated it */
	VM_SLOT_EJECT_REQUESTED, /* the guest was asked to let go */
	VM_SLOT_EJECTED,         /* the guest let go (its _EJ0), asked or on its own */
};
int vm_hotplug_add(struct vm *vm, struct vm_pci_device *dev, int slot);
/* The same for a device a constructor already put on the bus at slot (vm_vfio_pci_add, ...). */
int vm_hotplug_announce(struct vm *vm, unsigned slot);
int vm_hotplug_request_eject(struct vm *vm, unsigned slot);
enum vm_slot_state vm_hotplug_state(struct vm *vm, unsigned slot);
const char *vm_slot_state_to_string(enum vm_slot_state s);
/* Waits until slot is in state want: 0, or -ETIMEDOUT. */
int vm_hotplug_wait(struct vm *vm, unsigned slot, enum vm_slot_state want, int timeout_ms);
/* -EBUSY when the guest has not ejected it and force is false; -ENOENT for an empty slot. */
int vm_hotplug_remove(struct vm *vm, unsigned slot, bool force, struct vm_pci_device **ret_dev);
/* Devices plugged into the running VM by `ptctl assign` (control commands plug/slot/unplug/remove, see
 * vm/hotplug-ctl.c) and still there: their addresses and whether the assignment moved them to vfio-pci.
 * The VM's runner returns them to the host when the VM ends, as it does its --assign devices. */
size_t vm_hotplug_assigned(const struct vm *vm, char (*addrs)[PCI_ADDR_STRLEN], bool *moved, size_t max);

/* ---- MSI and MSI-X into the guest ----
 * The VM owns the one KVM GSI routing table (KVM_SET_GSI_ROUTING replaces it whole). An MSI message
 * the guest programmed becomes a route on a fresh GSI with eventfd efd as its irqfd: efd signalled ->
 * the guest's vector, without the VMM. Thread-safe. */
struct irq_msi;
int vm_msi_route_add(struct vm *vm, int efd, const struct irq_msi *msg, uint32_t *ret_gsi);
int vm_msi_route_update(struct vm *vm, uint32_t gsi, const struct irq_msi *msg);
int vm_msi_route_remove(struct vm *vm, uint32_t gsi, int efd);

/* MSI-X for device models (vm/msix.c): the capability in config space, the table and PBA in a BAR.
 * Each vector has its own eventfd (vm_msix_eventfd): whoever raises the vector signals it (the model with
 * vm_msix_notify, VFIO or vhost through the fd itself). While a vector is enabled and unmasked, its fd is
 * a KVM irqfd on a route built from the guest's address/data; while masked, signals accumulate in the fd
 * and read as the PBA's pending bit, and are delivered when the guest unmasks. */
struct vm_msix;
struct vm_msix_ops {
	/* MSI-X enable or function mask changed (e.g. VFIO_DEVICE_SET_IRQS for an assigned device). Optional. */
	void (*enable_changed)(struct vm_msix *m, void *opaque, bool enabled, bool function_masked);
};
/* nvec 1..2048 vectors; table at table_off and PBA at pba_off inside BAR bar (8-byte aligned, not
 * overlapping). Adds the capability to dev's config space. */
int vm_msix_new(struct vm_pci_device *dev, unsigned nvec, unsigned bar, uint32_t table_off, uint32_t pba_off,
		const struct vm_msix_ops *ops, void *opaque, struct vm_msix **ret);
struct vm_msix *vm_msix_free(struct vm_msix *m);
/* For the model's config_write: handles writes to the capability (returns true), else false. */
bool vm_msix_config_write(struct vm_msix *m, unsigned off, unsigned len, uint32_t value);
/* For the model's bar_io: handles accesses to the table or PBA (returns true), else false. */
bool vm_msix_bar_io(struct vm_msix *m, unsigned bar, uint64_t off, uint8_t *data, unsigned len, bool is_write);
unsigned vm_msix_count(const struct vm_msix *m);
int vm_msix_eventfd(const struct vm_msix *m, unsigned vec);
/* Raises vector vec (from any thread; never blocks): delivered now, or pending while masked. */
int vm_msix_notify(struct vm_msix *m, unsigned vec);
bool vm_msix_enabled(const struct vm_msix *m);
/* What the guest programmed into vector vec (for `vm show`): message, masked, GSI (or -1). */
struct vm_msix_vector_info {
	uint64_t address;
	uint32_t data;
	bool masked, pending;
	int gsi;
};
int vm_msix_vector_info(const struct vm_msix *m, unsigned vec, struct vm_msix_vector_info *ret);

/* ---- Devices given to a VM: the host side (vm/assign.c) ----
 * Before a device goes on a VM's bus (vm_config.assign, or hot-plug), it is prepared with exactly the
 * checks and steps of `ptctl bind` (group viability, in use, original driver recorded) and recorded as
 * /run/ptctl/assigned/ADDRESS (VM name, pid), which bind, release and sriov destroy honour while the VM
 * runs. Both functions take the /run/ptctl lock themselves and may run while the VM runs. */
/* *ret_moved: the device was moved to vfio-pci now (false: it was there already). On failure *ret_why is
 * the whole message ("0000:03:00.0: IOMMU group 12 is not viable: ..."), and the return says whose fault:
 * -EINVAL bad input (no such device, malformed), -EPERM refused (nothing changed), else it failed (rolled back). */
int vm_assign_prepare(const char *address, const char *vm, long pid, bool *ret_moved, char **ret_why);
/* After the device left the VM (its VFIO fd closed, so the device is reset and free): the record goes and,
 * with release, the device returns to its original driver (`ptctl release`). */
int vm_assign_finish(const char *address, bool release, char **ret_why);
