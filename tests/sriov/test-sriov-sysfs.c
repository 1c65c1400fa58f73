/* test-sriov-sysfs.c: the sysfs side of the sriov module on fake trees: reading a PF, creating and
 * destroying VFs through 0, in-use refusals, waiting, timeouts and rollback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sriov/fakepf.h"
#include "sriov/sriov.h"
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>

#include "util/assigned.h"
#include "util/root.h"
#include "util/state.h"

#define PF "0000:01:00.0"

static int setup(void **state)
{
	*state = fakepf_new(PF, 7, true);
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	fakepf_free(*state);
	return 0;
}

static struct sriov_pf *load(void)
{
	struct sriov_pf *pf = NULL;
	assert_int_equal(sriov_pf_load(PF, &pf), 0);
	return pf;
}

struct seen {
	char steps[512];
	unsigned progress_calls, first_present, last_present, last_wanted;
};

static void on_step(const char *path, const char *value, void *userdata)
{
	struct seen *s = userdata;
	const char *base = strrchr(path, '/') + 1;
	size_t len = strlen(s->steps);
	snprintf(s->steps + len, sizeof(s->steps) - len, "%s=%s ", streq(base, "sriov_numvfs") ? "numvfs" : "autoprobe",
		 value);
}

static void on_progress(unsigned present, unsigned wanted, void *userdata)
{
	struct seen *s = userdata;
	if (!s->progress_calls++)
		s->first_present = present;
	s->last_present = present;
	s->last_wanted = wanted;
}

static int set_count(unsigned n, struct sriov_change_opts o, struct seen *seen, struct sriov_change_error *e)
{
	o.step = on_step;
	o.progress = on_progress;
	o.userdata = seen;
	return sriov_pf_set_num_vfs(PF, n, &o, e);
}

static void test_load(void **state)
{
	struct fakepf *f = *state;
	struct sriov_pf *pf = load();
	(void)f;
	assert_string_equal(pf->address, PF);
	assert_string_equal(pf->driver, "igb");
	assert_string_equal(pf->netdev, "eth0");
	assert_int_equal(pf->ifindex, 7);
	assert_int_equal(pf->iommu_group, 5);
	assert_int_equal(pf->total_vfs, 7);
	assert_int_equal(pf->num_vfs, 0);
	assert_true(pf->autoprobe);
	assert_int_equal(pf->n_vfs, 0);
	sriov_pf_free(pf);

	/* short form, upper case: same device */
	assert_int_equal(sriov_pf_load("01:00.0", &pf), 0);
	assert_string_equal(pf->address, PF);
	sriov_pf_free(pf);
	assert_int_equal(sriov_pf_load("0000:09:00.0", &pf), -ENODEV);
	assert_int_equal(sriov_pf_load("nonsense", &pf), -EINVAL);
	/* a device without sriov_totalvfs */
	fp_dev(f, "0000:02:00.0", 6, "nvme");
	assert_int_equal(sriov_pf_load("0000:02:00.0", &pf), -EOPNOTSUPP);
}

static void test_create_sets_autoprobe_off_first(void **state)
{
	struct fakepf *f = *state;
	struct seen seen = { 0 };
	struct sriov_change_error e;
	struct sriov_pf *pf;

	assert_int_equal(set_count(4, (struct sriov_change_opts){ 0 }, &seen, &e), 0);
	/* autoprobe goes off before any VF exists, so no host driver can grab one */
	assert_string_equal(f->log, "autoprobe=0 numvfs=4 ");
	assert_string_equal(seen.steps, "autoprobe=0 numvfs=4 ");
	assert_int_equal(seen.progress_calls, 0);
	pf = load();
	assert_int_equal(pf->num_vfs, 4);
	assert_false(pf->autoprobe);
	assert_int_equal(pf->n_vfs, 4);
	assert_string_equal(pf->vfs[0].address, "0000:01:10.0");
	assert_string_equal(pf->vfs[3].address, "0000:01:10.6");
	assert_int_equal(pf->vfs[3].index, 3);
	assert_int_equal(pf->vfs[2].iommu_group, 102);
	assert_null(pf->vfs[0].driver);
	sriov_pf_free(pf);

	/* same count again: nothing written */
	f->log[0] = '\0';
	assert_int_equal(set_count(4, (struct sriov_change_opts){ 0 }, &seen, &e), 1);
	assert_string_equal(f->log, "");
	/* same count with --autoprobe: only the setting changes, the VFs stay */
	assert_int_equal(set_count(4, (struct sriov_change_opts){ .autoprobe = true }, &seen, &e), 0);
	assert_string_equal(f->log, "autoprobe=1 ");
}

