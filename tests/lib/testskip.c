/* testskip.c: see testskip.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/lib/testskip.h"

static unsigned skips;
static char last[256];

void test_skip_note(const char *need, const char *fmt, ...)
{
	char why[200];
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "SKIP(%s): %s", need, why);
	skips++;
	if (strcmp(line, last) == 0)
		return;
	snprintf(last, sizeof(last), "%s", line);
	/* stdout, flushed: cmocka prints its own lines there */
	printf("%s\n", line);
	fflush(stdout);
}

bool test_have_kvm(void)
{
	return access("/dev/kvm", R_OK | W_OK) == 0;
}

int test_exit(int failures)
{
	if (failures)
		return 1;
	return skips ? TEST_EXIT_SKIP : 0;
}
