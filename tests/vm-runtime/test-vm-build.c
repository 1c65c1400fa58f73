/* test-vm-build.c: the pure builders (bzImage header checks, boot plan, e820, zero page, ACPI tables and
 * checksums) and the devices through the trapped-I/O bus (PCI config, ECAM, UART, CMOS, guest RAM bounds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/lib/testskip.h"
#include "vm/internal.h"
#include "vm/vm.h"

/* A minimal header of a 64-bit relocatable bzImage, protocol 2.15. */
static void make_header(uint8_t *b, size_t len)
{
	memset(b, 0, len);
	b[0x1f1] = 7;
	put_le16(b + 0x1fe, 0xaa55);
	b[0x200] = 0xeb;
	b[0x201] = 0x66;
	memcpy(b + 0x202, "HdrS", 4);
	put_le16(b + 0x206, 0x020f);
	b[0x211] = 0x01;
	put_le32(b + 0x22c, 0x7fffffff);
	put_le32(b + 0x230, 0x200000);
	b[0x234] = 1;
	put_le16(b + 0x236, 0x0001);
	put_le32(b + 0x238, 2047);
	put_le64(b + 0x258, 0x1000000);
	put_le32(b + 0x260, 0x2000000);
	if (len > 0x1000) {
		put_le32(b + 0x1f4, (uint32_t)((len - 0x1000 + 15) / 16)); /* syssize: all of it */
		put_le32(b + 0x248, 0x100);                                  /* payload_offset */
		put_le32(b + 0x24c, (uint32_t)(len - 0x1000 - 0x100));      /* payload_length */
	}
}

static void test_bzimage(void **s)
{
	static uint8_t b[0x3000];
	struct bzimage bz;
	const char *why = NULL;
	(void)s;

	make_header(b, sizeof(b));
	assert_int_equal(vm_bzimage_parse(b, sizeof(b), &bz, &why), 0);
	assert_int_equal(bz.version, 0x020f);
	assert_int_equal(bz.setup_size, 8 * 512);
	assert_int_equal(bz.kernel_offset, 4096);
	assert_int_equal(bz.kernel_size, sizeof(b) - 4096);
	assert_int_equal(bz.pref_address, 0x1000000);
	assert_int_equal(bz.init_size, 0x2000000);
	assert_int_equal(bz.cmdline_size, 2047);

	b[0x1f1] = 0; /* 0 means 4 */
	assert_int_equal(vm_bzimage_parse(b, sizeof(b), &bz, &why), 0);
	assert_int_equal(bz.setup_size, 5 * 512);

	assert_int_equal(vm_bzimage_parse(b, 0x800, &bz, &why), -ENOEXEC); /* too short */
	b[0x1f1] = 0xff;                                                    /* setup runs past the end */
	assert_int_equal(vm_bzimage_parse(b, sizeof(b), &bz, &why), -ENOEXEC);
	make_header(b, sizeof(b));
	b[0x1fe] = 0;
	assert_int_equal(vm_bzimage_parse(b, sizeof(b), &bz, &why), -ENOEXEC);
	assert_non_null(strstr(why, "not a bzImage"));
	make_header(b, sizeof(b));
	memcpy(b + 0x202, "HdrX", 4);
	assert_int_equal(vm_bzimage_parse(b, sizeof(b), &bz, &why), -ENOEXEC);
	make_header(b, sizeof(b));
	put_le16(b + 0x206, 0x0209);
	assert_int_equal(vm_bzimage_parse(b, sizeof(b), &bz, &why), -ENOEXEC);
	make_header(b, sizeof(b));
	put_le16(b + 0x236, 0);
	assert_int_equal(vm_bzimage_parse(b, sizeof(b), &bz, &why), -ENOEXEC);
	assert_non_null(strstr(why, "64-bit"));
	make_header(b, sizeof(b));
	b[0x211] = 0;
	assert_int_equal(vm_bzimage_parse(b, sizeof(b), &bz, &why), -ENOEXEC);

	/* Cut short: the header promises more than the file has (a truncated download or copy). */
	make_header(b, sizeof(b));
	assert_int_equal(vm_bzimage_parse(b, sizeof(b) - 0x100, &bz, &why), -ENOEXEC);
	assert_non_null(strstr(why, "truncated"));
	make_header(b, sizeof(b));
	put_le32(b + 0x248, 0x1f00); /* payload past the end */
	assert_int_equal(vm_bzimage_parse(b, sizeof(b), &bz, &why), -ENOEXEC);
	assert_non_null(strstr(why, "truncated"));
	/* No payload at all: only the setup header. */
	make_header(b, sizeof(b));
	put_le32(b + 0x1f4, 0);
	assert_int_equal(vm_bzimage_parse(b, sizeof(b), &bz, &why), -ENOEXEC);
	assert_non_null(strstr(why, "no kernel payload"));
	make_header(b, sizeof(b));
	put_le32(b + 0x24c, 0);
	assert_int_equal(vm_bzimage_parse(b, sizeof(b), &bz, &why), -ENOEXEC);
	assert_non_null(strstr(why, "no kernel payload"));
}

