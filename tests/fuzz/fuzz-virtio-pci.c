/* fuzz-virtio-pci.c: virtio-net-pci as a hostile guest drives it: the whole device model (vm/devices/
 * virtio-pci.c, virtio-common.c, virtio-net.c with its own data path thread, MSI-X) on a real VM of this
 * machine's /dev/kvm, made per input. The input is 32 KiB of guest RAM at GPA 0x100000 (where rings and
 * buffers may lie; any descriptor may point anywhere else), then a program of 8-byte accesses:
 * kind (1), offset (2, little-endian), length code (1: 1, 2, 4 or 8 bytes), value (4). Kinds: the common
 * configuration structure, anywhere in BAR 0 (ISR, device configuration, notifications, the MSI-X table and
 * PBA), the device's configuration space (ECAM: BAR moves, command register, capabilities), and a queue
 * notification. BAR accesses go to wherever config space says BAR 0 is now, so a guest that moved or
 * disabled it is followed. Seeds (mkseeds.py) carry a driver's whole bring-up, so the data path runs
 * chains from the RAM image: kicks reach its thread as they do from KVM's ioeventfds.
 * The tap lives in a network namespace of the fuzzer's own (unshare at start): frames the model sends go
 * nowhere, and nothing reaches the machine's network. Needs root (the namespace) and /dev/kvm. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"
#include "vm/devices/devices.h"
#include "vm/devices/virtio.h"
#include "vm/internal.h"
#include "vm/vm.h"

#define RAM_IMAGE_GPA 0x100000ull
#define RAM_IMAGE_SIZE 0x8000u

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		fuzz_skip("kvm", "no usable /dev/kvm");
	if (access("/dev/net/tun", R_OK | W_OK) != 0 || unshare(CLONE_NEWNET) != 0)
		fuzz_skip("netns", "no /dev/net/tun or no private network namespace (needs root)");
	return 0;
}

enum { OP_COMMON_WRITE, OP_COMMON_READ, OP_BAR_WRITE, OP_BAR_READ, OP_CFG_WRITE, OP_CFG_READ, OP_NOTIFY, OP_KINDS };

static uint64_t bar0(struct vm *vm, uint64_t ecam)
{
	uint8_t d[4] = { 0 };
	vm_io_dispatch(vm, true, ecam + 0x10, d, 4, false);
	return get_le32(d) & ~0xfu;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config cfg = { .name = "fuzz", .memory = 16 << 20, .cpus = 1, .console_in = -1, .console_out = -1 };
	struct vm_nic_config nic = { .model = VM_NIC_VIRTIO, .tap = "fz0", .mac = { 2, 0, 0, 0, 0, 1 }, .has_mac = true };
	struct fuzz_in in = fuzz_in(data, size);
	struct vm *vm = NULL;
	const char *why = NULL;
	size_t got;
	const uint8_t *ram;
	uint8_t *dst;
	uint64_t ecam;
	int slot;

	if (vm_new(&cfg, &vm, &why) < 0) {
		fprintf(stderr, "fuzz-virtio-pci: cannot make a VM: %s\n", why ? why : "?");
		abort();
	}
	slot = vm_virtio_net_add(vm, &nic, 0, &why);
	if (slot <= 0) {
		fprintf(stderr, "fuzz-virtio-pci: cannot add virtio-net: %s (%d)\n", why ? why : "?", slot);
		abort();
	}
	ecam = VM_ECAM_BASE + ((uint64_t)slot << 15);
	ram = fuzz_bytes(&in, RAM_IMAGE_SIZE, &got);
	dst = vm_gpa_to_hva(vm, RAM_IMAGE_GPA, RAM_IMAGE_SIZE);
	if (!dst)
		abort();
	memcpy(dst, ram, got);

	for (unsigned n = 0; in.left && n < 4096; n++) {
		unsigned kind = (unsigned)fuzz_take(&in, 1) % OP_KINDS;
		unsigned off = (unsigned)fuzz_take(&in, 2);
		unsigned len = 1u << (fuzz_take(&in, 1) % 4); /* 1, 2, 4, 8 */
		uint32_t v = (uint32_t)fuzz_take(&in, 4);
		bool wr = kind == OP_COMMON_WRITE || kind == OP_BAR_WRITE || kind == OP_CFG_WRITE || kind == OP_NOTIFY;
		uint8_t d[8] = { 0 };

		put_le32(d, v);
		put_le32(d + 4, ~v);
		switch (kind) {
		case OP_COMMON_WRITE:
		case OP_COMMON_READ:
			vm_io_dispatch(vm, true, bar0(vm, ecam) + VIRTIO_PCI_COMMON_OFF + off % VIRTIO_PCI_COMMON_LEN, d, len, wr);
			break;
		case OP_BAR_WRITE:
		case OP_BAR_READ:
			vm_io_dispatch(vm, true, bar0(vm, ecam) + off % VIRTIO_PCI_BAR_SIZE, d, len, wr);
			break;
		case OP_CFG_WRITE:
		case OP_CFG_READ:
			/* config space takes at most 4 bytes an access, at an address aligned to its size */
			len = len > 4 ? 4 : len;
			vm_io_dispatch(vm, true, ecam + (off & 0xfff & ~(len - 1)), d, len, wr);
			break;
		case OP_NOTIFY:
			/* what Linux writes: the queue's index, 2 bytes, at its notify address */
			put_le32(d, off % VIRTIO_MAX_QUEUES);
			vm_io_dispatch(vm, true,
				       bar0(vm, ecam) + VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * (off % VIRTIO_MAX_QUEUES),
				       d, 2, true);
			break;
		}
	}
	vm_free(vm); /* stops the data path thread and removes the tap */
	return 0;
}
