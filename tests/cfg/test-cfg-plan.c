/* test-cfg-plan.c: plans against fake sysfs trees (fresh host, converged host, drifted host, absent and
 * invalid objects, --object filters) and apply with rollback when a step fails part-way. The PF driver's
 * rtnetlink side is tests/sriov/fakenl.h; sriov_numvfs is modelled here on top of tests/lib/fakesys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>

#include "cfg/cfg.h"
#include "lib/fakesys.h"
#include "sriov/fakenl.h"
#include "util/root.h"
#include "util/state.h"

#define PF "0000:01:00.0"
#define NIC "0000:02:00.0"

static const struct cfg_host_ops ops = { .nl = &model_ops, .bind_timeout_ms = 500, .vf_timeout_ms = 2000 };

/* VF i of the PF: devfn 0x80 + 2i, as igb has them. */
static void vf_addr(unsigned i, char *buf)
{
	unsigned devfn = 0x80 + 2 * i;
	snprintf(buf, 16, "0000:01:%02x.%x", devfn >> 3, devfn & 7);
}

/* The kernel's sriov_numvfs for the PF: VFs appear (unbound unless autoprobe) or go away. */
static struct fakesys *model_fs;
static int numvfs_model(const char *path, const char *value, void *userdata)
{
	struct fakesys *fs = userdata;
	char p[PATH_MAX], vf[16], ap[8] = "1";
	unsigned n = (unsigned)atoi(value);
	FILE *f;

	if (!streq(path, "/sys/bus/pci/devices/" PF "/sriov_numvfs"))
		return 0;
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/" PF "/sriov_drivers_autoprobe", fakesys_dir(fs));
	if ((f = fopen(p, "r"))) {
		if (!fgets(ap, sizeof(ap), f))
			ap[0] = '1';
		fclose(f);
	}
	for (unsigned i = 0; i < 7; i++) {
		snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/" PF "/virtfn%u", fakesys_dir(fs), i);
		if (n == 0) {
			unlink(p);
			continue;
		}
		if (i >= n)
			continue;
		vf_addr(i, vf);
		snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/%s", fakesys_dir(fs), vf);
		if (access(p, F_OK) == 0) {
			/* Created before and removed by a write of 0: its directory stays in this model. */
			char real[PATH_MAX], link[PATH_MAX];
			if (!realpath(p, real))
				return -EIO;
			snprintf(link, sizeof(link), "%s/sys/bus/pci/devices/" PF "/virtfn%u", fakesys_dir(fs), i);
			if (symlink(real, link) < 0)
				return -EIO;
			continue;
		}
		if (fakesys_add_vf(fs, PF, (int)i,
				   &(struct fakesys_dev){ .addr = vf, .vendor = 0x8086, .device = 0x10ca, .class_code = 0x020000,
							  .iommu_group = 10 + (int)i, .numa_node = -1, .parent = "0000:00:1c.0",
							  .driver = ap[0] == '1' ? "igbvf" : NULL, .msix_vectors = 3,
							  .pcie = true, .flr = true }) < 0)
			return -EIO;
	}
	return 0;
}

static int setup(void **state)
{
	struct fakesys *fs;
	if (fakesys_new(&fs) < 0)
		return -1;
	fakesys_add_driver(fs, "pcieport", (const char *[]){ "*", NULL });
	fakesys_add_driver(fs, "igb", (const char *[]){ "8086:10c9", NULL });
	fakesys_add_driver(fs, "igbvf", (const char *[]){ "8086:10ca", NULL });
	fakesys_add_driver(fs, "e1000e", (const char *[]){ "8086:10d3", NULL });
	fakesys_add_driver(fs, "vfio-pci", NULL);
	fakesys_add_dev(fs, &(struct fakesys_dev){ .addr = "0000:00:1c.0", .vendor = 0x8086, .device = 0x29c0,
						   .class_code = 0x060400, .iommu_group = 1, .numa_node = -1,
						   .driver = "pcieport", .pcie = true });
	fakesys_add_dev(fs, &(struct fakesys_dev){ .addr = PF, .vendor = 0x8086, .device = 0x10c9, .class_code = 0x020000,
						   .iommu_group = 1, .numa_node = -1, .parent = "0000:00:1c.0",
						   .driver = "igb", .msix_vectors = 10, .pcie = true, .flr = true,
						   .sriov_total_vfs = 7 });
	fakesys_add_netdev(fs, PF, "eth0", 0x1, IFINDEX);
	fakesys_add_dev(fs, &(struct fakesys_dev){ .addr = NIC, .vendor = 0x8086, .device = 0x10d3, .class_code = 0x020000,
						   .iommu_group = 2, .numa_node = -1, .driver = "e1000e",
						   .msix_vectors = 5, .pcie = true, .flr = true });
	fakesys_add_netdev(fs, NIC, "eth1", 0x0, 8);
	fakesys_write(fs, "/run/ptctl/.keep", "");
	fakesys_on_write(fs, numvfs_model, fs);
	model_fs = fs;
	memset(&model, 0, sizeof(model));
	for (int i = 0; i < NVF; i++)
		model.vf[i].spoofchk = 1;
	*state = fs;
	return 0;
}

