/* verb-list.c: `ptctl list`: every PCI device with what matters for pass-through, as a table
 * or as stable JSON (the keys are those of vfio_pci_dev_to_json without the detail). */
#include <getopt.h>

#include "util/log.h"
#include "util/output.h"
#include "verb.h"
#include "vfio/vfio.h"

static const struct out_column list_columns[] = {
	{ "address", "ADDRESS" },    { "ids", "IDS" },	     { "class_name", "CLASS" },
	{ "driver", "DRIVER" },	     { "iommu_group", "GROUP" }, { "viable", "VIABLE" },
	{ "sriov_num_vfs", "VFS" },  { "sriov_total_vfs", "MAXVFS" }, { "physfn", "PF" },
	{ "numa_node", "NUMA" },     { "assigned_to", "ASSIGNED" }, { "device", "DEVICE" },
};

/* The group of a device could not be read: its viability is unknown, and says why. */
static int add_group_problem(json_object *o, int group, int err)
{
	json_object *a, *e = json_object_new_object();
	char file[64];

	snprintf(file, sizeof(file), "/sys/kernel/iommu_groups/%d", group);
	if (!e || json_add_str(e, "file", file) < 0 || json_add_str(e, "field", "viable") < 0 ||
	    json_add_str(e, "reason", strerror(-err)) < 0 || json_add_null(o, "viable") < 0) {
		json_object_put(e);
		return -ENOMEM;
	}
	if (!json_object_object_get_ex(o, "unreadable", &a)) {
		if (!(a = json_object_new_array()) || json_add(o, "unreadable", a) < 0) {
			json_object_put(e);
			return -ENOMEM;
		}
	}
	if (json_object_array_add(a, e) < 0) {
		json_object_put(e);
		return -ENOMEM;
	}
	return 0;
}

/* One bad file hides nothing: the table shows "?" in the field it feeds, and stderr names the device,
 * the file and the reason (JSON keeps the field null and the "unreadable" list). */
static int mark_unreadable(json_object *o, const char *dev)
{
	json_object *a;

	if (!json_object_object_get_ex(o, "unreadable", &a))
		return 0;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *e = json_object_array_get_idx(a, i), *f, *file, *why;
		const char *field;
		if (!json_object_object_get_ex(e, "field", &f) || !json_object_object_get_ex(e, "file", &file) ||
		    !json_object_object_get_ex(e, "reason", &why))
			continue;
		field = json_object_get_string(f);
		log_warning("%s: %s: %s; %s shown as unreadable", dev, json_object_get_string(file),
			    json_object_get_string(why), field);
		if (out_is_json())
			continue;
		if (json_add_str(o, field, "?") < 0 ||
		    ((streq(field, "vendor_id") || streq(field, "device_id")) && json_add_str(o, "ids", "?") < 0) ||
		    (streq(field, "class") && json_add_str(o, "class_name", "?") < 0))
			return -ENOMEM;
	}
	return 0;
}

static int list_run(int argc, char **argv, const struct verb_ctx *ctx)
{
	static const struct option opts[] = { { NULL, 0, NULL, 0 } };
	_cleanup_json_ json_object *rows = NULL;
	struct vfio_pci_dev **devs = NULL;
	struct vfio_group_info *g = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
		return verb_usage_error(ctx, "list", "unknown option");
	if (optind < argc)
		return verb_usage_error(ctx, "list", "unexpected argument '%s'", argv[optind]);
	r = vfio_pci_list(&devs);
	if (r < 0)
		return log_error_errno(r, "PCI devices: cannot read /sys/bus/pci: %s", strerror(-r)), EXIT_FAIL;
	rows = json_object_new_array();
	if (!rows) {
		r = -ENOMEM;
		goto out;
	}
	for (struct vfio_pci_dev **d = devs; *d; d++) {
		json_object *o = NULL;
		int gr;
		/* Groups are small; reading each member's group again keeps this simple. */
		gr = (*d)->iommu_group < 0 ? -ENOENT : vfio_group_read((*d)->iommu_group, &g);
		if (gr == -ENOMEM) {
			r = gr;
			goto out;
		}
		r = vfio_pci_dev_to_json(*d, gr < 0 ? NULL : g, false, &o);
		vfio_group_info_free(g);
		g = NULL;
		if (r >= 0 && gr < 0 && gr != -ENOENT)
			r = add_group_problem(o, (*d)->iommu_group, gr);
		if (r >= 0)
			r = mark_unreadable(o, (*d)->name);
		if (r < 0 || json_object_array_add(rows, o) < 0) {
			json_object_put(o);
			r = r < 0 ? r : -ENOMEM;
			goto out;
		}
	}
	r = out_table(stdout, rows, list_columns, ARRAY_SIZE(list_columns));
out:
	vfio_pci_list_free(devs);
	if (r < 0) {
		log_error_errno(r, "PCI devices: %s", strerror(-r));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

PTCTL_VERB(list, .name = "list", .synopsis = "", .summary = "list PCI devices and their pass-through state",
	   .flags = VERB_JSON, .run = list_run,
	   .help = "DESCRIPTION\n"
		   "    Lists every PCI function of the host (sysfs /sys/bus/pci/devices) with what matters for\n"
		   "    pass-through: vendor:device ids and names (pci.ids), class, the bound driver, the IOMMU\n"
		   "    group and whether VFIO could use that group as it stands (every member that is not a\n"
		   "    bridge unbound, on vfio-pci or pci-stub), SR-IOV (current and total VFs of a physical\n"
		   "    function, or the physical function of a VF), the NUMA node, and the VM it is assigned to.\n"
		   "    `ptctl show ADDRESS` tells more about one device and why it is or is not ready.\n\n"
		   "OPTIONS\n"
		   "    none besides the common ones.\n\n"
		   "JSON\n"
		   "    An array of objects, sorted by address, with these keys (null when not applicable):\n"
		   "    address          \"0000:03:00.0\"\n"
		   "    ids              \"8086:10c9\" (vendor_id:device_id)\n"
		   "    vendor_id        \"8086\", four hex digits\n"
		   "    device_id        \"10c9\"\n"
		   "    vendor, device   names from pci.ids, null when unknown\n"
		   "    class            \"020000\": base class, subclass, programming interface in hex\n"
		   "    class_name       \"Ethernet controller\"\n"
		   "    bridge           true for PCI-to-PCI bridges (ignored for group viability)\n"
		   "    driver           the bound driver, null when unbound\n"
		   "    iommu_group      number, null without an IOMMU group\n"
		   "    viable           true when VFIO can use the group now, null without a group\n"
		   "    sriov_total_vfs  VFs the physical function supports, null unless an SR-IOV PF\n"
		   "    sriov_num_vfs    VFs enabled now, null unless an SR-IOV PF\n"
		   "    physfn           address of the physical function of a VF, else null\n"
		   "    numa_node        number, null when the platform reports none\n"
		   "    assigned_to      the running VM of ptctl's that holds the device (`ptctl vm run|start\n"
		   "                     --assign`), null when none\n\n"
		   "FILES\n"
		   "    With PTCTL_ROOT set, names come from $PTCTL_ROOT/usr/share/misc/pci.ids when present.\n\n"
		   "EXAMPLES\n"
		   "    ptctl list\n"
		   "    ptctl list --json | jq -r '.[] | select(.driver == \"vfio-pci\") | .address'\n");
