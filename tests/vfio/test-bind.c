/* test-bind.c: bind and release on fakesys's model of the driver core: success, --group,
 * refusals that change nothing, rollback after a failure half-way, the lock, module loading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/stat.h>

#include "lib/fakesys.h"
#include "util/root.h"
#include "util/state.h"
#include "vfio/vfio.h"

static struct fakesys *fs;

static int setup(void **s)
{
	(void)s;
	unsetenv("PTCTL_MODPROBE");
	if (fakesys_new(&fs) < 0 || fakesys_add_sample_host(fs, true) < 0)
		return -1;
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	fakesys_free(fs);
	fs = NULL;
	unsetenv("PTCTL_MODPROBE");
	return 0;
}

static struct pci_addr addr(const char *s)
{
	struct pci_addr a;
	assert_int_equal(pci_addr_parse(s, &a), 0);
	return a;
}

static void assert_driver(const char *dev, const char *want)
{
	char *d = NULL;
	assert_int_equal(fakesys_driver(fs, dev, &d), 0);
	if (!want)
		assert_null(d);
	else {
		assert_non_null(d);
		assert_string_equal(d, want);
	}
	free(d);
}

static void assert_override(const char *dev, const char *want)
{
	char *o = NULL;
	assert_int_equal(fakesys_override(fs, dev, &o), 0);
	assert_string_equal(o, want);
	free(o);
}

static bool has_record(const char *dev)
{
	char *c = NULL;
	int r = state_read("devices", dev, &c);
	free(c);
	return r >= 0;
}

static int do_bind(const char *dev, struct vfio_bind_opts o, struct vfio_bind_result *res)
{
	struct pci_addr a = addr(dev);
	if (!o.timeout_ms)
		o.timeout_ms = 50;
	memset(res, 0, sizeof(*res));
	return vfio_bind(&a, &o, res);
}

static int do_release(const char *dev, struct vfio_bind_opts o, struct vfio_bind_result *res)
{
	struct pci_addr a = addr(dev);
	if (!o.timeout_ms)
		o.timeout_ms = 50;
	memset(res, 0, sizeof(*res));
	return vfio_release(&a, &o, res);
}

/* The sequence the kernel documents, in order, and the record before any of it. */
static void test_bind_release_e1000e(void **s)
{
	struct vfio_bind_result res;
	char *rec = NULL, *v = NULL;
	char *const *w;
	(void)s;

	assert_int_equal(do_bind("0000:02:00.0", (struct vfio_bind_opts){ 0 }, &res), 0);
	assert_int_equal(res.failure, VFIO_BIND_OK);
	assert_int_equal(res.n_changes, 1);
	assert_string_equal(res.changes[0].from, "e1000e");
	assert_string_equal(res.changes[0].to, "vfio-pci");
	vfio_bind_result_clear(&res);
	assert_driver("0000:02:00.0", "vfio-pci");
	assert_override("0000:02:00.0", "vfio-pci");
	assert_int_equal(state_read("devices", "0000:02:00.0", &rec), 0);
	assert_int_equal(state_get_value(rec, "original_driver", &v), 0);
	assert_string_equal(v, "e1000e");
	free(v);
	free(rec);
	w = fakesys_writes(fs);
	assert_int_equal(fakesys_n_writes(fs), 3);
	assert_string_equal(w[0], "/sys/bus/pci/devices/0000:02:00.0/driver_override <- vfio-pci");
	assert_string_equal(w[1], "/sys/bus/pci/drivers/e1000e/unbind <- 0000:02:00.0");
	assert_string_equal(w[2], "/sys/bus/pci/drivers_probe <- 0000:02:00.0");

	assert_int_equal(do_release("02:00.0", (struct vfio_bind_opts){ 0 }, &res), 0);
	assert_string_equal(res.changes[0].from, "vfio-pci");
	assert_string_equal(res.changes[0].to, "e1000e");
	vfio_bind_result_clear(&res);
	assert_driver("0000:02:00.0", "e1000e");
	assert_override("0000:02:00.0", "(null)");
	assert_false(has_record("0000:02:00.0"));
}

