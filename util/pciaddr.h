/* pciaddr.h: PCI addresses (domain:bus:device.function) as users type them and sysfs names them.
 * Parsing is strict: a malformed address is bad input (exit 2), never a guess. */
#pragma once

#include "util.h"

struct pci_addr {
	uint32_t domain;
	uint8_t bus, dev, fn;
};

#define PCI_ADDR_STRLEN sizeof("00000000:00:00.0") /* VMD domains exceed 16 bits */

/* Accepts DDDD:BB:DD.F or BB:DD.F (domain 0), hex, case-insensitive. -EINVAL otherwise. */
int pci_addr_parse(const char *s, struct pci_addr *ret);
/* Canonical sysfs form, lower-case: 0000:03:00.0. buf must hold PCI_ADDR_STRLEN. */
char *pci_addr_format(const struct pci_addr *a, char *buf);
int pci_addr_cmp(const struct pci_addr *a, const struct pci_addr *b);
