/* pciaddr.c: parse and format PCI addresses.
 * sscanf would accept signs, spaces and overlong fields, so the fields are checked by hand. */
#include <ctype.h>

#include "pciaddr.h"

static int hexfield(const char **p, unsigned maxdigits, unsigned long maxval, unsigned long *ret)
{
	unsigned long v = 0;
	unsigned n = 0;

	while (isxdigit((unsigned char)**p)) {
		if (++n > maxdigits)
			return -EINVAL;
		v = v * 16 + (unsigned long)(isdigit((unsigned char)**p) ? **p - '0'
								     : (tolower((unsigned char)**p) - 'a' + 10));
		(*p)++;
	}
	if (n == 0 || v > maxval)
		return -EINVAL;
	*ret = v;
	return 0;
}

int pci_addr_parse(const char *s, struct pci_addr *ret)
{
	unsigned long f[4];
	const char *p = s;
	int colons = 0;

	if (!s)
		return -EINVAL;
	for (const char *q = s; *q; q++)
		colons += *q == ':';
	if (colons != 1 && colons != 2)
		return -EINVAL;
	if (colons == 2) {
		if (hexfield(&p, 8, 0xffffffff, &f[0]) < 0 || *p++ != ':')
			return -EINVAL;
	} else
		f[0] = 0;
	if (hexfield(&p, 2, 0xff, &f[1]) < 0 || *p++ != ':' || hexfield(&p, 2, 0x1f, &f[2]) < 0 ||
	    *p++ != '.' || hexfield(&p, 1, 7, &f[3]) < 0 || *p)
		return -EINVAL;
	*ret = (struct pci_addr){ .domain = (uint32_t)f[0], .bus = (uint8_t)f[1], .dev = (uint8_t)f[2],
				  .fn = (uint8_t)f[3] };
	return 0;
}

char *pci_addr_format(const struct pci_addr *a, char *buf)
{
	snprintf(buf, PCI_ADDR_STRLEN, "%04x:%02x:%02x.%x", a->domain, (unsigned)a->bus, (unsigned)(a->dev & 0x1f), (unsigned)(a->fn & 7));
	return buf;
}

int pci_addr_cmp(const struct pci_addr *a, const struct pci_addr *b)
{
	if (a->domain != b->domain)
		return a->domain < b->domain ? -1 : 1;
	if (a->bus != b->bus)
		return a->bus < b->bus ? -1 : 1;
	if (a->dev != b->dev)
		return a->dev < b->dev ? -1 : 1;
	if (a->fn != b->fn)
		return a->fn < b->fn ? -1 : 1;
	return 0;
}
