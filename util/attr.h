/* attr.h: one parser per kind of sysfs attribute (a bounded number, a link whose name is a number),
 * shared by every module that reads them, so `list`, `show` and `sriov show` read a value alike,
 * and a reason in words when a file does not hold what the kernel writes there. */
#pragma once

#include "util.h"

/* A number in base (10 or 16, "0x" allowed in 16) within [min, max]. -ENOENT when the file is absent
 * (no reason given); any other failure sets *ret_why (when not NULL) to a new string such as
 * "'99999999999' is out of range (0-65535)" or "'x' is not a number". */
int attr_read_int64(const char *path, int base, int64_t min, int64_t max, int64_t *ret, char **ret_why);
int attr_read_int(const char *path, int base, int min, int max, int *ret, char **ret_why);
/* A link whose last component is a non-negative number (iommu_group -> .../groups/12). */
int attr_read_link_number(const char *path, int *ret, char **ret_why);
