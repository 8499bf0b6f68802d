#!/usr/bin/env bash
# The installed package, as a program built against it sees it: `cmake
# --install` of this build into a fresh prefix, then examples/ built and
# run through pkg-config (shared, and static with --static) and through
# the CMake package (arca::arca and arca::arca_static).
#   test_install.sh BUILD_DIR SOURCE_DIR [CFLAGS]
# (CFLAGS: what a build with sanitizers needs its consumers to add)
set -u
B=$1 S=$2 XF=${3:-}
T=$(mktemp -d /tmp/arca-install-XXXXXX)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/check.sh"
P=$T/prefix
check "cmake --install" cmake --install "$B" --prefix "$P"
pc=$(find "$P" -name arca.pc | head -1)
check "arca.pc installed" test -n "$pc"
export PKG_CONFIG_PATH=${pc%/*}
lib=$(find "$P" -name 'libarca.so.0' | head -1)
check "libarca.so with its SONAME" bash -c "objdump -p '$lib' | grep -q 'SONAME *libarca.so.0'"
check "libarca.a" test -n "$(find "$P" -name libarca.a)"
check "the guest agent in libexec/arca" test -x "$P/libexec/arca/arca-agent"
check "the man page" test -f "$P/share/man/man1/arca.1"
check "the bash completion" test -f "$P/share/bash-completion/completions/arca"
check "headers" test -f "$P/include/arca/arca.h" -a -f "$P/include/arca/version.h" -a -f "$P/include/arca/env.h"
check "pkg-config knows the version" bash -c '[ "$(pkg-config --modversion arca)" = "$(grep -m1 "project(arca VERSION" '"$S"'/CMakeLists.txt | sed "s/.*VERSION \([0-9.]*\).*/\1/")" ]'
check "pkg-config --static lists the private requirements" bash -c "pkg-config --static --libs arca | grep -q -- -lzstd"

src=$S/examples/snapshot_restore.c
mkdir -p "$T/src/sub"
echo hello >"$T/src/sub/f"
run_example() { # BINARY NAME
	rm -rf "$T/st-$2" "$T/out-$2"
	"$1" "$T/st-$2" "$T/src" "$T/out-$2" && cmp "$T/src/sub/f" "$T/out-$2/sub/f"
}
check "example via pkg-config (shared)" bash -c "cc -Wall -Werror $XF -o '$T/ex-pc' '$src' \$(pkg-config --cflags --libs arca)"
check "... runs" env LD_LIBRARY_PATH="${lib%/*}" bash -c "$(declare -f run_example); T='$T'; run_example '$T/ex-pc' pc"
check "... and links libarca.so" bash -c "LD_LIBRARY_PATH='${lib%/*}' ldd '$T/ex-pc' | grep -q 'libarca.so.0 => ${lib%/*}'"
check "example via pkg-config --static (libarca.a)" bash -c "cc -Wall -Werror $XF -o '$T/ex-static' '$src' \$(pkg-config --cflags arca) '${lib%/*}/libarca.a' \$(pkg-config --static --libs arca | sed 's/-larca//')"
check "... runs without libarca.so" bash -c "! ldd '$T/ex-static' | grep -q libarca.so && $(declare -f run_example); T='$T'; run_example '$T/ex-static' st"
for mode in OFF ON; do
	check "example via the CMake package (static $mode)" bash -c "cmake -S '$S/examples' -B '$T/cm-$mode' -DCMAKE_PREFIX_PATH='$P' -DARCA_EXAMPLE_STATIC=$mode -DCMAKE_C_FLAGS='$XF' -DCMAKE_EXE_LINKER_FLAGS='$XF' && cmake --build '$T/cm-$mode'"
	check "... runs" env LD_LIBRARY_PATH="${lib%/*}" bash -c "$(declare -f run_example); T='$T'; run_example '$T/cm-$mode/snapshot_restore' cm$mode"
done
echo "install: $pass passed, $fail failed"
[ "$fail" = 0 ]