static void test_boot_plan(void **s)
{
	static uint8_t b[0x3000];
	struct bzimage bz;
	struct boot_plan p;
	(void)s;

	make_header(b, sizeof(b));
	assert_int_equal(vm_bzimage_parse(b, sizeof(b), &bz, NULL), 0);
	assert_int_equal(vm_boot_plan(&bz, 256 << 20, 10000, 20, &p), 0);
	assert_int_equal(p.kernel_addr, 0x1000000);
	assert_int_equal(p.initrd_addr % 4096, 0);
	assert_true(p.initrd_addr + p.initrd_size <= (256 << 20));
	assert_true(p.initrd_addr >= (256 << 20) - 10000 - 4096);
	assert_true(p.initrd_addr >= p.kernel_addr + bz.init_size);
	assert_int_equal(p.cmdline_addr, BOOT_CMDLINE);

	/* Too big an initrd, too little memory for the kernel's init_size, too long a command line. */
	assert_int_equal(vm_boot_plan(&bz, 256 << 20, 250 << 20, 20, &p), -ENOMEM);
	assert_int_equal(vm_boot_plan(&bz, 32 << 20, 0, 20, &p), -ENOMEM);
	assert_int_equal(vm_boot_plan(&bz, 256 << 20, 0, 2049, &p), -E2BIG);
	assert_int_equal(vm_boot_plan(&bz, 256 << 20, 0, 2048, &p), 0);

	/* The initrd stays below initrd_addr_max and below the 3G hole. */
	bz.initrd_addr_max = 0x7fffffff;
	assert_int_equal(vm_boot_plan(&bz, 8ull << 30, 1 << 20, 1, &p), 0);
	assert_true(p.initrd_addr + p.initrd_size <= 0x80000000ull);
	bz.initrd_addr_max = 0xffffffff;
	assert_int_equal(vm_boot_plan(&bz, 8ull << 30, 1 << 20, 1, &p), 0);
	assert_true(p.initrd_addr + p.initrd_size <= VM_LOW_RAM_END);
}

static uint64_t e820_ram(const struct e820_entry *e, size_t n)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++) {
		if (i)
			assert_true(e[i].addr >= e[i - 1].addr + e[i - 1].size); /* sorted, no overlap */
		if (e[i].type == E820_RAM)
			sum += e[i].size;
	}
	return sum;
}

static void test_e820(void **s)
{
	struct e820_entry e[E820_MAX];
	size_t n;
	(void)s;

	n = vm_e820_build(256 << 20, e, E820_MAX);
	/* All of RAM but the EBDA and BIOS area below 1 MiB. */
	assert_int_equal(e820_ram(e, n), (256 << 20) - (0x100000 - 0x9fc00));
	assert_int_equal(e[0].addr, 0);
	assert_int_equal(e[0].type, E820_RAM);
	bool ecam = false;
	for (size_t i = 0; i < n; i++)
		ecam |= e[i].addr == VM_ECAM_BASE && e[i].size == VM_ECAM_SIZE && e[i].type == E820_RESERVED;
	assert_true(ecam);

	n = vm_e820_build(6ull << 30, e, E820_MAX);
	assert_int_equal(e820_ram(e, n), (6ull << 30) - (0x100000 - 0x9fc00));
	assert_int_equal(e[n - 1].addr, VM_HIGH_RAM_START);
	assert_int_equal(e[n - 1].size, 3ull << 30);
	assert_int_equal(vm_e820_build(6ull << 30, e, 2), 2); /* never past the caller's array */
}