static int teardown(void **state)
{
	fakesys_free(*state);
	return 0;
}

static struct cfg *config(struct fakesys *fs, const char *text)
{
	struct cfg *c = NULL;
	struct cfg_errors e;
	assert_int_equal(fakesys_write(fs, "/etc/ptctl/test.conf", text), 0);
	int r = cfg_load(NULL, &c, &e);
	for (size_t i = 0; i < e.n; i++)
		fprintf(stderr, "%s:%u: %s\n", e.v[i].file, e.v[i].line, e.v[i].msg);
	cfg_errors_clear(&e);
	assert_int_equal(r, 0);
	return c;
}

static const char *const nic_conf =
	"[SR-IOV]\nPhysicalFunction=eth0\nVirtualFunctions=3\n"
	"[VirtualFunction]\nPhysicalFunction=eth0\nVirtualFunction=0\nMACAddress=02:00:00:00:00:10\nVLANId=100\n"
	"[VirtualFunction]\nPhysicalFunction=eth0\nVirtualFunction=1\nMACAddress=02:00:00:00:00:11\nVLANId=101\n"
	"QualityOfService=3\nTrust=yes\n"
	"[VirtualFunction]\nPhysicalFunction=eth0\nVirtualFunction=2\nMACAddress=02:00:00:00:00:12\nDriver=vfio-pci\n"
	"[Device]\nAddress=" NIC "\nDriver=vfio-pci\n"
	"[VM]\nName=vm1\nKernel=/k\nAssign=eth0:2\nAssign=" NIC "\n";

static char *steps_text(const struct cfg_plan *p)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	for (size_t i = 0; i < p->n_steps; i++)
		fprintf(f, "%s\n", p->steps[i].text);
	fclose(f);
	return out;
}

static const struct cfg_object_state *state_of(const struct cfg_plan *p, const char *id)
{
	for (size_t i = 0; i < p->n_states; i++)
		if (streq(p->states[i].obj->id, id))
			return &p->states[i];
	fail_msg("no state for %s", id);
	return NULL;
}

static char *driver(struct fakesys *fs, const char *dev)
{
	char *d = NULL;
	assert_int_equal(fakesys_driver(fs, dev, &d), 0);
	return d;
}

static void converge(struct fakesys *fs, struct cfg *c)
{
	struct cfg_plan *p = NULL;
	struct cfg_apply_result res;
	assert_int_equal(cfg_plan_new(c, NULL, &ops, &p), 0);
	assert_int_equal(cfg_apply(p, &ops, NULL, NULL, &res), 0);
	if (res.reason)
		fail_msg("apply: %s", res.reason);
	cfg_apply_result_clear(&res);
	cfg_plan_free(p);
	(void)fs;
}

