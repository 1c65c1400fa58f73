/* pci-config.c: the libpci boundary: names from pci.ids and capabilities from config space.
 * libpci's error hook must not return, so it longjmps back here and becomes -EIO. */
#include <limits.h>
#include <pci/pci.h>
#include <setjmp.h>
#include <stdarg.h>

#include "pci-internal.h"
#include "util/log.h"
#include "util/root.h"

struct pcilib {
	struct pci_access *acc;
	char sysfs[PATH_MAX];
	char ids[PATH_MAX];
};

/* libpci calls error() from deep inside; there is one session at a time, used by one thread. */
static jmp_buf *error_jump;

static void vlog(const char *what, const char *fmt, va_list ap)
{
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_debug("libpci %s: %s", what, buf);
}

_printf_(1, 2) __attribute__((noreturn)) static void pcilib_error(char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("error", fmt, ap);
	va_end(ap);
	if (error_jump)
		longjmp(*error_jump, 1);
	abort(); /* an error outside a guarded call is a bug here, not a reason to exit(1) */
}

_printf_(1, 2) static void pcilib_warning(char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("warning", fmt, ap);
	va_end(ap);
}

_printf_(1, 2) static void pcilib_debug(char *fmt, ...)
{
	(void)fmt; /* libpci's debug stream is per-capability noise */
}

void pcilib_close(struct pcilib *p)
{
	if (!p)
		return;
	if (p->acc)
		pci_cleanup(p->acc);
	free(p);
}

int pcilib_open(struct pcilib **ret)
{
	struct pcilib *p = calloc(1, sizeof(*p));
	jmp_buf jb;
	int r;

	if (!p)
		return -ENOMEM;
	r = root_path(p->sysfs, sizeof(p->sysfs), "/sys/bus/pci");
	if (r < 0)
		goto fail;
	p->acc = pci_alloc();
	if (!p->acc) {
		r = -ENOMEM;
		goto fail;
	}
	p->acc->error = pcilib_error;
	p->acc->warning = pcilib_warning;
	p->acc->debug = pcilib_debug;
	/* Forced: left to choose, libpci falls back to /proc/bus/pci or port I/O of the real host. */
	p->acc->method = PCI_ACCESS_SYS_BUS_PCI;
	if (pci_set_param(p->acc, "sysfs.path", p->sysfs) < 0) {
		r = -EINVAL;
		goto fail;
	}
	/* A fake tree may carry its own names database so results do not depend on the host's. */
	if (*root_get() && root_path(p->ids, sizeof(p->ids), "/usr/share/misc/pci.ids") >= 0 &&
	    access(p->ids, R_OK) == 0)
		pci_set_name_list_path(p->acc, p->ids, 0);
	error_jump = &jb;
	if (setjmp(jb)) {
		error_jump = NULL;
		r = -EIO;
		goto fail;
	}
	pci_init(p->acc);
	error_jump = NULL;
	*ret = p;
	return 0;
fail:
	pcilib_close(p);
	return r;
}

static char *dup_name(const char *s)
{
	return s ? strdup(s) : NULL;
}

int pcilib_names(struct pcilib *p, struct vfio_pci_dev *d)
{
	const int f = PCI_LOOKUP_NO_NUMBERS | PCI_LOOKUP_NO_HWDB;
	char vb[256], db[256], cb[256];
	const char *v, *dv, *c;
	jmp_buf jb;

	error_jump = &jb;
	if (setjmp(jb)) {
		error_jump = NULL;
		return -EIO;
	}
	v = pci_lookup_name(p->acc, vb, sizeof(vb), PCI_LOOKUP_VENDOR | f, d->vendor_id);
	dv = pci_lookup_name(p->acc, db, sizeof(db), PCI_LOOKUP_DEVICE | f, d->vendor_id, d->device_id);
	c = pci_lookup_name(p->acc, cb, sizeof(cb), PCI_LOOKUP_CLASS | f, d->class_code >> 8);
	error_jump = NULL;
	if ((v && !(d->vendor_name = dup_name(v))) || (dv && !(d->device_name = dup_name(dv))) ||
	    (c && !(d->class_name = dup_name(c))))
		return -ENOMEM;
	return 0;
}

#define CAP_MSI_FLAGS 2
#define CAP_MSI_MMC_MASK 0x000e
#define CAP_MSIX_FLAGS 2
#define CAP_MSIX_SIZE_MASK 0x07ff
#define CAP_EXP_DEVCAP 4
#define CAP_EXP_DEVCAP_FLR (1u << 28)
#define CAP_AF_CAP 3
#define CAP_AF_FLR 0x02

int pcilib_caps(struct pcilib *p, struct vfio_pci_dev *d)
{
	struct pci_dev *volatile pd = NULL; /* volatile: read after longjmp */
	struct pci_cap *cap;
	jmp_buf jb;

	d->msi_vectors = d->msix_vectors = -1;
	d->flr = false;
	error_jump = &jb;
	if (setjmp(jb)) {
		error_jump = NULL;
		if (pd)
			pci_free_dev(pd);
		return -EIO;
	}
	pd = pci_get_dev(p->acc, (int)d->addr.domain, d->addr.bus, d->addr.dev, d->addr.fn);
	if (!pd) {
		error_jump = NULL;
		return -ENOMEM;
	}
	/* An unreadable config file reads as all ones: no valid header, so say unknown. */
	if (pci_read_word(pd, PCI_VENDOR_ID) == 0xffff) {
		error_jump = NULL;
		pci_free_dev(pd);
		return -EIO;
	}
	pci_fill_info(pd, PCI_FILL_CAPS | PCI_FILL_EXT_CAPS);
	if ((cap = pci_find_cap(pd, PCI_CAP_ID_MSI, PCI_CAP_NORMAL))) {
		uint16_t fl = pci_read_word(pd, (int)cap->addr + CAP_MSI_FLAGS);
		unsigned mmc = (fl & CAP_MSI_MMC_MASK) >> 1;
		d->msi_vectors = 1 << (mmc > 5 ? 5 : mmc); /* 6 and 7 are reserved encodings */
	}
	if ((cap = pci_find_cap(pd, PCI_CAP_ID_MSIX, PCI_CAP_NORMAL))) {
		uint16_t fl = pci_read_word(pd, (int)cap->addr + CAP_MSIX_FLAGS);
		d->msix_vectors = (fl & CAP_MSIX_SIZE_MASK) + 1;
	}
	if ((cap = pci_find_cap(pd, PCI_CAP_ID_EXP, PCI_CAP_NORMAL)) &&
	    (pci_read_long(pd, (int)cap->addr + CAP_EXP_DEVCAP) & CAP_EXP_DEVCAP_FLR))
		d->flr = true;
	if ((cap = pci_find_cap(pd, PCI_CAP_ID_AF, PCI_CAP_NORMAL)) &&
	    (pci_read_byte(pd, (int)cap->addr + CAP_AF_CAP) & CAP_AF_FLR))
		d->flr = true;
	error_jump = NULL;
	pci_free_dev(pd);
	return 0;
}