static void test_zero_page(void **s)
{
	static uint8_t b[0x3000], zp[4096];
	struct bzimage bz;
	struct boot_plan p = { .kernel_addr = 0x1000000, .initrd_addr = 0x0ff00000, .initrd_size = 12345,
			       .cmdline_addr = BOOT_CMDLINE, .cmdline_len = 10 };
	struct e820_entry e[E820_MAX];
	size_t n = vm_e820_build(256 << 20, e, E820_MAX);
	(void)s;

	make_header(b, sizeof(b));
	assert_int_equal(vm_bzimage_parse(b, sizeof(b), &bz, NULL), 0);
	vm_zero_page_build(zp, b, &bz, &p, e, n, 0xe0000);
	assert_memory_equal(zp + 0x202, "HdrS", 4);
	assert_int_equal(get_le16(zp + 0x206), 0x020f);
	assert_int_equal(zp[0x210], 0xff);
	assert_int_equal(zp[0x211] & 1, 1);
	assert_int_equal(get_le32(zp + 0x228), BOOT_CMDLINE);
	assert_int_equal(get_le32(zp + 0x218), 0x0ff00000);
	assert_int_equal(get_le32(zp + 0x21c), 12345);
	assert_int_equal(get_le64(zp + 0x070), 0xe0000);
	assert_int_equal(zp[0x1e8], n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(get_le64(zp + 0x2d0 + 20 * i), e[i].addr);
		assert_int_equal(get_le64(zp + 0x2d0 + 20 * i + 8), e[i].size);
		assert_int_equal(get_le32(zp + 0x2d0 + 20 * i + 16), e[i].type);
	}
	/* Nothing past the header's end is copied from the file. */
	b[0x268] = 0x5a;
	vm_zero_page_build(zp, b, &bz, &p, e, n, 0xe0000);
	assert_int_equal(zp[0x268], 0);
}

static const uint8_t *table_at(const uint8_t *buf, size_t len, uint64_t base, uint64_t gpa)
{
	assert_true(gpa >= base && gpa - base + 36 <= len);
	const uint8_t *t = buf + (gpa - base);
	assert_true(gpa - base + get_le32(t + 4) <= len);
	assert_int_equal(vm_acpi_checksum(t, get_le32(t + 4)), 0); /* sums to zero */
	return t;
}