static void test_fresh_host(void **state)
{
	struct fakesys *fs = *state;
	struct cfg *c = config(fs, nic_conf);
	struct cfg_plan *p = NULL;
	_cleanup_free_ char *text = NULL, *d2 = NULL, *dn = NULL;
	char vf2[16];

	assert_int_equal(cfg_plan_new(c, NULL, &ops, &p), 0);
	text = steps_text(p);
	assert_string_equal(text, PF ": VFs 0 -> 3 (drivers autoprobe off)\n"
				  PF " VF 0 (eth0): set mac 02:00:00:00:00:10, vlan 100 qos 0\n"
				  PF " VF 1 (eth0): set mac 02:00:00:00:00:11, vlan 101 qos 3, trust on\n"
				  PF " VF 2 (eth0): set mac 02:00:00:00:00:12\n"
				  PF " VF 2: bind (new VF) -> vfio-pci\n"
				  NIC ": bind e1000e -> vfio-pci\n");
	assert_int_equal(p->n_invalid, 0);
	assert_int_equal(state_of(p, "sriov eth0")->state, CFG_DRIFTED);
	assert_string_equal(state_of(p, "sriov eth0")->drift[0], "VFs 0, configured 3");
	assert_int_equal(state_of(p, "vf eth0/2")->state, CFG_DRIFTED);
	/* The VM's devices will be on vfio-pci once the plan ran: not invalid, nothing for it to do. */
	assert_int_equal(state_of(p, "vm vm1")->state, CFG_CONVERGED);

	struct cfg_apply_result res;
	assert_int_equal(cfg_apply(p, &ops, NULL, NULL, &res), 0);
	assert_int_equal(res.n_done, 6);
	cfg_apply_result_clear(&res);
	cfg_plan_free(p);

	vf_addr(2, vf2);
	d2 = driver(fs, vf2);
	dn = driver(fs, NIC);
	assert_string_equal(d2, "vfio-pci");
	assert_string_equal(dn, "vfio-pci");
	assert_int_equal(model.vf[0].vlan, 100);
	assert_int_equal(model.vf[1].qos, 3);
	assert_int_equal(model.vf[1].trust, 1);
	assert_int_equal(model.vf[2].mac[5], 0x12);

	/* converged host: nothing to do, every object converged */
	assert_int_equal(cfg_plan_new(c, NULL, &ops, &p), 0);
	assert_int_equal(p->n_steps, 0);
	for (size_t i = 0; i < p->n_states; i++)
		assert_int_equal(p->states[i].state, CFG_CONVERGED);
	cfg_plan_free(p);
	cfg_free(c);
}

static void test_drifted_host(void **state)
{
	struct fakesys *fs = *state;
	struct cfg *c = config(fs, nic_conf);
	struct cfg_plan *p = NULL;
	_cleanup_free_ char *text = NULL;
	unsigned sets;

	converge(fs, c);
	model.vf[1].mac[5] = 0x99; /* someone changed VF 1's MAC by hand */
	assert_int_equal(cfg_plan_new(c, NULL, &ops, &p), 0);
	text = steps_text(p);
	assert_string_equal(text, PF " VF 1 (eth0): set mac 02:00:00:00:00:11\n");
	assert_int_equal(state_of(p, "vf eth0/1")->state, CFG_DRIFTED);
	assert_string_equal(state_of(p, "vf eth0/1")->drift[0], "VF 1 mac 02:00:00:00:00:99, configured mac 02:00:00:00:00:11");
	assert_int_equal(state_of(p, "vf eth0/0")->state, CFG_CONVERGED);
	assert_int_equal(state_of(p, "sriov eth0")->state, CFG_CONVERGED);
	sets = model.sets;
	struct cfg_apply_result res;
	assert_int_equal(cfg_apply(p, &ops, NULL, NULL, &res), 0);
	cfg_apply_result_clear(&res);
	assert_int_equal(model.sets - sets, 1); /* only that setting was sent */
	assert_int_equal(model.vf[1].mac[5], 0x11);
	assert_int_equal(model.vf[1].vlan, 101);
	cfg_plan_free(p);
	cfg_free(c);
}

static void test_rollback(void **state)
{
	struct fakesys *fs = *state;
	struct cfg *c = config(fs, nic_conf);
	struct cfg_plan *p = NULL;
	struct cfg_apply_result res;
	_cleanup_free_ char *dn = NULL, *rec = NULL, *ap = NULL, *n = NULL;
	char path[PATH_MAX];

	/* The last step (e1000e -> vfio-pci) fails: e1000e will not let go of the NIC. */
	fakesys_fault(fs, "e1000e", FAKESYS_UNBIND_EBUSY);
	assert_int_equal(cfg_plan_new(c, NULL, &ops, &p), 0);
	assert_int_equal(p->n_steps, 6);
	assert_true(cfg_apply(p, &ops, NULL, NULL, &res) < 0);
	assert_int_equal(res.failed_step, 5);
	assert_int_equal(res.n_done, 5);
	assert_int_equal(res.rollback, 0);
	assert_non_null(strstr(res.reason, NIC));
	cfg_apply_result_clear(&res);
	cfg_plan_free(p);

	/* Everything this run did is undone: no VFs, autoprobe back on, the NIC on e1000e. */
	assert_int_equal(root_read("/sys/bus/pci/devices/" PF "/sriov_numvfs", &n), 0);
	assert_string_equal(n, "0");
	assert_int_equal(root_read("/sys/bus/pci/devices/" PF "/sriov_drivers_autoprobe", &ap), 0);
	assert_string_equal(ap, "1");
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/" PF "/virtfn0");
	assert_false(root_exists(path));
	dn = driver(fs, NIC);
	assert_string_equal(dn, "e1000e");
	/* status: the failing object is failed (with the reason), the others drifted */
	assert_int_equal(state_read("cfg", "failed", &rec), 0);
	assert_non_null(strstr(rec, "device " NIC "="));
	assert_int_equal(cfg_plan_new(c, NULL, &ops, &p), 0);
	assert_int_equal(state_of(p, "device " NIC)->state, CFG_FAILED);
	assert_non_null(strstr(state_of(p, "device " NIC)->why, NIC));
	assert_int_equal(state_of(p, "sriov eth0")->state, CFG_DRIFTED);
	cfg_plan_free(p);

	/* Once the fault is gone, apply converges and the failure record goes. */
	fakesys_fault(fs, "e1000e", 0);
	converge(fs, c);
	assert_int_equal(state_read("cfg", "failed", &rec), -ENOENT);
	cfg_free(c);
}