/* Unbound before: bound without an unbind, and left unbound again by release. */
static void test_bind_release_unbound(void **s)
{
	struct vfio_bind_result res;
	(void)s;

	assert_int_equal(do_bind("00:05.0", (struct vfio_bind_opts){ 0 }, &res), 0);
	assert_null(res.changes[0].from);
	vfio_bind_result_clear(&res);
	assert_driver("0000:00:05.0", "vfio-pci");
	assert_int_equal(fakesys_n_writes(fs), 2);
	assert_int_equal(do_release("00:05.0", (struct vfio_bind_opts){ 0 }, &res), 0);
	vfio_bind_result_clear(&res);
	assert_driver("0000:00:05.0", NULL);
	assert_override("0000:00:05.0", "(null)");
	assert_false(has_record("0000:00:05.0"));
}

static void test_group_refused_then_bound(void **s)
{
	struct vfio_bind_result res;
	(void)s;

	assert_int_equal(do_bind("00:1f.3", (struct vfio_bind_opts){ 0 }, &res), -EPERM);
	assert_int_equal(res.failure, VFIO_BIND_REFUSED);
	assert_string_equal(res.object, "0000:00:1f.3");
	assert_string_equal(res.reason, "IOMMU group 4 is not viable: 0000:00:1f.0 is bound to lpc_ich, "
					"0000:00:1f.2 is bound to ahci (bind them too with --group, or release them)");
	vfio_bind_result_clear(&res);
	assert_int_equal(fakesys_n_writes(fs), 0);
	assert_false(has_record("0000:00:1f.3"));

	assert_int_equal(do_bind("00:1f.3", (struct vfio_bind_opts){ .group = true }, &res), 0);
	assert_int_equal(res.n_changes, 3);
	vfio_bind_result_clear(&res);
	assert_driver("0000:00:1f.0", "vfio-pci");
	assert_driver("0000:00:1f.2", "vfio-pci");
	assert_driver("0000:00:1f.3", "vfio-pci");
	assert_true(has_record("0000:00:1f.0") && has_record("0000:00:1f.2") && has_record("0000:00:1f.3"));

	/* Each member is released on its own, back to its own driver. */
	assert_int_equal(do_release("00:1f.2", (struct vfio_bind_opts){ 0 }, &res), 0);
	vfio_bind_result_clear(&res);
	assert_driver("0000:00:1f.2", "ahci");
	assert_driver("0000:00:1f.0", "vfio-pci");

	/* --group releases the rest that ptctl bound. */
	assert_int_equal(do_release("00:1f.3", (struct vfio_bind_opts){ .group = true }, &res), 0);
	assert_int_equal(res.n_changes, 2);
	vfio_bind_result_clear(&res);
	assert_driver("0000:00:1f.0", "lpc_ich");
	assert_driver("0000:00:1f.2", "ahci");
	assert_driver("0000:00:1f.3", "i801_smbus");
	assert_false(has_record("0000:00:1f.0") || has_record("0000:00:1f.3"));
}

/* release --group is all or nothing: a member that cannot go back puts the ones released before it
 * back on vfio-pci, and every record stays. */
