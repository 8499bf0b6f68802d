#!/usr/bin/env bash
# Builds the libFuzzer targets in a separate build directory with clang and
# runs each one for FUZZ_SECONDS (default 30) on a working copy of its seed
# corpus. Exits non-zero if any target crashes, leaks, trips a sanitizer,
# times out or violates a property; the failing inputs are kept under
# $FUZZ_BUILD_DIR/fuzz-artifacts/<target>/.
#
# Before fuzzing, every input fuzz/crashes/<target>-* is replayed: they are
# inputs of library findings, and once fixed they must keep passing.
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 30)
#   FUZZ_TARGETS    targets to run (default: all of fuzz/targets.cmake)
#   FUZZ_BUILD_DIR  build directory (default: <repo>/build-fuzz)
#   FUZZ_CC         compiler (default: clang)
#   FUZZ_ARGS       extra libFuzzer flags for every target
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
secs=${FUZZ_SECONDS:-30}
# every target fuzz/targets.cmake names (its optional ones included: this
# build has every option on)
all=$(grep -oE '(set\(|APPEND )ARCA_FUZZ_TARGETS [a-z0-9_ ]+' "$here/targets.cmake" |
	sed -E 's/^(set\(|APPEND )ARCA_FUZZ_TARGETS //' | tr '\n' ' ')
[ -n "${all// /}" ] || { echo "run.sh: no targets in $here/targets.cmake" >&2; exit 1; }
targets=${FUZZ_TARGETS:-$all}
cc=${FUZZ_CC:-clang}

mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DARCA_WERROR=ON \
	-DARCA_FUZZ=ON -DARCA_TESTS=OFF >"$build/configure.log" 2>&1 || {
	cat "$build/configure.log"; echo "run.sh: configure failed" >&2; exit 1; }
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc)" --target $targets || {
	echo "run.sh: build failed" >&2; exit 1; }

# Per-target libFuzzer flags: manifests need room for deep trees.
target_args() {
	case "$1" in
	fuzz_manifest) echo "-max_len=16384" ;;
	fuzz_record) echo "-max_len=8192" ;;
	fuzz_chunker) echo "-max_len=8192" ;;
	fuzz_ref) echo "-max_len=600" ;;
	fuzz_pack) echo "-max_len=65536" ;;
	fuzz_bundle) echo "-max_len=262144" ;;
	*) echo "" ;;
	esac
}

failed=""
for t in $targets; do
	seeds=$here/corpus/$t
	work=$build/fuzz-corpus/$t
	art=$build/fuzz-artifacts/$t
	log=$build/fuzz-logs/$t.log
	mkdir -p "$work" "$art" "$(dirname "$log")"
	for r in "$here"/crashes/"$t"-*; do
		[ -f "$r" ] || continue
		if ! "$build/fuzz/$t" "$r" >"$log.replay" 2>&1; then
			echo "!! $t: reproducer ${r#"$root"/} still fails:"
			grep -E 'ERROR:|runtime error:|property violated' "$log.replay" | head -n 3
			failed="$failed $t(${r##*/})"
		fi
	done
	dict=()
	[ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
	echo "== $t: ${secs}s (log: $log)"
	# The first corpus directory receives new units; the seeds stay as they are.
	# shellcheck disable=SC2046,SC2086
	"$build/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$art/" "${dict[@]}" $(target_args "$t") \
		${FUZZ_ARGS:-} "$work" "$seeds" >"$log" 2>&1
	rc=$?
	grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1
	grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" |
		tr '\n' ' '
	echo
	if [ "$rc" -ne 0 ]; then
		echo "!! $t failed (exit $rc):"
		grep -E 'ERROR:|runtime error:|property violated|SUMMARY|Test unit written' "$log" | head -n 20
		failed="$failed $t"
	fi
done

if [ -n "$failed" ]; then
	echo "run.sh: failures in:$failed" >&2
	exit 1
fi
echo "run.sh: all targets clean"
