/* internal.h: what the files of vm/ share with each other (and with their unit tests): the VM
 * object, the device structs, and the pure builders (bzImage, e820, zero page, ACPI). Not public. */
#pragma once

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>

#include "vm.h"

/* ---- Little-endian byte helpers for tables the guest reads ---- */
static inline void put_le16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static inline void put_le32(uint8_t *p, uint32_t v) { put_le16(p, v); put_le16(p + 2, v >> 16); }
static inline void put_le64(uint8_t *p, uint64_t v) { put_le32(p, v); put_le32(p + 4, v >> 32); }
static inline uint16_t get_le16(const uint8_t *p) { return p[0] | p[1] << 8; }
static inline uint32_t get_le32(const uint8_t *p) { return get_le16(p) | (uint32_t)get_le16(p + 2) << 16; }
static inline uint64_t get_le64(const uint8_t *p) { return get_le32(p) | (uint64_t)get_le32(p + 4) << 32; }

/* ---- Guest RAM (memory.c) ---- */
#define VM_MAX_RAM_REGIONS 16
struct guestmem;
struct vm_memory {
	struct guestmem *gm; /* iommu/'s guest memory map: the same object VFIO maps */
	uint64_t size;       /* total RAM bytes */
	uint64_t page_size;
	struct vm_ram_region regions[VM_MAX_RAM_REGIONS];
	size_t nregions;
	bool prefaulted;
	double prefault_ms;
	unsigned prefault_threads;
};
/* The one allocation point for guest RAM: cfg->memory bytes laid out around the 3G-4G hole, backed as
 * cfg asks (per host by default), prefaulted when cfg asks or devices are assigned. *why on failure. */
int vm_memory_new(const struct vm_config *cfg, struct vm_memory **ret, const char **why);
int vm_memory_prefault(struct vm_memory *m);
int vm_memory_info(const struct vm_memory *m, struct vm_ram_info *ret);
void vm_memory_free(struct vm_memory *m);
void *vm_memory_hva(const struct vm_memory *m, uint64_t gpa, uint64_t len);
/* Top of RAM (exclusive) in guest-physical space. */
uint64_t vm_memory_end(const struct vm_memory *m);

/* ---- e820 and boot (boot.c) ---- */
#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3
#define E820_MAX 128
struct e820_entry {
	uint64_t addr, size;
	uint32_t type;
};
/* The guest's memory map for RAM of size mem (low/high split as vm_memory does). */
size_t vm_e820_build(uint64_t mem, struct e820_entry *out, size_t max);

/* Fixed low-memory layout of the boot state (all below 1 MiB, reserved from the guest or handed over). */
#define BOOT_GDT_ADDR 0x500ull
#define BOOT_ZERO_PAGE 0x7000ull
#define BOOT_STACK_TOP 0x8ff0ull
#define BOOT_PML4 0x9000ull
#define BOOT_PDPT 0xa000ull
#define BOOT_PD 0xb000ull /* 4 pages: identity map of the first 4 GiB in 2 MiB pages */
#define BOOT_CMDLINE 0x20000ull
#define BOOT_CMDLINE_MAX 0x10000ull
#define BOOT_EBDA_START 0x9fc00ull
#define BOOT_BIOS_START 0xe0000ull /* RSDP and ACPI tables live in 0xe0000-0xfffff */
#define BOOT_BIOS_END 0x100000ull

struct bzimage {
	uint16_t version;        /* boot protocol version */
	uint8_t setup_sects;
	uint8_t loadflags;
	uint16_t xloadflags;
	uint32_t initrd_addr_max;
	uint32_t kernel_alignment;
	uint8_t relocatable;
	uint32_t cmdline_size;
	uint64_t pref_address;
	uint32_t init_size;
	size_t setup_size;       /* bytes of the real-mode part (setup_sects + 1 sectors) */
	size_t kernel_offset;    /* where the protected-mode kernel starts in the file */
	size_t kernel_size;
};
/* Reads into guest RAM (load.c): exactly len bytes of fd at off into dst (-EIO if the file is shorter). */
int vm_read_full(int fd, uint8_t *dst, uint64_t len, uint64_t off);
/* A queue of such reads, run in parallel 2 MiB pieces of the destination (see load.c). Zero-initialise;
 * threads 0 means one per usable CPU (at most VM_LOADER_THREADS). */