static void test_acpi(void **s)
{
	static uint8_t buf[0x20000];
	const uint64_t base = 0xe0000;
	const uint8_t *xsdt, *fadt = NULL, *madt = NULL, *mcfg = NULL, *dsdt;
	int len;
	(void)s;

	len = vm_acpi_build(buf, sizeof(buf), base, 4, 0x200000000ull, 64ull << 30);
	assert_true(len > 0);
	assert_memory_equal(buf, "RSD PTR ", 8);
	assert_int_equal(vm_acpi_checksum(buf, 20), 0);
	assert_int_equal(vm_acpi_checksum(buf, 36), 0);
	assert_int_equal(buf[15], 2);
	xsdt = table_at(buf, (size_t)len, base, get_le64(buf + 24));
	table_at(buf, (size_t)len, base, get_le32(buf + 16)); /* the RSDT too */
	assert_memory_equal(xsdt, "XSDT", 4);
	for (uint32_t off = 36; off < get_le32(xsdt + 4); off += 8) {
		const uint8_t *t = table_at(buf, (size_t)len, base, get_le64(xsdt + off));
		if (!memcmp(t, "FACP", 4))
			fadt = t;
		else if (!memcmp(t, "APIC", 4))
			madt = t;
		else if (!memcmp(t, "MCFG", 4))
			mcfg = t;
	}
	assert_non_null(fadt);
	assert_non_null(madt);
	assert_non_null(mcfg);

	/* FADT: the PM1a control port the VMM traps, the reset register, DSDT and FACS inside the buffer. */
	assert_int_equal(get_le32(fadt + 64), VM_PORT_PM1A_CNT);
	assert_int_equal(get_le64(fadt + 172 + 4), VM_PORT_PM1A_CNT);
	assert_int_equal(get_le64(fadt + 116 + 4), VM_PORT_RESET);
	assert_int_equal(fadt[128], VM_RESET_VALUE);
	assert_true(get_le32(fadt + 112) & (1u << 10));
	assert_memory_equal(buf + (get_le64(fadt + 132) - base), "FACS", 4);
	assert_int_equal((get_le64(fadt + 132) - base) % 64, 0);
	dsdt = table_at(buf, (size_t)len, base, get_le64(fadt + 140));
	assert_memory_equal(dsdt, "DSDT", 4);
	/* Name(_S5_, Package(4) {5, 5, 0, 0}) */
	static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 5, 0x0a, 5, 0, 0 };
	assert_non_null(memmem(dsdt, get_le32(dsdt + 4), s5, sizeof(s5)));
	assert_non_null(memmem(dsdt, get_le32(dsdt + 4), "PCI0", 4));
	assert_non_null(memmem(dsdt, get_le32(dsdt + 4), "_PRT", 4));
	/* PNP0A08 as an EISA id */
	static const uint8_t hid[] = { 0x0c, 0x41, 0xd0, 0x0a, 0x08 };
	assert_non_null(memmem(dsdt, get_le32(dsdt + 4), hid, sizeof(hid)));

	/* MADT: 4 local APICs with IDs 0-3, one IOAPIC at its window. */
	unsigned cpus = 0, ioapics = 0;
	for (uint32_t off = 44; off < get_le32(madt + 4); off += madt[off + 1]) {
		assert_true(madt[off + 1] >= 2);
		if (madt[off] == 0) {
			assert_int_equal(madt[off + 3], cpus);
			cpus++;
		} else if (madt[off] == 1) {
			assert_int_equal(get_le32(madt + off + 4), VM_IOAPIC_BASE);
			ioapics++;
		}
	}
	assert_int_equal(cpus, 4);
	assert_int_equal(ioapics, 1);
	assert_int_equal(get_le32(madt + 36), VM_LAPIC_BASE);

	assert_int_equal(get_le64(mcfg + 44), VM_ECAM_BASE);
	assert_int_equal(mcfg[54], 0);
	assert_int_equal(mcfg[55], 0);

	assert_int_equal(vm_acpi_build(buf, 200, base, 4, 0, 0), -E2BIG);
	assert_int_equal(vm_acpi_build(buf, sizeof(buf), base, 0, 0, 0), -EINVAL);
	assert_true(vm_acpi_build(buf, sizeof(buf), base, VM_MAX_CPUS, 0, 0) > 0);
}

/* ---- Devices, through the same dispatch the vCPU threads use ---- */

static struct vm *test_vm(void)
{
	struct vm_config cfg = { .name = "t", .memory = 64 << 20, .cpus = 1, .console_in = -1, .console_out = -1 };
	struct vm *vm = NULL;
	if (!test_have_kvm())
		return NULL;
	assert_int_equal(vm_new(&cfg, &vm, NULL), 0);
	return vm;
}

static uint32_t pio_in(struct vm *vm, uint16_t port, unsigned len)
{
	uint8_t d[4] = { 0 };
	vm_io_dispatch(vm, false, port, d, len, false);
	return get_le32(d);
}

static void pio_out(struct vm *vm, uint16_t port, unsigned len, uint32_t v)
{
	uint8_t d[4];
	put_le32(d, v);
	vm_io_dispatch(vm, false, port, d, len, true);
}

static uint32_t ecam_in(struct vm *vm, uint64_t off, unsigned len)
{
	uint8_t d[8] = { 0 };
	vm_io_dispatch(vm, true, VM_ECAM_BASE + off, d, len, false);
	return get_le32(d);
}