static void test_change_goes_through_zero(void **state)
{
	struct fakepf *f = *state;
	struct seen seen = { 0 };
	struct sriov_change_error e;
	struct sriov_pf *pf;

	assert_int_equal(set_count(4, (struct sriov_change_opts){ 0 }, &seen, &e), 0);
	/* the model answers a direct change like the kernel does */
	assert_int_equal(root_write("/sys/bus/pci/devices/" PF "/sriov_numvfs", "2"), -EBUSY);
	f->log[0] = '\0';
	assert_int_equal(set_count(2, (struct sriov_change_opts){ 0 }, &seen, &e), 0);
	assert_string_equal(f->log, "numvfs=0 numvfs=2 ");
	pf = load();
	assert_int_equal(pf->num_vfs, 2);
	assert_int_equal(pf->n_vfs, 2);
	sriov_pf_free(pf);

	f->log[0] = '\0';
	assert_int_equal(set_count(0, (struct sriov_change_opts){ 0 }, &seen, &e), 0);
	assert_string_equal(f->log, "numvfs=0 ");
	pf = load();
	assert_int_equal(pf->num_vfs, 0);
	assert_int_equal(pf->n_vfs, 0);
	assert_false(pf->autoprobe); /* destroy leaves autoprobe alone */
	sriov_pf_free(pf);
	/* nothing to destroy */
	assert_int_equal(set_count(0, (struct sriov_change_opts){ 0 }, &seen, &e), 1);
	/* more than the device has */
	assert_int_equal(set_count(8, (struct sriov_change_opts){ 0 }, &seen, &e), -ERANGE);
}

static void test_vf_in_use_refused(void **state)
{
	struct fakepf *f = *state;
	struct seen seen = { 0 };
	struct sriov_change_error e;
	struct sriov_pf *pf;
	char *reason = NULL;

	assert_int_equal(set_count(3, (struct sriov_change_opts){ 0 }, &seen, &e), 0);
	/* bound to vfio-pci but nobody has the group open: not in use */
	fakepf_vf_user(f, 1, "vfio-pci", 0, NULL, NULL);
	pf = load();
	assert_int_equal(sriov_vf_in_use(&pf->vfs[1], &reason), 0);
	sriov_pf_free(pf);
	/* a process holding another group's device does not count either */
	fakepf_vf_user(f, 1, "vfio-pci", 4242, "qemu-system-x86", "/dev/vfio/999");
	pf = load();
	assert_int_equal(sriov_vf_in_use(&pf->vfs[1], &reason), 0);
	sriov_pf_free(pf);

	fakepf_vf_user(f, 1, "vfio-pci", 4242, "qemu-system-x86", "/dev/vfio/101");
	pf = load();
	assert_int_equal(sriov_vf_in_use(&pf->vfs[1], &reason), 1);
	assert_non_null(strstr(reason, "bound to vfio-pci, /dev/vfio/101 open by pid 4242 (qemu-system-x86)"));
	free(reason);
	sriov_pf_free(pf);

	f->log[0] = '\0';
	assert_int_equal(set_count(5, (struct sriov_change_opts){ 0 }, &seen, &e), -EBUSY);
	assert_string_equal(e.vf, "0000:01:10.2");
	assert_non_null(strstr(e.reason, "pid 4242"));
	sriov_change_error_done(&e);
	assert_int_equal(set_count(0, (struct sriov_change_opts){ 0 }, &seen, &e), -EBUSY);
	sriov_change_error_done(&e);
	assert_string_equal(f->log, ""); /* nothing was written */
	pf = load();
	assert_int_equal(pf->num_vfs, 3);
	sriov_pf_free(pf);

	/* --force goes ahead */
	assert_int_equal(set_count(0, (struct sriov_change_opts){ .force = true }, &seen, &e), 0);
	assert_string_equal(f->log, "numvfs=0 ");
}

/* Holds VM name's lock as a running VMM would, with /proc/PID present for our pid; returns the lock fd. */
static int fake_running_vm(const char *name)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "/run/ptctl/vm/%s", name);
	assert_int_equal(root_mkdir_p(p, 0755), 0);
	snprintf(p, sizeof(p), "/proc/%ld", (long)getpid());
	assert_int_equal(root_mkdir_p(p, 0755), 0);
	snprintf(p, sizeof(p), "/run/ptctl/vm/%s/lock", name);
	fd = root_open(p, O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	return fd;
}

