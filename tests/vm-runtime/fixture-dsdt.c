/* fixture-dsdt.c: writes the DSDT that ptctl's VMs get to stdout (for test-acpi-iasl.sh, which has the
 * ACPI reference compiler disassemble it). */
#include <stdio.h>

#include "vm/internal.h"

int main(void)
{
	static uint8_t buf[0x20000];
	const uint64_t base = 0xe0000;
	int len = vm_acpi_build(buf, sizeof(buf), base, 2, 0x200000000ull, 64ull << 30);
	const uint8_t *xsdt, *fadt = NULL, *dsdt;

	if (len < 0)
		return 1;
	xsdt = buf + (get_le64(buf + 24) - base);
	for (uint32_t off = 36; off < get_le32(xsdt + 4); off += 8) {
		const uint8_t *t = buf + (get_le64(xsdt + off) - base);
		if (!memcmp(t, "FACP", 4))
			fadt = t;
	}
	if (!fadt)
		return 1;
	dsdt = buf + (get_le64(fadt + 140) - base);
	return fwrite(dsdt, 1, get_le32(dsdt + 4), stdout) == get_le32(dsdt + 4) ? 0 : 1;
}
