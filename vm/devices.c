/* devices.c: the small fixed-function devices of a PC the guest touches: ACPI PM1a/PM timer/reset
 * (power-off and reboot), the i8042 reset line (reboot=k), the CMOS clock, and the POST port. */
#include <time.h>

#include "internal.h"
#include "util/log.h"

#define SLP_EN (1u << 13)
#define SCI_EN 1u
#define PM_TIMER_HZ 3579545ull

static uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t pm_read(struct vm *vm, unsigned reg)
{
	switch (reg) {
	case 0: return vm->pm1_sts;
	case 2: return vm->pm1_en;
	case 4: return vm->pm1_cnt | SCI_EN; /* always in ACPI mode */
	case 8: {
		uint64_t ns = monotonic_ns();
		/* 24-bit counter at 3.579545 MHz; split to avoid overflowing 64 bits. */
		uint64_t ticks = (ns / 1000000000ull) * PM_TIMER_HZ + (ns % 1000000000ull) * PM_TIMER_HZ / 1000000000ull;
		return (uint32_t)(ticks & 0xffffff);
	}
	default: return 0;
	}
}

static void pm_write(struct vm *vm, unsigned reg, uint32_t v)
{
	switch (reg) {
	case 0:
		vm->pm1_sts &= (uint16_t)~v; /* write 1 to clear */
		break;
	case 2:
		vm->pm1_en = (uint16_t)v;
		break;
	case 4:
		vm->pm1_cnt = (uint16_t)(v & ~SLP_EN);
		if ((v & SLP_EN) && ((v >> 10) & 7) == VM_SLP_TYP_S5) {
			log_debug("acpi: guest entered S5");
			vm_set_exit(vm, VM_EXIT_POWEROFF);
		}
		break;
	case 0xc:
		if ((v & 0xff) == VM_RESET_VALUE)
			vm_set_exit_why(vm, VM_EXIT_REBOOT, "ACPI reset register");
		break;
	default:
		break;
	}
}

/* Registers are 2 bytes (PM1 status/enable/control) or 4 (timer) wide; an access is routed to the
 * register it starts in and sees only that register's bytes. */
static void pm_io_locked(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct vm *vm = opaque;
	unsigned reg = off < 8 ? (unsigned)off & ~1u : off < 0xc ? 8 : 0xc;
	unsigned shift = 8 * (unsigned)(off - reg);
	uint32_t v = 0;

	if (is_write) {
		for (unsigned i = 0; i < len; i++)
			v |= (uint32_t)data[i] << (8 * i);
		if (shift == 0)
			pm_write(vm, reg, v);
		return;
	}
	v = pm_read(vm, reg) >> shift;
	for (unsigned i = 0; i < len; i++)
		data[i] = (uint8_t)(v >> (8 * i));
}

/* i8042: status reads "nothing pending", so the guest's wait loops end; command 0xfe pulses reset. */
static void i8042_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct vm *vm = opaque;
	if (is_write) {
		if (off == 4 && data[0] == 0xfe)
			vm_set_exit_why(vm, VM_EXIT_REBOOT, "i8042 reset pulse");
		return;
	}
	memset(data, 0, len);
}

static uint8_t bcd(int v)
{
	return (uint8_t)((v / 10) << 4 | (v % 10));
}

/* MC146818 clock from the host's UTC time: BCD, 24-hour, never "update in progress". */
static uint8_t cmos_read(struct vm *vm, uint8_t idx)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	switch (idx) {
	case 0x00: return bcd(tm.tm_sec);
	case 0x02: return bcd(tm.tm_min);
	case 0x04: return bcd(tm.tm_hour);
	case 0x06: return bcd(tm.tm_wday + 1);
	case 0x07: return bcd(tm.tm_mday);
	case 0x08: return bcd(tm.tm_mon + 1);
	case 0x09: return bcd(tm.tm_year % 100);
	case 0x32: return bcd((1900 + tm.tm_year) / 100);
	case 0x0a: return 0x26;
	case 0x0b: return 0x02;
	case 0x0c: return 0x00;
	case 0x0d: return 0x80; /* battery good */
	default: return vm->cmos_ram[idx & 0x7f];
	}
}

static void cmos_io_locked(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct vm *vm = opaque;
	for (unsigned i = 0; i < len; i++) {
		unsigned port = (unsigned)off + i;
		if (port == 0) {
			if (is_write)
				vm->cmos_index = data[i] & 0x7f; /* bit 7 is the NMI mask */
			else
				data[i] = 0xff;
		} else if (port == 1) {
			if (is_write)
				vm->cmos_ram[vm->cmos_index] = data[i];
			else
				data[i] = cmos_read(vm, vm->cmos_index);
		} else if (!is_write) {
			data[i] = 0xff;
		}
	}
}

/* Port 0x80 (the kernel's I/O delay) and friends: accepted and ignored without a log line each. */
/* The PM and CMOS registers share the VM's legacy lock (their state lives in struct vm). */
static void pm_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct vm *vm = opaque;
	pthread_mutex_lock(&vm->legacy_lock);
	pm_io_locked(opaque, off, data, len, is_write);
	pthread_mutex_unlock(&vm->legacy_lock);
}

static void cmos_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct vm *vm = opaque;
	pthread_mutex_lock(&vm->legacy_lock);
	cmos_io_locked(opaque, off, data, len, is_write);
	pthread_mutex_unlock(&vm->legacy_lock);
}


static void sink_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	(void)opaque;
	(void)off;
	if (!is_write)
		memset(data, 0xff, len);
}

int vm_legacy_init(struct vm *vm)
{
	int r;
	if ((r = vm_pio_register(vm, VM_PORT_ACPI_PM, VM_PORT_ACPI_PM_LEN, pm_io, vm)) < 0 ||
	    (r = vm_pio_register(vm, 0x60, 5, i8042_io, vm)) < 0 || (r = vm_pio_register(vm, 0x70, 2, cmos_io, vm)) < 0 ||
	    (r = vm_pio_register(vm, 0x80, 1, sink_io, vm)) < 0)
		return r;
	return 0;
}