static void test_release_group_all_or_nothing(void **s)
{
	struct vfio_bind_result res;
	(void)s;

	assert_int_equal(do_bind("00:1f.3", (struct vfio_bind_opts){ .group = true }, &res), 0);
	vfio_bind_result_clear(&res);
	assert_int_equal(fakesys_fault(fs, "ahci", FAKESYS_PROBE_FAILS), 0);
	assert_int_equal(do_release("00:1f.3", (struct vfio_bind_opts){ .group = true }, &res), -EIO);
	assert_int_equal(res.failure, VFIO_BIND_FAILED);
	assert_string_equal(res.object, "0000:00:1f.2");
	assert_non_null(strstr(res.reason, "rolled back"));
	vfio_bind_result_clear(&res);
	assert_driver("0000:00:1f.3", "vfio-pci");
	assert_driver("0000:00:1f.0", "vfio-pci");
	assert_driver("0000:00:1f.2", "vfio-pci");
	assert_override("0000:00:1f.3", "vfio-pci");
	assert_override("0000:00:1f.0", "vfio-pci");
	assert_true(has_record("0000:00:1f.3") && has_record("0000:00:1f.0") && has_record("0000:00:1f.2"));
	/* Once ahci works again, the same command releases all three. */
	assert_int_equal(fakesys_fault(fs, "ahci", 0), 0);
	assert_int_equal(do_release("00:1f.3", (struct vfio_bind_opts){ .group = true }, &res), 0);
	assert_int_equal(res.n_changes, 3);
	vfio_bind_result_clear(&res);
	assert_driver("0000:00:1f.2", "ahci");
	assert_false(has_record("0000:00:1f.3") || has_record("0000:00:1f.0") || has_record("0000:00:1f.2"));
}

/* Once the first member has moved, a later member's state becomes unreadable (its driver_override
 * turns into a directory): its move fails, and the first member goes back too. Every snapshot
 * and record is taken before the first write, so nothing is left on vfio-pci without a way back. */
static int break_later_member(const char *path, const char *value, void *userdata)
{
	char p[4096];
	(void)value;
	(void)userdata;
	if (!strstr(path, "0000:00:1f.3/driver_override"))
		return 0;
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/0000:00:1f.2/driver_override", fakesys_dir(fs));
	if (unlink(p) == 0)
		mkdir(p, 0755);
	return 0;
}

static void test_group_later_member_unreadable(void **s)
{
	struct vfio_bind_result res;
	(void)s;

	fakesys_on_write(fs, break_later_member, NULL);
	assert_int_equal(do_bind("00:1f.3", (struct vfio_bind_opts){ .group = true }, &res), -EIO);
	assert_int_equal(res.failure, VFIO_BIND_FAILED);
	assert_string_equal(res.object, "0000:00:1f.2");
	assert_non_null(strstr(res.reason, "rolled back"));
	vfio_bind_result_clear(&res);
	fakesys_on_write(fs, NULL, NULL);
	assert_driver("0000:00:1f.3", "i801_smbus");
	assert_driver("0000:00:1f.0", "lpc_ich");
	assert_driver("0000:00:1f.2", "ahci");
	assert_override("0000:00:1f.3", "(null)");
	assert_override("0000:00:1f.0", "(null)");
	assert_false(has_record("0000:00:1f.3") || has_record("0000:00:1f.0") || has_record("0000:00:1f.2"));
}