static void test_pci(void **s)
{
	struct vm *vm = test_vm();
	static struct vm_pci_device dev;
	uint64_t a;
	(void)s;

	if (!vm)
		TEST_SKIP("kvm", "no usable /dev/kvm");
	pio_out(vm, 0xcf8, 4, 0x80000000);
	assert_int_equal(pio_in(vm, 0xcf8, 4), 0x80000000);
	assert_int_equal(pio_in(vm, 0xcfc, 4), 0x00081b36);
	assert_int_equal(pio_in(vm, 0xcfe, 2), 0x0008);
	pio_out(vm, 0xcf8, 4, 0x80000008);
	assert_int_equal(pio_in(vm, 0xcfc, 4) >> 16, 0x0600);
	/* Vendor ID is read-only; command takes only its writable bits. */
	pio_out(vm, 0xcf8, 4, 0x80000000);
	pio_out(vm, 0xcfc, 2, 0xdead);
	assert_int_equal(pio_in(vm, 0xcfc, 2), 0x1b36);
	pio_out(vm, 0xcf8, 4, 0x80000004);
	pio_out(vm, 0xcfc, 2, 0xffff);
	assert_int_equal(pio_in(vm, 0xcfc, 2), 0x0007);
	/* Absent slot, another bus, another function, the enable bit clear: all ones. */
	pio_out(vm, 0xcf8, 4, 0x80000000 | 5 << 11);
	assert_int_equal(pio_in(vm, 0xcfc, 4), 0xffffffff);
	pio_out(vm, 0xcf8, 4, 0x80010000);
	assert_int_equal(pio_in(vm, 0xcfc, 4), 0xffffffff);
	pio_out(vm, 0xcf8, 4, 0x80000100);
	assert_int_equal(pio_in(vm, 0xcfc, 2), 0xffff);
	pio_out(vm, 0xcf8, 4, 0x00000000);
	assert_int_equal(pio_in(vm, 0xcfc, 4), 0xffffffff);
	/* A byte write to 0xcfb (mechanism #2 probe) does not change the address. */
	pio_out(vm, 0xcf8, 4, 0x80000000);
	pio_out(vm, 0xcfb, 1, 0x01);
	assert_int_equal(pio_in(vm, 0xcf8, 4), 0x80000000);

	/* ECAM: the same registers; the window's edges and straddling accesses are harmless. */
	assert_int_equal(ecam_in(vm, 0, 4), 0x00081b36);
	assert_int_equal(ecam_in(vm, 0xffc, 4), 0);
	assert_int_equal(ecam_in(vm, 0xffe, 4) & 0xffff, 0xffff); /* straddles the end of the function */
	assert_int_equal(ecam_in(vm, VM_ECAM_SIZE - 4, 4), 0xffffffff);
	assert_int_equal(ecam_in(vm, VM_ECAM_SIZE - 2, 4), 0xffffffff); /* straddles the window: unclaimed */
	/* An unaligned word is split into bytes: device ID's high byte, then command's low byte (7). */
	assert_int_equal(ecam_in(vm, 3, 2) & 0xffff, 0x0700);

	/* A device on the bus, its slot chosen or given. */
	put_le16(dev.config, 0x1234);
	put_le16(dev.config + 2, 0x5678);
	assert_int_equal(vm_pci_add(vm, &dev, 0), -EINVAL);
	assert_int_equal(vm_pci_add(vm, &dev, 32), -EINVAL);
	assert_int_equal(vm_pci_add(vm, &dev, -1), 1);
	assert_int_equal(vm_pci_add(vm, &dev, 1), -EBUSY);
	assert_int_equal(ecam_in(vm, 1 << 15, 4), 0x56781234);
	pio_out(vm, 0xcf8, 4, 0x80000000 | 1 << 11);
	assert_int_equal(pio_in(vm, 0xcfc, 4), 0x56781234);

	/* BAR windows: natural alignment, power-of-two sizes, exhaustion. */
	assert_int_equal(vm_pci_alloc_mmio(vm, 0x1000, false, &a), 0);
	assert_int_equal(a, VM_PCI_MMIO32_START);
	assert_int_equal(vm_pci_alloc_mmio(vm, 0x100000, false, &a), 0);
	assert_int_equal(a % 0x100000, 0);
	assert_int_equal(vm_pci_alloc_mmio(vm, 0x3000, false, &a), -EINVAL);
	assert_int_equal(vm_pci_alloc_mmio(vm, 1ull << 30, false, &a), -ENOSPC);
	assert_int_equal(vm_pci_alloc_mmio(vm, 1ull << 30, true, &a), 0);
	assert_true(a >= VM_HIGH_RAM_START && a % (1ull << 30) == 0);
	assert_int_equal(vm_pci_alloc_mmio(vm, 1ull << 62, true, &a), -ENOSPC);
	vm_free(vm);
}

