/* boot.c: direct Linux boot without firmware: bzImage (or vmlinux ELF) checks, where kernel/initrd/cmdline go,
 * the e820 map and zero page, and vCPU 0's 64-bit entry state (flat GDT, identity-mapped 4 GiB). */
#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"
#include "util/log.h"
#include "util/root.h"

/* Setup header offsets in the bzImage file and the zero page (Documentation/arch/x86/boot.rst). */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_START 0x1f1
#define HDR_SYSSIZE 0x1f4
#define HDR_VID_MODE 0x1fa
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_HARDWARE_SUBARCH 0x23c
#define HDR_PAYLOAD_OFFSET 0x248
#define HDR_PAYLOAD_LENGTH 0x24c
#define HDR_SETUP_DATA 0x250
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define ZP_ACPI_RSDP 0x070
#define ZP_EXT_RAMDISK_IMAGE 0x0c0
#define ZP_EXT_RAMDISK_SIZE 0x0c4
#define ZP_EXT_CMD_LINE_PTR 0x0c8
#define ZP_E820_ENTRIES 0x1e8
#define ZP_E820_TABLE 0x2d0

#define LOADED_HIGH 0x01
#define XLF_KERNEL_64 0x01
#define MIN_PROTOCOL 0x020c /* xloadflags (the 64-bit entry flag) appeared in 2.12 */

int vm_bzimage_parse(const uint8_t *buf, size_t len, struct bzimage *ret, const char **why)
{
	struct bzimage bz = { 0 };
	const char *dummy;

	if (!why)
		why = &dummy;
	if (len < 0x1000) {
		*why = "too short to be a bzImage";
		return -ENOEXEC;
	}
	if (get_le16(buf + HDR_BOOT_FLAG) != 0xaa55 || memcmp(buf + HDR_MAGIC, "HdrS", 4) != 0) {
		*why = "no Linux boot header (not a bzImage)";
		return -ENOEXEC;
	}
	bz.version = get_le16(buf + HDR_VERSION);
	if (bz.version < MIN_PROTOCOL) {
		*why = "boot protocol older than 2.12";
		return -ENOEXEC;
	}
	bz.loadflags = buf[HDR_LOADFLAGS];
	bz.xloadflags = get_le16(buf + HDR_XLOADFLAGS);
	if (!(bz.loadflags & LOADED_HIGH)) {
		*why = "a zImage (loaded low), not a bzImage";
		return -ENOEXEC;
	}
	if (!(bz.xloadflags & XLF_KERNEL_64)) {
		*why = "kernel has no 64-bit entry point";
		return -ENOEXEC;
	}
	bz.setup_sects = buf[HDR_SETUP_SECTS] ? buf[HDR_SETUP_SECTS] : 4;
	bz.setup_size = ((size_t)bz.setup_sects + 1) * 512;
	if (bz.setup_size >= len) {
		*why = "setup sectors run past the end of the file";
		return -ENOEXEC;
	}
	bz.kernel_offset = bz.setup_size;
	bz.kernel_size = len - bz.setup_size;
	/* The header says how much kernel follows the setup (syssize, 16-byte units, rounded up) and
	 * where its compressed payload is: a file cut short or without a payload would boot garbage. */
	uint64_t syssize = get_le32(buf + HDR_SYSSIZE), poff = get_le32(buf + HDR_PAYLOAD_OFFSET),
		 plen = get_le32(buf + HDR_PAYLOAD_LENGTH);
	if (syssize == 0 || plen == 0) {
		*why = "no kernel payload after the setup code (syssize or payload_length is 0)";
		return -ENOEXEC;
	}
	if (syssize * 16 > bz.kernel_size + 15 || poff > bz.kernel_size || plen > bz.kernel_size - poff) {
		*why = "truncated: the header promises more kernel than the file holds";
		return -ENOEXEC;
	}
	bz.initrd_addr_max = get_le32(buf + HDR_INITRD_ADDR_MAX);
	bz.kernel_alignment = get_le32(buf + HDR_KERNEL_ALIGNMENT);
	bz.relocatable = buf[HDR_RELOCATABLE];
	bz.cmdline_size = get_le32(buf + HDR_CMDLINE_SIZE);
	bz.pref_address = get_le64(buf + HDR_PREF_ADDRESS);
	bz.init_size = get_le32(buf + HDR_INIT_SIZE);
	if (bz.initrd_addr_max == 0)
		bz.initrd_addr_max = 0x37ffffff; /* the documented default for old protocols */
	*ret = bz;
	return 0;
}

