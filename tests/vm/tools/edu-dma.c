/* edu-dma.c: rig proof of the VFIO/IOMMU library on QEMU's edu device: guest memory mapped at
 * IOVA = gpa, DMA into the device and back, no DMA after unmap or to unmapped IOVAs, MSI on an eventfd.
 * Also: a mapping that fails half-way is rolled back; the memlock refusal matches the kernel's.
 * Usage: edu-dma ADDRESS. Prints each step; exits 0 only if every check held. */
#include <inttypes.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "iommu/iommu.h"
#include "irq/irq.h"
#include "util/log.h"
#include "vfio/vfio.h"

#include "rig-check.h"

/* edu registers (QEMU docs/specs/edu.rst) */
#define EDU_ID 0x00
#define EDU_LIVE 0x04
#define EDU_IRQ_STATUS 0x24
#define EDU_IRQ_RAISE 0x60
#define EDU_IRQ_ACK 0x64
#define EDU_DMA_SRC 0x80
#define EDU_DMA_DST 0x88
#define EDU_DMA_CNT 0x90
#define EDU_DMA_CMD 0x98
#define EDU_CMD_RUN 0x1
#define EDU_CMD_TO_RAM 0x2
#define EDU_CMD_IRQ 0x4
#define EDU_BUF 0x40000 /* the device's 4 KiB buffer */
#define EDU_DMA_IRQ 0x100

#define LEN 4096
/* Guest memory: 4 MiB at gpa 0 (edu masks DMA addresses to 28 bits: keep IOVAs below 256 MiB). */
#define GPA_A 0x100000
#define GPA_B 0x200000
#define IOVA_NEVER 0x8000000 /* 128 MiB: inside the 28-bit window, never mapped */

static volatile uint8_t *bar;

static uint32_t rd32(unsigned off)
{
	return *(volatile uint32_t *)(bar + off);
}
static void wr32(unsigned off, uint32_t v)
{
	*(volatile uint32_t *)(bar + off) = v;
}
static uint64_t rd64(unsigned off)
{
	return *(volatile uint64_t *)(bar + off);
}
static void wr64(unsigned off, uint64_t v)
{
	*(volatile uint64_t *)(bar + off) = v;
}

