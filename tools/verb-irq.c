/* verb-irq.c: `ptctl irq show` and `ptctl irq affinity`: a device's host IRQs, their counts and CPU
 * affinity, and moving them to other CPUs (all or none: a failure restores what was already moved). */
#include <getopt.h>

#include "irq/irq.h"
#include "util/log.h"
#include "util/output.h"
#include "verb.h"

/* Both verbs take only positional arguments; getopt still rejects stray options. */
static int positional(int argc, char **argv, const struct verb_ctx *ctx, int want)
{
	static const struct option opts[] = { {} };
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		return verb_usage_error(ctx, argv[0], "unknown option");
	if (argc - optind != want)
		return verb_usage_error(ctx, argv[0], "expected %d argument%s, got %d", want, want == 1 ? "" : "s",
					argc - optind);
	return 0;
}

static int load(const struct verb_ctx *ctx, const char *verb, const char *arg, struct irq_host **v, size_t *n,
		char *name)
{
	struct pci_addr addr;
	int r;

	if (pci_addr_parse(arg, &addr) < 0)
		return verb_usage_error(ctx, verb, "'%s' is not a PCI address (expected DDDD:BB:DD.F)", arg);
	pci_addr_format(&addr, name);
	r = irq_host_list(&addr, v, n);
	if (r == -ENODEV) {
		log_error("%s: no such PCI device (see `lspci -D`)", name);
		return EXIT_USAGE;
	}
	if (r < 0) {
		log_error_errno(r, "%s: cannot read its IRQs: %s", name, strerror(-r));
		return EXIT_FAIL;
	}
	return 0;
}

