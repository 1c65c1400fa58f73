/* test-e1000-corpus.c: replays the e1000 fuzz target's corpus (tests/fuzz/corpus/e1000, seeds and every
 * input a fuzzing run found worth keeping) on each unit run, so a regression on a known input fails here;
 * under SANITIZE=1 with ASan and UBSan watching. Run from the top of the tree, as make unit does. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/fuzz/fuzz-e1000.c"

#define CORPUS "tests/fuzz/corpus/e1000"

int main(void)
{
	DIR *d = opendir(CORPUS);
	struct dirent *de;
	unsigned n = 0;

	if (!d) {
		fprintf(stderr, "test-e1000-corpus: cannot open %s (run from the top of the tree): %m\n", CORPUS);
		return 1;
	}
	while ((de = readdir(d))) {
		char path[512];
		FILE *f;
		uint8_t *buf;
		long len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), CORPUS "/%s", de->d_name);
		f = fopen(path, "rb");
		if (!f || fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
			fprintf(stderr, "test-e1000-corpus: %s: %m\n", path);
			return 1;
		}
		buf = malloc((size_t)len + 1);
		if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
			fprintf(stderr, "test-e1000-corpus: %s: short read\n", path);
			return 1;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(buf, (size_t)len);
		free(buf);
		n++;
	}
	closedir(d);
	if (n == 0) {
		fprintf(stderr, "test-e1000-corpus: %s is empty\n", CORPUS);
		return 1;
	}
	printf("test-e1000-corpus: %u inputs replayed\n", n);
	return 0;
}