static void test_rollback_vf_settings(void **state)
{
	struct fakesys *fs = *state;
	struct cfg *c = config(fs, nic_conf);
	struct cfg_plan *p = NULL;
	struct cfg_apply_result res;

	converge(fs, c);
	/* Two VFs drift; the second set is refused by the PF driver: the first is put back. */
	model.vf[0].vlan = 7;
	model.vf[1].trust = 0;
	assert_int_equal(cfg_plan_new(c, NULL, &ops, &p), 0);
	assert_int_equal(p->n_steps, 2);
	model.unsupported = SRIOV_SET_TRUST;
	assert_int_equal(cfg_apply(p, &ops, NULL, NULL, &res), -EOPNOTSUPP);
	assert_int_equal(res.failed_step, 1);
	assert_non_null(strstr(res.reason, "VF 1: trust"));
	assert_int_equal(model.vf[0].vlan, 7); /* as it was before this run */
	cfg_apply_result_clear(&res);
	cfg_plan_free(p);
	cfg_free(c);
}

static void test_absent_and_invalid(void **state)
{
	struct fakesys *fs = *state;
	struct cfg *c = config(fs, "[SR-IOV]\nPhysicalFunction=eth9\nVirtualFunctions=2\n"
				   "[SR-IOV]\nPhysicalFunction=eth0\nVirtualFunctions=8\n"
				   "[VirtualFunction]\nPhysicalFunction=" NIC "\nVirtualFunction=0\nTrust=yes\n"
				   "[Device]\nMatch=1234:5678\nDriver=vfio-pci\n"
				   "[Device]\nAddress=0000:00:1c.0\nDriver=vfio-pci\n"
				   "[VM]\nName=vm2\nKernel=/k\nAssign=" NIC "\n");
	struct cfg_plan *p = NULL;

	assert_int_equal(cfg_plan_new(c, NULL, &ops, &p), 0);
	assert_int_equal(p->n_steps, 0);
	assert_int_equal(state_of(p, "sriov eth9")->state, CFG_ABSENT);
	assert_string_equal(state_of(p, "sriov eth9")->why, "no network interface eth9 (yet): applied when it appears");
	assert_int_equal(state_of(p, "sriov eth0")->state, CFG_INVALID);
	assert_string_equal(state_of(p, "sriov eth0")->why, "VirtualFunctions=8: " PF " supports at most 7");
	assert_int_equal(state_of(p, "vf " NIC "/0")->state, CFG_INVALID);
	assert_string_equal(state_of(p, "vf " NIC "/0")->why, NIC ": not an SR-IOV physical function");
	assert_int_equal(state_of(p, "device 1234:5678")->state, CFG_ABSENT);
	assert_int_equal(state_of(p, "device 0000:00:1c.0")->state, CFG_INVALID);
	assert_int_equal(state_of(p, "vm vm2")->state, CFG_INVALID);
	assert_string_equal(state_of(p, "vm vm2")->why,
			    "Assign=" NIC ": " NIC " is on e1000e and nothing configured gives it Driver=vfio-pci (add a "
			    "[Device] or [VirtualFunction] section that does)");
	assert_int_equal(p->n_invalid, 4);
	cfg_plan_free(p);
	cfg_free(c);
}

