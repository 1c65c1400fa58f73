/* fuzz-dmar.c: the ACPI DMAR table parser (iommu/dmar-table.c) with the table as the input, the way
 * firmware hands it over in /sys/firmware/acpi/tables/DMAR; then every parsed device scope is formatted
 * as `ptctl iommu` prints it (under an empty root, so no sysfs lookup can succeed). */
#include <stdio.h>

#include "iommu/iommu.h"
#include "tests/fuzz/fuzz.h"
#include "util/root.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	root_set("/nonexistent-fuzz-root");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmar_table *t = NULL;
	char err[256], buf[1024];

	if (dmar_parse(data, size, &t, err, sizeof(err)) < 0)
		return 0;
	for (size_t i = 0; i < t->nstructs; i++) {
		const struct dmar_struct *s = &t->structs[i];
		(void)dmar_struct_type_name(s->type);
		for (size_t j = 0; j < s->nscopes; j++)
			(void)dmar_scope_format(&s->scopes[j], s->segment, buf, sizeof(buf));
	}
	dmar_table_free(t);
	return 0;
}