int vm_boot_plan(const struct bzimage *bz, uint64_t mem, uint64_t initrd_size, size_t cmdline_len,
		 struct boot_plan *ret)
{
	uint64_t low_end = mem < VM_LOW_RAM_END ? mem : VM_LOW_RAM_END;
	uint64_t kaddr = bz->pref_address >= BOOT_BIOS_END ? bz->pref_address : 0x1000000;
	uint64_t kspan = bz->init_size > bz->kernel_size ? bz->init_size : bz->kernel_size;
	uint64_t kend, top;
	struct boot_plan p = { 0 };

	if (cmdline_len > BOOT_CMDLINE_MAX || (bz->cmdline_size && cmdline_len > (uint64_t)bz->cmdline_size + 1))
		return -E2BIG;
	if (kaddr > low_end || kspan > low_end - kaddr)
		return -ENOMEM;
	kend = kaddr + kspan;
	p.kernel_addr = kaddr;
	p.cmdline_addr = BOOT_CMDLINE;
	p.cmdline_len = cmdline_len;
	if (initrd_size) {
		top = (uint64_t)bz->initrd_addr_max + 1;
		if (top > low_end)
			top = low_end;
		if (initrd_size > top)
			return -ENOMEM;
		p.initrd_addr = (top - initrd_size) & ~0xfffull;
		if (p.initrd_addr < kend)
			return -ENOMEM;
		p.initrd_size = initrd_size;
	}
	*ret = p;
	return 0;
}

size_t vm_e820_build(uint64_t mem, struct e820_entry *out, size_t max)
{
	uint64_t low_end = mem < VM_LOW_RAM_END ? mem : VM_LOW_RAM_END;
	struct e820_entry all[] = {
		{ 0, BOOT_EBDA_START, E820_RAM },
		{ BOOT_EBDA_START, 0xa0000 - BOOT_EBDA_START, E820_RESERVED },
		{ BOOT_BIOS_START, BOOT_BIOS_END - BOOT_BIOS_START, E820_RESERVED },
		{ BOOT_BIOS_END, low_end - BOOT_BIOS_END, E820_RAM },
		/* Reserved so the kernel accepts MCFG's window (it checks e820 early on). */
		{ VM_ECAM_BASE, VM_ECAM_SIZE, E820_RESERVED },
		{ VM_HIGH_RAM_START, mem - low_end, E820_RAM },
	};
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(all) && n < max; i++)
		if (all[i].size)
			out[n++] = all[i];
	return n;
}

void vm_zero_page_build(uint8_t *zp, const uint8_t *kernel_file, const struct bzimage *bz,
			const struct boot_plan *plan, const struct e820_entry *e820, size_t ne820, uint64_t rsdp)
{
	/* The header runs from 0x1f1 to the end the jump at 0x200 points past (0x202 + its offset). */
	size_t hdr_end = 0x202 + kernel_file[HDR_JUMP + 1];

	memset(zp, 0, 4096);
	if (hdr_end > bz->setup_size)
		hdr_end = bz->setup_size;
	if (hdr_end > 4096)
		hdr_end = 4096;
	memcpy(zp + HDR_START, kernel_file + HDR_START, hdr_end - HDR_START);

	put_le16(zp + HDR_VID_MODE, 0xffff);
	zp[HDR_TYPE_OF_LOADER] = 0xff; /* an undefined loader */
	zp[HDR_LOADFLAGS] |= LOADED_HIGH;
	put_le32(zp + HDR_RAMDISK_IMAGE, (uint32_t)plan->initrd_addr);
	put_le32(zp + HDR_RAMDISK_SIZE, (uint32_t)plan->initrd_size);
	put_le32(zp + ZP_EXT_RAMDISK_IMAGE, (uint32_t)(plan->initrd_addr >> 32));
	put_le32(zp + ZP_EXT_RAMDISK_SIZE, (uint32_t)(plan->initrd_size >> 32));
	put_le32(zp + HDR_CMD_LINE_PTR, (uint32_t)plan->cmdline_addr);
	put_le32(zp + ZP_EXT_CMD_LINE_PTR, (uint32_t)(plan->cmdline_addr >> 32));
	put_le32(zp + HDR_HARDWARE_SUBARCH, 0);
	put_le64(zp + HDR_SETUP_DATA, 0);
	put_le64(zp + ZP_ACPI_RSDP, rsdp);

	if (ne820 > E820_MAX)
		ne820 = E820_MAX;
	zp[ZP_E820_ENTRIES] = (uint8_t)ne820;
	for (size_t i = 0; i < ne820; i++) {
		uint8_t *e = zp + ZP_E820_TABLE + i * 20;
		put_le64(e, e820[i].addr);
		put_le64(e + 8, e820[i].size);
		put_le32(e + 16, e820[i].type);
	}
}

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code)
{
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = code ? 0 : 1, /* a 64-bit code segment has L=1, D=0 */
		.s = 1,
		.l = code ? 1 : 0,
		.g = 1,
	};
}