#define VM_LOADER_MAX_JOBS 16
#define VM_LOADER_THREADS 4
#define VM_LOADER_PIECE (2ull << 20)
struct vm_load_job {
	int fd;
	uint8_t *dst;
	uint64_t len, off;
	uint64_t first; /* index of its first piece in the queue */
};
struct vm_loader {
	struct vm_load_job job[VM_LOADER_MAX_JOBS];
	unsigned n, threads, used_threads;
	uint64_t pieces;
	atomic_uint_fast64_t next;
	atomic_int err;
};
/* How many pieces a read into [dst, dst + len) is cut into (at 2 MiB boundaries of the address). */
uint64_t vm_loader_pieces(const uint8_t *dst, uint64_t len);
/* Queues a read; runs the queue first when dst overlaps a queued read or the queue is full. */
int vm_loader_queue(struct vm_loader *l, int fd, uint8_t *dst, uint64_t len, uint64_t off);
/* Runs and empties the queue; the first error (negative errno), or 0. */
int vm_loader_run(struct vm_loader *l);
/* Validates a bzImage that can be entered in 64-bit mode: -ENOEXEC with a reason in *why otherwise.
 * Only the first 4 KiB of buf are read (the setup header); len is the size of the whole file. */
int vm_bzimage_parse(const uint8_t *buf, size_t len, struct bzimage *ret, const char **why);
/* Where the kernel, initrd and cmdline go; -E2BIG/-ENOMEM when they do not fit in mem. */
struct boot_plan {
	uint64_t kernel_addr;
	uint64_t initrd_addr, initrd_size;
	uint64_t cmdline_addr;
	size_t cmdline_len; /* with the NUL */
};
int vm_boot_plan(const struct bzimage *bz, uint64_t mem, uint64_t initrd_size, size_t cmdline_len,
		 struct boot_plan *ret);
/* Fills a 4096-byte zero page from the file's setup header, the plan, e820 and the RSDP address. */
void vm_zero_page_build(uint8_t *zp, const uint8_t *kernel_file, const struct bzimage *bz,
			const struct boot_plan *plan, const struct e820_entry *e820, size_t ne820, uint64_t rsdp);
/* Writes the GDT and identity page tables into guest RAM and sets vCPU 0's long-mode state. */
int vm_boot_cpu_state(struct vm *vm, uint64_t rip, uint64_t rsi);
/* Loads kernel, initrd, cmdline, zero page; *why names the problem for the user on failure. */
int vm_boot_linux(struct vm *vm, const char *kernel, const char *initrd, const char *cmdline, const char **why);

/* ---- ACPI (acpi.c) ---- */
#define ACPI_RSDP_ADDR BOOT_BIOS_START
/* Builds RSDP, XSDT, FADT, DSDT, FACS, MADT and MCFG into buf (guest-physical base gpa); returns bytes used. */
int vm_acpi_build(uint8_t *buf, size_t len, uint64_t gpa, unsigned cpus, uint64_t mmio64_base,
		  uint64_t mmio64_size);
uint8_t vm_acpi_checksum(const uint8_t *p, size_t len);

/* ---- Trapped I/O bus (vm.c) ---- */
struct vm_io_range {
	uint64_t base, len;
	vm_io_fn fn;
	void *opaque;
};
#define VM_MAX_IO_RANGES 64

/* ---- Serial 8250/16550A (serial.c) ---- */
#define SERIAL_FIFO 64
struct vm_serial {
	struct vm *vm;
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, lsr_extra, scr, dll, dlm, fcr;
	bool thr_ipending; /* THR-empty interrupt pending until IIR read or THR written */
	int irq_level;
	uint8_t rx[SERIAL_FIFO];
	unsigned rx_head, rx_count;
};
void vm_serial_init(struct vm_serial *s, struct vm *vm);
void vm_serial_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write);
void vm_serial_destroy(struct vm_serial *s);
/* Pushes console input; returns bytes taken (the FIFO may be full). Takes the device lock. */
size_t vm_serial_input(struct vm_serial *s, const uint8_t *buf, size_t len);

/* ---- PCI (pci.c) ---- */
struct vm_pci {
	struct vm *vm;
	pthread_mutex_t lock;  /* slots and the window allocators */
	_Atomic uint32_t cf8;
	uint32_t io_next;
	struct vm_pci_device *slots[32];
	struct vm_pci_device host_bridge;
	uint64_t mmio32_next, mmio64_next, mmio64_base;
};
int vm_pci_init(struct vm_pci *p, struct vm *vm);
/* vm_free: every device's BARs deactivated, then ops->free (vCPUs already stopped). */
void vm_pci_free_devices(struct vm_pci *p);

