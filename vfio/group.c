/* group.c: IOMMU groups (/sys/kernel/iommu_groups through the root) and their viability for
 * VFIO, plus the one-sentence verdict on whether a device is ready for pass-through. */
#include <limits.h>

#include "pci-internal.h"
#include "util/log.h"
#include "util/root.h"

void vfio_group_info_free(struct vfio_group_info *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n_members; i++)
		free(g->members[i].driver);
	free(g->members);
	free(g);
}

static void group_info_freep(struct vfio_group_info **g)
{
	vfio_group_info_free(*g);
}

/* Drivers that leave a group usable: VFIO's own and pci-stub (claims the device, does no DMA). */
static bool driver_allows_vfio(const char *driver)
{
	return !driver || vfio_pci_is_vfio_driver(driver) || streq(driver, "pci-stub");
}

static int read_member(const char *name, struct vfio_group_member *m)
{
	char p[PATH_MAX];
	uint64_t cls;
	int r;

	if (pci_addr_parse(name, &m->addr) < 0)
		return -EINVAL;
	pci_addr_format(&m->addr, m->name);
	if ((r = pci_sysfs_path(p, sizeof(p), m->name, "driver")) < 0)
		return r;
	r = root_readlink_base(p, &m->driver);
	if (r == -ENOENT)
		m->driver = NULL;
	else if (r < 0)
		return r;
	if ((r = pci_sysfs_path(p, sizeof(p), m->name, "class")) < 0)
		return r;
	if (root_read_u64(p, 16, &cls) >= 0)
		m->is_bridge = (cls >> 8) == 0x0604 || (cls >> 8) == 0x0609;
	m->blocks = !m->is_bridge && !driver_allows_vfio(m->driver);
	return 0;
}

static int cmp_member(const void *a, const void *b)
{
	return pci_addr_cmp(&((const struct vfio_group_member *)a)->addr,
			    &((const struct vfio_group_member *)b)->addr);
}

int vfio_group_read(int group, struct vfio_group_info **ret)
{
	_cleanup_(group_info_freep) struct vfio_group_info *g = NULL;
	_cleanup_strv_free_ char **names = NULL;
	char dir[PATH_MAX];
	int r;

	if (group < 0)
		return -ENOENT;
	snprintf(dir, sizeof(dir), "/sys/kernel/iommu_groups/%d/devices", group);
	r = root_list(dir, &names);
	if (r < 0)
		return r;
	g = calloc(1, sizeof(*g));
	if (!g || !(g->members = calloc(strv_length(names) + 1, sizeof(*g->members))))
		return -ENOMEM;
	g->group = group;
	g->viable = true;
	for (char **s = names; *s; s++) {
		struct vfio_group_member *m = &g->members[g->n_members];
		if (pci_addr_parse(*s, &m->addr) < 0) {
			log_debug("group %d: %s is not a PCI device, ignoring", group, *s);
			continue;
		}
		r = read_member(*s, m);
		if (r < 0)
			return r;
		g->n_members++;
		if (m->blocks)
			g->viable = false;
	}
	qsort(g->members, g->n_members, sizeof(*g->members), cmp_member);
	*ret = TAKE_PTR(g);
	return 0;
}

int vfio_group_blockers(const struct vfio_group_info *g, const struct pci_addr *except, char **ret)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	bool first = true;

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < g->n_members; i++) {
		const struct vfio_group_member *m = &g->members[i];
		if (!m->blocks || (except && pci_addr_cmp(&m->addr, except) == 0))
			continue;
		fprintf(f, "%s%s is bound to %s", first ? "" : ", ", m->name, m->driver);
		first = false;
	}
	if (fclose(f) != 0) {
		free(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

int vfio_pci_readiness(const struct vfio_pci_dev *d, const struct vfio_group_info *g, char **ret)
{
	_cleanup_free_ char *blockers = NULL;
	int r;

	if (d->is_bridge)
		return asprintf(ret, "not ready: a PCI bridge; bridges stay with the host") < 0 ? -ENOMEM : 0;
	if (d->iommu_group < 0 || !g)
		return asprintf(ret, "not ready: no IOMMU group: enable VT-d in the firmware and boot with "
				     "intel_iommu=on (AMD: amd_iommu=on)") < 0
			       ? -ENOMEM
			       : 0;
	r = vfio_group_blockers(g, &d->addr, &blockers);
	if (r < 0)
		return r;
	if (*blockers)
		return asprintf(ret, "not ready: group %d not viable: %s (bind them too with --group, or "
				     "release them)", g->group, blockers) < 0
			       ? -ENOMEM
			       : 0;
	if (vfio_pci_is_vfio_driver(d->driver))
		return asprintf(ret, "ready: bound to %s, group %d viable", d->driver, g->group) < 0 ? -ENOMEM : 1;
	if (d->driver)
		return asprintf(ret, "not ready: bound to the host driver %s; the rest of group %d is viable: "
				     "ptctl bind %s",
				d->driver, g->group, d->name) < 0
			       ? -ENOMEM
			       : 0;
	return asprintf(ret, "not ready: no driver; group %d viable: ptctl bind %s", g->group, d->name) < 0
		       ? -ENOMEM
		       : 0;
}
