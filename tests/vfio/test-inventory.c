/* test-inventory.c: the PCI inventory, IOMMU group viability, use detection and the readiness
 * verdict, on fakesys trees (the sample host and small hand-made ones). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/fakesys.h"
#include "util/root.h"
#include "vfio/vfio.h"

static struct fakesys *fs;

static int setup_sample(void **s)
{
	(void)s;
	if (fakesys_new(&fs) < 0 || fakesys_add_sample_host(fs, true) < 0)
		return -1;
	return 0;
}

static int setup_empty(void **s)
{
	(void)s;
	return fakesys_new(&fs) < 0 ? -1 : 0;
}

static int teardown(void **s)
{
	(void)s;
	fakesys_free(fs);
	fs = NULL;
	return 0;
}

static struct vfio_pci_dev *get(const char *addr)
{
	struct pci_addr a;
	struct vfio_pci_dev *d = NULL;
	assert_int_equal(pci_addr_parse(addr, &a), 0);
	assert_int_equal(vfio_pci_dev_read(&a, &d), 0);
	return d;
}

static void test_list_sample(void **s)
{
	struct vfio_pci_dev **v = NULL;
	size_t n = 0;
	(void)s;

	assert_int_equal(vfio_pci_list(&v), 0);
	while (v[n])
		n++;
	assert_int_equal(n, 13);
	for (size_t i = 1; i < n; i++)
		assert_true(pci_addr_cmp(&v[i - 1]->addr, &v[i]->addr) < 0);
	assert_string_equal(v[0]->name, "0000:00:00.0");
	assert_string_equal(v[n - 1]->name, "0000:03:00.0");
	vfio_pci_list_free(v);
}

static void test_pf_details(void **s)
{
	struct vfio_pci_dev *d = get("01:00.0");
	(void)s;

	assert_int_equal(d->vendor_id, 0x8086);
	assert_int_equal(d->device_id, 0x10c9);
	assert_int_equal(d->class_code, 0x020000);
	assert_string_equal(d->vendor_name, "Intel Corporation");
	assert_string_equal(d->device_name, "82576 Gigabit Network Connection");
	assert_string_equal(d->class_name, "Ethernet controller");
	assert_string_equal(d->driver, "igb");
	assert_null(d->driver_override);
	assert_int_equal(d->iommu_group, 1);
	assert_int_equal(d->numa_node, 0);
	assert_false(d->is_bridge);
	assert_int_equal(d->sriov_total_vfs, 7);
	assert_int_equal(d->sriov_num_vfs, 2);
	assert_null(d->physfn);
	assert_true(d->config_read);
	assert_int_equal(d->msi_vectors, 1);
	assert_int_equal(d->msix_vectors, 10);
	assert_true(d->flr);
	assert_string_equal(d->reset_method, "flr bus");
	assert_non_null(d->netdevs[0]);
	assert_string_equal(d->netdevs[0], "enp1s0");
	assert_null(d->netdevs[1]);
	assert_null(d->block_devices[0]);
	vfio_pci_dev_free(d);
}

static void test_vf_and_bridge(void **s)
{
	struct vfio_pci_dev *vf = get("0000:01:10.2"), *br = get("0000:00:1c.0"), *nv = get("03:00.0");
	(void)s;

	assert_string_equal(vf->physfn, "0000:01:00.0");
	assert_int_equal(vf->sriov_total_vfs, -1);
	assert_string_equal(vf->driver, VFIO_PCI_DRIVER);
	assert_int_equal(vf->msi_vectors, -1);
	assert_int_equal(vf->msix_vectors, 3);
	/* The netdev of the device behind the bridge is not the bridge's. */
	assert_true(br->is_bridge);
	assert_null(br->netdevs[0]);
	assert_int_equal(br->numa_node, -1);
	assert_string_equal(nv->block_devices[0], "nvme0n1");
	assert_string_equal(nv->block_devices[1], "nvme0n1p1");
	assert_null(nv->block_devices[2]);
	assert_true(nv->flr);
	vfio_pci_dev_free(vf);
	vfio_pci_dev_free(br);
	vfio_pci_dev_free(nv);
}

static void test_no_device(void **s)
{
	struct pci_addr a = { 0, 9, 0, 0 };
	struct vfio_pci_dev *d = NULL;
	(void)s;
	assert_int_equal(vfio_pci_dev_read(&a, &d), -ENODEV);
	assert_null(d);
}