int vm_boot_cpu_state(struct vm *vm, uint64_t rip, uint64_t rsi)
{
	/* The 64-bit boot protocol wants selectors 0x10 (code) and 0x18 (data), 4 GiB flat. */
	static const uint64_t gdt[] = { 0, 0, 0x00af9b000000ffffull, 0x00cf93000000ffffull };
	uint8_t *g = vm_memory_hva(vm->mem, BOOT_GDT_ADDR, sizeof(gdt));
	uint8_t *pml4 = vm_memory_hva(vm->mem, BOOT_PML4, 4096);
	uint8_t *pdpt = vm_memory_hva(vm->mem, BOOT_PDPT, 4096);
	uint8_t *pd = vm_memory_hva(vm->mem, BOOT_PD, 4 * 4096);
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rflags = 2, .rip = rip, .rsi = rsi, .rsp = BOOT_STACK_TOP };
	int fd = vm->vcpus[0].fd;

	if (!g || !pml4 || !pdpt || !pd)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(gdt); i++)
		put_le64(g + i * 8, gdt[i]);
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	put_le64(pml4, BOOT_PDPT | 3);
	for (unsigned i = 0; i < 4; i++)
		put_le64(pdpt + i * 8, (BOOT_PD + i * 4096) | 3);
	for (uint64_t i = 0; i < 4 * 512; i++)
		put_le64(pd + i * 8, (i << 21) | 0x83); /* present, writable, 2 MiB page */

	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		return negative_errno();
	sregs.cs = flat_segment(0x10, 0xb, true);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(0x18, 0x3, false);
	sregs.gdt = (struct kvm_dtable){ .base = BOOT_GDT_ADDR, .limit = sizeof(gdt) - 1 };
	sregs.idt = (struct kvm_dtable){ .base = 0, .limit = 0 };
	sregs.cr3 = BOOT_PML4;
	sregs.cr4 = 0x20;                /* PAE */
	sregs.cr0 = 0x80050033;          /* PG WP NE ET MP PE */
	sregs.efer = 0x500;              /* LMA LME */
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0)
		return negative_errno();
	if (ioctl(fd, KVM_SET_REGS, &regs) < 0)
		return negative_errno();
	return 0;
}

static int open_sized(const char *path, uint64_t *size)
{
	/* A FIFO or device as --kernel/--initrd is refused, never opened (it would block). */
	return file_open_regular(path, O_RDONLY, size);
}

/* Does [start, end) overlap the file data of any PT_LOAD segment before index n? */
static bool bss_overlaps_data(const uint8_t *phdrs, unsigned n, uint64_t start, uint64_t end)
{
	for (unsigned j = 0; j < n; j++) {
		Elf64_Phdr ph;
		memcpy(&ph, phdrs + (uint64_t)j * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD && ph.p_paddr < end && start < ph.p_paddr + ph.p_filesz)
			return true;
	}
	return false;
}

/* An uncompressed vmlinux (ELF64, x86-64): its PT_LOAD segments go to their physical addresses and it is
 * entered at e_entry through the same 64-bit protocol. *ret_bz gets a synthetic header in hdr, as the
 * zero page builder reads one from a bzImage. */