static void test_object_filter(void **state)
{
	struct fakesys *fs = *state;
	struct cfg *c = config(fs, nic_conf);
	struct cfg_plan *p = NULL;
	char vf1[16];

	converge(fs, c);
	vf_addr(1, vf1);
	assert_int_equal(cfg_plan_new(c, PF, &ops, &p), 0);
	assert_int_equal(p->n_states, 4); /* the [SR-IOV] and its three VFs */
	cfg_plan_free(p);
	assert_int_equal(cfg_plan_new(c, "eth0", &ops, &p), 0);
	assert_int_equal(p->n_states, 4);
	cfg_plan_free(p);
	assert_int_equal(cfg_plan_new(c, vf1, &ops, &p), 0);
	assert_int_equal(p->n_states, 1);
	assert_string_equal(p->states[0].obj->id, "vf eth0/1");
	cfg_plan_free(p);
	assert_int_equal(cfg_plan_new(c, "02:00.0", &ops, &p), 0);
	assert_int_equal(p->n_states, 1);
	assert_string_equal(p->states[0].obj->id, "device " NIC);
	cfg_plan_free(p);
	assert_int_equal(cfg_plan_new(c, "vm1", &ops, &p), 0);
	assert_int_equal(p->n_states, 1);
	cfg_plan_free(p);
	assert_int_equal(cfg_plan_new(c, "0000:09:00.0", &ops, &p), 0);
	assert_int_equal(p->n_states, 0);
	cfg_plan_free(p);
	cfg_free(c);
}

static void test_release_to_host(void **state)
{
	struct fakesys *fs = *state;
	struct cfg *c = config(fs, "[Device]\nAddress=" NIC "\nDriver=vfio-pci\n");
	struct cfg_plan *p = NULL;
	_cleanup_free_ char *d = NULL;

	converge(fs, c);
	cfg_free(c);
	c = config(fs, "[Device]\nAddress=" NIC "\nDriver=host\n");
	assert_int_equal(cfg_plan_new(c, NULL, &ops, &p), 0);
	assert_int_equal(p->n_steps, 1);
	assert_int_equal(p->steps[0].action, CFG_STEP_RELEASE);
	cfg_plan_free(p);
	converge(fs, c);
	d = driver(fs, NIC);
	assert_string_equal(d, "e1000e");
	cfg_free(c);
}

/* Group=yes moves the whole IOMMU group (fakesys's sample host: 00:1f.0/.2/.3 share group 4). */
static int setup_sample(void **state)
{
	struct fakesys *fs;
	if (fakesys_new(&fs) < 0 || fakesys_add_sample_host(fs, true) < 0)
		return -1;
	*state = fs;
	return 0;
}

static void test_group(void **state)
{
	struct fakesys *fs = *state;
	struct cfg *c = config(fs, "[Device]\nAddress=0000:00:1f.3\nDriver=vfio-pci\nGroup=yes\n");
	struct cfg_plan *p = NULL;
	struct cfg_apply_result res;

	assert_int_equal(cfg_plan_new(c, NULL, &ops, &p), 0);
	assert_int_equal(p->n_steps, 1);
	assert_string_equal(p->steps[0].text, "0000:00:1f.3: bind i801_smbus -> vfio-pci (with its IOMMU group)");
	assert_int_equal(cfg_apply(p, &ops, NULL, NULL, &res), 0);
	cfg_apply_result_clear(&res);
	cfg_plan_free(p);
	for (const char *const *d = (const char *const[]){ "0000:00:1f.0", "0000:00:1f.2", "0000:00:1f.3", NULL }; *d; d++) {
		_cleanup_free_ char *drv = driver(fs, *d);
		assert_string_equal(drv, "vfio-pci");
	}
	cfg_free(c);
}

/* Without Group=, the device of a shared group is refused by vfio's viability check: apply fails and
 * nothing changed. */
static void test_group_refused(void **state)
{
	struct fakesys *fs = *state;
	struct cfg *c = config(fs, "[Device]\nAddress=0000:00:1f.3\nDriver=vfio-pci\n");
	struct cfg_plan *p = NULL;
	struct cfg_apply_result res;
	_cleanup_free_ char *drv = NULL;

	assert_int_equal(cfg_plan_new(c, NULL, &ops, &p), 0);
	assert_true(cfg_apply(p, &ops, NULL, NULL, &res) < 0);
	assert_int_equal(res.failed_step, 0);
	assert_non_null(strstr(res.reason, "0000:00:1f.0"));
	cfg_apply_result_clear(&res);
	cfg_plan_free(p);
	drv = driver(fs, "0000:00:1f.3");
	assert_string_equal(drv, "i801_smbus");
	cfg_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drifted_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_vf_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absent_and_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_to_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group, setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_group_refused, setup_sample, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