static void test_group_viability(void **s)
{
	struct vfio_group_info *g = NULL;
	char *why = NULL;
	struct pci_addr smbus = { 0, 0, 0x1f, 3 };
	(void)s;

	assert_int_equal(vfio_group_read(4, &g), 0);
	assert_int_equal(g->n_members, 3);
	assert_false(g->viable);
	assert_true(g->members[2].blocks);
	assert_int_equal(vfio_group_blockers(g, &smbus, &why), 0);
	assert_string_equal(why, "0000:00:1f.0 is bound to lpc_ich, 0000:00:1f.2 is bound to ahci");
	free(why);
	vfio_group_info_free(g);

	/* The bridge in group 1 is ignored: once the PF leaves igb the group is viable. */
	assert_int_equal(vfio_group_read(1, &g), 0);
	assert_false(g->viable);
	assert_true(g->members[0].is_bridge);
	assert_false(g->members[0].blocks);
	vfio_group_info_free(g);
	assert_int_equal(root_write("/sys/bus/pci/drivers/igb/unbind", "0000:01:00.0"), 0);
	assert_int_equal(vfio_group_read(1, &g), 0);
	assert_true(g->viable);
	vfio_group_info_free(g);

	/* pci-stub does no DMA of its own: allowed. */
	assert_int_equal(root_write("/sys/bus/pci/devices/0000:00:05.0/driver_override", "pci-stub"), 0);
	assert_int_equal(root_write("/sys/bus/pci/drivers_probe", "0000:00:05.0"), 0);
	assert_int_equal(vfio_group_read(7, &g), 0);
	assert_string_equal(g->members[0].driver, "pci-stub");
	assert_true(g->viable);
	vfio_group_info_free(g);

	assert_int_equal(vfio_group_read(99, &g), -ENOENT);
	assert_int_equal(vfio_group_read(-1, &g), -ENOENT);
}

static void test_readiness(void **s)
{
	struct vfio_pci_dev *d;
	struct vfio_group_info *g;
	char *why = NULL;
	(void)s;

	d = get("00:1f.3");
	assert_int_equal(vfio_group_read(d->iommu_group, &g), 0);
	assert_int_equal(vfio_pci_readiness(d, g, &why), 0);
	assert_non_null(strstr(why, "group 4 not viable: 0000:00:1f.0 is bound to lpc_ich"));
	free(why);
	vfio_group_info_free(g);
	vfio_pci_dev_free(d);

	d = get("01:10.2");
	assert_int_equal(vfio_group_read(d->iommu_group, &g), 0);
	assert_int_equal(vfio_pci_readiness(d, g, &why), 1);
	assert_string_equal(why, "ready: bound to vfio-pci, group 6 viable");
	free(why);
	vfio_group_info_free(g);
	vfio_pci_dev_free(d);

	d = get("00:1c.0");
	assert_int_equal(vfio_pci_readiness(d, NULL, &why), 0);
	assert_non_null(strstr(why, "bridge"));
	free(why);
	vfio_pci_dev_free(d);
}

static void test_no_iommu(void **s)
{
	struct vfio_pci_dev *d;
	char *why = NULL;
	(void)s;

	assert_int_equal(fakesys_add_sample_host(fs, false), 0);
	d = get("02:00.0");
	assert_int_equal(d->iommu_group, -1);
	assert_int_equal(vfio_pci_readiness(d, NULL, &why), 0);
	assert_non_null(strstr(why, "no IOMMU group"));
	assert_non_null(strstr(why, "intel_iommu=on"));
	free(why);
	vfio_pci_dev_free(d);
}

static void test_in_use(void **s)
{
	struct vfio_pci_dev *d;
	char *why = NULL;
	(void)s;

	d = get("01:00.0"); /* up with a route */
	assert_int_equal(vfio_pci_in_use(d, &why), 1);
	assert_string_equal(why, "network interface enp1s0 is up with addresses or routes");
	free(why);
	vfio_pci_dev_free(d);

	d = get("02:00.0"); /* down */
	assert_int_equal(vfio_pci_in_use(d, &why), 0);
	vfio_pci_dev_free(d);

	d = get("03:00.0"); /* partition mounted */
	assert_int_equal(vfio_pci_in_use(d, &why), 1);
	assert_string_equal(why, "block device nvme0n1p1 is mounted on /srv");
	free(why);
	vfio_pci_dev_free(d);

	/* An up interface with only link-local IPv6 is not in use; a global route makes it so. */
	assert_int_equal(fakesys_write(fs, "/sys/class/net/enp2s0/flags", "0x1003\n"), 0);
	assert_int_equal(fakesys_add_ipv6_route(fs, "enp2s0", "fe800000000000000000000000000000"), 0);
	d = get("02:00.0");
	assert_int_equal(vfio_pci_in_use(d, &why), 0);
	assert_int_equal(fakesys_add_ipv6_route(fs, "enp2s0", "20010db8000000000000000000000000"), 0);
	assert_int_equal(vfio_pci_in_use(d, &why), 1);
	free(why);
	vfio_pci_dev_free(d);
}