static int elf_load(struct vm *vm, struct vm_loader *ld, int fd, const uint8_t *buf, size_t head, uint64_t len,
		    uint8_t *hdr, struct bzimage *ret_bz, uint64_t *ret_entry, const char **why)
{
	const Elf64_Ehdr *eh = (const void *)buf;
	uint64_t lo = UINT64_MAX, hi = 0;
	int r;

	if (head < sizeof(*eh) || eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64 || eh->e_type != ET_EXEC) {
		*why = "an ELF file, but not an x86-64 vmlinux";
		return -ENOEXEC;
	}
	/* The program headers must lie in the head read so far (a vmlinux has them right after the ELF header). */
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > head ||
	    (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > head - eh->e_phoff) {
		*why = "vmlinux program headers run past the end of the file or its first 64 KiB";
		return -ENOEXEC;
	}
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, buf + eh->e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		uint8_t *dst = vm_memory_hva(vm->mem, ph.p_paddr, ph.p_memsz);
		if (ph.p_filesz > ph.p_memsz || ph.p_offset > len || ph.p_filesz > len - ph.p_offset) {
			*why = "a vmlinux segment runs past the end of the file";
			return -ENOEXEC;
		}
		if (!dst || ph.p_paddr < BOOT_BIOS_END) {
			*why = "vmlinux does not fit in guest memory (give it more with --memory)";
			return -ENOMEM;
		}
		r = vm_loader_queue(ld, fd, dst, ph.p_filesz, ph.p_offset);
		/* Fresh guest RAM reads as zeros: the segment's bss needs clearing only where an earlier
		 * segment put data (writing 17 MB of zeros would only fault those pages in early); that
		 * data must be there first. */
		if (r == 0 && bss_overlaps_data(buf + eh->e_phoff, i, ph.p_paddr + ph.p_filesz, ph.p_paddr + ph.p_memsz)) {
			r = vm_loader_run(ld);
			if (r == 0)
				memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
		}
		if (r < 0) {
			*why = "cannot read the kernel";
			return r;
		}
		lo = ph.p_paddr < lo ? ph.p_paddr : lo;
		hi = ph.p_paddr + ph.p_memsz > hi ? ph.p_paddr + ph.p_memsz : hi;
	}
	if (hi == 0 || eh->e_entry < lo || eh->e_entry >= hi) {
		*why = "vmlinux has no loadable segment holding its entry point";
		return -ENOEXEC;
	}
	/* What a bzImage's header would have said; the kernel reads these back from the zero page. */
	memset(hdr, 0, 0x1000);
	put_le16(hdr + HDR_BOOT_FLAG, 0xaa55);
	hdr[HDR_JUMP + 1] = 0x66;
	memcpy(hdr + HDR_MAGIC, "HdrS", 4);
	put_le16(hdr + HDR_VERSION, 0x020f);
	hdr[HDR_LOADFLAGS] = LOADED_HIGH;
	put_le32(hdr + HDR_INITRD_ADDR_MAX, 0x7fffffff);
	put_le32(hdr + HDR_KERNEL_ALIGNMENT, 0x200000);
	put_le16(hdr + HDR_XLOADFLAGS, XLF_KERNEL_64);
	put_le32(hdr + HDR_CMDLINE_SIZE, 2047);
	*ret_bz = (struct bzimage){
		.version = 0x020f, .loadflags = LOADED_HIGH, .xloadflags = XLF_KERNEL_64,
		.initrd_addr_max = 0x7fffffff, .kernel_alignment = 0x200000, .cmdline_size = 2047,
		.pref_address = lo, .init_size = (uint32_t)(hi - lo), .setup_size = 0x1000,
	};
	*ret_entry = eh->e_entry;
	return 0;
}

/* The kernel file's first bytes: the bzImage setup header or the ELF and program headers. The rest is
 * read straight into guest RAM where it belongs. */
#define KERNEL_HEAD (64u << 10)

