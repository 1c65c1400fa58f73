/* pci-json.c: the one JSON shape of a PCI device that `list` and `show` print (and that later
 * verbs reuse), so the table, the record and --json cannot drift apart. */
#include "pci-internal.h"
#include "util/assigned.h"
#include "util/output.h"

static int add_hex4(json_object *o, const char *key, unsigned v)
{
	char buf[8];
	snprintf(buf, sizeof(buf), "%04x", v & 0xffff);
	return json_add_str(o, key, buf);
}

static int add_int_or_null(json_object *o, const char *key, int v)
{
	return v < 0 ? json_add_null(o, key) : json_add_int(o, key, v);
}

static int add_strv(json_object *o, const char *key, char **v)
{
	json_object *a = json_object_new_array();
	if (!a)
		return -ENOMEM;
	for (char **s = v; s && *s; s++) {
		json_object *e = json_object_new_string(*s);
		if (!e || json_object_array_add(a, e) < 0) {
			json_object_put(e);
			json_object_put(a);
			return -ENOMEM;
		}
	}
	return json_add(o, key, a);
}

static int add_members(json_object *o, const struct vfio_group_info *g)
{
	json_object *a = json_object_new_array();
	int r = 0;

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; g && i < g->n_members && r >= 0; i++) {
		json_object *m = json_object_new_object();
		if (!m || json_object_array_add(a, m) < 0) {
			json_object_put(m);
			r = -ENOMEM;
			break;
		}
		if ((r = json_add_str(m, "address", g->members[i].name)) < 0 ||
		    (r = json_add_str(m, "driver", g->members[i].driver)) < 0 ||
		    (r = json_add_bool(m, "bridge", g->members[i].is_bridge)) < 0)
			break;
		r = json_add_bool(m, "blocks_vfio", g->members[i].blocks);
	}
	if (r < 0) {
		json_object_put(a);
		return r;
	}
	return json_add(o, "group_members", a);
}

/* The VM of ptctl's that holds the device now (a record whose VM is gone reads as null). */
static int add_assigned(json_object *o, const struct vfio_pci_dev *d)
{
	struct assignment a;
	int r = assigned_read(d->name, &a);

	if (r < 0 && r != -ENOMEM)
		r = 0; /* an unreadable record does not hide the device */
	if (r < 0)
		return r;
	return json_add_str(o, "assigned_to", r > 0 && a.running ? a.vm : NULL);
}

static int add_basic(json_object *o, const struct vfio_pci_dev *d, const struct vfio_group_info *g)
{
	char ids[16], cls[8];
	int r;

	snprintf(ids, sizeof(ids), "%04x:%04x", d->vendor_id, d->device_id);
	snprintf(cls, sizeof(cls), "%06x", d->class_code & 0xffffff);
	if ((r = json_add_str(o, "address", d->name)) < 0 || (r = json_add_str(o, "ids", ids)) < 0 ||
	    (r = add_hex4(o, "vendor_id", d->vendor_id)) < 0 || (r = add_hex4(o, "device_id", d->device_id)) < 0 ||
	    (r = json_add_str(o, "vendor", d->vendor_name)) < 0 ||
	    (r = json_add_str(o, "device", d->device_name)) < 0 || (r = json_add_str(o, "class", cls)) < 0 ||
	    (r = json_add_str(o, "class_name", d->class_name)) < 0 ||
	    (r = json_add_bool(o, "bridge", d->is_bridge)) < 0 || (r = json_add_str(o, "driver", d->driver)) < 0 ||
	    (r = add_int_or_null(o, "iommu_group", d->iommu_group)) < 0)
		return r;
	r = g ? json_add_bool(o, "viable", g->viable) : json_add_null(o, "viable");
	if (r < 0 || (r = add_int_or_null(o, "sriov_total_vfs", d->sriov_total_vfs)) < 0 ||
	    (r = add_int_or_null(o, "sriov_num_vfs", d->sriov_num_vfs)) < 0 ||
	    (r = json_add_str(o, "physfn", d->physfn)) < 0)
		return r;
	if ((r = add_int_or_null(o, "numa_node", d->numa_node)) < 0)
		return r;
	return add_assigned(o, d);
}