static void test_uart_cmos_ram(void **s)
{
	struct vm *vm = test_vm();
	const uint16_t u = VM_PORT_SERIAL;
	uint8_t big[100];
	(void)s;

	if (!vm)
		TEST_SKIP("kvm", "no usable /dev/kvm");
	assert_int_equal(pio_in(vm, u + 5, 1) & 0x60, 0x60); /* THR empty */
	assert_int_equal(pio_in(vm, u + 2, 1) & 0x0f, 0x01); /* nothing pending */
	pio_out(vm, u + 2, 1, 0x01);                          /* FIFO on */
	pio_out(vm, u + 1, 1, 0x02);                          /* THR-empty interrupt on: pending at once */
	assert_int_equal(pio_in(vm, u + 2, 1), 0xc2);
	assert_int_equal(pio_in(vm, u + 2, 1), 0xc1); /* reading IIR acknowledged it */
	/* Loopback as the kernel's probe sets it: MSR mirrors the modem control outputs. */
	pio_out(vm, u + 4, 1, 0x1a);
	assert_int_equal(pio_in(vm, u + 6, 1) & 0xf0, 0x90);
	pio_out(vm, u + 0, 1, 'x'); /* loops back into the receiver */
	assert_int_equal(pio_in(vm, u + 5, 1) & 1, 1);
	assert_int_equal(pio_in(vm, u + 0, 1), 'x');
	assert_int_equal(pio_in(vm, u + 5, 1) & 1, 0);
	pio_out(vm, u + 4, 1, 0x0b);
	pio_out(vm, u + 7, 1, 0x5a);
	assert_int_equal(pio_in(vm, u + 7, 1), 0x5a);
	/* Divisor latch behind DLAB. */
	pio_out(vm, u + 3, 1, 0x83);
	pio_out(vm, u + 0, 1, 0x01);
	assert_int_equal(pio_in(vm, u + 0, 1), 0x01);
	pio_out(vm, u + 3, 1, 0x03);
	/* Input: the FIFO takes what fits; received data raises the data-ready bit and its interrupt. */
	memset(big, 'a', sizeof(big));
	assert_int_equal(vm_serial_input(&vm->serial, big, sizeof(big)), SERIAL_FIFO);
	pio_out(vm, u + 1, 1, 0x01);
	assert_int_equal(pio_in(vm, u + 2, 1) & 0x0f, 0x04);
	for (int i = 0; i < SERIAL_FIFO; i++)
		assert_int_equal(pio_in(vm, u + 0, 1), 'a');
	assert_int_equal(pio_in(vm, u + 0, 1), 0);
	/* A 4-byte access at the last register reads past the UART: all ones there, no crash. */
	assert_int_equal(pio_in(vm, u + 7, 1), 0x5a);

	/* CMOS: never "update in progress", 24-hour BCD. */
	pio_out(vm, 0x70, 1, 0x0a);
	assert_int_equal(pio_in(vm, 0x71, 1) & 0x80, 0);
	pio_out(vm, 0x70, 1, 0x8b); /* NMI mask bit set: still register 0x0b */
	assert_int_equal(pio_in(vm, 0x71, 1), 0x02);

	/* Unclaimed ports read as all ones. */
	assert_int_equal(pio_in(vm, 0x1234, 2), 0xffff);

	/* Guest RAM bounds: inside, across the end, wrapping, in the hole. */
	assert_non_null(vm_gpa_to_hva(vm, 0, 64 << 20));
	assert_null(vm_gpa_to_hva(vm, (64 << 20) - 1, 2));
	assert_null(vm_gpa_to_hva(vm, 4096, UINT64_MAX));
	assert_null(vm_gpa_to_hva(vm, UINT64_MAX, 2));
	assert_null(vm_gpa_to_hva(vm, VM_ECAM_BASE, 4));
	const struct vm_ram_region *r;
	assert_int_equal(vm_ram_regions(vm, &r), 1);
	assert_int_equal(r[0].gpa, 0);
	assert_int_equal(r[0].size, 64 << 20);
	/* A memfd or anonymous memory (fd -1), whichever this host's default is; a page size either way. */
	assert_true(r[0].fd >= -1);
	assert_true(r[0].page_size == 4096 || r[0].page_size == 2 << 20 || r[0].page_size == 1 << 30);
	vm_free(vm);
}