int vm_boot_linux(struct vm *vm, const char *kernel, const char *initrd, const char *cmdline, const char **why)
{
	_cleanup_close_ int kfd = -1, ifd = -1;
	_cleanup_free_ uint8_t *kbuf = NULL;
	uint64_t ksize, isize = 0;
	size_t head;
	struct bzimage bz;
	struct boot_plan plan;
	struct e820_entry e820[E820_MAX];
	size_t ne820, clen = strlen(cmdline ? cmdline : "") + 1;
	uint8_t elf_hdr[0x1000];
	uint64_t entry = 0;
	bool is_elf;
	uint8_t *dst;
	struct timespec t0, t1;
	struct vm_loader ld = { .n = 0 };
	int r;

	*why = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kfd = open_sized(kernel, &ksize);
	if (kfd < 0)
		return *why = kfd == -EINVAL ? "the kernel is not a regular file" : "cannot read the kernel", kfd;
	if (ksize > (256u << 20))
		return *why = "kernel file larger than 256 MiB (not a bzImage)", -ENOEXEC;
	head = ksize < KERNEL_HEAD ? (size_t)ksize : KERNEL_HEAD;
	kbuf = calloc(1, KERNEL_HEAD);
	if (!kbuf)
		return -ENOMEM;
	r = vm_read_full(kfd, kbuf, head, 0);
	if (r < 0)
		return *why = "cannot read the kernel", r;
	is_elf = ksize >= SELFMAG && memcmp(kbuf, ELFMAG, SELFMAG) == 0;
	/* vm_bzimage_parse reads only the header page; it is given the file's size for the bounds. */
	r = is_elf ? elf_load(vm, &ld, kfd, kbuf, head, ksize, elf_hdr, &bz, &entry, why)
		   : vm_bzimage_parse(kbuf, ksize, &bz, why);
	if (r < 0)
		return r;
	if (initrd) {
		ifd = open_sized(initrd, &isize);
		if (ifd < 0)
			return *why = ifd == -EINVAL ? "the initrd is not a regular file" : "cannot read the initrd", ifd;
	}
	r = vm_boot_plan(&bz, vm->mem->size, isize, clen, &plan);
	if (r == -E2BIG)
		return *why = "command line longer than the kernel accepts", r;
	if (r < 0)
		return *why = "kernel and initrd do not fit in guest memory (give it more with --memory)", r;
	log_debug("boot: %s of %" PRIu64 " bytes at 0x%" PRIx64 " (spans 0x%x), initrd %" PRIu64 " bytes at 0x%" PRIx64,
		  is_elf ? "vmlinux" : "bzImage", ksize, plan.kernel_addr, bz.init_size, isize, plan.initrd_addr);

	if (!is_elf) {
		dst = vm_memory_hva(vm->mem, plan.kernel_addr, bz.kernel_size);
		if (!dst)
			return -ENOMEM;
		r = vm_loader_queue(&ld, kfd, dst, bz.kernel_size, bz.kernel_offset);
		if (r < 0)
			return *why = "cannot read the kernel", r;
		/* The 64-bit entry point sits 0x200 past the start of the protected-mode kernel. */
		entry = plan.kernel_addr + 0x200;
	}
	if (isize) {
		dst = vm_memory_hva(vm->mem, plan.initrd_addr, isize);
		if (!dst)
			return -ENOMEM;
		r = vm_loader_queue(&ld, ifd, dst, isize, 0);
		if (r < 0)
			return *why = "cannot read the initrd", r;
	}
	/* Kernel and initrd, in parallel pieces. */
	r = vm_loader_run(&ld);
	if (r < 0)
		return *why = "cannot read the kernel or initrd", r;
	dst = vm_memory_hva(vm->mem, plan.cmdline_addr, clen);
	if (!dst)
		return -ENOMEM;
	memcpy(dst, cmdline ? cmdline : "", clen);

	ne820 = vm_e820_build(vm->mem->size, e820, E820_MAX);
	dst = vm_memory_hva(vm->mem, BOOT_ZERO_PAGE, 4096);
	if (!dst)
		return -ENOMEM;
	vm_zero_page_build(dst, is_elf ? elf_hdr : kbuf, &bz, &plan, e820, ne820, ACPI_RSDP_ADDR);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* The VMM's share of the time before the kernel's first instruction. */
	log_debug("boot: kernel and initrd loaded in %.1f ms (%u thread%s)",
		  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6, ld.used_threads,
		  ld.used_threads == 1 ? "" : "s");
	return vm_boot_cpu_state(vm, entry, BOOT_ZERO_PAGE);
}