/* A NIC that is a bridge port: the host's address lives on the bridge, so the NIC is in use. */
static void test_bridge_port_in_use(void **s)
{
	struct vfio_pci_dev *d;
	char *why = NULL;
	(void)s;

	assert_int_equal(fakesys_write(fs, "/sys/devices/virtual/net/br0/flags", "0x1003\n"), 0);
	assert_int_equal(fakesys_symlink(fs, "/sys/devices/virtual/net/br0", "/sys/class/net/br0"), 0);
	assert_int_equal(fakesys_symlink(fs, "/sys/devices/virtual/net/br0",
					 "/sys/devices/pci0000:00/0000:00:1c.1/0000:02:00.0/net/enp2s0/master"),
			 0);
	assert_int_equal(fakesys_write(fs, "/sys/class/net/enp2s0/flags", "0x1103\n"), 0);
	d = get("02:00.0");
	assert_int_equal(vfio_pci_in_use(d, &why), 0); /* the bridge has no address yet */
	assert_int_equal(fakesys_add_route(fs, "br0"), 0);
	assert_int_equal(vfio_pci_in_use(d, &why), 1);
	assert_string_equal(why, "network interface enp2s0 is a port of br0, which is up with addresses or routes");
	free(why);
	vfio_pci_dev_free(d);
}

/* QEMU's NVMe controller at 0000:04:00.0 on the nvme driver, with no block device yet. */
static void add_nvme_controller(void)
{
	assert_int_equal(fakesys_add_driver(fs, "nvme", (const char *[]){ "1b36:0010", NULL }), 0);
	assert_int_equal(fakesys_add_dev(fs, &(struct fakesys_dev){ .addr = "0000:04:00.0", .vendor = 0x1b36,
						.device = 0x0010, .class_code = 0x010802, .iommu_group = 9,
						.driver = "nvme", .msix_vectors = 8, .pcie = true }),
			 0);
}

static void test_block_holders_and_swap(void **s)
{
	struct vfio_pci_dev *d;
	char *why = NULL;
	(void)s;

	add_nvme_controller();
	assert_int_equal(fakesys_add_block(fs, "0000:04:00.0", NULL, "nvme1n1", "259:4"), 0);
	d = get("04:00.0");
	assert_int_equal(vfio_pci_in_use(d, &why), 0);
	assert_int_equal(fakesys_append(fs, "/proc/swaps", "/dev/nvme1n1 partition 1024 0 -2\n"), 0);
	assert_int_equal(vfio_pci_in_use(d, &why), 1);
	assert_string_equal(why, "block device nvme1n1 is in use as swap");
	free(why);
	assert_int_equal(fakesys_write(fs, "/proc/swaps", "Filename Type Size Used Priority\n"), 0);
	assert_int_equal(fakesys_add_holder(fs, "nvme1n1", "dm-0"), 0);
	assert_int_equal(vfio_pci_in_use(d, &why), 1);
	assert_string_equal(why, "block device nvme1n1 is held by dm-0");
	free(why);
	vfio_pci_dev_free(d);
}

/* Native NVMe multipath: under the controller sits only the hidden path node nvme0c0n1; the disk
 * users see (/dev/nvme0n1, its partitions, what is mounted or held) lives under the subsystem. */
