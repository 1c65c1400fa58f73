/* fuzz-bzimage.c: the bzImage setup-header checks and what is built from them, without KVM: the input is
 * the kernel file (its first 4 KiB are the header vm_bzimage_parse reads; its size bounds the payload);
 * a header that passes is planned into guest memories of several sizes and its zero page built. The ELF
 * loader and the loading itself run in fuzz-boot (they need a VM). */
#include <stdlib.h>

#include "tests/fuzz/fuzz.h"
#include "vm/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t mems[] = { 16ull << 20, 64ull << 20, 3ull << 30, 8ull << 30 };
	uint8_t *head = calloc(1, 4096), zp[4096];
	struct bzimage bz;
	const char *why = NULL;

	if (!head)
		return 0;
	memcpy(head, data, size < 4096 ? size : 4096);
	if (vm_bzimage_parse(head, size, &bz, &why) == 0) {
		for (size_t i = 0; i < sizeof(mems) / sizeof(mems[0]); i++) {
			struct boot_plan plan;
			struct e820_entry e820[E820_MAX];
			size_t n = vm_e820_build(mems[i], e820, E820_MAX);
			/* an initrd of the input's size and a command line of its last byte's length, times 64 */
			size_t clen = 1 + (size ? data[size - 1] * 64u : 0);
			if (vm_boot_plan(&bz, mems[i], size, clen, &plan) == 0)
				vm_zero_page_build(zp, head, &bz, &plan, e820, n, ACPI_RSDP_ADDR);
		}
	}
	free(head);
	return 0;
}
