/* fuzz.h: what every fuzz target (tests/fuzz/fuzz-NAME.c) includes. A target defines
 *     int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
 * and returns 0 (libFuzzer's contract). It is linked two ways (tests/fuzz/README.md):
 * with clang's libFuzzer (`make fuzz`) and with gcc and tests/fuzz/replay.c (`make unit`/`make check`
 * replay every file of tests/fuzz/corpus/NAME/ through it). A target must be deterministic, must not
 * leak (libFuzzer stops on a leak), and must free what it made before it returns. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional, once before the first input (both drivers call it when the target defines it). */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A target that needs something this machine may lack (e.g. /dev/kvm) says so from
 * LLVMFuzzerInitialize with fuzz_skip(NEED, why): the replay then exits 77 with "SKIP(NEED): why",
 * and `make fuzz` reports the target as not run. */
void fuzz_skip(const char *need, const char *why) __attribute__((noreturn));

/* Reading the input as a stream of fields: each take returns zeros once the input is used up. */
struct fuzz_in {
	const uint8_t *p;
	size_t left;
};
static inline struct fuzz_in fuzz_in(const uint8_t *data, size_t size)
{
	return (struct fuzz_in){ .p = data, .left = size };
}
static inline uint64_t fuzz_take(struct fuzz_in *in, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes && in->left; i++, in->p++, in->left--)
		v |= (uint64_t)*in->p << (8 * i);
	return v;
}
/* The next n bytes (fewer if the input ends), consumed. */
static inline const uint8_t *fuzz_bytes(struct fuzz_in *in, size_t n, size_t *got)
{
	const uint8_t *p = in->p;
	*got = n < in->left ? n : in->left;
	in->p += *got;
	in->left -= *got;
	return p;
}
