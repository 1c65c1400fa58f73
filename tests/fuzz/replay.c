/* replay.c: runs corpus files through one fuzz target without libFuzzer (gcc). Arguments are files or
 * folders (every regular file in them, in name order). Prints one line per file when -v is given, and
 * "replay NAME: N inputs" at the end; a crash, sanitizer report or abort in the target ends the process
 * (that is the regression signal). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static bool verbose;
static unsigned inputs;

static int run_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	ssize_t n;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "replay: %s: not a readable regular file\n", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* one extra byte: a 0-byte file still gets a valid pointer */
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size && (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (verbose)
		printf("replay: %s (%zu bytes)\n", path, got);
	fflush(stdout);
	/* a copy of exactly the input's size, as libFuzzer gives, so sanitizers see reads past its end */
	uint8_t *exact = malloc(got ? got : 1);
	if (!exact) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, got);
	free(buf);
	LLVMFuzzerTestOneInput(exact, got);
	free(exact);
	inputs++;
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
	int bad = 0, first = 1;

	if (argc > 1 && strcmp(argv[1], "-v") == 0)
		verbose = true, first = 2;
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = first; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			bad++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad += run_file(argv[i]) < 0;
			continue;
		}
		struct dirent **names;
		int n = scandir(argv[i], &names, NULL, by_name);
		if (n < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			bad++;
			continue;
		}
		for (int j = 0; j < n; j++) {
			char path[4096];
			if (names[j]->d_name[0] != '.') {
				snprintf(path, sizeof(path), "%s/%s", argv[i], names[j]->d_name);
				bad += run_file(path) < 0;
			}
			free(names[j]);
		}
		free(names);
	}
	printf("replay %s: %u inputs%s\n", argv[0], inputs, bad ? ", some files unreadable" : "");
	return bad ? 1 : 0;
}
