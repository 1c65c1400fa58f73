/* show.c: `ptctl vm show`, the VMM's side: the VM's devices (assigned ones in full: slot, BARs, every
 * interrupt), and its memory map down to host-physical runs, as one JSON object for the control socket. */
#include <inttypes.h>
#include <unistd.h>

#include "internal.h"
#include "iommu/iommu.h"
#include "util/output.h"
#include "vm/devices/devices.h"

#define MAX_RUNS_SHOWN 32 /* per region: a fragmented 4K-backed guest has thousands */

static int devices_json(struct vm *vm, json_object *o)
{
	json_object *a = json_object_new_array();
	int r = 0;

	if (!a)
		return -ENOMEM;
	for (unsigned s = 1; s < 32 && r >= 0; s++) {
		struct vm_pci_device *d;
		json_object *e = NULL;

		pthread_mutex_lock(&vm->pci.lock);
		d = vm->pci.slots[s];
		pthread_mutex_unlock(&vm->pci.lock);
		if (!d)
			continue;
		r = vm_vfio_pci_describe(d, &e);
		if (r == -ENODEV) {
			char guest[PCI_ADDR_STRLEN];
			snprintf(guest, sizeof(guest), "0000:00:%02x.0", s);
			if (!(e = json_object_new_object()) || (r = json_add_str(e, "address", NULL)) < 0 ||
			    (r = json_add_str(e, "guest_address", guest)) < 0 || (r = json_add_int(e, "slot", s)) < 0 ||
			    (r = json_add_str(e, "model", d->name)) < 0) {
				json_object_put(e);
				r = r < 0 ? r : -ENOMEM;
				break;
			}
		} else if (r >= 0)
			r = json_add_str(e, "model", "vfio-pci");
		if (r < 0 || json_object_array_add(a, e) < 0) {
			json_object_put(e);
			r = r < 0 ? r : -ENOMEM;
		}
	}
	return r < 0 ? (json_object_put(a), r) : json_add(o, "devices", a);
}

static int memory_json(struct vm *vm, json_object *o)
{
	const struct guestmem *gm = vm_guestmem(vm);
	struct iommu_phys_run *runs = NULL;
	size_t nruns = 0;
	bool hidden = false;
	json_object *a = json_object_new_array();
	int r = 0, pr;

	if (!a)
		return -ENOMEM;
	pr = iommu_pagemap_report(gm, &runs, &nruns, &hidden);
	for (size_t i = 0; i < guestmem_n_regions(gm) && r >= 0; i++) {
		const struct guestmem_region *g = guestmem_region(gm, i);
		json_object *e = json_object_new_object(), *ra = json_object_new_array();
		size_t shown = 0, total = 0;
		uint64_t resident = 0;

		if (!e || !ra || json_object_array_add(a, e) < 0) {
			json_object_put(e);
			json_object_put(ra);
			r = -ENOMEM;
			break;
		}
		for (size_t k = 0; pr >= 0 && k < nruns && r >= 0; k++) {
			json_object *x;
			if (runs[k].gpa < g->gpa || runs[k].gpa >= g->gpa + g->size)
				continue;
			total++;
			resident += runs[k].size;
			if (shown == MAX_RUNS_SHOWN)
				continue;
			if (!(x = json_object_new_object()) || json_object_array_add(ra, x) < 0) {
				json_object_put(x);
				r = -ENOMEM;
				break;
			}
			shown++;
			if ((r = json_add_hex(x, "gpa", runs[k].gpa)) < 0 || (r = json_add_hex(x, "hpa", runs[k].hpa)) < 0)
				break;
			r = json_add_int(x, "size", (int64_t)runs[k].size);
		}
		if (r < 0 || (r = json_add_hex(e, "gpa_start", g->gpa)) < 0 ||
		    (r = json_add_hex(e, "gpa_end", g->gpa + g->size - 1)) < 0 ||
		    (r = json_add_hex(e, "hva", (uint64_t)(uintptr_t)g->hva)) < 0 ||
		    (r = json_add_int(e, "size", (int64_t)g->size)) < 0 ||
		    (r = json_add_int(e, "page_size", (int64_t)guestmem_page_size(gm))) < 0 ||
		    (r = json_add_bool(e, "iommu_mapped", vm_vfio_pci_dma_mapped(vm))) < 0 ||
		    (r = json_add_int(e, "resident", (int64_t)resident)) < 0 ||
		    (r = json_add_int(e, "host_physical_runs", (int64_t)total)) < 0 ||
		    (r = json_add_bool(e, "host_physical_hidden", hidden)) < 0) {
			json_object_put(ra);
			break;
		}
		r = json_add(e, "host_physical", ra);
	}
	free(runs);
	return r < 0 ? (json_object_put(a), r) : json_add(o, "memory_map", a);
}

/* What backs guest RAM and why (memory.c's choice), with how much of it is huge pages now. */
static int ram_json(struct vm *vm, json_object *o)
{
	struct vm_ram_info i;
	json_object *r = json_object_new_object();
	int e;

	if (!r)
		return -ENOMEM;
	vm_ram_info(vm, &i);
	if ((e = json_add(o, "ram", r)) < 0)
		return e;
	if ((e = json_add_str(r, "backing", i.backing)) < 0 || (e = json_add_int(r, "page_size", (int64_t)i.page_size)) < 0 ||
	    (e = json_add_bool(r, "transparent", i.transparent)) < 0 || (e = json_add_str(r, "why", i.reason)) < 0 ||
	    (e = i.huge_bytes_known ? json_add_int(r, "huge_bytes", (int64_t)i.huge_bytes) : json_add_null(r, "huge_bytes")) < 0 ||
	    (e = json_add_bool(r, "prefaulted", i.prefaulted)) < 0)
		return e;
	if (!i.prefaulted)
		return 0;
	if ((e = json_add(r, "prefault_ms", json_object_new_double(i.prefault_ms))) < 0)
		return e;
	return json_add_int(r, "prefault_threads", i.prefault_threads);
}

int vm_show_json(struct vm *vm, json_object **ret)
{
	json_object *o = json_object_new_object();
	int r;

	if (!o)
		return -ENOMEM;
	if ((r = json_add_str(o, "name", vm->name)) < 0 || (r = json_add_int(o, "pid", getpid())) < 0 ||
	    (r = json_add_int(o, "cpus", vm->ncpus)) < 0 || (r = json_add_int(o, "memory", (int64_t)vm->mem->size)) < 0 ||
	    (r = ram_json(vm, o)) < 0 || (r = devices_json(vm, o)) < 0 || (r = memory_json(vm, o)) < 0) {
		json_object_put(o);
		return r;
	}
	*ret = o;
	return 0;
}
