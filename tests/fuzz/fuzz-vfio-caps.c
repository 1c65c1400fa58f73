/* fuzz-vfio-caps.c: the VFIO capability-chain walker and the parsers built on it (vfio/), with the
 * buffer the kernel fills for VFIO_IOMMU_GET_INFO / VFIO_DEVICE_GET_REGION_INFO /
 * VFIO_DEVICE_GET_PCI_HOT_RESET_INFO as the input. First byte: which parser (0: the bare walker, which
 * then takes the fixed header size (1 byte) and the first offset (2 bytes)); the rest: the buffer. */
#include <errno.h>
#include <stdlib.h>
#include <linux/vfio.h>

#include "tests/fuzz/fuzz.h"
#include "vfio/vfio.h"

static int count_cap(const struct vfio_info_cap_header *cap, size_t cap_len, void *userdata)
{
	unsigned *n = userdata;
	uint8_t last;

	/* the walker promises cap_len readable bytes from cap: touch the last one */
	if (cap_len) {
		memcpy(&last, (const uint8_t *)cap + cap_len - 1, 1);
		*n += last & 1;
	}
	return ++*n > 1000 ? -E2BIG : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in(data, size);
	unsigned which = (unsigned)fuzz_take(&in, 1) % 4;
	size_t fixed = which == 0 ? (size_t)fuzz_take(&in, 1) : 0;
	uint32_t first = which == 0 ? (uint32_t)fuzz_take(&in, 2) : 0;
	size_t len;
	const uint8_t *buf = fuzz_bytes(&in, in.left, &len);

	switch (which) {
	case 0: {
		unsigned n = 0;
		(void)vfio_caps_walk(buf, len, fixed, first, count_cap, &n);
		break;
	}
	case 1: {
		struct vfio_iommu_limits l = { 0 };
		if (vfio_iommu_limits_parse(buf, len, &l) == 0)
			vfio_iommu_limits_done(&l);
		break;
	}
	case 2: {
		struct vfio_region_desc r = { 0 };
		if (vfio_region_desc_parse(buf, len, &r) == 0)
			vfio_region_desc_done(&r);
		break;
	}
	case 3: {
		struct vfio_hot_reset_dep *deps = NULL;
		size_t n = 0;
		if (vfio_hot_reset_info_parse(buf, len, &deps, &n) == 0)
			free(deps);
		break;
	}
	}
	return 0;
}