/* ---- PCI hot-plug (hotplug.c) ---- */
struct vm_hotplug {
	bool ready;
	pthread_mutex_t lock;
	pthread_cond_t cond;       /* state changes: the guest's _EJ0, its first look at a plugged slot */
	uint32_t up, down;         /* device-check / eject-request bits the guest has not read yet */
	uint32_t present;          /* slots holding a device put there by vm_hotplug_add */
	_Atomic uint32_t announced; /* plugged, the guest has not read the device's ID yet */
	uint32_t seen;             /* plugged and enumerated by the guest */
	uint32_t eject_requested;  /* asked back, no _EJ0 yet */
	uint32_t ejected;          /* the guest let go (_EJ0), still on the bus until vm_hotplug_remove */
	uint16_t gpe_sts, gpe_en;
	int sci_level;
	/* Devices plugged through the control socket (hotplug-ctl.c), by slot: address, and whether the
	 * assignment moved it to vfio-pci (so it goes back to its driver when it leaves). Event loop only. */
	char addr[32][PCI_ADDR_STRLEN];
	bool moved[32];
};
int vm_hotplug_init(struct vm *vm);
/* hotplug-ctl.c: the plug/slot/unplug/remove/hotplug control commands. */
int vm_hotplug_control_init(struct vm *vm);
void vm_hotplug_destroy(struct vm *vm);
/* pci.c: every config read of a slot (cheap unless the slot was just plugged). */
void vm_hotplug_config_read(struct vm *vm, unsigned slot, unsigned off);

/* ---- The VM ---- */
struct vm_vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool thread_started;
	/* Stall notes (vm_vcpus_watch): exits to userspace, and what the main loop last saw of them. */
	atomic_uint_fast64_t exits;
	atomic_int tid;          /* the thread's id, for /proc/self/task */
	clockid_t cpu_clock;     /* the thread's CPU-time clock */
	atomic_uint_fast64_t last_exit_ns; /* CLOCK_MONOTONIC_COARSE at the last exit (or the thread's start) */
	uint64_t seen_exits;     /* exits at seen_ns */
	uint64_t seen_ns;        /* CLOCK_MONOTONIC when exits last changed (0: not yet watched) */
	uint64_t seen_cpu_ns;    /* the thread's CPU time then */
	uint64_t stall_ns;       /* at the stop: the time since the last exit */
	uint64_t stall_cpu_ns;   /* the CPU the thread got in the stall_window_ns since seen_ns */
	uint64_t stall_window_ns;
	char stall_state;        /* the thread's state then ('R', 'S', ...; 0: unknown) */
};

#define VM_MAX_CONSOLE_CLIENTS 8
struct vm_vfio;
#define VM_MAX_CONTROL_CONNS 8
#define VM_MAX_CONTROL_CMDS 16
#define VM_CONSOLE_BUF (64 * 1024)
struct vm_control_conn {
	int fd;
	char buf[256];
	size_t len;
	time_t deadline; /* CLOCK_MONOTONIC seconds: a client silent past it is dropped */
};
struct vm_control_cmd {
	char name[24];
	vm_control_fn fn;
	void *opaque;
};
struct vm {
	char *name;
	unsigned ncpus;
	int kvm_fd, vm_fd;
	struct vm_memory *mem;
	struct vm_vcpu vcpus[VM_MAX_CPUS];
	int next_slot;
	uint64_t slot_gpa[32]; /* KVM memory slots by number (RAM first, then mapped BARs); UINT64_MAX: free */
	pthread_mutex_t slots_lock; /* next_slot and slot_gpa: BARs are mapped from vCPU threads */

	pthread_mutex_t lock;         /* console clients and sink state */
	pthread_mutex_t legacy_lock;  /* the ACPI PM, i8042, CMOS and POST port devices (devices.c) */
	pthread_rwlock_t bus_lock;    /* the trapped-I/O tables below; never held while a handler runs */
	pthread_rwlock_t handler_lock; /* read-held while a handler runs; a removed device waits on it (write) */
	struct vm_io_range pio[VM_MAX_IO_RANGES], mmio[VM_MAX_IO_RANGES];
	size_t npio, nmmio;