static int memory_new(uint64_t size, enum vm_ram_backing b, uint64_t hugepage_size, struct vm_memory **m)
{
	const char *why = NULL;
	struct vm_config cfg = { .name = "t", .memory = size, .backing = b, .hugepage_size = hugepage_size };
	int r = vm_memory_new(&cfg, m, &why);

	if (r < 0)
		assert_non_null(why); /* every refusal says why */
	return r;
}

static void test_memory_layout(void **s)
{
	struct vm_memory *m = NULL;
	struct vm_ram_info info;
	(void)s;
	/* 4 GiB of address space, nothing touched: the split around the hole, one memfd behind both. */
	assert_int_equal(memory_new(4ull << 30, VM_RAM_MEMFD, 0, &m), 0);
	assert_int_equal(m->nregions, 2);
	assert_int_equal(m->regions[0].size, VM_LOW_RAM_END);
	assert_int_equal(m->regions[1].gpa, VM_HIGH_RAM_START);
	assert_int_equal(m->regions[1].size, (4ull << 30) - VM_LOW_RAM_END);
	assert_int_equal(m->regions[1].fd_offset, VM_LOW_RAM_END);
	assert_ptr_equal(vm_memory_hva(m, VM_HIGH_RAM_START, 8), m->regions[1].hva);
	assert_true(m->regions[0].fd >= 0);
	assert_int_equal(m->regions[0].fd, m->regions[1].fd);
	assert_null(vm_memory_hva(m, VM_LOW_RAM_END - 4, 8)); /* into the hole */
	assert_int_equal(vm_memory_end(m), VM_HIGH_RAM_START + (1ull << 30));
	assert_int_equal(vm_memory_info(m, &info), 0);
	assert_string_equal(info.backing, "memfd");
	assert_false(info.prefaulted);
	vm_memory_free(m);

	/* Anonymous memory: no fd, each region's host address aligned for 2M pages, usable at once. */
	assert_int_equal(memory_new(4ull << 30, VM_RAM_ANON, 0, &m), 0);
	assert_int_equal(m->nregions, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(m->regions[i].fd, -1);
		assert_int_equal((uintptr_t)m->regions[i].hva % (2 << 20), 0);
	}
	memset(vm_memory_hva(m, VM_HIGH_RAM_START, 4096), 0x5a, 4096);
	assert_int_equal(vm_memory_info(m, &info), 0);
	assert_string_equal(info.backing, "anon");
	assert_non_null(info.reason);
	vm_memory_free(m);

	/* An assigned device needs pinned RAM: it is faulted in before boot without --prefault. */
	{
		const char *why = NULL;
		const char *assign[] = { "0000:03:00.0" };
		struct vm_config cfg = { .name = "t", .memory = 32 << 20, .backing = VM_RAM_ANON, .assign = assign,
					 .nassign = 1 };
		assert_int_equal(vm_memory_new(&cfg, &m, &why), 0);
		assert_int_equal(vm_memory_info(m, &info), 0);
		assert_true(info.prefaulted);
		assert_true(info.prefault_threads >= 1);
		assert_true(info.huge_bytes_known);
		assert_int_equal(vm_memory_prefault(m), 0); /* once is enough */
		vm_memory_free(m);
		cfg.nassign = 0;
		assert_int_equal(vm_memory_new(&cfg, &m, &why), 0);
		assert_int_equal(vm_memory_info(m, &info), 0);
		assert_false(info.prefaulted);
		vm_memory_free(m);
	}
	assert_int_equal(memory_new(3 << 20, VM_RAM_AUTO, 0, &m), -EINVAL);
	assert_int_equal(memory_new((64 << 20) + 4096, VM_RAM_AUTO, 0, &m), -EINVAL);
	assert_int_equal(memory_new(64 << 20, VM_RAM_AUTO, 12345, &m), -EINVAL);
	/* --hugepages 2m with --backing anon: a contradiction, refused before anything is allocated. */
	assert_int_equal(memory_new(64 << 20, VM_RAM_ANON, 2 << 20, &m), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bzimage), cmocka_unit_test(test_boot_plan),    cmocka_unit_test(test_e820),
		cmocka_unit_test(test_zero_page), cmocka_unit_test(test_acpi),       cmocka_unit_test(test_pci),
		cmocka_unit_test(test_uart_cmos_ram), cmocka_unit_test(test_memory_layout),
	};
	return test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
