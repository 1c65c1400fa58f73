/* test-host.c: a device's host IRQs and their affinity against a fake root: sysfs msi_irqs/ and irq,
 * /proc/interrupts, /proc/irq/N/ (a write hook plays the kernel refusing managed IRQs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <sys/stat.h>

#include "irq/irq.h"
#include "util/root.h"

static char tmpdir[PATH_MAX];

static void put(const char *path, const char *content)
{
	char p[PATH_MAX], dir[PATH_MAX];
	FILE *f;

	assert_true(root_path(p, sizeof(p), "%s", path) >= 0);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(root_mkdir_p(dir, 0755), 0);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static char *get(const char *path)
{
	char *s = NULL;
	assert_int_equal(root_read(path, &s), 0);
	return s;
}

#define DEV "/sys/bus/pci/devices/0000:03:00.0"

static int setup(void **s)
{
	(void)s;
	strcpy(tmpdir, "/tmp/ptctl-irq-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	root_set(tmpdir);
	put("/sys/devices/system/cpu/online", "0-3\n");
	put("/proc/interrupts",
	    "           CPU0       CPU1       CPU2       CPU3       \n"
	    "  0:         22          0          0          0   IO-APIC   2-edge      timer\n"
	    " 16:          5          0          1          0   IO-APIC  16-fasteoi   ehci_hcd:usb1, i801_smbus\n"
	    " 40:        100          0         20          3  IR-PCI-MSIX-0000:03:00.0    0-edge      "
	    "vfio-msix[0](0000:03:00.0)\n"
	    " 41:          0          7          0          0  IR-PCI-MSIX-0000:03:00.0    1-edge      "
	    "vfio-msix[1](0000:03:00.0)\n"
	    " 42:          0          0          0          0  IR-PCI-MSIX-0000:03:00.0    2-edge\n"
	    "NMI:          0          0          0          0   Non-maskable interrupts\n");
	put(DEV "/irq", "16\n");
	put(DEV "/msi_irqs/42", "msix\n");
	put(DEV "/msi_irqs/40", "msix\n");
	put(DEV "/msi_irqs/41", "msix\n");
	put(DEV "/msi_irqs/bogus", "msix\n");
	for (unsigned irq = 40; irq <= 42; irq++) {
		char p[64];
		snprintf(p, sizeof(p), "/proc/irq/%u/smp_affinity_list", irq);
		put(p, "0-3\n");
		snprintf(p, sizeof(p), "/proc/irq/%u/effective_affinity_list", irq);
		put(p, irq == 41 ? "1\n" : "0\n");
	}
	put("/sys/bus/pci/devices/0000:00:1f.3/irq", "16\n");
	put("/proc/irq/16/smp_affinity_list", "0-3\n");
	return 0;
}

static int teardown(void **s)
{
	char cmd[PATH_MAX + 16];
	(void)s;
	root_set_write_hook(NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const struct pci_addr dev = { .domain = 0, .bus = 3, .dev = 0, .fn = 0 };

static void test_list_msix(void **s)
{
	struct irq_host *v;
	size_t n;
	(void)s;

	assert_int_equal(irq_host_list(&dev, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(v[0].irq, 40);
	assert_int_equal(v[0].kind, IRQ_HOST_MSIX);
	assert_true(v[0].in_proc);
	assert_int_equal(v[0].count, 123);
	assert_string_equal(v[0].chip, "IR-PCI-MSIX-0000:03:00.0");
	assert_string_equal(v[0].hwirq, "0-edge");
	assert_string_equal(v[0].actions, "vfio-msix[0](0000:03:00.0)");
	assert_string_equal(v[0].affinity, "0-3");
	assert_string_equal(v[0].effective, "0");
	assert_int_equal(v[1].irq, 41);
	assert_int_equal(v[1].count, 7);
	assert_string_equal(v[1].effective, "1");
	assert_int_equal(v[2].irq, 42);
	assert_null(v[2].actions); /* allocated, no handler requested */
	irq_host_list_free(v, n);
}

static void test_list_intx_and_missing(void **s)
{
	struct irq_host *v;
	size_t n;
	(void)s;

	/* No msi_irqs/: the INTx line, shared, two handlers. */
	assert_int_equal(irq_host_list(&(struct pci_addr){ .bus = 0, .dev = 0x1f, .fn = 3 }, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].irq, 16);
	assert_int_equal(v[0].kind, IRQ_HOST_INTX);
	assert_int_equal(v[0].count, 6);
	assert_string_equal(v[0].hwirq, "16-fasteoi");
	assert_string_equal(v[0].actions, "ehci_hcd:usb1, i801_smbus");
	assert_null(v[0].effective);
	irq_host_list_free(v, n);

	/* An IRQ /proc/interrupts does not list, and no affinity file. */
	put("/sys/bus/pci/devices/0000:05:00.0/irq", "0\n");
	put("/sys/bus/pci/devices/0000:05:00.0/msi_irqs/77", "msi\n");
	assert_int_equal(irq_host_list(&(struct pci_addr){ .bus = 5 }, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].kind, IRQ_HOST_MSI);
	assert_false(v[0].in_proc);
	assert_null(v[0].chip);
	assert_null(v[0].affinity);
	irq_host_list_free(v, n);

	/* No interrupts at all. */
	put("/sys/bus/pci/devices/0000:06:00.0/irq", "0\n");
	assert_int_equal(irq_host_list(&(struct pci_addr){ .bus = 6 }, &v, &n), 0);
	assert_int_equal(n, 0);
	irq_host_list_free(v, n);

	assert_int_equal(irq_host_list(&(struct pci_addr){ .bus = 7 }, &v, &n), -ENODEV);
}