/* Runs one transfer and waits for the engine (a 100 ms virtual-time timer in QEMU). */
static bool edu_dma(uint64_t src, uint64_t dst, uint64_t cnt, uint64_t cmd)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	wr64(EDU_DMA_SRC, src);
	wr64(EDU_DMA_DST, dst);
	wr64(EDU_DMA_CNT, cnt);
	wr64(EDU_DMA_CMD, cmd | EDU_CMD_RUN);
	for (int i = 0; i < 1000; i++) {
		if (!(rd64(EDU_DMA_CMD) & EDU_CMD_RUN))
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

static void fill(uint8_t *p, uint32_t seed)
{
	for (size_t i = 0; i < LEN; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static uint32_t avail(struct vfio_container *c)
{
	if (vfio_container_refresh_limits(c) < 0)
		return UINT32_MAX;
	return vfio_container_limits(c)->dma_avail;
}

/* A mapping that fails on its second region must leave nothing of the first behind. */
static void check_rollback(struct vfio_container *c)
{
	_cleanup_guestmem_ struct guestmem *m = NULL;
	struct iommu_dma_map *d = NULL;
	struct iommu_dma_report rep;
	uint32_t before = avail(c);
	int r;

	r = guestmem_new(&(struct guestmem_config){ .size = 8u << 20, .hole_start = 4u << 20, .hole_end = 8u << 20,
						    .limits = vfio_container_limits(c) },
			 &m);
	CHECK(r == 0 && guestmem_n_regions(m) == 2, "rollback: guest memory in two regions around a hole");
	if (r < 0)
		return;
	/* Occupy one page inside the second region's IOVA range. */
	r = vfio_container_map_dma(c, 9u << 20, guestmem_hva(m, 9u << 20, 4096), 4096);
	CHECK(r == 0, "rollback: a page at IOVA 0x900000 mapped beforehand");
	r = iommu_dma_map_guestmem(c, m, &rep, &d);
	CHECK(r == -EEXIST, "rollback: mapping collides in region 2: %s", strerror(-r));
	CHECK(avail(c) == before - 1, "rollback: region 1 was unmapped again (dma_avail %u, before %u)", avail(c),
	      before);
	r = vfio_container_unmap_dma(c, 9u << 20, 4096);
	CHECK(r == 0, "rollback: the blocking page unmapped");
	r = iommu_dma_map_guestmem(c, m, &rep, &d);
	CHECK(r == 0 && avail(c) == before - 2, "rollback: now both regions map (%u entries used)", before - avail(c));
	d = iommu_dma_map_free(d);
	CHECK(avail(c) == before, "rollback: teardown gives every entry back");
}

static int drop_ipc_lock(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct cd[2];

	if (syscall(SYS_capget, &h, cd) < 0)
		return -errno;
	cd[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	return syscall(SYS_capset, &h, cd) < 0 ? -errno : 0;
}

/* Without CAP_IPC_LOCK and with a 1 MiB RLIMIT_MEMLOCK, 8 MiB is refused before anything is pinned,
 * and the kernel itself refuses the same mapping: the check models what type1 enforces. */
static int check_memlock_child(struct vfio_container *c)
{
	_cleanup_guestmem_ struct guestmem *m = NULL;
	struct iommu_dma_map *d = NULL;
	struct iommu_dma_report rep;
	struct rlimit rl = { 1u << 20, 1u << 20 };
	uint32_t before = avail(c);
	int r;

	failures = 0;
	CHECK(setrlimit(RLIMIT_MEMLOCK, &rl) == 0 && drop_ipc_lock() == 0,
	      "memlock: RLIMIT_MEMLOCK 1 MiB, CAP_IPC_LOCK dropped");
	r = guestmem_new(&(struct guestmem_config){ .size = 8u << 20, .limits = vfio_container_limits(c) }, &m);
	if (r == 0)
		r = iommu_dma_map_guestmem(c, m, &rep, &d);
	CHECK(r == -ENOMEM && rep.bytes == 8u << 20 && rep.memlock_limit == 1u << 20,
	      "memlock: 8 MiB refused by the check (needs %" PRIu64 ", limit %" PRIu64 "): %s", rep.bytes,
	      rep.memlock_limit, strerror(-r));
	CHECK(avail(c) == before, "memlock: nothing was mapped");
	r = vfio_container_map_dma(c, 64u << 20, guestmem_hva(m, 0, 8u << 20), 8u << 20);
	CHECK(r == -ENOMEM, "memlock: the kernel refuses the same mapping: %s", strerror(-r));
	if (r == 0)
		vfio_container_unmap_dma(c, 64u << 20, 8u << 20);
	return failures;
}

static void check_memlock(struct vfio_container *c)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(check_memlock_child(c) ? 1 : 0);
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "memlock checks (in a child without CAP_IPC_LOCK)");
}

/* References, not call order, decide when things close: the container may be let go first. Once the
 * last reference is gone the group opens again, so no descriptor leaked (VFIO allows one opener). */
static void check_teardown(struct vfio_container **c, struct vfio_device **d)
{
	unsigned id = vfio_group_id(vfio_device_group(*d));
	struct vfio_group *g = NULL;
	uint16_t vendor = 0;
	int r;

	*c = vfio_container_unref(*c);
	r = vfio_device_config_read(*d, 0, &vendor, sizeof(vendor));
	CHECK(r == 0 && vendor == 0x1234, "teardown: device usable after the container reference is dropped");
	r = vfio_group_new(id, &g);
	CHECK(r == -EBUSY, "teardown: group %u still held by the device: %s", id, strerror(-r));
	*d = vfio_device_unref(*d);
	r = vfio_group_new(id, &g);
	CHECK(r == 0, "teardown: group %u opens again once everything is closed: %s", id, r < 0 ? strerror(-r) : "yes");
	vfio_group_unref(g);
}

struct rig {
	struct vfio_container *c;
	struct vfio_device *d;
	struct vfio_bar_map *bm;
	struct guestmem *m;
	uint8_t want[LEN];
};

/* Container, device, IOMMU limits, config space and BAR0: the device as a VM would get it. */
static int open_edu(struct rig *t, const struct pci_addr *addr, const char *name)
{
	const struct vfio_iommu_limits *l;
	uint16_t cmdreg = 0;
	uint32_t live = 0;
	int r;

	r = vfio_container_new(&t->c);
	CHECK(r == 0, "container opened (type1v2): %s", r < 0 ? strerror(-r) : "yes");
	if (r == 0)
		r = vfio_device_open(t->c, addr, &t->d);
	CHECK(r == 0, "device %s opened through VFIO: %s", name, r < 0 ? strerror(-r) : "yes");
	if (r < 0)
		return r;
	l = vfio_container_limits(t->c);
	CHECK(l && l->has_iova_spans && l->n_iova_spans >= 2, "IOVA ranges reported (%zu)", l ? l->n_iova_spans : 0);
	for (size_t i = 0; l && i < l->n_iova_spans; i++)
		printf("   iova range 0x%" PRIx64 "-0x%" PRIx64 "\n", l->iova_spans[i].first, l->iova_spans[i].last);
	CHECK(l && l->pgsize_bitmap & 4096, "4K IOMMU pages (bitmap 0x%" PRIx64 ")", l ? l->pgsize_bitmap : 0);
	CHECK(l && l->has_dma_avail, "dma_avail reported: %u", l ? l->dma_avail : 0);
	CHECK(vfio_device_n_regions(t->d) >= 9 && vfio_device_region(t->d, 0)->size == 1 << 20, "BAR0 is 1 MiB");

	/* Memory decoding and bus mastering: without the latter the device's DMA goes nowhere. */
	r = vfio_device_config_read(t->d, 0x04, &cmdreg, sizeof(cmdreg));
	cmdreg |= 0x2 | 0x4;
	if (r == 0)
		r = vfio_device_config_write(t->d, 0x04, &cmdreg, sizeof(cmdreg));
	CHECK(r == 0, "PCI command: memory + bus master enabled through the config region");

	r = vfio_device_bar_map(t->d, 0, &t->bm);
	CHECK(r == 0, "BAR0 mmapped: %s", r < 0 ? strerror(-r) : "yes");
	if (r < 0)
		return r;
	bar = vfio_bar_map_ptr(t->bm, 0, 0x100);
	CHECK(bar != NULL && vfio_bar_map_ptr(t->bm, (1 << 20) - 4, 8) == NULL, "BAR map bounds");
	if (!bar)
		return -EFAULT;
	CHECK((rd32(EDU_ID) & 0xff) == 0xed, "edu identification 0x%08x", rd32(EDU_ID));
	wr32(EDU_LIVE, 0x12345678);
	r = vfio_device_region_read(t->d, 0, EDU_LIVE, &live, sizeof(live));
	CHECK(r == 0 && live == ~0x12345678u, "liveness through mmap write + region read: 0x%08x", live);
	return 0;
}

static void pagemap_report(const struct guestmem *m)
{
	struct iommu_phys_run *runs = NULL;
	size_t n = 0;
	bool hidden = false;

	if (iommu_pagemap_report(m, &runs, &n, &hidden) == 0 && n > 0)
		printf("   gpa 0x%" PRIx64 " -> hpa 0x%" PRIx64 " (%zu runs%s)\n", runs[0].gpa, runs[0].hpa, n,
		       hidden ? ", PFNs hidden" : "");
	CHECK(n > 0 && !hidden, "pagemap: %zu gpa->hpa runs, PFNs %s", n, hidden ? "hidden" : "visible");
	free(runs);
}

/* Guest memory as a VM has it, mapped with IOVA = gpa; the device copies A -> its buffer -> B. Then
 * DMA to a never-mapped IOVA and to B after unmap must not land; remapped, it lands again. */
static int check_dma(struct rig *t)
{
	struct iommu_dma_map *dm = NULL;
	struct iommu_dma_report rep;
	bool untouched = true;
	uint8_t *a, *b;
	int r;

	r = guestmem_new(&(struct guestmem_config){ .size = 4u << 20, .limits = vfio_container_limits(t->c),
						    .name = "edu-dma" },
			 &t->m);
	CHECK(r == 0, "guest memory 4 MiB: %s", r < 0 ? strerror(-r) : "yes");
	if (r == 0)
		r = iommu_dma_map_guestmem(t->c, t->m, &rep, &dm);
	CHECK(r == 0, "guest memory mapped into the container: %s", r < 0 ? strerror(-r) : "yes");
	if (r < 0)
		return r;
	pagemap_report(t->m);
	a = guestmem_hva(t->m, GPA_A, LEN);
	b = guestmem_hva(t->m, GPA_B, LEN);
	fill(t->want, (uint32_t)time(NULL) ^ (uint32_t)getpid());
	memcpy(a, t->want, LEN);
	memset(b, 0xee, LEN);
	CHECK(edu_dma(GPA_A, EDU_BUF, LEN, 0), "DMA gpa 0x%x -> edu buffer finished", GPA_A);
	CHECK(edu_dma(EDU_BUF, GPA_B, LEN, EDU_CMD_TO_RAM), "DMA edu buffer -> gpa 0x%x finished", GPA_B);
	CHECK(memcmp(b, t->want, LEN) == 0, "%d bytes came back through the IOMMU intact", LEN);

	/* The kernel logs a DMAR fault for each blocked transfer; the case checks dmesg. */
	CHECK(edu_dma(EDU_BUF, IOVA_NEVER, LEN, EDU_CMD_TO_RAM), "DMA to never-mapped IOVA 0x%x issued",
	      IOVA_NEVER);
	printf("   DMAR-EXPECT 0x%x\n", IOVA_NEVER);
	memset(b, 0x5a, LEN);
	dm = iommu_dma_map_free(dm);
	CHECK(edu_dma(EDU_BUF, GPA_B, LEN, EDU_CMD_TO_RAM), "DMA to unmapped gpa 0x%x issued", GPA_B);
	for (size_t i = 0; i < LEN; i++)
		untouched &= b[i] == 0x5a;
	CHECK(untouched, "memory behind the unmapped IOVA is untouched");
	printf("   DMAR-EXPECT 0x%x\n", GPA_B);
	/* The block above was the IOMMU, not the device. */
	r = iommu_dma_map_guestmem(t->c, t->m, &rep, &dm);
	CHECK(r == 0 && edu_dma(EDU_BUF, GPA_B, LEN, EDU_CMD_TO_RAM) && memcmp(b, t->want, LEN) == 0,
	      "remapped: the same DMA lands again");
	iommu_dma_map_free(dm);
	return 0;
}

/* MSI: one vector to an eventfd; the raise register and the DMA-done interrupt both fire it. */
static void check_msi(struct rig *t)
{
	_cleanup_irq_vectors_ struct irq_vectors *vec = NULL;
	struct vfio_irq_info info = { 0 };
	struct iommu_dma_map *dm = NULL;
	struct iommu_dma_report rep;
	int fd = vfio_device_fd(t->d);
	uint8_t *b = guestmem_hva(t->m, GPA_B, LEN);
	uint64_t count = 0;
	int r;

	r = irq_vectors_new(1, &vec);
	if (r == 0)
		r = irq_vfio_get_info(fd, VFIO_PCI_MSI_IRQ_INDEX, &info);
	CHECK(r == 0 && info.count == 1, "MSI index: %u vector(s)", info.count);
	if (r == 0)
		r = irq_vfio_set(fd, &info,
				 &(struct irq_vfio_req){ .op = IRQ_VFIO_TRIGGER, .index = VFIO_PCI_MSI_IRQ_INDEX,
							 .start = 0, .count = 1, .fds = irq_vectors_fds(vec) });
	CHECK(r == 0, "MSI enabled with an eventfd: %s", r < 0 ? strerror(-r) : "yes");
	if (r < 0)
		return;
	wr32(EDU_IRQ_RAISE, 0x1);
	r = irq_vectors_wait(vec, 0, 5000, &count);
	CHECK(r == 1 && count >= 1, "raise-irq register -> MSI on the eventfd (count %" PRIu64 ")", count);
	CHECK((rd32(EDU_IRQ_STATUS) & 1) == 1, "irq status shows the raised bit");
	wr32(EDU_IRQ_ACK, 0x1);

	r = iommu_dma_map_guestmem(t->c, t->m, &rep, &dm);
	memset(b, 0, LEN);
	if (r == 0)
		r = edu_dma(EDU_BUF, GPA_B, LEN, EDU_CMD_TO_RAM | EDU_CMD_IRQ) ? irq_vectors_wait(vec, 0, 5000, &count)
									      : -ETIMEDOUT;
	CHECK(r == 1 && memcmp(b, t->want, LEN) == 0 && (rd32(EDU_IRQ_STATUS) & EDU_DMA_IRQ),
	      "DMA-done interrupt arrives on the eventfd with the data in place");
	wr32(EDU_IRQ_ACK, EDU_DMA_IRQ);
	iommu_dma_map_free(dm);

	r = irq_vfio_set(fd, &info, &(struct irq_vfio_req){ .op = IRQ_VFIO_DISABLE, .index = VFIO_PCI_MSI_IRQ_INDEX });
	wr32(EDU_IRQ_RAISE, 0x2);
	CHECK(r == 0 && irq_vectors_wait(vec, 0, 500, &count) == 0, "MSI disabled: no more events");
	wr32(EDU_IRQ_ACK, 0x2);
}

static void report_reset(struct vfio_device *d)
{
	struct vfio_hot_reset_dep *deps = NULL;
	size_t n = 0;
	int r = vfio_device_reset(d);

	printf("   reset: %s\n", r == 0 ? "done" : strerror(-r));
	r = vfio_device_hot_reset_info(d, &deps, &n);
	printf("   hot reset: %s (%zu device(s))\n", r == 0 ? "possible" : strerror(-r), n);
	free(deps);
}

int main(int argc, char **argv)
{
	struct rig t = { 0 };
	struct pci_addr addr;

	if (argc != 2 || pci_addr_parse(argv[1], &addr) < 0) {
		fprintf(stderr, "usage: edu-dma ADDRESS\n");
		return 2;
	}
	if (getenv("PTCTL_DEBUG"))
		log_set_level(2);
	if (open_edu(&t, &addr, argv[1]) == 0 && check_dma(&t) == 0) {
		check_msi(&t);
		report_reset(t.d);
		check_rollback(t.c);
		check_memlock(t.c);
		t.bm = vfio_bar_map_free(t.bm);
		check_teardown(&t.c, &t.d);
	}
	/* Whatever is left closes in reverse: BAR, memory, device, container (reference counted). */
	vfio_bar_map_free(t.bm);
	guestmem_free(t.m);
	vfio_device_unref(t.d);
	vfio_container_unref(t.c);
	printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
	return failures ? 1 : 0;
}