static void test_assigned_record_refused(void **state)
{
	struct fakepf *f = *state;
	struct seen seen = { 0 };
	struct sriov_change_error e;
	int lock;

	assert_int_equal(set_count(2, (struct sriov_change_opts){ 0 }, &seen, &e), 0);
	lock = fake_running_vm("vm1");
	assert_int_equal(assigned_write("0000:01:10.0", "vm1", (long)getpid()), 0);
	f->log[0] = '\0';
	assert_int_equal(set_count(0, (struct sriov_change_opts){ 0 }, &seen, &e), -EBUSY);
	assert_string_equal(e.vf, "0000:01:10.0");
	assert_non_null(strstr(e.reason, "assigned to VM vm1"));
	sriov_change_error_done(&e);
	assert_string_equal(f->log, "");
	/* The VMM died (its lock went with it): the record no longer holds the VF. */
	close(lock);
	assert_int_equal(set_count(0, (struct sriov_change_opts){ 0 }, &seen, &e), 0);
	assert_int_equal(assigned_remove("0000:01:10.0"), 0);
}

static void test_timeout_rolls_back(void **state)
{
	struct fakepf *f = *state;
	struct seen seen = { 0 };
	struct sriov_change_error e;
	struct sriov_pf *pf;

	/* from nothing: 2 of 4 VFs ever appear */
	f->deliver = 2;
	assert_int_equal(set_count(4, (struct sriov_change_opts){ .timeout_ms = 300 }, &seen, &e), -ETIMEDOUT);
	assert_int_equal(e.present, 2);
	assert_int_equal(e.rollback, 0);
	assert_non_null(strstr(e.reason, "2 of 4 VFs appeared"));
	sriov_change_error_done(&e);
	assert_string_equal(f->log, "autoprobe=0 numvfs=4 numvfs=0 autoprobe=1 ");
	pf = load();
	assert_int_equal(pf->num_vfs, 0);
	assert_int_equal(pf->n_vfs, 0);
	assert_true(pf->autoprobe);
	sriov_pf_free(pf);

	/* from 2 VFs: the previous 2 come back */
	f->deliver = -1;
	assert_int_equal(set_count(2, (struct sriov_change_opts){ .autoprobe = true }, &seen, &e), 0);
	f->deliver = 3;
	f->log[0] = '\0';
	assert_int_equal(set_count(5, (struct sriov_change_opts){ .timeout_ms = 200 }, &seen, &e), -ETIMEDOUT);
	sriov_change_error_done(&e);
	assert_string_equal(f->log, "autoprobe=0 numvfs=0 numvfs=5 numvfs=0 autoprobe=1 numvfs=2 ");
	pf = load();
	assert_int_equal(pf->num_vfs, 2);
	assert_int_equal(pf->n_vfs, 2);
	assert_true(pf->autoprobe);
	sriov_pf_free(pf);
}

/* The first write is refused: nothing changed, so nothing is rolled back and the error says so;
 * a destroy whose VFs do not all go says how many are left, not "N of 0 appeared". */
static void test_refused_first_write_and_destroy_wording(void **state)
{
	struct fakepf *f = *state;
	struct seen seen = { 0 };
	struct sriov_change_error e;
	char h[PATH_MAX], t[PATH_MAX];

	assert_int_equal(set_count(2, (struct sriov_change_opts){ .autoprobe = true }, &seen, &e), 0);
	f->fail_zero = -EBUSY;
	f->log[0] = '\0';
	assert_int_equal(set_count(0, (struct sriov_change_opts){ 0 }, &seen, &e), -EBUSY);
	assert_false(e.changed);
	assert_int_equal(e.rollback, 0);
	sriov_change_error_done(&e);
	assert_string_equal(f->log, "numvfs=0 ");
	f->fail_zero = 0;

	/* A link the PF driver leaves behind: the VF count never reaches 0. */
	snprintf(h, sizeof(h), "%s" FP_BRIDGE "%s/virtfn9", f->root, f->pf);
	snprintf(t, sizeof(t), "%s" FP_BRIDGE "%s", f->root, f->pf);
	assert_int_equal(symlink(t, h), 0);
	assert_int_equal(set_count(0, (struct sriov_change_opts){ .timeout_ms = 200 }, &seen, &e), -ETIMEDOUT);
	assert_true(e.changed);
	assert_non_null(e.reason);
	assert_string_equal(e.reason, "1 VFs still present");
	sriov_change_error_done(&e);
	unlink(h);
}

static void test_vfs_without_group_are_not_ready(void **state)
{
	struct fakepf *f = *state;
	struct seen seen = { 0 };
	struct sriov_change_error e;

	f->vf_groups = false;
	assert_int_equal(set_count(2, (struct sriov_change_opts){ .timeout_ms = 200 }, &seen, &e), -ETIMEDOUT);
	assert_int_equal(e.present, 0);
	assert_non_null(strstr(e.reason, "IOMMU group"));
	sriov_change_error_done(&e);
}

