#!/usr/bin/env bash
# Regenerates the seed corpora fuzz/corpus/<target>/ with fuzz_make_seeds
# (fuzz/make_seeds.c), which builds every seed with the library's own
# encoders. Uses the same build directory as run.sh.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="${FUZZ_CC:-clang}" \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo -DARCA_FUZZ=ON -DARCA_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_make_seeds
rm -rf "$here/corpus"
"$build/fuzz/fuzz_make_seeds" "$here/corpus"
find "$here/corpus" -type f | sort | while read -r f; do
	printf '%6d  %s\n' "$(stat -c %s "$f")" "${f#"$root"/}"
done
