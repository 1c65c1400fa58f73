/* skip.c: fuzz_skip() for both drivers (replay.c and libFuzzer). See fuzz.h. */
#include <stdio.h>
#include <stdlib.h>

#include "tests/fuzz/fuzz.h"

void fuzz_skip(const char *need, const char *why)
{
	printf("SKIP(%s): %s\n", need, why);
	fflush(stdout);
	exit(77);
}