/* Every member's record exists before the first write (seen in the order of the steps). */
static void test_group_records_first(void **s)
{
	struct vfio_bind_result res;
	(void)s;

	assert_int_equal(do_bind("00:1f.3", (struct vfio_bind_opts){ .group = true }, &res), 0);
	assert_true(res.n_steps > 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(res.steps[i].action, "record");
	assert_string_equal(res.steps[3].action, "override");
	vfio_bind_result_clear(&res);
}

static void test_in_use_refused_then_forced(void **s)
{
	struct vfio_bind_result res;
	(void)s;

	assert_int_equal(do_bind("01:00.0", (struct vfio_bind_opts){ 0 }, &res), -EPERM);
	assert_string_equal(res.reason, "in use: network interface enp1s0 is up with addresses or routes "
					"(stop using it first, or --force)");
	vfio_bind_result_clear(&res);
	assert_int_equal(fakesys_n_writes(fs), 0);
	assert_driver("0000:01:00.0", "igb");

	/* With --group, a member in use refuses the whole group. */
	assert_int_equal(do_bind("03:00.0", (struct vfio_bind_opts){ .group = true }, &res), -EPERM);
	assert_non_null(strstr(res.reason, "mounted on /srv"));
	vfio_bind_result_clear(&res);

	/* The root port sharing group 1 is a bridge: ignored, so --force alone is enough. */
	assert_int_equal(do_bind("01:00.0", (struct vfio_bind_opts){ .force = true }, &res), 0);
	vfio_bind_result_clear(&res);
	assert_driver("0000:01:00.0", "vfio-pci");
	assert_driver("0000:00:1c.0", "pcieport");
}

/* The second member's unbind fails: the first, already on vfio-pci, goes back too. */
static void test_rollback_group_half_way(void **s)
{
	struct vfio_bind_result res;
	(void)s;

	assert_int_equal(fakesys_fault(fs, "ahci", FAKESYS_UNBIND_EBUSY), 0);
	assert_int_equal(do_bind("00:1f.3", (struct vfio_bind_opts){ .group = true }, &res), -EIO);
	assert_int_equal(res.failure, VFIO_BIND_FAILED);
	assert_string_equal(res.object, "0000:00:1f.2");
	assert_non_null(strstr(res.reason, "unbinding from ahci failed"));
	assert_non_null(strstr(res.reason, "rolled back"));
	vfio_bind_result_clear(&res);
	assert_driver("0000:00:1f.3", "i801_smbus");
	assert_driver("0000:00:1f.0", "lpc_ich");
	assert_driver("0000:00:1f.2", "ahci");
	assert_override("0000:00:1f.3", "(null)");
	assert_override("0000:00:1f.0", "(null)");
	assert_override("0000:00:1f.2", "(null)");
	assert_false(has_record("0000:00:1f.3") || has_record("0000:00:1f.0") || has_record("0000:00:1f.2"));
}

/* vfio-pci refuses the device: drivers_probe "succeeds", verification catches it. */
static void test_rollback_probe_fails(void **s)
{
	struct vfio_bind_result res;
	(void)s;

	assert_int_equal(fakesys_fault(fs, "vfio-pci", FAKESYS_PROBE_FAILS), 0);
	assert_int_equal(do_bind("02:00.0", (struct vfio_bind_opts){ 0 }, &res), -EIO);
	assert_non_null(strstr(res.reason, "vfio-pci did not bind it"));
	vfio_bind_result_clear(&res);
	assert_driver("0000:02:00.0", "e1000e");
	assert_override("0000:02:00.0", "(null)");
	assert_false(has_record("0000:02:00.0"));
}

/* A failing driver_override write (the first step) leaves nothing behind either. */
static void test_rollback_override_write(void **s)
{
	struct vfio_bind_result res;
	(void)s;

	assert_int_equal(fakesys_fail_write(fs, "0000:02:00.0/driver_override", 1, -EACCES), 0);
	assert_int_equal(do_bind("02:00.0", (struct vfio_bind_opts){ 0 }, &res), -EIO);
	assert_non_null(strstr(res.reason, "writing driver_override failed"));
	vfio_bind_result_clear(&res);
	assert_driver("0000:02:00.0", "e1000e");
	assert_false(has_record("0000:02:00.0"));
}

static int refuse_override(const char *path, const char *value, void *userdata)
{
	(void)value;
	(void)userdata;
	return strstr(path, "/driver_override") ? -EACCES : 0;
}

/* driver_override refuses every write (as a kernel lockdown would): nothing changed, so nothing is
 * rolled back, no "rollback failed", and no record claims a change. */
static void test_override_always_refused(void **s)
{
	struct vfio_bind_result res;
	(void)s;

	fakesys_on_write(fs, refuse_override, NULL);
	assert_int_equal(do_bind("02:00.0", (struct vfio_bind_opts){ 0 }, &res), -EIO);
	assert_int_equal(res.failure, VFIO_BIND_FAILED);
	assert_string_equal(res.reason, "writing driver_override failed: Permission denied");
	vfio_bind_result_clear(&res);
	fakesys_on_write(fs, NULL, NULL);
	assert_int_equal(fakesys_n_writes(fs), 1);
	assert_driver("0000:02:00.0", "e1000e");
	assert_false(has_record("0000:02:00.0"));
}

/* A record left by a ptctl killed before its first write describes no change: release only
 * removes it, and a bind that fails removes it too. */
static void test_stale_record(void **s)
{
	struct vfio_bind_result res;
	(void)s;

	assert_int_equal(state_write("devices", "0000:02:00.0",
				     "original_driver=e1000e\noriginal_override=\ndriver=vfio-pci\n"), 0);
	assert_int_equal(do_release("02:00.0", (struct vfio_bind_opts){ 0 }, &res), 0);
	assert_string_equal(res.changes[0].to, "e1000e");
	vfio_bind_result_clear(&res);
	assert_int_equal(fakesys_n_writes(fs), 0);
	assert_false(has_record("0000:02:00.0"));

	assert_int_equal(state_write("devices", "0000:02:00.0",
				     "original_driver=e1000e\noriginal_override=\ndriver=vfio-pci\n"), 0);
	assert_int_equal(fakesys_fault(fs, "vfio-pci", FAKESYS_PROBE_FAILS), 0);
	assert_int_equal(do_bind("02:00.0", (struct vfio_bind_opts){ 0 }, &res), -EIO);
	vfio_bind_result_clear(&res);
	assert_driver("0000:02:00.0", "e1000e");
	assert_false(has_record("0000:02:00.0"));
}

/* Driver names are names: "..", "." and paths are bad input (exit 2) before anything is written,
 * in a dry run as in the real one. */
static void test_driver_name_validated(void **s)
{
	static const char *const bad[] = { "..", ".", "../vfio-pci", "vfio-pci/", "", "a b", "x\n" };
	struct vfio_bind_result res;
	(void)s;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (int dry = 0; dry < 2; dry++) {
			assert_int_equal(do_bind("02:00.0", (struct vfio_bind_opts){ .driver = bad[i], .dry_run = dry },
						 &res),
					 -EINVAL);
			assert_int_equal(res.failure, VFIO_BIND_BAD_INPUT);
			assert_non_null(strstr(res.reason, "is not a driver name"));
			vfio_bind_result_clear(&res);
		}
	assert_int_equal(fakesys_n_writes(fs), 0);
	assert_driver("0000:02:00.0", "e1000e");
	assert_false(has_record("0000:02:00.0"));
}

/* A dry run refuses an unknown driver as the real run does, and loads nothing to find out. */
static void test_dry_run_unknown_driver(void **s)
{
	struct vfio_bind_result res;
	(void)s;

	assert_int_equal(do_bind("00:05.0", (struct vfio_bind_opts){ .driver = "nosuch", .dry_run = true }, &res),
			 -EINVAL);
	assert_int_equal(res.failure, VFIO_BIND_BAD_INPUT);
	vfio_bind_result_clear(&res);
	assert_int_equal(fakesys_add_module(fs, "vfio_pci_fake", "vfio-pci-fake", NULL), 0);
	setenv("PTCTL_MODPROBE", fakesys_modprobe_path(fs), 1);
	assert_int_equal(do_bind("00:05.0", (struct vfio_bind_opts){ .driver = "unknown-driver", .dry_run = true },
				 &res),
			 -EINVAL);
	assert_non_null(strstr(res.reason, "modprobe does not know its module"));
	vfio_bind_result_clear(&res);
	assert_int_equal(do_bind("00:05.0", (struct vfio_bind_opts){ .driver = "vfio-pci-fake", .dry_run = true },
				 &res),
			 0);
	assert_string_equal(res.steps[0].action, "modprobe");
	vfio_bind_result_clear(&res);
	assert_false(root_exists("/sys/bus/pci/drivers/vfio-pci-fake"));
	assert_int_equal(fakesys_n_writes(fs), 0);
}

/* modprobe runs with no signal held back: a hung one dies on Ctrl-C. */
static void test_modprobe_signals_open(void **s)
{
	char script[8192], p[4096], *blk = NULL;
	(void)s;
	struct vfio_bind_result res;

	snprintf(p, sizeof(p), "%s/modprobe-sigblk", fakesys_dir(fs));
	snprintf(script, sizeof(script), "#!/bin/sh\n# the shell's own mask, read with builtins (dash blocks signals around its forks)\n"
		 "while read -r k v; do [ \"$k\" = SigBlk: ] && echo \"$v\" > '%s'; done < /proc/self/status\nexit 1\n", p);
	assert_int_equal(fakesys_write(fs, "/sbin/sigblk-modprobe", script), 0);
	snprintf(p, sizeof(p), "%s/sbin/sigblk-modprobe", fakesys_dir(fs));
	assert_int_equal(chmod(p, 0755), 0);
	setenv("PTCTL_MODPROBE", p, 1);
	assert_int_equal(do_bind("00:05.0", (struct vfio_bind_opts){ .driver = "vfio-pci-fake" }, &res), -EINVAL);
	vfio_bind_result_clear(&res);
	assert_int_equal(root_read("/modprobe-sigblk", &blk), 0);
	assert_string_equal(blk, "0000000000000000");
	free(blk);
}

/* When the way back fails too, the result says so plainly. */
static void test_stranded_reported(void **s)
{
	struct vfio_bind_result res;
	(void)s;

	assert_int_equal(fakesys_fault(fs, "vfio-pci", FAKESYS_PROBE_FAILS), 0);
	assert_int_equal(fakesys_fault(fs, "e1000e", FAKESYS_PROBE_FAILS), 0);
	assert_int_equal(do_bind("02:00.0", (struct vfio_bind_opts){ 0 }, &res), -EIO);
	assert_int_equal(res.failure, VFIO_BIND_STRANDED);
	assert_non_null(strstr(res.reason, "rollback failed: 0000:02:00.0 could not be returned to e1000e"));
	vfio_bind_result_clear(&res);
}

static void test_dry_run_changes_nothing(void **s)
{
	struct vfio_bind_result res;
	(void)s;

	assert_int_equal(do_bind("00:1f.3", (struct vfio_bind_opts){ .group = true, .dry_run = true }, &res), 0);
	assert_int_equal(res.n_steps, 15);
	assert_string_equal(res.steps[4].action, "unbind");
	assert_string_equal(res.steps[4].file, "/sys/bus/pci/drivers/i801_smbus/unbind");
	assert_false(res.steps[4].done);
	vfio_bind_result_clear(&res);
	assert_int_equal(fakesys_n_writes(fs), 0);
	assert_false(has_record("0000:00:1f.3"));
	assert_driver("0000:00:1f.3", "i801_smbus");
}

static void test_refusals(void **s)
{
	struct vfio_bind_result res;
	(void)s;

	assert_int_equal(do_bind("00:1c.0", (struct vfio_bind_opts){ 0 }, &res), -EPERM);
	assert_non_null(strstr(res.reason, "bridge"));
	vfio_bind_result_clear(&res);
	assert_int_equal(do_bind("0000:07:00.0", (struct vfio_bind_opts){ 0 }, &res), -EINVAL);
	assert_int_equal(res.failure, VFIO_BIND_BAD_INPUT);
	vfio_bind_result_clear(&res);
	/* No modprobe under a fake root unless PTCTL_MODPROBE says which. */
	assert_int_equal(do_bind("00:05.0", (struct vfio_bind_opts){ .driver = "nosuch" }, &res), -EINVAL);
	assert_int_equal(res.failure, VFIO_BIND_BAD_INPUT);
	vfio_bind_result_clear(&res);
	assert_int_equal(do_release("01:00.0", (struct vfio_bind_opts){ 0 }, &res), -EPERM);
	assert_string_equal(res.reason, "not bound by ptctl (driver igb); nothing to release");
	vfio_bind_result_clear(&res);
	assert_int_equal(fakesys_n_writes(fs), 0);

	/* Already there: success, nothing written. */
	assert_int_equal(do_bind("01:10.2", (struct vfio_bind_opts){ 0 }, &res), 0);
	assert_string_equal(res.changes[0].from, "vfio-pci");
	vfio_bind_result_clear(&res);
	assert_int_equal(fakesys_n_writes(fs), 0);
}

static void test_pf_with_vfs_refused(void **s)
{
	struct vfio_bind_result res;
	(void)s;

	assert_int_equal(do_bind("01:00.0", (struct vfio_bind_opts){ 0 }, &res), -EPERM);
	vfio_bind_result_clear(&res);
	assert_int_equal(root_write("/sys/class/net/enp1s0/flags", "0x1002"), 0);
	assert_int_equal(do_bind("01:00.0", (struct vfio_bind_opts){ 0 }, &res), -EPERM);
	assert_non_null(strstr(res.reason, "SR-IOV is enabled (2 VFs)"));
	vfio_bind_result_clear(&res);
	assert_int_equal(fakesys_n_writes(fs), 1); /* only the flags write above */
	assert_driver("0000:01:00.0", "igb");
}

static void test_no_iommu_refused(void **s)
{
	struct vfio_bind_result res;
	struct fakesys *plain;
	(void)s;

	fakesys_free(fs);
	assert_int_equal(fakesys_new(&plain), 0);
	fs = plain;
	assert_int_equal(fakesys_add_sample_host(fs, false), 0);
	assert_int_equal(do_bind("02:00.0", (struct vfio_bind_opts){ 0 }, &res), -EPERM);
	assert_non_null(strstr(res.reason, "no IOMMU group"));
	vfio_bind_result_clear(&res);
	/* A host driver needs no IOMMU: pci-stub is not a VFIO driver. */
	assert_int_equal(do_bind("02:00.0", (struct vfio_bind_opts){ .driver = "pci-stub" }, &res), 0);
	vfio_bind_result_clear(&res);
	assert_driver("0000:02:00.0", "pci-stub");
}

static void test_lock_held(void **s)
{
	struct vfio_bind_result res;
	int fd;
	(void)s;

	fd = state_lock(100);
	assert_true(fd >= 0);
	assert_int_equal(do_bind("02:00.0", (struct vfio_bind_opts){ .lock_timeout_ms = 60 }, &res), -EIO);
	assert_non_null(strstr(res.reason, "another ptctl"));
	vfio_bind_result_clear(&res);
	assert_int_equal(fakesys_n_writes(fs), 0);
	close(fd);
	assert_int_equal(do_bind("02:00.0", (struct vfio_bind_opts){ .lock_timeout_ms = 60 }, &res), 0);
	vfio_bind_result_clear(&res);
}

static void test_modprobe(void **s)
{
	struct vfio_bind_result res;
	(void)s;

	assert_int_equal(fakesys_add_module(fs, "vfio_pci_fake", "vfio-pci-fake", NULL), 0);
	setenv("PTCTL_MODPROBE", fakesys_modprobe_path(fs), 1);
	assert_int_equal(do_bind("02:00.0", (struct vfio_bind_opts){ .driver = "vfio-pci-fake" }, &res), 0);
	assert_string_equal(res.steps[0].action, "modprobe");
	vfio_bind_result_clear(&res);
	assert_driver("0000:02:00.0", "vfio-pci-fake");

	assert_int_equal(do_bind("00:05.0", (struct vfio_bind_opts){ .driver = "unknown-driver" }, &res), -EINVAL);
	assert_non_null(strstr(res.reason, "modprobe failed (exit status 1)"));
	vfio_bind_result_clear(&res);
	assert_driver("0000:00:05.0", NULL);
}

/* The kernel's own match picks another driver on release: the original's bind file fixes it. */
static void test_release_binds_original_directly(void **s)
{
	struct vfio_bind_result res;
	struct fakesys *other;
	(void)s;

	fakesys_free(fs);
	assert_int_equal(fakesys_new(&other), 0);
	fs = other;
	assert_int_equal(fakesys_add_driver(fs, "aaa_vf", (const char *[]){ "8086:10ca", NULL }), 0);
	assert_int_equal(fakesys_add_sample_host(fs, true), 0);
	assert_driver("0000:01:10.0", "igbvf");
	assert_int_equal(do_bind("01:10.0", (struct vfio_bind_opts){ 0 }, &res), 0);
	vfio_bind_result_clear(&res);
	assert_int_equal(do_release("01:10.0", (struct vfio_bind_opts){ 0 }, &res), 0);
	assert_string_equal(res.changes[0].to, "igbvf");
	vfio_bind_result_clear(&res);
	assert_driver("0000:01:10.0", "igbvf");
}

/* Release fails on the way back: the device stays on vfio-pci (with its record), not unbound. */
static void test_release_failure_keeps_vfio(void **s)
{
	struct vfio_bind_result res;
	(void)s;

	assert_int_equal(do_bind("02:00.0", (struct vfio_bind_opts){ 0 }, &res), 0);
	vfio_bind_result_clear(&res);
	assert_int_equal(fakesys_fault(fs, "e1000e", FAKESYS_PROBE_FAILS), 0);
	assert_int_equal(do_release("02:00.0", (struct vfio_bind_opts){ 0 }, &res), -EIO);
	assert_non_null(strstr(res.reason, "rolled back"));
	vfio_bind_result_clear(&res);
	assert_driver("0000:02:00.0", "vfio-pci");
	assert_override("0000:02:00.0", "vfio-pci");
	assert_true(has_record("0000:02:00.0"));
	/* Once the driver works again, release succeeds. */
	assert_int_equal(fakesys_fault(fs, "e1000e", 0), 0);
	assert_int_equal(do_release("02:00.0", (struct vfio_bind_opts){ 0 }, &res), 0);
	vfio_bind_result_clear(&res);
	assert_driver("0000:02:00.0", "e1000e");
}

static volatile sig_atomic_t got_sigint;
static int sigint_during_unbind;

static void on_sigint(int sig)
{
	(void)sig;
	got_sigint = 1;
}

static int interrupt_at_unbind(const char *path, const char *value, void *userdata)
{
	(void)value;
	(void)userdata;
	if (strstr(path, "/unbind")) {
		raise(SIGINT);
		sigint_during_unbind = got_sigint; /* 0 when the signal is held back */
	}
	return 0;
}

/* Ctrl-C between unbind and probe must not strand the device: it arrives after the bind. */
static void test_sigint_held_while_moving(void **s)
{
	struct vfio_bind_result res;
	struct sigaction sa = { .sa_handler = on_sigint }, old;
	(void)s;

	assert_int_equal(sigaction(SIGINT, &sa, &old), 0);
	got_sigint = 0;
	sigint_during_unbind = -1;
	fakesys_on_write(fs, interrupt_at_unbind, NULL);
	assert_int_equal(do_bind("02:00.0", (struct vfio_bind_opts){ 0 }, &res), 0);
	vfio_bind_result_clear(&res);
	assert_int_equal(sigint_during_unbind, 0);
	assert_int_equal(got_sigint, 1);
	assert_driver("0000:02:00.0", "vfio-pci");
	fakesys_on_write(fs, NULL, NULL);
	sigaction(SIGINT, &old, NULL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_bind_release_e1000e),	  T(test_bind_release_unbound),	  T(test_group_refused_then_bound),
		T(test_in_use_refused_then_forced), T(test_rollback_group_half_way), T(test_rollback_probe_fails),
		T(test_rollback_override_write),  T(test_stranded_reported),	  T(test_dry_run_changes_nothing),
		T(test_refusals),		  T(test_no_iommu_refused),	  T(test_pf_with_vfs_refused),	  T(test_lock_held),
		T(test_modprobe),		  T(test_release_binds_original_directly),
		T(test_release_failure_keeps_vfio), T(test_sigint_held_while_moving), T(test_release_group_all_or_nothing),
		T(test_group_later_member_unreadable), T(test_group_records_first), T(test_override_always_refused),
		T(test_stale_record), T(test_driver_name_validated), T(test_dry_run_unknown_driver), T(test_modprobe_signals_open),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
