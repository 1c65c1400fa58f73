/* verb-show.c: `ptctl show ADDRESS`: one device in full: its group's members and their drivers,
 * MSI/MSI-X and FLR from config space, reset methods, netdevs and disks, and the readiness verdict. */
#include <getopt.h>

#include "util/log.h"
#include "util/output.h"
#include "verb.h"
#include "vfio/vfio.h"

static int show_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	static const struct option opts[] = { { NULL, 0, NULL, 0 } };
	_cleanup_json_ json_object *o = NULL;
	struct vfio_pci_dev *d = NULL;
	struct vfio_group_info *g = NULL;
	struct pci_addr a;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
		return verb_usage_error(ctx, "show", "unknown option");
	if (optind + 1 != argc)
		return verb_usage_error(ctx, "show", "expected one device ADDRESS");
	if (pci_addr_parse(argv[optind], &a) < 0) {
		log_error("%s: not a PCI address (expected DDDD:BB:DD.F, e.g. 0000:03:00.0)", argv[optind]);
		return EXIT_USAGE;
	}
	r = vfio_pci_dev_read(&a, &d);
	if (r == -ENODEV) {
		log_error("%s: no such PCI device (see ptctl list)", argv[optind]);
		return EXIT_USAGE;
	}
	if (r < 0) {
		log_error("%s: cannot read the device: %s", argv[optind], strerror(-r));
		return EXIT_FAIL;
	}
	r = vfio_group_read(d->iommu_group, &g);
	if (r < 0 && r != -ENOENT)
		goto out;
	r = vfio_pci_dev_to_json(d, g, true, &o);
	if (r >= 0)
		r = out_record(stdout, o);
out:
	if (r < 0)
		log_error("%s: %s", d->name, strerror(-r));
	vfio_group_info_free(g);
	vfio_pci_dev_free(d);
	return r < 0 ? EXIT_FAIL : EXIT_OK;
}

PTCTL_VERB(show, .name = "show", .synopsis = "ADDRESS", .summary = "show one PCI device and whether it is ready for pass-through",
	   .flags = VERB_JSON, .run = show_run,
	   .help = "DESCRIPTION\n"
		   "    Shows everything `ptctl list` shows for the device at ADDRESS (DDDD:BB:DD.F, or BB:DD.F\n"
		   "    in domain 0), plus: the other members of its IOMMU group and their drivers, MSI and\n"
		   "    MSI-X vector counts and Function Level Reset support read from config space, the\n"
		   "    kernel's reset methods, its network interfaces and block devices, whether the host is\n"
		   "    using it, and one sentence saying why it is or is not ready for pass-through and what\n"
		   "    to do about it.\n\n"
		   "OPTIONS\n"
		   "    none besides the common ones.\n\n"
		   "JSON\n"
		   "    One object with the keys of `ptctl list --json` and these:\n"
		   "    subsystem_vendor_id, subsystem_device_id   four hex digits\n"
		   "    driver_override  the device's driver_override, null when unset\n"
		   "    group_members    array of {address, driver, bridge, blocks_vfio}; blocks_vfio is\n"
		   "                     true for a member that makes the group unusable for VFIO\n"
		   "    msi_vectors      MSI vectors the device can request, null without MSI\n"
		   "    msix_vectors     MSI-X table size, null without MSI-X\n"
		   "    flr              Function Level Reset advertised (null: config space unreadable)\n"
		   "    reset_method     the kernel's reset methods (\"flr bus\"), null when absent\n"
		   "    netdevs          array of interface names\n"
		   "    block_devices    array of disks and partitions\n"
		   "    in_use           why the host is using the device (a netdev, or the bridge/bond it is a\n"
		   "                     port of, up with addresses or routes; a mounted, swap or held block\n"
		   "                     device), null when it is not\n"
		   "    ready            true when bound to a VFIO driver in a viable group\n"
		   "    readiness        the verdict as a sentence\n\n"
		   "EXAMPLES\n"
		   "    ptctl show 0000:03:00.0\n"
		   "    ptctl show 03:00.0 --json | jq .readiness\n");