	struct vm_serial serial;
	struct vm_pci pci;
	struct vm_hotplug hotplug;
	pthread_mutex_t routes_lock;  /* routes */
	struct irq_routes *routes;    /* the VM's GSI routing table, made on the first MSI route */
	struct vm_vfio *vfio;         /* VFIO container, DMA map, KVM-VFIO device of assigned devices (devices/vfio-host.c) */
	uint16_t pm1_sts, pm1_en, pm1_cnt;
	uint8_t cmos_index;
	uint8_t cmos_ram[128];

	int console_in, console_out;
	int console_clients[VM_MAX_CONSOLE_CLIENTS];
	/* Panic detection and the boot-time marker: rolling match state over console output. */
	size_t panic_match, panic_end_match;
	bool panicked, panic_ending;
	struct timespec started;

	atomic_int state;      /* 0 running, else 1 + enum vm_exit_reason */
	int wake_fd;           /* eventfd: the main loop wakes when the state is set */
	int control_fd;        /* listening control socket or -1 */
	char *control_path;
	struct vm_control_conn control_conns[VM_MAX_CONTROL_CONNS];
	struct vm_control_cmd control_cmds[VM_MAX_CONTROL_CMDS];
	/* Console output: vCPUs append under lock and never wait; the writer thread drains it to console_out
	 * and the attached clients. Output past a full buffer is dropped and counted. */
	uint8_t *cbuf;
	size_t chead, clen;
	uint64_t cdropped;
	pthread_cond_t ccond;
	pthread_t cwriter;
	bool cwriter_started, cstop;
	bool cout_dead;        /* console_out stopped taking output (gone, or stuck while stopping) */
	bool loaded;           /* boot state set (kernel or raw payload) */
	bool sandbox;          /* vCPU threads confine themselves (vm_sandbox_thread) */
	char exit_why[160];    /* why the guest ended, when known (vm_exit_why) */
	/* Exit counts for `ptctl -v`: where a slow guest spends its trips to userspace. */
	atomic_uint_fast64_t exits_io, exits_mmio, exits_other;
	uint32_t *port_exits; /* 65536 counters or NULL */
};

/* Returns once no handler that started before the call is still running (after a device left the bus). */
void vm_io_quiesce(struct vm *vm);
/* Routes one guest access to the device registered for it; unclaimed reads see all ones. */
void vm_io_dispatch(struct vm *vm, bool mmio, uint64_t addr, uint8_t *data, unsigned len, bool is_write);

/* Ends the VM with reason (first caller wins) and kicks every vCPU out of KVM_RUN. */
void vm_set_exit(struct vm *vm, enum vm_exit_reason reason);
/* vm_set_exit with a printf-style why, kept only if this reason is the one that ends the VM. */
void vm_set_exit_why(struct vm *vm, enum vm_exit_reason reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The console sink: log, attached clients, panic and marker detection. Device lock held. */
void vm_console_putc(struct vm *vm, uint8_t c);

/* vcpu.c */
int vm_vcpu_create(struct vm *vm, unsigned id);
void vm_vcpu_destroy(struct vm_vcpu *v);
int vm_vcpus_start(struct vm *vm);
void vm_vcpus_kick(struct vm *vm);
void vm_vcpus_join(struct vm *vm);
/* The main loop's look at the vCPUs (about once a second): notes when each last made an exit. */
void vm_vcpus_watch(struct vm *vm);
/* At a stop, before the kick: how long each vCPU had gone without an exit, and what its thread did. */
void vm_vcpus_note_stalls(struct vm *vm);
/* After the join: logs each vCPU that had made no exit for VM_STALL_NOTE_SECS or more before the stop
 * (where the guest was, whether it was halted, spinning or not run by the host) and describes the
 * longest such in buf. Returns false (buf untouched) when there was none. */
bool vm_vcpus_describe_stalls(struct vm *vm, char *buf, size_t size);
#define VM_STALL_NOTE_SECS 2

/* devices.c: ACPI PM registers, i8042, CMOS, POST port. */
int vm_legacy_init(struct vm *vm);

/* control.c: accept a connection; serve connection i when poll says it is readable; drop silent ones. */
void vm_control_accept(struct vm *vm);
void vm_control_serve(struct vm *vm, size_t i, short revents);
void vm_control_expire(struct vm *vm);
void vm_control_close_all(struct vm *vm);
