/* fuzz-pci-config.c: the VM's PCI configuration space and what hangs off it, driven the way a hostile
 * guest drives it: configuration mechanism #1 (ports 0xcf8/0xcfc-0xcff), ECAM (VM_ECAM_BASE, bus 0) and
 * MMIO/PIO anywhere (BARs the guest moved, the MSI-X table and PBA). The VM is real (this machine's
 * /dev/kvm, made per input so every input starts from the same state) with the host bridge and the
 * vfio-pci device model over a fake VFIO device (an igb VF-like config space with MSI, MSI-X, PCIe,
 * SR-IOV and AER capabilities, BARs in anonymous memory). When the input's first byte has bit 0 set, the
 * next 256 bytes replace the device's standard config header and capability area (a hostile device).
 * Then a sequence of accesses: kind (1 byte), address (4), length code (1), data (4). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"
#include "tests/lib/fake-vfio.h"
#include "vm/devices/vfio-pci.h"
#include "vm/internal.h"
#include "vm/vm.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		fuzz_skip("kvm", "no usable /dev/kvm");
	return 0;
}

enum { OP_CONF1_WRITE, OP_CONF1_READ, OP_ECAM_WRITE, OP_ECAM_READ, OP_MMIO_WRITE, OP_MMIO_READ, OP_PIO_WRITE,
       OP_PIO_READ, OP_KINDS };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config cfg = { .name = "fuzz", .memory = 16 << 20, .cpus = 1, .console_in = -1, .console_out = -1 };
	struct fuzz_in in = fuzz_in(data, size);
	struct vm *vm = NULL;
	struct fake_vfio *f;
	const char *why = NULL;
	unsigned flags = (unsigned)fuzz_take(&in, 1);

	if (vm_new(&cfg, &vm, &why) < 0) {
		fprintf(stderr, "fuzz-pci-config: cannot make a VM: %s\n", why ? why : "?");
		abort();
	}
	f = malloc(sizeof(*f));
	if (!f)
		abort();
	fake_vfio_init(f);
	f->free_on_release = true;
	if (flags & 1) {
		size_t got;
		const uint8_t *p = fuzz_bytes(&in, 256, &got);
		memcpy(f->cfg, p, got);
	}
	/* a hostile device may be refused (the backend is then freed): the accesses still go to the bus */
	(void)vm_vfio_pci_add_backend(vm, "0000:01:10.0", &fake_vfio_ops, f, &why);

	for (unsigned n = 0; in.left && n < 4096; n++) {
		unsigned kind = (unsigned)fuzz_take(&in, 1) % OP_KINDS;
		uint32_t addr = (uint32_t)fuzz_take(&in, 4);
		unsigned len = 1u << (fuzz_take(&in, 1) % 3); /* 1, 2, 4 */
		uint8_t d[8] = { 0 };
		uint32_t v = (uint32_t)fuzz_take(&in, 4);
		put_le32(d, v);
		switch (kind) {
		case OP_CONF1_WRITE:
		case OP_CONF1_READ:
			/* the address register, then one access to the data window */
			put_le32(d + 4, addr);
			vm_io_dispatch(vm, false, 0xcf8, d + 4, 4, true);
			vm_io_dispatch(vm, false, 0xcfc + (v >> 30 & 3) / len * len, d, len, kind == OP_CONF1_WRITE);
			break;
		case OP_ECAM_WRITE:
		case OP_ECAM_READ:
			vm_io_dispatch(vm, true, VM_ECAM_BASE + (addr & (VM_ECAM_SIZE - 1) & ~(uint32_t)(len - 1)), d, len,
				       kind == OP_ECAM_WRITE);
			break;
		case OP_MMIO_WRITE:
		case OP_MMIO_READ:
			vm_io_dispatch(vm, true, addr, d, len, kind == OP_MMIO_WRITE);
			break;
		case OP_PIO_WRITE:
		case OP_PIO_READ:
			vm_io_dispatch(vm, false, (uint16_t)addr, d, len, kind == OP_PIO_WRITE);
			break;
		}
	}
	vm_free(vm);
	return 0;
}
