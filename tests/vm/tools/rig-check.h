/* rig-check.h: the pass/fail reporting shared by the rig programs in this folder (each one program).
 * Each check prints "ok: ..." or "FAIL: ..."; the rig case greps that output and the exit status. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One program per file, so one counter per program; main() turns it into the exit status.
 * Each line is flushed at once: a program that forks must not hand its child unwritten output,
 * and a check that hangs must still show the ones before it. */
static int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (cond)                                                                          \
			printf("ok: " __VA_ARGS__);                                                \
		else {                                                                             \
			printf("FAIL: " __VA_ARGS__);                                              \
			failures++;                                                                \
		}                                                                                  \
		putchar('\n');                                                                     \
		fflush(stdout);                                                                    \
	} while (0)

/* A setup step the rest depends on: no point checking further without it. */
#define MUST(expr)                                                                                 \
	do {                                                                                       \
		int _r = (expr);                                                                   \
		if (_r < 0) {                                                                      \
			printf("FAIL: %s: %s\n", #expr, strerror(-_r));                            \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)