static void test_no_iommu_no_group_wait(void **state)
{
	struct seen seen = { 0 };
	struct sriov_change_error e;
	struct fakepf *f = fakepf_new(PF, 4, false);
	struct sriov_pf *pf;
	(void)state;

	assert_non_null(f);
	assert_int_equal(set_count(3, (struct sriov_change_opts){ .timeout_ms = 200 }, &seen, &e), 0);
	pf = load();
	assert_int_equal(pf->iommu_group, -1);
	assert_int_equal(pf->vfs[0].iommu_group, -1);
	sriov_pf_free(pf);
	fakepf_free(f);
}

static void test_write_failure_rolls_back(void **state)
{
	struct fakepf *f = *state;
	struct seen seen = { 0 };
	struct sriov_change_error e;
	struct sriov_pf *pf;

	assert_int_equal(set_count(2, (struct sriov_change_opts){ .autoprobe = true }, &seen, &e), 0);
	f->fail_nonzero = -ENOMEM;
	f->log[0] = '\0';
	assert_int_equal(set_count(4, (struct sriov_change_opts){ 0 }, &seen, &e), -ENOMEM);
	/* the restore of 2 fails the same way: reported, not hidden */
	assert_int_equal(e.rollback, -ENOMEM);
	sriov_change_error_done(&e);
	assert_string_equal(f->log, "autoprobe=0 numvfs=0 numvfs=4 autoprobe=1 numvfs=2 ");
	f->fail_nonzero = 0;

	/* the trip through 0 refused: autoprobe put back, the VFs untouched */
	assert_int_equal(set_count(2, (struct sriov_change_opts){ .autoprobe = true }, &seen, &e), 0);
	f->fail_zero = -EIO;
	f->log[0] = '\0';
	assert_int_equal(set_count(3, (struct sriov_change_opts){ 0 }, &seen, &e), -EIO);
	assert_int_equal(e.rollback, 0);
	sriov_change_error_done(&e);
	assert_string_equal(f->log, "autoprobe=0 numvfs=0 autoprobe=1 ");
	pf = load();
	assert_int_equal(pf->num_vfs, 2);
	assert_true(pf->autoprobe);
	sriov_pf_free(pf);
	f->fail_zero = 0;
}

static void test_late_vfs_progress(void **state)
{
	struct fakepf *f = *state;
	struct seen seen = { 0 };
	struct sriov_change_error e;

	f->delay_ms = 1300;
	assert_int_equal(set_count(2, (struct sriov_change_opts){ .timeout_ms = 5000 }, &seen, &e), 0);
	/* progress shows once more than a second has passed, with what is there so far */
	assert_true(seen.progress_calls >= 1);
	assert_int_equal(seen.last_wanted, 2);
	assert_int_equal(seen.first_present, 0);
	assert_true(seen.last_present < 2); /* "2/2" is success, not progress */
}

static void test_dry_run_writes_nothing(void **state)
{
	struct fakepf *f = *state;
	struct seen seen = { 0 };
	struct sriov_change_error e;
	struct sriov_pf *pf;

	assert_int_equal(set_count(2, (struct sriov_change_opts){ 0 }, &seen, &e), 0);
	f->log[0] = '\0';
	seen.steps[0] = '\0';
	assert_int_equal(set_count(4, (struct sriov_change_opts){ .dry_run = true, .autoprobe = true }, &seen, &e), 0);
	assert_string_equal(f->log, "");
	assert_string_equal(seen.steps, "autoprobe=1 numvfs=0 numvfs=4 ");
	pf = load();
	assert_int_equal(pf->num_vfs, 2);
	sriov_pf_free(pf);
	/* the in-use check still runs in a dry run */
	fakepf_vf_user(f, 0, "vfio-pci", 77, "qemu", "/dev/vfio/100");
	assert_int_equal(set_count(4, (struct sriov_change_opts){ .dry_run = true }, &seen, &e), -EBUSY);
	sriov_change_error_done(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_sets_autoprobe_off_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_goes_through_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vf_in_use_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_assigned_record_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_first_write_and_destroy_wording, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vfs_without_group_are_not_ready, setup, teardown),
		cmocka_unit_test(test_no_iommu_no_group_wait),
		cmocka_unit_test_setup_teardown(test_write_failure_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_vfs_progress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dry_run_writes_nothing, setup, teardown),
	};
	return cmocka_run_group_tests_name("sriov-sysfs", tests, NULL, NULL);
}
