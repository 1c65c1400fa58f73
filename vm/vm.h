/* vm.h: the vm module's one public header: ptctl's own KVM virtual machines (guest RAM, vCPUs,
 * direct Linux boot, serial console, ACPI power control, PCI bus) and the control socket of a running VM. */
#pragma once

#include <sys/types.h>

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

struct vm_config {
	const char *name;
	const char *kernel;  /* bzImage or vmlinux ELF; NULL: none (a raw payload is loaded with vm_load_raw()) */
	const char *initrd;  /* optional */
	const char *cmdline; /* optional; console=ttyS0 is the caller's choice */
	uint64_t memory;     /* bytes, multiple of 2 MiB */
	unsigned cpus;       /* 1..VM_MAX_CPUS */
	uint64_t hugepage_size; /* 0 (memfd), 2 MiB or 1 GiB (hugetlb memfd) */
	bool prefault;       /* touch all RAM before boot (what VFIO pinning does anyway) */
	int console_in;      /* fd the serial console reads from, -1 for none */
	int console_out;     /* fd the serial console writes to, -1 for none */
};

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
/* Thread- and async-signal-safe: ends vm_run() with VM_EXIT_STOPPED. */
void vm_request_stop(struct vm *vm);

/* Serves the control socket at path while vm_run() runs (see vm/control.c for the protocol). */
int vm_control_listen(struct vm *vm, const char *path);
const char *vm_name(const struct vm *vm);
unsigned vm_cpus(const struct vm *vm);
uint64_t vm_memory_size(const struct vm *vm);
/* Why the VMM gave up, after vm_run() reported VM_EXIT_ERROR ("" otherwise). */
const char *vm_error(const struct vm *vm);

/* ---- Control socket client (ptctl vm stop/console/list) ---- */

/* Sends one command line ("status", "stop") and returns the reply line (without newline). */
int vm_control_request(const char *path, const char *command, char **ret_reply);
/* Attaches the terminal (in_fd/out_fd) to the VM's serial console until the escape (Ctrl-] ) or EOF. */
int vm_control_console(const char *path, int in_fd, int out_fd);

/* ---- Guest RAM (for VFIO DMA mapping at IOVA = guest-physical) ---- */

/* The host's available memory (MemAvailable) and free huge pages of a size, through the root. */
int vm_host_memory_available(uint64_t *ret);
int vm_host_hugepages_free(uint64_t page_size, uint64_t *ret);

struct vm_ram_region {
	uint64_t gpa, size;
	void *hva;
	int fd;             /* the memfd backing it */
	uint64_t fd_offset;
};
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
 * Runs on a vCPU thread with the VM's device lock held. */
typedef void (*vm_io_fn)(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write);
int vm_pio_register(struct vm *vm, uint16_t port, uint16_t len, vm_io_fn fn, void *opaque);
int vm_mmio_register(struct vm *vm, uint64_t gpa, uint64_t len, vm_io_fn fn, void *opaque);
int vm_mmio_unregister(struct vm *vm, uint64_t gpa);
/* Drives a GSI line of the in-kernel IOAPIC/PIC (level 1 or 0). */
int vm_irq_line(struct vm *vm, unsigned gsi, int level);

/* ---- PCI bus 0 (host bridge at 00.0; config mechanism #1 and ECAM) ---- */

struct vm_pci_device;
struct vm_pci_ops {
	/* off < 4096, len 1, 2 or 4, off aligned to len (the bus guarantees it). */
	uint32_t (*config_read)(struct vm_pci_device *d, unsigned off, unsigned len);
	void (*config_write)(struct vm_pci_device *d, unsigned off, unsigned len, uint32_t value);
};
struct vm_pci_device {
	const struct vm_pci_ops *ops; /* NULL: the default emulation over config/wmask below */
	void *userdata;
	uint8_t slot;                 /* set by vm_pci_add */
	uint8_t config[4096];         /* default emulation: register contents ... */
	uint8_t wmask[4096];          /* ... and which bits the guest may change */
};
/* Adds a device at slot (1..31) or the first free one (slot < 0); the VM does not own dev. */
int vm_pci_add(struct vm *vm, struct vm_pci_device *dev, int slot);
/* The default config space emulation, for devices that extend it. */
uint32_t vm_pci_config_read_default(struct vm_pci_device *d, unsigned off, unsigned len);
void vm_pci_config_write_default(struct vm_pci_device *d, unsigned off, unsigned len, uint32_t value);
/* Allocates size bytes (a power of two, naturally aligned) from the 32-bit or 64-bit PCI window. */
int vm_pci_alloc_mmio(struct vm *vm, uint64_t size, bool above_4g, uint64_t *ret_gpa);
