#!/bin/bash
# Replays every corpus file through its fuzz target (build/fuzz/replay-NAME, gcc, no libFuzzer), so an
# input that once crashed a parser or a device model fails `make unit` / `make check` if it crashes again.
# Also holds the pattern together: every target has a non-empty corpus, every corpus a target.
# A target that needs what this machine lacks (kvm) exits 77; the others still run, then this exits 77.
set -u
cd "$(dirname "$0")/../.." || exit 1
bld=${BUILD:-build}
fails=0 skips=()
for src in tests/fuzz/fuzz-*.c; do
	n=${src#tests/fuzz/fuzz-}
	n=${n%.c}
	bin=$bld/fuzz/replay-$n
	if [ ! -x "$bin" ]; then echo "FAIL: $bin not built (make all)"; fails=$((fails + 1)); continue; fi
	if ! compgen -G "tests/fuzz/corpus/$n/*" >/dev/null; then
		echo "FAIL: tests/fuzz/corpus/$n/ has no seed inputs"
		fails=$((fails + 1))
		continue
	fi
	out=$("$bin" "tests/fuzz/corpus/$n" 2>&1)
	rc=$?
	if [ "$rc" = 77 ]; then
		skips+=("$(grep -m1 '^SKIP(' <<<"$out") (fuzz target $n)")
	elif [ "$rc" != 0 ]; then
		echo "$out" | tail -n 30
		echo "FAIL: fuzz target $n crashed or failed on its corpus (exit $rc); rerun with: $bin -v tests/fuzz/corpus/$n"
		fails=$((fails + 1))
	else
		echo "ok: $(tail -n1 <<<"$out")"
	fi
done
for d in tests/fuzz/corpus/*/; do
	n=$(basename "$d")
	[ -f "tests/fuzz/fuzz-$n.c" ] || { echo "FAIL: corpus $d has no target tests/fuzz/fuzz-$n.c"; fails=$((fails + 1)); }
done
echo "test-replay: $fails failure(s)${skips:+, ${#skips[@]} target(s) skipped}"
[ "$fails" = 0 ] || exit 1
if [ ${#skips[@]} -gt 0 ]; then
	printf '%s\n' "${skips[@]}"
	exit 77
fi
