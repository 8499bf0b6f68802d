#!/usr/bin/env bash
# Line/region coverage reached by the corpora: builds the targets with llvm
# source coverage in build-fuzz-cov/, replays the working corpora of run.sh
# (build-fuzz/fuzz-corpus/<target>) plus the seeds, and prints llvm-cov
# reports for the code each target is about.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${FUZZ_COV_BUILD_DIR:-$root/build-fuzz-cov}
corpora=${FUZZ_BUILD_DIR:-$root/build-fuzz}/fuzz-corpus
targets=${FUZZ_TARGETS:-"fuzz_manifest fuzz_record fuzz_artifact_rec fuzz_chunker fuzz_ref"}
profdata=${LLVM_PROFDATA:-llvm-profdata}
cov=${LLVM_COV:-llvm-cov}

mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="${FUZZ_CC:-clang}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DARCA_FUZZ=ON -DARCA_FUZZ_COVERAGE=ON -DARCA_TESTS=OFF >"$build/configure.log"
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc)" --target $targets >/dev/null

# file(s) and the functions of them that each target exercises
files_of() {
	case "$1" in
	fuzz_manifest) echo store/manifest.c ;;
	fuzz_record) echo cas/pack.c cas/chunkloc.c ;;
	fuzz_artifact_rec) echo store/record.c ;;
	fuzz_chunker) echo cas/chunker.c ;;
	fuzz_ref) echo store/names.c store/resolve.c store/ids.c ;;
	esac
}
funcs_of() {
	case "$1" in
	fuzz_manifest) echo 'arca_mf_(read|next|path)|read_str|place_entry|^rd |^bad ' ;;
	fuzz_record) echo 'arca_(record|pack_header)_|arca_chunk_loc_' ;;
	fuzz_artifact_rec) echo 'arca_artifact_rec_(decode|encode|clear)|take|put_str|artifact_clear' ;;
	fuzz_chunker) echo 'arca_chunker_' ;;
	fuzz_ref) echo 'check_word|valid_|split_ref|resolve|ref_get|list_refs|unknown_ref|is_hex' ;;
	esac
}

for t in $targets; do
	dirs=("$here/corpus/$t")
	[ -d "$corpora/$t" ] && dirs+=("$corpora/$t")
	rm -f "$build/$t.profraw"
	LLVM_PROFILE_FILE="$build/$t.profraw" \
		"$build/fuzz/$t" -runs=0 "${dirs[@]}" >"$build/$t.replay.log" 2>&1 ||
		echo "!! $t: replay failed, see $build/$t.replay.log"
	"$profdata" merge -o "$build/$t.profdata" "$build/$t.profraw"
	echo "== $t"
	# shellcheck disable=SC2046
	(cd "$root" && "$cov" report -show-functions "$build/fuzz/$t" \
		-instr-profile="$build/$t.profdata" $(files_of "$t")) |
		grep -E "$(funcs_of "$t")" |
		awk '{ printf "  %-30s regions %7s  lines %7s  branches %7s\n", $1, $4, $7, $10 }'
done