static int add_irq_row(json_object *rows, const struct irq_host *h, json_object **ret)
{
	json_object *o = json_object_new_object();
	int r;

	if (!o)
		return -ENOMEM;
	r = json_object_array_add(rows, o);
	if (r < 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	r = json_add_int(o, "irq", h->irq);
	if (r >= 0)
		r = json_add_str(o, "type", irq_host_kind_name(h->kind));
	*ret = o;
	return r;
}

static int run_show(int argc, char **argv, const struct verb_ctx *ctx)
{
	static const struct out_column cols[] = {
		{ "irq", "IRQ" },	    { "type", "TYPE" },	     { "count", "COUNT" },
		{ "affinity", "AFFINITY" }, { "effective_affinity", "EFFECTIVE" }, { "chip", "CHIP" },
		{ "actions", "ACTIONS" },
	};
	_cleanup_json_ json_object *rows = NULL;
	struct irq_host *v = NULL;
	size_t n = 0;
	char name[PCI_ADDR_STRLEN];
	int r;

	r = positional(argc, argv, ctx, 1);
	if (r != 0)
		return r;
	r = load(ctx, argv[0], argv[optind], &v, &n, name);
	if (r != 0)
		return r;
	rows = json_object_new_array();
	r = rows ? 0 : -ENOMEM;
	for (size_t i = 0; i < n && r >= 0; i++) {
		const struct irq_host *h = &v[i];
		json_object *o;

		r = add_irq_row(rows, h, &o);
		if (r >= 0)
			r = h->in_proc ? json_add_int(o, "count", (int64_t)h->count) : json_add_null(o, "count");
		if (r >= 0)
			r = json_add_str(o, "affinity", h->affinity);
		if (r >= 0)
			r = json_add_str(o, "effective_affinity", h->effective);
		if (r >= 0)
			r = json_add_str(o, "chip", h->chip);
		if (r >= 0)
			r = json_add_str(o, "hwirq", h->hwirq);
		if (r >= 0)
			r = json_add_str(o, "actions", h->actions);
	}
	irq_host_list_free(v, n);
	if (r < 0)
		return log_error_errno(r, "%s: %s", name, strerror(-r)), EXIT_FAIL;
	return out_table(stdout, rows, cols, ARRAY_SIZE(cols)) < 0 ? EXIT_FAIL : EXIT_OK;
}

static int run_affinity(int argc, char **argv, const struct verb_ctx *ctx)
{
	static const struct out_column cols[] = {
		{ "irq", "IRQ" }, { "type", "TYPE" }, { "from", "FROM" }, { "to", "TO" },
	};
	_cleanup_json_ json_object *rows = NULL;
	_cleanup_free_ char *cpus = NULL;
	struct irq_host *v = NULL;
	size_t n = 0, failed = 0;
	char name[PCI_ADDR_STRLEN];
	int r;

	r = positional(argc, argv, ctx, 2);
	if (r != 0)
		return r;
	if (irq_cpulist_normalize(argv[optind + 1], &cpus) < 0)
		return verb_usage_error(ctx, argv[0], "'%s' is not a list of online CPUs (such as 0-3,6)",
					argv[optind + 1]);
	r = load(ctx, argv[0], argv[optind], &v, &n, name);
	if (r != 0)
		return r;
	if (n == 0) {
		log_error("%s: has no host IRQs (no driver has enabled its interrupts), nothing to set", name);
		return EXIT_FAIL;
	}
	if (!ctx->dry_run) {
		r = irq_affinity_set_all(v, n, cpus, &failed);
		if (r < 0) {
			log_error("%s: IRQ %u: cannot set its affinity to %s: %s%s; the IRQs already moved were "
				  "restored",
				  name, v[failed].irq, cpus, strerror(-r),
				  /* the kernel refuses managed IRQs: EIO on 6.1, EPERM on 6.12 */
				  r == -EIO || r == -EPERM ? " (a managed IRQ: its driver's kernel code owns the affinity)"
				  : r == -ENOENT ? " (it has no handler yet: bring the device's driver or VM up first)"
						 : "");
			irq_host_list_free(v, n);
			return EXIT_FAIL;
		}
	}
	rows = json_object_new_array();
	r = rows ? 0 : -ENOMEM;
	for (size_t i = 0; i < n && r >= 0; i++) {
		_cleanup_free_ char *now = NULL;
		json_object *o;

		/* Show what the kernel took, which may read differently from what was written. */
		if (!ctx->dry_run && irq_affinity_get(v[i].irq, &now) < 0)
			now = NULL;
		r = add_irq_row(rows, &v[i], &o);
		if (r >= 0)
			r = json_add_str(o, "from", v[i].affinity);
		if (r >= 0)
			r = json_add_str(o, "to", ctx->dry_run ? cpus : now);
		if (r >= 0)
			r = json_add_bool(o, "changed", !ctx->dry_run);
	}
	irq_host_list_free(v, n);
	if (r < 0)
		return log_error_errno(r, "%s: %s", name, strerror(-r)), EXIT_FAIL;
	return out_table(stdout, rows, cols, ARRAY_SIZE(cols)) < 0 ? EXIT_FAIL : EXIT_OK;
}

PTCTL_VERB(irq_show, .name = "irq show", .synopsis = "ADDRESS",
	   .summary = "a device's host IRQs, their counts and CPU affinity",
	   .help = "DESCRIPTION\n"
		   "    Lists the host IRQs of the PCI device ADDRESS: its MSI and MSI-X vectors (sysfs msi_irqs/),\n"
		   "    or its INTx line when no vector is enabled, with the interrupt count summed over CPUs, the\n"
		   "    handler names and the chip from /proc/interrupts, and the CPU affinity the operator set\n"
		   "    (smp_affinity_list) next to the one the kernel uses (effective_affinity_list). A device on\n"
		   "    vfio-pci has IRQs only while a VM (or another VFIO user) has enabled them.\n"
		   "\nEXAMPLES\n"
		   "    ptctl irq show 0000:03:00.0\n"
		   "    ptctl irq show 03:00.0 --json\n",
	   .flags = VERB_JSON, .run = run_show);

PTCTL_VERB(irq_affinity, .name = "irq affinity", .synopsis = "ADDRESS CPULIST",
	   .summary = "move a device's host IRQs to a set of CPUs",
	   .help = "DESCRIPTION\n"
		   "    Writes CPULIST (such as 2-3 or 0,4-7; online CPUs only) to smp_affinity_list of every host\n"
		   "    IRQ of the PCI device ADDRESS, so its interrupts (and the irqfd work they feed into KVM)\n"
		   "    run on those CPUs. All or nothing: if one IRQ refuses (managed IRQs do), the ones already\n"
		   "    moved are restored. Prints each IRQ's affinity before and after. The setting lasts until\n"
		   "    the IRQ is freed (for vfio-pci: until the VM disables the vectors).\n"
		   "\nEXAMPLES\n"
		   "    ptctl irq affinity 0000:03:00.0 2-3 --dry-run\n"
		   "    ptctl irq affinity 0000:03:00.0 2-3\n",
	   .flags = VERB_JSON | VERB_DRY_RUN, .run = run_affinity);