static int add_detail(json_object *o, const struct vfio_pci_dev *d, const struct vfio_group_info *g)
{
	_cleanup_free_ char *use = NULL, *why = NULL;
	int r, ready;

	if ((r = add_hex4(o, "subsystem_vendor_id", d->subsystem_vendor_id)) < 0 ||
	    (r = add_hex4(o, "subsystem_device_id", d->subsystem_device_id)) < 0 ||
	    (r = json_add_str(o, "driver_override", d->driver_override)) < 0 || (r = add_members(o, g)) < 0)
		return r;
	if (d->config_read) {
		if ((r = add_int_or_null(o, "msi_vectors", d->msi_vectors)) < 0 ||
		    (r = add_int_or_null(o, "msix_vectors", d->msix_vectors)) < 0 ||
		    (r = json_add_bool(o, "flr", d->flr)) < 0)
			return r;
	} else if ((r = json_add_null(o, "msi_vectors")) < 0 || (r = json_add_null(o, "msix_vectors")) < 0 ||
		   (r = json_add_null(o, "flr")) < 0)
		return r;
	if ((r = json_add_str(o, "reset_method", d->reset_method)) < 0 ||
	    (r = add_strv(o, "netdevs", d->netdevs)) < 0 || (r = add_strv(o, "block_devices", d->block_devices)) < 0)
		return r;
	r = vfio_pci_in_use(d, &use);
	if (r == -ENOMEM)
		return r;
	/* Say so rather than fail the whole record (bind refuses when it cannot tell). */
	if (r < 0 && asprintf(&use, "unknown: cannot tell (%s)", strerror(-r)) < 0)
		return -ENOMEM;
	if ((r = json_add_str(o, "in_use", use)) < 0)
		return r;
	ready = vfio_pci_readiness(d, g, &why);
	if (ready < 0)
		return ready;
	if ((r = json_add_bool(o, "ready", ready > 0)) < 0)
		return r;
	return json_add_str(o, "readiness", why);
}

/* Fields fed by an unreadable file are null (never a made-up 0), and "unreadable" lists each file
 * with its reason; the key is there only when something was unreadable. */
static int add_problems(json_object *o, const struct vfio_pci_dev *d)
{
	json_object *a, *v;
	int r = 0;

	if (!d->n_problems)
		return 0;
	if (!(a = json_object_new_array()) || json_add(o, "unreadable", a) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_problems && r >= 0; i++) {
		const struct vfio_pci_problem *p = &d->problems[i];
		json_object *e = json_object_new_object();
		if (!e || json_object_array_add(a, e) < 0) {
			json_object_put(e);
			return -ENOMEM;
		}
		if ((r = json_add_str(e, "file", p->file)) < 0 || (r = json_add_str(e, "field", p->field)) < 0 ||
		    (r = json_add_str(e, "reason", p->reason)) < 0)
			break;
		if (json_object_object_get_ex(o, p->field, &v))
			r = json_add_null(o, p->field);
		if (r >= 0 && (streq(p->field, "vendor_id") || streq(p->field, "device_id")))
			r = json_add_null(o, "ids");
		if (r >= 0 && streq(p->field, "iommu_group"))
			r = json_add_null(o, "viable");
		if (r >= 0 && streq(p->field, "class") && json_object_object_get_ex(o, "class_name", &v))
			r = json_add_null(o, "class_name");
	}
	return r;
}

int vfio_pci_dev_to_json(const struct vfio_pci_dev *d, const struct vfio_group_info *g, bool detail,
			 json_object **ret)
{
	json_object *o = json_object_new_object();
	int r;

	if (!o)
		return -ENOMEM;
	r = add_basic(o, d, g);
	if (r >= 0 && detail)
		r = add_detail(o, d, g);
	if (r >= 0)
		r = add_problems(o, d);
	if (r < 0) {
		json_object_put(o);
		return r;
	}
	*ret = o;
	return 0;
}
