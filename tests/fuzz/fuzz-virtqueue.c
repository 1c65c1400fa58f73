/* fuzz-virtqueue.c: split virtqueues as the virtio device models take them (vm/devices/virtqueue.c),
 * with guest RAM as the input. Input: queue-size code (1 byte: 2^(b % 9), 1..256), feature bits (1 byte:
 * bit 0 event index, bit 1 indirect descriptors), then guest RAM (an exact-size copy, so ASan sees any
 * read past it). The rings sit where a driver puts them: descriptors at 0, the avail ring right after,
 * the used ring after that (4-aligned). The device pops every chain it can (at most 64), reads every
 * readable segment, writes every writable one, pushes it back and asks whether to notify, as the
 * virtio-net models do. */
#include <stdlib.h>
#include <sys/uio.h>

#include "tests/fuzz/fuzz.h"
#include "vm/devices/virtio.h"

struct ram {
	uint8_t *p;
	size_t len;
};

static void *ram_map(void *opaque, uint64_t gpa, uint64_t len)
{
	struct ram *r = opaque;
	if (gpa > r->len || len > r->len - gpa)
		return NULL;
	return r->p + gpa;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in(data, size);
	uint16_t num = (uint16_t)(1u << (fuzz_take(&in, 1) % 9));
	unsigned feat = (unsigned)fuzz_take(&in, 1);
	struct ram ram;
	struct virtq_mem mem = { .map = ram_map, .opaque = &ram };
	struct virtq q = { 0 };
	static struct iovec iov[VIRTQ_MAX_SEGS];
	uint64_t avail = 16ull * num, used = (avail + 6 + 2ull * num + 3) & ~3ull;
	const uint8_t *p;
	uint8_t sink = 0;

	p = fuzz_bytes(&in, in.left, &ram.len);
	ram.p = malloc(ram.len ? ram.len : 1);
	if (!ram.p)
		return 0;
	memcpy(ram.p, p, ram.len);
	if (virtq_init(&q, &mem, num, 0, avail, used, feat & 1, feat & 2) == 0) {
		virtq_set_notification(&q, true);
		for (unsigned n = 0; n < 64 && virtq_has_avail(&q); n++) {
			struct virtq_chain c;
			int r = virtq_pop(&q, iov, VIRTQ_MAX_SEGS, &c);
			if (r <= 0)
				break;
			for (unsigned i = 0; i < c.nout + c.nin; i++) {
				uint8_t *b = iov[i].iov_base;
				if (!iov[i].iov_len)
					continue;
				if (i < c.nout)
					sink ^= b[0] ^ b[iov[i].iov_len - 1];
				else
					b[0] = b[iov[i].iov_len - 1] = sink;
			}
			/* every fourth chain is given back unused first, as receive does when no frame is there */
			if (n % 4 == 3) {
				virtq_unpop(&q);
				if (virtq_pop(&q, iov, VIRTQ_MAX_SEGS, &c) <= 0)
					break;
			}
			virtq_push(&q, c.head, c.in_len);
			(void)virtq_should_notify(&q);
		}
		virtq_set_notification(&q, false);
	}
	free(ram.p);
	return 0;
}
