/* fuzz-boot.c: the kernel loaders as `ptctl vm run --kernel FILE` runs them (vm/boot.c: the bzImage loader
 * and the vmlinux ELF loader, PT_LOAD segments into guest RAM), with the input as the kernel file (a
 * memfd) and a real VM on this machine's /dev/kvm (64 MiB, made once). Half the inputs also get an
 * initrd: the input's second half. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"
#include "vm/internal.h"
#include "vm/vm.h"

static struct vm *vm;
static int kfd = -1, ifd = -1;
static char kpath[64], ipath[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct vm_config cfg = { .name = "fuzz", .memory = 64 << 20, .cpus = 1, .console_in = -1, .console_out = -1 };
	const char *why = NULL;

	(void)argc, (void)argv;
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		fuzz_skip("kvm", "no usable /dev/kvm");
	if (vm_new(&cfg, &vm, &why) < 0) {
		fprintf(stderr, "fuzz-boot: cannot make a VM: %s\n", why ? why : "?");
		abort();
	}
	kfd = memfd_create("kernel", MFD_CLOEXEC);
	ifd = memfd_create("initrd", MFD_CLOEXEC);
	if (kfd < 0 || ifd < 0)
		abort();
	snprintf(kpath, sizeof(kpath), "/proc/self/fd/%d", kfd);
	snprintf(ipath, sizeof(ipath), "/proc/self/fd/%d", ifd);
	return 0;
}

static void put(int fd, const uint8_t *p, size_t n)
{
	if (ftruncate(fd, 0) < 0 || pwrite(fd, p, n, 0) != (ssize_t)n)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	/* bit 0 of the last byte: split off an initrd */
	bool with_initrd = size > 1 && (data[size - 1] & 1);
	size_t klen = with_initrd ? size / 2 : size;

	put(kfd, data, klen);
	if (with_initrd)
		put(ifd, data + klen, size - klen);
	(void)vm_boot_linux(vm, kpath, with_initrd ? ipath : NULL, "console=ttyS0 fuzz", &why);
	return 0;
}
