/* fixture-scenario.c: builds fakesys's sample host in a directory for the golden-file tests,
 * which then point the real ptctl binary at it with PTCTL_ROOT. */
#include <stdio.h>
#include <string.h>

#include "lib/fakesys.h"

int main(int argc, char **argv)
{
	struct fakesys *fs;
	int r;

	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "noiommu") != 0)) {
		fprintf(stderr, "usage: %s DIR [noiommu]\n", argv[0]);
		return 2;
	}
	r = fakesys_new_at(argv[1], &fs);
	if (r >= 0)
		r = fakesys_add_sample_host(fs, argc == 2);
	fakesys_free(fs);
	if (r < 0) {
		fprintf(stderr, "fixture-scenario: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