static void test_cpulist(void **s)
{
	char *c;
	(void)s;

	assert_int_equal(irq_cpulist_normalize("3,0-1,1", &c), 0);
	assert_string_equal(c, "0-1,3");
	free(c);
	assert_int_equal(irq_cpulist_normalize("2", &c), 0);
	assert_string_equal(c, "2");
	free(c);
	assert_int_equal(irq_cpulist_normalize("0,1,2,3", &c), 0);
	assert_string_equal(c, "0-3");
	free(c);
	const char *bad[] = { "", "4", "0-4", "1-0", "a", "1,", ",1", "1--2", "-1", "0 1", "99999", NULL };
	for (const char **b = bad; *b; b++)
		assert_int_equal(irq_cpulist_normalize(*b, &c), -EINVAL);
	/* Without the online file only the syntax and the kernel's CPU bound are checked. */
	assert_int_equal(root_unlink("/sys/devices/system/cpu/online"), 0);
	assert_int_equal(irq_cpulist_normalize("0-9", &c), 0);
	assert_string_equal(c, "0-9");
	free(c);
}

/* The kernel refuses affinity changes on managed IRQs with EIO. */
static int managed_42(const char *path, const char *value, void *userdata)
{
	(void)value;
	(void)userdata;
	return streq(path, "/proc/irq/42/smp_affinity_list") ? -EIO : 0;
}

static void test_affinity_set_all(void **s)
{
	struct irq_host *v;
	size_t n, failed = 99;
	char *a;
	(void)s;

	assert_int_equal(irq_host_list(&dev, &v, &n), 0);
	assert_int_equal(irq_affinity_set_all(v, n, "2", &failed), 0);
	assert_int_equal(failed, 99);
	for (unsigned irq = 40; irq <= 42; irq++) {
		assert_int_equal(irq_affinity_get(irq, &a), 0);
		assert_string_equal(a, "2");
		free(a);
	}
	irq_host_list_free(v, n);

	/* The third refuses: the two already moved go back to where they were. */
	assert_int_equal(irq_host_list(&dev, &v, &n), 0);
	root_set_write_hook(managed_42, NULL);
	assert_int_equal(irq_affinity_set_all(v, n, "3", &failed), -EIO);
	assert_int_equal(failed, 2);
	for (unsigned irq = 40; irq <= 42; irq++) {
		char p[64];
		snprintf(p, sizeof(p), "/proc/irq/%u/smp_affinity_list", irq);
		a = get(p);
		assert_string_equal(a, "2");
		free(a);
	}
	irq_host_list_free(v, n);
	root_set_write_hook(NULL, NULL);

	/* An IRQ whose old affinity is unknown cannot be rolled back to: refuse before writing it. */
	assert_int_equal(root_unlink("/proc/irq/41/smp_affinity_list"), 0);
	assert_int_equal(irq_host_list(&dev, &v, &n), 0);
	assert_int_equal(irq_affinity_set_all(v, n, "1", &failed), -ENOENT);
	assert_int_equal(failed, 1);
	a = get("/proc/irq/40/smp_affinity_list");
	assert_string_equal(a, "2");
	free(a);
	irq_host_list_free(v, n);
}

/* A line repeated in /proc/interrupts (a hostile or broken proc): the first one counts, and nothing
 * it held leaks (LeakSanitizer under SANITIZE=1 saw the second line's strings replace the first's). */
static void test_duplicate_line(void **s)
{
	struct irq_host *v;
	size_t n;
	(void)s;

	put("/proc/interrupts",
	    "           CPU0       CPU1\n"
	    " 40:        100          0  IR-PCI-MSIX-0000:03:00.0    0-edge      first\n"
	    " 40:          5          5  OTHER-CHIP    9-edge      second\n");
	assert_int_equal(irq_host_list(&dev, &v, &n), 0);
	assert_int_equal(v[0].irq, 40);
	assert_int_equal(v[0].count, 100);
	assert_string_equal(v[0].chip, "IR-PCI-MSIX-0000:03:00.0");
	assert_string_equal(v[0].actions, "first");
	irq_host_list_free(v, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_list_msix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_intx_and_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpulist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_affinity_set_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_line, setup, teardown),
	};
	return cmocka_run_group_tests_name("irq-host", tests, NULL, NULL);
}