static void test_nvme_multipath_names(void **s)
{
	const char *head = "/sys/devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1";
	struct vfio_pci_dev *d;
	char *why = NULL, p[256];
	(void)s;

	add_nvme_controller();
	assert_int_equal(fakesys_add_block(fs, "0000:04:00.0", NULL, "nvme0c0n1", "259:3"), 0);
	snprintf(p, sizeof(p), "%s/dev", head);
	assert_int_equal(fakesys_write(fs, p, "259:0\n"), 0);
	snprintf(p, sizeof(p), "%s/nvme0n1p1/dev", head);
	assert_int_equal(fakesys_write(fs, p, "259:1\n"), 0);
	snprintf(p, sizeof(p), "%s/nvme0n1p1/partition", head);
	assert_int_equal(fakesys_write(fs, p, "1\n"), 0);
	assert_int_equal(fakesys_symlink(fs, head, "/sys/block/nvme0n1"), 0);
	assert_int_equal(fakesys_symlink(fs, head, "/sys/class/block/nvme0n1"), 0);
	snprintf(p, sizeof(p), "%s/nvme0n1p1", head);
	assert_int_equal(fakesys_symlink(fs, p, "/sys/class/block/nvme0n1p1"), 0);

	d = get("04:00.0");
	assert_non_null(d);
	assert_string_equal(d->block_devices[0], "nvme0n1");
	assert_string_equal(d->block_devices[1], "nvme0n1p1");
	assert_null(d->block_devices[2]);
	assert_int_equal(vfio_pci_in_use(d, &why), 0);
	assert_int_equal(fakesys_add_mount(fs, "259:1", "/data"), 0);
	assert_int_equal(vfio_pci_in_use(d, &why), 1);
	assert_string_equal(why, "block device nvme0n1p1 is mounted on /data");
	free(why);
	assert_int_equal(fakesys_write(fs, "/proc/self/mountinfo", ""), 0);
	assert_int_equal(fakesys_add_holder(fs, "nvme0n1", "dm-0"), 0);
	assert_int_equal(vfio_pci_in_use(d, &why), 1);
	assert_string_equal(why, "block device nvme0n1 is held by dm-0");
	free(why);
	vfio_pci_dev_free(d);
}

/* Raw config bytes: 32 MSI vectors, the AF capability's FLR, no PCIe. */
static void test_raw_config(void **s)
{
	uint8_t cfg[256] = { 0 };
	struct vfio_pci_dev *d;
	(void)s;

	cfg[0x00] = 0x86, cfg[0x01] = 0x80, cfg[0x06] = 0x10, cfg[0x34] = 0x40;
	cfg[0x40] = 0x05, cfg[0x41] = 0x60, cfg[0x42] = 0x8a; /* MSI: MMC 5 -> 32 vectors */
	cfg[0x60] = 0x13, cfg[0x61] = 0x00, cfg[0x63] = 0x03; /* AF: TP | FLR */
	assert_int_equal(fakesys_add_dev(fs, &(struct fakesys_dev){ .addr = "0000:00:07.0", .vendor = 0x8086,
						.device = 0x1234, .class_code = 0x088000, .iommu_group = -1,
						.config = cfg, .config_len = sizeof(cfg) }),
			 0);
	d = get("00:07.0");
	assert_true(d->config_read);
	assert_int_equal(d->msi_vectors, 32);
	assert_int_equal(d->msix_vectors, -1);
	assert_true(d->flr);
	vfio_pci_dev_free(d);

	/* Unreadable config space: the rest of the device is still there, capabilities unknown. */
	assert_int_equal(fakesys_write(fs, "/sys/bus/pci/devices/0000:00:07.0/config", ""), 0);
	d = get("00:07.0");
	assert_false(d->config_read);
	assert_int_equal(d->vendor_id, 0x8086);
	vfio_pci_dev_free(d);
}

/* A broken pci.ids makes libpci call its error hook: names go missing, nothing exits. */
static void test_broken_pci_ids(void **s)
{
	struct vfio_pci_dev *d;
	(void)s;

	assert_int_equal(fakesys_write(fs, "/usr/share/misc/pci.ids", "8086  Intel\n\tzz garbage\n"), 0);
	d = get("01:00.0");
	assert_null(d->device_name);
	assert_int_equal(d->msix_vectors, 10);
	vfio_pci_dev_free(d);
}

static void test_empty_bus(void **s)
{
	struct vfio_pci_dev **v = NULL;
	(void)s;
	assert_int_equal(vfio_pci_list(&v), 0);
	assert_null(v[0]);
	vfio_pci_list_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_list_sample, setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_pf_details, setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_vf_and_bridge, setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_no_device, setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_group_viability, setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_readiness, setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_no_iommu, setup_empty, teardown),
		cmocka_unit_test_setup_teardown(test_in_use, setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_bridge_port_in_use, setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_block_holders_and_swap, setup_empty, teardown),
		cmocka_unit_test_setup_teardown(test_nvme_multipath_names, setup_empty, teardown),
		cmocka_unit_test_setup_teardown(test_raw_config, setup_empty, teardown),
		cmocka_unit_test_setup_teardown(test_broken_pci_ids, setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_empty_bus, setup_empty, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
